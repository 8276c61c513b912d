//! The agent's checkpoint under `<work_dir>/meta` (Mesos `slave/paths.hpp` and
//! `slave/state.hpp`): what a restarted agent needs to find its id, the frameworks and
//! executors of checkpointing frameworks, their tasks and their status update streams.
//!
//! ```text
//! meta/boot_id
//! meta/slaves/latest -> <agent_id>                        (symlink)
//! meta/slaves/<agent_id>/slave.info
//!   frameworks/<fw>/framework.info, framework.pid
//!     executors/<ex>/executor.info
//!       runs/latest -> <container_id>                     (symlink)
//!       runs/<container_id>/pids/forked.pid, pids/libprocess.pid, executor.sentinel
//!         tasks/<task>/task.info, task.updates
//! ```
//!
//! Info files are JSON written atomically (temporary file, fsync, rename). `task.updates`
//! is an append-only log of [`UpdateRecord`]s, each a 4-byte big-endian length and that
//! many bytes of JSON, fsync'd per append; a torn last record (the agent died mid-write) is
//! dropped and cut off on recovery. [`recover`] reads everything back.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use libproc::Pid;
use proto::messages::Task;
use proto::{
    AgentId, AgentInfo, ContainerId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    Resources, TaskId,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::paths::safe_component;
use crate::status_update::UpdateRecord;

/// Where Linux publishes the current boot's id.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Largest `task.updates` record accepted (a length beyond it means a corrupt file).
const MAX_RECORD: u32 = 16 << 20;

/// A checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file's content is not what the agent wrote.
    #[error("{path}: corrupt checkpoint: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The layout of `<work_dir>/meta`.
#[derive(Debug, Clone)]
pub struct Meta {
    root: PathBuf,
}

impl Meta {
    /// The checkpoint of the agent working in `work_dir`.
    pub fn new(work_dir: &Path) -> Meta {
        Meta {
            root: work_dir.join("meta"),
        }
    }

    /// `meta/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `meta/boot_id`.
    pub fn boot_id(&self) -> PathBuf {
        self.root.join("boot_id")
    }

    /// `meta/slaves/latest` (symlink to the current agent's directory).
    pub fn latest_agent(&self) -> PathBuf {
        self.root.join("slaves").join("latest")
    }

    /// `meta/resources/resources.info`: the agent's checkpointed resources (dynamic
    /// reservations), kept across agent ids and reboots as Mesos keeps them.
    pub fn resources_info(&self) -> PathBuf {
        self.root.join("resources").join("resources.info")
    }

    /// `meta/slaves/<id>`.
    pub fn agent_dir(&self, agent: &AgentId) -> PathBuf {
        self.root.join("slaves").join(agent.as_str())
    }

    /// `…/slave.info`.
    pub fn agent_info(&self, agent: &AgentId) -> PathBuf {
        self.agent_dir(agent).join("slave.info")
    }

    /// `…/frameworks/<fw>`.
    pub fn framework_dir(&self, agent: &AgentId, fw: &FrameworkId) -> PathBuf {
        self.agent_dir(agent).join("frameworks").join(fw.as_str())
    }

    /// `…/frameworks/<fw>/framework.info`.
    pub fn framework_info(&self, agent: &AgentId, fw: &FrameworkId) -> PathBuf {
        self.framework_dir(agent, fw).join("framework.info")
    }

    /// `…/frameworks/<fw>/framework.pid`.
    pub fn framework_pid(&self, agent: &AgentId, fw: &FrameworkId) -> PathBuf {
        self.framework_dir(agent, fw).join("framework.pid")
    }

    /// `…/executors/<ex>`.
    pub fn executor_dir(&self, agent: &AgentId, fw: &FrameworkId, ex: &ExecutorId) -> PathBuf {
        self.framework_dir(agent, fw)
            .join("executors")
            .join(ex.as_str())
    }

    /// `…/executors/<ex>/executor.info`.
    pub fn executor_info(&self, agent: &AgentId, fw: &FrameworkId, ex: &ExecutorId) -> PathBuf {
        self.executor_dir(agent, fw, ex).join("executor.info")
    }

    /// `…/executors/<ex>/runs/latest`.
    pub fn latest_run(&self, agent: &AgentId, fw: &FrameworkId, ex: &ExecutorId) -> PathBuf {
        self.executor_dir(agent, fw, ex).join("runs").join("latest")
    }

    /// `…/runs/<container>`.
    pub fn run_dir(&self, r: &RunKey) -> PathBuf {
        self.executor_dir(&r.agent, &r.framework, &r.executor)
            .join("runs")
            .join(r.container.as_str())
    }

    /// `…/runs/<container>/pids/forked.pid`.
    pub fn forked_pid(&self, r: &RunKey) -> PathBuf {
        self.run_dir(r).join("pids").join("forked.pid")
    }

    /// `…/runs/<container>/pids/libprocess.pid`.
    pub fn libprocess_pid(&self, r: &RunKey) -> PathBuf {
        self.run_dir(r).join("pids").join("libprocess.pid")
    }

    /// `…/runs/<container>/executor.sentinel` (the run is over).
    pub fn sentinel(&self, r: &RunKey) -> PathBuf {
        self.run_dir(r).join("executor.sentinel")
    }

    /// `…/runs/<container>/tasks/<task>/task.info`.
    pub fn task_info(&self, r: &RunKey, task: &TaskId) -> PathBuf {
        self.run_dir(r)
            .join("tasks")
            .join(task.as_str())
            .join("task.info")
    }

    /// `…/runs/<container>/tasks/<task>/task.updates`.
    pub fn task_updates(&self, r: &RunKey, task: &TaskId) -> PathBuf {
        self.run_dir(r)
            .join("tasks")
            .join(task.as_str())
            .join("task.updates")
    }
}

/// Names one executor run in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    /// The agent.
    pub agent: AgentId,
    /// The framework.
    pub framework: FrameworkId,
    /// The executor.
    pub executor: ExecutorId,
    /// The run.
    pub container: ContainerId,
}

// ---- writing ------------------------------------------------------------------------------

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    (|| -> io::Result<()> {
        libproc::fault::disk_write(libproc::fault::DiskTarget::Checkpoint)?;
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })()
    .map_err(io_err(path))?;
    sync_dir(dir);
    Ok(())
}

/// Writes `value` as JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| CheckpointError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}

/// Writes the agent's checkpointed resources (Mesos `CheckpointResourcesMessage`).
pub fn write_resources(meta: &Meta, resources: &Resources) -> Result<(), CheckpointError> {
    write_json(&meta.resources_info(), resources)
}

/// Reads the agent's checkpointed resources (none if never written).
pub fn read_resources(meta: &Meta) -> Result<Resources, CheckpointError> {
    let path = meta.resources_info();
    if !path.exists() {
        return Ok(Resources::new());
    }
    read_json(&path)
}

/// Points the symlink `link` at `target` (a sibling's name), replacing it atomically.
pub fn symlink_atomic(link: &Path, target: &str) -> Result<(), CheckpointError> {
    let dir = link.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(".latest.tmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io_err(&tmp))?;
    fs::rename(&tmp, link).map_err(io_err(link))?;
    sync_dir(dir);
    Ok(())
}

/// Appends one record to a `task.updates` log and fsyncs it.
pub fn append_record(path: &Path, record: &UpdateRecord) -> Result<(), CheckpointError> {
    let body = serde_json::to_vec(record).map_err(|e| CheckpointError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let len = u32::try_from(body.len()).map_err(|_| CheckpointError::Corrupt {
        path: path.display().to_string(),
        reason: "record too large".into(),
    })?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    (|| -> io::Result<()> {
        libproc::fault::disk_write(libproc::fault::DiskTarget::Checkpoint)?;
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(&buf)?;
        f.sync_data()
    })()
    .map_err(io_err(path))
}

// ---- reading ------------------------------------------------------------------------------

/// The records of a `task.updates` log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateLog {
    /// Complete records, in order.
    pub records: Vec<UpdateRecord>,
    /// Bytes of the file the complete records take.
    pub valid_len: u64,
    /// Whether a torn record followed them.
    pub truncated: bool,
}

/// Parses a `task.updates` log; a torn last record is reported, not an error. A complete
/// record that does not decode is an error (the file is not what the agent wrote).
pub fn parse_update_log(bytes: &[u8], path: &Path) -> Result<UpdateLog, CheckpointError> {
    let mut log = UpdateLog::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + 4) else {
            log.truncated = true;
            break;
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len > MAX_RECORD {
            return Err(CheckpointError::Corrupt {
                path: path.display().to_string(),
                reason: format!("record of {len} bytes at offset {at}"),
            });
        }
        let Some(body) = bytes.get(at + 4..at + 4 + len as usize) else {
            log.truncated = true;
            break;
        };
        match serde_json::from_slice::<UpdateRecord>(body) {
            Ok(r) => log.records.push(r),
            // The last record may be torn inside its body (zero-filled tail): tolerate.
            Err(_) if at + 4 + len as usize == bytes.len() => {
                log.truncated = true;
                break;
            }
            Err(e) => {
                return Err(CheckpointError::Corrupt {
                    path: path.display().to_string(),
                    reason: format!("record at offset {at}: {e}"),
                })
            }
        }
        at += 4 + len as usize;
        log.valid_len = at as u64;
    }
    Ok(log)
}

/// Reads a `task.updates` log, cutting a torn last record off the file.
pub fn read_update_log(path: &Path) -> Result<UpdateLog, CheckpointError> {
    let mut bytes = vec![];
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err(path))?;
    let log = parse_update_log(&bytes, path)?;
    if log.truncated {
        tracing::warn!(path = %path.display(), valid = log.valid_len, size = bytes.len(), "dropping a torn record at the end of a status update log");
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(log.valid_len).and_then(|_| f.sync_all()))
            .map_err(io_err(path))?;
    }
    Ok(log)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn read_text(path: &Path) -> Result<Option<String>, CheckpointError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Names of the subdirectories of `dir` that are safe path components (none if missing);
/// `latest` and hidden entries are skipped.
fn children(dir: &Path) -> Result<Vec<String>, CheckpointError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n != "latest" && !n.starts_with('.') && safe_component(n))
        .collect();
    out.sort();
    Ok(out)
}

/// The id of the current boot (`/proc/sys/kernel/random/boot_id`, or the given path).
pub fn read_boot_id(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

// ---- recovered state ----------------------------------------------------------------------

/// A checkpointed task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCheckpoint {
    /// The task record.
    pub info: Task,
    /// Its status update log.
    pub records: Vec<UpdateRecord>,
}

/// A checkpointed executor run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunCheckpoint {
    /// OS pid of the executor process (its session id).
    pub forked_pid: Option<i32>,
    /// The executor's libproc PID once it registered.
    pub libprocess_pid: Option<Pid>,
    /// The run is over (sentinel written when the executor exited).
    pub completed: bool,
    /// Its tasks.
    pub tasks: BTreeMap<TaskId, TaskCheckpoint>,
}

/// A checkpointed executor.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorCheckpoint {
    /// Its info.
    pub info: ExecutorInfo,
    /// The latest run.
    pub latest: Option<ContainerId>,
    /// Its runs.
    pub runs: BTreeMap<ContainerId, RunCheckpoint>,
}

/// A checkpointed framework.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameworkCheckpoint {
    /// Its info.
    pub info: FrameworkInfo,
    /// The scheduler's PID.
    pub pid: Option<String>,
    /// Its executors.
    pub executors: BTreeMap<ExecutorId, ExecutorCheckpoint>,
}

/// A checkpointed agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCheckpoint {
    /// Its id.
    pub id: AgentId,
    /// Its info as registered.
    pub info: AgentInfo,
    /// Frameworks that checkpoint.
    pub frameworks: BTreeMap<FrameworkId, FrameworkCheckpoint>,
}

/// What [`recover`] found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The agent to recover, if any (none: start as a new agent).
    pub agent: Option<AgentCheckpoint>,
    /// The host rebooted since the checkpoint was written (the old state was set aside).
    pub rebooted: bool,
    /// Problems skipped over (non-strict recovery).
    pub errors: Vec<String>,
}

/// Reads the checkpoint. `boot_id` is the current boot's id: if the checkpoint was written
/// in another boot, its executors are gone and the agent starts afresh. With `strict`,
/// any unreadable part is an error; otherwise that part is skipped and reported.
pub fn recover(
    meta: &Meta,
    boot_id: Option<&str>,
    strict: bool,
) -> Result<Recovery, CheckpointError> {
    let mut out = Recovery::default();
    let latest = meta.latest_agent();
    let target = match fs::read_link(&latest) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(&latest)(e)),
    };
    let id_text = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if !safe_component(&id_text) {
        return Err(CheckpointError::Corrupt {
            path: latest.display().to_string(),
            reason: format!("points at '{}'", target.display()),
        });
    }
    let old_boot = read_text(&meta.boot_id())?;
    if let (Some(old), Some(now)) = (old_boot.as_deref(), boot_id) {
        if old != now {
            tracing::info!(
                old,
                now,
                "the host rebooted since the last checkpoint; starting as a new agent"
            );
            out.rebooted = true;
            return Ok(out);
        }
    }
    let id = AgentId::new(id_text);
    let info: AgentInfo = match read_json(&meta.agent_info(&id)) {
        Ok(i) => i,
        // An agent directory without its info: it never finished registering.
        Err(CheckpointError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(out)
        }
        Err(e) => return Err(e),
    };
    let mut agent = AgentCheckpoint {
        id: id.clone(),
        info,
        frameworks: BTreeMap::new(),
    };
    let skip = |e: CheckpointError, errors: &mut Vec<String>| -> Result<(), CheckpointError> {
        if strict {
            Err(e)
        } else {
            tracing::warn!(error = %e, "skipping unreadable checkpoint");
            errors.push(e.to_string());
            Ok(())
        }
    };
    for fw in children(&meta.agent_dir(&id).join("frameworks"))? {
        let fw = FrameworkId::new(fw);
        match recover_framework(meta, &id, &fw, strict, &mut out.errors) {
            Ok(Some(f)) => {
                agent.frameworks.insert(fw, f);
            }
            Ok(None) => {}
            Err(e) => skip(e, &mut out.errors)?,
        }
    }
    out.agent = Some(agent);
    Ok(out)
}

fn recover_framework(
    meta: &Meta,
    agent: &AgentId,
    fw: &FrameworkId,
    strict: bool,
    errors: &mut Vec<String>,
) -> Result<Option<FrameworkCheckpoint>, CheckpointError> {
    let info_path = meta.framework_info(agent, fw);
    if !info_path.exists() {
        // Created but never written (the agent died in between): nothing to recover.
        return Ok(None);
    }
    let info: FrameworkInfo = read_json(&info_path)?;
    let pid = read_text(&meta.framework_pid(agent, fw))?.filter(|p| !p.is_empty());
    let mut f = FrameworkCheckpoint {
        info,
        pid,
        executors: BTreeMap::new(),
    };
    for ex in children(&meta.framework_dir(agent, fw).join("executors"))? {
        let ex = ExecutorId::new(ex);
        match recover_executor(meta, agent, fw, &ex, strict, errors) {
            Ok(Some(e)) => {
                f.executors.insert(ex, e);
            }
            Ok(None) => {}
            Err(e) if strict => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "skipping unreadable executor checkpoint");
                errors.push(e.to_string());
            }
        }
    }
    Ok(Some(f))
}

fn recover_executor(
    meta: &Meta,
    agent: &AgentId,
    fw: &FrameworkId,
    ex: &ExecutorId,
    strict: bool,
    errors: &mut Vec<String>,
) -> Result<Option<ExecutorCheckpoint>, CheckpointError> {
    let info_path = meta.executor_info(agent, fw, ex);
    if !info_path.exists() {
        return Ok(None);
    }
    let info: ExecutorInfo = read_json(&info_path)?;
    let latest = fs::read_link(meta.latest_run(agent, fw, ex))
        .ok()
        .and_then(|t| t.file_name().and_then(|n| n.to_str()).map(ContainerId::new));
    let mut e = ExecutorCheckpoint {
        info,
        latest,
        runs: BTreeMap::new(),
    };
    let runs_dir = meta.executor_dir(agent, fw, ex).join("runs");
    for c in children(&runs_dir)? {
        let key = RunKey {
            agent: agent.clone(),
            framework: fw.clone(),
            executor: ex.clone(),
            container: ContainerId::new(c),
        };
        let mut run = RunCheckpoint {
            completed: meta.sentinel(&key).exists(),
            ..RunCheckpoint::default()
        };
        run.forked_pid = match read_text(&meta.forked_pid(&key))? {
            None => None,
            Some(t) => Some(t.parse::<i32>().map_err(|_| CheckpointError::Corrupt {
                path: meta.forked_pid(&key).display().to_string(),
                reason: format!("'{t}' is not a process id"),
            })?),
        };
        run.libprocess_pid = match read_text(&meta.libprocess_pid(&key))? {
            None => None,
            Some(t) => Some(t.parse::<Pid>().map_err(|_| CheckpointError::Corrupt {
                path: meta.libprocess_pid(&key).display().to_string(),
                reason: format!("'{t}' is not a PID"),
            })?),
        };
        for t in children(&meta.run_dir(&key).join("tasks"))? {
            let task_id = TaskId::new(t);
            let read = (|| -> Result<Option<TaskCheckpoint>, CheckpointError> {
                let info_path = meta.task_info(&key, &task_id);
                if !info_path.exists() {
                    return Ok(None);
                }
                let info: Task = read_json(&info_path)?;
                let updates = meta.task_updates(&key, &task_id);
                let records = if updates.exists() {
                    read_update_log(&updates)?.records
                } else {
                    vec![]
                };
                Ok(Some(TaskCheckpoint { info, records }))
            })();
            match read {
                Ok(Some(tc)) => {
                    run.tasks.insert(task_id, tc);
                }
                Ok(None) => {}
                Err(e) if strict => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping unreadable task checkpoint");
                    errors.push(e.to_string());
                }
            }
        }
        e.runs.insert(key.container, run);
    }
    Ok(Some(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::messages::StatusUpdate;
    use proto::{CommandInfo, StatusUuid, TaskState, TaskStatus};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("slave-ckpt-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn update(state: TaskState, uuid: u128) -> UpdateRecord {
        UpdateRecord::Update {
            update: Box::new(StatusUpdate {
                framework_id: FrameworkId::new("F"),
                executor_id: Some(ExecutorId::new("E")),
                agent_id: Some(AgentId::new("S")),
                status: TaskStatus::new(TaskId::new("t"), state)
                    .with_uuid(StatusUuid::from_u128(uuid)),
                timestamp: 1.0,
                latest_state: None,
            }),
        }
    }

    fn write_agent(meta: &Meta, boot: &str) -> RunKey {
        let id = AgentId::new("S1");
        write_atomic(&meta.boot_id(), boot.as_bytes()).unwrap();
        let info = AgentInfo {
            hostname: "h".into(),
            port: 5051,
            id: Some(id.clone()),
            resources: "cpus:1".parse().unwrap(),
            attributes: Default::default(),
        };
        write_json(&meta.agent_info(&id), &info).unwrap();
        symlink_atomic(&meta.latest_agent(), "S1").unwrap();
        let fw = FrameworkId::new("F");
        let mut fi = FrameworkInfo::new("fw", "u");
        fi.checkpoint = true;
        write_json(&meta.framework_info(&id, &fw), &fi).unwrap();
        write_atomic(&meta.framework_pid(&id, &fw), b"scheduler@127.0.0.1:1").unwrap();
        let ex = ExecutorId::new("E");
        let ei = ExecutorInfo::new(ex.clone(), CommandInfo::shell("x"));
        write_json(&meta.executor_info(&id, &fw, &ex), &ei).unwrap();
        symlink_atomic(&meta.latest_run(&id, &fw, &ex), "c1").unwrap();
        let key = RunKey {
            agent: id,
            framework: fw,
            executor: ex,
            container: ContainerId::new("c1"),
        };
        write_atomic(&meta.forked_pid(&key), b"4242").unwrap();
        write_atomic(&meta.libprocess_pid(&key), b"executor(1)@127.0.0.1:40000").unwrap();
        let task = proto::TaskInfo::command_task(
            "t",
            TaskId::new("t"),
            AgentId::new("S1"),
            "cpus:0.1".parse().unwrap(),
            CommandInfo::shell("sleep 1"),
        );
        let record = Task::from_info(&task, key.framework.clone(), Some(key.executor.clone()));
        write_json(&meta.task_info(&key, &TaskId::new("t")), &record).unwrap();
        key
    }

    #[test]
    fn checkpoint_round_trips_the_whole_layout() {
        let d = dir("roundtrip");
        let meta = Meta::new(&d);
        let key = write_agent(&meta, "boot-1");
        let log = meta.task_updates(&key, &TaskId::new("t"));
        append_record(&log, &update(TaskState::Running, 1)).unwrap();
        append_record(
            &log,
            &UpdateRecord::Ack {
                uuid: StatusUuid::from_u128(1),
            },
        )
        .unwrap();
        // Layout as Mesos has it.
        assert!(d
            .join("meta/slaves/S1/frameworks/F/executors/E/runs/c1/tasks/t/task.updates")
            .exists());
        assert!(d
            .join("meta/slaves/S1/frameworks/F/executors/E/runs/c1/pids/forked.pid")
            .exists());
        let r = recover(&meta, Some("boot-1"), true).unwrap();
        assert!(!r.rebooted);
        let a = r.agent.unwrap();
        assert_eq!(a.id, AgentId::new("S1"));
        assert_eq!(a.info.port, 5051);
        let f = &a.frameworks[&FrameworkId::new("F")];
        assert!(f.info.checkpoint);
        assert_eq!(f.pid.as_deref(), Some("scheduler@127.0.0.1:1"));
        let e = &f.executors[&ExecutorId::new("E")];
        assert_eq!(e.latest, Some(ContainerId::new("c1")));
        let run = &e.runs[&ContainerId::new("c1")];
        assert_eq!(run.forked_pid, Some(4242));
        assert_eq!(
            run.libprocess_pid
                .as_ref()
                .map(|p| p.to_string())
                .as_deref(),
            Some("executor(1)@127.0.0.1:40000")
        );
        assert!(!run.completed);
        assert_eq!(run.tasks[&TaskId::new("t")].records.len(), 2);
        // A sentinel marks the run completed.
        write_atomic(&meta.sentinel(&key), b"").unwrap();
        let r = recover(&meta, Some("boot-1"), true).unwrap();
        assert!(
            r.agent.unwrap().frameworks[&FrameworkId::new("F")].executors[&ExecutorId::new("E")]
                .runs[&ContainerId::new("c1")]
                .completed
        );
    }

    #[test]
    fn nothing_checkpointed_and_reboot_start_afresh() {
        let d = dir("fresh");
        let meta = Meta::new(&d);
        let r = recover(&meta, Some("b"), true).unwrap();
        assert!(r.agent.is_none() && !r.rebooted);
        write_agent(&meta, "boot-1");
        let r = recover(&meta, Some("boot-2"), true).unwrap();
        assert!(r.agent.is_none() && r.rebooted);
        // An unknown current boot id cannot prove a reboot.
        assert!(recover(&meta, None, true).unwrap().agent.is_some());
    }

    #[test]
    fn truncated_update_log_is_tolerated_and_cut() {
        let d = dir("torn");
        let path = d.join("task.updates");
        append_record(&path, &update(TaskState::Running, 1)).unwrap();
        append_record(&path, &update(TaskState::Finished, 2)).unwrap();
        let full = fs::read(&path).unwrap();
        // Cut anywhere inside the second record: the first survives.
        let first_len = parse_update_log(&full, &path).unwrap();
        assert_eq!(first_len.records.len(), 2);
        for cut in [full.len() - 1, full.len() - 10] {
            fs::write(&path, &full[..cut]).unwrap();
            let log = read_update_log(&path).unwrap();
            assert!(log.truncated);
            assert_eq!(log.records.len(), 1);
            assert_eq!(fs::metadata(&path).unwrap().len(), log.valid_len);
            // Appending after the cut gives a clean log again.
            append_record(&path, &update(TaskState::Finished, 2)).unwrap();
            let log = read_update_log(&path).unwrap();
            assert!(!log.truncated);
            assert_eq!(log.records.len(), 2);
        }
        // Only two bytes of a length prefix.
        let mut torn = full.clone();
        let one = 4 + u32::from_be_bytes([full[0], full[1], full[2], full[3]]) as usize;
        torn.truncate(one + 2);
        assert_eq!(parse_update_log(&torn, &path).unwrap().records.len(), 1);
        // Garbage in the middle is corruption, not a torn tail.
        let mut bad = full.clone();
        bad[5] = b'#';
        assert!(matches!(
            parse_update_log(&bad, &path),
            Err(CheckpointError::Corrupt { .. })
        ));
    }

    #[test]
    fn strict_recovery_fails_on_a_corrupt_file_and_non_strict_skips_it() {
        let d = dir("strict");
        let meta = Meta::new(&d);
        let key = write_agent(&meta, "b");
        fs::write(meta.task_info(&key, &TaskId::new("t")), b"{not json").unwrap();
        assert!(recover(&meta, Some("b"), true).is_err());
        let r = recover(&meta, Some("b"), false).unwrap();
        assert_eq!(r.errors.len(), 1);
        let a = r.agent.unwrap();
        assert!(
            a.frameworks[&FrameworkId::new("F")].executors[&ExecutorId::new("E")].runs
                [&ContainerId::new("c1")]
                .tasks
                .is_empty()
        );
    }
}
