//! Stuck-actor detection. The watchdog is an OS thread on the real clock, so these tests run on
//! real time; each waits for an event, never for a fixed sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actor_core::supervision::{ChildSpec, SupervisionEvent, SupervisorSpec};
use actor_core::{Actor, Context, Reply, SpawnOptions};
use tokio::sync::broadcast;

const THRESHOLD: Duration = Duration::from_millis(50);

struct Hanger {
    release: Arc<AtomicBool>,
}

enum HangerMsg {
    AwaitForever,
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
    let hanger = supervisor.child::<Hanger>("hanger").unwrap();

    let start = Instant::now();
    hanger.tell(msg).await.unwrap();
    let busy_for = tokio::time::timeout(Duration::from_secs(30), next_stuck(&mut events))
        .await
        .expect("the stuck handler was never detected");
    let detected_after = start.elapsed();
    assert!(busy_for > THRESHOLD);
    assert!(
        detected_after <= 2 * THRESHOLD + Duration::from_millis(50),
        "detected after {detected_after:?}, later than 2 x threshold + 50 ms"
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
                .with_stuck_after(THRESHOLD)
                .spawn(Hanger { release: Arc::clone(&release) })
                .unwrap()
        })
        .collect();
    let until = Instant::now() + 100 * THRESHOLD;
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
    let idler = IdlerHandle::from_ref(supervisor.child::<Idler>("idler").unwrap());
    for _ in 0..10 {
        assert_eq!(idler.ping().await, Ok(1));
    }
    // Shared handlers finished and the mailbox is empty: waiting for mail is not being stuck.
    let alarm = tokio::time::timeout(4 * THRESHOLD, next_stuck(&mut events)).await;
    assert!(alarm.is_err(), "an idle actor was reported stuck after {:?}", alarm.ok());
    supervisor.stop();
    supervisor.stopped().await;
}
