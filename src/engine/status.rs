//! The status snapshot `runs/<id>/status.json`: what `drbook status`, `drbook approve` and other
//! processes read about a run without opening its database (sled holds it exclusively while a
//! process drives the run).
//!
//! The driving engine writes it atomically (temp file + rename) at every run-status change, at
//! most every half second in between, and when it stops. Schema (format 1):
//!
//! ```json
//! {"format": 1, "run_id": "...", "runbook": "dr-drill", "mode": "drill", "status": "running",
//!  "dry_run": false, "actor": "alice", "attempt": 1, "driver_pid": 4242,
//!  "created_at": "...", "started_at": "...", "ended_at": null, "updated_at": "...",
//!  "error": null, "locks": ["pg-web-0001"],
//!  "counts": {"succeeded": 3, "running": 1, "pending": 8},
//!  "steps": [{"id": "check_group", "status": "succeeded", "action": "sdrs.protection_group.show",
//!             "needs": [], "attempts": 1, "error_code": null, "message": null,
//!             "simulated": false, "job_id": null, "next_attempt_at": null,
//!             "items": {"total": 3, "succeeded": 3}}],
//!  "waiting_approvals": [{"step": "sign_off", "message": "...", "approvers": ["dr-lead"],
//!                          "since": "...", "timeout_at": "..."}]}
//! ```
//!
//! It is a convenience view, never a source of truth: a resume rebuilds everything from the
//! database. [`StatusSnapshot::from_records`] builds the same view from a stopped run's
//! database (`drbook status` of a run that no process drives, e.g. one that was killed).

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Error;
use super::inbox::write_atomic;
use super::state::{RunState, SIMULATED_KEY};
use crate::runbook::{Mode, Runbook};
use crate::store::records::{RunRecord, RunStatus, StepRecord, StepStatus};
use crate::store::{DataDir, RunId};

/// The snapshot format this build writes.
pub const STATUS_FORMAT: u32 = 1;

/// A run's status snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub format: u32,
    pub run_id: RunId,
    pub runbook: String,
    pub mode: Option<String>,
    pub status: RunStatus,
    pub dry_run: bool,
    pub actor: String,
    pub attempt: u32,
    /// The process driving the run when the snapshot was written (none once it stopped).
    pub driver_pid: Option<u32>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub error: Option<String>,
    pub locks: Vec<String>,
    /// Steps per status (items not counted).
    pub counts: BTreeMap<String, usize>,
    pub steps: Vec<StepSummary>,
    pub waiting_approvals: Vec<WaitingApproval>,
}

/// One step in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub id: String,
    pub status: StepStatus,
    pub action: String,
    /// The steps it waits for (the DAG's edges), active ones only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    pub attempts: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Dry run: the step was only simulated.
    #[serde(default)]
    pub simulated: bool,
    /// The SDRS/ECS job the step returned or waits for (status `waiting-job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// When the next attempt is due (status `retrying`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// A `for_each` step: items per status, and the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<BTreeMap<String, usize>>,
    /// The step's outputs (secrets masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
}

/// An approval gate waiting for a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingApproval {
    pub step: String,
    pub message: String,
    pub approvers: Vec<String>,
    pub since: Option<Timestamp>,
    pub timeout_at: Option<Timestamp>,
}

/// `runs/<id>/status.json`.
pub fn status_path(data_dir: &DataDir, run_id: RunId) -> PathBuf {
    data_dir.run_dir(&run_id).join("status.json")
}

fn last_failure(record: &StepRecord) -> (Option<String>, Option<String>) {
    if let Some(reason) = &record.skip_reason {
        return (None, Some(reason.clone()));
    }
    if let Some(comp) = &record.compensation
        && let Some(last) = comp.attempts.last()
        && last.error_code.is_some()
    {
        return (last.error_code.clone(), last.message.clone());
    }
    match record.attempts.last() {
        Some(last) if last.error_code.is_some() => (last.error_code.clone(), last.message.clone()),
        _ => (None, None),
    }
}

/// One step as the snapshot builders see it, from memory or from the database.
struct StepView<'a> {
    id: &'a str,
    action: &'a str,
    needs: Vec<String>,
    record: &'a StepRecord,
    /// The records of a started `for_each` step's items.
    items: Option<Vec<&'a StepRecord>>,
    simulated: bool,
}

fn summarize(view: StepView<'_>) -> (StepSummary, Option<WaitingApproval>) {
    let record = view.record;
    let items = view.items.as_ref().map(|units| {
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        for unit in units {
            *by_status
                .entry(unit.status.as_str().to_owned())
                .or_default() += 1;
        }
        by_status.insert("total".into(), units.len());
        by_status
    });
    let (error_code, message) = match &view.items {
        Some(units) if record.attempts.is_empty() => units
            .iter()
            .map(|u| last_failure(u))
            .find(|(code, _)| code.is_some())
            .unwrap_or((None, None)),
        _ => last_failure(record),
    };
    let waiting = (record.status == StepStatus::WaitingApproval).then(|| {
        let approval = record
            .response
            .as_ref()
            .and_then(|r| r.get("approval"))
            .cloned()
            .unwrap_or(Value::Null);
        WaitingApproval {
            step: view.id.to_owned(),
            message: approval
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            approvers: approval
                .get("approvers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            since: record.attempts.last().map(|a| a.started_at),
            timeout_at: approval
                .get("timeout_at")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
        }
    });
    let summary = StepSummary {
        id: view.id.to_owned(),
        status: record.status,
        action: view.action.to_owned(),
        needs: view.needs,
        attempts: record.attempts.len(),
        error_code,
        message,
        simulated: view.simulated,
        job_id: record.job_id.clone(),
        next_attempt_at: record.next_attempt_at,
        items,
        outputs: record
            .outputs
            .clone()
            .filter(|o| o.as_object().is_some_and(|m| !m.is_empty())),
    };
    (summary, waiting)
}

impl StatusSnapshot {
    /// The snapshot of a run in memory.
    pub fn of(state: &RunState, driver_pid: Option<u32>) -> Self {
        let views = state
            .steps
            .iter()
            .enumerate()
            .filter(|(_, node)| node.active)
            .map(|(i, node)| StepView {
                id: &node.id,
                action: &state.runbook.steps[i].action,
                needs: node
                    .needs
                    .iter()
                    .map(|&n| state.steps[n as usize].id.clone())
                    .collect(),
                record: &node.unit.record,
                items: node
                    .fan
                    .as_ref()
                    .map(|fan| fan.units.iter().map(|u| &u.record).collect()),
                simulated: node.unit.simulated,
            });
        Self::build(&state.run, driver_pid, views)
    }

    /// The snapshot of a stopped run, from its database's records (what a resume would
    /// rebuild), without its params: `drbook status` of a run that no process drives.
    pub fn from_records(run: &RunRecord, runbook: &Runbook, records: &[StepRecord]) -> Self {
        let mode: Option<Mode> = run.mode.parse().ok();
        let active: Vec<bool> = runbook.steps.iter().map(|s| s.is_active_in(mode)).collect();
        let active_ids: std::collections::HashSet<&str> = runbook
            .steps
            .iter()
            .zip(&active)
            .filter(|(_, a)| **a)
            .map(|(s, _)| s.id.as_str())
            .collect();
        let pending: Vec<StepRecord> = runbook
            .steps
            .iter()
            .map(|s| StepRecord::pending(&crate::store::records::StepKey::single(s.id.clone())))
            .collect();
        let views = runbook
            .steps
            .iter()
            .enumerate()
            .filter(|(i, _)| active[*i])
            .map(|(i, step)| {
                let record = records
                    .iter()
                    .find(|r| r.item.is_none() && r.step_id == step.id)
                    .unwrap_or(&pending[i]);
                let mut items: Vec<&StepRecord> = records
                    .iter()
                    .filter(|r| r.item.is_some() && r.step_id == step.id)
                    .collect();
                items.sort_by_key(|r| r.item);
                StepView {
                    id: &step.id,
                    action: &step.action,
                    needs: step
                        .needs
                        .iter()
                        .filter(|n| active_ids.contains(n.as_str()))
                        .cloned()
                        .collect(),
                    record,
                    items: (step.for_each.is_some() && !items.is_empty()).then_some(items),
                    simulated: record
                        .response
                        .as_ref()
                        .is_some_and(|r| r.get(SIMULATED_KEY).is_some()),
                }
            });
        Self::build(run, None, views)
    }

    fn build<'a>(
        run: &RunRecord,
        driver_pid: Option<u32>,
        views: impl Iterator<Item = StepView<'a>>,
    ) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut steps = Vec::new();
        let mut waiting = Vec::new();
        for view in views {
            *counts
                .entry(view.record.status.as_str().to_owned())
                .or_default() += 1;
            let (summary, approval) = summarize(view);
            steps.push(summary);
            waiting.extend(approval);
        }
        Self::with(run, driver_pid, counts, steps, waiting)
    }

    /// A snapshot from the run record alone (a run whose steps are not loaded).
    pub fn of_record(run: &RunRecord) -> Self {
        Self::with(run, None, BTreeMap::new(), Vec::new(), Vec::new())
    }

    fn with(
        run: &RunRecord,
        driver_pid: Option<u32>,
        counts: BTreeMap<String, usize>,
        steps: Vec<StepSummary>,
        waiting_approvals: Vec<WaitingApproval>,
    ) -> Self {
        StatusSnapshot {
            format: STATUS_FORMAT,
            run_id: run.run_id,
            runbook: run.runbook_name.clone(),
            mode: (!run.mode.is_empty()).then(|| run.mode.clone()),
            status: run.status,
            dry_run: run.dry_run,
            actor: run.actor.clone(),
            attempt: run.attempt,
            driver_pid,
            created_at: run.created_at,
            started_at: run.started_at,
            ended_at: run.ended_at,
            updated_at: Timestamp::now(),
            error: run.error.clone(),
            locks: run.locks.clone(),
            counts,
            steps,
            waiting_approvals,
        }
    }

    /// The status name (`succeeded`, `waiting-approval`, ...).
    pub fn status_name(&self) -> &'static str {
        self.status.as_str()
    }
}

/// Writes a run's snapshot (atomic; not fsynced: it is a view, rebuilt at every change).
pub fn write(data_dir: &DataDir, snapshot: &StatusSnapshot) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(snapshot)
        .map_err(|e| Error::Internal(format!("cannot encode the status snapshot: {e}")))?;
    write_atomic(&status_path(data_dir, snapshot.run_id), &bytes, false)
}

/// Reads a run's snapshot. `Ok(None)` when the run has none yet.
pub fn read(data_dir: &DataDir, run_id: RunId) -> Result<Option<StatusSnapshot>, Error> {
    let path = status_path(data_dir, run_id);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if data_dir.run_dir(&run_id).is_dir() {
                return Ok(None);
            }
            return Err(Error::RunNotFound {
                run_id: run_id.to_string(),
                data_dir: data_dir.root().to_owned(),
            });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::Internal(format!(
            "{}: unreadable status snapshot: {e}",
            path.display()
        ))
    })
}
