//! SDRS client layer: the operation table, wire models, request signer, errors, credentials and
//! the client with job polling. The only module that knows about AK/SK.
//!
//! - [`operations`]: the table of the 49 SDRS + 4 ECS operations everything derives from, and
//!   [`operations::identify`] to route incoming requests (emulator).
//! - [`signer`]: SDK-HMAC-SHA256 signing and verification (shared with the emulator).
//! - [`models`]: request and response bodies (shared with the emulator).
//! - [`error`]: [`Error`], [`ErrorCode`], [`ErrorClass`] and the error bodies.
//! - [`credentials`]: [`Credentials`] from the environment or a profile file.
//! - [`request`]: the one request builder (path, query, SDK-identical body bytes).
//! - [`client`]: [`Client`], its builder, [`Client::call`] and the dry-run guard.
//! - `api`: one typed method per operation on [`Client`].
//! - [`jobs`]: [`Client::wait_job`] / [`Client::wait_ecs_job`] with a [`PollPolicy`].

mod api;
pub mod client;
pub mod credentials;
pub mod error;
pub mod jobs;
pub mod models;
pub mod operations;
pub mod request;
pub mod signer;

pub use client::{Client, ClientBuilder, Endpoint};
pub use credentials::{Credentials, Profile};
pub use error::{Error, ErrorBody, ErrorClass, ErrorCode, TransportKind};
pub use jobs::PollPolicy;
pub use operations::{Operation, identify};
