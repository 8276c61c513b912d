//! Out of file descriptors, a node neither spins nor stops for good: `accept` fails with
//! EMFILE while a connection waits in the backlog, the accept loop backs off (counted in
//! `accept_errors`, a handful per second instead of millions), and once descriptors are
//! free again the waiting client is served.
//!
//! This file holds one test on purpose: it lowers `RLIMIT_NOFILE` and uses up every
//! descriptor of the test process, which would break any test running beside it.

use std::fs::File;
use std::time::Duration;

use libproc::testing::{eventually, within};
use libproc::{Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn nofile() -> libc::rlimit {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r
}

fn set_nofile(r: libc::rlimit) {
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
}

#[actix_rt::test]
async fn out_of_descriptors_the_accept_loop_backs_off_and_recovers() {
    let saved = nofile();
    set_nofile(libc::rlimit {
        rlim_cur: saved.rlim_cur.min(256),
        rlim_max: saved.rlim_max,
    });
    let node = Node::bind(NodeConfig::local()).await.unwrap();

    // A client socket made while descriptors remain; it connects once they are gone.
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let mut hoard = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => hoard.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected error while using up descriptors: {e}"),
        }
    }
    // The kernel completes the handshake into the backlog; the node's accept gets EMFILE.
    client.connect(&node.addr().into()).unwrap();
    eventually(Duration::from_secs(5), "an accept error", || {
        node.stats().accept_errors >= 1
    })
    .await;
    // Let the condition last: without back-off the loop retries millions of times.
    let before = node.stats().accept_errors;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = node.stats().accept_errors - before;
    eprintln!("{during} accept attempts in 1.5 s out of descriptors");
    assert!(
        during <= 12,
        "{during} accept attempts in 1.5 s: the accept loop spins"
    );

    // Descriptors back: the waiting client is accepted and served.
    drop(hoard);
    client.set_nonblocking(true).unwrap();
    let mut s = tokio::net::TcpStream::from_std(std::net::TcpStream::from(client)).unwrap();
    s.write_all(b"GET /metrics/snapshot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    within(
        Duration::from_secs(10),
        "the response once descriptors are back",
        s.read_to_string(&mut resp),
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("libproc/accept_errors"), "{resp}");
    set_nofile(saved);
}
