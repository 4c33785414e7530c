//! The factory scenario: five workers, 99 fire-and-forget jobs and one request-reply job, then
//! a worker crash that loses no job, with the factory's stats.
//!
//! Workers are ordinary `#[actor]` actors; the factory owns the queues, so a crashed worker's
//! queued jobs go to its replacement.
//!
//! Run with `cargo run -p examples --example worker_pool`.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actor_core::actor;
use actor_factory::{FactorySpec, Job, Routing};
use tokio::sync::oneshot;

/// What a job asks for.
enum Work {
    /// Resize an image (fire and forget).
    Thumbnail { bytes: u64 },
    /// Compute a checksum and answer (request-reply).
    Checksum { data: Vec<u8>, reply: oneshot::Sender<u32> },
    /// A bug in a handler.
    Corrupt,
}

struct Thumbnailer {
    done: Arc<AtomicU64>,
}

#[actor]
impl Thumbnailer {
    async fn work(&mut self, mut job: Job<String, Work>) {
        match job.take() {
            Some(Work::Thumbnail { bytes }) => {
                tokio::time::sleep(Duration::from_micros(bytes / 10)).await;
                self.done.fetch_add(1, Ordering::Relaxed);
            }
            Some(Work::Checksum { data, reply }) => {
                let sum = data.iter().fold(0u32, |h, &b| h.rotate_left(5) ^ u32::from(b));
                let _ = reply.send(sum);
                self.done.fetch_add(1, Ordering::Relaxed);
            }
            Some(Work::Corrupt) => panic!("thumbnailer invariant violated on {}", job.key()),
            None => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // One line per panic instead of a backtrace: the crash below is on purpose.
    std::panic::set_hook(Box::new(|info| println!("  worker panicked: {info}")));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let factory = FactorySpec::new(
        5,
        {
            let done = Arc::clone(&done);
            move || Ok(Thumbnailer { done: Arc::clone(&done) })
        },
        ThumbnailerMessage::work,
    )
    .name("thumbnails")
    .routing(Routing::StickyQueuer)
    .on_failure({
        let failed = Arc::clone(&failed);
        move |f| {
            failed.fetch_add(1, Ordering::Relaxed);
            println!("  failure reported once: {} ({}): {}", f.id, f.key, f.reason);
        }
    })
    .spawn()?;

    // 99 fire-and-forget jobs and one request-reply job.
    for n in 0..99u64 {
        factory
            .submit(format!("album-{}", n % 7), Work::Thumbnail { bytes: 1_000 + n * 100 })
            .await?;
    }
    let (reply, answer) = oneshot::channel();
    factory
        .submit("checksums".to_owned(), Work::Checksum { data: b"actor-rs".to_vec(), reply })
        .await?;
    println!("request-reply job answered: checksum {:#010x}", answer.await?);

    // A crash in the middle of a burst: the worker is replaced, its queue is kept.
    for n in 0..50u64 {
        if n == 10 {
            factory.submit("album-3".to_owned(), Work::Corrupt).await?;
        }
        factory.submit(format!("album-{}", n % 7), Work::Thumbnail { bytes: 2_000 }).await?;
    }
    let stats = factory.drain().await;
    println!("{stats}");
    for worker in &stats.per_worker {
        println!(
            "  slot {}: processed {}, failed {}, replaced {}, processing {}",
            worker.slot, worker.processed, worker.failed, worker.replaced, worker.processing
        );
    }
    let handled = done.load(Ordering::Relaxed);
    println!(
        "submitted {}, handled {handled}, failed {}, lost {}",
        stats.submitted,
        failed.load(Ordering::Relaxed),
        stats.submitted - handled - stats.failed - stats.discarded
    );
    if handled + stats.failed != stats.submitted || stats.replaced != 1 {
        return Err("a job was lost".into());
    }
    Ok(())
}
