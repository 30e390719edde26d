//! Protection groups (reference 5.4): create, list, show, delete, rename, and the group actions
//! (enable protection / reprotect, disable protection, failover, planned failover).

use std::collections::BTreeMap;

use super::{
    ApiError, Call, Ctx, NewJob, Reply, check_description, check_name, decode, name_matches,
    not_found, page, paginate,
};
use crate::emulator::jobs::{self, Effect, GroupActionPlan};
use crate::emulator::rules::protection_group::{PRECONDITIONS, RULES};
use crate::emulator::rules::{self, Action, protected_instance, replication};
use crate::emulator::views;
use crate::emulator::world::{
    GroupStatus, ProtectionGroup, ServerStatus, Station, StatusExt, World,
};
use crate::sdrs::models;

/// The group with this id, or SDRS.1013 "Protection group not found".
pub fn group<'a>(world: &'a World, id: &str) -> Result<&'a ProtectionGroup, ApiError> {
    world
        .protection_groups
        .get(id)
        .ok_or_else(|| not_found("SDRS.1013", "protection group", id))
}

fn refuse(action: Action, key: &str, message: String) -> ApiError {
    ApiError::sdrs(rules::code_of(PRECONDITIONS, action, key), message)
}

/// 5.4.1 `POST /v1/{project_id}/server-groups`.
pub fn create(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::CreateGroup)?;
    let body: models::CreateProtectionGroupRequestBody = decode(call)?;
    let p = &body.server_group;
    let name = p.name.as_str();
    check_name(name, 64)?;
    let description = p.description.as_deref();
    check_description(description)?;
    let source_az = p.source_availability_zone.as_str();
    let target_az = p.target_availability_zone.as_str();
    let domain_id = p.domain_id.as_str();
    let vpc_id = p.source_vpc_id.as_str();
    let dr_type = p.dr_type.as_ref().map_or("migration", |d| d.as_str());
    let w = &*ctx.world;

    let domain = w
        .domains
        .iter()
        .find(|d| d.id == domain_id)
        .ok_or_else(|| {
            refuse(
                Action::CreateGroup,
                "domain_id",
                format!("domain_id {domain_id} is not an active-active domain"),
            )
        })?;
    let ends = [
        domain.local_availability_zone.as_str(),
        domain.remote_availability_zone.as_str(),
    ];
    if source_az == target_az || !ends.contains(&source_az) || !ends.contains(&target_az) {
        return Err(refuse(
            Action::CreateGroup,
            "availability zones",
            format!(
                "source_availability_zone {source_az} and target_availability_zone {target_az} \
                 must be the two ends of domain {domain_id} ({} and {})",
                ends[0], ends[1]
            ),
        ));
    }
    if !w.vpcs.contains(vpc_id) {
        return Err(refuse(
            Action::CreateGroup,
            "source_vpc_id",
            format!("source_vpc_id {vpc_id} is not a VPC"),
        ));
    }
    if dr_type != "migration" {
        return Err(refuse(
            Action::CreateGroup,
            "dr_type",
            format!("dr_type `{dr_type}`: the only deployment mode is migration"),
        ));
    }
    let quota = w.quotas.server_groups;
    if quota >= 0 && i64::try_from(w.protection_groups.len()).unwrap_or(i64::MAX) >= quota {
        return Err(refuse(
            Action::CreateGroup,
            "server_groups quota",
            format!("insufficient protection group quota: {quota} used of {quota}"),
        ));
    }

    let id = crate::emulator::effects::new_id();
    ctx.world.protection_groups.insert(ProtectionGroup {
        id: id.clone(),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        status: rule.transitional.clone().unwrap_or(GroupStatus::Creating),
        source_availability_zone: source_az.to_owned(),
        target_availability_zone: target_az.to_owned(),
        domain_id: domain_id.to_owned(),
        source_vpc_id: vpc_id.to_owned(),
        dr_type: dr_type.to_owned(),
        priority_station: Station::Source,
        last_drill_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    });
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([("server_group_id", &id)]),
            Effect::CreateGroup { group: id.clone() },
        ),
    )))
}

/// Whether a group matches `query_type` (5.4.2).
fn matches_query_type(g: &ProtectionGroup, query_type: &str, now: jiff::Timestamp) -> bool {
    match query_type {
        "" | "general" => true,
        "status_abnormal" => g.status.is_abnormal(),
        "stop_protected" => g.status == GroupStatus::Available,
        // "groups without a DR drill for a while, three months by default".
        "period_no_dr_drill" => {
            let since = now
                .checked_sub(jiff::SignedDuration::from_hours(24 * 90))
                .unwrap_or(now);
            g.last_drill_at.is_none_or(|t| t < since)
        }
        _ => false,
    }
}

/// 5.4.2 `GET /v1/{project_id}/server-groups`.
pub fn list(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (limit, offset) = page(call)?;
    let query_type = call.query("query_type").unwrap_or("");
    if ![
        "",
        "general",
        "status_abnormal",
        "stop_protected",
        "period_no_dr_drill",
    ]
    .contains(&query_type)
    {
        return Err(ApiError::invalid(format!(
            "query_type `{query_type}`: expected status_abnormal, stop_protected, \
             period_no_dr_drill or general"
        )));
    }
    let status = call.query("status");
    let name = call.query("name");
    let az = call.query("availability_zone");
    let w = &*ctx.world;
    let mut groups: Vec<&ProtectionGroup> = w
        .protection_groups
        .values()
        .filter(|g| status.is_none_or(|s| g.status.as_str() == s))
        .filter(|g| name_matches(&g.name, name))
        .filter(|g| az.is_none_or(|a| g.production_az() == a))
        .filter(|g| matches_query_type(g, query_type, ctx.now))
        .collect();
    groups.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let (page, count) = paginate(groups, limit, offset);
    Ok(Reply::Json(views::to_json(
        &models::ListProtectionGroupsResponse {
            server_groups: page
                .into_iter()
                .map(|g| views::protection_group(w, g))
                .collect(),
            count: Some(i64::try_from(count).unwrap_or(i64::MAX)),
        },
    )))
}

/// 5.4.3 `GET /v1/{project_id}/server-groups/{server_group_id}`.
pub fn show(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("server_group_id")?;
    let g = group(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(
        &models::ProtectionGroupResponse {
            server_group: Some(views::protection_group(ctx.world, g)),
        },
    )))
}

/// 5.4.4 `DELETE /v1/{project_id}/server-groups/{server_group_id}`.
pub fn delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DeleteGroup)?;
    let id = call.param("server_group_id")?.to_owned();
    let g = group(ctx.world, &id)?;
    rule.check("protection group", &id, &g.status)?;
    let w = &*ctx.world;
    let counts = [
        (
            "no protected instances",
            w.instances_of(&id).count(),
            "protected instances",
        ),
        (
            "no replication pairs",
            w.pairs_of(&id).count(),
            "replication pairs",
        ),
        ("no DR drills", w.drills_of(&id).count(), "DR drills"),
    ];
    for (key, count, what) in counts {
        if count > 0 {
            return Err(refuse(
                Action::DeleteGroup,
                key,
                format!(
                    "protection group {id} still has {count} {what}; delete them first (reference 5.4.4)"
                ),
            ));
        }
    }
    set_group_status(ctx, &id, rule.transitional.clone());
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([("server_group_id", &id)]),
            Effect::DeleteGroup { group: id.clone() },
        ),
    )))
}

fn set_group_status(ctx: &mut Ctx<'_>, id: &str, status: Option<GroupStatus>) {
    if let (Some(g), Some(s)) = (ctx.world.protection_groups.get_mut(id), status) {
        g.status = s;
        g.updated_at = ctx.now;
    }
}

/// 5.4.5 `PUT /v1/{project_id}/server-groups/{server_group_id}`.
pub fn rename(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("server_group_id")?;
    let body: models::UpdateProtectionGroupNameRequestBody = decode(call)?;
    let name = body.server_group.name.as_str();
    check_name(name, 64)?;
    group(ctx.world, id)?;
    ctx.resource = Some(id.to_owned());
    if let Some(g) = ctx.world.protection_groups.get_mut(id) {
        g.name = name.to_owned();
        g.updated_at = ctx.now;
    }
    let g = group(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(
        &models::ProtectionGroupResponse {
            server_group: Some(views::protection_group(ctx.world, g)),
        },
    )))
}

/// Checks and submits a group action: the group and all its members enter their transitional
/// statuses, and one job (with one sub-job per replication pair, as in the 5.1.1 example) does
/// the work.
fn group_action(
    call: &Call<'_>,
    ctx: &mut Ctx<'_>,
    action: Action,
    requested_station: Option<Station>,
) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, action)?;
    let id = call.param("server_group_id")?.to_owned();
    let g = group(ctx.world, &id)?;
    rule.check("protection group", &id, &g.status)?;
    let station = g.priority_station;
    let w = &*ctx.world;

    if matches!(
        action,
        Action::StartProtection | Action::Failover | Action::Reverse
    ) && w.pairs_of(&id).next().is_none()
    {
        return Err(refuse(
            action,
            "replication pairs",
            format!("protection group {id} has no replication pairs"),
        ));
    }
    let busy = w
        .instances_of(&id)
        .filter(|i| i.status.is_transitional())
        .map(|i| format!("protected instance {} is {}", i.id, i.status))
        .chain(
            w.pairs_of(&id)
                .filter(|p| p.status.is_transitional())
                .map(|p| format!("replication pair {} is {}", p.id, p.status)),
        )
        .chain(
            w.drills_of(&id)
                .filter(|d| d.status.is_transitional())
                .map(|d| format!("DR drill {} is {}", d.id, d.status)),
        )
        .next();
    if let Some(busy) = busy {
        return Err(refuse(
            action,
            "no member",
            format!("{busy}; wait for its job to finish"),
        ));
    }
    let station_after = match action {
        Action::Failover => station.flipped(),
        Action::Reverse => {
            let target = requested_station.unwrap_or(station);
            if target == station {
                return Err(refuse(
                    action,
                    "priority_station",
                    format!(
                        "priority_station `{}` is already the current production site of {id}",
                        target.as_str()
                    ),
                ));
            }
            target
        }
        _ => station,
    };
    // 5.4.9: every server at the current production site must be stopped; 5.4.6 (reprotect):
    // every server at the current DR site must be stopped.
    let must_be_stopped: Vec<&str> = match action {
        Action::Reverse => w
            .instances_of(&id)
            .map(|i| i.production_server(station))
            .collect(),
        Action::Reprotect => w.instances_of(&id).map(|i| i.dr_server(station)).collect(),
        _ => Vec::new(),
    };
    let running: Vec<&str> = must_be_stopped
        .into_iter()
        .filter(|s| {
            w.servers
                .get(s)
                .is_some_and(|x| x.status != ServerStatus::Shutoff)
        })
        .collect();
    if !running.is_empty() {
        let key = if action == Action::Reverse {
            "servers at the current production site"
        } else {
            "servers at the current DR site"
        };
        return Err(refuse(
            action,
            key,
            format!(
                "{key} must be stopped; still running: {}",
                running.join(", ")
            ),
        ));
    }

    // Enter the transitional statuses.
    let instance_rule = rules::find(protected_instance::RULES, action)?;
    let pair_rule = rules::find(replication::RULES, action)?;
    set_group_status(ctx, &id, rule.transitional.clone());
    let now = ctx.now;
    for i in ctx.world.protected_instances.values_mut() {
        if i.server_group_id == id
            && let Some(s) = instance_rule.transitional.clone()
        {
            i.status = s;
            i.updated_at = now;
        }
    }
    let mut pair_ids = Vec::new();
    for p in ctx.world.replication_pairs.values_mut() {
        if p.server_group_id == id {
            if let Some(s) = pair_rule.transitional.clone() {
                p.status = s;
                p.updated_at = now;
            }
            pair_ids.push(p.id.clone());
        }
    }
    // 5.1.1's example shows a stop job with one `stopProtectionGroupRepNoCG` sub-job per pair;
    // the other group actions are named the same way.
    let sub_type = rule.job_type.replace("NoCG", "RepNoCG");
    let sub_jobs = pair_ids
        .iter()
        .map(|p| {
            jobs::new_sub_job(
                &sub_type,
                jobs::entities([("server_group_id", &id), ("replication_pair_id", p)]),
                now,
            )
        })
        .collect();
    ctx.resource = Some(id.clone());
    let mut entities = BTreeMap::new();
    entities.insert("server_group_id".to_owned(), id.clone());
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                rule.job_type,
                entities,
                Effect::GroupAction {
                    group: id.clone(),
                    plan: GroupActionPlan {
                        action,
                        station_after,
                    },
                },
            )
            .with_sub_jobs(sub_jobs),
        ),
    ))
}

/// 5.4.6 `POST .../server-groups/{id}/action {"start-server-group": {}}`: enables protection,
/// or enables it again (reprotect) on a failed-over group.
pub fn start(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("server_group_id")?;
    let status = group(ctx.world, id)?.status.clone();
    let reprotect = rules::find(RULES, Action::Reprotect)?;
    let action = if reprotect.allowed.is_some_and(|a| a.contains(&status)) {
        Action::Reprotect
    } else {
        Action::StartProtection
    };
    group_action(call, ctx, action, None)
}

/// 5.4.7 `{"stop-server-group": {}}`.
pub fn stop(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    group_action(call, ctx, Action::StopProtection, None)
}

/// 5.4.8 `{"failover-server-group": {}}`.
pub fn failover(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    group_action(call, ctx, Action::Failover, None)
}

/// 5.4.9 `{"reverse-server-group": {"priority_station": "source"|"target"}}`.
pub fn reverse(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body: models::ReverseProtectionGroupRequestBody = decode(call)?;
    let text = body.reverse_server_group.priority_station.as_str();
    let station = Station::parse(text).ok_or_else(|| {
        refuse(
            Action::Reverse,
            "priority_station",
            format!("priority_station `{text}`: expected source or target"),
        )
    })?;
    group_action(call, ctx, Action::Reverse, Some(station))
}
