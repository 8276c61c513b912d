//! One way for every binary to set up logging: `RUST_LOG`-style filtering with a default
//! level, plain text (colours only on a terminal).

use std::io::IsTerminal;

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

fn filter(default_level: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level))
}
