//! The expansion is lint-clean: an actor in a module that denies missing docs, unused
//! qualifications and clippy's pedantic group. Checked when CI runs clippy over all targets.

#![deny(missing_docs, unused_qualifications, clippy::pedantic)]

use actor_core::{Context, actor};

/// A generic actor with every kind of handler.
#[derive(Debug, Default)]
pub(crate) struct Linted<T> {
    items: Vec<T>,
}

/// The error of [`Linted::take`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Empty;

#[actor(mailbox = 8, max_shared = 2, name = "linted")]
impl<T: Clone + Send + Sync + 'static> Linted<T> {
    /// Exclusive, synchronous, returns nothing.
    pub(crate) fn push(&mut self, item: T) {
        self.items.push(item);
    }

    /// Exclusive, returns a `Result`.
    pub(crate) fn take(&mut self) -> Result<T, Empty> {
        self.items.pop().ok_or(Empty)
    }

    /// Shared, synchronous.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Shared, asynchronous, with the context.
    pub(crate) async fn first(&self, ctx: &Context<Self>) -> Option<T> {
        let _ = ctx.id();
        tokio::task::yield_now().await;
        self.items.first().cloned()
    }

    /// Exclusive, asynchronous.
    pub(crate) async fn clear(&mut self) -> usize {
        tokio::task::yield_now().await;
        let n = self.items.len();
        self.items.clear();
        n
    }
}

#[tokio::test]
async fn a_linted_actor_works() {
    let linted = Linted::<u8>::default().spawn().unwrap();
    linted.push(1).await.unwrap();
    linted.push(2).await.unwrap();
    assert_eq!(linted.len().await, Ok(2));
    assert_eq!(linted.first().await, Ok(Some(1)));
    assert_eq!(linted.take().await, Ok(2));
    assert_eq!(linted.clear().await, Ok(1));
    assert_eq!(linted.take().await, Err(actor_core::CallError::Handler(Empty)));
}
