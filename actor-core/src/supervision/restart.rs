//! What a child's task decides when an incarnation ends: restart (after a backoff), stop, or
//! escalate, within the supervisor's restart intensity.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::events::SupervisionEvent;
use super::group::Shared;
use super::lock;
use super::spec::{Backoff, Restart};
use super::supervisor::{SupervisorActor, SupervisorActorMessage};
use crate::actor::Actor;
use crate::actor_ref::WeakActorRef;
use crate::error::{BoxError, StopReason};
use crate::runtime::{Decision, Restarter};

/// The sliding window of recent restarts.
pub(super) struct RestartWindow {
    pub(super) restarts: VecDeque<Instant>,
    pub(super) max_restarts: usize,
    pub(super) window: Duration,
    pub(super) backoff: Option<Backoff>,
    pub(super) escalated: bool,
}

impl RestartWindow {
    /// Records a restart now, or returns `None` if it would exceed the intensity.
    fn admit(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while self.restarts.front().is_some_and(|&at| now.duration_since(at) >= self.window) {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.max_restarts {
            return None;
        }
        self.restarts.push_back(now);
        Some(self.backoff.map_or(Duration::ZERO, |backoff| backoff.delay(self.restarts.len())))
    }
}

/// What a child's task needs to ask its supervisor.
pub(super) struct Link {
    pub(super) shared: Arc<Shared>,
    /// The child's position in start order.
    pub(super) index: usize,
    pub(super) supervisor: WeakActorRef<SupervisorActor>,
    pub(super) name: Arc<str>,
    pub(super) restart: Restart,
    pub(super) incarnation: u64,
}

/// The runtime's restart hook for one child.
pub(super) struct ChildRestarter<A> {
    pub(super) build: Box<dyn FnMut() -> Result<A, BoxError> + Send>,
    pub(super) link: Link,
}

impl<A: Actor> Restarter<A> for ChildRestarter<A> {
    fn decide(&mut self, reason: &StopReason) -> Decision {
        let link = &self.link;
        let wanted = match link.restart {
            Restart::Permanent => true,
            Restart::Transient => reason.is_abnormal(),
            Restart::Temporary => false,
        };
        let event = |event: SupervisionEvent| {
            #[cfg(feature = "metrics")]
            match &event {
                SupervisionEvent::Restarting { child, .. } => {
                    crate::metrics::supervisor_restart(child)
                }
                SupervisionEvent::Escalated { child, .. } => {
                    crate::metrics::supervisor_escalation(child)
                }
                _ => {}
            }
            // Nobody listening is fine.
            let _ = link.shared.events.send(event);
        };
        // Restarting because a sibling failed: not counted against the intensity.
        if link.shared.in_group(link.index) {
            if link.restart == Restart::Temporary {
                event(SupervisionEvent::Stopped {
                    child: Arc::clone(&link.name),
                    reason: reason.clone(),
                });
                return Decision::Stop;
            }
            event(SupervisionEvent::Restarting {
                child: Arc::clone(&link.name),
                reason: reason.clone(),
                delay: Duration::ZERO,
            });
            return Decision::Restart(Duration::ZERO);
        }
        if !wanted {
            event(SupervisionEvent::Stopped {
                child: Arc::clone(&link.name),
                reason: reason.clone(),
            });
            return Decision::Stop;
        }
        let admitted = {
            let mut window = lock(&link.shared.window);
            if window.escalated {
                None
            } else {
                let admitted = window.admit();
                window.escalated = admitted.is_none();
                admitted.map(Ok).or(Some(Err(())))
            }
        };
        match admitted {
            Some(Ok(delay)) => {
                link.shared.begin_group(link.index);
                tracing::info!(child = %link.name, %reason, ?delay, "restarting child");
                event(SupervisionEvent::Restarting {
                    child: Arc::clone(&link.name),
                    reason: reason.clone(),
                    delay,
                });
                Decision::Restart(delay)
            }
            Some(Err(())) => {
                tracing::warn!(child = %link.name, %reason, "restart intensity exceeded; escalating");
                event(SupervisionEvent::Escalated {
                    child: Arc::clone(&link.name),
                    reason: reason.clone(),
                });
                if let Some(supervisor) = link.supervisor.upgrade() {
                    // Unbounded mailbox: this cannot fail for lack of room.
                    let _ = supervisor.try_tell(SupervisorActorMessage::escalate(reason.clone()));
                }
                Decision::Stop
            }
            // Another child already escalated: the supervisor is stopping everything.
            None => Decision::Stop,
        }
    }

    fn build(&mut self) -> Result<A, BoxError> {
        (self.build)()
    }

    fn started(&mut self) {
        let index = self.link.index;
        self.link.shared.update_group(|group| {
            group.started.insert(index);
        });
        self.link.incarnation += 1;
        let _ = self.link.shared.events.send(SupervisionEvent::Started {
            child: Arc::clone(&self.link.name),
            incarnation: self.link.incarnation,
        });
    }

    fn restarts_on_normal_exit(&self) -> bool {
        self.link.restart == Restart::Permanent
    }

    fn turn_to_stop(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let index = self.link.index;
        Box::pin(self.link.shared.wait_group(move |group| {
            group.members.range(index + 1..).all(|later| group.stopped.contains(later))
        }))
    }

    fn stopped(&mut self) {
        let index = self.link.index;
        self.link.shared.update_group(|group| {
            group.stopped.insert(index);
        });
    }

    fn turn_to_start(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let index = self.link.index;
        Box::pin(self.link.shared.wait_group(move |group| {
            group.stopped.is_superset(&group.members)
                && group.members.range(..index).all(|earlier| group.started.contains(earlier))
        }))
    }

    fn stuck_reporter(&self) -> Option<crate::heartbeat::StuckReport> {
        let events = self.link.shared.events.clone();
        let child = Arc::clone(&self.link.name);
        Some(Box::new(move |busy_for| {
            let _ = events.send(SupervisionEvent::Stuck { child: Arc::clone(&child), busy_for });
        }))
    }

    fn gone(&mut self) {
        let index = self.link.index;
        self.link.shared.update_group(|group| {
            group.members.remove(&index);
            group.stopped.remove(&index);
            group.started.remove(&index);
        });
    }
}
