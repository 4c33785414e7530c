use actor_core::actor;

struct Tagger;

#[actor]
impl Tagger {
    async fn tag<'a>(&'a mut self, s: &'a str) -> &'a str {
        s
    }
}

fn main() {
    let _ = async {
        let tagger = Tagger.spawn().unwrap();
        let _ = tagger.tag("x").await;
    };
}
