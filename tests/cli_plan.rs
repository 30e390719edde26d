//! `drbook plan`, driving the real binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn drbook() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("drbook");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_plans_of_the_examples_match_their_snapshots() {
    for (file, mode) in [
        ("dr-drill", "drill"),
        ("planned-failover", "planned-failover"),
        ("unplanned-failover", "failover"),
        ("failback", "failback"),
    ] {
        let text =
            stdout(drbook().args(["plan", &format!("runbooks/{file}.yaml"), "--mode", mode]));
        insta::assert_snapshot!(file, text);
    }
    let text = stdout(drbook().args(["plan", "runbooks/onboarding.yaml"]));
    insta::assert_snapshot!("onboarding", text);
}

#[test]
fn the_only_mode_is_the_default() {
    let text = stdout(drbook().args(["plan", "runbooks/dr-drill.yaml"]));
    assert!(
        text.starts_with("Plan for `dr-drill` (mode drill): 12 steps in 12 waves"),
        "{text}"
    );
}

#[test]
fn params_render_into_the_plan() {
    let text = stdout(drbook().args([
        "plan",
        "runbooks/dr-drill.yaml",
        "--param",
        "server_group_id=pg-other",
        "-p",
        "approvers=alice,bob",
    ]));
    assert!(text.contains("Locks:  pg-other"), "{text}");
    assert!(text.contains("server_group_id: \"pg-other\""), "{text}");
    assert!(text.contains("approvers: [\"alice\",\"bob\"]"), "{text}");
}

#[test]
fn json_output_is_the_plan_as_data() {
    let text = stdout(drbook().args([
        "plan",
        "runbooks/unplanned-failover.yaml",
        "--output",
        "json",
    ]));
    let plan: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(plan["mode"], "failover");
    assert_eq!(plan["waves"][0], serde_json::json!(["check_group"]));
    let failover = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "failover")
        .unwrap();
    assert_eq!(failover["action"], "sdrs.protection_group.failover");
    assert_eq!(failover["effect"], "mutating");
    assert_eq!(failover["returns_job"], "sdrs");
    assert_eq!(failover["inputs"]["server_group_id"], "pg-web-0001");
    assert_eq!(
        failover["retry"]["fail_fast_on"],
        serde_json::json!(["SDRS.1013", "SDRS.1022"])
    );
    let approval = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "approve_failover")
        .unwrap();
    assert_eq!(approval["when_now"], false);
}

#[test]
fn dot_and_mermaid_draw_the_dag() {
    let dot = stdout(drbook().args(["plan", "runbooks/onboarding.yaml", "--format", "dot"]));
    assert!(dot.starts_with("digraph \"onboarding\" {"), "{dot}");
    assert!(
        dot.contains("\"wait_group\" -> \"create_instances\";"),
        "{dot}"
    );
    assert!(
        dot.contains("fillcolor=\"#fde2e2\""),
        "mutating steps are coloured: {dot}"
    );
    let mermaid =
        stdout(drbook().args(["plan", "runbooks/onboarding.yaml", "--format", "mermaid"]));
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    assert!(mermaid.contains(":::mutating"), "{mermaid}");
    let handlers = stdout(drbook().args([
        "plan",
        "tests/fixtures/runbooks/ok/handlers.yaml",
        "--format",
        "dot",
    ]));
    assert!(
        handlers.contains(
            "\"start_protection\" -> \"clean_failure_jobs\" [style=dashed, label=\"on failure\"];"
        ),
        "{handlers}"
    );
}

#[test]
fn a_mode_the_runbook_does_not_support_exits_2() {
    drbook()
        .args(["plan", "runbooks/dr-drill.yaml", "--mode", "failover"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "does not support mode `failover`; its modes: drill",
        ));
    drbook()
        .args(["plan", "runbooks/onboarding.yaml", "--mode", "drill"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("declares no modes"));
    drbook()
        .args(["plan", "tests/fixtures/runbooks/ok/modes.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "choose one with `--mode` (planned-failover, reverse)",
        ));
    // A mode drbook does not know is invalid input too, as in `drbook run`.
    drbook()
        .args(["plan", "runbooks/dr-drill.yaml", "--mode", "drll"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`drll` is not a mode; modes are drill, planned-failover",
        ));
}

#[test]
fn bad_params_exit_2_and_name_the_param() {
    drbook()
        .args([
            "plan",
            "runbooks/planned-failover.yaml",
            "--param",
            "stop_typ=HARD",
            "--param",
            "approvers=[not json",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("`stop_typ` is not a param of runbook `planned-failover`; did you mean `stop_type`?")
                .and(predicate::str::contains("param `approvers`: not a valid JSON list")),
        );
    drbook()
        .args([
            "plan",
            "runbooks/planned-failover.yaml",
            "--param",
            "stop_type=GENTLE",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "param `stop_type`: expected one of SOFT, HARD",
        ));
}

#[test]
fn secret_params_never_print() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.yaml");
    std::fs::write(
        &path,
        "name: secret\nparams:\n  token: { type: string, secret: true }\nsteps:\n  - id: say\n    action: log\n    with: { message: \"token {{ params.token }}\" }\n",
    )
    .unwrap();
    for output in ["text", "json"] {
        let text = stdout(drbook().arg("plan").arg(&path).args([
            "--param",
            "token=hunter2",
            "--output",
            output,
        ]));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("***"), "{text}");
    }
    drbook()
        .arg("plan")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("param `token` is required"));
}

#[test]
fn plan_reports_missing_and_invalid_runbooks() {
    drbook().args(["plan", "nope.yaml"]).assert().code(4);
    drbook()
        .args(["plan", "tests/fixtures/runbooks/err/cycle.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("runbook::cycle"));
    drbook()
        .args([
            "plan",
            "runbooks/dr-drill.yaml",
            "--output",
            "json",
            "--format",
            "dot",
        ])
        .assert()
        .code(64);
}
