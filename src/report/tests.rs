//! Unit tests of the report builder and renderers, on records built in memory (the integration
//! tests in `tests/report_*.rs` go through a real store and the binary).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;
use crate::store::audit::{AuditEvent, AuditKind};
use crate::store::records::{
    ApprovalDecision, AttemptOutcome, Intent, RunStatus, StepKey, sha256_hex,
};

const DRILL: &str = include_str!("../../runbooks/dr-drill.yaml");

fn base() -> Timestamp {
    "2026-11-03T09:00:00Z".parse().unwrap()
}

fn at(seconds: i64) -> Timestamp {
    base() + SignedDuration::from_secs(seconds)
}

fn run_record(source: &str, status: RunStatus) -> RunRecord {
    let mut params = BTreeMap::new();
    params.insert("server_group_id".to_owned(), json!("pg-web-0001"));
    params.insert("drill_vpc_id".to_owned(), json!("vpc-drill-0001"));
    params.insert("approvers".to_owned(), json!(["dr-lead"]));
    RunRecord {
        run_id: RunId::new(),
        runbook_name: "dr-drill".into(),
        runbook_path: "runbooks/dr-drill.yaml".into(),
        runbook_digest: sha256_hex(source.as_bytes()),
        runbook_source: source.into(),
        mode: "drill".into(),
        params,
        secret_params: Vec::new(),
        status,
        run_key: None,
        actor: "alice".into(),
        dry_run: false,
        endpoint: "emulator http://127.0.0.1:1".into(),
        created_at: at(0),
        started_at: Some(at(1)),
        ended_at: status.is_terminal().then(|| at(600)),
        attempt: 1,
        error: None,
        locks: vec!["pg-web-0001".into()],
        deadline: None,
    }
}

/// A step record that ran from `start` to `end` (seconds after the base time) with the given
/// attempt outcomes (and error codes).
fn step(
    key: StepKey,
    status: StepStatus,
    start: i64,
    end: i64,
    attempts: &[(AttemptOutcome, Option<&str>)],
) -> StepRecord {
    let mut record = StepRecord::pending(&key);
    record.status = status;
    record.started_at = Some(at(start));
    record.ended_at = Some(at(end));
    let span = (end - start).max(1) / attempts.len().max(1) as i64;
    for (i, (outcome, code)) in attempts.iter().enumerate() {
        record.attempts.push(Attempt {
            number: i as u32 + 1,
            started_at: at(start + span * i as i64),
            ended_at: Some(at(start + span * (i as i64 + 1))),
            outcome: *outcome,
            error_code: code.map(str::to_owned),
            message: code.map(|c| format!("the service answered {c}")),
        });
    }
    record
}

fn ok(key: &str, start: i64, end: i64) -> StepRecord {
    step(
        StepKey::single(key),
        StepStatus::Succeeded,
        start,
        end,
        &[(AttemptOutcome::Succeeded, None)],
    )
}

fn job_response(job_id: &str, job_type: &str, status: &str) -> Value {
    json!({
        "job_id": job_id, "job_type": job_type, "status": status,
        "begin_time": "2026-11-03T09:00:10.000Z", "end_time": "2026-11-03T09:01:40.000Z",
        "entities": {"disaster_recovery_drill_id": "drill-0001"}
    })
}

/// The records of a drill run up to the sign-off, which `approve` decides.
fn drill_records(approve: bool) -> Vec<StepRecord> {
    let mut records = vec![ok("check_group", 1, 2), ok("ensure_protected", 2, 2)];
    let mut create = step(
        StepKey::single("create_drill"),
        StepStatus::Succeeded,
        2,
        10,
        &[
            (AttemptOutcome::Failed, Some("SDRS.1830")),
            (AttemptOutcome::Succeeded, None),
        ],
    );
    create.intent = Some(Intent {
        operation: "create_disaster_recovery_drill".into(),
        request: json!({"server_group_id": "pg-web-0001"}),
        recorded_at: at(2),
    });
    create.job_id = Some("job-create-1".into());
    create.response = Some(json!({"job_id": "job-create-1"}));
    records.push(create);
    let mut wait = ok("wait_drill", 10, 100);
    wait.response = Some(job_response(
        "job-create-1",
        "createDisasterRecoveryDrill",
        "SUCCESS",
    ));
    records.push(wait);
    records.push(ok("show_drill", 100, 101));
    records.push(ok("ensure_drill_available", 101, 101));
    for item in 0..2 {
        let mut server = step(
            StepKey::item("verify_drill_servers", item),
            StepStatus::Succeeded,
            101,
            130 + item as i64,
            &[(AttemptOutcome::Succeeded, None)],
        );
        server.response = Some(json!({"server": {"status": "ACTIVE"}}));
        records.push(server);
    }
    let mut sign_off = step(
        StepKey::single("sign_off"),
        if approve {
            StepStatus::Succeeded
        } else {
            StepStatus::Failed
        },
        131,
        400,
        &[if approve {
            (AttemptOutcome::Succeeded, None)
        } else {
            (AttemptOutcome::Failed, Some("DRBOOK.REJECTED"))
        }],
    );
    sign_off.approval = Some(ApprovalDecision {
        actor: "dr-lead".into(),
        verdict: if approve {
            Verdict::Approve
        } else {
            Verdict::Reject
        },
        comment: Some("application checks passed on the drill servers".into()),
        decided_at: at(399),
    });
    records.push(sign_off);
    if approve {
        let mut delete = ok("delete_drill", 400, 401);
        delete.intent = Some(Intent {
            operation: "delete_disaster_recovery_drill".into(),
            request: json!({"disaster_recovery_drill_id": "drill-0001"}),
            recorded_at: at(400),
        });
        delete.response = Some(json!({"job_id": "job-delete-1"}));
        records.push(delete);
        let mut wait_delete = ok("wait_delete", 401, 460);
        wait_delete.response = Some(job_response(
            "job-delete-1",
            "deleteDisasterRecoveryDrill",
            "SUCCESS",
        ));
        records.push(wait_delete);
        records.push(ok("confirm_group_protected", 460, 470));
        records.push(ok("report", 470, 470));
    } else {
        // The rejection compensates the drill (deleted) and skips the rest.
        let wait = records
            .iter_mut()
            .find(|r| r.step_id == "wait_drill")
            .unwrap();
        wait.status = StepStatus::Compensated;
        for id in [
            "delete_drill",
            "wait_delete",
            "confirm_group_protected",
            "report",
        ] {
            let mut skipped = StepRecord::pending(&StepKey::single(id));
            skipped.status = StepStatus::Skipped;
            skipped.skip_reason = Some("needs sign_off which failed".into());
            records.push(skipped);
        }
    }
    records
}

fn no_audit() -> AuditStatus {
    AuditStatus {
        log: "audit.jsonl".into(),
        chain: ChainState::Verified,
        entries: 0,
        head: None,
        breach: None,
        run_entries: BTreeMap::new(),
        run_seq_range: None,
        error: None,
    }
}

fn node<'a>(report: &'a Report, id: &str) -> &'a DagNode {
    report.dag.nodes.iter().find(|n| n.id == id).unwrap()
}

#[test]
fn a_successful_drill_reports_its_dag_jobs_approval_and_rto() {
    let run = run_record(DRILL, RunStatus::Succeeded);
    let records = drill_records(true);
    let report = build(&run, &records, &[], no_audit(), at(700));

    assert!(report.runbook.digest_verified);
    assert!(report.dag.problem.is_none(), "{:?}", report.dag.problem);
    assert_eq!(report.dag.nodes.len(), 12);
    assert_eq!(report.dag.waves.len(), 12);
    assert!(
        report
            .dag
            .nodes
            .iter()
            .all(|n| n.outcome == Outcome::Succeeded),
        "{:#?}",
        report.dag.nodes
    );
    assert_eq!(
        node(&report, "verify_drill_servers").items,
        Some(ItemCount {
            succeeded: 2,
            total: 2
        })
    );
    assert!(node(&report, "create_drill").mutating);
    assert!(!node(&report, "check_group").mutating);
    // Step rows: one per record, in plan order, items after their step.
    let keys: Vec<&str> = report.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys.len(), records.len());
    assert_eq!(keys[0], "check_group");
    let verify = keys
        .iter()
        .position(|k| *k == "verify_drill_servers[0]")
        .unwrap();
    assert_eq!(keys[verify + 1], "verify_drill_servers[1]");
    assert_eq!(keys[verify + 2], "sign_off");
    let create = report
        .steps
        .iter()
        .find(|s| s.key == "create_drill")
        .unwrap();
    assert_eq!(create.attempts.len(), 2);
    assert_eq!(create.attempts[0].error_code.as_deref(), Some("SDRS.1830"));
    assert_eq!(create.duration_ms, Some(8_000));

    // Jobs: both drill jobs, linked to the steps that waited for them.
    assert_eq!(report.jobs.len(), 2);
    let job = &report.jobs[0];
    assert_eq!(
        (
            job.job_id.as_str(),
            job.operation.as_str(),
            job.service.as_str()
        ),
        ("job-create-1", "create_disaster_recovery_drill", "sdrs")
    );
    assert_eq!(job.status.as_deref(), Some("SUCCESS"));
    assert_eq!(job.job_type.as_deref(), Some("createDisasterRecoveryDrill"));
    assert_eq!(job.waited_by.as_deref(), Some("wait_drill"));
    // The delete job came from the response alone (no job_id on the record).
    assert_eq!(report.jobs[1].job_id, "job-delete-1");
    assert_eq!(report.jobs[1].waited_by.as_deref(), Some("wait_delete"));

    // RTO: run start (1 s) to the end of the drill creation's job wait (100 s).
    assert_eq!(report.rto.recovery_steps, ["create_drill"]);
    assert_eq!(report.rto.achieved_ms, Some(99_000));
    assert_eq!(report.rto.to, Some(at(100)));
    assert_eq!(
        report.rto.last_recovery_step.as_deref(),
        Some("create_drill")
    );
    assert_eq!(report.rto.job_waited_by.as_deref(), Some("wait_drill"));

    assert_eq!(report.approvals.len(), 1);
    assert_eq!(report.approvals[0].actor, "dr-lead");
    assert_eq!(
        report.step_counts.get("succeeded"),
        Some(&(records.len() as u64))
    );
    assert_eq!(report.run.duration_ms, Some(600_000));
    assert_eq!(report.params.len(), 3);
    assert!(report.params.iter().all(|p| !p.secret));
}

#[test]
fn a_rejected_drill_is_compensated_and_reports_no_rto() {
    let mut run = run_record(DRILL, RunStatus::Failed);
    run.error = Some("sign_off: rejected by dr-lead".into());
    let report = build(&run, &drill_records(false), &[], no_audit(), at(700));
    assert_eq!(node(&report, "wait_drill").outcome, Outcome::Compensated);
    assert_eq!(node(&report, "sign_off").outcome, Outcome::Failed);
    assert_eq!(node(&report, "delete_drill").outcome, Outcome::Skipped);
    assert_eq!(node(&report, "check_group").outcome, Outcome::Succeeded);
    assert_eq!(report.rto.achieved_ms, None);
    assert!(
        report
            .rto
            .reason
            .as_deref()
            .unwrap()
            .contains("did not succeed"),
        "{:?}",
        report.rto
    );
    assert_eq!(report.approvals[0].verdict, Verdict::Reject);
    let html = html::render(&report);
    assert!(html.contains("node node-compensated"), "amber box drawn");
    assert!(html.contains("badge s-bad\">rejected"), "rejection shown");
}

#[test]
fn a_run_in_progress_shows_active_and_pending_steps() {
    let mut run = run_record(DRILL, RunStatus::WaitingApproval);
    run.ended_at = None;
    let mut records: Vec<StepRecord> = drill_records(true)
        .into_iter()
        .take_while(|r| r.step_id != "sign_off")
        .collect();
    let mut waiting = StepRecord::pending(&StepKey::single("sign_off"));
    waiting.status = StepStatus::WaitingApproval;
    waiting.started_at = Some(at(131));
    records.push(waiting);
    let report = build(&run, &records, &[], no_audit(), at(200));
    assert_eq!(node(&report, "sign_off").outcome, Outcome::Active);
    assert_eq!(node(&report, "delete_drill").outcome, Outcome::Pending);
    assert_eq!(node(&report, "delete_drill").status, None);
    assert_eq!(report.run.duration_ms, Some(200_000), "up to the report");
    assert!(
        report
            .rto
            .reason
            .as_deref()
            .unwrap()
            .contains("has not ended")
    );
}

const SECRET_RUNBOOK: &str = r#"name: rotate
params:
  token:
    type: string
    secret: true
  region:
    type: string
    default: eu-west-101
steps:
  - id: say
    action: log
    with:
      message: "rotating in {{ params.region }}"
"#;

#[test]
fn secret_params_show_as_stars_in_every_format() {
    let mut run = run_record(SECRET_RUNBOOK, RunStatus::Succeeded);
    run.runbook_name = "rotate".into();
    run.mode = String::new();
    run.params = BTreeMap::from([
        // Even a record that kept the clear value (a bug elsewhere) does not leak it.
        ("token".to_owned(), json!("s3cr3t-token-value")),
        ("region".to_owned(), json!("eu-west-101")),
    ]);
    run.secret_params = vec!["token".into()];
    let report = build(&run, &[ok("say", 1, 2)], &[], no_audit(), at(10));
    let token = report.params.iter().find(|p| p.name == "token").unwrap();
    assert!(token.secret);
    assert_eq!(token.value, json!(SECRET_MASK));
    assert!(report.dag.problem.is_none(), "{:?}", report.dag.problem);
    let json = serde_json::to_string(&report).unwrap();
    for text in [html::render(&report), markdown::render(&report), json] {
        assert!(!text.contains("s3cr3t-token-value"), "{text}");
        assert!(text.contains("eu-west-101"));
    }
    // The store's own marker counts as secret even without `secret_params`.
    run.secret_params.clear();
    run.params
        .insert("token".to_owned(), json!(crate::store::redact::REDACTED));
    let report = build(&run, &[], &[], no_audit(), at(10));
    assert_eq!(
        report
            .params
            .iter()
            .find(|p| p.name == "token")
            .unwrap()
            .value,
        json!(SECRET_MASK)
    );
}

const HOSTILE: &str = r#"name: "x<script>alert('name')</script>"
description: "<img src=x onerror=alert('description')> & more"
steps:
  - id: say
    action: log
    with:
      message: hi
"#;

#[test]
fn strings_from_runbooks_operators_and_the_service_are_escaped() {
    let mut run = run_record(HOSTILE, RunStatus::Failed);
    run.runbook_name = "x<script>alert('name')</script>".into();
    run.mode = String::new();
    run.params = BTreeMap::new();
    run.actor = "<b>mallory</b>".into();
    run.endpoint = "https://x\"><svg onload=alert(1)>".into();
    run.error = Some("</td><script>alert('error')</script>".into());
    let mut record = step(
        StepKey::single("say"),
        StepStatus::Failed,
        1,
        2,
        &[(AttemptOutcome::Failed, Some("SDRS.<i>0001</i>"))],
    );
    record.attempts[0].message = Some("\"><script>alert('message')</script>".into());
    record.job_id = Some("<job>".into());
    record.approval = Some(ApprovalDecision {
        actor: "<u>approver</u>".into(),
        verdict: Verdict::Approve,
        comment: Some("[click](javascript:alert(1)) <iframe src=x>| cell".into()),
        decided_at: at(2),
    });
    let report = build(&run, &[record], &[], no_audit(), at(10));
    let page = html::render(&report);
    for raw in [
        "<script>",
        "<img",
        "<b>mallory",
        "<svg onload",
        "<i>0001",
        "<iframe",
        "<u>approver",
        "<job>",
    ] {
        assert!(!page.contains(raw), "raw `{raw}` in the HTML report");
    }
    assert!(page.contains("x&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(&#39;description&#39;)&gt; &amp; more"));
    let md = markdown::render(&report);
    for raw in ["<script>", "<img", "<iframe", "[click](", "<u>"] {
        assert!(!md.contains(raw), "raw `{raw}` in the Markdown report");
    }
    assert!(md.contains(r"\[click\](javascript:alert(1))"), "{md}");
    // The comment's `|` does not open a new table cell.
    let row = md.lines().find(|l| l.contains("approver")).unwrap();
    assert_eq!(row.matches(" | ").count(), 4, "{row}");
}

#[test]
fn a_stored_runbook_that_no_longer_validates_still_lists_its_steps() {
    let source = "name: old\nsteps:\n  - id: a\n    action: retired.action\n";
    let mut run = run_record(source, RunStatus::Succeeded);
    run.mode = String::new();
    run.params = BTreeMap::new();
    let report = build(&run, &[ok("a", 1, 2)], &[], no_audit(), at(10));
    let problem = report.dag.problem.as_deref().unwrap();
    assert!(problem.contains("does not validate"), "{problem}");
    assert_eq!(report.steps.len(), 1);
    assert!(html::render(&report).contains("The step graph cannot be drawn"));
    assert!(markdown::render(&report).contains("The step graph cannot be drawn"));
}

#[test]
fn a_source_that_does_not_match_its_digest_is_flagged() {
    let mut run = run_record(DRILL, RunStatus::Succeeded);
    run.runbook_digest = sha256_hex(b"another file");
    let report = build(&run, &drill_records(true), &[], no_audit(), at(700));
    assert!(!report.runbook.digest_verified);
    assert!(html::render(&report).contains("does not match stored source"));
}

#[test]
fn markdown_draws_the_dag_as_mermaid_coloured_by_outcome() {
    let run = run_record(DRILL, RunStatus::Failed);
    let report = build(&run, &drill_records(false), &[], no_audit(), at(700));
    let md = markdown::render(&report);
    assert!(md.contains("```mermaid\nflowchart LR\n"), "{md}");
    assert!(md.contains(":::compensated"), "{md}");
    assert!(md.contains(":::failed"), "{md}");
    assert!(md.contains("classDef succeeded fill:#bbf7d0"), "{md}");
    // One node line per step and one arrow per dependency.
    let nodes = md
        .lines()
        .filter(|l| l.starts_with("  n") && l.contains("[\""))
        .count();
    let arrows = md.lines().filter(|l| l.contains(" --> ")).count();
    assert_eq!(nodes, report.dag.nodes.len());
    assert_eq!(arrows, report.dag.edges.len());
}

#[test]
fn the_html_report_is_self_contained() {
    let run = run_record(DRILL, RunStatus::Succeeded);
    let report = build(&run, &drill_records(true), &[], no_audit(), at(700));
    let page = html::render(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    for external in ["<script", "<link", "src=\"http", "@import", "url(http"] {
        assert!(!page.contains(external), "{external}");
    }
    // Nothing is loaded: no src or href attribute at all (the SVG namespace is not fetched).
    assert!(!page.contains(" src=") && !page.contains("href="));
    assert!(page.contains("<svg class=\"dag\""));
    assert_eq!(page.matches("<g class=\"node ").count(), 12);
}

fn audit_event(run_id: RunId, kind: AuditKind) -> AuditEvent {
    AuditEvent {
        actor: "alice".into(),
        kind,
        run_id: Some(run_id),
        data: json!({}),
    }
}

#[test]
fn audit_status_counts_this_runs_entries_and_reports_a_breach() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(temp.path());
    let path = data_dir.audit_log_path();
    let (ours, theirs) = (RunId::new(), RunId::new());
    let missing = audit_status(&path, ours);
    assert_eq!(missing.chain, ChainState::Unavailable);
    assert!(missing.error.unwrap().contains("no audit log"));
    assert!(!path.exists(), "a report never creates the log");

    let log = AuditLog::open(&data_dir).unwrap();
    for (run, kind) in [
        (ours, AuditKind::RunStarted),
        (theirs, AuditKind::RunStarted),
        (ours, AuditKind::StepTransition),
        (ours, AuditKind::StepTransition),
        (ours, AuditKind::Approval),
        (theirs, AuditKind::RunEnded),
        (ours, AuditKind::RunEnded),
    ] {
        log.append_blocking(audit_event(run, kind)).unwrap();
    }
    let status = audit_status(&path, ours);
    assert_eq!(status.chain, ChainState::Verified);
    assert_eq!(status.entries, 7);
    assert_eq!(status.head.as_ref().map(|h| h.seq), Some(7));
    assert_eq!(status.run_entries.values().sum::<u64>(), 5);
    assert_eq!(status.run_entries.get("step.transition"), Some(&2));
    assert_eq!(status.run_seq_range, Some((1, 7)));

    // Swap entries 3 and 4: broken at line 3.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(2, 3);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let status = audit_status(&path, ours);
    assert_eq!(status.chain, ChainState::Broken);
    let breach = status.breach.unwrap();
    assert_eq!((breach.line, breach.seq), (3, Some(4)));
    assert_eq!(breach.problem, "out-of-sequence");
    assert_eq!(status.entries, 2);
}

#[test]
fn runs_resolve_by_id_prefix_or_latest() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(temp.path());
    let err = resolve_run(&data_dir, "latest").unwrap_err();
    assert!(matches!(err, Error::RunNotFound { .. }), "{err}");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut run = run_record(DRILL, RunStatus::Succeeded);
        run.run_id = RunId::new();
        SledStore::create(&data_dir, &run).unwrap().close().unwrap();
        ids.push(run.run_id);
    }
    assert_eq!(resolve_run(&data_dir, "latest").unwrap(), ids[1]);
    let full = ids[0].to_string();
    assert_eq!(resolve_run(&data_dir, &full).unwrap(), ids[0]);
    assert_eq!(
        resolve_run(&data_dir, &full.to_uppercase()).unwrap(),
        ids[0]
    );
    // UUID v7 ids made in the same millisecond share their first 12 hex digits at least.
    let common: String = full
        .chars()
        .zip(ids[1].to_string().chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    if !common.is_empty() {
        let err = resolve_run(&data_dir, &common).unwrap_err();
        assert!(
            matches!(err, Error::AmbiguousRun { ref matches, .. } if matches.len() == 2),
            "{err}"
        );
    }
    let unique = &full[..common.len() + 1];
    assert_eq!(resolve_run(&data_dir, unique).unwrap(), ids[0]);
    let err = resolve_run(&data_dir, "ffffffff").unwrap_err();
    assert!(matches!(err, Error::RunNotFound { .. }), "{err}");
}

#[test]
fn load_reads_a_stored_run_and_closes_it_again() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(temp.path());
    let run = run_record(DRILL, RunStatus::Succeeded);
    let store = SledStore::create(&data_dir, &run).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut batch = crate::store::Batch::new();
        for record in drill_records(true) {
            batch.put_step(&record);
        }
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    let report = load(&data_dir, run.run_id, at(700)).unwrap();
    assert_eq!(report.steps.len(), drill_records(true).len());
    assert_eq!(report.audit.chain, ChainState::Unavailable);
    // Closed again: the run can be opened (resumed) right after.
    SledStore::open(&data_dir, run.run_id)
        .unwrap()
        .close()
        .unwrap();
    // While another handle holds the run, the report is refused as "in use".
    let held = SledStore::open(&data_dir, run.run_id).unwrap();
    let err = load(&data_dir, run.run_id, at(700)).unwrap_err();
    assert!(err.is_in_use(), "{err}");
    held.close().unwrap();
}
