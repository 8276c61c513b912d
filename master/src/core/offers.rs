//! Offers: turning the allocator's allocations into offers, their expiry, declines,
//! offer validation, and the revive/suppress calls that steer them.

use super::*;

/// An outstanding offer.
#[derive(Debug, Clone)]
pub struct OfferEntry {
    /// The offer as sent.
    pub offer: Offer,
    /// The role it was allocated to.
    pub role: String,
}

impl Master {
    /// `Offers` from the allocator: turn each allocation into an offer.
    pub fn offers_from_allocator(&mut self, msg: alloc::Offers) -> Vec<Effect> {
        let mut fx = Vec::new();
        let mut batches: BTreeMap<FrameworkId, (Vec<Offer>, Vec<String>)> = BTreeMap::new();
        for a in msg.allocations {
            let framework_ok = self
                .frameworks
                .get(&a.framework_id)
                .is_some_and(|f| f.active && f.connected);
            let mut agent = self.agents.get(&a.agent_id).filter(|ag| ag.connected);
            if agent.is_some_and(|ag| ag.check_offers) {
                // A reservation changed the agent's total since the allocator decided.
                let mut free = agent
                    .map(|ag| ag.info.resources.clone())
                    .unwrap_or_default();
                for r in self.used_on_agent(&a.agent_id).values() {
                    free -= r;
                }
                if let Some(ag) = agent {
                    free -= &self.offered_on_agent(ag);
                }
                if !free.contains(&a.resources) {
                    tracing::debug!(agent = %a.agent_id, "allocation no longer fits the agent; returned to the allocator");
                    agent = None;
                }
            }
            let (Some(agent), true) = (agent, framework_ok) else {
                // Things changed since the allocator decided: give it back.
                fx.push(Effect::Allocator(
                    RecoverResources {
                        framework_id: a.framework_id,
                        agent_id: a.agent_id,
                        resources: a.resources,
                        filters: None,
                    }
                    .into(),
                ));
                continue;
            };
            let id = OfferId::new(format!("{}-O{}", self.info.id, self.next_offer));
            self.next_offer += 1;
            let executor_ids: BTreeSet<ExecutorId> = self
                .frameworks
                .get(&a.framework_id)
                .map(|f| {
                    f.tasks
                        .on_agent(&a.agent_id)
                        .filter_map(|t| t.executor_id.clone())
                        .collect()
                })
                .unwrap_or_default();
            let offer = Offer {
                id: id.clone(),
                framework_id: a.framework_id.clone(),
                agent_id: a.agent_id.clone(),
                hostname: agent.info.hostname.clone(),
                resources: a.resources,
                attributes: agent.info.attributes.clone(),
                executor_ids: executor_ids.into_iter().collect(),
            };
            let agent_pid = agent.pid.to_string();
            if let Some(ag) = self.agents.get_mut(&a.agent_id).map(Arc::make_mut) {
                ag.offers.insert(id.clone());
            }
            if let Some(f) = self.frameworks.get_mut(&a.framework_id).map(Arc::make_mut) {
                f.offers.insert(id.clone());
            }
            let batch = batches.entry(a.framework_id).or_default();
            batch.0.push(offer.clone());
            batch.1.push(agent_pid);
            self.offers.insert(
                id.clone(),
                OfferEntry {
                    offer,
                    role: a.role,
                },
            );
            if let Some(after) = self.config.offer_timeout {
                fx.push(Effect::OfferTimer {
                    offer_id: id,
                    after,
                });
            }
        }
        for (fid, (offers, pids)) in batches {
            self.to_framework(&fid, ResourceOffersMessage { offers, pids }, &mut fx);
        }
        fx
    }

    /// Removes an offer and gives its resources back; tells the scheduler if `notify`.
    pub(crate) fn rescind_offer(&mut self, id: &OfferId, notify: bool) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(e) = self.remove_offer(id) else {
            return fx;
        };
        if notify {
            self.to_framework(
                &e.offer.framework_id,
                RescindResourceOfferMessage {
                    offer_id: id.clone(),
                },
                &mut fx,
            );
        }
        fx.push(Effect::Allocator(
            RecoverResources {
                framework_id: e.offer.framework_id,
                agent_id: e.offer.agent_id,
                resources: e.offer.resources,
                filters: None,
            }
            .into(),
        ));
        fx
    }

    pub(super) fn remove_offer(&mut self, id: &OfferId) -> Option<OfferEntry> {
        let e = self.offers.remove(id)?;
        if let Some(f) = self
            .frameworks
            .get_mut(&e.offer.framework_id)
            .map(Arc::make_mut)
        {
            f.offers.remove(id);
        }
        if let Some(a) = self.agents.get_mut(&e.offer.agent_id).map(Arc::make_mut) {
            a.offers.remove(id);
        }
        Some(e)
    }

    /// `--offer_timeout` passed for an offer.
    pub fn offer_expired(&mut self, id: &OfferId) -> Vec<Effect> {
        if self.offers.contains_key(id) {
            tracing::info!(offer = %id, "offer timed out; rescinding");
        }
        self.rescind_offer(id, true)
    }

    /// `DeclineOffersMessage`.
    pub fn decline(&mut self, from: &Pid, msg: DeclineOffersMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "decline", &mut fx)
            .is_none()
        {
            return fx;
        }
        for id in &msg.offer_ids {
            match self.offers.get(id) {
                Some(e) if e.offer.framework_id == msg.framework_id => {
                    if let Some(e) = self.remove_offer(id) {
                        fx.push(Effect::Allocator(
                            RecoverResources {
                                framework_id: e.offer.framework_id,
                                agent_id: e.offer.agent_id,
                                resources: e.offer.resources,
                                filters: Some(msg.filters),
                            }
                            .into(),
                        ));
                    }
                }
                _ => {
                    tracing::warn!(offer = %id, framework = %msg.framework_id, "ignoring decline of an unknown offer")
                }
            }
        }
        fx
    }

    /// Checks the offers of an accept: they exist, belong to the framework, are on one
    /// agent, and are not repeated.
    pub(super) fn validate_offers(
        &self,
        framework_id: &FrameworkId,
        ids: &[OfferId],
    ) -> Result<(), String> {
        if ids.is_empty() {
            return Err("No offers specified".into());
        }
        let mut seen = HashSet::new();
        let mut agent: Option<&AgentId> = None;
        for id in ids {
            if !seen.insert(id) {
                return Err(format!("Offer {id} appears more than once"));
            }
            let Some(e) = self.offers.get(id) else {
                return Err(format!("Offer {id} is no longer valid"));
            };
            if &e.offer.framework_id != framework_id {
                return Err(format!(
                    "Offer {id} has invalid framework {}",
                    e.offer.framework_id
                ));
            }
            match agent {
                None => agent = Some(&e.offer.agent_id),
                Some(a) if a != &e.offer.agent_id => {
                    return Err(format!(
                        "Aggregated offers must belong to one agent; offer {id} is on {}",
                        e.offer.agent_id
                    ));
                }
                _ => {}
            }
            if !self.agents.contains_key(&e.offer.agent_id) {
                return Err(format!(
                    "Offer {id} is on an agent that is no longer registered"
                ));
            }
        }
        Ok(())
    }

    /// `ReviveOffersMessage`.
    pub fn revive(&mut self, from: &Pid, msg: ReviveOffersMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "revive", &mut fx)
            .is_none()
        {
            return fx;
        }
        vec![Effect::Allocator(
            ReviveOffers {
                framework_id: msg.framework_id,
                roles: msg.roles,
            }
            .into(),
        )]
    }

    /// `SuppressOffersMessage`.
    pub fn suppress(&mut self, from: &Pid, msg: SuppressOffersMessage) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self
            .scheduler(&msg.framework_id, from, "suppress", &mut fx)
            .is_none()
        {
            return fx;
        }
        vec![Effect::Allocator(
            SuppressOffers {
                framework_id: msg.framework_id,
                roles: msg.roles,
            }
            .into(),
        )]
    }
}
