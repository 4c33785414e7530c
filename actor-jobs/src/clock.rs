//! The queues' clock: wall-clock milliseconds, so that times mean the same after a restart and
//! on other hosts, advanced within a process by tokio's clock, so that tests drive leases and
//! backoff with paused time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::Millis;

/// Wall-clock milliseconds read once, advanced by tokio's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base_ms: Millis,
    base: tokio::time::Instant,
}

impl Clock {
    /// A clock starting at the wall time now.
    pub(crate) fn start() -> Clock {
        let base_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, duration_ms);
        Clock { base_ms, base: tokio::time::Instant::now() }
    }

    /// Now, in wall-clock milliseconds.
    pub(crate) fn now(&self) -> Millis {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.base);
        self.base_ms.saturating_add(duration_ms(elapsed))
    }

    /// How long until `at`, from now (zero if it has passed).
    pub(crate) fn until(&self, at: Millis) -> Duration {
        Duration::from_millis(at.saturating_sub(self.now()))
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
