//! `drbook validate` and the exit codes of the command line, driving the real binary.

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

const EXAMPLES: [&str; 5] = [
    "runbooks/dr-drill.yaml",
    "runbooks/planned-failover.yaml",
    "runbooks/unplanned-failover.yaml",
    "runbooks/failback.yaml",
    "runbooks/onboarding.yaml",
];

#[test]
fn the_example_runbooks_are_valid() {
    let mut cmd = drbook();
    cmd.arg("validate").args(EXAMPLES);
    let assert = cmd.assert().code(0).stderr("");
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for example in EXAMPLES {
        assert!(out.contains(&format!("ok: {example} (")), "{out}");
    }
}

#[test]
fn an_invalid_runbook_exits_2_with_diagnostics_on_stderr() {
    drbook()
        .args(["validate", "tests/fixtures/runbooks/err/unknown-needs.yaml"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("runbook::unknown-step")
                .and(predicate::str::contains(
                    "[tests/fixtures/runbooks/err/unknown-needs.yaml:9:13]",
                ))
                .and(predicate::str::contains("did you mean `check_group`?"))
                .and(predicate::str::contains("\u{1b}[").not()),
        );
}

#[test]
fn diagnostics_on_stderr_match_their_snapshot() {
    let output = drbook()
        .args(["validate", "tests/fixtures/runbooks/err/many-problems.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8(output.stderr).unwrap());
}

#[test]
fn a_missing_file_exits_4() {
    drbook()
        .args(["validate", "runbooks/no-such-runbook.yaml"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "cannot read runbooks/no-such-runbook.yaml",
        ));
}

#[test]
fn with_several_files_the_most_severe_exit_code_wins() {
    drbook()
        .args([
            "validate",
            "runbooks/dr-drill.yaml",
            "tests/fixtures/runbooks/err/cycle.yaml",
        ])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("ok: runbooks/dr-drill.yaml"));
    drbook()
        .args([
            "validate",
            "tests/fixtures/runbooks/err/cycle.yaml",
            "missing.yaml",
            "runbooks/dr-drill.yaml",
        ])
        .assert()
        .code(4);
}

#[test]
fn json_output_carries_the_problems_as_data() {
    let output = drbook()
        .args([
            "validate",
            "--output",
            "json",
            "runbooks/onboarding.yaml",
            "tests/fixtures/runbooks/err/missing-dependency.yaml",
            "missing.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[0]["runbook"], "onboarding");
    let problem = &files[1]["problems"][0];
    assert_eq!(problem["code"], "runbook::missing-dependency");
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(13), Some(19))
    );
    assert_eq!(problem["help"], "add `needs: [failover]` to step `wait`");
    assert!(
        files[2]["error"]
            .as_str()
            .unwrap()
            .contains("cannot read missing.yaml")
    );
}

#[test]
fn a_file_over_one_mebibyte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut text = String::from("name: huge\nsteps:\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, text).unwrap();
    drbook()
        .arg("validate")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("runbooks are limited to 1 MiB"));
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    drbook().arg("validate").assert().code(64);
    drbook().arg("frobnicate").assert().code(64);
    drbook().assert().code(64);
    drbook()
        .args(["validate", "--bogus", "x.yaml"])
        .assert()
        .code(64);
    drbook()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("validate"));
    drbook()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn actions_lists_operations_and_builtins() {
    drbook().args(["actions", "drill"]).assert().code(0).stdout(
        predicate::str::contains("sdrs.drill.create  [mutating, returns SDRS job]").and(
            predicate::str::contains("server_group_id: string (required)"),
        ),
    );
    let output = drbook()
        .args(["actions", "--output", "json"])
        .output()
        .unwrap();
    let actions: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for name in [
        "wait.until",
        "approval",
        "sdrs.protection_group.reprotect",
        "ecs.servers.stop",
    ] {
        assert!(names.contains(&name), "{name}");
    }
}

#[test]
fn schema_prints_the_committed_schema() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/runbook.schema.json"
    ))
    .unwrap();
    drbook().arg("schema").assert().code(0).stdout(committed);
}
