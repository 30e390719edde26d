//! [`SledStore`]: a run's checkpoint database on sled 0.34.7, with group commit.
//!
//! Group commit without a writer thread: the first caller of [`Store::commit`] that finds no
//! commit in progress becomes the *leader*. It writes its own batch and every batch other callers
//! queued meanwhile (up to 96 KiB of records) as one atomic group (appended to the commit log, one
//! sled insert per 7 KiB: see the commit_log module), calls `flush()` once, `fdatasync`s
//! the data file (and any blob file sled wrote since the last time), answers every caller of the
//! group, and goes on with the next group until the queue is empty. Callers that arrive while a
//! commit is in progress only queue their batch and wait for the leader's answer.
//!
//! The leader does this on its own thread, inside `tokio::task::block_in_place` on a multi-thread
//! runtime (on a current-thread runtime, on the blocking pool). The engine has one committer per
//! run (its executor, one commit per round), so there is almost never anybody to group with, and
//! a sequential chain of steps pays one flush per step and nothing else: no hop to a writer thread
//! and back, two thread wake-ups per step that a 2-core machine feels.
//! Concurrent callers still share flushes, a handful for a thousand batches.
//!
//! Why the blocking `flush()` from one leader at a time: on sled 0.34.7, concurrent `flush_async`
//! calls deadlock (spacejam/sled#1308), and a single committer at a time is also the cheapest way
//! to keep event sequence numbers gap-free.
//!
//! Why `fdatasync` on top of `flush()`: on Linux sled's flush ends in `sync_file_range`, which
//! survives a killed process but not an OS crash or a power cut (it neither flushes the disk's
//! cache nor the file's size). Blob files (sled's spill files for values larger than a quarter of a
//! segment, ~128 KiB) are written without any sync at all, so they are synced here too.
//!
//! Why a commit watermark: when sled 0.34.7 meets a damaged message in the middle of its log, it
//! treats it as the torn end of the log and silently drops every later commit (a flipped byte in
//! a 20-commit database was observed to reopen with 1 to 17 of them). For drbook that would mean
//! resuming a run from an older state and issuing an SDRS call twice. Each group commit therefore
//! also counts itself in sled (its log entries are keyed by its number) and, after it is durable,
//! writes the count to the
//! side file `drbook-watermark` (no fsync: media damage happens at rest, long after the kernel
//! wrote the page back). On open, a database that recovered fewer commits than the watermark
//! records is refused as [`Error::DamagedDatabase`].

use std::collections::HashSet;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use tokio::sync::oneshot;

use super::Store;
use super::aging;
use super::batch::{
    self, Batch, COMMITS_KEY, EVENT_PREFIX, META_KEY, Op, RUN_KEY, SOURCE_KEY, SOURCE_TREE,
    STEP_PREFIX,
};
use super::commit_log::{self, Overlay};
use super::data_dir::{DataDir, create_private_dir, private_file_options, sync_dir};
use super::error::{Error, IoResultExt, Result};
use super::journal;
use super::records::{
    self, RunId, RunRecord, STORE_MAGIC, StepKey, StepRecord, StoreMeta, StoredEvent,
};

/// Most batches one group commit applies; bounds the latency of the first caller in a group.
const MAX_GROUP: usize = 8192;

/// Most bytes of records one group commit gathers, so that the first caller of a group does not
/// wait for an unbounded amount of other callers' records. A single larger batch still forms a
/// group of its own.
const MAX_GROUP_BYTES: usize = 96 * 1024;

/// sled's page cache per run database. Run databases are small (a runbook's steps and history),
/// and a process may hold a few at once, so sled's 1 GiB default would be wasteful.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// The side file holding the number of group commits acknowledged so far.
const WATERMARK_FILE: &str = "drbook-watermark";

/// A run's checkpoint database, held exclusively by this process until it is closed or dropped.
///
/// Dropping the store, like [`SledStore::close`], waits for a commit still in progress (one whose
/// caller stopped waiting) and releases the database.
pub struct SledStore {
    run_id: RunId,
    path: PathBuf,
    db: sled::Db,
    /// The commit log (see the commit_log module).
    log: sled::Tree,
    /// The log's writes up to the commit number it was built at, kept for the next read.
    overlay: Mutex<Option<(u64, Arc<Overlay>)>>,
    committer: Arc<Committer>,
    /// Records the release when the store goes (see the lingering module); after the handles.
    _held: lingering::Held,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("run_id", &self.run_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A batch waiting for its group commit.
struct Request {
    ops: Vec<Op>,
    /// Encoded size of `ops`, for [`MAX_GROUP_BYTES`].
    bytes: usize,
    reply: oneshot::Sender<Result<()>>,
}

impl SledStore {
    /// Creates the database of a new run and commits its run record durably.
    ///
    /// The database is built in a hidden staging directory and renamed into `runs/<run-id>/` only
    /// once its marker and run record are durable, so a crash during creation never leaves a
    /// half-made run behind. Blocking: call it from a blocking context.
    pub fn create(data_dir: &DataDir, run: &RunRecord) -> Result<Self> {
        let runs_dir = data_dir.runs_dir();
        create_private_dir(&runs_dir)?;
        let final_dir = data_dir.run_dir(&run.run_id);
        if final_dir.exists() {
            return Err(Error::RunExists {
                run_id: run.run_id.to_string(),
                path: final_dir,
            });
        }
        let staging_dir = runs_dir.join(format!(".creating-{}", run.run_id));
        if staging_dir.exists() {
            // Left by a creator of this very run id that crashed; nobody else uses this name.
            fs::remove_dir_all(&staging_dir).at(&staging_dir)?;
        }
        create_private_dir(&staging_dir)?;

        let meta = StoreMeta {
            magic: STORE_MAGIC.to_owned(),
            run_id: run.run_id,
            created_at: Timestamp::now(),
            created_by: format!("drbook {}", env!("CARGO_PKG_VERSION")),
        };
        let mut initial = sled::Batch::default();
        initial.insert(META_KEY, records::encode(&meta)?);
        initial.insert(RUN_KEY, records::encode(run)?);
        {
            let db = open_db(&staging_dir, run.run_id)?;
            let failed = |e| db_error(&staging_dir, e);
            // Durable before the rename below like the rest, so no commit order is needed.
            db.open_tree(SOURCE_TREE)
                .and_then(|tree| tree.insert(SOURCE_KEY, run.runbook_source.as_bytes()))
                .map_err(failed)?;
            db.apply_batch(initial).map_err(failed)?;
            db.flush().map_err(|e| db_error(&staging_dir, e))?;
            // sled releases its file lock when the last handle is dropped, at the end of this block.
        }
        sync_tree(&staging_dir)?;
        fs::rename(&staging_dir, &final_dir).at(&final_dir)?;
        sync_dir(&runs_dir)?;
        // The handle above is gone, but sled's I/O threads may still hold the file a moment:
        // under load, about one start in sixty found its brand-new database "in use" (seen in
        // benches/engine.rs). `open` waits for them, as for any handle this process let go.
        lingering::released(&final_dir);
        Self::open(data_dir, run.run_id)
    }

    /// Opens an existing run's database for this process to drive (or inspect).
    ///
    /// Fails with [`Error::InUse`] if another process (or handle) holds it, [`Error::RunNotFound`]
    /// if there is none, [`Error::Foreign`] if the directory is not a drbook run database, and
    /// [`Error::UnsupportedFormat`] if a newer drbook wrote it. Blocking.
    pub fn open(data_dir: &DataDir, run_id: RunId) -> Result<Self> {
        let path = data_dir.run_dir(&run_id);
        if !path.is_dir() {
            return Err(Error::RunNotFound {
                run_id: run_id.to_string(),
                path,
            });
        }
        if !path.join("db").is_file() {
            return Err(Error::Foreign {
                path,
                reason: "there is no sled data file `db` in it".to_owned(),
            });
        }
        let db = open_db_after_release(&path, run_id)?;
        let held = lingering::Held::new(&path);
        check_meta(&db, &path, run_id)?;
        // A run database always holds its run record; check it now rather than at first use.
        load_run_from(&db, &path)?;
        let data_file_path = path.join("db");
        let data_file = File::open(&data_file_path).at(&data_file_path)?;
        let journaled = replay_journal(&db, &path, &data_file)?;
        let log = db
            .open_tree(commit_log::LOG_TREE)
            .map_err(|e| db_error(&path, e))?;
        let logged = recover_log(&db, &log, &path, &data_file)?;
        let commits = logged.unwrap_or(journaled);
        if aging::drop_leftover(&db).map_err(|e| db_error(&path, e))? {
            tracing::info!(path = %path.display(), "dropped the aging tree a crash left behind");
        }
        restamp_run_record(&db, &path, &data_file)?;
        let watermark_path = path.join(WATERMARK_FILE);
        if let Some(acknowledged) = read_watermark(&watermark_path)?
            && acknowledged > commits
        {
            return Err(Error::DamagedDatabase {
                path,
                reason: format!(
                    "it recovered {commits} commits but {acknowledged} were acknowledged; \
                     its log is damaged and the later commits were lost"
                ),
            });
        }
        let watermark = private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&watermark_path)
            .at(&watermark_path)?;
        let next_event_seq = match last_logged_events(&log, &path)? {
            Some((key, value)) => batch::next_seq_after(&key, &value)?,
            None => match db
                .scan_prefix(EVENT_PREFIX)
                .next_back()
                .transpose()
                .map_err(|e| db_error(&path, e))?
            {
                Some((key, value)) => batch::next_seq_after(&key, &value)?,
                None => 1,
            },
        };
        let writer = Writer {
            run_id,
            path: path.clone(),
            db: db.clone(),
            log: log.clone(),
            data_file,
            watermark,
            commits,
            next_event_seq,
            // Whatever opening wrote (a replayed journal, a restamped run record) is durable,
            // blob files included, before anything else happens.
            blobs: BlobSync::open_synced(&path)?,
            log_inserts: 0,
            blobs_possible_until: BLOB_WINDOW,
            poisoned: None,
        };
        Ok(Self {
            run_id,
            path,
            db,
            log,
            overlay: Mutex::new(None),
            committer: Arc::new(Committer {
                queue: Mutex::new(Queue::default()),
                idle: Condvar::new(),
                writer: Mutex::new(Some(writer)),
                acknowledged: AtomicU64::new(commits),
            }),
            _held: held,
        })
    }

    /// The run database's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The blob files made durable so far (for tests).
    #[cfg(test)]
    pub(super) fn synced_blobs(&self) -> usize {
        lock(&self.committer.writer)
            .as_ref()
            .map_or(0, |writer| writer.blobs.synced.len())
    }

    /// Waits until every batch already queued is committed and answered, and releases the
    /// database (dropping the store does the same). Blocking. A failed commit was already
    /// reported to its caller; closing itself does not fail today, the `Result` keeps callers
    /// ready for a store whose close can.
    pub fn close(mut self) -> Result<()> {
        self.shut_down();
        Ok(())
    }

    pub(super) fn shut_down(&mut self) {
        // A leader whose caller was dropped may still be committing on the blocking pool; it
        // empties the queue before it lets go.
        let mut queue = lock(&self.committer.queue);
        while queue.leading {
            queue = self
                .committer
                .idle
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        queue.closed = true;
        drop(queue);
        // Dropping the writer drops its database handle and files.
        drop(lock(&self.committer.writer).take());
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl Store for SledStore {
    fn run_id(&self) -> RunId {
        self.run_id
    }

    async fn commit(&self, batch: Batch) -> Result<()> {
        let ops = batch.into_ops(self.run_id)?;
        if ops.is_empty() {
            return Ok(());
        }
        let closed = |reason: &str| Error::Closed {
            run_id: self.run_id.to_string(),
            reason: reason.to_owned(),
        };
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut queue = lock(&self.committer.queue);
            if queue.closed {
                return Err(closed("the store was closed"));
            }
            queue.pending.push_back(Request {
                bytes: ops.iter().map(Op::size).sum(),
                ops,
                reply,
            });
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            let leader = Leader(Some(Arc::clone(&self.committer)));
            match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                    tokio::task::block_in_place(|| leader.run());
                }
                // block_in_place is refused on a current-thread runtime; a leader there must not
                // stall the runtime's only thread, so it commits on the blocking pool. (Its group
                // includes this very batch, so the answer below is already on its way.)
                Ok(_) => {
                    tokio::task::spawn_blocking(move || leader.run());
                }
                // Polled by another executor: there is no runtime to stall.
                Err(_) => leader.run(),
            }
        }
        answer
            .await
            .map_err(|_| closed("the committer stopped before answering"))?
    }

    fn load_run(&self) -> Result<RunRecord> {
        match self.overlay()?.get(RUN_KEY) {
            Some(Some(value)) => decode_run(&self.db, &self.path, value),
            _ => load_run_from(&self.db, &self.path),
        }
    }

    fn load_steps(&self) -> Result<Vec<StepRecord>> {
        self.merged(STEP_PREFIX, batch::decode_step)
    }

    fn get_step(&self, key: &StepKey) -> Result<Option<StepRecord>> {
        let db_key = batch::step_key(key);
        let value = match self.overlay()?.get(&db_key) {
            Some(logged) => logged.clone(),
            None => self
                .db
                .get(&db_key)
                .map_err(|e| db_error(&self.path, e))?
                .map(|value| value.to_vec()),
        };
        value
            .map(|value| batch::decode_step(&db_key, &value))
            .transpose()
    }

    fn load_events(&self, since: u64) -> Result<Vec<StoredEvent>> {
        // Event records are few (one per commit) next to their events; decoding them all keeps
        // this simple. Callers read the whole history anyway.
        let records = self.merged(EVENT_PREFIX, batch::decode_events)?;
        let events = records
            .into_iter()
            .flatten()
            .filter(|event| event.seq > since)
            .collect();
        Ok(events)
    }
}

impl SledStore {
    /// The writes of the commit log up to the last acknowledged commit (see the commit_log
    /// module), built on the first read after a commit.
    fn overlay(&self) -> Result<Arc<Overlay>> {
        let acknowledged = self.committer.acknowledged.load(Ordering::Acquire);
        let mut cached = lock(&self.overlay);
        if let Some((at, overlay)) = cached.as_ref()
            && *at == acknowledged
        {
            return Ok(Arc::clone(overlay));
        }
        let entries = self
            .log
            .iter()
            .map(|entry| entry.map_err(|e| db_error(&self.path, e)));
        let overlay = Arc::new(commit_log::build_overlay(entries, acknowledged)?);
        *cached = Some((acknowledged, Arc::clone(&overlay)));
        Ok(overlay)
    }

    /// The records under `prefix`, decoded in key order: the default tree's with the commit log's
    /// laid over them. Each record is decoded where it lies, and a record the log replaced is not
    /// decoded at all.
    fn merged<T>(
        &self,
        prefix: &[u8],
        decode: impl Fn(&[u8], &[u8]) -> Result<T>,
    ) -> Result<Vec<T>> {
        let overlay = self.overlay()?;
        let mut records = std::collections::BTreeMap::new();
        for entry in self.db.scan_prefix(prefix) {
            let (key, value) = entry.map_err(|e| db_error(&self.path, e))?;
            if !overlay.contains_key(key.as_ref()) {
                records.insert(key.to_vec(), decode(&key, &value)?);
            }
        }
        let logged = overlay
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix));
        for (key, value) in logged {
            if let Some(value) = value {
                records.insert(key.clone(), decode(key, value)?);
            }
        }
        Ok(records.into_values().collect())
    }
}

/// The state of whoever commits (the current leader).
struct Writer {
    run_id: RunId,
    path: PathBuf,
    db: sled::Db,
    /// The commit log every group is appended to.
    log: sled::Tree,
    /// sled's data file, opened separately for `fdatasync`. sled's lock is a `flock` on its own
    /// open file description, so opening and closing this handle does not disturb it.
    data_file: File,
    /// The side file recording how many group commits were acknowledged.
    watermark: File,
    /// Group commits made durable so far (including those of earlier processes).
    commits: u64,
    next_event_seq: u64,
    /// Keeps sled's blob files durable.
    blobs: BlobSync,
    /// Log entries inserted by this handle.
    log_inserts: u64,
    /// Until this many log entries are inserted, sled may write a blob file (see
    /// [`BLOB_WINDOW`]); after, it cannot, and the blob directory is not checked.
    blobs_possible_until: u64,
    /// Set by the first failed group commit; every later commit is refused with it.
    poisoned: Option<String>,
}

/// The group-commit state shared by a store's callers.
struct Committer {
    queue: Mutex<Queue>,
    /// Signalled when a leader lets go (for [`SledStore::close`]).
    idle: Condvar,
    /// `None` once the store is closed.
    writer: Mutex<Option<Writer>>,
    /// The number of the last commit made durable: readers do not look past it.
    acknowledged: AtomicU64,
}

#[derive(Default)]
struct Queue {
    pending: std::collections::VecDeque<Request>,
    /// A leader is committing; it takes everything queued before it lets go.
    leading: bool,
    closed: bool,
}

/// Locks a mutex, ignoring poisoning: the committer's state stays consistent under a panic (a
/// panicking sled is caught inside the group commit).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Committer {
    /// Commits groups of queued batches until the queue is empty, then lets go of leadership.
    fn lead(&self) {
        let mut writer = lock(&self.writer);
        loop {
            let mut group = {
                let mut queue = lock(&self.queue);
                if queue.pending.is_empty() {
                    queue.leading = false;
                    drop(queue);
                    self.idle.notify_all();
                    return;
                }
                take_group(&mut queue.pending)
            };
            let outcome = match writer.as_mut() {
                Some(writer) => writer.commit_group(&mut group),
                None => Err("the store was closed".to_owned()),
            };
            if let Some(writer) = writer.as_mut() {
                if outcome.is_ok() {
                    self.acknowledged.store(writer.commits, Ordering::Release);
                }
                writer.answer(group, &outcome);
                // After the answers, so that it overlaps with the callers preparing their next
                // batch (and the callers never wait for the aging).
                if outcome.is_ok() {
                    writer.write_watermark();
                    writer.age_if_due();
                }
            }
        }
    }
}

/// The right to lead, taken by the caller that found no leader. Dropped without running (a
/// blocking task discarded by a runtime shutting down), it fails the queued batches instead of
/// leaving them, and [`SledStore::close`], waiting forever.
struct Leader(Option<Arc<Committer>>);

impl Leader {
    fn run(mut self) {
        if let Some(committer) = self.0.take() {
            committer.lead();
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if let Some(committer) = self.0.take() {
            let mut queue = lock(&committer.queue);
            queue.leading = false;
            // Dropping a request drops its reply sender: its caller learns the store is closed.
            queue.pending.clear();
            drop(queue);
            committer.idle.notify_all();
        }
    }
}

/// The next group: the oldest batch and the ones after it, up to [`MAX_GROUP`] batches and
/// [`MAX_GROUP_BYTES`] (a larger single batch forms a group of its own).
fn take_group(pending: &mut std::collections::VecDeque<Request>) -> Vec<Request> {
    let mut group = Vec::new();
    let mut bytes = 0;
    while let Some(next) = pending.front() {
        if !group.is_empty() && (group.len() >= MAX_GROUP || bytes + next.bytes > MAX_GROUP_BYTES) {
            break;
        }
        bytes += next.bytes;
        group.extend(pending.pop_front());
    }
    group
}

impl Writer {
    /// Tells every caller of a group how its commit went.
    fn answer(&self, group: Vec<Request>, outcome: &std::result::Result<(), String>) {
        for request in group {
            let answer = match outcome {
                Ok(()) => Ok(()),
                Err(reason) => Err(Error::CommitFailed {
                    run_id: self.run_id.to_string(),
                    reason: reason.clone(),
                }),
            };
            // A caller that stopped waiting does not need an answer.
            let _ = request.reply.send(answer);
        }
    }

    /// Applies every batch of the group atomically and makes it durable.
    fn commit_group(&mut self, group: &mut [Request]) -> std::result::Result<(), String> {
        if let Some(reason) = &self.poisoned {
            return Err(format!("refused after an earlier failure: {reason}"));
        }
        let mut writes: Vec<journal::Write> = Vec::new();
        let commits = self.commits + 1;
        let mut next_event_seq = self.next_event_seq;
        for request in group.iter_mut() {
            batch::resolve(
                std::mem::take(&mut request.ops),
                &mut next_event_seq,
                |key, value| writes.push((key, value)),
            );
        }
        // sled 0.34 can panic on internal inconsistencies; a panic here must become an error
        // for the callers, not a dead writer that leaves them waiting.
        let result = catch_unwind(AssertUnwindSafe(|| self.apply_durably(commits, writes)))
            .unwrap_or_else(|panic| Err(format!("sled panicked: {}", panic_message(&panic))));
        match result {
            Ok(()) => {
                self.next_event_seq = next_event_seq;
                self.commits = commits;
                Ok(())
            }
            Err(reason) => {
                tracing::error!(run_id = %self.run_id, %reason, "group commit failed; store poisoned");
                self.poisoned = Some(reason.clone());
                Err(reason)
            }
        }
    }

    /// Appends the group to the commit log as commit number `commit` and makes it durable.
    fn apply_durably(
        &mut self,
        commit: u64,
        writes: Vec<journal::Write>,
    ) -> std::result::Result<(), String> {
        let db_failed = |e: sled::Error| db_error(&self.path, e).to_string();
        let chunks = commit_log::chunks(writes);
        let count = u32::try_from(chunks.len()).map_err(|_| "a group of over 2^32 entries")?;
        for (index, chunk) in (0..count).zip(&chunks) {
            let entry = journal::encode(commit, chunk).map_err(|e| e.to_string())?;
            if entry.len() > commit_log::MAX_ENTRY_BYTES {
                self.blobs_possible_until = self.log_inserts + BLOB_WINDOW;
            }
            self.log_inserts += 1;
            self.log
                .insert(commit_log::key(commit, index, count), entry)
                .map_err(db_failed)?;
        }
        self.db.flush().map_err(db_failed)?;
        self.data_file
            .sync_data()
            .map_err(|e| Error::io(self.path.join("db"), e).to_string())?;
        if self.log_inserts <= self.blobs_possible_until {
            self.blobs.sync_new().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Ages the young database once (see the aging module) if the commit just answered made it
    /// due. A failure is only logged: the next commit meets any real trouble itself. A panicking
    /// sled poisons the store, as in a commit.
    fn age_if_due(&mut self) {
        if self.commits != aging::AGE_AFTER_COMMITS {
            return;
        }
        let started = std::time::Instant::now();
        // Aging writes pages of another tree than the commit log. They stay far below sled's blob
        // threshold, but the blob directory is checked again for a window as after opening, so
        // that no reasoning about the commit log's leaves has to cover them.
        self.blobs_possible_until = self.log_inserts + BLOB_WINDOW;
        match catch_unwind(AssertUnwindSafe(|| aging::age(&self.db))) {
            Ok(Ok(())) => tracing::debug!(
                run_id = %self.run_id,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "aged the run database"
            ),
            Ok(Err(error)) => tracing::warn!(
                run_id = %self.run_id,
                error = %db_error(&self.path, error),
                "could not age the run database; carrying on"
            ),
            Err(panic) => {
                let reason = format!(
                    "sled panicked while aging the database: {}",
                    panic_message(&panic)
                );
                tracing::error!(run_id = %self.run_id, %reason, "store poisoned");
                self.poisoned = Some(reason);
            }
        }
    }

    /// Records that `self.commits` group commits are durable. The count is written twice so
    /// that a damaged watermark is recognised (and ignored) rather than trusted.
    fn write_watermark(&self) {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.commits.to_be_bytes());
        bytes[8..].copy_from_slice(&self.commits.to_be_bytes());
        if let Err(error) = self.watermark.write_all_at(&bytes, 0) {
            // The commit itself is durable; only the damage detection is weakened.
            tracing::warn!(run_id = %self.run_id, %error, "could not update the commit watermark");
        }
    }
}

/// Keeps sled's blob files durable.
///
/// sled writes a blob file before the log entry that points to it, so after `flush()` every blob
/// a committed record needs is in `blobs/`; this fsyncs the ones not yet synced, and the directory.
/// Listing the directory on every commit cost ~25 µs of a ~250 µs commit here, while blobs are
/// rare (only records or tree nodes over ~128 KiB). So the directory's mtime is checked first
/// with one `fstat` of an open handle, and the listing is skipped while it is unchanged. That is
/// only sound once the recorded mtime has *settled*: Linux stamps directories from a coarse clock
/// (one tick is 1–10 ms), so an entry added within the same tick as the last listing could leave
/// the mtime unchanged. The mtime is therefore trusted only if it was already more than
/// [`SETTLE`] old when it was read; any later change then carries a strictly newer stamp (an
/// entry made after that read is stamped at most one tick before it, and a tick is shorter than
/// [`SETTLE`]). Until then (the first [`SETTLE`] of a fresh run) every commit lists the directory.
///
/// Most commits do not look at all: after [`BLOB_WINDOW`] inserts without an oversized entry, sled
/// cannot write a blob file (see there).
struct BlobSync {
    dir: PathBuf,
    /// The directory, open, for `fstat`.
    handle: File,
    /// Blob files already made durable.
    synced: HashSet<std::ffi::OsString>,
    /// The directory's mtime at the last listing, if it had settled by then.
    settled_mtime: Option<std::time::SystemTime>,
}

/// For how many log inserts after opening, and after inserting an entry over
/// [`commit_log::MAX_ENTRY_BYTES`], sled may still write a blob file, so that the blob directory
/// must be checked after each commit.
///
/// sled 0.34.7 spills a page update into a blob file only when it is larger than a quarter of its
/// 512 KiB segment. After opening, a group commit writes nothing but commit-log entries, each
/// (with its key) an update of its own and at most [`commit_log::MAX_ENTRY_BYTES`] unless a single
/// record is larger; sled splits a leaf before an insert makes it hold more than 17 entries, so a
/// rewritten leaf of such entries stays below the threshold (17 × 7.2 KiB < 128 KiB). Only a leaf
/// holding an oversized entry can exceed it, and since log keys only grow, new entries go to the
/// rightmost leaf and an entry leaves it (for a leaf never written again) within 34 inserts: the
/// rightmost leaf splits at 17 entries and keeps its upper 9. The window doubles that. The first
/// window after opening covers an oversized entry left in the rightmost leaf by an earlier
/// process.
const BLOB_WINDOW: u64 = 64;

/// How old a directory mtime must be before an unchanged mtime proves an unchanged directory.
/// Three times the longest coarse-clock tick (10 ms at `HZ=100`): the shorter it is, the sooner a
/// fresh run (or one whose sled just wrote a blob) stops listing the directory on every commit.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(30);

impl BlobSync {
    /// Opens the blob directory and syncs what it holds.
    fn open_synced(run_dir: &Path) -> Result<Self> {
        let dir = run_dir.join("blobs");
        let handle = File::open(&dir).at(&dir)?;
        let mut blobs = Self {
            dir,
            handle,
            synced: HashSet::new(),
            settled_mtime: None,
        };
        blobs.sync_new()?;
        Ok(blobs)
    }

    fn sync_new(&mut self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let metadata = self.handle.metadata().at(&self.dir)?;
        let mtime = metadata.modified().at(&self.dir)?;
        let read_at = std::time::SystemTime::now();
        // A removed directory (link count 0) keeps its mtime; it must be noticed, not skipped.
        if metadata.nlink() > 0 && self.settled_mtime == Some(mtime) {
            return Ok(());
        }
        let mut present = HashSet::new();
        let mut synced_any = false;
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            let name = entry.file_name();
            if !self.synced.contains(&name) {
                let path = entry.path();
                match File::open(&path) {
                    Ok(file) => file.sync_data().at(&path)?,
                    // Garbage-collected by sled since the directory was read: nothing to sync.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(path, e)),
                }
                synced_any = true;
            }
            present.insert(name);
        }
        if synced_any {
            sync_dir(&self.dir)?;
        }
        self.synced = present;
        self.settled_mtime = read_at
            .duration_since(mtime)
            .is_ok_and(|age| age > SETTLE)
            .then_some(mtime);
        Ok(())
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// The databases this process let go of a moment ago.
///
/// sled's I/O threads can keep a data file (and with it sled's `flock`) open for a moment after
/// the last handle is dropped, so reopening a run this process just closed can find it "in use"
/// by this very process. Opening such a run waits for them (at most [`LINGER`]); a run held by
/// another process, or not let go of by this one lately, is refused at once as before. Data
/// files are known by device and inode, so a run directory renamed after its release (creation
/// renames its staging directory into place) is still recognised.
pub(crate) mod lingering {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::Instant;

    /// How long after its release a database can still be held by sled's I/O threads.
    pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

    /// A data file: device and inode.
    type FileId = (u64, u64);

    /// When this process let go of each data file, for [`LINGER`] (a handful at a time).
    static RELEASED: Mutex<Vec<(FileId, Instant)>> = Mutex::new(Vec::new());

    fn released_list() -> MutexGuard<'static, Vec<(FileId, Instant)>> {
        let mut released = RELEASED.lock().unwrap_or_else(PoisonError::into_inner);
        released.retain(|(_, at)| at.elapsed() < LINGER);
        released
    }

    /// The data file of the database in `dir`, if there is one.
    fn data_file(dir: &Path) -> Option<FileId> {
        let meta = std::fs::metadata(dir.join("db")).ok()?;
        Some((meta.dev(), meta.ino()))
    }

    /// Records that this process let go of the database in `dir`.
    pub(crate) fn released(dir: &Path) {
        if let Some(id) = data_file(dir) {
            record(id);
        }
    }

    fn record(id: FileId) {
        let mut released = released_list();
        released.retain(|(other, _)| *other != id);
        released.push((id, Instant::now()));
    }

    /// Whether this process let go of the database in `dir` less than [`LINGER`] ago.
    pub(super) fn lingers(dir: &Path) -> bool {
        data_file(dir).is_some_and(|id| released_list().iter().any(|(other, _)| *other == id))
    }

    /// A database this process holds open: nothing of an earlier release lingers any more, and
    /// dropping the mark (with the handles) records a new release.
    pub(super) struct Held(Option<FileId>);

    impl Held {
        pub(super) fn new(dir: &Path) -> Held {
            let id = data_file(dir);
            if let Some(id) = id {
                released_list().retain(|(other, _)| *other != id);
            }
            Held(id)
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some(id) = self.0 {
                record(id);
            }
        }
    }
}

/// [`open_db`], waiting while the only holder can be this process's own sled I/O threads still
/// finishing with a handle it let go of (see the lingering module).
fn open_db_after_release(path: &Path, run_id: RunId) -> Result<sled::Db> {
    loop {
        match open_db(path, run_id) {
            Err(Error::InUse { .. }) if lingering::lingers(path) => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            opened => return opened,
        }
    }
}

/// Opens sled on `path`, turning its lock failure into [`Error::InUse`] and its panics on damaged
/// files into errors.
fn open_db(path: &Path, run_id: RunId) -> Result<sled::Db> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_CAPACITY)
        // Durability comes from our own flush + fdatasync per group commit; sled's periodic
        // background flush would only compete with the writer for sled's log lock.
        .flush_every_ms(None);
    // sled 0.34.7's recovery path holds `unwrap()`s and `assert!`s (pagecache/segment.rs,
    // iterator.rs, logger.rs) that damaged files may reach; contain them so a damaged run
    // database is reported, not fatal. (Our fuzzing of flipped bytes has not hit one.)
    let opened = catch_unwind(AssertUnwindSafe(|| config.open())).map_err(|panic| {
        Error::DamagedDatabase {
            path: path.to_owned(),
            reason: format!("sled panicked while opening it: {}", panic_message(&panic)),
        }
    })?;
    opened.map_err(|error| {
        if is_locked(path, &error) {
            Error::InUse {
                run_id: run_id.to_string(),
                path: path.to_owned(),
            }
        } else {
            match db_error(path, error) {
                Error::Database { path, reason } => Error::Foreign {
                    path,
                    reason: format!("sled cannot open it: {reason}"),
                },
                other => other,
            }
        }
    })
}

/// Whether sled failed to open `path` because another handle holds its file lock.
fn is_locked(path: &Path, error: &sled::Error) -> bool {
    let sled::Error::Io(io) = error else {
        return false;
    };
    if io.to_string().contains("could not acquire lock") {
        return true;
    }
    // Do not depend on sled's wording alone: probe the lock ourselves.
    File::open(path.join("db"))
        .map(|file| matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock)))
        .unwrap_or(false)
}

/// Maps a sled error to the store's error.
fn db_error(path: &Path, error: sled::Error) -> Error {
    match error {
        sled::Error::Io(source) => Error::Io {
            path: path.to_owned(),
            source,
        },
        sled::Error::Corruption { at, .. } => Error::DamagedDatabase {
            path: path.to_owned(),
            reason: match at {
                Some(at) => format!("sled detected corruption at {at:?}"),
                None => "sled detected corruption".to_owned(),
            },
        },
        other => Error::Database {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// Checks the store marker: present, ours, a format we read, and for this run.
fn check_meta(db: &sled::Db, path: &Path, run_id: RunId) -> Result<()> {
    let foreign = |reason: String| Error::Foreign {
        path: path.to_owned(),
        reason,
    };
    let Some(value) = db.get(META_KEY).map_err(|e| db_error(path, e))? else {
        if db.is_empty() {
            // Creation is atomic (staging directory + rename), so a run database is never empty:
            // sled found nothing valid in its data file.
            return Err(Error::DamagedDatabase {
                path: path.to_owned(),
                reason: "it holds no records; its data file was damaged or emptied".to_owned(),
            });
        }
        return Err(foreign(
            "the sled database has no drbook-store marker".to_owned(),
        ));
    };
    let meta: StoreMeta = match records::decode(META_KEY, &value) {
        Ok(meta) => meta,
        Err(error @ Error::UnsupportedFormat { .. }) => return Err(error),
        Err(error) => return Err(foreign(format!("its marker is not drbook's: {error}"))),
    };
    if meta.magic != STORE_MAGIC {
        return Err(foreign(format!("its marker says {:?}", meta.magic)));
    }
    if meta.run_id != run_id {
        return Err(foreign(format!(
            "it is the database of run {}, not {run_id}",
            meta.run_id
        )));
    }
    Ok(())
}

/// Performs a group's writes.
fn apply_writes(
    db: &sled::Db,
    writes: Vec<journal::Write>,
) -> std::result::Result<(), sled::Error> {
    for (key, value) in writes {
        match value {
            Some(value) => db.insert(key, value)?,
            None => db.remove(key)?,
        };
    }
    Ok(())
}

/// Completes the last group commit of a format 1 or 2 database if a crash interrupted it after its
/// journal was written (see the journal module); returns the commit count it recovered. Format 3
/// groups go to the commit log and write no journal.
///
/// In format 2 every group wrote a journal first (and no counter), so the journal holds the
/// last group and its number is the commit count; a write of that group still missing is
/// performed again. Format 1 databases counted commits in the key `commits` and journalled only
/// groups of several writes: there a journal not above the counter is an older group, which must
/// not be replayed over the single writes that followed it.
fn replay_journal(db: &sled::Db, path: &Path, data_file: &File) -> Result<u64> {
    let counted = read_commit_count(db, path)?;
    let Some(bytes) = db
        .get(journal::JOURNAL_KEY)
        .map_err(|e| db_error(path, e))?
    else {
        return Ok(counted);
    };
    let (journaled, writes) = journal::decode(&bytes)?;
    if journaled <= counted {
        return Ok(counted);
    }
    let mut missing = Vec::new();
    for (key, value) in writes {
        let found = db.get(&key).map_err(|e| db_error(path, e))?;
        if found.as_deref() != value.as_deref() {
            missing.push((key, value));
        }
    }
    if !missing.is_empty() {
        tracing::info!(path = %path.display(), commit = journaled, "completing an interrupted group commit");
        apply_writes(db, missing).map_err(|e| db_error(path, e))?;
        db.flush().map_err(|e| db_error(path, e))?;
        data_file.sync_data().at(path.join("db"))?;
    }
    Ok(journaled)
}

/// Removes the entries of a last commit that a crash cut short (never acknowledged: see the
/// commit_log module) and returns the number of the last commit in the log, if there is one.
fn recover_log(
    db: &sled::Db,
    log: &sled::Tree,
    path: &Path,
    data_file: &File,
) -> Result<Option<u64>> {
    let keys = log
        .iter()
        .rev()
        .map(|entry| entry.map(|(key, _)| key).map_err(|e| db_error(path, e)));
    if let Some(torn) = commit_log::torn_tail(keys)? {
        tracing::info!(path = %path.display(), entries = torn.len(), "dropping a group commit cut short by a crash");
        for key in torn {
            log.remove(key).map_err(|e| db_error(path, e))?;
        }
        db.flush().map_err(|e| db_error(path, e))?;
        data_file.sync_data().at(path.join("db"))?;
    }
    match log.last().map_err(|e| db_error(path, e))? {
        Some((key, _)) => Ok(Some(commit_log::parse_key(&key)?.0)),
        None => Ok(None),
    }
}

/// The newest event record in the commit log, if it holds any.
fn last_logged_events(log: &sled::Tree, path: &Path) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    for entry in log.iter().rev() {
        let (key, value) = entry.map_err(|e| db_error(path, e))?;
        let (_, writes) = commit_log::decode_entry(&key, &value)?;
        let newest = writes
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)))
            .filter(|(key, _)| key.starts_with(EVENT_PREFIX))
            .max_by(|a, b| a.0.cmp(&b.0));
        if newest.is_some() {
            return Ok(newest);
        }
    }
    Ok(None)
}

/// Rewrites a run record of an older format in the current one (with its runbook source stored
/// apart, for format 1), so that an older drbook, which would not see the commit log, refuses
/// the database instead of resuming it from stale records.
fn restamp_run_record(db: &sled::Db, path: &Path, data_file: &File) -> Result<()> {
    let failed = |e| db_error(path, e);
    let current = db.get(RUN_KEY).map_err(failed)?;
    if current
        .as_deref()
        .is_none_or(|value| records::format_of(value) == Some(records::FORMAT_VERSION))
    {
        return Ok(());
    }
    let run = load_run_from(db, path)?;
    let sources = db.open_tree(SOURCE_TREE).map_err(failed)?;
    if sources.get(SOURCE_KEY).map_err(failed)?.is_none() {
        sources
            .insert(SOURCE_KEY, run.runbook_source.as_bytes())
            .map_err(failed)?;
    }
    // After the source: sled recovers a prefix of its log.
    db.insert(RUN_KEY, records::encode(&run)?).map_err(failed)?;
    db.flush().map_err(failed)?;
    data_file.sync_data().at(path.join("db"))
}

/// The commit count of a format 1 database (key `commits`); 0 for newer ones, which keep it in
/// the journal.
fn read_commit_count(db: &sled::Db, path: &Path) -> Result<u64> {
    match db.get(COMMITS_KEY).map_err(|e| db_error(path, e))? {
        None => Ok(0),
        Some(value) => <[u8; 8]>::try_from(value.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| Error::Corrupt {
                table: "commits",
                key: "commits".to_owned(),
                reason: format!("expected 8 bytes, found {}", value.len()),
            }),
    }
}

/// The acknowledged commit count from the watermark file; `None` if there is none or it is
/// damaged (then only the detection of lost commits is skipped, with a warning).
fn read_watermark(path: &Path) -> Result<Option<u64>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let copies = (bytes.get(..8), bytes.get(8..16));
    match copies {
        (Some(first), Some(second)) if first == second && bytes.len() == 16 => {
            Ok(<[u8; 8]>::try_from(first).ok().map(u64::from_be_bytes))
        }
        // Written on creation of the handle but never filled: no commit was acknowledged.
        _ if bytes.is_empty() => Ok(None),
        _ => {
            tracing::warn!(path = %path.display(), "ignoring a damaged commit watermark");
            Ok(None)
        }
    }
}

fn load_run_from(db: &sled::Db, path: &Path) -> Result<RunRecord> {
    let value = db
        .get(RUN_KEY)
        .map_err(|e| db_error(path, e))?
        .ok_or_else(|| Error::Corrupt {
            table: "run",
            key: "run".to_owned(),
            reason: "the run database has no run record".to_owned(),
        })?;
    decode_run(db, path, &value)
}

/// Decodes a run record (from the default tree or the commit log) and fills in its runbook source.
fn decode_run(db: &sled::Db, path: &Path, value: &[u8]) -> Result<RunRecord> {
    let mut run: RunRecord = records::decode(RUN_KEY, value)?;
    // Format 1 records carry the source inline.
    if run.runbook_source.is_empty() {
        run.runbook_source = load_source(db, path)?;
    }
    Ok(run)
}

/// The runbook source, stored apart when the run was created (see `RunRecord::runbook_source`).
fn load_source(db: &sled::Db, path: &Path) -> Result<String> {
    let corrupt = |reason: String| Error::Corrupt {
        table: "runbook-source",
        key: "source".to_owned(),
        reason,
    };
    let tree = db.open_tree(SOURCE_TREE).map_err(|e| db_error(path, e))?;
    let bytes = tree
        .get(SOURCE_KEY)
        .map_err(|e| db_error(path, e))?
        .ok_or_else(|| corrupt("the run database has no runbook source".to_owned()))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| corrupt(format!("the runbook source is not UTF-8: {e}")))
}

/// fsyncs every file and directory under `dir`, then `dir` itself: used once on a freshly created
/// database before it is renamed into place (sled does not sync its `conf` file or new directories).
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let path = entry.path();
        if entry.file_type().at(&path)?.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path).and_then(|f| f.sync_all()).at(&path)?;
        }
    }
    sync_dir(dir)
}
