//! `drbook audit export`, driving the real binary: entries come out byte for byte (so a SIEM can
//! check their hashes), selected by time or by sequence number.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

mod report_support;

use assert_cmd::Command;
use report_support::{SignOff, write_drill_run};
use serde_json::Value;

fn drbook() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("drbook");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env_remove("DRBOOK_DATA_DIR");
    cmd
}

fn export(data_dir: &std::path::Path, extra: &[&str]) -> (i32, Vec<u8>, String) {
    let output = drbook()
        .args(["audit", "export", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        output.stdout,
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn seqs(jsonl: &[u8]) -> Vec<u64> {
    String::from_utf8(jsonl.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn a_full_export_is_the_log_byte_for_byte_and_verifies_elsewhere() {
    let temp = tempfile::tempdir().unwrap();
    let run = write_drill_run(temp.path(), SignOff::Approved, jiff::Timestamp::now());
    let log = std::fs::read(temp.path().join("audit").join("audit.jsonl")).unwrap();
    let (code, out, stderr) = export(temp.path(), &["--format", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out, log);
    assert!(
        stderr.contains(&format!("exported {} entries", run.audit_entries)),
        "{stderr}"
    );
    // What the SIEM received verifies on its own.
    let copy = temp.path().join("siem.jsonl");
    std::fs::write(&copy, &out).unwrap();
    drbook()
        .args(["audit", "verify", "--log"])
        .arg(&copy)
        .assert()
        .code(0);
}

#[test]
fn entries_are_selected_by_sequence_number_or_time() {
    let temp = tempfile::tempdir().unwrap();
    let before = jiff::Timestamp::now();
    let run = write_drill_run(temp.path(), SignOff::Approved, before);
    let total = run.audit_entries;

    let (code, out, _) = export(temp.path(), &["--after-seq", "30"]);
    assert_eq!(code, 0);
    assert_eq!(seqs(&out), (31..=total).collect::<Vec<_>>());
    let (_, out, _) = export(temp.path(), &["--after-seq", &total.to_string()]);
    assert!(out.is_empty());

    // Every entry was appended after `before`, and within the last hour.
    let since = before.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string();
    for when in [since.as_str(), "1h", "7d", "2026-01-01"] {
        let (code, out, stderr) = export(temp.path(), &["--since", when]);
        assert_eq!(code, 0, "{when}: {stderr}");
        assert_eq!(seqs(&out).len() as u64, total, "--since {when}");
    }
    let (code, out, stderr) = export(temp.path(), &["--since", "2999-01-01T00:00Z"]);
    assert_eq!(code, 0);
    assert!(out.is_empty());
    assert!(stderr.contains("exported 0 entries"), "{stderr}");
}

#[test]
fn bad_selections_are_usage_errors_and_a_missing_log_is_not_found() {
    let temp = tempfile::tempdir().unwrap();
    for args in [
        &["--since", "yesterday"][..],
        &["--since", "2026-11-01T00:00"],
        &["--since", "7y"],
        &["--since", "1h", "--after-seq", "3"],
        &["--format", "csv"],
    ] {
        let (code, out, stderr) = export(temp.path(), args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(out.is_empty());
    }
    let (_, _, stderr) = export(temp.path(), &["--since", "2026-11-01T00:00"]);
    assert!(stderr.contains("no time zone"), "{stderr}");
    let (code, _, stderr) = export(temp.path(), &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("no audit log at"), "{stderr}");
}
