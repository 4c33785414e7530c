//! [`ActorControl`]: stop, kill and await any actor without knowing its type; and the per-actor
//! cell behind every reference.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Waker;

use tokio::sync::Notify;

use crate::error::StopReason;

/// A process-unique actor identifier, assigned at spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(u64);

impl ActorId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ActorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The numeric value, as shown in tracing spans.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The run state requested from outside the actor's task; it only ever increases within an
/// incarnation.
pub(crate) const RUNNING: u8 = 0;
/// End the incarnation after the current handler so that a supervisor can restart it in place
/// (a sibling failed under one-for-all or rest-for-one). The mailbox stays open.
pub(crate) const RESTART: u8 = 1;
/// Stop gracefully: close the mailbox, handle what is queued, then stop.
pub(crate) const STOP: u8 = 2;
/// End the incarnation abnormally after the current handler (see `Context::fail`).
pub(crate) const FAIL: u8 = 3;
/// Drop the handler in progress at the task's next poll, then stop without `on_stop`.
pub(crate) const KILL: u8 = 4;

/// Whether an actor in control state `control` accepts new messages: all but a stop or kill.
#[inline]
pub(crate) fn accepting(control: u8) -> bool {
    control != STOP && control != KILL
}

/// State shared by every reference to one actor and by its task. Kept small: every actor has
/// one.
pub(crate) struct ActorCell {
    /// `RUNNING`, `RESTART`, `STOP`, `FAIL` or `KILL`; it only increases within an incarnation.
    /// Read by senders and by the task after every handler (and, for `KILL`, at every poll).
    pub(crate) control: AtomicU8,
    /// Set by a stop or kill from outside the actor: its supervisor must not restart it.
    pub(crate) final_stop: AtomicBool,
    /// Whether the actor may have registry entries to remove when it stops.
    pub(crate) registered: AtomicBool,
    /// A supervised `Restart::Permanent` child: stopping itself starts a new incarnation.
    pub(crate) restart_on_normal_exit: AtomicBool,
    /// How many shared handlers may run at once (fits in what would be padding).
    pub(crate) max_shared: u32,
    pub(crate) id: ActorId,
    pub(crate) name: Cow<'static, str>,
    /// Live `ActorRef`s; the actor is asked to stop when this reaches zero.
    pub(crate) refs: AtomicUsize,
    /// Everything that changes rarely, under one lock.
    slow: Mutex<Slow>,
    /// Woken when the stop reason is published.
    stopped: Notify,
}

#[derive(Default)]
struct Slow {
    /// Set once, after `on_stop` finished and every queued message was answered or dropped.
    reason: Option<StopReason>,
    /// Wakes the task when `control` changes while it waits for mail. The task stores its waker
    /// here only when it changes (for a tokio task: once), so its hot path takes no lock and no
    /// atomic read-modify-write; the rare requester pays for the lock.
    waker: Option<Waker>,
    /// What few actors use, allocated on first use.
    rare: Option<Box<Rare>>,
}

#[derive(Default)]
struct Rare {
    /// The reason recorded with a `FAIL` request (`Context::fail`, a linked actor's failure).
    failure: Option<StopReason>,
    /// Actors that fail when this one stops abnormally.
    links: Vec<Weak<ActorCell>>,
    /// Whether this actor ignores the abnormal exits of the actors linked to it.
    trap_exits: bool,
    /// Set with an interruption by the watchdog: how long the handler had been busy.
    stuck_for: Option<std::time::Duration>,
}

/// Why an actor failed because an actor linked to it stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[error("linked actor `{actor}` stopped: {reason}")]
pub struct LinkedExit {
    /// The linked actor's name.
    pub actor: String,
    /// Why it stopped.
    pub reason: StopReason,
}

/// Links two actors: when either stops abnormally, the other fails too, unless it traps exits.
pub(crate) fn link(a: &Arc<ActorCell>, b: &Arc<ActorCell>) {
    a.slow().rare.get_or_insert_with(Box::default).links.push(Arc::downgrade(b));
    b.slow().rare.get_or_insert_with(Box::default).links.push(Arc::downgrade(a));
}

impl ActorCell {
    pub(crate) fn new(
        name: Option<Cow<'static, str>>,
        type_name: &'static str,
        max_shared: usize,
    ) -> Self {
        ActorCell {
            id: ActorId::next(),
            name: name.unwrap_or(Cow::Borrowed(short_type_name(type_name))),
            control: AtomicU8::new(RUNNING),
            registered: AtomicBool::new(false),
            max_shared: u32::try_from(max_shared).unwrap_or(u32::MAX),
            final_stop: AtomicBool::new(false),
            restart_on_normal_exit: AtomicBool::new(false),
            refs: AtomicUsize::new(0),
            slow: Mutex::new(Slow::default()),
            stopped: Notify::new(),
        }
    }

    fn slow(&self) -> MutexGuard<'_, Slow> {
        // Nothing panics under this lock; stay usable even if something did.
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the task to stop gracefully (`STOP`), to fail (`FAIL`) or to die (`KILL`).
    pub(crate) fn request(&self, state: u8) {
        self.control.fetch_max(state, Ordering::SeqCst);
        // Woken by reference, under the lock: no clone of the waker. A runtime never polls a
        // task inside `wake`, so nothing here can take the lock again.
        if let Some(waker) = &self.slow().waker {
            waker.wake_by_ref();
        }
    }

    /// Whether the actor accepts new messages: not asked to stop. A kill that is not final is
    /// a stuck actor being restarted, which keeps queueing.
    #[inline]
    pub(crate) fn accepting(&self) -> bool {
        let control = self.control.load(Ordering::Acquire);
        accepting(control) || control == KILL && !self.final_stop.load(Ordering::Acquire)
    }

    /// A stop or kill from outside the actor: final, even for a supervised actor.
    pub(crate) fn request_final(&self, state: u8) {
        self.final_stop.store(true, Ordering::SeqCst);
        self.request(state);
    }

    /// After a restart decision: back to `RUNNING` unless a final stop arrived meanwhile.
    pub(crate) fn reset_for_restart(&self) -> bool {
        if self.final_stop.load(Ordering::SeqCst) {
            return false;
        }
        let current = self.control.load(Ordering::SeqCst);
        current == RUNNING
            || (current == FAIL || current == RESTART)
                && self
                    .control
                    .compare_exchange(current, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
    }

    /// Makes sure that a later [`request`](Self::request) wakes the task polling with `cx`, then
    /// returns the current control state. `registered` is the task's memory of what it stored.
    #[inline]
    pub(crate) fn watch(&self, registered: &mut Option<Waker>, cx: &std::task::Context<'_>) -> u8 {
        if !registered.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            let waker = cx.waker().clone();
            self.slow().waker = Some(waker.clone());
            *registered = Some(waker);
        }
        // After the store: a request either sees the stored waker or is seen here (the lock orders
        // a fresh store; an earlier store was already visible to any requester).
        self.control.load(Ordering::SeqCst)
    }

    /// Ends the current incarnation after its handler with `reason`.
    pub(crate) fn fail_with(&self, reason: StopReason) {
        self.slow().rare.get_or_insert_with(Box::default).failure = Some(reason);
        self.request(FAIL);
    }

    /// Drops the handler in progress at the task's next poll and ends the incarnation with
    /// `reason`, a stuck actor busy for `busy_for`; not final, so a supervisor may restart it.
    pub(crate) fn interrupt_stuck(&self, reason: StopReason, busy_for: std::time::Duration) {
        {
            let mut slow = self.slow();
            let rare = slow.rare.get_or_insert_with(Box::default);
            rare.failure = Some(reason);
            rare.stuck_for = Some(busy_for);
        }
        self.request(KILL);
    }

    /// Why the handler in progress is dropped after a `KILL`: a kill, or the watchdog.
    pub(crate) fn take_interrupt_cause(&self) -> crate::DropCause {
        match self.slow().rare.as_mut().and_then(|rare| rare.stuck_for.take()) {
            Some(busy_for) => crate::DropCause::Stuck { busy_for },
            None => crate::DropCause::Interrupted,
        }
    }

    /// After an interruption that is not final: back to `FAIL`, so that the rest of the stop or
    /// restart sequence (`on_stop`) is not interrupted too.
    pub(crate) fn settle_interrupt(&self) {
        if !self.final_stop.load(Ordering::SeqCst) {
            let _ = self.control.compare_exchange(KILL, FAIL, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// The reason recorded with the last `FAIL` request, if any.
    pub(crate) fn take_failure(&self) -> Option<StopReason> {
        self.slow().rare.as_mut().and_then(|rare| rare.failure.take())
    }

    pub(crate) fn set_trap_exits(&self, trap: bool) {
        self.slow().rare.get_or_insert_with(Box::default).trap_exits = trap;
    }

    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.slow().reason.clone()
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.slow().reason.is_none()
    }

    /// Publishes the final reason; the first call wins.
    pub(crate) fn publish(&self, reason: StopReason) {
        let links = {
            let mut slow = self.slow();
            if slow.reason.is_some() {
                return;
            }
            slow.reason = Some(reason.clone());
            // The task is gone: release its waker.
            slow.waker = None;
            slow.rare.as_mut().map(|rare| std::mem::take(&mut rare.links)).unwrap_or_default()
        };
        self.stopped.notify_waiters();
        if reason.is_abnormal() {
            for linked in links.iter().filter_map(Weak::upgrade) {
                let trapped = linked.slow().rare.as_ref().is_some_and(|rare| rare.trap_exits);
                if !trapped && linked.is_alive() {
                    tracing::debug!(actor = %linked.name, linked = %self.name, "failing with a linked actor");
                    linked.fail_with(StopReason::failed(LinkedExit {
                        actor: self.name.to_string(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }

    pub(crate) async fn wait_stopped(&self) -> StopReason {
        // Already stopped: no registration.
        if let Some(reason) = self.stop_reason() {
            return reason;
        }
        loop {
            let notified = self.stopped.notified();
            let mut notified = std::pin::pin!(notified);
            // Register before checking, so a publish between the check and the await is seen.
            notified.as_mut().enable();
            if let Some(reason) = self.stop_reason() {
                return reason;
            }
            notified.await;
        }
    }
}

/// An actor type's kind, for metrics and inspection: its name without path or generics
/// (`Cache<String>` -> `Cache`), so that a generic actor is one kind.
pub(crate) fn kind_of<A>() -> &'static str {
    let name = short_type_name(std::any::type_name::<A>());
    name.find('<').map_or(name, |i| &name[..i])
}

pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    // `my_crate::module::Counter<T>` -> `Counter<T>`: cut at the last `::` before any generics.
    let end = full.find('<').unwrap_or(full.len());
    match full[..end].rfind("::") {
        Some(i) => &full[i + 2..],
        None => full,
    }
}

/// Control over an actor of any type: identity, stop, kill, and waiting for it to stop.
///
/// Unlike an [`ActorRef`](crate::ActorRef), an `ActorControl` does not keep the actor alive.
#[derive(Clone)]
pub struct ActorControl {
    pub(crate) cell: Arc<ActorCell>,
}

impl ActorControl {
    /// The actor's identifier.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The actor's name: the one given at spawn, or its type's name.
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// Asks the actor to stop gracefully: its mailbox closes at once (new messages are refused
    /// with the message handed back), every message already accepted is handled, its children
    /// stop, then `on_stop` runs. Returns at once; use [`stopped`](Self::stopped) to wait.
    pub fn stop(&self) {
        self.cell.request_final(STOP);
    }

    /// Kills the actor at its next await point: the handler in progress is dropped, queued
    /// messages are dropped (their askers get [`AskError::Stopped`](crate::AskError::Stopped)),
    /// background tasks are cancelled, children are killed, and `on_stop` does not run. Returns
    /// at once; use [`stopped`](Self::stopped) to wait. A handler that never reaches an await
    /// point cannot be killed.
    pub fn kill(&self) {
        self.cell.request_final(KILL);
    }

    /// Fails the actor from outside, as if its handler had called
    /// [`Context::fail`](crate::Context::fail): the current incarnation ends after the handler
    /// in progress, with [`StopReason::Failed`]. A supervised actor is then restarted by its
    /// supervisor (this counts against the restart intensity) with its mailbox and references
    /// intact; an unsupervised one stops. This is how an operator or a health check resets an
    /// actor.
    pub fn fail(&self, error: impl Into<crate::BoxError>) {
        self.cell.fail_with(StopReason::failed(error));
    }

    /// Waits until the actor has fully stopped (after `on_stop` finished) and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future has no effect on the actor.
    pub async fn stopped(&self) -> StopReason {
        self.cell.wait_stopped().await
    }

    /// Whether the actor has not yet fully stopped.
    pub fn is_alive(&self) -> bool {
        self.cell.is_alive()
    }

    /// Links this actor with `other`: when either stops abnormally (a panic, a failure, a kill),
    /// the other fails with [`LinkedExit`] after its current handler, unless it traps exits
    /// ([`Context::trap_exits`](crate::Context::trap_exits)). A restart by a supervisor is not a
    /// stop and does not propagate.
    pub fn link(&self, other: &ActorControl) {
        link(&self.cell, &other.cell);
    }

    /// The reason the actor stopped, or `None` while it is alive.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.cell.stop_reason()
    }
}

impl fmt::Debug for ActorControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorControl")
            .field("id", &self.cell.id)
            .field("name", &self.cell.name)
            .finish()
    }
}
