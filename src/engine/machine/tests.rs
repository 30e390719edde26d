//! Unit tests of the pure state machine: a runbook, a run record and step records in, events
//! and explicit times through `decide`, decisions out. No store, no clock, no I/O.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::{Decision, Effect, Event, decide};
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
