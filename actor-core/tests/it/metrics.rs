//! Metrics (feature `metrics`): a recording recorder sees exactly what a scripted run did.

use std::time::Duration;

use actor_core::supervision::{ChildSpec, SupervisorSpec};
use actor_core::{Actor, ActorRef, AskError, BoxError, Context, Reply, SpawnOptions};
use actor_test_support::metrics::recording;

/// Panics on messages 10, 20 and 30; reports metrics under the name `flaky-metrics`.
struct Flaky;

enum FlakyMsg {
    Work(u32, Reply<()>),
}

impl Actor for Flaky {
    type Message = FlakyMsg;

    fn default_options() -> SpawnOptions {
        SpawnOptions::new().with_name("flaky-metrics").with_metrics(true)
    }

    async fn handle(&mut self, msg: FlakyMsg, _ctx: &Context<Self>) {
        let FlakyMsg::Work(n, reply) = msg;
        if n % 10 == 0 && n <= 30 {
            panic!("message {n}");
        }
        reply.send(());
    }
}

#[tokio::test(start_paused = true)]
async fn counters_and_histograms_change_by_exactly_what_a_run_did() {
    let recording = recording();
    let spec = SupervisorSpec::new()
        .intensity(10, Duration::from_secs(60))
        .child(ChildSpec::new("flaky-metrics", || -> Result<Flaky, BoxError> { Ok(Flaky) }));
    let supervisor = spec.spawn().await.unwrap();
    let flaky = supervisor.child::<ActorRef<Flaky>>("flaky-metrics").unwrap();
    let mut panicked = 0;
    for n in 1..=100 {
        match flaky.ask(|reply| FlakyMsg::Work(n, reply)).await {
            Ok(()) => {}
            Err(AskError::Panicked(_)) => panicked += 1,
            Err(other) => panic!("message {n}: {other}"),
        }
    }
    assert_eq!(panicked, 3);

    let labels = "{kind=Flaky,name=flaky-metrics}";
    assert_eq!(recording.counter(&format!("actor_messages_total{labels}")), 100);
    assert_eq!(recording.counter(&format!("actor_panics_total{labels}")), 3);
    assert_eq!(recording.counter(&format!("actor_restarts_total{labels}")), 3);
    assert_eq!(
        recording.samples(&format!("actor_handler_seconds{labels}")),
        97,
        "panics are not timed"
    );
    assert_eq!(recording.gauge(&format!("actor_mailbox_depth{labels}")), Some(0.0));
    assert_eq!(recording.counter("actor_supervisor_restarts_total{child=flaky-metrics}"), 3);
    assert_eq!(recording.counter("actor_supervisor_escalations_total{child=flaky-metrics}"), 0);
    supervisor.shutdown().await;
}

struct Quiet;

impl Actor for Quiet {
    type Message = Reply<()>;

    async fn handle(&mut self, reply: Reply<()>, _ctx: &Context<Self>) {
        reply.send(());
    }
}

#[tokio::test]
async fn an_actor_with_metrics_off_reports_nothing() {
    let recording = recording();
    let quiet = SpawnOptions::new().with_name("unmetered").spawn(Quiet).unwrap();
    for _ in 0..10 {
        quiet.ask(|reply| reply).await.unwrap();
    }
    let keys = recording.keys();
    assert!(keys.iter().all(|key| !key.contains("unmetered")), "{keys:?}");
}
