//! Resource offers, offer filters and the operations a framework applies
//! when accepting an offer.

use crate::attributes::Attributes;
use crate::executor::ExecutorInfo;
use crate::ids::{AgentId, ExecutorId, FrameworkId, OfferId};
use crate::resources::Resources;
use crate::task::TaskInfo;
use serde::{Deserialize, Serialize};

/// Resources on one agent offered to one framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Offer ID.
    pub id: OfferId,
    /// The framework the offer is for.
    pub framework_id: FrameworkId,
    /// The agent holding the resources.
    pub agent_id: AgentId,
    /// The agent's host name.
    pub hostname: String,
    /// The offered resources.
    pub resources: Resources,
    /// The agent's attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Executors of this framework already running on the agent.
    #[serde(default)]
    pub executor_ids: Vec<ExecutorId>,
}

/// The default `refuse_seconds` (Mesos: 5 s).
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

/// The longest filter Mesos honours (365 days).
pub const MAX_REFUSE_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

fn default_refuse() -> f64 {
    DEFAULT_REFUSE_SECONDS
}

/// How long declined or unused resources are withheld from the framework.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds to refuse the resources (default 5).
    #[serde(default = "default_refuse")]
    pub refuse_seconds: f64,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            refuse_seconds: DEFAULT_REFUSE_SECONDS,
        }
    }
}

impl Filters {
    /// A filter refusing for `seconds`.
    pub fn refuse(seconds: f64) -> Self {
        Filters {
            refuse_seconds: seconds,
        }
    }

    /// The duration the allocator applies: negative or non-finite values
    /// fall back to the default, and the value is capped at 365 days.
    pub fn effective_refuse_seconds(&self) -> f64 {
        let s = self.refuse_seconds;
        if s.is_nan() || s < 0.0 {
            DEFAULT_REFUSE_SECONDS
        } else {
            s.min(MAX_REFUSE_SECONDS)
        }
    }
}

/// An operation applied to offered resources (Mesos `Offer.Operation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfferOperation {
    /// Launch tasks.
    Launch {
        /// The tasks.
        task_infos: Vec<TaskInfo>,
    },
    /// Launch a group of tasks atomically under one executor.
    LaunchGroup {
        /// The executor running the group (boxed to keep the enum small).
        executor: Box<ExecutorInfo>,
        /// The tasks of the group.
        tasks: Vec<TaskInfo>,
    },
    /// Dynamically reserve resources.
    Reserve {
        /// The resources, carrying the target reservation.
        resources: Resources,
    },
    /// Release dynamic reservations.
    Unreserve {
        /// The reserved resources to release.
        resources: Resources,
    },
    /// Create persistent volumes.
    Create {
        /// The volumes (disk resources).
        volumes: Resources,
    },
    /// Destroy persistent volumes.
    Destroy {
        /// The volumes (disk resources).
        volumes: Resources,
    },
}

impl OfferOperation {
    /// The Mesos operation type name, e.g. `LAUNCH`.
    pub fn type_name(&self) -> &'static str {
        match self {
            OfferOperation::Launch { .. } => "LAUNCH",
            OfferOperation::LaunchGroup { .. } => "LAUNCH_GROUP",
            OfferOperation::Reserve { .. } => "RESERVE",
            OfferOperation::Unreserve { .. } => "UNRESERVE",
            OfferOperation::Create { .. } => "CREATE",
            OfferOperation::Destroy { .. } => "DESTROY",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandInfo;

    #[test]
    fn filters() {
        assert_eq!(Filters::default().refuse_seconds, 5.0);
        let f: Filters = serde_json::from_str("{}").unwrap();
        assert_eq!(f, Filters::default());
        assert_eq!(Filters::refuse(-1.0).effective_refuse_seconds(), 5.0);
        assert_eq!(Filters::refuse(f64::NAN).effective_refuse_seconds(), 5.0);
        assert_eq!(
            Filters::refuse(1e12).effective_refuse_seconds(),
            MAX_REFUSE_SECONDS
        );
        assert_eq!(Filters::refuse(0.0).effective_refuse_seconds(), 0.0);
    }

    #[test]
    fn offer_and_operations_round_trip() {
        let offer = Offer {
            id: "O1".into(),
            framework_id: "F1".into(),
            agent_id: "S1".into(),
            hostname: "h".into(),
            resources: "cpus:2;mem:1024;ports:[31000-32000]".parse().unwrap(),
            attributes: "rack:a".parse().unwrap(),
            executor_ids: vec!["e".into()],
        };
        let json = serde_json::to_string(&offer).unwrap();
        assert_eq!(serde_json::from_str::<Offer>(&json).unwrap(), offer);
        let task = TaskInfo::command_task(
            "t",
            "t1".into(),
            "S1".into(),
            "cpus:1;mem:32".parse().unwrap(),
            CommandInfo::shell("sleep 1"),
        );
        let ops = vec![
            OfferOperation::Launch {
                task_infos: vec![task.clone()],
            },
            OfferOperation::LaunchGroup {
                executor: Box::new(ExecutorInfo::new("e".into(), CommandInfo::shell("x"))),
                tasks: vec![task],
            },
            OfferOperation::Reserve {
                resources: "cpus(ads):1".parse().unwrap(),
            },
            OfferOperation::Unreserve {
                resources: "cpus(ads):1".parse().unwrap(),
            },
            OfferOperation::Create {
                volumes: "disk(ads):10".parse().unwrap(),
            },
            OfferOperation::Destroy {
                volumes: "disk(ads):10".parse().unwrap(),
            },
        ];
        let json = serde_json::to_string(&ops).unwrap();
        assert!(json.contains("\"LAUNCH_GROUP\""));
        assert_eq!(
            serde_json::from_str::<Vec<OfferOperation>>(&json).unwrap(),
            ops
        );
        let bytes = rmp_serde::to_vec_named(&ops).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<Vec<OfferOperation>>(&bytes).unwrap(),
            ops
        );
        assert_eq!(ops[1].type_name(), "LAUNCH_GROUP");
    }
}
