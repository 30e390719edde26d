//! The engine's public entry points: [`start`] a run, [`resume`] one, [`send_command`] to one
//! (approve / reject), and [`read_status`] of one. The CLI is a thin layer over these; the
//! scheduler and the run report use them too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drbook::engine::Error> {
//! use drbook::emulator::{Config, Emulator};
//! use drbook::engine::{Connection, RunRequest, start};
//! use drbook::store::DataDir;
//!
//! let emulator = Emulator::start(Config::default()).await.expect("emulator");
//! let client = drbook::sdrs::Client::builder(emulator.client_credentials(), emulator.client_endpoint())
//!     .build()?;
//! let mut request = RunRequest::new(
//!     "runbooks/dr-drill.yaml".into(),
//!     DataDir::new("/tmp/drbook-demo"),
//!     Connection::new(client, emulator.endpoint()),
//! );
//! request.mode = Some(drbook::runbook::Mode::Drill);
//! request.auto_approve = true;
//! let outcome = start(request).await?;
//! println!("run {} {:?}", outcome.run_id, outcome.status);
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::actions::Polling;
use super::catalog::Catalog;
use super::compiled;
use super::error::Error;
use super::executor::{Executor, ExecutorConfig, Observer, Stopped};
use super::inbox::{self, DriverLock, OperatorCommand, Reply};
use super::reconcile::Settle;
use super::retry::ThrottlePolicy;
use super::state::{AutoApprove, MachineConfig, RunState};
use super::status::{self, StatusSnapshot};
use crate::runbook::{self, Mode, ParamValues, Plan, Runbook, Source};
use crate::sdrs::Client;
use crate::store::audit::{AuditEvent, AuditKind, AuditLog};
use crate::store::locks::Locks;
use crate::store::records::{RunRecord, RunStatus, StepKey, StepRecord, StepStatus, sha256_hex};
use crate::store::redact::REDACTED;
use crate::store::run_keys::{Claim, RunKeys};
use crate::store::{Batch, DataDir, RunId, SledStore, Store};

/// Where SDRS calls go.
#[derive(Clone)]
pub struct Connection {
    /// The client (built read-only for a dry run).
    pub client: Client,
    /// A description of the endpoint for the run record (a URL, a region); no secrets.
    pub endpoint: String,
    /// Whether the endpoint is drbook's in-process emulator (nothing real is at stake).
    pub emulator: bool,
}

impl Connection {
    pub fn new(client: Client, endpoint: impl Into<String>) -> Self {
        Connection {
            client,
            endpoint: endpoint.into(),
            emulator: false,
        }
    }
}

/// Engine knobs that are not part of a run's meaning (polling, throttling).
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    pub polling: Polling,
    pub settle: Settle,
    pub throttle: ThrottlePolicy,
}

/// What `drbook run` asks for.
#[derive(Clone)]
pub struct RunRequest {
    /// The runbook file.
    pub runbook: PathBuf,
    /// The DR mode (may be left out for a runbook with one mode or none).
    pub mode: Option<Mode>,
    /// `NAME=VALUE` params, as on the command line.
    pub params: Vec<String>,
    pub data_dir: DataDir,
    /// `--run-key`: a second start with the same key returns the first run.
    pub run_key: Option<String>,
    /// Read-only actions run for real; mutating ones are recorded as simulated.
    pub dry_run: bool,
    /// Who starts the run (recorded; also the approver with `auto_approve`).
    pub actor: String,
    /// Most units running at once.
    pub concurrency: usize,
    /// Run-wide deadline, from the start.
    pub deadline: Option<Duration>,
    /// `false` (`--no-wait`): return when the run only waits for an approval.
    pub wait_for_approval: bool,
    /// Approve every approval gate as `actor` (recorded as such).
    pub auto_approve: bool,
    pub connection: Connection,
    pub observer: Option<Observer>,
    pub tuning: Tuning,
}

impl RunRequest {
    /// A request with the defaults: no params, the OS user as actor, 32 units at once, wait
    /// for approvals, no deadline.
    pub fn new(runbook: PathBuf, data_dir: DataDir, connection: Connection) -> Self {
        RunRequest {
            runbook,
            mode: None,
            params: Vec::new(),
            data_dir,
            run_key: None,
            dry_run: false,
            actor: default_actor(),
            concurrency: 32,
            deadline: None,
            wait_for_approval: true,
            auto_approve: false,
            connection,
            observer: None,
            tuning: Tuning::default(),
        }
    }
}

/// What `drbook resume` asks for.
#[derive(Clone)]
pub struct ResumeRequest {
    pub run_id: RunId,
    pub data_dir: DataDir,
    /// Secret params again (`NAME=VALUE`); they are never stored.
    pub params: Vec<String>,
    /// Who resumes (recorded in the audit log).
    pub actor: String,
    pub concurrency: usize,
    pub wait_for_approval: bool,
    pub auto_approve: bool,
    pub connection: Connection,
    pub observer: Option<Observer>,
    pub tuning: Tuning,
}

impl ResumeRequest {
    pub fn new(run_id: RunId, data_dir: DataDir, connection: Connection) -> Self {
        ResumeRequest {
            run_id,
            data_dir,
            params: Vec::new(),
            actor: default_actor(),
            concurrency: 32,
            wait_for_approval: true,
            auto_approve: false,
            connection,
            observer: None,
            tuning: Tuning::default(),
        }
    }
}

/// How a start or resume ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: RunId,
    pub status: RunStatus,
    /// The run key named an existing run: this is that run, untouched.
    pub existing: bool,
    /// The run's status snapshot when the call returned.
    pub snapshot: StatusSnapshot,
}

/// The OS user (`$USER`, `$LOGNAME`), or `unknown`.
pub fn default_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

/// Starts a run and drives it to its end (or to an approval wait, with `wait_for_approval`
/// off). With a run key that already names a run, returns that run instead.
pub async fn start(request: RunRequest) -> Result<RunOutcome, Error> {
    let catalog = Catalog::global();
    let source = Source::read(&request.runbook)?;
    let runbook = runbook::check(&source, catalog).map_err(runbook::Error::Invalid)?;
    let mode = runbook.resolve_mode(request.mode)?;
    let params = ParamValues::from_args(&runbook, &request.params)?;
    let plan = Plan::new(&runbook, mode, &params, catalog)?;
    check_client(request.dry_run, &request.connection.client)?;
    let data_dir = request.data_dir.clone();

    let mut run_id = RunId::new();
    if let Some(key) = request.run_key.clone() {
        let dir = data_dir.clone();
        let claim = blocking(move || {
            RunKeys::open(&dir)?
                .claim(&key, run_id)
                .map_err(Error::from_store)
        })
        .await?;
        if let Claim::Existing(existing) = claim {
            if data_dir.run_dir(&existing).is_dir() {
                return existing_run(&data_dir, existing).await;
            }
            // The claimer died before creating its run: this start fulfils the claim.
            run_id = existing;
        }
    }

    let locks = if request.dry_run {
        Vec::new()
    } else {
        plan.locks.clone()
    };
    {
        let (dir, names) = (data_dir.clone(), locks.clone());
        blocking(move || acquire_locks(&dir, &names, run_id)).await?;
    }

    let mut masked_params = std::collections::BTreeMap::new();
    let secret_names: Vec<String> = params.secret_names().map(str::to_owned).collect();
    for (name, value) in params.masked() {
        let value = if secret_names.contains(&name) {
            Value::String(REDACTED.into())
        } else {
            value
        };
        masked_params.insert(name, value);
    }
    let now = Timestamp::now();
    let run = RunRecord {
        run_id,
        runbook_name: runbook.name.clone(),
        runbook_path: request.runbook.display().to_string(),
        runbook_digest: sha256_hex(source.text().as_bytes()),
        runbook_source: source.text().to_owned(),
        mode: mode.map(|m| m.as_str().to_owned()).unwrap_or_default(),
        params: masked_params.clone(),
        secret_params: secret_names,
        status: RunStatus::Pending,
        run_key: request.run_key.clone(),
        actor: request.actor.clone(),
        dry_run: request.dry_run,
        endpoint: request.connection.endpoint.clone(),
        created_at: now,
        started_at: None,
        ended_at: None,
        attempt: 1,
        error: None,
        locks: locks.clone(),
        deadline: request.deadline.and_then(|d| {
            now.checked_add(jiff::SignedDuration::try_from(d).ok()?)
                .ok()
        }),
    };
    let created = {
        let (dir, record) = (data_dir.clone(), run.clone());
        blocking(move || SledStore::create(&dir, &record).map_err(Error::from_store)).await
    };
    let store = match created {
        Ok(store) => store,
        Err(Error::Store(crate::store::Error::RunExists { .. })) if request.run_key.is_some() => {
            // Another start fulfilled the same claim first.
            return existing_run(&data_dir, run_id).await;
        }
        Err(error) => {
            let (dir, names) = (data_dir.clone(), locks);
            let _ = blocking(move || release_locks(&dir, &names, run_id)).await;
            return Err(error);
        }
    };
    let runbook = Arc::new(runbook);
    {
        // Off the run's path: a resume reads it back instead of validating the YAML again.
        let (dir, digest, runbook) = (
            data_dir.clone(),
            run.runbook_digest.clone(),
            Arc::clone(&runbook),
        );
        tokio::task::spawn_blocking(move || compiled::save(&dir, run_id, &digest, &runbook));
    }
    let audit = Arc::new(AuditLog::open(&data_dir)?);
    audit
        .append(AuditEvent {
            actor: request.actor.clone(),
            kind: AuditKind::RunStarted,
            run_id: Some(run_id),
            data: json!({
                "runbook": runbook.name,
                "runbook_digest": run.runbook_digest,
                "mode": run.mode,
                "params": masked_params,
                "dry_run": request.dry_run,
                "endpoint": request.connection.endpoint,
                "run_key": request.run_key,
                "locks": run.locks,
            }),
        })
        .await?;
    let settings = Settings {
        concurrency: request.concurrency,
        dry_run: request.dry_run,
        auto_approve: request.auto_approve,
        actor: request.actor,
        wait_for_approval: request.wait_for_approval,
        connection: request.connection,
        observer: request.observer,
        tuning: request.tuning,
    };
    drive(
        store,
        audit,
        runbook,
        run,
        params,
        Vec::new(),
        data_dir,
        settings,
    )
    .await
}

/// Continues a run that was killed, stopped to wait for an approval, or failed. Completed steps
/// keep their outputs; a failed run's failed, cancelled, skipped and compensated steps run
/// again; the resume counts as a new attempt of the same run.
pub async fn resume(request: ResumeRequest) -> Result<RunOutcome, Error> {
    let data_dir = request.data_dir.clone();
    let run_id = request.run_id;
    let store = {
        let dir = data_dir.clone();
        blocking(move || {
            SledStore::open(&dir, run_id).map_err(|e| match e {
                crate::store::Error::RunNotFound { .. } => Error::RunNotFound {
                    run_id: run_id.to_string(),
                    data_dir: dir.root().to_owned(),
                },
                other => Error::from_store(other),
            })
        })
        .await?
    };
    let mut run = store.load_run()?;
    // The runbook (from the cache, or validated again) on another thread while this one loads
    // the step records: the two are the bulk of a large run's resume.
    let validating = {
        let (dir, digest) = (data_dir.clone(), run.runbook_digest.clone());
        let (name, text) = (run.runbook_path.clone(), run.runbook_source.clone());
        tokio::task::spawn_blocking(move || -> Result<Runbook, Error> {
            if let Some(runbook) = compiled::load(&dir, run_id, &digest) {
                return Ok(runbook);
            }
            let source = Source::new(name, text)?;
            let runbook =
                runbook::check(&source, Catalog::global()).map_err(|d| Error::NotResumable {
                    run_id: run_id.to_string(),
                    reason: format!("its runbook does not validate with this drbook: {d}"),
                })?;
            compiled::save(&dir, run_id, &digest, &runbook);
            Ok(runbook)
        })
    };
    let records = store.load_steps();
    let runbook = validating
        .await
        .map_err(|e| Error::Internal(format!("runbook task: {e}")))??;
    let mut records = records?;
    let params = stored_params(&runbook, &run, &request.params)?;
    check_client(run.dry_run, &request.connection.client)?;

    if run.status == RunStatus::Succeeded {
        let state = RunState::new(
            Arc::new(runbook),
            run,
            params,
            MachineConfig::default(),
            records,
        )?;
        let snapshot = StatusSnapshot::of(&state, None);
        blocking(move || store.close().map_err(Error::from_store)).await?;
        return Ok(RunOutcome {
            run_id,
            status: RunStatus::Succeeded,
            existing: false,
            snapshot,
        });
    }

    let mut batch = Batch::new();
    if run.status.is_terminal() {
        for change in retry_failed(&runbook, &mut records) {
            match change {
                Change::Put(record) => batch.put_step(&record),
                Change::Delete(key) => batch.delete_step(&key),
            };
        }
        run.status = RunStatus::Running;
        run.error = None;
        run.ended_at = None;
    }
    {
        let (dir, names) = (data_dir.clone(), run.locks.clone());
        blocking(move || acquire_locks(&dir, &names, run_id)).await?;
    }
    run.attempt += 1;
    batch.put_run(&run);
    store.commit(batch).await?;
    let audit = Arc::new(AuditLog::open(&data_dir)?);
    audit
        .append(AuditEvent {
            actor: request.actor.clone(),
            kind: AuditKind::RunResumed,
            run_id: Some(run_id),
            data: json!({"attempt": run.attempt, "endpoint": request.connection.endpoint}),
        })
        .await?;
    let settings = Settings {
        concurrency: request.concurrency,
        dry_run: run.dry_run,
        auto_approve: request.auto_approve,
        actor: request.actor,
        wait_for_approval: request.wait_for_approval,
        connection: request.connection,
        observer: request.observer,
        tuning: request.tuning,
    };
    drive(
        store,
        audit,
        Arc::new(runbook),
        run,
        params,
        records,
        data_dir,
        settings,
    )
    .await
}

struct Settings {
    concurrency: usize,
    dry_run: bool,
    auto_approve: bool,
    actor: String,
    wait_for_approval: bool,
    connection: Connection,
    observer: Option<Observer>,
    tuning: Tuning,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one internal call site each from start and resume"
)]
async fn drive(
    store: SledStore,
    audit: Arc<AuditLog>,
    runbook: Arc<Runbook>,
    run: RunRecord,
    params: ParamValues,
    records: Vec<StepRecord>,
    data_dir: DataDir,
    settings: Settings,
) -> Result<RunOutcome, Error> {
    let run_id = run.run_id;
    let driver = {
        let dir = data_dir.clone();
        blocking(move || DriverLock::acquire(&dir, run_id)).await?
    };
    let config = MachineConfig {
        concurrency: settings.concurrency.max(1),
        dry_run: settings.dry_run,
        auto_approve: settings.auto_approve.then(|| AutoApprove {
            actor: settings.actor.clone(),
            enforce_approvers: !settings.connection.emulator,
        }),
        project_id: settings.connection.client.project_id().to_owned(),
        throttle: settings.tuning.throttle.clone(),
    };
    let state = RunState::new(runbook, run, params, config, records)?;
    let store = Arc::new(store);
    let executor = Executor::new(
        state,
        Arc::clone(&store),
        audit,
        settings.connection.client.clone(),
        data_dir.clone(),
        ExecutorConfig {
            polling: settings.tuning.polling,
            settle: settings.tuning.settle,
            wait_for_approval: settings.wait_for_approval,
            ..ExecutorConfig::default()
        },
        settings.observer,
    );
    let result = executor.run().await;
    if let Ok(store) = Arc::try_unwrap(store) {
        blocking(move || store.close().map_err(Error::from_store)).await?;
    }
    drop(driver);
    let (state, stopped) = result?;
    let status = match stopped {
        Stopped::Finished(status) => status,
        Stopped::WaitingApproval => RunStatus::WaitingApproval,
    };
    Ok(RunOutcome {
        run_id,
        status,
        existing: false,
        snapshot: StatusSnapshot::of(&state, None),
    })
}

async fn existing_run(data_dir: &DataDir, run_id: RunId) -> Result<RunOutcome, Error> {
    let dir = data_dir.clone();
    let snapshot = blocking(move || status::read(&dir, run_id)).await?;
    let snapshot = match snapshot {
        Some(snapshot) => snapshot,
        None => {
            // No snapshot yet: read the run record (the database is free unless a process
            // drives the run, which writes a snapshot first thing).
            let dir = data_dir.clone();
            blocking(move || {
                let store = SledStore::open(&dir, run_id).map_err(Error::from_store)?;
                let run = store.load_run()?;
                store.close()?;
                Ok(StatusSnapshot::of_record(&run))
            })
            .await?
        }
    };
    Ok(RunOutcome {
        run_id,
        status: snapshot.status,
        existing: true,
        snapshot,
    })
}

fn check_client(dry_run: bool, client: &Client) -> Result<(), Error> {
    if dry_run && !client.is_read_only() {
        return Err(Error::Internal(
            "a dry run needs a read-only client (Client::builder(..).read_only(true))".into(),
        ));
    }
    Ok(())
}

/// Takes the run's locks. A lock still held by a run that has ended (its process died between
/// the end and the release) is stale and taken over; a lock of a live or unfinished run refuses
/// the start with the holder's id.
fn acquire_locks(data_dir: &DataDir, names: &[String], run_id: RunId) -> Result<(), Error> {
    if names.is_empty() {
        return Ok(());
    }
    let locks = Locks::open(data_dir)?;
    for _ in 0..=names.len() {
        match locks.acquire_all(names.iter().map(String::as_str), run_id) {
            Ok(_) => return Ok(()),
            Err(crate::store::Error::Locked { name, holder }) => {
                let stale = holder.parse::<RunId>().ok().is_some_and(|holder| {
                    !inbox::is_driven(data_dir, holder)
                        && matches!(status::read(data_dir, holder), Ok(Some(s)) if s.status.is_terminal())
                });
                if !stale {
                    return Err(Error::Locked { name, holder });
                }
                tracing::warn!(lock = %name, %holder, "taking over a lock left by an ended run");
                locks.break_lock(&name)?;
            }
            Err(other) => return Err(Error::from_store(other)),
        }
    }
    Err(Error::Internal("could not take the run's locks".into()))
}

fn release_locks(data_dir: &DataDir, names: &[String], run_id: RunId) -> Result<(), Error> {
    let locks = Locks::open(data_dir)?;
    for name in names {
        locks.release(name, run_id)?;
    }
    Ok(())
}

/// The params of a stored run, with the secret ones given again.
fn stored_params(
    runbook: &Runbook,
    run: &RunRecord,
    given: &[String],
) -> Result<ParamValues, Error> {
    let mut values: Vec<(String, Value)> = run
        .params
        .iter()
        .filter(|(name, _)| !run.secret_params.contains(name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let mut secrets: Map<String, Value> = Map::new();
    for arg in given {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(
                runbook::Error::Params(vec![format!("`{arg}` is not `name=value`")]).into(),
            );
        };
        let name = name.trim();
        if !run.secret_params.iter().any(|s| s == name) {
            return Err(runbook::Error::Params(vec![format!(
                "param `{name}` is not a secret param of this run; a resumed run keeps the params it started with"
            )])
            .into());
        }
        secrets.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let missing: Vec<String> = run
        .secret_params
        .iter()
        .filter(|n| !secrets.contains_key(*n))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingSecrets {
            run_id: run.run_id.to_string(),
            names: missing,
        });
    }
    values.extend(secrets);
    Ok(ParamValues::from_values(runbook, values)?)
}

enum Change {
    Put(Box<StepRecord>),
    Delete(StepKey),
}

/// Prepares a failed run for another go: completed steps stay, everything else runs again.
fn retry_failed(runbook: &Runbook, records: &mut [StepRecord]) -> Vec<Change> {
    let fan_steps: std::collections::HashSet<&str> = runbook
        .steps
        .iter()
        .filter(|s| s.for_each.is_some())
        .map(|s| s.id.as_str())
        .collect();
    let succeeded_items: std::collections::HashSet<String> = records
        .iter()
        .filter(|r| r.item.is_some() && r.status == StepStatus::Succeeded)
        .map(|r| r.step_id.clone())
        .collect();
    let mut changes = Vec::new();
    for record in records.iter_mut() {
        match record.status {
            StepStatus::Succeeded => continue,
            StepStatus::CompensationFailed => {
                // Its undo failed, so what it did still stands.
                record.status = StepStatus::Succeeded;
                record.compensation = None;
            }
            _ => {
                let key = record.key();
                let parent_keeps_items = record.item.is_none()
                    && fan_steps.contains(record.step_id.as_str())
                    && succeeded_items.contains(&record.step_id);
                let mut fresh = StepRecord::pending(&key);
                if parent_keeps_items {
                    fresh.status = StepStatus::Running;
                    fresh.started_at = record.started_at;
                }
                if record.item.is_some() && !succeeded_items.contains(&record.step_id) {
                    changes.push(Change::Delete(key));
                    *record = fresh;
                    continue;
                }
                *record = fresh;
            }
        }
        changes.push(Change::Put(Box::new(record.clone())));
    }
    changes
}

/// What became of an operator command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandReceipt {
    /// The driving process handled it.
    Answered(Reply),
    /// No process drives the run (or it did not answer in time): the command waits in the
    /// inbox; `drbook resume` applies it.
    Queued { id: String },
}

/// Sends an operator command (approve / reject) to a run, and waits up to `wait` for the
/// driving process to answer it.
pub fn send_command(
    data_dir: &DataDir,
    run_id: RunId,
    command: &OperatorCommand,
    wait: Duration,
) -> Result<CommandReceipt, Error> {
    let driven = inbox::is_driven(data_dir, run_id);
    if let Some(snapshot) = status::read(data_dir, run_id)? {
        if snapshot.status.is_terminal() {
            return Err(Error::Command(format!(
                "run {run_id} has ended ({}); there is nothing to approve",
                snapshot.status_name()
            )));
        }
        if !snapshot.steps.is_empty() && !snapshot.steps.iter().any(|s| s.id == command.step) {
            return Err(Error::Command(format!(
                "run {run_id} has no step `{}`",
                command.step
            )));
        }
        if !driven {
            // Nobody will answer now: check what the snapshot can tell, so that a mistake is
            // reported at once instead of at the next resume.
            match snapshot
                .waiting_approvals
                .iter()
                .find(|w| w.step == command.step)
            {
                None => {
                    return Err(Error::Command(format!(
                        "step `{}` of run {run_id} is not waiting for approval",
                        command.step
                    )));
                }
                Some(w) if !w.approvers.is_empty() && !w.approvers.contains(&command.actor) => {
                    return Err(Error::Command(format!(
                        "`{}` is not among the approvers of `{}` ({})",
                        command.actor,
                        command.step,
                        w.approvers.join(", ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let id = inbox::submit(data_dir, run_id, command)?;
    if !driven {
        return Ok(CommandReceipt::Queued { id });
    }
    let started = std::time::Instant::now();
    while started.elapsed() < wait {
        if let Some(reply) = inbox::read_reply(data_dir, run_id, &id) {
            return Ok(CommandReceipt::Answered(reply));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(CommandReceipt::Queued { id })
}

/// A run's status snapshot (without opening its database). `Ok(None)` for a run that has not
/// written one yet.
pub fn read_status(data_dir: &DataDir, run_id: RunId) -> Result<Option<StatusSnapshot>, Error> {
    status::read(data_dir, run_id)
}
