//! API versions (reference 5.2): `GET /` and `GET /{api_version}`.

use serde::{Deserialize, Serialize};

use super::lenient;
use crate::wire_enum;

wire_enum! {
    /// Lifecycle state of an API version.
    pub enum ApiVersionStatus {
        /// The recommended version.
        Current = "CURRENT",
        /// An older version that still works.
        Supported = "SUPPORTED",
        /// A version that may be removed.
        Deprecated = "DEPRECATED",
    }
}

/// One API version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiVersion {
    /// Version id, e.g. `v1`.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub links: Vec<ApiVersionLink>,
    /// Highest micro-version, empty when micro-versions are not supported.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub status: Option<ApiVersionStatus>,
    /// Release time in UTC, e.g. `2018-05-30T15:00:00Z`.
    #[serde(default)]
    pub updated: Option<String>,
    #[serde(default)]
    pub min_version: Option<String>,
}

/// A link of an API version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiVersionLink {
    #[serde(default)]
    pub rel: Option<String>,
    #[serde(default)]
    pub href: Option<String>,
}

/// `list_api_versions` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListApiVersionsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub versions: Vec<ApiVersion>,
}

/// `show_specified_api_version` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowApiVersionResponse {
    #[serde(default)]
    pub version: Option<ApiVersion>,
}
