//! The job service behind `examples/job_service.rs`: an HTTP front end (axum) over a durable
//! job queue ([`JobQueue`]) consumed by a factory of workers ([`Consumer`]).
//!
//! - `POST /jobs` with `{"text": "...", "work_ms": 120}` (and optionally an
//!   `Idempotency-Key` header) enqueues a job and answers `202 {"id": 7}` once it is durable.
//!   The same key again answers the first job's id.
//! - `GET /jobs/{id}` answers the job's status, attempt, timestamps and result (`404` if
//!   unknown); `DELETE /jobs/{id}` cancels a queued job (`409` if it is running or finished).
//! - `GET /jobs?status=dead` lists job ids by status; `GET /stats` answers queue depth, the
//!   age of the oldest due job, counts by status, and the worker pool's counters.
//!
//! A job "indexes" its text: it takes `work_ms` milliseconds and returns the number of words.
//! A text containing `flaky` fails its first attempt, to show a retry.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actor_core::actor;
use actor_factory::durable::{Consumer, DurableJob};
use actor_factory::{FactorySpec, Job};
use actor_store::{
    EnqueueOptions, JobError, JobId, JobQueue, JobRecord, JobState, JobStatus, QueueOptions,
    RetryPolicy, Store,
};
use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crash::BoxError;

/// A job's payload: the document to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The text.
    pub text: String,
    /// How long indexing takes, in milliseconds (at most 60,000).
    pub work_ms: u64,
}

/// The queue of the service: documents in, word counts out.
pub type Queue = JobQueue<Document, u64>;

type Workers = Consumer<Indexer, Document, u64>;

/// A worker: "indexes" a document.
#[derive(Debug)]
struct Indexer;

#[actor]
impl Indexer {
    async fn index(&mut self, mut job: Job<String, DurableJob<Document, u64>>) {
        let Some(work) = job.payload_mut() else { return };
        let doc = work.payload().clone();
        tokio::time::sleep(Duration::from_millis(doc.work_ms)).await;
        if doc.text.contains("flaky") && work.attempt() == 1 {
            let _ = work.fail("flaky document: first attempt fails on purpose").await;
            return;
        }
        let words = doc.text.split_whitespace().count() as u64;
        if let Err(error) = work.complete(words).await {
            tracing::warn!(%error, "could not acknowledge a job; it will run again");
        }
    }
}

/// The queue options of the service: 10 s leases, 5 attempts, retries after 100 ms doubling.
pub fn queue_options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(10)).retry(RetryPolicy {
        max_attempts: 5,
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
    })
}

/// A running service: its store, queue and workers.
#[derive(Debug)]
pub struct Service {
    store: Store,
    queue: Queue,
    workers: Workers,
}

impl Service {
    /// Opens the store in `dir` and starts `workers` workers on its queue.
    ///
    /// # Errors
    ///
    /// A store that cannot be opened (or is damaged), or workers that cannot start.
    pub async fn open(dir: &Path, workers: usize) -> Result<Service, BoxError> {
        let store = Store::open(dir)?;
        let queue = Queue::open(&store, "documents", queue_options()).await?;
        let workers = Consumer::spawn(
            queue.clone(),
            FactorySpec::new(workers, || Ok(Indexer), IndexerMessage::index)
                .name("indexer")
                .stuck_after(Duration::from_secs(65)),
        )?;
        Ok(Service { store, queue, workers })
    }

    /// The HTTP routes.
    pub fn router(&self) -> axum::Router {
        let app = App { queue: self.queue.clone(), factory: self.workers.factory().clone() };
        axum::Router::new()
            .route("/jobs", axum::routing::post(enqueue).get(list))
            .route("/jobs/{id}", get(status).delete(cancel))
            .route("/stats", get(stats))
            .with_state(app)
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Lets running jobs finish, stops the workers and closes the store.
    ///
    /// # Errors
    ///
    /// A store that fails to close cleanly.
    pub async fn shutdown(self) -> Result<(), BoxError> {
        self.workers.shutdown().await;
        drop(self.queue);
        self.store.close().await?;
        Ok(())
    }
}

/// Serves `service` on `listener` until `shutdown` completes.
///
/// # Errors
///
/// An I/O error of the server.
pub async fn serve(
    service: &Service,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    axum::serve(listener, service.router()).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

#[derive(Clone)]
struct App {
    queue: Queue,
    factory: actor_factory::Factory<Indexer, String, DurableJob<Document, u64>>,
}

/// An error answered as JSON.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        let code = match error {
            JobError::NotFound(_) => StatusCode::NOT_FOUND,
            JobError::InvalidState { .. } | JobError::LeaseLost(_) => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(code, error.to_string())
    }
}

async fn enqueue(
    State(app): State<App>,
    headers: HeaderMap,
    Json(doc): Json<Document>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if doc.work_ms > 60_000 {
        return Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, "work_ms is at most 60000".into()));
    }
    let mut options = EnqueueOptions::new();
    if let Some(key) = headers.get("idempotency-key") {
        let key = key.to_str().map_err(|_| {
            ApiError(StatusCode::BAD_REQUEST, "the Idempotency-Key header is not text".into())
        })?;
        options = options.idempotency_key(key);
    }
    let id = app.queue.enqueue(doc, options).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.0 }))))
}

/// A job as the API shows it.
pub fn job_json(record: &JobRecord<Document, u64>) -> Value {
    let mut job = json!({
        "id": record.id.0,
        "status": record.status().as_str(),
        "attempt": record.attempt,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "started_at": record.started_at,
    });
    match &record.state {
        JobState::Succeeded { result } => job["result"] = json!({ "words": result }),
        JobState::Failed { error, retry_at } => {
            job["error"] = json!(error);
            job["retry_at"] = json!(retry_at);
        }
        JobState::Dead { error } => job["error"] = json!(error),
        JobState::Queued | JobState::Running { .. } | JobState::Cancelled => {}
    }
    job
}

async fn status(
    State(app): State<App>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, ApiError> {
    match app.queue.status(JobId(id))? {
        Some(record) => Ok(Json(job_json(&record))),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

async fn cancel(State(app): State<App>, UrlPath(id): UrlPath<u64>) -> Result<StatusCode, ApiError> {
    app.queue.cancel(JobId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ListQuery {
    status: String,
    limit: Option<usize>,
}

async fn list(
    State(app): State<App>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let Some(status) = JobStatus::ALL.into_iter().find(|s| s.as_str() == query.status) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown status `{}` (queued, running, succeeded, failed, dead, cancelled)",
                query.status
            ),
        ));
    };
    let ids: Vec<u64> =
        app.queue.list(status, query.limit.unwrap_or(100)).into_iter().map(|id| id.0).collect();
    Ok(Json(json!({ "status": status.as_str(), "ids": ids })))
}

async fn stats(State(app): State<App>) -> Json<Value> {
    let queue = app.queue.stats();
    let pool = app.factory.stats();
    Json(json!({
        "queue": queue,
        "workers": {
            "workers": pool.workers,
            "in_flight": pool.in_flight,
            "processed": pool.processed,
            "failed": pool.failed,
            "replaced": pool.replaced,
        },
    }))
}

/// A minimal HTTP/1.1 client for the driver and the tests (hyper, one connection per request).
pub mod client {
    use std::net::SocketAddr;

    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::{Method, Request, StatusCode};
    use hyper_util::rt::TokioIo;

    use crate::crash::BoxError;

    /// Sends one request; answers its status and body.
    ///
    /// # Errors
    ///
    /// A connection or protocol error (the server is down, say).
    pub async fn request(
        addr: SocketAddr,
        method: Method,
        path: &str,
        body: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, String), BoxError> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string())
            .header("content-type", "application/json");
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        drop(sender);
        let _ = connection.await;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// The address a service listens on, printed by [`serve_main`] as `listening <addr>`.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("listening ")?.parse().ok()
}

/// The server process of the example: `[dir, addr]`. Prints `listening <addr>` and serves
/// until killed or interrupted (ctrl-c shuts it down gracefully).
pub fn serve_main(args: &[String]) -> ! {
    let run = || -> Result<(), BoxError> {
        let usage = "--serve <dir> <addr>";
        let dir = args.first().ok_or(usage)?;
        let addr: SocketAddr = args.get(1).ok_or(usage)?.parse()?;
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let service = Service::open(Path::new(dir), 4).await?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            crate::say(format_args!("listening {}", listener.local_addr()?));
            let ctrl_c = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            serve(&service, listener, ctrl_c).await?;
            service.shutdown().await
        })
    };
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            crate::say(format_args!("error {e}"));
            std::process::exit(2);
        }
    }
}
