//! The master's side of authorization (`--acls`, see [`proto::acls`]): what each checked
//! action is checked on, and the state views cut down to what a viewer may see, pure.
//!
//! * `register_frameworks`: a framework's principal on each of its roles, at
//!   (re-)registration (driver and v1 SUBSCRIBE); refused with a framework error.
//! * `run_tasks`: in [`crate::core`]'s accept, the task's user (`TASK_ERROR`,
//!   `REASON_TASK_UNAUTHORIZED`).
//! * `teardown_frameworks`, `reserve_resources`, `unreserve_resources`, `update_quotas`,
//!   `get_quotas`, `update_weights`: the HTTP caller's principal on the framework's
//!   principal or the roles named; `403` with the reason.
//! * `view_frameworks`, `view_tasks`, `view_agents`: [`hide_unviewable`] prunes the
//!   snapshot the state endpoints render (off the master's thread), so the renderers stay
//!   as they are.
//!
//! A driver framework's principal is the one it authenticated as, else the
//! `FrameworkInfo.principal` it claims (as Mesos); an HTTP caller's is its Basic user,
//! none when its realm is open.

use proto::acls::{Acls, Action, Denied};
use proto::FrameworkInfo;
use serde_json::Value as Json;

use crate::core::Master;

/// Whether `info.principal` may register in each of `info`'s roles.
pub fn may_register(acls: &Acls, info: &FrameworkInfo) -> Result<(), Denied> {
    for role in info.effective_roles() {
        acls.authorize(
            info.principal.as_deref(),
            Action::RegisterFramework,
            Some(&role),
        )?;
    }
    Ok(())
}

/// Whether `principal` may do `action` on every one of `objects` (`None`: an object
/// that names nobody, e.g. a framework without a principal).
pub fn may_do<'a>(
    acls: &Acls,
    principal: Option<&str>,
    action: Action,
    objects: impl IntoIterator<Item = Option<&'a str>>,
) -> Result<(), Denied> {
    for object in objects {
        acls.authorize(principal, action, object)?;
    }
    Ok(())
}

/// The roles a weights body (`[{"role": .., "weight": ..}, …]`) names; what does not
/// parse names none (the call itself then fails with the parse error).
pub fn roles_in_weights(body: &[u8]) -> Vec<String> {
    let v: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    roles_of(v.as_array().map(Vec::as_slice).unwrap_or_default())
}

/// The `role` of each JSON object in `items`.
pub fn roles_of(items: &[Json]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("role").and_then(Json::as_str))
        .map(str::to_string)
        .collect()
}

/// Whether the view ACLs can hide anything (else the views are rendered untouched).
pub fn views_filtered(acls: &Acls) -> bool {
    !acls.permissive
        || [Action::ViewFramework, Action::ViewTask, Action::ViewAgent]
            .into_iter()
            .any(|a| acls.has_rules(a))
}

/// Removes from `m`, a snapshot about to be rendered for `principal`, the frameworks
/// whose user it may not `view_frameworks`, the tasks whose user it may not
/// `view_tasks`, and every agent unless it may `view_agents`.
pub fn hide_unviewable(m: &mut Master, acls: &Acls, principal: Option<&str>) {
    if !views_filtered(acls) {
        return;
    }
    let sees_framework =
        |f: &FrameworkInfo| acls.allows(principal, Action::ViewFramework, Some(&f.user));
    m.frameworks.retain(|_, f| sees_framework(&f.info));
    m.completed_frameworks.retain(|f| sees_framework(&f.info));
    let sees_task = |t: &proto::messages::Task, framework_user: &str| {
        let user = t.user.as_deref().unwrap_or(framework_user);
        acls.allows(principal, Action::ViewTask, Some(user))
    };
    for f in m
        .frameworks
        .values_mut()
        .map(std::sync::Arc::make_mut)
        .chain(m.completed_frameworks.iter_mut())
    {
        let user = f.info.user.clone();
        f.tasks.retain(|t| sees_task(t, &user));
        f.unreachable_tasks.retain(|_, t| sees_task(t, &user));
        f.completed_tasks.retain(|t| sees_task(t, &user));
    }
    if !acls.allows(principal, Action::ViewAgent, None) {
        m.agents.clear();
        m.recovered.clear();
    }
}
