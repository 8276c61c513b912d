//! One-way 64-byte tells to a node in another OS process, and the raw-TCP baseline.

use super::*;

/// Sends `total` 64-byte `Data` tells to the remote sink with at most `WINDOW` unacknowledged,
/// then `Fin`; reports the instant the final `Ack` arrives.
pub(crate) struct RemoteSender {
    pub(crate) to: Pid,
    pub(crate) total: u64,
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    pub(crate) fin_sent: bool,
    pub(crate) pumping: bool,
    pub(crate) body: Vec<u8>,
    pub(crate) done: UnboundedSender<(Instant, u64)>,
}

impl RemoteSender {
    pub(crate) fn can_send(&self) -> bool {
        self.sent < self.total && self.sent - self.acked < WINDOW
    }

    pub(crate) fn pump(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.pumping = false;
        let mut n = 0;
        while n < CHUNK && self.can_send() {
            ctx.send(
                &self.to,
                Data {
                    body: self.body.clone(),
                },
            );
            self.sent += 1;
            n += 1;
        }
        if self.sent == self.total {
            if !self.fin_sent {
                self.fin_sent = true;
                ctx.send(&self.to, Fin);
            }
        } else if self.can_send() {
            self.pumping = true;
            yield_then(ctx, Self::pump);
        }
    }

    pub(crate) fn ack(&mut self, ctx: &mut Ctx<'_, Self>, _: Pid, a: Ack) {
        if a.fin {
            let _ = self.done.send((Instant::now(), a.count));
            return;
        }
        self.acked = self.acked.max(a.count);
        if !self.pumping {
            self.pump(ctx);
        }
    }
}

impl Process for RemoteSender {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::ack);
    }
}

/// Child side: counts `Data`, acknowledges every `ACK_EVERY` and at `Fin` (then resets).
#[derive(Default)]
pub(crate) struct Acker {
    pub(crate) count: u64,
}

impl Acker {
    pub(crate) fn data(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, d: Data) {
        debug_assert_eq!(d.body.len(), BODY);
        self.count += 1;
        if self.count % ACK_EVERY == 0 {
            ctx.send(
                &from,
                Ack {
                    count: self.count,
                    fin: false,
                },
            );
        }
    }

    pub(crate) fn fin(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, _: Fin) {
        ctx.send(
            &from,
            Ack {
                count: self.count,
                fin: true,
            },
        );
        self.count = 0;
    }
}

impl Process for Acker {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::data).on(Self::fin);
    }
}

/// One round of remote tells; returns messages per second.
pub(crate) async fn remote_round(node: &Node, sink: &Pid, n: u64) -> anyhow::Result<f64> {
    let (tx, mut rx) = unbounded_channel();
    let sender = node.spawn(
        &node.generate_id("rsend"),
        RemoteSender {
            to: sink.clone(),
            total: n,
            sent: 0,
            acked: 0,
            fin_sent: false,
            pumping: false,
            body: body64(),
            done: tx,
        },
    )?;
    let start = Instant::now();
    call(&sender, |p, ctx| p.pump(ctx)).await?;
    let (end, count) = recv(&mut rx, "the remote sink's final ack").await?;
    node.terminate(sender.pid());
    if count != n {
        bail!("remote sink counted {count} of {n} messages");
    }
    Ok(n as f64 / (end - start).as_secs_f64())
}

/// One round of raw-TCP tells of the same frames; returns messages per second.
pub(crate) async fn remote_round_baseline(
    node: &Node,
    child: SocketAddr,
    n: u64,
) -> anyhow::Result<f64> {
    let stream = tokio::net::TcpStream::connect(child).await?;
    stream.set_nodelay(true)?;
    let (mut rd, wr) = stream.into_split();
    let mut w = tokio::io::BufWriter::with_capacity(64 * 1024, wr);
    let from = node.pid("rsend(0)").to_string();
    let body = body64();
    let start = Instant::now();
    w.write_all(b"T").await?;
    w.write_all(&n.to_be_bytes()).await?;
    for _ in 0..n {
        let frame = frame_for(&from, "sink", &Data { body: body.clone() })?;
        w.write_all(&frame).await?;
    }
    w.flush().await?;
    let count = within("the raw child's count", rd.read_u64()).await??;
    let elapsed = start.elapsed();
    if count != n {
        bail!("raw child counted {count} of {n} frames");
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}
