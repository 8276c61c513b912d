//! One way for every binary to set up logging: `RUST_LOG`-style filtering with a default
//! level, plain text (colours only on a terminal), and Mesos's `--logging_level` and
//! `--log_dir` (glog's levels; a log file in that directory besides stderr).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Logs to stderr.
pub fn init(default_level: &str) {
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default_level))
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs to stdout (the command executor keeps stderr for the task's own output).
pub fn init_stdout(default_level: &str) {
    let ansi = std::io::stdout().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default_level))
        .with_ansi(ansi)
        .with_writer(std::io::stdout)
        .try_init();
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
    let _ = tracing_subscriber::registry()
        .with(filter(default_level))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file)),
        )
        .try_init();
    Ok(Some(path))
}

fn filter(default_level: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level))
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
}
