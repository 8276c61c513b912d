//! `marathon`: a long-running service scheduler with Marathon's `/v2` REST API, written as
//! an ordinary framework on the SDK. A pure core (apps, instances, deployments, launch
//! queue, constraints) in a thin shell (driver callbacks, HTTP server, state store).
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod constraints;
pub mod core;
pub mod events;
pub mod kill_limit;
pub mod readiness;
pub mod server;
pub mod shell;
pub mod store;
pub mod ui;
