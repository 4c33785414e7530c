//! Stuck-actor detection: a watchdog thread that notices a handler running longer than its
//! actor's threshold, whether it awaits forever or spins on the CPU.
//!
//! Opt in per actor with [`SpawnOptions::with_stuck_after`](crate::SpawnOptions::with_stuck_after)
//! (or [`ChildSpec::stuck_after`](crate::supervision::ChildSpec::stuck_after)). The actor's task
//! then records when it last made progress: when an exclusive handler starts, and when a
//! shared handler starts or finishes. The watchdog, an OS thread of its own so that it keeps
//! running when the stuck handler blocks a runtime thread, checks every monitored actor once
//! per *tick*, a fifth of the smallest threshold (at least 1 ms). An actor whose handler has
//! made no progress for longer than its threshold is reported through `tracing` (a warning)
//! and failed with [`Stuck`]: the handler is dropped at its next await point and the
//! incarnation ends, so a supervisor restarts it per its strategy. A handler that never
//! reaches an await point cannot be dropped: it is reported at once, and fails as soon as it
//! returns.
//!
//! # Bounds
//!
//! - **Time to detect.** Busy time is counted in watchdog rounds. While the process runs
//!   freely, a handler that makes no progress is reported between `threshold` and
//!   `threshold` + 2 ticks (1.4 × the threshold) after its last progress.
//! - **Starvation and pauses are not counted.** Each round counts for at most two ticks,
//!   however long it really took: when the whole process was not running (stopped with
//!   `SIGSTOP`, a paused virtual machine, a host so busy that the watchdog itself was not
//!   scheduled), the time it lost is not held against any actor. Such a pause delays
//!   detection by its length instead of killing healthy actors. This is the watchdog
//!   measuring its own scheduling lag, as jHiccup does.
//! - **What is still counted.** A runtime thread descheduled in the middle of a handler while
//!   the watchdog keeps running on time looks like a slow handler: choose a threshold well
//!   above the worst scheduling delay of one thread on your machines (hundreds of
//!   milliseconds, not tens).
//!
//! An idle actor, or one whose handlers each finish within the threshold, is never reported,
//! however busy it is; time a message waits in the mailbox does not count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::control::ActorCell;
use crate::error::StopReason;

/// Why a stuck actor was failed.
#[derive(Debug, thiserror::Error)]
#[error("stuck: a handler made no progress for {busy_for:?} (threshold {threshold:?})")]
pub struct Stuck {
    /// How long the handler had run without progress when it was noticed, not counting pauses
    /// of the whole process (see the [module docs](self#bounds)).
    pub busy_for: Duration,
    /// The actor's threshold.
    pub threshold: Duration,
}

/// Called by the watchdog with the time without progress (supervision events).
pub(crate) type StuckReport = Box<dyn Fn(Duration) + Send + Sync>;

/// The progress record of one monitored actor, written by its task.
pub(crate) struct Heartbeat {
    /// Nanoseconds since `EPOCH` of the last progress while busy, plus one; 0 when idle.
    busy_since: AtomicU64,
    /// The `busy_since` value already reported, so that one stall raises one alarm.
    reported: AtomicU64,
    /// The `busy_since` value the watchdog is counting (watchdog thread only).
    observed: AtomicU64,
    /// Busy time counted for `observed` so far, in nanoseconds, with pauses of the whole
    /// process discounted (watchdog thread only).
    counted: AtomicU64,
    threshold: Duration,
    /// Called with the time without progress when a stall is noticed (supervision events).
    on_stuck: Mutex<Option<StuckReport>>,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ns() -> u64 {
    u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

impl Heartbeat {
    /// Starts monitoring the actor of `cell`; the watchdog forgets it when either is dropped.
    pub(crate) fn monitor(cell: &Arc<ActorCell>, threshold: Duration) -> Arc<Heartbeat> {
        let heartbeat = Arc::new(Heartbeat {
            busy_since: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            observed: AtomicU64::new(0),
            counted: AtomicU64::new(0),
            threshold,
            on_stuck: Mutex::new(None),
        });
        WATCHDOG.watch(Arc::downgrade(&heartbeat), Arc::downgrade(cell), threshold);
        heartbeat
    }

    /// A progress record nobody watches: for live inspection of an actor without a threshold.
    pub(crate) fn unmonitored() -> Arc<Heartbeat> {
        Arc::new(Heartbeat {
            busy_since: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            observed: AtomicU64::new(0),
            counted: AtomicU64::new(0),
            threshold: Duration::MAX,
            on_stuck: Mutex::new(None),
        })
    }

    /// How long the handler in hand has made no progress, or `None` while the actor is idle.
    pub(crate) fn busy_for(&self) -> Option<Duration> {
        let since = self.busy_since.load(Ordering::Acquire);
        (since != 0).then(|| Duration::from_nanos(now_ns().saturating_sub(since)))
    }

    /// Progress: a handler starts (or a shared one finishes) now.
    #[inline]
    pub(crate) fn progress(&self) {
        self.busy_since.store(now_ns(), Ordering::Release);
    }

    /// The actor waits for mail: nothing can be stuck.
    #[inline]
    pub(crate) fn idle(&self) {
        self.busy_since.store(0, Ordering::Release);
    }

    pub(crate) fn on_stuck(&self, report: StuckReport) {
        *self.on_stuck.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
    }
}

/// The process-wide watchdog.
static WATCHDOG: LazyLock<Watchdog> = LazyLock::new(Watchdog::default);

#[derive(Default)]
struct Watchdog {
    state: Mutex<WatchdogState>,
}

#[derive(Default)]
struct WatchdogState {
    entries: Vec<(Weak<Heartbeat>, Weak<ActorCell>)>,
    /// How often the thread checks: a fifth of the smallest threshold, at least 1 ms.
    tick: Option<Duration>,
    running: bool,
}

impl Watchdog {
    fn watch(
        &'static self,
        heartbeat: Weak<Heartbeat>,
        cell: Weak<ActorCell>,
        threshold: Duration,
    ) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.entries.push((heartbeat, cell));
        let tick = (threshold / 5).max(Duration::from_millis(1));
        state.tick = Some(state.tick.map_or(tick, |current| current.min(tick)));
        if !state.running {
            let spawned =
                std::thread::Builder::new().name("actor-watchdog".into()).spawn(move || self.run());
            match spawned {
                Ok(_) => state.running = true,
                Err(error) => tracing::error!(%error, "could not start the stuck-actor watchdog"),
            }
        }
    }

    fn run(&self) {
        let mut last = Instant::now();
        loop {
            let (tick, entries) = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.entries.retain(|(heartbeat, cell)| {
                    heartbeat.strong_count() > 0 && cell.strong_count() > 0
                });
                (state.tick.unwrap_or(Duration::from_millis(10)), state.entries.clone())
            };
            // A round counts for at most two ticks: time the watchdog itself was not scheduled
            // is a pause of the process, not a stuck actor.
            let now = Instant::now();
            let credit = now.saturating_duration_since(last).min(tick * 2);
            last = now;
            let now_ns = now_ns();
            for (heartbeat, cell) in entries {
                let (Some(heartbeat), Some(cell)) = (heartbeat.upgrade(), cell.upgrade()) else {
                    continue;
                };
                check(&heartbeat, &cell, credit, now_ns);
            }
            park(tick);
        }
    }
}

/// Waits one tick (the watchdog has nothing else to do).
fn park(tick: Duration) {
    std::thread::park_timeout(tick);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Counts one round of `credit` against the actor of `heartbeat` if it is busy, and fails it
/// once the busy time counted exceeds its threshold.
fn check(heartbeat: &Heartbeat, cell: &ActorCell, credit: Duration, now_ns: u64) {
    let since = heartbeat.busy_since.load(Ordering::Acquire);
    if since == 0 {
        heartbeat.observed.store(0, Ordering::Relaxed);
        return;
    }
    let credit = nanos(credit);
    let counted = if heartbeat.observed.load(Ordering::Relaxed) == since {
        heartbeat.counted.load(Ordering::Relaxed).saturating_add(credit)
    } else {
        // Busy since some moment in the last round: count the part of the round after it.
        heartbeat.observed.store(since, Ordering::Relaxed);
        now_ns.saturating_sub(since).min(credit)
    };
    heartbeat.counted.store(counted, Ordering::Relaxed);
    let busy_for = Duration::from_nanos(counted);
    if busy_for <= heartbeat.threshold || heartbeat.reported.swap(since, Ordering::AcqRel) == since
    {
        return;
    }
    // With live inspection on, the report carries the actor's snapshot (its mailbox, parent
    // and children).
    let snapshot = crate::inspect::describe(cell.id).map(|info| info.to_string());
    tracing::warn!(actor = %cell.name, id = cell.id.get(), ?busy_for, threshold = ?heartbeat.threshold, snapshot, "stuck actor");
    if let Some(report) = heartbeat.on_stuck.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
    {
        report(busy_for);
    }
    cell.interrupt_stuck(
        StopReason::failed(Stuck { busy_for, threshold: heartbeat.threshold }),
        busy_for,
    );
}
