//! Replication pairs (reference 5.6): create, delete, list, show, expand, rename.

use super::protected_instances::pair;
use super::protection_groups::group;
use super::{
    ApiError, Call, Ctx, NewJob, Reply, check_description, check_name, decode, id_list,
    name_matches, page, paginate,
};
use crate::emulator::effects::new_id;
use crate::emulator::jobs::{self, Effect};
use crate::emulator::rules::replication::{PRECONDITIONS, RULES};
use crate::emulator::rules::{self, Action};
use crate::emulator::views;
use crate::emulator::world::{PairStatus, ReplicationPair, StatusExt, Volume, VolumeStatus};
use crate::sdrs::models;

fn refuse(action: Action, key: &str, message: String) -> ApiError {
    ApiError::sdrs(rules::code_of(PRECONDITIONS, action, key), message)
}

/// 5.6.1 `POST /v1/{project_id}/replications`.
pub fn create(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::CreatePair)?;
    let action = Action::CreatePair;
    let body: models::CreateReplicationRequestBody = decode(call)?;
    let p = &body.replication;
    let group_id = p.server_group_id.clone();
    let volume_id = p.volume_id.clone();
    let name = p.name.as_str();
    check_name(name, 64)?;
    let description = p.description.as_deref();
    check_description(description)?;
    if let Some(cluster) = &p.cluster_id {
        return Err(ApiError::sdrs(
            "SDRS.1381",
            format!("DSS storage pool {cluster} does not exist"),
        ));
    }
    let w = &*ctx.world;
    let g = group(w, &group_id)?;
    rule.check_group(&group_id, &g.status)?;
    let volume = w.volumes.get(&volume_id).ok_or_else(|| {
        refuse(
            action,
            "volume exists",
            format!("volume {volume_id} not found"),
        )
    })?;
    if let Some(p) = w.pair_of_volume(&volume_id) {
        return Err(refuse(
            action,
            "volume not yet used",
            format!(
                "volume {volume_id} is already used by replication pair {}",
                p.id
            ),
        ));
    }
    if volume.availability_zone != g.production_az() {
        return Err(refuse(
            action,
            "volume in the production AZ",
            format!(
                "volume {volume_id} is in {}, the production site of protection group {group_id} is {}",
                volume.availability_zone,
                g.production_az()
            ),
        ));
    }
    if !matches!(volume.status, VolumeStatus::Available | VolumeStatus::InUse) {
        return Err(refuse(
            action,
            "volume available",
            format!("volume {volume_id} is {}", volume.status),
        ));
    }
    let quota = w.quotas.replications;
    if quota >= 0 && i64::try_from(w.replication_pairs.len()).unwrap_or(i64::MAX) >= quota {
        return Err(refuse(
            action,
            "replications quota",
            format!("insufficient replication pair quota: {quota} used of {quota}"),
        ));
    }
    // 5.6.1: "the DR site disk is created automatically", same size and type, at the DR site.
    let dr = Volume {
        id: new_id(),
        name: format!("{}-dr", volume.name),
        size: volume.size,
        volume_type: volume.volume_type.clone(),
        availability_zone: g.dr_az().to_owned(),
        bootable: volume.bootable,
        multiattach: volume.multiattach,
        status: VolumeStatus::Available,
        attachment: None,
    };
    let pair = ReplicationPair {
        id: new_id(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        server_group_id: group_id.clone(),
        status: rule.transitional.clone().unwrap_or(PairStatus::Creating),
        production_volume: volume_id.clone(),
        dr_volume: dr.id.clone(),
        attachment: None,
        failure_detail: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let (id, volume_ids) = (pair.id.clone(), format!("{volume_id},{}", dr.id));
    ctx.world.volumes.insert(dr);
    ctx.world.replication_pairs.insert(pair);
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("replication_pair_id", &id),
                ("volume_ids", &volume_ids),
                ("server_group_id", &group_id),
            ]),
            Effect::CreatePair { pair: id.clone() },
        ),
    )))
}

/// 5.6.2 `DELETE /v1/{project_id}/replications/{replication_id}`.
pub fn delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DeletePair)?;
    let action = Action::DeletePair;
    let id = call.param("replication_id")?.to_owned();
    let body: models::DeleteReplicationRequestBody = decode(call)?;
    let w = &*ctx.world;
    let p = pair(w, &id)?;
    if let Some(body_group) = &body.replication.server_group_id
        && *body_group != p.server_group_id
    {
        return Err(refuse(
            action,
            "server_group_id",
            format!("replication pair {id} is not in protection group {body_group}"),
        ));
    }
    let g = group(w, &p.server_group_id)?;
    rule.check_group(&g.id, &g.status)?;
    rule.check("replication pair", &id, &p.status)?;
    if let Some(a) = &p.attachment {
        return Err(refuse(
            action,
            "replication pair not attached",
            format!(
                "replication pair {id} is attached to protected instance {}; detach it first",
                a.protected_instance
            ),
        ));
    }
    let (group_id, volume_ids) = (
        g.id.clone(),
        format!("{},{}", p.production_volume, p.dr_volume),
    );
    if let (Some(p), Some(s)) = (
        ctx.world.replication_pairs.get_mut(&id),
        rule.transitional.clone(),
    ) {
        p.status = s;
        p.updated_at = ctx.now;
    }
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("replication_pair_id", &id),
                ("volume_ids", &volume_ids),
                ("server_group_id", &group_id),
            ]),
            Effect::DeletePair {
                pair: id.clone(),
                delete_target_volume: body.replication.delete_target_volume.unwrap_or(false),
            },
        ),
    )))
}

/// 5.6.3 `GET /v1/{project_id}/replications`.
pub fn list(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (limit, offset) = page(call)?;
    let query_type = call.query("query_type").unwrap_or("");
    if !["", "general", "status_abnormal"].contains(&query_type) {
        return Err(ApiError::invalid(format!(
            "query_type `{query_type}`: expected status_abnormal or general"
        )));
    }
    // 5.6.3: the plural parameters win over the singular ones.
    let groups: Option<Vec<String>> = match (
        call.query("server_group_ids"),
        call.query("server_group_id"),
    ) {
        (Some(list), _) => Some(id_list("server_group_ids", list)?),
        (None, Some(one)) => Some(vec![one.to_owned()]),
        (None, None) => None,
    };
    let instances: Option<Vec<String>> = match (
        call.query("protected_instance_ids"),
        call.query("protected_instance_id"),
    ) {
        (Some(list), _) => Some(id_list("protected_instance_ids", list)?),
        (None, Some(one)) => Some(vec![one.to_owned()]),
        (None, None) => None,
    };
    let status = call.query("status");
    let name = call.query("name");
    let az = call.query("availability_zone");
    let w = &*ctx.world;
    let mut items: Vec<&ReplicationPair> = w
        .replication_pairs
        .values()
        .filter(|p| {
            groups
                .as_ref()
                .is_none_or(|g| g.contains(&p.server_group_id))
        })
        .filter(|p| {
            instances.as_ref().is_none_or(|l| {
                p.attachment
                    .as_ref()
                    .is_some_and(|a| l.contains(&a.protected_instance))
            })
        })
        .filter(|p| status.is_none_or(|s| p.status.as_str() == s))
        .filter(|p| name_matches(&p.name, name))
        .filter(|p| query_type != "status_abnormal" || p.status.is_abnormal())
        .filter(|p| {
            az.is_none_or(|a| {
                w.protection_groups
                    .get(&p.server_group_id)
                    .is_some_and(|g| g.production_az() == a)
            })
        })
        .collect();
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let (page, count) = paginate(items, limit, offset);
    Ok(Reply::Json(views::to_json(
        &models::ListReplicationsResponse {
            replications: page
                .into_iter()
                .map(|p| views::replication_pair(w, p))
                .collect(),
            count: Some(i64::try_from(count).unwrap_or(i64::MAX)),
        },
    )))
}

/// 5.6.4 `GET /v1/{project_id}/replications/{replication_id}`.
pub fn show(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("replication_id")?;
    let p = pair(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(&models::ReplicationResponse {
        replication: Some(views::replication_pair(ctx.world, p)),
    })))
}

/// 5.6.5 `POST /v1/{project_id}/replications/{replication_id}/action {"extend-replication":..}`.
pub fn expand(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::ExpandPair)?;
    let action = Action::ExpandPair;
    let id = call.param("replication_id")?.to_owned();
    let body: models::ExtendReplicationRequestBody = decode(call)?;
    // Table 5-46: "a decimal value is truncated to its integer part" (the model truncates).
    let new_size = u32::try_from(body.extend_replication.new_size)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            ApiError::invalid("extend-replication.new_size must be a positive number of GB")
        })?;
    let w = &*ctx.world;
    let p = pair(w, &id)?;
    rule.check("replication pair", &id, &p.status)?;
    let volumes: Vec<&Volume> = [&p.production_volume, &p.dr_volume]
        .iter()
        .filter_map(|v| w.volumes.get(v.as_str()))
        .collect();
    if let Some(v) = volumes
        .iter()
        .find(|v| !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse))
    {
        return Err(refuse(
            action,
            "disks available",
            format!("disk {} of replication pair {id} is {}", v.id, v.status),
        ));
    }
    let current = volumes.iter().map(|v| v.size).max().unwrap_or(0);
    if new_size <= current {
        return Err(refuse(
            action,
            "new_size larger",
            format!("new_size {new_size} GB must be larger than the current {current} GB"),
        ));
    }
    let (group_id, volume_ids) = (
        p.server_group_id.clone(),
        format!("{},{}", p.production_volume, p.dr_volume),
    );
    if let (Some(p), Some(s)) = (
        ctx.world.replication_pairs.get_mut(&id),
        rule.transitional.clone(),
    ) {
        p.status = s;
        p.updated_at = ctx.now;
    }
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("replication_pair_id", &id),
                ("volume_ids", &volume_ids),
                ("server_group_id", &group_id),
            ]),
            Effect::ExpandPair {
                pair: id.clone(),
                new_size,
            },
        ),
    )))
}

/// 5.6.6 `PUT /v1/{project_id}/replications/{replication_id}`.
pub fn rename(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("replication_id")?;
    let body: models::UpdateReplicationNameRequestBody = decode(call)?;
    let name = body.replication.name.as_str();
    check_name(name, 64)?;
    pair(ctx.world, id)?;
    ctx.resource = Some(id.to_owned());
    if let Some(p) = ctx.world.replication_pairs.get_mut(id) {
        p.name = name.to_owned();
        p.updated_at = ctx.now;
    }
    let p = pair(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(&models::ReplicationResponse {
        replication: Some(views::replication_pair(ctx.world, p)),
    })))
}
