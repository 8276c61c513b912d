//! Process_BENCHMARK_ThroughputPerformance: pairs of processes doing round trips.

use super::*;

/// ThroughputPerformance client: `in_flight` pings at first, then one per pong until `quota`
/// have been sent; reports the instant the last pong arrives.
pub(crate) struct TpClient {
    pub(crate) dest: Pid,
    pub(crate) quota: u64,
    pub(crate) in_flight: u64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) done: UnboundedSender<Instant>,
}

impl TpClient {
    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let n = self.in_flight.min(self.quota);
        for _ in 0..n {
            ctx.send(&self.dest, TpPing);
        }
        self.sent = n;
    }

    pub(crate) fn pong(&mut self, ctx: &mut Ctx<'_, Self>, _: Pid, _: TpPong) {
        self.received += 1;
        if self.sent < self.quota {
            ctx.send(&self.dest, TpPing);
            self.sent += 1;
        }
        if self.received == self.quota {
            let _ = self.done.send(Instant::now());
        }
    }
}

impl Process for TpClient {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::pong);
    }
}

/// ThroughputPerformance destination: answers each ping.
pub(crate) struct TpDest;

impl TpDest {
    pub(crate) fn ping(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, _: TpPing) {
        ctx.send(&from, TpPong);
    }
}

impl Process for TpDest {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::ping);
    }
}

/// Process_BENCHMARK_ThroughputPerformance. `arbiters` empty: everything on the current
/// arbiter; otherwise pair i (client and its destination) on `arbiters[i % len]`.
pub(crate) async fn bench_throughput(
    node: &Node,
    p: &Params,
    arbiters: &[actix::ArbiterHandle],
) -> anyhow::Result<f64> {
    let (tx, mut rx) = unbounded_channel();
    let quota = p.tp_total / p.tp_pairs as u64;
    let mut pids = Vec::new();
    let mut clients = Vec::new();
    for i in 0..p.tp_pairs {
        let dest_id = node.generate_id("tp_dest");
        let client_id = node.generate_id("tp_client");
        let dest_pid = node.pid(&dest_id);
        let client = TpClient {
            dest: dest_pid.clone(),
            quota,
            in_flight: p.tp_in_flight,
            sent: 0,
            received: 0,
            done: tx.clone(),
        };
        let client = if arbiters.is_empty() {
            node.spawn(&dest_id, TpDest)?;
            node.spawn(&client_id, client)?
        } else {
            let arb = &arbiters[i % arbiters.len()];
            node.spawn_on(arb, &dest_id, || TpDest)?;
            node.spawn_on(arb, &client_id, move || client)?
        };
        pids.push(dest_pid);
        pids.push(client.pid().clone());
        clients.push(client);
    }
    drop(tx);
    let start = Instant::now();
    let kicks = clients.iter().map(|c| call(c, |p, ctx| p.start(ctx)));
    for r in futures::future::join_all(kicks).await {
        r?;
    }
    let mut finished = Vec::new();
    for _ in 0..p.tp_pairs {
        finished.push(recv(&mut rx, "throughput clients").await?);
    }
    finished.sort();
    // As libprocess does: stop the clock when all but one client have finished.
    let stop = finished[p.tp_pairs.saturating_sub(2)];
    for pid in &pids {
        node.terminate(pid);
    }
    Ok(p.tp_total as f64 / (stop - start).as_secs_f64())
}
