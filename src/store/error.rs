//! The store layer's error type: every way reading or writing drbook's durable state can fail,
//! each with a stable diagnostic code and a help text an operator can act on.

use std::path::{Path, PathBuf};

/// Result alias used throughout the store layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store layer.
///
/// Messages name the file, table, key or lock involved so that an operator can find the problem
/// without a debugger. No variant ever carries secret material: records are redacted by their
/// producers before they reach the store.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    #[diagnostic(
        code(drbook::store::io),
        help("check that the data directory exists, is writable and the disk is not full")
    )]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The embedded database reported an error that is not one of the specific cases below.
    #[error("database error in {}: {reason}", path.display())]
    #[diagnostic(code(drbook::store::database))]
    Database {
        /// The run database directory.
        path: PathBuf,
        /// sled's description of the failure.
        reason: String,
    },

    /// Another process (or another handle in this process) holds the run's database.
    #[error("run {run_id} is being driven by another drbook process (its database {} is locked)", path.display())]
    #[diagnostic(
        code(drbook::store::in_use),
        help(
            "wait for the other process to finish, or stop it; a run can only be driven by one process at a time"
        )
    )]
    InUse {
        /// The run whose database is held.
        run_id: String,
        /// The run database directory.
        path: PathBuf,
    },

    /// A run database is damaged below the record level: sled reported corruption, it holds no
    /// records at all, or it recovered fewer commits than were acknowledged.
    #[error("run database {} is damaged: {reason}", path.display())]
    #[diagnostic(
        code(drbook::store::damaged_database),
        help(
            "do not resume this run blindly: check the SDRS console for operations it may already have issued, then restore the directory from a backup or start a new run"
        )
    )]
    DamagedDatabase {
        /// The run database directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A stored record could not be decoded.
    #[error("corrupt record in {table} at key {key:?}: {reason}")]
    #[diagnostic(
        code(drbook::store::corrupt),
        help("the run database is damaged; restore it from a backup or start a new run")
    )]
    Corrupt {
        /// The logical table (`meta`, `run`, `step`, `event`, `lock`, `run-key`, ...).
        table: &'static str,
        /// The key of the damaged record.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A record was written by a newer drbook whose format this build cannot read.
    #[error(
        "{what} uses format version {found}, but this drbook understands only up to version {expected}"
    )]
    #[diagnostic(
        code(drbook::store::unsupported_format),
        help("upgrade drbook to the version that wrote this data")
    )]
    UnsupportedFormat {
        /// The record or file concerned.
        what: String,
        /// The version found on disk.
        found: u32,
        /// The newest version this build supports.
        expected: u32,
    },

    /// A directory or database is not a drbook store.
    #[error("{} is not a drbook store: {reason}", path.display())]
    #[diagnostic(
        code(drbook::store::foreign),
        help("point --data-dir at a drbook data directory, or at an empty/new directory")
    )]
    Foreign {
        /// The directory or database concerned.
        path: PathBuf,
        /// Why it was not recognised.
        reason: String,
    },

    /// The run does not exist in this data directory.
    #[error("run {run_id} not found (no database at {})", path.display())]
    #[diagnostic(
        code(drbook::store::run_not_found),
        help("list runs with `drbook runs`; check --data-dir")
    )]
    RunNotFound {
        /// The requested run.
        run_id: String,
        /// Where its database was expected.
        path: PathBuf,
    },

    /// A new run was to be created under an id that already has a database.
    #[error("run {run_id} already exists at {}", path.display())]
    #[diagnostic(code(drbook::store::run_exists))]
    RunExists {
        /// The run id.
        run_id: String,
        /// Its existing database.
        path: PathBuf,
    },

    /// A string that should be a run id (a UUID) is not one.
    #[error("invalid run id {value:?}: {reason}")]
    #[diagnostic(
        code(drbook::store::invalid_run_id),
        help("run ids are UUIDs such as 01890a5d-ac96-774b-bcce-b302099a8057")
    )]
    InvalidRunId {
        /// The rejected text.
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A protection-group lock is held by another run.
    #[error("lock {name:?} is held by run {holder}")]
    #[diagnostic(
        code(drbook::store::locked),
        help(
            "wait for run {holder} to finish; if it is dead and will never resume, release the lock with the operator command"
        )
    )]
    Locked {
        /// The lock name (usually a protection group).
        name: String,
        /// The run that holds it.
        holder: String,
    },

    /// A lock or run-key file exists but cannot be read as one; it is neither trusted nor ignored.
    #[error("{kind} file {} for {name:?} is unreadable: {reason}", path.display())]
    #[diagnostic(
        code(drbook::store::broken_claim),
        help(
            "inspect the file; if no run holds it (for example after a disk failure), remove it by hand"
        )
    )]
    BrokenClaim {
        /// `lock` or `run key`.
        kind: &'static str,
        /// The lock name or run key.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The audit log is damaged in a way that prevents appending to it.
    #[error("audit log {} line {line}: {reason}", path.display())]
    #[diagnostic(
        code(drbook::store::audit_damaged),
        help(
            "run `drbook audit verify` to locate the damage; preserve the file for investigation"
        )
    )]
    AuditDamaged {
        /// The audit log file.
        path: PathBuf,
        /// 1-based line number of the damaged entry.
        line: u64,
        /// What is wrong.
        reason: String,
    },

    /// An append to the audit log failed (I/O error, or an earlier failure of this process's
    /// audit writer, after which it refuses to continue).
    #[error("cannot append to the audit log {}: {reason}", path.display())]
    #[diagnostic(
        code(drbook::store::audit_unavailable),
        help("check the disk holding the data directory; then restart drbook")
    )]
    AuditUnavailable {
        /// The audit log file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// The store's writer has stopped (the store was closed, or an earlier durability failure
    /// poisoned it); nothing more can be committed through this handle.
    #[error("the store for run {run_id} is closed: {reason}")]
    #[diagnostic(
        code(drbook::store::closed),
        help(
            "stop this process and resume the run; the database on disk holds every commit that returned Ok"
        )
    )]
    Closed {
        /// The run whose store is closed.
        run_id: String,
        /// Why (shut down, or the first failure that poisoned it).
        reason: String,
    },

    /// Making a group of batches durable failed (I/O error, full disk, a bug in sled). Every
    /// batch of the group gets this error, none of them may be assumed durable, and the store
    /// refuses further commits: after a failed fsync the state of the page cache is unknown.
    #[error("commit to the store of run {run_id} failed: {reason}")]
    #[diagnostic(
        code(drbook::store::commit_failed),
        help(
            "fix the cause (disk full? disk errors in the kernel log?) and resume the run in a new process"
        )
    )]
    CommitFailed {
        /// The run whose store failed.
        run_id: String,
        /// The underlying failure.
        reason: String,
    },

    /// A batch tried to write the run record of another run into this run's database.
    #[error("a batch for run {found} was committed to the store of run {expected}")]
    #[diagnostic(code(drbook::store::wrong_run))]
    WrongRun {
        /// The store's run.
        expected: String,
        /// The run record's run id.
        found: String,
    },

    /// A record could not be encoded.
    #[error("cannot encode {what}: {reason}")]
    #[diagnostic(code(drbook::store::encode))]
    Encode {
        /// The record concerned.
        what: String,
        /// The encoder's error.
        reason: String,
    },

    /// No default data directory exists on this platform and none was given.
    #[error("no default data directory on this system; pass --data-dir")]
    #[diagnostic(code(drbook::store::no_data_dir))]
    NoDataDir,
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Adds a path to `std::io::Result`s, so call sites read `fs::read(&p).at(&p)?`.
pub(crate) trait IoResultExt<T> {
    /// Converts an I/O error into [`Error::Io`] naming `path`.
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|source| Error::io(path.as_ref(), source))
    }
}
