//! SDRS client layer: the operation table, wire models, request signer, errors and the client.
//! The only module that knows about AK/SK.
//!
//! - [`operations`]: the table of the 49 SDRS + 4 ECS operations everything derives from.
//! - [`signer`]: SDK-HMAC-SHA256 signing and verification (shared with the emulator).
//! - [`models`]: request and response bodies (shared with the emulator).
//! - [`error`]: [`Error`], [`ErrorCode`], [`ErrorClass`] and the error bodies.

pub mod error;
pub mod models;
pub mod operations;
pub mod signer;

pub use error::{Error, ErrorBody, ErrorClass, ErrorCode, TransportKind};
