//! The scheduler with the real engine: a scheduled drill is started by `drbook scheduler` as a
//! real `drbook run --emulator` child, waits for its sign-off, is approved from another process,
//! cleans up, and `drbook schedules` reports its result. The other scheduler tests use a stub
//! `drbook run` to control timing; this one proves the two halves fit.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod scheduler_support;

use std::fs::File;
use std::process::{Command, Stdio};

use scheduler_support::{Scheduler, World, drbook};
use serde_json::Value;

#[test]
fn a_scheduled_drill_runs_on_the_emulator_waits_for_sign_off_and_reports_success() {
    let world = World::new();
    world.schedule("weekly", "0 3 * * SUN", "    timezone: Europe/Paris\n");
    let log_path = world.path("scheduler.log");
    let child = Command::new(drbook())
        .arg("scheduler")
        .arg("--schedules")
        .arg(world.schedules_file())
        .arg("--data-dir")
        .arg(world.data_dir())
        .arg("--emulator")
        .args(["--clock-start", "2026-11-22T01:59:59Z"])
        .args(["--log-format", "json"])
        .env("DRBOOK_LOG", "drbook=debug")
        .stdin(Stdio::null())
        .stdout(File::create(world.path("scheduler.out")).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let scheduler = Scheduler { child, log_path };

    world.wait_for("the slot to fire", || {
        !world.audit_of("schedule.fired").is_empty()
    });
    let fired = world.audit_of("schedule.fired");
    let run_id = fired[0]["run_id"].as_str().unwrap().to_owned();
    let status_path = world.data_dir().join(format!("runs/{run_id}/status.json"));
    let status = || -> Value {
        std::fs::read(&status_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null)
    };
    world.wait_for("the drill to wait for its sign-off", || {
        status()["status"] == "waiting-approval"
    });
    assert_eq!(status()["waiting_approvals"][0]["step"], "sign_off");
    assert_eq!(status()["actor"], "scheduler");

    let approve = Command::new(drbook())
        .args(["approve", &run_id, "sign_off", "--actor", "dr-lead"])
        .args(["--comment", "application checked on the drill servers"])
        .arg("--data-dir")
        .arg(world.data_dir())
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );

    world.wait_for("the schedule's last result", || {
        world.last_run()["result"]["status"] == "succeeded"
    });
    assert_eq!(status()["status"], "succeeded");
    let steps = status()["steps"].as_array().unwrap().clone();
    for id in ["create_drill", "delete_drill", "wait_delete"] {
        let step = steps.iter().find(|s| s["id"] == id).unwrap();
        assert_eq!(step["status"], "succeeded", "{step}");
    }
    assert_eq!(world.last_run()["run_id"], run_id.as_str());
    // The approval is in the audit log with the approver, after the fire.
    let audit = world.audit();
    let fired_at = audit
        .iter()
        .position(|e| e["kind"] == "schedule.fired")
        .unwrap();
    let approved_at = audit
        .iter()
        .position(|e| e["run_id"] == run_id.as_str() && e.to_string().contains("dr-lead"))
        .unwrap_or_else(|| panic!("no approval by dr-lead in the audit log: {audit:#?}"));
    assert!(fired_at < approved_at);
    assert_eq!(scheduler.terminate(), 0);
}
