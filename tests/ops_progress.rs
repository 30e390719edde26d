//! Live progress through the real binary: a live run's status shows the SDRS job a step waits
//! for; `status --watch` follows a run driven by another process to its end; on a non-terminal
//! stderr, `run` and `status --watch` print plain `progress:` lines (no bar, no escape codes).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use std::time::{Duration, Instant};

use drbook::emulator::Config;
use engine_common::{Finished, Harness};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

const SLOW_JOB: &str = r#"
name: slow-job
locks: [app]
steps:
  - id: stop_app
    action: ecs.servers.stop
    with: { servers: [{ id: ecs-app-01 }], type: HARD }
    outputs: { job_id: $.job_id }
  - id: wait_stop
    action: ecs.job.wait
    needs: [stop_app]
    with: { job_id: "{{ steps.stop_app.outputs.job_id }}" }
  - id: done
    action: log
    needs: [wait_stop]
    with: { message: "stopped" }
"#;

/// Polls `drbook status RUN --output json` until `check` holds.
fn wait_for(h: &Harness, run: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let status = h.json("status", &[run]);
        if check(&status.json) {
            return status.json;
        }
        assert!(
            started.elapsed() < LIMIT,
            "condition not reached: {}",
            status.stdout
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_live_run_shows_the_job_it_waits_for_and_watch_follows_it_to_the_end() {
    // Jobs take 3 s, long enough to see the wait from outside.
    let h = Harness::with(Config {
        job_latency: Duration::from_secs(3),
        ..Config::default()
    });
    let runbook = h.runbook("slow.yaml", SLOW_JOB);
    let child = h.spawn("run", &[&runbook, "--poll-interval", "50ms"]);
    let id = h.wait_for_run(LIMIT);

    let status = wait_for(&h, &id, |s| {
        s["steps"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(|st| st["status"] == "waiting-job"))
    });
    assert_eq!(status["live"], true);
    let waiting = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "waiting-job")
        .unwrap();
    assert_eq!(waiting["id"], "wait_stop");
    let job = waiting["job_id"].as_str().unwrap().to_owned();
    let stop = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "stop_app")
        .unwrap();
    assert_eq!(stop["job_id"].as_str(), Some(job.as_str()));

    // The text view says it too.
    let text = h.command("status", &[&id]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!("waiting-job: wait_stop (job {job})")),
        "{text}"
    );

    // `status --watch` from another process: plain lines on a non-terminal stderr, the final
    // view on stdout once the run ended.
    let watch = h
        .command("status", &[&id, "--watch", "--interval", "100ms"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(watch.stdout).unwrap(),
        String::from_utf8(watch.stderr).unwrap(),
    );
    assert_eq!(watch.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("succeeded 3/3 steps done"), "{stdout}");
    assert!(stderr.contains("progress: "), "{stderr}");
    assert!(stderr.contains("done: succeeded"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes on a non-terminal: {stderr:?}"
    );

    let output = child.wait_with_output().unwrap();
    let run_stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{run_stderr}");
    // `run`'s own progress: notices and summary lines, with the job waited on.
    assert!(
        run_stderr.contains(&format!("waiting-job: wait_stop (job {job})")),
        "{run_stderr}"
    );
    assert!(
        run_stderr.contains("progress: succeeded 3/3 steps done"),
        "{run_stderr}"
    );
    assert!(!run_stderr.contains('\u{1b}'), "{run_stderr:?}");
}

#[test]
fn watch_as_json_prints_one_object_per_change_and_ends_with_the_final_status() {
    let h = Harness::with(Config {
        job_latency: Duration::from_secs(1),
        ..Config::default()
    });
    let runbook = h.runbook("slow.yaml", SLOW_JOB);
    let child = h.spawn("run", &[&runbook, "--poll-interval", "50ms"]);
    let id = h.wait_for_run(LIMIT);
    wait_for(&h, &id, |s| s["live"] == true);
    let watch = h
        .command(
            "status",
            &[&id, "--watch", "--interval", "100ms", "--output", "json"],
        )
        .output()
        .unwrap();
    assert_eq!(watch.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(watch.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    assert_eq!(lines.last().unwrap()["status"], "succeeded");
    assert_ne!(lines[0]["status"], "succeeded");
    let run = Finished::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn watch_of_a_run_nobody_drives_returns_at_once() {
    let h = Harness::new();
    let runbook = h.runbook(
        "gated.yaml",
        r#"
name: gated
steps:
  - id: gate
    action: approval
    with: { message: "go?" }
"#,
    );
    let run = h.run(&runbook, &["--no-wait"]);
    run.expect(3, "waiting-approval");
    let watch = h
        .command("status", &[&run.run_id(), "--watch"])
        .output()
        .unwrap();
    assert_eq!(watch.status.code(), Some(3));
    let stderr = String::from_utf8(watch.stderr).unwrap();
    assert!(stderr.contains("no drbook process drives run"), "{stderr}");
}

#[test]
fn a_killed_run_is_read_from_its_database_and_resumes_on_its_job() {
    let h = Harness::with(Config {
        job_latency: Duration::from_secs(2),
        ..Config::default()
    });
    let runbook = h.runbook("slow.yaml", SLOW_JOB);
    let mut child = h.spawn("run", &[&runbook, "--poll-interval", "50ms"]);
    let id = h.wait_for_run(LIMIT);
    let live = wait_for(&h, &id, |s| {
        s["steps"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(|st| st["status"] == "waiting-job"))
    });
    let job = live["steps"][1]["job_id"].as_str().unwrap().to_owned();
    child.kill().unwrap();
    child.wait().unwrap();

    // Nobody drives it now: status comes from the database, which still has the wait.
    let status = h.json("status", &[&id]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.json["live"], false);
    assert_eq!(status.json["status"], "running");
    assert_eq!(status.json["steps"][1]["status"], "waiting-job");
    assert_eq!(status.json["steps"][1]["job_id"], job.as_str());
    let text = h.command("status", &[&id]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("no drbook process drives this run"), "{text}");
    let runs = h.json("runs", &[]);
    assert_eq!(runs.json[0]["live"], false);

    // The resume polls the same job (no second stop) and finishes.
    let resumed = h.resume(&id, &[]);
    resumed.expect(0, "succeeded");
    assert_eq!(h.calls_to("batch_stop_servers"), 1);
}
