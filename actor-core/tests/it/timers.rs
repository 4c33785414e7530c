//! Timers and background tasks, on tokio's paused clock.

use std::time::Duration;

use actor_core::{Actor, Context, Reply, TaskHandle};
use tokio::time::{Instant, sleep};

#[derive(Default)]
struct Clock {
    ticks: Vec<Duration>,
    started: Option<Instant>,
    interval: Option<TaskHandle>,
    results: Vec<u64>,
}

enum ClockMsg {
    Tick,
    StartInterval(Duration),
    CancelInterval,
    After(Duration),
    Compute(u64),
    Computed(u64),
    Seen(Reply<(Vec<Duration>, Vec<u64>)>),
    IntervalHandle(Reply<Option<TaskHandle>>),
}

impl Actor for Clock {
    type Message = ClockMsg;

    async fn on_start(&mut self, _ctx: &Context<Self>) -> Result<(), actor_core::BoxError> {
        self.started = Some(Instant::now());
        Ok(())
    }

    async fn handle(&mut self, msg: ClockMsg, ctx: &Context<Self>) {
        match msg {
            ClockMsg::Tick => self.ticks.push(self.started.unwrap().elapsed()),
            ClockMsg::StartInterval(period) => {
                self.interval = Some(ctx.send_interval(period, || ClockMsg::Tick))
            }
            ClockMsg::CancelInterval => self.interval.take().unwrap().cancel(),
            ClockMsg::After(delay) => {
                ctx.send_after(delay, ClockMsg::Tick);
            }
            ClockMsg::Compute(n) => {
                ctx.spawn_task_then(
                    async move {
                        sleep(Duration::from_secs(n)).await;
                        n * 10
                    },
                    ClockMsg::Computed,
                );
            }
            ClockMsg::Computed(n) => self.results.push(n),
            ClockMsg::Seen(reply) => reply.send((self.ticks.clone(), self.results.clone())),
            ClockMsg::IntervalHandle(reply) => reply.send(self.interval.clone()),
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn send_interval_ticks_every_period_until_cancelled() {
    let clock = actor_core::spawn(Clock::default()).unwrap();
    clock.tell(ClockMsg::StartInterval(ms(10))).await.unwrap();
    sleep(ms(55)).await;
    let (ticks, _) = clock.ask(ClockMsg::Seen).await.unwrap();
    assert_eq!(ticks, [ms(10), ms(20), ms(30), ms(40), ms(50)]);

    clock.tell(ClockMsg::CancelInterval).await.unwrap();
    sleep(ms(100)).await;
    let (ticks, _) = clock.ask(ClockMsg::Seen).await.unwrap();
    assert_eq!(ticks.len(), 5, "no tick after the interval was cancelled");
}

#[tokio::test(start_paused = true)]
async fn send_after_delivers_once_after_the_delay() {
    let clock = actor_core::spawn(Clock::default()).unwrap();
    clock.tell(ClockMsg::After(ms(250))).await.unwrap();
    sleep(ms(249)).await;
    assert!(clock.ask(ClockMsg::Seen).await.unwrap().0.is_empty());
    sleep(ms(1_000)).await;
    assert_eq!(clock.ask(ClockMsg::Seen).await.unwrap().0, [ms(250)]);
}

#[tokio::test(start_paused = true)]
async fn a_background_result_comes_back_as_a_message_without_blocking_the_mailbox() {
    let clock = actor_core::spawn(Clock::default()).unwrap();
    clock.tell(ClockMsg::Compute(30)).await.unwrap();
    clock.tell(ClockMsg::Compute(10)).await.unwrap();
    // The mailbox answers at once while both computations run.
    let before = Instant::now();
    assert!(clock.ask(ClockMsg::Seen).await.unwrap().1.is_empty());
    assert_eq!(before.elapsed(), Duration::ZERO);

    sleep(Duration::from_secs(31)).await;
    assert_eq!(clock.ask(ClockMsg::Seen).await.unwrap().1, [100, 300]);
}

#[tokio::test(start_paused = true)]
async fn timers_end_with_their_actor() {
    let clock = actor_core::spawn(Clock::default()).unwrap();
    clock.tell(ClockMsg::StartInterval(ms(10))).await.unwrap();
    let interval = clock.ask(ClockMsg::IntervalHandle).await.unwrap().unwrap();
    assert!(!interval.is_finished());
    clock.stop();
    clock.stopped().await;
    assert!(interval.is_finished(), "the interval outlived its actor");
}
