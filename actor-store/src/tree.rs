//! [`Tree`]: a typed, ordered map inside a [`Store`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Key, decode_value, decode_whole_key, encode_value, key_bytes};
use crate::error::{CasConflict, StoreError};
use crate::store::Store;
use crate::writer::{Applied, WriteOp};

/// A typed, ordered map in a [`Store`]: keys of type `K` (encoded in order, see
/// [`Key`]), values of type `V` (serde, versioned and checksummed).
///
/// Reads go straight to the database, from any task, concurrently. Writes go through the
/// store's writer actor and return once durable. Reads see every write the writer has applied,
/// including writes whose flush has not finished yet: a value read is durable once the write
/// that stored it was acknowledged.
pub struct Tree<K, V> {
    store: Store,
    name: Arc<str>,
    tree: sled::Tree,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Tree<K, V> {
    fn clone(&self) -> Self {
        Tree {
            store: self.store.clone(),
            name: Arc::clone(&self.name),
            tree: self.tree.clone(),
            types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for Tree<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<K, V> Tree<K, V> {
    pub(crate) fn new(store: Store, name: Arc<str>, tree: sled::Tree) -> Self {
        Tree { store, name, tree, types: PhantomData }
    }

    /// The underlying sled tree.
    pub(crate) fn raw(&self) -> &sled::Tree {
        &self.tree
    }

    /// The tree's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store this tree belongs to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The number of entries. Walks the whole tree: O(n).
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

impl<K: Key, V: Serialize + DeserializeOwned> Tree<K, V> {
    /// The value under `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if the stored value is damaged, or a storage error.
    pub fn get(&self, key: &K) -> Result<Option<V>, StoreError> {
        let key = key_bytes(key);
        let stored = self.tree.get(&key).map_err(|e| read_error(&self.name, &key, e))?;
        stored.map(|stored| decode_value(&self.name, &key, &stored)).transpose()
    }

    /// Whether `key` has a value (without decoding it).
    ///
    /// # Errors
    ///
    /// A storage error.
    pub fn contains_key(&self, key: &K) -> Result<bool, StoreError> {
        let key = key_bytes(key);
        self.tree.contains_key(&key).map_err(|e| read_error(&self.name, &key, e))
    }

    /// Stores `value` under `key`; returns once the write is durable, with the previous value.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] if the write or its flush failed (it is then not acknowledged),
    /// [`StoreError::Closed`], [`StoreError::Encode`], or [`StoreError::Corrupt`] if the
    /// previous value was damaged (the new value is stored and durable even then).
    ///
    /// # Cancel safety
    ///
    /// Dropped at an await, the write either was not sent to the writer (nothing changes) or
    /// was, and is applied and flushed in full; it is never half applied. The same holds for
    /// every write of a tree ([`remove`](Self::remove), [`compare_and_swap`](Self::compare_and_swap),
    /// [`apply`](Self::apply), whose batch is all or nothing).
    pub async fn insert(&self, key: &K, value: &V) -> Result<Option<V>, StoreError> {
        let key = key_bytes(key);
        let value = encode_value(&self.name, &key, value)?;
        let applied =
            self.store.submit(WriteOp::Insert { tree: self.tree.clone(), key: key.clone(), value });
        self.previous(&key, applied.await?)
    }

    /// Removes `key`; returns once the removal is durable, with the removed value.
    ///
    /// # Errors
    ///
    /// As [`Tree::insert`].
    pub async fn remove(&self, key: &K) -> Result<Option<V>, StoreError> {
        let key = key_bytes(key);
        let applied =
            self.store.submit(WriteOp::Remove { tree: self.tree.clone(), key: key.clone() });
        self.previous(&key, applied.await?)
    }

    /// Replaces the value under `key` with `new` if it currently is `expected` (`None`: absent;
    /// a `new` of `None` removes). The comparison and the swap are one step of the writer, so no
    /// other write comes between them. Returns once the outcome is durable.
    ///
    /// # Errors
    ///
    /// The inner `Err` is a conflict carrying the current value; the outer one is as for
    /// [`Tree::insert`].
    pub async fn compare_and_swap(
        &self,
        key: &K,
        expected: Option<&V>,
        new: Option<&V>,
    ) -> Result<Result<(), CasConflict<V>>, StoreError> {
        let key = key_bytes(key);
        let expected = expected.map(|v| encode_value(&self.name, &key, v)).transpose()?;
        let new = new.map(|v| encode_value(&self.name, &key, v)).transpose()?;
        let op = WriteOp::Cas { tree: self.tree.clone(), key: key.clone(), expected, new };
        match self.store.submit(op).await? {
            Applied::Cas(Ok(())) => Ok(Ok(())),
            Applied::Cas(Err(current)) => {
                let current =
                    current.map(|stored| decode_value(&self.name, &key, &stored)).transpose()?;
                Ok(Err(CasConflict { current }))
            }
            Applied::Previous(_) | Applied::Done => Ok(Ok(())),
        }
    }

    /// Applies every change in `batch` atomically (all or none, even across a crash); returns
    /// once durable.
    ///
    /// # Errors
    ///
    /// As [`Tree::insert`].
    pub async fn apply(&self, batch: Batch<K, V>) -> Result<(), StoreError> {
        self.store.submit(WriteOp::Batch { tree: self.tree.clone(), batch: batch.inner }).await?;
        Ok(())
    }

    /// A batch of changes for [`Tree::apply`].
    pub fn batch(&self) -> Batch<K, V> {
        Batch { name: Arc::clone(&self.name), inner: sled::Batch::default(), types: PhantomData }
    }

    /// The entries whose keys are in `range`, in key order (reversible).
    pub fn range(&self, range: impl RangeBounds<K>) -> Iter<K, V> {
        let bound = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(key_bytes(k)),
            Bound::Excluded(k) => Bound::Excluded(key_bytes(k)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let bounds = (bound(range.start_bound()), bound(range.end_bound()));
        Iter::new(Arc::clone(&self.name), self.tree.range::<Vec<u8>, _>(bounds))
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Iter<K, V> {
        Iter::new(Arc::clone(&self.name), self.tree.iter())
    }

    /// The entries whose keys start with the encoding of `prefix`, in key order: with tuple
    /// keys, `prefix` is a leading part of the tuple (`("user-1".to_owned(),)` for keys
    /// `(String, u64)`).
    pub fn prefix<P: Key>(&self, prefix: &P) -> Iter<K, V> {
        Iter::new(Arc::clone(&self.name), self.tree.scan_prefix(key_bytes(prefix)))
    }

    fn previous(&self, key: &[u8], applied: Applied) -> Result<Option<V>, StoreError> {
        match applied {
            Applied::Previous(Some(stored)) => decode_value(&self.name, key, &stored).map(Some),
            _ => Ok(None),
        }
    }
}

/// Changes applied atomically by [`Tree::apply`].
pub struct Batch<K, V> {
    name: Arc<str>,
    inner: sled::Batch,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> fmt::Debug for Batch<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch").field("tree", &self.name).finish_non_exhaustive()
    }
}

impl<K: Key, V: Serialize> Batch<K, V> {
    /// Adds an insert.
    ///
    /// # Errors
    ///
    /// [`StoreError::Encode`] if `value` cannot be encoded.
    pub fn insert(&mut self, key: &K, value: &V) -> Result<(), StoreError> {
        let key = key_bytes(key);
        let value = encode_value(&self.name, &key, value)?;
        self.inner.insert(key, value);
        Ok(())
    }

    /// Adds an insert of a value given by something that serializes like `V` (a reference
    /// inside a tuple, say).
    pub(crate) fn insert_ref<W: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &W,
    ) -> Result<(), StoreError> {
        let key = key_bytes(key);
        let value = encode_value(&self.name, &key, value)?;
        self.inner.insert(key, value);
        Ok(())
    }

    /// Adds a removal.
    pub fn remove(&mut self, key: &K) {
        self.inner.remove(key_bytes(key));
    }
}

/// An iterator over a [`Tree`]'s entries, decoding as it goes.
pub struct Iter<K, V> {
    name: Arc<str>,
    inner: sled::Iter,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> fmt::Debug for Iter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("tree", &self.name).finish_non_exhaustive()
    }
}

impl<K, V> Iter<K, V> {
    fn new(name: Arc<str>, inner: sled::Iter) -> Self {
        Iter { name, inner, types: PhantomData }
    }
}

impl<K: Key, V: DeserializeOwned> Iter<K, V> {
    fn decode(
        &self,
        entry: Result<(sled::IVec, sled::IVec), sled::Error>,
    ) -> Result<(K, V), StoreError> {
        let (key, stored) = entry.map_err(|e| read_error(&self.name, b"", e))?;
        let value = decode_value(&self.name, &key, &stored)?;
        Ok((decode_whole_key(&self.name, &key)?, value))
    }
}

impl<K: Key, V: DeserializeOwned> Iterator for Iter<K, V> {
    type Item = Result<(K, V), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.inner.next()?;
        Some(self.decode(entry))
    }
}

impl<K: Key, V: DeserializeOwned> DoubleEndedIterator for Iter<K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let entry = self.inner.next_back()?;
        Some(self.decode(entry))
    }
}

/// A read error of the storage engine; damage it found in its own files is reported like damage
/// we find, naming the tree and the key.
fn read_error(tree: &Arc<str>, key: &[u8], error: sled::Error) -> StoreError {
    match error {
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            tree: Arc::clone(tree),
            key: crate::error::printable(key),
            kind: crate::error::Corruption::Engine(Arc::from(error.to_string())),
        },
        other => StoreError::from(other),
    }
}
