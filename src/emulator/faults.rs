//! Fault injection: rules that make the emulator misbehave on purpose, from a file at start and
//! from the admin API while a run is in flight.
//!
//! Rules are evaluated in order for every routed request. A rule matches an operation (its SDK
//! name, or `*`) and optionally a resource id (a path id or an id in the body); `rate` makes it
//! fire with a probability and `times` limits how often it fires. `latency` adds a delay and
//! evaluation goes on; `error` and `throttle` answer at once; `drop_after_apply` lets the request
//! change the world and then closes the connection without an answer; `job_fail` and `job_hang`
//! shape the job the request submits.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Error;
use crate::sdrs::operations;

/// Serde helpers for durations written in friendly form (`250ms`, `2s`, `1m 30s`).
pub mod friendly_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn parse(text: &str) -> Result<Duration, String> {
        let d: jiff::SignedDuration = text
            .trim()
            .parse()
            .map_err(|e| format!("`{text}` is not a duration like 250ms, 2s or 1m: {e}"))?;
        Duration::try_from(d).map_err(|_| format!("`{text}` is negative"))
    }

    pub fn format(d: Duration) -> String {
        match jiff::SignedDuration::try_from(d) {
            Ok(d) => format!("{d:#}"),
            Err(_) => format!("{}s", d.as_secs()),
        }
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this HTTP status and `{"error": {"code", "message"}}`; nothing changes.
    Error {
        http_status: u16,
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// Answer 429 with the API gateway's throttling body (`APIGW.0308`).
    Throttle,
    /// Wait this long before handling the request.
    Latency {
        #[serde(with = "friendly_duration")]
        duration: Duration,
    },
    /// Apply the request, then close the connection without sending the response.
    DropAfterApply,
    /// Accept the request, but make its job end in `FAIL` with this code.
    JobFail {
        code: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Accept the request, but keep its job `RUNNING` forever.
    JobHang,
}

/// A fault rule, as written in a fault file or posted to `/_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Assigned by the emulator when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// SDK operation name (`start_failover_protection_group`) or `*` for all.
    pub operation: String,
    /// Only requests about this resource id.
    #[serde(default)]
    pub resource: Option<String>,
    pub action: FaultAction,
    /// Probability (0..=1) that a matching request triggers the rule; always when absent.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Trigger at most this many times; forever when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

impl FaultRule {
    /// Checks the rule: a known operation, a rate in 0..=1, an error status ≥ 400.
    pub fn validate(&self) -> Result<(), Error> {
        if self.operation != "*" && operations::by_name(&self.operation).is_none() {
            return Err(Error::InvalidFault(format!(
                "unknown operation `{}` (use an SDK method name such as show_protection_group, or *)",
                self.operation
            )));
        }
        if let Some(rate) = self.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(Error::InvalidFault(format!(
                "rate {rate} is not between 0 and 1"
            )));
        }
        if let FaultAction::Error { http_status, .. } = self.action
            && !(400..=599).contains(&http_status)
        {
            return Err(Error::InvalidFault(format!(
                "http_status {http_status} is not an error status (400-599)"
            )));
        }
        Ok(())
    }
}

/// A rule with its bookkeeping, as `GET /_emulator/faults` shows it (output only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveFault {
    #[serde(flatten)]
    pub rule: FaultRule,
    /// How many times it fired.
    pub hits: u64,
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub latency: Duration,
    /// Answer with this instead of handling the request.
    pub respond: Option<FaultAction>,
    pub drop_after_apply: bool,
    pub job_fail: Option<(String, String)>,
    pub job_hang: bool,
    /// Ids of the rules that fired.
    pub fired: Vec<String>,
}

/// The ordered rule list.
#[derive(Debug, Default)]
pub struct FaultSet {
    rules: Vec<ActiveFault>,
    next_id: u64,
}

impl FaultSet {
    /// Adds a rule at the end; returns its id.
    pub fn add(&mut self, mut rule: FaultRule) -> Result<String, Error> {
        rule.validate()?;
        let id = match rule.id.take() {
            Some(id) if !id.is_empty() => id,
            _ => {
                self.next_id += 1;
                format!("fault-{}", self.next_id)
            }
        };
        if self
            .rules
            .iter()
            .any(|r| r.rule.id.as_deref() == Some(id.as_str()))
        {
            return Err(Error::InvalidFault(format!(
                "a fault with id `{id}` exists"
            )));
        }
        rule.id = Some(id.clone());
        self.rules.push(ActiveFault { rule, hits: 0 });
        Ok(id)
    }

    /// Removes one rule; returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.rule.id.as_deref() != Some(id));
        self.rules.len() != before
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn list(&self) -> Vec<ActiveFault> {
        self.rules.clone()
    }

    /// Evaluates the rules for a request to `operation` about `resources`. `returns_job` says
    /// whether the operation submits a job (job faults only apply to those). Firing consumes
    /// one of a rule's `times`.
    pub fn evaluate(
        &mut self,
        operation: &str,
        resources: &[String],
        returns_job: bool,
    ) -> Decision {
        let mut d = Decision::default();
        for active in &mut self.rules {
            let rule = &mut active.rule;
            if rule.operation != "*" && rule.operation != operation {
                continue;
            }
            if let Some(r) = &rule.resource
                && !resources.iter().any(|x| x == r)
            {
                continue;
            }
            if rule.times == Some(0) {
                continue;
            }
            let is_job_fault = matches!(
                rule.action,
                FaultAction::JobFail { .. } | FaultAction::JobHang
            );
            if is_job_fault && (!returns_job || d.job_fail.is_some() || d.job_hang) {
                continue;
            }
            if let Some(rate) = rule.rate
                && !rand::random_bool(rate)
            {
                continue;
            }
            if let Some(times) = rule.times.as_mut() {
                *times -= 1;
            }
            active.hits += 1;
            d.fired.push(rule.id.clone().unwrap_or_default());
            match &rule.action {
                FaultAction::Latency { duration } => d.latency += *duration,
                FaultAction::DropAfterApply => d.drop_after_apply = true,
                FaultAction::JobFail { code, reason } => {
                    d.job_fail = Some((
                        code.clone(),
                        reason
                            .clone()
                            .unwrap_or_else(|| format!("injected failure {code}")),
                    ));
                }
                FaultAction::JobHang => d.job_hang = true,
                terminal @ (FaultAction::Error { .. } | FaultAction::Throttle) => {
                    d.respond = Some(terminal.clone());
                    break;
                }
            }
        }
        d
    }
}

/// Parses fault rules from YAML or JSON text: a list of rules.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<FaultRule>, Error> {
    let rules: Vec<FaultRule> = serde_saphyr::from_str(text).map_err(|e| Error::FaultFile {
        path: origin.to_path_buf(),
        message: e.to_string(),
    })?;
    for rule in &rules {
        rule.validate().map_err(|e| Error::FaultFile {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    Ok(rules)
}

/// Reads a fault file.
pub fn load(path: &Path) -> Result<Vec<FaultRule>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn rule(operation: &str, action: FaultAction) -> FaultRule {
        FaultRule {
            id: None,
            operation: operation.into(),
            resource: None,
            action,
            rate: None,
            times: None,
        }
    }

    #[test]
    fn a_fault_file_reads_like_the_issue_describes_it() {
        let text = r#"
- operation: start_failover_protection_group
  action: {error: {http_status: 500, code: SDRS.0013}}
  times: 1
- operation: "*"
  action: {latency: {duration: 250ms}}
  rate: 0.5
- operation: create_protection_group
  action: drop_after_apply
- operation: stop_protection_group
  resource: pg-web-0001
  action: {job_fail: {code: SDRS.1028, reason: disk offline}}
- operation: start_protection_group
  action: job_hang
- operation: show_protection_group
  action: throttle
"#;
        let rules = parse(text, Path::new("f.yaml")).unwrap();
        assert_eq!(rules.len(), 6);
        assert_eq!(
            rules[1].action,
            FaultAction::Latency {
                duration: Duration::from_millis(250)
            }
        );
        assert_eq!(rules[2].action, FaultAction::DropAfterApply);
        assert_eq!(rules[3].resource.as_deref(), Some("pg-web-0001"));
    }

    #[test]
    fn json_rules_parse_too() {
        let rules = parse(
            r#"[{"operation": "show_quota", "action": {"error": {"http_status": 503, "code": "X"}}}]"#,
            Path::new("f.json"),
        )
        .unwrap();
        assert_eq!(rules.len(), 1);
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let err = parse("- {operation: nope, action: throttle}", Path::new("f")).unwrap_err();
        assert!(
            err.to_string().contains("unknown operation `nope`"),
            "{err}"
        );
        let err = parse(
            "- {operation: '*', action: throttle, rate: 2}",
            Path::new("f"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("rate 2"), "{err}");
        let err = parse(
            "- {operation: '*', action: {error: {http_status: 200, code: X}}}",
            Path::new("f"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("http_status 200"), "{err}");
        let err = parse(
            "- {operation: '*', action: {latency: {duration: soon}}}",
            Path::new("f"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }

    #[test]
    fn times_limits_and_order_decides() {
        let mut set = FaultSet::default();
        let mut first = rule(
            "show_quota",
            FaultAction::Error {
                http_status: 500,
                code: "SDRS.0013".into(),
                message: None,
            },
        );
        first.times = Some(2);
        set.add(first).unwrap();
        set.add(rule("*", FaultAction::Throttle)).unwrap();
        for _ in 0..2 {
            let d = set.evaluate("show_quota", &[], false);
            assert!(matches!(d.respond, Some(FaultAction::Error { .. })));
        }
        let d = set.evaluate("show_quota", &[], false);
        assert_eq!(d.respond, Some(FaultAction::Throttle));
        assert_eq!(set.list()[0].hits, 2);
    }

    #[test]
    fn resources_and_job_faults_only_match_where_they_apply() {
        let mut set = FaultSet::default();
        let mut r = rule("*", FaultAction::JobHang);
        r.resource = Some("g1".into());
        set.add(r).unwrap();
        assert!(
            !set.evaluate("stop_protection_group", &["g2".into()], true)
                .job_hang
        );
        assert!(
            !set.evaluate("show_protection_group", &["g1".into()], false)
                .job_hang
        );
        assert!(
            set.evaluate("stop_protection_group", &["g1".into()], true)
                .job_hang
        );
    }

    #[test]
    fn latency_accumulates_and_evaluation_goes_on() {
        let mut set = FaultSet::default();
        set.add(rule(
            "*",
            FaultAction::Latency {
                duration: Duration::from_millis(10),
            },
        ))
        .unwrap();
        set.add(rule("*", FaultAction::DropAfterApply)).unwrap();
        let d = set.evaluate("create_protection_group", &[], true);
        assert_eq!(d.latency, Duration::from_millis(10));
        assert!(d.drop_after_apply);
        assert_eq!(d.fired, ["fault-1", "fault-2"]);
    }

    #[test]
    fn a_zero_rate_never_fires() {
        let mut set = FaultSet::default();
        let mut r = rule("*", FaultAction::Throttle);
        r.rate = Some(0.0);
        set.add(r).unwrap();
        for _ in 0..100 {
            assert_eq!(set.evaluate("show_quota", &[], false).respond, None);
        }
    }

    #[test]
    fn friendly_durations_round_trip() {
        assert_eq!(friendly_duration::parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(
            friendly_duration::parse("1m 30s"),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            friendly_duration::format(Duration::from_millis(250)),
            "250ms"
        );
    }
}
