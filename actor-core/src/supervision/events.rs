//! [`SupervisionEvent`]: what a supervisor reports to its subscribers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::StopReason;

/// What a supervisor reports; see [`SupervisorSpec::subscribe`](super::SupervisorSpec::subscribe).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SupervisionEvent {
    /// A child's incarnation started (`on_start` succeeded); the first is incarnation 1.
    Started {
        /// The child's name in its specification.
        child: Arc<str>,
        /// Which incarnation started.
        incarnation: u64,
    },
    /// A child ended with `reason` and will start again after `delay`.
    Restarting {
        /// The child's name.
        child: Arc<str>,
        /// Why its incarnation ended.
        reason: StopReason,
        /// The backoff before the new incarnation.
        delay: Duration,
    },
    /// A child stopped for good.
    Stopped {
        /// The child's name.
        child: Arc<str>,
        /// Why.
        reason: StopReason,
    },
    /// A child's handler made no progress for longer than its threshold; the child is failed
    /// (see [`heartbeat`](crate::heartbeat)) and then restarted per its restart type.
    Stuck {
        /// The child's name.
        child: Arc<str>,
        /// How long its handler had made no progress.
        busy_for: Duration,
    },
    /// The restart intensity was exceeded: the supervisor stops its children and fails.
    Escalated {
        /// The child whose failure exceeded it.
        child: Arc<str>,
        /// That child's reason.
        reason: StopReason,
    },
}

impl fmt::Display for SupervisionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisionEvent::Started { child, incarnation } => {
                write!(f, "{child} started (incarnation {incarnation})")
            }
            SupervisionEvent::Restarting { child, reason, delay } => {
                write!(f, "{child} restarting in {delay:?}: {reason}")
            }
            SupervisionEvent::Stopped { child, reason } => write!(f, "{child} stopped: {reason}"),
            SupervisionEvent::Stuck { child, busy_for } => {
                write!(f, "{child} stuck: no progress for {busy_for:?}")
            }
            SupervisionEvent::Escalated { child, reason } => {
                write!(f, "{child} exceeded the restart intensity: {reason}")
            }
        }
    }
}
