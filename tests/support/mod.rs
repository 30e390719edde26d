//! Helpers shared by the integration tests: the official Python SDK in a venv (`pysdk`) and a
//! loopback HTTP server that records requests and answers them (`capture`).
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

pub mod capture;
pub mod pysdk;
pub mod sdrs_samples;
