//! The front process of the scenario: it starts B and C, asks, kills B with `SIGKILL`, checks
//! what each kind of ask gets, restarts B, and reports.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use actor_remote::{Node, PoolRemote, RemoteError};

use crate::{BoxError, COUNTER, CounterRemote, POOL, WhoAmI};

/// Prints one line for the front process, flushed at once.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The serving processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves the counter and the pool; killed, then restarted.
    B,
    /// Serves the pool.
    C,
}

impl Role {
    /// The role's name, as a command-line argument.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::B => "serve-b",
            Role::C => "serve-c",
        }
    }
}

/// Asks in flight when B is killed.
const IN_FLIGHT: usize = 8;

/// What the front saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The counter's value after ten asks of `add(1)` to B.
    pub counter_before: u64,
    /// The processes that answered the pool's asks before the kill.
    pub pool_processes_before: usize,
    /// Asks in flight to B when it was killed, and how many ended with a timeout.
    pub in_flight: (usize, usize),
    /// How long after B's death the first ask got not found.
    pub not_found_after: Option<Duration>,
    /// Asks of the pool after the kill, and how many C answered.
    pub pool_after_kill: (usize, usize),
    /// The counter's value after B restarted and was asked `add(1)` once.
    pub counter_after_restart: Option<u64>,
}

impl Report {
    /// What the scenario promises and this run did not show.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.counter_before != 10 {
            problems.push(format!("the counter read {} after 10 adds", self.counter_before));
        }
        if self.pool_processes_before != 2 {
            problems
                .push(format!("{} processes answered the pool, not 2", self.pool_processes_before));
        }
        if self.in_flight.1 != self.in_flight.0 {
            problems.push(format!(
                "{} of {} asks in flight timed out",
                self.in_flight.1, self.in_flight.0
            ));
        }
        match self.not_found_after {
            None => problems.push("no ask got not found after the kill".to_owned()),
            // Typically a millisecond; the bound leaves room for a loaded machine.
            Some(after) if after > Duration::from_secs(1) => {
                problems.push(format!("not found came {after:?} after the kill"));
            }
            Some(_) => {}
        }
        if self.pool_after_kill.1 != self.pool_after_kill.0 {
            problems.push(format!(
                "C answered {} of {} pool asks after the kill",
                self.pool_after_kill.1, self.pool_after_kill.0
            ));
        }
        if self.counter_after_restart != Some(1) {
            problems.push(format!(
                "after the restart the counter read {:?}",
                self.counter_after_restart
            ));
        }
        problems
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not_found = self
            .not_found_after
            .map_or("never".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
        writeln!(f, "counter on B after 10 adds:            {}", self.counter_before)?;
        writeln!(f, "processes answering the pool:          {}", self.pool_processes_before)?;
        writeln!(f, "B killed with SIGKILL")?;
        writeln!(
            f,
            "  asks in flight that timed out:       {} of {}",
            self.in_flight.1, self.in_flight.0
        )?;
        writeln!(f, "  first new ask not found after:       {not_found}")?;
        writeln!(
            f,
            "  pool asks answered by C:             {} of {}",
            self.pool_after_kill.1, self.pool_after_kill.0
        )?;
        write!(f, "B restarted: counter after one add:    {:?}", self.counter_after_restart)
    }
}

/// A serving process and the lines it prints.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(mut command: Command) -> Result<Server, BoxError> {
        let mut child = command.stdout(Stdio::piped()).stdin(Stdio::null()).spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Server { child, lines })
    }

    /// Waits for `count` lines equal to `line` (and fails on `error` lines or an exit).
    fn expect(&self, line: &str, count: usize) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        while seen < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) if got == line => seen += 1,
                Ok(got) if got.starts_with("error") => return Err(got.into()),
                Ok(_) => {}
                Err(_) => return Err(format!("no `{line}` ({seen} of {count}) within 30 s").into()),
            }
        }
        Ok(())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `SIGKILL`, and waits until the process is gone.
    fn kill(&mut self) -> Result<(), BoxError> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plays the front: `start(role, prefix)` builds the command of a serving process.
///
/// # Errors
///
/// A process that does not start, or a NATS server that cannot be reached.
///
/// # Cancel safety
///
/// If the future is dropped, the serving processes it started are killed and reaped (each
/// `Server` kills its child when dropped); asks in flight are abandoned.
pub async fn run(url: &str, start: impl Fn(Role, &str) -> Command) -> Result<Report, BoxError> {
    let prefix = format!("demo-{}", std::process::id());
    let node = Node::connect(url).await?.with_prefix(prefix.clone());
    let mut report = Report::default();
    let mut b = Server::start(start(Role::B, &prefix))?;
    let c = Server::start(start(Role::C, &prefix))?;
    b.expect("ready", 1)?;
    c.expect("ready", 1)?;

    let counter: CounterRemote = node.resolve(COUNTER).await?;
    let pool: PoolRemote<WhoAmI> = node.resolve(POOL).await?;
    for _ in 0..10 {
        report.counter_before = counter.add(1).await?;
    }
    let mut answered = BTreeSet::new();
    for _ in 0..40 {
        answered.insert(pool.ask(&WhoAmI).await?);
    }
    report.pool_processes_before =
        [b.pid(), c.pid()].iter().filter(|p| answered.contains(p)).count();

    // Asks in flight on B (each has said `slow` there) when it is killed.
    let slow = counter.with_timeout(Duration::from_millis(1_500));
    let in_flight: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let slow = slow.clone();
            tokio::spawn(async move { slow.slow(60_000).await })
        })
        .collect();
    b.expect("slow", IN_FLIGHT)?;
    b.kill()?;
    let killed = Instant::now();

    // New asks: not found once the NATS server has seen B's connection close (an ask routed
    // before that times out, after 50 ms).
    let quick = counter.with_timeout(Duration::from_millis(50));
    while killed.elapsed() < Duration::from_secs(5) {
        match quick.add(1).await {
            Err(RemoteError::NotFound { .. }) => {
                report.not_found_after = Some(killed.elapsed());
                break;
            }
            Err(RemoteError::Timeout { .. }) => continue,
            other => return Err(format!("an ask to the killed B got {other:?}").into()),
        }
    }
    let mut timed_out = 0;
    for ask in in_flight {
        if let Err(RemoteError::Timeout { .. }) = ask.await? {
            timed_out += 1;
        }
    }
    report.in_flight = (IN_FLIGHT, timed_out);

    // The pool carries on, on C.
    let mut on_c = 0;
    for _ in 0..20 {
        if pool.ask(&WhoAmI).await? == c.pid() {
            on_c += 1;
        }
    }
    report.pool_after_kill = (20, on_c);

    // B comes back: a fresh counter, found again.
    let b = Server::start(start(Role::B, &prefix))?;
    b.expect("ready", 1)?;
    report.counter_after_restart = Some(counter.add(1).await?);
    drop((b, c));
    Ok(report)
}
