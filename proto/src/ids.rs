//! Identifiers: thin newtypes over `String` for every Mesos ID kind.
//!
//! Distinct types keep a task ID from being passed where an agent ID is
//! expected. All IDs serialize transparently as their string, display as the
//! string, and parse from any string (parsing never fails).

use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Creates an ID from anything string-like.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The ID as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the ID, returning the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self(s.to_owned()))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Identifies a framework; assigned by the master on first subscription.
    FrameworkId
);
id_type!(
    /// Identifies an agent (Mesos's `SlaveID`); assigned by the master on registration.
    AgentId
);
id_type!(
    /// Identifies a task; chosen by the framework, unique within it.
    TaskId
);
id_type!(
    /// Identifies an executor; chosen by the framework, unique within it on an agent.
    ExecutorId
);
id_type!(
    /// Identifies a resource offer; assigned by the master.
    OfferId
);
id_type!(
    /// Identifies a container; assigned by the agent.
    ContainerId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips() {
        let id: TaskId = "web-1".parse().unwrap();
        assert_eq!(id.to_string(), "web-1");
        assert_eq!(id, TaskId::from("web-1"));
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"web-1\"");
        let back: TaskId = serde_json::from_str("\"web-1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(AgentId::new("S1").as_str(), "S1");
    }
}
