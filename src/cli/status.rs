//! `drbook status RUN [--watch]`: the whole DAG of a run with each step's state (pending,
//! running, waiting-job with the SDRS job id, waiting-approval, retrying with the next attempt's
//! time, succeeded, failed, skipped, cancelled, compensating, compensated, ...).
//!
//! A run some process drives is read from its status snapshot (its database is locked by that
//! process); a run nobody drives is read from its database, which is the truth even when the
//! process driving it was killed before writing a last snapshot. `--watch` refreshes until the
//! run reaches a terminal state, reading the snapshot every few hundred milliseconds (no busy
//! loop), with the same progress display as `drbook run`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::exit::Exit;
use super::output::{Output, print, print_json};
use super::progress::{POLL, Progress, summary};
use super::run::{error_exit, parse_duration};
use crate::engine::status::StatusSnapshot;
use crate::engine::{self, Error, inbox};
use crate::store::records::RunStatus;
use crate::store::{DataDir, RunId};

/// Arguments of `drbook status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(value_name = "RUN")]
    run: String,
    /// Keep refreshing until the run ends (or no process drives it any more).
    #[arg(long)]
    watch: bool,
    /// How often `--watch` reads the run's status.
    #[arg(long, default_value = "500ms", value_parser = parse_duration, value_name = "DURATION")]
    interval: Duration,
    /// Where runs live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `text` or `json` (with `--watch`: one JSON object per line, one per change).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// A run's status as `status`, `runs` and `abort` read it.
#[derive(Debug, Clone)]
pub struct View {
    pub snapshot: StatusSnapshot,
    /// Whether a process drives the run right now.
    pub live: bool,
}

impl View {
    /// The snapshot as JSON, with `live`.
    pub fn to_json(&self) -> anyhow::Result<Value> {
        let mut value = serde_json::to_value(&self.snapshot)?;
        if let Value::Object(map) = &mut value {
            map.insert("live".into(), self.live.into());
        }
        Ok(value)
    }
}

/// Reads a run's status: the snapshot of a live run, the database of a stopped one.
pub fn read_view(data_dir: &DataDir, run_id: RunId) -> Result<View, Error> {
    let started = Instant::now();
    loop {
        if inbox::is_driven(data_dir, run_id) {
            if let Some(snapshot) = engine::read_status(data_dir, run_id)? {
                return Ok(View {
                    snapshot,
                    live: true,
                });
            }
        } else {
            match engine::read_run(data_dir, run_id) {
                Ok(view) => {
                    return Ok(View {
                        snapshot: view.snapshot(),
                        live: false,
                    });
                }
                // A process took the run between the check and the open: read its snapshot.
                Err(Error::InUse { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        // A driver that has not written its first snapshot yet, or a race with one starting.
        if started.elapsed() > Duration::from_secs(5) {
            return Err(Error::InUse {
                run_id: run_id.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The exit code `status` (and `runs`) give a run's status: 0 succeeded or still going,
/// 1 failed / aborted / failed-compensation, 3 waiting for an approval.
pub fn status_exit(status: RunStatus) -> Exit {
    match status {
        RunStatus::Failed | RunStatus::FailedCompensation | RunStatus::Aborted => Exit::Failed,
        RunStatus::WaitingApproval => Exit::Waiting,
        RunStatus::Succeeded
        | RunStatus::Pending
        | RunStatus::Running
        | RunStatus::Compensating => Exit::Success,
    }
}

/// Parses a run id argument; a malformed id is "not found" (exit 4).
pub fn parse_run(text: &str) -> Result<RunId, Exit> {
    text.parse().map_err(|e| {
        eprintln!("error: {e}");
        Exit::NotFound
    })
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let view = match read_view(&data_dir, run_id) {
        Ok(view) => view,
        Err(error) => return Ok(error_exit(&error)),
    };
    if !args.watch {
        match args.output {
            Output::Json => print_json(&view.to_json()?)?,
            Output::Text => print(&render(&view))?,
        }
        return Ok(status_exit(view.snapshot.status));
    }
    watch(&data_dir, run_id, view, &args)
}

fn watch(data_dir: &DataDir, run_id: RunId, mut view: View, args: &Args) -> anyhow::Result<Exit> {
    let progress = match args.output {
        Output::Text => Some(Progress::new()),
        Output::Json => None,
    };
    let mut last_json: Option<Value> = None;
    loop {
        match (&progress, args.output) {
            (Some(progress), _) => progress.update(&view.snapshot, true),
            (None, _) => {
                // One line per change (the snapshot's own clock is left out of the comparison).
                let mut json = view.to_json()?;
                if let Value::Object(map) = &mut json {
                    map.remove("updated_at");
                }
                if last_json.as_ref() != Some(&json) {
                    print(&format!("{}\n", serde_json::to_string(&view.to_json()?)?))?;
                    last_json = Some(json);
                }
            }
        }
        if view.snapshot.status.is_terminal() {
            break;
        }
        if !view.live {
            if let Some(progress) = &progress {
                progress.line(&format!(
                    "no drbook process drives run {run_id}; it stays {} until `drbook resume {run_id}`",
                    view.snapshot.status_name()
                ));
            }
            break;
        }
        std::thread::sleep(args.interval.max(POLL / 5));
        view = match read_view(data_dir, run_id) {
            Ok(view) => view,
            Err(error) => return Ok(error_exit(&error)),
        };
    }
    if let Some(progress) = &progress {
        progress.finish();
        print(&render(&view))?;
    }
    Ok(status_exit(view.snapshot.status))
}

/// The text view: the run, then its steps in runbook order with their state and edges.
pub fn render(view: &View) -> String {
    let snapshot = &view.snapshot;
    let mut text = format!(
        "run {} {} ({}{}{}){}\n",
        snapshot.run_id,
        snapshot.status_name(),
        snapshot.runbook,
        snapshot
            .mode
            .as_ref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default(),
        if snapshot.dry_run { ", dry run" } else { "" },
        if view.live {
            match snapshot.driver_pid {
                Some(pid) => format!(" live (pid {pid})"),
                None => " live".to_owned(),
            }
        } else {
            String::new()
        },
    );
    text.push_str(&format!(
        "  actor {}, attempt {}, created {}",
        snapshot.actor, snapshot.attempt, snapshot.created_at
    ));
    if let Some(ended) = snapshot.ended_at {
        text.push_str(&format!(", ended {ended}"));
    }
    text.push('\n');
    text.push_str(&format!("  {}\n", summary(snapshot)));
    if let Some(error) = &snapshot.error {
        text.push_str(&format!("  error: {error}\n"));
    }
    if !view.live && !snapshot.status.is_terminal() {
        text.push_str(&format!(
            "  no drbook process drives this run: `drbook resume {}` continues it\n",
            snapshot.run_id
        ));
    }
    let width = snapshot.steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let status_width = snapshot
        .steps
        .iter()
        .map(|s| s.status.as_str().len())
        .max()
        .unwrap_or(0);
    for step in &snapshot.steps {
        let mut line = format!(
            "  {:width$}  {:status_width$}  {}",
            step.id,
            step.status.as_str(),
            step.action
        );
        if step.simulated {
            line.push_str(" (simulated)");
        }
        if let Some(job) = &step.job_id {
            line.push_str(&format!(" job {job}"));
        }
        if let Some(at) = step.next_attempt_at {
            line.push_str(&format!(" next attempt {at}"));
        }
        if step.attempts > 1 {
            line.push_str(&format!(" attempts {}", step.attempts));
        }
        if let Some(items) = &step.items {
            let parts: Vec<String> = items
                .iter()
                .filter(|(k, _)| k.as_str() != "total")
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            line.push_str(&format!(
                " [{} items: {}]",
                items.get("total").copied().unwrap_or(0),
                parts.join(", ")
            ));
        }
        if !step.needs.is_empty() {
            line.push_str(&format!(" <- {}", step.needs.join(", ")));
        }
        if let Some(code) = &step.error_code {
            line.push_str(&format!(" {code}"));
        }
        if let Some(message) = &step.message {
            line.push_str(&format!(": {message}"));
        }
        text.push_str(&line);
        text.push('\n');
    }
    for waiting in &snapshot.waiting_approvals {
        text.push_str(&format!(
            "waiting for approval of `{}`{}: drbook approve {} {} --comment ...\n",
            waiting.step,
            if waiting.approvers.is_empty() {
                String::new()
            } else {
                format!(" by one of {}", waiting.approvers.join(", "))
            },
            snapshot.run_id,
            waiting.step
        ));
    }
    text
}
