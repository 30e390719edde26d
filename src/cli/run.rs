//! `drbook run FILE --mode M ...`: start a run and drive it to its end. Also the pieces `resume`
//! shares: where SDRS calls go (`--emulator`, `--endpoint`, `--region`, a profile), progress
//! lines on stderr, the final summary on stdout, and exit codes from the run's status.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::exit::Exit;
use super::output::{Output, diagnostic_options, print, print_json};
use crate::emulator::{Config as EmulatorConfig, Emulator, Running};
use crate::engine::actions::Polling;
use crate::engine::{self, Connection, Error, Notice, RunOutcome, RunRequest, Tuning};
use crate::runbook::Mode;
use crate::sdrs::{Client, Credentials, Endpoint, Profile};
use crate::store::DataDir;
use crate::store::records::RunStatus;

/// Where SDRS (and ECS) calls go.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Start the built-in SDRS emulator in this process (127.0.0.1, a free port, fresh
    /// credentials) and run against it.
    #[arg(long, conflicts_with_all = ["endpoint", "region"])]
    pub emulator: bool,
    /// SDRS endpoint URL (also serves ECS), e.g. the one `drbook emulator` prints. Default:
    /// `$DRBOOK_SDRS_ENDPOINT` (ignored with `--emulator`).
    // Read from the environment by hand, not with clap's `env`: clap counts an environment value
    // as given, so an exported endpoint would make `--emulator` a usage error.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Huawei Cloud region (`https://sdrs.<region>.myhuaweicloud.com`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Credentials profile in ~/.config/drbook/credentials, when the environment has none.
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub profile: String,
    /// Delay before the first poll of a job (then doubling up to 30s). Default 1s (200ms with
    /// `--emulator`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Option<Duration>,
}

/// The environment variable naming the SDRS endpoint when `--endpoint` is not given.
pub const ENDPOINT_ENV: &str = "DRBOOK_SDRS_ENDPOINT";

/// A duration in friendly form (`200ms`, `2h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<crate::runbook::Duration>()
        .map(|d| d.as_std())
        .map_err(|e| e.to_string())
}

/// The connection, and the in-process emulator when `--emulator` started one.
pub async fn connect(
    args: &ConnectionArgs,
    read_only: bool,
) -> anyhow::Result<(Connection, Option<Running>, Tuning)> {
    let mut tuning = Tuning::default();
    if args.emulator {
        let running = Emulator::start(EmulatorConfig::default())
            .await
            .context("cannot start the in-process emulator")?;
        let client = Client::builder(running.client_credentials(), running.client_endpoint())
            .read_only(read_only)
            .build()?;
        let interval = args.poll_interval.unwrap_or(Duration::from_millis(200));
        tuning.polling = Polling {
            initial: interval,
            cap: Duration::from_secs(30).max(interval),
        };
        tuning.settle.polling = tuning.polling;
        let mut connection = Connection::new(
            client,
            format!("emulator (in-process) {}", running.endpoint()),
        );
        connection.emulator = true;
        return Ok((connection, Some(running), tuning));
    }
    let profile_path = crate::sdrs::credentials::default_profile_path();
    let profile = match &profile_path {
        Some(path) if path.is_file() => Some(Profile::load(path, &args.profile)?),
        _ => None,
    };
    let credentials = match Credentials::from_env() {
        Ok(credentials) => credentials,
        Err(env_error) => match &profile {
            Some(profile) => profile.credentials.clone(),
            None => return Err(env_error.into()),
        },
    };
    let exported = std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty());
    let endpoint = Endpoint::resolve(
        args.endpoint
            .as_deref()
            .or(exported.as_deref())
            .or(profile.as_ref().and_then(|p| p.endpoint.as_deref())),
        args.region
            .as_deref()
            .or(profile.as_ref().and_then(|p| p.region.as_deref())),
    )?;
    let label = match &endpoint {
        Endpoint::Url(url) => url.clone(),
        Endpoint::Region(region) => format!("region {region}"),
    };
    let client = Client::builder(credentials, endpoint)
        .read_only(read_only)
        .build()?;
    if let Some(interval) = args.poll_interval {
        tuning.polling = Polling {
            initial: interval,
            cap: Duration::from_secs(30).max(interval),
        };
        tuning.settle.polling = tuning.polling;
    }
    Ok((Connection::new(client, label), None, tuning))
}

/// Arguments of `drbook run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The DR mode: drill, planned-failover, failover, reverse or failback (optional when the
    /// runbook has a single mode or none).
    // A string here, parsed in `run_async`: an unknown mode is invalid input to the runbook
    // (exit 2), like a mode the runbook does not support, not a usage error (64).
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// A param value; repeat for several. Lists: JSON (`["a","b"]`) or `a,b`.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Where runs, locks and the audit log live (default: the user's data directory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Idempotent start: a second `run` with the same key returns the first run.
    #[arg(long, value_name = "KEY")]
    run_key: Option<String>,
    /// Run read-only actions for real; show every mutating action with the request it would
    /// send, and send nothing that changes anything.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Who runs it (recorded in the run and the audit log). Default: the OS user.
    #[arg(long)]
    actor: Option<String>,
    /// Most steps (and for_each items) running at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Run-wide deadline (`2h`): past it, running steps are cancelled and the run fails
    /// (completed steps are compensated).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    deadline: Option<Duration>,
    /// Do not wait for approvals: exit with code 3 when the run waits for one (approve it,
    /// then `drbook resume RUN`).
    #[arg(long)]
    no_wait: bool,
    /// Approve every approval gate as `--actor` (recorded as that actor's approval). The actor
    /// must be among a gate's approvers, except against `--emulator`.
    #[arg(long)]
    auto_approve: bool,
    /// `text` or `json` (the final status as data).
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// Prints progress lines on stderr.
pub fn observer() -> engine::Observer {
    Arc::new(|notice: &Notice| {
        let time = jiff::Zoned::now().strftime("%H:%M:%S");
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{time} {notice}");
    })
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<Exit> {
    let mode = match args.mode.as_deref().map(str::parse::<Mode>).transpose() {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(Exit::Invalid);
        }
    };
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let (connection, emulator, tuning) = connect(&args.connection, args.dry_run).await?;
    let actor = args.actor.clone().unwrap_or_else(engine::default_actor);
    let mut request = RunRequest::new(args.file.clone(), data_dir, connection);
    request.mode = mode;
    request.params = args.params.clone();
    request.run_key = args.run_key.clone();
    request.dry_run = args.dry_run;
    request.actor = actor;
    request.concurrency = args.concurrency;
    request.deadline = args.deadline;
    request.wait_for_approval = !args.no_wait;
    request.auto_approve = args.auto_approve;
    request.tuning = tuning;
    // The run's id is chosen here so that the progress display can follow its snapshot.
    let run_id = crate::store::RunId::new();
    request.run_id = Some(run_id);
    let progress = super::progress::Progress::new();
    request.observer = Some(progress.observer());
    let follower = super::progress::Follower::start(progress, request.data_dir.clone(), run_id);
    let result = engine::start(request).await;
    follower.stop().await;
    if let Some(emulator) = emulator {
        emulator.shutdown().await;
    }
    match result {
        Ok(outcome) => report(&outcome, args.output, "run"),
        Err(error) => Ok(error_exit(&error)),
    }
}

/// Prints an engine error and maps it to its exit code.
pub fn error_exit(error: &Error) -> Exit {
    match error {
        Error::Runbook(crate::runbook::Error::Invalid(diagnostics)) => {
            eprint!("{}", diagnostics.render(diagnostic_options()));
            eprintln!("invalid: {diagnostics}");
            Exit::Invalid
        }
        Error::Runbook(e) if e.is_not_found() => {
            eprintln!("error: {e}");
            Exit::NotFound
        }
        Error::Runbook(e) => {
            eprintln!("error: {e}");
            Exit::Invalid
        }
        Error::MissingSecrets { .. } => {
            eprintln!("error: {error}");
            Exit::Invalid
        }
        Error::Locked { .. } | Error::InUse { .. } | Error::NotDriven { .. } => {
            eprintln!("error: {error}");
            if let Some(help) = miette::Diagnostic::help(error) {
                eprintln!("  help: {help}");
            }
            Exit::Conflict
        }
        Error::RunNotFound { .. } | Error::StepNotFound { .. } => {
            eprintln!("error: {error}");
            Exit::NotFound
        }
        // The run's state does not allow it (rolled back, its runbook no longer validates):
        // a conflict with what the operator asked, not a bug in drbook.
        Error::Command(_) | Error::NotResumable { .. } => {
            eprintln!("error: {error}");
            Exit::Conflict
        }
        other => {
            eprintln!("error: {other}");
            Exit::Internal
        }
    }
}

/// The exit code of a run's status.
pub fn status_exit(status: RunStatus) -> Exit {
    match status {
        RunStatus::Succeeded => Exit::Success,
        RunStatus::Failed | RunStatus::FailedCompensation | RunStatus::Aborted => Exit::Failed,
        RunStatus::WaitingApproval => Exit::Waiting,
        RunStatus::Pending | RunStatus::Running | RunStatus::Compensating => Exit::Conflict,
    }
}

/// Prints the final summary (stdout) and returns the exit code.
pub fn report(outcome: &RunOutcome, output: Output, verb: &str) -> anyhow::Result<Exit> {
    let snapshot = &outcome.snapshot;
    match output {
        Output::Json => {
            let mut value = serde_json::to_value(snapshot)?;
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("existing".into(), outcome.existing.into());
            }
            print_json(&value)?;
        }
        Output::Text => {
            let mut text = String::new();
            if outcome.existing {
                text.push_str(&format!(
                    "run key already used: returning run {} instead of starting a second one\n",
                    outcome.run_id
                ));
            }
            text.push_str(&format!(
                "run {} {} ({}{}{})\n",
                outcome.run_id,
                outcome.status.as_str(),
                snapshot.runbook,
                snapshot
                    .mode
                    .as_ref()
                    .map(|m| format!(", {m}"))
                    .unwrap_or_default(),
                if snapshot.dry_run { ", dry run" } else { "" },
            ));
            if let Some(error) = &snapshot.error {
                text.push_str(&format!("  error: {error}\n"));
            }
            let width = snapshot.steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
            for step in &snapshot.steps {
                let mut line = format!("  {:width$}  {}", step.id, step.status.as_str());
                if step.simulated {
                    line.push_str(" (simulated)");
                }
                if let Some(items) = &step.items {
                    let parts: Vec<String> = items
                        .iter()
                        .filter(|(k, _)| k.as_str() != "total")
                        .map(|(k, v)| format!("{v} {k}"))
                        .collect();
                    line.push_str(&format!(
                        " [{} items: {}]",
                        items.get("total").copied().unwrap_or(0),
                        parts.join(", ")
                    ));
                }
                if let Some(code) = &step.error_code {
                    line.push_str(&format!(" {code}"));
                }
                if let Some(message) = &step.message {
                    line.push_str(&format!(": {message}"));
                }
                text.push_str(&line);
                text.push('\n');
            }
            for waiting in &snapshot.waiting_approvals {
                let approvers = if waiting.approvers.is_empty() {
                    String::new()
                } else {
                    format!(" (approvers: {})", waiting.approvers.join(", "))
                };
                text.push_str(&format!(
                    "waiting for approval of `{}`{approvers}: drbook approve {} {} --comment ... (then `drbook resume {}` if no process drives the run)\n",
                    waiting.step, outcome.run_id, waiting.step, outcome.run_id
                ));
            }
            print(&text)?;
            // Not for a run returned by its run key: another process may be driving it, and
            // the lines above already say when a resume is needed.
            if outcome.status == RunStatus::WaitingApproval && verb == "run" && !outcome.existing {
                eprintln!(
                    "the run waits for an approval; it continues with `drbook resume {}`",
                    outcome.run_id
                );
            }
        }
    }
    Ok(status_exit(outcome.status))
}
