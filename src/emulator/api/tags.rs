//! Tags of protected instances (reference 5.8): query by tags, batch add / delete, add one,
//! delete one, list an instance's tags, list the project's tags.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::protected_instances::instance;
use super::{ApiError, Call, Ctx, Reply, decode, page_of};
use crate::emulator::views;
use crate::emulator::world::{ProtectedInstance, StatusExt, Tag};
use crate::sdrs::models;

/// 5.8.2: "a resource has at most 10 tags".
const MAX_TAGS: usize = 10;

/// Characters a tag key or value may not contain (5.8.2 table 5-67): ASCII 0–31 and
/// `* < > \ = , | /`.
fn forbidden(c: char) -> bool {
    c.is_ascii_control() || matches!(c, '*' | '<' | '>' | '\\' | '=' | ',' | '|' | '/')
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.trim().is_empty() {
        return Err(ApiError::sdrs(
            "SDRS.2205",
            "tag key is blank or an empty string",
        ));
    }
    if key.chars().count() > 36 || key.chars().any(forbidden) {
        return Err(ApiError::sdrs(
            "SDRS.2204",
            format!("invalid tag key `{key}`: at most 36 characters, none of * < > \\ = , | /"),
        ));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > 43 || value.chars().any(forbidden) {
        return Err(ApiError::sdrs(
            "SDRS.2207",
            format!(
                "invalid value of tag `{key}`: at most 43 characters, none of * < > \\ = , | /"
            ),
        ));
    }
    Ok(())
}

/// Validates tags of a request: key and value rules of 5.8.2, no key twice (A.1 SDRS.2209).
pub fn check_tags(tags: &[models::ResourceTag]) -> Result<Vec<Tag>, ApiError> {
    let mut keys = BTreeSet::new();
    let mut checked = Vec::new();
    for tag in tags {
        check_key(&tag.key)?;
        check_value(&tag.key, &tag.value)?;
        if !keys.insert(tag.key.as_str()) {
            return Err(ApiError::sdrs(
                "SDRS.2209",
                format!("tag key `{}` appears twice", tag.key),
            ));
        }
        checked.push(Tag {
            key: tag.key.clone(),
            value: tag.value.clone(),
        });
    }
    Ok(checked)
}

/// 5.8.2 / 5.8.3: tags of an instance in a transitional status (being created or deleted) cannot
/// change (A.1 SDRS.2221 / SDRS.2222).
fn check_taggable(i: &ProtectedInstance, code: &str) -> Result<(), ApiError> {
    if i.status.is_transitional() {
        return Err(ApiError::sdrs(
            code,
            format!(
                "protected instance {} is {}; its tags cannot change now",
                i.id, i.status
            ),
        ));
    }
    Ok(())
}

/// Adds or overwrites tags, keeping at most [`MAX_TAGS`].
fn merge(ctx: &mut Ctx<'_>, id: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
    let i = instance(ctx.world, id)?;
    check_taggable(i, "SDRS.2221")?;
    let mut merged = i.tags.clone();
    for tag in tags {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => merged.push(tag),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(ApiError::sdrs(
            "SDRS.2203",
            format!(
                "protected instance {id} would have {} tags; at most {MAX_TAGS}",
                merged.len()
            ),
        ));
    }
    ctx.resource = Some(id.to_owned());
    if let Some(i) = ctx.world.protected_instances.get_mut(id) {
        i.tags = merged;
        i.updated_at = ctx.now;
    }
    Ok(())
}

/// 5.8.2 `POST .../protected-instances/{id}/tags/action {"action": "create", "tags": [..]}`.
pub fn batch_add(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let body: models::BatchAddTagsRequestBody = decode(call)?;
    let tags = check_tags(&body.tags)?;
    if tags.is_empty() {
        return Err(ApiError::sdrs("SDRS.2202", "the tag list is empty"));
    }
    merge(ctx, id, tags)?;
    Ok(Reply::Empty)
}

/// 5.8.3 `POST .../tags/action {"action": "delete", "tags": [..]}`: deleting a tag that does
/// not exist succeeds; a tag with a value is deleted only if the value matches.
pub fn batch_delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let body: models::BatchDeleteTagsRequestBody = decode(call)?;
    if body.tags.is_empty() {
        return Err(ApiError::sdrs("SDRS.2202", "the tag list is empty"));
    }
    let mut doomed = Vec::new();
    for tag in &body.tags {
        if tag.key.trim().is_empty() {
            return Err(ApiError::sdrs(
                "SDRS.2205",
                "tag key is blank or an empty string",
            ));
        }
        doomed.push((tag.key.clone(), tag.value.clone()));
    }
    let i = instance(ctx.world, id)?;
    check_taggable(i, "SDRS.2222")?;
    ctx.resource = Some(id.to_owned());
    if let Some(i) = ctx.world.protected_instances.get_mut(id) {
        i.tags.retain(|t| {
            !doomed
                .iter()
                .any(|(k, v)| *k == t.key && v.as_ref().is_none_or(|v| *v == t.value))
        });
        i.updated_at = ctx.now;
    }
    Ok(Reply::Empty)
}

/// 5.8.4 `POST .../protected-instances/{id}/tags {"tag": {key, value}}`: overwrites.
pub fn add(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let body: models::AddTagRequestBody = decode(call)?;
    let tags = check_tags(std::slice::from_ref(&body.tag))?;
    merge(ctx, id, tags)?;
    Ok(Reply::Empty)
}

/// 5.8.5 `DELETE .../protected-instances/{id}/tags/{key}`: "a key that does not exist is a 404".
pub fn delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let key = call.param("key")?;
    if key.trim().is_empty() {
        return Err(ApiError::sdrs(
            "SDRS.2205",
            "tag key is blank or an empty string",
        ));
    }
    let i = instance(ctx.world, id)?;
    check_taggable(i, "SDRS.2222")?;
    if !i.tags.iter().any(|t| t.key == key) {
        return Err(ApiError::sdrs(
            "SDRS.2206",
            format!("tag key `{key}` not found on protected instance {id}"),
        ));
    }
    ctx.resource = Some(id.to_owned());
    if let Some(i) = ctx.world.protected_instances.get_mut(id) {
        i.tags.retain(|t| t.key != key);
        i.updated_at = ctx.now;
    }
    Ok(Reply::Empty)
}

/// 5.8.6 `GET .../protected-instances/{id}/tags`.
pub fn list(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let i = instance(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(&models::ListTagsResponse {
        tags: i
            .tags
            .iter()
            .map(|t| models::ResourceTag {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect(),
    })))
}

/// 5.8.7 `GET /v1/{project_id}/protected-instances/tags`: every key with its values.
pub fn list_project(_call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for i in ctx.world.protected_instances.values() {
        for t in &i.tags {
            keys.entry(&t.key).or_default().insert(&t.value);
        }
    }
    Ok(Reply::Json(views::to_json(
        &models::ListProjectTagsResponse {
            tags: keys
                .into_iter()
                .map(|(k, v)| models::TagValues {
                    key: k.to_owned(),
                    values: v.into_iter().map(str::to_owned).collect(),
                })
                .collect(),
        },
    )))
}

/// One `{key, values}` filter of 5.8.1 (table 5-59).
struct TagFilter {
    key: String,
    values: Vec<String>,
}

impl TagFilter {
    /// Whether an instance's tags satisfy this filter: it has the key, and (values empty) any
    /// value or one of the values; a value starting with `*` matches by substring.
    fn matches(&self, tags: &[Tag]) -> bool {
        tags.iter().any(|t| {
            t.key == self.key
                && (self.values.is_empty()
                    || self.values.iter().any(|v| match v.strip_prefix('*') {
                        Some(fragment) => t.value.contains(fragment),
                        None => t.value == *v,
                    }))
        })
    }
}

fn tag_filters(list: Option<&[models::TagValues]>, name: &str) -> Result<Vec<TagFilter>, ApiError> {
    let list = list.unwrap_or_default();
    if list.len() > 10 {
        return Err(ApiError::sdrs(
            "SDRS.2203",
            format!("{name} has {} keys; at most 10", list.len()),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut filters = Vec::new();
    for item in list {
        let key = item.key.trim();
        if key.is_empty() {
            return Err(ApiError::sdrs(
                "SDRS.2205",
                format!("{name}: a key is blank"),
            ));
        }
        if !seen.insert(key.to_owned()) {
            return Err(ApiError::sdrs(
                "SDRS.2209",
                format!("{name}: key `{key}` appears twice"),
            ));
        }
        let values: Vec<String> = item.values.iter().map(|v| v.trim().to_owned()).collect();
        if values.len() > 10 {
            return Err(ApiError::sdrs(
                "SDRS.2218",
                format!(
                    "{name}: key `{key}` has {} values; at most 10",
                    values.len()
                ),
            ));
        }
        if values.iter().collect::<BTreeSet<_>>().len() != values.len() {
            return Err(ApiError::sdrs(
                "SDRS.2219",
                format!("{name}: key `{key}` lists a value twice"),
            ));
        }
        if values.iter().any(|v| v == "*") {
            return Err(ApiError::sdrs(
                "SDRS.2217",
                format!("{name}: key `{key}`: `*` alone is not a value"),
            ));
        }
        filters.push(TagFilter {
            key: key.to_owned(),
            values,
        });
    }
    Ok(filters)
}

/// The `matches` of 5.8.1 (table 5-60): only `resource_name`, a case-insensitive substring, or
/// an exact match when the value is empty.
fn name_match(matches: Option<&[models::TagMatch]>) -> Result<Option<String>, ApiError> {
    let Some(list) = matches else {
        return Ok(None);
    };
    if list.is_empty() {
        return Err(ApiError::sdrs(
            "SDRS.2212",
            "the matches parameter is empty",
        ));
    }
    let mut found = None;
    for item in list {
        if item.key.is_empty() {
            return Err(ApiError::sdrs("SDRS.2213", "a key in matches is empty"));
        }
        if item.key != "resource_name" {
            return Err(ApiError::sdrs(
                "SDRS.2214",
                format!(
                    "matches key `{}`: only resource_name is supported",
                    item.key
                ),
            ));
        }
        if found.is_some() {
            return Err(ApiError::sdrs(
                "SDRS.2215",
                "matches lists resource_name twice",
            ));
        }
        if item.value.chars().count() > 255 {
            return Err(ApiError::sdrs(
                "SDRS.2217",
                "a value in matches is over 255 characters",
            ));
        }
        found = Some(item.value.clone());
    }
    Ok(found)
}

/// 5.8.1 `POST /v1/{project_id}/protected-instances/resource_instances/action`.
pub fn list_by_tags(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body: models::ListByTagsRequestBody = decode(call)?;
    let action = body.action.as_str();
    if action != "filter" && action != "count" {
        return Err(ApiError::sdrs(
            "SDRS.2210",
            format!("action `{action}`: action can be set to only filter or count"),
        ));
    }
    let (limit, offset) = (body.limit.as_deref(), body.offset.as_deref());
    if action == "count" && (limit.is_some() || offset.is_some()) {
        return Err(ApiError::sdrs(
            "SDRS.2211",
            "limit and offset are not supported when action is set to count",
        ));
    }
    let (limit, offset) = page_of(limit, offset).map_err(|e| {
        if e.code == "SDRS.0221" {
            ApiError::sdrs(
                "SDRS.2220",
                "minimum and maximum values of limit are 1 and 1000 respectively",
            )
        } else {
            e
        }
    })?;
    let tags = tag_filters(body.tags.as_deref(), "tags")?;
    let tags_any = tag_filters(body.tags_any.as_deref(), "tags_any")?;
    let not_tags = tag_filters(body.not_tags.as_deref(), "not_tags")?;
    let not_tags_any = tag_filters(body.not_tags_any.as_deref(), "not_tags_any")?;
    let name = name_match(body.matches.as_deref())?;
    let w = &*ctx.world;
    let mut found: Vec<&ProtectedInstance> = w
        .protected_instances
        .values()
        .filter(|i| tags.iter().all(|t| t.matches(&i.tags)))
        .filter(|i| tags_any.is_empty() || tags_any.iter().any(|t| t.matches(&i.tags)))
        .filter(|i| not_tags.is_empty() || !not_tags.iter().all(|t| t.matches(&i.tags)))
        .filter(|i| !not_tags_any.iter().any(|t| t.matches(&i.tags)))
        .filter(|i| match &name {
            None => true,
            Some(v) if v.is_empty() => i.name.is_empty(),
            Some(v) => i.name.to_lowercase().contains(&v.to_lowercase()),
        })
        .collect();
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let total = found.len();
    let total_count = Some(i64::try_from(total).unwrap_or(i64::MAX));
    if action == "count" {
        // 5.8.1: with count "only the total is returned, no other field".
        let mut body = serde_json::Map::new();
        body.insert("total_count".to_owned(), Value::from(total_count));
        return Ok(Reply::Json(Value::Object(body)));
    }
    Ok(Reply::Json(views::to_json(&models::ListByTagsResponse {
        resources: found
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|i| views::tagged(w, i))
            .collect(),
        total_count,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn tag_rules_of_the_reference() {
        let t = |k: &str, v: &str| models::ResourceTag {
            key: k.into(),
            value: v.into(),
        };
        assert!(check_tags(&[t("env", "")]).is_ok());
        let code = |tags: &[models::ResourceTag]| check_tags(tags).map(|_| ()).map_err(|e| e.code);
        assert_eq!(code(&[t("", "x")]), Err("SDRS.2205".into()));
        assert_eq!(code(&[t("a/b", "x")]), Err("SDRS.2204".into()));
        assert_eq!(code(&[t("a", "x=y")]), Err("SDRS.2207".into()));
        assert_eq!(code(&[t("a", "1"), t("a", "2")]), Err("SDRS.2209".into()));
    }

    #[test]
    fn tag_filters_match_values_exactly_or_by_fragment() {
        let tags = vec![tag("env", "production"), tag("tier", "web")];
        let f = |key: &str, values: &[&str]| TagFilter {
            key: key.into(),
            values: values.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(f("env", &[]).matches(&tags));
        assert!(f("env", &["staging", "production"]).matches(&tags));
        assert!(f("env", &["*duct"]).matches(&tags));
        assert!(!f("env", &["prod"]).matches(&tags));
        assert!(!f("owner", &[]).matches(&tags));
    }
}
