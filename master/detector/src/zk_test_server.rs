//! Test support: a real ZooKeeper server (Debian's `zookeeper` package, run with the
//! system `java`) on a free loopback port in a private temp dir. `tickTime` is 200 ms so
//! session timeouts from 0.4 s (2 ticks) to 60 s are allowed. The server is killed on
//! drop; [`ZkServer::stop`] and [`ZkServer::start_again`] restart it on the same port and
//! data dir (sessions survive a restart within their timeout, as with a real ensemble).
//!
//! When the package is missing, [`ZkServer::start`] returns `None` after printing why, so
//! a test can skip cleanly:
//!
//! ```ignore
//! let Some(zk) = detector::zk_test_server::ZkServer::start().await else { return };
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ZkUrl;

/// Where Debian's package puts the server jar.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Debian's log configuration directory (on the class path, as `zkServer.sh` does).
pub const ZOOKEEPER_CONF: &str = "/etc/zookeeper/conf";
/// The tick of test servers.
pub const TICK: Duration = Duration::from_millis(200);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A running (or stopped) test ZooKeeper.
#[derive(Debug)]
pub struct ZkServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn java() -> Option<PathBuf> {
    if let Ok(home) = std::env::var("JAVA_HOME") {
        let p = Path::new(&home).join("bin/java");
        if p.exists() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("java"))
            .find(|p| p.exists())
    })
}

/// Why a ZooKeeper server cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(ZOOKEEPER_JAR).exists() {
        return Some(format!(
            "ZooKeeper is not installed ({ZOOKEEPER_JAR} missing; apt-get install zookeeper)"
        ));
    }
    if java().is_none() {
        return Some("no java on PATH (apt-get install zookeeper pulls in a JRE)".into());
    }
    None
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl ZkServer {
    /// Starts a server and waits (up to 60 s) until it answers. `None` (with a message on
    /// stderr) if ZooKeeper is not installed; panics if it is installed but fails to start
    /// (a broken test environment should fail loudly, not skip).
    pub async fn start() -> Option<ZkServer> {
        if let Some(why) = unavailable() {
            libproc::testing::skip_unless_ci("this ZooKeeper test", &why);
            return None;
        }
        let port = free_port().expect("a free loopback port");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("zk-test-{}-{port}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("create the ZooKeeper temp dir");
        let cfg = format!(
            "tickTime={}\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             minSessionTimeout={}\nmaxSessionTimeout=60000\nadmin.enableServer=false\n\
             4lw.commands.whitelist=ruok,srvr,cons\nmaxClientCnxns=0\n",
            TICK.as_millis(),
            dir.join("data").display(),
            2 * TICK.as_millis(),
        );
        std::fs::write(dir.join("zoo.cfg"), cfg).expect("write zoo.cfg");
        let mut server = ZkServer {
            port,
            dir,
            child: None,
        };
        server.start_again().await;
        Some(server)
    }

    /// Starts the server again after [`stop`](ZkServer::stop) (same port and data dir) and
    /// waits until it answers.
    pub async fn start_again(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("open the ZooKeeper log");
        let log2 = log.try_clone().expect("clone the log handle");
        let java = java().expect("java checked by start()");
        let child = Command::new(java)
            .arg("-Xmx256m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg(format!("-Dzookeeper.log.dir={}", self.dir.display()))
            .arg("-cp")
            .arg(format!("{ZOOKEEPER_CONF}:{ZOOKEEPER_JAR}"))
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(self.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("start java for ZooKeeper");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if self.ruok().await {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "ZooKeeper exited at start ({status}); log: {}",
                        self.dir.join("server.log").display()
                    );
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "ZooKeeper did not answer within 60 s; log: {}",
                    self.dir.join("server.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the server answers `ruok` with `imok`.
    pub async fn ruok(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            s.write_all(b"ruok").await?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf == b"imok")
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), attempt).await,
            Ok(Ok(true))
        )
    }

    /// Kills the server (SIGKILL) and waits for it to exit. Data stays for a restart.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, the connect string.
    pub fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `zk://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> ZkUrl {
        ZkUrl {
            servers: self.servers(),
            path: path.to_string(),
        }
    }

    /// The temp dir (data and `server.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ZkServer {
    /// Kills the server and removes its temp dir (kept if `ZK_TEST_KEEP` is set, for
    /// reading the logs of a failed test).
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("ZK_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept ZooKeeper test dir {}", self.dir.display());
        }
    }
}
