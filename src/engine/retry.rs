//! Retry policy: what a failed attempt leads to (another attempt after a delay, or the end of
//! the step), decided from the normalised error code, its class, the step's `retry` policy and
//! the attempts recorded so far. Pure: no clock, no I/O.
//!
//! The order of the checks is part of the contract (README, "Retry"):
//!
//! 1. `fail_fast_on` matches: the step fails at once.
//! 2. The call was throttled (`HTTP.429`, `APIGW.0308`): retried from the throttle budget
//!    ([`ThrottlePolicy`]), with its own capped backoff; it does not spend `max_attempts`.
//! 3. `retry_on` matches (default: `HTTP.5xx`, `NET.*`) and attempts are left: retried after the
//!    step's backoff.
//! 4. Otherwise the step fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runbook::policy::DEFAULT_RETRY_ON;
use crate::runbook::{Backoff, ErrorPattern, RetryPolicy};
use crate::sdrs::ErrorClass;
use crate::store::records::{Attempt, AttemptOutcome};

/// Whether retrying a failed call can help, as the SDRS layer classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// Server errors and transport failures.
    Transient,
    /// Rate limits: retry later, from the throttle budget.
    Throttled,
    /// The same call would fail the same way.
    Permanent,
}

impl From<ErrorClass> for FailureClass {
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Transient => FailureClass::Transient,
            ErrorClass::Throttled => FailureClass::Throttled,
            ErrorClass::Permanent => FailureClass::Permanent,
        }
    }
}

/// How one attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The normalised code (`SDRS.0209`, `HTTP.503`, `NET.RESET`, `DRBOOK.TIMEOUT`, ...).
    pub code: String,
    /// What happened, in words (secrets already masked).
    pub message: String,
    pub class: FailureClass,
    /// Whether a mutating call may have taken effect although it failed (a lost response, a
    /// 5xx, a timeout after the request left): the engine reconciles before anything else.
    pub maybe_applied: bool,
    /// Whether the attempt ran past the step's `timeout`.
    pub timed_out: bool,
    /// The HTTP status of an error answer. Retry patterns such as `HTTP.5xx` match it too, so a
    /// 503 that carries a service code is still a server error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl Failure {
    /// A failure decided by drbook itself (`DRBOOK.*` codes): permanent, nothing sent.
    pub fn drbook(code: &str, message: impl Into<String>) -> Self {
        Failure {
            code: code.to_owned(),
            message: message.into(),
            class: FailureClass::Permanent,
            maybe_applied: false,
            timed_out: false,
            status: None,
        }
    }

    /// An SDRS client error, with its code, class and "maybe applied" flag. Job timeouts become
    /// `DRBOOK.WAIT_TIMEOUT`, the code runbooks see for a wait that ran out.
    pub fn from_sdrs(error: &crate::sdrs::Error) -> Self {
        let code = match error {
            crate::sdrs::Error::JobTimeout { .. } => crate::runbook::codes::WAIT_TIMEOUT.to_owned(),
            other => other.code().as_str().to_owned(),
        };
        Failure {
            code,
            message: error.to_string(),
            class: error.class().into(),
            maybe_applied: error.maybe_applied(),
            timed_out: false,
            status: error.status(),
        }
    }

    /// The attempt outcome this failure is recorded with.
    pub fn outcome(&self) -> AttemptOutcome {
        if self.class == FailureClass::Throttled {
            AttemptOutcome::Throttled
        } else if self.timed_out {
            AttemptOutcome::TimedOut
        } else {
            AttemptOutcome::Failed
        }
    }
}

/// How throttled calls are retried: from their own budget, with a capped exponential backoff,
/// without spending the step's `max_attempts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThrottlePolicy {
    /// Throttled attempts tolerated per step (and per compensation) before it fails.
    pub budget: u32,
    /// Delay before each retry of a throttled call.
    pub backoff: Backoff,
}

impl Default for ThrottlePolicy {
    /// Ten retries, 1s, 2s, 4s, ... capped at 30s: about three minutes of patience with a
    /// gateway that is shedding load.
    fn default() -> Self {
        ThrottlePolicy {
            budget: 10,
            backoff: Backoff::Exponential {
                initial: crate::runbook::Duration::from_secs(1),
                factor: 2.0,
                cap: Some(crate::runbook::Duration::from_secs(30)),
            },
        }
    }
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Try again after `delay`; `throttled` retries come from the throttle budget.
    Retry { delay: Duration, throttled: bool },
    /// The step fails; `why` says why no retry was made (for the message).
    GiveUp { why: String },
}

/// Decides what follows a failed attempt. `attempts` are the attempts recorded so far, the
/// failed one included (its outcome already set from `failure`).
pub fn next(
    policy: &RetryPolicy,
    throttle: &ThrottlePolicy,
    attempts: &[Attempt],
    failure: &Failure,
) -> Next {
    let code = failure.code.as_str();
    let http = failure.status.map(|status| format!("HTTP.{status}"));
    let matches = |patterns: &[ErrorPattern]| {
        patterns
            .iter()
            .any(|p| p.matches(code) || http.as_deref().is_some_and(|h| p.matches(h)))
    };
    if matches(&policy.fail_fast_on) {
        return Next::GiveUp {
            why: format!("{code} is listed in fail_fast_on"),
        };
    }
    if failure.class == FailureClass::Throttled {
        let throttled = throttled_attempts(attempts);
        if throttled <= throttle.budget {
            return Next::Retry {
                delay: throttle.backoff.delay(throttled),
                throttled: true,
            };
        }
        return Next::GiveUp {
            why: format!(
                "throttled {throttled} times, more than the budget of {}",
                throttle.budget
            ),
        };
    }
    let default_retry_on: Vec<ErrorPattern>;
    let retry_on = if policy.retry_on.is_empty() {
        default_retry_on = DEFAULT_RETRY_ON
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        &default_retry_on
    } else {
        &policy.retry_on
    };
    if !matches(retry_on) {
        return Next::GiveUp {
            why: if policy.retry_on.is_empty() {
                format!("{code} is not retried (only HTTP.5xx and NET.* are, without retry_on)")
            } else {
                format!("{code} does not match retry_on")
            },
        };
    }
    let counted = counted_attempts(attempts);
    if counted >= policy.max_attempts {
        return Next::GiveUp {
            why: format!("{counted} of {} attempts used", policy.max_attempts),
        };
    }
    Next::Retry {
        delay: policy.backoff.delay(counted),
        throttled: false,
    }
}

/// Attempts that count towards `max_attempts`: every attempt but the throttled ones.
pub fn counted_attempts(attempts: &[Attempt]) -> u32 {
    let n = attempts
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Throttled)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Attempts the service throttled.
pub fn throttled_attempts(attempts: &[Attempt]) -> u32 {
    let n = attempts
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Throttled)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn attempt(outcome: AttemptOutcome) -> Attempt {
        Attempt {
            number: 1,
            started_at: Timestamp::UNIX_EPOCH,
            ended_at: None,
            outcome,
            error_code: None,
            message: None,
        }
    }

    fn failure(code: &str, class: FailureClass) -> Failure {
        Failure {
            code: code.into(),
            message: String::new(),
            class,
            maybe_applied: false,
            timed_out: false,
            status: None,
        }
    }

    fn policy(yaml: &str) -> RetryPolicy {
        serde_json::from_value(serde_saphyr::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    #[test]
    fn fail_fast_wins_over_everything() {
        let p = policy("{max_attempts: 5, retry_on: ['SDRS.*'], fail_fast_on: [SDRS.1013]}");
        let next = next(
            &p,
            &ThrottlePolicy::default(),
            &[attempt(AttemptOutcome::Failed)],
            &failure("SDRS.1013", FailureClass::Permanent),
        );
        assert!(matches!(next, Next::GiveUp { why } if why.contains("fail_fast_on")));
    }

    #[test]
    fn throttled_attempts_do_not_spend_max_attempts() {
        let p = policy("{max_attempts: 1}");
        let throttle = ThrottlePolicy::default();
        let mut attempts = vec![attempt(AttemptOutcome::Throttled)];
        // One attempt allowed, yet a throttled one is retried...
        assert!(matches!(
            next(
                &p,
                &throttle,
                &attempts,
                &failure("APIGW.0308", FailureClass::Throttled)
            ),
            Next::Retry {
                throttled: true,
                ..
            }
        ));
        // ...until the budget is spent.
        attempts = vec![attempt(AttemptOutcome::Throttled); 11];
        assert!(matches!(
            next(&p, &throttle, &attempts, &failure("HTTP.429", FailureClass::Throttled)),
            Next::GiveUp { why } if why.contains("budget")
        ));
        // Throttled attempts are not counted when a real failure follows.
        let mut mixed = vec![attempt(AttemptOutcome::Throttled); 3];
        mixed.push(attempt(AttemptOutcome::Failed));
        let p3 = policy("{max_attempts: 2}");
        assert!(matches!(
            next(
                &p3,
                &throttle,
                &mixed,
                &failure("HTTP.503", FailureClass::Transient)
            ),
            Next::Retry {
                throttled: false,
                ..
            }
        ));
    }

    #[test]
    fn throttle_backoff_grows_and_is_capped() {
        let throttle = ThrottlePolicy::default();
        let delays: Vec<u64> = (1..=8)
            .map(|n| {
                let attempts = vec![attempt(AttemptOutcome::Throttled); n];
                match next(
                    &RetryPolicy::default(),
                    &throttle,
                    &attempts,
                    &failure("HTTP.429", FailureClass::Throttled),
                ) {
                    Next::Retry { delay, .. } => delay.as_secs(),
                    Next::GiveUp { .. } => panic!("gave up early"),
                }
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn retry_on_and_max_attempts_decide_the_rest() {
        let p = policy(
            "{max_attempts: 2, backoff: {kind: constant, initial: 3s}, retry_on: [SDRS.0209]}",
        );
        let t = ThrottlePolicy::default();
        let one = [attempt(AttemptOutcome::Failed)];
        assert_eq!(
            next(&p, &t, &one, &failure("SDRS.0209", FailureClass::Permanent)),
            Next::Retry {
                delay: Duration::from_secs(3),
                throttled: false
            }
        );
        assert!(matches!(
            next(&p, &t, &one, &failure("HTTP.503", FailureClass::Transient)),
            Next::GiveUp { why } if why.contains("retry_on")
        ));
        let two = [
            attempt(AttemptOutcome::Failed),
            attempt(AttemptOutcome::Failed),
        ];
        assert!(matches!(
            next(&p, &t, &two, &failure("SDRS.0209", FailureClass::Permanent)),
            Next::GiveUp { why } if why.contains("2 of 2")
        ));
        // Without a retry block a step has one attempt.
        assert!(matches!(
            next(
                &RetryPolicy::default(),
                &t,
                &one,
                &failure("HTTP.503", FailureClass::Transient)
            ),
            Next::GiveUp { .. }
        ));
    }

    #[test]
    fn http_patterns_match_the_status_of_an_answer_with_a_service_code() {
        let mut server_error = failure("SDRS.0013", FailureClass::Transient);
        server_error.status = Some(500);
        let t = ThrottlePolicy::default();
        let one = [attempt(AttemptOutcome::Failed)];
        assert!(matches!(
            next(&policy("{max_attempts: 2}"), &t, &one, &server_error),
            Next::Retry { .. }
        ));
        let listed = policy("{max_attempts: 2, retry_on: [SDRS.0209]}");
        assert!(matches!(
            next(&listed, &t, &one, &server_error),
            Next::GiveUp { .. }
        ));
        let mut not_found = failure("SDRS.1013", FailureClass::Permanent);
        not_found.status = Some(400);
        let stop_on_4xx = policy("{max_attempts: 5, retry_on: ['*'], fail_fast_on: [HTTP.4xx]}");
        assert!(matches!(
            next(&stop_on_4xx, &t, &one, &not_found),
            Next::GiveUp { why } if why.contains("fail_fast_on")
        ));
    }

    #[test]
    fn timeouts_are_retried_only_when_listed() {
        let mut timed_out = failure(crate::runbook::codes::TIMEOUT, FailureClass::Permanent);
        timed_out.timed_out = true;
        assert_eq!(timed_out.outcome(), AttemptOutcome::TimedOut);
        let t = ThrottlePolicy::default();
        let one = [attempt(AttemptOutcome::TimedOut)];
        let default = policy("{max_attempts: 3}");
        assert!(matches!(
            next(&default, &t, &one, &timed_out),
            Next::GiveUp { .. }
        ));
        let listed = policy("{max_attempts: 3, retry_on: [DRBOOK.TIMEOUT]}");
        assert!(matches!(
            next(&listed, &t, &one, &timed_out),
            Next::Retry { .. }
        ));
    }
}
