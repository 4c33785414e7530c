use actor_core::actor;

struct Named {
    name: String,
}

#[actor]
impl Named {
    fn name(&self) -> &str {
        &self.name
    }
}

fn main() {
    let _ = async {
        let named = Named { name: "a".into() }.spawn().unwrap();
        let _ = named.name().await;
    };
}
