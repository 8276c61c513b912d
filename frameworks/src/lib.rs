#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod blocking;
pub mod cli;
pub mod docker;
pub mod executor;
pub mod health;
pub mod offers;
pub mod rng;
pub mod scheduler;
pub mod task;
#[cfg(feature = "testing")]
pub mod testing;

pub use detector::MasterAddress;
pub use executor::{
    Executor, ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorEnvError, ExecutorProcess,
};
pub use scheduler::{
    Scheduler, SchedulerConfig, SchedulerDriver, SchedulerHandle, SchedulerProcess, StopReason,
};
