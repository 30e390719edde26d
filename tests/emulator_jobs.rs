//! Jobs with latency on the emulated clock (INIT → RUNNING → SUCCESS observed), the time scale,
//! the admin config endpoint, and the state file that survives a restart.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod emulator_common;

use std::time::{Duration, Instant};

use drbook::emulator::{Config, Emulator};
use emulator_common::{Env, client_for};
use serde_json::{Value, json};

/// Polls a job, collecting every status seen, until it ends.
async fn observe(env: &Env, job_id: &str) -> (Vec<String>, Value) {
    let mut seen: Vec<String> = Vec::new();
    loop {
        let job = env.ok("show_job_status", json!({"job_id": job_id})).await;
        let status = job["status"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "SUCCESS" || status == "FAIL" {
            return (seen, job);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_job_with_latency_goes_init_running_success_with_the_resource_transitional() {
    let env = Env::start_with(Config {
        job_latency: Duration::from_millis(600),
        ..Config::default()
    })
    .await;
    let reply = env
        .ok(
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    let job_id = reply["job_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(env.group_status("pg-web-0001").await, "stopping");
    let (seen, job) = observe(&env, &job_id).await;
    assert_eq!(seen, ["INIT", "RUNNING", "SUCCESS"]);
    assert_eq!(env.group_status("pg-web-0001").await, "available");
    let begin: jiff::Timestamp = job["begin_time"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .expect("begin");
    let end: jiff::Timestamp = job["end_time"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .expect("end");
    assert!(
        end.duration_since(begin) >= jiff::SignedDuration::from_millis(600),
        "{job}"
    );
    assert_eq!(job["entities"]["sub_jobs"][0]["status"], "SUCCESS");
    env.stop().await;
}

#[tokio::test]
async fn the_time_scale_speeds_jobs_up_and_can_change_at_runtime() {
    // A 60 s job at 600× takes a tenth of a second.
    let env = Env::start_with(Config {
        job_latency: Duration::from_secs(60),
        time_scale: 600.0,
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let job = env
        .run(
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(job["status"], "SUCCESS");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // Slow the clock right down: a new job stays pending...
    env.emulator.set_time_scale(0.001).expect("scale");
    let reply = env
        .ok(
            "start_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    let job_id = reply["job_id"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let job = env.ok("show_job_status", json!({"job_id": job_id})).await;
    assert_eq!(job["status"], "INIT");
    // ...until the admin API speeds it up again; the waiting driver notices.
    let client = reqwest::Client::new();
    let config: Value = client
        .post(format!("{}/_emulator/config", env.emulator.endpoint()))
        .json(&json!({"time_scale": 100000.0, "job_latency": "0s"}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(config["time_scale"], 100000.0);
    assert_eq!(config["job_latency"], "0s");
    let (_, job) = observe(&env, &job_id).await;
    assert_eq!(job["status"], "SUCCESS");
    assert_eq!(env.group_status("pg-web-0001").await, "protected");
    let bad = client
        .post(format!("{}/_emulator/config", env.emulator.endpoint()))
        .json(&json!({"time_scale": 0}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    env.stop().await;
}

#[tokio::test]
async fn job_latency_can_be_set_while_running() {
    let env = Env::start().await;
    env.emulator.set_job_latency(Duration::from_secs(3600));
    let reply = env
        .ok(
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    let job = env
        .ok("show_job_status", json!({"job_id": reply["job_id"]}))
        .await;
    assert_ne!(job["status"], "SUCCESS");
    let config = env.admin_get("/_emulator/config").await;
    assert_eq!(config["job_latency"], "1h");
    assert_eq!(config["project_id"], env.emulator.project_id());
    env.stop().await;
}

#[tokio::test]
async fn the_state_file_keeps_the_world_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state.json");
    let config = || Config {
        state_file: Some(state.clone()),
        ..Config::default()
    };
    let first = Emulator::start(config()).await.expect("start");
    assert!(state.exists(), "written at start");
    let project = first.project_id().to_owned();
    let env = Env {
        client: client_for(&first),
        emulator: first,
    };
    let job = env
        .run_ok(
            "create_protection_group",
            json!({"name": "kept", "source_availability_zone": "cn-north-4a", "target_availability_zone": "cn-north-4b", "domain_id": "domain-0001", "source_vpc_id": "vpc-prod-0001"}),
        )
        .await;
    let group = job["entities"]["server_group_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    env.run_ok(
        "stop_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
    )
    .await;
    // Saved after the mutation, before any shutdown.
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).expect("read")).expect("json");
    assert!(
        saved["protection_groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x["id"] == group.as_str()))
    );
    env.stop().await;

    let second = Emulator::start(config()).await.expect("restart");
    assert_eq!(
        second.project_id(),
        project,
        "the project survives a restart"
    );
    let env = Env {
        client: client_for(&second),
        emulator: second,
    };
    assert_eq!(env.group_status(&group).await, "available");
    assert_eq!(env.group_status("pg-web-0001").await, "available");
    let job = env
        .ok("show_job_status", json!({"job_id": job["job_id"]}))
        .await;
    assert_eq!(job["status"], "SUCCESS");
    env.stop().await;

    std::fs::write(&state, b"{broken").expect("write");
    let err = Emulator::start(config()).await.err().expect("refused");
    assert!(err.to_string().contains("state.json"), "{err}");
}

#[tokio::test]
async fn an_inventory_file_replaces_the_default_world() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("inventory.yaml");
    std::fs::write(
        &path,
        r#"
region: eu-west-0
availability_zones: [eu-west-0a, eu-west-0b]
domains:
  - {id: dom-1, name: Metro, local_availability_zone: eu-west-0a, remote_availability_zone: eu-west-0b}
vpcs:
  - {id: vpc-1, name: vpc, cidr: 10.0.0.0/16, subnets: [{id: sn-1, name: sn, cidr: 10.0.0.0/24}]}
flavors: [{id: s6.small.1, vcpus: 1, ram: 1024}]
servers:
  - id: vm-1
    name: vm-1
    status: ACTIVE
    availability_zone: eu-west-0a
    flavor: s6.small.1
    vpc_id: vpc-1
    nics: [{port_id: p-1, subnet_id: sn-1, ip_address: 10.0.0.5, mac_address: "fa:16:3e:00:00:01"}]
quotas: {server_groups: 1, replications: 5}
"#,
    )
    .expect("write");
    let env = Env::start_with(Config {
        inventory: drbook::emulator::InventorySource::File(path),
        ..Config::default()
    })
    .await;
    let domains = env.ok("list_active_active_domains", json!({})).await;
    assert_eq!(domains["domains"][0]["id"], "dom-1");
    let groups = env.ok("list_protection_groups", json!({})).await;
    assert_eq!(groups["count"], 0);
    env.run_ok(
        "create_protection_group",
        json!({"name": "g", "source_availability_zone": "eu-west-0a", "target_availability_zone": "eu-west-0b", "domain_id": "dom-1", "source_vpc_id": "vpc-1"}),
    )
    .await;
    let (_, code) = env
        .refused(
            "create_protection_group",
            json!({"name": "g2", "source_availability_zone": "eu-west-0a", "target_availability_zone": "eu-west-0b", "domain_id": "dom-1", "source_vpc_id": "vpc-1"}),
        )
        .await;
    assert_eq!(code, "SDRS.0305", "quota of 1 from the file");
    env.stop().await;
}
