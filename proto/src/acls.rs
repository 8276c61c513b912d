//! Authorization: Mesos's access control lists (`--acls`) and how they decide, pure.
//!
//! The JSON is Mesos's `ACLs` message: `permissive` (default `true`) and, per action, a
//! list of rules, each naming its subjects (`principals`) and the objects the action is
//! on (`roles`, `users`, `framework_principals`, …), each an *entity*: `{"values":[..]}`
//! or `{"type":"ANY"}` / `{"type":"NONE"}`. A request is checked against the action's
//! rules in order; the first rule whose subjects and objects *match* the request decides
//! (granted only if both *allow* it), and when none matches, `permissive` does. A request
//! without a principal (authentication off) is an `ANY` subject: it is matched by `ANY`
//! and `NONE` rules and allowed only by `ANY`; an object the request does not name (a
//! framework without a principal) likewise.
//!
//! The rules for matching and allowing, request against rule entity:
//!
//! | request \ rule | values        | NONE        | ANY        |
//! |----------------|---------------|-------------|------------|
//! | a value        | match if listed, allow if listed | match, deny | match, allow |
//! | ANY            | no match      | match, deny | match, allow |

use serde_json::Value;

/// An action that can be authorized, with its JSON key and its object's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A framework (re-)registering in a role (object: the role).
    RegisterFramework,
    /// A framework launching a task as a user (object: the user).
    RunTask,
    /// An operator tearing down a framework (object: the framework's principal).
    TeardownFramework,
    /// Reserving resources for a role (object: the role).
    ReserveResources,
    /// Unreserving resources (object: the reservation's principal).
    UnreserveResources,
    /// Reading a role's quota (object: the role).
    GetQuota,
    /// Changing a role's quota (object: the role).
    UpdateQuota,
    /// Changing a role's weight (object: the role).
    UpdateWeight,
    /// Seeing a framework in the state endpoints (object: the framework's user).
    ViewFramework,
    /// Seeing a task (object: the task's user).
    ViewTask,
    /// Seeing agents (no object: rules use `ANY` or `NONE`).
    ViewAgent,
    /// Reading an executor's sandbox (object: the executor's user).
    AccessSandbox,
    /// A `GET` of an endpoint (object: its path, e.g. `/metrics/snapshot`).
    GetEndpoint,
}

impl Action {
    /// Every action, in the order of Mesos's `ACLs` message.
    pub const ALL: [Action; 13] = [
        Action::RegisterFramework,
        Action::RunTask,
        Action::TeardownFramework,
        Action::ReserveResources,
        Action::UnreserveResources,
        Action::GetQuota,
        Action::UpdateQuota,
        Action::UpdateWeight,
        Action::ViewFramework,
        Action::ViewTask,
        Action::ViewAgent,
        Action::AccessSandbox,
        Action::GetEndpoint,
    ];

    /// The action's key in the ACLs JSON.
    pub fn key(self) -> &'static str {
        match self {
            Action::RegisterFramework => "register_frameworks",
            Action::RunTask => "run_tasks",
            Action::TeardownFramework => "teardown_frameworks",
            Action::ReserveResources => "reserve_resources",
            Action::UnreserveResources => "unreserve_resources",
            Action::GetQuota => "get_quotas",
            Action::UpdateQuota => "update_quotas",
            Action::UpdateWeight => "update_weights",
            Action::ViewFramework => "view_frameworks",
            Action::ViewTask => "view_tasks",
            Action::ViewAgent => "view_agents",
            Action::AccessSandbox => "access_sandboxes",
            Action::GetEndpoint => "get_endpoints",
        }
    }

    /// The key of a rule's object entity.
    pub fn object_key(self) -> &'static str {
        match self {
            Action::RegisterFramework
            | Action::ReserveResources
            | Action::GetQuota
            | Action::UpdateQuota
            | Action::UpdateWeight => "roles",
            Action::RunTask | Action::ViewFramework | Action::ViewTask | Action::AccessSandbox => {
                "users"
            }
            Action::TeardownFramework => "framework_principals",
            Action::UnreserveResources => "reserver_principals",
            Action::ViewAgent => "agents",
            Action::GetEndpoint => "paths",
        }
    }
}

/// A rule's subjects or objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    /// These values.
    Some(Vec<String>),
    /// Everything.
    Any,
    /// Nothing.
    None,
}

impl Entity {
    /// Whether the rule applies to a request naming `value` (`None`: the request names
    /// nothing, an `ANY` request).
    fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Entity::Any | Entity::None, _) => true,
            (Entity::Some(values), Some(v)) => values.iter().any(|x| x == v),
            (Entity::Some(_), None) => false,
        }
    }

    /// Whether the rule, once it applies, grants the request.
    fn allows(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Entity::Any, _) => true,
            (Entity::None, _) => false,
            (Entity::Some(values), Some(v)) => values.iter().any(|x| x == v),
            (Entity::Some(_), None) => false,
        }
    }
}

/// One rule of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Who (`principals`).
    pub subjects: Entity,
    /// On what (the action's object key).
    pub objects: Entity,
}

/// Parsed `--acls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acls {
    /// Whether a request no rule matches is granted.
    pub permissive: bool,
    rules: Vec<(Action, Vec<Rule>)>,
}

impl Default for Acls {
    /// No rules, permissive: everything is granted (no `--acls`).
    fn default() -> Acls {
        Acls {
            permissive: true,
            rules: Vec::new(),
        }
    }
}

/// A refusal, with its reason (for the `403` body, the framework error or the
/// `TASK_ERROR` message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

fn entity(v: &Value, what: &str) -> Result<Entity, String> {
    let Some(obj) = v.as_object() else {
        return Err(format!(
            "{what} must be an object: {{\"values\": [..]}} or {{\"type\": \"ANY\"|\"NONE\"}}"
        ));
    };
    for key in obj.keys() {
        if key != "values" && key != "type" {
            return Err(format!(
                "{what} has unknown field '{key}' (expected 'values' or 'type')"
            ));
        }
    }
    let values = match obj.get("values") {
        None => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{what}.values must be strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(format!("{what}.values must be a list of strings")),
    };
    match (obj.get("type").map(|t| t.as_str()), values) {
        (None | Some(Some("SOME")), Some(values)) => Ok(Entity::Some(values)),
        (Some(Some("ANY")), None) => Ok(Entity::Any),
        (Some(Some("NONE")), None) => Ok(Entity::None),
        (Some(Some("ANY" | "NONE")), Some(_)) => {
            Err(format!("{what} has both 'type' and 'values'; give one"))
        }
        (None, None) => Err(format!(
            "{what} names nothing: give 'values' or 'type' ANY or NONE"
        )),
        (Some(t), _) => Err(format!(
            "{what}.type is {}; expected ANY or NONE",
            t.map(|s| format!("'{s}'"))
                .unwrap_or_else(|| "not a string".into())
        )),
    }
}

impl Acls {
    /// Parses the ACLs JSON. Unknown actions are refused (a misspelt action would
    /// otherwise grant silently through `permissive`).
    pub fn parse(text: &str) -> Result<Acls, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err("the ACLs must be a JSON object".into());
        };
        let mut acls = Acls::default();
        for (key, value) in obj {
            if key == "permissive" {
                acls.permissive = value
                    .as_bool()
                    .ok_or("'permissive' must be true or false")?;
                continue;
            }
            let Some(action) = Action::ALL.iter().copied().find(|a| a.key() == key) else {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.key()).collect();
                return Err(format!(
                    "unknown ACL action '{key}'; known: permissive, {}",
                    known.join(", ")
                ));
            };
            let Some(list) = value.as_array() else {
                return Err(format!("'{key}' must be a list of rules"));
            };
            let mut rules = Vec::with_capacity(list.len());
            for (i, rule) in list.iter().enumerate() {
                let what = format!("{key}[{i}]");
                let object_key = action.object_key();
                let Some(r) = rule.as_object() else {
                    return Err(format!("{what} must be an object"));
                };
                if let Some(k) = r.keys().find(|k| *k != "principals" && *k != object_key) {
                    return Err(format!(
                        "{what} has unknown field '{k}' (expected 'principals' and '{object_key}')"
                    ));
                }
                let field = |k: &str| {
                    r.get(k)
                        .ok_or_else(|| format!("{what} needs '{k}'"))
                        .and_then(|v| entity(v, &format!("{what}.{k}")))
                };
                rules.push(Rule {
                    subjects: field("principals")?,
                    objects: field(object_key)?,
                });
            }
            acls.rules.push((action, rules));
        }
        Ok(acls)
    }

    /// Reads `--acls`: inline JSON, or a path (`/path` or `file:///path`) to it.
    pub fn from_flag(value: &str) -> Result<Acls, String> {
        let trimmed = value.trim();
        if trimmed.starts_with('{') {
            return Acls::parse(trimmed);
        }
        let path = trimmed.strip_prefix("file://").unwrap_or(trimmed);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read ACLs file '{path}': {e}"))?;
        Acls::parse(&text)
    }

    /// Whether any rule is set for `action`.
    pub fn has_rules(&self, action: Action) -> bool {
        self.rules
            .iter()
            .any(|(a, r)| *a == action && !r.is_empty())
    }

    /// Whether `principal` (`None`: unauthenticated) may do `action` on `object` (`None`:
    /// the request names no object).
    pub fn allows(&self, principal: Option<&str>, action: Action, object: Option<&str>) -> bool {
        for (_, rules) in self.rules.iter().filter(|(a, _)| *a == action) {
            for rule in rules {
                if rule.subjects.matches(principal) && rule.objects.matches(object) {
                    return rule.subjects.allows(principal) && rule.objects.allows(object);
                }
            }
        }
        self.permissive
    }

    /// Like [`allows`](Self::allows), with the refusal's reason.
    pub fn authorize(
        &self,
        principal: Option<&str>,
        action: Action,
        object: Option<&str>,
    ) -> Result<(), Denied> {
        if self.allows(principal, action, object) {
            return Ok(());
        }
        let who = principal
            .map(|p| format!("principal '{p}'"))
            .unwrap_or_else(|| "an unauthenticated caller".into());
        let what = match object {
            Some(o) => format!("{} '{o}'", action.object_key()),
            None => format!("any of its {}", action.object_key()),
        };
        Err(Denied(format!(
            "Not authorized: {who} may not {} for {what} (--acls)",
            action.key()
        )))
    }
}

/// Whether a `GET` of `path` is one `get_endpoints` covers (Mesos's list: the metrics,
/// the logging toggle, `/files/debug` and the agent's container statistics, under the
/// process's id or not).
pub fn endpoint_checked(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let tail = match path.strip_prefix("/slave(") {
        Some(rest) => rest.split_once(')').map_or(path, |(_, t)| t),
        None => path,
    };
    matches!(
        tail,
        "/metrics/snapshot"
            | "/metrics"
            | "/logging/toggle"
            | "/files/debug"
            | "/containers"
            | "/monitor/statistics"
            | "/monitor/statistics.json"
    )
}

/// `get_endpoints` for every HTTP request of a node (see [`libproc::http_auth`]): a `GET`
/// of an [`endpoint_checked`] path by a principal the ACLs do not let read it is `403`.
#[derive(Debug, Clone)]
pub struct EndpointAuthorizer(pub Acls);

impl libproc::http_auth::HttpAuthorizer for EndpointAuthorizer {
    fn authorize(&self, request: &libproc::HttpRequest) -> Result<(), libproc::HttpResponse> {
        if request.method != "GET" || !endpoint_checked(&request.path) {
            return Ok(());
        }
        self.0
            .authorize(
                request.principal.as_deref(),
                Action::GetEndpoint,
                Some(&request.path),
            )
            .map_err(|d| libproc::HttpResponse::text(403, format!("{d}\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_decides_else_permissive() {
        let acls = Acls::parse(
            r#"{"run_tasks": [
                {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                {"principals": {"type": "ANY"}, "users": {"values": ["root"]}},
                {"principals": {"type": "NONE"}, "users": {"values": ["root"]}}
            ]}"#,
        )
        .unwrap();
        assert!(acls.allows(Some("ops"), Action::RunTask, Some("root")));
        // The second rule matches first and allows ANY principal as root.
        assert!(acls.allows(Some("dev"), Action::RunTask, Some("root")));
        assert!(acls.allows(Some("dev"), Action::RunTask, Some("nobody")));
        let deny = Acls::parse(
            r#"{"run_tasks": [
                {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                {"principals": {"type": "NONE"}, "users": {"values": ["root"]}}
            ]}"#,
        )
        .unwrap();
        assert!(deny.allows(Some("ops"), Action::RunTask, Some("root")));
        assert!(!deny.allows(Some("dev"), Action::RunTask, Some("root")));
        assert!(!deny.allows(None, Action::RunTask, Some("root")));
        assert!(deny.allows(Some("dev"), Action::RunTask, Some("nobody")));
        // Other actions: no rule, permissive.
        assert!(deny.allows(Some("dev"), Action::TeardownFramework, None));
    }

    #[test]
    fn not_permissive_denies_what_no_rule_grants() {
        let acls = Acls::parse(
            r#"{"permissive": false,
                "register_frameworks": [
                  {"principals": {"values": ["foo"]}, "roles": {"values": ["analytics"]}}
                ]}"#,
        )
        .unwrap();
        assert!(acls.allows(Some("foo"), Action::RegisterFramework, Some("analytics")));
        assert!(!acls.allows(Some("foo"), Action::RegisterFramework, Some("*")));
        assert!(!acls.allows(Some("bar"), Action::RegisterFramework, Some("analytics")));
        // An unauthenticated request matches no 'values' rule.
        assert!(!acls.allows(None, Action::RegisterFramework, Some("analytics")));
        let why = acls
            .authorize(Some("bar"), Action::RegisterFramework, Some("analytics"))
            .unwrap_err();
        assert!(why.0.contains("principal 'bar'") && why.0.contains("roles 'analytics'"));
    }

    #[test]
    fn unnamed_subjects_and_objects_are_any() {
        // Mesos's own example: only 'admin' tears down, nobody else.
        let acls = Acls::parse(
            r#"{"teardown_frameworks": [
                {"principals": {"values": ["admin"]}, "framework_principals": {"type": "ANY"}},
                {"principals": {"type": "NONE"}, "framework_principals": {"type": "ANY"}}
            ]}"#,
        )
        .unwrap();
        assert!(acls.allows(Some("admin"), Action::TeardownFramework, None));
        assert!(acls.allows(Some("admin"), Action::TeardownFramework, Some("fw")));
        assert!(!acls.allows(Some("eve"), Action::TeardownFramework, Some("fw")));
        assert!(!acls.allows(None, Action::TeardownFramework, None));
    }

    #[test]
    fn bad_acls_say_what_is_wrong() {
        for (text, says) in [
            ("[]", "JSON object"),
            (r#"{"run_task": []}"#, "unknown ACL action 'run_task'"),
            (
                r#"{"run_tasks": [{"principals": {"type": "ANY"}}]}"#,
                "needs 'users'",
            ),
            (
                r#"{"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]}"#,
                "expected ANY or NONE",
            ),
            (
                r#"{"run_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}"#,
                "unknown field 'roles'",
            ),
            (r#"{"permissive": "no"}"#, "true or false"),
            ("{", "bad JSON"),
        ] {
            let e = Acls::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(Acls::from_flag("/nonexistent/acls.json")
            .unwrap_err()
            .contains("cannot read"));
    }

    #[test]
    fn get_endpoints_covers_mesos_list_only() {
        for p in [
            "/metrics/snapshot",
            "/logging/toggle",
            "/slave(1)/monitor/statistics",
            "/containers",
        ] {
            assert!(endpoint_checked(p), "{p}");
        }
        for p in ["/master/state", "/slave(1)/state", "/health", "/slave("] {
            assert!(!endpoint_checked(p), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,200}") {
            let _ = Acls::parse(&s);
        }
    }
}
