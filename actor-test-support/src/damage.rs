//! Damage for damage tests: copy a directory, flip one byte of its files at a seeded random
//! offset.

use std::path::{Path, PathBuf};

use crate::Rng;

/// Every file under `dir`, with its size.
pub fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.len() > 0 {
                out.push((entry.path(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.metadata().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Flips the bits of one byte at a random offset of the files of `dir`, the offset uniform over
/// the bytes the files hold that are not zero (where damage can matter: sled's files are mostly
/// preallocated zeros). Returns where.
pub fn flip_one_byte(dir: &Path, rng: &mut Rng) -> String {
    let files = files(dir);
    let mut candidates = Vec::new();
    for (path, _) in &files {
        let bytes = std::fs::read(path).unwrap();
        let nonzero = bytes.iter().filter(|&&b| b != 0).count() as u64;
        candidates.push((path.clone(), bytes, nonzero));
    }
    let total: u64 = candidates.iter().map(|(_, _, n)| n).sum();
    let mut pick = rng.below(total);
    for (path, mut bytes, nonzero) in candidates {
        if pick >= nonzero {
            pick -= nonzero;
            continue;
        }
        let offset =
            bytes.iter().enumerate().filter(|&(_, &b)| b != 0).nth(pick as usize).unwrap().0;
        let mask = (rng.below(255) + 1) as u8;
        bytes[offset] ^= mask;
        std::fs::write(&path, bytes).unwrap();
        let name = path.strip_prefix(dir).unwrap().display().to_string();
        return format!("{name}@{offset}^{mask:#04x}");
    }
    unreachable!("the pick is below the total")
}

/// What a damage test found over its runs.
#[derive(Default, Debug)]
pub struct Counts {
    /// Runs made, one flipped byte each.
    pub runs: u64,
    /// Runs whose damage was reported when the store (or queue) opened.
    pub at_open: u64,
    /// Runs whose damage was reported when a key was read.
    pub at_read: u64,
    /// Runs where every key read its correct value.
    pub harmless: u64,
    /// How the damage was reported, by kind of error.
    pub kinds: std::collections::BTreeMap<String, u64>,
}

impl Counts {
    /// Counts one report of `kind`.
    pub fn saw(&mut self, kind: &str) {
        *self.kinds.entry(kind.to_owned()).or_default() += 1;
    }
}
