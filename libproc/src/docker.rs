//! The Docker command-line client as a child process with a time limit: the one wrapper
//! that the agent (engine check, orphan containers), the Docker executor (images, run,
//! stop, inspect) and the tests call. Every call answers `Err` with a sentence naming the
//! command when the client cannot run or does not answer in time; nothing here panics.
//! What Docker's answers mean for a task stays with the callers.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// How long an ordinary CLI call may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The `docker` command-line client.
#[derive(Debug, Clone)]
pub struct DockerCli {
    /// The `docker` binary (Mesos `--docker`).
    pub path: PathBuf,
}

/// What one CLI call printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error, trimmed.
    pub stderr: String,
}

impl Output {
    fn of(out: std::process::Output) -> Output {
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
    }

    /// Whether it failed because the object named does not exist.
    pub fn no_such(&self) -> bool {
        !self.ok && self.stderr.to_lowercase().contains("no such")
    }
}

impl Default for DockerCli {
    /// `docker` from the `PATH`.
    fn default() -> Self {
        DockerCli::new("docker")
    }
}

impl DockerCli {
    /// The client at `path`.
    pub fn new(path: impl Into<PathBuf>) -> DockerCli {
        DockerCli { path: path.into() }
    }

    fn what(&self, args: &[&str]) -> String {
        format!("{} {}", self.path.display(), args.join(" "))
    }

    /// Runs `docker args…`, killed if it takes longer than `limit`.
    pub async fn call(&self, args: &[&str], limit: Duration) -> Result<Output, String> {
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(limit, cmd.output())
            .await
            .map_err(|_| format!("'{}' did not answer within {limit:?}", self.what(args)))?
            .map_err(|e| format!("cannot run '{}': {e}", self.what(args)))?;
        Ok(Output::of(out))
    }

    /// [`DockerCli::call`], blocking and without a time limit (start-up checks, exit
    /// paths without a runtime, tests).
    pub fn call_blocking(&self, args: &[&str]) -> Result<Output, String> {
        std::process::Command::new(&self.path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map(Output::of)
            .map_err(|e| format!("cannot run '{}': {e}", self.what(args)))
    }

    /// The engine's version, if it answers.
    pub fn server_version(&self) -> Result<String, String> {
        let out = self.call_blocking(&["version", "--format={{.Server.Version}}"])?;
        let version = out.stdout.trim().to_string();
        if out.ok && !version.is_empty() {
            Ok(version)
        } else {
            Err(format!(
                "'{} version' failed: {}",
                self.path.display(),
                out.stderr
            ))
        }
    }

    /// Names of every container (running or not) with label `key=value`.
    pub async fn names_labelled(&self, key: &str, value: &str) -> Result<Vec<String>, String> {
        let filter = format!("label={key}={value}");
        let out = self
            .call(
                &["ps", "-a", "--filter", &filter, "--format={{.Names}}"],
                CLI_TIMEOUT,
            )
            .await?;
        if !out.ok {
            return Err(format!("docker ps failed: {}", out.stderr));
        }
        Ok(out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect())
    }

    /// `docker inspect` of container `name` formatted by Go template `format` (`None`: no
    /// such container).
    pub async fn inspect(&self, name: &str, format: &str) -> Result<Option<String>, String> {
        let format = format!("--format={format}");
        let out = self
            .call(&["inspect", "--type=container", &format, name], CLI_TIMEOUT)
            .await?;
        if out.ok {
            Ok(Some(out.stdout))
        } else if out.no_such() {
            Ok(None)
        } else {
            Err(format!("cannot inspect container '{name}': {}", out.stderr))
        }
    }

    /// [`DockerCli::inspect`], blocking; `None` also when Docker does not answer.
    pub fn inspect_blocking(&self, name: &str, format: &str) -> Option<String> {
        let format = format!("--format={format}");
        let out = self
            .call_blocking(&["inspect", "--type=container", &format, name])
            .ok()?;
        out.ok.then(|| out.stdout.trim().to_string())
    }

    /// `docker stop -t <grace> name`: SIGTERM, then SIGKILL after `grace` (whole seconds,
    /// rounded up).
    pub async fn stop(&self, name: &str, grace: Duration) -> Result<(), String> {
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let t = format!("--time={secs}");
        let out = self
            .call(&["stop", &t, name], CLI_TIMEOUT + Duration::from_secs(secs))
            .await?;
        if out.ok {
            Ok(())
        } else {
            Err(format!("cannot stop container '{name}': {}", out.stderr))
        }
    }

    /// `docker rm -f name`; a container that does not exist is fine.
    pub async fn remove(&self, name: &str) -> Result<(), String> {
        removed(name, self.call(&["rm", "-f", name], CLI_TIMEOUT).await?)
    }

    /// [`DockerCli::remove`], blocking (for exit paths without a runtime).
    pub fn remove_blocking(&self, name: &str) -> Result<(), String> {
        removed(name, self.call_blocking(&["rm", "-f", name])?)
    }
}

fn removed(name: &str, out: Output) -> Result<(), String> {
    if out.ok || out.no_such() {
        Ok(())
    } else {
        Err(format!("cannot remove container '{name}': {}", out.stderr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_client_is_a_sentence_not_a_panic() {
        let cli = DockerCli::new("/nonexistent/docker");
        let err = cli.call_blocking(&["ps"]).unwrap_err();
        assert!(err.contains("/nonexistent/docker ps"), "{err}");
        assert!(cli.server_version().is_err());
        assert_eq!(cli.inspect_blocking("x", "{{.State.Status}}"), None);
        assert!(cli.remove_blocking("x").is_err());
    }

    #[tokio::test]
    async fn a_client_that_hangs_is_cut_off() {
        // `sleep` stands in for a docker that never answers.
        let cli = DockerCli::new("sleep");
        let err = cli
            .call(&["30"], Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
        let ok = DockerCli::new("true").call(&[], CLI_TIMEOUT).await.unwrap();
        assert!(ok.ok && !ok.no_such());
    }

    #[test]
    fn absent_objects_are_recognised() {
        let out = Output {
            ok: false,
            stdout: String::new(),
            stderr: "Error: No such container: x".into(),
        };
        assert!(out.no_such());
        assert_eq!(removed("x", out), Ok(()));
        let busy = Output {
            ok: false,
            stdout: String::new(),
            stderr: "device busy".into(),
        };
        assert!(removed("x", busy).unwrap_err().contains("device busy"));
    }
}
