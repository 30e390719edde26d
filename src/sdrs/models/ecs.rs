//! The ECS subset runbooks need: batch stop / start of servers
//! (`POST /v1/{project_id}/cloudservers/action` with `os-stop` / `os-start`), show a server, and
//! the ECS job. Shapes checked against the official `huaweicloudsdkecs` 3.1.219 models; only the
//! server fields runbooks read are named, the rest are kept in `other`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{JobStatus, lenient};
use crate::wire_enum;

wire_enum! {
    /// How `os-stop` stops servers.
    pub enum StopType {
        /// A normal shutdown (the default).
        Soft = "SOFT",
        /// Power off.
        Hard = "HARD",
    }
}

wire_enum! {
    /// ECS server status.
    pub enum ServerStatus {
        Active = "ACTIVE",
        Build = "BUILD",
        Deleted = "DELETED",
        Error = "ERROR",
        HardReboot = "HARD_REBOOT",
        Migrating = "MIGRATING",
        Reboot = "REBOOT",
        Resize = "RESIZE",
        RevertResize = "REVERT_RESIZE",
        Shelved = "SHELVED",
        ShelvedOffloaded = "SHELVED_OFFLOADED",
        /// Stopped.
        Shutoff = "SHUTOFF",
        /// The service's own "unknown" state (distinct from a value drbook does not know).
        Unknown = "UNKNOWN",
        VerifyResize = "VERIFY_RESIZE",
    }
}

/// A server reference `{"id": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerId {
    pub id: String,
}

/// The inner object of `batch_stop_servers`' body (`{"os-stop": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopServersParams {
    pub servers: Vec<ServerId>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub stop_type: Option<StopType>,
}

/// `batch_stop_servers` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStopServersRequestBody {
    #[serde(rename = "os-stop")]
    pub os_stop: StopServersParams,
}

/// The inner object of `batch_start_servers`' body (`{"os-start": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartServersParams {
    pub servers: Vec<ServerId>,
}

/// `batch_start_servers` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStartServersRequestBody {
    #[serde(rename = "os-start")]
    pub os_start: StartServersParams,
}

/// Flavor of a server (ECS writes the numbers as strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFlavor {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub vcpus: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ram: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub disk: Option<String>,
}

/// An ECS server (`ServerDetail` in the SDK): the fields runbooks use, the rest in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Server {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<ServerStatus>,
    #[serde(rename = "OS-EXT-STS:vm_state", default)]
    pub vm_state: Option<String>,
    #[serde(rename = "OS-EXT-STS:task_state", default)]
    pub task_state: Option<String>,
    /// 0 no state, 1 running, 4 shutdown.
    #[serde(
        rename = "OS-EXT-STS:power_state",
        default,
        deserialize_with = "lenient::opt_int"
    )]
    pub power_state: Option<i64>,
    #[serde(rename = "OS-EXT-AZ:availability_zone", default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub flavor: Option<ServerFlavor>,
    /// Network name → addresses, as ECS returns them.
    #[serde(default)]
    pub addresses: Option<Map<String, Value>>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub locked: Option<bool>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub updated: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Every other field of `ServerDetail`, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `show_server` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowServerResponse {
    #[serde(default)]
    pub server: Option<Server>,
}

/// Entities of an ECS job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcsJobEntities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_jobs: Option<Vec<EcsSubJob>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_int"
    )]
    pub sub_jobs_total: Option<i64>,
    /// Failure detail of a sub-job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errorcode_message: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A sub-job of an ECS job (one per server of a batch action).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcsSubJob {
    #[serde(default)]
    pub status: Option<JobStatus>,
    #[serde(default)]
    pub entities: Option<EcsJobEntities>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub job_type: Option<String>,
    #[serde(default)]
    pub begin_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
}

/// An ECS job (`ShowJobResponse` in the SDK), fields in SDK order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcsJob {
    #[serde(default)]
    pub begin_time: Option<String>,
    /// Error code when the query itself failed.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub entities: Option<EcsJobEntities>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fail_reason: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    /// E.g. `batchStopServers`.
    #[serde(default)]
    pub job_type: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub status: Option<JobStatus>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn stop_body_matches_the_sdk_shape() {
        let body = BatchStopServersRequestBody {
            os_stop: StopServersParams {
                servers: vec![ServerId { id: "s-1".into() }],
                stop_type: Some(StopType::Soft),
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"os-stop":{"servers":[{"id":"s-1"}],"type":"SOFT"}}"#
        );
    }

    #[test]
    fn server_keeps_colon_fields_and_the_rest() {
        let server: ShowServerResponse = serde_json::from_str(
            r#"{"server":{"id":"s-1","status":"SHUTOFF","OS-EXT-STS:power_state":4,
                "OS-EXT-AZ:availability_zone":"az-1a","flavor":{"id":"s6.small.1","vcpus":"1","ram":1024},
                "hostId":"h","key_name":null}}"#,
        )
        .unwrap();
        let server = server.server.unwrap();
        assert_eq!(server.status, Some(ServerStatus::Shutoff));
        assert_eq!(server.power_state, Some(4));
        assert_eq!(server.availability_zone.as_deref(), Some("az-1a"));
        assert_eq!(server.flavor.unwrap().ram.as_deref(), Some("1024"));
        assert_eq!(server.other.get("hostId"), Some(&Value::from("h")));
    }
}
