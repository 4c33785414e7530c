//! The state a supervisor shares with its children's tasks, and group restarts: under
//! one-for-all and rest-for-one, the members stop in reverse start order and start again in
//! start order.

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use super::events::SupervisionEvent;
use super::lock;
use super::restart::RestartWindow;
use super::spec::Strategy;
use crate::control::{ActorControl, RESTART};

/// State shared by a supervisor and its children's restarters.
pub(super) struct Shared {
    pub(super) strategy: Strategy,
    pub(super) children: Mutex<Vec<RunningChild>>,
    pub(super) window: Mutex<RestartWindow>,
    pub(super) events: broadcast::Sender<SupervisionEvent>,
    /// The children restarting together after a sibling failed (one-for-all, rest-for-one).
    pub(super) group: Mutex<Option<Group>>,
    pub(super) group_changed: Notify,
}

/// A group restart in progress, by child index (start order).
#[derive(Default)]
pub(super) struct Group {
    pub(super) members: BTreeSet<usize>,
    pub(super) stopped: BTreeSet<usize>,
    pub(super) started: BTreeSet<usize>,
}

impl Shared {
    /// Waits until `ready` holds for the group in progress (or there is none).
    pub(super) async fn wait_group(&self, ready: impl Fn(&Group) -> bool) {
        loop {
            let notified = self.group_changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a change in between is not missed.
            notified.as_mut().enable();
            if lock(&self.group).as_ref().is_none_or(&ready) {
                return;
            }
            notified.await;
        }
    }

    pub(super) fn update_group(&self, change: impl FnOnce(&mut Group)) {
        {
            let mut group = lock(&self.group);
            if let Some(current) = group.as_mut() {
                change(current);
                let done = current.members.is_empty() || current.started == current.members;
                if done {
                    *group = None;
                }
            }
        }
        self.group_changed.notify_waiters();
    }

    /// Starts a group restart for the failure of child `index` and asks the other members to
    /// end their incarnations. Returns whether `index` is now in a group.
    pub(super) fn begin_group(&self, index: usize) -> bool {
        if self.strategy == Strategy::OneForOne {
            return false;
        }
        let siblings: Vec<(usize, ActorControl)> = {
            let children = lock(&self.children);
            children
                .iter()
                .enumerate()
                .filter(|(i, child)| {
                    let in_scope = self.strategy == Strategy::OneForAll || *i >= index;
                    in_scope && (*i == index || child.control.is_alive())
                })
                .map(|(i, child)| (i, child.control.clone()))
                .collect()
        };
        {
            let mut group = lock(&self.group);
            let group = group.get_or_insert_with(Group::default);
            group.members.extend(siblings.iter().map(|(i, _)| *i));
        }
        for (i, control) in siblings.iter().rev() {
            if *i != index {
                control.cell.request(RESTART);
            }
        }
        self.group_changed.notify_waiters();
        true
    }

    /// Whether child `index` is restarting because a sibling failed: a member of the group that
    /// has not stopped yet. (A member whose new incarnation fails again is a failure of its own.)
    pub(super) fn in_group(&self, index: usize) -> bool {
        lock(&self.group)
            .as_ref()
            .is_some_and(|group| group.members.contains(&index) && !group.stopped.contains(&index))
    }
}

/// A child as its supervisor knows it, in start order.
pub(super) struct RunningChild {
    pub(super) name: Arc<str>,
    pub(super) control: ActorControl,
    /// Its `ActorRef<A>`, for typed lookups.
    pub(super) actor_ref: Box<dyn Any + Send + Sync>,
    pub(super) type_name: &'static str,
    pub(super) shutdown_timeout: Duration,
}
