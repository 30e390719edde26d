//! From store records to a [`Report`]: a pure function of the run record, its step records and
//! events, and the audit status, so every part of a report can be tested without a database.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use serde_json::Value;

use super::format::millis_between;
use super::{
    ApprovalRow, AuditStatus, Dag, DagEdge, DagNode, EdgeKind, ItemCount, JobRow, Outcome,
    ParamRow, Report, RunInfo, RunbookInfo, SECRET_MASK, StepRow, rto,
};
use crate::engine::catalog::{ActionKind, Builtin, Catalog};
use crate::runbook::{
    self, ActionCatalog, Effect, JobKind, Mode, ParamType, ParamValues, Plan, Runbook, Source,
    graph,
};
use crate::sdrs::operations::Service;
use crate::store::records::{
    AttemptOutcome, RunRecord, StepRecord, StepStatus, StoredEvent, sha256_hex,
};
use crate::store::redact::REDACTED;

/// Builds the report of `run` from its records. `now` is the generation time (and the end of a
/// run that has not ended, for its duration).
pub fn build(
    run: &RunRecord,
    records: &[StepRecord],
    events: &[StoredEvent],
    audit: AuditStatus,
    now: Timestamp,
) -> Report {
    let parsed = parse_runbook(run);
    let runbook = parsed.as_ref().ok();
    let plan = parsed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|runbook| plan_of(runbook, run));

    // Records grouped by step, items in index order (keys sort `a[10]` before `a[2]`).
    let mut by_step: BTreeMap<&str, Vec<&StepRecord>> = BTreeMap::new();
    for record in records {
        by_step.entry(&record.step_id).or_default().push(record);
    }
    for group in by_step.values_mut() {
        group.sort_by_key(|r| r.item.map_or(0, |i| i + 1));
    }

    // Step id -> action, from the stored runbook (the plan's steps are a subset of its steps).
    let actions: HashMap<&str, &str> = runbook
        .map(|r| {
            r.steps
                .iter()
                .map(|s| (s.id.as_str(), s.action.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let action_of = |step_id: &str| -> String {
        actions
            .get(step_id)
            .map_or_else(String::new, |a| (*a).to_owned())
    };

    // Steps in plan order, then any recorded step the plan does not know.
    let mut order: Vec<String> = match &plan {
        Ok(plan) => plan.steps.iter().map(|s| s.id.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let planned: HashSet<&str> = order.iter().map(String::as_str).collect();
    let mut unplanned: Vec<&str> = by_step
        .keys()
        .copied()
        .filter(|id| !planned.contains(id))
        .collect();
    unplanned.sort_by_key(|id| {
        by_step[id]
            .iter()
            .filter_map(|r| r.started_at)
            .min()
            .unwrap_or(Timestamp::MAX)
    });
    order.extend(unplanned.into_iter().map(str::to_owned));

    let mut rows = Vec::new();
    for step_id in &order {
        let action = action_of(step_id);
        let mutating = is_mutating(&action);
        for record in by_step.get(step_id.as_str()).into_iter().flatten() {
            rows.push(step_row(record, &action, mutating));
        }
    }

    let dag = match &plan {
        Ok(plan) => dag_of(plan, &by_step),
        Err(problem) => Dag {
            problem: Some(problem.clone()),
            ..Dag::default()
        },
    };

    let (jobs, job_done) = jobs_of(&rows, records, runbook, &action_of);
    let recovery_steps: Vec<String> = match &plan {
        Ok(plan) => plan
            .steps
            .iter()
            .filter(|s| rto::is_recovery_action(&s.action))
            .map(|s| s.id.clone())
            .collect(),
        Err(_) => order
            .iter()
            .filter(|id| rto::is_recovery_action(&action_of(id)))
            .cloned()
            .collect(),
    };
    let rto = rto::compute(run, &rows, &recovery_steps, &job_done);

    let mut approvals: Vec<ApprovalRow> = records
        .iter()
        .filter_map(|r| {
            r.approval.as_ref().map(|a| ApprovalRow {
                step: r.key().to_string(),
                verdict: a.verdict,
                actor: a.actor.clone(),
                comment: a.comment.clone(),
                decided_at: a.decided_at,
            })
        })
        .collect();
    approvals.sort_by_key(|a| a.decided_at);

    let mut step_counts: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        *step_counts
            .entry(row.status.as_str().to_owned())
            .or_default() += 1;
    }

    let end = run.ended_at.unwrap_or(now);
    Report {
        report_format: super::REPORT_FORMAT,
        generated_at: now,
        generated_by: format!("drbook {}", env!("CARGO_PKG_VERSION")),
        run: RunInfo {
            run_id: run.run_id,
            status: run.status,
            mode: run.mode.clone(),
            actor: run.actor.clone(),
            dry_run: run.dry_run,
            endpoint: run.endpoint.clone(),
            run_key: run.run_key.clone(),
            created_at: run.created_at,
            started_at: run.started_at,
            ended_at: run.ended_at,
            duration_ms: millis_between(Some(run.created_at), Some(end)),
            executions: run.attempt,
            error: run.error.clone(),
            locks: run.locks.clone(),
        },
        runbook: RunbookInfo {
            name: run.runbook_name.clone(),
            path: run.runbook_path.clone(),
            description: runbook.map(|r| r.description.clone()).unwrap_or_default(),
            digest: run.runbook_digest.clone(),
            digest_verified: sha256_hex(run.runbook_source.as_bytes())
                .eq_ignore_ascii_case(&run.runbook_digest),
            source: run.runbook_source.clone(),
        },
        params: params_of(run, runbook),
        approvals,
        dag,
        steps: rows,
        step_counts,
        jobs,
        rto,
        audit,
        event_count: events.len() as u64,
    }
}

/// How an attempt ended, in the words a report uses.
pub(crate) fn attempt_outcome_word(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Succeeded => "ok",
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::TimedOut => "timed out",
        AttemptOutcome::Cancelled => "cancelled",
        AttemptOutcome::InProgress => "in progress",
        AttemptOutcome::Throttled => "throttled",
    }
}

/// The stored runbook, validated again with this build's catalog.
fn parse_runbook(run: &RunRecord) -> Result<Runbook, String> {
    if run.runbook_source.trim().is_empty() {
        return Err("the run record holds no runbook source".to_owned());
    }
    let source = Source::new(run.runbook_path.clone(), run.runbook_source.clone())
        .map_err(|e| format!("the stored runbook cannot be read: {e}"))?;
    runbook::check(&source, Catalog::global()).map_err(|diagnostics| {
        format!(
            "the stored runbook does not validate with this drbook ({}): {diagnostics}",
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// The run's plan: the stored mode and params (secrets replaced by a placeholder of their type,
/// which only `***` ever shows).
fn plan_of(runbook: &Runbook, run: &RunRecord) -> Result<Plan, String> {
    let mode = if run.mode.is_empty() {
        None
    } else {
        Some(
            run.mode
                .parse::<Mode>()
                .map_err(|e| format!("the run's mode `{}` is unknown: {e}", run.mode))?,
        )
    };
    let values = runbook.params.iter().filter_map(|(name, spec)| {
        let stored = run.params.get(name);
        let secret = spec.secret || run.secret_params.contains(name);
        let value = if secret {
            match spec.kind {
                ParamType::String => Value::String(SECRET_MASK.to_owned()),
                ParamType::Integer => Value::from(0),
                ParamType::Boolean => Value::Bool(false),
                ParamType::List => Value::Array(Vec::new()),
                ParamType::Enum => Value::String(spec.values.first().cloned().unwrap_or_default()),
            }
        } else {
            stored?.clone()
        };
        Some((name.clone(), value))
    });
    let params = ParamValues::from_values(runbook, values.collect::<Vec<_>>())
        .map_err(|e| format!("the run's params do not fit the stored runbook: {e}"))?;
    Plan::new(runbook, mode, &params, Catalog::global())
        .map_err(|e| format!("the stored runbook cannot be planned: {e}"))
}

/// Param rows: every stored param, secrets masked whatever was stored.
fn params_of(run: &RunRecord, runbook: Option<&Runbook>) -> Vec<ParamRow> {
    run.params
        .iter()
        .map(|(name, value)| {
            let secret = run.secret_params.contains(name)
                || runbook
                    .and_then(|r| r.params.get(name))
                    .is_some_and(|spec| spec.secret)
                || value.as_str() == Some(REDACTED);
            ParamRow {
                name: name.clone(),
                value: if secret {
                    Value::String(SECRET_MASK.to_owned())
                } else {
                    value.clone()
                },
                secret,
            }
        })
        .collect()
}

fn is_mutating(action: &str) -> bool {
    Catalog::global()
        .action(action)
        .is_some_and(|spec| spec.effect == Effect::Mutating)
}

/// The job id a record started: the recorded one, else the `job_id` of the response of an
/// action that returns a job.
fn job_id_of(record: &StepRecord, action: &str) -> Option<String> {
    if let Some(job) = &record.job_id {
        return Some(job.clone());
    }
    let returns_job = Catalog::global()
        .action(action)
        .is_some_and(|spec| spec.returns_job.is_some());
    returns_job
        .then(|| {
            record
                .response
                .as_ref()?
                .get("job_id")?
                .as_str()
                .map(str::to_owned)
        })
        .flatten()
}

fn step_row(record: &StepRecord, action: &str, mutating: bool) -> StepRow {
    StepRow {
        key: record.key().to_string(),
        step_id: record.step_id.clone(),
        item: record.item,
        action: action.to_owned(),
        mutating,
        status: record.status,
        outcome: Outcome::of(record.status),
        started_at: record.started_at,
        ended_at: record.ended_at,
        duration_ms: millis_between(record.started_at, record.ended_at),
        attempts: record.attempts.clone(),
        job_id: job_id_of(record, action),
        operation: record.intent.as_ref().map(|i| i.operation.clone()),
        skip_reason: record.skip_reason.clone(),
    }
}

/// The DAG of the plan, each node with the combined status of its records.
fn dag_of(plan: &Plan, by_step: &BTreeMap<&str, Vec<&StepRecord>>) -> Dag {
    let nodes = plan
        .steps
        .iter()
        .map(|step| {
            let records = by_step.get(step.id.as_str()).map_or(&[][..], Vec::as_slice);
            let max_errors = step.for_each.as_ref().map_or(0, |f| f.max_errors as usize);
            let status = combined_status(records, max_errors);
            let items = step.for_each.as_ref().map(|f| {
                let item_records: Vec<_> = records.iter().filter(|r| r.item.is_some()).collect();
                ItemCount {
                    succeeded: item_records
                        .iter()
                        .filter(|r| r.status == StepStatus::Succeeded)
                        .count(),
                    total: item_records.len().max(f.count.unwrap_or(0)),
                }
            });
            let start = records.iter().filter_map(|r| r.started_at).min();
            let end = records.iter().filter_map(|r| r.ended_at).max();
            DagNode {
                id: step.id.clone(),
                action: step.action.clone(),
                wave: step.wave,
                mutating: step.effect == Effect::Mutating,
                status,
                outcome: status.map_or(Outcome::Pending, Outcome::of),
                items,
                duration_ms: millis_between(start, end),
            }
        })
        .collect();
    let edges = plan
        .edges
        .iter()
        .map(|e| DagEdge {
            from: e.from.clone(),
            to: e.to.clone(),
            kind: match e.kind {
                graph::EdgeKind::Needs => EdgeKind::Needs,
                graph::EdgeKind::Handler => EdgeKind::Handler,
            },
        })
        .collect();
    Dag {
        waves: plan.waves.clone(),
        nodes,
        edges,
        problem: None,
    }
}

/// One status for a step from its records: the step's own record when it has one (the engine
/// may keep a summary record for a `for_each` step), else its items combined: any item still
/// moving makes the step move, failures beyond `max_errors` fail it, a compensated item shows
/// the step as compensated.
fn combined_status(records: &[&StepRecord], max_errors: usize) -> Option<StepStatus> {
    if let Some(own) = records.iter().find(|r| r.item.is_none()) {
        return Some(own.status);
    }
    if records.is_empty() {
        return None;
    }
    let count =
        |pred: &dyn Fn(StepStatus) -> bool| records.iter().filter(|r| pred(r.status)).count();
    let moving = count(&|s| {
        matches!(
            s,
            StepStatus::Running
                | StepStatus::WaitingJob
                | StepStatus::WaitingApproval
                | StepStatus::Retrying
        )
    });
    let failed = count(&|s| s == StepStatus::Failed);
    let compensation_failed = count(&|s| s == StepStatus::CompensationFailed);
    let compensating = count(&|s| s == StepStatus::Compensating);
    let compensated = count(&|s| s == StepStatus::Compensated);
    let cancelled = count(&|s| s == StepStatus::Cancelled);
    let pending = count(&|s| s == StepStatus::Pending);
    let skipped = count(&|s| s == StepStatus::Skipped);
    Some(if compensation_failed > 0 {
        StepStatus::CompensationFailed
    } else if compensating > 0 {
        StepStatus::Compensating
    } else if moving > 0 || (pending > 0 && pending < records.len()) {
        StepStatus::Running
    } else if failed > max_errors {
        StepStatus::Failed
    } else if compensated > 0 {
        StepStatus::Compensated
    } else if cancelled > 0 {
        StepStatus::Cancelled
    } else if pending == records.len() {
        StepStatus::Pending
    } else if skipped == records.len() {
        StepStatus::Skipped
    } else {
        StepStatus::Succeeded
    })
}

/// The jobs the run started, each with what its waiter saw, and for each job id the waiter and
/// when it ended (for the RTO).
#[allow(
    clippy::type_complexity,
    reason = "a private helper returning two views of one walk"
)]
fn jobs_of(
    rows: &[StepRow],
    records: &[StepRecord],
    runbook: Option<&Runbook>,
    action_of: &dyn Fn(&str) -> String,
) -> (Vec<JobRow>, HashMap<String, (String, Option<Timestamp>)>) {
    let catalog = Catalog::global();
    let is_wait = |action: &str| {
        matches!(
            catalog.kind(action),
            Some(ActionKind::Builtin(
                Builtin::SdrsJobWait | Builtin::EcsJobWait
            ))
        )
    };
    // Waiters: by the job id in their response, else by the step their `job_id` input names.
    let mut waiter_by_job: HashMap<String, &StepRecord> = HashMap::new();
    let mut waiter_by_step: HashMap<String, &StepRecord> = HashMap::new();
    for record in records {
        if !is_wait(&action_of(&record.step_id)) {
            continue;
        }
        if let Some(job) = record
            .response
            .as_ref()
            .and_then(|r| r.get("job_id"))
            .and_then(Value::as_str)
        {
            waiter_by_job.insert(job.to_owned(), record);
        } else if record.item.is_none()
            && let Some(producer) = runbook
                .and_then(|r| r.step(&record.step_id))
                .and_then(|s| s.inputs.get("job_id"))
                .and_then(Value::as_str)
                .and_then(referenced_step)
        {
            waiter_by_step.insert(producer.to_owned(), record);
        }
    }
    let mut jobs = Vec::new();
    let mut done = HashMap::new();
    for row in rows {
        let Some(job_id) = &row.job_id else {
            continue;
        };
        let waiter = waiter_by_job.get(job_id).copied().or_else(|| {
            row.item
                .is_none()
                .then(|| waiter_by_step.get(&row.step_id).copied())
                .flatten()
        });
        let field = |name: &str| -> Option<String> {
            let value = waiter?.response.as_ref()?.get(name)?;
            match value {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        };
        let waiter_error = waiter.and_then(|w| w.attempts.last()?.error_code.clone());
        let (service, operation) = match catalog.kind(&row.action) {
            Some(ActionKind::Operation(op)) => (
                match op.service {
                    Service::Sdrs => "sdrs",
                    Service::Ecs => "ecs",
                },
                op.name.to_owned(),
            ),
            Some(ActionKind::Builtin(builtin)) => (
                match catalog.action(&row.action).and_then(|a| a.returns_job) {
                    Some(JobKind::Ecs) => "ecs",
                    _ => "sdrs",
                },
                builtin
                    .operation()
                    .map_or_else(|| row.action.clone(), |op| op.name.to_owned()),
            ),
            None => ("sdrs", row.action.clone()),
        };
        if let Some(waiter) = waiter {
            done.insert(
                job_id.clone(),
                (
                    waiter.key().to_string(),
                    waiter
                        .ended_at
                        .filter(|_| waiter.status == StepStatus::Succeeded),
                ),
            );
        }
        jobs.push(JobRow {
            job_id: job_id.clone(),
            service: service.to_owned(),
            step: row.key.clone(),
            operation: row.operation.clone().unwrap_or(operation),
            job_type: field("job_type"),
            status: field("status"),
            begin_time: field("begin_time"),
            end_time: field("end_time"),
            error_code: field("error_code").or(waiter_error),
            fail_reason: field("fail_reason"),
            waited_by: waiter.map(|w| w.key().to_string()),
        });
    }
    (jobs, done)
}

/// The step a template that is exactly `{{ steps.<id>.outputs.<name> }}` refers to.
fn referenced_step(template: &str) -> Option<&str> {
    let inner = template
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim();
    let mut parts = inner.split('.');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("steps"), Some(id), Some("outputs"), Some(_), None) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn referenced_step_reads_only_plain_output_references() {
        assert_eq!(
            referenced_step("{{ steps.create_drill.outputs.job_id }}"),
            Some("create_drill")
        );
        assert_eq!(referenced_step("{{steps.a.outputs.b}}"), Some("a"));
        assert_eq!(referenced_step("{{ item }}"), None);
        assert_eq!(referenced_step("x-{{ steps.a.outputs.b }}"), None);
        assert_eq!(referenced_step("{{ steps.a.outputs.b.c }}"), None);
    }

    fn record(status: StepStatus, item: Option<usize>) -> StepRecord {
        let mut record = StepRecord::pending(&crate::store::records::StepKey {
            step_id: "s".into(),
            item,
        });
        record.status = status;
        record
    }

    #[test]
    fn items_combine_into_one_status() {
        use StepStatus::*;
        let combine = |statuses: &[StepStatus], max_errors| {
            let records: Vec<StepRecord> = statuses
                .iter()
                .enumerate()
                .map(|(i, s)| record(*s, Some(i)))
                .collect();
            let refs: Vec<&StepRecord> = records.iter().collect();
            combined_status(&refs, max_errors)
        };
        assert_eq!(combine(&[], 0), None);
        assert_eq!(combine(&[Succeeded, Succeeded], 0), Some(Succeeded));
        assert_eq!(combine(&[Succeeded, Failed], 0), Some(Failed));
        assert_eq!(combine(&[Succeeded, Failed], 1), Some(Succeeded));
        assert_eq!(combine(&[Succeeded, Running], 0), Some(Running));
        assert_eq!(combine(&[Succeeded, Pending], 0), Some(Running));
        assert_eq!(combine(&[Pending, Pending], 0), Some(Pending));
        assert_eq!(combine(&[Skipped, Skipped], 0), Some(Skipped));
        assert_eq!(combine(&[Compensated, Succeeded], 0), Some(Compensated));
        assert_eq!(
            combine(&[Compensated, CompensationFailed], 0),
            Some(CompensationFailed)
        );
        assert_eq!(combine(&[Cancelled, Succeeded], 0), Some(Cancelled));
        // The step's own record, when the engine keeps one, decides.
        let own = record(Failed, None);
        let item = record(Succeeded, Some(0));
        assert_eq!(combined_status(&[&item, &own], 0), Some(Failed));
    }
}
