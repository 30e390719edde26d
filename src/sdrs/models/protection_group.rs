//! Protection groups (reference 5.4): create, list, show, delete, rename, and the four actions
//! on `POST /server-groups/{id}/action` (start or reprotect, stop, failover, reverse).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{DataSyncStatus, PriorityStation, QueryType, RenameParams, lenient};
use crate::wire_enum;

wire_enum! {
    /// Status of a protection group (reference appendix A.2).
    pub enum ProtectionGroupStatus {
        Creating = "creating",
        /// Created, protection not enabled.
        Available = "available",
        /// Protection enabled.
        Protected = "protected",
        Deleting = "deleting",
        ErrorDeleting = "error-deleting",
        /// Creation failed.
        Error = "error",
        Starting = "starting",
        ErrorStarting = "error-starting",
        /// Enabling protection again after a failover or failback.
        Reprotecting = "reprotecting",
        ErrorReprotecting = "error-reprotecting",
        Stopping = "stopping",
        ErrorStopping = "error-stopping",
        /// Planned failover (switchover) in progress.
        Reversing = "reversing",
        ErrorReversing = "error-reversing",
        FailingOver = "failing-over",
        FailedOver = "failed-over",
        ErrorFailingOver = "error-failing-over",
    }
}

wire_enum! {
    /// Deployment mode of a protection group.
    pub enum DrType {
        /// Migration within a VPC (the default and only documented value).
        Migration = "migration",
    }
}

wire_enum! {
    /// Legacy protection state (`null` for groups created after the service upgrade).
    pub enum ProtectedStatus {
        Started = "started",
        Stopped = "stopped",
    }
}

wire_enum! {
    /// Legacy health state (`null` for groups created after the service upgrade).
    pub enum HealthStatus {
        Normal = "normal",
        Abnormal = "abnormal",
    }
}

/// The inner object of `create_protection_group`'s body (`{"server_group": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProtectionGroupParams {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub source_availability_zone: String,
    pub target_availability_zone: String,
    pub domain_id: String,
    pub source_vpc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_type: Option<DrType>,
}

/// `create_protection_group` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProtectionGroupRequestBody {
    pub server_group: CreateProtectionGroupParams,
}

/// `update_protection_group_name` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateProtectionGroupNameRequestBody {
    pub server_group: RenameParams,
}

/// `start_protection_group` body: `{"start-server-group": {}}`. Also reprotects a group that
/// has failed over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartProtectionGroupRequestBody {
    #[serde(rename = "start-server-group")]
    pub start_server_group: Map<String, Value>,
}

/// `stop_protection_group` body: `{"stop-server-group": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopProtectionGroupRequestBody {
    #[serde(rename = "stop-server-group")]
    pub stop_server_group: Map<String, Value>,
}

/// `start_failover_protection_group` body: `{"failover-server-group": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverProtectionGroupRequestBody {
    #[serde(rename = "failover-server-group")]
    pub failover_server_group: Map<String, Value>,
}

/// The inner object of `start_reverse_protection_group`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseProtectionGroupParams {
    /// The site to make the production site: `target` switches to the DR AZ, `source` back.
    pub priority_station: PriorityStation,
}

/// `start_reverse_protection_group` body: `{"reverse-server-group": {"priority_station": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseProtectionGroupRequestBody {
    #[serde(rename = "reverse-server-group")]
    pub reverse_server_group: ReverseProtectionGroupParams,
}

/// Query of `list_protection_groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProtectionGroupsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProtectionGroupStatus>,
    /// Fuzzy match on the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<QueryType>,
    /// Current production AZ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// A protection group (`ShowProtectionGroupParams` in the SDK), fields in SDK order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionGroup {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<ProtectionGroupStatus>,
    /// Synchronisation progress in percent.
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub progress: Option<i64>,
    /// Production AZ at creation; unchanged by switchover and failover.
    #[serde(default)]
    pub source_availability_zone: Option<String>,
    /// DR AZ at creation; unchanged by switchover and failover.
    #[serde(default)]
    pub target_availability_zone: Option<String>,
    #[serde(default)]
    pub domain_id: Option<String>,
    #[serde(default)]
    pub domain_name: Option<String>,
    /// Which of the two AZs is production now.
    #[serde(default)]
    pub priority_station: Option<PriorityStation>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub protected_instance_num: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub replication_num: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub disaster_recovery_drill_num: Option<i64>,
    #[serde(default)]
    pub protected_status: Option<ProtectedStatus>,
    #[serde(default)]
    pub replication_status: Option<DataSyncStatus>,
    #[serde(default)]
    pub health_status: Option<HealthStatus>,
    #[serde(default)]
    pub source_vpc_id: Option<String>,
    #[serde(default)]
    pub target_vpc_id: Option<String>,
    /// Reserved by the service.
    #[serde(default)]
    pub test_vpc_id: Option<String>,
    #[serde(default)]
    pub dr_type: Option<DrType>,
    /// `yyyy-MM-dd HH:mm:ss.SSS`.
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// `replication-pair` (or `null` for whole-group synchronisation).
    #[serde(default)]
    pub protection_type: Option<String>,
    /// Reserved by the service.
    #[serde(default)]
    pub replication_model: Option<String>,
    /// `ECS`.
    #[serde(default)]
    pub server_type: Option<String>,
}

/// `list_protection_groups` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProtectionGroupsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub server_groups: Vec<ProtectionGroup>,
    /// Number of groups matching the filter (not just this page).
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub count: Option<i64>,
}

/// `show_protection_group` and `update_protection_group_name` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionGroupResponse {
    #[serde(default)]
    pub server_group: Option<ProtectionGroup>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_list_sample_and_tolerates_unknown_fields() {
        let body = r#"{"count": 1, "server_groups": [{
            "id": "40df180b-9fe2-471a-8c64-1b758dc84189", "name": "testname", "description": "description",
            "source_availability_zone": "cn-north-1a", "target_availability_zone": "cn-north-1b",
            "domain_id": "fb4bb8e3-a574-4437-a156-78c916aeea4d", "domain_name": "ActiveactiveDomain",
            "status": "available", "protected_status": null, "replication_status": null, "health_status": null,
            "progress": 0, "priority_station": "source", "protected_instance_num": 0, "replication_num": 0,
            "disaster_recovery_drill_num": 0, "source_vpc_id": "046852ef", "target_vpc_id": "046852ef",
            "test_vpc_id": null, "dr_type": "migration", "server_type": "ECS",
            "created_at": "2019-05-23 03:51:58.256", "updated_at": "2019-05-23 07:48:12.484",
            "protection_type": "replication-pair", "replication_model": null, "brand_new_field": [1]}]}"#;
        let list: ListProtectionGroupsResponse = serde_json::from_str(body).unwrap();
        assert_eq!(list.count, Some(1));
        let group = &list.server_groups[0];
        assert_eq!(group.status, Some(ProtectionGroupStatus::Available));
        assert_eq!(group.priority_station, Some(PriorityStation::Source));
        assert_eq!(group.dr_type, Some(DrType::Migration));
        assert_eq!(group.protected_status, None);
    }

    #[test]
    fn action_bodies_use_the_hyphenated_keys() {
        let start = serde_json::to_string(&StartProtectionGroupRequestBody::default()).unwrap();
        assert_eq!(start, r#"{"start-server-group":{}}"#);
        let reverse = ReverseProtectionGroupRequestBody {
            reverse_server_group: ReverseProtectionGroupParams {
                priority_station: PriorityStation::Target,
            },
        };
        assert_eq!(
            serde_json::to_string(&reverse).unwrap(),
            r#"{"reverse-server-group":{"priority_station":"target"}}"#
        );
        let failover: FailoverProtectionGroupRequestBody =
            serde_json::from_str(r#"{"failover-server-group":{}}"#).unwrap();
        assert!(failover.failover_server_group.is_empty());
    }

    #[test]
    fn create_body_omits_unset_fields_in_sdk_order() {
        let body = CreateProtectionGroupRequestBody {
            server_group: CreateProtectionGroupParams {
                name: "pg".into(),
                description: None,
                source_availability_zone: "az-1a".into(),
                target_availability_zone: "az-1b".into(),
                domain_id: "d".into(),
                source_vpc_id: "v".into(),
                dr_type: Some(DrType::Migration),
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"server_group":{"name":"pg","source_availability_zone":"az-1a","target_availability_zone":"az-1b","domain_id":"d","source_vpc_id":"v","dr_type":"migration"}}"#
        );
    }
}
