//! `mesos-master --registry=file` as a real process whose registry file cannot be
//! written (its temporary file's name is taken by a directory, so the write fails even
//! for root): the master must not lead. It used to log the error, retry forever, and
//! go on leading and admitting agents; now it exits with code 3 (as when it loses
//! leadership) so that a supervisor or another master takes over.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_master_whose_registry_file_cannot_be_written_exits() {
    let dir = std::env::temp_dir().join(format!("registry-unwritable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // `<work_dir>/meta/registry.tmp` is where each write begins.
    std::fs::create_dir_all(dir.join("meta").join("registry.tmp")).expect("test dirs");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log_path = dir.join("master.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesos-master"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg("--registry=file")
        .arg(format!("--work_dir={}", dir.display()))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mesos-master");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        // A child's exit is not an event this test can await without a runtime.
        std::thread::sleep(Duration::from_millis(25));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let status = status
        .unwrap_or_else(|| panic!("the master kept running without a writable registry:\n{log}"));
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("cannot write the registry"), "{log}");
    assert!(!log.contains("registered agent"), "{log}");
}
