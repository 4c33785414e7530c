//! Lifecycle hooks in the block: `on_start` (fallible, with the context), `on_stop` (with the
//! reason), `on_panic` (resuming); none of them is a message.

use std::sync::{Arc, Mutex};

use actor_core::{AskError, Context, PanicAction, StopReason, actor};

struct Engine {
    log: Arc<Mutex<Vec<String>>>,
}

#[actor]
impl Engine {
    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        self.log.lock().unwrap().push(format!("start {}", ctx.name()));
        Ok(())
    }

    fn on_stop(&mut self, _ctx: &Context<Self>, reason: &StopReason) {
        self.log.lock().unwrap().push(format!("stop: {reason}"));
    }

    fn on_panic(&mut self, panic: &str) -> PanicAction {
        self.log.lock().unwrap().push(format!("panic: {panic}"));
        PanicAction::Resume
    }

    fn rev(&mut self, rpm: u32) -> u32 {
        if rpm > 9_000 {
            panic!("over the limit");
        }
        rpm
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let engine = Engine { log: Arc::clone(&log) }.start().await.unwrap();
    assert_eq!(engine.rev(3_000).await, Ok(3_000));
    assert_eq!(engine.rev(9_001).await, Err(AskError::Panicked("over the limit".into())));
    assert_eq!(engine.rev(4_000).await, Ok(4_000), "resumed after the panic");
    engine.shutdown().await;
    assert_eq!(
        *log.lock().unwrap(),
        ["start Engine", "panic: over the limit", "stop: stopped normally"]
    );
}
