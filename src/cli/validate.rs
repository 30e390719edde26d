//! `drbook validate FILE...`: check runbooks and report every problem.

use std::path::PathBuf;

use serde::Serialize;

use super::exit::Exit;
use super::output::{Output, diagnostic_options, print, print_json};
use crate::engine::catalog::Catalog;
use crate::runbook::{self, Error, Source, diagnostic::ProblemData};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// `text` (problems on stderr) or `json` (everything on stdout).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    files: Vec<FileReport>,
}

#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    runbook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    modes: Vec<String>,
    /// A problem with the file itself (missing, too large, not UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<ProblemData>,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let catalog = Catalog::global();
    let options = diagnostic_options();
    let mut exit = Exit::Success;
    let mut files = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let mut report = FileReport {
            file: name.clone(),
            valid: false,
            runbook: None,
            steps: None,
            modes: Vec::new(),
            error: None,
            problems: Vec::new(),
        };
        let source = match Source::read(path) {
            Ok(source) => source,
            Err(err) => {
                exit = exit.max(if err.is_not_found() {
                    Exit::NotFound
                } else {
                    Exit::Invalid
                });
                if args.output == Output::Text {
                    eprintln!("error: {err}");
                }
                report.error = Some(err.to_string());
                files.push(report);
                continue;
            }
        };
        match runbook::check(&source, catalog) {
            Ok(rb) => {
                if args.output == Output::Text {
                    let modes = if rb.modes.is_empty() {
                        String::new()
                    } else {
                        let m: Vec<&str> = rb.modes.iter().map(|m| m.as_str()).collect();
                        format!(", modes: {}", m.join(", "))
                    };
                    print(&format!(
                        "ok: {name} (`{}`, {} steps{modes})\n",
                        rb.name,
                        rb.steps.len()
                    ))?;
                }
                report.valid = true;
                report.runbook = Some(rb.name.clone());
                report.steps = Some(rb.steps.len());
                report.modes = rb.modes.iter().map(|m| m.to_string()).collect();
            }
            Err(diagnostics) => {
                exit = exit.max(Exit::Invalid);
                if args.output == Output::Text {
                    eprint!("{}", diagnostics.render(options));
                    eprintln!("invalid: {}", Error::Invalid(diagnostics.clone()));
                }
                report.problems = diagnostics.to_data();
            }
        }
        files.push(report);
    }
    if args.output == Output::Json {
        print_json(&Report {
            valid: exit == Exit::Success,
            files,
        })?;
    }
    Ok(exit)
}
