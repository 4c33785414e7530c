//! Workers: spawning, replacing a worker that is gone, and resizing the pool.

use std::hash::Hash;
use std::sync::PoisonError;
use std::time::Duration;

use actor_core::{Actor, ActorRef, SpawnError};

use super::*;

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// See [`Factory::resize`].
    pub(super) fn resize(&self, workers: usize) -> Result<(), SpawnError> {
        let workers = workers.max(1);
        let mut fx = Effects::default();
        {
            let mut st = self.lock();
            let active = st.slots.iter().filter(|s| !s.retiring).count();
            if workers < active {
                let mut to_retire = active - workers;
                for pos in (0..st.slots.len()).rev() {
                    if to_retire == 0 {
                        break;
                    }
                    if !st.slots[pos].retiring {
                        st.slots[pos].retiring = true;
                        to_retire -= 1;
                        self.dispatch(&mut st, pos, &mut fx);
                    }
                }
            } else {
                // Slots being retired come back first.
                let mut wanted = workers - active;
                for slot in st.slots.iter_mut().filter(|s| s.retiring) {
                    if wanted == 0 {
                        break;
                    }
                    slot.retiring = false;
                    wanted -= 1;
                }
                drop(st);
                for _ in 0..wanted {
                    let id = self.lock().next_slot_id();
                    let worker = self.spawn_worker(id)?;
                    let mut st = self.lock();
                    st.slots.push(Slot::new(id, worker));
                    let pos = st.slots.len() - 1;
                    self.dispatch(&mut st, pos, &mut fx);
                }
            }
        }
        self.run(fx);
        let active = self.lock().slots.iter().filter(|s| !s.retiring).count();
        self.workers.send_replace(active);
        Ok(())
    }

    pub(super) fn spawn_worker(&self, slot: u64) -> Result<ActorRef<W>, SpawnError> {
        let built = {
            let mut build = self.build.lock().unwrap_or_else(PoisonError::into_inner);
            (build)()
        };
        let name = format!("{}-worker-{slot}", self.name);
        let worker = built.map_err(|e| SpawnError::start(name.as_str(), e))?;
        // Pinned, so that every worker (replacements included) matches how jobs are traced.
        let options = W::default_options().with_name(name).with_message_spans(self.traced);
        let options = match self.stuck_after {
            Some(threshold) => options.with_stuck_after(threshold),
            None => options,
        };
        let worker = options.spawn(worker)?;
        // A worker that stops while idle (killed, or failed by something other than a job) is
        // replaced at once, not when the next job finds it gone.
        let control = worker.control();
        let me = self.me.clone();
        tokio::spawn(async move {
            control.stopped().await;
            if let Some(me) = me.upgrade() {
                me.worker_gone(slot, control.id());
            }
        });
        Ok(worker)
    }

    /// The worker `id` of `slot` has stopped: if it is still the slot's worker and the slot is
    /// idle, it is replaced now (a busy slot learns of it from its job's end).
    fn worker_gone(&self, slot: u64, id: actor_core::ActorId) {
        let mut fx = Effects::default();
        {
            let mut st = self.lock();
            let Some(pos) = st.position(slot) else { return };
            let s = &st.slots[pos];
            if s.current.is_some() || s.worker.as_ref().is_none_or(|w| w.id() != id) {
                return;
            }
            if !st.accepting && st.is_idle() {
                // Drained: the factory stopped its workers itself.
                return;
            }
            tracing::warn!(factory = %self.name, slot, "an idle worker stopped; replacing it");
            let gone = st.lose_worker(pos, &mut fx);
            fx.stop.extend(gone);
            fx.idle = !st.accepting && st.is_idle();
        }
        self.run(fx);
    }

    /// Builds a new worker for `slot` and gives it the slot's queue.
    pub(super) fn replace(&self, slot: u64) {
        let worker = match self.spawn_worker(slot) {
            Ok(worker) => worker,
            Err(error) => {
                let mut fx = Effects::default();
                {
                    let mut st = self.lock();
                    let central = self.routing.shared_queue() && !st.central.is_empty();
                    let has_work = st
                        .position(slot)
                        .is_some_and(|pos| !st.slots[pos].local.is_empty() || central);
                    if !st.accepting && !has_work {
                        // Draining with nothing left for this slot: no replacement is needed.
                        tracing::warn!(factory = %self.name, slot, %error, "cannot replace a worker while draining; leaving its slot empty");
                        st.replacing -= 1;
                        fx.idle = st.is_idle();
                        drop(st);
                        self.run(fx);
                        return;
                    }
                }
                tracing::error!(factory = %self.name, slot, %error, "cannot replace a worker; retrying in 100 ms");
                if let Some(me) = self.me.upgrade() {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        me.replace(slot);
                    });
                }
                return;
            }
        };
        let mut fx = Effects::default();
        {
            let mut st = self.lock();
            st.replacing -= 1;
            match st.position(slot) {
                Some(pos) if st.slots[pos].worker.is_none() => {
                    let s = &mut st.slots[pos];
                    s.worker = Some(worker);
                    s.generation += 1;
                    s.counters.replaced += 1;
                    st.totals.replaced += 1;
                    #[cfg(feature = "metrics")]
                    self.metrics.replaced();
                    self.dispatch(&mut st, pos, &mut fx);
                }
                _ => fx.stop.push(worker),
            }
            fx.idle = !st.accepting && st.is_idle();
        }
        self.run(fx);
    }
}
