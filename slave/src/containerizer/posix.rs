//! The Mesos containerizer's process side: each executor is an OS process in its own
//! session (so the agent can kill everything it started, even tasks the executor put in
//! process groups of their own), as the task's user when the spec names one (uid, gid and
//! supplementary groups set just before `exec`), with its sandbox as working directory and its output in
//! the sandbox's `stdout`/`stderr`, isolated by [`crate::isolation`] (posix or cgroups).
//! Executors survive an agent restart (no parent-death signal): a restarted agent
//! recovers them and watches them through [`executor_alive`].

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use libproc::procfs;
use proto::{ContainerId, Resources};

use super::seam::{
    Container, Containerizer, LaunchSpec, Launched, Recovered, Termination, WaitFuture,
};
use crate::isolation::{ContainerMeta, Isolation, Limitation, ResourceStatistics};

/// Runs executors as processes under an [`Isolation`].
#[derive(Debug)]
pub struct PosixContainerizer {
    isolation: Isolation,
    children: Arc<Mutex<HashMap<ContainerId, tokio::process::Child>>>,
}

impl PosixContainerizer {
    /// A containerizer isolating with `isolation`.
    pub fn new(isolation: Isolation) -> PosixContainerizer {
        PosixContainerizer {
            isolation,
            children: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn spawn(spec: &LaunchSpec) -> std::io::Result<tokio::process::Child> {
        std::fs::create_dir_all(&spec.sandbox)?;
        // Appended to: the fetcher may have logged into them already.
        let stdout = crate::sandbox::output_file(&spec.sandbox, "stdout", spec.user.as_ref())?;
        let stderr = crate::sandbox::output_file(&spec.sandbox, "stderr", spec.user.as_ref())?;
        let command = &spec.executor.command;
        let value = command.value.clone().unwrap_or_default();
        let mut cmd = if command.shell {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(&value);
            c
        } else {
            let mut c = tokio::process::Command::new(&value);
            if let Some((arg0, rest)) = command.arguments.split_first() {
                c.arg0(arg0);
                c.args(rest);
            }
            c
        };
        for (name, value) in &spec.environment {
            cmd.env(name, value);
        }
        cmd.current_dir(&spec.sandbox)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // No PDEATHSIG: executors must outlive an agent restart (recovery).
            .kill_on_drop(false);
        // Its own session (and process group), then its user (`--switch_user`).
        let user = spec.user.as_ref().map(|u| {
            let groups: Vec<nix::unistd::Gid> = u
                .groups
                .iter()
                .map(|g| nix::unistd::Gid::from_raw(*g))
                .collect();
            (u.uid, u.gid, groups)
        });
        // SAFETY: setsid, setgroups, setgid and setuid are async-signal-safe system calls;
        // the closure only reads memory prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if let Some((uid, gid, groups)) = &user {
                    crate::user::RunAs::switch(*uid, *gid, groups)?;
                }
                Ok(())
            });
        }
        cmd.spawn()
    }
}

impl Containerizer for PosixContainerizer {
    fn launch(&self, spec: LaunchSpec) -> Result<Launched, String> {
        let child = Self::spawn(&spec).map_err(|e| e.to_string())?;
        let os_pid = child.id().map(|p| p as i32);
        let container = Container {
            id: spec.container_id.clone(),
            os_pid,
        };
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.container_id.clone(), child);
        let meta = ContainerMeta::of(&spec.executor, &spec.framework_id);
        let isolated = os_pid.map_or(Ok(()), |pid| {
            self.isolation
                .launch(&spec.container_id, meta, &spec.resources, pid)
        });
        if isolated.is_err() {
            kill_group(os_pid);
        }
        Ok(Launched {
            container,
            isolation_error: isolated.err(),
        })
    }

    fn wait(&self, container: &ContainerId) -> WaitFuture {
        let child = self
            .children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container);
        Box::pin(async move {
            let Some(mut child) = child else {
                return Termination {
                    status: -1,
                    description: "could not be waited for: not launched by this agent".into(),
                };
            };
            match child.wait().await {
                Ok(s) => Termination {
                    status: s.into_raw(),
                    description: match (s.code(), s.signal()) {
                        (Some(c), _) => format!("exited with status {c}"),
                        (_, Some(sig)) => format!("terminated by signal {}", signal_name(sig)),
                        _ => "exited".to_string(),
                    },
                },
                Err(e) => Termination {
                    status: -1,
                    description: format!("could not be waited for: {e}"),
                },
            }
        })
    }

    fn update(&self, container: &ContainerId, resources: &Resources) -> Result<(), String> {
        self.isolation.update(container, resources)
    }

    fn usage(&self, container: &ContainerId, timestamp: f64) -> Option<ResourceStatistics> {
        self.isolation.usage(container, timestamp)
    }

    fn limitation(&self, container: &ContainerId) -> Option<Limitation> {
        self.isolation.limitation(container)
    }

    fn destroy(&self, container: &Container) {
        kill_group(container.os_pid);
    }

    fn cleanup(&self, container: &ContainerId) {
        self.isolation.cleanup(container);
    }

    fn recover(&self, live: &[Recovered]) {
        let mut known = vec![];
        for r in live {
            known.push(r.container.id.clone());
            if let Some(pid) = r.container.os_pid {
                let meta = ContainerMeta::of(&r.executor, &r.framework_id);
                self.isolation
                    .recovered(&r.container.id, meta, &r.resources, pid);
            }
        }
        self.isolation.recover(&known);
    }

    fn alive(&self, container: &Container) -> bool {
        container.os_pid.is_some_and(executor_alive)
    }
}

/// SIGKILLs an executor's whole container: its process group and every process left in
/// its session (tasks in process groups of their own included). Missing ones are fine.
pub fn kill_group(sid: Option<i32>) {
    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid as OsPid;
    let Some(sid) = sid.filter(|p| *p > 1) else {
        return;
    };
    let _ = killpg(OsPid::from_raw(sid), Signal::SIGKILL);
    // A member may fork between the scan of /proc and its kill, so kill whole process
    // groups (a child forked late is in its parent's group) and scan again until the
    // session is empty; killed processes fork no more, so this ends in a round or two.
    for _ in 0..5 {
        let members: Vec<i32> = session_members(sid)
            .into_iter()
            .filter(|pid| !is_zombie(*pid))
            .collect();
        if members.is_empty() {
            break;
        }
        for pid in members {
            if let Ok(pgrp) = nix::unistd::getpgid(Some(OsPid::from_raw(pid))) {
                let _ = killpg(pgrp, Signal::SIGKILL);
            }
            let _ = kill(OsPid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Whether `pid` is a zombie (dead, waiting to be reaped) or gone: nothing left to kill.
pub fn is_zombie(pid: i32) -> bool {
    procfs::stat(pid).is_none_or(|p| p.is_zombie())
}

/// Processes whose session id is `sid`.
pub fn session_members(sid: i32) -> Vec<i32> {
    procfs::all()
        .into_iter()
        .filter(|p| p.session == sid)
        .map(|p| p.pid)
        .collect()
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| sig.to_string())
}

/// Whether the executor whose process (and session) id is `pid` is still alive: the
/// process exists, is not a zombie, and still leads its own session (a reused PID would
/// not).
pub fn executor_alive(pid: i32) -> bool {
    if pid <= 1 {
        return false;
    }
    procfs::stat(pid).is_some_and(|p| !p.is_zombie() && p.session == pid)
}
