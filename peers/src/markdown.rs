//! The peers section of BENCHMARKS.md: the machine and versions, a summary of ratios, one
//! table per workload, the targets, and what the figures say about the designs.

use std::fmt::Write as _;

use crate::measure::{POOL_WORKERS, Sizes, WORKLOADS};
use crate::{SYSTEMS, Summary};

/// Marks where the section begins in BENCHMARKS.md; `cargo xtask bench` keeps it.
pub(crate) const BEGIN: &str = "<!-- peers:begin -->";
/// Marks where the section ends.
pub(crate) const END: &str = "<!-- peers:end -->";

const PEERS: [&str; 3] = ["kameo", "ractor", "actix"];

/// `1234567.8` as `1,234,568`.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
}

/// The version of `name` in this program's lock file.
fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| {
            let rest = &lock[i + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_owned(), |k| k.trim().to_owned());
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores available, Linux {kernel}; {rustc}")
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

struct Table<'a> {
    summaries: &'a [Summary],
}

impl Table<'_> {
    fn get(&self, workload: &str, system: &str) -> Option<&Summary> {
        self.summaries.iter().find(|s| s.median.workload == workload && s.median.system == system)
    }

    fn ratio(&self, workload: &str, system: &str) -> Option<f64> {
        let floor = self.get(workload, "floor")?;
        Some(self.get(workload, system)?.median.per_sec / floor.median.per_sec)
    }

    /// Bytes of resident memory per actor in the `spawn` workload.
    fn bytes_per_actor(&self, system: &str, actors: u64) -> Option<f64> {
        let mb = self.get("spawn", system)?.median.rss_mb?;
        Some(mb * 1024.0 * 1024.0 / actors as f64)
    }
}

fn describe(workload: &str, sizes: &Sizes) -> String {
    match workload {
        "tell" => format!(
            "{} fire-and-forget messages from one task, then one request that sees them all.",
            grouped(sizes.tell as f64)
        ),
        "ask" => format!(
            "{} sequential request/reply round trips from one task, each timed.",
            grouped(sizes.ask as f64)
        ),
        "contended" => format!(
            "{} tasks each making {} timed requests to one shared actor (the mutex: a lock per request). \
             On two threads every tokio system is bimodal here: a run settles into one of two \
             schedules, about 2.2 or 5.2 million requests per second for the floor (see the \
             min–max ranges), so the two-thread medians depend on which schedule most runs \
             drew; the one-thread rows are steady.",
            grouped(sizes.tasks as f64),
            sizes.per_task
        ),
        "spawn" => format!(
            "Spawn {} actors, ask each once, stop them all and wait until every one has stopped; \
             memory is the resident memory the workload added at its peak (`VmHWM`), per actor.",
            grouped(sizes.spawn as f64)
        ),
        "pool_noop" => format!(
            "{} no-op jobs from one producer through a pool of {POOL_WORKERS} workers, timed \
             until the last job was handled.",
            grouped(sizes.pool_noop as f64)
        ),
        _ => format!(
            "{} jobs of 1 ms each (an async sleep; actix: `std::thread::sleep` on its sync workers) \
             from one producer through a pool of {POOL_WORKERS} workers.",
            grouped(sizes.pool_1ms as f64)
        ),
    }
}

/// How each system's pool is built.
const POOLS: &str = "Pools: `floor`, four tasks sharing one bounded `mpsc` receiver (1,024) \
    behind an async mutex; `actor-core`, an actor-factory `Factory` of four `#[actor]` workers, \
    queuer routing, a queue of 1,024 with waiting backpressure (`actor-core-1t`, `floor-1t`: the \
    same on one thread); `kameo`, \
    `kameo_actors::pool::ActorPool` (least-connections routing through the pool actor's \
    bounded mailbox); `ractor`, `ractor::factory::Factory` with queuer routing and its default \
    (unbounded) queue; `actix`, a `SyncArbiter` of four sync actors on threads of their own \
    (actix has no pool of async actors).";

/// What the figures say about the designs. Facts about the designs, read from their sources;
/// the numbers are in the tables above it.
const DISCUSSION: &str = "\
- **Messages.** actor-core sends the actor's own message enum (generated by `#[actor]`) by value \
  through a bounded tokio `mpsc`: a tell allocates nothing, an ask one `oneshot`. kameo boxes \
  every message (`Box<dyn DynMessage<A>>`) and, with its default `tracing` feature, opens a span \
  per message; ractor boxes every message as `Box<dyn Any + Send>` and, with its default \
  `message_span_propogation` feature, captures the sender's span with it; actix wraps every \
  message in a boxed `EnvelopeProxy`. A box and a span per message is most of what separates \
  kameo and ractor from the floor on `tell`, `ask` and `contended`.
- **Mailboxes.** actor-core (1,024) and kameo (64) have bounded mailboxes: a sender waits when \
  the actor falls behind, which is backpressure, and memory stays bounded. ractor's `cast` and \
  actix's `do_send` never wait: their `tell` figure is the rate at which messages are queued \
  and drained, and a producer faster than its actor grows the queue without limit.
- **Threads.** actor-core, kameo and ractor run actors as tasks on the shared two-thread tokio \
  runtime, so a message crosses threads whenever sender and actor run on different workers, \
  and a waiting actor or sender is woken across threads. actix runs each arbiter on one thread \
  with its own single-threaded runtime: sender and actor share it, nothing crosses threads, \
  and that, not the per-message work (actix boxes too), is why actix leads the two-thread \
  systems on `tell`, `contended` and `spawn`. The `-1t` rows separate the two effects: on one \
  thread the floor and actor-core gain as much, and the comparison with actix becomes one of \
  library overhead. The price of one thread is one core: an actix arbiter cannot use the \
  second core for handlers that do real work (it needs more arbiters and explicit placement), \
  while the tokio systems spread actors over the runtime's workers. Its `SyncArbiter` pool runs \
  workers on dedicated OS threads, the only pool here whose workers leave the runtime's \
  threads, which is why it leads `pool_noop`; its 1 ms job is `std::thread::sleep`, which \
  sleeps about 1.05 ms, while the tokio timer's 1 ms granularity makes an async 1 ms sleep \
  last about 2 ms: the `pool_1ms` lead of actix measures the timer, not the pool.
- **Spawning.** A floor actor is a task whose future holds the receiver and the state (under \
  64 bytes) and a channel. An actor-core actor adds a 136-byte shared cell (identity, name, \
  control state, stop reason, links and stop waiters, so that handles can watch, link, stop \
  and await it) and a 272-byte task future (context, pending message, shared-handler \
  bookkeeping, the panic guard around the message loop); stopping one publishes the reason and \
  wakes its waiters. That is the gap to the floor in rate and memory, and what would close it \
  is a cell allocated together with the mailbox, stop waiters allocated only when someone \
  waits, and a smaller task future. kameo and ractor allocate more per actor and use four to \
  five times the floor's memory; ractor's `spawn` also waits for `pre_start` before it \
  returns. An actix actor is a local task on its arbiter's thread holding its context and \
  mailbox, and uses about half the floor's memory.";

/// The peers section, between its markers.
pub(crate) fn section(
    summaries: &[Summary],
    sizes: &Sizes,
    rounds: usize,
    quick: bool,
    failures: &[String],
) -> String {
    let table = Table { summaries };
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .unwrap_or_default();
    let version = |name: &str| locked_version(&lock, name);
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}\n");
    md.push_str("## Side by side: actor-core, kameo, ractor, actix\n\n");
    let _ = writeln!(
        md,
        "Written by `cargo xtask bench --peers` on {}; do not edit by hand. Machine: {}.",
        today(),
        machine()
    );
    let _ = writeln!(
        md,
        "Versions: tokio {}, kameo {}, kameo_actors {}, ractor {}, actix {}, actix-rt {} (default features).",
        version("tokio"),
        version("kameo"),
        version("kameo_actors"),
        version("ractor"),
        version("actix"),
        version("actix-rt"),
    );
    let _ = writeln!(
        md,
        "\nEach workload ran {rounds} time(s) per system, every run in a fresh process, the systems \
         interleaved (their order rotated every round). Figures are the median run with the \
         min–max range; `× floor` is the median divided by the floor's median of the same run. \
         The floor is a hand-written tokio `mpsc` (1,024) + `oneshot` actor; `mutex` is an \
         `Arc<tokio::sync::Mutex<u64>>`. tokio-based systems run on a two-worker multi-thread \
         runtime, driven from a spawned task; actix runs in its own `System`, on one thread. \
         `floor-1t` and `actor-core-1t` are the floor and actor-core on a current-thread tokio \
         runtime: the like-for-like comparison with actix."
    );
    if quick {
        md.push_str("\n**This section comes from a `--quick` run and is not representative.**\n");
    }
    for failure in failures {
        let _ = writeln!(md, "\n**Run missing:** {failure}");
    }

    // The summary: every ratio at a glance.
    md.push_str("\n| workload | ");
    md.push_str(&SYSTEMS.join(" | "));
    md.push_str(" |\n|---|");
    md.push_str(&"---|".repeat(SYSTEMS.len()));
    md.push('\n');
    for workload in WORKLOADS {
        if table.get(workload, "floor").is_none() {
            continue;
        }
        let cells: Vec<String> = SYSTEMS
            .into_iter()
            .map(|system| {
                table.ratio(workload, system).map_or_else(
                    || "–".to_owned(),
                    |r| {
                        if system == "actor-core" {
                            format!("**{r:.2}×**")
                        } else {
                            format!("{r:.2}×")
                        }
                    },
                )
            })
            .collect();
        let _ = writeln!(md, "| {workload} | {} |", cells.join(" | "));
    }
    if let Some(floor) = table.bytes_per_actor("floor", sizes.spawn) {
        let cells: Vec<String> = SYSTEMS
            .into_iter()
            .map(|system| {
                table
                    .bytes_per_actor(system, sizes.spawn)
                    .map_or_else(|| "–".to_owned(), |b| format!("{:.2}×", b / floor))
            })
            .collect();
        let _ = writeln!(md, "| spawn memory per actor | {} |", cells.join(" | "));
    }

    for workload in WORKLOADS {
        if table.get(workload, "floor").is_none() {
            continue;
        }
        let _ = writeln!(md, "\n### {workload}\n\n{}\n", describe(workload, sizes));
        if workload == "pool_noop" {
            let _ = writeln!(md, "{POOLS}\n");
        }
        let latencies = matches!(workload, "ask" | "contended");
        let memory = workload == "spawn";
        md.push_str("| system | median /s | min–max /s | × floor |");
        if latencies {
            md.push_str(" p50 µs | p99 µs |");
        }
        if memory {
            md.push_str(" bytes per actor | × floor |");
        }
        md.push_str("\n|---|---|---|---|");
        if latencies {
            md.push_str("---|---|");
        }
        if memory {
            md.push_str("---|---|");
        }
        md.push('\n');
        let floor_bytes = table.bytes_per_actor("floor", sizes.spawn);
        for system in SYSTEMS {
            let Some(s) = table.get(workload, system) else { continue };
            let ratio = table.ratio(workload, system).unwrap_or(f64::NAN);
            let name = if system == "actor-core" { "**actor-core**" } else { system };
            let _ = write!(
                md,
                "| {name} | {} | {}–{} | {ratio:.2}× |",
                grouped(s.median.per_sec),
                grouped(s.min),
                grouped(s.max),
            );
            if latencies {
                let _ = write!(md, " {} | {} |", opt(s.median.p50_us), opt(s.median.p99_us));
            }
            if memory {
                let bytes = table.bytes_per_actor(system, sizes.spawn);
                let versus = bytes.zip(floor_bytes).map(|(b, f)| b / f);
                let _ = write!(
                    md,
                    " {} | {} |",
                    bytes.map_or_else(|| "–".to_owned(), grouped),
                    versus.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}×"))
                );
            }
            md.push('\n');
            if s.runs < rounds {
                let _ = writeln!(md, "\n({system}: {} of {rounds} runs completed)\n", s.runs);
            }
        }
    }

    md.push_str("\n### Targets\n\n");
    for workload in ["tell", "ask", "spawn", "contended"] {
        let Some(core) = table.get(workload, "actor-core") else { continue };
        let contended = workload == "contended";
        let mut cells = Vec::new();
        let mut met = true;
        for peer in PEERS {
            let Some(other) = table.get(workload, peer) else { continue };
            let ratio = core.median.per_sec / other.median.per_sec;
            met &= if contended { ratio >= 1.0 } else { ratio > 1.0 };
            cells.push(format!("{ratio:.2}× {peer}"));
        }
        let goal =
            if contended { "at least equal to the best peer" } else { "ahead of every peer" };
        let verdict = if met { "met" } else { "missed" };
        let _ = write!(md, "- {workload}: actor-core {goal}: {} ({verdict})", cells.join(", "));
        match (table.get(workload, "actor-core-1t"), table.get(workload, "actix")) {
            (Some(one), Some(actix)) => {
                let _ = writeln!(
                    md,
                    "; on one thread, as actix runs, actor-core-1t is {:.2}× actix.",
                    one.median.per_sec / actix.median.per_sec
                );
            }
            _ => md.push_str(".\n"),
        }
    }
    if let (Some(core), Some(floor)) = (
        table.bytes_per_actor("actor-core", sizes.spawn),
        table.bytes_per_actor("floor", sizes.spawn),
    ) {
        let ratio = core / floor;
        let verdict = if ratio <= 1.1 { "met" } else { "missed" };
        let _ = writeln!(
            md,
            "- memory per actor at most the floor's + 10%: {} bytes against {} bytes, {ratio:.2}× ({verdict}).",
            grouped(core),
            grouped(floor)
        );
    }
    for (system, floor) in [("actor-core", "floor"), ("actor-core-1t", "floor-1t")] {
        let cells: Vec<String> = ["tell", "ask", "contended", "spawn", "pool_noop"]
            .into_iter()
            .filter_map(|workload| {
                let ours = table.get(workload, system)?.median.per_sec;
                let base = table.get(workload, floor)?.median.per_sec;
                Some(format!("{workload} {:.2}×", ours / base))
            })
            .collect();
        if !cells.is_empty() {
            let _ = writeln!(
                md,
                "- {system} against {floor} (goal: within 10%): {}.",
                cells.join(", ")
            );
        }
    }

    md.push_str("\n### What the figures say\n\n");
    md.push_str(DISCUSSION);
    let _ = writeln!(md, "\n\n{END}");
    md
}
