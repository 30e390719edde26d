//! Quotas (reference 5.10): `GET /v1/{project_id}/sdrs/quotas`.

use serde::{Deserialize, Serialize};

use super::lenient;
use crate::wire_enum;

wire_enum! {
    /// The resource a quota limits.
    pub enum QuotaResourceType {
        ServerGroups = "server_groups",
        Replications = "replications",
    }
}

/// One quota. `-1` means unlimited for `quota` and `max`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaResource {
    #[serde(rename = "type", default)]
    pub resource_type: Option<QuotaResourceType>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub used: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub quota: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub min: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub max: Option<i64>,
}

/// The `quotas` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    #[serde(default, deserialize_with = "lenient::list")]
    pub resources: Vec<QuotaResource>,
}

/// `show_quota` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaResponse {
    #[serde(default)]
    pub quotas: Option<Quotas>,
}
