//! Logging: `tracing` events on stderr, as text or as JSON lines (`--log-format json`), at the
//! level `--log-level` asks for (a level or a full `RUST_LOG`-style filter), else the
//! process's [`Defaults`] (`RUST_LOG` / warnings for the verbs, `DRBOOK_LOG` / info for the
//! scheduler). Progress lines are not logs: they are printed whatever the level.
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

/// Where a process's log level comes from when `--log-level` is not given.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    /// The environment variable holding a filter.
    pub env: &'static str,
    /// The filter when that variable is unset or invalid.
    pub level: &'static str,
}

/// The verbs: `RUST_LOG`, else warnings only (progress lines are the normal output).
pub const VERBS: Defaults = Defaults {
    env: "RUST_LOG",
    level: "warn",
};

/// The long-lived `drbook scheduler` service: `DRBOOK_LOG`, else `info`.
pub const SERVICE: Defaults = Defaults {
    env: "DRBOOK_LOG",
    level: "info",
};

/// Installs the process's log subscriber (once; later calls do nothing).
pub fn init(args: &LogArgs, defaults: Defaults) {
    let filter = match &args.log_level {
        Some(level) => EnvFilter::try_new(level).unwrap_or_else(|error| {
            eprintln!(
                "warning: --log-level `{level}`: {error}; logging at `{}`",
                defaults.level
            );
            EnvFilter::new(defaults.level)
        }),
        None => {
            EnvFilter::try_from_env(defaults.env).unwrap_or_else(|_| EnvFilter::new(defaults.level))
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.with_ansi(ansi()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// Colour only on a terminal without `NO_COLOR`.
fn ansi() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
