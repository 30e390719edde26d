//! `drbook schema`: print the runbook JSON Schema (the content of `schemas/runbook.schema.json`).

use super::exit::Exit;
use super::output::print;
use crate::engine::catalog::Catalog;
use crate::runbook::schema::schema_text;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> anyhow::Result<Exit> {
    print(&schema_text(Catalog::global()))?;
    Ok(Exit::Success)
}
