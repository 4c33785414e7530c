//! Recovery at open: the jobs an earlier process was running are due again.

use std::collections::HashMap;

use actor_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Decider, Shared, Writes};
use crate::model::{JobState, JobStatus};

/// Interrupted jobs of an earlier process, made due again at open: decided and written like
/// any other batch, before the queue serves.
pub(in crate::embedded) async fn recover<P, R>(
    shared: &Shared<P, R>,
    interrupted: &[u64],
) -> Result<(), StoreError>
where
    P: Serialize + DeserializeOwned + Clone,
    R: Serialize + DeserializeOwned + Clone,
{
    if interrupted.is_empty() {
        return Ok(());
    }
    let now = shared.clock.now();
    let mut writes = Writes { batch: shared.tree.batch(), any: false, failed: None };
    let mut fresh = HashMap::new();
    {
        let mut st = shared.lock();
        st.batch += 1;
        let mut d = Decider { st: &mut st, shared, writes: &mut writes, fresh: &mut fresh, now };
        for &id in interrupted {
            let Some(meta) = d.st.jobs.get(&id) else { continue };
            let (attempt, max, visible_at) = (meta.attempt, meta.max_attempts, meta.visible_at);
            let error = crate::options::interrupted_message(attempt);
            if attempt >= max {
                d.st.set_status(id, JobStatus::Dead, visible_at, None, now);
                d.progress(id, JobState::Dead { error });
            } else {
                // Its place in the queue is kept: it goes before jobs enqueued after it.
                d.st.set_status(id, JobStatus::Failed, visible_at.min(now), None, now);
                d.progress(id, JobState::Failed { error, retry_at: now });
            }
        }
    }
    if let Some(error) = writes.failed {
        return Err(error);
    }
    shared.tree.apply(writes.batch).await?;
    let mut st = shared.lock();
    st.durable = st.batch;
    tracing::info!(
        queue = shared.tree.name(),
        jobs = interrupted.len(),
        "jobs interrupted by a restart are due again"
    );
    Ok(())
}
