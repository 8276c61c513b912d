//! The master's own log through the `files` endpoints, as Mesos serves it when
//! `--log_dir` is set: `/files/read?path=/master/log[&offset=N][&length=N]` answers
//! `{"data", "offset"}` (offset `-1` asks for the size only) and
//! `/files/download?path=/master/log` the whole file. `/master/log` is the one path served;
//! it names the file this master writes its log to (chosen at start-up), never a path the
//! request gives, so nothing else on the host can be read. The web UI's home page links to
//! it. File reads run on tokio's blocking pool, bounded in size and time.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libproc::files_read;
use libproc::{Ctx, Handlers, HttpRequest, HttpResponse, Process, Responder};

/// The virtual path the log is served under.
pub const MASTER_LOG: &str = "/master/log";

/// Largest log `/files/download` sends at once; larger ones are read in chunks.
pub const MAX_DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// Bound on one request's file access.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The `files` process of a master started with `--log_dir`.
pub struct LogFiles {
    file: Arc<PathBuf>,
}

impl LogFiles {
    /// Serves `file` (the master's current log file) as `/master/log`.
    pub fn new(file: PathBuf) -> LogFiles {
        LogFiles {
            file: Arc::new(file),
        }
    }

    /// Answers `responder` with `work(file)`, run off this thread, or `404` for any path
    /// other than [`MASTER_LOG`].
    fn serve(
        &self,
        ctx: &mut Ctx<Self>,
        req: &HttpRequest,
        responder: Responder,
        work: impl FnOnce(&std::path::Path) -> HttpResponse + Send + 'static,
    ) {
        if req.method != "GET" && req.method != "HEAD" {
            responder.respond(
                HttpResponse::text(405, format!("method {} is not allowed\n", req.method))
                    .with_header("Allow", "GET"),
            );
            return;
        }
        if req.query("path") != Some(MASTER_LOG) {
            responder.respond(HttpResponse::not_found());
            return;
        }
        let file = self.file.clone();
        let job = libproc::offload::offload(move || work(&file));
        ctx.spawn(
            tokio::time::timeout(IO_TIMEOUT, job),
            move |_me: &mut LogFiles, _ctx, done| {
                responder.respond(match done {
                    Ok(Ok(response)) => response,
                    Ok(Err(e)) => HttpResponse::text(500, format!("reading the log failed: {e}\n")),
                    Err(_) => HttpResponse::text(
                        504,
                        format!("reading the log took longer than {IO_TIMEOUT:?}\n"),
                    ),
                })
            },
        );
    }
}

/// `/files/read` of the log ([`files_read`]'s protocol).
pub fn read(file: &std::path::Path, offset: Option<&str>, length: Option<&str>) -> HttpResponse {
    let query = match files_read::ReadQuery::parse(offset, length) {
        Ok(query) => query,
        Err(bad) => return bad,
    };
    match std::fs::File::open(file) {
        Ok(mut f) => query.answer(&mut f),
        Err(e) => HttpResponse::text(500, format!("cannot open the log: {e}\n")),
    }
}

/// `/files/download` of the log: the whole file as plain text (up to [`MAX_DOWNLOAD_BYTES`]).
pub fn download(file: &std::path::Path) -> HttpResponse {
    let mut data = Vec::new();
    let read = std::fs::File::open(file)
        .and_then(|f| f.take(MAX_DOWNLOAD_BYTES + 1).read_to_end(&mut data));
    if let Err(e) = read {
        return HttpResponse::text(500, format!("cannot read the log: {e}\n"));
    }
    if data.len() as u64 > MAX_DOWNLOAD_BYTES {
        return HttpResponse::text(
            413,
            format!("the log is larger than {MAX_DOWNLOAD_BYTES} bytes; page through it with /files/read\n"),
        );
    }
    HttpResponse::new(200, "text/plain; charset=utf-8", data)
}

impl Process for LogFiles {
    /// Serves HTTP only; no message from the network.
    const REACH: libproc::Reach = libproc::Reach::LocalOnly;
    fn install(h: &mut Handlers<Self>) {
        // Read-only, as the master's other views.
        h.in_realm(
            proto::http_authentication::MASTER_READONLY,
            Self::install_routes,
        );
    }
}

impl LogFiles {
    fn install_routes(h: &mut Handlers<Self>) {
        h.route_deferred(
            "read",
            |me: &mut LogFiles, ctx: &mut Ctx<Self>, req: HttpRequest, responder| {
                let offset = req.query("offset").map(str::to_string);
                let length = req.query("length").map(str::to_string);
                me.serve(ctx, &req, responder, move |f| {
                    read(f, offset.as_deref(), length.as_deref())
                });
            },
        );
        h.route_deferred(
            "download",
            |me: &mut LogFiles, ctx: &mut Ctx<Self>, req: HttpRequest, responder| {
                me.serve(ctx, &req, responder, download);
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &HttpResponse) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn reads_pages_sizes_and_refuses_bad_offsets() {
        let file = std::env::temp_dir().join(format!("master-log-test-{}", std::process::id()));
        std::fs::write(&file, "line one\nline two\n").unwrap();
        let r = read(&file, None, None);
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["data"], "line one\nline two\n");
        assert_eq!(body(&read(&file, Some("-1"), None))["offset"], 18);
        let r = body(&read(&file, Some("5"), Some("3")));
        assert_eq!(
            (r["data"].as_str(), r["offset"].as_u64()),
            (Some("one"), Some(5))
        );
        // Past the end: nothing, at the end.
        assert_eq!(body(&read(&file, Some("99"), None))["offset"], 18);
        for (o, l) in [(Some("x"), None), (Some("-2"), None), (None, Some("-1"))] {
            assert_eq!(read(&file, o, l).status, 400, "{o:?} {l:?}");
        }
        assert_eq!(download(&file).body.as_ref(), b"line one\nline two\n");
        let _ = std::fs::remove_file(&file);
    }
}
