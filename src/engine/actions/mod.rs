//! What the executor's effects do: the action implementations that talk to SDRS/ECS.
//!
//! Every operation of the table is one generic action ([`call`]: `Client::call` with the rendered
//! inputs), so the 49 SDRS and 4 ECS operations are not written out by hand; the built-ins that
//! need I/O are here too ([`wait_job`] for `sdrs.job.wait` / `ecs.job.wait` and for compensation
//! jobs, [`wait_until`] for `wait.until`). The pure built-ins (`assert`, `approval`, `sleep`,
//! `log`) are decided in the state machine; the executor only writes `log` lines and fires
//! timers. Each function returns an [`Outcome`]; none of them touches the run's state.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::machine::{Outcome, WaitUntilSpec};
use super::retry::{Failure, FailureClass};
use crate::runbook::{codes, helpers};
use crate::sdrs::operations::{Operation, Service};
use crate::sdrs::{Client, ErrorClass, PollPolicy};

/// How the engine polls: jobs, `wait.until` and reconciliation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Polling {
    /// Delay before the first poll of a job (then doubled up to `cap`).
    pub initial: Duration,
    /// Longest delay between two polls.
    pub cap: Duration,
}

impl Default for Polling {
    /// The first poll after a second: SDRS jobs take seconds to minutes, and the first answer
    /// comes quickly when they are short. Then 2s, 4s, ... up to one poll per 30s.
    fn default() -> Self {
        Polling {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        }
    }
}

/// Runs one operation of the table.
pub async fn call(client: &Client, op: &'static Operation, inputs: &Map<String, Value>) -> Outcome {
    match client.call(op, inputs).await {
        Ok(value) => Outcome::Ok(value),
        Err(error) => Outcome::Err(Failure::from_sdrs(&error)),
    }
}

/// Waits for an SDRS or ECS job: the final job on `SUCCESS`, its error code on `FAIL`,
/// `DRBOOK.WAIT_TIMEOUT` after `max_wait`.
pub async fn wait_job(
    client: &Client,
    service: Service,
    job_id: &str,
    max_wait: Duration,
    polling: Polling,
) -> Outcome {
    let policy = PollPolicy {
        initial: polling.initial.max(Duration::from_millis(1)),
        factor: 2.0,
        cap: polling.cap.max(polling.initial),
        max_wait,
    };
    match client.wait_job_json(service, job_id, &policy).await {
        Ok(job) => Outcome::Ok(job),
        Err(error) => Outcome::Err(Failure::from_sdrs(&error)),
    }
}

/// `wait.until`: polls a read-only action until the selected value is one of `desired`; fails at
/// once on a `stop` value, after `max_wait` with `DRBOOK.WAIT_TIMEOUT`. The first poll is
/// immediate; later ones back off from a second up to `interval`. Transient and throttled
/// errors keep the wait going; a permanent one ends it.
pub async fn wait_until(client: &Client, spec: &WaitUntilSpec) -> Outcome {
    let started = Instant::now();
    let mut delay = spec.interval.min(Duration::from_secs(1));
    let mut last = Value::Null;
    loop {
        match client.call(spec.op, &spec.inputs).await {
            Ok(value) => {
                let selected = spec.select.select(&value).unwrap_or(Value::Null);
                if spec.desired.iter().any(|d| helpers::json_eq(d, &selected)) {
                    return Outcome::Ok(value);
                }
                if spec.stop.iter().any(|s| helpers::json_eq(s, &selected)) {
                    return Outcome::Err(Failure::drbook(
                        codes::WAIT_STOPPED,
                        format!(
                            "{} is {selected}, which is listed in `stop`",
                            spec.select.as_str()
                        ),
                    ));
                }
                last = selected;
            }
            Err(error) if error.class() != ErrorClass::Permanent => {
                tracing::warn!(operation = spec.op.name, code = %error.code(), "wait.until poll failed, will retry: {error}");
            }
            Err(error) => return Outcome::Err(Failure::from_sdrs(&error)),
        }
        let elapsed = started.elapsed();
        if elapsed >= spec.max_wait {
            let desired: Vec<String> = spec.desired.iter().map(Value::to_string).collect();
            return Outcome::Err(Failure {
                code: codes::WAIT_TIMEOUT.to_owned(),
                message: format!(
                    "{} was still {last} after {}; waiting for {}",
                    spec.select.as_str(),
                    crate::runbook::Duration::from(spec.max_wait),
                    desired.join(" or ")
                ),
                class: FailureClass::Permanent,
                maybe_applied: false,
                timed_out: false,
                status: None,
            });
        }
        tokio::time::sleep(delay.min(spec.max_wait - elapsed)).await;
        delay = (delay * 2).min(spec.interval.max(Duration::from_millis(1)));
    }
}

/// Bounds an attempt by the step's `timeout`. A mutating call cut short may have been applied.
pub async fn with_timeout(
    timeout: Option<Duration>,
    mutating: bool,
    attempt: impl std::future::Future<Output = Outcome>,
) -> Outcome {
    let Some(limit) = timeout else {
        return attempt.await;
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Err(Failure {
            code: codes::TIMEOUT.to_owned(),
            message: format!(
                "the attempt ran longer than the step's timeout of {}",
                crate::runbook::Duration::from(limit)
            ),
            class: FailureClass::Permanent,
            maybe_applied: mutating,
            timed_out: true,
            status: None,
        }),
    }
}
