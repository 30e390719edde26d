//! `drbook audit verify` on a real audit log (the entries a drill run leaves, appended through
//! the store's audit API): an untouched log verifies; a flipped byte, a deleted entry and two
//! swapped entries each fail verification, and the report names the right entry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

mod report_support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use report_support::{SignOff, write_drill_run};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn drbook() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("drbook");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env_remove("DRBOOK_DATA_DIR");
    cmd
}

/// A data directory whose audit log holds the entries of two drill runs.
fn real_log() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let temp = tempfile::tempdir().unwrap();
    let start = jiff::Timestamp::now();
    let first = write_drill_run(temp.path(), SignOff::Approved, start);
    let second = write_drill_run(temp.path(), SignOff::Rejected, start);
    let path = temp.path().join("audit").join("audit.jsonl");
    let lines = lines(&path);
    assert_eq!(
        lines.len() as u64,
        first.audit_entries + second.audit_entries
    );
    assert!(
        lines.len() >= 40,
        "a realistic log: {} entries",
        lines.len()
    );
    (temp, path, lines)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The 1-based line of the first entry whose line contains `needle`.
fn line_with(lines: &[String], needle: &str) -> usize {
    lines.iter().position(|l| l.contains(needle)).unwrap() + 1
}

/// Runs `verify --output json` and returns (exit code, report).
fn verify(data_dir: &Path) -> (i32, Value) {
    let output = drbook()
        .args(["audit", "verify", "--output", "json", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), report)
}

/// Asserts a broken verification naming `line`, `seq` and `problem`, in JSON and in text.
fn assert_breach(data_dir: &Path, line: usize, seq: Option<usize>, problem: &str) {
    let (code, report) = verify(data_dir);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["status"], "broken", "{report:#}");
    let breach = &report["breach"];
    assert_eq!(breach["line"], line, "{report:#}");
    assert_eq!(
        breach["seq"],
        seq.map_or(Value::Null, Value::from),
        "{report:#}"
    );
    assert_eq!(breach["problem"], problem, "{report:#}");
    assert_eq!(report["entries"], line - 1, "entries before the breach");

    let output = drbook()
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let named = match seq {
        Some(seq) => format!("BROKEN at line {line} (seq {seq}): "),
        None => format!("BROKEN at line {line}: "),
    };
    assert!(text.contains(&named), "{text}");
}

#[test]
fn an_untouched_log_verifies_and_prints_its_head() {
    let (temp, path, lines) = real_log();
    let (code, report) = verify(temp.path());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "intact");
    assert_eq!(report["entries"], lines.len());
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(report["head"]["seq"], last["seq"]);
    assert_eq!(report["head"]["hash"], last["hash"]);
    assert_eq!(report["log"], path.display().to_string());

    let output = drbook()
        .args(["audit", "verify", "--data-dir"])
        .arg(temp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(&format!("intact: {} entries", lines.len())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "head: {}:{}",
            last["seq"],
            last["hash"].as_str().unwrap()
        )),
        "{text}"
    );
}

#[test]
fn a_flipped_byte_is_named_as_a_change_of_its_entry() {
    let (temp, path, original) = real_log();
    // The approval's comment is what someone would want to rewrite. Flip one bit of one byte
    // inside it; the line stays valid JSON.
    let line = line_with(&original, "\"kind\":\"approval\"");
    let mut bytes = std::fs::read(&path).unwrap();
    let line_start: usize = original[..line - 1].iter().map(|l| l.len() + 1).sum();
    let offset = line_start + original[line - 1].find("App team").unwrap();
    bytes[offset] ^= 0x20; // 'A' -> 'a'
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(lines(&path)[line - 1].len(), original[line - 1].len());
    assert_breach(temp.path(), line, Some(line), "changed");

    // A flipped byte that breaks the JSON is named too (its seq cannot be read).
    std::fs::write(&path, original.join("\n") + "\n").unwrap();
    let line = original.len() / 2;
    let mut bytes = std::fs::read(&path).unwrap();
    let line_start: usize = original[..line - 1].iter().map(|l| l.len() + 1).sum();
    bytes[line_start] ^= 0x01; // '{' -> 'z'
    std::fs::write(&path, &bytes).unwrap();
    assert_breach(temp.path(), line, None, "unreadable");

    // And one inside the stored hash itself.
    std::fs::write(&path, original.join("\n") + "\n").unwrap();
    let line = 3;
    let mut bytes = std::fs::read(&path).unwrap();
    let line_end: usize = original[..line].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
    let digit = line_end - 3; // inside the 64 hex digits, before `"}`
    bytes[digit] = if bytes[digit] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, &bytes).unwrap();
    assert_breach(temp.path(), line, Some(line), "changed");
}

#[test]
fn a_deleted_entry_is_named_at_the_line_where_it_is_missing() {
    let (temp, path, original) = real_log();
    for removed in [1, original.len() / 3, original.len() - 1] {
        let mut changed = original.clone();
        changed.remove(removed - 1);
        write_lines(&path, &changed);
        // Line `removed` now holds the entry that was written as seq `removed + 1`.
        assert_breach(temp.path(), removed, Some(removed + 1), "out-of-sequence");
    }
}

#[test]
fn swapped_entries_are_named_at_the_first_of_them() {
    let (temp, path, original) = real_log();
    for (a, b) in [(4, 5), (10, 17), (1, original.len())] {
        let mut changed = original.clone();
        changed.swap(a - 1, b - 1);
        write_lines(&path, &changed);
        assert_breach(temp.path(), a, Some(b), "out-of-sequence");
    }
}

#[test]
fn a_replaced_entry_with_a_recomputed_hash_breaks_the_next_link() {
    let (temp, path, original) = real_log();
    let line = line_with(&original, "\"kind\":\"approval\"");
    let forged = original[line - 1].replace("\"actor\":\"dr-lead\"", "\"actor\":\"mallory\"");
    assert_ne!(forged, original[line - 1]);
    // Recompute the hash as drbook does: SHA-256 of the line without its trailing hash member.
    let (body, _) = forged.rsplit_once(",\"hash\":\"").unwrap();
    let hash = hex::encode(Sha256::digest(format!("{body}}}").as_bytes()));
    let mut changed = original.clone();
    changed[line - 1] = format!("{body},\"hash\":\"{hash}\"}}");
    write_lines(&path, &changed);
    assert_breach(temp.path(), line + 1, Some(line + 1), "broken-link");
}

#[test]
fn a_cut_tail_is_only_caught_with_an_anchor_kept_elsewhere() {
    let (temp, path, original) = real_log();
    let (_, report) = verify(temp.path());
    let anchor = format!(
        "{}:{}",
        report["head"]["seq"],
        report["head"]["hash"].as_str().unwrap()
    );
    write_lines(&path, &original[..original.len() - 2]);
    // The chain alone cannot tell (documented)...
    let (code, report) = verify(temp.path());
    assert_eq!((code, report["status"].as_str()), (0, Some("intact")));
    // ...the anchor can.
    let output = drbook()
        .args(["audit", "verify", "--output", "json", "--anchor", &anchor])
        .arg("--data-dir")
        .arg(temp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["breach"]["problem"], "anchor-mismatch", "{report:#}");
    assert!(
        report["breach"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated")
    );
}

#[test]
fn a_copy_of_a_log_verifies_with_log_and_a_missing_one_is_not_found() {
    let (temp, path, _) = real_log();
    let copy = temp.path().join("copy.jsonl");
    std::fs::copy(&path, &copy).unwrap();
    drbook()
        .args(["audit", "verify", "--log"])
        .arg(&copy)
        .assert()
        .code(0);
    let empty = tempfile::tempdir().unwrap();
    let output = drbook()
        .args(["audit", "verify", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no audit log at"));
    assert!(
        !empty.path().join("audit").exists(),
        "verify creates nothing"
    );
    drbook()
        .args(["audit", "verify", "--anchor", "12:abc", "--log"])
        .arg(&copy)
        .assert()
        .code(64);
}
