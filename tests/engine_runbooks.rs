//! The example runbooks, run by the real `drbook` binary against the emulator: each one succeeds
//! in its modes and leaves the world where it says, and a dry run of each sends no mutating call.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use engine_common::{Harness, example};

#[test]
fn the_drill_runs_end_to_end_and_cleans_up() {
    let h = Harness::new();
    let run = h.run(
        &example("dr-drill.yaml"),
        &["--mode", "drill", "--auto-approve", "--actor", "dr-lead"],
    );
    run.expect(0, "succeeded");
    assert_eq!(run.step_status("verify_drill_servers"), "succeeded");
    assert_eq!(run.step("verify_drill_servers")["items"]["succeeded"], 3);
    // The drill was created once and deleted once; the group is protected again.
    assert_eq!(h.calls_to("create_disaster_recovery_drill"), 1);
    assert_eq!(h.calls_to("delete_disaster_recovery_drill"), 1);
    assert_eq!(h.group("pg-web-0001").0, "protected");
    let world = serde_json::to_value(h.emulator().world()).unwrap();
    assert_eq!(
        world["drills"].as_array().map(Vec::len),
        Some(0),
        "no drill leaks"
    );
    // The approval is recorded with its actor.
    let sign_off = h.step(&run.run_id(), "sign_off");
    let approval = sign_off.approval.expect("recorded approval");
    assert_eq!(approval.actor, "dr-lead");
}

#[test]
fn the_planned_failover_moves_production_to_the_dr_site() {
    let h = Harness::new();
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
    assert_eq!(
        h.group("pg-web-0001"),
        ("protected".to_owned(), "target".to_owned())
    );
    for server in ["ecs-web-01", "ecs-web-02", "ecs-db-01"] {
        assert_eq!(h.server(server), "SHUTOFF", "{server}");
        assert_eq!(h.server(&format!("{server}-dr")), "ACTIVE", "{server}-dr");
    }
    assert_eq!(h.calls_to("start_reverse_protection_group"), 1);
    assert_eq!(h.calls_to("batch_stop_servers"), 3);
    assert_eq!(h.calls_to("batch_start_servers"), 3);
}

#[test]
fn failover_then_failback_brings_production_home() {
    let h = Harness::new();
    h.run(&example("unplanned-failover.yaml"), &["--mode", "failover"])
        .expect(0, "succeeded");
    assert_eq!(h.group("pg-web-0001").0, "failed-over");
    assert_eq!(h.server("ecs-web-01-dr"), "ACTIVE");
    h.run(
        &example("failback.yaml"),
        &["--mode", "failback", "--auto-approve", "--actor", "dr-lead"],
    )
    .expect(0, "succeeded");
    assert_eq!(
        h.group("pg-web-0001"),
        ("protected".to_owned(), "source".to_owned())
    );
    for server in ["ecs-web-01", "ecs-web-02", "ecs-db-01"] {
        assert_eq!(h.server(server), "ACTIVE", "{server}");
        assert_eq!(h.server(&format!("{server}-dr")), "SHUTOFF", "{server}-dr");
    }
}

#[test]
fn the_unplanned_failover_with_its_approval_waits_for_a_human() {
    let h = Harness::new();
    let run = h.run(
        &example("unplanned-failover.yaml"),
        &[
            "--mode",
            "failover",
            "-p",
            "require_approval=true",
            "--no-wait",
        ],
    );
    run.expect(3, "waiting-approval");
    assert_eq!(h.calls_to("start_failover_protection_group"), 0);
}

#[test]
fn onboarding_protects_new_servers() {
    let h = Harness::new();
    let run = h.run(&example("onboarding.yaml"), &[]);
    run.expect(0, "succeeded");
    assert_eq!(h.calls_to("create_protected_instance"), 2);
    assert_eq!(h.calls_to("create_replication"), 4);
    assert_eq!(h.calls_to("attach_protected_instance_replication"), 4);
    let group_id = h.step(&run.run_id(), "wait_group").outputs.unwrap()["server_group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(h.group(&group_id).0, "protected");
}

/// Runs `runbook` as a dry run and asserts that it sent no mutating call.
fn dry_run(h: &Harness, runbook: &str, args: &[&str]) -> engine_common::Finished {
    let before = h.mutating_calls().len();
    let reads_before = h.calls().len();
    let mut all = args.to_vec();
    all.push("--dry-run");
    let run = h.run(&example(runbook), &all);
    let mutating: Vec<String> = h.mutating_calls()[before..]
        .iter()
        .map(|c| format!("{:?} {}", c.operation, c.path))
        .collect();
    assert!(
        mutating.is_empty(),
        "{runbook}: mutating calls {mutating:?}"
    );
    assert!(
        h.calls().len() > reads_before,
        "{runbook}: read-only actions ran for real"
    );
    assert_eq!(run.json["dry_run"], true);
    run
}

#[test]
fn dry_runs_send_no_mutating_call_for_any_example_runbook() {
    let h = Harness::new();
    let drill = dry_run(&h, "dr-drill.yaml", &["--mode", "drill"]);
    drill.expect(0, "succeeded");
    assert_eq!(drill.step("create_drill")["simulated"], true);
    assert_eq!(drill.step("check_group")["simulated"], false);
    // The simulated request is recorded exactly as it would be sent.
    let create = h.step(&drill.run_id(), "create_drill");
    let request = &create.response.unwrap()["dry_run"]["request"];
    assert_eq!(request["method"], "POST");
    assert!(
        request["path"]
            .as_str()
            .unwrap()
            .ends_with("/disaster-recovery-drills")
    );
    assert_eq!(
        request["body"]["disaster_recovery_drill"]["server_group_id"],
        "pg-web-0001"
    );

    dry_run(&h, "planned-failover.yaml", &["--mode", "planned-failover"]).expect(0, "succeeded");
    dry_run(&h, "unplanned-failover.yaml", &["--mode", "failover"]).expect(0, "succeeded");
    dry_run(&h, "onboarding.yaml", &[]).expect(0, "succeeded");
    // Failback needs a failed-over group: fail over for real, then rehearse the failback.
    h.run(&example("unplanned-failover.yaml"), &["--mode", "failover"])
        .expect(0, "succeeded");
    dry_run(&h, "failback.yaml", &["--mode", "failback"]).expect(0, "succeeded");
    assert_eq!(h.group("pg-web-0001").0, "failed-over", "nothing changed");
}

#[test]
fn a_dry_run_of_a_failing_runbook_fails_without_sending_anything() {
    let h = Harness::new();
    // On a protected group the failback's first assertion fails, for real.
    let run = dry_run(&h, "failback.yaml", &["--mode", "failback"]);
    run.expect(1, "failed");
    assert_eq!(run.step_status("ensure_failed_over"), "failed");
}
