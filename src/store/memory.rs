//! [`MemoryStore`]: the [`Store`] semantics without durability, for engine unit tests.
//!
//! It encodes and decodes records exactly like [`SledStore`](super::SledStore) (same envelope,
//! same keys, same event numbering, same atomicity per batch), so engine tests exercise the real
//! record round trip; it only skips the disk.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::Store;
use super::batch::{self, Batch, EVENT_PREFIX, RUN_KEY, STEP_PREFIX};
use super::error::{Error, Result};
use super::records::{self, RunId, RunRecord, StepKey, StepRecord, StoredEvent};

/// An in-memory run store.
#[derive(Debug)]
pub struct MemoryStore {
    run_id: RunId,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The runbook source, kept apart from the run record as SledStore does.
    source: String,
    next_event_seq: u64,
    /// How many batches have been committed; lets tests assert that something was written.
    commits: u64,
}

impl MemoryStore {
    /// A store holding `run`, as [`SledStore::create`](super::SledStore::create) would.
    pub fn new(run: &RunRecord) -> Result<Self> {
        let mut records = BTreeMap::new();
        records.insert(RUN_KEY.to_vec(), records::encode(run)?);
        Ok(Self {
            run_id: run.run_id,
            state: Mutex::new(State {
                records,
                source: run.runbook_source.clone(),
                next_event_seq: 1,
                commits: 0,
            }),
        })
    }

    /// Number of non-empty batches committed so far.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is held only around map operations that do not panic, so even a poisoned
        // lock guards consistent data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.lock()
            .records
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

impl Store for MemoryStore {
    fn run_id(&self) -> RunId {
        self.run_id
    }

    async fn commit(&self, batch: Batch) -> Result<()> {
        let ops = batch.into_ops(self.run_id)?;
        if ops.is_empty() {
            return Ok(());
        }
        let mut writes = Vec::new();
        let mut state = self.lock();
        let mut next_event_seq = state.next_event_seq;
        batch::resolve(ops, &mut next_event_seq, |key, value| {
            writes.push((key, value));
        });
        for (key, value) in writes {
            match value {
                Some(value) => state.records.insert(key, value),
                None => state.records.remove(&key),
            };
        }
        state.next_event_seq = next_event_seq;
        state.commits += 1;
        Ok(())
    }

    fn load_run(&self) -> Result<RunRecord> {
        let state = self.lock();
        let value = state.records.get(RUN_KEY).ok_or_else(|| Error::Corrupt {
            table: "run",
            key: "run".to_owned(),
            reason: "the run database has no run record".to_owned(),
        })?;
        let mut run: RunRecord = records::decode(RUN_KEY, value)?;
        run.runbook_source.clone_from(&state.source);
        Ok(run)
    }

    fn load_steps(&self) -> Result<Vec<StepRecord>> {
        self.prefix(STEP_PREFIX)
            .iter()
            .map(|(key, value)| batch::decode_step(key, value))
            .collect()
    }

    fn get_step(&self, key: &StepKey) -> Result<Option<StepRecord>> {
        let db_key = batch::step_key(key);
        let value = self.lock().records.get(&db_key).cloned();
        value
            .map(|value| batch::decode_step(&db_key, &value))
            .transpose()
    }

    fn load_events(&self, since: u64) -> Result<Vec<StoredEvent>> {
        let mut events = Vec::new();
        for (key, value) in self.prefix(EVENT_PREFIX) {
            events.extend(
                batch::decode_events(&key, &value)?
                    .into_iter()
                    .filter(|event| event.seq > since),
            );
        }
        Ok(events)
    }
}
