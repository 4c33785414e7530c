//! The conformance suite: every backend (the embedded queue, PostgreSQL) runs the same cases,
//! with tokio's paused time, so lease deadlines and backoffs are checked to the millisecond.
//!
//! The PostgreSQL run needs a server: `ACTOR_PG_URL` (`.ci/run` starts one; locally,
//! `.ci/postgres.sh start` and `export ACTOR_PG_URL=$(.ci/postgres.sh url)`). Without it the
//! run is skipped with a message, except under `CI=true`, where it fails.

mod basics;
mod cancel_safety;
mod features;
mod waits;

use std::future::Future;

use actor_jobs::{EmbeddedQueue, JobBackend, PgOptions, PgQueue, QueueOptions};
use actor_store::Store;

use crate::support::{TempDir, options, postgres_url, unique_name};

/// Runs every case, each on a fresh queue from `open`.
async fn suite<B, F, Fut>(mut open: F)
where
    B: JobBackend<String, u64>,
    F: FnMut(QueueOptions) -> Fut,
    Fut: Future<Output = B>,
{
    basics::lifecycle(open(options()).await).await;
    basics::idempotency(open(options()).await).await;
    basics::lease_deadline(open(options()).await).await;
    basics::dead_letters(open(options()).await).await;
    basics::cancel(open(options()).await).await;
    basics::keys(open(options()).await).await;
    basics::stats_age(open(options()).await).await;
    basics::bulk_enqueue(open(options()).await).await;
    basics::purge_and_retention(open(options()).await).await;
    cancel_safety::dropped_enqueues(open(options()).await).await;
    cancel_safety::dropped_lease(open(options()).await).await;
    cancel_safety::dropped_complete_and_fail(open(options()).await).await;
    cancel_safety::dropped_extend(open(options()).await).await;
    cancel_safety::dropped_cancel_requeue_and_purge(open(options()).await).await;
    features::priorities(open(options()).await).await;
    features::cancel_running(open(options()).await).await;
    features::snooze(open(options()).await).await;
    features::trace_contexts(open(options()).await).await;
    features::group_limits(open(features::group_limit_options(options())).await).await;
    let per_second = actor_jobs::Limit::rate(50, std::time::Duration::from_secs(1));
    features::rate_limit(open(options().limit(per_second)).await).await;
    waits::wait_for_outcomes(open(options()).await).await;
    waits::wait_until_idle(open(options()).await).await;
}

#[tokio::test(start_paused = true)]
async fn the_embedded_backend_passes_the_conformance_suite() {
    let dir = TempDir::new("conformance");
    let store = Store::open(dir.path()).unwrap();
    let mut n = 0;
    suite(|options| {
        n += 1;
        let store = store.clone();
        async move {
            EmbeddedQueue::<String, u64>::open(&store, &format!("q{n}"), options).await.unwrap()
        }
    })
    .await;
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_postgres_backend_passes_the_conformance_suite() {
    let Some(url) = postgres_url() else { return };
    suite(|options| {
        let url = url.clone();
        async move {
            let options = PgOptions::new().queue(options).connections(2);
            PgQueue::<String, u64>::connect(&url, &unique_name("conformance"), options)
                .await
                .unwrap()
        }
    })
    .await;
}
