//! Effects: what is decided under the lock and carried out after it is released (user
//! callbacks, worker replacements, drops of messages whose destructors report back).

use std::hash::Hash;

use actor_core::{Actor, ActorRef};
// tokio's clock, so that tests on paused time see deadlines.
use tokio::time::Instant;

use super::*;
use crate::job::{Discarded, Failure};

/// What to do once the state's lock is released: user callbacks, worker replacements, drops
/// of messages that carry jobs (their destructors report back and take the lock).
pub(super) struct Effects<W: Actor, K, M> {
    pub(super) discards: Vec<Discarded<K, M>>,
    pub(super) failures: Vec<Failure<K>>,
    pub(super) replace: Vec<u64>,
    pub(super) kill: Vec<ActorRef<W>>,
    pub(super) stop: Vec<ActorRef<W>>,
    pub(super) undelivered: Vec<W::Message>,
    /// Jobs for workers, sent first once the lock is released: the first without an
    /// allocation (most lock sections dispatch one job), the others after it.
    pub(super) send: Option<super::dispatch::Delivery<W>>,
    pub(super) sends: Vec<super::dispatch::Delivery<W>>,
    pub(super) room: usize,
    pub(super) idle: bool,
    /// The time, if read already under this lock.
    pub(super) now: Option<Instant>,
}

impl<W: Actor, K, M> Default for Effects<W, K, M> {
    fn default() -> Self {
        Effects {
            discards: Vec::new(),
            failures: Vec::new(),
            replace: Vec::new(),
            kill: Vec::new(),
            stop: Vec::new(),
            undelivered: Vec::new(),
            send: None,
            sends: Vec::new(),
            room: 0,
            idle: false,
            now: None,
        }
    }
}

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// Runs what was decided under the lock.
    pub(super) fn run(&self, fx: Effects<W, K, M>) {
        let Effects {
            discards,
            failures,
            replace,
            kill,
            stop,
            undelivered,
            send,
            sends,
            room,
            idle,
            now: _,
        } = fx;
        for delivery in send.into_iter().chain(sends) {
            self.deliver(delivery);
        }
        for worker in kill {
            worker.kill();
        }
        for worker in stop {
            worker.stop();
        }
        drop(undelivered);
        for _ in 0..room {
            self.room.notify_one();
        }
        if idle {
            self.idle.notify_waiters();
        }
        if let Some(handler) = &self.on_discard {
            discards.into_iter().for_each(|d| handler(d));
        }
        if let Some(handler) = &self.on_failure {
            failures.into_iter().for_each(|f| handler(f));
        }
        for slot in replace {
            self.replace(slot);
        }
    }
}
