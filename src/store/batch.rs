//! Batches of record writes, and the key layout shared by every [`Store`](super::Store)
//! implementation.
//!
//! A run database is one ordered key space (SledStore, since format 3: the records written at
//! creation, with the writes of its commit log laid over them; see commit_log.rs):
//!
//! ```text
//! meta                     StoreMeta (written once, at creation)
//! run                      RunRecord
//! journal                  the last group commit, with its number (format 1 and 2 SledStore
//!                          databases; see journal.rs)
//! commits                  u64 big-endian: group commits so far (format 1 SledStore databases)
//! step/<step key>          StepRecord, e.g. step/stop_servers[3]
//! event/<seq, 20 digits>   the events of one batch (a list of EventRecord), under the sequence
//!                          number of the first; numbers run from 1 without gaps, e.g.
//!                          event/00000000000000000042 holding events 42, 43 and 44
//! ```
//!
//! A round of the engine appends a few events (a chain step two, a 1,000-way fan-out round a
//! thousand); one record per round instead of one per event spares sled an insert per event
//! (a sequential chain of steps ran ~4 % faster). Format 1 databases hold one event per key
//! (kind `event`); they are read the same way.
//!
//! The runbook source is kept apart (SledStore: key `source` of the tree `runbook-source`), written
//! once when the run is created: see [`RunRecord::runbook_source`].
//!
//! Records are encoded when they are added to a batch, on the caller's task, so the single writer
//! that serialises commits spends its time on I/O only. Event sequence numbers are assigned by the
//! writer when the batch is applied, which is what keeps them gap-free under concurrent commits.

use super::error::{Error, Result};
use super::records::{
    self, EventRecord, Record, RunId, RunRecord, StepKey, StepRecord, StoredEvent,
};

/// Key of the store marker record.
pub(crate) const META_KEY: &[u8] = b"meta";
/// Key of the run record.
pub(crate) const RUN_KEY: &[u8] = b"run";
/// Key of the group-commit counter of format 1 SledStore databases (format 2 counts in the
/// journal).
pub(crate) const COMMITS_KEY: &[u8] = b"commits";
/// The sled tree holding the runbook source (SledStore only), away from the pages of the records
/// that change.
pub(crate) const SOURCE_TREE: &[u8] = b"runbook-source";
/// Key of the runbook source in [`SOURCE_TREE`].
pub(crate) const SOURCE_KEY: &[u8] = b"source";
/// Prefix of step record keys.
pub(crate) const STEP_PREFIX: &[u8] = b"step/";
/// Prefix of event record keys.
pub(crate) const EVENT_PREFIX: &[u8] = b"event/";

/// The key of the step record for `key`.
pub(crate) fn step_key(key: &StepKey) -> Vec<u8> {
    let mut bytes = STEP_PREFIX.to_vec();
    bytes.extend_from_slice(key.to_string().as_bytes());
    bytes
}

/// The key of event number `seq`; zero-padded so that byte order is numeric order.
pub(crate) fn event_key(seq: u64) -> Vec<u8> {
    format!("event/{seq:020}").into_bytes()
}

/// The sequence number in an event key.
pub(crate) fn event_seq(key: &[u8]) -> Result<u64> {
    key.strip_prefix(EVENT_PREFIX)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| Error::Corrupt {
            table: "event",
            key: String::from_utf8_lossy(key).into_owned(),
            reason: "the key is not event/<sequence number>".to_owned(),
        })
}

/// One encoded write.
#[derive(Debug)]
pub(crate) enum Op {
    /// Insert or replace the run record.
    PutRun { run_id: RunId, value: Vec<u8> },
    /// Insert or replace a record under `key`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Remove the record under `key`.
    Delete { key: Vec<u8> },
    /// Append an event (encoded bare, see [`records::encode_bare`]); its sequence number is
    /// assigned when the batch is applied, and a batch's events are stored as one record.
    AppendEvent { value: Vec<u8> },
}

/// Record writes that become durable together or not at all.
///
/// Build one per state transition and hand it to [`Store::commit`](super::Store::commit):
///
/// ```
/// # use drbook::store::{Batch, records::{StepKey, StepRecord, StepStatus, EventRecord}};
/// let mut step = StepRecord::pending(&StepKey::single("failover"));
/// step.status = StepStatus::Running;
/// let mut batch = Batch::new();
/// batch.put_step(&step).append_event(&EventRecord {
///     time: jiff::Timestamp::now(),
///     kind: "step.status".into(),
///     step: Some(step.key().to_string()),
///     data: serde_json::json!({"status": "running"}),
/// });
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Default)]
pub struct Batch {
    ops: Vec<Op>,
    /// The first encoding failure; reported by `commit`, so building a batch stays infallible.
    error: Option<Error>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the run record.
    pub fn put_run(&mut self, run: &RunRecord) -> &mut Self {
        if let Some(value) = self.encode(run) {
            self.ops.push(Op::PutRun {
                run_id: run.run_id,
                value,
            });
        }
        self
    }

    /// Writes (inserts or replaces) a step record under its key.
    pub fn put_step(&mut self, step: &StepRecord) -> &mut Self {
        if let Some(value) = self.encode(step) {
            self.ops.push(Op::Put {
                key: step_key(&step.key()),
                value,
            });
        }
        self
    }

    /// Removes a step record.
    pub fn delete_step(&mut self, key: &StepKey) -> &mut Self {
        self.ops.push(Op::Delete { key: step_key(key) });
        self
    }

    /// Appends an event to the run's history.
    pub fn append_event(&mut self, event: &EventRecord) -> &mut Self {
        match records::encode_bare(event, "event record") {
            Ok(value) => self.ops.push(Op::AppendEvent { value }),
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
        self
    }

    /// Number of writes in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.error.is_none()
    }

    fn encode<T: Record>(&mut self, record: &T) -> Option<Vec<u8>> {
        match records::encode(record) {
            Ok(value) => Some(value),
            Err(error) => {
                self.error.get_or_insert(error);
                None
            }
        }
    }

    /// The batch's writes, after checking that it encoded cleanly and belongs to `run_id`.
    pub(crate) fn into_ops(self, run_id: RunId) -> Result<Vec<Op>> {
        if let Some(error) = self.error {
            return Err(error);
        }
        for op in &self.ops {
            if let Op::PutRun { run_id: found, .. } = op
                && *found != run_id
            {
                return Err(Error::WrongRun {
                    expected: run_id.to_string(),
                    found: found.to_string(),
                });
            }
        }
        Ok(self.ops)
    }
}

impl Op {
    /// Bytes of key and value this write carries.
    pub(crate) fn size(&self) -> usize {
        match self {
            Self::PutRun { value, .. } => RUN_KEY.len() + value.len(),
            Self::Put { key, value } => key.len() + value.len(),
            Self::Delete { key } => key.len(),
            Self::AppendEvent { value } => 1 + value.len(),
        }
    }
}

/// Turns ops into key/value writes (`None` = delete), assigning event sequence numbers from
/// `next_event_seq`, which is advanced. The batch's events become one record, written last.
pub(crate) fn resolve(
    ops: Vec<Op>,
    next_event_seq: &mut u64,
    mut write: impl FnMut(Vec<u8>, Option<Vec<u8>>),
) {
    let mut events = Vec::new();
    for op in ops {
        match op {
            Op::PutRun { value, .. } => write(RUN_KEY.to_vec(), Some(value)),
            Op::Put { key, value } => write(key, Some(value)),
            Op::Delete { key } => write(key, None),
            Op::AppendEvent { value } => events.push(value),
        }
    }
    if !events.is_empty() {
        let first = *next_event_seq;
        *next_event_seq += events.len() as u64;
        write(event_key(first), Some(records::encode_event_group(&events)));
    }
}

/// Decodes a step record and checks that it sits under its own key.
pub(crate) fn decode_step(key: &[u8], value: &[u8]) -> Result<StepRecord> {
    let step: StepRecord = records::decode(key, value)?;
    if step_key(&step.key()) != key {
        return Err(Error::Corrupt {
            table: "step",
            key: String::from_utf8_lossy(key).into_owned(),
            reason: format!("the record is for step {}", step.key()),
        });
    }
    Ok(step)
}

/// Decodes the events stored under an `event/` key, with their sequence numbers.
pub(crate) fn decode_events(key: &[u8], value: &[u8]) -> Result<Vec<StoredEvent>> {
    let first = event_seq(key)?;
    Ok(records::decode_event_group(key, value)?
        .into_iter()
        .zip(first..)
        .map(|(event, seq)| StoredEvent { seq, event })
        .collect())
}

/// The sequence number after the last event stored under `last` (the greatest `event/` key).
pub(crate) fn next_seq_after(last: &[u8], value: &[u8]) -> Result<u64> {
    let count = records::decode_event_group(last, value)?.len() as u64;
    Ok(event_seq(last)? + count)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_numerically_and_parse_back() {
        assert!(event_key(9) < event_key(10));
        assert!(event_key(99_999) < event_key(100_000));
        assert_eq!(event_seq(&event_key(42)).unwrap(), 42);
        assert!(event_seq(b"event/x").is_err());
    }

    #[test]
    fn resolve_assigns_consecutive_event_numbers() {
        let event = EventRecord {
            time: jiff::Timestamp::UNIX_EPOCH,
            kind: "k".into(),
            step: None,
            data: serde_json::Value::Null,
        };
        let mut batch = Batch::new();
        batch
            .append_event(&event)
            .delete_step(&StepKey::item("s", 1))
            .append_event(&event);
        let mut next = 7;
        let mut keys = Vec::new();
        resolve(
            batch.into_ops(RunId::new()).unwrap(),
            &mut next,
            |key, value| keys.push((String::from_utf8(key).unwrap(), value.is_some())),
        );
        assert_eq!(next, 9);
        assert_eq!(
            keys,
            [
                ("step/s[1]".to_owned(), false),
                ("event/00000000000000000007".to_owned(), true),
            ]
        );
    }

    #[test]
    fn a_batch_of_events_is_one_record_that_reads_back_numbered() {
        let event = |n: u64| EventRecord {
            time: jiff::Timestamp::UNIX_EPOCH,
            kind: format!("k{n}"),
            step: None,
            data: serde_json::json!({"n": n}),
        };
        let mut batch = Batch::new();
        batch.append_event(&event(1)).append_event(&event(2));
        let mut next = 5;
        let mut writes = Vec::new();
        resolve(batch.into_ops(RunId::new()).unwrap(), &mut next, |k, v| {
            writes.push((k, v.unwrap()))
        });
        let [(key, value)] = writes.as_slice() else {
            panic!("{writes:?}")
        };
        // The same bytes a plain encode of the list makes.
        assert_eq!(value, &records::encode(&vec![event(1), event(2)]).unwrap());
        let stored = decode_events(key, value).unwrap();
        assert_eq!(
            stored
                .iter()
                .map(|e| (e.seq, e.event.clone()))
                .collect::<Vec<_>>(),
            [(5, event(1)), (6, event(2))]
        );
        assert_eq!(next_seq_after(key, value).unwrap(), 7);
        // A format 1 record holds one event.
        let legacy = br#"{"format":1,"kind":"event","record":{"time":"1970-01-01T00:00:00Z","kind":"k1","data":{"n":1}}}"#;
        let stored = decode_events(&event_key(3), legacy).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!((stored[0].seq, &stored[0].event), (3, &event(1)));
        // Anything else under an event key is corrupt.
        let step = records::encode(&StepRecord::pending(&StepKey::single("a"))).unwrap();
        assert!(matches!(
            decode_events(&event_key(3), &step),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn a_step_under_a_foreign_key_is_corrupt() {
        let step = StepRecord::pending(&StepKey::single("a"));
        let value = records::encode(&step).unwrap();
        assert!(decode_step(b"step/a", &value).is_ok());
        let error = decode_step(b"step/b", &value).unwrap_err();
        assert!(error.to_string().contains("for step a"), "{error}");
    }
}
