//! Shared output helpers: where diagnostics go and how they look.

use std::io::{IsTerminal, Write};

use crate::runbook::RenderOptions;

/// Output format for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON on stdout (diagnostics as data too).
    Json,
}

/// How to draw diagnostics on stderr: colour only for a terminal without `NO_COLOR`, and the
/// terminal's width (`COLUMNS`) there; a fixed 100 columns otherwise, so that logs and test
/// snapshots are stable.
pub fn diagnostic_options() -> RenderOptions {
    let terminal = std::io::stderr().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let width = if terminal {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    } else {
        100
    };
    RenderOptions {
        width,
        color: terminal && !no_color,
    }
}

/// Writes data to stdout. A closed pipe (`drbook plan ... | head`) is not an error: the reader
/// has what it wanted.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints JSON to stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print(&text)
}
