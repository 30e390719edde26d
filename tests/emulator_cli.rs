//! The real `drbook emulator` binary: it prints the endpoint, project id and credentials, serves
//! signed requests with them, and shuts down gracefully on SIGINT (Ctrl-C).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use drbook::sdrs::{Client, Credentials, Endpoint};
use serde_json::Map;

fn value_after<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in {lines:?}"))
        .trim()
}

#[tokio::test]
async fn the_emulator_verb_prints_credentials_serves_and_stops_on_ctrl_c() {
    let bin = assert_cmd::cargo::cargo_bin("drbook");
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let mut child = Command::new(bin)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--job-latency",
            "0s",
            "--time-scale",
            "2",
        ])
        .arg("--state")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.starts_with("export HUAWEICLOUD_SDK_REGION_ECS"))
    {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            panic!("the emulator ended early; printed {lines:?}");
        }
        lines.push(line.trim_end().to_owned());
    }
    let endpoint = value_after(&lines, "drbook emulator listening on ").to_owned();
    let project = value_after(&lines, "project id: ").to_owned();
    let ak = value_after(&lines, "access key: ").to_owned();
    let sk = value_after(&lines, "secret key: ").to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert_eq!(value_after(&lines, "export HUAWEICLOUD_SDK_AK="), ak);
    assert_eq!(value_after(&lines, "export HUAWEICLOUD_SDK_SK="), sk);
    assert_eq!(
        value_after(&lines, "export HUAWEICLOUD_SDK_PROJECT_ID="),
        project
    );
    assert_eq!(
        value_after(&lines, "export DRBOOK_SDRS_ENDPOINT="),
        endpoint
    );
    assert_eq!(ak.len(), 20);
    assert_eq!(sk.len(), 40);

    let client = Client::builder(
        Credentials::new(ak, secrecy::SecretString::from(sk), project),
        Endpoint::Url(endpoint.clone()),
    )
    .build()
    .expect("client");
    let op = drbook::sdrs::operations::by_name("show_protection_group").expect("op");
    let mut inputs = Map::new();
    inputs.insert("server_group_id".into(), "pg-web-0001".into());
    let group = client.call(op, &inputs).await.expect("signed call");
    assert_eq!(group["server_group"]["name"], "web-tier");

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(stderr.contains("emulator stopped"), "{stderr}");
    assert!(state.exists(), "the state file was written");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("drbook"))
        .args(["emulator", "--ak", "only-the-ak"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(assert_cmd::cargo::cargo_bin("drbook"))
        .args(["emulator", "--job-latency", "soon"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("soon"));
}

#[test]
fn a_bad_inventory_file_fails_to_start_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("inventory.yaml");
    std::fs::write(
        &path,
        "region: r\navailability_zones: [a]\ndomains: []\nservers: 7\n",
    )
    .expect("write");
    let out = Command::new(assert_cmd::cargo::cargo_bin("drbook"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--inventory"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(70));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("inventory.yaml"), "{stderr}");
}
