//! Allocator messages beyond the fixed master↔allocator protocol: quota.
//!
//! Sent by the master (operator `/quota` or v1 `UPDATE_QUOTA`) to the allocator process.

use proto::Resources;
use serde::{Deserialize, Serialize};

/// Sets a role's quota: `guarantee` is offered to the role before other roles are
/// served (and headroom for it is held back); `limit` caps what the role is offered.
/// Scalar resources only (ranges and sets are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetQuota {
    /// The role.
    pub role: String,
    /// Guaranteed resources.
    pub guarantee: Resources,
    /// Upper bound on the role's consumption, if any.
    #[serde(default)]
    pub limit: Option<Resources>,
}
libproc::message!(SetQuota, "mesos.allocator.SetQuota");

/// Removes a role's quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveQuota {
    /// The role.
    pub role: String,
}
libproc::message!(RemoveQuota, "mesos.allocator.RemoveQuota");
