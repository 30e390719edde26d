//! Job polling against a loopback stub: success with entities and sub-jobs, FAIL as a typed
//! error, transient errors retried without abandoning the job, permanent errors ending the wait,
//! and the number of polls growing with the logarithm of the wait.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests unwrap what they just built"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drbook::sdrs::models::JobStatus;
use drbook::sdrs::operations::Service;
use drbook::sdrs::{Error, ErrorClass, PollPolicy};
use serde_json::json;
use support::capture::{CaptureServer, Reply};
use support::sdrs_samples::{PROJECT, client, signature_is_valid};

fn fast(max_wait_ms: u64) -> PollPolicy {
    PollPolicy {
        initial: Duration::from_millis(1),
        factor: 2.0,
        cap: Duration::from_secs(3600),
        max_wait: Duration::from_millis(max_wait_ms),
    }
}

/// A stub whose n-th poll (from 1) gets `answer(n)`.
fn job_stub(
    answer: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (CaptureServer, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polls);
    let server = CaptureServer::start(move |_| answer(counter.fetch_add(1, Ordering::SeqCst) + 1));
    (server, polls)
}

fn running() -> Reply {
    Reply::json(
        200,
        &json!({"job_id": "job-1", "status": "RUNNING", "job_type": "failoverProtectionGroupNoCG"}),
    )
}

#[tokio::test]
async fn success_returns_the_job_with_entities_after_transient_errors() {
    let (server, polls) = job_stub(|n| match n {
        1 => Reply::json(200, &json!({"job_id": "job-1", "status": "INIT"})),
        2 => Reply::text(503, "text/html", "busy"),
        3 => Reply::json(
            429,
            &json!({"error_code": "APIGW.0308", "error_msg": "throttled"}),
        ),
        4 => Reply::json(200, &json!({"job_id": "job-1", "status": "SOMETHING_NEW"})),
        5 => running(),
        _ => Reply::json(
            200,
            &json!({
                "job_id": "job-1", "status": "SUCCESS", "job_type": "failoverProtectionGroupNoCG",
                "entities": {"server_group_id": "sg-1", "sub_jobs": [
                    {"job_id": "sub-1", "status": "SUCCESS", "entities": {"protected_instance_id": "pi-1"}}]}
            }),
        ),
    });
    let client = client(&server.url);
    let job = client.wait_job("job-1", &fast(60_000)).await.unwrap();
    assert_eq!(job.status, Some(JobStatus::Success));
    let entities = job.entities.unwrap();
    assert_eq!(entities.server_group_id.as_deref(), Some("sg-1"));
    assert_eq!(
        entities.sub_jobs.unwrap()[0].job_id.as_deref(),
        Some("sub-1")
    );
    assert_eq!(polls.load(Ordering::SeqCst), 6);
    for request in server.requests() {
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, format!("/v1/{PROJECT}/jobs/job-1"));
        assert!(signature_is_valid(&request));
    }
}

#[tokio::test]
async fn fail_becomes_a_typed_error_with_the_job_code_and_reason() {
    let (server, _) = job_stub(|n| match n {
        1 => running(),
        _ => Reply::json(
            200,
            &json!({
                "job_id": "job-1", "status": "FAIL", "job_type": "failoverProtectionGroupNoCG",
                "error_code": "SDRS.1823", "fail_reason": "Operation not allowed due to a system error"
            }),
        ),
    });
    let err = client(&server.url)
        .wait_job("job-1", &fast(60_000))
        .await
        .unwrap_err();
    match &err {
        Error::JobFailed {
            job_id,
            job_type,
            code,
            reason,
        } => {
            assert_eq!(job_id, "job-1");
            assert_eq!(job_type.as_deref(), Some("failoverProtectionGroupNoCG"));
            assert_eq!(code.as_str(), "SDRS.1823");
            assert_eq!(reason, "Operation not allowed due to a system error");
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.code().as_str(), "SDRS.1823");
    assert!(err.maybe_applied());
}

#[tokio::test]
async fn a_permanent_error_ends_the_wait() {
    let (server, polls) = job_stub(|n| match n {
        1 => running(),
        _ => Reply::json(
            400,
            &json!({"error": {"code": "SDRS.0201", "message": "Invalid job ID"}}),
        ),
    });
    let err = client(&server.url)
        .wait_job("job-1", &fast(60_000))
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "SDRS.0201");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(polls.load(Ordering::SeqCst), 2);
}

/// Polls made while waiting `max_wait_ms` for a job that never leaves RUNNING.
async fn polls_until_timeout(max_wait_ms: u64) -> (usize, Error) {
    let (server, polls) = job_stub(|_| running());
    let err = client(&server.url)
        .wait_job("job-1", &fast(max_wait_ms))
        .await
        .unwrap_err();
    (polls.load(Ordering::SeqCst), err)
}

#[tokio::test]
async fn polls_grow_with_the_logarithm_of_the_wait() {
    let mut counts = Vec::new();
    for max_wait_ms in [64, 256, 1024] {
        let (polls, err) = polls_until_timeout(max_wait_ms).await;
        match &err {
            Error::JobTimeout {
                job_id,
                waited,
                last_status,
            } => {
                assert_eq!(job_id, "job-1");
                assert!(*waited >= Duration::from_millis(max_wait_ms));
                assert_eq!(last_status.as_deref(), Some("RUNNING"));
            }
            other => panic!("{other}"),
        }
        assert_eq!(err.code().as_str(), "JOB.TIMEOUT");
        // Each poll takes time, so a wait makes at most as many polls as its schedule, which is
        // log2(wait / initial) + 1: 7, 9 and 11 here, where polling every millisecond would
        // make 64, 256 and 1024.
        let schedule = fast(max_wait_ms).schedule().len();
        assert!(
            polls <= schedule,
            "{polls} polls for {max_wait_ms} ms (schedule {schedule})"
        );
        assert!(polls >= 3, "only {polls} polls for {max_wait_ms} ms");
        counts.push((max_wait_ms, polls, schedule));
    }
    println!("(max wait ms, polls, schedule length): {counts:?}");
    assert_eq!(counts.iter().map(|c| c.2).collect::<Vec<_>>(), [7, 9, 11]);
}

#[tokio::test]
async fn ecs_jobs_are_polled_on_the_ecs_path_and_fail_with_the_sub_job_code() {
    let (server, _) = job_stub(|n| match n {
        1 => Reply::json(
            200,
            &json!({"job_id": "ecs-1", "status": "RUNNING", "job_type": "batchStopServers"}),
        ),
        _ => Reply::json(
            200,
            &json!({
                "job_id": "ecs-1", "status": "FAIL", "job_type": "batchStopServers",
                "entities": {"sub_jobs_total": 2, "sub_jobs": [
                    {"status": "SUCCESS", "entities": {"server_id": "s-1"}},
                    {"status": "FAIL", "entities": {"server_id": "s-2", "errorcode_message": "busy"},
                     "error_code": "Ecs.0001", "fail_reason": "server busy"}]}
            }),
        ),
    });
    let err = client(&server.url)
        .wait_ecs_job("ecs-1", &fast(60_000))
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "Ecs.0001", "{err}");
    assert!(err.to_string().contains("server busy"), "{err}");
    assert_eq!(
        server.requests()[0].target,
        format!("/v1/{PROJECT}/jobs/ecs-1")
    );
}

#[tokio::test]
async fn the_generic_wait_picks_the_service_and_returns_json() {
    let (server, _) = job_stub(|n| match n {
        1 => running(),
        _ => Reply::json(
            200,
            &json!({"job_id": "job-1", "status": "SUCCESS",
                                       "entities": {"disaster_recovery_drill_id": "drill-9"}}),
        ),
    });
    let ecs =
        CaptureServer::start(|_| Reply::json(200, &json!({"job_id": "e-1", "status": "SUCCESS"})));
    let client = drbook::sdrs::Client::builder(
        drbook::sdrs::Credentials::new("AK", secrecy::SecretString::from("SK"), PROJECT),
        drbook::sdrs::Endpoint::Url(server.url.clone()),
    )
    .ecs_url(ecs.url.clone())
    .build()
    .unwrap();
    let job = client
        .wait_job_json(Service::Sdrs, "job-1", &fast(60_000))
        .await
        .unwrap();
    assert_eq!(job["entities"]["disaster_recovery_drill_id"], "drill-9");
    assert_eq!(job["status"], "SUCCESS");
    let ecs_job = client
        .wait_job_json(Service::Ecs, "e-1", &fast(60_000))
        .await
        .unwrap();
    assert_eq!(ecs_job["job_id"], "e-1");
    assert_eq!(ecs.requests().len(), 1);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn an_invalid_policy_is_refused() {
    let server = CaptureServer::start(|_| running());
    let mut policy = fast(1000);
    policy.initial = Duration::ZERO;
    let err = client(&server.url)
        .wait_job("job-1", &policy)
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "DRBOOK.INVALID_INPUT");
    assert!(server.requests().is_empty());
}
