//! The SDRS (and ECS) HTTP client: endpoints, timeouts, the dry-run guard, signing, sending, and
//! turning responses into JSON or [`Error`]s.
//!
//! Every request goes through [`Client::call`] (the generic entry the engine uses for runbook
//! actions) or [`Client::call_typed`] (what the typed methods in `api.rs` wrap); both build the
//! request with [`request::build`] from the operation table, so there is one request builder.
//!
//! Requests carry exactly the headers the official Python SDK signs (`Content-Type`, `User-Agent`,
//! `X-Project-Id`, `X-Sdk-Date`, `Host`, plus `X-Security-Token` for temporary credentials).
//! Each request is logged at debug level with operation, method, path, status, duration and
//! request id; header values are never logged (trace level shows them with `Authorization` and
//! the token redacted).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
use reqwest::Url;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::credentials::Credentials;
use super::error::{Error, ErrorBody, ErrorCode, TransportKind};
use super::operations::{Effect, Method, Operation, Service};
use super::request::{self, BuiltRequest};
use super::signer::{self, SignableRequest};

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Huawei Cloud region: `https://sdrs.{region}.myhuaweicloud.com` and
    /// `https://ecs.{region}.myhuaweicloud.com`.
    Region(String),
    /// One base URL for both services (the emulator serves both). `http://` is allowed; a URL
    /// without a scheme gets `https://`. It must not carry a path.
    Url(String),
}

impl Endpoint {
    /// The endpoint from the user's choices, most specific first: an explicit URL (a flag or a
    /// profile's `endpoint`), then a region (a flag or a profile's `region`), then
    /// `HW_REGION_NAME`.
    pub fn resolve(url: Option<&str>, region: Option<&str>) -> Result<Endpoint, Error> {
        Self::resolve_with(url, region, super::credentials::region_from_env())
    }

    fn resolve_with(
        url: Option<&str>,
        region: Option<&str>,
        env_region: Option<String>,
    ) -> Result<Endpoint, Error> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        if let Some(url) = given(url) {
            return Ok(Endpoint::Url(url));
        }
        match given(region).or(env_region) {
            Some(region) => Ok(Endpoint::Region(region)),
            None => Err(Error::Config(
                "no endpoint: give an endpoint URL or a region (or set HW_REGION_NAME)".into(),
            )),
        }
    }

    fn base(&self, service: Service) -> String {
        match (self, service) {
            (Endpoint::Region(region), Service::Sdrs) => {
                format!("https://sdrs.{region}.myhuaweicloud.com")
            }
            (Endpoint::Region(region), Service::Ecs) => {
                format!("https://ecs.{region}.myhuaweicloud.com")
            }
            (Endpoint::Url(url), _) => url.clone(),
        }
    }
}

/// The `User-Agent` drbook sends unless told otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("drbook/", env!("CARGO_PKG_VERSION"));

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    credentials: Credentials,
    endpoint: Endpoint,
    ecs_url: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    read_only: bool,
    user_agent: String,
    fixed_sdk_date: Option<Timestamp>,
    accept_invalid_certs: bool,
}

impl ClientBuilder {
    /// Connect and read timeouts default to 10 s and 60 s.
    pub fn new(credentials: Credentials, endpoint: Endpoint) -> Self {
        Self {
            credentials,
            endpoint,
            ecs_url: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            read_only: false,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            fixed_sdk_date: None,
            accept_invalid_certs: false,
        }
    }

    /// Sends ECS calls to this base URL instead of the one derived from the endpoint.
    pub fn ecs_url(mut self, url: impl Into<String>) -> Self {
        self.ecs_url = Some(url.into());
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest wait for each read of the response.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// A read-only client refuses every mutating operation before anything leaves the process
    /// ([`Error::ReadOnly`]); the engine's `--dry-run` relies on it. The one read-only POST (the
    /// by-tags query) still goes through.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The `User-Agent` header (it is signed).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Signs every request with this `X-Sdk-Date` instead of the current time. For conformance
    /// tests only: the real gateway rejects a date more than 15 minutes off.
    pub fn fixed_sdk_date(mut self, at: Timestamp) -> Self {
        self.fixed_sdk_date = Some(at);
        self
    }

    /// Skips TLS certificate verification (like the SDK's `ignore_ssl_verification`), for test
    /// endpoints with self-signed certificates.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let sdrs_base = parse_base(&self.endpoint.base(Service::Sdrs))?;
        let ecs_base = match &self.ecs_url {
            Some(url) => parse_base(url)?,
            None => parse_base(&self.endpoint.base(Service::Ecs))?,
        };
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            Error::Config("the User-Agent contains characters a header cannot carry".into())
        })?;
        for (what, value) in [
            ("access key", &self.credentials.ak),
            ("project id", &self.credentials.project_id),
        ] {
            if value.is_empty() || HeaderValue::from_str(value).is_err() {
                return Err(Error::Credentials(format!(
                    "the {what} is empty or contains characters a header cannot carry"
                )));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            // The SDK never follows redirects; a redirect would also invalidate the signature.
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(self.accept_invalid_certs)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                credentials: self.credentials,
                sdrs_base,
                ecs_base,
                read_only: self.read_only,
                user_agent,
                fixed_sdk_date: self.fixed_sdk_date,
            }),
        })
    }
}

fn parse_base(text: &str) -> Result<Url, Error> {
    let text = text.trim();
    let with_scheme = if text.starts_with("http") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| Error::Config(format!("endpoint `{text}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "endpoint `{text}` must be an http:// or https:// URL with a host"
        )));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(Error::Config(format!(
            "endpoint `{text}` must not have a path or query (requests always start at /)"
        )));
    }
    Ok(url)
}

/// The `Host` header for a base URL: host and, when the URL names one, port.
fn host_header(base: &Url) -> String {
    let host = base.host_str().unwrap_or_default();
    match base.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

struct Inner {
    http: reqwest::Client,
    credentials: Credentials,
    sdrs_base: Url,
    ecs_base: Url,
    read_only: bool,
    user_agent: HeaderValue,
    fixed_sdk_date: Option<Timestamp>,
}

/// An SDRS/ECS client. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("sdrs", &self.inner.sdrs_base.as_str())
            .field("ecs", &self.inner.ecs_base.as_str())
            .field("credentials", &self.inner.credentials)
            .field("read_only", &self.inner.read_only)
            .finish()
    }
}

/// Header values of a request or response with `Authorization` and `X-Security-Token` replaced,
/// for trace logs.
pub struct RedactedHeaders<'a>(pub &'a HeaderMap);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            let shown =
                if name == http::header::AUTHORIZATION || name.as_str() == "x-security-token" {
                    "<redacted>"
                } else {
                    value.to_str().unwrap_or("<binary>")
                };
            map.entry(&name.as_str(), &shown);
        }
        map.finish()
    }
}

/// A response before interpretation.
struct RawResponse {
    status: u16,
    request_id: Option<String>,
    body: bytes::Bytes,
}

const EXCERPT_CHARS: usize = 200;

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Classifies a reqwest failure. Only a failure to open the connection proves nothing was sent.
fn transport_error(operation: &'static str, err: &reqwest::Error) -> Error {
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(err);
    let mut reset = false;
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            reset |= matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        let text = cause.to_string();
        reset |= text.contains("connection closed before message completed")
            || text.contains("connection reset");
        source = cause.source();
    }
    let kind = if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else if reset || err.is_request() || err.is_body() {
        TransportKind::Reset
    } else {
        TransportKind::Other
    };
    Error::Transport {
        operation,
        kind,
        maybe_applied: !err.is_connect(),
        detail,
    }
}

impl Client {
    pub fn builder(credentials: Credentials, endpoint: Endpoint) -> ClientBuilder {
        ClientBuilder::new(credentials, endpoint)
    }

    /// Whether the client refuses mutating operations.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The project id requests are made for.
    pub fn project_id(&self) -> &str {
        &self.inner.credentials.project_id
    }

    /// Runs any operation of the table with JSON inputs (path parameters, query parameters and
    /// body fields by name) and returns the response JSON (`{}` for an empty body). This is the
    /// engine's entry for runbook actions.
    pub async fn call(
        &self,
        op: &'static Operation,
        inputs: &Map<String, Value>,
    ) -> Result<Value, Error> {
        if self.inner.read_only && op.effect == Effect::Mutating {
            return Err(Error::ReadOnly { operation: op.name });
        }
        let built = request::build(op, &self.inner.credentials.project_id, inputs)?;
        let raw = self.send(op, &built).await?;
        if !(200..300).contains(&raw.status) {
            return Err(api_error(op, &raw));
        }
        if raw.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(&raw.body).map_err(|e| Error::Decode {
            operation: op.name,
            reason: e.to_string(),
            body_excerpt: excerpt(&raw.body),
        })
    }

    /// [`Client::call`], then decodes the response into `T`.
    pub async fn call_typed<T: DeserializeOwned>(
        &self,
        op: &'static Operation,
        inputs: &Map<String, Value>,
    ) -> Result<T, Error> {
        let value = self.call(op, inputs).await?;
        serde_json::from_value(value.clone()).map_err(|e| Error::Decode {
            operation: op.name,
            reason: e.to_string(),
            body_excerpt: excerpt(value.to_string().as_bytes()),
        })
    }

    fn base(&self, service: Service) -> &Url {
        match service {
            Service::Sdrs => &self.inner.sdrs_base,
            Service::Ecs => &self.inner.ecs_base,
        }
    }

    /// Signs and sends a built request.
    async fn send(
        &self,
        op: &'static Operation,
        built: &BuiltRequest,
    ) -> Result<RawResponse, Error> {
        let base = self.base(op.service);
        let host = host_header(base);
        let credentials = &self.inner.credentials;
        let sdk_date =
            signer::format_sdk_date(self.inner.fixed_sdk_date.unwrap_or_else(Timestamp::now));

        let config_error = |what: &str| Error::Config(format!("{what} cannot be sent as a header"));
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(built.content_type),
        );
        headers.insert(http::header::USER_AGENT, self.inner.user_agent.clone());
        headers.insert(
            HeaderName::from_static("x-project-id"),
            HeaderValue::from_str(&credentials.project_id)
                .map_err(|_| config_error("the project id"))?,
        );
        headers.insert(
            HeaderName::from_static("x-sdk-date"),
            HeaderValue::from_str(&sdk_date).map_err(|_| config_error("X-Sdk-Date"))?,
        );
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&host).map_err(|_| config_error("the host"))?,
        );
        if let Some(token) = &credentials.security_token {
            let mut value = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                Error::Credentials("the security token cannot be sent as a header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-security-token"), value);
        }
        let body = built.body.as_deref().unwrap_or_default();
        let authorization = signer::sign(
            &SignableRequest {
                method: built.method.as_str(),
                path: &built.path,
                query: &built.query,
                headers: &headers,
                body,
            },
            &credentials.ak,
            &credentials.sk,
        )
        .map_err(|e| Error::Config(format!("cannot sign the request: {e}")))?;
        let mut auth_value = HeaderValue::from_str(&authorization.header_value())
            .map_err(|_| config_error("the Authorization value"))?;
        auth_value.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, auth_value);

        let url_text = format!("{}://{}{}", base.scheme(), host, built.target());
        let url = Url::parse(&url_text)
            .map_err(|e| Error::Config(format!("cannot form the request URL: {e}")))?;
        let method = match built.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        tracing::trace!(
            operation = op.name,
            headers = ?RedactedHeaders(&headers),
            "sdrs request headers"
        );
        let mut request = self.inner.http.request(method, url).headers(headers);
        if let Some(bytes) = &built.body {
            request = request.body(bytes.clone());
        }

        let started = Instant::now();
        let outcome = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let request_id = response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(RawResponse {
                status,
                request_id,
                body,
            })
        }
        .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(raw) => {
                tracing::debug!(
                    operation = op.name,
                    method = built.method.as_str(),
                    path = %built.path,
                    status = raw.status,
                    duration_ms,
                    request_id = raw.request_id.as_deref().unwrap_or("-"),
                    "sdrs request"
                );
                Ok(raw)
            }
            Err(err) => {
                let error = transport_error(op.name, &err);
                tracing::debug!(
                    operation = op.name,
                    method = built.method.as_str(),
                    path = %built.path,
                    duration_ms,
                    code = %error.code(),
                    maybe_applied = error.maybe_applied(),
                    "sdrs request failed: {error}"
                );
                Err(error)
            }
        }
    }
}

fn api_error(op: &'static Operation, raw: &RawResponse) -> Error {
    let parsed = ErrorBody::parse(&raw.body);
    let code = parsed
        .as_ref()
        .and_then(|p| p.code.as_deref())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map_or_else(|| ErrorCode::http(raw.status), ErrorCode::new);
    let message = parsed
        .as_ref()
        .and_then(|p| p.message.clone())
        .unwrap_or_else(|| excerpt(&raw.body));
    let request_id = raw
        .request_id
        .clone()
        .or_else(|| parsed.and_then(|p| p.request_id));
    Error::Api {
        status: raw.status,
        code,
        message,
        request_id,
        operation: op.name,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn creds() -> Credentials {
        Credentials::new("AK", SecretString::from("very-secret-key"), "proj")
    }

    #[test]
    fn endpoints_follow_the_region_and_url_rules() {
        let client = Client::builder(creds(), Endpoint::Region("cn-north-4".into()))
            .build()
            .unwrap();
        assert_eq!(
            client.inner.sdrs_base.as_str(),
            "https://sdrs.cn-north-4.myhuaweicloud.com/"
        );
        assert_eq!(
            client.inner.ecs_base.as_str(),
            "https://ecs.cn-north-4.myhuaweicloud.com/"
        );
        let client = Client::builder(creds(), Endpoint::Url("http://127.0.0.1:8443".into()))
            .ecs_url("127.0.0.2:9000")
            .build()
            .unwrap();
        assert_eq!(host_header(&client.inner.sdrs_base), "127.0.0.1:8443");
        assert_eq!(client.inner.ecs_base.as_str(), "https://127.0.0.2:9000/");
        let err = Client::builder(creds(), Endpoint::Url("http://h/prefix".into()))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("must not have a path"), "{err}");
    }

    #[test]
    fn the_endpoint_is_resolved_most_specific_first() {
        assert_eq!(
            Endpoint::resolve_with(Some("http://127.0.0.1:8443"), Some("cn-north-4"), None)
                .unwrap(),
            Endpoint::Url("http://127.0.0.1:8443".into())
        );
        assert_eq!(
            Endpoint::resolve_with(None, Some("cn-north-4"), Some("ap-southeast-1".into()))
                .unwrap(),
            Endpoint::Region("cn-north-4".into())
        );
        assert_eq!(
            Endpoint::resolve_with(Some(" "), None, Some("ap-southeast-1".into())).unwrap(),
            Endpoint::Region("ap-southeast-1".into())
        );
        assert_eq!(
            Endpoint::resolve_with(None, None, None)
                .unwrap_err()
                .code()
                .as_str(),
            "DRBOOK.CONFIG"
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let client = Client::builder(creds(), Endpoint::Url("http://127.0.0.1:1".into()))
            .build()
            .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("very-secret-key"), "{debug}");
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static(
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=abc",
            ),
        );
        headers.insert("x-sdk-date", HeaderValue::from_static("20240102T030405Z"));
        let shown = format!("{:?}", RedactedHeaders(&headers));
        assert!(!shown.contains("Signature"), "{shown}");
        assert!(shown.contains("20240102T030405Z"), "{shown}");
    }
}
