//! The acknowledgement ledger: an independent record of what the store acknowledged, kept
//! outside sled's log, so that damage sled mistakes for the torn end of its log is reported
//! instead of silently rolling the store back.
//!
//! # How it works
//!
//! Every group commit gets a sequence number. Before its flush, the flusher writes that number
//! into sled (the meta key `commit`, after every write of the group in log order); after the
//! flush returned and before any write of the group is acknowledged, it appends a record to
//! this file: the number and the trees the group touched. On open, sled recovers a prefix of
//! its log. If the `commit` it recovered is older than the ledger's last number, acknowledged
//! groups are missing: the store is [`StoreError::Damaged`], naming every tree an acknowledged
//! write of a lost group touched.
//!
//! The file is appended with a plain `write` (no `fsync`) at every commit, so it is current
//! after a crash of the process (the kernel keeps what was written), and synced at most once a
//! second and when the store closes, so after a power cut it may lag by up to a second: damage
//! that removes only the last second of acknowledged writes is then not detected. It never
//! runs ahead of sled: a record is written only after the flush it describes returned.
//!
//! # Format
//!
//! `ASLEDG01`, then records: the body length (u32 LE), a CRC-32 of the body (u32 LE), and the
//! body: a sequence number (u64 LE), a tree count (u32 LE) and for each tree its name length
//! (u32 LE), its name and the sequence number of the last acknowledged commit that touched it
//! (u64 LE). A record cut short at the end of the file (a write interrupted by a power cut) is
//! ignored; a complete record with a wrong checksum is damage. When the file passes 1 MiB it
//! is rewritten as one record holding everything, in a temporary file renamed into place.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// The ledger's file name in the store's directory.
pub(crate) const FILE: &str = "actor-store.ledger";
const MAGIC: &[u8; 8] = b"ASLEDG01";
/// Rewritten as one record once it grows past this.
const COMPACT_AT: u64 = 1 << 20;
/// How often the ledger is synced to stable storage, at most.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What the ledger says was acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Acknowledged {
    /// The last acknowledged commit.
    pub(crate) seq: u64,
    /// For every tree, the last acknowledged commit that touched it.
    pub(crate) trees: BTreeMap<Arc<str>, u64>,
}

impl Acknowledged {
    fn apply(&mut self, seq: u64, trees: impl IntoIterator<Item = TreeCommit>) {
        self.seq = self.seq.max(seq);
        for (tree, at) in trees {
            let last = self.trees.entry(tree).or_insert(0);
            *last = (*last).max(at);
        }
    }
}

/// The open ledger file, appended to by the flusher.
pub(crate) struct Ledger {
    path: PathBuf,
    file: File,
    len: u64,
    state: Acknowledged,
    last_sync: Instant,
    dirty: bool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).field("seq", &self.state.seq).finish()
    }
}

fn damaged(dir: &Path, reason: String) -> StoreError {
    StoreError::Open { path: dir.to_path_buf(), source: crate::error::because(reason) }
}

fn io_error(dir: &Path, what: &str, error: io::Error) -> StoreError {
    StoreError::Open { path: dir.to_path_buf(), source: crate::error::because_of(what, error) }
}

/// Reads the ledger of the store in `dir`: `None` if it has none (a store written before the
/// ledger existed, or one being created).
pub(crate) fn read(dir: &Path) -> Result<Option<Acknowledged>, StoreError> {
    let path = dir.join(FILE);
    let mut bytes = Vec::new();
    match File::open(&path) {
        Ok(mut file) => file
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(dir, "cannot read the acknowledgement ledger", e))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir, "cannot open the acknowledgement ledger", e)),
    };
    parse(&bytes).map(Some).map_err(|reason| damaged(dir, reason))
}

fn parse(bytes: &[u8]) -> Result<Acknowledged, String> {
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err("the acknowledgement ledger has no valid header: it is damaged".to_owned());
    };
    let mut state = Acknowledged::default();
    while !rest.is_empty() {
        if rest.len() < 8 {
            break; // A header cut short: a write interrupted by a power cut.
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if rest.len() - 8 < len {
            break; // A body cut short, likewise.
        }
        let body = &rest[8..8 + len];
        if crc32fast::hash(body) != crc {
            return Err(format!(
                "a record of the acknowledgement ledger fails its checksum (at byte {}): the ledger is damaged",
                bytes.len() - rest.len()
            ));
        }
        let (seq, trees) = decode_body(body).ok_or_else(|| {
            "a record of the acknowledgement ledger is malformed: the ledger is damaged".to_owned()
        })?;
        state.apply(seq, trees);
        rest = &rest[8 + len..];
    }
    Ok(state)
}

/// A tree and the last acknowledged commit that touched it.
type TreeCommit = (Arc<str>, u64);

fn decode_body(mut body: &[u8]) -> Option<(u64, Vec<TreeCommit>)> {
    fn take<'a>(body: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if body.len() < n {
            return None;
        }
        let (head, tail) = body.split_at(n);
        *body = tail;
        Some(head)
    }
    let u64_of = |b: &[u8]| b.try_into().ok().map(u64::from_le_bytes);
    let u32_of = |b: &[u8]| b.try_into().ok().map(u32::from_le_bytes);
    let seq = u64_of(take(&mut body, 8)?)?;
    let count = u32_of(take(&mut body, 4)?)?;
    let mut trees = Vec::new();
    for _ in 0..count {
        let len = u32_of(take(&mut body, 4)?)? as usize;
        let name = std::str::from_utf8(take(&mut body, len)?).ok()?;
        let at = u64_of(take(&mut body, 8)?)?;
        trees.push((Arc::from(name), at));
    }
    body.is_empty().then_some((seq, trees))
}

fn record<'a>(seq: u64, trees: impl ExactSizeIterator<Item = (&'a str, u64)>) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + trees.len() * 24);
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(&u32::try_from(trees.len()).unwrap_or(u32::MAX).to_le_bytes());
    for (name, at) in trees {
        body.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&at.to_le_bytes());
    }
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Writes a ledger holding `state` as one record into `dir`, through a temporary file renamed
/// into place and synced, so a crash leaves the old ledger or the new one.
pub(crate) fn write_whole(dir: &Path, state: &Acknowledged) -> Result<(), StoreError> {
    let path = dir.join(FILE);
    let staging = dir.join(format!("{FILE}.new"));
    let write = || -> io::Result<()> {
        let mut file = File::create(&staging)?;
        file.write_all(MAGIC)?;
        file.write_all(&record(state.seq, state.trees.iter().map(|(name, &at)| (&**name, at))))?;
        file.sync_all()?;
        std::fs::rename(&staging, &path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| io_error(dir, "cannot write the acknowledgement ledger", e))
}

impl Ledger {
    /// Opens the ledger of `dir` for appending, holding `state`.
    pub(crate) fn open(dir: &Path, state: Acknowledged) -> Result<Ledger, StoreError> {
        let path = dir.join(FILE);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_error(dir, "cannot open the acknowledgement ledger", e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error(dir, "cannot read the acknowledgement ledger", e))?
            .len();
        Ok(Ledger { path, file, len, state, last_sync: Instant::now(), dirty: false })
    }

    /// Records that commit `seq`, which touched `trees`, is durable. Called after its flush
    /// returned and before any of its writes is acknowledged.
    pub(crate) fn record(&mut self, seq: u64, trees: &[Arc<str>]) -> io::Result<()> {
        self.state.apply(seq, trees.iter().map(|tree| (Arc::clone(tree), seq)));
        if self.len >= COMPACT_AT {
            self.compact()?;
        } else {
            let bytes = record(seq, trees.iter().map(|tree| (&**tree, seq)));
            self.file.write_all(&bytes)?;
            self.len += bytes.len() as u64;
            self.dirty = true;
        }
        if self.dirty && self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs what was appended to stable storage.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let dir = self.path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        write_whole(&dir, &self.state).map_err(|e| io::Error::other(e.to_string()))?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = self.file.metadata()?.len();
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(records: &[(u64, &[&str])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (seq, trees) in records {
            out.extend(record(*seq, trees.iter().map(|t| (*t, *seq))));
        }
        out
    }

    #[test]
    fn replay_keeps_the_last_commit_of_every_tree() {
        let state = parse(&bytes_of(&[(1, &["a"]), (2, &["b"]), (3, &["a", "c"])])).unwrap();
        assert_eq!(state.seq, 3);
        let trees: Vec<(&str, u64)> = state.trees.iter().map(|(t, at)| (&**t, *at)).collect();
        assert_eq!(trees, [("a", 3), ("b", 2), ("c", 3)]);
    }

    #[test]
    fn a_record_cut_short_is_ignored_and_a_damaged_one_is_reported() {
        let whole = bytes_of(&[(1, &["a"]), (2, &["b"])]);
        for cut in 1..(whole.len() - bytes_of(&[(1, &["a"])]).len()) {
            let state = parse(&whole[..whole.len() - cut]).unwrap();
            assert_eq!(state.seq, 1, "cut {cut}");
        }
        let mut flipped = whole.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        assert!(parse(&flipped).is_err());
        assert!(parse(b"nonsense").is_err());
    }
}
