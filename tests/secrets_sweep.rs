//! The no-secrets sweep: a full run on the emulator with a `secret: true` param (rendered into
//! an SDRS request body, a log message and an approval message), the emulator's AK/SK in the
//! environment, debug logs as JSON, then every operator verb's output and the run's report in
//! HTML, Markdown and JSON. Afterwards no file under the data directory (run databases,
//! snapshots, inbox and replies, locks, run keys, the audit log), no captured stdout/stderr and no
//! report holds the AK, the SK or the secret value.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use engine_common::Harness;
use secrecy::ExposeSecret;

/// A value no template, id or default could produce by chance.
const SECRET_VALUE: &str = "Tk7q2ZsWv9secretXq";

const RUNBOOK: &str = r#"
name: secret-drill
params:
  server_group_id: { type: string, default: pg-web-0001 }
  ticket_token: { type: string, secret: true, description: "a change-ticket token" }
locks: ["{{ params.server_group_id }}"]
steps:
  - id: check_group
    action: sdrs.protection_group.show
    with: { server_group_id: "{{ params.server_group_id }}" }
    outputs: { name: $.server_group.name }
  - id: announce
    action: log
    needs: [check_group]
    with: { message: "drill for ticket {{ params.ticket_token }} on {{ steps.check_group.outputs.name }}" }
  - id: create_drill
    action: sdrs.drill.create
    needs: [announce]
    with:
      server_group_id: "{{ params.server_group_id }}"
      drill_vpc_id: vpc-drill-0001
      name: "drill-{{ params.ticket_token }}"
    outputs: { job_id: $.job_id }
  - id: wait_drill
    action: sdrs.job.wait
    needs: [create_drill]
    with: { job_id: "{{ steps.create_drill.outputs.job_id }}" }
    outputs: { drill_id: $.entities.disaster_recovery_drill_id }
  - id: show_drill
    action: sdrs.drill.show
    needs: [wait_drill]
    with: { disaster_recovery_drill_id: "{{ steps.wait_drill.outputs.drill_id }}" }
    outputs: { name: $.disaster_recovery_drill.name }
  - id: sign_off
    action: approval
    needs: [show_drill]
    with: { message: "drill {{ steps.show_drill.outputs.name }} for {{ params.ticket_token }} ok?" }
  - id: delete_drill
    action: sdrs.drill.delete
    needs: [sign_off]
    with: { disaster_recovery_drill_id: "{{ steps.wait_drill.outputs.drill_id }}" }
    outputs: { job_id: $.job_id }
  - id: wait_delete
    action: sdrs.job.wait
    needs: [delete_drill]
    with: { job_id: "{{ steps.delete_drill.outputs.job_id }}" }
"#;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every place a needle was found, as `what: needle name`.
fn sweep(haystacks: &[(String, Vec<u8>)], needles: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, bytes) in haystacks {
        for (name, needle) in needles {
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                found.push(format!("{what}: {name}"));
            }
        }
    }
    found
}

fn captured(label: &str, output: &Output) -> Vec<(String, Vec<u8>)> {
    vec![
        (format!("{label} stdout"), output.stdout.clone()),
        (format!("{label} stderr"), output.stderr.clone()),
    ]
}

/// The run's report in every format `drbook report` writes (HTML, Markdown, JSON).
fn report_outputs(h: &Harness, run: &str) -> Vec<(String, Vec<u8>)> {
    ["html", "md", "json"]
        .into_iter()
        .map(|format| {
            let output = h
                .command("report", &[run, "--format", format])
                .output()
                .unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "report --format {format}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(output.stdout.len() > 100, "an empty {format} report");
            (format!("report {format}"), output.stdout)
        })
        .collect()
}

#[test]
fn no_ak_sk_or_secret_param_appears_in_any_file_log_or_output_after_a_full_run() {
    let h = Harness::new();
    let credentials = h.emulator().credentials();
    let access_key = credentials.access_key.clone();
    let secret_key = credentials.secret_key.expose_secret().to_owned();
    let needles = [
        ("the access key", access_key.as_str()),
        ("the secret key", secret_key.as_str()),
        ("the secret param", SECRET_VALUE),
    ];
    let runbook = h.runbook("secret.yaml", RUNBOOK);
    let secret_arg = format!("ticket_token={SECRET_VALUE}");
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();

    // The run: stopped at its approval first (so an inbox command and its reply exist), then
    // approved from another process and resumed, all with debug logs as JSON.
    let logs = ["--log-format", "json", "--log-level", "debug"];
    let mut args = vec![
        runbook.as_str(),
        "--param",
        secret_arg.as_str(),
        "--poll-interval",
        "50ms",
        "--no-wait",
        "--output",
        "json",
    ];
    args.extend(logs);
    let first = h.command("run", &args).output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    haystacks.extend(captured("run", &first));
    let run: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let run = run["run_id"].as_str().unwrap().to_owned();

    // The debug log is JSON lines, and it is not empty: the sweep reads real logs.
    let stderr = String::from_utf8(first.stderr.clone()).unwrap();
    let json_lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        json_lines.iter().any(|l| l["level"] == "DEBUG"),
        "no debug log lines: {stderr}"
    );

    // The secret did reach SDRS (the drill is named after it): the sweep is not vacuous.
    let world = serde_json::to_string(&h.emulator().world()).unwrap();
    assert!(
        world.contains(&format!("drill-{SECRET_VALUE}")),
        "the secret was not rendered into the request"
    );

    let mut approve = vec![
        run.as_str(),
        "sign_off",
        "--comment",
        "fine",
        "--wait",
        "1s",
    ];
    approve.extend(logs);
    let approved = h.command("approve", &approve).output().unwrap();
    assert_eq!(approved.status.code(), Some(0));
    haystacks.extend(captured("approve", &approved));

    let mut resume = vec![
        run.as_str(),
        "--param",
        secret_arg.as_str(),
        "--poll-interval",
        "50ms",
        "--output",
        "json",
    ];
    resume.extend(logs);
    let resumed = h.command("resume", &resume).output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    haystacks.extend(captured("resume", &resumed));

    // Every verb's output, text and JSON.
    for (verb, extra) in [
        ("status", vec![]),
        ("show", vec![]),
        ("show", vec!["create_drill"]),
        ("show", vec!["announce"]),
        ("runs", vec![]),
    ] {
        for output in ["text", "json"] {
            let mut args: Vec<&str> = if verb == "runs" {
                vec![]
            } else {
                vec![run.as_str()]
            };
            args.extend(extra.iter().copied());
            args.extend(["--output", output]);
            args.extend(logs);
            let result = h.command(verb, &args).output().unwrap();
            assert_eq!(result.status.code(), Some(0), "{verb} {args:?}");
            haystacks.extend(captured(&format!("{verb} {args:?}"), &result));
        }
    }
    haystacks.extend(report_outputs(&h, &run));

    // Every file of the data directory (the run's database is closed: nobody drives it).
    std::thread::sleep(Duration::from_millis(100));
    let mut files = Vec::new();
    files_under(h.data_dir(), &mut files);
    let runbooks_dir = h.data_dir().join("runbooks");
    let mut swept = 0;
    for file in files {
        // The runbook file is the test's input, not drbook's output.
        if file.starts_with(&runbooks_dir) {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        haystacks.push((file.display().to_string(), bytes));
        swept += 1;
    }
    assert!(swept >= 5, "only {swept} files under the data directory");
    let names: Vec<&str> = haystacks.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["audit.jsonl", "status.json", "replies"] {
        assert!(
            names.iter().any(|n| n.contains(expected)),
            "{expected} not swept: {names:?}"
        );
    }

    let found = sweep(&haystacks, &needles);
    assert!(found.is_empty(), "secrets found:\n{}", found.join("\n"));
}

#[test]
fn the_sweep_finds_a_planted_secret() {
    // Guards the sweep itself: a needle in a haystack is reported.
    let haystacks = vec![("file".to_owned(), format!("x{SECRET_VALUE}y").into_bytes())];
    assert_eq!(
        sweep(&haystacks, &[("the secret param", SECRET_VALUE)]),
        ["file: the secret param"]
    );
}
