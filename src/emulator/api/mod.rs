//! The emulated APIs: one handler per SDK operation, grouped by API area as in the reference
//! (`protection_groups.rs` is 5.4, `protected_instances.rs` 5.5, ...), plus the ECS subset.
//!
//! A handler runs with the world locked: it validates the request, checks the rule tables,
//! moves resources into their transitional statuses, and records a job whose effect finishes
//! the work (see `jobs` and `effects`). It returns the body of the success response, or an
//! [`ApiError`] that becomes the error response the real service would send.

mod drills;
mod ecs;
mod misc;
mod protected_instances;
mod protection_groups;
mod replications;
mod tags;
mod task_center;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::jobs::{self, Effect, Job, JobService, Schedule, SubJob};
use super::world::World;
use crate::sdrs::error::{ErrorBody, ErrorCode};
use crate::sdrs::operations::{Body, Kind, Operation};

/// How an error body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error": {"code": .., "message": ..}}`: SDRS and ECS errors.
    Service,
    /// `{"error_msg": .., "error_code": .., "request_id": ..}`: the API gateway (APIGW.*).
    Gateway,
    /// `{"itemNotFound": {"code": .., "message": ..}}`: an unknown API version (5.2.2).
    ItemNotFound,
}

/// An error response of the emulated service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http_status: u16,
    pub code: String,
    pub message: String,
    pub shape: ErrorShape,
}

/// The HTTP status appendix A.1 gives an SDRS error code (400 for codes it does not list).
pub fn http_status_of(code: &str) -> u16 {
    ErrorCode::new(code)
        .reference()
        .map_or(400, |r| r.http_status)
}

impl ApiError {
    /// An SDRS error with the HTTP status appendix A.1 gives its code.
    pub fn sdrs(code: &str, message: impl Into<String>) -> Self {
        Self {
            http_status: http_status_of(code),
            code: code.to_owned(),
            message: message.into(),
            shape: ErrorShape::Service,
        }
    }

    /// SDRS.0201 "Invalid request parameters".
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::sdrs("SDRS.0201", message)
    }

    /// SDRS.0013 "Internal error": a bug of the emulator, not a refusal.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::sdrs("SDRS.0013", message)
    }

    /// An error of the API gateway (authentication, throttling, unknown API).
    pub fn gateway(http_status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            http_status,
            code: code.to_owned(),
            message: message.into(),
            shape: ErrorShape::Gateway,
        }
    }

    /// An error with a free HTTP status (fault injection, ECS).
    pub fn custom(http_status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            http_status,
            code: code.to_owned(),
            message: message.into(),
            shape: ErrorShape::Service,
        }
    }

    /// The response body, in the shared error-body model of `sdrs::error`.
    pub fn body(&self, request_id: &str) -> Value {
        let body = match self.shape {
            ErrorShape::Service => ErrorBody::Sdrs {
                code: self.code.clone(),
                message: self.message.clone(),
            },
            ErrorShape::Gateway => ErrorBody::Gateway {
                code: self.code.clone(),
                message: self.message.clone(),
                request_id: Some(request_id.to_owned()),
            },
            ErrorShape::ItemNotFound => ErrorBody::Named {
                name: "itemNotFound".to_owned(),
                code: self.code.clone(),
                message: self.message.clone(),
            },
        };
        body.to_json()
    }
}

/// The live service answers an unknown id with HTTP 400 and the resource's "not found" code
/// (terraform-client.md §4).
pub fn not_found(code: &str, what: &str, id: &str) -> ApiError {
    ApiError::sdrs(code, format!("{what} {id} not found"))
}

/// A routed request.
#[derive(Debug)]
pub struct Call<'a> {
    pub op: &'static Operation,
    /// Path parameters, percent-decoded, by name.
    pub params: &'a BTreeMap<&'static str, String>,
    /// Query parameters, percent-decoded, in the order sent.
    pub query: &'a [(String, String)],
    /// The JSON body (`Null` when there is none).
    pub body: &'a Value,
}

impl Call<'_> {
    /// A path parameter (always present once routed).
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::internal(format!("path parameter {name} missing")))
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The object holding the operation's body fields: `body[key]` for a wrapped body, the
    /// body itself for a top-level one. A missing body counts as `{}`.
    pub fn fields(&self) -> Result<Map<String, Value>, ApiError> {
        let at_top = match self.body {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            _ => return Err(ApiError::invalid("the request body must be a JSON object")),
        };
        match self.op.body {
            Body::Wrapped { key, fields } => match at_top.get(key) {
                Some(Value::Object(inner)) => Ok(inner.clone()),
                Some(_) => Err(ApiError::invalid(format!("`{key}` must be a JSON object"))),
                // A wrapper whose fields are all optional may be left out (the Python SDK
                // sends no body when the caller passes none).
                None if fields.iter().all(|p| !p.required) => Ok(Map::new()),
                None => Err(ApiError::invalid(format!(
                    "the request body needs a `{key}` object"
                ))),
            },
            Body::TopLevel { .. } | Body::None => Ok(at_top),
        }
    }
}

/// Decodes the body into the operation's request model from `sdrs::models` (after
/// [`validate_body`] checked it against the operation table). A missing body, or a missing
/// wrapper whose fields are all optional, reads as empty.
pub fn decode<T: serde::de::DeserializeOwned>(call: &Call<'_>) -> Result<T, ApiError> {
    let mut body = match call.body {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    };
    if let (Body::Wrapped { key, fields }, Value::Object(map)) = (call.op.body, &mut body)
        && !map.contains_key(key)
        && fields.iter().all(|p| !p.required)
    {
        map.insert(key.to_owned(), Value::Object(Map::new()));
    }
    serde_json::from_value(body)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

/// Checks a body against the operation table: every required field present, every field of
/// the declared JSON type. Errors say which field is wrong.
pub fn validate_body(op: &Operation, call: &Call<'_>) -> Result<(), ApiError> {
    if matches!(op.body, Body::None) {
        return Ok(());
    }
    let fields = call.fields()?;
    let prefix = match op.body {
        Body::Wrapped { key, .. } => format!("{key}."),
        _ => String::new(),
    };
    for param in op.body.fields() {
        let value = fields.get(param.name);
        let present = value.is_some_and(|v| !v.is_null());
        if !present {
            if param.required {
                return Err(ApiError::invalid(format!(
                    "{prefix}{} is required",
                    param.name
                )));
            }
            continue;
        }
        let Some(value) = value else { continue };
        let ok = match param.kind {
            Kind::String => value.is_string(),
            // Some clients send numbers as strings (the by-tags `limit`/`offset` are strings in
            // the SDK, numbers in Terraform); handlers parse those themselves.
            Kind::Integer => value.is_i64() || value.is_u64() || value.is_f64(),
            Kind::Boolean => value.is_boolean(),
            Kind::StringList => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::Object => value.is_object(),
            Kind::ObjectList => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_object)),
        };
        // The tag query's string-typed limit/offset also accept numbers.
        let lenient = matches!(param.kind, Kind::String) && value.is_number();
        if !ok && !lenient {
            return Err(ApiError::invalid(format!(
                "{prefix}{} must be {}",
                param.name,
                kind_text(param.kind)
            )));
        }
    }
    Ok(())
}

fn kind_text(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "a string",
        Kind::Integer => "an integer",
        Kind::Boolean => "a boolean",
        Kind::StringList => "a list of strings",
        Kind::Object => "a JSON object",
        Kind::ObjectList => "a list of JSON objects",
    }
}

/// Name rule of the reference (5.4.1 table 5-9 and the other `name` fields): at most 64 bytes of
/// letters (CJK included), digits, `.`, `_` and `-`. A.1 SDRS.0202 "Invalid name".
pub fn check_name(name: &str, max_bytes: usize) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > max_bytes
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ApiError::sdrs(
            "SDRS.0202",
            format!(
                "invalid name `{name}`: 1 to {max_bytes} bytes of letters, digits, `.`, `_` and `-`"
            ),
        ));
    }
    Ok(())
}

/// Description rule: at most 64 bytes, no `<` or `>`. A.1 SDRS.0212 "Invalid description".
pub fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    if let Some(d) = description
        && (d.len() > 64 || d.contains(['<', '>']))
    {
        return Err(ApiError::sdrs(
            "SDRS.0212",
            "invalid description: at most 64 bytes, without `<` or `>`",
        ));
    }
    Ok(())
}

/// `limit` and `offset` of a listing: limit 1..=1000 (default 1000, A.1 SDRS.0221), offset a
/// non-negative integer (default 0, A.1 SDRS.0222).
pub fn page(call: &Call<'_>) -> Result<(usize, usize), ApiError> {
    page_of(call.query("limit"), call.query("offset"))
}

/// [`page`] from raw values.
pub fn page_of(limit: Option<&str>, offset: Option<&str>) -> Result<(usize, usize), ApiError> {
    let limit = match limit {
        None => 1000,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) => usize::try_from(n).unwrap_or(1000),
            _ => {
                return Err(ApiError::sdrs(
                    "SDRS.0221",
                    format!("limit `{text}`: limit value must be greater than 0 or less than 1000"),
                ));
            }
        },
    };
    let offset = match offset {
        None => 0,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Err(_) => {
                return Err(ApiError::sdrs(
                    "SDRS.0222",
                    format!(
                        "offset `{text}`: offset value cannot be negative, and must be an integer"
                    ),
                ));
            }
        },
    };
    Ok((limit, offset))
}

/// One page of `items` and the total count. An offset beyond the end is an empty page, never an
/// error (Terraform pages until it gets one).
pub fn paginate<T>(items: Vec<T>, limit: usize, offset: usize) -> (Vec<T>, usize) {
    let total = items.len();
    (items.into_iter().skip(offset).take(limit).collect(), total)
}

/// Fuzzy name filter of the listings ("supports fuzzy query"): a case-insensitive substring.
pub fn name_matches(name: &str, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| name.to_lowercase().contains(&f.to_lowercase()))
}

/// An id list query parameter (`server_group_ids`, `protected_instance_ids`): the reference
/// writes `['id1','id2']` URL-encoded, its example sends `["id1","id2"]`, and some callers pass
/// `id1,id2`; all three are accepted. At most 30 ids (A.1 SDRS.0226).
pub fn id_list(name: &str, text: &str) -> Result<Vec<String>, ApiError> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(trimmed);
    let ids: Vec<String> = inner
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.len() > 30 {
        return Err(ApiError::sdrs(
            "SDRS.0226",
            format!("{name} lists {} ids; at most 30 are allowed", ids.len()),
        ));
    }
    Ok(ids)
}

/// What a handler returns on success: a JSON body or no body, with the operation's success
/// status (200, 202 or 204) from the operation table.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Json(Value),
    Empty,
}

/// The job behaviour fault injection asks for.
#[derive(Debug, Clone, Default)]
pub struct JobFate {
    pub hang: bool,
    pub failure: Option<jobs::PlannedFailure>,
}

/// What a handler works with.
pub struct Ctx<'a> {
    pub world: &'a mut World,
    pub now: Timestamp,
    pub latency: std::time::Duration,
    pub fate: JobFate,
    /// The resource the call created or acted on, for the call log (set by creating handlers).
    pub resource: Option<String>,
    /// Whether any job was submitted (the job driver must look at it).
    pub submitted: bool,
}

impl Ctx<'_> {
    fn schedule(&self) -> Schedule {
        Schedule {
            now: self.now,
            latency: self.latency,
            hang: self.fate.hang,
            failure: self.fate.failure.clone(),
        }
    }

    /// Records a job and returns `{"job_id": ...}`.
    pub fn submit(&mut self, op: &Operation, spec: NewJob) -> Value {
        let mut job: Job = jobs::new_job(
            op.name,
            spec.service,
            spec.job_type,
            spec.entities,
            spec.effect,
            &self.schedule(),
        );
        job.strings_only = spec.strings_only;
        job.sub_jobs = spec.sub_jobs;
        let id = job.id.clone();
        self.world.jobs.insert(job);
        self.submitted = true;
        super::views::to_json(&crate::sdrs::models::JobResponse { job_id: id })
    }
}

/// A job a handler submits.
pub struct NewJob {
    service: JobService,
    job_type: &'static str,
    entities: BTreeMap<String, String>,
    effect: Effect,
    strings_only: bool,
    sub_jobs: Vec<SubJob>,
}

impl NewJob {
    /// An SDRS job of the reference's `job_type`.
    pub fn sdrs(
        job_type: &'static str,
        entities: BTreeMap<String, String>,
        effect: Effect,
    ) -> Self {
        Self {
            service: JobService::Sdrs,
            job_type,
            entities,
            effect,
            strings_only: false,
            sub_jobs: Vec::new(),
        }
    }

    /// An ECS job.
    pub fn ecs(job_type: &'static str, entities: BTreeMap<String, String>, effect: Effect) -> Self {
        Self {
            service: JobService::Ecs,
            ..Self::sdrs(job_type, entities, effect)
        }
    }

    /// Keep every `entities` value a string, without `sub_jobs` (drill and attach jobs, which
    /// Terraform decodes into `map[string]string`).
    pub fn strings_only(mut self) -> Self {
        self.strings_only = true;
        self
    }

    pub fn with_sub_jobs(mut self, sub_jobs: Vec<SubJob>) -> Self {
        self.sub_jobs = sub_jobs;
        self
    }
}

/// Runs the handler of an operation.
pub fn dispatch(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    validate_body(call.op, call)?;
    match call.op.name {
        "show_job_status" | "show_ecs_job" => misc::show_job(call, ctx),
        "list_api_versions" => misc::list_api_versions(call, ctx),
        "show_specified_api_version" => misc::show_api_version(call, ctx),
        "list_active_active_domains" => misc::list_domains(call, ctx),
        "show_quota" => misc::show_quota(call, ctx),
        "list_rpo_statistics" => misc::list_rpo_statistics(call, ctx),
        "create_protection_group" => protection_groups::create(call, ctx),
        "list_protection_groups" => protection_groups::list(call, ctx),
        "show_protection_group" => protection_groups::show(call, ctx),
        "delete_protection_group" => protection_groups::delete(call, ctx),
        "update_protection_group_name" => protection_groups::rename(call, ctx),
        "start_protection_group" => protection_groups::start(call, ctx),
        "stop_protection_group" => protection_groups::stop(call, ctx),
        "start_failover_protection_group" => protection_groups::failover(call, ctx),
        "start_reverse_protection_group" => protection_groups::reverse(call, ctx),
        "create_protected_instance" => protected_instances::create(call, ctx),
        "batch_create_protected_instances" => protected_instances::batch_create(call, ctx),
        "delete_protected_instance" => protected_instances::delete(call, ctx),
        "batch_delete_protected_instances" => protected_instances::batch_delete(call, ctx),
        "list_protected_instances" => protected_instances::list(call, ctx),
        "show_protected_instance" => protected_instances::show(call, ctx),
        "update_protected_instance_name" => protected_instances::rename(call, ctx),
        "attach_protected_instance_replication" => protected_instances::attach(call, ctx),
        "detach_protected_instance_replication" => protected_instances::detach(call, ctx),
        "add_protected_instance_nic" => protected_instances::add_nic(call, ctx),
        "delete_protected_instance_nic" => protected_instances::delete_nic(call, ctx),
        "resize_protected_instance" => protected_instances::resize(call, ctx),
        "create_replication" => replications::create(call, ctx),
        "delete_replication" => replications::delete(call, ctx),
        "list_replications" => replications::list(call, ctx),
        "show_replication" => replications::show(call, ctx),
        "expand_replication" => replications::expand(call, ctx),
        "update_replication_name" => replications::rename(call, ctx),
        "create_disaster_recovery_drill" => drills::create(call, ctx),
        "delete_disaster_recovery_drill" => drills::delete(call, ctx),
        "list_disaster_recovery_drills" => drills::list(call, ctx),
        "show_disaster_recovery_drill" => drills::show(call, ctx),
        "update_disaster_recovery_drill_name" => drills::rename(call, ctx),
        "list_protected_instances_by_tags" => tags::list_by_tags(call, ctx),
        "batch_add_tags" => tags::batch_add(call, ctx),
        "batch_delete_tags" => tags::batch_delete(call, ctx),
        "add_protected_instance_tags" => tags::add(call, ctx),
        "delete_protected_instance_tag" => tags::delete(call, ctx),
        "list_protected_instance_tags" => tags::list(call, ctx),
        "list_protected_instances_project_tags" => tags::list_project(call, ctx),
        "list_failure_jobs" => task_center::list(call, ctx),
        "delete_failure_job" => task_center::delete(call, ctx),
        "delete_all_server_group_failure_jobs" => task_center::delete_all(call, ctx),
        "delete_server_group_failure_jobs" => task_center::delete_of_group(call, ctx),
        "batch_stop_servers" => ecs::batch_stop(call, ctx),
        "batch_start_servers" => ecs::batch_start(call, ctx),
        "show_server" => ecs::show_server(call, ctx),
        other => Err(ApiError::internal(format!("no handler for {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_codes_get_the_status_of_appendix_a1() {
        assert_eq!(http_status_of("SDRS.1013"), 400);
        assert_eq!(http_status_of("SDRS.0013"), 500);
        assert_eq!(http_status_of("SDRS.1912"), 500);
        assert_eq!(http_status_of("SDRS.2206"), 404);
    }

    #[test]
    fn error_bodies_have_the_service_and_gateway_shapes() {
        let e = ApiError::sdrs("SDRS.1013", "gone");
        assert_eq!(
            e.body("r"),
            json!({"error": {"code": "SDRS.1013", "message": "gone"}})
        );
        let g = ApiError::gateway(401, "APIGW.0301", "bad");
        assert_eq!(
            g.body("r1"),
            json!({"error_msg": "bad", "error_code": "APIGW.0301", "request_id": "r1"})
        );
    }

    #[test]
    fn pages_follow_the_documented_bounds() {
        assert_eq!(page_of(None, None), Ok((1000, 0)));
        assert_eq!(page_of(Some("10"), Some("5")), Ok((10, 5)));
        assert_eq!(
            page_of(Some("0"), None).map_err(|e| e.code),
            Err("SDRS.0221".into())
        );
        assert_eq!(
            page_of(Some("1001"), None).map_err(|e| e.code),
            Err("SDRS.0221".into())
        );
        assert_eq!(
            page_of(None, Some("-1")).map_err(|e| e.code),
            Err("SDRS.0222".into())
        );
        assert_eq!(
            page_of(None, Some("1.5")).map_err(|e| e.code),
            Err("SDRS.0222".into())
        );
        let (page, total) = paginate(vec![1, 2, 3], 2, 5);
        assert!(page.is_empty());
        assert_eq!(total, 3);
    }

    #[test]
    fn id_lists_accept_the_three_spellings() {
        for text in [r#"["a","b"]"#, "['a', 'b']", "a,b"] {
            assert_eq!(id_list("x", text), Ok(vec!["a".to_owned(), "b".to_owned()]));
        }
        let many = (0..31).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(
            id_list("x", &many).map_err(|e| e.code),
            Err("SDRS.0226".into())
        );
    }

    #[test]
    fn names_follow_the_reference_charset() {
        assert!(check_name("web-tier_1.0", 64).is_ok());
        assert!(check_name("容灾组", 64).is_ok());
        assert!(check_name("bad name", 64).is_err());
        assert!(check_name(&"a".repeat(65), 64).is_err());
        assert!(check_name("", 64).is_err());
        assert!(check_description(Some("<b>")).is_err());
        assert!(check_description(Some("fine")).is_ok());
    }
}
