//! drbook's SDRS client against a loopback stub server: for every one of the 53 operations, the
//! generic `call` and the typed method send the request the operation table describes (method,
//! path, query, body, content type, a valid signature), the typed method decodes the response, and
//! each error body form becomes the right `Error`. Also: transport failures and `maybe_applied`,
//! and the dry-run guard. (The secret-key checks live in `sdrs_secrets.rs`, a binary of their own
//! because they install a global log subscriber.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests unwrap what they just built"
)]

mod support;

use std::time::Duration;

use drbook::sdrs::models::*;
use drbook::sdrs::operations::{self, Service};
use drbook::sdrs::{Client, Endpoint, Error, ErrorClass};
use serde_json::{Map, Value, json};
use support::capture::{CaptureServer, Reply};
use support::sdrs_samples::*;

#[tokio::test]
async fn every_operation_sends_the_tabled_request_and_decodes_its_response() {
    let (server, mode) = stub();
    let client = client(&server.url);
    let mut checked = 0;
    for op in operations::all() {
        // The generic call, as the engine makes it.
        *mode.lock().unwrap() = Mode::Success(op);
        let value = client
            .call(op, &sample_inputs(op))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", op.name));
        let requests = server.take();
        assert_eq!(requests.len(), 1, "{}", op.name);
        assert_request_shape(op, &requests[0], "call");
        let (_, canned_body) = canned(op);
        assert_eq!(
            value,
            canned_body.clone().unwrap_or_else(|| json!({})),
            "{}",
            op.name
        );

        // The typed method: same request, decoded into the model.
        let typed = typed_call(&client, op.name)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", op.name));
        let requests = server.take();
        assert_eq!(requests.len(), 1, "{}", op.name);
        assert_request_shape(op, &requests[0], "the typed method");
        match canned_body {
            Some(body) => assert_contained(&body, &typed, op.name),
            None => assert_eq!(typed, Value::Null, "{}", op.name),
        }
        checked += 1;
    }
    assert_eq!(checked, 53);
}

#[tokio::test]
async fn every_operation_turns_each_error_body_form_into_a_typed_error() {
    let (server, mode) = stub();
    let client = client(&server.url);
    for op in operations::all() {
        for ErrorForm {
            reply,
            status,
            code,
            message,
            request_id,
            class,
        } in error_forms()
        {
            *mode.lock().unwrap() = Mode::Fail(reply);
            let err = client.call(op, &sample_inputs(op)).await.unwrap_err();
            let what = format!("{} answering HTTP {status}", op.name);
            match &err {
                Error::Api {
                    status: got_status,
                    code: got_code,
                    message: got_message,
                    request_id: got_request_id,
                    operation,
                } => {
                    assert_eq!(*got_status, status, "{what}");
                    assert_eq!(got_code.as_str(), code, "{what}");
                    assert_eq!(got_message, message, "{what}");
                    assert_eq!(got_request_id.as_deref(), request_id, "{what}");
                    assert_eq!(*operation, op.name, "{what}");
                }
                other => panic!("{what}: {other}"),
            }
            assert_eq!(err.class(), class, "{what}");
            assert_eq!(err.code().as_str(), code, "{what}");
            assert_eq!(err.maybe_applied(), status >= 500, "{what}");
            // The typed method reports the same error.
            let typed = typed_call(&client, op.name).await.unwrap_err();
            assert_eq!(typed.code().as_str(), code, "{what} (typed)");
        }
        server.take();
    }
}

#[tokio::test]
async fn a_success_body_that_is_not_json_is_a_decode_error() {
    let server = CaptureServer::start(|_| Reply::text(200, "text/plain", "not json at all"));
    let client = client(&server.url);
    let err = client.show_quota().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decode {
                operation: "show_quota",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not json at all"), "{err}");
    let server = CaptureServer::start(|_| Reply::json(200, &json!({"quotas": [1, 2]})));
    let err = client_for(&server).show_quota().await.unwrap_err();
    assert_eq!(err.code().as_str(), "DRBOOK.DECODE", "{err}");
}

fn client_for(server: &CaptureServer) -> Client {
    client(&server.url)
}

#[tokio::test]
async fn special_characters_are_encoded_in_paths_and_queries() {
    let server = CaptureServer::start(|_| Reply::empty(204));
    let client = client(&server.url);
    client
        .delete_protected_instance_tag("pi 1/ü", "env name:1")
        .await
        .unwrap();
    let request = &server.take()[0];
    assert_eq!(
        request.target,
        format!("/v1/{PROJECT}/protected-instances/pi%201%2F%C3%BC/tags/env%20name%3A1")
    );
    assert!(signature_is_valid(request));

    let server =
        CaptureServer::start(|_| Reply::json(200, &json!({"protected_instances": [], "count": 0})));
    let client = client_for(&server);
    let listed = client
        .list_protected_instances(&ListProtectedInstancesQuery {
            server_group_id: Some("sg-0001".into()),
            name: Some("web 01/é+*~".into()),
            limit: Some(10),
            offset: Some(0),
            ..ListProtectedInstancesQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.count, Some(0));
    let request = &server.take()[0];
    assert_eq!(
        request.target,
        format!(
            "/v1/{PROJECT}/protected-instances?limit=10&name=web%2001%2F%C3%A9%2B%2A~&offset=0&server_group_id=sg-0001"
        )
    );
    assert!(signature_is_valid(request));
}

#[tokio::test]
async fn the_read_only_client_refuses_mutations_before_sending() {
    let (server, mode) = stub();
    let client = Client::builder(credentials(), Endpoint::Url(server.url.clone()))
        .read_only(true)
        .build()
        .unwrap();
    assert!(client.is_read_only());
    let mut refused = 0;
    for op in operations::all() {
        *mode.lock().unwrap() = Mode::Success(op);
        let result = client.call(op, &sample_inputs(op)).await;
        let sent = server.take();
        match op.effect {
            operations::Effect::Mutating => {
                match result {
                    Err(Error::ReadOnly { operation }) => assert_eq!(operation, op.name),
                    other => panic!("{}: expected ReadOnly, got {other:?}", op.name),
                }
                assert!(sent.is_empty(), "{} reached the server", op.name);
                let typed = typed_call(&client, op.name).await.unwrap_err();
                assert_eq!(typed.code().as_str(), "DRBOOK.READ_ONLY");
                assert!(
                    server.take().is_empty(),
                    "{} (typed) reached the server",
                    op.name
                );
                refused += 1;
            }
            operations::Effect::ReadOnly => {
                result.unwrap_or_else(|e| panic!("{}: {e}", op.name));
                assert_eq!(sent.len(), 1, "{}", op.name);
            }
        }
    }
    // 31 of the 49 SDRS operations mutate (17 GETs and the by-tags POST do not), and the two
    // ECS batch actions.
    assert_eq!(refused, 33);
}

#[tokio::test]
async fn invalid_inputs_are_refused_before_sending() {
    let server = CaptureServer::start(|_| Reply::json(200, &json!({})));
    let client = client(&server.url);
    let op = operations::find("expand_replication");
    let inputs: Map<String, Value> =
        serde_json::from_value(json!({"replication_id": "r-1", "new_size": [1]})).unwrap();
    let err = client.call(op, &inputs).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "expand_replication: input `new_size`: expected an integer, got a list"
    );
    assert!(!err.maybe_applied());
    assert!(server.take().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Transport failures.

/// A server that reads each request completely, then closes the connection without answering.
async fn black_hole(answer_after: Option<Duration>) -> (String, tokio::task::JoinHandle<usize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    break;
                }
            }
        }
        if let Some(delay) = answer_after {
            tokio::time::sleep(delay).await;
        }
        drop(socket);
        received.len()
    });
    (url, task)
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_was_sent_may_have_been_applied() {
    let (url, server) = black_hole(None).await;
    let client = client(&url);
    let err = client
        .start_failover_protection_group("sg-1")
        .await
        .unwrap_err();
    let received = server.await.unwrap();
    assert!(received > 0);
    match &err {
        Error::Transport {
            operation,
            kind,
            maybe_applied,
            ..
        } => {
            assert_eq!(*operation, "start_failover_protection_group");
            assert_eq!(*kind, drbook::sdrs::TransportKind::Reset, "{err}");
            assert!(*maybe_applied);
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.code().as_str(), "NET.RESET");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.maybe_applied());
}

#[tokio::test]
async fn a_refused_connection_was_not_applied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&url)
        .start_failover_protection_group("sg-1")
        .await
        .unwrap_err();
    match &err {
        Error::Transport {
            kind,
            maybe_applied,
            ..
        } => {
            assert_eq!(*kind, drbook::sdrs::TransportKind::Connect, "{err}");
            assert!(!maybe_applied);
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.code().as_str(), "NET.CONNECT");
    assert_eq!(err.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn a_read_timeout_may_have_been_applied() {
    let (url, server) = black_hole(Some(Duration::from_secs(5))).await;
    let client = Client::builder(credentials(), Endpoint::Url(url))
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.stop_protection_group("sg-1").await.unwrap_err();
    server.abort();
    assert_eq!(err.code().as_str(), "NET.TIMEOUT", "{err}");
    assert!(err.maybe_applied());
}

// ---------------------------------------------------------------------------------------------
// The ECS endpoint can differ from the SDRS one.

#[tokio::test]
async fn ecs_calls_go_to_the_ecs_url() {
    let sdrs = CaptureServer::start(|_| Reply::json(200, &json!({"job_id": "sdrs-job"})));
    let ecs = CaptureServer::start(|_| Reply::json(200, &json!({"job_id": "ecs-job"})));
    let client = Client::builder(credentials(), Endpoint::Url(sdrs.url.clone()))
        .ecs_url(ecs.url.clone())
        .build()
        .unwrap();
    let job = client
        .batch_start_servers(&StartServersParams {
            servers: vec![ServerId { id: "s-1".into() }],
        })
        .await
        .unwrap();
    assert_eq!(job.job_id, "ecs-job");
    assert!(sdrs.requests().is_empty());
    let request = &ecs.take()[0];
    assert_eq!(request.target, format!("/v1/{PROJECT}/cloudservers/action"));
    assert_eq!(
        request.body,
        br#"{"os-start": {"servers": [{"id": "s-1"}]}}"#
    );
    assert_eq!(
        request.header("host"),
        Some(ecs.url.trim_start_matches("http://"))
    );
    assert!(signature_is_valid(request));
    let _ = Service::Ecs;
}
