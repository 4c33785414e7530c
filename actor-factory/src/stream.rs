//! Streaming pools and multi-stage pipelines, with ordered output.
//!
//! A [`Stage`] is a pool of workers running one async function over a stream of items. Stages
//! are connected into a [`Pipeline`] whose [`Input`] feels backpressure (every channel between
//! stages is bounded) and whose [`Output`] yields each item's result, in submission order if
//! the stages are [`ordered`](Stage::ordered) (like `multiprocessing.Pool.imap`), with a
//! bounded reorder window per stage.
//!
//! An item that fails in a stage (its function returned an error or panicked) passes through
//! the later stages untouched and comes out as an [`ItemError`] carrying the item's id and the
//! stage. Closing the input lets every stage finish what it holds, then ends the output.
//!
//! ```
//! use actor_factory::stream::{Pipeline, Stage};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (input, mut output) = Pipeline::new(Stage::new(4, |n: u64| async move { Ok::<_, String>(n * 2) }).ordered(64))
//!     .then(Stage::new(2, |n: u64| async move { Ok::<_, String>(n.to_string()) }).ordered(64))
//!     .split();
//! tokio::spawn(async move {
//!     for n in 0..100 {
//!         input.send(n).await.expect("the pipeline is running");
//!     }
//!     // Dropping the input closes it: the stages drain and the output ends.
//! });
//! let mut all = Vec::new();
//! while let Some((_id, result)) = output.recv().await {
//!     all.push(result?);
//! }
//! assert_eq!(all, (0..100).map(|n| (n * 2).to_string()).collect::<Vec<_>>());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use actor_core::BoxError;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};

/// An item's id: its position in the pipeline's input, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(pub u64);

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {}", self.0)
    }
}

/// An item that failed in a stage.
#[derive(Debug)]
pub struct ItemError {
    /// The item's id.
    pub id: ItemId,
    /// The stage it failed in, from 0.
    pub stage: usize,
    /// The stage function's error, or the panic's message.
    pub error: BoxError,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed in stage {}: {}", self.id, self.stage, self.error)
    }
}

impl std::error::Error for ItemError {}

/// What a channel between stages carries.
type Envelope<T> = (ItemId, Result<T, ItemError>);

type StageFn<I, O> =
    Arc<dyn Fn(I) -> Pin<Box<dyn Future<Output = Result<O, BoxError>> + Send>> + Send + Sync>;

/// One stage: `workers` tasks applying an async function; see the [module docs](self).
pub struct Stage<I, O> {
    workers: usize,
    capacity: usize,
    window: Option<usize>,
    f: StageFn<I, O>,
}

impl<I, O> fmt::Debug for Stage<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage")
            .field("workers", &self.workers)
            .field("capacity", &self.capacity)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl<I: Send + 'static, O: Send + 'static> Stage<I, O> {
    /// A stage of `workers` workers (at least 1) running `f` on each item, unordered, with
    /// an output channel of 64 items.
    pub fn new<E, F, Fut>(workers: usize, f: F) -> Self
    where
        E: Into<BoxError>,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let f: StageFn<I, O> = Arc::new(move |item| {
            let fut = f(item);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        Stage { workers: workers.max(1), capacity: 64, window: None, f }
    }

    /// Emit results in input order, holding at most `window` items (at least 1) started but
    /// not yet emitted: a slow item stalls its stage once `window` later items are done.
    pub fn ordered(mut self, window: usize) -> Self {
        self.window = Some(window.max(1));
        self
    }

    /// The bound of this stage's output channel (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

/// Counters of a pipeline, shared with its input and output; see [`Pipeline::progress`].
#[derive(Debug, Default)]
pub struct Progress {
    submitted: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    /// Items accepted by the input.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Relaxed)
    }

    /// Items that came out of the last stage successfully.
    pub fn succeeded(&self) -> u64 {
        self.succeeded.load(Ordering::Relaxed)
    }

    /// Items that came out of the last stage as errors.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// A chain of stages; see the [module docs](self). Built stage by stage: each stage starts
/// when it is added.
pub struct Pipeline<I, O> {
    input: mpsc::Sender<Envelope<I>>,
    output: mpsc::Receiver<Envelope<O>>,
    stages: usize,
    progress: Arc<Progress>,
}

impl<I, O> fmt::Debug for Pipeline<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline").field("stages", &self.stages).finish_non_exhaustive()
    }
}

impl<I: Send + 'static, O: Send + 'static> Pipeline<I, O> {
    /// A pipeline of one stage; its input holds up to the stage's capacity. Must be called
    /// inside a tokio runtime.
    pub fn new(first: Stage<I, O>) -> Self {
        let (input, rx) = mpsc::channel(first.capacity);
        let output = spawn_stage(first, 0, rx);
        Pipeline { input, output, stages: 1, progress: Arc::default() }
    }

    /// Adds a stage fed by the current last one.
    pub fn then<P: Send + 'static>(self, next: Stage<O, P>) -> Pipeline<I, P> {
        let output = spawn_stage(next, self.stages, self.output);
        Pipeline { input: self.input, output, stages: self.stages + 1, progress: self.progress }
    }

    /// The pipeline's counters, to feed a progress bar.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// The input and the output.
    pub fn split(self) -> (Input<I>, Output<O>) {
        (
            Input { tx: self.input, next: Arc::default(), progress: Arc::clone(&self.progress) },
            Output { rx: self.output, progress: self.progress },
        )
    }
}

/// The pipeline's input: cloneable; dropping every clone closes it.
pub struct Input<I> {
    tx: mpsc::Sender<Envelope<I>>,
    next: Arc<tokio::sync::Mutex<u64>>,
    progress: Arc<Progress>,
}

impl<I> Clone for Input<I> {
    fn clone(&self) -> Self {
        Input {
            tx: self.tx.clone(),
            next: Arc::clone(&self.next),
            progress: Arc::clone(&self.progress),
        }
    }
}

impl<I> fmt::Debug for Input<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input").finish_non_exhaustive()
    }
}

impl<I: Send + 'static> Input<I> {
    /// Sends an item, waiting while the first stage is full; returns its id.
    ///
    /// # Errors
    ///
    /// The item back if the pipeline stopped (its output was dropped and the stages ended).
    pub async fn send(&self, item: I) -> Result<ItemId, I> {
        // Ids follow the order items enter the channel, even with several senders.
        let mut next = self.next.lock().await;
        let Ok(slot) = self.tx.reserve().await else { return Err(item) };
        let id = ItemId(*next);
        slot.send((id, Ok(item)));
        *next += 1;
        self.progress.submitted.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }
}

/// The pipeline's output.
pub struct Output<O> {
    rx: mpsc::Receiver<Envelope<O>>,
    progress: Arc<Progress>,
}

impl<O> fmt::Debug for Output<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output").finish_non_exhaustive()
    }
}

impl<O> Output<O> {
    /// The next result; `None` once the input is closed and every stage has finished.
    pub async fn recv(&mut self) -> Option<(ItemId, Result<O, ItemError>)> {
        let item = self.rx.recv().await?;
        let counter = if item.1.is_ok() { &self.progress.succeeded } else { &self.progress.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(item)
    }
}

/// Runs a future, turning a panic inside it into an error.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                Poll::Ready(Err(format!("panicked: {message}").into()))
            }
        }
    }
}

/// Input order number, the envelope, and the reorder-window permit it holds.
type Done<O> = (u64, Envelope<O>, Option<OwnedSemaphorePermit>);

fn spawn_stage<I: Send + 'static, O: Send + 'static>(
    stage: Stage<I, O>,
    index: usize,
    input: mpsc::Receiver<Envelope<I>>,
) -> mpsc::Receiver<Envelope<O>> {
    let (out_tx, out_rx) = mpsc::channel(stage.capacity);
    let (done_tx, mut done_rx) = mpsc::channel::<Done<O>>(stage.capacity.max(stage.workers));
    // The input and the count of items taken from it, under one lock: take order is input order.
    let input = Arc::new(Mutex::new((input, 0u64)));
    let window = stage.window.map(|w| Arc::new(Semaphore::new(w)));
    for _ in 0..stage.workers {
        let (input, window, done_tx, f) =
            (Arc::clone(&input), window.clone(), done_tx.clone(), Arc::clone(&stage.f));
        tokio::spawn(async move {
            loop {
                let permit = match &window {
                    Some(window) => match Arc::clone(window).acquire_owned().await {
                        Ok(permit) => Some(permit),
                        Err(_) => return,
                    },
                    None => None,
                };
                let (seq, (id, item)) = {
                    let mut input = input.lock().await;
                    let Some(envelope) = input.0.recv().await else { return };
                    input.1 += 1;
                    (input.1 - 1, envelope)
                };
                let result = match item {
                    Ok(item) => match CatchUnwind(Box::pin(f(item))).await {
                        Ok(Ok(out)) => Ok(out),
                        Ok(Err(error)) | Err(error) => Err(ItemError { id, stage: index, error }),
                    },
                    Err(failed) => Err(failed),
                };
                if done_tx.send((seq, (id, result), permit)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(done_tx);
    let ordered = stage.window.is_some();
    tokio::spawn(async move {
        let mut next = 0u64;
        let mut held = BTreeMap::new();
        while let Some((seq, envelope, permit)) = done_rx.recv().await {
            if !ordered {
                if out_tx.send(envelope).await.is_err() {
                    return;
                }
                continue;
            }
            held.insert(seq, (envelope, permit));
            while let Some((envelope, permit)) = held.remove(&next) {
                if out_tx.send(envelope).await.is_err() {
                    return;
                }
                // The window slot frees once the item is out of the stage.
                drop(permit);
                next += 1;
            }
        }
    });
    out_rx
}
