//! The engine's public entry points: [`start`] a run, [`resume`] one (also to rerun it from a
//! step, or to abort it when no process drives it), [`send_command`] to one (approve / reject /
//! skip / abort), [`skip_stopped`] a step of a run nobody drives, [`record_verb`] in the audit
//! log, and read one: [`read_status`] (the snapshot) and [`read_run`] (the database of a run
//! nobody drives). The CLI is a thin layer over these; the scheduler and the run report use them
//! too.
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
use super::inbox::{self, DriverLock, OperatorCommand, Reply, Verb};
use super::machine::{OPERATOR_ABORT_PREFIX, is_operator_skip, mark_operator_skip};
use super::reconcile::Settle;
use super::retry::ThrottlePolicy;
use super::state::{AutoApprove, MachineConfig, RunState};
use super::status::{self, StatusSnapshot};
use crate::runbook::{self, Mode, ParamValues, Plan, Runbook, Source};
use crate::sdrs::Client;
use crate::store::audit::{AuditEvent, AuditKind, AuditLog};
use crate::store::locks::Locks;
use crate::store::records::{
    EventRecord, RunRecord, RunStatus, StepKey, StepRecord, StepStatus, StoredEvent, sha256_hex,
};
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
    /// The new run's id (a fresh one when `None`). Knowing it before `start` returns lets the
    /// caller follow the run's status snapshot while `start` drives it (the CLI's progress bar).
    /// Ignored when the run key names an existing run.
    pub run_id: Option<RunId>,
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
            run_id: None,
        }
    }
}

/// What a resume does before it continues the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ResumeAction {
    /// Continue where the run stopped (`drbook resume`).
    #[default]
    Continue,
    /// `drbook rerun RUN --from STEP --reason ...`: on a finished run, reset STEP and every step
    /// after it (its descendants through `needs` and failure handlers) to pending, keep the
    /// outputs of the steps before it, then continue (a new attempt of the same run).
    RerunFrom { step: String, reason: String },
    /// `drbook abort RUN --reason ...` of a run no process drives: mark it aborted, then drive
    /// it through cancellation and compensation (calls that were in flight are reconciled
    /// first, as after a crash).
    Abort { reason: String },
}

/// What `drbook resume` asks for.
#[derive(Clone)]
pub struct ResumeRequest {
    pub run_id: RunId,
    /// Continue, rerun from a step, or abort.
    pub action: ResumeAction,
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
            action: ResumeAction::Continue,
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

    let mut run_id = request.run_id.unwrap_or_default();
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
        Err(error) => return Err(error),
    };
    // The locks are taken only once the run exists, so that every lock names a run whose
    // directory exists: a start killed in between leaves a pending run that `resume` finishes
    // (it takes the locks), never a lock whose holder nobody can find.
    {
        let (dir, names) = (data_dir.clone(), locks.clone());
        if let Err(error) = blocking(move || acquire_locks(&dir, &names, run_id)).await {
            discard_unstarted(store, &data_dir, run_id).await;
            return Err(error);
        }
    }
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
/// keep their outputs; a failed run's failed, cancelled and skipped steps run again; the resume
/// counts as a new attempt of the same run. A run that ended rolled back (compensation undid
/// some of its steps) is refused with [`Error::NotResumable`]: start a new run instead.
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
    let audit = Arc::new(AuditLog::open(&data_dir)?);
    let mut batch = Batch::new();
    let now = Timestamp::now();

    match &request.action {
        ResumeAction::Continue => {
            audit
                .append(verb_event(&request.actor, run_id, "resume", None, None))
                .await?;
        }
        ResumeAction::RerunFrom { step, reason } => {
            if !run.status.is_terminal() {
                return Err(Error::Command(format!(
                    "run {run_id} is {}; `rerun --from` needs a finished run (resume or abort it first)",
                    run.status.as_str()
                )));
            }
            let reset = rerun_set(&runbook, &run, step)?;
            audit
                .append(verb_event(
                    &request.actor,
                    run_id,
                    "rerun",
                    Some(step),
                    Some(reason),
                ))
                .await?;
            records.retain(|r| {
                let gone = r.item.is_some() && reset.contains(&r.step_id);
                if gone {
                    batch.delete_step(&r.key());
                }
                !gone
            });
            for record in records.iter_mut().filter(|r| reset.contains(&r.step_id)) {
                *record = StepRecord::pending(&record.key());
                batch.put_step(record);
            }
            batch.append_event(&EventRecord {
                time: now,
                kind: "operator.rerun".into(),
                step: Some(step.clone()),
                data: json!({"actor": request.actor, "reason": reason, "reset": reset}),
            });
        }
        ResumeAction::Abort { reason } => {
            if run.status.is_terminal() {
                return Err(Error::Command(format!(
                    "run {run_id} has ended ({}); there is nothing to abort",
                    run.status.as_str()
                )));
            }
            audit
                .append(verb_event(
                    &request.actor,
                    run_id,
                    "abort",
                    None,
                    Some(reason),
                ))
                .await?;
            // A run that is already stopping keeps its reason and finishes its compensation.
            if run.status != RunStatus::Compensating && run.error.is_none() {
                // The state rebuilt from this record is draining: calls in flight are
                // reconciled, everything else is cancelled, then completed steps compensated.
                run.error = Some(format!(
                    "{OPERATOR_ABORT_PREFIX}{}: {reason}",
                    request.actor
                ));
                batch.append_event(&EventRecord {
                    time: now,
                    kind: "run.abort".into(),
                    step: None,
                    data: json!({"reason": run.error, "actor": request.actor}),
                });
            }
        }
    }

    if run.status == RunStatus::Succeeded && request.action == ResumeAction::Continue {
        let state_locks = run.locks.clone();
        let state = RunState::new(
            Arc::new(runbook),
            run,
            params,
            MachineConfig::default(),
            records,
        )?;
        let snapshot = StatusSnapshot::of(&state, None);
        blocking(move || store.close().map_err(Error::from_store)).await?;
        // A process killed between committing the end of the run and releasing its locks (or
        // writing its last snapshot) left them behind: finish that job now.
        let (dir, names, last) = (data_dir.clone(), state_locks, snapshot.clone());
        blocking(move || {
            release_own_locks(&dir, &names, run_id)?;
            status::write(&dir, &last)
        })
        .await?;
        return Ok(RunOutcome {
            run_id,
            status: RunStatus::Succeeded,
            existing: false,
            snapshot,
        });
    }

    if run.status.is_terminal() {
        // After a `rerun --from` reset, the records checked are the ones the rerun keeps.
        refuse_rolled_back(&run, &records)?;
    }
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
/// the end and the release), or by a run whose directory does not exist (a start of an older
/// drbook killed before it created its run, or a run removed by hand), is stale and taken
/// over; a lock of a live or unfinished run refuses the start with the holder's id. Since a
/// run takes its locks only after its directory exists, a missing directory never belongs to
/// a start still under way.
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
                        && (!data_dir.run_dir(&holder).exists()
                            || matches!(status::read(data_dir, holder), Ok(Some(s)) if s.status.is_terminal()))
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

/// Releases the locks `names` that `run_id` still holds; a lock another run took over since
/// is left alone.
fn release_own_locks(data_dir: &DataDir, names: &[String], run_id: RunId) -> Result<(), Error> {
    if names.is_empty() {
        return Ok(());
    }
    let locks = Locks::open(data_dir)?;
    for name in names {
        match locks.release(name, run_id) {
            Ok(_) | Err(crate::store::Error::Locked { .. }) => {}
            Err(other) => return Err(Error::from_store(other)),
        }
    }
    Ok(())
}

/// Removes a run whose start was refused (its locks are held by another run) before any step
/// ran, so that a refused start leaves nothing behind. The directory is first renamed out of
/// the runs' namespace (`runs/.refused-<id>`, which run listings ignore), so a crash halfway
/// through removing it leaves no half-deleted run. Failing to remove it is only logged: the
/// run stays `pending`, and `resume` would try its locks again.
async fn discard_unstarted(store: SledStore, data_dir: &DataDir, run_id: RunId) {
    let dir = data_dir.clone();
    let removed = blocking(move || {
        store.close()?;
        let run_dir = dir.run_dir(&run_id);
        let doomed = dir.runs_dir().join(format!(".refused-{run_id}"));
        std::fs::rename(&run_dir, &doomed).map_err(|e| Error::io(&run_dir, e))?;
        std::fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e))
    })
    .await;
    if let Err(error) = removed {
        tracing::warn!(%run_id, %error, "cannot remove a run whose start was refused");
    }
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

/// A run that ended after compensation undid some of its steps cannot continue: an undo (e.g.
/// deleting a drill, hung on the step that learnt its id) reverses what earlier steps did (the
/// drill's creation), and those steps are recorded as completed with outputs that name things
/// that no longer exist. Re-running only the undone steps would wait on stale jobs and act on
/// deleted resources, so the resume is refused and the operator starts a new run.
fn refuse_rolled_back(run: &RunRecord, records: &[StepRecord]) -> Result<(), Error> {
    let mut undone: Vec<&str> = records
        .iter()
        .filter(|r| r.status == StepStatus::Compensated)
        .map(|r| r.step_id.as_str())
        .collect();
    undone.dedup();
    if undone.is_empty() {
        return Ok(());
    }
    Err(Error::NotResumable {
        run_id: run.run_id.to_string(),
        reason: format!(
            "it was rolled back: compensation undid {}, so the outputs of its completed steps no longer describe the world; start a new run (`drbook run {}`)",
            undone
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            run.runbook_path
        ),
    })
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
            // An operator decided this step is not to run; a retry does not overrule that.
            StepStatus::Skipped if is_operator_skip(record) => continue,
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

/// Sends an operator command (approve / reject / skip / abort) to a run, and waits up to `wait`
/// for the driving process to answer it (a reply found by the last look, just after `wait`, still
/// counts: callers need not look again). The command is recorded in the audit log
/// (`operator.verb`) before it is sent.
///
/// `skip` and `abort` need a driving process to apply them now: when none drives the run they
/// are refused with [`Error::NotDriven`] (use [`skip_stopped`], or [`resume`] with
/// [`ResumeAction::Abort`]).
pub fn send_command(
    data_dir: &DataDir,
    run_id: RunId,
    command: &OperatorCommand,
    wait: Duration,
) -> Result<CommandReceipt, Error> {
    let driven = inbox::is_driven(data_dir, run_id);
    let gate = matches!(command.verb, Verb::Approve | Verb::Reject);
    if !gate && !driven {
        return Err(Error::NotDriven {
            run_id: run_id.to_string(),
        });
    }
    if let Some(snapshot) = status::read(data_dir, run_id)? {
        if snapshot.status.is_terminal() {
            return Err(Error::Command(format!(
                "run {run_id} has ended ({}); there is nothing to {}",
                snapshot.status_name(),
                command.verb.as_str()
            )));
        }
        if command.verb != Verb::Abort
            && !snapshot.steps.is_empty()
            && !snapshot.steps.iter().any(|s| s.id == command.step)
        {
            return Err(Error::StepNotFound {
                run_id: run_id.to_string(),
                step: command.step.clone(),
            });
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
    AuditLog::open(data_dir)?.append_blocking(verb_event(
        &command.actor,
        run_id,
        command.verb.as_str(),
        (!command.step.is_empty()).then_some(command.step.as_str()),
        command.comment.as_deref(),
    ))?;
    let id = inbox::submit(data_dir, run_id, command)?;
    if !driven {
        return Ok(CommandReceipt::Queued { id });
    }
    let started = std::time::Instant::now();
    loop {
        // Read once more after the wait ran out: a reply that landed during the last sleep (the
        // driving process may even have ended since) still counts as the answer.
        let waited = started.elapsed() >= wait;
        if let Some(reply) = inbox::read_reply(data_dir, run_id, &id) {
            return Ok(CommandReceipt::Answered(reply));
        }
        if waited {
            return Ok(CommandReceipt::Queued { id });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A run's status snapshot (without opening its database). `Ok(None)` for a run that has not
/// written one yet.
pub fn read_status(data_dir: &DataDir, run_id: RunId) -> Result<Option<StatusSnapshot>, Error> {
    status::read(data_dir, run_id)
}

/// The audit entry of an operator verb: who asked what, about which run and step, and why.
fn verb_event(
    actor: &str,
    run_id: RunId,
    verb: &str,
    step: Option<&str>,
    reason: Option<&str>,
) -> AuditEvent {
    AuditEvent {
        actor: actor.to_owned(),
        kind: AuditKind::OperatorVerb,
        run_id: Some(run_id),
        data: json!({"verb": verb, "run": run_id.to_string(), "step": step, "reason": reason}),
    }
}

/// Records an operator verb in the audit log (`operator.verb`), before the verb acts. The
/// engine's own verbs (`send_command`, `skip_stopped`, rerun and abort through `resume`) call
/// it themselves.
pub fn record_verb(
    data_dir: &DataDir,
    actor: &str,
    run_id: RunId,
    verb: &str,
    step: Option<&str>,
    reason: Option<&str>,
) -> Result<(), Error> {
    AuditLog::open(data_dir)?.append_blocking(verb_event(actor, run_id, verb, step, reason))?;
    Ok(())
}

/// The steps `rerun --from STEP` resets: STEP and everything downstream of it, through `needs`
/// and failure handlers.
fn rerun_set(runbook: &Runbook, run: &RunRecord, from: &str) -> Result<Vec<String>, Error> {
    let mode: Option<Mode> = run.mode.parse().ok();
    let Some(start) = runbook.steps.iter().find(|s| s.id == from) else {
        return Err(Error::StepNotFound {
            run_id: run.run_id.to_string(),
            step: from.to_owned(),
        });
    };
    if !start.is_active_in(mode) {
        return Err(Error::Command(format!(
            "step `{from}` does not run in mode {}",
            run.mode
        )));
    }
    let mut reset: Vec<String> = vec![from.to_owned()];
    let mut i = 0;
    while i < reset.len() {
        let current = reset[i].clone();
        for step in &runbook.steps {
            if !step.is_active_in(mode) || reset.contains(&step.id) {
                continue;
            }
            let needs = step.needs.contains(&current);
            let handles = runbook.steps.iter().any(|s| {
                s.id == current
                    && matches!(super::state::effective_policy(s, mode).0,
                        crate::runbook::OnFailure::Handler(ref h) if *h == step.id)
            });
            if needs || handles {
                reset.push(step.id.clone());
            }
        }
        i += 1;
    }
    Ok(reset)
}

/// A stopped run as its database holds it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run: RunRecord,
    pub steps: Vec<StepRecord>,
    pub events: Vec<StoredEvent>,
    /// The run's runbook, parsed from the source stored with the run (`None` if this drbook no
    /// longer accepts it).
    pub runbook: Option<Runbook>,
}

impl RunView {
    /// The status view of the run (what `drbook status` shows).
    pub fn snapshot(&self) -> StatusSnapshot {
        match &self.runbook {
            Some(runbook) => StatusSnapshot::from_records(&self.run, runbook, &self.steps),
            None => StatusSnapshot::of_record(&self.run),
        }
    }
}

/// Reads a run from its database (blocking). Fails with [`Error::InUse`] while a process drives
/// the run: read [`read_status`] then.
pub fn read_run(data_dir: &DataDir, run_id: RunId) -> Result<RunView, Error> {
    let store = open_store(data_dir, run_id)?;
    let read = (|| -> Result<RunView, Error> {
        let run = store.load_run()?;
        let steps = store.load_steps()?;
        let events = store.load_events(0)?;
        let runbook = Source::new(run.runbook_path.clone(), run.runbook_source.clone())
            .ok()
            .and_then(|source| runbook::check(&source, Catalog::global()).ok());
        Ok(RunView {
            run,
            steps,
            events,
            runbook,
        })
    })();
    store.close().map_err(Error::from_store)?;
    read
}

fn open_store(data_dir: &DataDir, run_id: RunId) -> Result<SledStore, Error> {
    SledStore::open(data_dir, run_id).map_err(|e| match e {
        crate::store::Error::RunNotFound { .. } => Error::RunNotFound {
            run_id: run_id.to_string(),
            data_dir: data_dir.root().to_owned(),
        },
        other => Error::from_store(other),
    })
}

/// `drbook skip RUN STEP --reason ...` for a run no process drives (killed, stopped at an
/// approval with `--no-wait`, or failed): marks the step skipped in the database, durably, after
/// recording the verb in the audit log. The run goes on with `drbook resume` (a failed run's
/// retry keeps the step skipped). Returns a message for the operator.
///
/// Refused for a step that succeeded, is still in flight (resume the run first), or whose
/// `for_each` items started.
pub async fn skip_stopped(
    data_dir: &DataDir,
    run_id: RunId,
    step: &str,
    actor: &str,
    reason: &str,
) -> Result<String, Error> {
    let store = {
        let dir = data_dir.clone();
        blocking(move || open_store(&dir, run_id)).await?
    };
    let result = skip_in_store(&store, data_dir, run_id, step, actor, reason).await;
    blocking(move || store.close().map_err(Error::from_store)).await?;
    result
}

async fn skip_in_store(
    store: &SledStore,
    data_dir: &DataDir,
    run_id: RunId,
    step: &str,
    actor: &str,
    reason: &str,
) -> Result<String, Error> {
    let run = store.load_run()?;
    let source = Source::new(run.runbook_path.clone(), run.runbook_source.clone())?;
    let runbook = runbook::check(&source, Catalog::global()).map_err(runbook::Error::Invalid)?;
    let mode: Option<Mode> = run.mode.parse().ok();
    let Some(def) = runbook.steps.iter().find(|s| s.id == step) else {
        return Err(Error::StepNotFound {
            run_id: run_id.to_string(),
            step: step.to_owned(),
        });
    };
    if !def.is_active_in(mode) {
        return Err(Error::Command(format!(
            "step `{step}` does not run in mode {}",
            run.mode
        )));
    }
    if run.status == RunStatus::Succeeded {
        return Err(Error::Command(format!(
            "run {run_id} succeeded; there is nothing to skip"
        )));
    }
    if !run.status.is_terminal() && (run.error.is_some() || run.status == RunStatus::Compensating) {
        return Err(Error::Command(format!(
            "run {run_id} is stopping ({}); resume it to finish, then rerun",
            run.error.as_deref().unwrap_or("compensating")
        )));
    }
    let key = StepKey::single(step);
    let mut record = store
        .get_step(&key)?
        .unwrap_or_else(|| StepRecord::pending(&key));
    let steps = store.load_steps()?;
    if steps.iter().any(|r| r.step_id == step && r.item.is_some()) {
        return Err(Error::Command(format!(
            "step `{step}` has started its for_each items; a fan-out cannot be skipped once started"
        )));
    }
    match record.status {
        StepStatus::Pending
        | StepStatus::Failed
        | StepStatus::Cancelled
        | StepStatus::Compensated
        | StepStatus::WaitingApproval
        | StepStatus::Retrying => {}
        StepStatus::Skipped if !is_operator_skip(&record) => {}
        StepStatus::Running | StepStatus::WaitingJob | StepStatus::Compensating => {
            return Err(Error::Command(format!(
                "step `{step}` was in flight when the run stopped; resume the run, then skip it while it runs"
            )));
        }
        other => {
            return Err(Error::Command(format!(
                "step `{step}` is {}; it cannot be skipped",
                other.as_str()
            )));
        }
    }
    AuditLog::open(data_dir)?
        .append(verb_event(actor, run_id, "skip", Some(step), Some(reason)))
        .await?;
    let now = Timestamp::now();
    mark_operator_skip(&mut record, actor, reason, now);
    let mut batch = Batch::new();
    batch.put_step(&record);
    batch.append_event(&EventRecord {
        time: now,
        kind: "step.status".into(),
        step: Some(step.to_owned()),
        data: json!({"status": "skipped", "reason": reason, "actor": actor}),
    });
    store.commit(batch).await?;
    Ok(format!(
        "step `{step}` of run {run_id} skipped by {actor}; continue the run with `drbook resume {run_id}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (Runbook, RunRecord) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/runbooks/ok/handlers.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let source = Source::new(path, text.clone()).unwrap();
        let runbook = runbook::check(&source, Catalog::global()).unwrap();
        let run: RunRecord = serde_json::from_value(json!({
            "run_id": RunId::new(), "runbook_name": "handlers", "runbook_path": path,
            "runbook_digest": "", "runbook_source": text, "mode": "", "status": "failed",
            "actor": "alice", "dry_run": false, "endpoint": "x",
            "created_at": "2026-01-01T00:00:00Z", "attempt": 1
        }))
        .unwrap();
        (runbook, run)
    }

    #[test]
    fn rerun_from_a_step_takes_its_descendants_and_its_failure_handler() {
        let (runbook, run) = fixture();
        let mut reset = rerun_set(&runbook, &run, "start_protection").unwrap();
        reset.sort();
        assert_eq!(
            reset,
            [
                "clean_failure_jobs",
                "optional_note",
                "start_protection",
                "wait_start"
            ]
        );
        assert_eq!(
            rerun_set(&runbook, &run, "wait_start").unwrap(),
            ["wait_start", "optional_note"]
        );
        assert_eq!(
            rerun_set(&runbook, &run, "optional_note").unwrap(),
            ["optional_note"]
        );
    }

    #[test]
    fn rerun_from_an_unknown_step_is_not_found() {
        let (runbook, run) = fixture();
        let error = rerun_set(&runbook, &run, "nope").unwrap_err();
        assert!(matches!(error, Error::StepNotFound { .. }), "{error}");
    }

    #[test]
    fn a_retry_keeps_an_operator_skip_and_resets_the_engine_s_skips() {
        let (runbook, _) = fixture();
        let mut by_operator = StepRecord::pending(&StepKey::single("start_protection"));
        super::super::machine::mark_operator_skip(
            &mut by_operator,
            "alice",
            "done by hand",
            Timestamp::UNIX_EPOCH,
        );
        let mut by_engine = StepRecord::pending(&StepKey::single("wait_start"));
        by_engine.status = StepStatus::Skipped;
        by_engine.skip_reason = Some("needs `start_protection`, which failed".into());
        let mut records = vec![by_operator.clone(), by_engine];
        let changes = retry_failed(&runbook, &mut records);
        assert_eq!(records[0], by_operator);
        assert_eq!(records[1].status, StepStatus::Pending);
        assert_eq!(changes.len(), 1);
    }
}
