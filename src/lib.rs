//! drbook: a disaster-recovery runbook engine for Huawei Cloud SDRS.
//!
//! The crate is layered; imports run one way (see `ARCHITECTURE.md`):
//! `cli` → `engine` → `runbook`, `store`, `sdrs`; `emulator` → `sdrs`.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "in tests a panic is a test failure, which is what unwrap should do there"
    )
)]

pub mod cli;
pub mod emulator;
pub mod engine;
pub mod report;
pub mod runbook;
pub mod scheduler;
pub mod sdrs;
pub mod store;
