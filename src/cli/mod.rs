//! Command-line edge: arguments, output, exit codes. The only place that uses `anyhow`.

use std::process::ExitCode;

/// Entry point of the `drbook` binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
