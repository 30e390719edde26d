//! Active-active domains (reference 5.3): the storage-device pairs a protection group replicates
//! between.

use serde::{Deserialize, Serialize};

use super::lenient;

/// One active-active domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveDomain {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the domain's resources are sold out.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub sold_out: Option<bool>,
    #[serde(default)]
    pub local_replication_cluster: Option<ReplicationCluster>,
    #[serde(default)]
    pub remote_replication_cluster: Option<ReplicationCluster>,
}

/// One side of an active-active domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationCluster {
    #[serde(default)]
    pub availability_zone: Option<String>,
}

/// `list_active_active_domains` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListActiveDomainsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub domains: Vec<ActiveDomain>,
}
