//! What the master can still read of an ACCEPT it cannot decode. A forged or buggy
//! scheduler can send a task with a negative or NaN resource, which the strict wire types
//! refuse; rather than drop the whole message silently (leaving the offer outstanding and
//! the scheduler waiting for updates that never come), the master reads the message's
//! skeleton (framework, offers, task and agent ids) from a self-describing decode, answers
//! every task with `TASK_ERROR` and the decoder's reason, and releases the offers.

use proto::{AgentId, FrameworkId, OfferId, TaskId};
use serde_json::Value;

/// The ids of an undecodable `AcceptOffersMessage`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AcceptSkeleton {
    /// The framework the message claims to come from.
    pub framework_id: FrameworkId,
    /// The offers it names.
    pub offer_ids: Vec<OfferId>,
    /// The tasks of its LAUNCH and LAUNCH_GROUP operations (and the agent each names).
    pub tasks: Vec<(TaskId, AgentId)>,
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl AcceptSkeleton {
    /// Reads the skeleton from MessagePack bytes; `None` if even that is not there (no
    /// framework id). Never panics, whatever the bytes.
    pub fn read(bytes: &[u8]) -> Option<AcceptSkeleton> {
        let v: Value = rmp_serde::from_slice(bytes).ok()?;
        let framework_id = FrameworkId::new(string(v.get("framework_id")?)?);
        let offer_ids = v
            .get("offer_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(string).map(OfferId::new).collect())
            .unwrap_or_default();
        let mut tasks = Vec::new();
        for op in v
            .get("operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let list = op
                .get("LAUNCH")
                .and_then(|l| l.get("task_infos"))
                .or_else(|| op.get("LAUNCH_GROUP").and_then(|l| l.get("tasks")))
                .and_then(Value::as_array);
            for t in list.into_iter().flatten() {
                if let Some(id) = t.get("task_id").and_then(string) {
                    let agent = t.get("agent_id").and_then(string).unwrap_or_default();
                    tasks.push((TaskId::new(id), AgentId::new(agent)));
                }
            }
        }
        Some(AcceptSkeleton {
            framework_id,
            offer_ids,
            tasks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_ids_of_an_accept_whose_resources_do_not_decode() {
        // What a scheduler sends for `cpus: -1` (the strict decode refuses it).
        let msg = serde_json::json!({
            "framework_id": "F1",
            "offer_ids": ["O1", "O2"],
            "operations": [
                {"LAUNCH": {"task_infos": [
                    {"task_id": "t1", "agent_id": "S1", "resources": [
                        {"name": "cpus", "value": {"SCALAR": -1.0}}]},
                ]}},
                {"LAUNCH_GROUP": {"tasks": [{"task_id": "t2", "agent_id": "S1"}]}},
            ],
        });
        let bytes = rmp_serde::to_vec_named(&msg).unwrap();
        let s = AcceptSkeleton::read(&bytes).unwrap();
        assert_eq!(s.framework_id.as_str(), "F1");
        assert_eq!(s.offer_ids, vec![OfferId::new("O1"), OfferId::new("O2")]);
        assert_eq!(
            s.tasks,
            vec![
                (TaskId::new("t1"), AgentId::new("S1")),
                (TaskId::new("t2"), AgentId::new("S1"))
            ]
        );
    }

    /// A real ACCEPT with one task of `cpus: 0.125`, encoded, with that number's bytes
    /// replaced by `cpus` (what a forged or buggy scheduler can put on the wire).
    fn accept_bytes_with_cpus(cpus: f64) -> Vec<u8> {
        use proto::messages::AcceptOffersMessage;
        use proto::{CommandInfo, OfferOperation, TaskInfo};
        let task = TaskInfo::command_task(
            "t",
            TaskId::new("t1"),
            AgentId::new("S1"),
            "cpus:0.125;mem:64".parse().unwrap(),
            CommandInfo::shell("true"),
        );
        let msg = AcceptOffersMessage {
            framework_id: FrameworkId::new("F1"),
            offer_ids: vec![OfferId::new("O1")],
            operations: vec![OfferOperation::Launch {
                task_infos: vec![task],
            }],
            filters: proto::Filters::default(),
        };
        let mut bytes = rmp_serde::to_vec_named(&msg).unwrap();
        let mut marker = vec![0xcb];
        marker.extend_from_slice(&0.125f64.to_be_bytes());
        let at = bytes
            .windows(9)
            .position(|w| w == marker.as_slice())
            .expect("the marker scalar is encoded as an f64");
        bytes[at + 1..at + 9].copy_from_slice(&cpus.to_be_bytes());
        bytes
    }

    proptest! {
        /// Any f64 as a task's cpus: the ACCEPT either decodes with a valid quantity, or
        /// it does not and its skeleton names the framework, offer and task, so the master
        /// answers TASK_ERROR and releases the offer instead of dropping it.
        #[test]
        fn an_accept_with_any_resource_value_decodes_or_has_a_readable_skeleton(
            cpus in proptest::num::f64::ANY,
        ) {
            let bytes = accept_bytes_with_cpus(cpus);
            match rmp_serde::from_slice::<proto::messages::AcceptOffersMessage>(&bytes) {
                Ok(m) => {
                    let proto::OfferOperation::Launch { task_infos } = &m.operations[0] else {
                        panic!("not a launch");
                    };
                    let c = task_infos[0].resources.cpus();
                    prop_assert!(c.is_finite() && c >= 0.0, "decoded cpus {c}");
                }
                Err(_) => {
                    let s = AcceptSkeleton::read(&bytes).expect("a skeleton");
                    prop_assert_eq!(s.framework_id.as_str(), "F1");
                    prop_assert_eq!(s.offer_ids, vec![OfferId::new("O1")]);
                    prop_assert_eq!(s.tasks, vec![(TaskId::new("t1"), AgentId::new("S1"))]);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = AcceptSkeleton::read(&data);
        }
    }
}
