//! [`DurableKv`]: a key-value actor whose data lives in a [`Tree`].
//!
//! Every method is a shared handler (`&self`): reads run concurrently, and writes run
//! concurrently too, so that many callers' writes share one flush (group commit). Writes reach
//! the store's writer in the order this actor starts them, which is its mailbox order; a
//! caller that awaits each write before sending the next sees its writes applied in order.
//!
//! The actor's only state is the tree handle, so a supervisor restarting it loses nothing: the
//! new incarnation opens the same tree.

use std::ops::Bound;

use actor_core::actor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Key;
use crate::error::{CasConflict, StoreError};
use crate::tree::Tree;

/// A durable key-value actor; see the [module docs](self). Spawn it with `spawn()`, which
/// returns a [`DurableKvHandle`].
#[derive(Debug)]
pub struct DurableKv<K, V> {
    tree: Tree<K, V>,
}

impl<K, V> DurableKv<K, V> {
    /// An actor serving `tree`.
    pub fn new(tree: Tree<K, V>) -> Self {
        DurableKv { tree }
    }
}

#[actor(max_shared = 4096)]
impl<K, V> DurableKv<K, V>
where
    K: Key + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The value under `key`.
    pub fn get(&self, key: K) -> Result<Option<V>, StoreError> {
        self.tree.get(&key)
    }

    /// Up to `limit` entries with keys between `start` and `end`, in key order.
    pub fn range(
        &self,
        start: Bound<K>,
        end: Bound<K>,
        limit: usize,
    ) -> Result<Vec<(K, V)>, StoreError> {
        self.tree.range((start, end)).take(limit).collect()
    }

    /// Stores `value` under `key`; answers once durable, with the previous value.
    pub async fn set(&self, key: K, value: V) -> Result<Option<V>, StoreError> {
        self.tree.insert(&key, &value).await
    }

    /// Removes `key`; answers once durable, with the removed value.
    pub async fn delete(&self, key: K) -> Result<Option<V>, StoreError> {
        self.tree.remove(&key).await
    }

    /// Replaces `expected` by `new` atomically; see [`Tree::compare_and_swap`].
    pub async fn compare_and_swap(
        &self,
        key: K,
        expected: Option<V>,
        new: Option<V>,
    ) -> Result<Result<(), CasConflict<V>>, StoreError> {
        self.tree.compare_and_swap(&key, expected.as_ref(), new.as_ref()).await
    }

    /// The number of entries (walks the tree).
    pub fn count(&self) -> usize {
        self.tree.len()
    }
}
