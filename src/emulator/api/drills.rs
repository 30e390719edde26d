//! DR drills (reference 5.7): create, delete, list, show, rename.

use super::protection_groups::group;
use super::{
    ApiError, Call, Ctx, NewJob, Reply, check_name, decode, name_matches, not_found, page, paginate,
};
use crate::emulator::effects::new_id;
use crate::emulator::jobs::{self, Effect};
use crate::emulator::rules::drill::{PRECONDITIONS, RULES};
use crate::emulator::rules::{self, Action};
use crate::emulator::views;
use crate::emulator::world::{Drill, DrillStatus, Subnet, Vpc, World};
use crate::sdrs::models;

fn drill<'a>(world: &'a World, id: &str) -> Result<&'a Drill, ApiError> {
    world
        .drills
        .get(id)
        .ok_or_else(|| not_found("SDRS.1902", "DR drill", id))
}

fn refuse(key: &str, message: String) -> ApiError {
    ApiError::sdrs(
        rules::code_of(PRECONDITIONS, Action::CreateDrill, key),
        message,
    )
}

/// 5.7.1 `POST /v1/{project_id}/disaster-recovery-drills`. Without `drill_vpc_id` the service
/// creates a drill VPC with the group's subnets.
pub fn create(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::CreateDrill)?;
    let body: models::CreateDrillRequestBody = decode(call)?;
    let group_id = body.disaster_recovery_drill.server_group_id.clone();
    let name = body.disaster_recovery_drill.name.as_str();
    check_name(name, 64)?;
    let w = &*ctx.world;
    let g = group(w, &group_id)?;
    rule.check_group(&group_id, &g.status)?;
    let vpc_id = match body.disaster_recovery_drill.drill_vpc_id.as_deref() {
        Some(vpc_id) => {
            let vpc = w
                .vpcs
                .get(vpc_id)
                .ok_or_else(|| refuse("drill_vpc_id", format!("drill VPC {vpc_id} not found")))?;
            if vpc.id == g.source_vpc_id {
                return Err(refuse(
                    "drill VPC differs",
                    format!("drill VPC {vpc_id} is the VPC of protection group {group_id}"),
                ));
            }
            if vpc.subnets.is_empty() {
                return Err(refuse(
                    "drill VPC has a subnet",
                    format!("drill VPC {vpc_id} has no subnet"),
                ));
            }
            if let Some(other) = w
                .drills
                .values()
                .find(|d| d.drill_vpc_id == vpc_id && d.server_group_id != group_id)
            {
                return Err(refuse(
                    "drill VPC not used",
                    format!(
                        "drill VPC {vpc_id} is already used by DR drill {} of another group",
                        other.id
                    ),
                ));
            }
            vpc_id.to_owned()
        }
        None => {
            // "If drill_vpc_id is not given, a drill VPC is created automatically" with the
            // subnets of the group's VPC.
            let source = w.vpcs.get(&g.source_vpc_id).cloned();
            let id = new_id();
            let vpc = Vpc {
                id: id.clone(),
                name: format!("{name}-drill-vpc"),
                cidr: source
                    .as_ref()
                    .map_or_else(|| "192.168.0.0/16".to_owned(), |v| v.cidr.clone()),
                subnets: source
                    .map(|v| {
                        v.subnets
                            .iter()
                            .map(|s| Subnet {
                                id: new_id(),
                                name: format!("{}-drill", s.name),
                                cidr: s.cidr.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            ctx.world.vpcs.insert(vpc);
            id
        }
    };
    let d = Drill {
        id: new_id(),
        name: name.to_owned(),
        status: rule.transitional.clone().unwrap_or(DrillStatus::Creating),
        server_group_id: group_id.clone(),
        drill_vpc_id: vpc_id,
        drill_servers: Vec::new(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let id = d.id.clone();
    ctx.world.drills.insert(d);
    if let Some(g) = ctx.world.protection_groups.get_mut(&group_id) {
        g.last_drill_at = Some(ctx.now);
    }
    ctx.resource = Some(id.clone());
    // Terraform decodes drill job entities into map[string]string: strings only.
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                rule.job_type,
                jobs::entities([
                    ("disaster_recovery_drill_id", &id),
                    ("server_group_id", &group_id),
                ]),
                Effect::CreateDrill { drill: id.clone() },
            )
            .strings_only(),
        ),
    ))
}

/// 5.7.2 `DELETE /v1/{project_id}/disaster-recovery-drills/{id}`: the drill servers go too.
pub fn delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DeleteDrill)?;
    let id = call.param("disaster_recovery_drill_id")?.to_owned();
    let d = drill(ctx.world, &id)?;
    rule.check("DR drill", &id, &d.status)?;
    let group_id = d.server_group_id.clone();
    if let (Some(d), Some(s)) = (ctx.world.drills.get_mut(&id), rule.transitional.clone()) {
        d.status = s;
        d.updated_at = ctx.now;
    }
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                rule.job_type,
                jobs::entities([
                    ("disaster_recovery_drill_id", &id),
                    ("server_group_id", &group_id),
                ]),
                Effect::DeleteDrill { drill: id.clone() },
            )
            .strings_only(),
        ),
    ))
}

/// 5.7.3 `GET /v1/{project_id}/disaster-recovery-drills`.
pub fn list(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (limit, offset) = page(call)?;
    let group_id = call.query("server_group_id");
    let name = call.query("name");
    let status = call.query("status");
    let vpc = call.query("drill_vpc_id");
    let mut items: Vec<&Drill> = ctx
        .world
        .drills
        .values()
        .filter(|d| group_id.is_none_or(|g| d.server_group_id == g))
        .filter(|d| name_matches(&d.name, name))
        .filter(|d| status.is_none_or(|s| d.status.as_str() == s))
        .filter(|d| vpc.is_none_or(|v| d.drill_vpc_id == v))
        .collect();
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let (page, count) = paginate(items, limit, offset);
    Ok(Reply::Json(views::to_json(&models::ListDrillsResponse {
        disaster_recovery_drills: page.into_iter().map(views::drill).collect(),
        count: Some(i64::try_from(count).unwrap_or(i64::MAX)),
    })))
}

/// 5.7.4 `GET /v1/{project_id}/disaster-recovery-drills/{id}`.
pub fn show(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("disaster_recovery_drill_id")?;
    let d = drill(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(&models::DrillResponse {
        disaster_recovery_drill: Some(views::drill(d)),
    })))
}

/// 5.7.5 `PUT /v1/{project_id}/disaster-recovery-drills/{id}`.
pub fn rename(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("disaster_recovery_drill_id")?;
    let body: models::UpdateDrillNameRequestBody = decode(call)?;
    let name = body.disaster_recovery_drill.name.as_str();
    check_name(name, 64)?;
    drill(ctx.world, id)?;
    ctx.resource = Some(id.to_owned());
    if let Some(d) = ctx.world.drills.get_mut(id) {
        d.name = name.to_owned();
        d.updated_at = ctx.now;
    }
    let d = drill(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(&models::DrillResponse {
        disaster_recovery_drill: Some(views::drill(d)),
    })))
}
