//! The drivers' seeded generator: the one in `libproc::rng`, re-exported here for the
//! frameworks built on these drivers.

pub use libproc::rng::{hash_str, SplitMix64};
