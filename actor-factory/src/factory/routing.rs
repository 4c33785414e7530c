//! Routing: which slot's queue a job goes to, and which queued job a free slot takes.

use std::hash::{Hash, Hasher};

use actor_core::Actor;

use super::*;

pub(super) fn hash_of<K: Hash>(key: &K) -> u64 {
    // Fixed keys: the same key maps to the same worker in every run.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// Puts a new job in the queue its routing picks and starts it if that worker is free.
    pub(super) fn route(
        &self,
        st: &mut State<W, K, M>,
        entry: Entry<K, M>,
        fx: &mut Effects<W, K, M>,
    ) {
        // The n-th (modulo their number) slot that takes new jobs.
        let pick = |st: &State<W, K, M>, n: u64| {
            let active = st.slots.iter().filter(|s| !s.retiring).count().max(1);
            let nth = (n % active as u64) as usize;
            (0..st.slots.len()).filter(|&pos| !st.slots[pos].retiring).nth(nth)
        };
        let pos = match &self.routing {
            Routing::Queuer => None,
            Routing::StickyQueuer => {
                let load = st.keys.entry(entry.key.clone()).or_default();
                match load.slot {
                    Some(slot) if load.shared == 0 => {
                        load.on_slot += 1;
                        st.position(slot)
                    }
                    _ => {
                        load.shared += 1;
                        None
                    }
                }
            }
            Routing::KeyPersistent => pick(st, hash_of(&entry.key)),
            Routing::CustomHash(hash) => pick(st, hash(&entry.key)),
            Routing::RoundRobin => {
                st.turn = st.turn.wrapping_add(1);
                pick(st, st.turn as u64)
            }
            Routing::Random => {
                st.rng ^= st.rng << 13;
                st.rng ^= st.rng >> 7;
                st.rng ^= st.rng << 17;
                pick(st, st.rng)
            }
        };
        match pos {
            Some(pos) => {
                st.slots[pos].local.push_back(entry);
                self.dispatch(st, pos, fx);
            }
            None => {
                st.central.push_back(entry);
                if let Some(pos) = (0..st.slots.len()).find(|&pos| {
                    let slot = &st.slots[pos];
                    !slot.retiring && slot.current.is_none() && slot.worker.is_some()
                }) {
                    self.dispatch(st, pos, fx);
                }
            }
        }
    }

    /// One job of `key` left its slot (sticky queuer bookkeeping).
    pub(super) fn release_key(&self, st: &mut State<W, K, M>, key: &K) {
        if !matches!(self.routing, Routing::StickyQueuer) {
            return;
        }
        if let Some(load) = st.keys.get_mut(key) {
            load.on_slot = load.on_slot.saturating_sub(1);
            if load.on_slot == 0 {
                load.slot = None;
                if load.shared == 0 {
                    st.keys.remove(key);
                }
            }
        }
    }

    /// One job of `key` left the shared queue without reaching a slot (sticky queuer).
    pub(super) fn release_shared_key(&self, st: &mut State<W, K, M>, key: &K) {
        if !matches!(self.routing, Routing::StickyQueuer) {
            return;
        }
        if let Some(load) = st.keys.get_mut(key) {
            load.shared = load.shared.saturating_sub(1);
            if load.shared == 0 && load.on_slot == 0 {
                st.keys.remove(key);
            }
        }
    }

    /// The next job for the slot at `pos`: its own queue first, then the shared one.
    pub(super) fn next_for(
        &self,
        st: &mut State<W, K, M>,
        pos: usize,
        fx: &mut Effects<W, K, M>,
    ) -> Option<Entry<K, M>> {
        if let Some(entry) = st.slots[pos].local.pop_front() {
            return Some(entry);
        }
        if st.slots[pos].retiring || !self.routing.shared_queue() {
            return None;
        }
        let slot_id = st.slots[pos].id;
        while let Some(entry) = st.central.pop_front() {
            if !matches!(self.routing, Routing::StickyQueuer) {
                return Some(entry);
            }
            let Some(load) = st.keys.get_mut(&entry.key) else { return Some(entry) };
            load.shared = load.shared.saturating_sub(1);
            load.on_slot += 1;
            let busy_elsewhere = load.slot.filter(|&other| other != slot_id);
            let other = busy_elsewhere.and_then(|other| st.position(other));
            match other {
                Some(other) => {
                    // The key is busy on another worker: its job waits there, in order.
                    st.slots[other].local.push_back(entry);
                    self.dispatch(st, other, fx);
                }
                None => {
                    if let Some(load) = st.keys.get_mut(&entry.key) {
                        load.slot = Some(slot_id);
                    }
                    return Some(entry);
                }
            }
        }
        None
    }
}
