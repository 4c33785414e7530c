//! Shared helpers: the test payloads, backends and a quiet panic hook.

use std::sync::Once;
use std::time::Duration;

use actor_jobs::{QueueOptions, RetryPolicy};
pub(crate) use actor_test_support::{TempDir, postgres_url, unique_name};

/// The options of most tests: 30 s leases, 3 attempts, backoff from 1 s.
pub(crate) fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(30)).retry(RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
    })
}

/// Silences the panics the tests cause on purpose; others print as usual.
pub(crate) fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            if message != Some("crash on purpose") {
                default(info);
            }
        }));
    });
}
