//! Nodes over TLS: actor messages and HTTP on one port, plain connections refused (or
//! accepted with downgrade), and an untrusted certificate refused with a clear error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::testing::{eventually, https_get, within, TestCa, TlsFiles};
use crate::tls::{Tls, TlsSettings, TlsSetup};
use crate::{Ctx, Handlers, Node, NodeConfig, Pid, Process};

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Hello(u64);
crate::message!(Hello, "test.tls.Hello");

/// Answers each `Hello` with the same `Hello`, and reports what it got.
struct Echo(mpsc::UnboundedSender<(Pid, u64)>);

impl Process for Echo {
    fn install(h: &mut Handlers<Self>) {
        h.on(|me: &mut Echo, ctx: &mut Ctx<Self>, from: Pid, m: Hello| {
            let _ = me.0.send((from.clone(), m.0));
            if m.0 < 1000 {
                ctx.send(&from, Hello(m.0 + 1000));
            }
        });
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("libproc-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tls(settings: TlsSettings) -> Arc<Tls> {
    Tls::new(&settings).unwrap_or_else(|e| panic!("TLS set-up: {e}"))
}

async fn tls_node(settings: TlsSettings) -> Node {
    Node::bind(NodeConfig::local().tls(TlsSetup::Enabled(tls(settings))))
        .await
        .unwrap()
}

fn identity(dir: &Scratch, name: &str) -> TlsFiles {
    TestCa::new("test CA").issue(&dir.0, name)
}

#[actix_rt::test]
async fn two_nodes_exchange_actor_messages_over_tls() {
    let dir = Scratch::new("actor");
    let ca = TestCa::new("cluster CA");
    let (a, b) = (ca.issue(&dir.0, "a"), ca.issue(&dir.0, "b"));
    let na = tls_node(a.settings()).await;
    let nb = tls_node(b.settings()).await;
    let (tx_a, mut rx_a) = mpsc::unbounded_channel();
    let (tx_b, mut rx_b) = mpsc::unbounded_channel();
    let pa = na.spawn("a", Echo(tx_a)).unwrap();
    let pb = nb.spawn("b", Echo(tx_b)).unwrap();
    for i in 1..=3 {
        na.send(pa.pid(), pb.pid(), Hello(i));
    }
    for i in 1..=3 {
        let got = within(LIMIT, "b gets a's hello", rx_b.recv()).await;
        assert_eq!(got, Some((pa.pid().clone(), i)));
        let back = within(LIMIT, "a gets b's answer", rx_a.recv()).await;
        assert_eq!(back, Some((pb.pid().clone(), i + 1000)));
    }
    // Both directions were TLS connections (each node opened one to the other).
    assert_eq!(na.stats().tls_handshake_failures, 0);
    assert_eq!(nb.stats().connections_refused_plaintext, 0);
    assert!(na.stats().connections_opened >= 2 && nb.stats().connections_opened >= 2);
}

#[actix_rt::test]
async fn https_routes_share_the_port_with_tls_actor_traffic() {
    let dir = Scratch::new("https");
    let ca = TestCa::new("cluster CA");
    let (a, b) = (ca.issue(&dir.0, "a"), ca.issue(&dir.0, "b"));
    let na = tls_node(a.settings()).await;
    let nb = tls_node(b.settings()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pb = nb.spawn("b", Echo(tx)).unwrap();
    na.send(&na.pid("anyone"), pb.pid(), Hello(2000));
    within(LIMIT, "the actor message", rx.recv()).await;
    let client = tls(a.settings());
    let (status, body) = https_get(&client, nb.addr(), "/__processes__")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"b\""), "{body}");
}

#[actix_rt::test]
async fn a_tls_node_refuses_plain_connections_unless_downgrade_is_supported() {
    let dir = Scratch::new("plain");
    let files = identity(&dir, "n");
    let strict = tls_node(files.settings()).await;
    let plain = Node::bind(NodeConfig::local().tls(TlsSetup::Disabled))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let target = strict.spawn("t", Echo(tx)).unwrap();

    // A plain actor connection and a plain HTTP request: both closed unanswered, counted.
    plain.send(&plain.pid("p"), target.pid(), Hello(5000));
    assert!(crate::testing::http_get(strict.addr(), "/__processes__")
        .await
        .is_err());
    eventually(LIMIT, "two plain connections refused", || {
        strict.stats().connections_refused_plaintext == 2
    })
    .await;
    assert!(rx.try_recv().is_err(), "a plain message got through");

    // With downgrade support both work, and TLS still does.
    let mut settings = files.settings();
    settings.support_downgrade = true;
    let lenient = tls_node(settings).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let target = lenient.spawn("t", Echo(tx)).unwrap();
    plain.send(&plain.pid("p"), target.pid(), Hello(5001));
    let got = within(LIMIT, "the plain message", rx.recv()).await;
    assert_eq!(got.map(|g| g.1), Some(5001));
    let (status, _) = crate::testing::http_get(lenient.addr(), "/__processes__")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = https_get(&tls(files.settings()), lenient.addr(), "/__processes__")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(lenient.stats().connections_refused_plaintext, 0);
}

#[actix_rt::test]
async fn under_downgrade_a_tls_node_and_a_plain_node_talk_both_ways() {
    let dir = Scratch::new("downgrade");
    let mut settings = identity(&dir, "n").settings();
    settings.support_downgrade = true;
    let upgraded = tls_node(settings).await;
    let plain = Node::bind(NodeConfig::local().tls(TlsSetup::Disabled))
        .await
        .unwrap();
    let (tx_u, mut rx_u) = mpsc::unbounded_channel();
    let (tx_p, mut rx_p) = mpsc::unbounded_channel();
    let pu = upgraded.spawn("u", Echo(tx_u)).unwrap();
    let pp = plain.spawn("p", Echo(tx_p)).unwrap();
    // The TLS node's handshake fails against the plain node; it retries in plain.
    upgraded.send(pu.pid(), pp.pid(), Hello(1));
    let got = within(LIMIT, "the plain node gets the message", rx_p.recv()).await;
    assert_eq!(got, Some((pu.pid().clone(), 1)));
    let back = within(LIMIT, "the answer in plain", rx_u.recv()).await;
    assert_eq!(back, Some((pp.pid().clone(), 1001)));
    assert_eq!(upgraded.stats().tls_handshake_failures, 1);
}

#[actix_rt::test]
async fn a_verifying_client_refuses_a_server_signed_by_another_ca() {
    let dir = Scratch::new("untrusted");
    let server_files = TestCa::new("rogue CA").issue(&dir.0, "server");
    let client_files = TestCa::new("cluster CA").issue(&dir.0, "client");
    let server = tls_node(server_files.settings()).await;
    let client_tls = tls(client_files.settings());

    let err = https_get(&client_tls, server.addr(), "/__processes__")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("TLS handshake with") && msg.contains("invalid peer certificate"),
        "{msg}"
    );
    assert!(msg.contains("UnknownIssuer"), "{msg}");

    // The actor protocol too: nothing is delivered, the failure is counted.
    let client = tls_node(client_files.settings()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let target = server.spawn("t", Echo(tx)).unwrap();
    client.send(&client.pid("c"), target.pid(), Hello(7));
    eventually(LIMIT, "the client's handshake failure", || {
        client.stats().tls_handshake_failures >= 1
    })
    .await;
    assert!(rx.try_recv().is_err());
}

#[actix_rt::test]
async fn a_node_requiring_client_certificates_refuses_a_client_without_one() {
    let dir = Scratch::new("require");
    let files = identity(&dir, "n");
    let mut settings = files.settings();
    settings.require_cert = true;
    let server = tls_node(settings).await;
    // A client that trusts the server but has no certificate of its own to present.
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(super::trusted(&files.settings()).unwrap())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let answered = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = connector
            .connect(server.addr().ip().into(), tcp)
            .await
            .ok()?;
        s.write_all(b"GET /__processes__ HTTP/1.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        s.flush().await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        (!buf.is_empty()).then_some(buf)
    };
    assert!(within(LIMIT, "the refusal", answered).await.is_none());
    eventually(LIMIT, "the server's handshake failure", || {
        server.stats().tls_handshake_failures == 1
    })
    .await;
}

#[test]
fn certificate_problems_name_the_variable_the_file_and_what_is_wrong() {
    let dir = Scratch::new("errors");
    let files = identity(&dir, "n");
    let with = |f: &dyn Fn(&mut TlsSettings)| {
        let mut s = files.settings();
        f(&mut s);
        Tls::new(&s).unwrap_err().to_string()
    };
    let missing = dir.0.join("absent.pem");
    let e = with(&|s| s.cert_file = Some(missing.clone()));
    assert!(
        e.starts_with(&format!(
            "LIBPROCESS_SSL_CERT_FILE={}: cannot read",
            missing.display()
        )),
        "{e}"
    );
    let garbage = dir.0.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let e = with(&|s| s.cert_file = Some(garbage.clone()));
    assert_eq!(
        e,
        format!(
            "LIBPROCESS_SSL_CERT_FILE={}: holds no PEM certificate",
            garbage.display()
        )
    );
    let e = with(&|s| s.key_file = Some(files.cert_file.clone()));
    assert!(
        e.starts_with(&format!(
            "LIBPROCESS_SSL_KEY_FILE={}: holds no usable PEM private key",
            files.cert_file.display()
        )),
        "{e}"
    );
    // Another certificate's key.
    let other = identity(&dir, "other");
    let e = with(&|s| s.key_file = Some(other.key_file.clone()));
    assert!(
        e.starts_with(&format!(
            "LIBPROCESS_SSL_KEY_FILE={}: does not fit LIBPROCESS_SSL_CERT_FILE=",
            other.key_file.display()
        )),
        "{e}"
    );
    let e = with(&|s| s.key_file = None);
    assert_eq!(
        e,
        "TLS is enabled (LIBPROCESS_SSL_ENABLED) but LIBPROCESS_SSL_KEY_FILE is not set"
    );
}
