//! Command-line edge: arguments, output, exit codes. The only place that uses `anyhow`.
//!
//! `mod.rs` parses the command line and dispatches; each verb lives in its own file and returns
//! an [`Exit`]. Data goes to stdout, diagnostics and messages to stderr.

pub mod abort;
pub mod actions;
pub mod approve;
pub mod audit;
pub mod exit;
pub mod logging;
pub mod output;
pub mod plan;
pub mod progress;
pub mod report;
pub mod rerun;
pub mod resume;
pub mod run;
pub mod runs;
pub mod scheduler;
pub mod schedules;
pub mod schema;
pub mod show;
pub mod skip;
pub mod status;
pub mod validate;

pub mod emulator;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// drbook: disaster-recovery runbooks for Huawei Cloud SDRS.
#[derive(Debug, Parser)]
#[command(name = "drbook", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    logging: logging::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check runbooks and report every problem with its location.
    Validate(validate::Args),
    /// Show the steps a run would take, in waves (or as a DOT / Mermaid graph).
    Plan(plan::Args),
    /// List the actions runbooks can use.
    Actions(actions::Args),
    /// Print the runbook JSON Schema.
    Schema(schema::Args),
    /// Run a runbook: every step, durably, exactly once.
    Run(run::Args),
    /// Continue a run that was killed, waits for an approval, or failed.
    Resume(resume::Args),
    /// Approve a run's approval step (from any terminal).
    Approve(approve::Args),
    /// Reject a run's approval step; the step fails with the comment as reason.
    Reject(approve::Args),
    /// Show a run's steps and their states (pending, running, waiting-job, waiting-approval,
    /// retrying, done, failed, skipped, ...); `--watch` follows it live.
    Status(status::Args),
    /// List runs (filters: runbook, status, since).
    Runs(runs::Args),
    /// Show a run's steps in detail: inputs (secrets redacted), outputs, attempts, times.
    Show(show::Args),
    /// Run a finished run again from a step, keeping the outputs of the steps before it.
    Rerun(rerun::Args),
    /// Skip a step of a run; the steps that need it go on.
    Skip(skip::Args),
    /// Abort a run: stop it and compensate its completed steps.
    Abort(abort::Args),
    /// Run the local SDRS emulator until Ctrl-C.
    Emulator(emulator::Args),
    /// Fire scheduled rehearsals from a schedule file until SIGTERM or Ctrl-C.
    Scheduler(scheduler::Args),
    /// List schedules with their next run, last run and result, and missed slots.
    Schedules(schedules::Args),
    /// Write the report of a run: HTML, Markdown or JSON.
    Report(report::Args),
    /// Verify or export the tamper-evident audit log.
    Audit(audit::Args),
}

/// Entry point of the `drbook` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are answers, not errors; every other parse failure is a usage
            // error (64), kept apart from "invalid runbook" (2), which clap would otherwise use.
            let exit = match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Success
                }
                _ => Exit::Usage,
            };
            let _ = err.print();
            return exit.into();
        }
    };
    // The scheduler is a long-lived service with its own log defaults (`DRBOOK_LOG`, `info`).
    let defaults = if matches!(cli.command, Command::Scheduler(_)) {
        logging::SERVICE
    } else {
        logging::VERBS
    };
    logging::init(&cli.logging, defaults);
    let result = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Actions(args) => actions::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Run(args) => run::run(args),
        Command::Resume(args) => resume::run(args),
        Command::Approve(args) => approve::run(args, crate::engine::Verb::Approve),
        Command::Reject(args) => approve::run(args, crate::engine::Verb::Reject),
        Command::Status(args) => status::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Show(args) => show::run(args),
        Command::Rerun(args) => rerun::run(args),
        Command::Skip(args) => skip::run(args),
        Command::Abort(args) => abort::run(args),
        Command::Emulator(args) => emulator::run(args).map(|()| Exit::Success),
        Command::Scheduler(args) => scheduler::run(args),
        Command::Schedules(args) => schedules::run(args),
        Command::Report(args) => report::run(args),
        Command::Audit(args) => audit::run(args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            Exit::Internal.into()
        }
    }
}
