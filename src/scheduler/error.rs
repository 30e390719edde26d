//! The scheduler's error type: a schedule file that cannot be read or is wrong, state that
//! cannot be kept, a second scheduler on the same data directory, a run that cannot be launched.

use std::path::PathBuf;

/// Result alias of the scheduler module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the scheduler.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum Error {
    /// The schedule file cannot be read.
    #[error("cannot read schedule file {}: {source}", path.display())]
    #[diagnostic(code(drbook::scheduler::read))]
    Read {
        /// The schedule file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The schedule file is not valid YAML of the expected shape.
    #[error("schedule file {}: {message}", path.display())]
    #[diagnostic(
        code(drbook::scheduler::syntax),
        help("see README, \"Scheduled rehearsals\", for the schedule file format")
    )]
    Syntax {
        /// The schedule file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },

    /// Schedules in the file are wrong; every problem is listed, each naming its schedule and
    /// location.
    #[error("schedule file {} has {} problem(s):\n  {}", path.display(), problems.len(), problems.join("\n  "))]
    #[diagnostic(code(drbook::scheduler::invalid))]
    Invalid {
        /// The schedule file.
        path: PathBuf,
        /// One sentence per problem.
        problems: Vec<String>,
    },

    /// A file-system operation on the scheduler's state failed.
    #[error("I/O error on {}: {source}", path.display())]
    #[diagnostic(
        code(drbook::scheduler::io),
        help("check that the data directory exists, is writable and the disk is not full")
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The scheduler's state file cannot be used.
    #[error("scheduler state {} is unusable: {reason}", path.display())]
    #[diagnostic(
        code(drbook::scheduler::corrupt_state),
        help(
            "move the file aside to start afresh: slots already fired stay protected by their run keys, but misses during the gap are not reported"
        )
    )]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Another scheduler process already works on this data directory.
    #[error("another drbook scheduler ({holder}) already runs on this data directory (lock {})", path.display())]
    #[diagnostic(
        code(drbook::scheduler::already_running),
        help("run one scheduler per data directory; stop the other one first")
    )]
    AlreadyRunning {
        /// The lock file (`scheduler/scheduler.lock`).
        path: PathBuf,
        /// What `scheduler/scheduler.pid` says about the holder (`pid N`).
        holder: String,
    },

    /// A run could not be launched.
    #[error("cannot launch `{program}` for schedule `{schedule}`: {reason}")]
    #[diagnostic(code(drbook::scheduler::launch))]
    Launch {
        /// The schedule.
        schedule: String,
        /// The program that was to be started.
        program: String,
        /// Why it could not be.
        reason: String,
    },

    /// The store (run keys, audit log, run databases) failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] crate::store::Error),
}
