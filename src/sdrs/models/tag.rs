//! Tags (reference 5.8): tags of protected instances, the tag query
//! (`resource_instances/action`), and the batch tag writes (`tags/action`).

use serde::{Deserialize, Serialize};

use super::{ProtectedInstance, lenient};
use crate::wire_enum;

wire_enum! {
    /// `action` of the by-tags query.
    pub enum TagQueryAction {
        /// Return the matching resources (paged).
        Filter = "filter",
        /// Return only `total_count`.
        Count = "count",
    }
}

wire_enum! {
    /// `action` of `POST .../tags/action`: tells batch add from batch delete.
    pub enum TagAction {
        Create = "create",
        Delete = "delete",
    }
}

/// A tag `{key, value}` (`ResourceTag` in the SDK). Keys: at most 36 characters; values: at most
/// 43, may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceTag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// A tag to delete: without `value`, every value of the key goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResourceTag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A key with a list of values (`TagParams` in the SDK): a by-tags filter, or a project tag.
/// An empty `values` list matches any value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagValues {
    pub key: String,
    #[serde(default, deserialize_with = "lenient::list")]
    pub values: Vec<String>,
}

/// A field match of the by-tags query (only `resource_name` is supported; fuzzy, case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagMatch {
    pub key: String,
    pub value: String,
}

/// `list_protected_instances_by_tags` body (top level, SDK order). `limit` and `offset` are
/// strings here, unlike every other operation; numbers are accepted too (Terraform sends them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListByTagsRequestBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagValues>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_any: Option<Vec<TagValues>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_tags: Option<Vec<TagValues>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_tags_any: Option<Vec<TagValues>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub limit: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub offset: Option<String>,
    pub action: TagQueryAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<TagMatch>>,
}

/// One result of the by-tags query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaggedResource {
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub resource_detail: Option<ProtectedInstance>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub tags: Vec<ResourceTag>,
    #[serde(default)]
    pub resource_name: Option<String>,
}

/// `list_protected_instances_by_tags` response (`resources` is absent for `action: count`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListByTagsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub resources: Vec<TaggedResource>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub total_count: Option<i64>,
}

/// `batch_add_tags` body: `{"tags": [...], "action": "create"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAddTagsRequestBody {
    pub tags: Vec<ResourceTag>,
    pub action: TagAction,
}

/// `batch_delete_tags` body: `{"tags": [...], "action": "delete"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDeleteTagsRequestBody {
    pub tags: Vec<DeleteResourceTag>,
    pub action: TagAction,
}

/// `add_protected_instance_tags` body: `{"tag": {key, value}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddTagRequestBody {
    pub tag: ResourceTag,
}

/// `list_protected_instance_tags` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTagsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub tags: Vec<ResourceTag>,
}

/// `list_protected_instances_project_tags` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListProjectTagsResponse {
    #[serde(default, deserialize_with = "lenient::list")]
    pub tags: Vec<TagValues>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn by_tags_body_accepts_numeric_offset_and_writes_strings() {
        let body: ListByTagsRequestBody =
            serde_json::from_str(r#"{"action":"filter","offset":20,"limit":"10"}"#).unwrap();
        assert_eq!(body.offset.as_deref(), Some("20"));
        assert_eq!(body.action, TagQueryAction::Filter);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"limit":"10","offset":"20","action":"filter"}"#
        );
    }
}
