//! The agent's side of sandbox garbage collection ([`crate::gc`]): it schedules a run's
//! sandbox and checkpointed run (and its executor's directories) when the core says the
//! executor finished, a framework's sandbox when it left, and, after a restart, whatever
//! it finds on disk that no live executor uses (other agents' directories included, as
//! Mesos does). A new run unschedules the directories above it. Due paths are pruned when
//! their `gc_delay` is up and on every disk check (`--disk_watch_interval`); a due path is
//! moved out of sight at once (one rename, so `/files` answers 404 and a new run can never
//! land in a directory being deleted) and deleted on tokio's blocking pool. A path above
//! a live executor's sandbox or checkpoint is never removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libproc::Ctx;
use proto::{ContainerId, ExecutorId, FrameworkId};

use super::AgentProcess;
use crate::checkpoint::{Meta, RunKey};
use crate::gc::{disk, GcConfig, GcSchedule};
use crate::paths;

/// The schedule and what the disk watch last measured.
#[derive(Debug)]
pub(super) struct GcState {
    schedule: GcSchedule,
    usage: Option<f64>,
    /// Makes names in the trash unique (starts at the agent's start time in µs).
    seq: u64,
    removed: u64,
}

impl GcState {
    pub(super) fn new(config: &GcConfig, start_time: f64) -> GcState {
        GcState {
            schedule: GcSchedule::new(config.delay, config.disk_headroom),
            usage: None,
            seq: (start_time.max(0.0) * 1e6) as u64,
            removed: 0,
        }
    }
}

/// Now on the runtime's clock (virtual under a paused tokio clock).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl AgentProcess {
    /// The paths scheduled for garbage collection.
    pub fn gc_scheduled(&self) -> Vec<PathBuf> {
        self.gc
            .schedule
            .scheduled()
            .map(|(p, _)| p.to_path_buf())
            .collect()
    }

    /// How many directories garbage collection has deleted.
    pub fn gc_removed(&self) -> u64 {
        self.gc.removed
    }

    fn meta(&self) -> Meta {
        Meta::new(&self.config.work_dir)
    }

    /// What must never be removed: every live executor's sandbox and checkpointed run,
    /// and the agent's own sandbox and checkpoint directories.
    fn gc_in_use(&self) -> Vec<PathBuf> {
        let meta = self.meta();
        let mut out = vec![];
        if let Some(id) = &self.info.id {
            out.push(paths::slaves_root(&self.config.work_dir).join(id.as_str()));
            out.push(meta.agent_dir(id));
        }
        for e in self
            .core
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
        {
            out.push(e.directory.clone());
            if let Some(agent) = self.info.id.clone() {
                out.push(meta.run_dir(&RunKey {
                    agent,
                    framework: e.framework_id.clone(),
                    executor: e.info.executor_id.clone(),
                    container: e.container_id.clone(),
                }));
            }
        }
        out
    }

    /// Started (recovery done): empty the trash, schedule what is unused on disk, and
    /// start watching the disk.
    pub(super) fn gc_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let work_dir = self.config.work_dir.clone();
        let meta = self.meta();
        let mut live = self.gc_in_use();
        let agent = self.info.id.clone();
        // The directories of frameworks the agent still knows (they may have updates to
        // deliver) stay; their finished runs do not.
        if let Some(id) = &agent {
            for fw in self.core.frameworks.keys() {
                live.push(
                    paths::slaves_root(&work_dir)
                        .join(id.as_str())
                        .join("frameworks")
                        .join(fw.as_str()),
                );
                live.push(meta.framework_dir(id, fw));
            }
        }
        let scan = libproc::offload::offload(move || {
            disk::empty_trash(&disk::trash_dir(&work_dir));
            let mut found = vec![];
            let levels = ["frameworks", "executors", "runs"];
            // Other agents' directories (this one's is in `live`), then this agent's runs.
            found.extend(disk::unused_below(&work_dir, &["slaves"], &live));
            found.extend(disk::unused_below(meta.root(), &["slaves"], &live));
            if let Some(id) = agent {
                let sandboxes = paths::slaves_root(&work_dir).join(id.as_str());
                found.extend(disk::unused_below(&sandboxes, &levels, &live));
                found.extend(disk::unused_below(&meta.agent_dir(&id), &levels, &live));
            }
            found
        });
        ctx.spawn(scan, |me: &mut Self, ctx, found| match found {
            Ok(found) => me.gc_adopt(ctx, found),
            Err(e) => tracing::warn!(error = %e, "cannot look for unused sandboxes"),
        });
        self.gc_watch_disk(ctx);
    }

    /// Schedules directories found unused on disk (with how long ago they changed).
    fn gc_adopt(&mut self, ctx: &mut Ctx<'_, Self>, found: Vec<(PathBuf, Duration)>) {
        // The scan ran off this thread: the agent may have registered (or launched) since.
        let live = self.gc_in_use();
        let now = now();
        let mut any = false;
        for (path, age) in found {
            if self.gc.schedule.is_scheduled(&path) || live.iter().any(|l| l.starts_with(&path)) {
                continue;
            }
            tracing::info!(path = %path.display(), ?age, "scheduling an unused directory found on disk for garbage collection");
            self.gc.schedule.schedule(path, now, age);
            any = true;
        }
        if any {
            let delay = self.gc.schedule.delay();
            ctx.after(delay, |me: &mut Self, ctx| me.gc_prune(ctx));
            self.gc_prune(ctx);
        }
    }

    /// Schedules `paths` (just finished) and marks them with the time.
    fn gc_schedule(&mut self, ctx: &mut Ctx<'_, Self>, paths: Vec<PathBuf>) {
        let now = now();
        for p in &paths {
            tracing::debug!(path = %p.display(), delay = ?self.gc.schedule.delay(), "scheduling for garbage collection");
            self.gc.schedule.schedule(p.clone(), now, Duration::ZERO);
        }
        drop(libproc::offload::offload(move || disk::touch(&paths)));
        let delay = self.gc.schedule.delay();
        ctx.after(delay, |me: &mut Self, ctx| me.gc_prune(ctx));
    }

    /// The core says an executor run is over: its sandbox and its executor's directory
    /// (and, if its framework checkpoints, their checkpoints) are scheduled.
    pub(super) fn gc_run_finished(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        (fw, ex, container): (FrameworkId, ExecutorId, ContainerId),
        directory: PathBuf,
        checkpoint: bool,
    ) {
        let mut paths = vec![directory];
        if let Some(agent) = self.info.id.clone() {
            let root = paths::slaves_root(&self.config.work_dir).join(agent.as_str());
            paths.push(
                root.join("frameworks")
                    .join(fw.as_str())
                    .join("executors")
                    .join(ex.as_str()),
            );
            if checkpoint {
                let meta = self.meta();
                paths.push(meta.executor_dir(&agent, &fw, &ex));
                paths.push(meta.run_dir(&RunKey {
                    agent,
                    framework: fw,
                    executor: ex,
                    container,
                }));
            }
        }
        self.gc_schedule(ctx, paths);
    }

    /// The framework left this agent: its sandbox directory is scheduled (its checkpoint
    /// is removed at once).
    pub(super) fn gc_framework_finished(&mut self, ctx: &mut Ctx<'_, Self>, fw: &FrameworkId) {
        let Some(agent) = self.info.id.clone() else {
            return;
        };
        let dir = paths::slaves_root(&self.config.work_dir)
            .join(agent.as_str())
            .join("frameworks")
            .join(fw.as_str());
        self.gc_schedule(ctx, vec![dir]);
    }

    /// A new run is about to use `sandbox` (and its checkpoint): the directories above
    /// them leave the schedule.
    pub(super) fn gc_reuse(
        &mut self,
        (fw, ex, container): (&FrameworkId, &ExecutorId, &ContainerId),
        sandbox: &Path,
    ) {
        let mut gone = self.gc.schedule.unschedule_covering(sandbox);
        if let Some(agent) = self.info.id.clone() {
            let run = self.meta().run_dir(&RunKey {
                agent,
                framework: fw.clone(),
                executor: ex.clone(),
                container: container.clone(),
            });
            gone.extend(self.gc.schedule.unschedule_covering(&run));
        }
        for p in gone {
            tracing::info!(path = %p.display(), "unscheduled from garbage collection: a new run uses it");
        }
    }

    fn gc_watch_disk(&mut self, ctx: &mut Ctx<'_, Self>) {
        let interval = self.config.gc.disk_watch_interval;
        ctx.after(interval, |me: &mut Self, ctx| me.gc_check_disk(ctx));
    }

    /// Measures the disk (off this thread), prunes with the allowed age it gives, and
    /// checks again after `--disk_watch_interval`.
    fn gc_check_disk(&mut self, ctx: &mut Ctx<'_, Self>) {
        let usage = self.config.gc.disk_usage.clone();
        let dir = self.config.work_dir.clone();
        let measure = libproc::offload::offload(move || usage.measure(&dir));
        ctx.spawn(measure, |me: &mut Self, ctx, measured| {
            match measured {
                Ok(Ok(u)) => {
                    me.gc.usage = Some(u);
                    tracing::debug!(
                        usage = format!("{:.1}%", u * 100.0),
                        max_age = ?me.gc.schedule.max_age(Some(u)),
                        "disk usage checked"
                    );
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot measure the disk usage"),
                Err(e) => tracing::warn!(error = %e, "cannot measure the disk usage"),
            }
            me.gc_prune(ctx);
            me.gc_watch_disk(ctx);
        });
    }

    /// Removes what is due now: out of sight at once, deleted off this thread.
    fn gc_prune(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.gc.schedule.is_empty() {
            return;
        }
        let in_use = self.gc_in_use();
        let pruned = self.gc.schedule.prune(self.gc.usage, now(), &in_use);
        for p in &pruned.in_use {
            tracing::info!(path = %p.display(), "not garbage collecting a directory in use");
        }
        let trash = disk::trash_dir(&self.config.work_dir);
        let mut doomed = vec![];
        for path in pruned.due {
            self.gc.seq += 1;
            match disk::move_aside(&path, &trash, self.gc.seq) {
                Ok(Some(moved)) => {
                    tracing::info!(path = %path.display(), "garbage collecting");
                    doomed.push(moved);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot move a directory aside; deleting it in place");
                    doomed.push(path);
                }
            }
        }
        if doomed.is_empty() {
            return;
        }
        let delete = libproc::offload::offload(move || {
            let mut n = 0;
            for d in &doomed {
                match disk::remove(d) {
                    Ok(()) => n += 1,
                    Err(e) => {
                        tracing::warn!(path = %d.display(), error = %e, "cannot delete garbage")
                    }
                }
            }
            n
        });
        ctx.spawn(delete, |me: &mut Self, _ctx, n| {
            me.gc.removed += n.unwrap_or(0);
        });
    }
}
