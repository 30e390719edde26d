//! The command-line edges of `drbook scheduler` and `drbook schedules`: schedule files that are
//! wrong (every problem named with its schedule and line:column, exit 2), missing (exit 4), a
//! second scheduler on one data directory (exit 5), JSON output and JSON logs, and the example
//! schedule file in `schedules/`.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod scheduler_support;

use std::path::Path;
use std::process::Command;

use scheduler_support::{Stub, World, drbook, drill_runbook};
use serde_json::Value;

const BROKEN: &str = r#"schedules:
  - name: nightly
    runbook: RUNBOOK
    mode: drill
    params: { server_group: pg-web-0001 }
    cron: "0 3 * *"
    timezone: Europe/Pariss
    overlap: skip
    catchup: 2 hours
  - name: nightly
    runbook: missing.yaml
    cron: "@daily"
"#;

fn broken(world: &World) {
    let text = BROKEN.replace("RUNBOOK", &drill_runbook().display().to_string());
    std::fs::write(world.schedules_file(), text).unwrap();
}

#[test]
fn schedules_reports_every_problem_with_its_schedule_and_location() {
    let world = World::new();
    broken(&world);
    let output = world.schedules_command(None, &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for expected in [
        "schedule `nightly` (5:13): `server_group` is not a param of runbook `dr-drill`; did you mean `server_group_id`?",
        "schedule `nightly` (6:11): cron `0 3 * *` has 4 fields",
        "schedule `nightly` (7:15): time zone `Europe/Pariss` is not known",
        "schedule `nightly` (9:14): `catchup`: `2 hours` is not a duration",
        "schedule `nightly` (11:14): runbook: cannot read",
        "schedule `nightly` (10:11): the name is used twice",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(output.stdout.is_empty());

    let output = world.schedules_command(None, &["--output", "json"]);
    assert_eq!(output.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["problems"].as_array().unwrap().len(), 6, "{json:#}");
}

#[test]
fn the_scheduler_refuses_a_broken_schedule_file_before_doing_anything() {
    let world = World::new();
    broken(&world);
    let output = Command::new(drbook())
        .arg("scheduler")
        .arg("--schedules")
        .arg(world.schedules_file())
        .arg("--data-dir")
        .arg(world.data_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("has 6 problem(s)"), "{stderr}");
    assert!(!world.data_dir().exists(), "nothing was written");
}

#[test]
fn a_missing_schedule_file_is_not_found() {
    let world = World::new();
    let output = world.schedules_command(None, &[]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot read schedule file"), "{stderr}");
    let output = Command::new(drbook())
        .arg("scheduler")
        .arg("--schedules")
        .arg(world.schedules_file())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
}

#[test]
fn a_second_scheduler_on_the_same_data_directory_is_refused_and_logs_are_json() {
    let world = World::new();
    world.schedule("weekly", "0 3 * * SUN", "");
    let first = world.start("first", None, Stub::default(), &[]);
    world.wait_for("the first scheduler to start", || {
        first.logged("scheduler started")
    });
    let output = Command::new(drbook())
        .arg("scheduler")
        .arg("--schedules")
        .arg(world.schedules_file())
        .arg("--data-dir")
        .arg(world.data_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "another drbook scheduler (pid {}) already runs",
            first.child.id()
        )),
        "{stderr}"
    );
    assert_eq!(first.terminate(), 0);

    // `--log-format json`: every line of stderr is a JSON object with a message.
    let log = std::fs::read_to_string(world.path("first.log")).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["message"].is_string(), "{line}");
    }
    // `--output json`: the schedules followed, on stdout.
    let out: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path("first.out")).unwrap()).unwrap();
    assert_eq!(out["schedules"][0]["name"], "weekly");
    assert_eq!(out["schedules"][0]["cron"], "0 3 * * SUN");
    assert_eq!(out["schedules"][0]["timezone"], "UTC");
}

#[test]
fn the_example_schedule_file_is_valid() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/rehearsals.yaml");
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(drbook())
        .arg("schedules")
        .arg("--schedules")
        .arg(&file)
        .arg("--data-dir")
        .arg(data.path())
        .args(["--output", "json", "--clock-start", "2026-11-20T00:00:00Z"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let schedules = json["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(schedules[0]["name"], "weekly-web-drill");
    assert_eq!(schedules[0]["next"]["utc"], "2026-11-22T02:00:00Z");
    assert_eq!(schedules[0]["last_run"], Value::Null);
    assert_eq!(json["scheduler"], Value::Null);
}
