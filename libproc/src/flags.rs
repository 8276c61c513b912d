//! Command-line flags the way Mesos (stout) reads them: `--name=value`, a bare `--name` for
//! true, `--no-name` for false, and the environment variable `<PREFIX>NAME` (e.g.
//! `MESOS_PORT`) when the flag is not on the command line. `--help` lists every flag with
//! its default. Errors say what was wrong and the valid form.
//!
//! ```
//! use libproc::flags::{Flag, Flags};
//! const FLAGS: &[Flag] = &[
//!     Flag::new("port", "5050", "Port to listen on."),
//!     Flag::required("master", "Master address: host:port or zk://host:port/path."),
//! ];
//! let args = ["--master=127.0.0.1:5050".to_string()];
//! let flags = Flags::parse("mesos-agent", FLAGS, args, "MESOS_", |_| None).unwrap();
//! assert_eq!(flags.get::<u16>("port").unwrap(), 5050);
//! assert_eq!(flags.str("master"), Some("127.0.0.1:5050"));
//! ```

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// One flag a program accepts.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Name without dashes, snake_case as Mesos spells it.
    pub name: &'static str,
    /// Default value, if any.
    pub default: Option<&'static str>,
    /// Whether it must be given.
    pub required: bool,
    /// One-line description.
    pub help: &'static str,
}

impl Flag {
    /// A flag with a default.
    pub const fn new(name: &'static str, default: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            default: Some(default),
            required: false,
            help,
        }
    }
    /// A flag with no default that may be left out.
    pub const fn optional(name: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            default: None,
            required: false,
            help,
        }
    }
    /// A flag that must be given.
    pub const fn required(name: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            default: None,
            required: true,
            help,
        }
    }
}

/// What went wrong reading flags. `Help` is not an error: print it and exit 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagsError {
    /// `--help` was given; the text lists every flag.
    #[error("{0}")]
    Help(String),
    /// `--version` was given: print the version and exit 0.
    #[error("--version")]
    Version,
    /// A flag this program does not know.
    #[error("unknown flag '--{name}'; valid flags: {valid}")]
    Unknown {
        /// The flag given.
        name: String,
        /// Every flag this program accepts (`--a, --b, …`).
        valid: String,
    },
    /// An argument that is not `--name=value`.
    #[error("unexpected argument '{0}': flags are written --name=value")]
    NotAFlag(String),
    /// A required flag is missing.
    #[error("missing required flag --{name}=<value> ({help})")]
    Missing {
        /// Flag name.
        name: String,
        /// Its description.
        help: String,
    },
    /// A value that does not parse.
    #[error("invalid value for --{name}: '{value}' ({expected})")]
    Invalid {
        /// Flag name.
        name: String,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
}

/// Parsed flags.
#[derive(Debug, Clone)]
pub struct Flags {
    values: BTreeMap<&'static str, String>,
    specs: Vec<Flag>,
}

impl Flags {
    /// Reads `args` (without the program name) against `specs`. `env` looks up environment
    /// variables (pass `|k| std::env::var(k).ok()`); `prefix` is e.g. `MESOS_`.
    pub fn parse(
        program: &str,
        specs: &[Flag],
        args: impl IntoIterator<Item = String>,
        prefix: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Flags, FlagsError> {
        let mut given: BTreeMap<&'static str, String> = BTreeMap::new();
        for arg in args {
            if arg == "--help" || arg == "-h" {
                return Err(FlagsError::Help(Self::help(program, specs)));
            }
            if arg == "--version" && !specs.iter().any(|s| s.name == "version") {
                return Err(FlagsError::Version);
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(FlagsError::NotAFlag(arg));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => match body.strip_prefix("no-") {
                    Some(n) if specs.iter().any(|s| s.name == n) => {
                        (n.to_string(), "false".to_string())
                    }
                    _ => (body.to_string(), "true".to_string()),
                },
            };
            let name = name.replace('-', "_");
            let spec =
                specs
                    .iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| FlagsError::Unknown {
                        name: name.clone(),
                        valid: specs
                            .iter()
                            .map(|s| format!("--{}", s.name))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
            given.insert(spec.name, value);
        }
        let mut values = BTreeMap::new();
        for s in specs {
            let v = given
                .remove(s.name)
                .or_else(|| env(&format!("{prefix}{}", s.name.to_ascii_uppercase())))
                .or_else(|| s.default.map(str::to_string));
            match v {
                Some(v) => {
                    values.insert(s.name, v);
                }
                None if s.required => {
                    return Err(FlagsError::Missing {
                        name: s.name.to_string(),
                        help: s.help.to_string(),
                    })
                }
                None => {}
            }
        }
        Ok(Flags {
            values,
            specs: specs.to_vec(),
        })
    }

    /// The `--help` text.
    pub fn help(program: &str, specs: &[Flag]) -> String {
        let mut out = format!("Usage: {program} [options]\n\n");
        for s in specs {
            let default = match (s.default, s.required) {
                (Some(d), _) => format!(" (default: {d})"),
                (None, true) => " (required)".to_string(),
                (None, false) => String::new(),
            };
            out.push_str(&format!(
                "  --{}=VALUE\n      {}{}\n",
                s.name, s.help, default
            ));
        }
        out.push_str("\nEvery flag can also be set through the environment as MESOS_<NAME>.\n\n");
        out.push_str(&crate::tls::help());
        out
    }

    /// The raw value, if set.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether a value is set (given, from the environment, or defaulted).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn invalid(&self, name: &str, value: &str, expected: impl Into<String>) -> FlagsError {
        FlagsError::Invalid {
            name: name.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The value parsed as `T` (`Ok(None)` if unset).
    pub fn opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, FlagsError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                self.invalid(
                    name,
                    v,
                    format!(
                        "expected a {}",
                        std::any::type_name::<T>()
                            .rsplit("::")
                            .next()
                            .unwrap_or("value")
                    ),
                )
            }),
        }
    }

    /// The value parsed as `T`; an unset flag without default is an error.
    pub fn get<T: FromStr>(&self, name: &str) -> Result<T, FlagsError> {
        self.opt(name)?.ok_or_else(|| FlagsError::Missing {
            name: name.to_string(),
            help: self
                .specs
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.help.to_string())
                .unwrap_or_default(),
        })
    }

    /// A boolean flag (`true`/`false`/`1`/`0`/`yes`/`no`).
    pub fn bool(&self, name: &str) -> Result<bool, FlagsError> {
        match self.str(name) {
            None => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => Err(self.invalid(name, v, "expected true or false")),
        }
    }

    /// A duration in Mesos form (`15secs`, `10mins`, `100ms`, `2hrs`, `1days`, `1.5secs`).
    pub fn duration(&self, name: &str) -> Result<Duration, FlagsError> {
        let v = self.str(name).unwrap_or("");
        parse_duration(v).ok_or_else(|| {
            self.invalid(
                name,
                v,
                "expected a duration like 15secs, 10mins, 100ms, 2hrs",
            )
        })
    }

    /// A byte size in Mesos form (`2GB`, `512MB`, `64KB`, `100B`; a bare number is bytes).
    pub fn bytes(&self, name: &str) -> Result<u64, FlagsError> {
        let v = self.str(name).unwrap_or("");
        parse_bytes(v).ok_or_else(|| self.invalid(name, v, "expected a size like 2GB, 512MB, 100B"))
    }

    /// Every flag and its effective value (for `/flags`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }
}

/// Parses a Mesos duration: a number and a unit among `ns`, `us`, `ms`, `secs`, `mins`,
/// `hrs`, `days`, `weeks` (singular forms and `s`/`m`/`h`/`d` accepted too), at most ten
/// years ([`crate::duration::MAX_UNTRUSTED_SECS`]).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ns" => n / 1e9,
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hr" | "hrs" => n * 3600.0,
        "d" | "day" | "days" => n * 86400.0,
        "w" | "week" | "weeks" => n * 604800.0,
        _ => return None,
    };
    // Out of range (more than ten years, or more digits than an f64 holds) is not a
    // duration either: never a panic.
    crate::duration::secs(secs).ok()
}

/// Parses a Mesos byte size: a whole number and a unit among `B`, `KB`, `MB`, `GB`,
/// `TB` (powers of 1024, as Mesos's `Bytes`); a bare number is bytes. Overflow is `None`.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn byte_sizes_parse_as_mesos_writes_them() {
        assert_eq!(parse_bytes("2GB"), Some(2 << 30));
        assert_eq!(parse_bytes("512MB"), Some(512 << 20));
        assert_eq!(parse_bytes("64KB"), Some(64 << 10));
        assert_eq!(parse_bytes("100B"), Some(100));
        assert_eq!(parse_bytes("100"), Some(100));
        for bad in ["", "GB", "1.5GB", "2PB", "-1B", "99999999999999999TB"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    const SPECS: &[Flag] = &[
        Flag::new("port", "5050", "Port."),
        Flag::new("checkpoint", "false", "Checkpoint."),
        Flag::new("agent_ping_timeout", "15secs", "Ping timeout."),
        Flag::required("master", "Master."),
        Flag::optional("work_dir", "Work dir."),
    ];

    fn parse(args: &[&str]) -> Result<Flags, FlagsError> {
        Flags::parse(
            "t",
            SPECS,
            args.iter().map(|s| s.to_string()),
            "MESOS_",
            |_| None,
        )
    }

    #[test]
    fn values_defaults_env_and_booleans() {
        let f = parse(&["--master=m:1", "--checkpoint"]).unwrap();
        assert_eq!(f.get::<u16>("port").unwrap(), 5050);
        assert!(f.bool("checkpoint").unwrap());
        assert_eq!(
            f.duration("agent_ping_timeout").unwrap(),
            Duration::from_secs(15)
        );
        assert_eq!(f.opt::<String>("work_dir").unwrap(), None);
        let f = parse(&["--master=m:1", "--no-checkpoint", "--port=1"]).unwrap();
        assert!(!f.bool("checkpoint").unwrap());
        let env = |k: &str| (k == "MESOS_PORT").then(|| "7".to_string());
        let f = Flags::parse("t", SPECS, ["--master=x".to_string()], "MESOS_", env).unwrap();
        assert_eq!(f.get::<u16>("port").unwrap(), 7);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(matches!(parse(&[]), Err(FlagsError::Missing { .. })));
        let unknown = parse(&["--master=m", "--bogus=1"]).unwrap_err();
        assert!(matches!(&unknown, FlagsError::Unknown { name, .. } if name == "bogus"));
        let text = unknown.to_string();
        assert!(
            text.contains("--bogus") && text.contains("valid flags: --port, --checkpoint"),
            "{text}"
        );
        assert_eq!(parse(&["--version"]).unwrap_err(), FlagsError::Version);
        assert!(matches!(parse(&["master"]), Err(FlagsError::NotAFlag(_))));
        let f = parse(&["--master=m", "--port=abc"]).unwrap();
        let e = f.get::<u16>("port").unwrap_err().to_string();
        assert!(e.contains("--port") && e.contains("abc"), "{e}");
        let f = parse(&["--master=m", "--agent_ping_timeout=soon"]).unwrap();
        assert!(f
            .duration("agent_ping_timeout")
            .unwrap_err()
            .to_string()
            .contains("15secs"));
        match parse(&["--help"]) {
            Err(FlagsError::Help(h)) => {
                assert!(h.contains("--port=VALUE") && h.contains("(default: 5050)"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10mins"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5secs"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2days"), Some(Duration::from_secs(172800)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x5secs"), None);
        // Overflowing numbers are not durations (they panicked in `from_secs_f64`).
        assert_eq!(parse_duration(&format!("{}weeks", "9".repeat(300))), None);
        assert_eq!(parse_duration("99999999999999999999secs"), None);
        assert_eq!(
            parse_duration("3650days"),
            Some(Duration::from_secs(315_360_000))
        );
    }

    proptest! {
        #[test]
        fn never_panics(args in proptest::collection::vec(".*", 0..5), d in ".*") {
            let _ = parse(&args.iter().map(String::as_str).collect::<Vec<_>>());
            let _ = parse_duration(&d);
        }

        #[test]
        fn numeric_durations_of_any_size_never_panic(
            n in "[0-9]{1,400}(\\.[0-9]{0,20})?",
            unit in proptest::sample::select(vec![
                "ns", "us", "ms", "secs", "s", "mins", "hrs", "days", "weeks", "w",
            ]),
        ) {
            if let Some(d) = parse_duration(&format!("{n}{unit}")) {
                prop_assert!(d.as_secs_f64() <= crate::duration::MAX_UNTRUSTED_SECS);
            }
        }
    }
}
