//! Command-line edge: arguments, output, exit codes. The only place that uses `anyhow`.

pub mod emulator;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// drbook: disaster-recovery runbooks for Huawei Cloud SDRS.
#[derive(Debug, Parser)]
#[command(name = "drbook", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local SDRS emulator until Ctrl-C.
    Emulator(emulator::Args),
}

/// Entry point of the `drbook` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Emulator(args) => emulator::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(70)
        }
    }
}
