use actor_core::actor;

struct Point {
    x: i32,
}

#[actor]
impl Point {
    fn get_x(&self) -> i32 {
        self.x
    }

    fn get__x(&self) -> i32 {
        self.x
    }
}

fn main() {}
