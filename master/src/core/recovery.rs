//! Leading after a failover: adopting the recovered registry, the deadline for its
//! agents to re-register, and pruning what the registry remembers.

use super::*;

impl Master {
    /// This master was elected leader now (for `elected_time`).
    pub fn elect(&mut self) {
        self.elected_time = self.now();
    }

    /// Adopts the registry a new leader recovered: its admitted agents are expected to
    /// re-register within `--agent_reregister_timeout`, its unreachable agents stay
    /// unreachable (and may re-register any time).
    pub fn recover(&mut self, registry: Registry) -> Vec<Effect> {
        let mut fx = Vec::new();
        for (id, e) in &registry.unreachable {
            self.unreachable
                .entry(id.clone())
                .or_insert(UnreachableAgent {
                    info: e.info.clone(),
                    time: e.time,
                });
        }
        for (id, info) in &registry.agents {
            if !self.agents.contains_key(id) {
                self.recovered.insert(id.clone(), info.clone());
            }
        }
        // Weights and quotas the operator set survive failover (over `--weights`).
        for (role, w) in &registry.weights {
            self.weights.insert(role.clone(), *w);
        }
        for (role, q) in &registry.quotas {
            self.quotas.insert(
                role.clone(),
                crate::operator::QuotaConfig {
                    guarantee: q.guarantee.clone(),
                    limit: q.limit.clone(),
                },
            );
        }
        if !registry.weights.is_empty() {
            fx.push(Effect::Allocator(
                UpdateWeights {
                    weights: registry.weights.clone().into_iter().collect(),
                }
                .into(),
            ));
        }
        for (role, q) in &registry.quotas {
            fx.push(Effect::Allocator(
                SetQuota {
                    role: role.clone(),
                    guarantee: q.guarantee.clone(),
                    limit: q.limit.clone(),
                }
                .into(),
            ));
        }
        // Agents that registered before recovery finished are admitted too.
        let mut merged = registry;
        for (id, a) in &self.agents {
            merged.admit(id, &a.info);
        }
        merged.weights = self.weights.clone();
        merged.quotas = self.policy_registry_quotas();
        let changed = merged != *self.registry;
        self.registry = Arc::new(merged);
        tracing::info!(
            admitted = self.registry.agents.len(),
            unreachable = self.registry.unreachable.len(),
            expected_to_reregister = self.recovered.len(),
            "recovered the registry"
        );
        if !self.recovered.is_empty() {
            fx.push(Effect::ReregisterTimer {
                after: self.config.agent_reregister_timeout,
            });
        }
        if changed {
            fx.push(Effect::PersistRegistry);
        }
        fx
    }

    /// `--agent_reregister_timeout` passed since recovery: recovered agents that have not
    /// re-registered are marked unreachable (frameworks learn it from `LostSlaveMessage`
    /// and, for their tasks there, from reconciliation: `TASK_UNREACHABLE` or
    /// `TASK_LOST`).
    pub fn reregister_timeout(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        let lost = std::mem::take(&mut self.recovered);
        if lost.is_empty() {
            return fx;
        }
        let now = self.now();
        // Written before anyone is told.
        fx.push(Effect::PersistRegistry);
        for (id, info) in lost {
            tracing::warn!(agent = %id, "agent did not re-register within --agent_reregister_timeout after failover; marking it unreachable");
            Arc::make_mut(&mut self.registry).mark_unreachable(&id, &info, now);
            self.unreachable
                .insert(id.clone(), UnreachableAgent { info, time: now });
            let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
            for fid in fids {
                self.to_framework(
                    &fid,
                    LostSlaveMessage {
                        agent_id: id.clone(),
                    },
                    &mut fx,
                );
            }
        }
        self.prune_registry();
        fx
    }

    /// Mesos's registry GC: forgets unreachable and gone agents past
    /// `--registry_max_agent_age` or `--registry_max_agent_count`, and the tasks the
    /// master kept of them.
    pub(super) fn prune_registry(&mut self) {
        let now = self.now();
        let pruned = Arc::make_mut(&mut self.registry).prune(
            now,
            self.config.registry_max_agent_age,
            self.config.registry_max_agent_count,
        );
        for id in pruned {
            tracing::info!(agent = %id, "forgetting an unreachable agent (--registry_max_agent_age / --registry_max_agent_count)");
            self.unreachable.remove(&id);
            let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
            for fid in fids {
                let gone: Vec<Arc<TaskRecord>> =
                    match self.frameworks.get_mut(&fid).map(Arc::make_mut) {
                        Some(f) => {
                            let ids: Vec<TaskId> = f
                                .unreachable_tasks
                                .values()
                                .filter(|t| t.agent_id == id)
                                .map(|t| t.task_id.clone())
                                .collect();
                            ids.iter()
                                .filter_map(|t| f.unreachable_tasks.remove(t))
                                .collect()
                        }
                        None => Vec::new(),
                    };
                for t in gone {
                    self.retire_task(&fid, t);
                }
            }
        }
    }

    /// Whether the framework was torn down (durably: the registry remembers it).
    pub(super) fn framework_removed(&self, id: &FrameworkId) -> bool {
        self.registry.removed_frameworks.contains_key(id)
            || self.completed_frameworks.iter().any(|f| &f.id == id)
    }
}
