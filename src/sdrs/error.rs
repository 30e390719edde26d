//! Errors of the SDRS layer: the one [`Error`] enum, the normalised [`ErrorCode`] with its retry
//! [`ErrorClass`], and [`ErrorBody`], which both parses the service's error bodies (client side) and
//! renders them (emulator side).
//!
//! Codes are strings so that the engine's retry policies can match them with globs
//! (`SDRS.02*`, `NET.*`, `HTTP.5*`). Where they come from:
//!
//! | code | meaning |
//! |---|---|
//! | `SDRS.xxxx`, `APIGW.xxxx`, `Ecs.xxxx`, ... | the code the service sent, verbatim |
//! | `HTTP.<status>` | an error response whose body carries no code |
//! | `NET.CONNECT` | the connection could not be opened (refused, DNS, TLS); nothing was sent |
//! | `NET.TIMEOUT` | connect or read timeout |
//! | `NET.RESET` | the connection was reset or closed before a full response arrived |
//! | `NET.OTHER` | any other transport failure |
//! | `JOB.FAILED` | a job ended `FAIL` without an `error_code` |
//! | `JOB.TIMEOUT` | a job was still running when the wait gave up |
//! | `DRBOOK.READ_ONLY` | a mutating call refused by a read-only (dry-run) client |
//! | `DRBOOK.INVALID_INPUT` | inputs that do not fit the operation |
//! | `DRBOOK.DECODE` | a response that does not decode into its model |
//! | `DRBOOK.CREDENTIALS` | missing or unreadable credentials |
//! | `DRBOOK.CONFIG` | an unusable client configuration (endpoint URL, TLS setup) |
//!
//! No variant carries a secret: error texts never include header values, request bodies or
//! credential file lines.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Whether retrying the same call can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// May succeed if retried: 5xx, connection failures, timeouts.
    Transient,
    /// Rate-limited: retry after backing off (HTTP 429, `APIGW.0308`).
    Throttled,
    /// Retrying the same call gives the same answer.
    Permanent,
}

/// A normalised error code (see the module documentation for the namespaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(String);

/// One row of the reference's error-code table (2023 reference, appendix A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceCode {
    pub http_status: u16,
    pub message: &'static str,
}

static REFERENCE_CODES: LazyLock<HashMap<&'static str, ReferenceCode>> = LazyLock::new(|| {
    include_str!("error_codes.tsv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let http_status = cols.next()?.trim().parse().ok()?;
            let code = cols.next()?.trim();
            let message = cols.next()?.trim();
            Some((
                code,
                ReferenceCode {
                    http_status,
                    message,
                },
            ))
        })
        .collect()
});

impl ErrorCode {
    pub const NET_CONNECT: &'static str = "NET.CONNECT";
    pub const NET_TIMEOUT: &'static str = "NET.TIMEOUT";
    pub const NET_RESET: &'static str = "NET.RESET";
    pub const NET_OTHER: &'static str = "NET.OTHER";
    pub const JOB_FAILED: &'static str = "JOB.FAILED";
    pub const JOB_TIMEOUT: &'static str = "JOB.TIMEOUT";
    pub const READ_ONLY: &'static str = "DRBOOK.READ_ONLY";
    pub const INVALID_INPUT: &'static str = "DRBOOK.INVALID_INPUT";
    pub const DECODE: &'static str = "DRBOOK.DECODE";
    pub const CREDENTIALS: &'static str = "DRBOOK.CREDENTIALS";
    pub const CONFIG: &'static str = "DRBOOK.CONFIG";
    /// The API gateway's signature failure (HTTP 401).
    pub const APIGW_AUTH: &'static str = "APIGW.0301";
    /// The API gateway's throttling code (HTTP 429).
    pub const APIGW_THROTTLED: &'static str = "APIGW.0308";

    /// A code as the service (or drbook) spells it; surrounding whitespace is dropped.
    pub fn new(code: impl Into<String>) -> Self {
        let code = code.into();
        let trimmed = code.trim();
        if trimmed.len() == code.len() {
            Self(code)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// `HTTP.<status>`, for an error response without a code.
    pub fn http(status: u16) -> Self {
        Self(format!("HTTP.{status}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The row of the reference's error-code table, for SDRS codes it lists.
    pub fn reference(&self) -> Option<ReferenceCode> {
        REFERENCE_CODES.get(self.0.as_str()).copied()
    }

    /// Every code of the reference's table, with its HTTP status and English message.
    pub fn reference_table() -> impl Iterator<Item = (&'static str, ReferenceCode)> {
        REFERENCE_CODES.iter().map(|(code, row)| (*code, *row))
    }

    /// The retry class of this code alone. [`Error::class`] also looks at the HTTP status.
    pub fn class(&self) -> ErrorClass {
        let code = self.0.as_str();
        if code.starts_with("NET.") {
            return ErrorClass::Transient;
        }
        if code == Self::APIGW_THROTTLED {
            return ErrorClass::Throttled;
        }
        if let Some(status) = code
            .strip_prefix("HTTP.")
            .and_then(|s| s.parse::<u16>().ok())
        {
            return class_of_status(status);
        }
        match self.reference() {
            Some(row) => class_of_status(row.http_status),
            None => ErrorClass::Permanent,
        }
    }
}

fn class_of_status(status: u16) -> ErrorClass {
    match status {
        429 => ErrorClass::Throttled,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        Self::new(code)
    }
}

/// How a transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The connection could not be opened (refused, DNS, TLS handshake).
    Connect,
    /// Connect or read timeout.
    Timeout,
    /// The connection was reset or closed before the whole response arrived.
    Reset,
    /// Anything else (a malformed HTTP response, a body read error, ...).
    Other,
}

impl TransportKind {
    pub fn code(self) -> &'static str {
        match self {
            TransportKind::Connect => ErrorCode::NET_CONNECT,
            TransportKind::Timeout => ErrorCode::NET_TIMEOUT,
            TransportKind::Reset => ErrorCode::NET_RESET,
            TransportKind::Other => ErrorCode::NET_OTHER,
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connection failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Reset => "connection reset",
            TransportKind::Other => "transport error",
        })
    }
}

fn request_id_suffix(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

/// Every failure of the SDRS layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error status.
    #[error(
        "{operation}: HTTP {status} {code}: {message}{}",
        request_id_suffix(request_id)
    )]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        /// From the `X-Request-Id` response header (or the body of a gateway error).
        request_id: Option<String>,
        operation: &'static str,
    },
    /// No (complete) response. `maybe_applied` is `false` only when nothing can have reached the
    /// service (the connection was never opened); the engine must treat `true` as "the call may
    /// have taken effect" and reconcile before repeating a mutation.
    #[error("{operation}: {kind}{}: {detail}", if *maybe_applied { " after the request was sent" } else { "" })]
    Transport {
        operation: &'static str,
        kind: TransportKind,
        maybe_applied: bool,
        detail: String,
    },
    /// A job ended with status `FAIL`.
    #[error("job {job_id} ({}) failed with {code}: {reason}", job_type.as_deref().unwrap_or("unknown type"))]
    JobFailed {
        job_id: String,
        job_type: Option<String>,
        code: ErrorCode,
        reason: String,
    },
    /// A job did not finish within the wait. The job itself goes on.
    #[error("job {job_id} still {} after {}s", last_status.as_deref().unwrap_or("unfinished"), waited.as_secs())]
    JobTimeout {
        job_id: String,
        waited: Duration,
        last_status: Option<String>,
    },
    /// The client is read-only (dry run) and the operation would change something.
    #[error(
        "{operation} changes resources and the client is read-only (dry run); nothing was sent"
    )]
    ReadOnly { operation: &'static str },
    /// The inputs do not fit the operation.
    #[error("{operation}: input `{input}`: {reason}")]
    InvalidInput {
        operation: &'static str,
        input: String,
        reason: String,
    },
    /// A success response that does not decode into its model.
    #[error("{operation}: cannot decode the response ({reason}); body starts with: {body_excerpt}")]
    Decode {
        operation: &'static str,
        reason: String,
        body_excerpt: String,
    },
    /// Missing or unreadable credentials.
    #[error("credentials: {0}")]
    Credentials(String),
    /// An unusable client configuration.
    #[error("client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The normalised code of every variant (see the module documentation).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api { code, .. } | Error::JobFailed { code, .. } => code.clone(),
            Error::Transport { kind, .. } => ErrorCode::new(kind.code()),
            Error::JobTimeout { .. } => ErrorCode::new(ErrorCode::JOB_TIMEOUT),
            Error::ReadOnly { .. } => ErrorCode::new(ErrorCode::READ_ONLY),
            Error::InvalidInput { .. } => ErrorCode::new(ErrorCode::INVALID_INPUT),
            Error::Decode { .. } => ErrorCode::new(ErrorCode::DECODE),
            Error::Credentials(_) => ErrorCode::new(ErrorCode::CREDENTIALS),
            Error::Config(_) => ErrorCode::new(ErrorCode::CONFIG),
        }
    }

    /// Whether retrying may help. For API errors the HTTP status decides first (429 throttled,
    /// 5xx transient), then the code; a job timeout is permanent because repeating the step would
    /// submit the operation a second time while the first job may still run.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Api { status, code, .. } => match class_of_status(*status) {
                ErrorClass::Permanent => code.class(),
                other => other,
            },
            Error::Transport { .. } => ErrorClass::Transient,
            Error::JobFailed { code, .. } => code.class(),
            Error::JobTimeout { .. }
            | Error::ReadOnly { .. }
            | Error::InvalidInput { .. }
            | Error::Decode { .. }
            | Error::Credentials(_)
            | Error::Config(_) => ErrorClass::Permanent,
        }
    }

    /// Whether the call may have changed something on the service: a transport failure after the
    /// connection opened, a 5xx (a gateway timeout may hide a completed call), a decode failure of
    /// a success response, and anything about a job (it was submitted).
    pub fn maybe_applied(&self) -> bool {
        match self {
            Error::Api { status, .. } => *status >= 500,
            Error::Transport { maybe_applied, .. } => *maybe_applied,
            Error::Decode { .. } | Error::JobFailed { .. } | Error::JobTimeout { .. } => true,
            Error::ReadOnly { .. }
            | Error::InvalidInput { .. }
            | Error::Credentials(_)
            | Error::Config(_) => false,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The request id of an API error.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

/// An error body as the service writes it. [`ErrorBody::parse`] reads all the forms (client side);
/// [`ErrorBody::to_json`] writes one (emulator side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorBody {
    /// `{"error": {"code": .., "message": ..}}`: what SDRS answers (per-API examples, and what
    /// Terraform's "already gone" checks read as `error.code`).
    Sdrs { code: String, message: String },
    /// `{"<name>": {"code": .., "message": ..}}` with `name` such as `badrequest` or
    /// `itemNotFound` (the reference's "generic" variants).
    Named {
        name: String,
        code: String,
        message: String,
    },
    /// `{"error_code": .., "error_msg": .., "request_id": ..}`: the API gateway's form (401
    /// signature failures, 429 throttling), also shown in the reference's chapter 3.3.
    Gateway {
        code: String,
        message: String,
        request_id: Option<String>,
    },
}

/// What [`ErrorBody::parse`] found in an error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
    /// A `request_id` member at the top level (gateway errors carry one).
    pub request_id: Option<String>,
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl ErrorBody {
    /// The JSON document of this body.
    pub fn to_json(&self) -> Value {
        match self {
            ErrorBody::Sdrs { code, message } => {
                json!({"error": {"code": code, "message": message}})
            }
            ErrorBody::Named {
                name,
                code,
                message,
            } => {
                let mut outer = Map::new();
                outer.insert(name.clone(), json!({"code": code, "message": message}));
                Value::Object(outer)
            }
            ErrorBody::Gateway {
                code,
                message,
                request_id,
            } => {
                let mut body = Map::new();
                body.insert("error_msg".into(), Value::from(message.as_str()));
                body.insert("error_code".into(), Value::from(code.as_str()));
                if let Some(id) = request_id {
                    body.insert("request_id".into(), Value::from(id.as_str()));
                }
                Value::Object(body)
            }
        }
    }

    /// The body as bytes to send (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// The SDRS form for a code of the reference table, with the reference's message, and the
    /// HTTP status the reference gives it (400 when the code is not in the table).
    pub fn sdrs_reference(code: &str) -> (u16, ErrorBody) {
        let row = ErrorCode::new(code).reference();
        (
            row.map_or(400, |r| r.http_status),
            ErrorBody::Sdrs {
                code: code.to_owned(),
                message: row.map_or_else(|| code.to_owned(), |r| r.message.to_owned()),
            },
        )
    }

    /// Reads an error body the way the official SDK does: top-level `error_code`+`error_msg`, else
    /// `errorCode`+`errorMsg`, else `code`+`message`, else the same search in every nested object
    /// (when several match, the last one wins). `None` when the body is not a JSON object.
    pub fn parse(body: &[u8]) -> Option<ParsedErrorBody> {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let mut found = ParsedErrorBody {
            code: None,
            message: None,
            request_id: map.get("request_id").and_then(text_of),
        };
        search_error_members(&map, &mut found);
        Some(found)
    }
}

fn search_error_members(map: &Map<String, Value>, found: &mut ParsedErrorBody) {
    for (code_key, message_key) in [
        ("error_code", "error_msg"),
        ("errorCode", "errorMsg"),
        ("code", "message"),
    ] {
        if let (Some(code), Some(message)) = (map.get(code_key), map.get(message_key)) {
            found.code = text_of(code);
            found.message = text_of(message);
            return;
        }
    }
    for value in map.values() {
        if let Value::Object(inner) = value {
            search_error_members(inner, found);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    fn parse(body: &str) -> (Option<String>, Option<String>) {
        let parsed = ErrorBody::parse(body.as_bytes()).unwrap();
        (parsed.code, parsed.message)
    }

    #[test]
    fn parses_the_three_reference_forms() {
        assert_eq!(
            parse(r#"{"error":{"message":"Incorrect status","code":"SDRS.0209"}}"#),
            (Some("SDRS.0209".into()), Some("Incorrect status".into()))
        );
        assert_eq!(
            parse(r#"{"badrequest":{"message":"bad","code":"SDRS.0201"}}"#),
            (Some("SDRS.0201".into()), Some("bad".into()))
        );
        assert_eq!(
            parse(r#"{"itemNotFound":{"message":"gone","code":"SDRS.1013"}}"#),
            (Some("SDRS.1013".into()), Some("gone".into()))
        );
        let gateway = ErrorBody::parse(
            br#"{"error_msg":"Incorrect IAM authentication information: verify aksk signature fail","error_code":"APIGW.0301","request_id":"r-1"}"#,
        )
        .unwrap();
        assert_eq!(gateway.code.as_deref(), Some("APIGW.0301"));
        assert_eq!(gateway.request_id.as_deref(), Some("r-1"));
        assert_eq!(
            parse(r#"{"errorCode":"X.1","errorMsg":"camel"}"#),
            (Some("X.1".into()), Some("camel".into()))
        );
    }

    #[test]
    fn the_last_nested_match_wins_and_non_objects_give_none() {
        assert_eq!(
            parse(r#"{"a":{"code":"A.1","message":"a"},"b":{"code":"B.2","message":"b"}}"#),
            (Some("B.2".into()), Some("b".into()))
        );
        assert_eq!(parse(r#"{"unrelated":1}"#), (None, None));
        assert!(ErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(ErrorBody::parse(b"[1,2]").is_none());
    }

    #[test]
    fn rendered_bodies_parse_back() {
        for body in [
            ErrorBody::Sdrs {
                code: "SDRS.1013".into(),
                message: "not found".into(),
            },
            ErrorBody::Named {
                name: "itemNotFound".into(),
                code: "SDRS.1013".into(),
                message: "not found".into(),
            },
            ErrorBody::Gateway {
                code: "APIGW.0301".into(),
                message: "verify aksk signature fail".into(),
                request_id: Some("r".into()),
            },
        ] {
            let parsed = ErrorBody::parse(&body.to_bytes()).unwrap();
            assert!(parsed.code.is_some(), "{body:?}");
            assert!(parsed.message.is_some(), "{body:?}");
        }
        assert_eq!(
            ErrorBody::Sdrs {
                code: "SDRS.0209".into(),
                message: "Incorrect status".into()
            }
            .to_json(),
            json!({"error": {"code": "SDRS.0209", "message": "Incorrect status"}})
        );
    }

    #[test]
    fn classes_follow_status_and_code() {
        assert_eq!(ErrorCode::http(503).class(), ErrorClass::Transient);
        assert_eq!(ErrorCode::http(429).class(), ErrorClass::Throttled);
        assert_eq!(ErrorCode::http(404).class(), ErrorClass::Permanent);
        assert_eq!(ErrorCode::new("NET.RESET").class(), ErrorClass::Transient);
        assert_eq!(ErrorCode::new("APIGW.0308").class(), ErrorClass::Throttled);
        assert_eq!(ErrorCode::new("SDRS.0209").class(), ErrorClass::Permanent);
        // SDRS.0013 is "Internal error", HTTP 500 in the reference table.
        assert_eq!(ErrorCode::new("SDRS.0013").class(), ErrorClass::Transient);
        let throttled = Error::Api {
            status: 429,
            code: ErrorCode::new("APIGW.0999"),
            message: String::new(),
            request_id: None,
            operation: "show_quota",
        };
        assert_eq!(throttled.class(), ErrorClass::Throttled);
        let gateway_down = Error::Api {
            status: 502,
            code: ErrorCode::http(502),
            message: String::new(),
            request_id: None,
            operation: "show_quota",
        };
        assert_eq!(gateway_down.class(), ErrorClass::Transient);
        assert!(gateway_down.maybe_applied());
    }

    #[test]
    fn the_reference_table_is_loaded() {
        let row = ErrorCode::new("SDRS.0209").reference().unwrap();
        assert_eq!(row.http_status, 400);
        assert_eq!(row.message, "Incorrect status");
        assert_eq!(
            ErrorCode::new("SDRS.2206").reference().unwrap().http_status,
            404
        );
        assert!(ErrorCode::reference_table().count() > 250);
        let (status, body) = ErrorBody::sdrs_reference("SDRS.0013");
        assert_eq!(status, 500);
        assert_eq!(
            body,
            ErrorBody::Sdrs {
                code: "SDRS.0013".into(),
                message: "Internal error".into()
            }
        );
    }

    #[test]
    fn every_variant_has_a_code_and_a_readable_message() {
        let errors = [
            Error::Transport {
                operation: "show_job_status",
                kind: TransportKind::Reset,
                maybe_applied: true,
                detail: "connection closed".into(),
            },
            Error::JobFailed {
                job_id: "j".into(),
                job_type: Some("createProtectionGroupNoCG".into()),
                code: ErrorCode::new("SDRS.1004"),
                reason: "quota".into(),
            },
            Error::JobTimeout {
                job_id: "j".into(),
                waited: Duration::from_secs(600),
                last_status: Some("RUNNING".into()),
            },
            Error::ReadOnly {
                operation: "start_failover_protection_group",
            },
            Error::InvalidInput {
                operation: "create_protection_group",
                input: "name".into(),
                reason: "required".into(),
            },
            Error::Decode {
                operation: "show_quota",
                reason: "expected object".into(),
                body_excerpt: "[]".into(),
            },
            Error::Credentials("missing HUAWEICLOUD_SDK_AK".into()),
            Error::Config("bad URL".into()),
        ];
        let codes: Vec<String> = errors.iter().map(|e| e.code().to_string()).collect();
        assert_eq!(
            codes,
            [
                "NET.RESET",
                "SDRS.1004",
                "JOB.TIMEOUT",
                "DRBOOK.READ_ONLY",
                "DRBOOK.INVALID_INPUT",
                "DRBOOK.DECODE",
                "DRBOOK.CREDENTIALS",
                "DRBOOK.CONFIG"
            ]
        );
        assert_eq!(
            errors[3].to_string(),
            "start_failover_protection_group changes resources and the client is read-only (dry run); nothing was sent"
        );
        assert_eq!(
            errors[0].to_string(),
            "show_job_status: connection reset after the request was sent: connection closed"
        );
    }
}
