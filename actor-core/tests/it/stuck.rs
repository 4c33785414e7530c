//! Stuck-actor detection. The watchdog is an OS thread on the real clock, so these tests run on
//! real time; each waits for an event, never for a fixed sleep. Wall-clock bounds carry margins
//! for a loaded two-core machine: the documented detection time is 1.4 x the threshold, the
//! tests allow a second more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actor_core::supervision::{ChildSpec, SupervisionEvent, SupervisorSpec};
use actor_core::{Actor, ActorRef, Context, Reply, SpawnOptions};
use tokio::sync::broadcast;

/// The threshold of the detection tests.
const THRESHOLD: Duration = Duration::from_millis(100);
/// The threshold of the tests that must raise no alarm: above any scheduling delay of one
/// runtime thread on a loaded machine.
const HEALTHY_THRESHOLD: Duration = Duration::from_millis(250);

struct Hanger {
    release: Arc<AtomicBool>,
}

enum HangerMsg {
    AwaitForever,
    /// Awaits a timer: busy, but making progress within the threshold.
    Nap(Duration, Reply<()>),
    Spin,
    Echo(u32, Reply<u32>),
    Work(Reply<()>),
}

impl Actor for Hanger {
    type Message = HangerMsg;

    async fn handle(&mut self, msg: HangerMsg, _ctx: &Context<Self>) {
        match msg {
            HangerMsg::AwaitForever => std::future::pending::<()>().await,
            HangerMsg::Spin => {
                while !self.release.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            }
            HangerMsg::Echo(n, reply) => reply.send(n),
            HangerMsg::Nap(time, reply) => {
                tokio::time::sleep(time).await;
                reply.send(());
            }
            HangerMsg::Work(reply) => {
                // A short burst of real work.
                let mut x = 0u64;
                for i in 0..2_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                std::hint::black_box(x);
                reply.send(());
            }
        }
    }
}

async fn next_stuck(events: &mut broadcast::Receiver<SupervisionEvent>) -> Duration {
    loop {
        match events.recv().await.expect("the supervisor is running") {
            SupervisionEvent::Stuck { busy_for, .. } => return busy_for,
            _ => continue,
        }
    }
}

async fn detect(msg: HangerMsg, release: Arc<AtomicBool>) {
    let spec = SupervisorSpec::new().child(
        ChildSpec::new("hanger", {
            let release = Arc::clone(&release);
            move || Ok(Hanger { release: Arc::clone(&release) })
        })
        .stuck_after(THRESHOLD),
    );
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let hanger = supervisor.child::<ActorRef<Hanger>>("hanger").unwrap();

    let start = Instant::now();
    hanger.tell(msg).await.unwrap();
    let busy_for = tokio::time::timeout(Duration::from_secs(30), next_stuck(&mut events))
        .await
        .expect("the stuck handler was never detected");
    let detected_after = start.elapsed();
    assert!(busy_for > THRESHOLD);
    assert!(
        detected_after <= THRESHOLD * 14 / 10 + Duration::from_secs(1),
        "detected after {detected_after:?}, later than 1.4 x threshold + 1 s"
    );

    // Let a spinning handler return; an awaiting one was already dropped. Either way the child
    // restarts and answers through the same reference.
    release.store(true, Ordering::Release);
    assert_eq!(hanger.ask(|reply| HangerMsg::Echo(7, reply)).await, Ok(7));
    supervisor.stop();
    supervisor.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_awaiting_forever_is_detected_and_restarted() {
    let _serial = crate::support::REAL_TIME.lock().await;
    detect(HangerMsg::AwaitForever, Arc::new(AtomicBool::new(false))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_spinning_on_the_cpu_is_detected() {
    let _serial = crate::support::REAL_TIME.lock().await;
    detect(HangerMsg::Spin, Arc::new(AtomicBool::new(false))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_busy_healthy_actors_raise_no_alarm() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let release = Arc::new(AtomicBool::new(true));
    let actors: Vec<_> = (0..2_000)
        .map(|_| {
            SpawnOptions::new()
                .with_stuck_after(HEALTHY_THRESHOLD)
                .spawn(Hanger { release: Arc::clone(&release) })
                .unwrap()
        })
        .collect();
    let until = Instant::now() + 12 * HEALTHY_THRESHOLD;
    let drivers: Vec<_> = actors
        .iter()
        .cloned()
        .map(|actor| {
            tokio::spawn(async move {
                let mut handled = 0u32;
                while Instant::now() < until {
                    actor.ask(HangerMsg::Work).await.expect("a healthy actor answers");
                    handled += 1;
                }
                handled
            })
        })
        .collect();
    let mut handled = 0;
    for driver in drivers {
        handled += driver.await.unwrap();
    }
    assert!(handled > 2_000, "the actors were kept busy ({handled} handlers)");
    let alarms = actors.iter().filter(|actor| !actor.is_alive()).count();
    assert_eq!(alarms, 0, "healthy actors were reported stuck");
}

struct Idler;

#[actor_core::actor]
impl Idler {
    async fn ping(&self) -> u32 {
        tokio::task::yield_now().await;
        1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_idle_after_shared_handlers_is_not_stuck() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let spec =
        SupervisorSpec::new().child(ChildSpec::new("idler", || Ok(Idler)).stuck_after(THRESHOLD));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let idler = supervisor.child::<IdlerHandle>("idler").unwrap();
    for _ in 0..10 {
        assert_eq!(idler.ping().await, Ok(1));
    }
    // Shared handlers finished and the mailbox is empty: waiting for mail is not being stuck.
    let alarm = tokio::time::timeout(4 * THRESHOLD, next_stuck(&mut events)).await;
    assert!(alarm.is_err(), "an idle actor was reported stuck after {:?}", alarm.ok());
    supervisor.stop();
    supervisor.stopped().await;
}

/// Stops the whole test process with `SIGSTOP` for `pause`, from a helper process, and
/// returns the longest gap a thread of this process saw meanwhile (proof of the pause).
fn freeze_process(pause: Duration) -> Duration {
    let stopped = Arc::new(AtomicBool::new(false));
    // The pause starts only once the watcher runs: on a loaded machine a thread just spawned
    // may not have run yet when a short pause is already over.
    let (running, started) = std::sync::mpsc::channel();
    let watcher = std::thread::spawn({
        let stopped = Arc::clone(&stopped);
        move || {
            let mut last = Instant::now();
            let mut longest = Duration::ZERO;
            let _ = running.send(());
            while !stopped.load(Ordering::Acquire) {
                std::thread::park_timeout(Duration::from_millis(1));
                let now = Instant::now();
                longest = longest.max(now - last);
                last = now;
            }
            longest
        }
    });
    started.recv().expect("the watcher runs");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -STOP $0; sleep {}; kill -CONT $0", pause.as_secs_f64()))
        .arg(std::process::id().to_string())
        .status()
        .expect("sh runs");
    assert!(status.success(), "the helper failed: {status}");
    stopped.store(true, Ordering::Release);
    watcher.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_of_the_whole_process_kills_no_healthy_actor() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let release = Arc::new(AtomicBool::new(true));
    let actors: Vec<_> = (0..200)
        .map(|_| {
            SpawnOptions::new()
                .with_stuck_after(THRESHOLD)
                .spawn(Hanger { release: Arc::clone(&release) })
                .unwrap()
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    // Every actor keeps awaiting 20 ms naps: busy nearly all the time, never stuck.
    let drivers: Vec<_> = actors
        .iter()
        .cloned()
        .map(|actor| {
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let mut naps = 0u32;
                while !done.load(Ordering::Acquire) {
                    actor
                        .ask(|reply| HangerMsg::Nap(Duration::from_millis(20), reply))
                        .await
                        .expect("a healthy actor answers");
                    naps += 1;
                }
                naps
            })
        })
        .collect();
    // Let the naps start, then freeze everything for three thresholds.
    tokio::time::sleep(3 * THRESHOLD).await;
    let gap = tokio::task::spawn_blocking(|| freeze_process(3 * THRESHOLD)).await.unwrap();
    assert!(gap >= 2 * THRESHOLD, "the process was not paused (longest gap {gap:?})");
    // Long enough after the pause for a wrong alarm to be raised and acted on.
    tokio::time::sleep(3 * THRESHOLD).await;
    done.store(true, Ordering::Release);
    let mut naps = 0;
    for driver in drivers {
        naps += driver.await.unwrap();
    }
    assert!(naps >= 200, "the actors were kept busy ({naps} naps)");
    let alarms = actors.iter().filter(|actor| !actor.is_alive()).count();
    assert_eq!(alarms, 0, "healthy actors were killed after a pause of the process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_handler_is_still_detected_after_a_pause_of_the_process() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let spec = SupervisorSpec::new().child(
        ChildSpec::new("hanger", || Ok(Hanger { release: Arc::new(AtomicBool::new(true)) }))
            .stuck_after(THRESHOLD),
    );
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let hanger = supervisor.child::<ActorRef<Hanger>>("hanger").unwrap();
    hanger.tell(HangerMsg::AwaitForever).await.unwrap();
    let gap = tokio::task::spawn_blocking(|| freeze_process(3 * THRESHOLD)).await.unwrap();
    assert!(gap >= 2 * THRESHOLD, "the process was not paused (longest gap {gap:?})");
    let busy_for = tokio::time::timeout(Duration::from_secs(30), next_stuck(&mut events))
        .await
        .expect("the stuck handler was never detected");
    assert!(busy_for > THRESHOLD);
    assert_eq!(hanger.ask(|reply| HangerMsg::Echo(7, reply)).await, Ok(7));
    supervisor.stop();
    supervisor.stopped().await;
}
