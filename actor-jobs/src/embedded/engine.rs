//! The engine: the one task that changes the embedded queue.
//!
//! Every change is a [`Command`] sent to the engine with a reply slot. The engine takes every
//! command waiting, decides each against the index (under its lock, one after another, so they
//! see each other's effects), writes what they changed as one atomic batch of the store, and
//! answers them only once that batch is durable. The caller only waits for the answer, so a
//! caller that goes away (a dropped future) changes nothing about what happens: a command
//! that reached the engine is carried out entirely. Commands that arrive while a batch is
//! being written wait and share the next one: a busy queue pays one fsync for many changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actor_core::trace::TraceContext;
use actor_store::{Batch, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc, oneshot};

use super::records::{Entry, EntryKey, JobTree, PART_JOB, PART_STATE, Progress, Spec};
use super::state::{Meta, State};

mod limits;
mod recover;
use crate::clock::Clock;
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, JobState, JobStatus, Lease, Leased, Millis};
use crate::options::{EXPIRED, EnqueueOptions, QueueOptions};
pub(super) use recover::recover;

/// Commands decided in one batch, at most.
const MAX_BATCH: usize = 4096;
/// Payloads of queued jobs kept in memory, at most, so that leasing them reads nothing from
/// the store (a job enqueued beyond this is read back when leased).
const CACHED_PAYLOADS: usize = 16_384;
/// Finished jobs purged in one batch, at most.
pub(super) const PURGE_BATCH: usize = 10_000;

type Answer<T> = oneshot::Sender<Result<T, JobError>>;

/// A change asked of the engine.
pub(super) enum Command<P, R> {
    Enqueue(Vec<(P, EnqueueOptions)>, Answer<Vec<JobId>>),
    Lease(usize, Answer<Vec<Leased<P>>>),
    Complete(Lease, R, Answer<()>),
    Fail(Lease, String, Answer<FailOutcome>),
    Extend(Lease, Answer<()>),
    /// Back to the queue, due at this time, without spending an attempt.
    Snooze(Lease, Millis, Answer<()>),
    Cancel(JobId, Answer<()>),
    Requeue(JobId, Answer<()>),
    /// Remove finished jobs last changed at or before this time.
    Purge(Millis, Answer<usize>),
}

/// What the engine and the queue's handles share.
pub(super) struct Shared<P, R> {
    pub(super) tree: JobTree<P, R>,
    pub(super) state: Mutex<State>,
    /// Notified after every durable batch.
    pub(super) changed: Notify,
    pub(super) clock: Clock,
    pub(super) options: QueueOptions,
}

impl<P, R> Shared<P, R> {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writes of one engine batch.
type EntryBatch<P, R> = Batch<EntryKey, Entry<P, R>>;

/// An answer to send once the batch is durable.
type Pending = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

fn later<T: Send + 'static>(answer: Answer<T>, value: T) -> Pending {
    Box::new(move |written| {
        // The caller may have gone away; what it asked for is done either way.
        let _ = answer.send(written.map(|()| value).map_err(JobError::from));
    })
}

/// The engine's loop: runs until every handle of the queue is gone.
pub(super) async fn run<P, R>(
    shared: Arc<Shared<P, R>>,
    mut commands: mpsc::Receiver<Command<P, R>>,
) where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let mut batch_commands = Vec::with_capacity(64);
    // Payloads of jobs enqueued and not leased yet: only this task touches them.
    let mut fresh: Fresh<P> = HashMap::new();
    let mut next_sweep = shared.options.retention.map(|_| tokio::time::Instant::now());
    loop {
        let sweep = async {
            match next_sweep {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = commands.recv_many(&mut batch_commands, MAX_BATCH) => {
                if received == 0 {
                    return;
                }
            }
            () = sweep => {
                if let Some(retention) = shared.options.retention {
                    let (answer, _) = oneshot::channel();
                    let cutoff = shared.clock.now().saturating_sub(crate::clock::duration_ms(retention));
                    batch_commands.push(Command::Purge(cutoff, answer));
                    let every = (retention / 10).clamp(std::time::Duration::from_millis(10), std::time::Duration::from_secs(60));
                    next_sweep = Some(tokio::time::Instant::now() + every);
                }
            }
        }
        let (batch, pending) = decide(&shared, batch_commands.drain(..), &mut fresh);
        let written = match batch {
            Some(batch) => shared.tree.apply(batch).await,
            None => Ok(()),
        };
        if let Err(error) = &written {
            tracing::error!(queue = shared.tree.name(), %error, "a batch of job changes was not written");
        } else {
            let mut st = shared.lock();
            st.durable = st.batch;
        }
        for answer in pending {
            answer(written.clone());
        }
        shared.changed.notify_waiters();
    }
}

/// Payloads (and trace contexts) of jobs enqueued and not leased yet, by id.
type Fresh<P> = HashMap<u64, (P, Option<TraceContext>)>;

/// Decides `commands` one after another; returns the writes (if any) and the answers to send
/// once they are durable. Errors that need no write are answered at once.
fn decide<P, R>(
    shared: &Shared<P, R>,
    commands: impl Iterator<Item = Command<P, R>>,
    fresh: &mut Fresh<P>,
) -> (Option<EntryBatch<P, R>>, Vec<Pending>)
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let now = shared.clock.now();
    let mut writes = Writes { batch: shared.tree.batch(), any: false, failed: None };
    let mut pending: Vec<Pending> = Vec::new();
    let failure = shared.tree.store().failure();
    let mut st = shared.lock();
    st.batch += 1;
    for command in commands {
        if let Some(error) = &failure {
            refuse(command, error);
            continue;
        }
        let mut d = Decider { st: &mut st, shared, writes: &mut writes, fresh: &mut *fresh, now };
        match command {
            Command::Enqueue(jobs, answer) => {
                let ids: Result<Vec<JobId>, JobError> = jobs
                    .into_iter()
                    .map(|(payload, options)| d.enqueue(payload, options))
                    .collect();
                match ids {
                    Ok(ids) => pending.push(later(answer, ids)),
                    // The jobs before the one that could not be encoded are enqueued, and
                    // durable with this batch; the caller learns of the failure.
                    Err(error) => drop(answer.send(Err(error))),
                }
            }
            Command::Lease(max, answer) => {
                d.reclaim_expired();
                let leased = d.lease(max);
                pending.push(later(answer, leased));
            }
            Command::Complete(lease, result, answer) => {
                match d.running(lease).and_then(|()| d.complete(lease.id.0, result)) {
                    Ok(()) => pending.push(later(answer, ())),
                    Err(error) => drop(answer.send(Err(error))),
                }
            }
            Command::Fail(lease, error, answer) => match d.running(lease) {
                Ok(()) => {
                    let outcome = d.fail(lease.id.0, error);
                    pending.push(later(answer, outcome));
                }
                Err(error) => drop(answer.send(Err(error))),
            },
            Command::Extend(lease, answer) => match d.running(lease) {
                Ok(()) => {
                    d.extend(lease);
                    pending.push(later(answer, ()));
                }
                Err(error) => drop(answer.send(Err(error))),
            },
            Command::Snooze(lease, until, answer) => match d.running(lease) {
                Ok(()) => {
                    d.snooze(lease.id.0, until);
                    pending.push(later(answer, ()));
                }
                Err(error) => drop(answer.send(Err(error))),
            },
            Command::Cancel(id, answer) => {
                let from = [JobStatus::Queued, JobStatus::Failed, JobStatus::Running];
                match d.idle_change(id, "cancel", &from) {
                    Ok(()) => {
                        d.finish(id.0, JobState::Cancelled);
                        pending.push(later(answer, ()));
                    }
                    Err(error) => drop(answer.send(Err(error))),
                }
            }
            Command::Requeue(id, answer) => {
                match d.idle_change(id, "requeue", &[JobStatus::Dead, JobStatus::Cancelled]) {
                    Ok(()) => {
                        d.requeue(id.0);
                        pending.push(later(answer, ()));
                    }
                    Err(error) => drop(answer.send(Err(error))),
                }
            }
            Command::Purge(cutoff, answer) => {
                let removed = d.purge(cutoff);
                pending.push(later(answer, removed));
            }
        }
    }
    drop(st);
    if let Some(error) = writes.failed {
        // A record could not be encoded: nothing of this batch is written.
        let error = Err(error);
        for answer in pending.drain(..) {
            answer(error.clone());
        }
        return (None, Vec::new());
    }
    (writes.any.then_some(writes.batch), pending)
}

/// Answers a command with the store's failure.
fn refuse<P, R>(command: Command<P, R>, error: &StoreError) {
    fn send<T>(answer: Answer<T>, error: &StoreError) {
        let _ = answer.send(Err(JobError::Store(error.clone())));
    }
    match command {
        Command::Enqueue(_, answer) => send(answer, error),
        Command::Lease(_, answer) => send(answer, error),
        Command::Complete(_, _, answer)
        | Command::Extend(_, answer)
        | Command::Snooze(_, _, answer)
        | Command::Cancel(_, answer)
        | Command::Requeue(_, answer) => send(answer, error),
        Command::Fail(_, _, answer) => send(answer, error),
        Command::Purge(_, answer) => send(answer, error),
    }
}

/// The writes of a batch.
struct Writes<P, R> {
    batch: EntryBatch<P, R>,
    any: bool,
    failed: Option<StoreError>,
}

impl<P: Serialize, R: Serialize> Writes<P, R> {
    /// Adds a write; a value that cannot be encoded adds nothing and is an error.
    fn try_put(&mut self, key: EntryKey, entry: &Entry<P, R>) -> Result<(), StoreError> {
        self.batch.insert(&key, entry)?;
        self.any = true;
        Ok(())
    }

    /// Adds a write whose encoding cannot fail (it holds no payload or result); if it does
    /// all the same, the whole batch is refused.
    fn put(&mut self, key: EntryKey, entry: &Entry<P, R>) {
        if let Err(error) = self.try_put(key, entry) {
            self.failed.get_or_insert(error);
        }
    }

    fn remove(&mut self, key: EntryKey) {
        self.batch.remove(&key);
        self.any = true;
    }
}

/// Decides one command against the index, adding its writes to the batch.
struct Decider<'a, P, R> {
    st: &'a mut State,
    shared: &'a Shared<P, R>,
    writes: &'a mut Writes<P, R>,
    /// Payloads of the jobs enqueued in this batch: not in the store until it is written.
    fresh: &'a mut Fresh<P>,
    now: Millis,
}

impl<P, R> Decider<'_, P, R>
where
    P: Serialize + DeserializeOwned + Clone,
    R: Serialize + DeserializeOwned + Clone,
{
    fn progress(&mut self, id: u64, state: JobState<R>) {
        let Some(meta) = self.st.jobs.get(&id) else { return };
        let progress = Progress::of(meta, state);
        self.writes.put((id, PART_STATE), &Entry::State(progress));
    }

    fn enqueue(&mut self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        if let Some(&id) = options.idempotency_key.as_ref().and_then(|k| self.st.idempotency.get(k))
        {
            return Ok(JobId(id));
        }
        let id = self.st.next_id;
        let retry = &self.shared.options.retry;
        let meta = Meta {
            status: JobStatus::Queued,
            key: options.key.clone(),
            idempotency_key: options.idempotency_key.clone(),
            visible_at: options.visible_from(self.now),
            lease: None,
            attempt: 0,
            max_attempts: options.attempts_under(retry),
            priority: options.priority,
            group: options.group.clone(),
            started_at: None,
            updated_at: self.now,
            batch: 0,
        };
        let spec = Spec {
            key: options.key,
            idempotency_key: options.idempotency_key,
            payload: payload.clone(),
            max_attempts: meta.max_attempts,
            priority: meta.priority,
            group: options.group,
            created_at: self.now,
        };
        let trace = options.trace;
        // The payload is encoded before anything changes: if it cannot be, nothing has.
        self.writes.try_put((id, PART_JOB), &Entry::job(spec, trace.clone()))?;
        if self.fresh.len() < CACHED_PAYLOADS {
            self.fresh.insert(id, (payload, trace));
        }
        self.st.insert(id, meta);
        self.progress(id, JobState::Queued);
        Ok(JobId(id))
    }

    /// Completes running job `id` with `result`, encoded before anything changes.
    fn complete(&mut self, id: u64, result: R) -> Result<(), JobError> {
        let Some(meta) = self.st.jobs.get(&id) else { return Err(JobError::NotFound(JobId(id))) };
        let progress = Progress {
            state: JobState::Succeeded { result },
            attempt: meta.attempt,
            updated_at: self.now,
            visible_at: meta.visible_at,
            started_at: meta.started_at,
        };
        self.writes.try_put((id, PART_STATE), &Entry::State(progress))?;
        let visible_at = meta.visible_at;
        self.st.set_status(id, JobStatus::Succeeded, visible_at, None, self.now);
        Ok(())
    }

    /// Takes back every expired lease: its job is due again, or dead at its last attempt.
    fn reclaim_expired(&mut self) {
        let expired: Vec<u64> =
            self.st.leased.range(..=(self.now, u64::MAX)).map(|&(_, id)| id).collect();
        for id in expired {
            let Some(meta) = self.st.jobs.get(&id) else { continue };
            let (attempt, max, visible_at) = (meta.attempt, meta.max_attempts, meta.visible_at);
            tracing::warn!(queue = self.shared.tree.name(), id, attempt, "lease expired");
            let error = EXPIRED.to_owned();
            // Due at once, in its old place in the queue.
            let due = visible_at.min(self.now);
            if attempt >= max {
                self.st.set_status(id, JobStatus::Dead, due, None, self.now);
                self.progress(id, JobState::Dead { error });
            } else {
                self.st.set_status(id, JobStatus::Failed, due, None, self.now);
                self.progress(id, JobState::Failed { error, retry_at: self.now });
            }
        }
    }

    fn lease(&mut self, max: usize) -> Vec<Leased<P>> {
        let picked: Vec<u64> = if self.shared.options.limits.is_empty() {
            self.st.leasable_now(self.now).take(max).collect()
        } else {
            self.pick_within_limits(max)
        };
        let until = self.shared.options.lease_until(self.now);
        let mut leased = Vec::with_capacity(picked.len());
        for id in picked {
            let stored = match self.fresh.remove(&id) {
                Some(fresh) => Ok(Some(fresh)),
                None => self.shared.tree.get(&(id, PART_JOB)).map(|entry| {
                    entry.and_then(Entry::into_job).map(|(spec, trace)| (spec.payload, trace))
                }),
            };
            let (payload, trace) = match stored {
                Ok(Some(job)) => job,
                other => {
                    // A payload that cannot be read can never run: dead, and said so.
                    let why = match other {
                        Err(error) => error.to_string(),
                        _ => "its payload entry is missing".to_owned(),
                    };
                    tracing::error!(queue = self.shared.tree.name(), id, %why, "job payload damaged");
                    self.st.set_status(id, JobStatus::Dead, self.now, None, self.now);
                    self.progress(
                        id,
                        JobState::Dead { error: format!("its stored payload is damaged: {why}") },
                    );
                    continue;
                }
            };
            let token = self.st.next_token;
            self.st.next_token += 1;
            let Some(meta) = self.st.jobs.get_mut(&id) else { continue };
            meta.attempt += 1;
            meta.started_at = Some(self.now);
            let (attempt, key, idempotency_key, visible_at) =
                (meta.attempt, meta.key.clone(), meta.idempotency_key.clone(), meta.visible_at);
            self.st.set_status(id, JobStatus::Running, visible_at, Some((token, until)), self.now);
            self.progress(id, JobState::Running { token, until });
            leased.push(Leased {
                id: JobId(id),
                key,
                idempotency_key,
                payload,
                attempt,
                lease: Lease { id: JobId(id), token },
                trace,
            });
        }
        leased
    }

    /// Whether `lease` is the current, unexpired lease of its job.
    fn running(&self, lease: Lease) -> Result<(), JobError> {
        let meta = self.st.jobs.get(&lease.id.0).ok_or(JobError::NotFound(lease.id))?;
        match meta.lease {
            Some((token, until)) if token == lease.token && until > self.now => Ok(()),
            // Cancelled during this attempt (a later attempt would have another token).
            None if meta.status == JobStatus::Cancelled && meta.started_at.is_some() => {
                Err(JobError::Cancelled(lease.id))
            }
            _ => Err(JobError::LeaseLost(lease.id)),
        }
    }

    /// Ends job `id` in a finished state.
    fn finish(&mut self, id: u64, state: JobState<R>) {
        self.fresh.remove(&id);
        let Some(visible_at) = self.st.jobs.get(&id).map(|meta| meta.visible_at) else { return };
        self.st.set_status(id, state.status(), visible_at, None, self.now);
        self.progress(id, state);
    }

    fn fail(&mut self, id: u64, error: String) -> FailOutcome {
        let Some(meta) = self.st.jobs.get(&id) else { return FailOutcome::Dead };
        let retry = self.shared.options.retry;
        match retry.retry_at(meta.attempt, meta.max_attempts, self.now) {
            Some(at) => {
                self.st.set_status(id, JobStatus::Failed, at, None, self.now);
                self.progress(id, JobState::Failed { error, retry_at: at });
                FailOutcome::Retrying { at }
            }
            None => {
                let visible_at = meta.visible_at;
                self.st.set_status(id, JobStatus::Dead, visible_at, None, self.now);
                self.progress(id, JobState::Dead { error });
                FailOutcome::Dead
            }
        }
    }

    fn extend(&mut self, lease: Lease) {
        let until = self.shared.options.lease_until(self.now);
        let Some(visible_at) = self.st.jobs.get(&lease.id.0).map(|meta| meta.visible_at) else {
            return;
        };
        self.st.set_status(
            lease.id.0,
            JobStatus::Running,
            visible_at,
            Some((lease.token, until)),
            self.now,
        );
        self.progress(lease.id.0, JobState::Running { token: lease.token, until });
    }

    /// Whether job `id` is in one of `from`, for `operation`.
    fn idle_change(
        &self,
        id: JobId,
        operation: &'static str,
        from: &[JobStatus],
    ) -> Result<(), JobError> {
        let meta = self.st.jobs.get(&id.0).ok_or(JobError::NotFound(id))?;
        if from.contains(&meta.status) {
            Ok(())
        } else {
            Err(JobError::InvalidState { id, status: meta.status, operation })
        }
    }

    /// Puts running job `id` back, due at `until`, its attempt not spent.
    fn snooze(&mut self, id: u64, until: Millis) {
        if let Some(meta) = self.st.jobs.get_mut(&id) {
            meta.attempt = meta.attempt.saturating_sub(1);
        }
        self.st.set_status(id, JobStatus::Queued, until, None, self.now);
        self.progress(id, JobState::Queued);
    }

    fn requeue(&mut self, id: u64) {
        if let Some(meta) = self.st.jobs.get_mut(&id) {
            meta.attempt = 0;
        }
        self.st.set_status(id, JobStatus::Queued, self.now, None, self.now);
        self.progress(id, JobState::Queued);
    }

    fn purge(&mut self, cutoff: Millis) -> usize {
        // The newest job stays: ids continue after it when the queue is reopened.
        let newest = self.st.next_id.saturating_sub(1);
        let removable: Vec<u64> = [JobStatus::Succeeded, JobStatus::Dead, JobStatus::Cancelled]
            .into_iter()
            .flat_map(|status| {
                self.st.by_status.range((status, 0)..=(status, u64::MAX)).map(|&(_, id)| id)
            })
            .filter(|&id| {
                id != newest && self.st.jobs.get(&id).is_some_and(|m| m.updated_at <= cutoff)
            })
            .take(PURGE_BATCH)
            .collect();
        for &id in &removable {
            self.st.remove(id);
            self.writes.remove((id, PART_JOB));
            self.writes.remove((id, PART_STATE));
        }
        removable.len()
    }
}
