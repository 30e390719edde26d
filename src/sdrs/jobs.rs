//! Waiting for asynchronous jobs: [`Client::wait_job`] (SDRS) and [`Client::wait_ecs_job`] (ECS)
//! poll the job with capped exponential backoff until it is final or the wait runs out.
//!
//! - `SUCCESS` returns the job (with its entities and sub-jobs).
//! - `FAIL` becomes [`Error::JobFailed`] with the job's `error_code` and `fail_reason` (or those of
//!   its first failed sub-job when the job has none).
//! - `INIT`, `RUNNING`, a missing status or any unknown status keep polling.
//! - A transient or throttled error on a poll is logged and the wait goes on: a flaky network
//!   must not abandon a failover that is running fine. A permanent error ends the wait.
//! - The number of polls grows with the logarithm of the wait until the delay reaches the cap
//!   (then one poll per `cap`), instead of one per second for an hour.

use std::future::Future;
use std::time::{Duration, Instant};

use super::client::Client;
use super::error::{Error, ErrorClass, ErrorCode};
use super::models::{EcsJob, Job, JobStatus};
use super::operations::Service;

/// How to wait for a job. The defaults follow Terraform's practice (first poll after 5 s, polls
/// every few seconds) but back off to one poll per 30 s, and allow 30 minutes, which a large
/// failover can need. As data: `{initial: 5s, factor: 2, cap: 30s, max_wait: 30m}` (durations in
/// friendly form, ISO 8601 accepted too; omitted members take the defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollPolicy {
    /// Delay before the first poll.
    #[serde(with = "friendly_duration")]
    pub initial: Duration,
    /// Each delay is the previous one times this (≥ 1).
    pub factor: f64,
    /// Longest delay between two polls.
    #[serde(with = "friendly_duration")]
    pub cap: Duration,
    /// Give up (with [`Error::JobTimeout`]) once this much time has passed; the last poll happens
    /// at the deadline.
    #[serde(with = "friendly_duration")]
    pub max_wait: Duration,
}

/// Durations as `5s`, `1m 30s`, `2h` (jiff's friendly format; ISO 8601 `PT5S` is accepted too).
pub mod friendly_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        let signed = jiff::SignedDuration::try_from(*duration)
            .map_err(|e| serde::ser::Error::custom(e.to_string()))?;
        serializer.collect_str(&format_args!("{signed:#}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let signed: jiff::SignedDuration = text.trim().parse().map_err(|e| {
            D::Error::custom(format!(
                "`{text}` is not a duration like 5s, 1m 30s or 2h: {e}"
            ))
        })?;
        Duration::try_from(signed).map_err(|_| D::Error::custom(format!("`{text}` is negative")))
    }
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            factor: 2.0,
            cap: Duration::from_secs(30),
            max_wait: Duration::from_secs(30 * 60),
        }
    }
}

impl PollPolicy {
    /// Why the policy cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.initial.is_zero() {
            return Err("the initial delay must be above zero".into());
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!(
                "the factor must be at least 1, got {}",
                self.factor
            ));
        }
        if self.cap < self.initial {
            return Err("the cap must not be below the initial delay".into());
        }
        Ok(())
    }

    /// The delay after `delay`: times the factor, at most the cap.
    pub fn next_delay(&self, delay: Duration) -> Duration {
        Duration::try_from_secs_f64(delay.as_secs_f64() * self.factor)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The delays before each poll if every poll took no time: they stop when their sum reaches
    /// `max_wait` (the last one cut short). Its length is the most polls a wait makes.
    pub fn schedule(&self) -> Vec<Duration> {
        let mut delays = Vec::new();
        if self.check().is_err() {
            return delays;
        }
        let mut total = Duration::ZERO;
        let mut delay = self.initial;
        while total < self.max_wait {
            let step = delay.min(self.max_wait - total);
            delays.push(step);
            total += step;
            delay = self.next_delay(delay);
        }
        delays
    }
}

/// What [`wait_for`] needs to know about a job type.
trait PolledJob {
    fn status(&self) -> Option<&JobStatus>;
    fn failure(&self, job_id: &str) -> Error;
}

fn job_failed(
    job_id: &str,
    job_type: Option<String>,
    code: Option<&str>,
    reason: Option<&str>,
) -> Error {
    Error::JobFailed {
        job_id: job_id.to_owned(),
        job_type,
        code: code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map_or_else(|| ErrorCode::new(ErrorCode::JOB_FAILED), ErrorCode::new),
        reason: reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or("the job failed without a reason")
            .to_owned(),
    }
}

impl PolledJob for Job {
    fn status(&self) -> Option<&JobStatus> {
        self.status.as_ref()
    }

    fn failure(&self, job_id: &str) -> Error {
        let failed_sub_job = self
            .entities
            .as_ref()
            .and_then(|e| e.sub_jobs.as_ref())
            .and_then(|subs| {
                subs.iter()
                    .find(|s| s.status == Some(JobStatus::Fail) && s.error_code.is_some())
            });
        let code = self
            .error_code
            .as_deref()
            .or_else(|| failed_sub_job.and_then(|s| s.error_code.as_deref()));
        let reason = self
            .fail_reason
            .as_deref()
            .or_else(|| failed_sub_job.and_then(|s| s.fail_reason.as_deref()));
        job_failed(
            job_id,
            self.job_type.as_ref().map(|t| t.as_str().to_owned()),
            code,
            reason,
        )
    }
}

impl PolledJob for EcsJob {
    fn status(&self) -> Option<&JobStatus> {
        self.status.as_ref()
    }

    fn failure(&self, job_id: &str) -> Error {
        let failed_sub_job = self
            .entities
            .as_ref()
            .and_then(|e| e.sub_jobs.as_ref())
            .and_then(|subs| {
                subs.iter()
                    .find(|s| s.status == Some(JobStatus::Fail) && s.error_code.is_some())
            });
        job_failed(
            job_id,
            self.job_type.clone(),
            self.error_code
                .as_deref()
                .or_else(|| failed_sub_job.and_then(|s| s.error_code.as_deref())),
            self.fail_reason
                .as_deref()
                .or_else(|| failed_sub_job.and_then(|s| s.fail_reason.as_deref())),
        )
    }
}

async fn wait_for<T, F, Fut>(
    operation: &'static str,
    job_id: &str,
    policy: &PollPolicy,
    mut poll: F,
) -> Result<T, Error>
where
    T: PolledJob,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    policy.check().map_err(|reason| Error::InvalidInput {
        operation,
        input: "poll policy".to_owned(),
        reason,
    })?;
    let started = Instant::now();
    let mut delay = policy.initial;
    let mut polls: u32 = 0;
    let mut last_status: Option<String> = None;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= policy.max_wait {
            return Err(Error::JobTimeout {
                job_id: job_id.to_owned(),
                waited: elapsed,
                last_status,
            });
        }
        tokio::time::sleep(delay.min(policy.max_wait - elapsed)).await;
        polls += 1;
        match poll().await {
            Ok(job) => match job.status() {
                Some(JobStatus::Success) => {
                    tracing::debug!(job_id, polls, "job succeeded");
                    return Ok(job);
                }
                Some(JobStatus::Fail) => return Err(job.failure(job_id)),
                other => {
                    last_status = other.map(|s| s.as_str().to_owned());
                    tracing::debug!(
                        job_id,
                        polls,
                        status = last_status.as_deref().unwrap_or("-"),
                        "job not finished"
                    );
                }
            },
            Err(error) if error.class() != ErrorClass::Permanent => {
                tracing::warn!(job_id, polls, code = %error.code(), "job poll failed, will retry: {error}");
            }
            Err(error) => return Err(error),
        }
        delay = policy.next_delay(delay);
    }
}

impl Client {
    /// Polls `GET /v1/{project_id}/jobs/{job_id}` until the SDRS job is final (see the module
    /// documentation).
    pub async fn wait_job(&self, job_id: &str, policy: &PollPolicy) -> Result<Job, Error> {
        wait_for("show_job_status", job_id, policy, || {
            self.show_job_status(job_id)
        })
        .await
    }

    /// The same for an ECS job (batch stop / start of servers).
    pub async fn wait_ecs_job(&self, job_id: &str, policy: &PollPolicy) -> Result<EcsJob, Error> {
        wait_for("show_ecs_job", job_id, policy, || self.show_ecs_job(job_id)).await
    }

    /// Waits for the job an operation of `service` returned and gives the final job as JSON: the
    /// generic form for the engine, which runs any `returns_job` operation as an action.
    pub async fn wait_job_json(
        &self,
        service: Service,
        job_id: &str,
        policy: &PollPolicy,
    ) -> Result<serde_json::Value, Error> {
        let (operation, value) = match service {
            Service::Sdrs => (
                "show_job_status",
                serde_json::to_value(self.wait_job(job_id, policy).await?),
            ),
            Service::Ecs => (
                "show_ecs_job",
                serde_json::to_value(self.wait_ecs_job(job_id, policy).await?),
            ),
        };
        value.map_err(|e| Error::Decode {
            operation,
            reason: e.to_string(),
            body_excerpt: String::new(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use crate::sdrs::models::{JobEntities, SubJob};

    fn policy(initial_ms: u64, cap_ms: u64, max_wait_ms: u64) -> PollPolicy {
        PollPolicy {
            initial: Duration::from_millis(initial_ms),
            factor: 2.0,
            cap: Duration::from_millis(cap_ms),
            max_wait: Duration::from_millis(max_wait_ms),
        }
    }

    #[test]
    fn polls_grow_logarithmically_until_the_cap() {
        // Below the cap, every quadrupling of the wait adds two polls.
        let counts: Vec<usize> = [1u64 << 10, 1 << 12, 1 << 14, 1 << 16]
            .iter()
            .map(|wait| policy(1, u64::MAX / 4, *wait).schedule().len())
            .collect();
        assert_eq!(counts, [11, 13, 15, 17]);
        // Past the cap the delay stays at the cap.
        let capped = policy(1000, 30_000, 3_600_000).schedule();
        assert!(capped.iter().all(|d| *d <= Duration::from_secs(30)));
        assert_eq!(&capped[..6], &[1, 2, 4, 8, 16, 30].map(Duration::from_secs));
        assert_eq!(capped.iter().sum::<Duration>(), Duration::from_secs(3600));
        // 31 s to reach the cap, then (3600 - 31) / 30 = 118.97 → 119 more polls.
        assert_eq!(capped.len(), 5 + 119);
    }

    #[test]
    fn the_default_policy_is_usable() {
        let default = PollPolicy::default();
        default.check().unwrap();
        assert_eq!(default.schedule()[0], Duration::from_secs(5));
        assert!(policy(0, 1, 1).check().is_err());
        let mut bad = default;
        bad.factor = 0.5;
        assert!(bad.check().is_err());
    }

    #[test]
    fn policies_read_and_write_friendly_durations() {
        let policy: PollPolicy =
            serde_json::from_str(r#"{"initial": "2s", "cap": "1m 30s", "max_wait": "PT2H"}"#)
                .unwrap();
        assert_eq!(policy.initial, Duration::from_secs(2));
        assert_eq!(policy.cap, Duration::from_secs(90));
        assert_eq!(policy.max_wait, Duration::from_secs(7200));
        assert_eq!(policy.factor, 2.0);
        let written = serde_json::to_value(PollPolicy::default()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"initial": "5s", "factor": 2.0, "cap": "30s", "max_wait": "30m"})
        );
        let err = serde_json::from_str::<PollPolicy>(r#"{"initial": "soon"}"#).unwrap_err();
        assert!(
            err.to_string().contains("`soon` is not a duration"),
            "{err}"
        );
        assert!(serde_json::from_str::<PollPolicy>(r#"{"intial": "1s"}"#).is_err());
    }

    #[test]
    fn failures_take_the_first_failed_sub_job_when_the_job_has_no_code() {
        let job = Job {
            status: Some(JobStatus::Fail),
            job_type: Some("failoverProtectionGroupNoCG".into()),
            entities: Some(JobEntities {
                sub_jobs: Some(vec![
                    SubJob {
                        status: Some(JobStatus::Success),
                        ..SubJob::default()
                    },
                    SubJob {
                        status: Some(JobStatus::Fail),
                        error_code: Some("SDRS.1806".into()),
                        fail_reason: Some("disk type".into()),
                        ..SubJob::default()
                    },
                ]),
                ..JobEntities::default()
            }),
            ..Job::default()
        };
        match job.failure("j-1") {
            Error::JobFailed {
                code,
                reason,
                job_type,
                ..
            } => {
                assert_eq!(code.as_str(), "SDRS.1806");
                assert_eq!(reason, "disk type");
                assert_eq!(job_type.as_deref(), Some("failoverProtectionGroupNoCG"));
            }
            other => panic!("{other}"),
        }
        let bare = Job {
            status: Some(JobStatus::Fail),
            ..Job::default()
        };
        assert_eq!(bare.failure("j").code().as_str(), "JOB.FAILED");
    }
}
