//! Protected instances (reference 5.5): a production server paired with its DR server; create,
//! delete, list, show, rename, attach/detach replication pairs, add/delete NICs, resize, and the
//! batch create/delete.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{PriorityStation, QueryType, RenameParams, ResourceTag, lenient};
use crate::wire_enum;

wire_enum! {
    /// Status of a protected instance (reference appendix A.3).
    pub enum ProtectedInstanceStatus {
        Creating = "creating",
        Available = "available",
        Deleting = "deleting",
        ErrorDeleting = "error-deleting",
        /// Creation failed.
        Error = "error",
        NicCreating = "nic-creating",
        NicDeleting = "nic-deleting",
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
        Resizing = "resizing",
        ErrorResizing = "error-resizing",
        /// A server of the pair was deleted.
        Invalid = "invalid",
        /// A replication pair of the instance is out of sync.
        Fault = "fault",
    }
}

wire_enum! {
    /// Where the DR server is placed.
    pub enum Tenancy {
        /// The shared pool (the default).
        Shared = "shared",
        /// A dedicated host.
        Dedicated = "dedicated",
    }
}

/// The inner object of `create_protected_instance`'s body (`{"protected_instance": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProtectedInstanceParams {
    pub server_group_id: String,
    /// The production server; the DR server is created by the service.
    pub server_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Dedicated distributed storage pool for the DR disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Network id of the DR server's primary NIC subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_ip_address: Option<String>,
    /// At most 10 tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<ResourceTag>>,
    /// Flavor of the DR server (defaults to the production server's).
    #[serde(rename = "flavorRef", default, skip_serializing_if = "Option::is_none")]
    pub flavor_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<Tenancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_host_id: Option<String>,
}

/// `create_protected_instance` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProtectedInstanceRequestBody {
    pub protected_instance: CreateProtectedInstanceParams,
}

/// `delete_protected_instance` body (top level; both default to `false`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteProtectedInstanceRequestBody {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub delete_target_server: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub delete_target_eip: Option<bool>,
}

/// `update_protected_instance_name` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateProtectedInstanceNameRequestBody {
    pub protected_instance: RenameParams,
}

/// The inner object of `attach_protected_instance_replication`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachReplicationParams {
    pub replication_id: String,
    /// Mount point, e.g. `/dev/vdb` (KVM) or `/dev/sdb` (XEN).
    pub device: String,
}

/// `attach_protected_instance_replication` body: `{"replicationAttachment": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachReplicationRequestBody {
    #[serde(rename = "replicationAttachment")]
    pub replication_attachment: AttachReplicationParams,
}

/// A security group reference `{"id": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRef {
    pub id: String,
}

/// `add_protected_instance_nic` body (top level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddNicRequestBody {
    /// Network id of the subnet.
    pub subnet_id: String,
    /// Defaults to the `Sys-default` security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<SecurityGroupRef>>,
    /// Assigned automatically when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// `delete_protected_instance_nic` body (top level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteNicRequestBody {
    /// NIC port id.
    pub nic_id: String,
}

/// The inner object of `resize_protected_instance`'s body (`{"resize": {...}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeParams {
    /// New flavor for both servers; when set, the two below are ignored.
    #[serde(rename = "flavorRef", default, skip_serializing_if = "Option::is_none")]
    pub flavor_ref: Option<String>,
    #[serde(
        rename = "production_flavorRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub production_flavor_ref: Option<String>,
    #[serde(
        rename = "dr_flavorRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dr_flavor_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_dedicated_host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_dedicated_host_id: Option<String>,
}

/// `resize_protected_instance` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeRequestBody {
    pub resize: ResizeParams,
}

/// One server of a batch create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub server_id: String,
    #[serde(rename = "flavorRef", default, skip_serializing_if = "Option::is_none")]
    pub flavor_ref: Option<String>,
}

/// The inner object of `batch_create_protected_instances`' body (`{"protected_instances": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCreateProtectedInstancesParams {
    /// 1–59 characters; the service appends `-0001`, `-0002`, ...
    pub name_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub server_group_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<Tenancy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_host_id: Option<String>,
    /// At most 5 servers by default.
    pub servers: Vec<ServerInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<ResourceTag>>,
}

/// `batch_create_protected_instances` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCreateProtectedInstancesRequestBody {
    pub protected_instances: BatchCreateProtectedInstancesParams,
}

/// A resource reference `{"id": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceId {
    pub id: String,
}

/// `batch_delete_protected_instances` body (top level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDeleteProtectedInstancesRequestBody {
    /// At most 20 instances by default.
    pub protected_instances: Vec<ResourceId>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub delete_target_server: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub delete_target_eip: Option<bool>,
}

/// Query of `list_protected_instances`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProtectedInstancesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_id: Option<String>,
    /// A list of up to 30 group ids as text (the reference writes `['id1','id2']`); sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_ids: Option<String>,
    /// A list of up to 30 instance ids as text; ignored when a group filter is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_instance_ids: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProtectedInstanceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<QueryType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// A replication pair attached to a protected instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedInstanceAttachment {
    /// Replication pair id.
    #[serde(default)]
    pub replication: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
}

/// Metadata of a protected instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedInstanceMetadata {
    /// `"true"` when the resource is frozen, empty otherwise.
    #[serde(rename = "__system__frozen", default)]
    pub system_frozen: Option<String>,
    /// Other metadata keys, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A protected instance (`ShowProtectedInstanceParams` in the SDK), fields in SDK order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedInstance {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<ProtectedInstanceStatus>,
    /// Production server id.
    #[serde(default)]
    pub source_server: Option<String>,
    /// DR server id.
    #[serde(default)]
    pub target_server: Option<String>,
    #[serde(default)]
    pub server_group_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub metadata: Option<ProtectedInstanceMetadata>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub attachment: Vec<ProtectedInstanceAttachment>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub tags: Vec<ResourceTag>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub progress: Option<i64>,
    #[serde(default)]
    pub priority_station: Option<PriorityStation>,
}

/// `list_protected_instances` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProtectedInstancesResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub protected_instances: Vec<ProtectedInstance>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub count: Option<i64>,
}

/// `show_protected_instance` and `update_protected_instance_name` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedInstanceResponse {
    #[serde(default)]
    pub protected_instance: Option<ProtectedInstance>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn odd_names_are_kept_verbatim() {
        let attach = AttachReplicationRequestBody {
            replication_attachment: AttachReplicationParams {
                replication_id: "r-1".into(),
                device: "/dev/vdb".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&attach).unwrap(),
            r#"{"replicationAttachment":{"replication_id":"r-1","device":"/dev/vdb"}}"#
        );
        let resize = ResizeParams {
            production_flavor_ref: Some("s6.large.2".into()),
            dr_flavor_ref: Some("s6.large.4".into()),
            ..ResizeParams::default()
        };
        assert_eq!(
            serde_json::to_string(&resize).unwrap(),
            r#"{"production_flavorRef":"s6.large.2","dr_flavorRef":"s6.large.4"}"#
        );
        let instance: ProtectedInstance = serde_json::from_str(
            r#"{"id":"pi","metadata":{"__system__frozen":"true","other":"x"},"status":"failed-over",
                "attachment":[{"replication":"r","device":"/dev/vda"}],"tags":null}"#,
        )
        .unwrap();
        let metadata = instance.metadata.as_ref().unwrap();
        assert_eq!(metadata.system_frozen.as_deref(), Some("true"));
        assert_eq!(metadata.other.get("other"), Some(&Value::from("x")));
        assert_eq!(instance.status, Some(ProtectedInstanceStatus::FailedOver));
        assert!(instance.tags.is_empty());
    }

    #[test]
    fn delete_bodies_accept_string_booleans_from_other_clients() {
        let body: DeleteProtectedInstanceRequestBody =
            serde_json::from_str(r#"{"delete_target_server":"true"}"#).unwrap();
        assert_eq!(body.delete_target_server, Some(true));
        assert_eq!(body.delete_target_eip, None);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"delete_target_server":true}"#
        );
    }
}
