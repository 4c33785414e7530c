//! Limits across processes on PostgreSQL: three queue handles (each with its own connections,
//! as three processes would have) lease a group limited to 2 concurrently; the database never
//! shows 3 of its jobs running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actor_jobs::{EnqueueOptions, JobBackend, Limit, PgOptions, PgQueue};
use tokio_postgres::NoTls;

use crate::support::{options, postgres_url, unique_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_limited_to_two_never_has_three_running_across_processes() {
    let Some(url) = postgres_url() else { return };
    let name = unique_name("limits");
    let open = || async {
        let queue = options().group_limit("acme", Limit::concurrency(2));
        PgQueue::<String, u64>::connect(&url, &name, PgOptions::new().queue(queue).connections(2))
            .await
            .unwrap()
    };
    let queues = [open().await, open().await, open().await];
    let jobs =
        (0..60).map(|n| (format!("acme {n}"), EnqueueOptions::new().group("acme"))).collect();
    queues[0].enqueue_many(jobs).await.unwrap();
    let (db, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let db = Arc::new(db);
    let (done, most) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for queue in queues {
        let (db, done, most, name) = (db.clone(), done.clone(), most.clone(), name.clone());
        workers.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < 60 {
                let leased = queue.lease(3).await.unwrap();
                let running: i64 = db
                    .query_one(
                        "SELECT count(*) FROM actor_jobs WHERE queue = $1 AND grp = 'acme' AND state = 'running'",
                        &[&name],
                    )
                    .await
                    .unwrap()
                    .get(0);
                most.fetch_max(u64::try_from(running).unwrap(), Ordering::SeqCst);
                if leased.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                for job in leased {
                    queue.complete(job.lease, 0).await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(120), worker).await.unwrap().unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 60);
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 2, "{most} jobs of a group limited to 2 ran at once");
    assert_eq!(most, 2, "the limit was never reached: the test did not test it");
}
