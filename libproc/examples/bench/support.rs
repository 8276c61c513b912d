//! Helpers shared by the benchmarks: bounded waits, percentiles, frames, child processes.

use super::*;

/// Yields to the runtime once, then runs `then` on the process: lets the receiver (and the
/// node's connection tasks) run between chunks. (An actix actor drains its whole mailbox in
/// one poll, so a self-sent "continue" message would never yield.)
pub(crate) fn yield_then<P: Process>(
    ctx: &mut Ctx<'_, P>,
    then: impl FnOnce(&mut P, &mut Ctx<'_, P>) + 'static,
) {
    ctx.spawn(tokio::task::yield_now(), move |p, ctx, ()| then(p, ctx));
}

pub(crate) async fn within<F: Future>(what: &str, f: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(WAIT, f)
        .await
        .map_err(|_| anyhow!("timed out after {WAIT:?} waiting for {what}"))
}

pub(crate) async fn recv<T>(rx: &mut UnboundedReceiver<T>, what: &str) -> anyhow::Result<T> {
    within(what, rx.recv())
        .await?
        .ok_or_else(|| anyhow!("channel closed while waiting for {what}"))
}

pub(crate) async fn call<P: Process, R: Send + 'static>(
    r: &ProcessRef<P>,
    f: impl FnOnce(&mut P, &mut Ctx<'_, P>) -> R + Send + 'static,
) -> anyhow::Result<R> {
    within("a process call", r.call(f))
        .await?
        .map_err(|e| anyhow!("{e}"))
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(v, 0.5)
}

pub(crate) fn body64() -> Vec<u8> {
    (0..BODY).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The frame libproc puts on the wire for `msg` from `from` to process `to_id`.
pub(crate) fn frame_for<M: Message>(
    from: &str,
    to_id: &str,
    msg: &M,
) -> anyhow::Result<bytes::Bytes> {
    Ok(wire::encode_frame(from, to_id, M::NAME, |buf| {
        rmp_serde::encode::write_named(buf, msg)
    })?)
}

/// Exits this (child) process as soon as its stdin closes, i.e. when the parent is gone,
/// however it went (even an abort, which runs no destructors).
pub(crate) fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
        }
    });
}

/// A child bench process; killed (and reaped) when dropped.
pub(crate) struct ChildProc {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) _stdout: BufReader<ChildStdout>,
}

impl ChildProc {
    pub(crate) fn spawn(mode: &str) -> anyhow::Result<ChildProc> {
        let exe = std::env::current_exe().context("current_exe")?;
        let mut child = Command::new(exe)
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawning child {mode}"))?;
        let stdout = child.stdout.take();
        let mut proc = ChildProc {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _stdout: BufReader::new(stdout.ok_or_else(|| anyhow!("child has no stdout"))?),
        };
        let mut line = String::new();
        proc._stdout
            .read_line(&mut line)
            .context("reading the child's address")?;
        proc.addr = line
            .trim()
            .parse()
            .with_context(|| format!("child {mode} printed {line:?}, not an address"))?;
        Ok(proc)
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        CHILD_TICKS.fetch_add(
            proc_ticks(Some(self.child.id())).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        // Closing stdin ends the child by itself (so a profiler running it can write its
        // output); kill it if it has not gone after a while.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
