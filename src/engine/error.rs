//! `engine::Error`: why a run could not be started, resumed or driven to its end.
//!
//! A step failing is not an error here: it is recorded in the run and decides the run's status.
//! These are the failures around a run: a runbook or params that do not fit, a store that cannot
//! be written, a lock held by another run, a command that does not apply.

use std::path::PathBuf;

/// Everything that can stop the engine from starting or driving a run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The runbook could not be read, is invalid, or does not fit the mode or params given.
    #[error(transparent)]
    #[diagnostic(code(drbook::engine::runbook))]
    Runbook(#[from] crate::runbook::Error),

    /// The durable store failed (a commit, a lock, the audit log, the data directory).
    #[error(transparent)]
    #[diagnostic(code(drbook::engine::store))]
    Store(#[from] crate::store::Error),

    /// The SDRS client could not be built (credentials, endpoint).
    #[error(transparent)]
    #[diagnostic(code(drbook::engine::client))]
    Client(#[from] crate::sdrs::Error),

    /// A lock the runbook needs is held by another run.
    #[error("lock `{name}` is held by run {holder}; a second run touching it is refused")]
    #[diagnostic(
        code(drbook::engine::locked),
        help(
            "run {holder} releases it when it ends: wait for it, or `drbook resume {holder}` if its process died"
        )
    )]
    Locked { name: String, holder: String },

    /// The run's database is held by another process.
    #[error("run {run_id} is being driven by another drbook process")]
    #[diagnostic(
        code(drbook::engine::in_use),
        help("only one process drives a run; use `drbook approve`/`reject` to talk to it")
    )]
    InUse { run_id: String },

    /// No run with this id in the data directory.
    #[error("run {run_id} not found in {}", data_dir.display())]
    #[diagnostic(code(drbook::engine::run_not_found))]
    RunNotFound { run_id: String, data_dir: PathBuf },

    /// A resume needs the secret params again: they were never stored.
    #[error("run {run_id} needs its secret params again (they are never stored): {}", names.join(", "))]
    #[diagnostic(
        code(drbook::engine::missing_secrets),
        help("pass them with `--param NAME=VALUE`")
    )]
    MissingSecrets { run_id: String, names: Vec<String> },

    /// The run's stored runbook or params cannot be used any more.
    #[error("run {run_id} cannot be resumed: {reason}")]
    #[diagnostic(code(drbook::engine::not_resumable))]
    NotResumable { run_id: String, reason: String },

    /// The run has no step with this id.
    #[error("run {run_id} has no step `{step}`")]
    #[diagnostic(
        code(drbook::engine::step_not_found),
        help("`drbook status {run_id}` lists the run's steps")
    )]
    StepNotFound { run_id: String, step: String },

    /// `skip` / `abort` through the inbox need a process driving the run.
    #[error("no drbook process is driving run {run_id}")]
    #[diagnostic(
        code(drbook::engine::not_driven),
        help("act on the stopped run instead (`drbook skip` and `drbook abort` do it themselves)")
    )]
    NotDriven { run_id: String },

    /// An operator command that does not apply (unknown step, not waiting, not an approver).
    #[error("{0}")]
    #[diagnostic(code(drbook::engine::command))]
    Command(String),

    /// A file of the run's inbox or status snapshot could not be written or read.
    #[error("{}: {source}", path.display())]
    #[diagnostic(code(drbook::engine::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A broken internal expectation: a bug in drbook.
    #[error("internal error: {0}")]
    #[diagnostic(code(drbook::engine::internal))]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Lifts the store's lock and in-use errors into the engine's own variants, so that callers
    /// (the CLI's exit codes) can tell a conflict from a broken store.
    pub(crate) fn from_store(error: crate::store::Error) -> Self {
        match error {
            crate::store::Error::Locked { name, holder } => Error::Locked { name, holder },
            crate::store::Error::InUse { run_id, .. } => Error::InUse { run_id },
            other => Error::Store(other),
        }
    }
}
