//! The `files` process: `/files/read` and `/files/browse` over the agent's sandboxes, like
//! Mesos's files process. Every path is canonicalized (resolving `..` and symlinks) and
//! must stay inside one of the served roots (`<work_dir>/slaves`); anything else is `403`,
//! a missing file `404`. Nothing outside the roots is ever read.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libproc::{Ctx, Handlers, HttpRequest, HttpResponse, Process};

/// Largest chunk `/files/read` returns at once (Mesos: 16 pages).
pub const MAX_READ_LENGTH: u64 = 16 * 4096;

/// Serves sandbox files under a set of roots.
pub struct FilesProcess {
    roots: Vec<PathBuf>,
}

impl FilesProcess {
    /// A files process serving everything under `roots` (created if missing).
    pub fn new(roots: Vec<PathBuf>) -> FilesProcess {
        let roots = roots
            .into_iter()
            .filter_map(|r| {
                let _ = std::fs::create_dir_all(&r);
                std::fs::canonicalize(&r).ok()
            })
            .collect();
        FilesProcess { roots }
    }

    /// Resolves a requested path, confined to the roots.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, HttpResponse> {
        if requested.is_empty() {
            return Err(HttpResponse::bad_request("Expecting 'path=value' in query"));
        }
        let p = Path::new(requested);
        if !p.is_absolute() {
            return Err(HttpResponse::bad_request("'path' must be absolute"));
        }
        let canonical = match std::fs::canonicalize(p) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HttpResponse::not_found())
            }
            Err(e) => {
                return Err(HttpResponse::text(
                    403,
                    format!("Cannot access '{requested}': {e}\n"),
                ))
            }
        };
        if self.roots.iter().any(|r| canonical.starts_with(r)) {
            Ok(canonical)
        } else {
            Err(HttpResponse::text(
                403,
                format!("'{requested}' is outside the agent's sandboxes\n"),
            ))
        }
    }

    fn read(&self, req: &HttpRequest) -> HttpResponse {
        let path = match self.resolve(req.query("path").unwrap_or("")) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let offset: i64 = match req.query("offset").map(str::parse).transpose() {
            Ok(o) => o.unwrap_or(0),
            Err(_) => {
                return HttpResponse::bad_request("Failed to parse offset: expected an integer")
            }
        };
        let length: Option<u64> = match req.query("length").map(str::parse).transpose() {
            Ok(l) => l,
            Err(_) => {
                return HttpResponse::bad_request(
                    "Failed to parse length: expected a non-negative integer",
                )
            }
        };
        if path.is_dir() {
            return HttpResponse::bad_request("Cannot read a directory");
        }
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => return HttpResponse::text(403, format!("Failed to open file: {e}\n")),
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if offset == -1 {
            return HttpResponse::json(&serde_json::json!({"data": "", "offset": size}));
        }
        if offset < 0 {
            return HttpResponse::bad_request("Negative offset provided");
        }
        let offset = (offset as u64).min(size);
        let length = length.unwrap_or(MAX_READ_LENGTH).min(MAX_READ_LENGTH);
        let mut buf = Vec::new();
        let read = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.take(length).read_to_end(&mut buf));
        if let Err(e) = read {
            return HttpResponse::text(500, format!("Failed to read file: {e}\n"));
        }
        HttpResponse::json(&serde_json::json!({
            "data": String::from_utf8_lossy(&buf),
            "offset": offset,
        }))
    }

    fn browse(&self, req: &HttpRequest) -> HttpResponse {
        let path = match self.resolve(req.query("path").unwrap_or("")) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) => {
                return HttpResponse::bad_request(format!(
                    "Cannot browse '{}': {e}",
                    path.display()
                ))
            }
        };
        let mut out = vec![];
        for entry in entries.flatten() {
            // symlink_metadata: describe links as links, never follow them out.
            let Ok(md) = entry.path().symlink_metadata() else {
                continue;
            };
            out.push(serde_json::json!({
                "path": entry.path().to_string_lossy(),
                "size": md.len(),
                "mode": mode_string(md.permissions().mode(), md.is_dir(), md.file_type().is_symlink()),
                "nlink": md.nlink(),
                "uid": md.uid().to_string(),
                "gid": md.gid().to_string(),
                "mtime": md.mtime(),
            }));
        }
        out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        HttpResponse::json(&serde_json::Value::Array(out))
    }
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
        h.route(
            "read",
            |me: &mut FilesProcess, _ctx: &mut Ctx<Self>, req| me.read(req),
        );
        h.route(
            "browse",
            |me: &mut FilesProcess, _ctx: &mut Ctx<Self>, req| me.browse(req),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(0o644, false, false), "-rw-r--r--");
        assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
    }
}
