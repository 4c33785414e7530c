//! How the embedded queue stores a job: two entries of one tree, so that a change of state
//! rewrites a few bytes and never the payload. `(id, 0)` holds what never changes (the
//! payload, keys, attempts allowed, creation time); `(id, 1)` holds the state, with the result
//! once there is one. Both are written in one atomic batch at enqueue. A job enqueued with a
//! trace context is stored as [`Entry::TracedJob`], so that untraced jobs pay nothing. That
//! variant changed the tree's recorded schema: a queue written before it ([`EntryV1`]) is
//! migrated once, at open ([`open_tree`]).

use std::sync::Arc;

use actor_core::trace::TraceContext;
use actor_store::{Corruption, StoreError, Tree};
use serde::{Deserialize, Serialize};

use super::state::{Meta, State};
use crate::model::{JobId, JobRecord, JobState, Millis};

/// The key of a job's entry: `(id, PART_JOB)` or `(id, PART_STATE)`.
pub(super) type EntryKey = (u64, u8);
pub(super) const PART_JOB: u8 = 0;
pub(super) const PART_STATE: u8 = 1;

/// One entry of the queue's tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Entry<P, R> {
    Job(Spec<P>),
    State(Progress<R>),
    /// A job with its enqueuer's trace context.
    TracedJob(Spec<P>, TraceContext),
}

/// An entry as the releases before trace contexts wrote it: the same shape, without
/// `TracedJob`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum EntryV1<P, R> {
    Job(Spec<P>),
    State(Progress<R>),
}

impl<P, R> From<EntryV1<P, R>> for Entry<P, R> {
    fn from(old: EntryV1<P, R>) -> Self {
        match old {
            EntryV1::Job(spec) => Entry::Job(spec),
            EntryV1::State(progress) => Entry::State(progress),
        }
    }
}

/// Opens the queue's tree `name`, migrating it first if it was written by a release before
/// trace contexts (one atomic rewrite of the tree, in memory).
pub(super) async fn open_tree<P, R>(
    store: &actor_store::Store,
    name: &str,
) -> Result<JobTree<P, R>, StoreError>
where
    P: Serialize + serde::de::DeserializeOwned,
    R: Serialize + serde::de::DeserializeOwned,
{
    match store.tree(name) {
        Err(StoreError::SchemaMismatch { .. })
            if store.tree::<EntryKey, EntryV1<P, R>>(name).is_ok() =>
        {
            let migrated = store
                .migrate_tree::<EntryKey, EntryV1<P, R>, Entry<P, R>>(name, |_, old| old.into())
                .await?;
            tracing::info!(tree = name, entries = migrated, "migrated a job queue's records");
            store.tree(name)
        }
        other => other,
    }
}

impl<P, R> Entry<P, R> {
    /// The job entry of `spec`, traced or not.
    pub(super) fn job(spec: Spec<P>, trace: Option<TraceContext>) -> Self {
        match trace {
            Some(trace) => Entry::TracedJob(spec, trace),
            None => Entry::Job(spec),
        }
    }

    /// The job and its trace context, if this is a job entry.
    pub(super) fn into_job(self) -> Option<(Spec<P>, Option<TraceContext>)> {
        match self {
            Entry::Job(spec) => Some((spec, None)),
            Entry::TracedJob(spec, trace) => Some((spec, Some(trace))),
            Entry::State(_) => None,
        }
    }
}

/// What never changes about a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Spec<P> {
    pub(super) key: Option<String>,
    pub(super) idempotency_key: Option<String>,
    pub(super) payload: P,
    pub(super) max_attempts: u32,
    pub(super) priority: i16,
    pub(super) group: Option<String>,
    pub(super) created_at: Millis,
}

/// Where a job is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Progress<R> {
    pub(super) state: JobState<R>,
    pub(super) attempt: u32,
    pub(super) updated_at: Millis,
    pub(super) visible_at: Millis,
    pub(super) started_at: Option<Millis>,
}

impl<R> Progress<R> {
    /// The progress entry of `meta` in `state`.
    pub(super) fn of(meta: &Meta, state: JobState<R>) -> Self {
        Progress {
            state,
            attempt: meta.attempt,
            updated_at: meta.updated_at,
            visible_at: meta.visible_at,
            started_at: meta.started_at,
        }
    }
}

/// The queue's tree.
pub(super) type JobTree<P, R> = Tree<EntryKey, Entry<P, R>>;

fn damaged(tree: &JobTree<impl Sized, impl Sized>, id: u64, what: &str) -> StoreError {
    StoreError::Corrupt {
        tree: Arc::from(tree.name()),
        key: Arc::from(format!("job {id}")),
        kind: Corruption::Decode(Arc::from(what.to_owned())),
    }
}

/// The full record of job `id`, read from the tree.
pub(super) fn read<P, R>(
    tree: &JobTree<P, R>,
    id: JobId,
) -> Result<Option<JobRecord<P, R>>, StoreError>
where
    P: Serialize + serde::de::DeserializeOwned,
    R: Serialize + serde::de::DeserializeOwned,
{
    let (spec, trace) = match tree.get(&(id.0, PART_JOB))?.map(Entry::into_job) {
        None => return Ok(None),
        Some(Some(job)) => job,
        Some(None) => return Err(damaged(tree, id.0, "its job entry holds a state")),
    };
    let progress = match tree.get(&(id.0, PART_STATE))? {
        Some(Entry::State(progress)) => progress,
        Some(Entry::Job(_) | Entry::TracedJob(..)) => {
            return Err(damaged(tree, id.0, "its state entry holds a job"));
        }
        None => return Err(damaged(tree, id.0, "it has no state entry")),
    };
    Ok(Some(JobRecord {
        id,
        key: spec.key,
        idempotency_key: spec.idempotency_key,
        payload: spec.payload,
        state: progress.state,
        attempt: progress.attempt,
        max_attempts: spec.max_attempts,
        priority: spec.priority,
        group: spec.group,
        created_at: spec.created_at,
        updated_at: progress.updated_at,
        visible_at: progress.visible_at,
        started_at: progress.started_at,
        trace,
    }))
}

/// Rebuilds the index from the tree. Returns it with the jobs found running, whose process is
/// gone (the caller makes them due again).
pub(super) fn scan<P, R>(
    tree: &JobTree<P, R>,
    aging_ms: u64,
) -> Result<(State, Vec<u64>), StoreError>
where
    P: Serialize + serde::de::DeserializeOwned,
    R: Serialize + serde::de::DeserializeOwned,
{
    let mut st = State { next_id: 1, next_token: 1, aging_ms, ..State::default() };
    let mut interrupted = Vec::new();
    let mut pending: Option<(u64, Spec<()>)> = None;
    for entry in tree.iter() {
        let ((id, part), entry) = entry?;
        match (part, entry) {
            (PART_JOB, Entry::Job(spec) | Entry::TracedJob(spec, _)) => {
                if let Some((orphan, _)) = pending {
                    return Err(damaged(tree, orphan, "it has no state entry"));
                }
                pending = Some((
                    id,
                    Spec {
                        key: spec.key,
                        idempotency_key: spec.idempotency_key,
                        payload: (),
                        max_attempts: spec.max_attempts,
                        priority: spec.priority,
                        group: spec.group,
                        created_at: spec.created_at,
                    },
                ));
            }
            (PART_STATE, Entry::State(progress)) => {
                let Some((spec_id, spec)) = pending.take().filter(|(spec_id, _)| *spec_id == id)
                else {
                    return Err(damaged(tree, id, "it has a state entry but no job entry"));
                };
                let lease = match progress.state {
                    JobState::Running { token, until } => Some((token, until)),
                    _ => None,
                };
                if let Some((token, _)) = lease {
                    st.next_token = st.next_token.max(token + 1);
                    interrupted.push(spec_id);
                }
                let meta = Meta {
                    status: progress.state.status(),
                    key: spec.key,
                    idempotency_key: spec.idempotency_key,
                    visible_at: progress.visible_at,
                    lease,
                    attempt: progress.attempt,
                    max_attempts: spec.max_attempts,
                    priority: spec.priority,
                    group: spec.group,
                    started_at: progress.started_at,
                    updated_at: progress.updated_at,
                    batch: 0,
                };
                st.insert(id, meta);
            }
            _ => return Err(damaged(tree, id, "an entry of the wrong kind")),
        }
    }
    if let Some((orphan, _)) = pending {
        return Err(damaged(tree, orphan, "it has no state entry"));
    }
    Ok((st, interrupted))
}
