//! The embedded queue's index: everything but payloads and results, in memory, rebuilt from the
//! store at open. Only the engine changes it; readers take the lock briefly.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::model::{JobId, JobStatus, Millis};

/// What the queue knows of one job.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    pub(super) status: JobStatus,
    pub(super) key: Option<String>,
    pub(super) idempotency_key: Option<String>,
    /// When it is (or was) due.
    pub(super) visible_at: Millis,
    /// For a running job: its lease (token, until).
    pub(super) lease: Option<(u64, Millis)>,
    pub(super) attempt: u32,
    pub(super) max_attempts: u32,
    pub(super) priority: i16,
    pub(super) group: Option<String>,
    pub(super) started_at: Option<Millis>,
    pub(super) updated_at: Millis,
    /// The engine batch that last changed it: the change is durable once that batch is.
    pub(super) batch: u64,
}

/// The index.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) next_id: u64,
    pub(super) next_token: u64,
    pub(super) jobs: HashMap<u64, Meta>,
    /// Queued and failed jobs by (visible at, id).
    pub(super) ready: BTreeSet<(Millis, u64)>,
    /// The same jobs by (rank, id): the order they are leased in once due (see
    /// [`rank`](crate::options::rank)).
    pub(super) ranked: BTreeSet<(i64, u64)>,
    /// How much waiting one priority level is worth, in milliseconds.
    pub(super) aging_ms: u64,
    /// The lowest priority of any job so far (at most 0): how far past `now` the ranks of
    /// due jobs can reach.
    pub(super) lowest_priority: i16,
    /// Running jobs of each limit group.
    pub(super) running_by_group: HashMap<String, u64>,
    /// Recent starts, for rate limits: of the whole queue (`None`) and of each group.
    pub(super) starts: HashMap<Option<String>, VecDeque<Millis>>,
    /// Running jobs by (lease end, id).
    pub(super) leased: BTreeSet<(Millis, u64)>,
    /// (status, id) of every job, for listing.
    pub(super) by_status: BTreeSet<(JobStatus, u64)>,
    /// Unfinished jobs of each ordering key.
    pub(super) keys: HashMap<String, BTreeSet<u64>>,
    pub(super) idempotency: HashMap<String, u64>,
    /// Jobs per status, indexed by `JobStatus as usize`.
    pub(super) counts: [u64; 6],
    /// The batch the engine is deciding.
    pub(super) batch: u64,
    /// The last batch known durable.
    pub(super) durable: u64,
}

impl State {
    fn rank(&self, visible_at: Millis, priority: i16) -> i64 {
        crate::options::rank(visible_at, priority, self.aging_ms)
    }

    /// Adds a queued or failed job to the ready indexes.
    fn make_ready(&mut self, id: u64, visible_at: Millis, priority: i16) {
        self.ready.insert((visible_at, id));
        let rank = self.rank(visible_at, priority);
        self.ranked.insert((rank, id));
    }

    /// Removes a job from the ready indexes.
    fn unready(&mut self, id: u64, visible_at: Millis, priority: i16) {
        self.ready.remove(&(visible_at, id));
        let rank = self.rank(visible_at, priority);
        self.ranked.remove(&(rank, id));
    }

    /// Due jobs that may be leased now, in the order they are to be leased: by rank, then id.
    pub(super) fn leasable_now(&self, now: Millis) -> impl Iterator<Item = u64> + '_ {
        // A due job's rank is at most `now` plus the head start a negative priority gives.
        let bound = self.rank(now, self.lowest_priority);
        self.ranked
            .range(..=(bound, u64::MAX))
            .map(|&(_, id)| id)
            .filter(move |id| self.jobs.get(id).is_some_and(|meta| meta.visible_at <= now))
            .filter(|&id| self.leasable(id))
    }

    /// Whether `id` may be leased now that it is due: the oldest unfinished job of its key.
    pub(super) fn leasable(&self, id: u64) -> bool {
        let Some(meta) = self.jobs.get(&id) else { return false };
        meta.key
            .as_ref()
            .is_none_or(|key| self.keys.get(key).and_then(|ids| ids.first()) == Some(&id))
    }

    /// Indexes a job read from disk or just enqueued.
    pub(super) fn insert(&mut self, id: u64, mut meta: Meta) {
        meta.batch = self.batch;
        if let Some(key) = &meta.idempotency_key {
            self.idempotency.insert(key.clone(), id);
        }
        if let Some(key) = &meta.key
            && !meta.status.is_finished()
        {
            self.keys.entry(key.clone()).or_default().insert(id);
        }
        self.by_status.insert((meta.status, id));
        self.counts[meta.status as usize] += 1;
        if meta.status == JobStatus::Running
            && let Some(group) = &meta.group
        {
            *self.running_by_group.entry(group.clone()).or_default() += 1;
        }
        if let Some((_, until)) = meta.lease {
            self.leased.insert((until, id));
        }
        self.lowest_priority = self.lowest_priority.min(meta.priority);
        if matches!(meta.status, JobStatus::Queued | JobStatus::Failed) {
            self.make_ready(id, meta.visible_at, meta.priority);
        }
        self.next_id = self.next_id.max(id + 1);
        self.jobs.insert(id, meta);
    }

    /// Moves `id` to `status`, due at `visible_at` (for queued and failed jobs), holding
    /// `lease` (for running ones), changed at `now`.
    pub(super) fn set_status(
        &mut self,
        id: u64,
        status: JobStatus,
        visible_at: Millis,
        lease: Option<(u64, Millis)>,
        now: Millis,
    ) {
        let batch = self.batch;
        let Some((old_status, old_visible, priority)) =
            self.jobs.get(&id).map(|meta| (meta.status, meta.visible_at, meta.priority))
        else {
            return;
        };
        if (old_status == JobStatus::Running) != (status == JobStatus::Running)
            && let Some(group) = self.jobs.get(&id).and_then(|meta| meta.group.clone())
        {
            let running = self.running_by_group.entry(group.clone()).or_default();
            if status == JobStatus::Running {
                *running += 1;
            } else {
                *running = running.saturating_sub(1);
                if *running == 0 {
                    self.running_by_group.remove(&group);
                }
            }
        }
        if matches!(old_status, JobStatus::Queued | JobStatus::Failed) {
            self.unready(id, old_visible, priority);
        }
        if matches!(status, JobStatus::Queued | JobStatus::Failed) {
            self.make_ready(id, visible_at, priority);
        }
        let Some(meta) = self.jobs.get_mut(&id) else { return };
        self.by_status.remove(&(meta.status, id));
        self.by_status.insert((status, id));
        self.counts[meta.status as usize] -= 1;
        self.counts[status as usize] += 1;
        if let Some((_, until)) = meta.lease.take() {
            self.leased.remove(&(until, id));
        }
        if let Some((_, until)) = lease {
            self.leased.insert((until, id));
        }
        meta.lease = lease;
        let was_finished = meta.status.is_finished();
        meta.status = status;
        meta.visible_at = visible_at;
        meta.updated_at = now;
        meta.batch = batch;
        if let Some(key) = meta.key.clone() {
            if status.is_finished() && !was_finished {
                if let Some(ids) = self.keys.get_mut(&key) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.keys.remove(&key);
                    }
                }
            } else if !status.is_finished() && was_finished {
                self.keys.entry(key).or_default().insert(id);
            }
        }
    }

    /// Starts of `scope` (the queue, or a group) within `window` before `now`; older ones are
    /// forgotten.
    pub(super) fn recent_starts(
        &mut self,
        scope: &Option<String>,
        window: Millis,
        now: Millis,
    ) -> u64 {
        let Some(starts) = self.starts.get_mut(scope) else { return 0 };
        while starts.front().is_some_and(|&at| at.saturating_add(window) <= now) {
            starts.pop_front();
        }
        starts.len() as u64
    }

    /// Records a start of `scope` at `now`.
    pub(super) fn started(&mut self, scope: Option<String>, now: Millis) {
        self.starts.entry(scope).or_default().push_back(now);
    }

    /// Forgets a purged job.
    pub(super) fn remove(&mut self, id: u64) {
        let Some(meta) = self.jobs.remove(&id) else { return };
        self.by_status.remove(&(meta.status, id));
        self.counts[meta.status as usize] -= 1;
        if matches!(meta.status, JobStatus::Queued | JobStatus::Failed) {
            self.unready(id, meta.visible_at, meta.priority);
        }
        if let Some((_, until)) = meta.lease {
            self.leased.remove(&(until, id));
        }
        if let Some(key) = &meta.idempotency_key
            && self.idempotency.get(key) == Some(&id)
        {
            self.idempotency.remove(key);
        }
    }

    /// Due jobs that could be leased now, and the oldest due time among them.
    pub(super) fn due(&self, now: Millis) -> (u64, Option<Millis>) {
        let mut count = 0;
        let mut oldest = None;
        for &(at, id) in self.ready.range(..=(now, u64::MAX)) {
            if self.leasable(id) {
                count += 1;
                oldest.get_or_insert(at);
            }
        }
        (count, oldest)
    }

    /// When the next job may become leasable (a due job, a lease expiring), if any.
    pub(super) fn next_work(&self) -> Option<Millis> {
        let ready = self.ready.iter().find(|(_, id)| self.leasable(*id)).map(|&(at, _)| at);
        let expiry = self.leased.first().map(|&(until, _)| until);
        ready.into_iter().chain(expiry).min()
    }

    /// The job's status, and whether its last change is durable.
    pub(super) fn settled_status(&self, id: JobId) -> Option<(JobStatus, bool)> {
        self.jobs.get(&id.0).map(|meta| (meta.status, meta.batch <= self.durable))
    }

    /// Whether every job is finished and every change durable.
    pub(super) fn idle(&self) -> bool {
        let unfinished = self.counts[JobStatus::Queued as usize]
            + self.counts[JobStatus::Running as usize]
            + self.counts[JobStatus::Failed as usize];
        unfinished == 0 && self.durable >= self.batch
    }
}
