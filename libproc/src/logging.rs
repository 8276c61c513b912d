//! One way for every binary to set up logging: `RUST_LOG`-style filtering with a default
//! level, plain text (colours only on a terminal); and Mesos's runtime verbosity toggle
//! (`/logging/toggle?level=N&duration=D`, the v1 `SET_LOGGING_LEVEL`): verbosity 0 is the
//! filter the process started with, 1 logs `debug`, 2 and more `trace`, for a while, then
//! back to 0 unless a later toggle came meanwhile ([`Toggle`]); and Mesos's
//! `--logging_level` and `--log_dir` (glog's levels; a log file in that directory besides
//! stderr, [`init_with_dir`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Logs to stderr.
pub fn init(default_level: &str) {
    let ansi = std::io::stderr().is_terminal();
    install(
        default_level,
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr),
    );
}

/// Logs to stdout (the command executor keeps stderr for the task's own output).
pub fn init_stdout(default_level: &str) {
    let ansi = std::io::stdout().is_terminal();
    install(
        default_level,
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stdout),
    );
}

/// The level of Mesos's `--logging_level` (`INFO`, `WARNING` or `ERROR`, any case) as a
/// tracing filter level.
pub fn level_from_mesos(value: &str) -> Result<&'static str, String> {
    match value.to_ascii_uppercase().as_str() {
        "INFO" => Ok("info"),
        "WARNING" => Ok("warn"),
        "ERROR" => Ok("error"),
        _ => Err(format!(
            "invalid value for --logging_level: '{value}' (expected INFO, WARNING or ERROR)"
        )),
    }
}

/// Logs at `default_level` to stderr and, with `log_dir`, also to a new file in it,
/// `<program>.log.INFO.<unix seconds>.<pid>`, that the symlink `<program>.INFO` points at
/// (glog's names: `tail -F <log_dir>/mesos-master.INFO` follows the current one). Returns
/// the file's path; an uncreatable directory or file is an error.
pub fn init_with_dir(
    program: &str,
    default_level: &str,
    log_dir: Option<&Path>,
) -> Result<Option<PathBuf>, String> {
    let Some(dir) = log_dir else {
        init(default_level);
        return Ok(None);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create --log_dir={}: {e}", dir.display()))?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!("{program}.log.INFO.{secs}.{}", std::process::id());
    let path = dir.join(&name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
    let link = dir.join(format!("{program}.INFO"));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&name, &link)
        .map_err(|e| format!("cannot create {}: {e}", link.display()))?;
    let ansi = std::io::stderr().is_terminal();
    install(
        default_level,
        tracing_subscriber::Layer::and_then(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr),
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file)),
        ),
    );
    Ok(Some(path))
}

fn install<L>(default_level: &str, fmt: L)
where
    L: tracing_subscriber::Layer<
            tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>,
        > + Send
        + Sync
        + 'static,
{
    let base = base_directives(default_level);
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&base));
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = RELOAD.set(Reload { handle, base });
    }
}

/// `RUST_LOG` if it is a valid filter, else `default_level`.
fn base_directives(default_level: &str) -> String {
    std::env::var(EnvFilter::DEFAULT_ENV)
        .ok()
        .filter(|v| EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| default_level.to_string())
}

struct Reload {
    handle: reload::Handle<EnvFilter, Registry>,
    base: String,
}

static RELOAD: OnceLock<Reload> = OnceLock::new();

static TOGGLE: Mutex<Toggle> = Mutex::new(Toggle::new());

/// The verbosity toggle's state: the level in force and which toggle set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toggle {
    level: u32,
    generation: u64,
}

impl Toggle {
    /// Verbosity 0, never toggled.
    pub const fn new() -> Toggle {
        Toggle {
            level: 0,
            generation: 0,
        }
    }

    /// The level in force.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// Sets `level`; returns the toggle's generation, for [`Toggle::expire`].
    pub fn set(&mut self, level: u32) -> u64 {
        self.level = level;
        self.generation += 1;
        self.generation
    }

    /// The toggle of `generation` ran out: back to 0 if no later toggle came. Returns
    /// whether the level changed.
    pub fn expire(&mut self, generation: u64) -> bool {
        if generation != self.generation || self.level == 0 {
            return false;
        }
        self.level = 0;
        true
    }
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle::new()
    }
}

fn toggle_state() -> MutexGuard<'static, Toggle> {
    TOGGLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The filter directives of a verbosity level over the `base` filter.
pub fn directives(level: u32, base: &str) -> String {
    match level {
        0 => base.to_string(),
        1 => "debug".to_string(),
        _ => "trace".to_string(),
    }
}

fn apply(level: u32) {
    if let Some(r) = RELOAD.get() {
        let filter = EnvFilter::new(directives(level, &r.base));
        if let Err(e) = r.handle.reload(filter) {
            eprintln!("cannot change the log filter: {e}");
        }
    }
}

/// The verbosity level in force (0: as the process started).
pub fn verbosity() -> u32 {
    toggle_state().level()
}

/// Sets verbosity `level` for `duration`, then goes back to 0 (unless another toggle
/// came meanwhile).
pub fn set_verbosity(level: u32, duration: Duration) {
    let generation = {
        let mut t = toggle_state();
        let g = t.set(level);
        apply(level);
        g
    };
    tracing::info!(level, ?duration, "logging verbosity toggled");
    // A timer that outlives any runtime: the toggle is process-wide.
    let spawned = std::thread::Builder::new()
        .name("logging-toggle".into())
        .spawn(move || {
            std::thread::sleep(duration);
            let mut t = toggle_state();
            if t.expire(generation) {
                apply(0);
                drop(t);
                tracing::info!("logging verbosity back to 0");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the logging toggle's timer; reverting now");
        let mut t = toggle_state();
        if t.expire(generation) {
            apply(0);
        }
    }
}

/// `/logging/toggle?level=N&duration=D` (Mesos's libprocess endpoint): `Err` with the
/// reason for a `400`.
pub fn toggle_request(
    level: Option<&str>,
    duration: Option<&str>,
) -> Result<(u32, Duration), String> {
    let level = level.ok_or("Expecting 'level' in query")?;
    let level: u32 = level
        .trim()
        .parse()
        .map_err(|_| format!("Invalid level '{level}': expected a non-negative integer"))?;
    let duration = duration.ok_or("Expecting 'duration' in query")?;
    let d = crate::flags::parse_duration(duration.trim())
        .ok_or_else(|| format!("Invalid duration '{duration}': expected e.g. 30secs, 1mins"))?;
    Ok((level, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesos_levels() {
        assert_eq!(level_from_mesos("INFO"), Ok("info"));
        assert_eq!(level_from_mesos("warning"), Ok("warn"));
        assert_eq!(level_from_mesos("ERROR"), Ok("error"));
        let e = level_from_mesos("LOUD").unwrap_err();
        assert!(
            e.contains("--logging_level") && e.contains("INFO, WARNING or ERROR"),
            "{e}"
        );
    }

    #[test]
    fn a_toggle_expires_only_if_it_is_the_latest() {
        let mut t = Toggle::new();
        let first = t.set(1);
        let second = t.set(2);
        assert!(
            !t.expire(first),
            "an older toggle does not revert a newer one"
        );
        assert_eq!(t.level(), 2);
        assert!(t.expire(second));
        assert_eq!(t.level(), 0);
        assert!(!t.expire(second));
    }

    #[test]
    fn levels_map_to_filters() {
        assert_eq!(directives(0, "warn,libproc=info"), "warn,libproc=info");
        assert_eq!(directives(1, "info"), "debug");
        assert_eq!(directives(3, "info"), "trace");
    }

    #[test]
    fn toggle_requests_are_checked() {
        assert_eq!(
            toggle_request(Some("1"), Some("2secs")),
            Ok((1, Duration::from_secs(2)))
        );
        assert!(toggle_request(None, Some("1secs"))
            .unwrap_err()
            .contains("'level'"));
        assert!(toggle_request(Some("1"), None)
            .unwrap_err()
            .contains("'duration'"));
        assert!(toggle_request(Some("-1"), Some("1secs")).is_err());
        assert!(toggle_request(Some("1"), Some("soon")).is_err());
    }
}
