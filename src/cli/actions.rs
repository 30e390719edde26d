//! `drbook actions`: list the actions runbooks can use, with their inputs.

use super::exit::Exit;
use super::output::{Output, print, print_json};
use crate::engine::catalog::Catalog;
use crate::runbook::ActionCatalog;
use std::fmt::Write as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show only actions whose name contains this text.
    filter: Option<String>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let catalog = Catalog::global();
    let actions: Vec<_> = catalog
        .actions()
        .into_iter()
        .filter(|a| {
            args.filter
                .as_ref()
                .is_none_or(|f| a.name.contains(f.as_str()))
        })
        .collect();
    if args.output == Output::Json {
        print_json(&actions)?;
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    for action in actions {
        let job = match action.returns_job {
            Some(kind) => format!(", returns {} job", format!("{kind:?}").to_uppercase()),
            None => String::new(),
        };
        let _ = writeln!(out, "{}  [{}{job}]", action.name, action.effect.as_str());
        let _ = writeln!(out, "    {}", action.summary);
        for input in &action.inputs {
            let required = if input.required {
                "required"
            } else {
                "optional"
            };
            let summary = if input.summary.is_empty() {
                String::new()
            } else {
                format!(" - {}", input.summary)
            };
            let _ = writeln!(
                out,
                "    {}: {} ({required}){summary}",
                input.name,
                input.kind.describe()
            );
        }
    }
    print(&out)?;
    Ok(Exit::Success)
}
