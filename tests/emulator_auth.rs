//! Authentication as the API gateway does it: SDK-HMAC-SHA256 from a known AK, a matching
//! `X-Project-Id`, an `X-Sdk-Date` within 15 minutes, the project of the credentials; otherwise
//! 401 with the gateway's error body. Both the Python SDK's and the Go SDK's header sets pass.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod emulator_common;

use drbook::emulator::{Config, Credentials, Emulator};
use emulator_common::Env;
use http::HeaderValue;
use jiff::SignedDuration;
use serde_json::{Value, json};

fn assert_gateway_401(status: u16, body: &Value, message_part: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_code"], "APIGW.0301", "{body}");
    assert!(
        body["error_msg"]
            .as_str()
            .is_some_and(|m| m.contains(message_part)),
        "{body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn a_correct_signature_is_accepted() {
    let env = Env::start().await;
    let (status, body) = env
        .raw(
            "GET",
            &format!("{}/server-groups/pg-web-0001", env.v1()),
            None,
            |_| {},
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["server_group"]["id"], "pg-web-0001");
    env.stop().await;
}

#[tokio::test]
async fn missing_or_broken_signatures_are_refused_with_401() {
    let env = Env::start().await;
    let path = format!("{}/server-groups", env.v1());
    let (status, body) = env
        .raw("GET", &path, None, |h| {
            h.remove("authorization");
        })
        .await;
    assert_gateway_401(status, &body, "verify aksk signature fail");

    let mut wrong_sk = env.signing();
    wrong_sk.secret_key = secrecy::SecretString::from("not-the-secret-key".to_owned());
    let (status, body) = env.raw_signed("GET", &path, None, wrong_sk, |_| {}).await;
    assert_gateway_401(status, &body, "verify aksk signature fail");

    let mut unknown_ak = env.signing();
    unknown_ak.access_key = "UNKNOWNAK00000000000".into();
    let (status, body) = env.raw_signed("GET", &path, None, unknown_ak, |_| {}).await;
    assert_gateway_401(status, &body, "ak UNKNOWNAK00000000000 not exist");

    // A signed header changed after signing.
    let (status, body) = env
        .raw("GET", &path, None, |h| {
            h.insert("x-sdk-date", HeaderValue::from_static("20200101T000000Z"));
        })
        .await;
    assert_gateway_401(status, &body, "Incorrect IAM authentication information");

    // A signature that does not match.
    let signing = env.signing();
    let (status, body) = env
        .raw_signed("GET", &format!("{path}?limit=1"), None, signing, |h| {
            // Replace the signature with one computed for another query.
            let auth = h.get("authorization").cloned().expect("auth");
            let text = auth.to_str().expect("ascii").to_owned();
            // Change the last hex digit (to another digit: a `0` replaced by `0` would still
            // verify, one time in sixteen).
            let last = if text.ends_with('0') { '1' } else { '0' };
            let broken = format!("{}{last}", &text[..text.len() - 1]);
            h.insert(
                "authorization",
                HeaderValue::from_str(&broken).expect("header"),
            );
        })
        .await;
    assert_gateway_401(status, &body, "verify aksk signature fail");
    env.stop().await;
}

#[tokio::test]
async fn a_signing_time_more_than_15_minutes_away_is_refused() {
    let env = Env::start().await;
    let path = format!("{}/sdrs/quotas", env.v1());
    for (offset_minutes, accepted) in [(-14, true), (14, true), (-16, false), (16, false)] {
        let mut signing = env.signing();
        signing.date = jiff::Timestamp::now()
            .checked_add(SignedDuration::from_mins(offset_minutes))
            .expect("time");
        let (status, body) = env.raw_signed("GET", &path, None, signing, |_| {}).await;
        if accepted {
            assert_eq!(status, 200, "{offset_minutes} min: {body}");
        } else {
            assert_gateway_401(status, &body, "Incorrect IAM authentication information");
        }
    }
    env.stop().await;
}

#[tokio::test]
async fn requests_for_another_project_are_refused() {
    let env = Env::start().await;
    let mut other_header = env.signing();
    other_header.project_header = Some("0123456789abcdef0123456789abcdef".into());
    let (status, body) = env
        .raw_signed(
            "GET",
            &format!("{}/server-groups", env.v1()),
            None,
            other_header,
            |_| {},
        )
        .await;
    assert_gateway_401(status, &body, "X-Project-Id");

    let mut no_header = env.signing();
    no_header.project_header = None;
    let (status, body) = env
        .raw_signed(
            "GET",
            &format!("{}/server-groups", env.v1()),
            None,
            no_header,
            |_| {},
        )
        .await;
    assert_gateway_401(status, &body, "X-Project-Id (missing)");

    let (status, body) = env
        .raw(
            "GET",
            "/v1/0123456789abcdef0123456789abcdef/server-groups",
            None,
            |_| {},
        )
        .await;
    assert_gateway_401(status, &body, "is not the credentials' project");
    env.stop().await;
}

#[tokio::test]
async fn the_go_sdk_header_set_is_accepted() {
    // Terraform's golangsdk signs neither Host nor X-Project-Id (added after signing), and sends
    // compact JSON with its own key order.
    let env = Env::start().await;
    let mut go = env.signing();
    go.sign_host = false;
    go.sign_project = false;
    let body = r#"{"server_group":{"source_vpc_id":"vpc-prod-0001","name":"tf","domain_id":"domain-0001","source_availability_zone":"cn-north-4a","target_availability_zone":"cn-north-4b"}}"#;
    let (status, reply) = env
        .raw_signed(
            "POST",
            &format!("{}/server-groups", env.v1()),
            Some(body),
            go,
            |_| {},
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["job_id"].as_str().is_some());
    env.stop().await;
}

#[tokio::test]
async fn unsorted_query_parameters_still_verify() {
    let env = Env::start().await;
    let signing = env.signing();
    // Signed canonically (sorted), sent in another order: the verifier re-canonicalises.
    let (status, body) = env
        .raw_signed(
            "GET",
            &format!("{}/server-groups?offset=0&limit=5&name=web", env.v1()),
            None,
            signing,
            |_| {},
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    env.stop().await;
}

#[tokio::test]
async fn fixed_credentials_and_the_call_log_record_refusals() {
    let credentials = Credentials {
        access_key: "HPUAEXAMPLEAK0000001".into(),
        secret_key: secrecy::SecretString::from(
            "ExampleSecretKey0000000000000000000000001".to_owned(),
        ),
    };
    let emulator = Emulator::start(Config {
        credentials: Some(credentials),
        project_id: Some("0605767ef300d5762fd3c0147d8a8f1e".into()),
        ..Config::default()
    })
    .await
    .expect("start");
    assert_eq!(emulator.credentials().access_key, "HPUAEXAMPLEAK0000001");
    assert_eq!(emulator.project_id(), "0605767ef300d5762fd3c0147d8a8f1e");
    assert!(!format!("{:?}", emulator.credentials()).contains("ExampleSecretKey"));
    let env = Env {
        client: emulator_common::client_for(&emulator),
        emulator,
    };
    env.ok("show_quota", json!({})).await;
    let (status, _) = env
        .raw("GET", &format!("{}/sdrs/quotas", env.v1()), None, |h| {
            h.remove("authorization");
        })
        .await;
    assert_eq!(status, 401);
    let calls = env.emulator.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].outcome, drbook::emulator::Outcome::Ok);
    assert_eq!(calls[1].outcome, drbook::emulator::Outcome::Unauthorized);
    assert_eq!(calls[1].operation.as_deref(), Some("show_quota"));
    assert_eq!(calls[1].error_code.as_deref(), Some("APIGW.0301"));
    env.stop().await;
}

/// A local address that is not loopback, if the machine has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:1").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn the_admin_api_answers_only_loopback_clients() {
    let emulator = Emulator::start(Config {
        listen: "0.0.0.0:0".parse().expect("addr"),
        ..Config::default()
    })
    .await
    .expect("start");
    let port = emulator.local_addr().port();
    let local = reqwest::get(format!("http://127.0.0.1:{port}/_emulator/calls"))
        .await
        .expect("request");
    assert_eq!(local.status(), 200);
    match non_loopback_ip() {
        Some(ip) => {
            let remote = reqwest::get(format!("http://{ip}:{port}/_emulator/calls"))
                .await
                .expect("request");
            assert_eq!(remote.status(), 403);
            let remote_state = reqwest::get(format!("http://{ip}:{port}/_emulator/state"))
                .await
                .expect("request");
            assert_eq!(remote_state.status(), 403);
        }
        None => {
            eprintln!("no non-loopback address on this machine; only the loopback side was checked")
        }
    }
    emulator.shutdown().await;
}
