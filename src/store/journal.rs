//! The encoding of a group commit's writes with its number, and the group-commit journal of
//! format 1 and 2 databases.
//!
//! Since format 3, [`SledStore`](super::SledStore) appends every group to its commit log (see the
//! commit_log module) in this encoding and no longer writes a journal. What follows is how formats
//! 1 and 2 made a multi-record commit atomic without sled's `apply_batch`; the journal of such a
//! database is still completed on open.
//!
//! Why not `apply_batch`: on sled 0.34.7 every batch first rolls the current log buffer (an extra
//! `pwrite` + `sync_file_range`) and writes a batch manifest, which cost ~17 % of the throughput
//! of a one-step-at-a-time chain. Instead, every group first inserted itself, encoded with its
//! commit number, under the key `journal` (replacing the previous group's), then performed its
//! writes as plain inserts and removes, all before the one `flush()`. sled recovers a prefix of its
//! log, so after a crash either the journal of a group is missing (and so is every write after
//! it: the previous journal, complete, is there), or it is there and every write after it belongs
//! to its group. On open, the journal's writes that did not make it are performed again; the
//! journal's number is the database's commit count (for the watermark). Large groups used
//! `apply_batch` with a journal of no writes inside the batch, for the count.
//!
//! Format 1 databases journalled only groups of several writes and counted commits in the key
//! `commits`; a journal whose number is not above that counter is an older group and is left
//! alone (a replay would revert the single writes that followed it).
//!
//! Encoding (all integers big-endian): `commit: u64`, `count: u32`, then per write
//! `key_len: u32`, `key`, `tag: u8` (0 = remove, 1 = insert), and for inserts `value_len: u32`,
//! `value`.

use super::error::{Error, Result};

/// Key of the journal record (format 1 and 2 databases).
pub(crate) const JOURNAL_KEY: &[u8] = b"journal";

/// One write of a group: `None` removes the key.
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// The size of the record [`encode`] would make of `writes`.
pub(crate) fn encoded_len(writes: &[Write]) -> usize {
    12 + writes.iter().map(write_len).sum::<usize>()
}

/// The bytes one write takes in the encoding.
pub(crate) fn write_len((key, value): &Write) -> usize {
    9 + key.len() + value.as_ref().map_or(0, Vec::len)
}

/// Encodes the writes of group commit number `commit`.
pub(crate) fn encode(commit: u64, writes: &[Write]) -> Result<Vec<u8>> {
    let too_large = || Error::Encode {
        what: "group-commit journal".to_owned(),
        reason: "a key or value is larger than 4 GiB".to_owned(),
    };
    let mut bytes = Vec::with_capacity(encoded_len(writes));
    bytes.extend_from_slice(&commit.to_be_bytes());
    let count = u32::try_from(writes.len()).map_err(|_| too_large())?;
    bytes.extend_from_slice(&count.to_be_bytes());
    for (key, value) in writes {
        let key_len = u32::try_from(key.len()).map_err(|_| too_large())?;
        bytes.extend_from_slice(&key_len.to_be_bytes());
        bytes.extend_from_slice(key);
        match value {
            None => bytes.push(0),
            Some(value) => {
                bytes.push(1);
                let value_len = u32::try_from(value.len()).map_err(|_| too_large())?;
                bytes.extend_from_slice(&value_len.to_be_bytes());
                bytes.extend_from_slice(value);
            }
        }
    }
    Ok(bytes)
}

/// Decodes a journal record into its commit number and writes.
pub(crate) fn decode(bytes: &[u8]) -> Result<(u64, Vec<Write>)> {
    let mut reader = Reader { bytes, at: 0 };
    let commit = u64::from_be_bytes(reader.array()?);
    let count = u32::from_be_bytes(reader.array()?);
    let mut writes = Vec::new();
    for _ in 0..count {
        let key = reader.chunk()?;
        let value = match reader.array::<1>()? {
            [0] => None,
            [1] => Some(reader.chunk()?),
            [tag] => return Err(corrupt(format!("unknown write tag {tag}"))),
        };
        writes.push((key, value));
    }
    if reader.at != bytes.len() {
        return Err(corrupt(format!(
            "{} trailing bytes",
            bytes.len() - reader.at
        )));
    }
    Ok((commit, writes))
}

fn corrupt(reason: String) -> Error {
    Error::Corrupt {
        table: "journal",
        key: "journal".to_owned(),
        reason,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| corrupt(format!("truncated at byte {}", self.at)))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    fn chunk(&mut self) -> Result<Vec<u8>> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        Ok(self.take(len)?.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn round_trips_inserts_and_removes() {
        let writes: Vec<Write> = vec![
            (b"step/a".to_vec(), Some(b"{}".to_vec())),
            (b"step/b".to_vec(), None),
            (b"event/1".to_vec(), Some(Vec::new())),
        ];
        let bytes = encode(42, &writes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), (42, writes));
    }

    #[test]
    fn truncated_or_padded_journals_are_corrupt() {
        let bytes = encode(1, &[(b"k".to_vec(), Some(b"v".to_vec()))]).unwrap();
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode(&padded).is_err());
        let mut bad_tag = bytes;
        bad_tag[12 + 4 + 1] = 7;
        assert!(decode(&bad_tag).is_err());
    }
}
