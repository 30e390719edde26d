//! A drill run written through the real store API, shaped like the engine's records: the run
//! record with the runbook source, one step record per step (and per `for_each` item) with
//! attempts, intents, job ids and responses, the event history, and the audit entries a run
//! leaves (run started, step transitions, every mutating SDRS request and its answer, the
//! approval, run ended). Used by the report and audit tests that need exact times and outcomes
//! (rejected sign-offs, tampered logs); `report_cli.rs` and `report_screenshot.rs` also report a
//! real drill run of the binary on its emulator.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::path::Path;

use drbook::store::audit::{AuditEvent, AuditKind, AuditLog};
use drbook::store::records::{
    ApprovalDecision, Attempt, AttemptOutcome, EventRecord, Intent, RunRecord, RunStatus, StepKey,
    StepRecord, StepStatus, Verdict, sha256_hex,
};
use drbook::store::{Batch, DataDir, RunId, SledStore, Store};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// How the drill's sign-off ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOff {
    Approved,
    Rejected,
}

/// What was written.
pub struct DrillRun {
    pub run_id: RunId,
    /// The run's start (`started_at`).
    pub started_at: Timestamp,
    /// When the drill creation's job wait ended (the RTO's end for an approved drill).
    pub recovered_at: Timestamp,
    /// Audit entries appended for this run.
    pub audit_entries: u64,
}

pub const DRILL_SOURCE: &str = include_str!("../../runbooks/dr-drill.yaml");

/// Writes a finished drill run (the repository's `runbooks/dr-drill.yaml`) into `data_dir`.
/// Times start at `start` and advance as the real run would, seconds apart.
pub fn write_drill_run(data_dir: &Path, sign_off: SignOff, start: Timestamp) -> DrillRun {
    let data_dir = DataDir::new(data_dir);
    let at = |seconds: i64| start + SignedDuration::from_millis(seconds * 1000 + 137);
    let run_id = RunId::new();
    let approved = sign_off == SignOff::Approved;
    let run = RunRecord {
        run_id,
        runbook_name: "dr-drill".into(),
        runbook_path: "runbooks/dr-drill.yaml".into(),
        runbook_digest: sha256_hex(DRILL_SOURCE.as_bytes()),
        runbook_source: DRILL_SOURCE.into(),
        mode: "drill".into(),
        params: BTreeMap::from([
            ("server_group_id".to_owned(), json!("pg-web-0001")),
            ("drill_vpc_id".to_owned(), json!("vpc-drill-0001")),
            ("approvers".to_owned(), json!(["dr-lead"])),
        ]),
        secret_params: Vec::new(),
        status: if approved {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        },
        run_key: Some("drill-2026-11-w45".into()),
        actor: "alice".into(),
        dry_run: false,
        endpoint: "emulator at http://127.0.0.1:8443 (project 0a1b2c3d)".into(),
        created_at: start,
        started_at: Some(at(0)),
        ended_at: Some(at(if approved { 520 } else { 470 })),
        attempt: 1,
        error: (!approved)
            .then(|| "step sign_off failed: DRBOOK.REJECTED (rejected by dr-lead)".into()),
        locks: vec!["pg-web-0001".into()],
        deadline: None,
    };

    let mut records = Vec::new();
    let step = |key: StepKey, status: StepStatus, from: i64, to: i64, failures: &[(&str, &str)]| {
        let mut record = StepRecord::pending(&key);
        record.status = status;
        record.started_at = Some(at(from));
        record.ended_at = Some(at(to));
        let mut t = from;
        for (number, (code, message)) in failures.iter().enumerate() {
            record.attempts.push(Attempt {
                number: number as u32 + 1,
                started_at: at(t),
                ended_at: Some(at(t + 1)),
                outcome: AttemptOutcome::Failed,
                error_code: Some((*code).to_owned()),
                message: Some((*message).to_owned()),
            });
            t += 2;
        }
        let last_ok = status != StepStatus::Failed;
        if last_ok || failures.is_empty() {
            record.attempts.push(Attempt {
                number: record.attempts.len() as u32 + 1,
                started_at: at(t),
                ended_at: Some(at(to)),
                outcome: if last_ok {
                    AttemptOutcome::Succeeded
                } else {
                    AttemptOutcome::Failed
                },
                error_code: None,
                message: None,
            });
        }
        record
    };
    let job = |id: &str, kind: &str, begin: i64, end: i64| {
        let time = |s: i64| at(s).strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        json!({
            "job_id": id, "job_type": kind, "status": "SUCCESS",
            "begin_time": time(begin), "end_time": time(end),
            "entities": {"server_group_id": "pg-web-0001", "disaster_recovery_drill_id": "drill-7f3a0c21"},
            "error_code": null, "fail_reason": null
        })
    };

    let mut check = step(
        StepKey::single("check_group"),
        StepStatus::Succeeded,
        0,
        1,
        &[],
    );
    check.response = Some(
        json!({"server_group": {"id": "pg-web-0001", "name": "web-tier", "status": "protected"}}),
    );
    check.outputs = Some(json!({"status": "protected", "name": "web-tier", "drills": 0}));
    records.push(check);
    records.push(step(
        StepKey::single("ensure_protected"),
        StepStatus::Succeeded,
        1,
        1,
        &[],
    ));
    let mut create = step(
        StepKey::single("create_drill"),
        StepStatus::Succeeded,
        1,
        8,
        &[(
            "SDRS.1830",
            "The replication pairs of the protection group are still synchronizing.",
        )],
    );
    create.intent = Some(Intent {
        operation: "create_disaster_recovery_drill".into(),
        request: json!({"disaster_recovery_drill": {"name": format!("drill-web-tier-{run_id}"), "server_group_id": "pg-web-0001", "drill_vpc_id": "vpc-drill-0001"}}),
        recorded_at: at(1),
    });
    create.job_id = Some("0f4c8a1e-drill-create-5b21".into());
    create.response = Some(json!({"job_id": "0f4c8a1e-drill-create-5b21"}));
    create.outputs = Some(json!({"job_id": "0f4c8a1e-drill-create-5b21"}));
    records.push(create);
    let mut wait = step(
        StepKey::single("wait_drill"),
        if approved {
            StepStatus::Succeeded
        } else {
            StepStatus::Compensated
        },
        8,
        96,
        &[],
    );
    wait.response = Some(job(
        "0f4c8a1e-drill-create-5b21",
        "createDisasterRecoveryDrill",
        8,
        95,
    ));
    wait.outputs = Some(json!({"drill_id": "drill-7f3a0c21"}));
    records.push(wait);
    let mut show = step(
        StepKey::single("show_drill"),
        StepStatus::Succeeded,
        96,
        97,
        &[],
    );
    show.outputs = Some(
        json!({"status": "available", "drill_servers": ["ecs-drill-01", "ecs-drill-02", "ecs-drill-03"]}),
    );
    records.push(show);
    records.push(step(
        StepKey::single("ensure_drill_available"),
        StepStatus::Succeeded,
        97,
        97,
        &[],
    ));
    for item in 0..3 {
        let mut server = step(
            StepKey::item("verify_drill_servers", item),
            StepStatus::Succeeded,
            97,
            108 + 10 * item as i64,
            &[],
        );
        server.response =
            Some(json!({"server": {"id": format!("ecs-drill-0{}", item + 1), "status": "ACTIVE"}}));
        records.push(server);
    }
    let mut sign = if approved {
        step(
            StepKey::single("sign_off"),
            StepStatus::Succeeded,
            128,
            430,
            &[],
        )
    } else {
        step(
            StepKey::single("sign_off"),
            StepStatus::Failed,
            128,
            430,
            &[(
                "DRBOOK.REJECTED",
                "rejected by dr-lead: the payment service did not start on ecs-drill-02",
            )],
        )
    };
    sign.approval = Some(ApprovalDecision {
        actor: "dr-lead".into(),
        verdict: if approved {
            Verdict::Approve
        } else {
            Verdict::Reject
        },
        comment: Some(if approved {
            "App team checked checkout and payments on all 3 drill servers".into()
        } else {
            "the payment service did not start on ecs-drill-02".into()
        }),
        decided_at: at(430),
    });
    records.push(sign);
    if approved {
        let mut delete = step(
            StepKey::single("delete_drill"),
            StepStatus::Succeeded,
            430,
            431,
            &[],
        );
        delete.intent = Some(Intent {
            operation: "delete_disaster_recovery_drill".into(),
            request: json!({"disaster_recovery_drill_id": "drill-7f3a0c21"}),
            recorded_at: at(430),
        });
        delete.job_id = Some("3a9d6b70-drill-delete-88c4".into());
        delete.response = Some(json!({"job_id": "3a9d6b70-drill-delete-88c4"}));
        records.push(delete);
        let mut wait_delete = step(
            StepKey::single("wait_delete"),
            StepStatus::Succeeded,
            431,
            505,
            &[],
        );
        wait_delete.response = Some(job(
            "3a9d6b70-drill-delete-88c4",
            "deleteDisasterRecoveryDrill",
            431,
            504,
        ));
        records.push(wait_delete);
        records.push(step(
            StepKey::single("confirm_group_protected"),
            StepStatus::Succeeded,
            505,
            519,
            &[],
        ));
        records.push(step(
            StepKey::single("report"),
            StepStatus::Succeeded,
            519,
            520,
            &[],
        ));
    } else {
        for id in [
            "delete_drill",
            "wait_delete",
            "confirm_group_protected",
            "report",
        ] {
            let mut skipped = StepRecord::pending(&StepKey::single(id));
            skipped.status = StepStatus::Skipped;
            skipped.skip_reason = Some("needs sign_off, which failed".into());
            records.push(skipped);
        }
    }

    // Events and audit entries in time order, as the run would have produced them.
    let mut events = vec![EventRecord {
        time: at(0),
        kind: "run.status".into(),
        step: None,
        data: json!({"to": "running"}),
    }];
    let mut audit = vec![AuditEvent {
        actor: "alice".into(),
        kind: AuditKind::RunStarted,
        run_id: Some(run_id),
        data: json!({"runbook": "dr-drill", "digest": run.runbook_digest, "mode": "drill", "params": run.params}),
    }];
    for record in &records {
        let key = record.key().to_string();
        let status = serde_json::to_value(record.status).unwrap_or(Value::Null);
        events.push(EventRecord {
            time: record.ended_at.unwrap_or(at(0)),
            kind: "step.status".into(),
            step: Some(key.clone()),
            data: json!({"to": status}),
        });
        if let Some(intent) = &record.intent {
            audit.push(AuditEvent {
                actor: "alice".into(),
                kind: AuditKind::SdrsRequest,
                run_id: Some(run_id),
                data: json!({"step": key, "operation": intent.operation, "target": "pg-web-0001"}),
            });
            audit.push(AuditEvent {
                actor: "alice".into(),
                kind: AuditKind::SdrsResponse,
                run_id: Some(run_id),
                data: json!({"step": key, "operation": intent.operation, "job_id": record.job_id}),
            });
        }
        if let Some(approval) = &record.approval {
            audit.push(AuditEvent {
                actor: approval.actor.clone(),
                kind: AuditKind::Approval,
                run_id: Some(run_id),
                data: json!({"step": key, "verdict": approval.verdict, "comment": approval.comment}),
            });
        }
        audit.push(AuditEvent {
            actor: "alice".into(),
            kind: AuditKind::StepTransition,
            run_id: Some(run_id),
            data: json!({"step": key, "to": status}),
        });
    }
    audit.push(AuditEvent {
        actor: "alice".into(),
        kind: AuditKind::RunEnded,
        run_id: Some(run_id),
        data: json!({"status": run.status}),
    });

    let store = SledStore::create(&data_dir, &run).expect("create the run database");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut batch = Batch::new();
        for record in &records {
            batch.put_step(record);
        }
        for event in &events {
            batch.append_event(event);
        }
        store.commit(batch).await.expect("commit the records");
    });
    store.close().expect("close the run database");

    let log = AuditLog::open(&data_dir).expect("open the audit log");
    let audit_entries = audit.len() as u64;
    for event in audit {
        log.append_blocking(event).expect("append to the audit log");
    }
    DrillRun {
        run_id,
        started_at: at(0),
        recovered_at: at(96),
        audit_entries,
    }
}

/// Runs the repository's drill runbook for real: the binary on its in-process emulator, the
/// sign-off approved by `--auto-approve` as dr-lead. Returns the run id.
pub fn run_real_drill(data_dir: &Path) -> String {
    let run = assert_cmd::cargo::cargo_bin_cmd!("drbook")
        .args([
            "run",
            "runbooks/dr-drill.yaml",
            "--mode",
            "drill",
            "--emulator",
        ])
        .args(["--auto-approve", "--actor", "dr-lead", "--output", "json"])
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .assert()
        .code(0);
    let summary: Value = serde_json::from_slice(&run.get_output().stdout).unwrap_or(Value::Null);
    assert_eq!(summary["status"], "succeeded", "{summary}");
    summary["run_id"].as_str().unwrap_or_default().to_owned()
}
