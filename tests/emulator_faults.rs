//! Fault injection (from the config, a file and the admin API while requests are in flight) and
//! the call log the engine's exactly-once tests count on.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod emulator_common;

use std::time::{Duration, Instant};

use drbook::emulator::{CallFilter, Config, FaultAction, FaultRule, Outcome};
use drbook::sdrs::Error;
use emulator_common::Env;
use serde_json::{Value, json};

fn rule(operation: &str, action: FaultAction) -> FaultRule {
    FaultRule {
        id: None,
        operation: operation.into(),
        resource: None,
        action,
        rate: None,
        times: None,
    }
}

fn error(status: u16, code: &str) -> FaultAction {
    FaultAction::Error {
        http_status: status,
        code: code.into(),
        message: Some("injected".into()),
    }
}

#[tokio::test]
async fn an_error_fault_answers_the_next_n_calls_then_stops() {
    let env = Env::start().await;
    let mut r = rule("show_protection_group", error(503, "SDRS.0013"));
    r.times = Some(2);
    let id = env.emulator.add_fault(r).expect("fault");
    for _ in 0..2 {
        let (status, code) = env
            .refused(
                "show_protection_group",
                json!({"server_group_id": "pg-web-0001"}),
            )
            .await;
        assert_eq!((status, code.as_str()), (503, "SDRS.0013"));
    }
    env.ok(
        "show_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
    )
    .await;
    // Other operations were never affected.
    env.ok("show_quota", json!({})).await;
    let faults = env.admin_get("/_emulator/faults").await;
    assert_eq!(faults[0]["id"], id.as_str());
    assert_eq!(faults[0]["hits"], 2);
    assert_eq!(faults[0]["times"], 0);
    let log = env.emulator.calls();
    let outcomes: Vec<Outcome> = log.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Error, Outcome::Error, Outcome::Ok, Outcome::Ok]
    );
    assert_eq!(log[0].status, 503);
    assert_eq!(log[0].error_code.as_deref(), Some("SDRS.0013"));
    env.stop().await;
}

#[tokio::test]
async fn a_fault_can_target_one_resource() {
    let env = Env::start().await;
    let mut r = rule("*", error(500, "SDRS.0013"));
    r.resource = Some("pi-web-02".into());
    env.emulator.add_fault(r).expect("fault");
    env.ok(
        "show_protected_instance",
        json!({"protected_instance_id": "pi-web-01"}),
    )
    .await;
    let (status, _) = env
        .refused(
            "show_protected_instance",
            json!({"protected_instance_id": "pi-web-02"}),
        )
        .await;
    assert_eq!(status, 500);
    // Ids in the body count too.
    let mut r = rule("create_protected_instance", error(500, "SDRS.1350"));
    r.resource = Some("ecs-app-01".into());
    env.emulator.add_fault(r).expect("fault");
    let create = |server: &str| json!({"server_group_id": "pg-web-0001", "server_id": server, "name": format!("pi-{server}")});
    let (status, code) = env
        .refused("create_protected_instance", create("ecs-app-01"))
        .await;
    assert_eq!((status, code.as_str()), (500, "SDRS.1350"));
    env.run_ok("create_protected_instance", create("ecs-app-02"))
        .await;
    env.stop().await;
}

#[tokio::test]
async fn a_rate_makes_a_fault_fire_on_about_that_share_of_calls() {
    let env = Env::start().await;
    let mut r = rule("show_quota", error(500, "SDRS.0013"));
    r.rate = Some(0.5);
    env.emulator.add_fault(r).expect("fault");
    let mut errors = 0;
    for _ in 0..200 {
        if env.call("show_quota", json!({})).await.is_err() {
            errors += 1;
        }
    }
    // Binomial(200, 0.5): outside 50..150 with probability below 1e-12.
    assert!((50..150).contains(&errors), "{errors} errors of 200");
    env.stop().await;
}

#[tokio::test]
async fn throttling_answers_429_with_the_gateway_body() {
    let env = Env::start().await;
    env.emulator
        .add_fault(rule("list_protection_groups", FaultAction::Throttle))
        .expect("fault");
    let (status, body) = env
        .raw("GET", &format!("{}/server-groups", env.v1()), None, |_| {})
        .await;
    assert_eq!(status, 429);
    assert_eq!(body["error_code"], "APIGW.0308");
    assert!(
        body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains("throttling"))
    );
    match env.call("list_protection_groups", json!({})).await {
        Err(e) => assert_eq!(e.class(), drbook::sdrs::ErrorClass::Throttled, "{e}"),
        Ok(v) => panic!("throttled call succeeded: {v}"),
    }
    env.stop().await;
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let env = Env::start().await;
    env.emulator
        .add_fault(rule(
            "show_quota",
            FaultAction::Latency {
                duration: Duration::from_millis(300),
            },
        ))
        .expect("fault");
    let started = Instant::now();
    env.ok("show_quota", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    env.stop().await;
}

#[tokio::test]
async fn drop_after_apply_changes_the_world_but_the_client_sees_no_answer() {
    let env = Env::start().await;
    env.emulator
        .add_fault({
            let mut r = rule("create_protection_group", FaultAction::DropAfterApply);
            r.times = Some(1);
            r
        })
        .expect("fault");
    let inputs = json!({
        "name": "exactly-once",
        "source_availability_zone": "cn-north-4a",
        "target_availability_zone": "cn-north-4b",
        "domain_id": "domain-0001",
        "source_vpc_id": "vpc-prod-0001",
    });
    match env.call("create_protection_group", inputs).await {
        Err(Error::Transport { maybe_applied, .. }) => assert!(maybe_applied),
        other => panic!("expected a transport error, got {other:?}"),
    }
    // The group was created all the same: the client cannot tell.
    let listed = env
        .ok("list_protection_groups", json!({"name": "exactly-once"}))
        .await;
    assert_eq!(listed["count"], 1);
    let created = env.emulator.calls_matching(&CallFilter {
        operation: Some("create_protection_group".into()),
        ..CallFilter::default()
    });
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].outcome, Outcome::Dropped);
    assert_eq!(created[0].status, 200);
    assert!(created[0].mutating);
    let group = listed["server_groups"][0]["id"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(created[0].resource_id.as_deref(), Some(group));
    // The emulator still serves other connections and the same client afterwards.
    env.ok("show_quota", json!({})).await;
    env.stop().await;
}

#[tokio::test]
async fn the_admin_api_changes_faults_while_a_run_is_in_flight() {
    let env = Env::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/_emulator/faults", env.emulator.endpoint());
    let added: Value = client
        .post(&url)
        .json(&json!([
            {"operation": "stop_protection_group", "action": {"job_fail": {"code": "SDRS.1028", "reason": "disk offline"}}, "times": 1},
            {"id": "slow", "operation": "show_job_status", "action": {"latency": {"duration": "10ms"}}}
        ]))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(added["ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(added["ids"][1], "slow");
    let job = env
        .run(
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(job["status"], "FAIL");
    assert_eq!(job["error_code"], "SDRS.1028");
    assert_eq!(job["fail_reason"], "disk offline");
    assert_eq!(env.group_status("pg-web-0001").await, "error-stopping");

    let bad = client
        .post(&url)
        .json(&json!({"operation": "no_such_operation", "action": "throttle"}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    let removed = client
        .delete(format!("{url}/slow"))
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), 204);
    let again = client
        .delete(format!("{url}/slow"))
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), 404);
    let cleared = client.delete(&url).send().await.expect("delete");
    assert_eq!(cleared.status(), 204);
    assert_eq!(env.admin_get("/_emulator/faults").await, json!([]));
    env.stop().await;
}

#[tokio::test]
async fn faults_come_from_a_file_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("faults.yaml");
    std::fs::write(
        &path,
        "- operation: show_quota\n  action: {error: {http_status: 502, code: SDRS.0008}}\n- operation: stop_protection_group\n  action: job_hang\n",
    )
    .expect("write");
    let env = Env::start_with(Config {
        faults_file: Some(path),
        ..Config::default()
    })
    .await;
    let (status, code) = env.refused("show_quota", json!({})).await;
    assert_eq!((status, code.as_str()), (502, "SDRS.0008"));
    let reply = env
        .ok(
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let job = env
        .ok("show_job_status", json!({"job_id": reply["job_id"]}))
        .await;
    assert_eq!(job["status"], "RUNNING");
    env.stop().await;

    let bad = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(bad.path(), "- operation: show_quota\n  action: explode\n").expect("write");
    let err = drbook::emulator::Emulator::start(Config {
        faults_file: Some(bad.path().to_path_buf()),
        ..Config::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("explode"), "{err}");
}

#[tokio::test]
async fn the_call_log_filters_by_operation_resource_and_sequence() {
    let env = Env::start().await;
    env.ok(
        "show_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
    )
    .await;
    env.run_ok(
        "stop_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
    )
    .await;
    env.ok(
        "show_protected_instance",
        json!({"protected_instance_id": "pi-web-01"}),
    )
    .await;
    let all = env.admin_get("/_emulator/calls").await;
    let all = all.as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 4);
    assert_eq!(all[1]["operation"], "stop_protection_group");
    assert_eq!(all[1]["method"], "POST");
    assert_eq!(all[1]["mutating"], true);
    assert_eq!(all[1]["resource_id"], "pg-web-0001");
    assert_eq!(all[1]["outcome"], "ok");
    assert_eq!(all[2]["operation"], "show_job_status");
    let on_group = env.admin_get("/_emulator/calls?resource=pg-web-0001").await;
    assert_eq!(on_group.as_array().map(Vec::len), Some(2));
    let stops = env
        .admin_get("/_emulator/calls?operation=stop_protection_group&resource=pg-web-0001")
        .await;
    assert_eq!(stops.as_array().map(Vec::len), Some(1));
    let seq = all[1]["seq"].as_u64().unwrap_or_default();
    let after = env
        .admin_get(&format!("/_emulator/calls?since={seq}"))
        .await;
    assert_eq!(after.as_array().map(Vec::len), Some(2));
    env.stop().await;
}
