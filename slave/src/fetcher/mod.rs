//! The fetcher (Mesos `docs/fetcher.md`): before an executor starts, the URIs of its
//! command (`CommandInfo.uris`) are brought into its sandbox, in order. Each URI is
//! downloaded ([`download`]: `http://`, `https://`, `file://`, absolute paths), then made executable
//! (`executable`, which wins over `extract`), or unpacked if its name says it is an
//! archive ([`extract`]), and stored as `output_file` (a relative path) or its base name.
//! With `cache`, the download goes through a cache directory shared by all tasks
//! (`--fetcher_cache_dir`, at most `--fetcher_cache_size` bytes, least recently used
//! files evicted, keyed by user and URI, emptied when the agent starts; [`cache`]): a
//! cached URI is downloaded once. A file that does not fit is fetched around the cache.
//!
//! The fetcher logs what it does into the sandbox's `stderr` (where Mesos's fetcher
//! output goes too) and, under `--switch_user`, gives everything it wrote to the task's
//! user; a local file is only copied if that user may read it. It runs on tasks of its
//! own, with file work on blocking threads, never on the agent's event loop. Any failure
//! names the URI; the agent then fails the task with `REASON_CONTAINER_LAUNCH_FAILED`.

pub mod cache;
pub mod download;
pub mod extract;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::Uri;

use self::cache::{Admission, Cache, CacheKey};
use crate::user::RunAs;

/// Mesos's default `--fetcher_cache_size`: 2 GB.
pub const DEFAULT_CACHE_SIZE: u64 = 2 << 30;
/// Mesos's default `--fetcher_cache_dir`.
pub const DEFAULT_CACHE_DIR: &str = "/tmp/mesos/fetch";
/// Mesos's default `--fetcher_stall_timeout`.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Fetcher settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FetcherConfig {
    /// Where cached downloads live (`--fetcher_cache_dir`); emptied at start.
    pub cache_dir: PathBuf,
    /// Most bytes the cache holds (`--fetcher_cache_size`).
    pub cache_size: u64,
    /// Longest wait for the next piece of a download (`--fetcher_stall_timeout`).
    pub stall_timeout: Duration,
    /// Longest whole download of one URI.
    pub download_timeout: Duration,
    /// Largest download of one URI, and most bytes one archive may unpack to.
    pub max_size: u64,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            cache_dir: PathBuf::from(DEFAULT_CACHE_DIR),
            cache_size: DEFAULT_CACHE_SIZE,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            download_timeout: Duration::from_secs(3600),
            max_size: 16 << 30,
        }
    }
}

/// The agent's fetcher; clones share the cache.
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: FetcherConfig,
    cache: Mutex<Cache>,
    /// One lock per cache key: a URI being downloaded into the cache is waited for, not
    /// downloaded again.
    locks: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Downloads made (network or copy), for `/state`-like inspection and tests.
    downloads: AtomicU64,
    /// Set once the cache directory has been emptied and created.
    cache_ready: tokio::sync::OnceCell<()>,
}

impl Fetcher {
    /// A fetcher with an empty cache; the cache directory's old contents are removed the
    /// first time the cache is used.
    pub fn new(config: FetcherConfig) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                cache: Mutex::new(Cache::new(config.cache_size)),
                config,
                locks: Mutex::new(HashMap::new()),
                downloads: AtomicU64::new(0),
                cache_ready: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Downloads made so far (each cached URI counts once).
    pub fn downloads(&self) -> u64 {
        self.inner.downloads.load(Ordering::Relaxed)
    }

    /// Fetches `uris` into `sandbox` for `user`; the error names the failing URI.
    pub async fn fetch(
        &self,
        uris: Vec<Uri>,
        sandbox: PathBuf,
        user: Option<RunAs>,
    ) -> Result<(), String> {
        let log = Log::open(&sandbox, user.as_ref()).await;
        for uri in &uris {
            log.line(format!("Fetching URI '{}'", uri.value)).await;
            if let Err(e) = self.fetch_one(uri, &sandbox, user.as_ref(), &log).await {
                let message = format!("Failed to fetch URI '{}': {e}", uri.value);
                log.line(message.clone()).await;
                return Err(message);
            }
        }
        if let Some(u) = user.clone() {
            let dir = sandbox.clone();
            blocking(move || {
                crate::user::chown_tree(&dir, &u)
                    .map_err(|e| format!("cannot give the sandbox to user '{}': {e}", u.name))
            })
            .await?;
        }
        if !uris.is_empty() {
            log.line(format!(
                "Fetched {} URI(s) into '{}'",
                uris.len(),
                sandbox.display()
            ))
            .await;
        }
        Ok(())
    }

    async fn fetch_one(
        &self,
        uri: &Uri,
        sandbox: &Path,
        user: Option<&RunAs>,
        log: &Log,
    ) -> Result<(), String> {
        let source = download::source_of(&uri.value)?;
        let name = match &uri.output_file {
            Some(f) if !f.is_empty() => {
                if !extract::safe_relative(Path::new(f)) {
                    return Err(format!(
                        "output_file '{f}' must be a relative path inside the sandbox"
                    ));
                }
                f.clone()
            }
            _ => download::basename(&uri.value).ok_or_else(|| {
                "cannot derive a file name from the URI; set output_file".to_string()
            })?,
        };
        let target = sandbox.join(&name);
        if let Some(parent) = target.parent() {
            let parent = parent.to_path_buf();
            blocking(move || {
                std::fs::create_dir_all(&parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))
            })
            .await?;
        }
        let archive = if uri.executable || !uri.extract {
            None
        } else {
            extract::kind_of(&name)
        };
        if uri.cache {
            let key = CacheKey {
                user: user.map(|u| u.name.clone()),
                uri: uri.value.clone(),
            };
            let lock = {
                let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
                locks.entry(key.clone()).or_default().clone()
            };
            let _guard = lock.lock().await;
            let hit = self.cache().get(&key);
            let (file, fresh) = match hit {
                Some(f) => (f, false),
                None => match self.download_into_cache(&key, &source, user, log).await? {
                    Some(f) => (f, true),
                    None => {
                        log.line("Not enough room in the fetcher cache; fetching around it".into())
                            .await;
                        return self
                            .direct(
                                &source,
                                &target,
                                &name,
                                sandbox,
                                uri.executable,
                                archive,
                                user,
                                log,
                            )
                            .await;
                    }
                },
            };
            if !fresh {
                log.line(format!("Using the cached copy of '{}'", uri.value))
                    .await;
            }
            let cached = self.inner.config.cache_dir.join(&file);
            let result = self
                .deliver(cached, target, sandbox, uri.executable, archive, log)
                .await;
            self.cache().unpin(&key);
            result
        } else {
            self.direct(
                &source,
                &target,
                &name,
                sandbox,
                uri.executable,
                archive,
                user,
                log,
            )
            .await
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.inner.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Downloads straight into the sandbox, then makes it executable or unpacks it.
    #[allow(clippy::too_many_arguments)]
    async fn direct(
        &self,
        source: &Source,
        target: &Path,
        name: &str,
        sandbox: &Path,
        executable: bool,
        archive: Option<extract::Kind>,
        user: Option<&RunAs>,
        log: &Log,
    ) -> Result<(), String> {
        let n = self.download(source, target, user).await?;
        log.line(format!("Downloaded {n} bytes into '{name}'"))
            .await;
        let (target, sandbox, max) = (
            target.to_path_buf(),
            sandbox.to_path_buf(),
            self.inner.config.max_size,
        );
        let done =
            blocking(move || finish(&target, &target, &sandbox, executable, archive, max, false))
                .await?;
        log.line(done).await;
        Ok(())
    }

    /// Copies (or unpacks) a cache file into the sandbox.
    async fn deliver(
        &self,
        cached: PathBuf,
        target: PathBuf,
        sandbox: &Path,
        executable: bool,
        archive: Option<extract::Kind>,
        log: &Log,
    ) -> Result<(), String> {
        let (sandbox, max) = (sandbox.to_path_buf(), self.inner.config.max_size);
        let done =
            blocking(move || finish(&cached, &target, &sandbox, executable, archive, max, true))
                .await?;
        log.line(done).await;
        Ok(())
    }

    async fn download(
        &self,
        source: &Source,
        dest: &Path,
        user: Option<&RunAs>,
    ) -> Result<u64, String> {
        self.inner.downloads.fetch_add(1, Ordering::Relaxed);
        let c = &self.inner.config;
        match source {
            Source::Http(url) => {
                let limits = download::Limits {
                    max_size: c.max_size,
                    stall_timeout: c.stall_timeout,
                    timeout: c.download_timeout,
                };
                download::http(url, dest, limits).await
            }
            Source::Local(path) => download::copy(path, dest, c.max_size, user.cloned()).await,
        }
    }

    /// Downloads `source` into the cache for `key`: the cache file's name (pinned), or
    /// `None` when it does not fit.
    async fn download_into_cache(
        &self,
        key: &CacheKey,
        source: &Source,
        user: Option<&RunAs>,
        log: &Log,
    ) -> Result<Option<String>, String> {
        let dir = self.inner.config.cache_dir.clone();
        let d = dir.clone();
        self.inner
            .cache_ready
            .get_or_try_init(|| {
                blocking(move || {
                    // What a previous run left is not ours to trust (Mesos empties it too).
                    let _ = std::fs::remove_dir_all(&d);
                    std::fs::create_dir_all(&d).map_err(|e| {
                        format!("cannot create the fetcher cache {}: {e}", d.display())
                    })?;
                    let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
                    Ok(())
                })
            })
            .await?;
        let temp = dir.join(self.cache().temp_name());
        let size = match self.download(source, &temp, user).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        log.line(format!("Downloaded {size} bytes into the fetcher cache"))
            .await;
        let admission = self.cache().admit(key.clone(), size);
        match admission {
            Admission::Stored { file, evicted } => {
                let (d, f) = (dir.clone(), file.clone());
                blocking(move || {
                    for old in evicted {
                        let _ = std::fs::remove_file(d.join(old));
                    }
                    std::fs::rename(&temp, d.join(&f))
                        .map_err(|e| format!("cannot store in the fetcher cache: {e}"))
                })
                .await
                .inspect_err(|_| {
                    self.cache().remove(key);
                })?;
                Ok(Some(file))
            }
            Admission::NoRoom => {
                let _ = tokio::fs::remove_file(&temp).await;
                Ok(None)
            }
        }
    }
}

use download::Source;

/// After the bytes are at `from`: `executable` copies (if needed) and sets mode 0755, an
/// `archive` is unpacked into the sandbox, anything else is copied (if needed) to `target`.
/// Returns the log line saying what was done.
fn finish(
    from: &Path,
    target: &Path,
    sandbox: &Path,
    executable: bool,
    archive: Option<extract::Kind>,
    max: u64,
    copy: bool,
) -> Result<String, String> {
    let place = || -> Result<(), String> {
        if copy {
            std::fs::copy(from, target)
                .map_err(|e| format!("cannot copy into {}: {e}", target.display()))?;
        }
        Ok(())
    };
    if executable {
        place()?;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", target.display()))?;
        return Ok(format!("Made '{}' executable", target.display()));
    }
    if let Some(kind) = archive {
        let n = extract::extract(from, kind, sandbox, max)
            .map_err(|e| format!("cannot extract: {e}"))?;
        return Ok(format!("Extracted {n} bytes into '{}'", sandbox.display()));
    }
    place()?;
    Ok(format!("Stored '{}'", target.display()))
}

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("fetcher task failed: {e}"))?
}

/// The fetcher's lines in the sandbox's `stderr`.
#[derive(Clone)]
struct Log {
    file: Option<Arc<Mutex<std::fs::File>>>,
}

impl Log {
    async fn open(sandbox: &Path, user: Option<&RunAs>) -> Log {
        let (dir, user) = (sandbox.to_path_buf(), user.cloned());
        let file = blocking(move || {
            crate::sandbox::output_file(&dir, "stderr", user.as_ref()).map_err(|e| e.to_string())
        })
        .await
        .ok();
        Log {
            file: file.map(|f| Arc::new(Mutex::new(f))),
        }
    }

    async fn line(&self, text: String) {
        tracing::info!(target: "fetcher", "{text}");
        if let Some(f) = self.file.clone() {
            let _ = blocking(move || {
                let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(f, "mesos-fetcher: {text}");
                Ok(())
            })
            .await;
        }
    }
}
