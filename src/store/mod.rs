//! The store layer: drbook's durable state. It owns the data directory layout, one sled database
//! per run holding versioned checkpoint records, cross-process locks on protection groups, run
//! keys for idempotent starts, and the tamper-evident audit log shared by all processes.
//!
//! The engine sees only the [`Store`] trait, [`Batch`] and the record types; sled never leaks out
//! of this module. A commit returns only once its records are durable (sled flush plus
//! `fdatasync`), so an executor that commits a decision before acting on it resumes exactly where
//! it stopped and never issues the same SDRS call twice.
//!
//! ```
//! use drbook::store::records::{RunRecord, RunStatus, StepKey, StepRecord, StepStatus};
//! use drbook::store::{Batch, DataDir, RunId, SledStore, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let temp = tempfile::tempdir()?;
//! let data_dir = DataDir::new(temp.path()); // DataDir::from_arg(cli.data_dir)? in the CLI
//! let run = RunRecord {
//!     run_id: RunId::new(),
//!     runbook_name: "dr-drill".into(),
//!     runbook_path: "runbooks/dr-drill.yaml".into(),
//!     runbook_digest: drbook::store::records::sha256_hex(b"..."),
//!     runbook_source: "...".into(),
//!     mode: "drill".into(),
//!     params: Default::default(),
//!     secret_params: Vec::new(),
//!     status: RunStatus::Pending,
//!     run_key: None,
//!     actor: "alice".into(),
//!     dry_run: false,
//!     endpoint: "emulator".into(),
//!     created_at: jiff::Timestamp::now(),
//!     started_at: None,
//!     ended_at: None,
//!     attempt: 1,
//!     error: None,
//!     locks: Vec::new(),
//!     deadline: None,
//! };
//! // Blocking calls: from async code, wrap them in `spawn_blocking`.
//! let store = SledStore::create(&data_dir, &run)?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let mut step = StepRecord::pending(&StepKey::single("failover"));
//!     step.status = StepStatus::Running;
//!     let mut batch = Batch::new();
//!     batch.put_step(&step);
//!     // Durable when this returns: only now may the SDRS call be made.
//!     store.commit(batch).await
//! })?;
//! store.close()?;
//!
//! // A resume, in this or another process:
//! let store = SledStore::open(&data_dir, run.run_id)?;
//! assert_eq!(store.load_steps()?.len(), 1);
//! # Ok(())
//! # }
//! ```

mod aging;
pub mod audit;
mod batch;
mod claim;
mod commit_log;
mod data_dir;
mod error;
mod journal;
pub mod locks;
mod memory;
pub mod records;
pub mod redact;
pub mod run_keys;
mod sled_store;

use std::future::Future;

pub use aging::AGE_AFTER_COMMITS;
pub use batch::Batch;
pub use data_dir::DataDir;
pub use error::{Error, Result};
pub use memory::MemoryStore;
pub use records::{FORMAT_VERSION, RunId};
pub use sled_store::SledStore;

use records::{RunRecord, StepKey, StepRecord, StoredEvent};

/// A run's checkpoint store, as the engine sees it.
///
/// `commit` is an `async fn` in a trait without boxing, which makes the trait unusable as
/// `dyn Store`; the engine is generic over `S: Store` instead (monomorphised for [`SledStore`]
/// in production and [`MemoryStore`] in tests).
///
/// Reads are synchronous: they are served from sled's page cache and take microseconds. They may
/// observe a batch whose `commit` has not returned yet (it is applied, its flush is in progress);
/// the engine only reads at start-up and resume, when no commit is in flight.
pub trait Store: Send + Sync {
    /// The run this store belongs to.
    fn run_id(&self) -> RunId;

    /// Writes `batch` atomically; when this returns `Ok`, the batch survives a killed process and
    /// (for [`SledStore`]) an OS crash or power cut. On error, the batch may or may not have been
    /// written; the engine must stop driving the run and resume it from what is on disk.
    ///
    /// Dropping the returned future after it was first polled does not cancel the batch.
    fn commit(&self, batch: Batch) -> impl Future<Output = Result<()>> + Send;

    /// The run record.
    fn load_run(&self) -> Result<RunRecord>;

    /// Every step record, ordered by key bytes (`a[10]` sorts before `a[2]`).
    fn load_steps(&self) -> Result<Vec<StepRecord>>;

    /// One step record.
    fn get_step(&self, key: &StepKey) -> Result<Option<StepRecord>>;

    /// The events with a sequence number greater than `since`, oldest first (`since = 0`: all).
    fn load_events(&self, since: u64) -> Result<Vec<StoredEvent>>;
}

#[cfg(test)]
mod tests;
