//! Failure paths through the real binary and the emulator: retries on injected codes,
//! `fail_fast_on`, throttling, timeouts, abort with siblings cancelled, `continue`, handlers,
//! compensation (and a failing one), the run-wide deadline, and exactly-once around lost
//! answers (`drop_after_apply`).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use drbook::emulator::FaultAction;
use drbook::store::records::{AttemptOutcome, StepStatus};
use engine_common::{Harness, example};

fn error(code: &str, http_status: u16) -> FaultAction {
    FaultAction::Error {
        http_status,
        code: code.into(),
        message: Some("injected".into()),
    }
}

fn outcomes(h: &Harness, run: &str, key: &str) -> Vec<(AttemptOutcome, Option<String>)> {
    h.step(run, key)
        .attempts
        .iter()
        .map(|a| (a.outcome, a.error_code.clone()))
        .collect()
}

const STOP_GROUP: &str = r#"
name: stop-group
locks: ["pg-web-0001"]
steps:
  - id: stop
    action: sdrs.protection_group.stop
    with: { server_group_id: pg-web-0001 }
    retry:
      max_attempts: 3
      backoff: { kind: constant, initial: 50ms }
      retry_on: [SDRS.0209, HTTP.5xx]
    outputs: { job_id: $.job_id }
  - id: wait
    action: sdrs.job.wait
    needs: [stop]
    with: { job_id: "{{ steps.stop.outputs.job_id }}" }
"#;

#[test]
fn an_injected_sdrs_code_listed_in_retry_on_is_retried_until_it_succeeds() {
    let h = Harness::new();
    let runbook = h.runbook("stop.yaml", STOP_GROUP);
    h.fault("stop_protection_group", error("SDRS.0209", 400), Some(2));
    let run = h.run(&runbook, &[]);
    run.expect(0, "succeeded");
    assert_eq!(
        outcomes(&h, &run.run_id(), "stop"),
        [
            (AttemptOutcome::Failed, Some("SDRS.0209".into())),
            (AttemptOutcome::Failed, Some("SDRS.0209".into())),
            (AttemptOutcome::Succeeded, None),
        ]
    );
    assert_eq!(h.calls_to("stop_protection_group"), 3);
    assert_eq!(h.group("pg-web-0001").0, "available");
}

#[test]
fn fail_fast_on_stops_at_once() {
    let h = Harness::new();
    let runbook = h.runbook(
        "ff.yaml",
        r#"
name: fail-fast
steps:
  - id: show
    action: sdrs.protection_group.show
    with: { server_group_id: pg-web-0001 }
    retry:
      max_attempts: 5
      backoff: { kind: constant, initial: 50ms }
      retry_on: ["SDRS.*"]
      fail_fast_on: [SDRS.1013]
"#,
    );
    h.fault("show_protection_group", error("SDRS.1013", 400), None);
    let run = h.run(&runbook, &[]);
    run.expect(1, "failed");
    assert_eq!(run.step("show")["error_code"], "SDRS.1013");
    assert_eq!(h.calls_to("show_protection_group"), 1);
    assert!(
        run.json["error"].as_str().unwrap().contains("fail_fast_on"),
        "{}",
        run.stdout
    );
}

#[test]
fn throttled_calls_are_retried_without_spending_attempts() {
    let h = Harness::new();
    // One attempt allowed, two throttled answers first.
    let runbook = h.runbook(
        "throttle.yaml",
        r#"
name: throttle
steps:
  - id: show
    action: sdrs.protection_group.show
    with: { server_group_id: pg-web-0001 }
"#,
    );
    h.fault("show_protection_group", FaultAction::Throttle, Some(2));
    let run = h.run(&runbook, &[]);
    run.expect(0, "succeeded");
    assert_eq!(
        outcomes(&h, &run.run_id(), "show"),
        [
            (AttemptOutcome::Throttled, Some("APIGW.0308".into())),
            (AttemptOutcome::Throttled, Some("APIGW.0308".into())),
            (AttemptOutcome::Succeeded, None),
        ]
    );
}

#[test]
fn a_step_timeout_fails_the_attempt_and_is_retried_only_when_listed() {
    let h = Harness::new();
    let slow = |retry: &str| {
        format!(
            r#"
name: timeout
steps:
  - id: show
    action: sdrs.protection_group.show
    with: {{ server_group_id: pg-web-0001 }}
    timeout: 300ms
{retry}
"#
        )
    };
    let latency = FaultAction::Latency {
        duration: std::time::Duration::from_secs(2),
    };
    h.fault("show_protection_group", latency.clone(), Some(1));
    let run = h.run(&h.runbook("t1.yaml", &slow("")), &[]);
    run.expect(1, "failed");
    assert_eq!(
        outcomes(&h, &run.run_id(), "show"),
        [(AttemptOutcome::TimedOut, Some("DRBOOK.TIMEOUT".into()))]
    );
    h.fault("show_protection_group", latency, Some(1));
    let retried = h.run(
        &h.runbook(
            "t2.yaml",
            &slow("    retry: { max_attempts: 2, backoff: { kind: constant, initial: 50ms }, retry_on: [DRBOOK.TIMEOUT] }"),
        ),
        &[],
    );
    retried.expect(0, "succeeded");
    assert_eq!(
        outcomes(&h, &retried.run_id(), "show"),
        [
            (AttemptOutcome::TimedOut, Some("DRBOOK.TIMEOUT".into())),
            (AttemptOutcome::Succeeded, None)
        ]
    );
}

const SLOW_WAIT: &str = r#"
  - id: slow_wait
    action: wait.until
    with:
      action: sdrs.protection_group.show
      with: { server_group_id: pg-web-0001 }
      select: $.server_group.status
      desired: [never-reached]
      interval: 100ms
      max_wait: 1m
"#;

#[test]
fn an_abort_cancels_running_siblings_and_skips_nothing_silently() {
    let h = Harness::new();
    let runbook = h.runbook(
        "abort.yaml",
        &format!(
            r#"
name: abort
steps:
{SLOW_WAIT}
  - id: boom
    action: assert
    with: {{ that: "{{{{ eq 1 2 }}}}", message: "boom" }}
  - id: after
    action: log
    needs: [boom]
    with: {{ message: never }}
"#
        ),
    );
    let run = h.run(&runbook, &[]);
    run.expect(1, "failed");
    assert_eq!(run.step_status("boom"), "failed");
    assert_eq!(run.step("boom")["error_code"], "DRBOOK.ASSERT");
    assert_eq!(run.step_status("slow_wait"), "cancelled");
    assert_eq!(run.step("slow_wait")["error_code"], "DRBOOK.CANCELLED");
    assert_eq!(run.step_status("after"), "cancelled");
    assert!(run.json["error"].as_str().unwrap().contains("boom"));
}

#[test]
fn on_failure_continue_carries_on_and_fails_the_run_at_the_end_unless_not_critical() {
    let h = Harness::new();
    let book = |critical: &str| {
        format!(
            r#"
name: continue
steps:
  - id: flaky
    action: assert
    on_failure: continue
{critical}
    with: {{ that: "false", message: "flaky" }}
  - id: dependent
    action: log
    needs: [flaky]
    with: {{ message: never }}
  - id: other
    action: sdrs.protection_group.show
    with: {{ server_group_id: pg-web-0001 }}
"#
        )
    };
    let run = h.run(&h.runbook("c1.yaml", &book("")), &[]);
    run.expect(1, "failed");
    assert_eq!(run.step_status("flaky"), "failed");
    assert_eq!(run.step_status("dependent"), "skipped");
    assert_eq!(run.step_status("other"), "succeeded");
    let relaxed = h.run(&h.runbook("c2.yaml", &book("    critical: false")), &[]);
    relaxed.expect(0, "succeeded");
    assert_eq!(relaxed.step_status("flaky"), "failed");
    assert_eq!(relaxed.step_status("dependent"), "skipped");
}

#[test]
fn a_handler_runs_only_for_its_failed_step_and_handles_the_failure() {
    let h = Harness::new();
    let runbook = h.runbook(
        "handler.yaml",
        r#"
name: handler
steps:
  - id: flaky
    action: assert
    on_failure: cleanup
    with: { that: "false", message: "flaky" }
  - id: dependent
    action: log
    needs: [flaky]
    with: { message: never }
  - id: cleanup
    action: log
    with: { message: "cleaning up after {{ steps.flaky.status }}" }
  - id: fine
    action: log
    on_failure: spare
    with: { message: fine }
  - id: spare
    action: log
    with: { message: never }
"#,
    );
    let run = h.run(&runbook, &[]);
    run.expect(0, "succeeded");
    assert_eq!(run.step_status("flaky"), "failed");
    assert_eq!(run.step_status("cleanup"), "succeeded");
    assert_eq!(run.step_status("dependent"), "skipped");
    assert_eq!(run.step_status("fine"), "succeeded");
    assert_eq!(run.step_status("spare"), "skipped");
    assert!(
        run.stderr.contains("cleaning up after failed"),
        "{}",
        run.stderr
    );
}

const COMPENSATED: &str = r#"
name: compensated
locks: [app]
steps:
  - id: stop_app
    action: ecs.servers.stop
    for_each:
      items: [ecs-app-01, ecs-app-02]
    with: { servers: [{ id: "{{ item }}" }], type: HARD }
    outputs: { job_id: $.job_id }
    compensate:
      action: ecs.servers.start
      with: { servers: [{ id: "{{ item }}" }] }
  - id: wait_stop
    action: ecs.job.wait
    needs: [stop_app]
    for_each:
      items: "{{ steps.stop_app.outputs.job_id }}"
    with: { job_id: "{{ item }}" }
  - id: stop_group
    action: sdrs.protection_group.stop
    needs: [wait_stop]
    with: { server_group_id: pg-web-0001 }
    outputs: { job_id: $.job_id }
  - id: wait_group
    action: sdrs.job.wait
    needs: [stop_group]
    with: { job_id: "{{ steps.stop_group.outputs.job_id }}" }
    compensate:
      action: sdrs.protection_group.start
      with: { server_group_id: pg-web-0001 }
  - id: boom
    action: assert
    needs: [wait_group]
    with: { that: "false", message: "boom" }
"#;

#[test]
fn a_failed_run_compensates_completed_steps_in_reverse_order() {
    let h = Harness::new();
    let run = h.run(&h.runbook("comp.yaml", COMPENSATED), &[]);
    run.expect(1, "failed");
    let id = run.run_id();
    for key in ["stop_app[0]", "stop_app[1]", "wait_group"] {
        assert_eq!(h.step(&id, key).status, StepStatus::Compensated, "{key}");
    }
    assert_eq!(h.server("ecs-app-01"), "ACTIVE");
    assert_eq!(h.server("ecs-app-02"), "ACTIVE");
    assert_eq!(h.group("pg-web-0001").0, "protected");
    // Newest first: the group is started again before the servers.
    let mutating: Vec<String> = h
        .mutating_calls()
        .iter()
        .filter_map(|c| c.operation.clone())
        .collect();
    assert_eq!(
        mutating,
        [
            "batch_stop_servers",
            "batch_stop_servers",
            "stop_protection_group",
            "start_protection_group",
            "batch_start_servers",
            "batch_start_servers"
        ]
    );
    // The compensation's job id was recorded before its job was polled.
    let comp = h.step(&id, "wait_group").compensation.unwrap();
    assert!(comp.job_id.is_some());
    assert!(comp.intent.is_some());
}

#[test]
fn a_failing_compensation_ends_the_run_in_failed_compensation() {
    let h = Harness::new();
    h.fault("start_protection_group", error("SDRS.1004", 400), None);
    let run = h.run(&h.runbook("comp.yaml", COMPENSATED), &[]);
    run.expect(1, "failed-compensation");
    let id = run.run_id();
    assert_eq!(
        h.step(&id, "wait_group").status,
        StepStatus::CompensationFailed
    );
    // The saga stops at the failed undo: the servers are left for a human.
    assert_eq!(h.step(&id, "stop_app[0]").status, StepStatus::Succeeded);
    assert!(
        run.json["error"]
            .as_str()
            .unwrap()
            .contains("compensating `wait_group` failed"),
        "{}",
        run.stdout
    );
    // It does not wedge: the locks are free again.
    h.emulator().clear_faults();
    h.run(
        &h.runbook("again.yaml", &COMPENSATED.replace("compensated", "again")),
        &[],
    )
    .expect(1, "failed");
}

#[test]
fn the_run_wide_deadline_cancels_what_runs_and_fails_the_run() {
    let h = Harness::new();
    let runbook = h.runbook(
        "deadline.yaml",
        &format!("name: deadline\nsteps:\n{SLOW_WAIT}"),
    );
    let run = h.run(&runbook, &["--deadline", "500ms"]);
    run.expect(1, "failed");
    assert_eq!(run.step_status("slow_wait"), "cancelled");
    assert_eq!(run.step("slow_wait")["error_code"], "DRBOOK.DEADLINE");
}

#[test]
fn a_lost_answer_is_reconciled_and_never_sent_twice() {
    let h = Harness::new();
    h.fault(
        "start_reverse_protection_group",
        FaultAction::DropAfterApply,
        Some(1),
    );
    h.fault("batch_stop_servers", FaultAction::DropAfterApply, Some(1));
    let run = h.run(
        &example("planned-failover.yaml"),
        &[
            "--mode",
            "planned-failover",
            "--auto-approve",
            "--actor",
            "dr-lead",
        ],
    );
    run.expect(0, "succeeded");
    assert_eq!(h.calls_to("start_reverse_protection_group"), 1);
    assert_eq!(h.calls_to("batch_stop_servers"), 3);
    assert_eq!(
        h.group("pg-web-0001"),
        ("protected".to_owned(), "target".to_owned())
    );
    let reverse = h.step(&run.run_id(), "reverse");
    assert_eq!(reverse.response.unwrap()["reconciled"], true);
}

#[test]
fn a_lost_stop_answer_is_reconciled_while_the_stop_job_still_runs() {
    // With job latency the server is still ACTIVE (powering off) when drbook probes it: the
    // pending power change is what proves the stop arrived.
    let h = Harness::with(drbook::emulator::Config {
        job_latency: std::time::Duration::from_secs(1),
        ..drbook::emulator::Config::default()
    });
    h.emulator()
        .add_fault(drbook::emulator::FaultRule {
            id: None,
            operation: "batch_stop_servers".into(),
            resource: Some("ecs-web-02".into()),
            action: FaultAction::DropAfterApply,
            rate: None,
            times: Some(1),
        })
        .unwrap();
    let run = h.run(
        &example("planned-failover.yaml"),
        &[
            "--mode",
            "planned-failover",
            "--auto-approve",
            "--actor",
            "dr-lead",
        ],
    );
    run.expect(0, "succeeded");
    let stops: Vec<_> = h
        .calls()
        .into_iter()
        .filter(|c| c.operation.as_deref() == Some("batch_stop_servers"))
        .filter_map(|c| c.resource_id)
        .collect();
    assert_eq!(stops.len(), 3, "{stops:?}");
    assert_eq!(stops.iter().filter(|s| *s == "ecs-web-02").count(), 1);
    assert_eq!(h.server("ecs-web-02"), "SHUTOFF");
    let reconciled: Vec<_> = h
        .steps(&run.run_id())
        .into_iter()
        .filter(|s| s.step_id == "stop_production" && s.item.is_some())
        .filter(|s| s.response.as_ref().is_some_and(|r| r["reconciled"] == true))
        .collect();
    assert_eq!(reconciled.len(), 1, "one stop was reconciled");
}

#[test]
fn a_server_error_on_a_mutating_call_is_reconciled_before_the_retry() {
    let h = Harness::new();
    // The injected 500 is answered before the request is applied: reconciliation finds the
    // group untouched, and the retry sends the one request that takes effect.
    h.fault("stop_protection_group", error("SDRS.0013", 500), Some(1));
    let run = h.run(&h.runbook("stop.yaml", STOP_GROUP), &[]);
    run.expect(0, "succeeded");
    assert_eq!(
        outcomes(&h, &run.run_id(), "stop"),
        [
            (AttemptOutcome::Failed, Some("SDRS.0013".into())),
            (AttemptOutcome::Succeeded, None)
        ]
    );
    assert_eq!(h.calls_to("stop_protection_group"), 2);
}

#[test]
fn an_operation_without_a_reconciliation_rule_is_never_re_sent_blindly() {
    let h = Harness::new();
    let runbook = h.runbook(
        "tag.yaml",
        r#"
name: tag
locks: [tags]
steps:
  - id: list
    action: sdrs.protected_instance.list
    with: { server_group_id: pg-web-0001 }
    outputs: { first: "$.protected_instances[0].id" }
  - id: tag
    action: sdrs.tag.add
    needs: [list]
    with:
      protected_instance_id: "{{ steps.list.outputs.first }}"
      tag: { key: owner, value: dr }
    retry: { max_attempts: 3, backoff: { kind: constant, initial: 50ms }, retry_on: ["NET.*"] }
"#,
    );
    h.fault(
        "add_protected_instance_tags",
        FaultAction::DropAfterApply,
        Some(1),
    );
    let run = h.run(&runbook, &[]);
    run.expect(1, "failed");
    assert_eq!(run.step("tag")["error_code"], "DRBOOK.UNKNOWN_OUTCOME");
    assert_eq!(h.calls_to("add_protected_instance_tags"), 1);
    let message = run.step("tag")["message"].as_str().unwrap();
    assert!(message.contains("Check the resource"), "{message}");
}
