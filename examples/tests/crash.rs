//! The crash tests, small: kill a writing child process (`crash_child`) with `SIGKILL` 5 times
//! and check every acknowledged write after each kill; kill a process running durable jobs 5
//! times and check that no job is lost and no effect is missing; drive the job service over
//! HTTP on loopback.

use std::path::Path;

#[test]
fn sigkill_never_loses_an_acknowledged_write() {
    let child = Path::new(env!("CARGO_BIN_EXE_crash_child"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let report = examples::crash::parent(child, 5, seed)
        .unwrap_or_else(|e| panic!("crash run failed (seed {seed}): {e}"));
    assert_eq!(report.kills, 5);
    assert_eq!(report.lost, 0, "seed {seed}: {report}");
    assert!(report.acknowledged > 0, "seed {seed}: nothing was acknowledged: {report}");
}

#[test]
fn sigkilled_job_workers_lose_no_job_and_repeat_no_effect_after_deduplication() {
    let child = Path::new(env!("CARGO_BIN_EXE_crash_child"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let report = examples::crash_jobs::parent(child, 500, 5, seed)
        .unwrap_or_else(|e| panic!("crash run failed (seed {seed}): {e}"));
    assert_eq!((report.kills, report.jobs), (5, 500));
    assert_eq!(report.lost, 0, "seed {seed}: {report}");
    assert_eq!(report.missing_effects, 0, "seed {seed}: {report}");
    assert!(report.effects >= 500, "seed {seed}: {report}");
    assert_eq!(
        report.poison,
        (actor_store::JobStatus::Dead, examples::crash_jobs::POISON_ATTEMPTS),
        "seed {seed}: {report}"
    );
}

/// The job service over real HTTP on loopback: enqueue, idempotency, polling, errors, stats.
#[test]
fn the_job_service_answers_over_http_and_finishes_every_job() {
    use examples::job_service::{Service, client};
    use hyper::{Method, StatusCode};
    use serde_json::Value;

    let dir =
        std::env::temp_dir().join(format!("actor-rs-job_service-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let service = Service::open(&dir, 2).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = service.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        let call = |method: Method, path: String, body: Option<String>, key: Option<String>| async move {
            let (status, body) =
                client::request(addr, method, &path, body, key.as_deref()).await.unwrap();
            (status, serde_json::from_str::<Value>(&body).unwrap_or(Value::Null))
        };
        let doc = |text: &str| Some(format!(r#"{{"text":"{text}","work_ms":5}}"#));

        let mut ids = Vec::new();
        for n in 0..20 {
            let text = if n == 3 { "a flaky one".to_owned() } else { format!("w{n} x y") };
            let (status, answer) =
                call(Method::POST, "/jobs".into(), doc(&text), Some(format!("req-{n}"))).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
            ids.push(answer["id"].as_u64().unwrap());
        }
        // The same idempotency key: the same job.
        let (_, again) = call(Method::POST, "/jobs".into(), doc("w0 x y"), Some("req-0".into())).await;
        assert_eq!(again["id"].as_u64(), Some(ids[0]));
        // Bad input is refused with a client error, never a job.
        let (status, _) = call(Method::POST, "/jobs".into(), Some("{not json".into()), None).await;
        assert!(status.is_client_error(), "{status}");
        let (status, _) = call(Method::GET, "/jobs/424242".into(), None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(Method::GET, "/jobs?status=bogus".into(), None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        for id in &ids {
            loop {
                let change = service.queue().wait_for_change();
                let (status, job) = call(Method::GET, format!("/jobs/{id}"), None, None).await;
                assert_eq!(status, StatusCode::OK);
                if job["status"] == "succeeded" {
                    assert_eq!(job["result"]["words"].as_u64(), Some(3), "{job}");
                    break;
                }
                assert!(matches!(job["status"].as_str(), Some("queued" | "running" | "failed")), "{job}");
                change.await;
            }
        }
        let (_, flaky) = call(Method::GET, format!("/jobs/{}", ids[3]), None, None).await;
        assert_eq!(flaky["attempt"].as_u64(), Some(2), "the flaky document failed once: {flaky}");
        let (status, _) = call(Method::DELETE, format!("/jobs/{}", ids[0]), None, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "a finished job cannot be cancelled");
        let (_, listed) = call(Method::GET, "/jobs?status=succeeded&limit=100".into(), None, None).await;
        assert_eq!(listed["ids"].as_array().map(Vec::len), Some(20));
        let (_, stats) = call(Method::GET, "/stats".into(), None, None).await;
        assert_eq!(stats["queue"]["succeeded"].as_u64(), Some(20), "{stats}");
        assert_eq!(stats["queue"]["queued"].as_u64(), Some(0), "{stats}");

        let _ = stop.send(());
        server.await.unwrap().unwrap();
        service.shutdown().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The PostgreSQL server for tests, or `None` (skipped, with a message) outside CI.
fn postgres_url() -> Option<String> {
    match std::env::var("ACTOR_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but ACTOR_PG_URL is not set: .ci/run must start PostgreSQL")
        }
        _ => {
            eprintln!(
                "SKIPPED: no PostgreSQL server (set ACTOR_PG_URL; `.ci/postgres.sh start` starts one)"
            );
            None
        }
    }
}

/// Worker processes on PostgreSQL killed at chosen moments, one paused past its lease, a job
/// that always fails and one that aborts its process; then the server itself is killed.
#[test]
fn postgres_workers_killed_at_chosen_moments_lose_nothing() {
    let Some(url) = postgres_url() else { return };
    let child = Path::new(env!("CARGO_BIN_EXE_crash_child"));
    let report = examples::pg_jobs::run(child, &url).unwrap();
    eprintln!("{report}");
    assert!(report.problems.is_empty(), "{report}: {:#?}", report.problems);
    assert_eq!(report.succeeded, examples::pg_jobs::JOBS);
    assert_eq!(report.kills, 3);
    assert!(report.processes >= 6, "{report}: replacements were started");

    match std::env::var("ACTOR_PG_CONTROL") {
        Ok(control) => {
            let (acknowledged, lost) = examples::pg_jobs::kill_server(&url, &control).unwrap();
            eprintln!("server killed and restarted: acknowledged={acknowledged} lost={lost}");
            assert!(acknowledged > 50, "{acknowledged} enqueues acknowledged");
            assert_eq!(lost, 0, "{lost} of {acknowledged} acknowledged enqueues lost");
        }
        Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but ACTOR_PG_CONTROL is not set: .ci/run must provide it")
        }
        Err(_) => eprintln!("SKIPPED: killing the server needs ACTOR_PG_CONTROL=.ci/postgres.sh"),
    }
}
