//! Live inspection: a snapshot of every running actor, as a value and as a tree.
//!
//! Off by default. [`enable`] turns it on for the actors spawned afterwards: each is listed from
//! its spawn until it has stopped, and records when its handler in hand began (two clock reads
//! per message, as with [`SpawnOptions::with_stuck_after`](crate::SpawnOptions::with_stuck_after)).
//! Listing costs a lock at spawn and at stop; actors spawned while inspection was off are not
//! listed.
//!
//! ```
//! # use actor_core::{Actor, Context};
//! # struct Worker;
//! # impl Actor for Worker {
//! #     type Message = ();
//! #     async fn handle(&mut self, _msg: (), _ctx: &Context<Self>) {}
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! actor_core::inspect::enable();
//! let worker = actor_core::spawn(Worker)?;
//! let snapshot = actor_core::inspect::snapshot();
//! let me = snapshot.actors.iter().find(|a| a.id == worker.id()).expect("listed");
//! assert_eq!(me.kind, "Worker");
//! println!("{snapshot}");
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::control::{ActorCell, ActorId};
use crate::heartbeat::Heartbeat;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Lists every actor spawned from now on in [`snapshot`]s.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether actors spawned now are listed.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What an actor is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorState {
    /// Waiting for mail.
    Idle,
    /// In a handler (or hook) for this long, as of the snapshot.
    Handling(Duration),
    /// Asked to stop or killed, not yet stopped.
    Stopping,
}

impl fmt::Display for ActorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorState::Idle => f.write_str("idle"),
            ActorState::Handling(busy) => write!(f, "handling for {busy:.1?}"),
            ActorState::Stopping => f.write_str("stopping"),
        }
    }
}

/// One running actor, as of a [`snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInfo {
    /// Its identifier.
    pub id: ActorId,
    /// Its name.
    pub name: String,
    /// Its type's name, without path or generics.
    pub kind: &'static str,
    /// What it is doing.
    pub state: ActorState,
    /// Messages accepted and not yet handled.
    pub mailbox: usize,
    /// The actor that spawned it as a child or supervises it, if any.
    pub parent: Option<ActorId>,
    /// Its children and supervised actors that are listed, in spawning order.
    pub children: Vec<ActorId>,
}

impl fmt::Display for ActorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}, mailbox {}",
            self.name, self.id, self.kind, self.state, self.mailbox
        )
    }
}

/// Every listed actor at one moment; its `Display` is the tree of parents and children.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The actors, in spawning order.
    pub actors: Vec<ActorInfo>,
}

impl Snapshot {
    /// The actor `id`, if it is listed.
    pub fn get(&self, id: ActorId) -> Option<&ActorInfo> {
        self.actors.iter().find(|actor| actor.id == id)
    }

    fn write_tree(
        &self,
        f: &mut fmt::Formatter<'_>,
        actor: &ActorInfo,
        prefix: &str,
        last: bool,
        root: bool,
    ) -> fmt::Result {
        let (branch, next) = match (root, last) {
            (true, _) => ("", String::new()),
            (false, true) => ("└─ ", format!("{prefix}   ")),
            (false, false) => ("├─ ", format!("{prefix}│  ")),
        };
        writeln!(f, "{prefix}{branch}{actor}")?;
        let children: Vec<&ActorInfo> =
            actor.children.iter().filter_map(|id| self.get(*id)).collect();
        for (i, child) in children.iter().enumerate() {
            self.write_tree(f, child, &next, i + 1 == children.len(), false)?;
        }
        Ok(())
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for root in self.actors.iter().filter(|a| a.parent.is_none_or(|p| self.get(p).is_none())) {
            self.write_tree(f, root, "", true, true)?;
        }
        Ok(())
    }
}

/// How many messages an actor's mailbox holds, read without knowing its type.
pub(crate) type Depth = Box<dyn Fn() -> usize + Send + Sync>;

struct Entry {
    cell: Weak<ActorCell>,
    kind: &'static str,
    heartbeat: Weak<Heartbeat>,
    depth: Depth,
    parent: Option<ActorId>,
    /// Spawning order.
    seq: u64,
}

#[derive(Default)]
struct Listed {
    actors: BTreeMap<ActorId, Entry>,
    next_seq: u64,
}

fn listed() -> std::sync::MutexGuard<'static, Listed> {
    static LISTED: Mutex<Listed> = Mutex::new(Listed { actors: BTreeMap::new(), next_seq: 0 });
    LISTED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lists the actor of `cell`.
pub(crate) fn list(
    cell: &Arc<ActorCell>,
    kind: &'static str,
    heartbeat: &Arc<Heartbeat>,
    depth: Depth,
) {
    let mut listed = listed();
    let seq = listed.next_seq;
    listed.next_seq += 1;
    listed.actors.insert(
        cell.id,
        Entry {
            cell: Arc::downgrade(cell),
            kind,
            heartbeat: Arc::downgrade(heartbeat),
            depth,
            parent: None,
            seq,
        },
    );
}

/// Records `parent` as the parent of `child`, if the child is listed.
pub(crate) fn adopt(child: ActorId, parent: ActorId) {
    if !enabled() {
        return;
    }
    if let Some(entry) = listed().actors.get_mut(&child) {
        entry.parent = Some(parent);
    }
}

/// Removes a stopped actor.
pub(crate) fn forget(id: ActorId) {
    if ENABLED.load(Ordering::Relaxed) {
        listed().actors.remove(&id);
    }
}

/// The listed actor `id`, if it is listed and running.
pub fn describe(id: ActorId) -> Option<ActorInfo> {
    snapshot().actors.into_iter().find(|actor| actor.id == id)
}

/// Every listed actor that has not stopped yet.
pub fn snapshot() -> Snapshot {
    // Under the list's lock; reading a depth takes its mailbox's lock, which is never held
    // while the list's is taken.
    let mut rows: Vec<(u64, ActorInfo)> = Vec::new();
    {
        let listed = listed();
        for (id, entry) in &listed.actors {
            let Some(cell) = entry.cell.upgrade() else { continue };
            if !cell.is_alive() {
                continue;
            }
            let state = if !cell.accepting() {
                ActorState::Stopping
            } else {
                match entry.heartbeat.upgrade().and_then(|h| h.busy_for()) {
                    Some(busy) => ActorState::Handling(busy),
                    None => ActorState::Idle,
                }
            };
            let info = ActorInfo {
                id: *id,
                name: cell.name.to_string(),
                kind: entry.kind,
                state,
                mailbox: (entry.depth)(),
                parent: entry.parent,
                children: Vec::new(),
            };
            rows.push((entry.seq, info));
        }
    }
    rows.sort_by_key(|(seq, _)| *seq);
    let mut actors: Vec<ActorInfo> = rows.into_iter().map(|(_, info)| info).collect();
    let ids: Vec<(ActorId, Option<ActorId>)> = actors.iter().map(|a| (a.id, a.parent)).collect();
    for actor in &mut actors {
        actor.children =
            ids.iter().filter(|(_, parent)| *parent == Some(actor.id)).map(|(id, _)| *id).collect();
    }
    Snapshot { actors }
}
