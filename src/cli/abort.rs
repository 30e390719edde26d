//! `drbook abort RUN --reason ...`: stop a run and undo what it did. Nothing new starts,
//! cancellable work (waits, read-only calls, approvals) stops, mutating calls in flight finish,
//! then the completed steps are compensated newest first and the run ends `aborted` (or
//! `failed-compensation` when an undo fails: a human takes over). Recorded in the audit log
//! (actor, reason) before it acts.
//!
//! A live run gets the command through its inbox; `abort` then follows the run until it ends
//! (`--no-wait` returns once the driving process accepted). A run nobody drives (killed, or
//! stopped at an approval with `--no-wait`) is driven by this process through its compensation,
//! so it needs the connection flags (and secret params) that `drbook resume` needs.
//!
//! Exit codes: 0 the run ended `aborted`; 1 it ended `failed-compensation`; 5 the abort was
//! refused (the run has ended, or is already stopping) or the driving process stopped before
//! the end; 4 no such run.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::exit::Exit;
use super::output::{Output, print, print_json};
use super::progress::{POLL, Progress};
use super::run::{ConnectionArgs, error_exit, parse_duration, report};
use super::status::{View, parse_run, read_view, render};
use crate::engine::{self, CommandReceipt, Error, OperatorCommand, ResumeAction, Verb};
use crate::store::records::RunStatus;
use crate::store::{DataDir, RunId};

/// Arguments of `drbook abort`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(value_name = "RUN")]
    run: String,
    /// Why (recorded in the audit log and as the run's error).
    #[arg(long)]
    reason: String,
    /// Who aborts. Default: the OS user.
    #[arg(long)]
    actor: Option<String>,
    /// Where runs live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How long to wait for the driving process to accept the abort.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    wait: Duration,
    /// Return once the driving process accepted, without following the compensation.
    #[arg(long)]
    no_wait: bool,
    /// Secret params of the run, again, for a run nobody drives.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// `text` or `json` (the run's final status, as `drbook status` prints it).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// `aborted` is what an abort is for (0); otherwise the run's own exit code.
fn abort_exit(status: RunStatus) -> Exit {
    match status {
        RunStatus::Aborted => Exit::Success,
        other => super::run::status_exit(other),
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    let reason = args.reason.trim().to_owned();
    if reason.is_empty() {
        eprintln!("error: `drbook abort` needs `--reason` saying why");
        return Ok(Exit::Usage);
    }
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let actor = args.actor.clone().unwrap_or_else(engine::default_actor);
    let command = OperatorCommand {
        format: engine::inbox::COMMAND_FORMAT,
        verb: Verb::Abort,
        step: String::new(),
        actor: actor.clone(),
        comment: Some(reason.clone()),
        issued_at: jiff::Timestamp::now(),
    };
    let sent = engine::send_command(&data_dir, run_id, &command, args.wait);
    match sent {
        Ok(CommandReceipt::Answered(reply)) if reply.accepted => {
            eprintln!("{}", reply.message);
            if args.no_wait {
                return Ok(Exit::Success);
            }
            follow(&data_dir, run_id, args.output)
        }
        Ok(CommandReceipt::Answered(reply)) => {
            eprintln!("refused: {}", reply.message);
            Ok(Exit::Conflict)
        }
        Ok(CommandReceipt::Queued { id }) => {
            eprintln!(
                "queued ({id}): the process driving run {run_id} has not answered yet; it aborts the run when it reads its inbox"
            );
            Ok(Exit::Success)
        }
        Err(Error::NotDriven { .. }) => drive(args, run_id, data_dir, actor, reason),
        Err(error) => Ok(error_exit(&error)),
    }
}

/// Follows a run another process drives until it ends.
fn follow(data_dir: &DataDir, run_id: RunId, output: Output) -> anyhow::Result<Exit> {
    let progress = Progress::new();
    let view: View = loop {
        let view = match read_view(data_dir, run_id) {
            Ok(view) => view,
            Err(error) => return Ok(error_exit(&error)),
        };
        progress.update(&view.snapshot, true);
        if view.snapshot.status.is_terminal() || !view.live {
            break view;
        }
        std::thread::sleep(POLL);
    };
    progress.finish();
    match output {
        Output::Json => print_json(&view.to_json()?)?,
        Output::Text => print(&render(&view))?,
    }
    if !view.snapshot.status.is_terminal() {
        eprintln!(
            "the process driving run {run_id} stopped before the run ended; `drbook abort {run_id} --reason ...` again finishes it"
        );
        return Ok(Exit::Conflict);
    }
    Ok(abort_exit(view.snapshot.status))
}

/// Aborts a run nobody drives: this process drives it through cancellation and compensation.
fn drive(
    args: Args,
    run_id: RunId,
    data_dir: DataDir,
    actor: String,
    reason: String,
) -> anyhow::Result<Exit> {
    // Refuse what the engine would refuse before asking for credentials and a connection.
    let view = match read_view(&data_dir, run_id) {
        Ok(view) => view,
        Err(error) => return Ok(error_exit(&error)),
    };
    if view.snapshot.status.is_terminal() {
        return Ok(error_exit(&Error::Command(format!(
            "run {run_id} has ended ({}); there is nothing to abort",
            view.snapshot.status_name()
        ))));
    }
    let dry_run = view.snapshot.dry_run;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let result = super::resume::drive(&args.connection, dry_run, data_dir, run_id, |request| {
            request.action = ResumeAction::Abort { reason };
            request.params = args.params.clone();
            request.actor = actor;
        })
        .await?;
        match result {
            Ok(outcome) => {
                report(&outcome, args.output, "abort")?;
                Ok(abort_exit(outcome.status))
            }
            Err(error) => Ok(error_exit(&error)),
        }
    })
}
