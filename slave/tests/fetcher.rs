//! The fetcher with real processes and a real HTTP server on loopback started by each
//! test: a fetched `.tar.gz` is unpacked into the sandbox and its script runs; a cached
//! URI is downloaded once for two tasks; a 404 fails the task with
//! `REASON_CONTAINER_LAUNCH_FAILED` naming the URI; `file://` with `output_file`.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use common::{test_dir, Cluster, Ev};
use libproc::testing::within;
use libproc::{Node, NodeConfig};
use proto::messages::KillTaskMessage;
use proto::{CommandInfo, Reason, TaskState, Uri};
use proto::{FrameworkId, TaskId};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny HTTP/1.1 server: serves `files` by path (404 otherwise) and counts requests
/// per path. Paths starting with `/slow` are answered only once [`Server::release`] is
/// called. With TLS it serves `https://`.
struct Server {
    addr: std::net::SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    gate: Arc<tokio::sync::Semaphore>,
    tls: bool,
}

/// Shared by the connections of one [`Server`].
#[derive(Clone)]
struct Served {
    files: Arc<HashMap<String, Vec<u8>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Served {
    async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(&self, mut conn: S) {
        let mut req = vec![];
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&req);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
        *self.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        if path.starts_with("/slow") {
            let _ = self.gate.acquire().await.map(|p| p.forget());
        }
        let (status, body) = match self.files.get(&path) {
            Some(b) => ("200 OK", b.clone()),
            None => ("404 Not Found", b"no such file".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes()).await;
        let _ = conn.write_all(&body).await;
        let _ = conn.shutdown().await;
    }
}

impl Server {
    async fn start(files: HashMap<String, Vec<u8>>) -> Server {
        Server::start_with(files, None).await
    }

    async fn start_with(
        files: HashMap<String, Vec<u8>>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Served {
            files: Arc::new(files),
            hits: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        let (hits, gate, is_tls) = (served.hits.clone(), served.gate.clone(), tls.is_some());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (served, tls) = (served.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => served.answer(conn).await,
                        Some(acceptor) => {
                            if let Ok(conn) = acceptor.accept(conn).await {
                                served.answer(conn).await;
                            }
                        }
                    }
                });
            }
        });
        Server {
            addr,
            hits,
            gate,
            tls: is_tls,
        }
    }

    /// Lets one held `/slow` request be answered.
    fn release(&self) {
        self.gate.add_permits(1);
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// `app/run.sh` (mode 0755) in a gzipped tar.
fn app_tar_gz() -> Vec<u8> {
    let script = b"#!/bin/sh\necho fetched-script-ran as $(id -u)\n";
    let mut tar = tar::Builder::new(vec![]);
    let mut h = tar::Header::new_gnu();
    h.set_size(script.len() as u64);
    h.set_mode(0o755);
    h.set_cksum();
    tar.append_data(&mut h, "app/run.sh", &script[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

async fn cluster(name: &str, tweak: impl FnOnce(&mut slave::AgentConfig)) -> Cluster {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let dir = test_dir(name);
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cache = dir.join("fetch-cache");
    Cluster::start(node, dir, move |c| {
        c.fetcher.cache_dir = cache;
        tweak(c);
    })
    .await
}

fn with_uris(command: &str, uris: Vec<Uri>) -> CommandInfo {
    let mut c = CommandInfo::shell(command);
    c.uris = uris;
    c
}

/// Runs to the terminal update, acknowledging along the way; returns it.
async fn finish(c: &mut Cluster) -> proto::messages::StatusUpdate {
    loop {
        let u = c.next_update().await;
        c.ack(&u);
        if u.status.state.is_terminal() {
            return u;
        }
    }
}

#[actix_rt::test]
async fn a_fetched_tar_gz_is_extracted_and_its_script_runs() {
    let server = Server::start(HashMap::from([("/app.tar.gz".to_string(), app_tar_gz())])).await;
    let mut c = cluster("fetch-tgz", |_| {}).await;
    c.run_task(
        "app",
        with_uris("./app/run.sh", vec![Uri::new(server.url("/app.tar.gz"))]),
    );
    let done = finish(&mut c).await;
    assert_eq!(
        done.status.state,
        TaskState::Finished,
        "{:?}",
        done.status.message
    );
    let sandbox = c.sandbox("app").await;
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("fetched-script-ran"), "{stdout}");
    // The archive stays beside what it unpacked (no cache), and the fetcher logged.
    assert!(sandbox.join("app.tar.gz").is_file());
    let stderr = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
    assert!(
        stderr.contains(&format!("Fetching URI '{}'", server.url("/app.tar.gz"))),
        "{stderr}"
    );
    assert!(stderr.contains("Extracted"), "{stderr}");
    if slave::user::can_switch() {
        // Under --switch_user the fetched files are the task's user's, and so is the run.
        let nobody = slave::user::RunAs::lookup("nobody").unwrap();
        assert!(stdout.contains(&format!("as {}", nobody.uid)), "{stdout}");
        assert_eq!(
            std::fs::metadata(sandbox.join("app/run.sh")).unwrap().uid(),
            nobody.uid
        );
    }
    assert_eq!(server.hits("/app.tar.gz"), 1);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_cached_uri_is_downloaded_once_for_two_tasks() {
    let server = Server::start(HashMap::from([(
        "/tool.sh".to_string(),
        b"#!/bin/sh\necho tool-ran\n".to_vec(),
    )]))
    .await;
    let mut c = cluster("fetch-cache", |_| {}).await;
    let mut uri = Uri::new(server.url("/tool.sh"));
    uri.cache = true;
    uri.executable = true;
    // Both at once: the second waits for the first's download instead of starting its own.
    c.run_task("one", with_uris("./tool.sh", vec![uri.clone()]));
    c.run_task("two", with_uris("./tool.sh", vec![uri]));
    let mut finished = 0;
    while finished < 2 {
        let u = finish(&mut c).await;
        assert_eq!(
            u.status.state,
            TaskState::Finished,
            "{:?}",
            u.status.message
        );
        finished += 1;
    }
    for task in ["one", "two"] {
        let sandbox = c.sandbox(task).await;
        let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
        assert!(stdout.contains("tool-ran"), "{task}: {stdout}");
        let mode = std::fs::metadata(sandbox.join("tool.sh")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o755, "{task}");
    }
    assert_eq!(server.hits("/tool.sh"), 1, "downloaded once");
    let cached = std::fs::read_dir(c.dir.join("fetch-cache"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "one cache file");
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_missing_uri_fails_the_task_naming_it() {
    let server = Server::start(HashMap::new()).await;
    let mut c = cluster("fetch-404", |_| {}).await;
    let url = server.url("/gone.tar.gz");
    c.run_task(
        "missing",
        with_uris("echo never", vec![Uri::new(url.clone())]),
    );
    let failed = finish(&mut c).await;
    assert_eq!(failed.status.state, TaskState::Failed);
    assert_eq!(failed.status.reason, Some(Reason::ContainerLaunchFailed));
    let message = failed.status.message.clone().unwrap_or_default();
    assert!(
        message.contains(&url) && message.contains("404"),
        "{message}"
    );
    let runs = c.dir.join("slaves/S1/frameworks/F1/executors/missing/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let stderr = std::fs::read_to_string(run.join("stderr")).unwrap();
    assert!(
        stderr.contains("Failed to fetch URI"),
        "the fetcher logged why: {stderr}"
    );
    let stdout = std::fs::read_to_string(run.join("stdout")).unwrap_or_default();
    assert!(!stdout.contains("never"), "the command never ran");
    assert_eq!(server.hits("/gone.tar.gz"), 1);
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_local_file_is_copied_to_its_output_file() {
    let mut c = cluster("fetch-file", |_| {}).await;
    let source = c.dir.join("input.txt");
    std::fs::write(&source, "local-contents\n").unwrap();
    std::fs::set_permissions(&source, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut uri = Uri::new(format!("file://{}", source.display()));
    uri.output_file = Some("sub/renamed.txt".into());
    c.run_task("copy", with_uris("cat sub/renamed.txt", vec![uri]));
    let done = finish(&mut c).await;
    assert_eq!(
        done.status.state,
        TaskState::Finished,
        "{:?}",
        done.status.message
    );
    let sandbox = c.sandbox("copy").await;
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("local-contents"), "{stdout}");

    if slave::user::can_switch() {
        // A file the task's user may not read is not copied for it.
        let secret = c.dir.join("secret.txt");
        std::fs::write(&secret, "root only").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        c.run_task(
            "snoop",
            with_uris(
                "cat secret.txt",
                vec![Uri::new(secret.display().to_string())],
            ),
        );
        let failed = finish(&mut c).await;
        assert_eq!(failed.status.state, TaskState::Failed);
        assert_eq!(failed.status.reason, Some(Reason::ContainerLaunchFailed));
        let message = failed.status.message.unwrap_or_default();
        assert!(message.contains("may not read"), "{message}");
    }
    c.agent.shutdown().await;
}

#[actix_rt::test]
async fn a_task_killed_while_its_uris_are_fetched_never_starts() {
    let server = Server::start(HashMap::from([("/slow.tar.gz".to_string(), app_tar_gz())])).await;
    let mut c = cluster("fetch-kill", |_| {}).await;
    c.run_task(
        "late",
        with_uris("./app/run.sh", vec![Uri::new(server.url("/slow.tar.gz"))]),
    );
    within(Duration::from_secs(20), "the download started", async {
        while server.hits("/slow.tar.gz") == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let runs = c.dir.join("slaves/S1/frameworks/F1/executors/late/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    if slave::user::can_switch() {
        // Until the fetch is done the sandbox is the agent's, not yet the task's user's.
        assert_eq!(std::fs::metadata(&run).unwrap().uid(), 0);
    }
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        KillTaskMessage {
            framework_id: FrameworkId::new("F1"),
            task_id: TaskId::new("late"),
            kill_policy: None,
        },
    );
    let killed = c.next_update().await;
    assert_eq!(killed.status.state, TaskState::Killed);
    c.ack(&killed);
    // The download finishes; the executor is not started, and the master hears it is gone.
    server.release();
    within(
        Duration::from_secs(20),
        "the executor is reported gone",
        async {
            loop {
                match c.events.recv().await {
                    Some(Ev::ExitedExecutor(m)) => break m,
                    Some(_) => continue,
                    None => panic!("fake master gone"),
                }
            }
        },
    )
    .await;
    let runs = c.dir.join("slaves/S1/frameworks/F1/executors/late/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let stdout = std::fs::read_to_string(run.join("stdout")).unwrap_or_default();
    assert!(!stdout.contains("fetched-script-ran"), "{stdout}");
    let pids = c
        .agent
        .process
        .call(|me, _| me.executor_os_pids())
        .await
        .unwrap();
    assert!(pids.is_empty(), "{pids:?}");
    c.agent.shutdown().await;
}

/// A self-signed certificate for 127.0.0.1: the server's TLS acceptor and client settings
/// that trust it.
fn test_tls() -> (tokio_rustls::TlsAcceptor, Arc<rustls::ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let der = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        slave::fetcher::download::tls_trusting(roots),
    )
}

fn limits() -> slave::fetcher::download::Limits {
    slave::fetcher::download::Limits {
        max_size: 1 << 20,
        stall_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(20),
    }
}

#[actix_rt::test]
async fn an_https_uri_is_downloaded_from_a_server_the_host_trusts() {
    let (acceptor, trusted) = test_tls();
    let files = HashMap::from([("/app.tar.gz".to_string(), app_tar_gz())]);
    let server = Server::start_with(files, Some(acceptor)).await;
    let dir = test_dir("fetch-https");
    let dest = dir.join("app.tar.gz");
    let url = server.url("/app.tar.gz");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let n = within(
        Duration::from_secs(30),
        "the https download",
        slave::fetcher::download::http_with(&url, &dest, limits(), trusted),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(std::fs::read(&dest).unwrap(), app_tar_gz());
    assert_eq!(n, app_tar_gz().len() as u64);
    assert_eq!(server.hits("/app.tar.gz"), 1);
}

#[actix_rt::test]
async fn an_https_server_the_host_does_not_trust_is_refused() {
    let (acceptor, _trusted) = test_tls();
    let files = HashMap::from([("/secret".to_string(), b"x".to_vec())]);
    let server = Server::start_with(files, Some(acceptor)).await;
    let dir = test_dir("fetch-https-untrusted");
    let dest = dir.join("secret");
    // The host's own trust store does not hold the test's self-signed certificate.
    let err = within(
        Duration::from_secs(30),
        "the refused download",
        slave::fetcher::download::http(&server.url("/secret"), &dest, limits()),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("TLS handshake") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing written from an untrusted server");
    assert_eq!(server.hits("/secret"), 0, "no request sent before trust");
}
