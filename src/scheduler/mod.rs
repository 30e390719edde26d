//! Scheduled DR rehearsals: schedule files, the pure decision core, durable schedule state, and
//! the long-running executor behind `drbook scheduler`.

pub mod clock;
pub mod decide;
mod error;
pub mod launcher;
pub mod runner;
pub mod spec;
pub mod state;
pub mod timing;
pub mod view;

pub use error::{Error, Result};
