//! Commands to run: `CommandInfo`, its environment and the URIs to fetch.

use serde::{Deserialize, Serialize};

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    /// Variable name.
    pub name: String,
    /// Variable value.
    #[serde(default)]
    pub value: String,
}

/// Environment variables for a command, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Environment {
    /// The variables.
    #[serde(default)]
    pub variables: Vec<EnvironmentVariable>,
}

impl Environment {
    /// Adds `name=value`, returning `self` for chaining.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.push(EnvironmentVariable {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// The value of the last variable called `name` (later entries win).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .rev()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }

    /// True if there are no variables.
    pub fn is_empty(&self) -> bool {
        self.variables.is_empty()
    }
}

/// A URI the fetcher downloads into the sandbox before launch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Uri {
    /// The URI (http(s)://, file path, ...).
    pub value: String,
    /// Mark the fetched file executable.
    #[serde(default)]
    pub executable: bool,
    /// Extract archives (Mesos default: true).
    #[serde(default = "default_true")]
    pub extract: bool,
    /// Keep a copy in the fetcher cache.
    #[serde(default)]
    pub cache: bool,
    /// Rename the fetched file to this name.
    #[serde(default)]
    pub output_file: Option<String>,
}

impl Uri {
    /// A URI with Mesos defaults (not executable, extract archives, no cache).
    pub fn new(value: impl Into<String>) -> Self {
        Uri {
            value: value.into(),
            executable: false,
            extract: true,
            cache: false,
            output_file: None,
        }
    }
}

pub(crate) fn default_true() -> bool {
    true
}

/// What to run: a shell command line, or a program with arguments.
///
/// With `shell = true` (the default) `value` is run by `/bin/sh -c`; with
/// `shell = false` `value` is the program and `arguments` its argv
/// (including argv\[0\]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Command line (shell) or program path.
    #[serde(default)]
    pub value: Option<String>,
    /// Run through the shell.
    #[serde(default = "default_true")]
    pub shell: bool,
    /// argv when `shell` is false.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    pub environment: Environment,
    /// URIs to fetch first.
    #[serde(default)]
    pub uris: Vec<Uri>,
    /// User to run as (defaults to the framework's user).
    #[serde(default)]
    pub user: Option<String>,
}

impl Default for CommandInfo {
    fn default() -> Self {
        CommandInfo {
            value: None,
            shell: true,
            arguments: Vec::new(),
            environment: Environment::default(),
            uris: Vec::new(),
            user: None,
        }
    }
}

impl CommandInfo {
    /// A shell command line, e.g. `CommandInfo::shell("sleep 10")`.
    pub fn shell(command: impl Into<String>) -> Self {
        CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }
    }

    /// A program with arguments, run without a shell (`arguments` is the full argv).
    pub fn exec(program: impl Into<String>, arguments: Vec<String>) -> Self {
        CommandInfo {
            value: Some(program.into()),
            shell: false,
            arguments,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_decoding() {
        let c: CommandInfo = serde_json::from_str(r#"{"value":"echo hi"}"#).unwrap();
        assert_eq!(c, CommandInfo::shell("echo hi"));
        assert!(c.shell);
        let u: Uri = serde_json::from_str(r#"{"value":"http://x/a.tgz"}"#).unwrap();
        assert_eq!(u, Uri::new("http://x/a.tgz"));
        let env = Environment::default().with("A", "1").with("A", "2");
        assert_eq!(env.get("A"), Some("2"));
        let e = CommandInfo::exec("/bin/ls", vec!["ls".into(), "-l".into()]);
        assert!(!e.shell);
        let back: CommandInfo = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
