//! Task center (reference 5.9): failed jobs of protection groups and their resources.

use serde::{Deserialize, Serialize};

use super::lenient;
use crate::wire_enum;

wire_enum! {
    /// What failed (`failure_status`).
    pub enum FailureStatus {
        CreateFail = "createFail",
        DeleteFail = "deleteFail",
        AttachFail = "attachFail",
        DetachFail = "detachFail",
        ExpandFail = "expandFail",
        ResizeFail = "resizeFail",
        StartFail = "startFail",
        StopFail = "stopFail",
        ReverseFail = "reverseFail",
        FailoverFail = "failoverFail",
        ReprotectFail = "reprotectFail",
    }
}

wire_enum! {
    /// Resource type of a failed job or an RPO statistic.
    pub enum ResourceType {
        ServerGroups = "server_groups",
        ProtectedInstances = "protected_instances",
        Replications = "replications",
        DisasterRecoveryDrills = "disaster_recovery_drills",
    }
}

/// Query of `list_failure_jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFailureJobsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_status: Option<FailureStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<ResourceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// A failed job (`FailureJobParams` in the SDK), fields in SDK order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureJob {
    #[serde(default)]
    pub job_type: Option<String>,
    /// Always `FAIL`.
    #[serde(default)]
    pub job_status: Option<super::JobStatus>,
    #[serde(default)]
    pub begin_time: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub failure_status: Option<FailureStatus>,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub resource_type: Option<ResourceType>,
}

/// `list_failure_jobs` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFailureJobsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub failure_jobs: Vec<FailureJob>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub count: Option<i64>,
}
