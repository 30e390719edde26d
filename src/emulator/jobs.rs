//! Asynchronous jobs: the job table shared by SDRS and the ECS subset, how a job moves through
//! `INIT` → `RUNNING` → `SUCCESS`/`FAIL` on the emulated clock, and the task center's records of
//! failed jobs.
//!
//! A mutating handler records the job together with its [`Effect`] (what finishing it does to
//! the world) and a due time; [`settle`] moves every job whose time has come, and applies the
//! effect through `effects::finish`. A job with zero latency is settled before the handler's
//! response leaves, so tests never wait; a job with latency is settled by the job driver task
//! (or by the next request that notices it is due). Nothing here sleeps.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keyed::HasId;
use super::rules::Action;
use super::world::{InstanceStatus, Station, World};

/// `status` of a job (5.1.1): `SUCCESS`, `RUNNING`, `FAIL`, `INIT` (the wire enum).
pub use crate::sdrs::models::JobStatus;

/// Which API a job belongs to; it decides the shape of `GET /v1/{project_id}/jobs/{job_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobService {
    Sdrs,
    Ecs,
}

/// A sub-job (one per member of a batch or per pair of a group action).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubJob {
    pub job_id: String,
    pub job_type: String,
    pub status: JobStatus,
    pub entities: BTreeMap<String, String>,
    pub begin_time: Timestamp,
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
}

/// An error a job is made to end with (fault injection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFailure {
    pub code: String,
    pub reason: String,
}

/// A group action and, for a planned failover, the site to switch to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupActionPlan {
    pub action: Action,
    /// The `priority_station` after success (flipped by a failover, requested by a planned
    /// failover, unchanged otherwise).
    pub station_after: Station,
}

/// What finishing a job does to the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    CreateGroup {
        group: String,
    },
    DeleteGroup {
        group: String,
    },
    GroupAction {
        group: String,
        plan: GroupActionPlan,
    },
    CreateInstances {
        group: String,
        instances: Vec<String>,
    },
    DeleteInstances {
        instances: Vec<String>,
        delete_target_server: bool,
    },
    Attach {
        instance: String,
        pair: String,
        device: String,
    },
    Detach {
        instance: String,
        pair: String,
    },
    AddNic {
        instance: String,
        subnet_id: String,
        ip_address: String,
        port_id: String,
        previous: InstanceStatus,
    },
    DeleteNic {
        instance: String,
        port_id: String,
        previous: InstanceStatus,
    },
    Resize {
        instance: String,
        production_flavor: Option<String>,
        dr_flavor: Option<String>,
    },
    CreatePair {
        pair: String,
    },
    DeletePair {
        pair: String,
        delete_target_volume: bool,
    },
    ExpandPair {
        pair: String,
        new_size: u32,
    },
    CreateDrill {
        drill: String,
    },
    DeleteDrill {
        drill: String,
    },
    StopServers {
        servers: Vec<String>,
    },
    StartServers {
        servers: Vec<String>,
    },
}

/// A job in the job table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// The SDK operation that submitted it.
    pub operation: String,
    pub service: JobService,
    pub job_type: String,
    pub status: JobStatus,
    /// String-valued `entities` (`server_group_id`, `protected_instance_id`, ...).
    pub entities: BTreeMap<String, String>,
    /// Drill and attach/detach jobs must keep every `entities` value a string, because the
    /// Terraform provider decodes them into `map[string]string`; they never carry `sub_jobs`.
    #[serde(default)]
    pub strings_only: bool,
    #[serde(default)]
    pub sub_jobs: Vec<SubJob>,
    pub begin_time: Timestamp,
    #[serde(default)]
    pub end_time: Option<Timestamp>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    /// When the job leaves `INIT` (emulated time).
    pub running_at: Timestamp,
    /// When the job finishes (emulated time); `None` keeps it `RUNNING` forever.
    #[serde(default)]
    pub due: Option<Timestamp>,
    #[serde(default)]
    pub planned_failure: Option<PlannedFailure>,
    pub effect: Effect,
}

impl HasId for Job {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A failed job in the task center (5.9.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureJob {
    /// The failure job id (`failure_job_id` of 5.9.2); the id of the failed job or sub-job.
    pub id: String,
    pub job_id: String,
    pub job_type: String,
    pub begin_time: Timestamp,
    pub failure_status: String,
    pub resource_id: String,
    pub resource_name: String,
    /// `server_groups`, `protected_instances`, `replications` or `disaster_recovery_drills`.
    pub resource_type: String,
    pub error_code: String,
    pub fail_reason: String,
    /// The protection group the resource belongs to (the group itself for group-level jobs).
    pub server_group_id: String,
}

impl HasId for FailureJob {
    fn id(&self) -> &str {
        &self.id
    }
}

impl FailureJob {
    /// Group-level failures (the outer layer of the task center, 5.9) are the group's own.
    pub fn is_group_level(&self) -> bool {
        self.resource_type == "server_groups"
    }
}

/// A fresh job id: 32 lower-case hex digits, like the service's.
pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Timing and fate of a job being submitted.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub now: Timestamp,
    pub latency: Duration,
    /// Keep the job `RUNNING` forever.
    pub hang: bool,
    pub failure: Option<PlannedFailure>,
}

impl Schedule {
    fn running_at(&self) -> Timestamp {
        // A job spends the first fifth of its latency in INIT, like the service's queueing.
        self.now
            .checked_add(jiff::SignedDuration::try_from(self.latency / 5).unwrap_or_default())
            .unwrap_or(self.now)
    }

    fn due(&self) -> Option<Timestamp> {
        if self.hang {
            return None;
        }
        Some(
            self.now
                .checked_add(jiff::SignedDuration::try_from(self.latency).unwrap_or_default())
                .unwrap_or(Timestamp::MAX),
        )
    }
}

/// Builds a new job in `INIT`.
pub fn new_job(
    operation: &str,
    service: JobService,
    job_type: &str,
    entities: BTreeMap<String, String>,
    effect: Effect,
    schedule: &Schedule,
) -> Job {
    Job {
        id: new_job_id(),
        operation: operation.to_owned(),
        service,
        job_type: job_type.to_owned(),
        status: JobStatus::Init,
        entities,
        strings_only: false,
        sub_jobs: Vec::new(),
        begin_time: schedule.now,
        end_time: None,
        error_code: None,
        fail_reason: None,
        running_at: schedule.running_at(),
        due: schedule.due(),
        planned_failure: schedule.failure.clone(),
        effect,
    }
}

/// Builds a sub-job in `INIT`.
pub fn new_sub_job(job_type: &str, entities: BTreeMap<String, String>, now: Timestamp) -> SubJob {
    SubJob {
        job_id: new_job_id(),
        job_type: job_type.to_owned(),
        status: JobStatus::Init,
        entities,
        begin_time: now,
        end_time: None,
        error_code: None,
        fail_reason: None,
    }
}

/// String entities from `(key, value)` pairs.
pub fn entities<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Job {
    /// The next emulated instant at which this job changes, if any.
    pub fn next_change(&self) -> Option<Timestamp> {
        match self.status {
            JobStatus::Init => Some(self.running_at),
            JobStatus::Running => self.due,
            _ => None,
        }
    }
}

/// Moves every job whose time has come: `INIT` → `RUNNING` at `running_at`, and finishing (with
/// its effect applied) at `due`. Returns whether anything changed.
pub fn settle(world: &mut World, now: Timestamp) -> bool {
    let ready: Vec<String> = world
        .jobs
        .values()
        .filter(|j| j.next_change().is_some_and(|t| t <= now))
        .map(|j| j.id.clone())
        .collect();
    let changed = !ready.is_empty();
    for id in ready {
        let Some(job) = world.jobs.get_mut(&id) else {
            continue;
        };
        if job.status == JobStatus::Init {
            job.status = JobStatus::Running;
            for sub in &mut job.sub_jobs {
                sub.status = JobStatus::Running;
            }
        }
        if job.due.is_some_and(|t| t <= now) {
            super::effects::finish(world, &id, now);
        }
    }
    changed
}

/// The earliest emulated instant at which some job changes.
pub fn next_change(world: &World) -> Option<Timestamp> {
    world.jobs.values().filter_map(Job::next_change).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn schedule(latency_ms: u64, hang: bool) -> Schedule {
        Schedule {
            now: Timestamp::UNIX_EPOCH,
            latency: Duration::from_millis(latency_ms),
            hang,
            failure: None,
        }
    }

    #[test]
    fn a_job_runs_after_a_fifth_of_its_latency() {
        let job = new_job(
            "stop_protection_group",
            JobService::Sdrs,
            "stopProtectionGroupNoCG",
            entities([("server_group_id", "g")]),
            Effect::CreateGroup { group: "g".into() },
            &schedule(1000, false),
        );
        assert_eq!(job.status, JobStatus::Init);
        assert_eq!(
            job.running_at.duration_since(Timestamp::UNIX_EPOCH),
            jiff::SignedDuration::from_millis(200)
        );
        assert_eq!(
            job.due.map(|d| d.duration_since(Timestamp::UNIX_EPOCH)),
            Some(jiff::SignedDuration::from_secs(1))
        );
    }

    #[test]
    fn a_hanging_job_has_no_due_time() {
        let mut job = new_job(
            "x",
            JobService::Sdrs,
            "t",
            BTreeMap::new(),
            Effect::CreateGroup { group: "g".into() },
            &schedule(0, true),
        );
        assert_eq!(job.due, None);
        job.status = JobStatus::Running;
        assert_eq!(job.next_change(), None);
    }

    #[test]
    fn sdrs_jobs_render_the_reference_shape() {
        let job = new_job(
            "create_protection_group",
            JobService::Sdrs,
            "createProtectionGroupNoCG",
            entities([("server_group_id", "g1")]),
            Effect::CreateGroup { group: "g1".into() },
            &schedule(0, false),
        );
        let v = crate::emulator::views::job(&job);
        assert_eq!(v["status"], "INIT");
        assert_eq!(v["job_type"], "createProtectionGroupNoCG");
        assert_eq!(v["entities"]["server_group_id"], "g1");
        assert_eq!(v["entities"]["sub_jobs"], json!([]));
        assert_eq!(v["begin_time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["end_time"], Value::Null);
        assert_eq!(v["error_code"], Value::Null);
    }

    #[test]
    fn string_only_jobs_have_no_sub_jobs_key() {
        let mut job = new_job(
            "create_disaster_recovery_drill",
            JobService::Sdrs,
            "createDisasterRecoveryDrill",
            entities([
                ("disaster_recovery_drill_id", "d1"),
                ("server_group_id", "g1"),
            ]),
            Effect::CreateDrill { drill: "d1".into() },
            &schedule(0, false),
        );
        job.strings_only = true;
        let v = crate::emulator::views::job(&job);
        let entities = v["entities"].as_object().cloned().unwrap_or_default();
        assert!(entities.values().all(Value::is_string), "{v}");
    }

    #[test]
    fn ecs_jobs_count_their_sub_jobs() {
        let mut job = new_job(
            "batch_stop_servers",
            JobService::Ecs,
            "batchStopServer",
            BTreeMap::new(),
            Effect::StopServers {
                servers: vec!["s1".into()],
            },
            &schedule(0, false),
        );
        job.sub_jobs.push(new_sub_job(
            "stopServer",
            entities([("server_id", "s1")]),
            Timestamp::UNIX_EPOCH,
        ));
        let v = crate::emulator::views::job(&job);
        assert_eq!(v["entities"]["sub_jobs_total"], 1);
        assert_eq!(v["entities"]["sub_jobs"][0]["entities"]["server_id"], "s1");
        assert_eq!(v["end_time"], "");
    }
}
