//! Which operation a request is, using `sdrs::operations::identify` (the one matcher over the one
//! operation table), plus the one distinction it does not make: a path that names an action
//! endpoint whose body selects none of its operations (answered with "invalid action") versus a
//! path no operation has (answered 404).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::sdrs::operations::{self, Body, Method, Operation};

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

fn method_of(text: &str) -> Option<Method> {
    [Method::Get, Method::Post, Method::Put, Method::Delete]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(text))
}

fn params_of(identified: &operations::Identified) -> BTreeMap<&'static str, String> {
    let mut params: BTreeMap<&'static str, String> = identified
        .path_params
        .iter()
        .map(|(name, value)| (*name, value.clone()))
        .collect();
    if let Some(project) = &identified.project_id {
        params.insert("project_id", project.clone());
    }
    params
}

/// A body that selects `op` among operations sharing its path, if `op` is one of those.
fn selecting_body(op: &Operation) -> Option<Value> {
    match op.body {
        Body::Wrapped { key, .. } => {
            let mut map = serde_json::Map::new();
            map.insert(key.to_owned(), Value::Object(serde_json::Map::new()));
            Some(Value::Object(map))
        }
        Body::TopLevel { fixed, .. } if !fixed.is_empty() => {
            let mut map = serde_json::Map::new();
            for (k, v) in fixed {
                map.insert((*k).to_owned(), Value::String((*v).to_owned()));
            }
            Some(Value::Object(map))
        }
        _ => None,
    }
}

/// Routes a request by method, raw path (as received, still percent-encoded) and JSON body.
pub fn route(method: &str, raw_path: &str, body: &Value) -> Route {
    let Some(method) = method_of(method) else {
        return Route::NotFound;
    };
    let body = (!body.is_null()).then_some(body);
    if let Some(identified) = operations::identify(method, raw_path, body) {
        return Route::Found {
            op: identified.operation,
            params: params_of(&identified),
        };
    }
    // Nothing matched: either no operation has this path, or the body selects none of the
    // operations sharing it. Ask `identify` with each such operation's selecting body.
    let mut params = BTreeMap::new();
    let candidates: Vec<&'static Operation> = operations::all()
        .filter(|op| op.method == method)
        .filter_map(|op| {
            let probe = selecting_body(op)?;
            let identified = operations::identify(method, raw_path, Some(&probe))?;
            (identified.operation.name == op.name).then(|| {
                params = params_of(&identified);
                op
            })
        })
        .collect();
    if candidates.is_empty() {
        Route::NotFound
    } else {
        Route::UnknownAction { candidates, params }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request path for an operation, with `x-<name>` for every placeholder.
    fn sample_path(op: &Operation) -> String {
        op.path
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) => format!("x-{name}"),
                    None => s.to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_operation_routes_to_itself() {
        for op in operations::all() {
            if op.name == "show_ecs_job" {
                continue; // the same request as show_job_status
            }
            let path = sample_path(op);
            let body = selecting_body(op).unwrap_or(Value::Null);
            match route(op.method.as_str(), &path, &body) {
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
        assert_eq!(params.get("project_id").map(String::as_str), Some("p"));
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
