//! A generic actor: the message enum and the handle carry its parameters.

use std::collections::HashMap;

use actor_core::actor;

struct Cache<V> {
    entries: HashMap<String, V>,
}

#[actor]
impl<V: Clone + Send + 'static> Cache<V> {
    fn put(&mut self, key: String, value: V) -> Option<V> {
        self.entries.insert(key, value)
    }

    fn get(&self, key: String) -> Option<V> {
        self.entries.get(&key).cloned()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cache: CacheHandle<Vec<u8>> = Cache { entries: HashMap::new() }.spawn().unwrap();
    assert_eq!(cache.put("a".into(), vec![1]).await, Ok(None));
    assert_eq!(cache.put("a".into(), vec![2]).await, Ok(Some(vec![1])));
    assert_eq!(cache.get("a".into()).await, Ok(Some(vec![2])));
    assert_eq!(cache.len().await, Ok(1));
}
