//! SDRS client layer: the operation table, wire models, request signer, errors and the client.
//! The only module that knows about AK/SK.

pub mod operations;
pub mod signer;
