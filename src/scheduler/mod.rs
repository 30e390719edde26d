//! Scheduled DR rehearsals: schedule files, the pure decision core, durable schedule state, and
//! the long-running executor behind `drbook scheduler`.

pub mod decide;
mod error;
pub mod spec;
pub mod state;
pub mod timing;

pub use error::{Error, Result};
