//! One-way tells between two processes on one arbiter, and the tokio-channel baseline.

use super::*;

/// Sends `total` local `Tick`s to `to`, `CHUNK` per turn.
pub(crate) struct LocalSender {
    pub(crate) to: Pid,
    pub(crate) total: u64,
    pub(crate) sent: u64,
}

impl LocalSender {
    pub(crate) fn pump(&mut self, ctx: &mut Ctx<'_, Self>) {
        let end = (self.sent + CHUNK).min(self.total);
        while self.sent < end {
            ctx.send(&self.to, Tick(self.sent));
            self.sent += 1;
        }
        if self.sent < self.total {
            yield_then(ctx, Self::pump);
        }
    }
}

impl Process for LocalSender {
    fn install(_: &mut Handlers<Self>) {}
}

/// Counts `Tick`s; reports the instant the `total`-th arrives.
pub(crate) struct LocalCounter {
    pub(crate) total: u64,
    pub(crate) count: u64,
    pub(crate) done: UnboundedSender<Instant>,
}

impl LocalCounter {
    pub(crate) fn tick(&mut self, _: &mut Ctx<'_, Self>, _: Pid, _: Tick) {
        self.count += 1;
        if self.count == self.total {
            let _ = self.done.send(Instant::now());
        }
    }
}

impl Process for LocalCounter {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::tick);
    }
}

pub(crate) async fn bench_local(node: &Node, n: u64) -> anyhow::Result<f64> {
    let (tx, mut rx) = unbounded_channel();
    let counter_id = node.generate_id("counter");
    let counter = node.spawn(
        &counter_id,
        LocalCounter {
            total: n,
            count: 0,
            done: tx,
        },
    )?;
    let sender = node.spawn(
        &node.generate_id("lsend"),
        LocalSender {
            to: counter.pid().clone(),
            total: n,
            sent: 0,
        },
    )?;
    let start = Instant::now();
    call(&sender, |p, ctx| p.pump(ctx)).await?;
    let end = recv(&mut rx, "the local counter").await?;
    node.terminate(sender.pid());
    node.terminate(counter.pid());
    Ok(n as f64 / (end - start).as_secs_f64())
}

pub(crate) async fn bench_local_baseline(n: u64) -> anyhow::Result<f64> {
    let (tx, mut rx) = unbounded_channel::<Tick>();
    let (done_tx, mut done_rx) = unbounded_channel();
    let start = Instant::now();
    let receiver = tokio::task::spawn_local(async move {
        let mut count = 0u64;
        while let Some(Tick(_)) = rx.recv().await {
            count += 1;
            if count == n {
                let _ = done_tx.send(Instant::now());
            }
        }
    });
    let sender = tokio::task::spawn_local(async move {
        let mut sent = 0;
        while sent < n {
            let end = (sent + CHUNK).min(n);
            while sent < end {
                let _ = tx.send(Tick(sent));
                sent += 1;
            }
            tokio::task::yield_now().await;
        }
    });
    let end = recv(&mut done_rx, "the baseline receiver").await?;
    sender.await?;
    receiver.await?;
    Ok(n as f64 / (end - start).as_secs_f64())
}
