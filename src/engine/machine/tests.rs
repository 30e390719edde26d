//! The state machine driven with plain values: no store, no SDRS, no clock. A tiny "executor"
//! here keeps what the real one would have committed (the dirty step records after each
//! decision), so a crash is simulated by rebuilding a `RunState` from those records alone.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;
use crate::engine::catalog::Catalog;
use crate::engine::state::{MachineConfig, RunState};
use crate::runbook::{ParamValues, Runbook, Source};
use crate::store::RunId;
use crate::store::records::{RunRecord, StepKey, StepRecord, sha256_hex};

fn t0() -> Timestamp {
    "2026-11-23T03:00:00Z".parse().unwrap()
}

fn runbook(text: &str) -> Arc<Runbook> {
    let source = Source::new("test.yaml", text).unwrap();
    Arc::new(crate::runbook::check(&source, Catalog::global()).unwrap_or_else(|d| panic!("{d:?}")))
}

fn run_record(runbook: &Runbook, mode: &str) -> RunRecord {
    RunRecord {
        run_id: RunId::new(),
        runbook_name: runbook.name.clone(),
        runbook_path: "test.yaml".into(),
        runbook_digest: sha256_hex(b""),
        runbook_source: String::new(),
        mode: mode.into(),
        params: BTreeMap::new(),
        secret_params: Vec::new(),
        status: RunStatus::Pending,
        run_key: None,
        actor: "tester".into(),
        dry_run: false,
        endpoint: "test".into(),
        created_at: t0(),
        started_at: None,
        ended_at: None,
        attempt: 1,
        error: None,
        locks: Vec::new(),
        deadline: None,
    }
}

/// A run being driven: the state, what has been "committed", and the clock.
struct Drive {
    state: RunState,
    committed: HashMap<StepKey, StepRecord>,
    now: Timestamp,
}

impl Drive {
    fn new(text: &str) -> Drive {
        Drive::with(text, "", MachineConfig::default())
    }

    fn with(text: &str, mode: &str, config: MachineConfig) -> Drive {
        let book = runbook(text);
        let run = run_record(&book, mode);
        let params = ParamValues::from_args(&book, &[]).unwrap();
        let state = RunState::new(book, run, params, config, Vec::new()).unwrap();
        Drive {
            state,
            committed: HashMap::new(),
            now: t0(),
        }
    }

    /// Rebuilds the run from what was committed, as a resumed process would.
    fn crash_and_rebuild(&self) -> Drive {
        let records: Vec<StepRecord> = self.committed.values().cloned().collect();
        let state = RunState::new(
            Arc::clone(&self.state.runbook),
            self.state.run.clone(),
            self.state.params.clone(),
            self.state.config.clone(),
            records,
        )
        .unwrap();
        Drive {
            state,
            committed: self.committed.clone(),
            now: self.now,
        }
    }

    /// Decides one event and "commits" its records, returning the effects.
    fn step(&mut self, event: Event) -> Vec<Effect> {
        self.now = self
            .now
            .checked_add(SignedDuration::from_millis(10))
            .unwrap();
        let mut out = Decision::default();
        decide(&mut self.state, event, self.now, &mut out);
        for id in std::mem::take(&mut self.state.dirty) {
            let unit = self.state.unit_mut(id).unwrap();
            unit.dirty = false;
            self.committed
                .insert(unit.record.key(), unit.record.clone());
        }
        self.state.run_dirty = false;
        out.effects
    }

    fn record(&self, step: &str) -> &StepRecord {
        self.committed
            .get(&StepKey::single(step))
            .unwrap_or_else(|| panic!("no record of {step}"))
    }
}

fn key_of(effect: &Effect) -> Option<TaskId> {
    match effect {
        Effect::Call { task, .. }
        | Effect::WaitJob { task, .. }
        | Effect::WaitUntil { task, .. }
        | Effect::Reconcile { task, .. }
        | Effect::Log { task, .. }
        | Effect::Complete { task, .. }
        | Effect::Timer { task, .. } => Some(*task),
        _ => None,
    }
}

/// The single effect of kind `kind` among `effects` (panics otherwise).
fn only<'a>(effects: &'a [Effect], kind: &str) -> &'a Effect {
    let matching: Vec<&Effect> = effects.iter().filter(|e| name(e) == kind).collect();
    assert_eq!(matching.len(), 1, "one {kind} expected in {effects:#?}");
    matching[0]
}

fn name(effect: &Effect) -> &'static str {
    match effect {
        Effect::Call { .. } => "call",
        Effect::WaitJob { .. } => "wait-job",
        Effect::WaitUntil { .. } => "wait-until",
        Effect::Reconcile { .. } => "reconcile",
        Effect::Log { .. } => "log",
        Effect::Complete { .. } => "complete",
        Effect::Timer { .. } => "timer",
        Effect::Cancel { .. } => "cancel",
        Effect::Deadline { .. } => "deadline",
        Effect::Reply { .. } => "reply",
        Effect::Finished { .. } => "finished",
    }
}

fn names(effects: &[Effect]) -> Vec<&'static str> {
    effects.iter().map(name).collect()
}

fn done(effect: &Effect, outcome: Outcome) -> Event {
    Event::Done {
        task: key_of(effect).unwrap(),
        outcome,
    }
}

fn finished(effects: &[Effect]) -> Option<RunStatus> {
    effects.iter().find_map(|e| match e {
        Effect::Finished { status } => Some(*status),
        _ => None,
    })
}

fn transient(code: &str) -> Failure {
    Failure {
        code: code.into(),
        message: "server error".into(),
        class: FailureClass::Transient,
        maybe_applied: false,
        timed_out: false,
        status: Some(503),
    }
}

const CHAIN: &str = r#"
name: chain
steps:
  - id: a
    action: log
    with: { message: one }
  - id: b
    action: log
    needs: [a]
    with: { message: two }
  - id: c
    action: log
    needs: [b]
    with: { message: three }
"#;

#[test]
fn a_chain_runs_one_step_at_a_time_and_succeeds() {
    let mut d = Drive::new(CHAIN);
    let mut effects = d.step(Event::Start);
    for expected in ["one", "two", "three"] {
        let log = only(&effects, "log");
        let Effect::Log { message, .. } = log else {
            unreachable!()
        };
        assert_eq!(message, expected);
        effects = d.step(done(log, Outcome::Ok(Value::Null)));
    }
    assert_eq!(finished(&effects), Some(RunStatus::Succeeded));
    for id in ["a", "b", "c"] {
        assert_eq!(d.record(id).status, StepStatus::Succeeded);
        assert_eq!(d.record(id).attempts.len(), 1);
    }
}

#[test]
fn the_same_events_give_the_same_decisions() {
    // Purity: two runs of the same runbook fed the same events at the same times decide the
    // same effects and records.
    let trace = |d: &mut Drive| {
        let mut seen = Vec::new();
        let mut effects = d.step(Event::Start);
        while let Some(log) = effects.iter().find(|e| name(e) == "log").cloned() {
            seen.push(format!("{effects:?}"));
            effects = d.step(done(&log, Outcome::Ok(Value::Null)));
        }
        seen.push(format!("{effects:?}"));
        seen
    };
    let (mut one, mut two) = (Drive::new(CHAIN), Drive::new(CHAIN));
    assert_eq!(trace(&mut one), trace(&mut two));
    let records = |d: &Drive| {
        let mut r: Vec<String> = d
            .committed
            .values()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        r.sort();
        r
    };
    assert_eq!(records(&one), records(&two));
}

const STOP_GROUP: &str = r#"
name: stop
locks: [pg-1]
steps:
  - id: stop
    action: sdrs.protection_group.stop
    with: { server_group_id: pg-1 }
    retry: { max_attempts: 3, backoff: { kind: constant, initial: 1s } }
    outputs: { job_id: $.job_id }
  - id: after
    action: log
    needs: [stop]
    with: { message: "job {{ steps.stop.outputs.job_id }}" }
"#;

#[test]
fn a_mutating_call_is_issued_only_with_its_intent_committed() {
    let mut d = Drive::new(STOP_GROUP);
    let effects = d.step(Event::Start);
    let call = only(&effects, "call");
    let Effect::Call { op, inputs, .. } = call else {
        unreachable!()
    };
    assert_eq!(op.action, "sdrs.protection_group.stop");
    assert_eq!(inputs["server_group_id"], "pg-1");
    // What the executor commits before starting the call holds the intent.
    let record = d.record("stop");
    let intent = record
        .intent
        .as_ref()
        .expect("intent committed with the call");
    assert_eq!(intent.operation, "stop_protection_group");
    assert_eq!(record.response, None);

    let effects = d.step(done(call, Outcome::Ok(json!({"job_id": "job-1"}))));
    assert_eq!(d.record("stop").job_id.as_deref(), Some("job-1"));
    let Effect::Log { message, .. } = only(&effects, "log") else {
        unreachable!()
    };
    assert_eq!(message, "job job-1");
}

#[test]
fn after_a_crash_an_intent_without_an_answer_is_reconciled_not_re_sent() {
    let mut d = Drive::new(STOP_GROUP);
    let effects = d.step(Event::Start);
    assert_eq!(names(&effects), ["call"]);

    // The process dies with the call in flight: only the intent is durable.
    let mut resumed = d.crash_and_rebuild();
    let effects = resumed.step(Event::Start);
    assert!(
        !names(&effects).contains(&"call"),
        "re-sent blindly: {effects:#?}"
    );
    let reconcile = only(&effects, "reconcile");
    let Effect::Reconcile { op, .. } = reconcile else {
        unreachable!()
    };
    assert_eq!(op.action, "sdrs.protection_group.stop");

    // Applied: the step continues as if the call had answered; nothing is sent again.
    let effects = resumed.step(Event::Reconciled {
        task: key_of(reconcile).unwrap(),
        verdict: Verdict::Applied(json!({"job_id": "job-found"})),
    });
    assert!(!names(&effects).contains(&"call"), "{effects:#?}");
    assert_eq!(resumed.record("stop").status, StepStatus::Succeeded);
}

#[test]
fn a_call_found_not_applied_is_sent_again() {
    let mut d = Drive::new(STOP_GROUP);
    d.step(Event::Start);
    let mut resumed = d.crash_and_rebuild();
    let effects = resumed.step(Event::Start);
    let reconcile = only(&effects, "reconcile");
    let effects = resumed.step(Event::Reconciled {
        task: key_of(reconcile).unwrap(),
        verdict: Verdict::NotApplied,
    });
    let call = only(&effects, "call");
    assert!(resumed.record("stop").intent.is_some());
    let effects = resumed.step(done(call, Outcome::Ok(json!({"job_id": "job-2"}))));
    assert_eq!(names(&effects), ["log"]);
}

#[test]
fn an_unknown_outcome_fails_the_step_without_sending_anything() {
    let mut d = Drive::new(STOP_GROUP);
    d.step(Event::Start);
    let mut resumed = d.crash_and_rebuild();
    let effects = resumed.step(Event::Start);
    let reconcile = only(&effects, "reconcile");
    let effects = resumed.step(Event::Reconciled {
        task: key_of(reconcile).unwrap(),
        verdict: Verdict::Unknown("check the group's status".into()),
    });
    assert!(!names(&effects).contains(&"call"), "{effects:#?}");
    assert_eq!(finished(&effects), Some(RunStatus::Failed));
    let record = resumed.record("stop");
    assert_eq!(record.status, StepStatus::Failed);
    let last = record.attempts.last().unwrap();
    assert_eq!(last.error_code.as_deref(), Some(codes::UNKNOWN_OUTCOME));
}

#[test]
fn a_completed_mutating_step_is_never_called_again_after_a_crash() {
    let mut d = Drive::new(STOP_GROUP);
    let effects = d.step(Event::Start);
    let call = only(&effects, "call").clone();
    d.step(done(&call, Outcome::Ok(json!({"job_id": "job-1"}))));
    let mut resumed = d.crash_and_rebuild();
    let effects = resumed.step(Event::Start);
    assert_eq!(names(&effects), ["log"], "{effects:#?}");
}

#[test]
fn a_transient_failure_is_retried_after_the_backoff_and_every_attempt_is_recorded() {
    let mut d = Drive::new(STOP_GROUP);
    let effects = d.step(Event::Start);
    let call = only(&effects, "call").clone();
    // A 503 before the request was applied (maybe_applied false): a plain retry.
    let effects = d.step(done(&call, Outcome::Err(transient("HTTP.503"))));
    let timer = only(&effects, "timer");
    let Effect::Timer { at, .. } = timer else {
        unreachable!()
    };
    assert_eq!(at.duration_since(d.now), SignedDuration::from_secs(1));
    assert_eq!(d.record("stop").next_attempt_at, Some(*at));
    assert_eq!(d.record("stop").status, StepStatus::Retrying);

    let effects = d.step(Event::TimerFired {
        task: key_of(timer).unwrap(),
    });
    let call = only(&effects, "call").clone();
    d.step(done(&call, Outcome::Ok(json!({"job_id": "job-3"}))));
    let record = d.record("stop");
    assert_eq!(record.status, StepStatus::Succeeded);
    let codes: Vec<Option<&str>> = record
        .attempts
        .iter()
        .map(|a| a.error_code.as_deref())
        .collect();
    assert_eq!(codes, [Some("HTTP.503"), None]);
}

#[test]
fn a_lost_answer_is_reconciled_before_a_retry() {
    let mut d = Drive::new(STOP_GROUP);
    let effects = d.step(Event::Start);
    let call = only(&effects, "call").clone();
    let mut lost = transient("NET.RESET");
    lost.maybe_applied = true;
    lost.status = None;
    let effects = d.step(done(&call, Outcome::Err(lost)));
    assert_eq!(names(&effects), ["reconcile"], "{effects:#?}");
}

#[test]
fn concurrency_bounds_what_runs_at_once() {
    let text = r#"
name: wide
steps:
  - { id: s1, action: log, with: { message: "1" } }
  - { id: s2, action: log, with: { message: "2" } }
  - { id: s3, action: log, with: { message: "3" } }
  - { id: s4, action: log, with: { message: "4" } }
  - { id: s5, action: log, with: { message: "5" } }
"#;
    let config = MachineConfig {
        concurrency: 2,
        ..MachineConfig::default()
    };
    let mut d = Drive::with(text, "", config);
    let mut running = d.step(Event::Start);
    assert_eq!(names(&running), ["log", "log"]);
    let mut total = 2;
    while !running.is_empty() {
        let first = running.remove(0);
        let effects = d.step(done(&first, Outcome::Ok(Value::Null)));
        let logs: Vec<Effect> = effects
            .iter()
            .filter(|e| name(e) == "log")
            .cloned()
            .collect();
        total += logs.len();
        running.extend(logs);
        assert!(running.len() <= 2, "{running:#?}");
        if let Some(status) = finished(&effects) {
            assert_eq!(status, RunStatus::Succeeded);
        }
    }
    assert_eq!(total, 5);
}

#[test]
fn a_false_when_skips_the_step_and_its_dependants_still_run() {
    let text = r#"
name: when
params:
  go: { type: boolean, default: false }
steps:
  - id: maybe
    action: log
    when: "{{ params.go }}"
    with: { message: maybe }
  - id: then
    action: log
    needs: [maybe]
    with: { message: then }
"#;
    let mut d = Drive::new(text);
    let effects = d.step(Event::Start);
    let Effect::Log { message, .. } = only(&effects, "log") else {
        unreachable!()
    };
    assert_eq!(message, "then");
    assert_eq!(d.record("maybe").status, StepStatus::Skipped);
}

#[test]
fn an_abort_cancels_read_only_work_but_lets_a_mutating_call_finish_then_compensates() {
    let text = r#"
name: abort
locks: [pg-1, pg-2, pg-3]
steps:
  - id: start
    action: sdrs.protection_group.start
    with: { server_group_id: pg-1 }
    compensate:
      action: sdrs.protection_group.stop
      with: { server_group_id: pg-1 }
  - id: stop_other
    action: sdrs.protection_group.stop
    with: { server_group_id: pg-2 }
  - id: look
    action: sdrs.protection_group.show
    with: { server_group_id: pg-3 }
  - id: boom
    action: assert
    needs: [start]
    with: { that: "{{ eq 1 2 }}", message: boom }
"#;
    let mut d = Drive::new(text);
    let effects = d.step(Event::Start);
    assert_eq!(names(&effects), ["call", "call", "call"]);
    let by_group = |g: &str| {
        effects
            .iter()
            .find(|e| matches!(e, Effect::Call { inputs, .. } if inputs["server_group_id"] == g))
            .unwrap()
            .clone()
    };
    let (start, stop_other, look) = (by_group("pg-1"), by_group("pg-2"), by_group("pg-3"));
    let effects = d.step(done(&start, Outcome::Ok(json!({"job_id": "j1"}))));
    let assert = only(&effects, "complete").clone();
    let effects = d.step(assert_event(&assert));
    // The read-only call is cancelled; the mutating one in flight is not.
    let cancelled: Vec<TaskId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Cancel { task } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, [key_of(&look).unwrap()]);
    assert_eq!(d.record("look").status, StepStatus::Cancelled);
    assert_eq!(finished(&effects), None, "waits for the mutating call");

    // The mutating call answers; then the completed step is compensated.
    let effects = d.step(done(&stop_other, Outcome::Ok(json!({"job_id": "j2"}))));
    let undo = only(&effects, "call").clone();
    let Effect::Call { op, inputs, .. } = &undo else {
        unreachable!()
    };
    assert_eq!(op.action, "sdrs.protection_group.stop");
    assert_eq!(inputs["server_group_id"], "pg-1");
    assert_eq!(d.record("start").status, StepStatus::Compensating);
    let effects = d.step(done(&undo, Outcome::Ok(json!({}))));
    assert_eq!(finished(&effects), Some(RunStatus::Failed));
    assert_eq!(d.record("start").status, StepStatus::Compensated);
    assert_eq!(d.record("boom").status, StepStatus::Failed);
}

fn assert_event(effect: &Effect) -> Event {
    let Effect::Complete { task, outcome } = effect else {
        panic!("not a completion: {effect:?}")
    };
    Event::Done {
        task: *task,
        outcome: outcome.clone(),
    }
}

#[test]
fn a_failing_compensation_ends_the_run_in_failed_compensation() {
    let text = r#"
name: comp
locks: [pg-1]
steps:
  - id: start
    action: sdrs.protection_group.start
    with: { server_group_id: pg-1 }
    compensate:
      action: sdrs.protection_group.stop
      with: { server_group_id: pg-1 }
  - id: boom
    action: assert
    needs: [start]
    with: { that: "{{ eq 1 2 }}", message: boom }
"#;
    let mut d = Drive::new(text);
    let effects = d.step(Event::Start);
    let call = only(&effects, "call").clone();
    let effects = d.step(done(&call, Outcome::Ok(json!({"job_id": "j1"}))));
    let assert = only(&effects, "complete").clone();
    let effects = d.step(assert_event(&assert));
    let undo = only(&effects, "call").clone();
    let failure = Failure::drbook("SDRS.0209", "incorrect status");
    let effects = d.step(done(&undo, Outcome::Err(failure)));
    assert_eq!(finished(&effects), Some(RunStatus::FailedCompensation));
    assert_eq!(d.record("start").status, StepStatus::CompensationFailed);
}

#[test]
fn in_a_planned_failover_a_non_critical_failure_still_stops_the_run() {
    let text = r#"
name: modes
modes: [planned-failover, failover]
steps:
  - id: optional
    action: assert
    critical: false
    with: { that: "{{ eq 1 2 }}", message: optional check failed }
  - id: other
    action: log
    with: { message: other }
"#;
    for (mode, expected) in [
        ("failover", RunStatus::Succeeded),
        ("planned-failover", RunStatus::Failed),
    ] {
        let config = MachineConfig {
            concurrency: 1,
            ..MachineConfig::default()
        };
        let mut d = Drive::with(text, mode, config);
        let mut pending = d.step(Event::Start);
        let mut status = None;
        while let Some(effect) = pending.iter().find(|e| key_of(e).is_some()).cloned() {
            pending.retain(|e| key_of(e) != key_of(&effect));
            let event = match &effect {
                Effect::Complete { .. } => assert_event(&effect),
                _ => done(&effect, Outcome::Ok(Value::Null)),
            };
            let effects = d.step(event);
            status = status.or(finished(&effects));
            pending.extend(effects);
        }
        assert_eq!(status, Some(expected), "mode {mode}");
    }
}

/// Approval gates and their timeouts across a resume.
mod approval_gates {
    use std::sync::Arc;

    use jiff::{SignedDuration, Timestamp};

    use super::super::{Decision, Effect, Event, decide};
    use crate::engine::catalog::Catalog;
    use crate::engine::state::{MachineConfig, RunState};
    use crate::runbook::{self, ParamValues, Source};
    use crate::store::RunId;
    use crate::store::records::{RunRecord, RunStatus, StepRecord, StepStatus};

    const GATE: &str = r#"
    name: gate
    steps:
      - id: gate
        action: approval
        timeout: 1s
        with: { message: "go?", on_timeout: reject }
    "#;

    fn state(yaml: &str, run_id: RunId, records: Vec<StepRecord>, at: Timestamp) -> RunState {
        let source = Source::new("gate.yaml", yaml).unwrap();
        let runbook = runbook::check(&source, Catalog::global()).unwrap();
        let params = ParamValues::from_args(&runbook, &[]).unwrap();
        let run = RunRecord {
            run_id,
            runbook_name: runbook.name.clone(),
            runbook_path: "gate.yaml".into(),
            runbook_digest: String::new(),
            runbook_source: yaml.to_owned(),
            mode: String::new(),
            params: Default::default(),
            secret_params: Vec::new(),
            status: if records.is_empty() {
                RunStatus::Pending
            } else {
                RunStatus::WaitingApproval
            },
            run_key: None,
            actor: "tester".into(),
            dry_run: false,
            endpoint: "test".into(),
            created_at: at,
            started_at: None,
            ended_at: None,
            attempt: 1,
            error: None,
            locks: Vec::new(),
            deadline: None,
        };
        RunState::new(
            Arc::new(runbook),
            run,
            params,
            MachineConfig::default(),
            records,
        )
        .unwrap()
    }

    fn records(state: &RunState) -> Vec<StepRecord> {
        state.steps.iter().map(|s| s.unit.record.clone()).collect()
    }

    fn has_timer(decision: &Decision) -> bool {
        decision
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Timer { .. }))
    }

    #[test]
    fn an_approval_gate_opens_with_a_timer_at_its_timeout() {
        let t0 = Timestamp::UNIX_EPOCH;
        let mut gate = state(GATE, RunId::new(), Vec::new(), t0);
        let mut decision = Decision::default();
        decide(&mut gate, Event::Start, t0, &mut decision);
        assert_eq!(
            gate.steps[0].unit.record.status,
            StepStatus::WaitingApproval
        );
        let at = decision.effects.iter().find_map(|e| match e {
            Effect::Timer { at, .. } => Some(*at),
            _ => None,
        });
        assert_eq!(at, Some(t0 + SignedDuration::from_secs(1)));
    }

    #[test]
    fn a_gate_resumed_after_its_timeout_is_decided_at_once_without_a_timer() {
        let t0 = Timestamp::UNIX_EPOCH;
        let run_id = RunId::new();
        let mut first = state(GATE, run_id, Vec::new(), t0);
        decide(&mut first, Event::Start, t0, &mut Decision::default());

        // Resumed while the timeout is still ahead: the timer fires at the original time.
        let early = t0 + SignedDuration::from_millis(400);
        let mut resumed = state(GATE, run_id, records(&first), t0);
        let mut decision = Decision::default();
        decide(&mut resumed, Event::Start, early, &mut decision);
        assert_eq!(
            resumed.steps[0].unit.record.status,
            StepStatus::WaitingApproval
        );
        assert!(has_timer(&decision));

        // Resumed after it: rejected now (a `--no-wait` resume would return before any timer).
        let late = t0 + SignedDuration::from_secs(2);
        let mut resumed = state(GATE, run_id, records(&first), t0);
        let mut decision = Decision::default();
        decide(&mut resumed, Event::Start, late, &mut decision);
        let record = &resumed.steps[0].unit.record;
        assert_eq!(record.status, StepStatus::Failed);
        assert_eq!(record.attempts.len(), 1, "the same attempt, timed out");
        assert_eq!(
            record.attempts[0].error_code.as_deref(),
            Some("DRBOOK.REJECTED")
        );
        assert!(!has_timer(&decision));
    }
}
