//! RPO statistics: `GET /v1/{project_id}/resource/rpo-statistics`, present in the SDK (and used
//! by Terraform) but in neither reference.

use serde::{Deserialize, Serialize};

use super::{ResourceType, lenient};

/// Query of `list_rpo_statistics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRpoStatisticsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<ResourceType>,
}

/// One RPO statistic (`RpoStattisticsParams` in the SDK, sic).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpoStatistic {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub point_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub resource_num: Option<i64>,
    #[serde(default)]
    pub resource_type: Option<ResourceType>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// `list_rpo_statistics` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRpoStatisticsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub resource_rpo_statistics: Vec<RpoStatistic>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub count: Option<i64>,
}
