//! Run reports: one self-contained document per run that a compliance officer can read without
//! drbook, built only from what the store holds (the run record with its runbook source, the step
//! records, the event history) and the audit log's chain status.
//!
//! [`Report`] is the data (serialised as-is by `drbook report --format json`); [`html::render`]
//! draws it as one HTML file with inline CSS and an inline SVG of the DAG (no script, font or
//! network access), and [`markdown::render`] writes the same content for a pull request or a wiki
//! (the DAG as a Mermaid flowchart). The runbook is validated again from the stored source to get
//! the DAG, so a report never depends on the runbook file still being where the run found it.
//!
//! Nothing here writes to a run: [`load`] opens the run's database read-only in practice (it only
//! reads records) and closes it again; a run that another process is driving is refused with
//! [`Error::Store`] carrying the store's `InUse` error.
//!
//! ```
//! use drbook::report::{self, Report};
//! use drbook::store::records::{RunRecord, RunStatus};
//! use drbook::store::{DataDir, RunId, SledStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let temp = tempfile::tempdir()?;
//! let data_dir = DataDir::new(temp.path());
//! # let run = RunRecord {
//! #     run_id: RunId::new(), runbook_name: "dr-drill".into(),
//! #     runbook_path: "runbooks/dr-drill.yaml".into(),
//! #     runbook_digest: drbook::store::records::sha256_hex(b""), runbook_source: String::new(),
//! #     mode: "drill".into(), params: Default::default(), secret_params: Vec::new(),
//! #     status: RunStatus::Succeeded, run_key: None, actor: "alice".into(), dry_run: false,
//! #     endpoint: "emulator".into(), created_at: jiff::Timestamp::now(), started_at: None,
//! #     ended_at: None, attempt: 1, error: None, locks: Vec::new(), deadline: None,
//! # };
//! # SledStore::create(&data_dir, &run)?.close()?;
//! let run_id = report::resolve_run(&data_dir, &run.run_id.to_string())?;
//! let report: Report = report::load(&data_dir, run_id, jiff::Timestamp::now())?;
//! let page = report::html::render(&report);
//! assert!(page.starts_with("<!DOCTYPE html>"));
//! # Ok(())
//! # }
//! ```

mod build;
pub mod dag;
mod escape;
mod format;
pub mod html;
pub mod markdown;
pub mod rto;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::store::audit::{Anchor, AuditEntry, AuditLog, Problem, Since, Verification};
use crate::store::records::{
    Attempt, RunRecord, RunStatus, StepRecord, StepStatus, StoredEvent, Verdict,
};
use crate::store::{DataDir, RunId, SledStore, Store};

pub use build::build;

/// The version of the JSON shape of [`Report`]; raised when a field changes meaning or goes.
pub const REPORT_FORMAT: u32 = 1;

/// What a secret param value shows as in every report format.
pub const SECRET_MASK: &str = "***";

/// Errors of the report layer.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum Error {
    /// No run matches the id or prefix given.
    #[error("no run `{given}` in {}", data_dir.display())]
    #[diagnostic(
        code(drbook::report::run_not_found),
        help(
            "list the runs under <data-dir>/runs/, or pass the data directory the run used with --data-dir"
        )
    )]
    RunNotFound {
        /// What the user typed.
        given: String,
        /// The data directory searched.
        data_dir: PathBuf,
    },
    /// A prefix matches several runs.
    #[error("`{given}` matches {} runs: {}", matches.len(), matches.join(", "))]
    #[diagnostic(
        code(drbook::report::ambiguous_run),
        help("give more characters of the run id")
    )]
    AmbiguousRun {
        /// What the user typed.
        given: String,
        /// The runs it matches (newest first).
        matches: Vec<String>,
    },
    /// The run's database could not be opened or read (in use by a live run, damaged, ...).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] crate::store::Error),
}

impl Error {
    /// Whether the run is being driven by another process right now.
    pub fn is_in_use(&self) -> bool {
        matches!(self, Error::Store(crate::store::Error::InUse { .. }))
    }
}

/// Everything a run report shows. Serialised as-is by `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub report_format: u32,
    /// When the report was generated.
    pub generated_at: Timestamp,
    /// `drbook <version>`.
    pub generated_by: String,
    /// The run as a whole.
    pub run: RunInfo,
    /// The runbook the run executed.
    pub runbook: RunbookInfo,
    /// Param values; secrets show as [`SECRET_MASK`].
    pub params: Vec<ParamRow>,
    /// Decisions taken on approval gates, in time order.
    pub approvals: Vec<ApprovalRow>,
    /// The step DAG coloured by outcome.
    pub dag: Dag,
    /// Step records (one per step, one per `for_each` item), in plan order.
    pub steps: Vec<StepRow>,
    /// How many step records ended in each status.
    pub step_counts: BTreeMap<String, u64>,
    /// Asynchronous SDRS and ECS jobs the run started.
    pub jobs: Vec<JobRow>,
    /// The recovery time achieved.
    pub rto: rto::Rto,
    /// The audit log's chain status when the report was generated.
    pub audit: AuditStatus,
    /// Events recorded in the run's history.
    pub event_count: u64,
}

/// The run record, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: RunId,
    pub status: RunStatus,
    /// The DR mode, or empty for a runbook without modes.
    pub mode: String,
    /// Who started the run.
    pub actor: String,
    pub dry_run: bool,
    /// The SDRS endpoint, as the run described it (no secrets).
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_key: Option<String>,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// From creation to the end (or to the report, for a run that has not ended), in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How many times the run was executed (1 + resumes).
    pub executions: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Protection groups the run locked.
    pub locks: Vec<String>,
}

/// The runbook as stored with the run.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookInfo {
    pub name: String,
    /// The path given on the command line when the run started.
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// SHA-256 (hex) of the runbook file, as recorded when the run started.
    pub digest: String,
    /// Whether the stored source still hashes to `digest`.
    pub digest_verified: bool,
    /// The runbook source the run executed.
    pub source: String,
}

/// One param value.
#[derive(Debug, Clone, Serialize)]
pub struct ParamRow {
    pub name: String,
    /// The value; [`SECRET_MASK`] for a secret.
    pub value: Value,
    pub secret: bool,
}

/// A decision on an approval gate.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRow {
    /// The approval step (`sign_off`).
    pub step: String,
    pub verdict: Verdict,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub decided_at: Timestamp,
}

/// The step DAG: waves of steps and their dependencies, each step with its outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dag {
    /// Step ids by wave (the steps of a wave may run in parallel).
    pub waves: Vec<Vec<String>>,
    /// One node per planned step.
    pub nodes: Vec<DagNode>,
    /// `from` must be done before `to` starts.
    pub edges: Vec<DagEdge>,
    /// Why the DAG could not be drawn (the stored runbook no longer validates, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One step of the DAG.
#[derive(Debug, Clone, Serialize)]
pub struct DagNode {
    pub id: String,
    pub action: String,
    /// 0-based wave.
    pub wave: usize,
    /// Whether the action changes anything at SDRS or ECS.
    pub mutating: bool,
    /// The step's status (a `for_each` step's items combined); `None`: never started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StepStatus>,
    /// The colour the step is drawn in.
    pub outcome: Outcome,
    /// For a `for_each` step: how many items succeeded of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemCount>,
    /// From the first start to the last end of its records, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Items of a `for_each` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ItemCount {
    pub succeeded: usize,
    pub total: usize,
}

/// A dependency between two steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DagEdge {
    pub from: String,
    pub to: String,
    /// `needs`, or `handler` (`to` runs only if `from` fails).
    pub kind: EdgeKind,
}

/// Why one step comes after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Needs,
    Handler,
}

/// The colour class of a step: what a reader needs to see at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done (green).
    Succeeded,
    /// Failed, or its compensation failed (red).
    Failed,
    /// Not run: condition false, a need failed, or an unused handler (grey).
    Skipped,
    /// Done, then undone by its compensation (amber).
    Compensated,
    /// Stopped because the run was aborted (dark grey).
    Cancelled,
    /// Running, waiting for a job or an approval, or retrying (blue).
    Active,
    /// Not started (white).
    Pending,
}

impl Outcome {
    /// Every outcome, in legend order.
    pub const ALL: [Outcome; 7] = [
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::Compensated,
        Outcome::Skipped,
        Outcome::Cancelled,
        Outcome::Active,
        Outcome::Pending,
    ];

    /// The colour class of one step status.
    pub fn of(status: StepStatus) -> Outcome {
        match status {
            StepStatus::Succeeded => Outcome::Succeeded,
            StepStatus::Failed | StepStatus::CompensationFailed => Outcome::Failed,
            StepStatus::Skipped => Outcome::Skipped,
            StepStatus::Compensating | StepStatus::Compensated => Outcome::Compensated,
            StepStatus::Cancelled => Outcome::Cancelled,
            StepStatus::Running
            | StepStatus::WaitingJob
            | StepStatus::WaitingApproval
            | StepStatus::Retrying => Outcome::Active,
            StepStatus::Pending => Outcome::Pending,
        }
    }

    /// The kebab-case name (also the CSS class).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Compensated => "compensated",
            Outcome::Cancelled => "cancelled",
            Outcome::Active => "active",
            Outcome::Pending => "pending",
        }
    }

    /// What the legend says.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Compensated => "compensated (undone)",
            Outcome::Cancelled => "cancelled",
            Outcome::Active => "in progress",
            Outcome::Pending => "not started",
        }
    }
}

/// One step record (a step, or one item of a `for_each` step).
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    /// `step_id` or `step_id[item]`.
    pub key: String,
    pub step_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// The runbook action (empty when the step is not in the stored runbook).
    pub action: String,
    pub mutating: bool,
    pub status: StepStatus,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Every attempt, with its error code.
    pub attempts: Vec<Attempt>,
    /// The SDRS or ECS job the step started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The operation of the mutating request the step recorded before sending it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

/// An asynchronous job started by the run.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub job_id: String,
    /// `sdrs` or `ecs`.
    pub service: String,
    /// The step (record key) that started it.
    pub step: String,
    /// The operation (SDK method name) that started it.
    pub operation: String,
    /// The job as last seen by a job-wait step, if one waited for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub begin_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// The step (record key) that waited for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_by: Option<String>,
}

/// The audit chain, as verified when the report was generated.
#[derive(Debug, Clone, Serialize)]
pub struct AuditStatus {
    /// The log file.
    pub log: PathBuf,
    pub chain: ChainState,
    /// Entries in the whole log (up to the breach, when broken).
    pub entries: u64,
    /// The last entry, to keep outside the host (intact chains only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<Anchor>,
    /// The first entry that does not check out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breach: Option<BreachInfo>,
    /// Entries about this run, by kind (`run.started`, `approval`, ...).
    pub run_entries: BTreeMap<String, u64>,
    /// `seq` of the first and last entry about this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_seq_range: Option<(u64, u64)>,
    /// Why the log could not be checked (`chain` is then `unavailable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether the audit chain verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainState {
    /// Every entry checks out.
    Verified,
    /// An entry was changed, removed, inserted or reordered.
    Broken,
    /// The log could not be read.
    Unavailable,
}

/// The first bad entry of a broken chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreachInfo {
    /// 1-based line of the log file.
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// `unreadable`, `torn-tail`, `changed`, `out-of-sequence`, `broken-link`, `anchor-mismatch`.
    pub problem: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

impl BreachInfo {
    /// The report form of a [`crate::store::audit::Breach`].
    pub fn from_breach(breach: &crate::store::audit::Breach) -> Self {
        BreachInfo {
            line: breach.line,
            seq: breach.seq,
            problem: problem_kind(&breach.problem),
            message: breach.problem.to_string(),
        }
    }
}

/// A stable, machine-readable name for a verification problem.
pub fn problem_kind(problem: &Problem) -> &'static str {
    match problem {
        Problem::Unreadable(_) => "unreadable",
        Problem::TornTail => "torn-tail",
        Problem::Changed { .. } => "changed",
        Problem::OutOfSequence { .. } => "out-of-sequence",
        Problem::BrokenLink { .. } => "broken-link",
        Problem::AnchorMismatch { .. } => "anchor-mismatch",
    }
}

/// Finds a run by its full id, a unique prefix of it, or `latest` (the newest run).
pub fn resolve_run(data_dir: &DataDir, given: &str) -> Result<RunId, Error> {
    let not_found = || Error::RunNotFound {
        given: given.to_owned(),
        data_dir: data_dir.root().to_owned(),
    };
    let runs = data_dir.list_runs()?;
    if given == "latest" {
        return runs.first().copied().ok_or_else(not_found);
    }
    let wanted = given.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return Err(not_found());
    }
    let matches: Vec<RunId> = runs
        .into_iter()
        .filter(|id| id.to_string().starts_with(&wanted))
        .collect();
    match matches.as_slice() {
        [] => Err(not_found()),
        [one] => Ok(*one),
        many => {
            // An exact match wins over longer ids it happens to prefix (impossible for UUIDs of
            // equal length, but cheap to honour).
            if let Some(exact) = many.iter().find(|id| id.to_string() == wanted) {
                return Ok(*exact);
            }
            Err(Error::AmbiguousRun {
                given: given.to_owned(),
                matches: many.iter().map(RunId::to_string).collect(),
            })
        }
    }
}

/// Reads run `run_id` from `data_dir` and builds its report, with the audit chain verified now.
///
/// Blocking: call it from `spawn_blocking` in async code.
pub fn load(data_dir: &DataDir, run_id: RunId, now: Timestamp) -> Result<Report, Error> {
    let (run, steps, events) = read_run(data_dir, run_id)?;
    let audit = audit_status(&data_dir.audit_log_path(), run_id);
    Ok(build(&run, &steps, &events, audit, now))
}

/// The run record, step records and events of a run; the database is closed again before this
/// returns, so a report never keeps a run from being resumed.
pub fn read_run(
    data_dir: &DataDir,
    run_id: RunId,
) -> Result<(RunRecord, Vec<StepRecord>, Vec<StoredEvent>), Error> {
    let store = SledStore::open(data_dir, run_id)?;
    let read = (|| {
        Ok::<_, crate::store::Error>((
            store.load_run()?,
            store.load_steps()?,
            store.load_events(0)?,
        ))
    })();
    let closed = store.close();
    let records = read?;
    closed?;
    Ok(records)
}

/// Verifies the audit log at `path` and counts its entries about `run_id`. Never fails: a log
/// that is missing or cannot be read is reported as [`ChainState::Unavailable`] with the reason.
pub fn audit_status(path: &Path, run_id: RunId) -> AuditStatus {
    let mut status = AuditStatus {
        log: path.to_owned(),
        chain: ChainState::Unavailable,
        entries: 0,
        head: None,
        breach: None,
        run_entries: BTreeMap::new(),
        run_seq_range: None,
        error: None,
    };
    if !path.exists() {
        // Opening it would create it; a report only reads.
        status.error = Some(format!(
            "no audit log at {}: this data directory has no audit entries",
            path.display()
        ));
        return status;
    }
    let log = match AuditLog::at(path.to_owned()) {
        Ok(log) => log,
        Err(error) => {
            status.error = Some(error.to_string());
            return status;
        }
    };
    match log.verify(None) {
        Ok(Verification::Intact { entries, head }) => {
            status.chain = ChainState::Verified;
            status.entries = entries;
            status.head = head;
        }
        Ok(Verification::Broken(breach)) => {
            status.chain = ChainState::Broken;
            status.entries = breach.line.saturating_sub(1);
            status.breach = Some(BreachInfo::from_breach(&breach));
        }
        Err(error) => {
            status.error = Some(error.to_string());
            return status;
        }
    }
    // The entries about this run, read line by line through `export` (which takes the same
    // shared lock as `verify`, so no half-written append is seen).
    let mut counter = RunEntryCounter {
        run_id,
        pending: Vec::new(),
        kinds: BTreeMap::new(),
        range: None,
    };
    if let Err(error) = log.export(Since::Start, &mut counter) {
        // A damaged line stops the export; the chain status above already says where.
        if status.chain == ChainState::Verified {
            status.error = Some(error.to_string());
        }
    }
    status.run_entries = counter.kinds;
    status.run_seq_range = counter.range;
    status
}

/// A `Write` sink that parses the exported JSON Lines and counts the entries of one run.
struct RunEntryCounter {
    run_id: RunId,
    pending: Vec<u8>,
    kinds: BTreeMap<String, u64>,
    range: Option<(u64, u64)>,
}

impl RunEntryCounter {
    fn take_line(&mut self, line: &[u8]) {
        let Ok(entry) = serde_json::from_slice::<AuditEntry>(line) else {
            return;
        };
        if entry.run_id != Some(self.run_id) {
            return;
        }
        *self.kinds.entry(entry.kind).or_default() += 1;
        self.range = Some(match self.range {
            None => (entry.seq, entry.seq),
            Some((first, _)) => (first, entry.seq),
        });
    }
}

impl Write for RunEntryCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            if self.pending.is_empty() {
                self.take_line(&rest[..end]);
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(&rest[..end]);
                self.take_line(&line);
            }
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
