//! The job service behind `examples/job_service.rs`: an HTTP front end (axum) over a durable
//! job queue ([`EmbeddedQueue`] or [`PgQueue`]) consumed by a factory of workers ([`Consumer`]).
//!
//! - `POST /jobs` with `{"text": "...", "work_ms": 120}` (and optionally an
//!   `Idempotency-Key` header) enqueues a job and answers `202 {"id": 7}` once it is durable.
//!   The same key again answers the first job's id.
//! - `GET /jobs/{id}` answers the job's status, attempt, timestamps and result (`404` if
//!   unknown); `DELETE /jobs/{id}` cancels a queued job (`409` if it is running or finished).
//! - `GET /jobs?status=dead` lists job ids by status; `GET /stats` answers queue depth, the
//!   age of the oldest due job, counts by status, and the worker pool's counters.
//! - A job may carry `"priority": 5` (higher runs first, lower ones age in) and
//!   `"group": "partner-api"`: the group `partner-api` starts at most 20 jobs a second
//!   (a rate-limited remote API), every other group at most 2 jobs at once.
//! - A schedule, `digest`, enqueues a low-priority job every 10 seconds (one per tick, however
//!   many processes run it on PostgreSQL).
//! - `GET /dashboard` is the queue's dashboard; `GET /metrics` the Prometheus metrics.
//!
//! A job "indexes" its text: it takes `work_ms` milliseconds and returns the number of words.
//! A text containing `flaky` fails its first attempt, to show a retry; `doomed` fails every
//! attempt, to show a dead letter.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use actor_core::actor;
use actor_factory::Autoscale;
use actor_jobs::dashboard::Dashboard;
use actor_jobs::{
    CatchUp, Consumer, ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend, JobError, JobId,
    JobRecord, JobState, JobStatus, Limit, PgOptions, PgQueue, QueueOptions, RetryPolicy, Schedule,
    Scheduler, Work,
};
use actor_store::Store;
use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::BoxError;

/// A job's payload: the document to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The text.
    pub text: String,
    /// How long indexing takes, in milliseconds (at most 60,000).
    pub work_ms: u64,
}

/// The queue of the service: documents in, word counts out.
pub type Queue = EmbeddedQueue<Document, u64>;

/// The queue of the service on PostgreSQL.
pub type PgJobs = PgQueue<Document, u64>;

/// A worker: "indexes" a document.
#[derive(Debug)]
struct Indexer<B> {
    backend: PhantomData<fn() -> B>,
}

#[actor]
impl<B: JobBackend<Document, u64>> Indexer<B> {
    async fn index(&mut self, work: Work<Document, u64, B>) {
        let doc = work.payload().clone();
        tokio::time::sleep(Duration::from_millis(doc.work_ms)).await;
        if doc.text.contains("flaky") && work.attempt() == 1 {
            let _ = work.fail("flaky document: first attempt fails on purpose").await;
            return;
        }
        if doc.text.contains("doomed") {
            let _ = work.fail("doomed document: every attempt fails on purpose").await;
            return;
        }
        let words = doc.text.split_whitespace().count() as u64;
        if let Err(error) = work.complete(words).await {
            tracing::warn!(%error, "could not acknowledge a job; it will run again");
        }
    }
}

/// The queue options of the service: 10 s leases, 5 attempts, retries after 100 ms doubling,
/// the group `partner-api` at 20 starts a second, every other group 2 jobs at once.
pub fn queue_options() -> QueueOptions {
    QueueOptions::new()
        .visibility_timeout(Duration::from_secs(10))
        .retry(RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        })
        .group_limit("partner-api", Limit::rate(20, Duration::from_secs(1)))
        .every_group(Limit::concurrency(2))
}

/// The service's schedules: a digest every 10 seconds, at low priority.
pub fn schedules() -> Vec<Schedule<Document>> {
    let digest = Schedule::new("digest", "*/10 * * * * *", |tick| Document {
        text: format!("digest of the last ten seconds before {}", tick.at),
        work_ms: 20,
    })
    .map(|schedule| schedule.options(EnqueueOptions::new().priority(-1)).catch_up(CatchUp::Skip));
    // A constant expression: it parses.
    digest.into_iter().collect()
}

/// The process's Prometheus recorder, installed at the first service started.
/// Turns on the metrics of every actor and factory spawned from now on (`actor_core::metrics`),
/// so that `/metrics` shows them beside the queue's.
fn observe() {
    actor_core::metrics::set_metrics(true);
    prometheus();
}

fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|error| tracing::warn!(%error, "no Prometheus metrics"))
                .ok()
        })
        .as_ref()
}

/// A running service: its queue, and its workers if it runs any. On the embedded store the
/// front end and the workers share a process; on PostgreSQL they may run in separate
/// processes, on separate hosts, pointed at one database.
#[derive(Debug)]
pub struct Service<B: JobBackend<Document, u64> = Queue> {
    store: Option<Store>,
    queue: B,
    workers: Option<Consumer<Indexer<B>, Document, u64, B>>,
    scheduler: Option<Scheduler>,
    gauges: tokio::task::JoinHandle<()>,
}

impl<B: JobBackend<Document, u64>> Service<B> {
    /// A service on `queue`: its schedules and metrics start.
    fn start(
        store: Option<Store>,
        queue: B,
        workers: Option<Consumer<Indexer<B>, Document, u64, B>>,
        schedules: Vec<Schedule<Document>>,
    ) -> Self {
        prometheus();
        let scheduler = Some(Scheduler::spawn(queue.clone(), schedules));
        let gauges =
            actor_jobs::telemetry::report(queue.clone(), "indexer", Duration::from_secs(5));
        Service { store, queue, workers, scheduler, gauges }
    }
}

fn spawn_workers<B: JobBackend<Document, u64>>(
    queue: &B,
    workers: usize,
) -> Result<Consumer<Indexer<B>, Document, u64, B>, BoxError> {
    // One worker when idle, up to `workers` while the durable backlog is deep: more than 4 due
    // jobs per worker, or a due job older than 500 ms.
    let autoscale = Autoscale::new(1, workers)
        .queue_per_worker(4)
        .max_wait(Duration::from_millis(500))
        .idle_for(Duration::from_secs(2));
    let spec = ConsumerSpec::new(1, || Ok(Indexer { backend: PhantomData }), IndexerMessage::index)
        .name("indexer")
        // Few jobs leased ahead, so that a job of higher priority overtakes the queue.
        .max_in_flight(8)
        .stuck_after(Duration::from_secs(65))
        .autoscale(autoscale);
    Ok(spec.spawn(queue.clone())?)
}

impl Service<Queue> {
    /// Opens the store in `dir` and starts a pool of 1 to `workers` workers on its queue, sized
    /// by the backlog.
    ///
    /// # Errors
    ///
    /// A store that cannot be opened (or is damaged), or workers that cannot start.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, what it opened is dropped with it: the store's handle (its
    /// writer stops), and the workers if they started (their leased jobs come back when their
    /// leases expire). The queue's recovery is one atomic write of the store, applied whole or
    /// not at all.
    pub async fn open(dir: &Path, workers: usize) -> Result<Service<Queue>, BoxError> {
        Self::open_with(dir, workers, schedules()).await
    }

    /// [`open`](Self::open) with the periodic jobs `schedules` instead of the service's own
    /// (none, for a test that counts every job).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Cancel safety
    ///
    /// As [`open`](Self::open).
    pub async fn open_with(
        dir: &Path,
        workers: usize,
        schedules: Vec<Schedule<Document>>,
    ) -> Result<Service<Queue>, BoxError> {
        observe();
        let store = Store::open(dir)?;
        let queue = Queue::open(&store, "documents", queue_options()).await?;
        let workers = spawn_workers(&queue, workers)?;
        Ok(Service::start(Some(store), queue, Some(workers), schedules))
    }
}

impl Service<PgJobs> {
    /// Connects to the PostgreSQL database at `url`, serves the job queue `queue` and starts
    /// a pool of 1 to `workers` workers, sized by the backlog (none for a process that only
    /// serves HTTP).
    ///
    /// # Errors
    ///
    /// A database that cannot be reached, or workers that cannot start.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, what it opened is dropped with it: its connections close, and
    /// the workers, if they started, stop (their leased jobs come back when their leases
    /// expire). The schema's creation or migration is one transaction, committed whole or not.
    pub async fn connect(
        url: &str,
        queue: &str,
        workers: usize,
    ) -> Result<Service<PgJobs>, BoxError> {
        observe();
        let options =
            PgOptions::new().queue(queue_options()).poll_interval(Duration::from_millis(20));
        let queue = PgJobs::connect(url, queue, options).await?;
        let workers = if workers == 0 { None } else { Some(spawn_workers(&queue, workers)?) };
        Ok(Service::start(None, queue, workers, schedules()))
    }
}

impl<B: JobBackend<Document, u64>> Service<B> {
    /// The HTTP routes.
    pub fn router(&self) -> axum::Router {
        let app = App {
            queue: self.queue.clone(),
            workers: self.workers.as_ref().map(|w| w.factory().clone()),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let dashboard = Dashboard::new("indexer", self.queue.clone()).schedules(&schedules());
        axum::Router::new()
            .route("/jobs", axum::routing::post(enqueue::<B>).get(list::<B>))
            .route("/jobs/{id}", get(status::<B>).delete(cancel::<B>))
            .route("/stats", get(stats::<B>))
            .route("/metrics", get(metrics))
            .route(
                "/dashboard/",
                get(|| async { axum::response::Redirect::permanent("/dashboard") }),
            )
            .with_state(app)
            .nest("/dashboard", dashboard.router())
    }

    /// The queue.
    pub fn queue(&self) -> &B {
        &self.queue
    }

    /// The embedded store, if the service runs on one.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Lets running jobs finish, stops the workers and closes the store.
    ///
    /// # Errors
    ///
    /// A store that fails to close cleanly.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the parts it has not reached yet are dropped instead of
    /// stopped: workers stop without waiting for their jobs (whose leases expire and bring them
    /// back, at least once), and the store's handle is dropped without `close`. No job is lost;
    /// some may run again.
    pub async fn shutdown(mut self) -> Result<(), BoxError> {
        if let Some(scheduler) = self.scheduler.take() {
            scheduler.stop().await;
        }
        self.gauges.abort();
        if let Some(workers) = self.workers.take() {
            workers.shutdown().await;
        }
        self.queue.clone().close().await;
        if let Some(store) = self.store.take() {
            store.close().await?;
        }
        Ok(())
    }
}

/// Serves `service` on `listener` until `shutdown` completes.
///
/// # Errors
///
/// An I/O error of the server.
///
/// # Cancel safety
///
/// Dropping the future stops the server at once, as axum's does: open connections are
/// dropped, and so are the handlers in flight. Each enqueue handler is cancel safe itself (a
/// job is enqueued whole or not at all), so a dropped server loses no accepted job.
pub async fn serve<B: JobBackend<Document, u64>>(
    service: &Service<B>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    axum::serve(listener, service.router()).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

struct App<B: JobBackend<Document, u64>> {
    queue: B,
    workers: Option<Pool<B>>,
    /// Enqueue requests whose client went away before the answer (axum dropped the handler).
    dropped: Arc<AtomicU64>,
}

/// Counts a request handler dropped before it finished.
struct Unfinished<'a>(Option<&'a AtomicU64>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(dropped) = self.0 {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The worker pool of a service on backend `B`.
type Pool<B> = actor_factory::Factory<
    Indexer<B>,
    actor_jobs::JobKey,
    actor_jobs::consumer::Ticket<Document, u64, B>,
>;

impl<B: JobBackend<Document, u64>> Clone for App<B> {
    fn clone(&self) -> Self {
        App {
            queue: self.queue.clone(),
            workers: self.workers.clone(),
            dropped: Arc::clone(&self.dropped),
        }
    }
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

/// The body of `POST /jobs`.
#[derive(Debug, Deserialize)]
struct EnqueueRequest {
    text: String,
    work_ms: u64,
    #[serde(default)]
    priority: i16,
    #[serde(default)]
    group: Option<String>,
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics() -> Response {
    match prometheus() {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics recorder in this process").into_response(),
    }
}

async fn enqueue<B: JobBackend<Document, u64>>(
    State(app): State<App<B>>,
    headers: HeaderMap,
    Json(request): Json<EnqueueRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if request.work_ms > 60_000 {
        return Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, "work_ms is at most 60000".into()));
    }
    let doc = Document { text: request.text, work_ms: request.work_ms };
    let mut options = EnqueueOptions::new().priority(request.priority);
    if let Some(group) = request.group {
        options = options.group(group);
    }
    if let Some(key) = headers.get("idempotency-key") {
        let key = key.to_str().map_err(|_| {
            ApiError(StatusCode::BAD_REQUEST, "the Idempotency-Key header is not text".into())
        })?;
        options = options.idempotency_key(key);
    }
    // The queue is cancel safe: if the client goes away and axum drops this future, the job is
    // enqueued or not, never half, and a retry with the same key finds it.
    let mut unfinished = Unfinished(Some(&app.dropped));
    let id = app.queue.enqueue(doc, options).await;
    unfinished.0 = None;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id?.0 }))))
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

async fn status<B: JobBackend<Document, u64>>(
    State(app): State<App<B>>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, ApiError> {
    match app.queue.status(JobId(id)).await? {
        Some(record) => Ok(Json(job_json(&record))),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

async fn cancel<B: JobBackend<Document, u64>>(
    State(app): State<App<B>>,
    UrlPath(id): UrlPath<u64>,
) -> Result<StatusCode, ApiError> {
    app.queue.cancel(JobId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ListQuery {
    status: String,
    limit: Option<usize>,
}

async fn list<B: JobBackend<Document, u64>>(
    State(app): State<App<B>>,
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
    let ids: Vec<u64> = app
        .queue
        .list(status, query.limit.unwrap_or(100))
        .await?
        .into_iter()
        .map(|id| id.0)
        .collect();
    Ok(Json(json!({ "status": status.as_str(), "ids": ids })))
}

async fn stats<B: JobBackend<Document, u64>>(
    State(app): State<App<B>>,
) -> Result<Json<Value>, ApiError> {
    let queue = app.queue.stats().await?;
    let workers = app.workers.map(|factory| {
        let pool = factory.stats();
        json!({
            "workers": pool.workers,
            "in_flight": pool.in_flight,
            "processed": pool.processed,
            "failed": pool.failed,
            "replaced": pool.replaced,
        })
    });
    let dropped = app.dropped.load(Ordering::Relaxed);
    Ok(Json(json!({ "queue": queue, "workers": workers, "requests_dropped": dropped })))
}

async fn serve_on<B: JobBackend<Document, u64>>(
    service: Service<B>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    crate::say(format_args!("listening {}", listener.local_addr()?));
    serve(&service, listener, shutdown).await?;
    service.shutdown().await
}

/// The address a service listens on, printed by [`serve_main`] as `listening <addr>`.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("listening ")?.parse().ok()
}

/// The server process of the example: `[dir, addr]` on the embedded store, or
/// `[postgres://..., addr, queue]` on PostgreSQL, where `addr` `-` runs 4 workers and no HTTP
/// front end, and any other address an HTTP front end without workers. Prints `listening <addr>`
/// (or `working`) and serves until killed or interrupted (ctrl-c shuts it down gracefully).
pub fn serve_main(args: &[String]) -> ! {
    let run = || -> Result<(), BoxError> {
        let usage = "--serve <dir> <addr> | --serve <postgres://...> <addr | -> <queue>";
        let target = args.first().ok_or(usage)?;
        let addr = args.get(1).ok_or(usage)?;
        let runtime = tokio::runtime::Runtime::new()?;
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        runtime.block_on(async {
            if !target.starts_with("postgres://") {
                let service = Service::open(Path::new(target), 4).await?;
                return serve_on(service, addr.parse()?, ctrl_c).await;
            }
            let queue = args.get(2).ok_or(usage)?;
            if addr == "-" {
                let service = Service::connect(target, queue, 4).await?;
                crate::say(format_args!("working"));
                ctrl_c.await;
                return service.shutdown().await;
            }
            let service = Service::connect(target, queue, 0).await?;
            serve_on(service, addr.parse()?, ctrl_c).await
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
