//! Operator verbs through the real binary against the emulator: `status`, `runs`, `show`,
//! `rerun --from`, `skip` (live and stopped runs), `abort` with compensation (live and stopped
//! runs), their `--output json` shapes, exit codes and audit entries.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use std::time::Duration;

use drbook::store::records::StepStatus;
use engine_common::{Finished, Harness, example};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// The audit log's entries.
fn audit(h: &Harness) -> Vec<Value> {
    let text = std::fs::read_to_string(h.data_dir().join("audit").join("audit.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `operator.verb` entries of the audit log, as `(actor, verb, step, reason)`.
fn verbs(h: &Harness, run: &str) -> Vec<(String, String, Option<String>, Option<String>)> {
    audit(h)
        .into_iter()
        .filter(|e| e["kind"] == "operator.verb" && e["run_id"] == run)
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["data"]["verb"].as_str().unwrap().to_owned(),
                e["data"]["step"].as_str().map(str::to_owned),
                e["data"]["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// `drbook VERB ARGS --output json`.
fn json(h: &Harness, verb: &str, args: &[&str]) -> Finished {
    h.json(verb, args)
}

/// The status of one step in a `status --output json` document.
fn step_status<'a>(status: &'a Value, id: &str) -> &'a str {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {status}"))["status"]
        .as_str()
        .unwrap()
}

/// Waits for a child `drbook` to end.
fn finish(child: std::process::Child) -> Finished {
    Finished::from(child.wait_with_output().unwrap())
}

const GATED: &str = r#"
name: gated
steps:
  - id: first
    action: sdrs.protection_group.show
    with: { server_group_id: pg-web-0001 }
    outputs: { name: $.server_group.name }
  - id: gate
    action: approval
    needs: [first]
    with: { message: "go on with {{ steps.first.outputs.name }}?" }
  - id: after
    action: log
    needs: [gate]
    with: { message: "after the gate" }
"#;

const ABORTABLE: &str = r#"
name: abortable
locks: [app]
steps:
  - id: stop_app
    action: ecs.servers.stop
    with: { servers: [{ id: ecs-app-01 }], type: HARD }
    outputs: { job_id: $.job_id }
    compensate:
      action: ecs.servers.start
      with: { servers: [{ id: ecs-app-01 }] }
  - id: wait_stop
    action: ecs.job.wait
    needs: [stop_app]
    with: { job_id: "{{ steps.stop_app.outputs.job_id }}" }
  - id: gate
    action: approval
    needs: [wait_stop]
    with: { message: "keep the app stopped?" }
  - id: after
    action: log
    needs: [gate]
    with: { message: "done" }
"#;

#[test]
fn status_runs_and_show_describe_a_finished_drill() {
    let h = Harness::new();
    let run = h.run(
        &example("dr-drill.yaml"),
        &["--auto-approve", "--actor", "dr-lead"],
    );
    run.expect(0, "succeeded");
    let id = run.run_id();

    let status = json(&h, "status", &[&id]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.json["status"], "succeeded");
    assert_eq!(status.json["live"], false);
    assert_eq!(status.json["steps"].as_array().unwrap().len(), 12);
    let wait = status.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "wait_drill")
        .unwrap();
    assert_eq!(wait["needs"], serde_json::json!(["create_drill"]));
    // The job create_drill returned; the wait step shows a job only while it waits.
    let create = h.step(&id, "create_drill");
    assert!(create.job_id.is_some());
    let create_status = status.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "create_drill")
        .unwrap();
    assert_eq!(create_status["job_id"].as_str(), create.job_id.as_deref());
    assert!(wait.get("job_id").is_none(), "{wait}");

    // The text view names every step with its state and its edges.
    let text = h.command("status", &[&id]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("succeeded 12/12 steps done"), "{text}");
    assert!(text.contains("<- create_drill"), "{text}");

    // runs: filters by runbook, status and creation time.
    let runs = json(&h, "runs", &[]);
    assert_eq!(runs.code, 0);
    assert_eq!(runs.json.as_array().unwrap().len(), 1);
    assert_eq!(runs.json[0]["run_id"], id.as_str());
    assert_eq!(runs.json[0]["steps_done"], 12);
    for (filter, expected) in [
        (vec!["--runbook", "dr-drill"], 1),
        (vec!["--runbook", "other"], 0),
        (vec!["--status", "succeeded"], 1),
        (vec!["--status", "failed", "--status", "aborted"], 0),
        (vec!["--since", "1h"], 1),
        (vec!["--since", "2999-01-01T00:00:00Z"], 0),
    ] {
        let listed = json(&h, "runs", &filter);
        assert_eq!(
            listed.json.as_array().unwrap().len(),
            expected,
            "{filter:?}: {}",
            listed.stdout
        );
    }
    assert_eq!(json(&h, "runs", &["--status", "nonsense"]).code, 64);

    // show: inputs, the request as sent, outputs, attempts, times.
    let show = json(&h, "show", &[&id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let steps = show.json["steps"].as_array().unwrap();
    let create = steps.iter().find(|s| s["id"] == "create_drill").unwrap();
    assert_eq!(create["inputs"]["drill_vpc_id"], "vpc-drill-0001");
    assert_eq!(
        create["intent"]["operation"],
        "create_disaster_recovery_drill"
    );
    assert_eq!(create["attempts"][0]["outcome"], "succeeded");
    assert!(create["started_at"].is_string() && create["ended_at"].is_string());
    assert!(create["outputs"]["job_id"].is_string());
    let verify = steps
        .iter()
        .find(|s| s["id"] == "verify_drill_servers")
        .unwrap();
    assert_eq!(verify["items"].as_array().unwrap().len(), 3);
    assert_eq!(show.json["run"]["params"]["server_group_id"], "pg-web-0001");

    // show STEP: that step only, with its history.
    let one = json(&h, "show", &[&id, "sign_off"]);
    assert_eq!(one.json["steps"].as_array().unwrap().len(), 1);
    assert_eq!(one.json["steps"][0]["approval"]["actor"], "dr-lead");
    let kinds: Vec<&str> = one.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"step.status"), "{kinds:?}");
    let text = h.command("show", &[&id, "create_drill"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("attempt #1 succeeded"), "{text}");
    assert!(
        text.contains("request: create_disaster_recovery_drill"),
        "{text}"
    );

    // Not found: an unknown step, an unknown run, a malformed id.
    assert_eq!(json(&h, "show", &[&id, "nope"]).code, 4);
    let unknown = drbook::store::RunId::new().to_string();
    assert_eq!(json(&h, "status", &[&unknown]).code, 4);
    assert_eq!(json(&h, "show", &[&unknown]).code, 4);
    assert_eq!(json(&h, "status", &["not-a-run"]).code, 4);
    for verb in [
        vec!["abort", unknown.as_str(), "--reason", "x"],
        vec!["rerun", unknown.as_str(), "--from", "a", "--reason", "x"],
        vec!["skip", unknown.as_str(), "a", "--reason", "x"],
    ] {
        let (verb, args) = verb.split_first().unwrap();
        assert_eq!(json(&h, verb, args).code, 4, "{verb}");
    }
}

#[test]
fn a_run_stopped_at_an_approval_reports_waiting_with_exit_3() {
    let h = Harness::new();
    let run = h.run(&h.runbook("gated.yaml", GATED), &["--no-wait"]);
    run.expect(3, "waiting-approval");
    let id = run.run_id();
    let status = json(&h, "status", &[&id]);
    assert_eq!(status.code, 3);
    assert_eq!(status.json["status"], "waiting-approval");
    assert_eq!(status.json["waiting_approvals"][0]["step"], "gate");
    assert_eq!(step_status(&status.json, "gate"), "waiting-approval");
    assert_eq!(step_status(&status.json, "after"), "pending");
    let runs = json(&h, "runs", &["--status", "waiting-approval"]);
    assert_eq!(runs.json.as_array().unwrap().len(), 1);

    // approve has the same JSON shape as skip: nobody drives the run, so it is queued.
    let approved = json(&h, "approve", &[&id, "gate", "--comment", "go"]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert_eq!(approved.json["verb"], "approve");
    assert_eq!(approved.json["accepted"], true);
    assert_eq!(approved.json["queued"], true);
    h.resume(&id, &[]).expect(0, "succeeded");
    assert_eq!(
        verbs(&h, &id),
        [
            (
                "tester".into(),
                "approve".into(),
                Some("gate".into()),
                Some("go".into())
            ),
            ("tester".into(), "resume".into(), None, None),
        ]
    );
}

#[test]
fn skip_on_a_live_run_skips_the_waiting_step_and_the_run_goes_on() {
    let h = Harness::new();
    let runbook = h.runbook("gated.yaml", GATED);
    let child = h.spawn(
        "run",
        &[&runbook, "--poll-interval", "50ms", "--output", "json"],
    );
    let id = h.wait_for_run(LIMIT);
    h.wait_for_status(&id, "waiting-approval", LIMIT);

    // While it is driven, status reads the live snapshot.
    let live = json(&h, "status", &[&id]);
    assert_eq!(live.json["live"], true);
    assert_eq!(live.code, 3);
    // A final step cannot be skipped: the driving process refuses.
    let refused = json(&h, "skip", &[&id, "first", "--reason", "not needed"]);
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert_eq!(refused.json["accepted"], false);
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("already succeeded")
    );
    let skipped = json(&h, "skip", &[&id, "gate", "--reason", "owner on holiday"]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert_eq!(skipped.json["accepted"], true);
    assert_eq!(skipped.json["queued"], false);

    let ended = finish(child);
    ended.expect(0, "succeeded");
    assert_eq!(ended.step_status("gate"), "skipped");
    assert_eq!(ended.step_status("after"), "succeeded");
    let gate = h.step(&id, "gate");
    assert_eq!(gate.status, StepStatus::Skipped);
    assert_eq!(
        gate.skip_reason.as_deref(),
        Some("skipped by tester: owner on holiday")
    );
    // The approval's open attempt was closed as cancelled.
    assert_eq!(
        gate.attempts.last().unwrap().outcome,
        drbook::store::records::AttemptOutcome::Cancelled
    );
    assert_eq!(
        verbs(&h, &id),
        [
            (
                "tester".into(),
                "skip".into(),
                Some("first".into()),
                Some("not needed".into())
            ),
            (
                "tester".into(),
                "skip".into(),
                Some("gate".into()),
                Some("owner on holiday".into())
            ),
        ]
    );
    // A skip needs a reason.
    assert_eq!(json(&h, "skip", &[&id, "gate", "--reason", " "]).code, 64);
    assert_eq!(
        h.command("skip", &[&id, "gate"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(64)
    );
}

#[test]
fn skip_on_a_stopped_run_is_recorded_and_kept_when_the_failed_run_is_retried() {
    let h = Harness::new();
    let runbook = h.runbook(
        "failing.yaml",
        r#"
name: failing
steps:
  - id: first
    action: log
    with: { message: "one" }
  - id: flaky
    action: assert
    needs: [first]
    with: { that: "false", message: "flaky check" }
  - id: after
    action: log
    needs: [flaky]
    with: { message: "after" }
"#,
    );
    let run = h.run(&runbook, &[]);
    run.expect(1, "failed");
    let id = run.run_id();
    // The failure stopped the run before `after` could start.
    assert_eq!(run.step_status("after"), "cancelled");

    // Nobody drives the run: the skip goes straight into its database.
    let skipped = json(&h, "skip", &[&id, "flaky", "--reason", "known false alarm"]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert_eq!(skipped.json["accepted"], true);
    let status = json(&h, "status", &[&id]);
    assert_eq!(step_status(&status.json, "flaky"), "skipped");
    // A succeeded step cannot be skipped; an unknown one is not found.
    assert_eq!(json(&h, "skip", &[&id, "first", "--reason", "x"]).code, 5);
    assert_eq!(json(&h, "skip", &[&id, "nope", "--reason", "x"]).code, 4);

    // The retry runs what the failure cancelled, and keeps the operator's skip.
    let resumed = h.resume(&id, &[]);
    resumed.expect(0, "succeeded");
    assert_eq!(resumed.step_status("flaky"), "skipped");
    assert_eq!(resumed.step_status("after"), "succeeded");
    assert_eq!(
        verbs(&h, &id),
        [
            (
                "tester".into(),
                "skip".into(),
                Some("flaky".into()),
                Some("known false alarm".into())
            ),
            ("tester".into(), "resume".into(), None, None),
        ]
    );
}

#[test]
fn rerun_from_a_step_resets_it_and_its_descendants_and_reuses_earlier_outputs() {
    let h = Harness::new();
    let runbook = h.runbook(
        "rerun.yaml",
        r#"
name: rerunnable
steps:
  - id: look
    action: sdrs.protection_group.show
    with: { server_group_id: pg-web-0001 }
    outputs: { status: $.server_group.status }
  - id: check
    action: assert
    needs: [look]
    with: { that: "{{ eq steps.look.outputs.status 'protected' }}", message: "not protected" }
  - id: note
    action: log
    needs: [check]
    with: { message: "group is {{ steps.look.outputs.status }}" }
  - id: side
    action: log
    with: { message: "independent" }
"#,
    );
    let run = h.run(&runbook, &[]);
    run.expect(0, "succeeded");
    let id = run.run_id();
    let before = h.steps(&id);
    let first_end = |key: &str| {
        before
            .iter()
            .find(|s| s.step_id == key)
            .unwrap()
            .ended_at
            .unwrap()
    };
    assert_eq!(h.calls_to("show_protection_group"), 1);

    // A rerun needs a finished run, a known step and a reason.
    assert_eq!(h.resume(&id, &[]).code, 0);
    let unknown = json(
        &h,
        "rerun",
        &[
            &id,
            "--from",
            "nope",
            "--reason",
            "x",
            "--poll-interval",
            "50ms",
        ],
    );
    assert_eq!(unknown.code, 4, "{}", unknown.stderr);
    let rerun = json(
        &h,
        "rerun",
        &[
            &id,
            "--from",
            "check",
            "--reason",
            "re-verify after the fix",
            "--poll-interval",
            "50ms",
        ],
    );
    rerun.expect(0, "succeeded");
    assert_eq!(rerun.json["attempt"], 2);
    // `look` kept its outputs (no second call), `check` and `note` ran again, `side` did not.
    assert_eq!(h.calls_to("show_protection_group"), 1);
    let after = h.steps(&id);
    let end = |key: &str| {
        after
            .iter()
            .find(|s| s.step_id == key)
            .unwrap()
            .ended_at
            .unwrap()
    };
    assert_eq!(end("look"), first_end("look"));
    assert_eq!(end("side"), first_end("side"));
    assert!(end("check") > first_end("check"));
    assert!(end("note") > first_end("note"));
    assert_eq!(h.step(&id, "note").status, StepStatus::Succeeded);
    assert_eq!(
        verbs(&h, &id),
        [
            ("tester".into(), "resume".into(), None, None),
            (
                "tester".into(),
                "rerun".into(),
                Some("check".into()),
                Some("re-verify after the fix".into())
            ),
        ]
    );
    let history = json(&h, "show", &[&id, "check"]);
    assert!(
        history.json["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "operator.rerun"
                && e["data"]["reset"] == serde_json::json!(["check", "note"])),
        "{}",
        history.stdout
    );
}

#[test]
fn rerun_of_a_run_that_has_not_finished_is_refused() {
    let h = Harness::new();
    let run = h.run(&h.runbook("gated.yaml", GATED), &["--no-wait"]);
    run.expect(3, "waiting-approval");
    let refused = json(
        &h,
        "rerun",
        &[&run.run_id(), "--from", "first", "--reason", "x"],
    );
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("needs a finished run"),
        "{}",
        refused.stderr
    );
}

#[test]
fn abort_of_a_live_run_cancels_what_waits_and_compensates_what_was_done() {
    let h = Harness::new();
    let runbook = h.runbook("abortable.yaml", ABORTABLE);
    let child = h.spawn(
        "run",
        &[&runbook, "--poll-interval", "50ms", "--output", "json"],
    );
    let id = h.wait_for_run(LIMIT);
    h.wait_for_status(&id, "waiting-approval", LIMIT);
    assert_eq!(h.server("ecs-app-01"), "SHUTOFF");

    let aborted = json(&h, "abort", &[&id, "--reason", "change window closed"]);
    assert_eq!(aborted.code, 0, "{}\n{}", aborted.stdout, aborted.stderr);
    assert_eq!(aborted.json["status"], "aborted");

    let ended = finish(child);
    ended.expect(1, "aborted");
    assert_eq!(ended.step_status("stop_app"), "compensated");
    assert_eq!(ended.step_status("gate"), "cancelled");
    assert_eq!(ended.step_status("after"), "cancelled");
    assert_eq!(h.server("ecs-app-01"), "ACTIVE");
    assert_eq!(
        ended.json["error"],
        "aborted by tester: change window closed"
    );
    assert_eq!(
        verbs(&h, &id),
        [(
            "tester".into(),
            "abort".into(),
            None,
            Some("change window closed".into())
        )]
    );
    let entries = audit(&h);
    let ended_entry = entries
        .iter()
        .find(|e| e["kind"] == "run.ended" && e["run_id"] == id.as_str())
        .unwrap();
    assert_eq!(ended_entry["data"]["status"], "aborted");
    // The abort was audited before the run ended.
    let position = |kind: &str| entries.iter().position(|e| e["kind"] == kind).unwrap();
    assert!(position("operator.verb") < position("run.ended"));

    // An ended run cannot be aborted again.
    let again = json(&h, "abort", &[&id, "--reason", "again"]);
    assert_eq!(again.code, 5, "{}", again.stderr);
}

#[test]
fn abort_of_a_stopped_run_drives_its_compensation() {
    let h = Harness::new();
    let runbook = h.runbook("abortable.yaml", ABORTABLE);
    let run = h.run(&runbook, &["--no-wait"]);
    run.expect(3, "waiting-approval");
    let id = run.run_id();
    assert_eq!(h.server("ecs-app-01"), "SHUTOFF");

    let aborted = json(
        &h,
        "abort",
        &[
            &id,
            "--reason",
            "drill cancelled",
            "--poll-interval",
            "50ms",
        ],
    );
    aborted.expect(0, "aborted");
    assert_eq!(aborted.step_status("stop_app"), "compensated");
    assert_eq!(aborted.step_status("gate"), "cancelled");
    assert_eq!(h.server("ecs-app-01"), "ACTIVE");
    let status = json(&h, "status", &[&id]);
    assert_eq!(status.code, 1);
    assert_eq!(status.json["status"], "aborted");
    assert_eq!(
        verbs(&h, &id),
        [(
            "tester".into(),
            "abort".into(),
            None,
            Some("drill cancelled".into())
        )]
    );
    // The lock was released: the same runbook runs again.
    h.run(&runbook, &["--no-wait"])
        .expect(3, "waiting-approval");
}

#[test]
fn a_retrying_step_shows_its_next_attempt_and_can_be_skipped_while_it_waits() {
    let h = Harness::new();
    let runbook = h.runbook(
        "retrying.yaml",
        r#"
name: retrying
steps:
  - id: look
    action: sdrs.protection_group.show
    with: { server_group_id: pg-web-0001 }
    retry:
      max_attempts: 5
      backoff: { kind: constant, initial: 10m }
      retry_on: [SDRS.0209]
  - id: after
    action: log
    needs: [look]
    with: { message: "went on" }
"#,
    );
    h.fault(
        "show_protection_group",
        drbook::emulator::FaultAction::Error {
            http_status: 400,
            code: "SDRS.0209".into(),
            message: Some("injected".into()),
        },
        Some(1),
    );
    let child = h.spawn(
        "run",
        &[&runbook, "--poll-interval", "50ms", "--output", "json"],
    );
    let id = h.wait_for_run(LIMIT);
    let started = std::time::Instant::now();
    let status = loop {
        let status = json(&h, "status", &[&id]);
        if status.json["steps"][0]["status"] == "retrying" {
            break status;
        }
        assert!(started.elapsed() < LIMIT, "{}", status.stdout);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.json["steps"][0]["error_code"], "SDRS.0209");
    let next: jiff::Timestamp = status.json["steps"][0]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(next > jiff::Timestamp::now());
    let text = h.command("status", &[&id]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("retrying: look (next "), "{text}");
    assert!(text.contains("next attempt "), "{text}");

    // `show` of a live run falls back to its snapshot and says so.
    let shown = json(&h, "show", &[&id, "look"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.json["live"], true);
    assert_eq!(shown.json["steps"][0]["status"], "retrying");

    let skipped = json(&h, "skip", &[&id, "look", "--reason", "checked by hand"]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    let ended = finish(child);
    ended.expect(0, "succeeded");
    assert_eq!(ended.step_status("look"), "skipped");
    assert_eq!(ended.step_status("after"), "succeeded");
    // The retry was never sent.
    assert_eq!(h.calls_to("show_protection_group"), 1);
}

#[test]
fn a_step_with_a_mutating_call_in_flight_is_not_skipped_and_an_abort_waits_for_its_answer() {
    let h = Harness::new();
    // The stop call is held for a few seconds before the emulator applies it.
    h.fault(
        "batch_stop_servers",
        drbook::emulator::FaultAction::Latency {
            duration: Duration::from_secs(4),
        },
        Some(1),
    );
    let runbook = h.runbook("abortable.yaml", ABORTABLE);
    let child = h.spawn(
        "run",
        &[&runbook, "--poll-interval", "50ms", "--output", "json"],
    );
    let id = h.wait_for_run(LIMIT);
    let started = std::time::Instant::now();
    loop {
        let status = json(&h, "status", &[&id]);
        if status.json["live"] == true && step_status(&status.json, "stop_app") == "running" {
            break;
        }
        assert!(started.elapsed() < LIMIT, "{}", status.stdout);
        std::thread::sleep(Duration::from_millis(50));
    }

    let refused = json(&h, "skip", &[&id, "stop_app", "--reason", "not needed"]);
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("mutating call in flight"),
        "{}",
        refused.stdout
    );

    let aborted = json(&h, "abort", &[&id, "--reason", "wrong group"]);
    assert_eq!(aborted.code, 0, "{}\n{}", aborted.stdout, aborted.stderr);
    let ended = finish(child);
    ended.expect(1, "aborted");
    // The stop was applied after the abort, so it was undone; nothing after it started.
    assert_eq!(ended.step_status("stop_app"), "compensated");
    assert_eq!(ended.step_status("wait_stop"), "cancelled");
    assert_eq!(ended.step_status("gate"), "cancelled");
    assert_eq!(h.calls_to("batch_stop_servers"), 1);
    assert_eq!(h.calls_to("batch_start_servers"), 1);
    assert_eq!(h.server("ecs-app-01"), "ACTIVE");
}
