//! The HTTP side: the listener and its connections, the request pipeline of the emulated
//! services (route → authenticate → faults → handler → call log), and the job driver.
//!
//! Connections are served one by one with hyper instead of `axum::serve`, because the
//! `drop_after_apply` fault must close a connection without answering, which only the owner of
//! the connection can do. The axum router still does the routing (`/_emulator/*` for the admin
//! API, everything else to the SDRS/ECS pipeline).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use jiff::Timestamp;
use secrecy::SecretString;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower_service::Service;

use super::api::{self, ApiError, Call, Ctx, JobFate, Reply};
use super::calls::{CallLog, CallRecord, Outcome};
use super::clock::Clock;
use super::faults::{FaultAction, FaultSet};
use super::jobs::{self, JobService};
use super::persist::StateFile;
use super::routing::{self, Route};
use super::world::World;
use crate::sdrs::operations::{Effect as OpEffect, Operation};
use crate::sdrs::signer::{self, ClockCheck, SignableRequest};

/// Largest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Everything the request handlers and the job driver share.
pub struct Shared {
    pub project_id: String,
    pub access_key: String,
    pub(super) secret_key: SecretString,
    pub clock: Clock,
    pub world: Mutex<World>,
    pub faults: Mutex<FaultSet>,
    pub calls: Mutex<CallLog>,
    /// Job latency in emulated nanoseconds.
    latency_nanos: AtomicU64,
    /// Wakes the job driver when jobs or the clock changed.
    pub wake_driver: Notify,
    pub state_file: Option<StateFile>,
    /// Number of the last world snapshot taken for the state file.
    snapshot_version: AtomicU64,
    /// Reject signatures whose `X-Sdk-Date` is more than 15 minutes off.
    pub check_clock: bool,
}

/// Locks a mutex, recovering the data if another thread panicked while holding it: the
/// emulator's state stays consistent at every await point, so it remains usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    #[expect(clippy::too_many_arguments, reason = "one constructor for one struct")]
    pub fn new(
        project_id: String,
        access_key: String,
        secret_key: SecretString,
        clock: Clock,
        world: World,
        faults: FaultSet,
        latency: Duration,
        state_file: Option<StateFile>,
        check_clock: bool,
    ) -> Self {
        Self {
            project_id,
            access_key,
            secret_key,
            clock,
            world: Mutex::new(world),
            faults: Mutex::new(faults),
            calls: Mutex::new(CallLog::default()),
            latency_nanos: AtomicU64::new(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX)),
            wake_driver: Notify::new(),
            state_file,
            snapshot_version: AtomicU64::new(0),
            check_clock,
        }
    }

    pub fn job_latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    pub fn set_job_latency(&self, latency: Duration) {
        self.latency_nanos.store(
            u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Serialises the world for the state file (call with the world locked). `None` when the
    /// emulator has no state file.
    pub fn snapshot(&self, world: &World) -> Option<(u64, Vec<u8>)> {
        self.state_file.as_ref()?;
        let version = self.snapshot_version.fetch_add(1, Ordering::SeqCst) + 1;
        match serde_json::to_vec_pretty(world) {
            Ok(bytes) => Some((version, bytes)),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise the emulator state");
                None
            }
        }
    }

    /// Writes a snapshot to the state file on a blocking thread and waits for it.
    pub async fn persist(self: &Arc<Self>, snapshot: Option<(u64, Vec<u8>)>) {
        let Some((version, bytes)) = snapshot else {
            return;
        };
        let shared = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            shared
                .state_file
                .as_ref()
                .map_or(Ok(()), |f| f.save(version, &bytes))
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot save the emulator state"),
            Err(e) => tracing::error!(error = %e, "the state writer panicked"),
        }
    }

    fn log(&self, record: CallRecord) {
        lock(&self.calls).push(record);
    }
}

/// Per-connection facts, handed to every request of the connection.
#[derive(Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// Notified to close the connection without answering (`drop_after_apply`).
    pub abort: Arc<Notify>,
}

/// Accepts connections until `shutdown` turns true, then lets open connections finish (at most
/// a few seconds).
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // Request/response latency matters more than packet counts on loopback.
                let _ = stream.set_nodelay(true);
                let abort = Arc::new(Notify::new());
                let info = ConnInfo { peer, abort: Arc::clone(&abort) };
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                    req.extensions_mut().insert(info.clone());
                    let mut router = router.clone();
                    async move {
                        let response: Result<Response, Infallible> =
                            router.call(req.map(Body::new)).await;
                        response
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    tokio::select! {
                        result = conn => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        }
                        // Dropping the connection closes the socket without a response.
                        () = abort.notified() => {}
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}

/// Moves due jobs forward, sleeping until the next job change, a wake-up or shutdown.
pub async fn drive_jobs(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let (next, snapshot) = {
            let mut world = lock(&shared.world);
            let changed = jobs::settle(&mut world, shared.clock.now());
            let snapshot = if changed {
                shared.snapshot(&world)
            } else {
                None
            };
            (jobs::next_change(&world), snapshot)
        };
        shared.persist(snapshot).await;
        let wait = next.map(|t| shared.clock.real_until(t));
        tokio::select! {
            () = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => {}
            () = shared.wake_driver.notified() => {}
            _ = shutdown.changed() => break,
        }
    }
}

fn json_response(status: u16, body: Option<&Value>, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match body {
        Some(v) => (status, v.to_string()).into_response(),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    if body.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", v);
    }
    response
}

fn error_response(error: &ApiError, request_id: &str) -> Response {
    json_response(error.http_status, Some(&error.body(request_id)), request_id)
}

/// Percent-decoded query pairs, in order. A `+` stays a `+` (the SDKs encode spaces as `%20`).
fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// Every id a request mentions (path ids, ids in the body), for fault rules with `resource`.
fn mentioned_ids(
    params: &std::collections::BTreeMap<&'static str, String>,
    body: &Value,
) -> Vec<String> {
    let mut ids: Vec<String> = params
        .iter()
        .filter(|(k, _)| !matches!(**k, "project_id" | "api_version" | "key"))
        .map(|(_, v)| v.clone())
        .collect();
    fn walk(v: &Value, ids: &mut Vec<String>, depth: usize) {
        if depth > 3 {
            return;
        }
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(s) if k == "id" || k.ends_with("_id") => ids.push(s.clone()),
                        _ => walk(v, ids, depth + 1),
                    }
                }
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, ids, depth + 1)),
            _ => {}
        }
    }
    walk(body, &mut ids, 0);
    ids
}

/// The path id a call is about, for the call log.
fn path_resource(params: &std::collections::BTreeMap<&'static str, String>) -> Option<String> {
    [
        "server_group_id",
        "protected_instance_id",
        "replication_id",
        "disaster_recovery_drill_id",
        "job_id",
        "failure_job_id",
        "server_id",
    ]
    .iter()
    .find_map(|k| params.get(k).cloned())
}

/// Checks the signature, the signing time, `X-Project-Id` and the project in the path.
fn authenticate(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: &[u8],
    path_project: Option<&str>,
) -> Result<(), ApiError> {
    let unauthorized = |message: String| ApiError::gateway(401, "APIGW.0301", message);
    let request = SignableRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
    };
    let clock = if shared.check_clock {
        ClockCheck::Within {
            now: Timestamp::now(),
            max_skew: signer::DEFAULT_MAX_CLOCK_SKEW,
        }
    } else {
        ClockCheck::Skip
    };
    signer::verify(
        &request,
        |ak| (ak == shared.access_key).then(|| shared.secret_key.clone()),
        clock,
    )
    .map_err(|e| {
        tracing::debug!(reason = %e, "signature refused");
        unauthorized(e.gateway_message())
    })?;
    let header_project = parts
        .headers
        .get("x-project-id")
        .and_then(|v| v.to_str().ok());
    if header_project != Some(shared.project_id.as_str()) {
        return Err(unauthorized(format!(
            "Incorrect IAM authentication information: X-Project-Id {} does not match the credentials' project",
            header_project.unwrap_or("(missing)")
        )));
    }
    if let Some(p) = path_project
        && p != shared.project_id
    {
        return Err(unauthorized(format!(
            "Incorrect IAM authentication information: project {p} is not the credentials' project"
        )));
    }
    Ok(())
}

/// The SDRS / ECS request pipeline (the router's fallback).
pub async fn service_entry(
    State(shared): State<Arc<Shared>>,
    axum::Extension(conn): axum::Extension<ConnInfo>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = jobs::new_job_id();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let record = |operation: Option<&str>,
                  resource: Option<String>,
                  mutating: bool,
                  status: u16,
                  code: Option<String>,
                  outcome: Outcome| CallRecord {
        seq: 0,
        time: shared.clock.now(),
        operation: operation.map(str::to_owned),
        method: method.clone(),
        path: path.clone(),
        resource_id: resource,
        mutating,
        status,
        error_code: code,
        outcome,
    };
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::invalid("the request body is too large or unreadable");
            shared.log(record(
                None,
                None,
                false,
                e.http_status,
                Some(e.code.clone()),
                Outcome::Error,
            ));
            return error_response(&e, &request_id);
        }
    };
    let parsed: Result<Value, String> = if bytes.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    let body_for_routing = parsed.as_ref().cloned().unwrap_or(Value::Null);

    let (op, params) = match routing::route(&method, &path, &body_for_routing) {
        Route::NotFound => {
            let e = ApiError::gateway(
                404,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
            );
            shared.log(record(
                None,
                None,
                false,
                404,
                Some(e.code.clone()),
                Outcome::Error,
            ));
            return error_response(&e, &request_id);
        }
        Route::UnknownAction { candidates, params } => {
            let resource = path_resource(&params);
            let mutating = candidates.iter().any(|c| c.effect == OpEffect::Mutating);
            if let Err(e) = authenticate(
                &shared,
                &parts,
                &bytes,
                params.get("project_id").map(String::as_str),
            ) {
                shared.log(record(
                    None,
                    resource,
                    mutating,
                    401,
                    Some(e.code.clone()),
                    Outcome::Unauthorized,
                ));
                return error_response(&e, &request_id);
            }
            let e = unknown_action(&candidates);
            shared.log(record(
                None,
                resource,
                mutating,
                e.http_status,
                Some(e.code.clone()),
                Outcome::Error,
            ));
            return error_response(&e, &request_id);
        }
        Route::Found { op, params } => (op, params),
    };
    let mutating = op.effect == OpEffect::Mutating;
    let resource = path_resource(&params);

    if let Err(e) = authenticate(
        &shared,
        &parts,
        &bytes,
        params.get("project_id").map(String::as_str),
    ) {
        shared.log(record(
            Some(op.name),
            resource,
            mutating,
            401,
            Some(e.code.clone()),
            Outcome::Unauthorized,
        ));
        return error_response(&e, &request_id);
    }
    let body = match parsed {
        Ok(v) => v,
        Err(reason) => {
            let e = ApiError::invalid(format!("the request body is not JSON: {reason}"));
            shared.log(record(
                Some(op.name),
                resource,
                mutating,
                e.http_status,
                Some(e.code.clone()),
                Outcome::Error,
            ));
            return error_response(&e, &request_id);
        }
    };

    let decision =
        lock(&shared.faults).evaluate(op.name, &mentioned_ids(&params, &body), op.returns_job);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    if let Some(action) = &decision.respond {
        let e = match action {
            FaultAction::Error {
                http_status,
                code,
                message,
            } => ApiError::custom(
                *http_status,
                code,
                message
                    .clone()
                    .unwrap_or_else(|| format!("injected fault {code}")),
            ),
            _ => ApiError::gateway(
                429,
                "APIGW.0308",
                "The throttling threshold has been reached: policy user over ratelimit",
            ),
        };
        shared.log(record(
            Some(op.name),
            resource,
            mutating,
            e.http_status,
            Some(e.code.clone()),
            Outcome::Error,
        ));
        return error_response(&e, &request_id);
    }

    let query = query_pairs(parts.uri.query().unwrap_or(""));
    let (result, logged_name, resource, snapshot, submitted) = {
        let mut world = lock(&shared.world);
        let now = shared.clock.now();
        // Jobs that came due since the driver last ran finish before this request sees them.
        let settled_before = jobs::settle(&mut world, now);
        let call = Call {
            op,
            params: &params,
            query: &query,
            body: &body,
        };
        let mut ctx = Ctx {
            world: &mut world,
            now,
            latency: shared.job_latency(),
            fate: JobFate {
                hang: decision.job_hang,
                failure: decision
                    .job_fail
                    .as_ref()
                    .map(|(code, reason)| super::effects::planned_failure(code, reason)),
            },
            resource: None,
            submitted: false,
        };
        let result = api::dispatch(&call, &mut ctx);
        let resource = ctx.resource.take().or(resource);
        let submitted = ctx.submitted;
        // Zero-latency jobs finish before the response leaves.
        let settled = settled_before | (submitted && jobs::settle(&mut world, shared.clock.now()));
        let logged_name = logged_operation(op, &world, &params);
        let snapshot = if (mutating && result.is_ok()) || settled {
            shared.snapshot(&world)
        } else {
            None
        };
        (result, logged_name, resource, snapshot, submitted)
    };
    if submitted {
        shared.wake_driver.notify_one();
    }
    shared.persist(snapshot).await;

    let (status, body, code) = match &result {
        Ok(Reply::Json(v)) => (op.success_status, Some(v.clone()), None),
        Ok(Reply::Empty) => (op.success_status, None, None),
        Err(e) => (
            e.http_status,
            Some(e.body(&request_id)),
            Some(e.code.clone()),
        ),
    };
    if decision.drop_after_apply {
        shared.log(record(
            Some(logged_name),
            resource,
            mutating,
            status,
            code,
            Outcome::Dropped,
        ));
        conn.abort.notify_one();
        // The connection task drops this request with the connection; never answer.
        return std::future::pending().await;
    }
    let outcome = if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    shared.log(record(
        Some(logged_name),
        resource,
        mutating,
        status,
        code,
        outcome,
    ));
    json_response(status, body.as_ref(), &request_id)
}

/// `show_job_status` and `show_ecs_job` share a path; the log names the one whose job it is.
fn logged_operation(
    op: &'static Operation,
    world: &World,
    params: &std::collections::BTreeMap<&'static str, String>,
) -> &'static str {
    if op.name == "show_job_status"
        && let Some(job) = params.get("job_id").and_then(|id| world.jobs.get(id))
        && job.service == JobService::Ecs
    {
        return "show_ecs_job";
    }
    op.name
}

/// The error for an action endpoint whose body names no known action.
fn unknown_action(candidates: &[&'static Operation]) -> ApiError {
    if candidates.iter().any(|c| c.name == "batch_add_tags") {
        ApiError::sdrs("SDRS.2201", "action only create or delete")
    } else if candidates.iter().any(|c| c.name == "batch_stop_servers") {
        ApiError::custom(400, "Ecs.0005", "the body must hold os-stop or os-start")
    } else {
        let keys: Vec<String> = candidates
            .iter()
            .filter_map(|c| match c.body {
                crate::sdrs::operations::Body::Wrapped { key, .. } => Some(format!("`{key}`")),
                _ => None,
            })
            .collect();
        ApiError::sdrs(
            "SDRS.0206",
            format!(
                "invalid action: the body must hold one of {}",
                keys.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_pairs_decode_and_keep_plus() {
        assert_eq!(
            query_pairs("name=web%2001&a=1+2&flag"),
            vec![
                ("name".into(), "web 01".into()),
                ("a".into(), "1+2".into()),
                ("flag".into(), String::new())
            ]
        );
    }

    #[test]
    fn ids_are_found_in_paths_and_bodies() {
        let mut params = std::collections::BTreeMap::new();
        params.insert("project_id", "p".to_owned());
        params.insert("server_group_id", "g".to_owned());
        let body = json!({"protected_instance": {"server_id": "s", "name": "n"},
                          "servers": [{"id": "a"}]});
        let mut ids = mentioned_ids(&params, &body);
        ids.sort();
        assert_eq!(ids, ["a", "g", "s"]);
    }
}
