//! [`EmbeddedQueue`]: the job queue in an actor-store database (feature `embedded`).
//!
//! No broker: the jobs are entries of one tree of the store, and every change is durable, in
//! the store's group commit, before the call that made it returns. One task per queue, the
//! engine, makes every change: callers send it a command and wait for its answer, so a caller
//! that goes away changes nothing about the outcome (see [`JobBackend`]'s cancel safety).
//! Changes that arrive together are decided together and written as one batch: with many
//! workers, a job costs a small fraction of an fsync.
//!
//! Only one process opens a store, so at open every job found running belonged to a process
//! that is gone: it is due again at once (or dead, at its last attempt), in its old place.

mod engine;
mod records;
mod state;

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use actor_store::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use self::engine::{Command, Shared};
use crate::backend::JobBackend;
use crate::clock::{Clock, duration_ms};
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, JobRecord, JobStatus, Lease, Leased, Millis, QueueStats};
use crate::options::{EnqueueOptions, QueueOptions};

/// How many commands may wait for the engine before callers wait for room.
const COMMANDS: usize = 1024;

/// A durable job queue in an actor-store database; see the [module docs](self) and
/// [`JobBackend`] for its operations. Cheap to clone: clones share the queue. The queue's
/// engine stops when the last clone is dropped.
///
/// ```
/// use actor_jobs::{EmbeddedQueue, EnqueueOptions, JobBackend, JobState, QueueOptions};
/// use actor_store::Store;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("actor-jobs-doc-embedded-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = Store::open(&dir)?;
/// let queue = EmbeddedQueue::<String, usize>::open(&store, "index", QueueOptions::new()).await?;
/// let id = queue.enqueue("to be or not to be".to_owned(), EnqueueOptions::new()).await?;
///
/// let leased = queue.lease(1).await?;
/// let words = leased[0].payload.split_whitespace().count();
/// queue.complete(leased[0].lease, words).await?;
///
/// let done = queue.wait_for(id).await?;
/// assert_eq!(done.state, JobState::Succeeded { result: 6 });
/// # queue.close().await; store.close().await?; std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct EmbeddedQueue<P, R> {
    inner: Arc<Handle<P, R>>,
}

/// What the queue's clones share: the engine's mailbox, and what readers read.
struct Handle<P, R> {
    commands: mpsc::Sender<Command<P, R>>,
    shared: Arc<Shared<P, R>>,
    engine: tokio::task::JoinHandle<()>,
}

impl<P, R> Clone for EmbeddedQueue<P, R> {
    fn clone(&self) -> Self {
        EmbeddedQueue { inner: Arc::clone(&self.inner) }
    }
}

impl<P, R> fmt::Debug for EmbeddedQueue<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedQueue")
            .field("tree", &self.inner.shared.tree.name())
            .finish_non_exhaustive()
    }
}

impl<P, R> EmbeddedQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Opens the queue `name` in `store` (tree `jobs/<name>`), creating it if needed, and starts
    /// its engine on the current tokio runtime.
    ///
    /// Jobs found running were leased by a process that is gone: each becomes due at once,
    /// or dead if that was its last attempt. This writes to the store, so `open` is `async`.
    ///
    /// # Errors
    ///
    /// [`JobError::Store`] with [`StoreError::Corrupt`](actor_store::StoreError::Corrupt) if a
    /// record is damaged, [`StoreError::SchemaMismatch`](actor_store::StoreError::SchemaMismatch)
    /// if the queue was created with other payload or result types, or any store error.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the queue is not opened; jobs made due again stay so, and a
    /// queue of an older release is migrated whole or not at all.
    pub async fn open(store: &Store, name: &str, options: QueueOptions) -> Result<Self, JobError> {
        let tree = records::open_tree(store, &format!("jobs/{name}")).await?;
        let (state, interrupted) = records::scan(&tree, options.aging_ms())?;
        let shared = Arc::new(Shared {
            tree,
            state: std::sync::Mutex::new(state),
            changed: tokio::sync::Notify::new(),
            clock: Clock::start(),
            options,
        });
        engine::recover(&shared, &interrupted).await?;
        let (commands, receiver) = mpsc::channel(COMMANDS);
        let engine = tokio::spawn(engine::run(Arc::clone(&shared), receiver));
        Ok(EmbeddedQueue { inner: Arc::new(Handle { commands, shared, engine }) })
    }

    /// The queue's tree in the store.
    pub fn tree_name(&self) -> &str {
        self.inner.shared.tree.name()
    }

    /// Sends a command and waits for its answer.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, JobError>>) -> Command<P, R>,
    ) -> Result<T, JobError> {
        let (answer, answered) = oneshot::channel();
        self.inner.commands.send(command(answer)).await.map_err(|_| JobError::Closed)?;
        answered.await.map_err(|_| JobError::Closed)?
    }

    /// Waits until `ready` holds for the index, checking after every durable batch. The waiter
    /// is registered before each check, so a change in between is not missed.
    async fn wait_until<T>(&self, mut ready: impl FnMut(&state::State) -> Option<T>) -> T {
        let shared = &self.inner.shared;
        loop {
            let mut notified = pin!(shared.changed.notified());
            notified.as_mut().enable();
            if let Some(value) = ready(&shared.lock()) {
                return value;
            }
            notified.await;
        }
    }
}

impl<P, R> JobBackend<P, R> for EmbeddedQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn enqueue(&self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        let options = options.with_caller_trace();
        let ids = self.ask(|answer| Command::Enqueue(vec![(payload, options)], answer)).await?;
        ids.into_iter().next().ok_or(JobError::Closed)
    }

    async fn enqueue_many(&self, jobs: Vec<(P, EnqueueOptions)>) -> Result<Vec<JobId>, JobError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let jobs =
            jobs.into_iter().map(|(payload, options)| (payload, options.with_caller_trace()));
        let jobs = jobs.collect();
        self.ask(|answer| Command::Enqueue(jobs, answer)).await
    }

    async fn lease(&self, max: usize) -> Result<Vec<Leased<P>>, JobError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.ask(|answer| Command::Lease(max, answer)).await
    }

    async fn complete(&self, lease: Lease, result: R) -> Result<(), JobError> {
        self.ask(|answer| Command::Complete(lease, result, answer)).await
    }

    async fn fail(&self, lease: Lease, error: String) -> Result<FailOutcome, JobError> {
        self.ask(|answer| Command::Fail(lease, error, answer)).await
    }

    async fn extend(&self, lease: Lease) -> Result<(), JobError> {
        self.ask(|answer| Command::Extend(lease, answer)).await
    }

    async fn cancel(&self, id: JobId) -> Result<(), JobError> {
        self.ask(|answer| Command::Cancel(id, answer)).await
    }

    async fn requeue(&self, id: JobId) -> Result<(), JobError> {
        self.ask(|answer| Command::Requeue(id, answer)).await
    }

    async fn cancelled(&self, id: JobId) -> Result<(), JobError> {
        let shared = &self.inner.shared;
        loop {
            // Registered before the check: a cancel made durable after it wakes this waiter.
            let notified = shared.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            match shared.lock().settled_status(id) {
                Some((JobStatus::Cancelled, true)) => return Ok(()),
                Some(_) => {}
                None => return Err(JobError::NotFound(id)),
            }
            notified.await;
        }
    }

    async fn snooze(&self, lease: Lease, delay: Duration) -> Result<(), JobError> {
        let until = self.now().saturating_add(duration_ms(delay));
        self.ask(|answer| Command::Snooze(lease, until, answer)).await
    }

    async fn purge(&self, age: Duration) -> Result<usize, JobError> {
        let cutoff = self.now().saturating_sub(duration_ms(age));
        let mut total = 0;
        loop {
            let removed = self.ask(|answer| Command::Purge(cutoff, answer)).await?;
            total += removed;
            if removed < engine::PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    async fn status(&self, id: JobId) -> Result<Option<JobRecord<P, R>>, JobError> {
        Ok(records::read(&self.inner.shared.tree, id)?)
    }

    async fn list(&self, status: JobStatus, limit: usize) -> Result<Vec<JobId>, JobError> {
        let st = self.inner.shared.lock();
        Ok(st
            .by_status
            .range((status, 0)..=(status, u64::MAX))
            .take(limit)
            .map(|&(_, id)| JobId(id))
            .collect())
    }

    async fn recent(&self, status: JobStatus, limit: usize) -> Result<Vec<JobId>, JobError> {
        let st = self.inner.shared.lock();
        Ok(st
            .by_status
            .range((status, 0)..=(status, u64::MAX))
            .rev()
            .take(limit)
            .map(|&(_, id)| JobId(id))
            .collect())
    }

    async fn stats(&self) -> Result<QueueStats, JobError> {
        let now = self.now();
        let st = self.inner.shared.lock();
        let count = |status: JobStatus| st.counts[status as usize];
        let (due, oldest) = st.due(now);
        Ok(QueueStats {
            queued: count(JobStatus::Queued),
            running: count(JobStatus::Running),
            succeeded: count(JobStatus::Succeeded),
            failed: count(JobStatus::Failed),
            dead: count(JobStatus::Dead),
            cancelled: count(JobStatus::Cancelled),
            due,
            oldest_due_ms: oldest.map_or(0, |at| now.saturating_sub(at)),
        })
    }

    async fn wait_for(&self, id: JobId) -> Result<JobRecord<P, R>, JobError> {
        let found = self
            .wait_until(|st| match st.settled_status(id) {
                None => Some(false),
                Some((status, durable)) => (status.is_finished() && durable).then_some(true),
            })
            .await;
        if !found {
            return Err(JobError::NotFound(id));
        }
        self.status(id).await?.ok_or(JobError::NotFound(id))
    }

    async fn wait_idle(&self) -> Result<(), JobError> {
        self.wait_until(|st| st.idle().then_some(())).await;
        Ok(())
    }

    async fn wait_for_work(&self) -> Result<(), JobError> {
        let shared = &self.inner.shared;
        let notified = shared.changed.notified();
        let mut notified = pin!(notified);
        notified.as_mut().enable();
        let next = shared.lock().next_work();
        match next {
            Some(at) if at <= self.now() => {}
            Some(at) => {
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep(shared.clock.until(at)) => {}
                }
            }
            None => notified.await,
        }
        Ok(())
    }

    async fn close(self) {
        if let Ok(handle) = Arc::try_unwrap(self.inner) {
            let Handle { commands, shared, engine } = handle;
            drop((commands, shared));
            if let Err(error) = engine.await {
                tracing::error!(%error, "the job queue's engine failed");
            }
        }
    }

    fn now(&self) -> Millis {
        self.inner.shared.clock.now()
    }

    fn options(&self) -> &QueueOptions {
        &self.inner.shared.options
    }
}
