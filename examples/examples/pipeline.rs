//! A multi-stage streaming pipeline over thousands of items: pools of workers connected by
//! bounded channels (the feeder feels backpressure), results in submission order, a live
//! progress bar, and ctrl-c stopping it gracefully: the feeder stops, every stage finishes
//! what it holds, and a summary says what finished.
//!
//! ```text
//! feeder -> parse (4 workers) -> enrich (8 workers, slow) -> render (2 workers) -> in order
//! ```
//!
//! Run with `cargo run --release -p examples --example pipeline` (press ctrl-c to stop early).
//! `--quick` runs 500 items and simulates a ctrl-c after 300; `--items N` sets the count.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::time::{Duration, Instant};

use actor_factory::stream::{Pipeline, Stage};
use indicatif::{ProgressBar, ProgressStyle};

/// A record as the feeder produces it.
fn line(n: u64) -> String {
    format!("{n},sensor-{},{}", n % 13, (n * 7919) % 1000)
}

#[derive(Debug)]
struct Reading {
    id: u64,
    sensor: String,
    value: u64,
}

fn parse(line: &str) -> Result<Reading, String> {
    let mut fields = line.split(',');
    let mut next = || fields.next().ok_or_else(|| format!("short line: {line}"));
    let id = next()?.parse().map_err(|e| format!("bad id: {e}"))?;
    let sensor = next()?.to_owned();
    let value = next()?.parse().map_err(|e| format!("bad value: {e}"))?;
    Ok(Reading { id, sensor, value })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let items: u64 = match args.iter().position(|a| a == "--items") {
        Some(i) => args.get(i + 1).ok_or("--items N")?.parse()?,
        None if quick => 500,
        None => 5_000,
    };
    // In CI nobody presses ctrl-c: `--quick` takes the same path after 300 items.
    let simulated_interrupt = quick.then_some(300);

    let pipeline =
        Pipeline::new(Stage::new(4, |line: String| async move { parse(&line) }).ordered(64))
            .then(
                Stage::new(8, |r: Reading| async move {
                    // A remote lookup of uneven length.
                    tokio::time::sleep(Duration::from_micros(200 + (r.id * 37) % 1_800)).await;
                    Ok::<_, String>((r.id, r.sensor, r.value * 3 / 2))
                })
                .ordered(128),
            )
            .then(
                Stage::new(2, |(id, sensor, value): (u64, String, u64)| async move {
                    Ok::<_, String>(format!("{id:>6} {sensor:<10} {value:>5}"))
                })
                .ordered(64),
            );
    let progress = pipeline.progress();
    let (input, mut output) = pipeline.split();

    let bar = ProgressBar::new(items);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} items, {per_sec}, eta {eta} {msg}",
    )?);
    let started = Instant::now();
    let feeder = tokio::spawn(async move {
        let mut fed = 0u64;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        for n in 0..items {
            if simulated_interrupt == Some(n) {
                return (fed, true);
            }
            tokio::select! {
                biased;
                _ = &mut ctrl_c => return (fed, true),
                sent = input.send(line(n)) => {
                    if sent.is_err() {
                        break;
                    }
                    fed += 1;
                }
            }
        }
        // Dropping `input` here closes the pipeline: the stages drain, the output ends.
        (fed, false)
    });

    let (mut finished, mut failed, mut in_order, mut expected) = (0u64, 0u64, true, 0u64);
    let mut last = String::new();
    while let Some((id, result)) = output.recv().await {
        in_order &= id.0 == expected;
        expected += 1;
        match result {
            Ok(rendered) => {
                finished += 1;
                last = rendered;
            }
            Err(e) => {
                failed += 1;
                bar.println(format!("failed: {e}"));
            }
        }
        bar.set_position(progress.succeeded() + progress.failed());
    }
    let (fed, interrupted) = feeder.await?;
    bar.finish_and_clear();
    println!(
        "{}: fed {fed} of {items}, finished {finished}, failed {failed}, in order: {in_order}, in {:.1?}",
        if interrupted { "stopped by ctrl-c" } else { "done" },
        started.elapsed()
    );
    println!("last result: {last}");
    if !in_order || finished + failed != fed {
        return Err("items were lost or reordered".into());
    }
    Ok(())
}
