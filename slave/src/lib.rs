//! The Mesos agent.
