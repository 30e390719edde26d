//! The admin API under `/_emulator/`: unsigned, for tests and demos, and refused to any peer that
//! is not on loopback.
//!
//! - `GET /_emulator/calls[?operation=&resource=&since=]`: the call log.
//! - `GET /_emulator/faults`, `POST /_emulator/faults` (one rule or a list),
//!   `DELETE /_emulator/faults` (all), `DELETE /_emulator/faults/{id}`.
//! - `GET /_emulator/state`: the world as JSON.
//! - `GET /_emulator/config`, `POST /_emulator/config {"job_latency": "2s", "time_scale": 10}`.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::calls::CallFilter;
use super::clock::validate_scale;
use super::faults::{FaultRule, friendly_duration};
use super::jobs;
use super::server::{ConnInfo, Shared, lock};

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn loopback_only(
    Extension(conn): Extension<ConnInfo>,
    request: Request,
    next: Next,
) -> Response {
    if !conn.peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "the emulator's admin API only answers loopback clients" })),
        )
            .into_response();
    }
    next.run(request).await
}

async fn calls(State(shared): State<Arc<Shared>>, Query(filter): Query<CallFilter>) -> Response {
    Json(lock(&shared.calls).query(&filter)).into_response()
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(lock(&shared.faults).list()).into_response()
}

async fn add_faults(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    let list = match body {
        Value::Array(list) => list,
        one => vec![one],
    };
    let mut rules = Vec::new();
    for item in list {
        match serde_json::from_value::<FaultRule>(item) {
            Ok(rule) => rules.push(rule),
            Err(e) => return bad_request(format!("invalid fault rule: {e}")),
        }
    }
    let mut faults = lock(&shared.faults);
    let mut ids = Vec::new();
    for rule in rules {
        match faults.add(rule) {
            Ok(id) => ids.push(id),
            Err(e) => return bad_request(e.to_string()),
        }
    }
    Json(json!({ "ids": ids })).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.faults).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn remove_fault(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if lock(&shared.faults).remove(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no fault {id}") })),
        )
            .into_response()
    }
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let (value, snapshot) = {
        let mut world = lock(&shared.world);
        let changed = jobs::settle(&mut world, shared.clock.now());
        let snapshot = if changed {
            shared.snapshot(&world)
        } else {
            None
        };
        (serde_json::to_value(&*world), snapshot)
    };
    shared.persist(snapshot).await;
    match value {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn config_json(shared: &Shared) -> Value {
    json!({
        "project_id": shared.project_id,
        "job_latency": friendly_duration::format(shared.job_latency()),
        "time_scale": shared.clock.scale(),
    })
}

async fn get_config(State(shared): State<Arc<Shared>>) -> Response {
    Json(config_json(&shared)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigUpdate {
    /// Latency of new jobs, in friendly form (`0s`, `2s`).
    #[serde(default)]
    job_latency: Option<String>,
    /// Emulated seconds per real second.
    #[serde(default)]
    time_scale: Option<f64>,
}

async fn set_config(
    State(shared): State<Arc<Shared>>,
    Json(update): Json<ConfigUpdate>,
) -> Response {
    let latency = match update.job_latency.as_deref().map(friendly_duration::parse) {
        Some(Err(e)) => return bad_request(format!("job_latency: {e}")),
        Some(Ok(d)) => Some(d),
        None => None,
    };
    let scale = match update.time_scale.map(validate_scale) {
        Some(Err(e)) => return bad_request(e),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    if let Some(d) = latency {
        shared.set_job_latency(d);
    }
    if let Some(s) = scale {
        shared.clock.set_scale(s);
        shared.wake_driver.notify_one();
    }
    Json(config_json(&shared)).into_response()
}

/// The admin routes, with the loopback guard.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/calls", get(calls))
        .route(
            "/_emulator/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/_emulator/faults/{id}", delete(remove_fault))
        .route("/_emulator/state", get(state))
        .route("/_emulator/config", get(get_config).post(set_config))
        .route_layer(middleware::from_fn(loopback_only))
}
