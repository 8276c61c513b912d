//! Multi-process clusters: each component is one of the built binaries, started as a real
//! OS process talking over loopback TCP. Every process is killed (and reaped) when its
//! handle drops, so a failing test leaves nothing behind.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the workspace's built binaries (`target/debug` when tests run).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    // Test executables live in target/<profile>/deps, examples in target/<profile>/examples.
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir
}

/// The path of a workspace binary such as `mesos-master`.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A free loopback port (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A running OS process, killed with SIGKILL when dropped.
pub struct Proc {
    /// Short name for messages.
    pub name: String,
    /// The child.
    pub child: Child,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args`, stdout and stderr into `log_dir/<name>.log`.
    pub fn start(
        name: &str,
        program: &str,
        args: &[String],
        log_dir: &std::path::Path,
    ) -> std::io::Result<Proc> {
        Proc::start_env(name, program, args, &[], log_dir)
    }

    /// [`Proc::start`] with `env` added to the inherited environment (e.g. the
    /// `LIBPROCESS_SSL_*` variables).
    pub fn start_env(
        name: &str,
        program: &str,
        args: &[String],
        env: &[(String, String)],
        log_dir: &std::path::Path,
    ) -> std::io::Result<Proc> {
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin(program))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start {program}: {e}")))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The OS pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (e.g. `libc` numbers via nix in callers); returns whether it was sent.
    pub fn signal(&self, sig: i32) -> bool {
        // SAFETY-free: use the kill command to avoid a libc dependency here.
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `GET path` on `addr` answers 200 (bounded), returning the body.
pub async fn wait_http(addr: SocketAddr, path: &str, limit: Duration) -> Result<String, String> {
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < limit {
        match libproc::testing::http_get(addr, path).await {
            Ok((200, body)) => return Ok(body),
            Ok((status, body)) => last = format!("{status}: {body}"),
            Err(e) => last = e.to_string(),
        }
        // Polling a process we do not control: there is no event to wait for.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "GET {path} on {addr} did not answer 200 within {limit:?}; last: {last}"
    ))
}

/// `GET path` as JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let (status, body) = libproc::testing::http_get(addr, path)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET {path}: {status} {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: not JSON ({e}): {body}"))
}

/// Polls `GET path` until `pred` holds for its JSON (bounded).
pub async fn wait_json(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
    what: &str,
    mut pred: impl FnMut(&serde_json::Value) -> bool,
) -> Result<serde_json::Value, String> {
    let start = Instant::now();
    let mut last = serde_json::Value::Null;
    while start.elapsed() < limit {
        if let Ok(v) = get_json(addr, path).await {
            if pred(&v) {
                return Ok(v);
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "timed out after {limit:?} waiting for {what}; last {path}: {last}"
    ))
}
