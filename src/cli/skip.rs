//! `drbook skip RUN STEP --reason ...`: skip a step; the steps that need it run as if it had
//! succeeded. Recorded in the audit log (actor, step, reason) before it acts.
//!
//! A live run gets the command through its inbox, and the driving process decides: a step that
//! has not started, waits (approval, retry delay, job, `wait.until`, `sleep`) or runs a
//! read-only action is skipped; one whose mutating call is in flight, whose `for_each` items
//! started, or that is already final is refused. A run nobody drives is changed in its database
//! (it continues with `drbook resume`; a failed run's retry keeps the step skipped).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::exit::Exit;
use super::output::{Output, print_json};
use super::run::{error_exit, parse_duration};
use super::status::parse_run;
use crate::engine::{self, CommandReceipt, Error, OperatorCommand, Verb};
use crate::store::DataDir;

/// Arguments of `drbook skip`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(value_name = "RUN")]
    run: String,
    /// The step to skip.
    #[arg(value_name = "STEP")]
    step: String,
    /// Why (recorded in the audit log and the step's record).
    #[arg(long)]
    reason: String,
    /// Who skips. Default: the OS user.
    #[arg(long)]
    actor: Option<String>,
    /// Where runs live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How long to wait for the driving process to answer.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    wait: Duration,
    /// `text` or `json` (`{"verb", "run_id", "step", "accepted", "queued", "message"}`).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    let reason = args.reason.trim().to_owned();
    if reason.is_empty() {
        eprintln!("error: `drbook skip` needs `--reason` saying why");
        return Ok(Exit::Usage);
    }
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let actor = args.actor.clone().unwrap_or_else(engine::default_actor);
    let command = OperatorCommand {
        format: engine::inbox::COMMAND_FORMAT,
        verb: Verb::Skip,
        step: args.step.clone(),
        actor: actor.clone(),
        comment: Some(reason.clone()),
        issued_at: jiff::Timestamp::now(),
    };
    let sent = engine::send_command(&data_dir, run_id, &command, args.wait);
    let (accepted, queued, message) = match sent {
        Ok(CommandReceipt::Answered(reply)) => (reply.accepted, false, reply.message),
        Ok(CommandReceipt::Queued { id }) => (
            true,
            true,
            format!(
                "queued ({id}): the process driving run {run_id} has not answered yet; it applies the skip when it reads its inbox"
            ),
        ),
        Err(Error::NotDriven { .. }) => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let skipped = runtime.block_on(engine::skip_stopped(
                &data_dir, run_id, &args.step, &actor, &reason,
            ));
            match skipped {
                Ok(message) => (true, false, message),
                Err(error) => return Ok(error_exit(&error)),
            }
        }
        Err(error) => return Ok(error_exit(&error)),
    };
    match args.output {
        Output::Json => print_json(&json!({
            "verb": "skip",
            "run_id": run_id,
            "step": args.step,
            "accepted": accepted,
            "queued": queued,
            "message": message,
        }))?,
        Output::Text if accepted => println!("{message}"),
        Output::Text => eprintln!("refused: {message}"),
    }
    Ok(if accepted {
        Exit::Success
    } else {
        Exit::Conflict
    })
}
