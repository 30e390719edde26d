//! DR drills (reference 5.7): drill servers started from the DR replicas in an isolated VPC;
//! create, delete, list, show and rename.

use serde::{Deserialize, Serialize};

use super::{RenameParams, lenient};
use crate::wire_enum;

wire_enum! {
    /// Status of a DR drill (reference appendix A.5).
    pub enum DrillStatus {
        Creating = "creating",
        Available = "available",
        Deleting = "deleting",
        ErrorDeleting = "error-deleting",
        /// Creation failed.
        Error = "error",
    }
}

/// The inner object of `create_disaster_recovery_drill`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateDrillParams {
    pub server_group_id: String,
    /// The drill VPC; optional in the 2023 reference (the service then creates one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_vpc_id: Option<String>,
    pub name: String,
}

/// `create_disaster_recovery_drill` body: `{"disaster_recovery_drill": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateDrillRequestBody {
    pub disaster_recovery_drill: CreateDrillParams,
}

/// `update_disaster_recovery_drill_name` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateDrillNameRequestBody {
    pub disaster_recovery_drill: RenameParams,
}

/// Query of `list_disaster_recovery_drills`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDrillsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DrillStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// A drill server and the protected instance it was started from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillServer {
    #[serde(default)]
    pub protected_instance: Option<String>,
    #[serde(default)]
    pub drill_server_id: Option<String>,
}

/// A DR drill (`ShowDisasterRecoveryDrillParams` in the SDK), fields in SDK order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<DrillStatus>,
    #[serde(default)]
    pub drill_vpc_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub server_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub drill_servers: Vec<DrillServer>,
}

/// `list_disaster_recovery_drills` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDrillsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub disaster_recovery_drills: Vec<Drill>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub count: Option<i64>,
}

/// `show_disaster_recovery_drill` and `update_disaster_recovery_drill_name` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillResponse {
    #[serde(default)]
    pub disaster_recovery_drill: Option<Drill>,
}
