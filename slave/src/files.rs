//! The `files` process: `/files/read` and `/files/browse` over the agent's sandboxes, like
//! Mesos's files process. Every path is canonicalized (resolving `..` and symlinks) and
//! must stay inside one of the served roots (`<work_dir>/slaves`); anything else is `403`,
//! a missing file `404`. Nothing outside the roots is ever read.
//!
//! Sandboxes belong to tasks, so nothing in them is trusted: a task can put a FIFO, a
//! device node or a socket where a log file was. The files process shares the agent's
//! thread, so all its file system work runs on tokio's blocking pool under a time bound
//! ([`FILES_IO_TIMEOUT`]), files are opened `O_NONBLOCK | O_NOFOLLOW` and only regular
//! files (checked with `fstat` on the descriptor, not the path) are read, at most
//! [`MAX_READ_LENGTH`] bytes at a time.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use libproc::{Ctx, Handlers, HttpRequest, HttpResponse, Process, Responder};

/// Largest chunk `/files/read` returns at once (Mesos: 16 pages).
pub const MAX_READ_LENGTH: u64 = 16 * 4096;

/// Largest file `/files/download` sends (it is answered from memory, not streamed);
/// larger files are `413`, and `/files/read` pages through them.
pub const MAX_DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// How long one `/files` request may spend in the file system before it is answered
/// `504` (its blocking work may still finish in the background; nothing waits for it).
pub const FILES_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves sandbox files under a set of roots.
pub struct FilesProcess {
    roots: Arc<Vec<PathBuf>>,
}

/// What `/files/read` was asked.
struct ReadQuery {
    path: String,
    offset: Option<String>,
    length: Option<String>,
}

impl FilesProcess {
    /// A files process serving everything under `roots` (created if missing).
    pub fn new(roots: Vec<PathBuf>) -> FilesProcess {
        FilesProcess {
            roots: Arc::new(canonical_roots(roots)),
        }
    }

    /// Resolves a requested path, confined to the roots.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, HttpResponse> {
        resolve(&self.roots, requested)
    }

    /// Runs `work` (blocking file system calls) off this thread, and answers `responder`
    /// with its response, or `504` if it takes longer than [`FILES_IO_TIMEOUT`].
    fn off_thread(
        &self,
        ctx: &mut Ctx<Self>,
        responder: Responder,
        work: impl FnOnce(&[PathBuf]) -> HttpResponse + Send + 'static,
    ) {
        in_roots(ctx, self.roots.clone(), responder, work)
    }
}

/// Runs `work` over `roots` (blocking file system calls) on tokio's blocking pool, not on
/// the process's thread, and answers `responder` with its response, or `504` if it takes
/// longer than [`FILES_IO_TIMEOUT`]. Any origin may read the answer (the web UI).
pub fn in_roots<P: Process>(
    ctx: &mut Ctx<'_, P>,
    roots: Arc<Vec<PathBuf>>,
    responder: Responder,
    work: impl FnOnce(&[PathBuf]) -> HttpResponse + Send + 'static,
) {
    let job = tokio::task::spawn_blocking(move || work(&roots));
    ctx.spawn(
        tokio::time::timeout(FILES_IO_TIMEOUT, job),
        move |_me: &mut P, _ctx, done| {
            let response = match done {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => HttpResponse::text(500, format!("File access failed: {e}\n")),
                Err(_) => HttpResponse::text(
                    504,
                    format!("File access took longer than {FILES_IO_TIMEOUT:?}\n"),
                ),
            };
            responder.respond(response.with_header("Access-Control-Allow-Origin", "*"))
        },
    );
}

/// Resolves a requested path, confined to `roots`.
fn resolve(roots: &[PathBuf], requested: &str) -> Result<PathBuf, HttpResponse> {
    if requested.is_empty() {
        return Err(HttpResponse::bad_request("Expecting 'path=value' in query"));
    }
    let p = Path::new(requested);
    if !p.is_absolute() {
        return Err(HttpResponse::bad_request("'path' must be absolute"));
    }
    let canonical = match std::fs::canonicalize(p) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(HttpResponse::not_found()),
        Err(e) => {
            return Err(HttpResponse::text(
                403,
                format!("Cannot access '{requested}': {e}\n"),
            ))
        }
    };
    if roots.iter().any(|r| canonical.starts_with(r)) {
        Ok(canonical)
    } else {
        Err(HttpResponse::text(
            403,
            format!("'{requested}' is outside the agent's sandboxes\n"),
        ))
    }
}

/// Opens `path` for reading without ever blocking or following a last-component symlink,
/// and only if the descriptor is a regular file (a FIFO, device or socket is refused
/// before any read: opening a FIFO blocking would wait for a writer forever).
fn open_regular(path: &Path) -> Result<File, HttpResponse> {
    // Refuse what is not a regular file before opening it at all (a device's open may
    // have effects); the check on the descriptor below closes the race with a swap.
    match path.symlink_metadata() {
        Ok(md) if md.is_dir() => return Err(HttpResponse::bad_request("Cannot read a directory")),
        Ok(md) if !md.is_file() => return Err(not_regular(path)),
        Ok(_) => {}
        Err(e) => {
            return Err(HttpResponse::text(
                403,
                format!("Failed to open file: {e}\n"),
            ))
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            (nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_NOCTTY)
                .bits(),
        )
        .open(path)
        .map_err(|e| HttpResponse::text(403, format!("Failed to open file: {e}\n")))?;
    match file.metadata() {
        Ok(md) if md.is_dir() => Err(HttpResponse::bad_request("Cannot read a directory")),
        Ok(md) if md.is_file() => Ok(file),
        Ok(_) => Err(not_regular(path)),
        Err(e) => Err(HttpResponse::text(
            403,
            format!("Failed to stat file: {e}\n"),
        )),
    }
}

fn not_regular(path: &Path) -> HttpResponse {
    HttpResponse::bad_request(format!(
        "Cannot read '{}': not a regular file (a FIFO, device or socket)",
        path.display()
    ))
}

/// `/files/read` (blocking: runs off the actor thread).
fn read(roots: &[PathBuf], q: ReadQuery) -> HttpResponse {
    let offset: i64 = match q.offset.as_deref().map(str::parse).transpose() {
        Ok(o) => o.unwrap_or(0),
        Err(_) => return HttpResponse::bad_request("Failed to parse offset: expected an integer"),
    };
    let length: Option<u64> = match q.length.as_deref().map(str::parse).transpose() {
        Ok(l) => l,
        Err(_) => {
            return HttpResponse::bad_request(
                "Failed to parse length: expected a non-negative integer",
            )
        }
    };
    if offset < -1 {
        return HttpResponse::bad_request("Negative offset provided");
    }
    // Offset -1 asks for the size only.
    let (from, length) = match offset {
        -1 => (u64::MAX, 0),
        o => (o as u64, length.unwrap_or(MAX_READ_LENGTH)),
    };
    match read_range(roots, &q.path, from, length) {
        Ok(r) if offset == -1 => {
            HttpResponse::json(&serde_json::json!({"data": "", "offset": r.size}))
        }
        Ok(r) => HttpResponse::json(&serde_json::json!({
            "data": String::from_utf8_lossy(&r.data),
            "offset": r.offset,
        })),
        Err(response) => response,
    }
}

/// What [`read_range`] read.
struct Chunk {
    /// The file's size.
    size: u64,
    /// Where the data starts (the offset asked, at most the size).
    offset: u64,
    /// The bytes.
    data: Vec<u8>,
}

/// Up to `length` (at most [`MAX_READ_LENGTH`]) bytes of a regular file under the roots
/// from `offset` (blocking).
fn read_range(
    roots: &[PathBuf],
    requested: &str,
    offset: u64,
    length: u64,
) -> Result<Chunk, HttpResponse> {
    let path = resolve(roots, requested)?;
    let mut file = open_regular(&path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let offset = offset.min(size);
    let length = length.min(MAX_READ_LENGTH);
    let mut data = Vec::new();
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.take(length).read_to_end(&mut data))
        .map_err(|e| HttpResponse::text(500, format!("Failed to read file: {e}\n")))?;
    Ok(Chunk { size, offset, data })
}

/// READ_FILE (v1 operator API; blocking): `size` and base64 `data`.
pub fn read_file_v1(roots: &[PathBuf], path: &str, offset: u64, length: u64) -> HttpResponse {
    match read_range(roots, path, offset, length) {
        Ok(c) => HttpResponse::json(&serde_json::json!({"type": "READ_FILE", "read_file": {
            "size": c.size,
            "data": proto::v1::base64::encode(&c.data),
        }})),
        Err(response) => response,
    }
}

/// `/files/download` (blocking: runs off the actor thread): the whole file as an
/// attachment named after it, up to [`MAX_DOWNLOAD_BYTES`].
fn download(roots: &[PathBuf], requested: &str) -> HttpResponse {
    let path = match resolve(roots, requested) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let file = match open_regular(&path) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut buf = Vec::new();
    if let Err(e) = file.take(MAX_DOWNLOAD_BYTES + 1).read_to_end(&mut buf) {
        return HttpResponse::text(500, format!("Failed to read file: {e}\n"));
    }
    if buf.len() as u64 > MAX_DOWNLOAD_BYTES {
        return HttpResponse::text(
            413,
            format!("The file is larger than {MAX_DOWNLOAD_BYTES} bytes; page through it with /files/read\n"),
        );
    }
    // The name as a quoted-string: only characters that need no escaping.
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    HttpResponse::new(200, "application/octet-stream", buf).with_header(
        "Content-Disposition",
        &format!("attachment; filename=\"{name}\""),
    )
}

/// A directory's entries under the roots, described with `lstat` (never opened or
/// followed), sorted by path (blocking).
fn entries(
    roots: &[PathBuf],
    requested: &str,
) -> Result<Vec<(PathBuf, std::fs::Metadata)>, HttpResponse> {
    let path = resolve(roots, requested)?;
    let listing = std::fs::read_dir(&path).map_err(|e| {
        HttpResponse::bad_request(format!("Cannot browse '{}': {e}", path.display()))
    })?;
    let mut out: Vec<(PathBuf, std::fs::Metadata)> = listing
        .flatten()
        .filter_map(|entry| {
            let md = entry.path().symlink_metadata().ok()?;
            Some((entry.path(), md))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `/files/browse` (blocking: runs off the actor thread).
fn browse(roots: &[PathBuf], requested: &str) -> HttpResponse {
    let listing = match entries(roots, requested) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let out: Vec<serde_json::Value> = listing
        .into_iter()
        .map(|(path, md)| {
            serde_json::json!({
                "path": path.to_string_lossy(),
                "size": md.len(),
                "mode": mode_string(md.permissions().mode(), md.is_dir(), md.file_type().is_symlink()),
                "nlink": md.nlink(),
                "uid": md.uid().to_string(),
                "gid": md.gid().to_string(),
                "mtime": md.mtime(),
            })
        })
        .collect();
    HttpResponse::json(&serde_json::Value::Array(out))
}

/// LIST_FILES (v1 operator API; blocking): `file_infos` as Mesos's `FileInfo`.
pub fn list_files_v1(roots: &[PathBuf], requested: &str) -> HttpResponse {
    let listing = match entries(roots, requested) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let infos: Vec<serde_json::Value> = listing
        .into_iter()
        .map(|(path, md)| {
            serde_json::json!({
                "path": path.to_string_lossy(),
                "nlink": md.nlink(),
                "size": md.len(),
                "mtime": {"nanoseconds": md.mtime().saturating_mul(1_000_000_000)},
                "mode": md.mode(),
                "uid": md.uid().to_string(),
                "gid": md.gid().to_string(),
            })
        })
        .collect();
    HttpResponse::json(
        &serde_json::json!({"type": "LIST_FILES", "list_files": {"file_infos": infos}}),
    )
}

/// The roots as [`resolve`] compares them: canonical (created if missing).
pub fn canonical_roots(roots: Vec<PathBuf>) -> Vec<PathBuf> {
    roots
        .into_iter()
        .filter_map(|r| {
            let _ = std::fs::create_dir_all(&r);
            std::fs::canonicalize(&r).ok()
        })
        .collect()
}

/// `ls -l` style mode string, e.g. `-rw-r--r--`.
fn mode_string(mode: u32, dir: bool, link: bool) -> String {
    let mut s = String::with_capacity(10);
    s.push(if link {
        'l'
    } else if dir {
        'd'
    } else {
        '-'
    });
    for shift in [6u32, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

impl Process for FilesProcess {
    fn install(h: &mut Handlers<Self>) {
        h.route_deferred(
            "read",
            |me: &mut FilesProcess, ctx: &mut Ctx<Self>, req: HttpRequest, responder| {
                let q = ReadQuery {
                    path: req.query("path").unwrap_or("").to_string(),
                    offset: req.query("offset").map(str::to_string),
                    length: req.query("length").map(str::to_string),
                };
                me.off_thread(ctx, responder, move |roots| read(roots, q));
            },
        );
        h.route_deferred(
            "download",
            |me: &mut FilesProcess, ctx: &mut Ctx<Self>, req: HttpRequest, responder| {
                let path = req.query("path").unwrap_or("").to_string();
                me.off_thread(ctx, responder, move |roots| download(roots, &path));
            },
        );
        h.route_deferred(
            "browse",
            |me: &mut FilesProcess, ctx: &mut Ctx<Self>, req: HttpRequest, responder| {
                let path = req.query("path").unwrap_or("").to_string();
                me.off_thread(ctx, responder, move |roots| browse(roots, &path));
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> (PathBuf, Vec<PathBuf>) {
        let root = std::env::temp_dir().join(format!(
            "files-download-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&root).unwrap();
        let roots = vec![std::fs::canonicalize(&root).unwrap()];
        (root, roots)
    }

    #[test]
    fn download_sends_the_file_as_an_attachment() {
        let (root, roots) = sandbox();
        std::fs::write(root.join("std\"out"), b"line 1\nline 2\n").unwrap();
        let r = download(&roots, &root.join("std\"out").to_string_lossy());
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], b"line 1\nline 2\n");
        let disposition = r
            .headers
            .iter()
            .find(|(k, _)| k == "content-disposition")
            .map(|(_, v)| v.as_str());
        assert_eq!(disposition, Some("attachment; filename=\"std_out\""));
        assert_eq!(download(&roots, "/etc/passwd").status, 403);
        assert_eq!(download(&roots, &root.to_string_lossy()).status, 400);
        assert_eq!(
            download(&roots, &root.join("missing").to_string_lossy()).status,
            404
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(0o644, false, false), "-rw-r--r--");
        assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
    }
}
