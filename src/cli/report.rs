//! `drbook report RUN [--format html|md|json] [--out FILE]`: the run report of one run.

use std::path::PathBuf;

use super::exit::Exit;
use super::output::print;
use crate::report::{self, Error};
use crate::store::DataDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One self-contained HTML page (inline CSS and SVG; no script, no network).
    Html,
    /// Markdown for a pull request or a wiki (the DAG as a Mermaid diagram).
    #[value(alias = "markdown")]
    Md,
    /// The report's data as JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: its id, a unique prefix of it, or `latest`.
    #[arg(value_name = "RUN")]
    run: String,
    /// What to write.
    #[arg(long, value_enum, default_value = "html")]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// drbook's data directory (default: the platform data directory, e.g.
    /// `~/.local/share/drbook`).
    #[arg(long, env = "DRBOOK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let data_dir = DataDir::from_arg(args.data_dir)?;
    let built = report::resolve_run(&data_dir, &args.run)
        .and_then(|run_id| report::load(&data_dir, run_id, jiff::Timestamp::now()));
    let report = match built {
        Ok(report) => report,
        Err(error) => return Ok(refuse(&error)),
    };
    let text = match args.format {
        Format::Html => report::html::render(&report),
        Format::Md => report::markdown::render(&report),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&report)?;
            text.push('\n');
            text
        }
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "wrote the report of run {} ({}) to {}",
                report.run.run_id,
                report.runbook.name,
                path.display()
            );
        }
        None => print(&text)?,
    }
    Ok(Exit::Success)
}

/// Prints why no report was produced and picks the exit code.
fn refuse(error: &Error) -> Exit {
    eprintln!("error: {error}");
    if let Some(help) = miette::Diagnostic::help(error) {
        eprintln!("  help: {help}");
    }
    match error {
        Error::RunNotFound { .. } => Exit::NotFound,
        Error::AmbiguousRun { .. } => Exit::Usage,
        error if error.is_in_use() => {
            eprintln!(
                "  note: a report reads the run's records, which the process driving it holds; run it again when the run has ended or stopped"
            );
            Exit::Conflict
        }
        Error::Store(crate::store::Error::InvalidRunId { .. }) => Exit::Usage,
        _ => Exit::Internal,
    }
}
