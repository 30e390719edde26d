//! The commit log: how [`SledStore`](super::SledStore) makes every group commit atomic and
//! durable with, for one step of a sequential chain, a single sled insert.
//!
//! Since record format 3 a group commit does not write its records under their own keys. It
//! appends the group, encoded with its commit number (the journal encoding, see the journal
//! module), to the sled tree `commit-log`, keyed by commit number: one insert, then the one
//! `flush()` + `fdatasync`. Readers see the records of the default tree (written at creation, and
//! by format 1 and 2 databases) with the writes of every acknowledged log entry laid over them in
//! commit order. Nothing is ever copied out of the log: materialising it would cost the inserts it
//! saves (formats 1 and 2 paid a journal record plus one insert per record, three sled inserts
//! per chain step; sled inserts were the largest CPU cost of a commit after the `fdatasync`).
//!
//! **Chunks.** A group is stored as one or more entries keyed `commit: u64`, `index: u32`,
//! `count: u32` (big-endian, so key order is commit order), each holding whole writes of at most
//! [`MAX_CHUNK_BYTES`] (a single larger write makes a larger entry of its own). sled splits a leaf
//! past 16 entries and spills any page update larger than a quarter of its 512 KiB segment into a
//! blob file of its own (created, written, fsynced: three syscalls and two more fsyncs per leaf
//! rewrite); 17 entries of 7 KiB stay below that, while a 1,000-way fan-out round (~300 KiB) as one
//! value would spill on every rewrite of its leaf.
//!
//! **Atomicity.** sled recovers a prefix of its log, so after a crash only the last commit can be
//! missing some of its entries; such a commit was never acknowledged (its `flush()` had not
//! returned), and its entries are removed on open ([`torn_tail`]). Readers never look past the
//! last acknowledged commit, so a commit in progress is invisible to them as well.

use std::collections::BTreeMap;

use super::error::{Error, Result};
use super::journal::{self, Write};

/// The sled tree holding the log.
pub(crate) const LOG_TREE: &[u8] = b"commit-log";

/// Most bytes of writes in one log entry; see the module documentation.
pub(crate) const MAX_CHUNK_BYTES: usize = 7 * 1024;

/// Most bytes of a log entry's value whose writes fit in [`MAX_CHUNK_BYTES`] (the encoding adds
/// a 12-byte header).
pub(crate) const MAX_ENTRY_BYTES: usize = MAX_CHUNK_BYTES + 12;

/// The writes of the log, latest per key (`None`: removed), laid over the default tree.
pub(crate) type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The key of entry `index` of the `count` entries of commit `commit`.
pub(crate) fn key(commit: u64, index: u32, count: u32) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&commit.to_be_bytes());
    key[8..12].copy_from_slice(&index.to_be_bytes());
    key[12..].copy_from_slice(&count.to_be_bytes());
    key
}

/// The commit number, index and count of a log key.
pub(crate) fn parse_key(key: &[u8]) -> Result<(u64, u32, u32)> {
    let bytes: [u8; 16] = key.try_into().map_err(|_| {
        corrupt(
            key,
            format!("a log key has 16 bytes, this one {}", key.len()),
        )
    })?;
    let part = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0u64, |n, b| n << 8 | u64::from(*b))
    };
    let (commit, index, count) = (part(0..8), part(8..12) as u32, part(12..16) as u32);
    if count == 0 || index >= count {
        return Err(corrupt(key, format!("entry {index} of {count}")));
    }
    Ok((commit, index, count))
}

/// Splits a group's writes into log entries of at most [`MAX_CHUNK_BYTES`] each (a single larger
/// write alone), keeping their order. A group without writes still makes one (empty) entry: it
/// counts as a commit.
pub(crate) fn chunks(writes: Vec<Write>) -> Vec<Vec<Write>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for write in writes {
        let size = journal::write_len(&write);
        if !current.is_empty() && bytes + size > MAX_CHUNK_BYTES {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(write);
    }
    chunks.push(current);
    chunks
}

/// Checks one log entry against its key and returns its writes.
pub(crate) fn decode_entry(key: &[u8], value: &[u8]) -> Result<(u64, Vec<Write>)> {
    let (commit, _, _) = parse_key(key)?;
    let (encoded_commit, writes) = journal::decode(value)?;
    if encoded_commit != commit {
        return Err(corrupt(
            key,
            format!("the entry of commit {commit} says it belongs to commit {encoded_commit}"),
        ));
    }
    Ok((commit, writes))
}

/// Lays the log's entries (in key order) over an overlay, up to commit `upto`; checks that
/// every commit is complete and that commits follow each other without gaps.
pub(crate) fn build_overlay(
    entries: impl Iterator<Item = Result<(sled::IVec, sled::IVec)>>,
    upto: u64,
) -> Result<Overlay> {
    let mut overlay = Overlay::new();
    // (commit, next index expected, count) of the commit being read.
    let mut open: Option<(u64, u32, u32)> = None;
    for entry in entries {
        let (key, value) = entry?;
        let (commit, index, count) = parse_key(&key)?;
        if commit > upto {
            break;
        }
        match open {
            Some((current, next, of)) if current == commit && next == index && of == count => {}
            Some((current, next, of)) if next == of && commit == current + 1 && index == 0 => {}
            None if index == 0 => {}
            _ => {
                return Err(corrupt(
                    &key,
                    format!("entry {index} of {count} of commit {commit} follows {open:?}"),
                ));
            }
        }
        open = Some((commit, index + 1, count));
        let (_, writes) = decode_entry(&key, &value)?;
        overlay.extend(writes);
    }
    if let Some((commit, next, count)) = open
        && next != count
    {
        return Err(corrupt(
            &key(commit, next, count),
            format!(
                "commit {commit} lacks entries {next} to {} of {count}",
                count - 1
            ),
        ));
    }
    Ok(overlay)
}

/// The keys of the last commit if it is missing entries (a crash during its flush), given the
/// log's entries from the last one backwards; they are to be removed. `None` if it is whole.
pub(crate) fn torn_tail(
    entries_backwards: impl Iterator<Item = Result<sled::IVec>>,
) -> Result<Option<Vec<sled::IVec>>> {
    let mut keys = Vec::new();
    let mut last = None;
    for key in entries_backwards {
        let key = key?;
        let (commit, _, count) = parse_key(&key)?;
        match last {
            None => last = Some((commit, count)),
            Some(wanted) if wanted == (commit, count) => {}
            Some(_) => break,
        }
        keys.push(key);
    }
    Ok(match last {
        Some((_, count)) if keys.len() != count as usize => Some(keys),
        _ => None,
    })
}

fn corrupt(key: &[u8], reason: String) -> Error {
    Error::Corrupt {
        table: "commit-log",
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        reason,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    fn write(key: &str, len: usize) -> Write {
        (key.as_bytes().to_vec(), Some(vec![b'x'; len]))
    }

    fn entries(commits: &[(u64, Vec<Write>)]) -> Vec<(sled::IVec, sled::IVec)> {
        let mut out = Vec::new();
        for (commit, writes) in commits {
            let chunks = chunks(writes.clone());
            let count = chunks.len() as u32;
            for (index, chunk) in chunks.iter().enumerate() {
                out.push((
                    sled::IVec::from(&key(*commit, index as u32, count)[..]),
                    sled::IVec::from(journal::encode(*commit, chunk).unwrap()),
                ));
            }
        }
        out
    }

    #[test]
    fn keys_sort_in_commit_order_and_round_trip() {
        assert!(key(1, 5, 6) < key(2, 0, 1));
        assert!(key(255, 0, 1) < key(256, 0, 1));
        assert_eq!(parse_key(&key(7, 2, 3)).unwrap(), (7, 2, 3));
        assert!(parse_key(&key(7, 3, 3)).is_err());
        assert!(parse_key(b"short").is_err());
    }

    #[test]
    fn large_groups_are_cut_between_writes() {
        let writes: Vec<Write> = (0..100).map(|i| write(&format!("step/{i}"), 300)).collect();
        let cut = chunks(writes.clone());
        assert!(cut.len() > 1);
        for chunk in &cut {
            let size: usize = chunk.iter().map(journal::write_len).sum();
            assert!(size <= MAX_CHUNK_BYTES, "{size}");
        }
        assert_eq!(cut.concat(), writes);
        // A write larger than a chunk goes alone; a group without writes is one empty entry.
        let big = chunks(vec![write("a", 10), write("b", 20_000), write("c", 10)]);
        assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(chunks(Vec::new()), vec![Vec::<Write>::new()]);
    }

    #[test]
    fn the_overlay_keeps_the_latest_write_per_key_up_to_a_commit() {
        let log = entries(&[
            (1, vec![write("step/a", 1), write("event/1", 1)]),
            (2, vec![(b"step/a".to_vec(), None), write("step/b", 2)]),
            (3, vec![write("step/b", 3)]),
        ]);
        let overlay = build_overlay(log.clone().into_iter().map(Ok), 2).unwrap();
        assert_eq!(overlay[b"step/a".as_slice()], None);
        assert_eq!(overlay[b"step/b".as_slice()], Some(vec![b'x'; 2]));
        assert!(overlay.contains_key(b"event/1".as_slice()));
        let overlay = build_overlay(log.into_iter().map(Ok), 3).unwrap();
        assert_eq!(overlay[b"step/b".as_slice()], Some(vec![b'x'; 3]));
    }

    #[test]
    fn gaps_and_missing_entries_are_corrupt() {
        let big: Vec<Write> = (0..60).map(|i| write(&format!("step/{i}"), 300)).collect();
        let mut log = entries(&[(1, vec![write("a", 1)]), (2, big), (3, vec![write("b", 1)])]);
        assert!(build_overlay(log.clone().into_iter().map(Ok), 3).is_ok());
        // An entry of commit 2 missing in the middle of the log.
        log.remove(2);
        assert!(build_overlay(log.clone().into_iter().map(Ok), 3).is_err());
        // A commit missing altogether.
        let gap = entries(&[(1, vec![write("a", 1)]), (3, vec![write("b", 1)])]);
        assert!(build_overlay(gap.into_iter().map(Ok), 3).is_err());
    }

    #[test]
    fn only_a_last_commit_missing_entries_is_torn() {
        let big: Vec<Write> = (0..60).map(|i| write(&format!("step/{i}"), 300)).collect();
        let log = entries(&[(1, vec![write("a", 1)]), (2, big)]);
        let backwards = |log: &[(sled::IVec, sled::IVec)]| -> Vec<Result<sled::IVec>> {
            log.iter().rev().map(|e| Ok(e.0.clone())).collect()
        };
        assert!(torn_tail(backwards(&log).into_iter()).unwrap().is_none());
        let torn = &log[..log.len() - 1];
        let found = torn_tail(backwards(torn).into_iter()).unwrap().unwrap();
        assert_eq!(found.len(), torn.len() - 1);
        assert!(torn_tail(std::iter::empty()).unwrap().is_none());
    }
}
