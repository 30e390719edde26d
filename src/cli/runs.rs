//! `drbook runs [--runbook NAME] [--status S]... [--since WHEN] [--limit N]`: the runs of the
//! data directory, newest first, with filters.
//!
//! Each run is read the way `drbook status` reads it: a live run from its snapshot, a stopped
//! one from its snapshot when that snapshot is final, else from its database (a killed run's
//! last snapshot may still say `running`).

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::exit::Exit;
use super::output::{Output, print, print_json};
use super::run::parse_duration;
use super::status::read_view;
use crate::engine::{self, inbox};
use crate::store::DataDir;
use crate::store::records::RunStatus;

/// Arguments of `drbook runs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs of this runbook (its `name`).
    #[arg(long, value_name = "NAME")]
    runbook: Option<String>,
    /// Only runs in this status; repeat for several (`running`, `waiting-approval`,
    /// `compensating`, `succeeded`, `failed`, `failed-compensation`, `aborted`, `pending`).
    #[arg(long, value_parser = parse_status, value_name = "STATUS")]
    status: Vec<RunStatus>,
    /// Only runs created since then: a duration back from now (`24h`, `7d`) or a timestamp
    /// (`2026-11-01T00:00:00Z`).
    #[arg(long, value_parser = parse_since, value_name = "WHEN")]
    since: Option<Timestamp>,
    /// At most this many runs (the newest).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Where runs live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `text` or `json` (an array of runs).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

fn parse_status(text: &str) -> Result<RunStatus, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        format!(
            "`{text}` is not a run status (pending, running, waiting-approval, compensating, succeeded, failed, failed-compensation, aborted)"
        )
    })
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let back = parse_duration(text).map_err(|e| {
        format!(
            "`{text}` is neither a duration (`24h`) nor a timestamp (`2026-11-01T00:00:00Z`): {e}"
        )
    })?;
    let back = jiff::SignedDuration::try_from(back).map_err(|e| e.to_string())?;
    Timestamp::now()
        .checked_sub(back)
        .map_err(|e| format!("`{text}`: {e}"))
}

/// One line of `drbook runs` (its JSON shape).
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub run_id: String,
    pub runbook: String,
    pub mode: Option<String>,
    pub status: RunStatus,
    pub live: bool,
    pub dry_run: bool,
    pub actor: String,
    pub attempt: u32,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub error: Option<String>,
    /// Steps done / all steps.
    pub steps_done: usize,
    pub steps_total: usize,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let ids = data_dir.list_runs()?;
    let mut lines = Vec::new();
    for run_id in ids {
        if args.limit.is_some_and(|limit| lines.len() >= limit) {
            break;
        }
        // A final snapshot of a run nobody drives is as good as its database, and cheaper.
        let snapshot = match engine::read_status(&data_dir, run_id) {
            Ok(Some(s)) if s.status.is_terminal() && !inbox::is_driven(&data_dir, run_id) => {
                Some((s, false))
            }
            _ => None,
        };
        let (snapshot, live) = match snapshot {
            Some(found) => found,
            None => match read_view(&data_dir, run_id) {
                Ok(view) => (view.snapshot, view.live),
                Err(error) => {
                    eprintln!("warning: run {run_id}: {error}");
                    continue;
                }
            },
        };
        if args
            .runbook
            .as_ref()
            .is_some_and(|r| *r != snapshot.runbook)
            || (!args.status.is_empty() && !args.status.contains(&snapshot.status))
            || args.since.is_some_and(|since| snapshot.created_at < since)
        {
            continue;
        }
        let (steps_done, steps_total) = super::progress::done_total(&snapshot);
        lines.push(RunLine {
            run_id: run_id.to_string(),
            runbook: snapshot.runbook,
            mode: snapshot.mode,
            status: snapshot.status,
            live,
            dry_run: snapshot.dry_run,
            actor: snapshot.actor,
            attempt: snapshot.attempt,
            created_at: snapshot.created_at,
            ended_at: snapshot.ended_at,
            error: snapshot.error,
            steps_done,
            steps_total,
        });
    }
    match args.output {
        Output::Json => print_json(&lines)?,
        Output::Text => print(&render(&lines))?,
    }
    Ok(Exit::Success)
}

fn render(lines: &[RunLine]) -> String {
    if lines.is_empty() {
        return "no runs\n".into();
    }
    let rows: Vec<[String; 6]> = lines
        .iter()
        .map(|l| {
            [
                l.run_id.clone(),
                format!(
                    "{}{}",
                    l.runbook,
                    l.mode
                        .as_ref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
                format!(
                    "{}{}{}",
                    l.status.as_str(),
                    if l.live { " (live)" } else { "" },
                    if l.dry_run { " (dry run)" } else { "" }
                ),
                format!("{}/{}", l.steps_done, l.steps_total),
                l.created_at
                    .to_zoned(jiff::tz::TimeZone::system())
                    .strftime("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                l.actor.clone(),
            ]
        })
        .collect();
    let header = ["RUN", "RUNBOOK", "STATUS", "STEPS", "CREATED", "ACTOR"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let mut push_row = |cells: &[String]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    };
    push_row(&header.map(str::to_owned));
    for row in &rows {
        push_row(row);
    }
    text
}
