//! A handler that takes its caller's `Reply` and answers later, from elsewhere: here, from a
//! background task, so that the actor goes on with its next message meanwhile.

use std::time::Duration;

use actor_core::{AskError, Context, Reply, actor};

struct Oracle {
    asked: u32,
}

#[actor]
impl Oracle {
    /// Answers after `delay`, without holding the actor while it waits.
    fn slow_answer(&mut self, ctx: &Context<Self>, delay: Duration, reply: Reply<u32>) {
        self.asked += 1;
        let answer = self.asked * 10;
        ctx.spawn_task(async move {
            tokio::time::sleep(delay).await;
            reply.send(answer);
        });
    }

    /// Never answers: dropping the slot tells the caller so.
    fn no_answer(&mut self, reply: Reply<Result<u32, String>>) {
        drop(reply);
    }

    fn asked(&self) -> u32 {
        self.asked
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let oracle = Oracle { asked: 0 }.spawn().unwrap();
    let slow = oracle.slow_answer(Duration::from_secs(60));
    let (answer, asked) = tokio::join!(slow, async {
        tokio::task::yield_now().await;
        oracle.asked().await
    });
    assert_eq!(answer, Ok(10));
    assert_eq!(asked, Ok(1), "the actor answered another call while the first one waited");
    assert_eq!(oracle.no_answer().await, Err(actor_core::CallError::Ask(AskError::Stopped)));
    oracle.tell(OracleMessage::slow_answer(Duration::ZERO)).await.unwrap();
    assert_eq!(oracle.asked().await, Ok(2));
    oracle.shutdown().await;
}
