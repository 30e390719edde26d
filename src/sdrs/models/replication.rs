//! Replication pairs (reference 5.6): a production volume paired with its DR volume; create,
//! delete, list, show, expand (`extend-replication`) and rename.

use serde::{Deserialize, Serialize};

use super::{DataSyncStatus, PriorityStation, QueryType, RenameParams, lenient};
use crate::wire_enum;

wire_enum! {
    /// Status of a replication pair (reference appendix A.4).
    pub enum ReplicationStatus {
        Creating = "creating",
        Available = "available",
        Deleting = "deleting",
        ErrorDeleting = "error-deleting",
        /// Creation failed.
        Error = "error",
        Extending = "extending",
        ErrorExtending = "error-extending",
        Starting = "starting",
        ErrorStarting = "error-starting",
        Protected = "protected",
        Reversing = "reversing",
        FailingOver = "failing-over",
        FailedOver = "failed-over",
        Reprotecting = "reprotecting",
        Stopping = "stopping",
        ErrorStopping = "error-stopping",
        ErrorReversing = "error-reversing",
        ErrorFailingOver = "error-failing-over",
        ErrorReprotecting = "error-reprotecting",
        /// A volume of the pair was deleted.
        Invalid = "invalid",
        /// The pair is out of sync.
        Fault = "fault",
        Attaching = "attaching",
        Detaching = "detaching",
        ErrorAttaching = "error-attaching",
        ErrorDetaching = "error-detaching",
    }
}

wire_enum! {
    /// `fault_level` of a replication pair. A string on the wire.
    pub enum FaultLevel {
        /// No fault.
        None = "0",
        /// The production volume cannot be read or written: a failover is advised.
        ProductionUnavailable = "2",
        /// The replication link is broken: failover is impossible, call support.
        LinkBroken = "5",
    }
}

/// The inner object of `create_replication`'s body (`{"replication": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateReplicationParams {
    pub server_group_id: String,
    /// The production volume; the DR volume is created by the service.
    pub volume_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// `create_replication` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateReplicationRequestBody {
    pub replication: CreateReplicationParams,
}

/// The inner object of `delete_replication`'s body (`{"replication": {...}}`, both optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReplicationParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_id: Option<String>,
    /// Defaults to `false`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub delete_target_volume: Option<bool>,
}

/// `delete_replication` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReplicationRequestBody {
    pub replication: DeleteReplicationParams,
}

/// The inner object of `expand_replication`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendReplicationParams {
    /// Final size in GB (a fraction is truncated by the service).
    #[serde(deserialize_with = "de_new_size")]
    pub new_size: i64,
}

fn de_new_size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    lenient::opt_int(deserializer)?.ok_or_else(|| serde::de::Error::custom("new_size is null"))
}

/// `expand_replication` body: `{"extend-replication": {"new_size": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendReplicationRequestBody {
    #[serde(rename = "extend-replication")]
    pub extend_replication: ExtendReplicationParams,
}

/// `update_replication_name` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateReplicationNameRequestBody {
    pub replication: RenameParams,
}

/// Query of `list_replications`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReplicationsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_id: Option<String>,
    /// A list of up to 30 group ids as text; sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_ids: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_instance_ids: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplicationStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<QueryType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// A protected instance a replication pair is attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationAttachment {
    #[serde(default)]
    pub protected_instance: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
}

/// Billing data of a replication pair's volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRecordMetadata {
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub multiattach: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub bootable: Option<bool>,
    /// GB.
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub volume_size: Option<i64>,
    /// `SSD`, `GPSSD` or `SAS`.
    #[serde(default)]
    pub volume_type: Option<String>,
}

/// A replication pair (`ShowReplicationParams` in the SDK), fields in SDK order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replication {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<ReplicationStatus>,
    /// `"<production volume>,<DR volume>"` (Terraform requires exactly two).
    #[serde(default)]
    pub volume_ids: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub attachment: Vec<ReplicationAttachment>,
    /// `yyyy-MM-ddTHH:mm:ss.SSSSSS`.
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// `hypermetro` (synchronous replication).
    #[serde(default)]
    pub replication_model: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub progress: Option<i64>,
    /// Error code, only when `status` is `error`.
    #[serde(default)]
    pub failure_detail: Option<String>,
    #[serde(default)]
    pub record_metadata: Option<ReplicationRecordMetadata>,
    #[serde(default, deserialize_with = "de_fault_level")]
    pub fault_level: Option<FaultLevel>,
    #[serde(default)]
    pub server_group_id: Option<String>,
    #[serde(default)]
    pub priority_station: Option<PriorityStation>,
    #[serde(default)]
    pub replication_status: Option<DataSyncStatus>,
}

fn de_fault_level<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<FaultLevel>, D::Error> {
    Ok(lenient::opt_string(deserializer)?.map(|text| FaultLevel::parse(&text)))
}

/// `list_replications` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReplicationsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub replications: Vec<Replication>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub count: Option<i64>,
}

/// `show_replication` and `update_replication_name` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationResponse {
    #[serde(default)]
    pub replication: Option<Replication>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn fault_level_is_read_as_string_or_number() {
        let a: Replication = serde_json::from_str(r#"{"fault_level":"2"}"#).unwrap();
        let b: Replication = serde_json::from_str(r#"{"fault_level":5}"#).unwrap();
        assert_eq!(a.fault_level, Some(FaultLevel::ProductionUnavailable));
        assert_eq!(b.fault_level, Some(FaultLevel::LinkBroken));
        assert_eq!(
            serde_json::to_value(&b).unwrap()["fault_level"],
            serde_json::json!("5")
        );
    }

    #[test]
    fn expand_body_uses_extend_replication() {
        let body = ExtendReplicationRequestBody {
            extend_replication: ExtendReplicationParams { new_size: 200 },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"extend-replication":{"new_size":200}}"#
        );
        let parsed: ExtendReplicationRequestBody =
            serde_json::from_str(r#"{"extend-replication":{"new_size":"300"}}"#).unwrap();
        assert_eq!(parsed.extend_replication.new_size, 300);
    }
}
