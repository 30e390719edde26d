//! Failure policies as data: retry with backoff, error-code patterns, and what a failure does.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::Duration;

/// Namespaces of the error codes a step can fail with. `SDRS`, `ECS` and `APIGW` codes come from
/// the cloud (`SDRS.0209`); `HTTP.<status>` when a response had no code; `NET.*` for transport
/// failures (`NET.TIMEOUT`, `NET.RESET`, `NET.CONNECT`); `DRBOOK.*` for drbook's own failures
/// (see [`crate::runbook::codes`]).
pub const ERROR_NAMESPACES: &[&str] = &["SDRS", "ECS", "APIGW", "HTTP", "NET", "DRBOOK"];

/// Namespaces whose codes are numbers; in their patterns `x` stands for one digit.
const NUMERIC_NAMESPACES: &[&str] = &["SDRS", "ECS", "APIGW", "HTTP"];

/// A pattern over error codes: `SDRS.0209` (exact), `SDRS.02*` (glob: `*` any run, `?` one
/// character), `HTTP.5xx` (`x` is one digit in numeric namespaces), `NET.*`, or `*` (any error).
/// Matching ignores ASCII case, because ECS spells its namespace `Ecs`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorPattern {
    text: String,
    namespace: Option<String>,
    code: Vec<GlobToken>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum GlobToken {
    Literal(char),
    Digit,
    AnyOne,
    AnyRun,
}

impl ErrorPattern {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether an error code (`SDRS.0209`, `HTTP.503`, `NET.TIMEOUT`) matches.
    pub fn matches(&self, code: &str) -> bool {
        let Some(namespace) = &self.namespace else {
            return true;
        };
        let Some((code_namespace, rest)) = code.split_once('.') else {
            return false;
        };
        if !code_namespace.eq_ignore_ascii_case(namespace) {
            return false;
        }
        let chars: Vec<char> = rest.chars().map(|c| c.to_ascii_uppercase()).collect();
        glob_match(&self.code, &chars)
    }
}

fn glob_match(pattern: &[GlobToken], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((GlobToken::AnyRun, rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((token, rest)) => match text.split_first() {
            None => false,
            Some((c, text_rest)) => token.accepts(*c) && glob_match(rest, text_rest),
        },
    }
}

impl GlobToken {
    /// Whether the token accepts one character (for `AnyRun`, each character of its run).
    fn accepts(self, c: char) -> bool {
        match self {
            GlobToken::Literal(l) => l == c,
            GlobToken::Digit => c.is_ascii_digit(),
            GlobToken::AnyOne | GlobToken::AnyRun => true,
        }
    }
}

impl FromStr for ErrorPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "*" {
            return Ok(ErrorPattern {
                text: text.to_string(),
                namespace: None,
                code: Vec::new(),
            });
        }
        let Some((namespace, code)) = text.split_once('.') else {
            return Err(format!(
                "`{text}` is not an error code pattern: expected `NAMESPACE.CODE` such as `SDRS.0209` or `HTTP.5xx`"
            ));
        };
        let upper = namespace.to_ascii_uppercase();
        let Some(known) = ERROR_NAMESPACES.iter().find(|n| **n == upper) else {
            return Err(format!(
                "`{namespace}` in `{text}` is not an error namespace; known namespaces: {}",
                ERROR_NAMESPACES.join(", ")
            ));
        };
        if code.is_empty() {
            return Err(format!("`{text}` has no code after the `.`"));
        }
        if let Some(bad) = code
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*' | '?')))
        {
            return Err(format!(
                "`{text}` contains `{bad}`; codes use letters, digits, `_`, `-` and the wildcards `*` and `?`"
            ));
        }
        let numeric = NUMERIC_NAMESPACES.contains(known);
        if numeric {
            let has_run = code.contains('*');
            let non_wild: Vec<char> = code.chars().filter(|c| *c != '*').collect();
            if let Some(bad) = non_wild
                .iter()
                .find(|c| !(c.is_ascii_digit() || matches!(c, 'x' | 'X' | '?')))
            {
                return Err(format!(
                    "`{text}`: {known} codes are numbers; `{bad}` is neither a digit nor a wildcard (`x` one digit, `?` one character, `*` any run)"
                ));
            }
            let width = if *known == "HTTP" { 3 } else { 4 };
            if !has_run && non_wild.len() != width {
                return Err(format!(
                    "`{text}`: {known} codes have {width} digits (use `*` to match a prefix, e.g. `{known}.{}*`)",
                    &code[..code.len().min(width.saturating_sub(1)).max(1)]
                ));
            }
            if has_run && non_wild.len() > width {
                return Err(format!("`{text}`: {known} codes have only {width} digits"));
            }
            if *known == "HTTP"
                && let Some(first) = code.chars().next()
                && first.is_ascii_digit()
                && !('1'..='5').contains(&first)
            {
                return Err(format!("`{text}`: HTTP statuses start with 1 to 5"));
            }
        }
        let tokens = code
            .chars()
            .map(|c| match c {
                '*' => GlobToken::AnyRun,
                '?' => GlobToken::AnyOne,
                'x' | 'X' if numeric => GlobToken::Digit,
                other => GlobToken::Literal(other.to_ascii_uppercase()),
            })
            .collect();
        Ok(ErrorPattern {
            text: text.to_string(),
            namespace: Some(known.to_string()),
            code: tokens,
        })
    }
}

impl fmt::Display for ErrorPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ErrorPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ErrorPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ErrorPattern {
    fn schema_name() -> Cow<'static, str> {
        "ErrorPattern".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An error-code pattern: `SDRS.0209`, `SDRS.02*`, `HTTP.5xx` (`x` = one digit), `NET.*`, or `*`. Namespaces: SDRS, ECS, APIGW, HTTP, NET, DRBOOK.",
            "pattern": "^(\\*|[A-Za-z]+\\.[A-Za-z0-9_*?-]+)$",
            "examples": ["SDRS.0209", "HTTP.5xx", "NET.*"]
        })
    }
}

/// How long to wait between attempts. Argo's `retryStrategy.backoff` and SSM's retry settings,
/// as one tagged value: `{ kind: exponential, initial: 2s, factor: 2, cap: 1m }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Backoff {
    /// The same delay before every retry.
    Constant {
        /// Delay before each retry.
        initial: Duration,
    },
    /// `initial`, then 2×`initial`, 3×`initial`, ... up to `cap`.
    Linear {
        /// Delay before the first retry; each later retry adds it once more.
        initial: Duration,
        /// Longest delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<Duration>,
    },
    /// `initial`, then `initial`×`factor`, `initial`×`factor`², ... up to `cap`.
    Exponential {
        /// Delay before the first retry.
        initial: Duration,
        /// Growth per retry (default 2).
        #[serde(default = "default_factor")]
        factor: f64,
        /// Longest delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<Duration>,
    },
}

fn default_factor() -> f64 {
    2.0
}

impl Default for Backoff {
    /// 1s, 2s, 4s, ... capped at 1m: gentle on a service that is already struggling.
    fn default() -> Self {
        Backoff::Exponential {
            initial: Duration::from_secs(1),
            factor: 2.0,
            cap: Some(Duration::from_secs(60)),
        }
    }
}

impl Backoff {
    /// Delay before retry number `retry` (1 for the first retry, i.e. before attempt 2).
    pub fn delay(&self, retry: u32) -> std::time::Duration {
        let retry = retry.max(1);
        let (raw, cap) = match self {
            Backoff::Constant { initial } => (initial.as_std().as_secs_f64(), None),
            Backoff::Linear { initial, cap } => {
                (initial.as_std().as_secs_f64() * f64::from(retry), *cap)
            }
            Backoff::Exponential {
                initial,
                factor,
                cap,
            } => (
                initial.as_std().as_secs_f64() * factor.powi(retry as i32 - 1),
                *cap,
            ),
        };
        // A month bounds any delay (durations are limited to 30 days) and keeps the float finite.
        let mut secs = raw.clamp(0.0, 30.0 * 24.0 * 3600.0);
        if let Some(cap) = cap {
            secs = secs.min(cap.as_std().as_secs_f64());
        }
        std::time::Duration::from_secs_f64(secs)
    }
}

/// When and how often a failed step is tried again (SSM `maxAttempts`, Argo `retryStrategy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 to 100; default 3).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delay between attempts (default: exponential from 1s, factor 2, cap 1m).
    #[serde(default)]
    pub backoff: Backoff,
    /// Retry only errors matching one of these patterns. Empty or absent: the transient class,
    /// `HTTP.5xx` and `NET.*` (see [`DEFAULT_RETRY_ON`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_on: Vec<ErrorPattern>,
    /// Never retry errors matching these patterns (checked before `retry_on`), e.g. not-found
    /// codes such as `SDRS.1013`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_fast_on: Vec<ErrorPattern>,
}

/// What a `retry` without `retry_on` retries: the transient class (server errors and transport
/// failures). Cloud errors such as `SDRS.0209` (incorrect status) are retried only when listed,
/// because most SDRS codes mean the request itself is wrong. Throttling (`HTTP.429`, APIGW rate
/// limits) is the engine's business, retried from its own budget.
pub const DEFAULT_RETRY_ON: &[&str] = &["HTTP.5xx", "NET.*"];

fn default_retry_on() -> Vec<ErrorPattern> {
    DEFAULT_RETRY_ON
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn default_max_attempts() -> u32 {
    3
}

impl Default for RetryPolicy {
    /// No retry: one attempt.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff: Backoff::default(),
            retry_on: Vec::new(),
            fail_fast_on: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Whether an error with `code` is worth another attempt under this policy (ignoring how
    /// many attempts are left).
    pub fn is_retryable(&self, code: &str) -> bool {
        if self.fail_fast_on.iter().any(|p| p.matches(code)) {
            return false;
        }
        if self.retry_on.is_empty() {
            return default_retry_on().iter().any(|p| p.matches(code));
        }
        self.retry_on.iter().any(|p| p.matches(code))
    }

    /// Whether attempt number `attempt` (1-based) that failed with `code` should be followed by
    /// another one, and after which delay.
    pub fn next_attempt(&self, attempt: u32, code: &str) -> Option<std::time::Duration> {
        if attempt >= self.max_attempts || !self.is_retryable(code) {
            return None;
        }
        Some(self.backoff.delay(attempt))
    }
}

/// What happens when a step fails for good (after its retries). SSM's `onFailure`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum OnFailure {
    /// Stop the run: running steps finish, nothing new starts, completed steps are compensated
    /// in reverse order.
    #[default]
    Abort,
    /// Carry on; the step's dependants are skipped. The run fails at the end if the step was
    /// `critical`.
    Continue,
    /// Run this handler step. If it succeeds the failure is handled; dependants of the failed
    /// step are still skipped.
    Handler(String),
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnFailure::Abort => f.write_str("abort"),
            OnFailure::Continue => f.write_str("continue"),
            OnFailure::Handler(id) => f.write_str(id),
        }
    }
}

impl From<&str> for OnFailure {
    fn from(text: &str) -> Self {
        match text {
            "abort" => OnFailure::Abort,
            "continue" => OnFailure::Continue,
            id => OnFailure::Handler(id.to_string()),
        }
    }
}

impl Serialize for OnFailure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OnFailure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Ok(OnFailure::from(text.as_ref()))
    }
}

impl JsonSchema for OnFailure {
    fn schema_name() -> Cow<'static, str> {
        "OnFailure".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "What a failure does: `abort` (default) stops the run and compensates; `continue` carries on; any other value is the id of a handler step to run.",
            "anyOf": [
                { "const": "abort", "description": "Stop the run and compensate completed steps (default)." },
                { "const": "continue", "description": "Carry on; dependants of the failed step are skipped." },
                { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$", "description": "The id of a handler step." }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> ErrorPattern {
        text.parse().unwrap()
    }

    #[test]
    fn patterns_match_codes() {
        assert!(pattern("SDRS.0209").matches("SDRS.0209"));
        assert!(!pattern("SDRS.0209").matches("SDRS.0208"));
        assert!(pattern("SDRS.02*").matches("SDRS.0214"));
        assert!(!pattern("SDRS.02*").matches("SDRS.1013"));
        assert!(pattern("HTTP.5xx").matches("HTTP.503"));
        assert!(!pattern("HTTP.5xx").matches("HTTP.429"));
        assert!(pattern("HTTP.4?9").matches("HTTP.429"));
        assert!(pattern("NET.*").matches("NET.TIMEOUT"));
        assert!(pattern("ECS.0114").matches("Ecs.0114"));
        assert!(pattern("*").matches("anything"));
        assert!(!pattern("SDRS.*").matches("SDRS"));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, why) in [
            ("SDRS0209", "NAMESPACE.CODE"),
            ("SRDS.0209", "not an error namespace"),
            ("SDRS.209", "4 digits"),
            ("HTTP.5x", "3 digits"),
            ("HTTP.600", "start with 1 to 5"),
            ("SDRS.02 9", "contains ` `"),
            ("SDRS.", "no code"),
            ("SDRS.ab12", "neither a digit"),
        ] {
            let err = text.parse::<ErrorPattern>().unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let exp = Backoff::Exponential {
            initial: Duration::from_secs(2),
            factor: 2.0,
            cap: Some(Duration::from_secs(10)),
        };
        let delays: Vec<u64> = (1..=5).map(|r| exp.delay(r).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
        let lin = Backoff::Linear {
            initial: Duration::from_secs(3),
            cap: None,
        };
        assert_eq!(lin.delay(3).as_secs(), 9);
        let constant = Backoff::Constant {
            initial: Duration::from_secs(5),
        };
        assert_eq!(constant.delay(7).as_secs(), 5);
    }

    #[test]
    fn fail_fast_wins_over_retry_on() {
        let policy = RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::Constant {
                initial: Duration::from_secs(1),
            },
            retry_on: vec![pattern("SDRS.*")],
            fail_fast_on: vec![pattern("SDRS.1013")],
        };
        assert_eq!(
            policy.next_attempt(1, "SDRS.0209"),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(policy.next_attempt(1, "SDRS.1013"), None);
        assert_eq!(policy.next_attempt(1, "HTTP.503"), None);
        assert_eq!(policy.next_attempt(3, "SDRS.0209"), None);
    }

    #[test]
    fn without_retry_on_only_transient_errors_are_retried() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.is_retryable("HTTP.503"));
        assert!(policy.is_retryable("NET.RESET"));
        assert!(!policy.is_retryable("SDRS.0209"));
        assert!(!policy.is_retryable("HTTP.400"));
        assert!(!policy.is_retryable("DRBOOK.TIMEOUT"));
    }

    #[test]
    fn on_failure_reads_and_prints_its_three_forms() {
        for text in ["abort", "continue", "restore_servers"] {
            assert_eq!(OnFailure::from(text).to_string(), text);
        }
        assert_eq!(
            OnFailure::from("cleanup"),
            OnFailure::Handler("cleanup".into())
        );
    }
}
