//! `drbook schedules --schedules FILE`: lists the schedules of a schedule file with their next
//! slot, last run (time, run id, result) and missed slots, from the scheduler's state. Reads
//! only: it works while a scheduler runs, and says whether one does.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::exit::Exit;
use super::output::{Output, print, print_json};
use super::scheduler::report_load_error;
use crate::scheduler::state::{self, InstanceLock};
use crate::scheduler::view::ScheduleView;
use crate::scheduler::{Error, spec};
use crate::store::DataDir;

/// Arguments of `drbook schedules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schedule file (YAML; see README, "Scheduled rehearsals").
    #[arg(long, value_name = "FILE")]
    pub schedules: PathBuf,
    /// drbook's data directory (where the scheduler keeps its state).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `text` or `json` (on stdout).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Test hook: compute "next" as if it were this instant (RFC 3339).
    #[arg(long, hide = true, value_name = "TIMESTAMP")]
    pub clock_start: Option<Timestamp>,
}

#[derive(Serialize)]
struct Listing {
    schedules_file: String,
    data_dir: String,
    now: Timestamp,
    /// `pid N` of the running scheduler, or null.
    scheduler: Option<String>,
    schedules: Vec<ScheduleView>,
}

#[derive(Serialize)]
struct Invalid {
    schedules_file: String,
    valid: bool,
    problems: Vec<String>,
}

/// Lists the schedules.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let now = args.clock_start.unwrap_or_else(Timestamp::now);
    let file = match spec::load(&args.schedules, now) {
        Ok(file) => file,
        Err(error) => {
            if args.output == Output::Json {
                let problems = match &error {
                    Error::Invalid { problems, .. } => problems.clone(),
                    other => vec![other.to_string()],
                };
                print_json(&Invalid {
                    schedules_file: args.schedules.display().to_string(),
                    valid: false,
                    problems,
                })?;
            }
            return Ok(report_load_error(&error));
        }
    };
    let data_dir = DataDir::from_arg(args.data_dir)?;
    let saved = state::load(&state::state_path(&data_dir))?;
    let holder = InstanceLock::holder(&data_dir)?;
    let views: Vec<ScheduleView> = file
        .schedules
        .iter()
        .map(|s| ScheduleView::of(s, saved.schedules.get(&s.name), now))
        .collect();
    match args.output {
        Output::Json => print_json(&Listing {
            schedules_file: file.path.display().to_string(),
            data_dir: data_dir.root().display().to_string(),
            now,
            scheduler: holder,
            schedules: views,
        })?,
        Output::Text => {
            let mut text = match &holder {
                Some(holder) => format!("scheduler: running ({holder})\n\n"),
                None => "scheduler: not running on this data directory\n\n".to_owned(),
            };
            for (index, (view, schedule)) in views.iter().zip(&file.schedules).enumerate() {
                if index > 0 {
                    text.push('\n');
                }
                text.push_str(&view.render(schedule));
            }
            print(&text)?;
        }
    }
    Ok(Exit::Success)
}
