//! AK/SK request signing (`SDK-HMAC-SHA256`) exactly as Huawei Cloud's official SDK does it, and the
//! matching verifier.
//!
//! This module owns the byte-level signing rules of `shared/sdrs/signing.md`: the canonical URI
//! (percent-decoded, re-encoded per segment with the RFC 3986 unreserved set, always ending in `/`),
//! the re-canonicalised query, the signed-header list (every header without `_`), the payload hash,
//! the string to sign and the `Authorization` header. The client signs with it; the emulator
//! verifies with the same code, so the two can never drift apart. Nothing here logs, and the secret
//! key only ever enters through [`SecretString`] and leaves as an HMAC.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use jiff::Timestamp;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The algorithm name that opens the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Header that carries the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const SDK_DATE_HEADER: &str = "x-sdk-date";

/// Header that replaces the payload hash (e.g. `UNSIGNED-PAYLOAD`) when present.
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";

/// `strftime` format of `X-Sdk-Date`.
pub const SDK_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// SHA-256 of the empty payload, used for requests without a body.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Huawei's API gateway rejects a signing time more than 15 minutes away from its own clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// A request as it travels on the wire, reduced to what the signature covers.
///
/// `path` and `query` are the raw, already percent-encoded text of the request target (the query
/// without its `?`); the canonical forms are derived from them, so a verifier can pass exactly
/// what it received.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The result of signing: the parts of the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    /// Lower-case header names joined with `;`.
    pub signed_headers: String,
    /// Lower-case hex HMAC-SHA256, 64 characters.
    pub signature: String,
}

impl Authorization {
    /// The `Authorization` header value:
    /// `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>`.
    pub fn header_value(&self) -> String {
        format!(
            "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
            self.access_key, self.signed_headers, self.signature
        )
    }

    /// Parses an `Authorization` header value. Accepts any run of whitespace after the algorithm
    /// and after each comma, as the official verifier does.
    pub fn parse(value: &str) -> Result<Self, VerifyError> {
        let malformed = || VerifyError::MalformedAuthorization;
        let rest = value.trim().strip_prefix(ALGORITHM).ok_or_else(malformed)?;
        if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return Err(malformed());
        }
        let mut fields = rest.split(',').map(str::trim);
        let mut field = |name: &str| -> Result<String, VerifyError> {
            let text = fields.next().ok_or_else(malformed)?;
            let value = text
                .strip_prefix(name)
                .and_then(|t| t.strip_prefix('='))
                .ok_or_else(malformed)?;
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(malformed());
            }
            Ok(value.to_owned())
        };
        let access_key = field("Access")?;
        let signed_headers = field("SignedHeaders")?;
        let signature = field("Signature")?;
        if fields.next().is_some()
            || signature.len() != 64
            || !signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed());
        }
        Ok(Self {
            access_key,
            signed_headers,
            signature,
        })
    }
}

/// Why a request's signature was not accepted. The emulator answers every one of them with
/// HTTP 401 `APIGW.0301`, as the real gateway does; the variants say more for its log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the request has no Authorization header")]
    MissingAuthorization,
    #[error(
        "the Authorization header is not `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`"
    )]
    MalformedAuthorization,
    #[error("x-sdk-date is not among the signed headers")]
    DateNotSigned,
    #[error("the signed header `{0}` is missing from the request")]
    SignedHeaderMissing(String),
    #[error("the X-Sdk-Date header is missing")]
    MissingDate,
    #[error("the X-Sdk-Date header `{0}` is not in the form YYYYMMDDTHHMMSSZ")]
    MalformedDate(String),
    #[error("the X-Sdk-Date `{date}` is more than {max_skew_secs} s away from the server clock")]
    ClockSkew { date: String, max_skew_secs: u64 },
    #[error("ak {0} not exist")]
    UnknownAccessKey(String),
    #[error("verify aksk signature fail")]
    SignatureMismatch {
        /// The canonical request the verifier computed; compare it with the client's to find
        /// the difference. It holds no secret.
        canonical_request: String,
    },
    #[error("a header value is not visible ASCII/UTF-8")]
    InvalidHeaderValue,
}

impl VerifyError {
    /// The `error_msg` the real API gateway sends for this failure (all under `APIGW.0301`).
    pub fn gateway_message(&self) -> String {
        match self {
            VerifyError::UnknownAccessKey(ak) => {
                format!("Incorrect IAM authentication information: ak {ak} not exist")
            }
            _ => "Incorrect IAM authentication information: verify aksk signature fail".to_owned(),
        }
    }
}

/// How the verifier treats the signing time.
#[derive(Debug, Clone, Copy)]
pub enum ClockCheck {
    /// Accept any well-formed `X-Sdk-Date` (tests with pinned dates).
    Skip,
    /// Reject a date further than `max_skew` from `now`.
    Within { now: Timestamp, max_skew: Duration },
}

/// A successfully verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key: String,
    pub sdk_date: Timestamp,
}

/// Formats a timestamp the way `X-Sdk-Date` wants it (`20240102T030405Z`).
pub fn format_sdk_date(at: Timestamp) -> String {
    at.strftime(SDK_DATE_FORMAT).to_string()
}

/// Parses an `X-Sdk-Date` value.
pub fn parse_sdk_date(value: &str) -> Result<Timestamp, VerifyError> {
    let malformed = || VerifyError::MalformedDate(value.to_owned());
    if value.len() != 16 {
        return Err(malformed());
    }
    jiff::civil::DateTime::strptime(SDK_DATE_FORMAT, value)
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|zoned| zoned.timestamp())
        .map_err(|_| malformed())
}

/// Percent-encodes bytes, leaving only the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~` as is and
/// writing every other byte as upper-case `%XX`. This is the SDK's encoder for path segments,
/// query names and query values (a space is `%20`, `+` is `%2B`, `~` stays).
pub fn encode_unreserved(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// The canonical URI: the path percent-decoded, split on `/`, every segment re-encoded with
/// [`encode_unreserved`], joined with `/`, and always ending in `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(raw_path).collect();
    let mut out = decoded
        .split(|&b| b == b'/')
        .map(encode_unreserved)
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Encodes `(name, value)` pairs as the SDK sends and signs them: sorted by name, then value
/// (byte order), each part encoded with [`encode_unreserved`], joined with `&`.
pub fn encode_query<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> String {
    let mut sorted: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode_unreserved(k), encode_unreserved(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical query of a raw query string: every `name=value` pair percent-decoded (a `+`
/// stays a literal `+`), then re-encoded and sorted by [`encode_query`]. Idempotent, so the client
/// may pass the string it built with [`encode_query`].
pub fn canonical_query(raw_query: &str) -> String {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode_str(name).collect(),
                percent_decode_str(value).collect(),
            )
        })
        .collect();
    encode_query(&pairs)
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[expect(
    clippy::expect_used,
    reason = "HMAC takes keys of any length (longer ones are hashed), so new_from_slice cannot fail"
)]
fn hmac_sha256(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(message);
    mac
}

/// The headers a signer signs: every header present whose name has no `_`, except
/// `Authorization`, lower-cased, sorted and de-duplicated.
pub fn headers_to_sign(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_ascii_lowercase())
        .filter(|name| !name.contains('_') && name != "authorization")
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The canonical headers block for the given signed names: `name:value.trim()` per value (values of
/// a repeated header sorted), each line ending in `\n`.
fn canonical_headers(headers: &HeaderMap, signed: &[&str]) -> Result<String, VerifyError> {
    let mut out = String::new();
    for name in signed {
        let mut values = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                std::str::from_utf8(v.as_bytes())
                    .map(str::trim)
                    .map_err(|_| VerifyError::InvalidHeaderValue)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() {
            return Err(VerifyError::SignedHeaderMissing((*name).to_owned()));
        }
        values.sort_unstable();
        for value in values {
            out.push_str(name);
            out.push(':');
            out.push_str(value);
            out.push('\n');
        }
    }
    Ok(out)
}

fn payload_hash(request: &SignableRequest<'_>) -> Result<String, VerifyError> {
    match request.headers.get(CONTENT_SHA256_HEADER) {
        Some(value) if !request.body.is_empty() => value
            .to_str()
            .map(|v| v.trim().to_owned())
            .map_err(|_| VerifyError::InvalidHeaderValue),
        _ => Ok(sha256_hex(request.body)),
    }
}

/// The canonical request for the given signed header names (lower-case, sorted).
pub fn canonical_request(
    request: &SignableRequest<'_>,
    signed: &[&str],
) -> Result<String, VerifyError> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.path),
        canonical_query(request.query),
        canonical_headers(request.headers, signed)?,
        signed.join(";"),
        payload_hash(request)?,
    ))
}

/// `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex sha256 of the canonical request>`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

fn sdk_date_of(headers: &HeaderMap) -> Result<&str, VerifyError> {
    let value = headers
        .get(SDK_DATE_HEADER)
        .ok_or(VerifyError::MissingDate)?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| VerifyError::InvalidHeaderValue)
}

/// Signs a request whose headers already hold everything to be signed (`Content-Type`,
/// `User-Agent`, `X-Project-Id`, `X-Sdk-Date`, `Host`, optionally `X-Security-Token`). The caller
/// adds [`Authorization::header_value`] as the `Authorization` header and must send the path, query
/// and body bytes exactly as passed here.
pub fn sign(
    request: &SignableRequest<'_>,
    access_key: &str,
    secret_key: &SecretString,
) -> Result<Authorization, VerifyError> {
    let sdk_date = sdk_date_of(request.headers)?;
    parse_sdk_date(sdk_date)?;
    let names = headers_to_sign(request.headers);
    let signed: Vec<&str> = names.iter().map(String::as_str).collect();
    let creq = canonical_request(request, &signed)?;
    let sts = string_to_sign(sdk_date, &creq);
    let mac = hmac_sha256(secret_key.expose_secret().as_bytes(), sts.as_bytes());
    Ok(Authorization {
        access_key: access_key.to_owned(),
        signed_headers: signed.join(";"),
        signature: hex::encode(mac.finalize().into_bytes()),
    })
}

/// Verifies a received request's signature. `secret_for` maps an access key to its secret key
/// (`None` for an unknown key). Only `x-sdk-date` must be among the signed headers: the Python SDK
/// signs `host` and `x-project-id`, the Go SDK used by Terraform signs neither, and both must pass.
/// The signature comparison runs in constant time.
pub fn verify(
    request: &SignableRequest<'_>,
    secret_for: impl FnOnce(&str) -> Option<SecretString>,
    clock: ClockCheck,
) -> Result<Verified, VerifyError> {
    let header = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(VerifyError::MissingAuthorization)?
        .to_str()
        .map_err(|_| VerifyError::MalformedAuthorization)?;
    let auth = Authorization::parse(header)?;
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if signed
        .iter()
        .any(|name| name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(VerifyError::MalformedAuthorization);
    }
    if !signed.contains(&SDK_DATE_HEADER) {
        return Err(VerifyError::DateNotSigned);
    }
    let date_text = sdk_date_of(request.headers)?;
    let sdk_date = parse_sdk_date(date_text)?;
    if let ClockCheck::Within { now, max_skew } = clock {
        let skew = now.duration_since(sdk_date).unsigned_abs();
        if skew > max_skew {
            return Err(VerifyError::ClockSkew {
                date: date_text.to_owned(),
                max_skew_secs: max_skew.as_secs(),
            });
        }
    }
    let creq = canonical_request(request, &signed)?;
    let secret = secret_for(&auth.access_key)
        .ok_or_else(|| VerifyError::UnknownAccessKey(auth.access_key.clone()))?;
    let sts = string_to_sign(date_text, &creq);
    let expected = hex::decode(&auth.signature).map_err(|_| VerifyError::MalformedAuthorization)?;
    hmac_sha256(secret.expose_secret().as_bytes(), sts.as_bytes())
        .verify_slice(&expected)
        .map_err(|_| VerifyError::SignatureMismatch {
            canonical_request: creq,
        })?;
    Ok(Verified {
        access_key: auth.access_key,
        sdk_date,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    //! The four vectors of `shared/sdrs/signing.md` §7 (computed with huaweicloudsdkcore 3.1.219),
    //! reproduced byte for byte, and the verifier's negative cases.
    use super::*;
    use http::HeaderValue;

    const AK: &str = "HPUAEXAMPLEAK0000001";
    const SK: &str = "ExampleSecretKey0000000000000000000000001";
    const PROJECT: &str = "0605767ef300d5762fd3c0147d8a8f1e";
    const DATE: &str = "20240102T030405Z";

    fn sk() -> SecretString {
        SecretString::from(SK)
    }

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_str(content_type).unwrap());
        h.insert(
            "user-agent",
            HeaderValue::from_static("huaweicloud-usdk-python/3.0; sdrs-conformance"),
        );
        h.insert("x-project-id", HeaderValue::from_static(PROJECT));
        h.insert("x-sdk-date", HeaderValue::from_static(DATE));
        h.insert("host", HeaderValue::from_static("127.0.0.1:8443"));
        h
    }

    const BODY_A: &str = r#"{"server_group": {"name": "pg-web", "description": "conformance", "source_availability_zone": "az-1a", "target_availability_zone": "az-1b", "domain_id": "domain-0001", "source_vpc_id": "vpc-0001", "dr_type": "migration"}}"#;

    fn path_a() -> String {
        format!("/v1/{PROJECT}/server-groups")
    }

    fn signed(mut h: HeaderMap, req: &SignableRequest<'_>) -> HeaderMap {
        let auth = sign(req, AK, &sk()).unwrap();
        h.insert(
            "authorization",
            HeaderValue::from_str(&auth.header_value()).unwrap(),
        );
        h
    }

    #[test]
    fn vector_a_post_create_protection_group() {
        let h = headers("application/json;charset=utf-8");
        let path = path_a();
        let req = SignableRequest {
            method: "POST",
            path: &path,
            query: "",
            headers: &h,
            body: BODY_A.as_bytes(),
        };
        assert_eq!(BODY_A.len(), 221);
        assert_eq!(
            sha256_hex(BODY_A.as_bytes()),
            "0c06891110f2cf5dc38e20aaad2950e1a6420729d367ce07d68d484d26f49398"
        );
        let names = headers_to_sign(&h);
        let signed_names: Vec<&str> = names.iter().map(String::as_str).collect();
        let creq = canonical_request(&req, &signed_names).unwrap();
        let expected_creq = format!(
            "POST\n/v1/{PROJECT}/server-groups/\n\ncontent-type:application/json;charset=utf-8\n\
             host:127.0.0.1:8443\nuser-agent:huaweicloud-usdk-python/3.0; sdrs-conformance\n\
             x-project-id:{PROJECT}\nx-sdk-date:{DATE}\n\n\
             content-type;host;user-agent;x-project-id;x-sdk-date\n\
             0c06891110f2cf5dc38e20aaad2950e1a6420729d367ce07d68d484d26f49398"
        );
        assert_eq!(creq, expected_creq);
        assert_eq!(
            string_to_sign(DATE, &creq),
            "SDK-HMAC-SHA256\n20240102T030405Z\n\
             72231d56afbf72716f32c3aa5850ebdca58235f283f8c75c985a6dd8d16a101b"
        );
        let auth = sign(&req, AK, &sk()).unwrap();
        assert_eq!(
            auth.header_value(),
            "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, \
             SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, \
             Signature=dfcfda6103b146945cdc7598e67483b1ab611cbabe56c659a1f1ab7c3a598900"
        );
    }

    #[test]
    fn vector_b_get_with_encoded_query() {
        let h = headers("application/json");
        let pairs = [
            ("server_group_id", "sg-0001"),
            ("name", "web 01/é+*~"),
            ("limit", "10"),
            ("offset", "0"),
        ];
        let query = encode_query(&pairs);
        assert_eq!(
            query,
            "limit=10&name=web%2001%2F%C3%A9%2B%2A~&offset=0&server_group_id=sg-0001"
        );
        let path = format!("/v1/{PROJECT}/protected-instances");
        let req = SignableRequest {
            method: "GET",
            path: &path,
            query: &query,
            headers: &h,
            body: b"",
        };
        let names = headers_to_sign(&h);
        let signed_names: Vec<&str> = names.iter().map(String::as_str).collect();
        let creq = canonical_request(&req, &signed_names).unwrap();
        assert!(creq.ends_with(EMPTY_PAYLOAD_SHA256));
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "ba429825f386201980173b518d6c879d0a69c22e07ddad93fc0ccae6ef64582d"
        );
        assert_eq!(
            sign(&req, AK, &sk()).unwrap().signature,
            "db5201166e4043e98a5c2c2a1dd2f6891b41891e98dce63cb5e235fee2df958c"
        );
    }

    #[test]
    fn vector_c_get_root() {
        let h = headers("application/json");
        let req = SignableRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &h,
            body: b"",
        };
        assert_eq!(canonical_uri("/"), "/");
        let creq = canonical_request(
            &req,
            &headers_to_sign(&h)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "3f76adedcd769a2c2402a6f058e991300cacac3318bd751eca94f1c9de8458a2"
        );
        assert_eq!(
            sign(&req, AK, &sk()).unwrap().signature,
            "34b35d14507fbaf57bcf9c492aa03ba4fa8797089bf93d2c5c38c1c61bc0f493"
        );
    }

    #[test]
    fn vector_d_delete_with_encoded_segment() {
        let h = headers("application/json");
        let path = format!(
            "/v1/{PROJECT}/protected-instances/pi-0001/tags/{}",
            encode_unreserved("env name:1".as_bytes())
        );
        assert!(path.ends_with("/tags/env%20name%3A1"));
        assert_eq!(canonical_uri(&path), format!("{path}/"));
        let req = SignableRequest {
            method: "DELETE",
            path: &path,
            query: "",
            headers: &h,
            body: b"",
        };
        let creq = canonical_request(
            &req,
            &headers_to_sign(&h)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "cb24f4d543bbdd23493f999544042b578d8291da87fe9889781314aaf57b55ff"
        );
        assert_eq!(
            sign(&req, AK, &sk()).unwrap().signature,
            "0001806b478f42eb34bdb6d56373dd360b0c0773309d602be9c95745aea567ff"
        );
    }

    fn lookup(ak: &str) -> Option<SecretString> {
        (ak == AK).then(sk)
    }

    fn signed_vector_a() -> (String, HeaderMap) {
        let h = headers("application/json;charset=utf-8");
        let path = path_a();
        let req = SignableRequest {
            method: "POST",
            path: &path,
            query: "",
            headers: &h,
            body: BODY_A.as_bytes(),
        };
        let h = signed(h.clone(), &req);
        (path, h)
    }

    #[test]
    fn verifier_accepts_the_four_vectors() {
        let (path, h) = signed_vector_a();
        let req = SignableRequest {
            method: "POST",
            path: &path,
            query: "",
            headers: &h,
            body: BODY_A.as_bytes(),
        };
        let verified = verify(&req, lookup, ClockCheck::Skip).unwrap();
        assert_eq!(verified.access_key, AK);
        assert_eq!(verified.sdk_date.to_string(), "2024-01-02T03:04:05Z");

        // B, C and D, with the published signatures pasted in rather than recomputed.
        let cases = [
            (
                "GET",
                format!("/v1/{PROJECT}/protected-instances"),
                "limit=10&name=web%2001%2F%C3%A9%2B%2A~&offset=0&server_group_id=sg-0001",
                "db5201166e4043e98a5c2c2a1dd2f6891b41891e98dce63cb5e235fee2df958c",
            ),
            (
                "GET",
                "/".to_owned(),
                "",
                "34b35d14507fbaf57bcf9c492aa03ba4fa8797089bf93d2c5c38c1c61bc0f493",
            ),
            (
                "DELETE",
                format!("/v1/{PROJECT}/protected-instances/pi-0001/tags/env%20name%3A1"),
                "",
                "0001806b478f42eb34bdb6d56373dd360b0c0773309d602be9c95745aea567ff",
            ),
        ];
        for (method, path, query, signature) in cases {
            let mut h = headers("application/json");
            h.insert(
                "authorization",
                HeaderValue::from_str(&format!(
                    "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, Signature={signature}"
                ))
                .unwrap(),
            );
            let req = SignableRequest {
                method,
                path: &path,
                query,
                headers: &h,
                body: b"",
            };
            verify(&req, lookup, ClockCheck::Skip)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
    }

    #[test]
    fn verifier_recanonicalises_a_reordered_query_with_other_hex_spellings() {
        let mut h = headers("application/json");
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, Signature=db5201166e4043e98a5c2c2a1dd2f6891b41891e98dce63cb5e235fee2df958c",
            ),
        );
        let path = format!("/v1/{PROJECT}/protected-instances");
        let req = SignableRequest {
            method: "GET",
            path: &path,
            query: "server_group_id=sg-0001&offset=0&name=web%2001%2f%c3%a9%2B%2A%7E&limit=10",
            headers: &h,
            body: b"",
        };
        verify(&req, lookup, ClockCheck::Skip).unwrap();
    }

    fn verify_a_with(
        method: &str,
        query: &str,
        body: &[u8],
        h: &HeaderMap,
        secret: &str,
    ) -> Result<Verified, VerifyError> {
        let path = path_a();
        let req = SignableRequest {
            method,
            path: &path,
            query,
            headers: h,
            body,
        };
        let secret = secret.to_owned();
        verify(
            &req,
            move |_| Some(SecretString::from(secret)),
            ClockCheck::Skip,
        )
    }

    #[test]
    fn verifier_rejects_a_changed_body() {
        let (_, h) = signed_vector_a();
        let mut body = BODY_A.as_bytes().to_vec();
        body[30] ^= 1;
        let err = verify_a_with("POST", "", &body, &h, SK).unwrap_err();
        assert!(
            matches!(err, VerifyError::SignatureMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn verifier_rejects_an_added_query_parameter() {
        let (_, h) = signed_vector_a();
        let err = verify_a_with("POST", "x=1", BODY_A.as_bytes(), &h, SK).unwrap_err();
        assert!(
            matches!(err, VerifyError::SignatureMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn verifier_rejects_another_secret_key_and_a_changed_method() {
        let (_, h) = signed_vector_a();
        let other = "ExampleSecretKey0000000000000000000000002";
        assert!(matches!(
            verify_a_with("POST", "", BODY_A.as_bytes(), &h, other),
            Err(VerifyError::SignatureMismatch { .. })
        ));
        assert!(matches!(
            verify_a_with("PUT", "", BODY_A.as_bytes(), &h, SK),
            Err(VerifyError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn verifier_rejects_a_changed_signed_header() {
        let (_, mut h) = signed_vector_a();
        h.insert("x-project-id", HeaderValue::from_static("another-project"));
        assert!(matches!(
            verify_a_with("POST", "", BODY_A.as_bytes(), &h, SK),
            Err(VerifyError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn verifier_ignores_unsigned_headers() {
        let (_, mut h) = signed_vector_a();
        h.insert("accept", HeaderValue::from_static("*/*"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        verify_a_with("POST", "", BODY_A.as_bytes(), &h, SK).unwrap();
    }

    #[test]
    fn verifier_reports_unknown_keys_missing_headers_and_bad_dates() {
        let (path, h) = signed_vector_a();
        let req = SignableRequest {
            method: "POST",
            path: &path,
            query: "",
            headers: &h,
            body: BODY_A.as_bytes(),
        };
        let err = verify(&req, |_| None, ClockCheck::Skip).unwrap_err();
        assert_eq!(err, VerifyError::UnknownAccessKey(AK.to_owned()));
        assert_eq!(
            err.gateway_message(),
            "Incorrect IAM authentication information: ak HPUAEXAMPLEAK0000001 not exist"
        );

        let mut no_host = h.clone();
        no_host.remove("host");
        let req_no_host = SignableRequest {
            headers: &no_host,
            ..req
        };
        assert_eq!(
            verify(&req_no_host, lookup, ClockCheck::Skip).unwrap_err(),
            VerifyError::SignedHeaderMissing("host".to_owned())
        );

        let mut no_auth = h.clone();
        no_auth.remove("authorization");
        let req_no_auth = SignableRequest {
            headers: &no_auth,
            ..req
        };
        assert_eq!(
            verify(&req_no_auth, lookup, ClockCheck::Skip).unwrap_err(),
            VerifyError::MissingAuthorization
        );

        let mut bad_date = h.clone();
        bad_date.insert(
            "x-sdk-date",
            HeaderValue::from_static("2024-01-02T03:04:05Z"),
        );
        let req_bad_date = SignableRequest {
            headers: &bad_date,
            ..req
        };
        assert!(matches!(
            verify(&req_bad_date, lookup, ClockCheck::Skip).unwrap_err(),
            VerifyError::MalformedDate(_)
        ));

        let now: Timestamp = "2024-01-02T03:30:00Z".parse().unwrap();
        let err = verify(
            &req,
            lookup,
            ClockCheck::Within {
                now,
                max_skew: DEFAULT_MAX_CLOCK_SKEW,
            },
        )
        .unwrap_err();
        assert!(matches!(err, VerifyError::ClockSkew { .. }), "{err}");
        let now: Timestamp = "2024-01-02T03:10:00Z".parse().unwrap();
        verify(
            &req,
            lookup,
            ClockCheck::Within {
                now,
                max_skew: DEFAULT_MAX_CLOCK_SKEW,
            },
        )
        .unwrap();
    }

    #[test]
    fn verifier_requires_the_date_to_be_signed_but_nothing_else() {
        // Terraform's Go signer signs neither host nor x-project-id.
        let mut h = headers("application/json");
        h.remove("host");
        h.remove("x-project-id");
        let path = format!("/v1/{PROJECT}/server-groups");
        let req = SignableRequest {
            method: "GET",
            path: &path,
            query: "",
            headers: &h,
            body: b"",
        };
        let h = signed(h.clone(), &req);
        let mut received = h.clone();
        received.insert("host", HeaderValue::from_static("127.0.0.1:8443"));
        received.insert("x-project-id", HeaderValue::from_static(PROJECT));
        let req = SignableRequest {
            headers: &received,
            ..req
        };
        verify(&req, lookup, ClockCheck::Skip).unwrap();

        let mut undated = received.clone();
        undated.insert(
            "authorization",
            HeaderValue::from_static(
                "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=content-type;user-agent, Signature=db5201166e4043e98a5c2c2a1dd2f6891b41891e98dce63cb5e235fee2df958c",
            ),
        );
        let req = SignableRequest {
            headers: &undated,
            ..req
        };
        assert_eq!(
            verify(&req, lookup, ClockCheck::Skip).unwrap_err(),
            VerifyError::DateNotSigned
        );
    }

    #[test]
    fn authorization_parsing_is_strict_about_shape() {
        for bad in [
            "",
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SHA256Access=a, SignedHeaders=x-sdk-date, Signature=00",
            "AWS4-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date, Signature=dfcfda6103b146945cdc7598e67483b1ab611cbabe56c659a1f1ab7c3a598900",
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date, Signature=DFCFDA6103B146945CDC7598E67483B1AB611CBABE56C659A1F1AB7C3A598900",
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date",
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date, Signature=dfcfda6103b146945cdc7598e67483b1ab611cbabe56c659a1f1ab7c3a598900, Extra=1",
        ] {
            assert_eq!(
                Authorization::parse(bad),
                Err(VerifyError::MalformedAuthorization),
                "{bad}"
            );
        }
        let ok = Authorization::parse(
            "SDK-HMAC-SHA256   Access=a,SignedHeaders=x-sdk-date,  Signature=dfcfda6103b146945cdc7598e67483b1ab611cbabe56c659a1f1ab7c3a598900",
        )
        .unwrap();
        assert_eq!(ok.access_key, "a");
        assert_eq!(ok.signed_headers, "x-sdk-date");
    }

    #[test]
    fn canonical_forms_follow_the_sdk() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a/b/"), "/a/b/");
        // A `%2F` inside a segment is decoded and becomes a separator, as in both official SDKs.
        assert_eq!(canonical_uri("/tags/a%2Fb"), "/tags/a/b/");
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=&a=1"), "a=&a=1&b=2");
        assert_eq!(canonical_query("q=a+b"), "q=a%2Bb");
        assert_eq!(canonical_query("flag"), "flag=");
        assert_eq!(
            format_sdk_date("2024-01-02T03:04:05Z".parse().unwrap()),
            DATE
        );
        assert_eq!(
            parse_sdk_date(DATE).unwrap().to_string(),
            "2024-01-02T03:04:05Z"
        );
    }
}
