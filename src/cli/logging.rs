//! Logging: `tracing` events on stderr, as text or as JSON lines (`--log-format json`), at the
//! level `--log-level` asks for (a level or a full `RUST_LOG`-style filter), else `RUST_LOG`,
//! else warnings only. Progress lines are not logs: they are printed whatever the level.
//!
//! Secrets never reach a log because the layers that log never hold them in clear (the SDRS
//! client logs redacted requests; params are masked); `tests/secrets_sweep.rs` checks a debug
//! log of a whole run for them.

use tracing_subscriber::EnvFilter;

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`, `span`...).
    Json,
}

/// The logging flags every verb accepts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`) or a filter such as
    /// `drbook=debug,reqwest=warn`. Default: `RUST_LOG`, else `warn`.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Installs the process's log subscriber (once; later calls do nothing).
pub fn init(args: &LogArgs) {
    let filter = match &args.log_level {
        Some(level) => EnvFilter::try_new(level).unwrap_or_else(|error| {
            eprintln!("warning: --log-level `{level}`: {error}; logging warnings only");
            EnvFilter::new("warn")
        }),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.with_ansi(ansi()).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}

/// Colour only on a terminal without `NO_COLOR`.
fn ansi() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
