//! The emulator's own error type: what can go wrong while starting, configuring or persisting the
//! emulator. Refusals the emulated SDRS sends to its clients are not errors of the emulator; they
//! are [`crate::emulator::api::ApiError`] values rendered as HTTP responses.

use std::path::PathBuf;

/// Everything that can make the emulator fail to start, load a file or save its state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid inventory: {message}")]
    Inventory { path: PathBuf, message: String },
    #[error("the inventory is inconsistent: {0}")]
    InconsistentInventory(String),
    #[error("{path} is not a valid fault file: {message}")]
    FaultFile { path: PathBuf, message: String },
    #[error("{path} is not a valid state file: {message}")]
    StateFile { path: PathBuf, message: String },
    #[error("invalid fault rule: {0}")]
    InvalidFault(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}
