//! The v1 operator API's calls (`POST /api/v1` on the master and the agent), decoded from
//! Mesos's JSON mapping of `mesos.v1.master.Call` / `mesos.v1.agent.Call`: one decoder for
//! both, each side naming the call types it serves. A malformed body, an unknown or
//! unserved type, or a missing or malformed parameter is an `Err` with the reason (the
//! path of the bad field), for a `400`; decoding never panics and never allocates from a
//! length it did not check.

use serde_json::{json, Value};

use super::json::{FieldError, Obj};
use crate::Resources;

/// Largest `READ_FILE` length served at once (Mesos caps reads at 16 pages).
pub const MAX_READ_FILE_LENGTH: u64 = 16 * 4096;

/// An operator call with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorCall {
    /// GET_HEALTH.
    GetHealth,
    /// GET_FLAGS.
    GetFlags,
    /// GET_VERSION.
    GetVersion,
    /// GET_METRICS.
    GetMetrics,
    /// GET_LOGGING_LEVEL.
    GetLoggingLevel,
    /// SET_LOGGING_LEVEL: verbosity `level` for `duration_secs`, then back.
    SetLoggingLevel {
        /// The glog-style verbosity (0 is the level the process started with).
        level: u32,
        /// How long the level holds.
        duration_secs: f64,
    },
    /// LIST_FILES of a directory.
    ListFiles {
        /// An absolute path (or a virtual one the side serves).
        path: String,
    },
    /// READ_FILE: up to `length` bytes (at most [`MAX_READ_FILE_LENGTH`]) from `offset`.
    ReadFile {
        /// The file.
        path: String,
        /// Where to start.
        offset: u64,
        /// How many bytes at most (capped at [`MAX_READ_FILE_LENGTH`]).
        length: u64,
    },
    /// GET_STATE.
    GetState,
    /// GET_AGENTS.
    GetAgents,
    /// GET_FRAMEWORKS.
    GetFrameworks,
    /// GET_EXECUTORS.
    GetExecutors,
    /// GET_TASKS.
    GetTasks,
    /// GET_ROLES.
    GetRoles,
    /// GET_WEIGHTS.
    GetWeights,
    /// UPDATE_WEIGHTS with `(role, weight)` pairs (validated by the master).
    UpdateWeights(Vec<(String, f64)>),
    /// GET_MASTER.
    GetMaster,
    /// SUBSCRIBE.
    Subscribe,
    /// RESERVE_RESOURCES on an agent.
    ReserveResources {
        /// The agent.
        agent_id: String,
        /// The resources with their reservations.
        resources: Resources,
    },
    /// UNRESERVE_RESOURCES on an agent.
    UnreserveResources {
        /// The agent.
        agent_id: String,
        /// The reserved resources to release.
        resources: Resources,
    },
    /// GET_QUOTA.
    GetQuota,
    /// UPDATE_QUOTA: `quota.QuotaConfig` objects, applied all or nothing.
    UpdateQuota {
        /// Skip the capacity check.
        force: bool,
        /// The configs (`role`, `guarantees`, `limits`), read by the master.
        configs: Vec<Value>,
    },
    /// SET_QUOTA (deprecated in Mesos): a `quota.QuotaRequest`.
    SetQuota(Value),
    /// REMOVE_QUOTA (deprecated in Mesos).
    RemoveQuota(String),
    /// TEARDOWN of a framework.
    Teardown(String),
    /// MARK_AGENT_GONE.
    MarkAgentGone(String),
    /// GET_CONTAINERS (agent).
    GetContainers,
}

/// The call types the master serves.
pub const MASTER_TYPES: &[&str] = &[
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_TASKS",
    "GET_ROLES",
    "GET_WEIGHTS",
    "UPDATE_WEIGHTS",
    "GET_MASTER",
    "SUBSCRIBE",
    "RESERVE_RESOURCES",
    "UNRESERVE_RESOURCES",
    "GET_QUOTA",
    "UPDATE_QUOTA",
    "SET_QUOTA",
    "REMOVE_QUOTA",
    "TEARDOWN",
    "MARK_AGENT_GONE",
];

/// The call types the agent serves.
pub const AGENT_TYPES: &[&str] = &[
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL",
    "LIST_FILES",
    "READ_FILE",
    "GET_STATE",
    "GET_CONTAINERS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_TASKS",
];

// ------------------------------------------------------------- shared answers

/// The answer to a request the operator API does not take (`405` for a method other
/// than POST, `415` for a content type other than JSON), or `None` to decode it.
pub fn refuse_request(req: &libproc::HttpRequest) -> Option<libproc::HttpResponse> {
    if req.method != "POST" {
        return Some(
            libproc::HttpResponse::text(
                405,
                format!("method {} is not allowed; use POST\n", req.method),
            )
            .with_header("Allow", "POST"),
        );
    }
    let ctype = req.header("content-type").unwrap_or("application/json");
    if !ctype.starts_with("application/json") {
        return Some(libproc::HttpResponse::text(
            415,
            format!("content type '{ctype}' is not supported; send application/json\n"),
        ));
    }
    None
}

/// GET_HEALTH's answer (a process that answers is healthy).
pub fn get_health() -> Value {
    json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
}

/// GET_FLAGS's answer from a `{"name": value}` object (values as strings).
pub fn get_flags(flags: &Value) -> Value {
    let list: Vec<Value> = flags
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let value = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    json!({"name": k, "value": value})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"type": "GET_FLAGS", "get_flags": {"flags": list}})
}

/// GET_VERSION's answer.
pub fn get_version(version: &str) -> Value {
    json!({"type": "GET_VERSION", "get_version": {"version_info": {
        "version": version, "build_date": "", "build_time": 0.0, "build_user": ""}}})
}

/// GET_METRICS's answer from a `/metrics/snapshot` object (numeric values only).
pub fn get_metrics(snapshot: &Value) -> Value {
    let list: Vec<Value> = snapshot
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_f64().map(|x| json!({"name": k, "value": x})))
                .collect()
        })
        .unwrap_or_default();
    json!({"type": "GET_METRICS", "get_metrics": {"metrics": list}})
}

/// GET_LOGGING_LEVEL's answer: this process's verbosity.
pub fn get_logging_level() -> Value {
    json!({"type": "GET_LOGGING_LEVEL", "get_logging_level": {
        "level": libproc::logging::verbosity(),
    }})
}

type R<T> = Result<T, FieldError>;

fn missing(path: &str) -> FieldError {
    FieldError(format!("'{path}' is required for this call type"))
}

/// An unsigned integer field (protobuf's JSON writes 64-bit integers as strings).
fn u64_field(o: &Obj<'_>, name: &str) -> R<Option<u64>> {
    let bad = || FieldError(format!("'{}' must be a non-negative integer", o.at(name)));
    match o.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A signed integer field (`DurationInfo.nanoseconds`).
fn i64_field(o: &Obj<'_>, name: &str) -> R<Option<i64>> {
    let bad = || FieldError(format!("'{}' must be an integer", o.at(name)));
    match o.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// Decodes a call body, accepting only the types in `served` (the side's own list).
pub fn decode(body: &[u8], served: &[&str]) -> Result<OperatorCall, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let o = Obj::new(&v, "").map_err(|e| e.0)?;
    let ty = match o.get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err("'type' is required and must be a string".into()),
    };
    if !served.contains(&ty) {
        return Err(format!(
            "unknown or unsupported call type '{ty}'; supported: {}",
            served.join(", ")
        ));
    }
    decode_typed(&o, ty).map_err(|e| e.0)
}

fn decode_typed(o: &Obj<'_>, ty: &str) -> R<OperatorCall> {
    let sub = |name: &str| o.obj(name)?.ok_or_else(|| missing(name));
    Ok(match ty {
        "GET_HEALTH" => OperatorCall::GetHealth,
        "GET_FLAGS" => OperatorCall::GetFlags,
        "GET_VERSION" => OperatorCall::GetVersion,
        "GET_METRICS" => OperatorCall::GetMetrics,
        "GET_LOGGING_LEVEL" => OperatorCall::GetLoggingLevel,
        "SET_LOGGING_LEVEL" => {
            let s = sub("set_logging_level")?;
            let level = u64_field(&s, "level")?.ok_or_else(|| missing(&s.at("level")))?;
            let level = u32::try_from(level)
                .map_err(|_| FieldError(format!("'{}' is too large", s.at("level"))))?;
            let d = s
                .obj("duration")?
                .ok_or_else(|| missing(&s.at("duration")))?;
            let nanos =
                i64_field(&d, "nanoseconds")?.ok_or_else(|| missing(&d.at("nanoseconds")))?;
            if nanos < 0 {
                return Err(FieldError(format!(
                    "'{}' must not be negative",
                    d.at("nanoseconds")
                )));
            }
            OperatorCall::SetLoggingLevel {
                level,
                duration_secs: nanos as f64 / 1e9,
            }
        }
        "LIST_FILES" => OperatorCall::ListFiles {
            path: sub("list_files")?.req_str("path")?.to_owned(),
        },
        "READ_FILE" => {
            let r = sub("read_file")?;
            OperatorCall::ReadFile {
                path: r.req_str("path")?.to_owned(),
                offset: u64_field(&r, "offset")?.ok_or_else(|| missing(&r.at("offset")))?,
                length: u64_field(&r, "length")?
                    .unwrap_or(MAX_READ_FILE_LENGTH)
                    .min(MAX_READ_FILE_LENGTH),
            }
        }
        "GET_STATE" => OperatorCall::GetState,
        "GET_AGENTS" => OperatorCall::GetAgents,
        "GET_FRAMEWORKS" => OperatorCall::GetFrameworks,
        "GET_EXECUTORS" => OperatorCall::GetExecutors,
        "GET_TASKS" => OperatorCall::GetTasks,
        "GET_ROLES" => OperatorCall::GetRoles,
        "GET_WEIGHTS" => OperatorCall::GetWeights,
        "UPDATE_WEIGHTS" => {
            let u = sub("update_weights")?;
            let path = u.at("weight_infos");
            let mut list = Vec::new();
            for (i, w) in u.array("weight_infos")?.iter().enumerate() {
                let w = Obj::new(w, &format!("{path}[{i}]"))?;
                let weight = w.f64("weight")?.ok_or_else(|| missing(&w.at("weight")))?;
                list.push((w.req_str("role")?.to_owned(), weight));
            }
            OperatorCall::UpdateWeights(list)
        }
        "GET_MASTER" => OperatorCall::GetMaster,
        "SUBSCRIBE" => OperatorCall::Subscribe,
        "RESERVE_RESOURCES" | "UNRESERVE_RESOURCES" => {
            let name = ty.to_ascii_lowercase();
            let r = sub(&name)?;
            let agent_id = r.req_id("agent_id")?;
            let resources = super::json::read_resources(r.get("resources"), &r.at("resources"))?;
            if resources.is_empty() {
                return Err(FieldError(format!(
                    "'{}' must name at least one resource",
                    r.at("resources")
                )));
            }
            if ty == "RESERVE_RESOURCES" {
                OperatorCall::ReserveResources {
                    agent_id,
                    resources,
                }
            } else {
                OperatorCall::UnreserveResources {
                    agent_id,
                    resources,
                }
            }
        }
        "GET_QUOTA" => OperatorCall::GetQuota,
        "UPDATE_QUOTA" => {
            let u = sub("update_quota")?;
            let path = u.at("quota_configs");
            let configs = u.array("quota_configs")?;
            for (i, c) in configs.iter().enumerate() {
                Obj::new(c, &format!("{path}[{i}]"))?;
            }
            OperatorCall::UpdateQuota {
                force: u.bool("force")?.unwrap_or(false),
                configs: configs.to_vec(),
            }
        }
        "SET_QUOTA" => {
            let s = sub("set_quota")?;
            let q = s
                .get("quota_request")
                .ok_or_else(|| missing(&s.at("quota_request")))?;
            Obj::new(q, &s.at("quota_request"))?;
            OperatorCall::SetQuota(q.clone())
        }
        "REMOVE_QUOTA" => {
            OperatorCall::RemoveQuota(sub("remove_quota")?.req_str("role")?.to_owned())
        }
        "TEARDOWN" => OperatorCall::Teardown(sub("teardown")?.req_id("framework_id")?),
        "MARK_AGENT_GONE" => {
            OperatorCall::MarkAgentGone(sub("mark_agent_gone")?.req_id("agent_id")?)
        }
        "GET_CONTAINERS" => OperatorCall::GetContainers,
        other => return Err(FieldError(format!("call type '{other}' is not supported"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every type either side serves.
    fn all_types() -> Vec<&'static str> {
        let mut all: Vec<&'static str> = MASTER_TYPES.iter().chain(AGENT_TYPES).copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    #[test]
    fn every_served_type_is_decoded() {
        for ty in all_types() {
            if let Err(e) = call(json!({ "type": ty })) {
                assert!(e.contains("is required"), "{ty}: {e}");
            }
        }
    }

    fn call(v: Value) -> Result<OperatorCall, String> {
        decode(v.to_string().as_bytes(), &all_types())
    }

    #[test]
    fn decodes_parameters() {
        assert_eq!(
            call(json!({"type": "GET_STATE"})),
            Ok(OperatorCall::GetState)
        );
        assert_eq!(
            call(
                json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
                {"role": "ads", "weight": 2.5}]}})
            ),
            Ok(OperatorCall::UpdateWeights(vec![("ads".into(), 2.5)]))
        );
        assert_eq!(
            call(json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "f1"}}})),
            Ok(OperatorCall::Teardown("f1".into()))
        );
        assert_eq!(
            call(json!({"type": "SET_LOGGING_LEVEL", "set_logging_level": {
                "level": 1, "duration": {"nanoseconds": "2000000000"}}})),
            Ok(OperatorCall::SetLoggingLevel {
                level: 1,
                duration_secs: 2.0
            })
        );
        assert_eq!(
            call(
                json!({"type": "READ_FILE", "read_file": {"path": "/x", "offset": 3, "length": 1_000_000_000u64}})
            ),
            Ok(OperatorCall::ReadFile {
                path: "/x".into(),
                offset: 3,
                length: MAX_READ_FILE_LENGTH
            })
        );
        let r = call(json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
            "agent_id": {"value": "a1"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
                           "reservations": [{"type": "DYNAMIC", "role": "ads"}]}]}}))
        .unwrap();
        assert!(
            matches!(&r, OperatorCall::ReserveResources { agent_id, resources }
                if agent_id == "a1" && !resources.is_empty()),
            "{r:?}"
        );
    }

    #[test]
    fn bad_calls_say_what_is_wrong() {
        let e = call(json!({"type": "TEARDOWN"})).unwrap_err();
        assert!(e.contains("'teardown' is required"), "{e}");
        let e = call(json!({"type": "TEARDOWN", "teardown": {"framework_id": "f1"}})).unwrap_err();
        assert!(e.contains("teardown.framework_id"), "{e}");
        let e = call(json!({"type": "READ_FILE", "read_file": {"path": "/x", "offset": -1}}))
            .unwrap_err();
        assert!(e.contains("read_file.offset"), "{e}");
        let e = call(
            json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "a"}]}}),
        )
        .unwrap_err();
        assert!(e.contains("update_weights.weight_infos[0].weight"), "{e}");
        let e = call(json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
            "agent_id": {"value": "a1"}, "resources": []}}))
        .unwrap_err();
        assert!(e.contains("at least one resource"), "{e}");
        let e = decode(br#"{"type":"GET_QUOTA"}"#, &["GET_HEALTH"]).unwrap_err();
        assert!(e.contains("'GET_QUOTA'") && e.contains("GET_HEALTH"), "{e}");
        assert!(decode(b"[]", &all_types())
            .unwrap_err()
            .contains("must be a JSON object"));
        assert!(decode(b"{", &all_types()).unwrap_err().contains("not JSON"));
        assert!(decode(b"\xff\xfe", &all_types()).is_err());
    }

    /// A JSON value of bounded depth: any shape, with the field names calls use.
    fn arb_json() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "type",
            "value",
            "path",
            "offset",
            "length",
            "level",
            "duration",
            "nanoseconds",
            "role",
            "weight",
            "weight_infos",
            "agent_id",
            "framework_id",
            "resources",
            "quota_configs",
            "force",
            "quota_request",
            "name",
            "scalar",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            prop::sample::select(all_types()).prop_map(|s| json!(s)),
            "[a-zA-Z0-9/*._-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&b, &all_types());
        }

        /// Any call type with an arbitrary body: decoded, or an error with a reason.
        #[test]
        fn typed_json_never_panics(ty in prop::sample::select(all_types()), sub in arb_json()) {
            let v = json!({"type": ty, (ty.to_ascii_lowercase()): sub});
            if let Err(e) = decode(v.to_string().as_bytes(), &all_types()) {
                prop_assert!(!e.is_empty());
            }
        }
    }
}
