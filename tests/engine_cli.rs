//! The engine's command line as operators use it, through the real binary against the in-process
//! emulator: approvals decided from a second process (approve, reject, `--no-wait` then `resume`,
//! approvers, timeouts), protection-group locks across processes (a second run refused, a killed
//! run keeping its lock), `--run-key`, `resume` of a failed run and of a run with secret params,
//! the errors users hit, and the README's first command.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use std::time::Duration;

use drbook::store::records::{StepStatus, Verdict};
use engine_common::{Finished, Harness, example, finish, kill};

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
    // Approving a step that is no approval gate is refused; one that does not exist is not found.
    let not_a_gate = decide(&h, "approve", &run, "check_group", &["--actor", "alice"]);
    assert_eq!(not_a_gate.code, 5, "{not_a_gate:?}");
    assert!(
        not_a_gate.stderr.contains("not an approval"),
        "{}",
        not_a_gate.stderr
    );
    let no_step = decide(&h, "approve", &run, "no_such_step", &["--actor", "alice"]);
    assert_eq!(no_step.code, 4, "{no_step:?}");
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

#[test]
fn a_second_run_on_the_same_group_is_refused_while_the_first_waits_then_allowed() {
    let h = Harness::new();
    let (child, first) = drill_waiting(&h, &[]);
    assert_eq!(
        h.lock_holder("pg-web-0001").as_deref(),
        Some(first.as_str())
    );

    let before = h.calls().len();
    let second = h.run(
        &example("dr-drill.yaml"),
        &["--mode", "drill", "--auto-approve", "--actor", "dr-lead"],
    );
    assert_eq!(second.code, 5, "{second:?}");
    assert!(
        second.stderr.contains("pg-web-0001") && second.stderr.contains(&first),
        "the refusal names the lock and its holder: {}",
        second.stderr
    );
    assert_eq!(h.calls().len(), before, "a refused run calls nothing");
    // The onboarding runbook locks nothing of the drill's: it is not refused.
    assert_eq!(h.run(&example("onboarding.yaml"), &[]).code, 0);

    assert_eq!(
        decide(&h, "approve", &first, "sign_off", &["--actor", "alice"]).code,
        0
    );
    finish(child).expect(0, "succeeded");
    assert_eq!(h.lock_holder("pg-web-0001"), None, "released at the end");

    let third = h.run(
        &example("dr-drill.yaml"),
        &["--mode", "drill", "--auto-approve", "--actor", "dr-lead"],
    );
    third.expect(0, "succeeded");
    assert_ne!(third.run_id(), first);
}

#[test]
fn a_killed_run_keeps_its_lock_and_its_resume_releases_it_at_the_end() {
    let h = Harness::new();
    let (child, first) = drill_waiting(&h, &[]);
    kill(child);
    // SIGKILL ran no cleanup: the lock is still the killed run's, and it refuses others.
    assert_eq!(
        h.lock_holder("pg-web-0001").as_deref(),
        Some(first.as_str())
    );
    let refused = h.run(
        &example("dr-drill.yaml"),
        &["--mode", "drill", "--auto-approve", "--actor", "dr-lead"],
    );
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("help: run {first} releases it when it ends")),
        "{}",
        refused.stderr
    );

    // Resuming keeps the lock (it is already ours) while it waits again.
    let resumed = h.spawn_json("resume", &[&first]);
    h.wait_for_status(&first, "waiting-approval", LIMIT);
    assert_eq!(
        h.lock_holder("pg-web-0001").as_deref(),
        Some(first.as_str())
    );
    assert_eq!(
        decide(&h, "approve", &first, "sign_off", &["--actor", "bob"]).code,
        0
    );
    let resumed = finish(resumed);
    resumed.expect(0, "succeeded");
    assert_eq!(resumed.run_id(), first);
    assert_eq!(h.lock_holder("pg-web-0001"), None);
    // Exactly one drill was created and deleted across the kill.
    assert_eq!(h.calls_to("create_disaster_recovery_drill"), 1);
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 1);
}

#[test]
fn a_run_key_returns_the_existing_run_without_calling_sdrs_again() {
    let h = Harness::new();
    let args = [
        "--mode",
        "drill",
        "--auto-approve",
        "--actor",
        "dr-lead",
        "--run-key",
        "drill-2024-q3",
    ];
    let first = h.run(&example("dr-drill.yaml"), &args);
    first.expect(0, "succeeded");
    assert_eq!(first.json["existing"], false);
    let calls = h.calls().len();

    let second = h.run(&example("dr-drill.yaml"), &args);
    second.expect(0, "succeeded");
    assert_eq!(second.run_id(), first.run_id());
    assert_eq!(second.json["existing"], true);
    assert_eq!(h.calls().len(), calls, "no SDRS call for a known key");
    assert_eq!(
        drbook::store::DataDir::new(h.data_dir())
            .list_runs()
            .unwrap()
            .len(),
        1
    );
    // In text, it says so.
    let text = h
        .command(
            "run",
            &[
                &example("dr-drill.yaml"),
                "--mode",
                "drill",
                "--run-key",
                "drill-2024-q3",
            ],
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("run key already used") && stdout.contains(&first.run_id()),
        "{stdout}"
    );
    // Another key starts another run.
    let other = h.run(
        &example("dr-drill.yaml"),
        &[
            "--mode",
            "drill",
            "--auto-approve",
            "--actor",
            "dr-lead",
            "--run-key",
            "drill-2024-q4",
        ],
    );
    other.expect(0, "succeeded");
    assert_ne!(other.run_id(), first.run_id());
}

#[test]
fn a_run_key_of_a_run_waiting_for_approval_returns_it_waiting() {
    let h = Harness::new();
    let mut args = DRILL_ARGS.to_vec();
    args.extend(["--no-wait", "--run-key", "k1"]);
    let first = h.run(&example("dr-drill.yaml"), &args);
    first.expect(3, "waiting-approval");
    let calls = h.calls().len();
    let second = h.run(&example("dr-drill.yaml"), &args);
    second.expect(3, "waiting-approval");
    assert_eq!(second.run_id(), first.run_id());
    assert_eq!(h.calls().len(), calls);
}

/// Stops the group (mutating), waits for the job, then reads the group (fails once when told).
const STOP_THEN_SHOW: &str = r#"
name: stop-then-show
locks: ["pg-web-0001"]
steps:
  - id: stop
    action: sdrs.protection_group.stop
    with: { server_group_id: pg-web-0001 }
    outputs: { job_id: $.job_id }
  - id: wait
    action: sdrs.job.wait
    needs: [stop]
    with: { job_id: "{{ steps.stop.outputs.job_id }}" }
  - id: show
    action: sdrs.protection_group.show
    needs: [wait]
    with: { server_group_id: pg-web-0001 }
    retry: { max_attempts: 1 }
    outputs: { status: $.server_group.status }
  - id: report
    action: log
    needs: [show]
    with: { message: "group is {{ steps.show.outputs.status }}" }
"#;

#[test]
fn resume_of_a_failed_run_retries_the_failed_steps_and_keeps_completed_outputs() {
    let h = Harness::new();
    let runbook = h.runbook("stop.yaml", STOP_THEN_SHOW);
    h.fault(
        "show_protection_group",
        drbook::emulator::FaultAction::Error {
            http_status: 500,
            code: "SDRS.0001".into(),
            message: Some("injected".into()),
        },
        Some(1),
    );
    let failed = h.run(&runbook, &[]);
    failed.expect(1, "failed");
    let run = failed.run_id();
    assert_eq!(failed.step("show")["error_code"], "SDRS.0001");
    assert_eq!(failed.step_status("report"), "cancelled");
    assert_eq!(h.lock_holder("pg-web-0001"), None);
    let job = h.step(&run, "stop").outputs.unwrap()["job_id"].clone();

    let resumed = h.resume(&run, &[]);
    resumed.expect(0, "succeeded");
    assert_eq!(resumed.run_id(), run);
    assert_eq!(resumed.json["attempt"], 2);
    // The mutating call was not repeated; its output is the one of the first attempt.
    assert_eq!(h.calls_to("stop_protection_group"), 1);
    assert_eq!(h.step(&run, "stop").outputs.unwrap()["job_id"], job);
    assert_eq!(h.step(&run, "stop").attempts.len(), 1);
    // The failed step ran again and the rest followed.
    assert_eq!(h.calls_to("show_protection_group"), 2);
    assert_eq!(resumed.step_status("report"), "succeeded");
    assert_eq!(h.audit_of(&run, "run.resumed").len(), 1);
    assert_eq!(h.audit_of(&run, "run.resumed")[0]["data"]["attempt"], 2);
    // A succeeded run resumed again is left as it is.
    let again = h.resume(&run, &[]);
    again.expect(0, "succeeded");
    assert_eq!(h.calls_to("show_protection_group"), 2);
}

const SECRET: &str = "s3cr3t-T0ken-9f8e7d";

const WITH_SECRET: &str = r#"
name: with-secret
locks: ["pg-web-0001"]
params:
  token:
    type: string
    secret: true
  note:
    type: string
    default: plain
steps:
  - id: gate
    action: approval
    with: { message: "go?" }
  - id: use
    action: log
    needs: [gate]
    with: { message: "token {{ params.token }} for {{ params.note }}" }
  - id: drill
    action: sdrs.drill.create
    needs: [gate]
    with:
      server_group_id: pg-web-0001
      drill_vpc_id: vpc-drill-0001
      name: "drill-{{ params.token }}"
    outputs: { job_id: $.job_id }
  - id: wait
    action: sdrs.job.wait
    needs: [drill]
    with: { job_id: "{{ steps.drill.outputs.job_id }}" }
"#;

#[test]
fn resume_asks_for_the_secret_params_again_and_never_stores_them() {
    let h = Harness::new();
    let runbook = h.runbook("secret.yaml", WITH_SECRET);
    let token = format!("token={SECRET}");
    let without = h.run(&runbook, &["--no-wait"]);
    assert_eq!(without.code, 2, "{without:?}");
    assert!(without.stderr.contains("token"), "{}", without.stderr);
    let waiting = h.run(&runbook, &["-p", &token, "--no-wait"]);
    waiting.expect(3, "waiting-approval");
    assert!(
        !waiting.stdout.contains(SECRET) && !waiting.stderr.contains(SECRET),
        "the secret is masked in the output"
    );
    let run = waiting.run_id();
    assert_eq!(decide(&h, "approve", &run, "gate", &[]).code, 0);

    let missing = h.resume(&run, &[]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("secret params again") && missing.stderr.contains("token"),
        "{}",
        missing.stderr
    );
    // Only secret params may be given again.
    let not_secret = h.resume(&run, &["-p", &token, "-p", "note=other"]);
    assert_eq!(not_secret.code, 2, "{not_secret:?}");
    assert!(not_secret.stderr.contains("note"), "{}", not_secret.stderr);

    let resumed = h.resume(&run, &["-p", &token]);
    resumed.expect(0, "succeeded");
    // The service got the real value; the recorded intent shows it masked.
    assert_eq!(h.calls_to("create_disaster_recovery_drill"), 1);
    let intent = h.step(&run, "drill").intent.unwrap();
    let name = &intent.request["body"]["disaster_recovery_drill"]["name"];
    assert!(
        name.as_str()
            .is_some_and(|n| n.starts_with("drill-") && !n.contains(SECRET)),
        "{name}"
    );
    assert!(
        !resumed.stdout.contains(SECRET) && !resumed.stderr.contains(SECRET),
        "the secret is masked in the output"
    );
    assert_eq!(
        h.files_containing(SECRET),
        Vec::<std::path::PathBuf>::new(),
        "the secret reached the data directory"
    );
}

#[test]
fn an_unknown_run_id_exits_4() {
    let h = Harness::new();
    let unknown = "01a20836-7c52-767c-97eb-c09a119ae3b0";
    for verb in ["resume", "approve", "reject"] {
        let mut args = vec![unknown];
        if verb != "resume" {
            args.extend(["sign_off", "--comment", "why"]);
        }
        let out = Finished::from(h.command(verb, &args).output().unwrap());
        assert_eq!(out.code, 4, "{verb}: {out:?}");
        assert!(
            out.stderr.contains(&format!("run {unknown} not found")),
            "{verb}: {}",
            out.stderr
        );
    }
    let garbage = Finished::from(h.command("resume", &["not-a-run"]).output().unwrap());
    assert_eq!(garbage.code, 4, "{garbage:?}");
    assert!(
        garbage.stderr.contains("invalid run id \"not-a-run\""),
        "{}",
        garbage.stderr
    );
}

#[test]
fn bad_params_and_modes_exit_2_naming_the_culprit_before_anything_starts() {
    let h = Harness::new();
    let drill = example("dr-drill.yaml");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--mode", "drill", "-p", "no_such_param=1"],
            "`no_such_param` is not a param of runbook `dr-drill`",
        ),
        (
            &["--mode", "drill", "-p", "server_group_id"],
            "`server_group_id` is not `name=value`",
        ),
        (
            &["--mode", "failover"],
            "runbook `dr-drill` does not support mode `failover`; its modes: drill",
        ),
        // A typo in the mode is invalid input to the runbook too, not a usage error.
        (&["--mode", "dril"], "`dril` is not a mode"),
    ];
    for (args, message) in cases {
        let mut all = vec![drill.as_str()];
        all.extend_from_slice(args);
        let out = Finished::from(h.command("run", &all).output().unwrap());
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
    // A runbook without modes refuses one.
    let out = Finished::from(
        h.command("run", &[&example("onboarding.yaml"), "--mode", "drill"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("declares no modes"), "{}", out.stderr);
    // None of them created a run, took a lock or called SDRS.
    assert_eq!(
        drbook::store::DataDir::new(h.data_dir())
            .list_runs()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(h.lock_holder("pg-web-0001"), None);
    assert_eq!(h.calls().len(), 0);
}

/// An endpoint nobody listens on: the run starts (it is recorded and audited), its first SDRS
/// call fails with `NET.CONNECT` naming the URL after the step's retries, and the run ends
/// failed with its locks released, ready for `drbook resume` once the endpoint answers.
#[test]
fn an_endpoint_nobody_listens_on_fails_the_run_with_a_connection_error_naming_it() {
    let h = Harness::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let runbook = h.runbook(
        "show.yaml",
        r#"
name: show
locks: ["pg-web-0001"]
steps:
  - id: check_group
    action: sdrs.protection_group.show
    with: { server_group_id: pg-web-0001 }
    retry:
      max_attempts: 2
      backoff: { kind: constant, initial: 50ms }
"#,
    );
    let run = h.run(&runbook, &["--endpoint", &endpoint]);
    run.expect(1, "failed");
    assert_eq!(run.step("check_group")["error_code"], "NET.CONNECT");
    let message = run.step("check_group")["message"].as_str().unwrap();
    assert!(message.contains(&endpoint), "{message}");
    assert!(
        run.json["error"].as_str().unwrap().contains(&endpoint),
        "{}",
        run.stdout
    );
    assert_eq!(h.step(&run.run_id(), "check_group").attempts.len(), 2);
    assert_eq!(h.lock_holder("pg-web-0001"), None);
    assert_eq!(h.calls().len(), 0, "nothing reached the emulator");
    // Pointed at an endpoint that answers, the same run finishes.
    h.resume(&run.run_id(), &[]).expect(0, "succeeded");
}

/// The README's first command, exactly, from the repository root with a fresh data directory
/// (and nothing but a home directory in the environment).
#[test]
fn the_readme_first_command_runs_a_drill_on_the_built_in_emulator_and_cleans_up() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("drbook-data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_drbook"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "runbooks/dr-drill.yaml",
            "--mode",
            "drill",
            "--emulator",
            "--auto-approve",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env_clear()
        .env("HOME", home.path())
        .env("USER", "sre")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("succeeded (dr-drill, drill)"), "{stdout}");
    for step in [
        "create_drill",
        "sign_off",
        "delete_drill",
        "wait_delete",
        "report",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(step) && l.ends_with("succeeded")),
            "{step}: {stdout}"
        );
    }
    // The drill that was created is the one that was deleted, and the approval says who.
    let runs = drbook::store::DataDir::new(&data).list_runs().unwrap();
    assert_eq!(runs.len(), 1);
    let store =
        drbook::store::SledStore::open(&drbook::store::DataDir::new(&data), runs[0]).unwrap();
    use drbook::store::Store as _;
    let steps = store.load_steps().unwrap();
    store.close().unwrap();
    let step = |id: &str| steps.iter().find(|s| s.step_id == id).unwrap();
    let drill_id = step("wait_drill").outputs.as_ref().unwrap()["drill_id"].clone();
    assert!(drill_id.is_string(), "{drill_id}");
    let delete = step("delete_drill").intent.as_ref().unwrap();
    assert_eq!(
        delete.request["path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap(),
        drill_id.as_str().unwrap(),
        "{:?}",
        delete.request
    );
    assert_eq!(step("wait_delete").status, StepStatus::Succeeded);
    let approval = step("sign_off").approval.as_ref().unwrap();
    assert_eq!(approval.actor, "sre");
    assert!(
        approval
            .comment
            .as_deref()
            .unwrap()
            .contains("--auto-approve")
    );
}

/// A user who exported `DRBOOK_SDRS_ENDPOINT` (as `drbook emulator` suggests) can still run the
/// README's command: `--emulator` wins over the environment, only an explicit `--endpoint`
/// conflicts with it.
#[test]
fn emulator_wins_over_an_exported_endpoint_but_not_over_an_explicit_one() {
    let home = tempfile::tempdir().unwrap();
    let base = |extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_drbook"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "run",
                "runbooks/dr-drill.yaml",
                "--mode",
                "drill",
                "--emulator",
            ])
            .args(["--auto-approve", "--output", "json"])
            .args(extra)
            .arg("--data-dir")
            .arg(home.path())
            .env_clear()
            .env("HOME", home.path())
            .env("DRBOOK_SDRS_ENDPOINT", "http://127.0.0.1:9");
        Finished::from(command.output().unwrap())
    };
    base(&[]).expect(0, "succeeded");
    let both = base(&["--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(both.code, 64, "{both:?}");
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
}

#[test]
fn a_queued_rejection_is_applied_by_resume_and_compensates() {
    let h = Harness::new();
    let mut args = DRILL_ARGS.to_vec();
    args.push("--no-wait");
    let run = h.run(&example("dr-drill.yaml"), &args).run_id();
    let reject = decide(
        &h,
        "reject",
        &run,
        "sign_off",
        &["--comment", "wrong VPC", "--actor", "bob"],
    );
    assert_eq!(reject.code, 0, "{reject:?}");
    assert!(reject.stdout.contains("queued"), "{}", reject.stdout);
    let resumed = h.resume(&run, &[]);
    resumed.expect(1, "failed");
    assert_eq!(resumed.step("sign_off")["error_code"], "DRBOOK.REJECTED");
    assert!(
        resumed.json["error"]
            .as_str()
            .unwrap()
            .contains("wrong VPC"),
        "{}",
        resumed.stdout
    );
    assert_eq!(resumed.step_status("wait_drill"), "compensated");
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 1);
    assert_eq!(h.lock_holder("pg-web-0001"), None);
}

#[test]
fn a_run_driven_by_one_process_cannot_be_resumed_by_another() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    let second = h.resume(&run, &[]);
    assert_eq!(second.code, 5, "{second:?}");
    assert!(
        second.stderr.contains(&run) && second.stderr.contains("another drbook process"),
        "{}",
        second.stderr
    );
    assert_eq!(
        decide(&h, "approve", &run, "sign_off", &["--actor", "alice"]).code,
        0
    );
    finish(child).expect(0, "succeeded");
}

#[test]
fn deciding_a_gate_twice_or_after_the_run_ended_is_refused() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    assert_eq!(
        decide(&h, "approve", &run, "sign_off", &["--actor", "alice"]).code,
        0
    );
    let finished = finish(child);
    finished.expect(0, "succeeded");
    let late = decide(
        &h,
        "reject",
        &run,
        "sign_off",
        &["--comment", "too late", "--actor", "bob"],
    );
    assert_eq!(late.code, 5, "{late:?}");
    assert!(
        late.stderr.contains("has ended (succeeded)"),
        "{}",
        late.stderr
    );
    let approval = h.step(&run, "sign_off").approval.unwrap();
    assert_eq!(approval.actor, "alice", "the first decision stands");
}

#[test]
fn an_approval_the_driving_process_has_not_confirmed_yet_is_reported_as_pending_not_undriven() {
    let h = Harness::new();
    let (child, run) = drill_waiting(&h, &[]);
    // `--wait 0s`: do not wait for the driving process's confirmation.
    let approve = decide(
        &h,
        "approve",
        &run,
        "sign_off",
        &["--actor", "alice", "--wait", "0s"],
    );
    assert_eq!(approve.code, 0, "{approve:?}");
    assert!(
        !approve.stdout.contains("no drbook process is driving"),
        "a process drives the run: {}",
        approve.stdout
    );
    assert!(
        approve.stdout.contains("has not confirmed"),
        "{}",
        approve.stdout
    );
    // The driving process picks it up all the same.
    finish(child).expect(0, "succeeded");
    assert_eq!(h.step(&run, "sign_off").approval.unwrap().actor, "alice");
}

#[test]
fn an_approval_timeout_counts_from_when_the_gate_opened_across_a_stop() {
    let h = Harness::new();
    let runbook = h.runbook(
        "gate.yaml",
        r#"
name: gate
steps:
  - id: gate
    action: approval
    timeout: 1s
    with: { message: "go?", on_timeout: reject }
"#,
    );
    let waiting = h.run(&runbook, &["--no-wait"]);
    waiting.expect(3, "waiting-approval");
    let run = waiting.run_id();
    std::thread::sleep(Duration::from_millis(1500));
    // The deadline passed while nobody drove the run: the resume rejects at once instead of
    // waiting another second.
    let resumed = h.resume(&run, &["--no-wait"]);
    resumed.expect(1, "failed");
    assert_eq!(resumed.step("gate")["error_code"], "DRBOOK.REJECTED");
    assert_eq!(h.step(&run, "gate").attempts.len(), 1);
}

#[test]
fn a_run_key_of_a_live_run_returns_that_run_and_its_live_status() {
    let h = Harness::new();
    let mut args = vec![example("dr-drill.yaml")];
    args.extend(DRILL_ARGS.iter().map(|a| (*a).to_owned()));
    args.extend(["--run-key".to_owned(), "live".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = h.spawn_json("run", &args);
    let run = h.wait_for_new_run(&[], LIMIT);
    h.wait_for_status(&run, "waiting-approval", LIMIT);
    let calls = h.calls().len();
    let second = h.json("run", &args);
    assert_eq!(second.run_id(), run);
    assert_eq!(second.json["existing"], true);
    second.expect(3, "waiting-approval");
    assert_eq!(h.calls().len(), calls);
    assert_eq!(
        decide(&h, "approve", &run, "sign_off", &["--actor", "alice"]).code,
        0
    );
    finish(child).expect(0, "succeeded");
}

/// The text a user reads: the summary on stdout of a drill stopped at its sign-off, of the same
/// run returned by its run key, of an approval from a second process, and of the run's end
/// after a rejection (run ids replaced).
#[test]
fn the_text_output_of_an_approval_round_trip_matches_its_snapshot() {
    let h = Harness::new();
    let text = |verb: &str, args: &[&str]| {
        let output = h.command(verb, args).output().unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let drill = example("dr-drill.yaml");
    let mut args = vec![drill.as_str()];
    args.extend_from_slice(DRILL_ARGS);
    args.extend(["--no-wait", "--run-key", "q3", "--poll-interval", "50ms"]);
    let (code, waiting, stderr) = text("run", &args);
    assert_eq!(code, 3, "{stderr}");
    let run = h.wait_for_run(LIMIT);
    assert!(
        stderr.contains(&format!("it continues with `drbook resume {run}`")),
        "{stderr}"
    );
    let (code, again, stderr) = text("run", &args);
    assert_eq!(code, 3, "{stderr}");
    assert!(!stderr.contains("it continues with"), "{stderr}");
    let (code, queued, _) = text(
        "reject",
        &[&run, "sign_off", "--comment", "wrong VPC", "--actor", "bob"],
    );
    assert_eq!(code, 0);
    let (code, ended, _) = text("resume", &[&run, "--poll-interval", "50ms"]);
    assert_eq!(code, 1);
    let all = format!(
        "$ drbook run dr-drill.yaml --no-wait --run-key q3\n{waiting}\n\
         $ drbook run dr-drill.yaml --no-wait --run-key q3\n{again}\n\
         $ drbook reject RUN sign_off --comment 'wrong VPC' --actor bob\n{queued}\n\
         $ drbook resume RUN\n{ended}"
    );
    let drill_id = h.step(&run, "wait_drill").outputs.unwrap()["drill_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let command_ids = regex_like_uuids(&all, &[&run, &drill_id]);
    let mut redacted = all
        .replace(&run, "[run-id]")
        .replace(&drill_id, "[drill-id]");
    for id in command_ids {
        redacted = redacted.replace(&id, "[command-id]");
    }
    insta::assert_snapshot!(redacted);
}

/// The UUID-shaped words of `text` other than `known` (command ids).
fn regex_like_uuids(text: &str, known: &[&str]) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| w.len() == 36 && w.matches('-').count() == 4 && !known.contains(w))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_rolled_back_run_is_not_resumed_and_says_to_start_a_new_one() {
    let h = Harness::new();
    let mut args = DRILL_ARGS.to_vec();
    args.push("--no-wait");
    let run = h.run(&example("dr-drill.yaml"), &args).run_id();
    decide(
        &h,
        "reject",
        &run,
        "sign_off",
        &["--comment", "no", "--actor", "bob"],
    );
    h.resume(&run, &[]).expect(1, "failed");
    let calls = h.calls().len();
    // Compensation deleted the drill that `create_drill` made; `create_drill` is still
    // recorded as done with the old job. Continuing would wait on that job and show a drill
    // that no longer exists.
    let again = h.resume(&run, &["--auto-approve", "--actor", "alice"]);
    assert_eq!(again.code, 5, "{again:?}");
    assert!(
        again.stderr.contains("rolled back")
            && again.stderr.contains("`wait_drill`")
            && again.stderr.contains("start a new run"),
        "{}",
        again.stderr
    );
    assert_eq!(h.calls().len(), calls, "nothing was called");
    assert_eq!(h.audit_of(&run, "run.resumed").len(), 1, "no new attempt");
    assert_eq!(h.lock_holder("pg-web-0001"), None);
    // A new run does the drill again.
    h.run(
        &example("dr-drill.yaml"),
        &["--mode", "drill", "--auto-approve", "--actor", "dr-lead"],
    )
    .expect(0, "succeeded");
}
