//! [`blocking`]: calls from synchronous code, such as a thread outside any async runtime (a
//! GUI thread, a C callback, a `std::thread` worker), as kameo's `blocking_send` and actix's
//! `do_send` allow.
//!
//! ```
//! use actor_core::actor;
//!
//! struct Counter {
//!     total: u64,
//! }
//!
//! #[actor]
//! impl Counter {
//!     fn add(&mut self, by: u64) -> u64 {
//!         self.total += by;
//!         self.total
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! let counter = runtime.block_on(async { Counter { total: 0 }.spawn() })?;
//! // A plain thread, outside the runtime: every handle method works, timeouts included.
//! let total = std::thread::spawn(move || actor_core::blocking(counter.add(2)))
//!     .join()
//!     .expect("the thread did not panic")??;
//! assert_eq!(total, 2);
//! # Ok(())
//! # }
//! ```

use std::future::Future;

use std::sync::Arc;

use crate::error::BlockingError;

thread_local! {
    /// A small runtime per calling thread, made on its first blocking call: it drives the
    /// call's own futures (the send, the reply, a timeout); the actor runs on its own runtime.
    static DRIVER: std::cell::OnceCell<Result<tokio::runtime::Runtime, Arc<std::io::Error>>> =
        const { std::cell::OnceCell::new() };
}

/// Runs `future` (a handle's call, `tell`, `ask`...) to completion on this thread, blocking it.
///
/// # Errors
///
/// [`BlockingError::InsideRuntime`] on a thread of an async runtime (blocking there would stall
/// its other tasks): await the future instead. The future's own result is the `Ok` value.
///
/// # Cancel safety
///
/// It returns only when the future has completed.
pub fn blocking<F: Future>(future: F) -> Result<F::Output, BlockingError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(BlockingError::InsideRuntime);
    }
    DRIVER.with(|driver| {
        let driver = driver.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(Arc::new)
        });
        match driver {
            Ok(runtime) => Ok(runtime.block_on(future)),
            Err(error) => Err(BlockingError::Driver(Arc::clone(error))),
        }
    })
}
