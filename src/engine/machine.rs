//! The run's state machine: `decide(state, event, now, decision)` turns one event (an action's
//! result, a timer, an operator command, the start of a run) into new state, the records that
//! must become durable, the audit entries to append, and the effects to perform once they are.
//!
//! Pure: no I/O, no clock (the caller passes `now`), no randomness. Rendering templates and
//! evaluating conditions happen here because they are pure too. The executor commits what a batch
//! of decisions recorded (one store commit, the audit entries alongside) and only then starts
//! the effects; that ordering is what makes a resumed run exactly-once:
//!
//! - a mutating call's intent (operation + rendered request) is in a committed record before the
//!   request leaves;
//! - its answer (with the job id) is committed before anything depends on it;
//! - after a crash, a unit whose intent has no answer is reconciled (read-only queries decide
//!   whether the call was applied) before anything is sent again.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::inbox::{OperatorCommand, Verb};
use super::retry::{self, Failure, FailureClass, Next};
use super::state::{
    ActionPlan, Fan, Phase, Purpose, RunState, SIMULATED_KEY, Task, TaskId, Track, UnitId,
    is_final, template_status,
};
use crate::runbook::{self, Selector, codes};
use crate::sdrs::operations::{self, Operation, Service};
use crate::store::audit::{AuditEvent, AuditKind};
use crate::store::records::{
    ApprovalDecision, Attempt, AttemptOutcome, CompensationRecord, EventRecord, Intent, RunRecord,
    RunStatus, StepRecord, StepStatus, Verdict as ApprovalVerdict,
};

/// The job id a reconciled call gets when its real job id was lost with its answer. A job wait
/// on such an id takes the job's outcome from the reconciled resource instead of polling.
pub const RECONCILED_JOB_PREFIX: &str = "drbook-reconciled:";

/// How long a compensation's job may run before the compensation counts as failed.
const COMPENSATION_JOB_WAIT: Duration = Duration::from_secs(3600);

/// Codes that mean "the thing to undo is already gone": a compensation answered with one of them
/// has nothing left to do.
pub const NOT_FOUND_CODES: &[&str] = &[
    "SDRS.1013", // protection group not found
    "SDRS.1320", // protected instance not found
    "SDRS.1608", // replication pair not found
    "SDRS.1902", // DR drill not found
];

/// How `run.error` starts when an operator aborted the run (`drbook abort`). Such a run ends
/// `aborted` instead of `failed` once its completed steps are compensated. The marker lives in
/// the error text because the run record is what a resumed run rebuilds its phase from, so an
/// abort interrupted by a crash still ends `aborted`.
pub const OPERATOR_ABORT_PREFIX: &str = "aborted by ";

/// The key of a step record's `response` that says an operator skipped the step
/// (`{"operator_skip": {"actor": ..., "reason": ..., "at": ...}}`). Retrying a failed run keeps
/// such steps skipped, where the steps the engine skipped run again.
pub const OPERATOR_SKIP_KEY: &str = "operator_skip";

/// Whether an operator aborted the run (see [`OPERATOR_ABORT_PREFIX`]).
pub fn is_operator_abort(run: &RunRecord) -> bool {
    run.error
        .as_deref()
        .is_some_and(|e| e.starts_with(OPERATOR_ABORT_PREFIX))
}

/// Whether an operator skipped this step (see [`OPERATOR_SKIP_KEY`]).
pub fn is_operator_skip(record: &StepRecord) -> bool {
    record.status == StepStatus::Skipped
        && record
            .response
            .as_ref()
            .is_some_and(|r| r.get(OPERATOR_SKIP_KEY).is_some())
}

/// Marks a record skipped by an operator: closes an attempt left open, records who and why.
pub fn mark_operator_skip(record: &mut StepRecord, actor: &str, reason: &str, now: Timestamp) {
    if let Some(last) = record.attempts.last_mut()
        && last.outcome == AttemptOutcome::InProgress
    {
        last.outcome = AttemptOutcome::Cancelled;
        last.ended_at = Some(now);
        last.error_code = Some(codes::CANCELLED.to_owned());
        last.message = Some(format!("skipped by {actor}"));
    }
    record.status = StepStatus::Skipped;
    record.skip_reason = Some(format!("skipped by {actor}: {reason}"));
    record.response = Some(json!({
        OPERATOR_SKIP_KEY: {"actor": actor, "reason": reason, "at": now}
    }));
    record.next_attempt_at = None;
    record.ended_at = Some(now);
}

/// What happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run starts, or continues after a resume: queue what is ready, recover what was in
    /// flight when the run last stopped.
    Start,
    /// An action's task ended.
    Done { task: TaskId, outcome: Outcome },
    /// A reconciliation ended.
    Reconciled { task: TaskId, verdict: Verdict },
    /// A timer (retry delay, approval timeout, sleep) fired.
    TimerFired { task: TaskId },
    /// An operator command arrived through the inbox (`id`: its file name).
    Command {
        id: String,
        command: OperatorCommand,
    },
    /// The run-wide deadline passed.
    DeadlinePassed,
}

/// How an action ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok(Value),
    Err(Failure),
}

/// What a reconciliation found out about a mutating call whose answer was lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The call was applied; the value stands in for its answer (`job` holds the job's outcome,
    /// read from the resource once it settled).
    Applied(Value),
    /// The call was not applied: it may be sent (again).
    NotApplied,
    /// drbook cannot tell; the message says what the operator should check.
    Unknown(String),
}

/// What `wait.until` polls.
#[derive(Debug, Clone)]
pub struct WaitUntilSpec {
    pub op: &'static Operation,
    pub inputs: Map<String, Value>,
    pub select: Selector,
    pub desired: Vec<Value>,
    pub stop: Vec<Value>,
    pub interval: Duration,
    pub max_wait: Duration,
}

/// Level of a `log` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Something to do once the decision's records are durable.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Call an SDRS/ECS operation.
    Call {
        task: TaskId,
        op: &'static Operation,
        inputs: Map<String, Value>,
        timeout: Option<Duration>,
    },
    /// Poll a job until it is final.
    WaitJob {
        task: TaskId,
        service: Service,
        job_id: String,
        max_wait: Duration,
        timeout: Option<Duration>,
    },
    /// Poll a read-only action until a value is desired (or a stop value).
    WaitUntil {
        task: TaskId,
        spec: Box<WaitUntilSpec>,
        timeout: Option<Duration>,
    },
    /// Find out whether a mutating call was applied.
    Reconcile {
        task: TaskId,
        op: &'static Operation,
        inputs: Map<String, Value>,
    },
    /// Write a `log` step's message, then report success.
    Log {
        task: TaskId,
        key: String,
        level: LogLevel,
        message: String,
    },
    /// Report an outcome already known (an `assert`), as an event.
    Complete { task: TaskId, outcome: Outcome },
    /// Fire `TimerFired` at `at`.
    Timer { task: TaskId, at: Timestamp },
    /// Stop a task; its event, if it still comes, is ignored.
    Cancel { task: TaskId },
    /// Fire `DeadlinePassed` at `at`.
    Deadline { at: Timestamp },
    /// An operator command was handled: remove it from the inbox and answer it.
    Reply {
        command: String,
        accepted: bool,
        message: String,
    },
    /// The run reached a terminal status: release its locks.
    Finished { status: RunStatus },
}

/// Progress worth telling a human about (the CLI prints these on stderr).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Run {
        status: RunStatus,
        error: Option<String>,
    },
    StepStarted {
        key: String,
        action: String,
    },
    StepEnded {
        key: String,
        status: StepStatus,
        code: Option<String>,
        message: Option<String>,
    },
    Retrying {
        key: String,
        code: String,
        delay: Duration,
        throttled: bool,
    },
    WaitingApproval {
        run_id: String,
        key: String,
        message: String,
        approvers: Vec<String>,
    },
    Simulated {
        key: String,
        action: String,
        request: Value,
    },
    Log {
        key: String,
        level: LogLevel,
        message: String,
    },
    Reconciled {
        key: String,
        verdict: String,
    },
    Compensating {
        key: String,
        action: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Run { status, error } => {
                write!(f, "run {}", status.as_str())?;
                if let Some(error) = error {
                    write!(f, ": {error}")?;
                }
                Ok(())
            }
            Notice::StepStarted { key, action } => write!(f, "{key}: {action} started"),
            Notice::StepEnded {
                key,
                status,
                code,
                message,
            } => {
                write!(f, "{key}: {}", status.as_str())?;
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Notice::Retrying {
                key,
                code,
                delay,
                throttled,
            } => write!(
                f,
                "{key}: {code}, {} in {:.1}s",
                if *throttled {
                    "throttled; retrying"
                } else {
                    "retrying"
                },
                delay.as_secs_f64()
            ),
            Notice::WaitingApproval {
                run_id,
                key,
                message,
                approvers,
            } => {
                write!(f, "{key}: waiting for approval: {message}")?;
                if !approvers.is_empty() {
                    write!(f, " (approvers: {})", approvers.join(", "))?;
                }
                write!(
                    f,
                    "\n    decide from another terminal: drbook approve {run_id} {key} [--comment ...] | drbook reject {run_id} {key} --comment ..."
                )
            }
            Notice::Simulated {
                key,
                action,
                request,
            } => write!(f, "{key}: dry run: would run {action} {request}"),
            Notice::Log {
                key,
                level,
                message,
            } => write!(f, "{key}: [{level:?}] {message}"),
            Notice::Reconciled { key, verdict } => write!(f, "{key}: reconciled: {verdict}"),
            Notice::Compensating { key, action } => write!(f, "{key}: compensating with {action}"),
        }
    }
}

/// Everything one batch of decisions produced.
#[derive(Debug, Default)]
pub struct Decision {
    pub effects: Vec<Effect>,
    pub audit: Vec<AuditEvent>,
    pub history: Vec<EventRecord>,
    pub notices: Vec<Notice>,
}

impl Decision {
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
            && self.audit.is_empty()
            && self.history.is_empty()
            && self.notices.is_empty()
    }
}

/// Applies one event to the run.
pub fn decide(state: &mut RunState, event: Event, now: Timestamp, out: &mut Decision) {
    match event {
        Event::Start => state.on_start(now, out),
        Event::Done { task, outcome } => state.on_done(task, outcome, now, out),
        Event::Reconciled { task, verdict } => state.on_reconciled(task, verdict, now, out),
        Event::TimerFired { task } => state.on_timer(task, now, out),
        Event::Command { id, command } => state.on_command(id, command, now, out),
        Event::DeadlinePassed => {
            let reason = format!("the run-wide deadline passed ({})", codes::DEADLINE);
            state.begin_abort(reason, codes::DEADLINE, now, out);
        }
    }
    state.settle(now, out);
}

fn failure_text(failure: &Failure) -> String {
    format!("{}: {}", failure.code, failure.message)
}

fn parse_duration(value: Option<&Value>, default: Duration) -> Result<Duration, String> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(text)) => text
            .parse::<runbook::Duration>()
            .map(|d| d.as_std())
            .map_err(|e| e.to_string()),
        Some(other) => Err(format!(
            "expected a duration such as 30s, got {}",
            runbook::helpers::kind(other)
        )),
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl RunState {
    fn new_task(&mut self, unit: UnitId, track: Track, purpose: Purpose) -> TaskId {
        let id = self.next_task;
        self.next_task += 1;
        self.tasks.insert(
            id,
            Task {
                unit,
                track,
                purpose,
            },
        );
        if let Some(u) = self.unit_mut(unit) {
            u.task = Some(id);
        }
        id
    }

    fn take_slot(&mut self, id: UnitId) {
        if let Some(unit) = self.unit_mut(id)
            && !unit.slot
        {
            unit.slot = true;
            self.in_flight += 1;
        }
    }

    fn release_slot(&mut self, id: UnitId) {
        if let Some(unit) = self.unit_mut(id)
            && unit.slot
        {
            unit.slot = false;
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    fn history(&self, out: &mut Decision, id: UnitId, now: Timestamp, data: Value) {
        out.history.push(EventRecord {
            time: now,
            kind: "step.status".into(),
            step: Some(self.key(id).to_string()),
            data,
        });
    }

    fn audit(&self, out: &mut Decision, kind: AuditKind, data: Value) {
        out.audit.push(AuditEvent {
            actor: self.run.actor.clone(),
            kind,
            run_id: Some(self.run.run_id),
            data,
        });
    }

    fn set_run_status(&mut self, status: RunStatus, now: Timestamp, out: &mut Decision) {
        if self.run.status == status {
            return;
        }
        self.run.status = status;
        self.run_dirty = true;
        out.history.push(EventRecord {
            time: now,
            kind: "run.status".into(),
            step: None,
            data: json!({ "status": status.as_str(), "error": self.run.error }),
        });
        out.notices.push(Notice::Run {
            status,
            error: if status.is_terminal() {
                self.run.error.clone()
            } else {
                None
            },
        });
    }

    // ----- start and recovery -------------------------------------------------------------

    fn on_start(&mut self, now: Timestamp, out: &mut Decision) {
        if self.phase == Phase::Done {
            return;
        }
        if self.run.started_at.is_none() {
            self.run.started_at = Some(now);
            self.run_dirty = true;
        }
        if matches!(
            self.run.status,
            RunStatus::Pending | RunStatus::WaitingApproval
        ) {
            self.set_run_status(RunStatus::Running, now, out);
        }
        if let Some(at) = self.run.deadline {
            out.effects.push(Effect::Deadline { at });
        }
        match self.phase.clone() {
            Phase::Running | Phase::Draining { .. } => self.recover_forward(now, out),
            Phase::Compensating { .. } => self.recover_compensation(now, out),
            Phase::Done => {}
        }
    }

    /// Queues the ready steps and picks up every unit that was in flight.
    fn recover_forward(&mut self, now: Timestamp, out: &mut Decision) {
        let draining = matches!(self.phase, Phase::Draining { .. });
        for i in 0..self.steps.len() {
            let node = &self.steps[i];
            if !node.active || is_final(node.unit.status()) {
                continue;
            }
            let step = i as u32;
            if node.unit.status() == StepStatus::Pending {
                if node.preds_left == 0 && !draining {
                    self.to_resolve.push(step);
                }
                continue;
            }
            if node.fan.is_some() {
                self.steps[i].queued = true;
                let len = self.steps[i].fan.as_ref().map_or(0, |f| f.units.len());
                for item in 0..len {
                    let id = UnitId::item(step, item as u32);
                    let status = self.unit(id).map_or(StepStatus::Pending, |u| u.status());
                    if status != StepStatus::Pending && !is_final(status) {
                        if let Some(fan) = self.steps[i].fan.as_mut() {
                            fan.in_progress += 1;
                        }
                        self.recover_unit(id, draining, now, out);
                    }
                }
                if !draining {
                    self.queue_items(step);
                }
                if let Some(fan) = self.steps[i].fan.as_ref()
                    && fan.in_progress == 0
                    && (fan.finished as usize == fan.units.len() || fan.overflow)
                {
                    self.complete_fan(step, now, out);
                }
            } else {
                self.steps[i].queued = true;
                self.recover_unit(UnitId::step(step), draining, now, out);
            }
        }
    }

    /// Picks up one unit that was in flight when the run stopped.
    fn recover_unit(&mut self, id: UnitId, draining: bool, now: Timestamp, out: &mut Decision) {
        let Some(unit) = self.unit(id) else {
            return;
        };
        let status = unit.status();
        let in_flight_call = unit.record.intent.is_some()
            && unit
                .record
                .attempts
                .last()
                .is_some_and(|a| a.outcome == AttemptOutcome::InProgress);
        if in_flight_call {
            // The process died between the intent and the answer: find out before anything else.
            self.take_slot(id);
            self.start_reconcile(id, Track::Forward, None, now, out);
            return;
        }
        if draining {
            self.cancel_unit(id, codes::CANCELLED, now, out);
            return;
        }
        match status {
            StepStatus::Retrying => {
                let at = unit.record.next_attempt_at.unwrap_or(now);
                let task = self.new_task(id, Track::Forward, Purpose::RetryTimer);
                out.effects.push(Effect::Timer { task, at });
            }
            StepStatus::WaitingApproval => {
                self.begin_attempt(id, Track::Forward, now, out);
            }
            _ => {
                // A read-only action, a sleep or a wait: running it again is harmless.
                self.take_slot(id);
                self.begin_attempt(id, Track::Forward, now, out);
            }
        }
    }

    fn recover_compensation(&mut self, now: Timestamp, out: &mut Decision) {
        let mut current = None;
        let mut failed = false;
        for i in 0..self.steps.len() {
            let node = &self.steps[i];
            if !node.active || node.compensation.is_none() {
                continue;
            }
            let ids: Vec<UnitId> = match &node.fan {
                Some(fan) => (0..fan.units.len())
                    .map(|k| UnitId::item(i as u32, k as u32))
                    .collect(),
                None => vec![UnitId::step(i as u32)],
            };
            for id in ids {
                match self.unit(id).map(|u| u.status()) {
                    Some(StepStatus::Compensating) => current = Some(id),
                    Some(StepStatus::CompensationFailed) => failed = true,
                    _ => {}
                }
            }
        }
        if failed {
            self.finish(RunStatus::FailedCompensation, now, out);
            return;
        }
        let mut queue = self.compensation_candidates();
        if let Some(id) = current {
            queue.retain(|u| *u != id);
        }
        self.phase = Phase::Compensating {
            queue: queue.into(),
            current,
        };
        let Some(id) = current else {
            return;
        };
        let Some(unit) = self.unit(id) else {
            return;
        };
        let comp = unit.record.compensation.clone().unwrap_or_default();
        let in_flight_call = comp.intent.is_some()
            && comp
                .attempts
                .last()
                .is_some_and(|a| a.outcome == AttemptOutcome::InProgress);
        if let Some(job_id) = comp.job_id.clone().filter(|_| comp.ended_at.is_none()) {
            self.wait_compensation_job(id, job_id, out);
        } else if in_flight_call {
            self.start_reconcile(id, Track::Compensation, None, now, out);
        } else if let Some(at) = comp.next_attempt_at {
            let task = self.new_task(id, Track::Compensation, Purpose::RetryTimer);
            out.effects.push(Effect::Timer { task, at });
        } else {
            self.begin_attempt(id, Track::Compensation, now, out);
        }
    }

    // ----- the settle loop -------------------------------------------------------------------

    /// After every event: judge the steps whose predecessors are done, start what the slots
    /// allow, move compensation on, and end the run when nothing is left.
    fn settle(&mut self, now: Timestamp, out: &mut Decision) {
        loop {
            while let Some(step) = self.to_resolve.pop() {
                self.resolve(step, now, out);
            }
            self.pump(now, out);
            self.advance_compensation(now, out);
            if self.to_resolve.is_empty() && !self.compensation_can_advance() {
                if self.check_quiescent(now, out) {
                    continue;
                }
                break;
            }
        }
        if self.phase == Phase::Running && !self.run.status.is_terminal() {
            let status = self.live_status();
            self.set_run_status(status, now, out);
        }
    }

    /// Starts queued units while slots are free.
    fn pump(&mut self, now: Timestamp, out: &mut Decision) {
        while let Some(&id) = self.ready.front() {
            if self.phase != Phase::Running {
                self.ready.clear();
                return;
            }
            // A dry run simulates a fan-out whose items come from a simulated step as a whole.
            let fan_parent = id.item.is_none()
                && self.step_def(id.step).for_each.is_some()
                && !self.reads_simulated(id.step);
            let approval = self.steps[id.step as usize].action == ActionPlan::Approval;
            if !fan_parent && !approval && self.in_flight >= self.config.concurrency {
                return;
            }
            self.ready.pop_front();
            if fan_parent {
                self.start_fan(id.step, now, out);
            } else {
                if !approval {
                    self.take_slot(id);
                }
                self.begin_attempt(id, Track::Forward, now, out);
            }
        }
    }

    /// Decides, once all its predecessors are final, whether a step runs or is skipped.
    fn resolve(&mut self, step: u32, now: Timestamp, out: &mut Decision) {
        let i = step as usize;
        if !self.steps[i].active
            || self.steps[i].unit.status() != StepStatus::Pending
            || self.steps[i].queued
            || self.phase != Phase::Running
        {
            return;
        }
        for &n in &self.steps[i].needs {
            let need = &self.steps[n as usize];
            match need.unit.status() {
                StepStatus::Succeeded | StepStatus::Skipped => {}
                StepStatus::Failed if need.handler == Some(step) => {}
                other => {
                    let reason = format!(
                        "needs `{}`, which {}",
                        need.id,
                        match other {
                            StepStatus::Failed => "failed".to_owned(),
                            StepStatus::Cancelled => "was cancelled".to_owned(),
                            s => format!("is {}", s.as_str()),
                        }
                    );
                    self.skip(step, reason, now, out);
                    return;
                }
            }
        }
        if !self.steps[i].handles.is_empty()
            && !self.steps[i]
                .handles
                .iter()
                .any(|&h| self.steps[h as usize].unit.status() == StepStatus::Failed)
        {
            self.skip(
                step,
                "a failure handler, and no step it handles failed".into(),
                now,
                out,
            );
            return;
        }
        if self.config.dry_run {
            let tainted = self.steps[i].needs.iter().any(|&p| {
                let p = &self.steps[p as usize];
                p.tainted || p.unit.simulated
            });
            self.steps[i].tainted = tainted;
        }
        let reads_simulated = self.reads_simulated(step);
        if let Some(when) = self.step_def(step).when.clone()
            && !(self.config.dry_run && reads_simulated)
        {
            match runbook::evaluate_condition(&when, &self.context) {
                Ok(true) => {}
                Ok(false) => {
                    self.skip(step, "its `when` condition is false".into(), now, out);
                    return;
                }
                Err(e) => {
                    let failure =
                        Failure::drbook(codes::TEMPLATE, self.mask(&format!("`when`: {e}")));
                    self.fail_final(UnitId::step(step), Track::Forward, failure, now, out);
                    return;
                }
            }
        }
        self.steps[i].queued = true;
        self.ready.push_back(UnitId::step(step));
    }

    fn reads_simulated(&self, step: u32) -> bool {
        self.config.dry_run
            && self.steps[step as usize]
                .reads
                .iter()
                .any(|&r| self.steps[r as usize].unit.simulated)
    }

    fn skip(&mut self, step: u32, reason: String, now: Timestamp, out: &mut Decision) {
        let id = UnitId::step(step);
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = StepStatus::Skipped;
            unit.record.skip_reason = Some(reason.clone());
            unit.record.ended_at = Some(now);
        }
        self.touch(id);
        self.history(out, id, now, json!({"status": "skipped", "reason": reason}));
        out.notices.push(Notice::StepEnded {
            key: self.key(id).to_string(),
            status: StepStatus::Skipped,
            code: None,
            message: Some(reason),
        });
        self.finish_step(step, now, out);
    }

    // ----- for_each ----------------------------------------------------------------------------

    fn start_fan(&mut self, step: u32, now: Timestamp, out: &mut Decision) {
        let id = UnitId::step(step);
        let items = match self.render_items(step) {
            Ok(items) => items,
            Err(message) => {
                let failure = Failure::drbook(
                    codes::TEMPLATE,
                    self.mask(&format!("for_each.items: {message}")),
                );
                self.fail_final(id, Track::Forward, failure, now, out);
                return;
            }
        };
        let def = self.step_def(step);
        let (concurrency, _) = def
            .for_each
            .as_ref()
            .map_or((None, 0), |f| (f.concurrency, f.max_errors));
        let len = items.len();
        let key_id = self.steps[step as usize].id.clone();
        let units = (0..len)
            .map(|k| super::state::Unit {
                record: crate::store::records::StepRecord::pending(
                    &crate::store::records::StepKey::item(key_id.clone(), k),
                ),
                outputs: Map::new(),
                task: None,
                slot: false,
                dirty: false,
                simulated: false,
            })
            .collect();
        let limit = concurrency
            .filter(|c| *c > 0)
            .unwrap_or(u32::MAX)
            .min(len.max(1) as u32);
        self.steps[step as usize].fan = Some(Fan {
            items,
            units,
            next: 0,
            in_progress: 0,
            failed: 0,
            finished: 0,
            limit,
            overflow: false,
        });
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = StepStatus::Running;
            unit.record.started_at = Some(now);
        }
        self.touch(id);
        self.history(out, id, now, json!({"status": "running", "items": len}));
        out.notices.push(Notice::StepStarted {
            key: self.key(id).to_string(),
            action: format!("{} × {len}", self.step_def(step).action),
        });
        if len == 0 {
            self.complete_fan(step, now, out);
        } else {
            self.queue_items(step);
        }
    }

    /// Queues items of a `for_each` step up to its concurrency.
    fn queue_items(&mut self, step: u32) {
        let Some(fan) = self.steps[step as usize].fan.as_mut() else {
            return;
        };
        let mut queued = Vec::new();
        while !fan.overflow && fan.next < fan.units.len() && fan.in_progress < fan.limit {
            let k = fan.next;
            fan.next += 1;
            if fan.units[k].record.status != StepStatus::Pending {
                continue;
            }
            fan.in_progress += 1;
            queued.push(UnitId::item(step, k as u32));
        }
        self.ready.extend(queued);
    }

    /// An item of a `for_each` step became final.
    fn finish_item(&mut self, id: UnitId, now: Timestamp, out: &mut Decision) {
        let step = id.step;
        let max_errors = self
            .step_def(step)
            .for_each
            .as_ref()
            .map_or(0, |f| f.max_errors);
        let status = self.unit(id).map_or(StepStatus::Failed, |u| u.status());
        let Some(fan) = self.steps[step as usize].fan.as_mut() else {
            return;
        };
        fan.in_progress = fan.in_progress.saturating_sub(1);
        fan.finished += 1;
        if status == StepStatus::Failed {
            fan.failed += 1;
            if fan.failed > max_errors {
                fan.overflow = true;
            }
        }
        let done =
            fan.finished as usize == fan.units.len() || (fan.overflow && fan.in_progress == 0);
        if self.phase == Phase::Running {
            self.queue_items(step);
        }
        if done {
            self.complete_fan(step, now, out);
        }
    }

    /// Every item of a `for_each` step is final (or too many failed): the step ends.
    fn complete_fan(&mut self, step: u32, now: Timestamp, out: &mut Decision) {
        let id = UnitId::step(step);
        if self.unit(id).is_some_and(|u| is_final(u.status())) {
            return;
        }
        let max_errors = self
            .step_def(step)
            .for_each
            .as_ref()
            .map_or(0, |f| f.max_errors);
        let mut cancelled = Vec::new();
        let (overflow, failed, total, cancelled_items) = {
            let Some(fan) = self.steps[step as usize].fan.as_mut() else {
                return;
            };
            if fan.overflow {
                for (k, unit) in fan.units.iter_mut().enumerate() {
                    if unit.record.status == StepStatus::Pending {
                        unit.record.status = StepStatus::Cancelled;
                        unit.record.skip_reason =
                            Some(format!("more than {max_errors} items failed"));
                        unit.record.ended_at = Some(now);
                        cancelled.push(UnitId::item(step, k as u32));
                    }
                }
            }
            let cancelled_items = fan
                .units
                .iter()
                .filter(|u| u.record.status == StepStatus::Cancelled)
                .count();
            (fan.overflow, fan.failed, fan.units.len(), cancelled_items)
        };
        for c in cancelled {
            self.touch(c);
        }
        // Outputs: one list per declared output, one value per item in item order.
        let names: Vec<String> = self
            .step_def(step)
            .outputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let simulated;
        let mut outputs = Map::new();
        {
            let fan = self.steps[step as usize].fan.as_ref();
            simulated = fan.is_some_and(|f| f.units.iter().any(|u| u.simulated));
            for name in &names {
                let list: Vec<Value> = fan
                    .map(|f| {
                        f.units
                            .iter()
                            .map(|u| u.outputs.get(name).cloned().unwrap_or(Value::Null))
                            .collect()
                    })
                    .unwrap_or_default();
                outputs.insert(name.clone(), Value::Array(list));
            }
        }
        let masked = self.mask_value(&Value::Object(outputs.clone()));
        let node = &mut self.steps[step as usize];
        node.unit.simulated = simulated;
        node.unit.outputs = outputs;
        node.unit.record.outputs = Some(masked);
        node.unit.record.ended_at = Some(now);
        if overflow {
            let failure = Failure::drbook(
                codes::ITEMS,
                format!("{failed} of {total} items failed; max_errors is {max_errors}"),
            );
            node.unit.record.status = StepStatus::Failed;
            node.unit.record.attempts.push(Attempt {
                number: 1,
                started_at: node.unit.record.started_at.unwrap_or(now),
                ended_at: Some(now),
                outcome: AttemptOutcome::Failed,
                error_code: Some(failure.code.clone()),
                message: Some(failure.message.clone()),
            });
            self.touch(id);
            self.history(
                out,
                id,
                now,
                json!({"status": "failed", "code": failure.code, "message": failure.message}),
            );
            self.audit(
                out,
                AuditKind::StepTransition,
                json!({"step": self.key(id).to_string(), "status": "failed", "code": failure.code}),
            );
            out.notices.push(Notice::StepEnded {
                key: self.key(id).to_string(),
                status: StepStatus::Failed,
                code: Some(failure.code.clone()),
                message: Some(failure.message.clone()),
            });
        } else if cancelled_items > 0 {
            node.unit.record.status = StepStatus::Cancelled;
            self.touch(id);
            self.history(
                out,
                id,
                now,
                json!({"status": "cancelled", "items": total, "cancelled": cancelled_items}),
            );
            out.notices.push(Notice::StepEnded {
                key: self.key(id).to_string(),
                status: StepStatus::Cancelled,
                code: Some(codes::CANCELLED.into()),
                message: Some(format!("{cancelled_items} of {total} items cancelled")),
            });
        } else {
            node.unit.record.status = StepStatus::Succeeded;
            self.touch(id);
            self.history(out, id, now, json!({"status": "succeeded", "items": total}));
            self.audit(
                out,
                AuditKind::StepTransition,
                json!({"step": self.key(id).to_string(), "status": "succeeded", "items": total}),
            );
            out.notices.push(Notice::StepEnded {
                key: self.key(id).to_string(),
                status: StepStatus::Succeeded,
                code: None,
                message: (failed > 0).then(|| format!("{failed} of {total} items failed")),
            });
        }
        self.finish_step(step, now, out);
    }

    // ----- attempts ------------------------------------------------------------------------------

    /// The inputs of a unit's action for a track, rendered.
    fn render_inputs(&self, id: UnitId, track: Track) -> Result<Map<String, Value>, String> {
        let def = self.step_def(id.step);
        let raw = match track {
            Track::Forward => &def.inputs,
            Track::Compensation => match &def.compensate {
                Some(c) => &c.inputs,
                None => return Err("the step has no compensation".into()),
            },
        };
        let context = self.track_context(id, track);
        // Input by input: rendering a copy of the whole mapping would clone it twice.
        raw.iter()
            .map(|(k, v)| Ok((k.clone(), runbook::render(v, &context)?)))
            .collect::<Result<Map<String, Value>, runbook::Error>>()
            .map_err(|e| e.to_string())
    }

    /// The context templates of a track render in. A compensation sees the step's own outputs
    /// (for an item: that item's outputs, plus `item` and `index`).
    fn track_context(&self, id: UnitId, track: Track) -> std::borrow::Cow<'_, runbook::Context> {
        match (track, id.item) {
            (Track::Compensation, Some(_)) => {
                let mut context = self.context_for(id).into_owned();
                if let Some(unit) = self.unit(id) {
                    context.set_step(
                        &self.steps[id.step as usize].id,
                        runbook::StepStatus::Succeeded,
                        unit.outputs.clone(),
                    );
                }
                std::borrow::Cow::Owned(context)
            }
            _ => self.context_for(id),
        }
    }

    fn plan_of(&self, id: UnitId, track: Track) -> Option<ActionPlan> {
        let node = &self.steps[id.step as usize];
        match track {
            Track::Forward => Some(node.action),
            Track::Compensation => node.compensation,
        }
    }

    fn action_name(&self, id: UnitId, track: Track) -> String {
        let def = self.step_def(id.step);
        match track {
            Track::Forward => def.action.clone(),
            Track::Compensation => def
                .compensate
                .as_ref()
                .map_or_else(String::new, |c| c.action.clone()),
        }
    }

    fn attempts_mut(&mut self, id: UnitId, track: Track) -> Option<&mut Vec<Attempt>> {
        let unit = self.unit_mut(id)?;
        Some(match track {
            Track::Forward => &mut unit.record.attempts,
            Track::Compensation => {
                &mut unit
                    .record
                    .compensation
                    .get_or_insert_with(CompensationRecord::default)
                    .attempts
            }
        })
    }

    /// Opens a new attempt unless the last one is still open (a recovered sleep or approval).
    fn open_attempt(&mut self, id: UnitId, track: Track, now: Timestamp) -> u32 {
        let Some(attempts) = self.attempts_mut(id, track) else {
            return 0;
        };
        if let Some(last) = attempts.last()
            && last.outcome == AttemptOutcome::InProgress
        {
            return last.number;
        }
        let number = attempts.len() as u32 + 1;
        attempts.push(Attempt {
            number,
            started_at: now,
            ended_at: None,
            outcome: AttemptOutcome::InProgress,
            error_code: None,
            message: None,
        });
        number
    }

    fn close_attempt(
        &mut self,
        id: UnitId,
        track: Track,
        outcome: AttemptOutcome,
        failure: Option<&Failure>,
        now: Timestamp,
    ) {
        let Some(attempts) = self.attempts_mut(id, track) else {
            return;
        };
        if attempts
            .last()
            .is_none_or(|a| a.outcome != AttemptOutcome::InProgress)
        {
            // A failure before any attempt opened (a template error) is still an attempt.
            let number = attempts.len() as u32 + 1;
            attempts.push(Attempt {
                number,
                started_at: now,
                ended_at: None,
                outcome: AttemptOutcome::InProgress,
                error_code: None,
                message: None,
            });
        }
        if let Some(last) = attempts.last_mut() {
            last.outcome = outcome;
            last.ended_at = Some(now);
            if let Some(failure) = failure {
                last.error_code = Some(failure.code.clone());
                last.message = Some(failure.message.clone());
            }
        }
        self.forget_waited_job(id, track);
    }

    /// A job wait shows the job it polls only while it waits: a record's `job_id` names the job
    /// an operation returned (reports list those), not one a wait step polled.
    fn forget_waited_job(&mut self, id: UnitId, track: Track) {
        if track == Track::Forward
            && matches!(self.plan_of(id, track), Some(ActionPlan::JobWait(_)))
            && let Some(unit) = self.unit_mut(id)
        {
            unit.record.job_id = None;
        }
    }

    /// Starts (or restarts) one attempt of a unit's action.
    fn begin_attempt(&mut self, id: UnitId, track: Track, now: Timestamp, out: &mut Decision) {
        let Some(plan) = self.plan_of(id, track) else {
            return;
        };
        let key = self.key(id).to_string();
        if track == Track::Forward
            && let Some(unit) = self.unit_mut(id)
        {
            unit.record.started_at.get_or_insert(now);
            unit.record.next_attempt_at = None;
            if unit.record.status != StepStatus::WaitingApproval {
                unit.record.status = StepStatus::Running;
            }
        }
        if self.config.dry_run && self.should_simulate(id, track, plan) {
            self.simulate(id, track, plan, now, out);
            return;
        }
        if plan == ActionPlan::Assert {
            self.run_assert(id, track, now, out);
            return;
        }
        let inputs = match self.render_inputs(id, track) {
            Ok(inputs) => inputs,
            Err(message) => {
                let failure = Failure::drbook(codes::TEMPLATE, self.mask(&message));
                self.fail_final(id, track, failure, now, out);
                return;
            }
        };
        let timeout = self.step_def(id.step).timeout.map(|d| d.as_std());
        match plan {
            ActionPlan::Operation(op) => {
                if op.effect == operations::Effect::Mutating {
                    let built =
                        match crate::sdrs::request::build(op, &self.config.project_id, &inputs) {
                            Ok(built) => built,
                            Err(error) => {
                                let mut failure = Failure::from_sdrs(&error);
                                failure.message = self.mask(&failure.message);
                                self.fail_final(id, track, failure, now, out);
                                return;
                            }
                        };
                    let request = self.mask_value(&json!({
                        "method": op.method.as_str(),
                        "path": built.target(),
                        "body": built
                            .body
                            .as_deref()
                            .and_then(|b| serde_json::from_slice::<Value>(b).ok()),
                    }));
                    let intent = Intent {
                        operation: op.name.to_owned(),
                        request: request.clone(),
                        recorded_at: now,
                    };
                    let attempt = self.open_attempt(id, track, now);
                    if let Some(unit) = self.unit_mut(id) {
                        match track {
                            Track::Forward => unit.record.intent = Some(intent),
                            Track::Compensation => {
                                let comp = unit
                                    .record
                                    .compensation
                                    .get_or_insert_with(CompensationRecord::default);
                                comp.intent = Some(intent);
                                comp.next_attempt_at = None;
                            }
                        }
                    }
                    self.touch(id);
                    self.history(
                        out,
                        id,
                        now,
                        json!({
                            "status": if track == Track::Forward { "running" } else { "compensating" },
                            "attempt": attempt,
                            "operation": op.name,
                        }),
                    );
                    self.audit(
                        out,
                        AuditKind::SdrsRequest,
                        json!({
                            "step": key,
                            "track": if track == Track::Forward { "forward" } else { "compensation" },
                            "attempt": attempt,
                            "operation": op.name,
                            "request": request,
                        }),
                    );
                    if track == Track::Forward {
                        out.notices.push(Notice::StepStarted {
                            key,
                            action: self.action_name(id, track),
                        });
                    }
                } else {
                    self.open_attempt(id, track, now);
                }
                let task = self.new_task(id, track, Purpose::Attempt);
                out.effects.push(Effect::Call {
                    task,
                    op,
                    inputs,
                    timeout,
                });
            }
            ActionPlan::JobWait(service) => {
                self.open_attempt(id, track, now);
                let Some(job_id) = inputs
                    .get("job_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    let failure = Failure::drbook(
                        codes::TEMPLATE,
                        "`job_id` must be a string (did the step that returns it run?)",
                    );
                    self.fail_final(id, track, failure, now, out);
                    return;
                };
                let max_wait =
                    match parse_duration(inputs.get("max_wait"), Duration::from_secs(1800)) {
                        Ok(d) => d,
                        Err(e) => {
                            self.fail_final(
                                id,
                                track,
                                Failure::drbook(codes::TEMPLATE, format!("`max_wait`: {e}")),
                                now,
                                out,
                            );
                            return;
                        }
                    };
                if track == Track::Forward
                    && let Some(unit) = self.unit_mut(id)
                {
                    // `drbook status` shows which SDRS job the step waits for.
                    unit.record.status = StepStatus::WaitingJob;
                    unit.record.job_id = Some(job_id.clone());
                    self.touch(id);
                }
                let task = self.new_task(id, track, Purpose::Attempt);
                if let Some(reference) = job_id.strip_prefix(RECONCILED_JOB_PREFIX) {
                    let outcome = self.reconciled_job(reference);
                    out.effects.push(Effect::Complete { task, outcome });
                } else {
                    out.effects.push(Effect::WaitJob {
                        task,
                        service,
                        job_id,
                        max_wait,
                        timeout,
                    });
                }
            }
            ActionPlan::WaitUntil => {
                self.open_attempt(id, track, now);
                match wait_until_spec(&inputs) {
                    Ok(spec) => {
                        let task = self.new_task(id, track, Purpose::Attempt);
                        out.effects.push(Effect::WaitUntil {
                            task,
                            spec: Box::new(spec),
                            timeout,
                        });
                    }
                    Err(message) => {
                        let failure = Failure::drbook(codes::TEMPLATE, self.mask(&message));
                        self.fail_final(id, track, failure, now, out);
                    }
                }
            }
            ActionPlan::Approval => {
                if track == Track::Compensation {
                    let failure =
                        Failure::drbook(codes::TEMPLATE, "an approval cannot be a compensation");
                    self.fail_final(id, track, failure, now, out);
                    return;
                }
                self.enter_approval(id, &inputs, now, out);
            }
            ActionPlan::Sleep => {
                let duration = match parse_duration(inputs.get("duration"), Duration::ZERO) {
                    Ok(d) => d,
                    Err(e) => {
                        self.fail_final(
                            id,
                            track,
                            Failure::drbook(codes::TEMPLATE, format!("`duration`: {e}")),
                            now,
                            out,
                        );
                        return;
                    }
                };
                self.open_attempt(id, track, now);
                let started = self
                    .unit(id)
                    .and_then(|u| u.record.attempts.last().map(|a| a.started_at))
                    .unwrap_or(now);
                if track == Track::Forward {
                    // Durable, so that a resumed run sleeps only the remaining time.
                    self.touch(id);
                }
                let at = started
                    .checked_add(jiff::SignedDuration::try_from(duration).unwrap_or_default())
                    .unwrap_or(now);
                let task = self.new_task(id, track, Purpose::Sleep);
                out.effects.push(Effect::Timer { task, at });
            }
            ActionPlan::Log => {
                self.open_attempt(id, track, now);
                let level = match inputs.get("level").and_then(Value::as_str) {
                    Some("debug") => LogLevel::Debug,
                    Some("warn") => LogLevel::Warn,
                    Some("error") => LogLevel::Error,
                    _ => LogLevel::Info,
                };
                let message = match inputs.get("message") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let message = self.mask(&message);
                let task = self.new_task(id, track, Purpose::Attempt);
                out.history.push(EventRecord {
                    time: now,
                    kind: "log".into(),
                    step: Some(key.clone()),
                    data: json!({"level": level, "message": message}),
                });
                out.effects.push(Effect::Log {
                    task,
                    key,
                    level,
                    message,
                });
            }
            ActionPlan::Assert => {}
        }
    }

    fn run_assert(&mut self, id: UnitId, track: Track, now: Timestamp, out: &mut Decision) {
        self.open_attempt(id, track, now);
        let def = self.step_def(id.step);
        let raw = match track {
            Track::Forward => &def.inputs,
            Track::Compensation => match &def.compensate {
                Some(c) => &c.inputs,
                None => return,
            },
        };
        let that = raw.get("that").cloned().unwrap_or(Value::Bool(false));
        let message = raw.get("message").cloned();
        let context = self.track_context(id, track);
        let holds = match &that {
            Value::Bool(b) => Ok(*b),
            Value::String(text) => runbook::evaluate_condition(text, &context),
            other => Err(runbook::Error::Template {
                message: format!(
                    "`that` is {}, not a condition",
                    runbook::helpers::kind(other)
                ),
            }),
        };
        let outcome = match holds {
            Ok(true) => Outcome::Ok(json!({"assert": true})),
            Ok(false) => {
                let text = match message.as_ref().map(|m| runbook::render(m, &context)) {
                    Some(Ok(Value::String(s))) => s,
                    Some(Ok(other)) => other.to_string(),
                    Some(Err(e)) => {
                        format!("the assertion failed (its message did not render: {e})")
                    }
                    None => "the assertion failed".to_owned(),
                };
                drop(context);
                Outcome::Err(Failure::drbook(codes::ASSERT, self.mask(&text)))
            }
            Err(e) => {
                drop(context);
                Outcome::Err(Failure::drbook(codes::TEMPLATE, self.mask(&e.to_string())))
            }
        };
        let task = self.new_task(id, track, Purpose::Attempt);
        out.effects.push(Effect::Complete { task, outcome });
    }

    /// A job wait on a reconciled call's placeholder id: the job's outcome comes from the
    /// reconciled unit's recorded answer.
    fn reconciled_job(&self, reference: &str) -> Outcome {
        let unknown = || {
            Outcome::Err(Failure::drbook(
                codes::UNKNOWN_OUTCOME,
                format!("no reconciled call `{reference}` in this run"),
            ))
        };
        let Some(key) = parse_step_key(reference) else {
            return unknown();
        };
        let Some(id) = self.unit_by_key(&key) else {
            return unknown();
        };
        let job = self
            .unit(id)
            .and_then(|u| u.record.response.as_ref())
            .and_then(|r| r.get("job").cloned())
            .or_else(|| {
                self.unit(id)
                    .and_then(|u| u.record.compensation.as_ref())
                    .and_then(|c| c.response.as_ref())
                    .and_then(|r| r.get("job").cloned())
            });
        let Some(job) = job else {
            return unknown();
        };
        if job.get("status").and_then(Value::as_str) == Some("SUCCESS") {
            Outcome::Ok(job)
        } else {
            let code = job
                .get("error_code")
                .and_then(Value::as_str)
                .unwrap_or(crate::sdrs::ErrorCode::JOB_FAILED)
                .to_owned();
            let reason = job
                .get("fail_reason")
                .and_then(Value::as_str)
                .unwrap_or("the reconciled operation did not reach its expected state")
                .to_owned();
            Outcome::Err(Failure {
                code,
                message: reason,
                class: FailureClass::Permanent,
                maybe_applied: true,
                timed_out: false,
                status: None,
            })
        }
    }

    // ----- dry run -------------------------------------------------------------------------------

    fn should_simulate(&self, id: UnitId, track: Track, plan: ActionPlan) -> bool {
        if plan.is_mutating() || matches!(plan, ActionPlan::Approval | ActionPlan::Sleep) {
            return true;
        }
        if track == Track::Compensation {
            return false;
        }
        let node = &self.steps[id.step as usize];
        self.reads_simulated(id.step) || (plan.is_wait() && node.tainted)
    }

    /// Records what a unit would have done, without doing it.
    fn simulate(
        &mut self,
        id: UnitId,
        track: Track,
        plan: ActionPlan,
        now: Timestamp,
        out: &mut Decision,
    ) {
        self.open_attempt(id, track, now);
        let def = self.step_def(id.step);
        let raw = match track {
            Track::Forward => def.inputs.clone(),
            Track::Compensation => def
                .compensate
                .as_ref()
                .map(|c| c.inputs.clone())
                .unwrap_or_default(),
        };
        let context = self.track_context(id, track).into_owned();
        let mut complete = true;
        let shown: Map<String, Value> = raw
            .iter()
            .map(|(k, v)| (k.clone(), render_known(v, &context, &mut complete)))
            .collect();
        let request = match plan {
            ActionPlan::Operation(op) if complete => {
                match crate::sdrs::request::build(op, &self.config.project_id, &shown) {
                    Ok(built) => json!({
                        "method": op.method.as_str(),
                        "path": built.target(),
                        "body": built.body.as_deref().and_then(|b| serde_json::from_slice::<Value>(b).ok()),
                    }),
                    Err(e) => json!({ "inputs": shown, "invalid": e.to_string() }),
                }
            }
            _ => json!({ "inputs": shown }),
        };
        let request = self.mask_value(&request);
        let action = self.action_name(id, track);
        let response = json!({
            SIMULATED_KEY: {
                "simulated": true,
                "action": action,
                "operation": match plan { ActionPlan::Operation(op) => Value::from(op.name), _ => Value::Null },
                "request": request,
            }
        });
        out.notices.push(Notice::Simulated {
            key: self.key(id).to_string(),
            action,
            request,
        });
        if let Some(unit) = self.unit_mut(id) {
            unit.simulated = true;
        }
        if track == Track::Forward {
            self.steps[id.step as usize].unit.simulated = true;
        }
        self.attempt_succeeded(id, track, response, true, now, out);
    }

    // ----- approvals -----------------------------------------------------------------------------

    fn enter_approval(
        &mut self,
        id: UnitId,
        inputs: &Map<String, Value>,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let message = match inputs.get("message") {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let message = self.mask(&message);
        let approvers = string_list(inputs.get("approvers"));
        let on_timeout = inputs
            .get("on_timeout")
            .and_then(Value::as_str)
            .unwrap_or("reject")
            .to_owned();
        self.open_attempt(id, Track::Forward, now);
        let started = self
            .unit(id)
            .and_then(|u| u.record.attempts.last().map(|a| a.started_at))
            .unwrap_or(now);
        if let Some(auto) = self.config.auto_approve.clone() {
            if !auto.enforce_approvers || approvers.is_empty() || approvers.contains(&auto.actor) {
                self.apply_decision(
                    id,
                    ApprovalVerdict::Approve,
                    auto.actor,
                    Some("auto-approved (--auto-approve)".into()),
                    now,
                    out,
                );
                return;
            }
            out.notices.push(Notice::Log {
                key: self.key(id).to_string(),
                level: LogLevel::Warn,
                message: format!(
                    "--auto-approve: `{}` is not among the approvers ({}); waiting for one of them",
                    auto.actor,
                    approvers.join(", ")
                ),
            });
        }
        let timeout = self.step_def(id.step).timeout.map(|d| d.as_std());
        let timeout_at = timeout.and_then(|t| {
            started
                .checked_add(jiff::SignedDuration::try_from(t).ok()?)
                .ok()
        });
        let already_waiting = self
            .unit(id)
            .is_some_and(|u| u.status() == StepStatus::WaitingApproval);
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = StepStatus::WaitingApproval;
            unit.record.response = Some(json!({
                "approval": {
                    "message": message,
                    "approvers": approvers,
                    "on_timeout": on_timeout,
                    "timeout_at": timeout_at,
                }
            }));
        }
        if !already_waiting {
            self.touch(id);
            self.history(out, id, now, json!({"status": "waiting-approval"}));
        }
        // A gate re-entered on resume after its deadline passed (nobody drove the run, or
        // `--no-wait` stopped it) is decided now, not through a timer: a `--no-wait` resume
        // returns as soon as only approvals wait, before a zero-delay timer could fire, so the
        // gate would otherwise wait forever.
        if timeout_at.is_some_and(|at| at <= now) {
            self.approval_timed_out(id, now, out);
            return;
        }
        out.notices.push(Notice::WaitingApproval {
            run_id: self.run.run_id.to_string(),
            key: self.key(id).to_string(),
            message,
            approvers,
        });
        let task = self.new_task(id, Track::Forward, Purpose::Approval);
        if let Some(at) = timeout_at {
            out.effects.push(Effect::Timer { task, at });
        }
    }

    fn apply_decision(
        &mut self,
        id: UnitId,
        verdict: ApprovalVerdict,
        actor: String,
        comment: Option<String>,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let decision = ApprovalDecision {
            actor: actor.clone(),
            verdict,
            comment: comment.clone(),
            decided_at: now,
        };
        if let Some(unit) = self.unit_mut(id) {
            unit.record.approval = Some(decision);
        }
        let verdict_name = match verdict {
            ApprovalVerdict::Approve => "approve",
            ApprovalVerdict::Reject => "reject",
        };
        out.audit.push(AuditEvent {
            actor: actor.clone(),
            kind: AuditKind::Approval,
            run_id: Some(self.run.run_id),
            data: json!({
                "step": self.key(id).to_string(),
                "verdict": verdict_name,
                "comment": comment,
            }),
        });
        match verdict {
            ApprovalVerdict::Approve => {
                let result = json!({
                    "verdict": verdict_name,
                    "actor": actor,
                    "comment": comment,
                    "decided_at": now,
                });
                self.attempt_succeeded(id, Track::Forward, result, false, now, out);
            }
            ApprovalVerdict::Reject => {
                let message = match comment.as_deref().filter(|c| !c.trim().is_empty()) {
                    Some(comment) => format!("rejected by {actor}: {comment}"),
                    None => format!("rejected by {actor}"),
                };
                self.fail_final(
                    id,
                    Track::Forward,
                    Failure::drbook(codes::REJECTED, message),
                    now,
                    out,
                );
            }
        }
    }

    fn on_command(
        &mut self,
        file: String,
        command: OperatorCommand,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let reply = self.apply_command(&command, now, out);
        let (accepted, message) = match reply {
            Ok(message) => (true, message),
            Err(message) => (false, message),
        };
        out.history.push(EventRecord {
            time: now,
            kind: "operator.command".into(),
            step: (!command.step.is_empty()).then(|| command.step.clone()),
            data: json!({
                "verb": command.verb,
                "actor": command.actor,
                "accepted": accepted,
                "message": message,
            }),
        });
        out.effects.push(Effect::Reply {
            command: file,
            accepted,
            message,
        });
    }

    fn apply_command(
        &mut self,
        command: &OperatorCommand,
        now: Timestamp,
        out: &mut Decision,
    ) -> Result<String, String> {
        match command.verb {
            Verb::Skip => return self.operator_skip(command, now, out),
            Verb::Abort => {
                return self.operator_abort(&command.actor, command.comment.as_deref(), now, out);
            }
            Verb::Approve | Verb::Reject => {}
        }
        let Some(&step) = self.index.get(&command.step) else {
            return Err(format!(
                "run {} has no step `{}`",
                self.run.run_id, command.step
            ));
        };
        let id = UnitId::step(step);
        let node = &self.steps[step as usize];
        if node.action != ActionPlan::Approval {
            return Err(format!("step `{}` is not an approval", command.step));
        }
        if node.unit.status() != StepStatus::WaitingApproval {
            return Err(format!(
                "step `{}` is {}, not waiting for approval",
                command.step,
                node.unit.status().as_str()
            ));
        }
        let approvers = string_list(
            node.unit
                .record
                .response
                .as_ref()
                .and_then(|r| r.pointer("/approval/approvers")),
        );
        if !approvers.is_empty() && !approvers.contains(&command.actor) {
            return Err(format!(
                "`{}` is not among the approvers of `{}` ({})",
                command.actor,
                command.step,
                approvers.join(", ")
            ));
        }
        let comment = command
            .comment
            .as_ref()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if command.verb == Verb::Reject && comment.is_none() {
            return Err("a rejection needs a comment saying why".into());
        }
        if let Some(task) = node.unit.task {
            self.tasks.remove(&task);
            out.effects.push(Effect::Cancel { task });
        }
        if let Some(unit) = self.unit_mut(id) {
            unit.task = None;
        }
        let verdict = if command.verb == Verb::Reject {
            ApprovalVerdict::Reject
        } else {
            ApprovalVerdict::Approve
        };
        self.apply_decision(id, verdict, command.actor.clone(), comment, now, out);
        Ok(format!(
            "step `{}` {} by {}",
            command.step,
            if verdict == ApprovalVerdict::Approve {
                "approved"
            } else {
                "rejected"
            },
            command.actor
        ))
    }

    // ----- operator skip and abort ---------------------------------------------------------------

    /// `drbook skip RUN STEP --reason ...` on a live run: the step ends `skipped` (its
    /// dependants run as if it had succeeded). Refused for a step that is final, whose
    /// `for_each` items have started, or whose mutating call is in flight (its outcome is not
    /// known yet; skipping it would hide a change made in the cloud).
    fn operator_skip(
        &mut self,
        command: &OperatorCommand,
        now: Timestamp,
        out: &mut Decision,
    ) -> Result<String, String> {
        let reason = command
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| "a skip needs a reason".to_owned())?
            .to_owned();
        let Some(&step) = self.index.get(&command.step) else {
            return Err(format!(
                "run {} has no step `{}`",
                self.run.run_id, command.step
            ));
        };
        let i = step as usize;
        let id = UnitId::step(step);
        if !self.steps[i].active {
            return Err(format!(
                "step `{}` does not run in this run's mode",
                command.step
            ));
        }
        if self.phase != Phase::Running {
            return Err(format!(
                "run {} is stopping ({}); its steps are no longer skipped",
                self.run.run_id,
                self.run.error.as_deref().unwrap_or("compensating")
            ));
        }
        let status = self.steps[i].unit.status();
        if is_final(status) {
            return Err(format!(
                "step `{}` is already {}",
                command.step,
                status.as_str()
            ));
        }
        if self.steps[i].fan.is_some() {
            return Err(format!(
                "step `{}` has started its for_each items; a fan-out cannot be skipped once started",
                command.step
            ));
        }
        if let Some(task) = self.steps[i].unit.task {
            if let Some(live) = self.tasks.get(&task)
                && !self.is_cancellable(live)
            {
                return Err(format!(
                    "step `{}` has a mutating call in flight (or being reconciled); skip it once that call is settled, or abort the run",
                    command.step
                ));
            }
            self.tasks.remove(&task);
            out.effects.push(Effect::Cancel { task });
            if let Some(unit) = self.unit_mut(id) {
                unit.task = None;
            }
        }
        self.ready.retain(|u| *u != id);
        self.steps[i].queued = true;
        if let Some(unit) = self.unit_mut(id) {
            mark_operator_skip(&mut unit.record, &command.actor, &reason, now);
        }
        self.forget_waited_job(id, Track::Forward);
        self.touch(id);
        let key = self.key(id).to_string();
        self.history(
            out,
            id,
            now,
            json!({"status": "skipped", "reason": reason, "actor": command.actor}),
        );
        out.audit.push(AuditEvent {
            actor: command.actor.clone(),
            kind: AuditKind::StepTransition,
            run_id: Some(self.run.run_id),
            data: json!({"step": key, "status": "skipped", "reason": reason}),
        });
        out.notices.push(Notice::StepEnded {
            key,
            status: StepStatus::Skipped,
            code: None,
            message: Some(format!("skipped by {}: {reason}", command.actor)),
        });
        self.finish_unit(id, now, out);
        Ok(format!(
            "step `{}` skipped by {}",
            command.step, command.actor
        ))
    }

    /// `drbook abort RUN --reason ...`: stops the run like a failure does (nothing new
    /// starts, cancellable work stops, mutating calls in flight finish), then compensates the
    /// completed steps; the run ends `aborted`.
    fn operator_abort(
        &mut self,
        actor: &str,
        reason: Option<&str>,
        now: Timestamp,
        out: &mut Decision,
    ) -> Result<String, String> {
        let reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| "an abort needs a reason".to_owned())?;
        match &self.phase {
            Phase::Running => {}
            Phase::Draining { reason } => {
                return Err(format!("the run is already stopping: {reason}"));
            }
            Phase::Compensating { .. } => {
                return Err("the run is already compensating its completed steps".into());
            }
            Phase::Done => return Err("the run has ended".into()),
        }
        self.begin_abort(
            format!("{OPERATOR_ABORT_PREFIX}{actor}: {reason}"),
            codes::CANCELLED,
            now,
            out,
        );
        Ok(format!(
            "run {} aborted by {actor}; completed steps are being compensated",
            self.run.run_id
        ))
    }

    // ----- results ---------------------------------------------------------------------------------

    fn on_done(&mut self, task: TaskId, outcome: Outcome, now: Timestamp, out: &mut Decision) {
        let Some(t) = self.take_task(task) else {
            return;
        };
        let id = t.unit;
        match (t.purpose, outcome) {
            (Purpose::Attempt, Outcome::Ok(value)) => {
                self.attempt_succeeded(id, t.track, value, false, now, out)
            }
            (Purpose::Attempt, Outcome::Err(failure)) => {
                let mutating = self.plan_of(id, t.track).is_some_and(|p| p.is_mutating());
                if mutating && failure.maybe_applied {
                    self.start_reconcile(id, t.track, Some(failure), now, out);
                } else if t.track == Track::Compensation
                    && NOT_FOUND_CODES.contains(&failure.code.as_str())
                {
                    let value = json!({"already_undone": failure.code});
                    self.attempt_succeeded(id, t.track, value, false, now, out);
                } else {
                    self.attempt_failed(id, t.track, failure, now, out);
                }
            }
            (Purpose::CompensationJob, Outcome::Ok(job)) => {
                self.close_attempt(
                    id,
                    Track::Compensation,
                    AttemptOutcome::Succeeded,
                    None,
                    now,
                );
                self.compensation_ended(id, Ok(job), now, out);
            }
            (Purpose::CompensationJob, Outcome::Err(failure)) => {
                self.attempt_failed(id, Track::Compensation, failure, now, out);
            }
            _ => {}
        }
    }

    /// Removes a live task, checking it is still the unit's current one.
    fn take_task(&mut self, task: TaskId) -> Option<Task> {
        let t = self.tasks.remove(&task)?;
        let unit = self.unit_mut(t.unit)?;
        if unit.task != Some(task) {
            return None;
        }
        unit.task = None;
        Some(t)
    }

    fn start_reconcile(
        &mut self,
        id: UnitId,
        track: Track,
        failure: Option<Failure>,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let Some(ActionPlan::Operation(op)) = self.plan_of(id, track) else {
            return;
        };
        match self.render_inputs(id, track) {
            Ok(inputs) => {
                let task = self.new_task(id, track, Purpose::Reconcile { failure });
                out.effects.push(Effect::Reconcile { task, op, inputs });
            }
            Err(message) => {
                let failure = Failure::drbook(
                    codes::UNKNOWN_OUTCOME,
                    self.mask(&format!(
                        "cannot tell whether {} was applied: its inputs do not render any more ({message})",
                        op.name
                    )),
                );
                self.fail_final(id, track, failure, now, out);
            }
        }
    }

    fn on_reconciled(
        &mut self,
        task: TaskId,
        verdict: Verdict,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let Some(t) = self.take_task(task) else {
            return;
        };
        let id = t.unit;
        let Purpose::Reconcile { failure } = t.purpose else {
            return;
        };
        let key = self.key(id).to_string();
        match verdict {
            Verdict::Applied(mut value) => {
                if let Some(ActionPlan::Operation(op)) = self.plan_of(id, t.track)
                    && op.returns_job
                    && let Value::Object(map) = &mut value
                {
                    let reference = match t.track {
                        Track::Forward => key.clone(),
                        Track::Compensation => format!("{key}#compensation"),
                    };
                    map.insert(
                        "job_id".into(),
                        Value::String(format!("{RECONCILED_JOB_PREFIX}{reference}")),
                    );
                }
                out.notices.push(Notice::Reconciled {
                    key: key.clone(),
                    verdict: "the resource already shows the call's effect (it was applied, or was not needed); continuing without sending it again".into(),
                });
                self.history(out, id, now, json!({"reconciled": "applied"}));
                if t.track == Track::Compensation {
                    // The reconciled resource already settled: the compensation is done.
                    let job = value.get("job").cloned();
                    let ok = job
                        .as_ref()
                        .is_none_or(|j| j.get("status").and_then(Value::as_str) == Some("SUCCESS"));
                    self.close_attempt(id, t.track, AttemptOutcome::Succeeded, None, now);
                    if ok {
                        self.compensation_ended(id, Ok(value), now, out);
                    } else {
                        let failure = Failure::drbook(
                            crate::sdrs::ErrorCode::JOB_FAILED,
                            "the compensation was applied but did not reach its expected state",
                        );
                        self.compensation_ended(id, Err(failure), now, out);
                    }
                } else {
                    self.attempt_succeeded(id, t.track, value, false, now, out);
                }
            }
            Verdict::NotApplied => {
                self.history(out, id, now, json!({"reconciled": "not-applied"}));
                match failure {
                    Some(failure) => {
                        out.notices.push(Notice::Reconciled {
                            key,
                            verdict: "the call was not applied".into(),
                        });
                        self.attempt_failed(id, t.track, failure, now, out)
                    }
                    None => {
                        out.notices.push(Notice::Reconciled {
                            key,
                            verdict: "the call was not applied; sending it now".into(),
                        });
                        // The request never reached the service: the same attempt goes out.
                        if let Some(attempts) = self.attempts_mut(id, t.track)
                            && attempts
                                .last()
                                .is_some_and(|a| a.outcome == AttemptOutcome::InProgress)
                        {
                            attempts.pop();
                        }
                        self.begin_attempt(id, t.track, now, out);
                    }
                }
            }
            Verdict::Unknown(message) => {
                let failure = Failure::drbook(codes::UNKNOWN_OUTCOME, self.mask(&message));
                self.fail_final(id, t.track, failure, now, out);
            }
        }
    }

    fn on_timer(&mut self, task: TaskId, now: Timestamp, out: &mut Decision) {
        let Some(t) = self.take_task(task) else {
            return;
        };
        let id = t.unit;
        match t.purpose {
            Purpose::RetryTimer => match t.track {
                Track::Forward => {
                    if self.phase == Phase::Running {
                        self.ready.push_back(id);
                    }
                }
                Track::Compensation => self.begin_attempt(id, t.track, now, out),
            },
            Purpose::Sleep => {
                self.attempt_succeeded(id, t.track, json!({"slept": true}), false, now, out);
            }
            Purpose::Approval => self.approval_timed_out(id, now, out),
            _ => {}
        }
    }

    /// An approval gate's `timeout` passed without a decision: approve or reject as the gate's
    /// `on_timeout` says.
    fn approval_timed_out(&mut self, id: UnitId, now: Timestamp, out: &mut Decision) {
        let on_timeout = self
            .unit(id)
            .and_then(|u| u.record.response.as_ref())
            .and_then(|r| r.pointer("/approval/on_timeout"))
            .and_then(Value::as_str)
            .unwrap_or("reject")
            .to_owned();
        let timeout = self
            .step_def(id.step)
            .timeout
            .map_or_else(String::new, |d| d.to_string());
        if on_timeout == "approve" {
            self.apply_decision(
                id,
                ApprovalVerdict::Approve,
                "drbook".into(),
                Some(format!("no decision within {timeout}; on_timeout: approve")),
                now,
                out,
            );
        } else {
            let failure = Failure::drbook(
                codes::REJECTED,
                format!("no decision within {timeout} (on_timeout: reject)"),
            );
            self.fail_final(id, Track::Forward, failure, now, out);
        }
    }

    /// An attempt succeeded (or was simulated, or reconciled as applied).
    fn attempt_succeeded(
        &mut self,
        id: UnitId,
        track: Track,
        value: Value,
        simulated: bool,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let plan = self.plan_of(id, track);
        self.close_attempt(id, track, AttemptOutcome::Succeeded, None, now);
        if track == Track::Compensation {
            let job_id = value
                .get("job_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let (Some(ActionPlan::Operation(op)), Some(job_id), false) =
                (plan, job_id, simulated)
                && op.returns_job
                && !job_id.starts_with(RECONCILED_JOB_PREFIX)
            {
                // The job id is durable before polling starts.
                if let Some(unit) = self.unit_mut(id) {
                    let comp = unit
                        .record
                        .compensation
                        .get_or_insert_with(CompensationRecord::default);
                    comp.job_id = Some(job_id.clone());
                }
                self.touch(id);
                self.wait_compensation_job(id, job_id, out);
                return;
            }
            self.compensation_ended(id, Ok(value), now, out);
            return;
        }
        let step_outputs = &self.step_def(id.step).outputs;
        let outputs = if simulated {
            // Unknown, not null: templates reading them stay unrendered in the dry run's view.
            Map::new()
        } else {
            step_outputs.select(&value)
        };
        let masked_outputs = self.mask_value(&Value::Object(outputs.clone()));
        let masked_response = self.mask_value(&value);
        let job_id = match plan {
            Some(ActionPlan::Operation(op)) if op.returns_job => value
                .get("job_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        let mutating = plan.is_some_and(|p| p.is_mutating());
        let key = self.key(id).to_string();
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = StepStatus::Succeeded;
            unit.record.ended_at = Some(now);
            unit.record.response = Some(masked_response);
            unit.record.outputs = Some(masked_outputs);
            if job_id.is_some() {
                unit.record.job_id = job_id.clone();
            }
            unit.outputs = outputs;
            unit.simulated = simulated;
        }
        self.touch(id);
        self.history(
            out,
            id,
            now,
            json!({"status": "succeeded", "job_id": job_id}),
        );
        if mutating && !simulated {
            self.audit(
                out,
                AuditKind::SdrsResponse,
                json!({"step": key, "job_id": job_id}),
            );
        }
        self.audit(
            out,
            AuditKind::StepTransition,
            json!({"step": key, "status": "succeeded"}),
        );
        if !simulated {
            out.notices.push(Notice::StepEnded {
                key,
                status: StepStatus::Succeeded,
                code: None,
                message: job_id.map(|j| format!("job {j}")),
            });
        }
        self.finish_unit(id, now, out);
    }

    /// An attempt failed: retry, or fail for good.
    fn attempt_failed(
        &mut self,
        id: UnitId,
        track: Track,
        mut failure: Failure,
        now: Timestamp,
        out: &mut Decision,
    ) {
        failure.message = self.mask(&failure.message);
        self.close_attempt(id, track, failure.outcome(), Some(&failure), now);
        let policy = self.step_def(id.step).retry_policy();
        let attempts = match track {
            Track::Forward => self.unit(id).map(|u| u.record.attempts.clone()),
            Track::Compensation => self
                .unit(id)
                .and_then(|u| u.record.compensation.as_ref())
                .map(|c| c.attempts.clone()),
        }
        .unwrap_or_default();
        match retry::next(&policy, &self.config.throttle, &attempts, &failure) {
            Next::Retry { delay, throttled } => {
                let at = now
                    .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                    .unwrap_or(now);
                if let Some(unit) = self.unit_mut(id) {
                    match track {
                        Track::Forward => {
                            unit.record.status = StepStatus::Retrying;
                            unit.record.next_attempt_at = Some(at);
                        }
                        Track::Compensation => {
                            unit.record
                                .compensation
                                .get_or_insert_with(CompensationRecord::default)
                                .next_attempt_at = Some(at);
                        }
                    }
                }
                self.release_slot(id);
                self.touch(id);
                self.history(
                    out,
                    id,
                    now,
                    json!({
                        "status": if track == Track::Forward { "retrying" } else { "compensating" },
                        "code": failure.code,
                        "message": failure.message,
                        "throttled": throttled,
                        "next_attempt_at": at,
                    }),
                );
                out.notices.push(Notice::Retrying {
                    key: self.key(id).to_string(),
                    code: failure.code.clone(),
                    delay,
                    throttled,
                });
                let task = self.new_task(id, track, Purpose::RetryTimer);
                out.effects.push(Effect::Timer { task, at });
            }
            Next::GiveUp { why } => {
                // Say why no retry was made only when the step asked for retries.
                if self.step_def(id.step).retry.is_some()
                    || failure.class == FailureClass::Throttled
                {
                    failure.message = format!("{} ({why})", failure.message);
                    if let Some(last) = self.attempts_mut(id, track).and_then(|a| a.last_mut()) {
                        last.message = Some(failure.message.clone());
                    }
                }
                self.give_up(id, track, failure, now, out);
            }
        }
    }

    /// A unit failed for good, in (or instead of) its current attempt.
    fn fail_final(
        &mut self,
        id: UnitId,
        track: Track,
        failure: Failure,
        now: Timestamp,
        out: &mut Decision,
    ) {
        self.close_attempt(id, track, failure.outcome(), Some(&failure), now);
        self.give_up(id, track, failure, now, out);
    }

    /// A unit failed for good; its last attempt is already closed.
    fn give_up(
        &mut self,
        id: UnitId,
        track: Track,
        failure: Failure,
        now: Timestamp,
        out: &mut Decision,
    ) {
        if track == Track::Compensation {
            self.compensation_ended(id, Err(failure), now, out);
            return;
        }
        let key = self.key(id).to_string();
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = StepStatus::Failed;
            unit.record.ended_at = Some(now);
            unit.record.next_attempt_at = None;
        }
        self.touch(id);
        self.history(
            out,
            id,
            now,
            json!({"status": "failed", "code": failure.code, "message": failure.message}),
        );
        self.audit(
            out,
            AuditKind::StepTransition,
            json!({"step": key, "status": "failed", "code": failure.code, "message": failure.message}),
        );
        out.notices.push(Notice::StepEnded {
            key,
            status: StepStatus::Failed,
            code: Some(failure.code.clone()),
            message: Some(failure.message.clone()),
        });
        self.finish_unit(id, now, out);
    }

    /// A unit is final: free its slot, move its `for_each` or its step on.
    fn finish_unit(&mut self, id: UnitId, now: Timestamp, out: &mut Decision) {
        self.release_slot(id);
        if let Some(task) = self.unit(id).and_then(|u| u.task) {
            self.tasks.remove(&task);
            out.effects.push(Effect::Cancel { task });
            if let Some(unit) = self.unit_mut(id) {
                unit.task = None;
            }
        }
        match id.item {
            Some(_) => self.finish_item(id, now, out),
            None => self.finish_step(id.step, now, out),
        }
    }

    /// A step is final: tell the context, apply its failure policy, release its dependants.
    fn finish_step(&mut self, step: u32, now: Timestamp, out: &mut Decision) {
        let i = step as usize;
        if !self.steps[i].active {
            return;
        }
        self.final_steps += 1;
        let status = self.steps[i].unit.status();
        let outputs = self.steps[i].unit.outputs.clone();
        self.context
            .set_step(&self.steps[i].id, template_status(status), outputs);
        if status == StepStatus::Failed && self.steps[i].policy == runbook::OnFailure::Abort {
            let attempt = self.steps[i].unit.record.attempts.last();
            let reason = format!(
                "step `{}` failed: {}",
                self.steps[i].id,
                attempt
                    .map(|a| format!(
                        "{}: {}",
                        a.error_code.as_deref().unwrap_or("?"),
                        a.message.as_deref().unwrap_or("")
                    ))
                    .unwrap_or_default()
            );
            self.begin_abort(reason, codes::CANCELLED, now, out);
        }
        let mut next: Vec<u32> = self.steps[i].dependants.clone();
        next.extend(self.steps[i].handler);
        for d in next {
            let node = &mut self.steps[d as usize];
            node.preds_left = node.preds_left.saturating_sub(1);
            if node.preds_left == 0 && node.unit.status() == StepStatus::Pending {
                self.to_resolve.push(d);
            }
        }
    }

    // ----- aborting --------------------------------------------------------------------------------

    /// Stops the run after a failure: nothing new starts, cancellable tasks stop now, mutating
    /// calls in flight finish (their answer decides whether they need compensating).
    fn begin_abort(&mut self, reason: String, code: &str, now: Timestamp, out: &mut Decision) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::Draining {
            reason: reason.clone(),
        };
        self.run.error = Some(reason.clone());
        self.run_dirty = true;
        out.history.push(EventRecord {
            time: now,
            kind: "run.abort".into(),
            step: None,
            data: json!({"reason": reason}),
        });
        for item in std::mem::take(&mut self.ready) {
            if item.item.is_some()
                && let Some(fan) = self.steps[item.step as usize].fan.as_mut()
            {
                fan.in_progress = fan.in_progress.saturating_sub(1);
            }
        }
        let mut cancellable: Vec<(TaskId, UnitId)> = self
            .tasks
            .iter()
            .filter(|(_, t)| self.is_cancellable(t))
            .map(|(id, t)| (*id, t.unit))
            .collect();
        cancellable.sort_unstable();
        for (task, unit) in cancellable {
            self.tasks.remove(&task);
            out.effects.push(Effect::Cancel { task });
            if let Some(u) = self.unit_mut(unit) {
                u.task = None;
            }
            self.cancel_unit(unit, code, now, out);
        }
    }

    fn is_cancellable(&self, task: &Task) -> bool {
        if task.track == Track::Compensation {
            return false;
        }
        match task.purpose {
            Purpose::Reconcile { .. } => false,
            Purpose::Attempt => !self
                .plan_of(task.unit, task.track)
                .is_some_and(|p| p.is_mutating()),
            _ => true,
        }
    }

    /// Cancels one unit (it was running, waiting or queued when the run stopped).
    fn cancel_unit(&mut self, id: UnitId, code: &str, now: Timestamp, out: &mut Decision) {
        let Some(unit) = self.unit(id) else {
            return;
        };
        if is_final(unit.status()) {
            return;
        }
        let message = if code == codes::DEADLINE {
            "the run-wide deadline passed".to_owned()
        } else {
            "cancelled: the run stopped".to_owned()
        };
        let failure = Failure::drbook(code, message.clone());
        if unit
            .record
            .attempts
            .last()
            .is_some_and(|a| a.outcome == AttemptOutcome::InProgress)
        {
            self.close_attempt(
                id,
                Track::Forward,
                AttemptOutcome::Cancelled,
                Some(&failure),
                now,
            );
        }
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = StepStatus::Cancelled;
            unit.record.ended_at = Some(now);
            unit.record.next_attempt_at = None;
        }
        self.touch(id);
        self.history(out, id, now, json!({"status": "cancelled", "code": code}));
        out.notices.push(Notice::StepEnded {
            key: self.key(id).to_string(),
            status: StepStatus::Cancelled,
            code: Some(code.to_owned()),
            message: Some(message),
        });
        self.finish_unit(id, now, out);
    }

    /// When nothing is in flight: end the forward run (success, or into compensation), or end
    /// draining. Returns whether it changed anything worth another settle round.
    fn check_quiescent(&mut self, now: Timestamp, out: &mut Decision) -> bool {
        if !self.tasks.is_empty() || !self.ready.is_empty() || !self.to_resolve.is_empty() {
            return false;
        }
        match self.phase.clone() {
            Phase::Running => {
                if !self.all_final() {
                    let stuck: Vec<String> = self
                        .steps
                        .iter()
                        .filter(|s| s.active && !is_final(s.unit.status()))
                        .map(|s| s.id.clone())
                        .take(5)
                        .collect();
                    self.begin_abort(
                        format!(
                            "internal error: steps left waiting with nothing to wait for: {}",
                            stuck.join(", ")
                        ),
                        codes::CANCELLED,
                        now,
                        out,
                    );
                    return true;
                }
                let failures: Vec<String> = self
                    .steps
                    .iter()
                    .filter(|s| s.active && s.unit.status() == StepStatus::Failed && s.critical)
                    .filter(|s| {
                        !matches!(s.handler, Some(h) if self.steps[h as usize].unit.status() == StepStatus::Succeeded)
                    })
                    .map(|s| s.id.clone())
                    .collect();
                if failures.is_empty() {
                    self.finish(RunStatus::Succeeded, now, out);
                } else {
                    let reason = format!(
                        "{} failed: {}",
                        if failures.len() == 1 {
                            "a critical step"
                        } else {
                            "critical steps"
                        },
                        failures
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    self.phase = Phase::Draining {
                        reason: reason.clone(),
                    };
                    self.run.error = Some(reason);
                    self.run_dirty = true;
                }
                true
            }
            Phase::Draining { .. } => {
                // Whatever never started is cancelled; then the completed steps are undone.
                let mut open: Vec<UnitId> = Vec::new();
                for (i, node) in self.steps.iter().enumerate() {
                    if !node.active {
                        continue;
                    }
                    if let Some(fan) = &node.fan {
                        for (k, unit) in fan.units.iter().enumerate() {
                            if !is_final(unit.status()) {
                                open.push(UnitId::item(i as u32, k as u32));
                            }
                        }
                    }
                    if !is_final(node.unit.status()) {
                        open.push(UnitId::step(i as u32));
                    }
                }
                for id in open {
                    if self.unit(id).is_some_and(|u| !is_final(u.status())) {
                        if let Some(unit) = self.unit_mut(id)
                            && unit.record.status == StepStatus::Pending
                        {
                            unit.record.skip_reason =
                                Some("the run stopped before it started".into());
                        }
                        self.cancel_unit(id, codes::CANCELLED, now, out);
                    }
                }
                self.start_compensation(now, out);
                true
            }
            Phase::Compensating { .. } | Phase::Done => false,
        }
    }

    // ----- compensation ----------------------------------------------------------------------------

    /// Units to undo, next first: completed units of steps with a `compensate`, in reverse
    /// dependency order (newest first among independent steps).
    fn compensation_candidates(&self) -> Vec<UnitId> {
        let mut out = Vec::new();
        for (i, node) in self.steps.iter().enumerate() {
            if !node.active || node.compensation.is_none() {
                continue;
            }
            match &node.fan {
                Some(fan) => {
                    for (k, unit) in fan.units.iter().enumerate() {
                        if unit.status() == StepStatus::Succeeded {
                            out.push(UnitId::item(i as u32, k as u32));
                        }
                    }
                }
                None => {
                    if node.unit.status() == StepStatus::Succeeded {
                        out.push(UnitId::step(i as u32));
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            let oa = self.steps[a.step as usize].order;
            let ob = self.steps[b.step as usize].order;
            ob.cmp(&oa)
                .then_with(|| self.ended_at(*b).cmp(&self.ended_at(*a)))
                .then_with(|| b.item.cmp(&a.item))
        });
        out
    }

    fn start_compensation(&mut self, now: Timestamp, out: &mut Decision) {
        let queue = self.compensation_candidates();
        if queue.is_empty() {
            self.finish(RunStatus::Failed, now, out);
            return;
        }
        self.phase = Phase::Compensating {
            queue: queue.into(),
            current: None,
        };
        self.set_run_status(RunStatus::Compensating, now, out);
    }

    fn compensation_can_advance(&self) -> bool {
        matches!(&self.phase, Phase::Compensating { current: None, .. })
    }

    fn advance_compensation(&mut self, now: Timestamp, out: &mut Decision) {
        while let Phase::Compensating { queue, current } = &mut self.phase {
            if current.is_some() {
                return;
            }
            let Some(id) = queue.pop_front() else {
                self.finish(RunStatus::Failed, now, out);
                return;
            };
            *current = Some(id);
            let action = self.action_name(id, Track::Compensation);
            if let Some(unit) = self.unit_mut(id) {
                unit.record.status = StepStatus::Compensating;
                unit.record
                    .compensation
                    .get_or_insert_with(CompensationRecord::default)
                    .started_at = Some(now);
            }
            self.touch(id);
            self.history(
                out,
                id,
                now,
                json!({"status": "compensating", "action": action}),
            );
            self.audit(
                out,
                AuditKind::StepTransition,
                json!({"step": self.key(id).to_string(), "status": "compensating", "action": action}),
            );
            out.notices.push(Notice::Compensating {
                key: self.key(id).to_string(),
                action,
            });
            self.begin_attempt(id, Track::Compensation, now, out);
        }
    }

    fn wait_compensation_job(&mut self, id: UnitId, job_id: String, out: &mut Decision) {
        let service = match self.plan_of(id, Track::Compensation) {
            Some(ActionPlan::Operation(op)) => op.service,
            _ => Service::Sdrs,
        };
        let task = self.new_task(id, Track::Compensation, Purpose::CompensationJob);
        out.effects.push(Effect::WaitJob {
            task,
            service,
            job_id,
            max_wait: COMPENSATION_JOB_WAIT,
            timeout: None,
        });
    }

    fn compensation_ended(
        &mut self,
        id: UnitId,
        result: Result<Value, Failure>,
        now: Timestamp,
        out: &mut Decision,
    ) {
        let key = self.key(id).to_string();
        let masked = match &result {
            Ok(value) => Some(self.mask_value(value)),
            Err(_) => None,
        };
        let status = if result.is_ok() {
            StepStatus::Compensated
        } else {
            StepStatus::CompensationFailed
        };
        if let Some(unit) = self.unit_mut(id) {
            unit.record.status = status;
            let comp = unit
                .record
                .compensation
                .get_or_insert_with(CompensationRecord::default);
            comp.ended_at = Some(now);
            comp.next_attempt_at = None;
            if masked.is_some() {
                comp.response = masked;
            }
        }
        self.touch(id);
        let (code, message) = match &result {
            Ok(_) => (None, None),
            Err(f) => (Some(f.code.clone()), Some(f.message.clone())),
        };
        self.history(
            out,
            id,
            now,
            json!({"status": status.as_str(), "code": code, "message": message}),
        );
        self.audit(
            out,
            AuditKind::StepTransition,
            json!({"step": key, "status": status.as_str(), "code": code}),
        );
        out.notices.push(Notice::StepEnded {
            key,
            status,
            code,
            message: message.clone(),
        });
        if let Phase::Compensating { current, .. } = &mut self.phase {
            *current = None;
        }
        if let Err(failure) = result {
            // A failed undo stops the saga: undoing further steps on top of a state nobody
            // planned for can make it worse. A human takes over from here.
            let reason = format!(
                "{}; compensating `{}` failed: {}",
                self.run
                    .error
                    .clone()
                    .unwrap_or_else(|| "the run failed".into()),
                self.key(id),
                failure_text(&failure)
            );
            self.run.error = Some(reason);
            self.finish(RunStatus::FailedCompensation, now, out);
        }
    }

    /// The run reached a terminal status.
    fn finish(&mut self, status: RunStatus, now: Timestamp, out: &mut Decision) {
        if self.phase == Phase::Done {
            return;
        }
        // An operator's abort ends `aborted` once there is nothing left to undo; a failed
        // compensation still ends `failed-compensation` (a human has to look).
        let status = if status == RunStatus::Failed && is_operator_abort(&self.run) {
            RunStatus::Aborted
        } else {
            status
        };
        self.phase = Phase::Done;
        self.run.ended_at = Some(now);
        self.run_dirty = true;
        self.set_run_status(status, now, out);
        self.audit(
            out,
            AuditKind::RunEnded,
            json!({"status": status.as_str(), "error": self.run.error}),
        );
        out.effects.push(Effect::Finished { status });
    }
}

/// Parses `step` or `step[3]` (with an optional `#compensation` suffix).
fn parse_step_key(text: &str) -> Option<crate::store::records::StepKey> {
    let text = text.strip_suffix("#compensation").unwrap_or(text);
    match text.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((id, index)) => Some(crate::store::records::StepKey::item(
            id,
            index.parse().ok()?,
        )),
        None => Some(crate::store::records::StepKey::single(text)),
    }
}

/// The inputs of `wait.until`, checked.
fn wait_until_spec(inputs: &Map<String, Value>) -> Result<WaitUntilSpec, String> {
    let action = inputs
        .get("action")
        .and_then(Value::as_str)
        .ok_or("`action` must name a read-only action")?;
    let op = match ActionPlan::of(action) {
        Some(ActionPlan::Operation(op)) if op.effect == operations::Effect::ReadOnly => op,
        _ => return Err(format!("`{action}` is not a read-only SDRS/ECS action")),
    };
    let with = match inputs.get("with") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(format!(
                "`with` must be a mapping, got {}",
                runbook::helpers::kind(other)
            ));
        }
    };
    let select: Selector = inputs
        .get("select")
        .and_then(Value::as_str)
        .ok_or("`select` must be a selector such as $.server.status")?
        .parse()
        .map_err(|e: runbook::selector::SelectorError| e.message)?;
    let list = |name: &str| -> Result<Vec<Value>, String> {
        match inputs.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(other) => Ok(vec![other.clone()]),
        }
    };
    Ok(WaitUntilSpec {
        op,
        inputs: with,
        select,
        desired: list("desired")?,
        stop: list("stop")?,
        interval: parse_duration(inputs.get("interval"), Duration::from_secs(5))
            .map_err(|e| format!("`interval`: {e}"))?,
        max_wait: parse_duration(inputs.get("max_wait"), Duration::from_secs(1800))
            .map_err(|e| format!("`max_wait`: {e}"))?,
    })
}

/// Renders what can be rendered (for showing a simulated request); a template that cannot be
/// rendered yet is shown as written, and `complete` turns false.
fn render_known(value: &Value, context: &runbook::Context, complete: &mut bool) -> Value {
    match value {
        Value::String(s) if runbook::template::is_template(s) => {
            match runbook::render(value, context) {
                Ok(v) => v,
                Err(_) => {
                    *complete = false;
                    Value::String(s.clone())
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_known(v, context, complete))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_known(v, context, complete)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
