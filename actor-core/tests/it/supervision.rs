//! Supervisors on tokio's paused clock: exact restart counts, the sliding intensity window,
//! restart types, ordered shutdown, and restarts that lose no queued message.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actor_core::supervision::{
    Backoff, ChildSpec, Restart, Strategy, SupervisionEvent, SupervisorSpec,
};
use actor_core::{Actor, ActorRef, AskError, BoxError, Context, Reply, StopReason};
use tokio::sync::broadcast;
use tokio::time::{Instant, sleep};

/// Shared across incarnations: what every incarnation did.
#[derive(Default)]
struct Journal {
    builds: AtomicUsize,
    crashes: AtomicUsize,
    fail_builds: AtomicBool,
    records: Mutex<Vec<u32>>,
    stops: Mutex<Vec<String>>,
    starts: Mutex<Vec<String>>,
}

struct Worker {
    name: &'static str,
    journal: Arc<Journal>,
}

enum WorkerMsg {
    Crash(Reply<()>),
    Record(u32),
    Records(Reply<Vec<u32>>),
    Echo(u32, Reply<u32>),
    StopSelf,
    Hang,
}

impl Actor for Worker {
    type Message = WorkerMsg;

    async fn on_stop(&mut self, _ctx: &Context<Self>, _reason: &StopReason) {
        self.journal.stops.lock().unwrap().push(self.name.to_owned());
    }

    async fn handle(&mut self, msg: WorkerMsg, ctx: &Context<Self>) {
        match msg {
            WorkerMsg::Crash(_reply) => {
                self.journal.crashes.fetch_add(1, Ordering::SeqCst);
                panic!("crash");
            }
            WorkerMsg::Record(n) => self.journal.records.lock().unwrap().push(n),
            WorkerMsg::Records(reply) => reply.send(self.journal.records.lock().unwrap().clone()),
            WorkerMsg::Echo(n, reply) => reply.send(n),
            WorkerMsg::StopSelf => ctx.stop(),
            WorkerMsg::Hang => std::future::pending::<()>().await,
        }
    }
}

fn worker(name: &'static str, journal: &Arc<Journal>) -> ChildSpec {
    let journal = Arc::clone(journal);
    ChildSpec::new(name, move || -> Result<Worker, BoxError> {
        journal.builds.fetch_add(1, Ordering::SeqCst);
        if journal.fail_builds.load(Ordering::SeqCst) {
            return Err("constructor failed".into());
        }
        journal.starts.lock().unwrap().push(name.to_owned());
        Ok(Worker { name, journal: Arc::clone(&journal) })
    })
}

/// Drains the events received so far into counts.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    started: usize,
    restarting: usize,
    stopped: usize,
    escalated: usize,
}

fn count(events: &mut broadcast::Receiver<SupervisionEvent>) -> Counts {
    let mut counts = Counts::default();
    while let Ok(event) = events.try_recv() {
        match event {
            SupervisionEvent::Started { .. } => counts.started += 1,
            SupervisionEvent::Restarting { .. } => counts.restarting += 1,
            SupervisionEvent::Stopped { .. } => counts.stopped += 1,
            SupervisionEvent::Escalated { .. } => counts.escalated += 1,
            _ => {}
        }
    }
    counts
}

async fn crash(child: &ActorRef<Worker>) {
    assert!(matches!(child.ask(WorkerMsg::Crash).await, Err(AskError::Panicked(_))));
    // Wait until the new incarnation answers (or the child is gone).
    let _ = child.ask(|reply| WorkerMsg::Echo(0, reply)).await;
}

#[tokio::test(start_paused = true)]
async fn intensity_three_in_five_seconds_escalates_on_the_fourth_crash() {
    let journal = Arc::new(Journal::default());
    let spec = SupervisorSpec::new()
        .intensity(3, Duration::from_secs(5))
        .child(worker("a", &journal))
        .child(worker("b", &journal))
        .child(worker("c", &journal));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let b = supervisor.child::<ActorRef<Worker>>("b").unwrap();
    let start = Instant::now();

    for second in 0..3 {
        sleep(Duration::from_secs(second) - start.elapsed()).await;
        crash(&b).await;
        assert!(supervisor.control().is_alive());
    }
    assert_eq!(
        count(&mut events),
        Counts { started: 3 + 3, restarting: 3, stopped: 0, escalated: 0 }
    );

    sleep(Duration::from_secs(3) - start.elapsed()).await;
    assert!(matches!(b.ask(WorkerMsg::Crash).await, Err(AskError::Panicked(_))));
    match supervisor.stopped().await {
        StopReason::Failed(error) => {
            assert!(error.to_string().contains("restart intensity exceeded"), "{error}")
        }
        other => panic!("expected the supervisor to fail, got {other:?}"),
    }
    assert_eq!(count(&mut events), Counts { started: 0, restarting: 0, stopped: 0, escalated: 1 });
    // `b` ran `on_stop` once per restart and once at the end; `c` and `a` stopped in reverse
    // start order.
    let stops: Vec<String> =
        journal.stops.lock().unwrap().iter().filter(|s| *s != "b").cloned().collect();
    assert_eq!(stops, ["c", "a"]);
    assert_eq!(journal.crashes.load(Ordering::SeqCst), 4);
}

async fn crash_every(period: Duration, total: Duration) -> (usize, Counts) {
    let journal = Arc::new(Journal::default());
    let spec =
        SupervisorSpec::new().intensity(3, Duration::from_secs(5)).child(worker("w", &journal));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let w = supervisor.child::<ActorRef<Worker>>("w").unwrap();
    let start = Instant::now();
    let mut crashes = 0;
    while start.elapsed() < total && supervisor.control().is_alive() {
        crash(&w).await;
        crashes += 1;
        sleep(period).await;
    }
    (crashes, count(&mut events))
}

#[tokio::test(start_paused = true)]
async fn the_intensity_window_slides() {
    // Every 1.7 s: never more than 3 restarts in any 5 s, for two minutes.
    let (crashes, counts) =
        crash_every(Duration::from_millis(1700), Duration::from_secs(120)).await;
    assert_eq!(crashes, 71);
    assert_eq!(counts, Counts { started: 72, restarting: 71, stopped: 0, escalated: 0 });

    // Every 1.2 s: the fourth crash is the fourth restart within 5 s.
    let (crashes, counts) =
        crash_every(Duration::from_millis(1200), Duration::from_secs(120)).await;
    assert_eq!(crashes, 4);
    assert_eq!(counts, Counts { started: 4, restarting: 3, stopped: 0, escalated: 1 });
}

#[tokio::test(start_paused = true)]
async fn restart_types_decide_after_normal_and_abnormal_exits() {
    let journal = Arc::new(Journal::default());
    let spec = SupervisorSpec::new()
        .child(worker("permanent", &journal).restart(Restart::Permanent))
        .child(worker("transient", &journal).restart(Restart::Transient))
        .child(worker("temporary", &journal).restart(Restart::Temporary));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    assert_eq!(count(&mut events).started, 3);

    // Stopping itself: a permanent child starts again, a transient one does not.
    let permanent = supervisor.child::<ActorRef<Worker>>("permanent").unwrap();
    permanent.tell(WorkerMsg::StopSelf).await.unwrap();
    assert_eq!(permanent.ask(|reply| WorkerMsg::Echo(1, reply)).await, Ok(1));
    let transient = supervisor.child::<ActorRef<Worker>>("transient").unwrap();
    transient.tell(WorkerMsg::StopSelf).await.unwrap();
    assert!(matches!(transient.stopped().await, StopReason::Normal));

    // A panic: a temporary child is not restarted.
    let temporary = supervisor.child::<ActorRef<Worker>>("temporary").unwrap();
    assert!(matches!(temporary.ask(WorkerMsg::Crash).await, Err(AskError::Panicked(_))));
    assert!(matches!(temporary.stopped().await, StopReason::Panicked(_)));

    assert_eq!(count(&mut events), Counts { started: 1, restarting: 1, stopped: 2, escalated: 0 });
    assert!(supervisor.control().is_alive());
}

#[tokio::test(start_paused = true)]
async fn a_transient_child_is_restarted_after_a_panic() {
    let journal = Arc::new(Journal::default());
    let spec = SupervisorSpec::new().child(worker("t", &journal).restart(Restart::Transient));
    let supervisor = spec.spawn().await.unwrap();
    let t = supervisor.child::<ActorRef<Worker>>("t").unwrap();
    crash(&t).await;
    assert_eq!(t.ask(|reply| WorkerMsg::Echo(7, reply)).await, Ok(7));
    assert_eq!(journal.builds.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_ignores_stop_is_killed_at_its_timeout() {
    let journal = Arc::new(Journal::default());
    let spec = SupervisorSpec::new()
        .child(worker("polite", &journal))
        .child(worker("stubborn", &journal).shutdown_timeout(Duration::from_secs(2)));
    let supervisor = spec.spawn().await.unwrap();
    let stubborn = supervisor.child::<ActorRef<Worker>>("stubborn").unwrap();
    let polite = supervisor.child::<ActorRef<Worker>>("polite").unwrap();
    stubborn.tell(WorkerMsg::Hang).await.unwrap();

    let start = Instant::now();
    supervisor.stop();
    assert!(matches!(supervisor.stopped().await, StopReason::Normal));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(matches!(stubborn.stopped().await, StopReason::Killed));
    assert!(matches!(polite.stopped().await, StopReason::Normal));
    // The killed child's `on_stop` did not run; the polite one's did.
    assert_eq!(*journal.stops.lock().unwrap(), ["polite"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_constructor_counts_against_the_intensity() {
    let journal = Arc::new(Journal::default());
    let spec =
        SupervisorSpec::new().intensity(3, Duration::from_secs(5)).child(worker("w", &journal));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let w = supervisor.child::<ActorRef<Worker>>("w").unwrap();
    journal.fail_builds.store(true, Ordering::SeqCst);
    assert!(matches!(w.ask(WorkerMsg::Crash).await, Err(AskError::Panicked(_))));
    assert!(matches!(supervisor.stopped().await, StopReason::Failed(_)));
    // The first build, then three failed restarts; the fourth decision escalates.
    assert_eq!(journal.builds.load(Ordering::SeqCst), 4);
    assert_eq!(count(&mut events), Counts { started: 1, restarting: 3, stopped: 0, escalated: 1 });
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_restarts_exponentially() {
    let journal = Arc::new(Journal::default());
    let spec = SupervisorSpec::new()
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_millis(350)))
        .child(worker("w", &journal));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let w = supervisor.child::<ActorRef<Worker>>("w").unwrap();
    let mut delays = Vec::new();
    for _ in 0..4 {
        let start = Instant::now();
        crash(&w).await;
        delays.push(start.elapsed());
    }
    assert_eq!(delays, [100, 200, 350, 350].map(Duration::from_millis));
    let restarting = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|event| match event {
            SupervisionEvent::Restarting { delay, .. } => Some(delay),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(restarting, delays);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_panics_lose_and_reorder_no_queued_message() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let journal = Arc::new(Journal::default());
    let spec =
        SupervisorSpec::new().intensity(1_000, Duration::from_secs(1)).child(worker("w", &journal));
    let supervisor = spec.spawn().await.unwrap();
    let w = supervisor.child::<ActorRef<Worker>>("w").unwrap();

    let mut expected = Vec::with_capacity(100_000);
    for round in 0..1_000u32 {
        w.tell(WorkerMsg::Crash(Reply::discard())).await.unwrap();
        for i in 0..100 {
            let n = round * 100 + i;
            w.tell(WorkerMsg::Record(n)).await.unwrap();
            expected.push(n);
        }
    }
    let records = w.ask(WorkerMsg::Records).await.unwrap();
    assert_eq!(records.len(), 100_000, "queued messages were lost");
    assert!(records == expected, "queued messages were reordered");
    assert_eq!(
        journal.crashes.load(Ordering::SeqCst),
        1_000,
        "a crashing message was handled twice"
    );
    assert_eq!(journal.builds.load(Ordering::SeqCst), 1_001);
    assert!(supervisor.control().is_alive());
}

struct FailsToStart {
    starts: Arc<AtomicUsize>,
}

impl Actor for FailsToStart {
    type Message = ();

    async fn on_start(&mut self, _ctx: &Context<Self>) -> Result<(), BoxError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Err("cannot start".into())
    }

    async fn handle(&mut self, (): (), _ctx: &Context<Self>) {}
}

#[tokio::test(start_paused = true)]
async fn a_grandchild_crash_loop_escalates_level_by_level() {
    let grandchild_starts = Arc::new(AtomicUsize::new(0));
    let middle_builds = Arc::new(AtomicUsize::new(0));
    let (starts, builds) = (Arc::clone(&grandchild_starts), Arc::clone(&middle_builds));
    let middle = ChildSpec::supervisor("middle", move || {
        builds.fetch_add(1, Ordering::SeqCst);
        let starts = Arc::clone(&starts);
        SupervisorSpec::new()
            .intensity(2, Duration::from_secs(10))
            .child(ChildSpec::new("grandchild", move || {
                Ok(FailsToStart { starts: Arc::clone(&starts) })
            }))
    });
    let spec = SupervisorSpec::new().intensity(1, Duration::from_secs(10)).child(middle);
    let mut events = spec.subscribe();
    let top = spec.spawn().await;

    // The grandchild starts 3 times per middle incarnation (1 + 2 restarts), the middle
    // supervisor twice (1 + 1 restart), then the top one gives up.
    let reason = match top {
        Ok(top) => top.stopped().await,
        Err(error) => panic!("the top supervisor did not start: {error}"),
    };
    assert!(matches!(reason, StopReason::Failed(_)), "{reason:?}");
    assert_eq!(grandchild_starts.load(Ordering::SeqCst), 6);
    assert_eq!(middle_builds.load(Ordering::SeqCst), 2);
    let counts = count(&mut events);
    assert_eq!((counts.restarting, counts.escalated), (1, 1), "{counts:?}");
}

async fn group_restart(strategy: Strategy) -> (Vec<String>, Vec<String>, Counts) {
    let journal = Arc::new(Journal::default());
    let spec = SupervisorSpec::new()
        .strategy(strategy)
        .child(worker("a", &journal))
        .child(worker("b", &journal))
        .child(worker("c", &journal))
        .child(worker("d", &journal));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    count(&mut events);
    journal.starts.lock().unwrap().clear();
    let b = supervisor.child::<ActorRef<Worker>>("b").unwrap();
    crash(&b).await;
    // Every child answers again through the references taken before the restart.
    for name in ["a", "b", "c", "d"] {
        let child = supervisor.child::<ActorRef<Worker>>(name).unwrap();
        assert_eq!(child.ask(|reply| WorkerMsg::Echo(1, reply)).await, Ok(1), "{name}");
    }
    let stops = journal.stops.lock().unwrap().clone();
    let starts = journal.starts.lock().unwrap().clone();
    (stops, starts, count(&mut events))
}

#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_every_child_in_order() {
    let (stops, starts, counts) = group_restart(Strategy::OneForAll).await;
    assert_eq!(stops, ["d", "c", "b", "a"], "stopped in reverse start order");
    assert_eq!(starts, ["a", "b", "c", "d"], "started in start order");
    assert_eq!(counts, Counts { started: 4, restarting: 4, stopped: 0, escalated: 0 });
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    let (stops, starts, counts) = group_restart(Strategy::RestForOne).await;
    assert_eq!(stops, ["d", "c", "b"]);
    assert_eq!(starts, ["b", "c", "d"]);
    assert_eq!(counts, Counts { started: 3, restarting: 3, stopped: 0, escalated: 0 });
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let (stops, starts, counts) = group_restart(Strategy::OneForOne).await;
    assert_eq!(stops, ["b"]);
    assert_eq!(starts, ["b"]);
    assert_eq!(counts, Counts { started: 1, restarting: 1, stopped: 0, escalated: 0 });
}
