//! The engine's command line as operators use it, through the real binary against the in-process
//! emulator: approvals decided from a second process (approve, reject, `--no-wait` then `resume`,
//! approvers, timeouts), protection-group locks across processes (a second run refused, a killed
//! run keeping its lock), `--run-key`, `resume` of a failed run and of a run with secret params,
//! the errors users hit, and the README's first command.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use std::time::Duration;

use drbook::store::records::{StepStatus, Verdict};
use engine_common::{Finished, Harness, example, finish};

/// How long a background run may take to reach a state (generous: the machine is shared).
const LIMIT: Duration = Duration::from_secs(60);

/// The drill, approvable by `alice` and `bob` (its default approver is `dr-lead`).
const DRILL_ARGS: &[&str] = &["--mode", "drill", "-p", "approvers=alice,bob"];

/// Starts the drill in the background without `--auto-approve` and waits until it waits for
/// the sign-off. Returns the child and the run id.
fn drill_waiting(h: &Harness, known: &[&str]) -> (std::process::Child, String) {
    let mut args = vec![example("dr-drill.yaml")];
    args.extend(DRILL_ARGS.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = h.spawn_json("run", &args);
    let run = h.wait_for_new_run(known, LIMIT);
    let snapshot = h.wait_for_status(&run, "waiting-approval", LIMIT);
    assert_eq!(snapshot["waiting_approvals"][0]["step"], "sign_off");
    assert_eq!(
        snapshot["waiting_approvals"][0]["approvers"],
        serde_json::json!(["alice", "bob"])
    );
    (child, run)
}

/// `drbook approve|reject RUN STEP ...` to its end.
fn decide(h: &Harness, verb: &str, run: &str, step: &str, args: &[&str]) -> Finished {
    let mut all = vec![run, step];
    all.extend_from_slice(args);
    Finished::from(h.command(verb, &all).output().unwrap())
}

#[test]
fn an_approval_from_a_second_process_lets_the_waiting_run_finish() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 0);

    let approve = decide(
        &h,
        "approve",
        &run,
        "sign_off",
        &[
            "--comment",
            "app tested on the drill servers",
            "--actor",
            "alice",
        ],
    );
    assert_eq!(approve.code, 0, "{approve:?}");
    assert!(
        approve.stdout.contains("approved by alice"),
        "{}",
        approve.stdout
    );

    let finished = finish(child);
    finished.expect(0, "succeeded");
    assert_eq!(finished.run_id(), run);
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 1);

    // The decision is in the step record...
    let record = h.step(&run, "sign_off");
    assert_eq!(record.status, StepStatus::Succeeded);
    let approval = record.approval.expect("recorded approval");
    assert_eq!(approval.actor, "alice");
    assert_eq!(approval.verdict, Verdict::Approve);
    assert_eq!(
        approval.comment.as_deref(),
        Some("app tested on the drill servers")
    );
    let waited_since = record.attempts.last().unwrap().started_at;
    assert!(approval.decided_at >= waited_since);
    // ... and in the audit log, with the same actor, comment and time.
    let audited = h.audit_of(&run, "approval");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor"], "alice");
    assert_eq!(audited[0]["data"]["step"], "sign_off");
    assert_eq!(audited[0]["data"]["verdict"], "approve");
    assert_eq!(
        audited[0]["data"]["comment"],
        "app tested on the drill servers"
    );
    let audited_at: jiff::Timestamp = audited[0]["time"].as_str().unwrap().parse().unwrap();
    assert!(audited_at >= approval.decided_at);
    // The command was consumed: nothing waits in the inbox any more.
    let inbox = h.data_dir().join("runs").join(&run).join("inbox");
    assert_eq!(std::fs::read_dir(inbox).unwrap().count(), 0);
}

#[test]
fn a_rejection_from_a_second_process_fails_the_run_with_the_reason_and_deletes_the_drill() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    let reject = decide(
        &h,
        "reject",
        &run,
        "sign_off",
        &[
            "--comment",
            "drill servers cannot reach the DB",
            "--actor",
            "bob",
        ],
    );
    assert_eq!(reject.code, 0, "{reject:?}");
    assert!(
        reject.stdout.contains("rejected by bob"),
        "{}",
        reject.stdout
    );

    let finished = finish(child);
    finished.expect(1, "failed");
    assert_eq!(finished.step("sign_off")["error_code"], "DRBOOK.REJECTED");
    let reason = finished.step("sign_off")["message"].as_str().unwrap();
    assert!(
        reason.contains("drill servers cannot reach the DB") && reason.contains("bob"),
        "{reason}"
    );
    assert!(
        finished.json["error"]
            .as_str()
            .unwrap()
            .contains("drill servers cannot reach the DB"),
        "{}",
        finished.stdout
    );
    // Compensation deleted the drill: nothing leaks, the group replicates again.
    assert_eq!(finished.step_status("wait_drill"), "compensated");
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 1);
    let world = serde_json::to_value(h.emulator().world()).unwrap();
    assert_eq!(world["drills"].as_array().map(Vec::len), Some(0));
    let approval = h.step(&run, "sign_off").approval.unwrap();
    assert_eq!(
        (approval.actor.as_str(), approval.verdict),
        ("bob", Verdict::Reject)
    );
    assert_eq!(h.audit_of(&run, "approval")[0]["data"]["verdict"], "reject");
    // The lock is free again.
    assert_eq!(h.lock_holder("pg-web-0001"), None);
}

#[test]
fn reject_needs_a_comment() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    let reject = decide(&h, "reject", &run, "sign_off", &["--actor", "bob"]);
    assert_eq!(reject.code, 64, "{reject:?}");
    assert!(reject.stderr.contains("--comment"), "{}", reject.stderr);
    // The run still waits; approving it lets it finish.
    assert_eq!(
        decide(&h, "approve", &run, "sign_off", &["--actor", "bob"]).code,
        0
    );
    finish(child).expect(0, "succeeded");
}

#[test]
fn with_no_wait_the_run_exits_3_and_resume_applies_the_queued_approval() {
    let h = Harness::new();
    let mut args = DRILL_ARGS.to_vec();
    args.push("--no-wait");
    let waiting = h.run(&example("dr-drill.yaml"), &args);
    waiting.expect(3, "waiting-approval");
    let run = waiting.run_id();
    assert_eq!(waiting.step_status("sign_off"), "waiting-approval");
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 0);

    let approve = decide(
        &h,
        "approve",
        &run,
        "sign_off",
        &["--comment", "ok", "--actor", "alice"],
    );
    assert_eq!(approve.code, 0, "{approve:?}");
    assert!(
        approve.stdout.contains("no drbook process is driving run")
            && approve.stdout.contains(&format!("drbook resume {run}")),
        "{}",
        approve.stdout
    );
    // Nothing happened yet: the decision waits in the inbox.
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 0);
    assert_eq!(h.audit_of(&run, "approval").len(), 0);

    let resumed = h.resume(&run, &[]);
    resumed.expect(0, "succeeded");
    assert_eq!(resumed.run_id(), run);
    assert_eq!(resumed.json["attempt"], 2);
    assert_eq!(h.calls_to("create_disaster_recovery_drill"), 1);
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 1);
    let approval = h.step(&run, "sign_off").approval.unwrap();
    assert_eq!(
        (approval.actor.as_str(), approval.comment.as_deref()),
        ("alice", Some("ok"))
    );
    assert_eq!(h.audit_of(&run, "approval")[0]["actor"], "alice");
}

#[test]
fn an_approver_not_listed_is_refused_with_the_list() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    let refused = decide(&h, "approve", &run, "sign_off", &["--actor", "mallory"]);
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("`mallory` is not among the approvers of `sign_off`")
            && refused.stderr.contains("alice, bob"),
        "{}",
        refused.stderr
    );
    // Approving a step that is no approval gate, or that does not exist, is refused too.
    let not_a_gate = decide(&h, "approve", &run, "check_group", &["--actor", "alice"]);
    assert_eq!(not_a_gate.code, 5, "{not_a_gate:?}");
    assert!(
        not_a_gate.stderr.contains("not an approval"),
        "{}",
        not_a_gate.stderr
    );
    let no_step = decide(&h, "approve", &run, "no_such_step", &["--actor", "alice"]);
    assert_ne!(no_step.code, 0, "{no_step:?}");
    assert!(
        no_step.stderr.contains("no_such_step"),
        "{}",
        no_step.stderr
    );
    // The refusals changed nothing: an approver's decision still counts.
    assert_eq!(
        decide(&h, "approve", &run, "sign_off", &["--actor", "alice"]).code,
        0
    );
    finish(child).expect(0, "succeeded");
    assert_eq!(h.audit_of(&run, "approval").len(), 1);
}

#[test]
fn an_approver_not_listed_is_refused_when_no_process_drives_the_run() {
    let h = Harness::new();
    let mut args = DRILL_ARGS.to_vec();
    args.push("--no-wait");
    let run = h.run(&example("dr-drill.yaml"), &args).run_id();
    let refused = decide(&h, "approve", &run, "sign_off", &["--actor", "mallory"]);
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(
        refused.stderr.contains("not among the approvers"),
        "{}",
        refused.stderr
    );
    let inbox = h.data_dir().join("runs").join(&run).join("inbox");
    let queued = std::fs::read_dir(&inbox).map(Iterator::count).unwrap_or(0);
    assert_eq!(queued, 0, "a refused command is not queued");
}

fn gate(on_timeout: &str) -> String {
    format!(
        r#"
name: gate
steps:
  - id: gate
    action: approval
    timeout: 500ms
    with:
      message: "go?"
      on_timeout: {on_timeout}
  - id: after
    action: log
    needs: [gate]
    with: {{ message: "went on" }}
"#
    )
}

#[test]
fn an_approval_timeout_rejects_or_approves_as_the_step_says() {
    let h = Harness::new();
    let rejected = h.run(&h.runbook("reject.yaml", &gate("reject")), &[]);
    rejected.expect(1, "failed");
    assert_eq!(rejected.step("gate")["error_code"], "DRBOOK.REJECTED");
    assert!(
        rejected.step("gate")["message"]
            .as_str()
            .unwrap()
            .contains("no decision within 500ms"),
        "{}",
        rejected.stdout
    );
    assert_eq!(rejected.step_status("after"), "cancelled");

    let approved = h.run(&h.runbook("approve.yaml", &gate("approve")), &[]);
    approved.expect(0, "succeeded");
    assert_eq!(approved.step_status("after"), "succeeded");
    let approval = h.step(&approved.run_id(), "gate").approval.unwrap();
    assert_eq!(approval.verdict, Verdict::Approve);
    assert_eq!(approval.actor, "drbook");
    assert!(
        approval.comment.unwrap().contains("on_timeout: approve"),
        "the comment says why"
    );
}
