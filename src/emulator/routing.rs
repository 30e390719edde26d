//! Which operation a request is: matched against the path templates of
//! `sdrs::operations` (the single operation table), then told apart by body where several
//! operations share a method and path (the four group actions, the two tag batches, ECS stop and
//! start).
//!
//! Seam: the sdrs helper is adding an equivalent matcher to `sdrs::operations`; until it lands
//! this one serves, and it derives everything from the same table.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::sdrs::operations::{self, Body, Operation};

/// The outcome of routing a request.
#[derive(Debug)]
pub enum Route {
    /// One operation matches; `params` holds every `{placeholder}` of its path (including
    /// `project_id`), percent-decoded.
    Found {
        op: &'static Operation,
        params: BTreeMap<&'static str, String>,
    },
    /// The path names an action endpoint but the body selects none of its operations.
    UnknownAction {
        candidates: Vec<&'static Operation>,
        params: BTreeMap<&'static str, String>,
    },
    /// No operation has this method and path.
    NotFound,
}

fn segments(path: &str) -> Vec<&str> {
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    trimmed.split('/').collect()
}

/// Matches a path against a template; returns the captured parameters and the number of literal
/// segments (more literals = more specific: `/protected-instances/tags` beats
/// `/protected-instances/{id}`).
fn capture(
    template: &'static str,
    path: &[&str],
) -> Option<(BTreeMap<&'static str, String>, usize)> {
    let parts = segments(template);
    if parts.len() != path.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut literals = 0;
    for (t, p) in parts.into_iter().zip(path) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => {
                if p.is_empty() {
                    return None;
                }
                params.insert(name, percent_decode_str(p).decode_utf8_lossy().into_owned());
            }
            None if t == *p => literals += 1,
            None => return None,
        }
    }
    Some((params, literals))
}

/// Whether a body selects this operation among others sharing its path.
fn body_selects(op: &Operation, body: &Value) -> bool {
    match op.body {
        Body::Wrapped { key, .. } => body.get(key).is_some(),
        Body::TopLevel { fixed, .. } => fixed
            .iter()
            .all(|(k, v)| body.get(*k).and_then(Value::as_str) == Some(*v)),
        Body::None => true,
    }
}

/// Routes a request by method, raw path (as received, still percent-encoded) and JSON body.
pub fn route(method: &str, raw_path: &str, body: &Value) -> Route {
    let path = segments(raw_path);
    let mut best: Vec<(&'static Operation, BTreeMap<&'static str, String>)> = Vec::new();
    let mut best_score = 0;
    for op in operations::all() {
        if !op.method.as_str().eq_ignore_ascii_case(method) {
            continue;
        }
        let Some((params, score)) = capture(op.path, &path) else {
            continue;
        };
        if best.is_empty() || score > best_score {
            best = vec![(op, params)];
            best_score = score;
        } else if score == best_score {
            best.push((op, params));
        }
    }
    match best.len() {
        0 => Route::NotFound,
        1 => {
            let (op, params) = best.remove(0);
            Route::Found { op, params }
        }
        _ => {
            // Operations without a body share a path only as aliases (show_job_status and
            // show_ecs_job): the first, in table order, answers.
            if best.iter().all(|(op, _)| matches!(op.body, Body::None)) {
                let (op, params) = best.remove(0);
                return Route::Found { op, params };
            }
            let params = best[0].1.clone();
            match best.iter().position(|(op, _)| body_selects(op, body)) {
                Some(i) => {
                    let (op, params) = best.remove(i);
                    Route::Found { op, params }
                }
                None => Route::UnknownAction {
                    candidates: best.into_iter().map(|(op, _)| op).collect(),
                    params,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request path for an operation, with `x-<name>` for every placeholder.
    fn sample_path(op: &Operation) -> String {
        segments(op.path)
            .iter()
            .map(
                |s| match s.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) => format!("x-{name}"),
                    None => (*s).to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    fn sample_body(op: &Operation) -> Value {
        match op.body {
            Body::Wrapped { key, .. } => json!({ key: {} }),
            Body::TopLevel { fixed, .. } => {
                let mut map = serde_json::Map::new();
                for (k, v) in fixed {
                    map.insert((*k).to_owned(), json!(v));
                }
                Value::Object(map)
            }
            Body::None => Value::Null,
        }
    }

    #[test]
    fn every_operation_routes_to_itself() {
        for op in operations::all() {
            if op.name == "show_ecs_job" {
                continue; // alias of show_job_status
            }
            let path = sample_path(op);
            match route(op.method.as_str(), &path, &sample_body(op)) {
                Route::Found { op: found, params } => {
                    assert_eq!(found.name, op.name, "{path}");
                    for p in op.path_params {
                        assert_eq!(params.get(p.name), Some(&format!("x-{}", p.name)));
                    }
                }
                other => panic!("{} {path}: {other:?}", op.name),
            }
        }
    }

    #[test]
    fn literal_segments_beat_placeholders() {
        let Route::Found { op, .. } = route("GET", "/v1/p/protected-instances/tags", &Value::Null)
        else {
            panic!("not found");
        };
        assert_eq!(op.name, "list_protected_instances_project_tags");
        let Route::Found { op, .. } = route(
            "DELETE",
            "/v1/p/task-center/failure-jobs/batch",
            &Value::Null,
        ) else {
            panic!("not found");
        };
        assert_eq!(op.name, "delete_all_server_group_failure_jobs");
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        let Route::Found { params, .. } = route(
            "DELETE",
            "/v1/p/protected-instances/pi-1/tags/env%20name%3A1",
            &Value::Null,
        ) else {
            panic!("not found");
        };
        assert_eq!(params.get("key").map(String::as_str), Some("env name:1"));
    }

    #[test]
    fn an_action_body_that_selects_nothing_is_reported() {
        match route(
            "POST",
            "/v1/p/server-groups/g/action",
            &json!({"explode-server-group": {}}),
        ) {
            Route::UnknownAction { candidates, params } => {
                assert_eq!(candidates.len(), 4);
                assert_eq!(params.get("server_group_id").map(String::as_str), Some("g"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_not_found() {
        assert!(matches!(
            route("GET", "/v1/p/nothing", &Value::Null),
            Route::NotFound
        ));
        assert!(matches!(
            route("PATCH", "/v1/p/server-groups/g", &Value::Null),
            Route::NotFound
        ));
    }
}
