#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod cli;
pub mod executor;
pub mod rng;
pub mod scheduler;

pub use executor::{
    Executor, ExecutorConfig, ExecutorDriver, ExecutorEnv, ExecutorEnvError, ExecutorProcess,
};
pub use scheduler::{
    MasterDetector, Scheduler, SchedulerConfig, SchedulerDriver, SchedulerHandle, SchedulerProcess,
    StopReason,
};
