//! `drbook scheduler --schedules FILE`: the long-running process that fires scheduled
//! rehearsals (run it under systemd; see the README). Checks the schedule file, takes the data
//! directory's scheduler lock, and runs until SIGTERM or Ctrl-C. Logs go to stderr through
//! `tracing` (`--log-format json` for a log collector).

use std::path::PathBuf;

use anyhow::Context;
use jiff::Timestamp;
use serde::Serialize;

use super::exit::Exit;
use super::output::{Output, print, print_json};
use crate::scheduler::clock::{Clock, ShiftedClock, SystemClock};
use crate::scheduler::launcher::{ProcessLauncher, Target};
use crate::scheduler::runner::{Options, Pause, Scheduler};
use crate::scheduler::view::ScheduleView;
use crate::scheduler::{self, spec};
use crate::store::DataDir;

/// Arguments of `drbook scheduler`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schedule file (YAML; see README, "Scheduled rehearsals").
    #[arg(long, value_name = "FILE")]
    pub schedules: PathBuf,
    /// drbook's data directory (runs, run keys, audit log, scheduler state).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run every rehearsal against its own in-process emulator (`drbook run --emulator`).
    #[arg(long, conflicts_with_all = ["endpoint", "region"])]
    pub emulator: bool,
    /// SDRS endpoint URL passed to every run (`drbook run --endpoint`).
    #[arg(long, value_name = "URL", conflicts_with = "region")]
    pub endpoint: Option<String>,
    /// Region passed to every run (`drbook run --region`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The program started as `PROGRAM run ...` for each rehearsal (default: this drbook). For
    /// a wrapper (systemd-run, sudo -u) or a test double.
    #[arg(long, value_name = "PROGRAM")]
    pub run_command: Option<PathBuf>,
    /// Who the audit log and the runs name as the actor.
    #[arg(long, default_value = "scheduler")]
    pub actor: String,
    /// `text` or `json`: what is printed on stdout at start (the schedules followed).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Test hook: the scheduler's clock starts at this instant (RFC 3339) and runs at real
    /// speed, so a weekly slot or a long downtime can be exercised in seconds.
    #[arg(long, hide = true, value_name = "TIMESTAMP")]
    pub clock_start: Option<Timestamp>,
}

#[derive(Serialize)]
struct Started<'a> {
    schedules_file: String,
    data_dir: String,
    now: Timestamp,
    schedules: &'a [ScheduleView],
}

/// Runs the scheduler until SIGTERM or Ctrl-C.
/// The caller installs logging first (`cli::logging::init` with `logging::SERVICE`).
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.clock_start {
        Some(start) => serve(args, ShiftedClock::starting_at(start)),
        None => serve(args, SystemClock),
    }
}

fn serve<C: Clock>(args: Args, clock: C) -> anyhow::Result<Exit> {
    let file = match spec::load(&args.schedules, clock.now()) {
        Ok(file) => file,
        Err(error) => return Ok(report_load_error(&error)),
    };
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let program = match &args.run_command {
        Some(program) => program.clone(),
        None => std::env::current_exe().context("cannot find the drbook executable")?,
    };
    let target = if args.emulator {
        Target::Emulator
    } else if let Some(url) = &args.endpoint {
        Target::Endpoint(url.clone())
    } else if let Some(region) = &args.region {
        Target::Region(region.clone())
    } else {
        Target::Default
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let now = clock.now();
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let launcher = ProcessLauncher::new(program, data_dir.clone(), target, args.actor.clone());
        let options = Options {
            actor: args.actor.clone(),
            pause: Pause::from_env(),
            ..Options::default()
        };
        let mut scheduler = match Scheduler::open(&file, &data_dir, launcher, clock, options) {
            Ok(scheduler) => scheduler,
            Err(error @ scheduler::Error::AlreadyRunning { .. }) => {
                eprintln!("error: {error}");
                return Ok(Exit::Conflict);
            }
            Err(error) => return Err(error.into()),
        };
        let views: Vec<ScheduleView> = file
            .schedules
            .iter()
            .map(|s| ScheduleView::of(s, scheduler.state().schedules.get(&s.name), now))
            .collect();
        match args.output {
            Output::Json => print_json(&Started {
                schedules_file: file.path.display().to_string(),
                data_dir: data_dir.root().display().to_string(),
                now,
                schedules: &views,
            })?,
            Output::Text => {
                let mut text = format!(
                    "following {} schedule(s) from {} (data dir {})\n",
                    views.len(),
                    file.path.display(),
                    data_dir.root().display()
                );
                for (view, schedule) in views.iter().zip(&file.schedules) {
                    text.push_str(&view.render(schedule));
                }
                print(&text)?;
            }
        }
        tracing::info!(
            schedules = file.schedules.len(),
            file = %file.path.display(),
            data_dir = %data_dir.root().display(),
            "scheduler started"
        );
        scheduler.run(shutdown).await?;
        Ok(Exit::Success)
    })
}

/// Prints why the schedule file cannot be used; the exit code tells "missing" from "invalid".
pub fn report_load_error(error: &scheduler::Error) -> Exit {
    eprintln!("error: {error}");
    match error {
        scheduler::Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Exit::NotFound
        }
        _ => Exit::Invalid,
    }
}

/// A future that resolves at SIGTERM (systemd's stop) or SIGINT (Ctrl-C). The handlers are
/// installed here, before the scheduler starts working, so a stop that arrives during start-up
/// is honoured cleanly instead of killing the process with the default action.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// A future that resolves at Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
