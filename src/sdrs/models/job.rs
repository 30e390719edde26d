//! Jobs (reference 5.1): the `{"job_id"}` answer of every asynchronous operation and the job
//! status returned by `GET /v1/{project_id}/jobs/{job_id}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire_enum;

wire_enum! {
    /// Status of an SDRS (or ECS) job. Only `SUCCESS` and `FAIL` are final; every other value,
    /// known or not, means "keep polling".
    pub enum JobStatus {
        Success = "SUCCESS",
        Running = "RUNNING",
        Fail = "FAIL",
        Init = "INIT",
    }
}

impl JobStatus {
    /// `SUCCESS` or `FAIL`.
    pub fn is_final(&self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Fail)
    }
}

wire_enum! {
    /// Job types named by the 2023 reference (5.1.1). Sub-jobs carry further types (for example
    /// `stopProtectionGroupRepNoCG`), which are kept in `Other`.
    pub enum JobType {
        CreateProtectionGroup = "createProtectionGroupNoCG",
        DeleteProtectionGroup = "deleteProtectionGroupNoCG",
        StartProtectionGroup = "startProtectionGroupNoCG",
        ReprotectProtectionGroup = "reprotectProtectionGroupNoCG",
        StopProtectionGroup = "stopProtectionGroupNoCG",
        FailoverProtectionGroup = "failoverProtectionGroupNoCG",
        ReverseProtectionGroup = "reverseProtectionGroupNoCG",
        CreateProtectedInstance = "createProtectedInstanceNoCG",
        DeleteProtectedInstance = "deleteProtectedInstanceNoCG",
        AttachReplicationPair = "attachReplicationPairNew",
        DetachReplicationPair = "detachReplicationPairNew",
        AddNic = "addNicNew",
        DeleteNic = "deleteNicNew",
        ResizeProtectedInstance = "resizeProtectedInstanceNew",
        CreateReplicationPair = "createReplicationPairNoCG",
        DeleteReplicationPair = "deleteReplicationPairNoCG",
        ExpandReplicationPair = "expandReplicationPairNew",
        CreateDisasterRecoveryDrill = "createDisasterRecoveryDrill",
        DeleteDisasterRecoveryDrill = "deleteDisasterRecoveryDrill",
    }
}

/// The answer of every asynchronous operation: `{"job_id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResponse {
    pub job_id: String,
}

/// A job as `show_job_status` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    #[serde(default)]
    pub status: Option<JobStatus>,
    #[serde(default)]
    pub entities: Option<JobEntities>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub job_type: Option<JobType>,
    /// `yyyy-MM-ddTHH:mm:ss.SSSZ`.
    #[serde(default)]
    pub begin_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    /// The SDRS error code when the job failed (e.g. `SDRS.1004`).
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
}

/// The objects a job worked on. Which keys appear depends on the job type; the SDK knows the
/// named ones, and any other key (Terraform reads `disaster_recovery_drill_id` after a drill
/// create) is kept in `other`. Unset keys are not written: Terraform decodes drill and attach job
/// entities as a map of strings, so the emulator must not send `null`s or a `sub_jobs` array there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobEntities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_pair_id: Option<String>,
    /// Comma-separated volume ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_ids: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
    /// Not in the reference or the SDK model, but read by Terraform after a drill create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disaster_recovery_drill_id: Option<String>,
    /// Sub-jobs, each shaped like a job. The SDK reads this only at the top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_jobs: Option<Vec<SubJob>>,
    /// Keys neither the reference nor the SDK names, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One sub-job of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubJob {
    #[serde(default)]
    pub status: Option<JobStatus>,
    #[serde(default)]
    pub entities: Option<JobEntities>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub job_type: Option<JobType>,
    #[serde(default)]
    pub begin_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_sample_with_sub_jobs() {
        let body = r#"{
          "job_id": "ff8080826b45d4a5016b5036242c0025", "job_type": "stopProtectionGroupNoCG",
          "begin_time": "2019-06-13T09:40:53.930Z", "end_time": "2019-06-13T09:41:01.946Z",
          "status": "SUCCESS", "error_code": null, "fail_reason": null,
          "entities": { "sub_jobs": [
            { "job_id": "ff8080826b45d4a5016b50362868002a", "job_type": "stopProtectionGroupRepNoCG",
              "begin_time": "2019-06-13T09:40:55.015Z", "end_time": "2019-06-13T09:40:58.951Z",
              "status": "SUCCESS", "error_code": null, "fail_reason": null,
              "entities": { "server_group_id": "1fd6903c-48f9-4772-8974-112dfbd74427" } } ] } }"#;
        let job: Job = serde_json::from_str(body).unwrap();
        assert_eq!(job.status, Some(JobStatus::Success));
        assert_eq!(job.job_type, Some(JobType::StopProtectionGroup));
        let sub = &job.entities.as_ref().unwrap().sub_jobs.as_ref().unwrap()[0];
        assert_eq!(
            sub.job_type,
            Some(JobType::Other("stopProtectionGroupRepNoCG".to_owned()))
        );
        assert_eq!(
            sub.entities.as_ref().unwrap().server_group_id.as_deref(),
            Some("1fd6903c-48f9-4772-8974-112dfbd74427")
        );
    }

    #[test]
    fn entities_keep_unknown_keys_and_write_only_set_ones() {
        let body = r#"{"status":"RUNNING","entities":{"disaster_recovery_drill_id":"d-1","vendor_key":7}}"#;
        let job: Job = serde_json::from_str(body).unwrap();
        let entities = job.entities.unwrap();
        assert_eq!(entities.disaster_recovery_drill_id.as_deref(), Some("d-1"));
        assert_eq!(entities.other.get("vendor_key"), Some(&Value::from(7)));
        let written = serde_json::to_value(&entities).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"disaster_recovery_drill_id": "d-1", "vendor_key": 7})
        );
    }

    #[test]
    fn only_success_and_fail_are_final() {
        assert!(JobStatus::Success.is_final());
        assert!(JobStatus::Fail.is_final());
        assert!(!JobStatus::Init.is_final());
        assert!(!JobStatus::parse("PENDING").is_final());
    }
}
