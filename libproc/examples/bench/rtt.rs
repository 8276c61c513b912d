//! Ping-pong round trips with one message in flight, libproc and raw TCP interleaved.

use super::*;

/// Child side: answers every `Ping` with a `Pong` carrying the same body.
pub(crate) struct Ponger;

impl Ponger {
    pub(crate) fn ping(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, p: Ping) {
        ctx.send(&from, Pong { body: p.body });
    }
}

impl Process for Ponger {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::ping);
    }
}

/// Ping-pong with one in flight; reports the round-trip times (µs) after the warm-up.
pub(crate) struct Pinger {
    pub(crate) to: Pid,
    pub(crate) warmup: usize,
    pub(crate) total: usize,
    pub(crate) done_count: usize,
    pub(crate) t0: Instant,
    pub(crate) body: Vec<u8>,
    pub(crate) samples: Vec<f64>,
    pub(crate) done: UnboundedSender<Vec<f64>>,
}

impl Pinger {
    /// Starts a block: `warmup` unrecorded round trips, then `total` recorded ones.
    pub(crate) fn block(&mut self, ctx: &mut Ctx<'_, Self>, warmup: usize, total: usize) {
        (self.warmup, self.total, self.done_count) = (warmup, total, 0);
        self.samples = Vec::with_capacity(total);
        self.go(ctx);
    }

    pub(crate) fn go(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.t0 = Instant::now();
        ctx.send(
            &self.to,
            Ping {
                body: self.body.clone(),
            },
        );
    }

    pub(crate) fn pong(&mut self, ctx: &mut Ctx<'_, Self>, _: Pid, p: Pong) {
        let rtt = self.t0.elapsed();
        debug_assert_eq!(p.body.len(), BODY);
        self.done_count += 1;
        if self.done_count > self.warmup {
            self.samples.push(rtt.as_secs_f64() * 1e6);
        }
        if self.done_count < self.warmup + self.total {
            self.go(ctx);
        } else {
            let _ = self.done.send(std::mem::take(&mut self.samples));
        }
    }
}

impl Process for Pinger {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::pong);
    }
}

/// libproc ping-pong and raw-TCP ping-pong, measured in alternating blocks so both see the
/// same machine state (the scheduler's CPU placement of the two processes dominates
/// loopback RTT on a small VM and drifts over seconds). Returns sorted samples (µs).
pub(crate) async fn rtt_interleaved(
    node: &Node,
    pong: &Pid,
    raw: SocketAddr,
    p: &Params,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (tx, mut rx) = unbounded_channel();
    let pinger = node.spawn(
        &node.generate_id("pinger"),
        Pinger {
            to: pong.clone(),
            warmup: 0,
            total: 0,
            done_count: 0,
            t0: Instant::now(),
            body: body64(),
            samples: Vec::new(),
            done: tx,
        },
    )?;
    let mut raw = RawPinger::connect(node, raw).await?;
    let per_block = p.rtt_samples.div_ceil(p.rtt_blocks);
    let (mut lib, mut base) = (Vec::new(), Vec::new());
    for b in 0..p.rtt_blocks {
        let warmup = if b == 0 {
            p.rtt_warmup
        } else {
            p.rtt_warmup / 10
        };
        call(&pinger, move |p, ctx| p.block(ctx, warmup, per_block)).await?;
        lib.extend(recv(&mut rx, "the ping-pong").await?);
        base.extend(raw.block(warmup, per_block).await?);
    }
    node.terminate(pinger.pid());
    lib.sort_by(|a, b| a.total_cmp(b));
    base.sort_by(|a, b| a.total_cmp(b));
    Ok((lib, base))
}

/// Raw-TCP ping-pong client: one connection, frames encoded per message, one in flight.
pub(crate) struct RawPinger {
    pub(crate) stream: tokio::net::TcpStream,
    pub(crate) buf: BytesMut,
    pub(crate) from: String,
    pub(crate) body: Vec<u8>,
}

impl RawPinger {
    pub(crate) async fn connect(node: &Node, child: SocketAddr) -> anyhow::Result<RawPinger> {
        let mut stream = tokio::net::TcpStream::connect(child).await?;
        stream.set_nodelay(true)?;
        stream.write_all(b"P").await?;
        Ok(RawPinger {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            from: node.pid("pinger(0)").to_string(),
            body: body64(),
        })
    }

    pub(crate) async fn block(&mut self, warmup: usize, total: usize) -> anyhow::Result<Vec<f64>> {
        let mut samples = Vec::with_capacity(total);
        for i in 0..warmup + total {
            let t0 = Instant::now();
            let frame = frame_for(
                &self.from,
                "pong",
                &Ping {
                    body: self.body.clone(),
                },
            )?;
            self.stream.write_all(&frame).await?;
            let reply = loop {
                if let Some(f) = wire::split_frame(&mut self.buf, MAX_FRAME)
                    .map_err(|l| anyhow!("oversized frame {l}"))?
                {
                    break f;
                }
                if self.buf.capacity() - self.buf.len() < 1024 {
                    self.buf.reserve(64 * 1024);
                }
                if within("a raw pong", self.stream.read_buf(&mut self.buf)).await?? == 0 {
                    bail!("raw child closed the ping-pong connection");
                }
            };
            let f = wire::decode_frame(&reply)?;
            let pong: Pong = rmp_serde::from_slice(&f.body)?;
            let rtt = t0.elapsed();
            debug_assert_eq!(pong.body.len(), BODY);
            if i >= warmup {
                samples.push(rtt.as_secs_f64() * 1e6);
            }
        }
        Ok(samples)
    }
}
