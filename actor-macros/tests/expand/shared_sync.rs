//! Only synchronous `&self` handlers: every message is answered inline.

use actor_core::actor;

struct Config {
    name: String,
    port: u16,
}

#[actor]
impl Config {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn port(&self) -> u16 {
        self.port
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = Config { name: "api".into(), port: 8080 }.spawn().unwrap();
    assert_eq!(config.name().await.unwrap(), "api");
    assert_eq!(config.port().await, Ok(8080));
}
