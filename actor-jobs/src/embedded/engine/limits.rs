//! Leasing within the queue's limits: the running jobs and recent starts of the queue and of
//! each group, counted in the index.

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Decider;
use crate::model::JobStatus;

impl<P, R> Decider<'_, P, R>
where
    P: Serialize + DeserializeOwned + Clone,
    R: Serialize + DeserializeOwned + Clone,
{
    /// Up to `max` leasable jobs, in lease order, that the queue's limits let start now; their
    /// starts are recorded.
    pub(super) fn pick_within_limits(&mut self, max: usize) -> Vec<u64> {
        let limits = &self.shared.options.limits;
        let now = self.now;
        let window = |limit: &crate::Limit| {
            limit.starts.map_or(0, |(_, per)| crate::clock::duration_ms(per))
        };
        let running = self.st.counts[JobStatus::Running as usize];
        let mut queue_room = limits.queue.map(|limit| {
            let started = self.st.recent_starts(&None, window(&limit), now);
            limit.room(running, started)
        });
        let candidates: Vec<(u64, Option<String>)> = self
            .st
            .leasable_now(now)
            .map(|id| (id, self.st.jobs.get(&id).and_then(|meta| meta.group.clone())))
            .collect();
        let mut group_room: HashMap<String, u64> = HashMap::new();
        let mut picked = Vec::new();
        for (id, group) in candidates {
            if picked.len() >= max || queue_room == Some(0) {
                break;
            }
            if let Some(group) = &group
                && let Some(limit) = limits.of(group)
            {
                let room = match group_room.get_mut(group) {
                    Some(room) => room,
                    None => {
                        let running = self.st.running_by_group.get(group).copied().unwrap_or(0);
                        let started =
                            self.st.recent_starts(&Some(group.clone()), window(&limit), now);
                        group_room.entry(group.clone()).or_insert(limit.room(running, started))
                    }
                };
                if *room == 0 {
                    continue;
                }
                *room -= 1;
                if limit.starts.is_some() {
                    self.st.started(Some(group.clone()), now);
                }
            }
            if let Some(room) = queue_room.as_mut() {
                *room -= 1;
            }
            if limits.queue.is_some_and(|limit| limit.starts.is_some()) {
                self.st.started(None, now);
            }
            picked.push(id);
        }
        picked
    }
}
