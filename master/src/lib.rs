//! The Mesos master.
pub mod allocator;
