//! Handlers returning nothing, a value, a tuple and an `Option`.

use actor_core::actor;

#[derive(Default)]
struct Log {
    lines: Vec<String>,
}

#[actor]
impl Log {
    fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    fn first_and_last(&self) -> (Option<String>, Option<String>) {
        (self.lines.first().cloned(), self.lines.last().cloned())
    }

    fn clear(&mut self) -> () {
        self.lines.clear();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let log = Log::default().spawn().unwrap();
    log.push("a".into()).await.unwrap();
    log.push("b".into()).await.unwrap();
    assert_eq!(log.len().await, Ok(2));
    assert_eq!(log.first_and_last().await, Ok((Some("a".into()), Some("b".into()))));
    log.clear().await.unwrap();
    assert_eq!(log.len().await, Ok(0));
}
