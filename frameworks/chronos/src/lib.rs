//! Chronos on our Mesos: a distributed cron with ISO 8601 schedules, dependent jobs and
//! exactly-once runs across failover. A pure core ([`core`], [`iso8601`], [`job`]) inside a
//! thin shell (placement [`constraints`] are pure too): the framework ([`framework`]), the REST API ([`api`], [`http`]), the store
//! ([`store`]) and leader election ([`leader`]).

pub mod api;
pub mod constraints;
pub mod core;
pub mod framework;
pub mod http;
pub mod iso8601;
pub mod job;
pub mod leader;
pub mod store;
pub mod ui;
