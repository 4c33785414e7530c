//! The job service over real HTTP on loopback: enqueue, idempotency, polling, errors, stats;
//! and clients that go away mid-request lose no job; the dashboard in a real browser.

#[path = "http/browser.rs"]
mod browser;

/// The job service over real HTTP on loopback: enqueue, idempotency, polling, errors, stats.
#[test]
fn the_job_service_answers_over_http_and_finishes_every_job() {
    use actor_jobs::{JobBackend, JobId};
    use examples_jobs::client;
    use examples_jobs::service::Service;
    use hyper::{Method, StatusCode};
    use serde_json::Value;

    let dir =
        std::env::temp_dir().join(format!("actor-rs-job_service-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // No schedule: the test counts every job of the queue.
        let service = Service::open_with(&dir, 2, Vec::new()).await.unwrap();
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
            service.queue().wait_for(JobId(*id)).await.unwrap();
            let (status, job) = call(Method::GET, format!("/jobs/{id}"), None, None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(job["status"], "succeeded", "{job}");
            assert_eq!(job["result"]["words"].as_u64(), Some(3), "{job}");
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

/// 100 clients send a request and go away before the answer, as a client timing out does: axum
/// drops the handler mid-flight. Each retries with the same idempotency key: every retry gets
/// an answer at once, and every job is enqueued once and completes.
#[test]
fn clients_that_disconnect_mid_request_lose_no_job() {
    use actor_jobs::{JobBackend, JobId};
    use examples_jobs::client;
    use examples_jobs::service::Service;
    use hyper::{Method, StatusCode};
    use tokio::io::AsyncWriteExt;

    let dir = actor_test_support::TempDir::new("job_service-dropped");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // No schedule: the test counts every job of the queue.
        let service = Service::open_with(dir.path(), 4, Vec::new()).await.unwrap();
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
        let body = |n: u64| format!(r#"{{"text":"doc {n} of the dropped","work_ms":1}}"#);
        // A large write to another tree of the store keeps the next group commits busy, so
        // that the requests below are still waiting for their enqueue when their clients go.
        let ballast = service.store().unwrap().tree::<u64, Vec<u8>>("ballast").unwrap();
        let mut batch = ballast.batch();
        for key in 0..2_000u64 {
            batch.insert(&key, &vec![0x5a; 10_000]).unwrap();
        }
        let ballast = tokio::spawn(async move { ballast.apply(batch).await });
        tokio::task::yield_now().await;
        // Send each request whole, then close the connection without reading the answer.
        let dropped: Vec<_> = (0..100u64)
            .map(|n| {
                tokio::spawn(async move {
                    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                    let body = body(n);
                    let request = format!(
                        "POST /jobs HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
                         idempotency-key: dropped-{n}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(request.as_bytes()).await.unwrap();
                    drop(stream);
                })
            })
            .collect();
        for client in dropped {
            client.await.unwrap();
        }
        ballast.await.unwrap().unwrap();
        // The retries: an answer for each, at once, and one job per key.
        let mut ids = std::collections::BTreeSet::new();
        for n in 0..100u64 {
            let key = format!("dropped-{n}");
            let answer = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                client::request(addr, Method::POST, "/jobs", Some(body(n)), Some(&key)),
            )
            .await
            .expect("a retried request hung")
            .unwrap();
            assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.1);
            let id: serde_json::Value = serde_json::from_str(&answer.1).unwrap();
            ids.insert(id["id"].as_u64().unwrap());
        }
        assert_eq!(ids.len(), 100, "one job per idempotency key");
        for id in &ids {
            let record = service.queue().wait_for(JobId(*id)).await.unwrap();
            assert_eq!(record.status(), actor_jobs::JobStatus::Succeeded, "{record:?}");
        }
        // Every job of the queue but the digest schedule's (which a slow run may have ticked):
        // exactly the 100, each once.
        let mut ours = std::collections::BTreeSet::new();
        for status in actor_jobs::JobStatus::ALL {
            for id in service.queue().list(status, 10_000).await.unwrap() {
                let record = service.queue().status(id).await.unwrap().expect("listed");
                if !record.idempotency_key.as_deref().is_some_and(|k| k.starts_with("cron:")) {
                    assert_eq!(status, actor_jobs::JobStatus::Succeeded, "{record:?}");
                    ours.insert(id.0);
                }
            }
        }
        assert_eq!(ours, ids, "the queue holds exactly the 100 jobs, all succeeded");
        let (_, answer) = client::request(addr, Method::GET, "/stats", None, None).await.unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let dropped = answer["requests_dropped"].as_u64().unwrap();
        eprintln!("requests dropped by their clients mid-flight: {dropped} of 100");
        assert!(dropped > 0, "no request was dropped mid-flight: the test tested nothing");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        service.shutdown().await.unwrap();
    });
}
