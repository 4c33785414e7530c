//! [`Dashboard`]: a web page of a queue, served by the application's own axum server
//! (feature `dashboard`).
//!
//! One HTML page, served from the binary with its script inline (no front-end toolchain, no
//! CDN), which polls a JSON endpoint every second. It shows the jobs by state, throughput and
//! run-time charts, the schedules and their next run, the failed jobs waiting for a retry
//! (with a button to cancel them), the dead letters (with a button to retry them), and the
//! latest finished jobs. It works on every backend: it reads only through [`JobBackend`].
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/overview` | everything the page shows, as JSON |
//! | `POST /api/jobs/{id}/retry` | requeue a dead or cancelled job (`204`, `404`, `409`) |
//! | `POST /api/jobs/{id}/cancel` | cancel a job (`204`, `404`, `409`) |
//!
//! The router has no authentication: mount it behind the application's own. Nested at
//! `/dashboard`, the page is `/dashboard` (axum does not route `/dashboard/` to it; redirect
//! that yourself if you want it).
//!
//! ```no_run
//! # async fn example(queue: actor_jobs::EmbeddedQueue<String, u64>) -> std::io::Result<()> {
//! use actor_jobs::dashboard::Dashboard;
//!
//! let app = axum::Router::new().nest("/dashboard", Dashboard::new("emails", queue).router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::backend::JobBackend;
use crate::error::JobError;
use crate::model::{JobId, JobRecord, JobState, JobStatus, Millis};

/// The page.
const PAGE: &str = include_str!("dashboard/page.html");
/// Samples kept for the charts: two minutes at one a second.
const SAMPLES: usize = 120;
/// How often the charts are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Jobs listed per table.
const LISTED: usize = 20;

/// A schedule as the page shows it.
struct ScheduleView {
    name: String,
    expression: String,
    zone: &'static str,
    next: Box<dyn Fn(Millis) -> Option<Millis> + Send + Sync>,
}

/// One sample of the charts.
#[derive(Debug, Clone, Copy, Serialize)]
struct Sample {
    at: Millis,
    per_sec: f64,
    p50_ms: f64,
    p95_ms: f64,
}

/// What the routes share.
struct Shared<P, R, B> {
    name: String,
    queue: B,
    schedules: Vec<ScheduleView>,
    samples: Mutex<VecDeque<Sample>>,
    types: PhantomData<fn() -> (P, R)>,
}

/// A queue's dashboard; see the [module docs](self).
pub struct Dashboard<P, R, B> {
    shared: Shared<P, R, B>,
}

impl<P, R, B> std::fmt::Debug for Dashboard<P, R, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

impl<P, R, B> Dashboard<P, R, B>
where
    P: Serialize + Send + Sync + 'static,
    R: Serialize + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    /// The dashboard of `queue`, titled `name`.
    pub fn new(name: impl Into<String>, queue: B) -> Self {
        Dashboard {
            shared: Shared {
                name: name.into(),
                queue,
                schedules: Vec::new(),
                samples: Mutex::new(VecDeque::with_capacity(SAMPLES)),
                types: PhantomData,
            },
        }
    }

    /// Shows these schedules and their next runs.
    #[cfg(feature = "cron")]
    pub fn schedules(mut self, schedules: &[crate::schedule::Schedule<P>]) -> Self
    where
        P: 'static,
    {
        for schedule in schedules {
            let next = schedule.clone();
            self.shared.schedules.push(ScheduleView {
                name: schedule.name().to_owned(),
                expression: schedule.expression(),
                zone: schedule.zone(),
                next: Box::new(move |at| next.next_after(at)),
            });
        }
        self
    }

    /// The routes, and a task (on the current runtime) that samples the charts every second
    /// while the router lives.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn router(self) -> axum::Router {
        let shared = Arc::new(self.shared);
        tokio::spawn(sample(Arc::downgrade(&shared)));
        axum::Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/api/overview", get(overview::<P, R, B>))
            .route("/api/jobs/{id}/retry", post(retry::<P, R, B>))
            .route("/api/jobs/{id}/cancel", post(cancel::<P, R, B>))
            .with_state(shared)
    }
}

/// Samples throughput and run times until the router is gone.
async fn sample<P, R, B: JobBackend<P, R>>(shared: Weak<Shared<P, R, B>>) {
    let mut previous: Option<(Millis, u64)> = None;
    loop {
        let Some(me) = shared.upgrade() else { return };
        if let Ok(stats) = me.queue.stats().await {
            let now = me.queue.now();
            let finished = stats.succeeded + stats.dead + stats.cancelled;
            let per_sec = match previous {
                Some((at, before)) if now > at => {
                    finished.saturating_sub(before) as f64 * 1_000.0 / (now - at) as f64
                }
                _ => 0.0,
            };
            let since = previous.map_or(0, |(at, _)| at);
            let mut runs = run_times(&me.queue, since).await;
            runs.sort_by(f64::total_cmp);
            let quantile = |q: f64| {
                if runs.is_empty() {
                    0.0
                } else {
                    runs[((runs.len() - 1) as f64 * q).round() as usize]
                }
            };
            let sample = Sample { at: now, per_sec, p50_ms: quantile(0.5), p95_ms: quantile(0.95) };
            let mut samples = me.samples.lock().unwrap_or_else(PoisonError::into_inner);
            if samples.len() == SAMPLES {
                samples.pop_front();
            }
            samples.push_back(sample);
            previous = Some((now, finished));
        }
        drop(me);
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// Run times, in milliseconds, of the latest jobs that succeeded after `since`.
async fn run_times<P, R, B: JobBackend<P, R>>(queue: &B, since: Millis) -> Vec<f64> {
    let mut runs = Vec::new();
    let Ok(ids) = queue.recent(JobStatus::Succeeded, LISTED).await else { return runs };
    for id in ids {
        if let Ok(Some(record)) = queue.status(id).await
            && record.updated_at > since
            && let Some(started) = record.started_at
        {
            runs.push(record.updated_at.saturating_sub(started) as f64);
        }
    }
    runs
}

/// A job as the tables show it.
fn job_json<P: Serialize, R: Serialize>(record: &JobRecord<P, R>) -> Value {
    let text = |value: serde_json::Result<Value>| {
        let mut text = value.map(|v| v.to_string()).unwrap_or_else(|e| format!("({e})"));
        if text.len() > 120 {
            let mut end = 117;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        text
    };
    let (error, result) = match &record.state {
        JobState::Failed { error, .. } | JobState::Dead { error } => (Some(error.clone()), None),
        JobState::Succeeded { result } => (None, Some(text(serde_json::to_value(result)))),
        _ => (None, None),
    };
    json!({
        "id": record.id.0,
        "state": record.status().as_str(),
        "attempt": record.attempt,
        "payload": text(serde_json::to_value(&record.payload)),
        "result": result,
        "error": error,
        "updated_at": record.updated_at,
    })
}

/// The jobs of `status`, newest first.
async fn listed<P: Serialize, R: Serialize, B: JobBackend<P, R>>(
    queue: &B,
    status: JobStatus,
) -> Result<Vec<Value>, JobError> {
    let mut jobs = Vec::new();
    for id in queue.recent(status, LISTED).await? {
        if let Some(record) = queue.status(id).await? {
            jobs.push(job_json(&record));
        }
    }
    Ok(jobs)
}

/// An error as the API answers it.
struct ApiError(JobError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            JobError::NotFound(_) => StatusCode::NOT_FOUND,
            JobError::InvalidState { .. } => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({ "error": self.0.to_string() }))).into_response()
    }
}

async fn overview<P, R, B>(
    State(shared): State<Arc<Shared<P, R, B>>>,
) -> Result<Json<Value>, ApiError>
where
    P: Serialize + Send + Sync + 'static,
    R: Serialize + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    let queue = &shared.queue;
    let stats = queue.stats().await.map_err(ApiError)?;
    let now = queue.now();
    let counts: serde_json::Map<String, Value> = JobStatus::ALL
        .into_iter()
        .map(|status| (status.as_str().to_owned(), json!(stats.count(status))))
        .collect();
    let samples: Vec<Sample> =
        shared.samples.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect();
    let schedules: Vec<Value> = shared
        .schedules
        .iter()
        .map(|s| json!({ "name": s.name, "expression": s.expression, "zone": s.zone, "next": (s.next)(now) }))
        .collect();
    Ok(Json(json!({
        "queue": shared.name,
        "now": now,
        "counts": counts,
        "due": stats.due,
        "oldest_due_ms": stats.oldest_due_ms,
        "throughput": samples.iter().map(|s| json!({ "at": s.at, "per_sec": s.per_sec })).collect::<Vec<_>>(),
        "runtime": samples.iter().map(|s| json!({ "at": s.at, "p50_ms": s.p50_ms, "p95_ms": s.p95_ms })).collect::<Vec<_>>(),
        "schedules": schedules,
        "dead": listed(queue, JobStatus::Dead).await.map_err(ApiError)?,
        "failed": listed(queue, JobStatus::Failed).await.map_err(ApiError)?,
        "recent": listed(queue, JobStatus::Succeeded).await.map_err(ApiError)?,
    })))
}

async fn retry<P, R, B: JobBackend<P, R>>(
    State(shared): State<Arc<Shared<P, R, B>>>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    shared.queue.requeue(JobId(id)).await.map_err(ApiError)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn cancel<P, R, B: JobBackend<P, R>>(
    State(shared): State<Arc<Shared<P, R, B>>>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    shared.queue.cancel(JobId(id)).await.map_err(ApiError)?;
    Ok(StatusCode::NO_CONTENT)
}
