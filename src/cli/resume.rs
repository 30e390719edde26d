//! `drbook resume RUN`: continue a run that was killed, stopped to wait for an approval, or
//! failed (its failed steps run again). Secret params must be given again: they were never
//! stored.

use std::path::PathBuf;

use anyhow::Context as _;

use super::exit::Exit;
use super::output::Output;
use super::progress::{Follower, Progress};
use super::run::{ConnectionArgs, connect, error_exit, report};
use super::status::parse_run;
use crate::engine::{self, ResumeRequest, RunOutcome};
use crate::store::{DataDir, RunId};

/// Arguments of `drbook resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id (as `drbook run` printed it).
    #[arg(value_name = "RUN")]
    run: String,
    /// Where runs, locks and the audit log live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    drive: DriveArgs,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// How `resume` and `rerun` drive a stopped run on: what `drbook run` would be given again.
#[derive(Debug, clap::Args)]
pub(crate) struct DriveArgs {
    /// Secret params of the run, again (`NAME=VALUE`): they were never stored.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    /// Who drives the run on (recorded in the audit log). Default: the OS user.
    #[arg(long)]
    actor: Option<String>,
    /// Most steps (and for_each items) running at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Exit with code 3 when the run waits for an approval instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// Approve every approval gate as `--actor`.
    #[arg(long)]
    auto_approve: bool,
}

impl DriveArgs {
    /// Fills in a resume request from these flags.
    pub(crate) fn apply(&self, request: &mut ResumeRequest) {
        request.params = self.params.clone();
        request.actor = self.actor.clone().unwrap_or_else(engine::default_actor);
        request.concurrency = self.concurrency;
        request.wait_for_approval = !self.no_wait;
        request.auto_approve = self.auto_approve;
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let data_dir = DataDir::from_arg(args.data_dir.clone())?;
        // A dry run stays a dry run; the client is read-only when the stored run says so, which
        // only the engine knows: build it read-only when the snapshot says dry run.
        let dry_run = engine::read_status(&data_dir, run_id)
            .ok()
            .flatten()
            .is_some_and(|s| s.dry_run);
        let result = drive(
            &args.drive.connection,
            dry_run,
            data_dir,
            run_id,
            |request| {
                args.drive.apply(request);
            },
        )
        .await?;
        match result {
            Ok(outcome) => report(&outcome, args.output, "resume"),
            Err(error) => Ok(error_exit(&error)),
        }
    })
}

/// Drives a stopped run on in this process, as `resume`, `rerun` and `abort` do: connects
/// (read-only for a dry run), lets `configure` fill in the request, shows progress while
/// `engine::resume` runs, and stops an in-process emulator afterwards.
pub(crate) async fn drive(
    connection: &ConnectionArgs,
    dry_run: bool,
    data_dir: DataDir,
    run_id: RunId,
    configure: impl FnOnce(&mut ResumeRequest),
) -> anyhow::Result<Result<RunOutcome, engine::Error>> {
    let (connection, emulator, tuning) = connect(connection, dry_run).await?;
    let mut request = ResumeRequest::new(run_id, data_dir.clone(), connection);
    request.tuning = tuning;
    configure(&mut request);
    let progress = Progress::new();
    request.observer = Some(progress.observer());
    let follower = Follower::start(progress, data_dir, run_id);
    let result = engine::resume(request).await;
    follower.stop().await;
    if let Some(emulator) = emulator {
        emulator.shutdown().await;
    }
    Ok(result)
}
