//! Shared (`&self`) handlers overlap with each other, never with an exclusive one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actor_core::{Actor, Context, Dispatch, Reply, SpawnOptions};
use futures_util::future::join_all;
use tokio::sync::{Barrier, oneshot};

#[derive(Default)]
struct Hub {
    stats: Arc<Stats>,
    exclusive_count: u64,
}

/// What the hub observed, shared with the test.
#[derive(Default)]
struct Stats {
    active_shared: AtomicUsize,
    max_shared_seen: AtomicUsize,
    exclusive_running: AtomicBool,
    violations: AtomicUsize,
}

enum HubMsg {
    /// Shared: waits at the barrier, so it can only finish if another `Meet` runs meanwhile.
    Meet(Arc<Barrier>, Reply<()>),
    /// Shared and synchronous.
    Peek(Reply<u64>),
    /// Shared: counts how many shared handlers overlap.
    Work(Reply<()>),
    /// Shared: a long poll that ends when `done` fires.
    Poll(oneshot::Receiver<()>, Reply<()>),
    /// Exclusive: checks that nothing else runs.
    Exclusive(Reply<u64>),
}

impl Stats {
    fn enter_shared(&self) {
        if self.exclusive_running.load(Ordering::SeqCst) {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.active_shared.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_shared_seen.fetch_max(now, Ordering::SeqCst);
    }

    fn leave_shared(&self) {
        self.active_shared.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Actor for Hub {
    type Message = HubMsg;

    async fn handle(&mut self, msg: HubMsg, _ctx: &Context<Self>) {
        let HubMsg::Exclusive(reply) = msg else {
            unreachable!("shared messages never reach handle")
        };
        let stats = &self.stats;
        if stats.active_shared.load(Ordering::SeqCst) != 0
            || stats.exclusive_running.swap(true, Ordering::SeqCst)
        {
            stats.violations.fetch_add(1, Ordering::SeqCst);
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.exclusive_count += 1;
        stats.exclusive_running.store(false, Ordering::SeqCst);
        reply.send(self.exclusive_count);
    }

    fn handle_shared<'a>(
        &'a self,
        msg: HubMsg,
        _ctx: &'a Context<Self>,
    ) -> Dispatch<impl Future<Output = ()> + Send + 'a, HubMsg> {
        match msg {
            HubMsg::Exclusive(_) => return Dispatch::Exclusive(msg),
            HubMsg::Peek(reply) => {
                self.stats.enter_shared();
                reply.send(self.exclusive_count);
                self.stats.leave_shared();
                return Dispatch::Done;
            }
            HubMsg::Meet(..) | HubMsg::Work(_) | HubMsg::Poll(..) => {}
        }
        Dispatch::Pending(async move {
            self.stats.enter_shared();
            match msg {
                HubMsg::Meet(barrier, reply) => {
                    barrier.wait().await;
                    reply.send(());
                }
                HubMsg::Work(reply) => {
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    reply.send(());
                }
                HubMsg::Poll(done, reply) => {
                    let _ = done.await;
                    reply.send(());
                }
                HubMsg::Peek(_) | HubMsg::Exclusive(_) => unreachable!("dispatched above"),
            }
            self.stats.leave_shared();
        })
    }
}

#[tokio::test]
async fn two_shared_handlers_that_wait_for_each_other_both_finish() {
    let hub = actor_core::spawn(Hub::default()).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let (a, b) = tokio::join!(
        hub.ask(|reply| HubMsg::Meet(barrier.clone(), reply)),
        hub.ask(|reply| HubMsg::Meet(barrier.clone(), reply)),
    );
    assert_eq!((a, b), (Ok(()), Ok(())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_handlers_never_overlap_with_anything() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let stats = Arc::new(Stats::default());
    let hub = SpawnOptions::new()
        .with_max_shared(8)
        .spawn(Hub { stats: stats.clone(), exclusive_count: 0 })
        .unwrap();
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let hub = hub.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    if (i + sender) % 5 == 0 {
                        hub.ask(HubMsg::Exclusive).await.unwrap();
                    } else {
                        // Fire several shared messages without waiting, so they can overlap.
                        let works = (0..3).map(|_| hub.ask(HubMsg::Work));
                        for result in join_all(works).await {
                            result.unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for sender in join_all(senders).await {
        sender.unwrap();
    }
    let exclusive_total = hub.ask(HubMsg::Exclusive).await.unwrap();
    assert_eq!(exclusive_total, 4 * 40 + 1);
    assert_eq!(
        stats.violations.load(Ordering::SeqCst),
        0,
        "an exclusive handler overlapped with another"
    );
    let max = stats.max_shared_seen.load(Ordering::SeqCst);
    assert!(max > 1, "shared handlers never overlapped (max {max})");
    assert!(max <= 8, "more shared handlers overlapped than the limit allows (max {max})");
}

#[tokio::test]
async fn a_long_poll_does_not_block_shared_calls_but_holds_back_exclusive_ones() {
    let hub = actor_core::spawn(Hub::default()).unwrap();
    let (done_tx, done_rx) = oneshot::channel();
    let poll = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.ask(|reply| HubMsg::Poll(done_rx, reply)).await })
    };
    // Other shared calls are answered while the poll is outstanding.
    for _ in 0..10 {
        assert_eq!(hub.ask(HubMsg::Peek).await, Ok(0));
    }
    assert!(!poll.is_finished());

    // An exclusive call waits for the poll to finish.
    let exclusive = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.ask(HubMsg::Exclusive).await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!exclusive.is_finished(), "an exclusive handler ran during a shared one");

    done_tx.send(()).unwrap();
    assert_eq!(poll.await.unwrap(), Ok(()));
    assert_eq!(exclusive.await.unwrap(), Ok(1));
}
