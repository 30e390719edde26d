//! `drbook rerun RUN --from STEP --reason ...`: run a finished run again from one of its steps.
//! STEP and every step after it (through `needs` and failure handlers) go back to pending, the
//! steps before it keep their outputs, and the run continues as a new attempt of the same run.
//! The verb is recorded in the audit log (actor, step, reason) before anything changes.

use std::path::PathBuf;

use anyhow::Context as _;

use super::exit::Exit;
use super::output::Output;
use super::resume::{DriveArgs, drive};
use super::run::{error_exit, report};
use super::status::{parse_run, read_view};
use crate::engine::{Error, ResumeAction};
use crate::store::DataDir;

/// Arguments of `drbook rerun`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(value_name = "RUN")]
    run: String,
    /// The first step to run again.
    #[arg(long, value_name = "STEP")]
    from: String,
    /// Why (recorded in the audit log and the run's history).
    #[arg(long)]
    reason: String,
    /// Where runs, locks and the audit log live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    drive: DriveArgs,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    if args.reason.trim().is_empty() {
        eprintln!("error: `drbook rerun` needs `--reason` saying why");
        return Ok(Exit::Usage);
    }
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    // Refuse what the engine would refuse before asking for credentials and a connection.
    let view = match read_view(&data_dir, run_id) {
        Ok(view) => view,
        Err(error) => return Ok(error_exit(&error)),
    };
    if !view.snapshot.status.is_terminal() {
        return Ok(error_exit(&Error::Command(format!(
            "run {run_id} is {}; `rerun --from` needs a finished run (resume or abort it first)",
            view.snapshot.status_name()
        ))));
    }
    let dry_run = view.snapshot.dry_run;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let result = drive(
            &args.drive.connection,
            dry_run,
            data_dir,
            run_id,
            |request| {
                args.drive.apply(request);
                request.action = ResumeAction::RerunFrom {
                    step: args.from.clone(),
                    reason: args.reason.trim().to_owned(),
                };
            },
        )
        .await?;
        match result {
            Ok(outcome) => report(&outcome, args.output, "rerun"),
            Err(error) => Ok(error_exit(&error)),
        }
    })
}
