use actor_core::actor;

struct View<'a> {
    data: &'a [u8],
}

#[actor]
impl<'a> View<'a> {
    fn len(&self) -> usize {
        self.data.len()
    }
}

fn main() {}
