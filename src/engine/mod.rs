//! The engine: runs a validated runbook against SDRS, durably and exactly once across crashes.
//!
//! It is split the way durable execution engines are (restate, nextest's dispatcher): a pure
//! state machine decides what happens next, an executor persists and only then acts.
//!
//! - `state.rs`: the run in memory (steps, items, counters, ready queue, live tasks), rebuilt
//!   from the store's records.
//! - `machine.rs`: `decide(state, event, now, decision)`: no I/O, no clock, no randomness.
//! - `executor.rs`: the loop: drain events, decide each, commit once (store + audit), then start
//!   the effects as tasks that report back.
//! - `actions/`: what effects do: SDRS/ECS calls from the operation table, job waits,
//!   `wait.until`.
//! - `retry.rs`: retry / throttle / give up, from the normalised error code.
//! - `reconcile.rs`: per mutating operation, how read-only queries tell whether it was applied.
//! - `inbox.rs`: operator commands from other processes; `status.rs`: the status snapshot.
//! - `runner.rs`: the public entry points; `compiled.rs`: the validated runbook cached beside a
//!   run's database, so that a resume does not validate the YAML again.
//!
//! Public entry points (what the CLI, the scheduler and the report use):
//!
//! | call | what |
//! |---|---|
//! | [`start`]`(RunRequest) -> RunOutcome` | start a run and drive it (async) |
//! | [`resume`]`(ResumeRequest) -> RunOutcome` | continue a killed, waiting or failed run (async) |
//! | [`resume`] with [`ResumeAction::RerunFrom`] / [`ResumeAction::Abort`] | `rerun --from STEP`; abort a run nobody drives |
//! | [`send_command`]`(data_dir, run_id, &OperatorCommand, wait) -> CommandReceipt` | approve / reject / skip / abort from any process (blocking) |
//! | [`skip_stopped`]`(data_dir, run_id, step, actor, reason)` | skip a step of a run nobody drives (async) |
//! | [`read_status`]`(data_dir, run_id) -> Option<StatusSnapshot>` | a run's status without opening its database |
//! | [`read_run`]`(data_dir, run_id) -> RunView` | a stopped run's records, history and runbook (blocking) |
//! | [`record_verb`]`(data_dir, actor, run_id, verb, step, reason)` | an `operator.verb` audit entry |

pub mod actions;
pub mod catalog;
mod compiled;
mod error;
pub mod executor;
pub mod inbox;
pub mod machine;
pub mod reconcile;
pub mod retry;
mod runner;
pub mod state;
pub mod status;

pub use error::Error;
pub use executor::Observer;
pub use inbox::{OperatorCommand, Reply, Verb};
pub use machine::Notice;
pub use runner::{
    CommandReceipt, Connection, ResumeAction, ResumeRequest, RunOutcome, RunRequest, RunView,
    Tuning, default_actor, read_run, read_status, record_verb, resume, send_command, skip_stopped,
    start,
};
pub use status::StatusSnapshot;
