//! The cluster harness: start Mesos clusters for tests and demos.
//!
//! * [`procs`]: multi-process clusters from the built binaries (`mesos-master`,
//!   `mesos-agent`, frameworks), each a real OS process on loopback, killed when the
//!   handle drops.
//! * [`testkit`]: helpers for the integration suites (scratch dirs, a multi-process
//!   cluster, bounded waits on children, process-group checks).
//! * [`chaos`]: `mesos-chaos`, fault rules and named scenarios applied to a running
//!   cluster through the nodes' `/fault/rules` endpoints.
//! * [`ha`]: high-availability clusters of OS processes (masters contending through a real
//!   ZooKeeper, agents, a framework) with fault injection and the invariant checks every
//!   failover scenario ends with.
//! * [`mesos_dns`]: the A and SRV records Mesos-DNS would build from `/master/state`.
//! * [`sim`]: the seeded whole-cluster simulation (one thread, simulated network and
//!   clock, random faults, invariants) that the `chaos` example and the simulation suite run.
//! * [`local`]: the in-process cluster — a master and N agents on one libproc node —
//!   that `mesos-local` runs and that in-process tests drive with filters and a clock.

pub mod chaos;
pub mod ha;
pub mod local;
pub mod mesos_dns;
pub mod procs;
pub mod sim;
pub mod testkit;
