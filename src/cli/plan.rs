//! `drbook plan FILE --mode M --param k=v...`: show what a run would do, in waves.

use std::path::PathBuf;

use super::exit::Exit;
use super::output::{Output, diagnostic_options, print, print_json};
use crate::engine::catalog::Catalog;
use crate::runbook::{self, Error, Mode, ParamValues, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Waves of steps with their actions and inputs.
    Waves,
    /// Graphviz DOT (`drbook plan ... --format dot | dot -Tsvg > plan.svg`).
    Dot,
    /// A Mermaid flowchart (paste into Markdown).
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The DR mode to plan (optional when the runbook has a single mode or none).
    // A string, parsed in `run`: an unknown mode is invalid input to the runbook (exit 2), as
    // in `drbook run`, not a usage error (64).
    #[arg(long)]
    mode: Option<String>,
    /// A param value; repeat for several. Lists: JSON (`["a","b"]`) or `a,b`.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// `text` or `json` (the plan as data).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// How text output draws the plan.
    #[arg(long, value_enum, default_value = "waves")]
    format: Format,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    if args.output == Output::Json && args.format != Format::Waves {
        eprintln!("error: `--format dot` and `--format mermaid` draw text; drop `--output json`");
        return Ok(Exit::Usage);
    }
    let mode = match args.mode.as_deref().map(str::parse::<Mode>).transpose() {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(Exit::Invalid);
        }
    };
    let catalog = Catalog::global();
    let runbook = match runbook::load(&args.file, catalog) {
        Ok(runbook) => runbook,
        Err(Error::Invalid(diagnostics)) => {
            eprint!("{}", diagnostics.render(diagnostic_options()));
            eprintln!("invalid: {diagnostics}");
            return Ok(Exit::Invalid);
        }
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(if err.is_not_found() {
                Exit::NotFound
            } else {
                Exit::Invalid
            });
        }
    };
    let plan = runbook.resolve_mode(mode).and_then(|mode| {
        let params = ParamValues::from_args(&runbook, &args.params)?;
        Plan::new(&runbook, mode, &params, catalog)
    });
    let plan = match plan {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(Exit::Invalid);
        }
    };
    match (args.output, args.format) {
        (Output::Json, _) => print_json(&plan)?,
        (Output::Text, Format::Waves) => print(&plan.render_text())?,
        (Output::Text, Format::Dot) => print(&plan.render_dot())?,
        (Output::Text, Format::Mermaid) => print(&plan.render_mermaid())?,
    }
    Ok(Exit::Success)
}
