//! [`Scheduler`]: periodic jobs from cron expressions (feature `cron`).
//!
//! Schedules are declared in code: a name, a cron expression (five fields, or six with
//! seconds first), a time zone, and how to build a tick's payload. A [`Scheduler`] task
//! enqueues one job per tick, due at the tick.
//!
//! # Contract
//!
//! - **One job per tick, with no leader.** A tick's job carries the idempotency key
//!   `cron:<schedule>:<tick in ms>`. Any number of processes may run the same schedules on
//!   one PostgreSQL queue: each tick is enqueued once, whichever gets there first, and no
//!   process has to be elected or can be lost as the leader. (The key lasts as long as the
//!   job: with [`QueueOptions::retention`](crate::QueueOptions::retention) shorter than the
//!   lag between processes' clocks, a late process could enqueue a purged tick again.)
//! - **Ticks are never skipped while a scheduler runs.** An enqueue that fails (the database
//!   is down) is retried with the same key until it succeeds or the scheduler stops.
//! - **Missed ticks** (everything was down) follow the schedule's [`CatchUp`]: by default the
//!   latest tick before the start is enqueued (unless it already was) and earlier ones are
//!   skipped.
//! - **A removed schedule stops**: schedules live in code, so a process started without one
//!   enqueues none of its ticks; jobs already enqueued still run.
//! - **Time zones.** Ticks are computed in the schedule's time zone (`chrono-tz`), so
//!   `0 9 * * *` in `Europe/Paris` is 09:00 in Paris, summer and winter alike.
//! - **Clocks.** Ticks are read from the queue's clock ([`JobBackend::now`]); with paused
//!   tokio time, tests drive schedules as they drive leases.
//!
//! ```
//! use actor_jobs::{CatchUp, EmbeddedQueue, JobBackend, QueueOptions, Schedule, Scheduler};
//! use actor_store::Store;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("actor-jobs-doc-cron-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let store = Store::open(&dir)?;
//! let queue = EmbeddedQueue::<String, ()>::open(&store, "reports", QueueOptions::new()).await?;
//! let nightly = Schedule::new("nightly-report", "0 2 * * *", |tick| format!("report for {}", tick.at))?
//!     .time_zone("Europe/Paris")?
//!     .catch_up(CatchUp::Skip);
//! let scheduler = Scheduler::spawn(queue.clone(), vec![nightly]);
//! // ... the queue's consumers run the reports ...
//! scheduler.stop().await;
//! # store.close().await?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use tokio::sync::watch;

use crate::backend::JobBackend;
use crate::model::Millis;
use crate::options::EnqueueOptions;

/// Why a schedule could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("the cron expression `{expression}` of schedule `{schedule}` is invalid")]
    Expression {
        /// The schedule.
        schedule: String,
        /// The expression.
        expression: String,
        /// The parser's error.
        #[source]
        source: croner::errors::CronError,
    },
    /// The time zone is not a known IANA name.
    #[error(
        "schedule `{schedule}`: unknown time zone `{zone}` (use an IANA name such as `Europe/Paris`)"
    )]
    TimeZone {
        /// The schedule.
        schedule: String,
        /// The name given.
        zone: String,
    },
}

/// What a schedule does about ticks missed while no scheduler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Missed ticks are skipped: the first job is the first tick after the start.
    Skip,
    /// The latest tick before the start is enqueued (unless it already was), earlier ones
    /// are skipped: a nightly job missed during a night's outage runs once in the morning.
    #[default]
    Latest,
    /// Up to this many of the latest ticks before the start are enqueued (those not already
    /// enqueued), oldest first.
    Last(usize),
}

/// One tick of a schedule, as its payload builder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick<'a> {
    /// The schedule's name.
    pub schedule: &'a str,
    /// When the tick is, in wall-clock milliseconds since the Unix epoch.
    pub at: Millis,
}

/// A periodic job: a name, a cron expression in a time zone, and its payload.
pub struct Schedule<P> {
    name: String,
    cron: croner::Cron,
    zone: Tz,
    payload: Arc<dyn Fn(Tick<'_>) -> P + Send + Sync>,
    options: EnqueueOptions,
    catch_up: CatchUp,
}

impl<P> Clone for Schedule<P> {
    fn clone(&self) -> Self {
        Schedule {
            name: self.name.clone(),
            cron: self.cron.clone(),
            zone: self.zone,
            payload: Arc::clone(&self.payload),
            options: self.options.clone(),
            catch_up: self.catch_up,
        }
    }
}

impl<P> fmt::Debug for Schedule<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cron", &self.cron.pattern.to_string())
            .field("zone", &self.zone)
            .field("catch_up", &self.catch_up)
            .finish_non_exhaustive()
    }
}

impl<P> Schedule<P> {
    /// A schedule named `name` (unique within its queue) that ticks at `expression`, in UTC
    /// until [`time_zone`](Self::time_zone) says otherwise, each tick's payload made by
    /// `payload`.
    ///
    /// # Errors
    ///
    /// [`ScheduleError::Expression`] if the expression does not parse.
    pub fn new(
        name: impl Into<String>,
        expression: &str,
        payload: impl Fn(Tick<'_>) -> P + Send + Sync + 'static,
    ) -> Result<Self, ScheduleError> {
        let name = name.into();
        let cron =
            croner::Cron::from_str(expression).map_err(|source| ScheduleError::Expression {
                schedule: name.clone(),
                expression: expression.to_owned(),
                source,
            })?;
        Ok(Schedule {
            name,
            cron,
            zone: Tz::UTC,
            payload: Arc::new(payload),
            options: EnqueueOptions::new(),
            catch_up: CatchUp::default(),
        })
    }

    /// Computes the ticks in the time zone `zone`, an IANA name (`Europe/Paris`).
    ///
    /// # Errors
    ///
    /// [`ScheduleError::TimeZone`] for an unknown name.
    pub fn time_zone(mut self, zone: &str) -> Result<Self, ScheduleError> {
        self.zone = zone.parse().map_err(|_| ScheduleError::TimeZone {
            schedule: self.name.clone(),
            zone: zone.to_owned(),
        })?;
        Ok(self)
    }

    /// Enqueues each tick's job with these options (a priority, an ordering key, attempts);
    /// the idempotency key and the delay are the schedule's own.
    pub fn options(mut self, options: EnqueueOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets what happens to ticks missed while no scheduler ran.
    pub fn catch_up(mut self, catch_up: CatchUp) -> Self {
        self.catch_up = catch_up;
        self
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cron expression, as parsed.
    pub fn expression(&self) -> String {
        self.cron.pattern.to_string()
    }

    /// The time zone's IANA name.
    pub fn zone(&self) -> &'static str {
        self.zone.name()
    }

    /// The first tick strictly after `at` (wall-clock milliseconds), if there is one.
    pub fn next_after(&self, at: Millis) -> Option<Millis> {
        let start = self.zone.from_utc_datetime(&to_utc(at)?.naive_utc());
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The latest tick at or before `at`, if there is one.
    pub fn last_at_or_before(&self, at: Millis) -> Option<Millis> {
        let start = self.zone.from_utc_datetime(&to_utc(at)?.naive_utc());
        let previous = self.cron.find_previous_occurrence(&start, true).ok()?;
        u64::try_from(previous.timestamp_millis()).ok()
    }

    /// The idempotency key of the tick at `at`.
    pub fn tick_key(&self, at: Millis) -> String {
        format!("cron:{}:{at}", self.name)
    }

    /// The ticks missed before `now` to enqueue at the start, oldest first.
    fn missed(&self, now: Millis) -> Vec<Millis> {
        let wanted = match self.catch_up {
            CatchUp::Skip => 0,
            CatchUp::Latest => 1,
            CatchUp::Last(n) => n,
        };
        let mut ticks = Vec::with_capacity(wanted.min(64));
        let mut cursor = now;
        while ticks.len() < wanted {
            let Some(tick) = self.last_at_or_before(cursor) else { break };
            ticks.push(tick);
            let Some(before) = tick.checked_sub(1) else { break };
            cursor = before;
        }
        ticks.reverse();
        ticks
    }
}

/// `at` in UTC, cut to its whole second: ticks are whole seconds, and every process must
/// compute the same ones whatever the milliseconds of its clock.
fn to_utc(at: Millis) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(i64::try_from(at / 1_000).ok()?, 0)
}

/// A task that enqueues the ticks of its schedules; see the [module docs](self).
///
/// Dropping it stops the task at once (an enqueue in flight then may or may not happen, and
/// another scheduler, or the next start's catch-up, covers it); [`stop`](Self::stop) lets an
/// enqueue in flight finish.
#[derive(Debug)]
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Scheduler {
    /// Starts enqueueing the ticks of `schedules` into `queue` (on the current runtime),
    /// beginning with the missed ticks each schedule's [`CatchUp`] asks for.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn<P, R, B>(queue: B, schedules: Vec<Schedule<P>>) -> Scheduler
    where
        P: Send + 'static,
        R: Send + 'static,
        B: JobBackend<P, R>,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(queue, schedules, stopped));
        Scheduler { stop, task: Some(task) }
    }

    /// Stops: the enqueue in flight, if any, finishes, and every tick due by now that was not
    /// enqueued yet is (one attempt each); returns once the task has ended.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the task still stops (it was told to).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The scheduler's loop.
async fn run<P, R, B>(queue: B, schedules: Vec<Schedule<P>>, mut stopped: watch::Receiver<bool>)
where
    P: Send + 'static,
    R: Send + 'static,
    B: JobBackend<P, R>,
{
    let start = queue.now();
    // The next tick of each schedule.
    let mut next: Vec<Option<Millis>> = Vec::with_capacity(schedules.len());
    for schedule in &schedules {
        for tick in schedule.missed(start) {
            if !enqueue(&queue, schedule, tick, &mut stopped).await {
                return;
            }
        }
        next.push(schedule.next_after(start));
    }
    loop {
        let Some((index, tick)) =
            next.iter().enumerate().filter_map(|(i, t)| t.map(|t| (i, t))).min_by_key(|&(_, t)| t)
        else {
            // No schedule ticks again.
            let _ = stopped.wait_for(|stop| *stop).await;
            return;
        };
        let wait = Duration::from_millis(tick.saturating_sub(queue.now()));
        let stop = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => true,
            () = tokio::time::sleep(wait) => false,
        };
        if stop {
            // Whatever came due before the stop is enqueued first, once each.
            let now = queue.now();
            for (schedule, next) in schedules.iter().zip(&mut next) {
                while let Some(tick) = next.filter(|&tick| tick <= now) {
                    let payload = (schedule.payload)(Tick { schedule: &schedule.name, at: tick });
                    let options = schedule.options.clone().idempotency_key(schedule.tick_key(tick));
                    if let Err(error) = queue.enqueue(payload, options).await {
                        tracing::warn!(schedule = %schedule.name, tick, %error, "a scheduled job due at the stop could not be enqueued");
                    }
                    *next = schedule.next_after(tick);
                }
            }
            return;
        }
        if queue.now() < tick {
            // Woken early (a clock that moved): wait again.
            continue;
        }
        let schedule = &schedules[index];
        if !enqueue(&queue, schedule, tick, &mut stopped).await {
            return;
        }
        next[index] = schedule.next_after(tick);
    }
}

/// Enqueues the tick at `tick` of `schedule`, retrying until it is durable; false if the
/// scheduler was stopped first.
async fn enqueue<P, R, B>(
    queue: &B,
    schedule: &Schedule<P>,
    tick: Millis,
    stopped: &mut watch::Receiver<bool>,
) -> bool
where
    B: JobBackend<P, R>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        let payload = (schedule.payload)(Tick { schedule: &schedule.name, at: tick });
        let options = schedule.options.clone().idempotency_key(schedule.tick_key(tick));
        match queue.enqueue(payload, options).await {
            Ok(_) => return true,
            Err(error) => {
                tracing::warn!(schedule = %schedule.name, tick, %error, "a scheduled job could not be enqueued; retrying");
            }
        }
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return false,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
