//! The messages the benchmarks exchange.

use super::*;

/// A small local tell.
#[derive(Serialize, Deserialize)]
pub(crate) struct Tick(pub(crate) u64);
message!(Tick, "bench.Tick");

/// A one-way remote tell with a 64-byte body.
#[derive(Serialize, Deserialize)]
pub(crate) struct Data {
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}
message!(Data, "bench.Data");

/// End of a remote round: the sink answers with a final `Ack`.
#[derive(Serialize, Deserialize)]
pub(crate) struct Fin;
message!(Fin, "bench.Fin");

/// The sink's running count (every `ACK_EVERY` messages, and at `Fin`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Ack {
    pub(crate) count: u64,
    pub(crate) fin: bool,
}
message!(Ack, "bench.Ack");

/// Latency probe (64-byte body each way).
#[derive(Serialize, Deserialize)]
pub(crate) struct Ping {
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}
message!(Ping, "bench.Ping");

#[derive(Serialize, Deserialize)]
pub(crate) struct Pong {
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}
message!(Pong, "bench.Pong");

/// ThroughputPerformance: empty messages.
#[derive(Serialize, Deserialize)]
pub(crate) struct TpPing;
message!(TpPing, "bench.TpPing");

#[derive(Serialize, Deserialize)]
pub(crate) struct TpPong;
message!(TpPong, "bench.TpPong");

/// ClientServer: 3-byte request and response bodies.
#[derive(Serialize, Deserialize)]
pub(crate) struct Req {
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}
message!(Req, "bench.Req");

#[derive(Serialize, Deserialize)]
pub(crate) struct Resp {
    #[serde(with = "serde_bytes")]
    pub(crate) body: Vec<u8>,
}
message!(Resp, "bench.Resp");
