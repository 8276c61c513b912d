//! The event bus behind `/v2/events` (Server-Sent Events): status updates, API changes,
//! deployment results. Delivery is best effort and unordered across kinds, as in Marathon:
//! clients use it to know when to re-read state.

use serde_json::Value;
use tokio::sync::broadcast;

/// Subscribers receive rendered SSE frames.
pub struct Bus {
    tx: broadcast::Sender<String>,
}

impl Default for Bus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Bus { tx }
    }
}

/// One SSE frame: `event: <type>` and the JSON data with its `eventType`.
pub fn frame(event_type: &str, mut data: Value) -> String {
    if let Value::Object(m) = &mut data {
        m.insert("eventType".into(), Value::String(event_type.into()));
    }
    format!("event: {event_type}\ndata: {data}\n\n")
}

impl Bus {
    /// Sends an event to every subscriber (none listening is fine).
    pub fn publish(&self, event_type: &str, data: Value) {
        let _ = self.tx.send(frame(event_type, data));
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_type() {
        let bus = Bus::default();
        let mut rx = bus.subscribe();
        bus.publish("deployment_success", serde_json::json!({"id": "d1"}));
        let f = rx.try_recv().unwrap();
        assert!(f.starts_with("event: deployment_success\ndata: {"));
        assert!(f.contains("\"eventType\":\"deployment_success\""));
        assert!(f.ends_with("\n\n"));
    }
}
