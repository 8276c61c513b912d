//! The shared vocabulary of the Mesos re-implementation.
//!
//! Master, agent, frameworks and tests all speak in the types defined here:
//! identifiers, [`Resources`] arithmetic (scalars, ranges, sets and
//! reservations), [`Attributes`], task descriptions and states, framework,
//! agent and master descriptions, and offers. The crate is pure data plus
//! parsing and arithmetic: it performs no I/O, reads no clock and draws no
//! random numbers (callers supply timestamps and UUID bytes).
//!
//! Every type derives serde traits. Optional fields carry `#[serde(default)]`
//! so that an older encoding (missing a newer field) still decodes.
//!
//! ```
//! use proto::Resources;
//! let agent: Resources = "cpus:4;mem:8192;ports:[31000-32000];cpus(ads):2".parse()?;
//! let task: Resources = "cpus:1;mem:512;ports:[31000-31000]".parse()?;
//! assert!(agent.allocatable_to("ads").contains(&task));
//! let left = &agent - &task;
//! assert_eq!(left.cpus(), 5.0);
//! assert_eq!(left.unreserved().to_string(), "cpus:3; mem:7680; ports:[31001-32000]");
//! # Ok::<(), proto::ResourcesError>(())
//! ```

#![warn(missing_docs)]

/// The Mesos release whose APIs master and agent implement (what `/version` and `/state` report).
pub const MESOS_VERSION: &str = "1.11.0";

pub mod acls;
pub mod agent;
pub mod attributes;
pub mod authentication;
pub mod authentication_gate;
pub mod command;
pub mod container;
pub mod discovery;
pub mod executor;
pub mod framework;
pub mod health;
pub mod http_authentication;
pub mod ids;
pub mod labels;
pub mod master;
pub mod messages;
pub mod offer;
pub mod resources;
pub mod state_json;
pub mod status;
pub mod task;
pub mod task_state;
pub mod v1;
pub mod value;

pub use agent::AgentInfo;
pub use attributes::{Attribute, AttributeValue, Attributes, AttributesError};
pub use command::{CommandInfo, Environment, EnvironmentVariable, Uri};
pub use container::{
    docker_container_name, ContainerInfo, ContainerKind, DockerInfo, DockerNetwork,
    DockerParameter, PortMapping, Volume, VolumeMode,
};
pub use discovery::{DiscoveryInfo, DiscoveryPort, DiscoveryPorts, Visibility};
pub use executor::ExecutorInfo;
pub use framework::{FrameworkCapability, FrameworkInfo};
pub use health::{CommandCheck, HealthCheck, HealthCheckKind, HttpCheck, TcpCheck};
pub use ids::{AgentId, ContainerId, ExecutorId, FrameworkId, OfferId, TaskId};
pub use labels::{Label, Labels};
pub use master::{Address, MasterInfo};
pub use offer::{Filters, Offer, OfferOperation};
pub use resources::{Resource, Resources, ResourcesError};
pub use status::{
    ContainerStatus, IpAddress, NetworkInfo, StatusUuid, StatusUuidError, TaskStatus,
};
pub use task::{KillPolicy, TaskInfo, TaskValidationError};
pub use task_state::{Reason, Source, TaskState, UnknownNameError};
pub use value::{Range, Ranges, Scalar, Value, ValueError};

#[cfg(test)]
mod decode_tests {
    //! Decoding arbitrary bytes into the message types must fail cleanly, never panic.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rmp_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = rmp_serde::from_slice::<Resources>(&bytes);
            let _ = rmp_serde::from_slice::<TaskStatus>(&bytes);
            let _ = rmp_serde::from_slice::<TaskInfo>(&bytes);
            let _ = rmp_serde::from_slice::<Offer>(&bytes);
            let _ = rmp_serde::from_slice::<FrameworkInfo>(&bytes);
            let _ = rmp_serde::from_slice::<Vec<OfferOperation>>(&bytes);
        }

        #[test]
        fn json_decoding_never_panics(s in "[\\[\\]{}\":,a-z0-9_. -]{0,120}") {
            let _ = serde_json::from_str::<Resources>(&s);
            let _ = serde_json::from_str::<TaskStatus>(&s);
            let _ = serde_json::from_str::<AgentInfo>(&s);
            let _ = serde_json::from_str::<Attributes>(&s);
        }
    }
}
