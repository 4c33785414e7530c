//! [`PgOptions`]: how a [`PgQueue`](super::PgQueue) connects and behaves.

use std::time::Duration;

use crate::options::QueueOptions;

/// How a [`PgQueue`](super::PgQueue) connects and behaves.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Leases, retries, dead letters and retention, as for every backend.
    pub queue: QueueOptions,
    /// Connections to open (default 4); statements are pipelined on each.
    pub connections: usize,
    /// How often a waiter for a job's end or for an idle queue looks for changes made by
    /// other processes (default 100 ms).
    pub poll_interval: Duration,
    /// How often an idle consumer looks for due jobs when no notification came: the safety net
    /// for lost notifications (default 1 s). New jobs wake it at once through `LISTEN`.
    pub sweep_interval: Duration,
    /// Acknowledgements (completions, failures, lease extensions) written in one transaction,
    /// at most (default 1,000).
    pub ack_batch: usize,
    /// How long an acknowledgement waits for others to share its transaction (default 2 ms);
    /// zero writes each batch as soon as the previous one has committed.
    pub ack_window: Duration,
    /// This process's name in `actor_job_attempts` (default `<hostname>-<pid>`).
    pub worker: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
        PgOptions {
            queue: QueueOptions::default(),
            connections: 4,
            poll_interval: Duration::from_millis(100),
            sweep_interval: Duration::from_secs(1),
            ack_batch: 1_000,
            ack_window: Duration::from_millis(2),
            worker: format!("{host}-{}", std::process::id()),
        }
    }
}

impl PgOptions {
    /// The defaults.
    pub fn new() -> Self {
        PgOptions::default()
    }

    /// Sets the queue options (leases, retries, retention).
    pub fn queue(mut self, options: QueueOptions) -> Self {
        self.queue = options;
        self
    }

    /// Sets the number of connections (at least 1).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    /// Sets how often idle consumers and waiters look for changes of other processes.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how often an idle consumer looks for due jobs without a notification.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets how many acknowledgements share a transaction at most (at least 1), and how long
    /// one waits for company.
    pub fn ack_batching(mut self, batch: usize, window: Duration) -> Self {
        self.ack_batch = batch.max(1);
        self.ack_window = window;
        self
    }

    /// Sets this process's worker name.
    pub fn worker(mut self, name: impl Into<String>) -> Self {
        self.worker = name.into();
        self
    }
}
