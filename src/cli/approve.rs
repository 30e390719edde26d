//! `drbook approve RUN STEP` and `drbook reject RUN STEP --comment ...`: decide an approval gate
//! from any process. The command goes to the run's inbox; the process driving the run records
//! the decision (actor, verdict, comment, time) and answers. When no process drives the run,
//! the decision waits in the inbox until `drbook resume`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::exit::Exit;
use super::output::{Output, print_json};
use super::run::{error_exit, parse_duration};
use super::status::parse_run;
use crate::engine::{self, CommandReceipt, OperatorCommand, Verb};
use crate::store::DataDir;

/// Arguments of `drbook approve` and `drbook reject`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(value_name = "RUN")]
    run: String,
    /// The approval step's id.
    #[arg(value_name = "STEP")]
    step: String,
    /// Why (required to reject).
    #[arg(long)]
    comment: Option<String>,
    /// Who decides. Default: the OS user.
    #[arg(long)]
    actor: Option<String>,
    /// Where runs live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How long to wait for the driving process to confirm.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    wait: Duration,
    /// `text` or `json` (`{"verb", "run_id", "step", "accepted", "queued", "message"}`, as
    /// `drbook skip` prints it).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args, verb: Verb) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    let comment = args.comment.filter(|c| !c.trim().is_empty());
    if verb == Verb::Reject && comment.is_none() {
        eprintln!("error: `drbook reject` needs `--comment` saying why");
        return Ok(Exit::Usage);
    }
    let data_dir = DataDir::from_arg(args.data_dir)?;
    let command = OperatorCommand {
        format: engine::inbox::COMMAND_FORMAT,
        verb,
        step: args.step.clone(),
        actor: args.actor.unwrap_or_else(engine::default_actor),
        comment,
        issued_at: jiff::Timestamp::now(),
    };
    let receipt = engine::send_command(&data_dir, run_id, &command, args.wait);
    if args.output == Output::Json {
        let (accepted, queued, message) = match receipt {
            Ok(CommandReceipt::Answered(reply)) => (reply.accepted, false, reply.message),
            Ok(CommandReceipt::Queued { id }) if engine::inbox::is_driven(&data_dir, run_id) => (
                true,
                true,
                format!(
                    "sent ({id}): the drbook process driving run {run_id} has not confirmed it yet; it applies the decision when it next reads its inbox"
                ),
            ),
            Ok(CommandReceipt::Queued { id }) => (
                true,
                true,
                format!(
                    "queued ({id}): no drbook process is driving run {run_id} right now; the decision is applied when it runs again: drbook resume {run_id}"
                ),
            ),
            Err(error) => return Ok(error_exit(&error)),
        };
        print_json(&json!({
            "verb": verb.as_str(),
            "run_id": run_id,
            "step": args.step,
            "accepted": accepted,
            "queued": queued,
            "message": message,
        }))?;
        return Ok(if accepted {
            Exit::Success
        } else {
            Exit::Conflict
        });
    }
    match receipt {
        Ok(CommandReceipt::Answered(reply)) if reply.accepted => {
            println!("{}", reply.message);
            Ok(Exit::Success)
        }
        Ok(CommandReceipt::Answered(reply)) => {
            eprintln!("refused: {}", reply.message);
            Ok(Exit::Conflict)
        }
        // Queued means either that nobody drives the run or that the driving process did not
        // answer within `--wait`; telling the operator "nobody drives it" in the second case
        // would send them to `drbook resume`, which the live process then refuses.
        Ok(CommandReceipt::Queued { id }) if engine::inbox::is_driven(&data_dir, run_id) => {
            println!(
                "sent ({id}): the drbook process driving run {run_id} has not confirmed it within {}; it applies the decision when it next reads its inbox (every {}ms)",
                crate::runbook::Duration::from(args.wait),
                engine::inbox::POLL_INTERVAL.as_millis()
            );
            Ok(Exit::Success)
        }
        Ok(CommandReceipt::Queued { id }) => {
            println!(
                "queued ({id}): no drbook process is driving run {run_id} right now; the decision is applied when it runs again: drbook resume {run_id}"
            );
            Ok(Exit::Success)
        }
        Err(error) => Ok(error_exit(&error)),
    }
}
