//! Protected instances (reference 5.5): create (one or a batch), delete (one or a batch), list,
//! show, rename, attach / detach replication pairs, add / delete NICs, resize.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::protection_groups::group;
use super::tags::check_tags;
use super::{
    ApiError, Call, Ctx, NewJob, Reply, check_description, check_name, decode, id_list,
    name_matches, not_found, page, paginate,
};
use crate::emulator::effects::{new_id, new_mac};
use crate::emulator::jobs::{self, Effect};
use crate::emulator::rules::protected_instance::{PRECONDITIONS, RULES};
use crate::emulator::rules::{self, Action, replication};
use crate::emulator::views;
use crate::emulator::world::{
    InstanceStatus, Nic, ProtectedInstance, ProtectionGroup, ReplicationPair, Server, ServerStatus,
    Station, StatusExt, Tag, World,
};
use crate::sdrs::models;

/// The instance with this id, or SDRS.1320 "Protected instance not found".
pub fn instance<'a>(world: &'a World, id: &str) -> Result<&'a ProtectedInstance, ApiError> {
    world
        .protected_instances
        .get(id)
        .ok_or_else(|| not_found("SDRS.1320", "protected instance", id))
}

/// The pair with this id, or SDRS.1608 "Replication pair not found".
pub fn pair<'a>(world: &'a World, id: &str) -> Result<&'a ReplicationPair, ApiError> {
    world
        .replication_pairs
        .get(id)
        .ok_or_else(|| not_found("SDRS.1608", "replication pair", id))
}

fn refuse(action: Action, key: &str, message: String) -> ApiError {
    ApiError::sdrs(rules::code_of(PRECONDITIONS, action, key), message)
}

fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (addr, bits) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0)
    };
    Some((u32::from(addr) & mask, mask))
}

/// Whether `ip` lies in `cidr`.
fn in_cidr(ip: &str, cidr: &str) -> bool {
    match (ip.parse::<Ipv4Addr>(), parse_cidr(cidr)) {
        (Ok(ip), Some((net, mask))) => u32::from(ip) & mask == net,
        _ => false,
    }
}

/// Addresses in use in a subnet, except those of the servers in `except`.
fn used_ips<'a>(world: &'a World, subnet_id: &str, except: &[&str]) -> BTreeSet<&'a str> {
    world
        .servers
        .values()
        .filter(|s| !except.contains(&s.id.as_str()))
        .flat_map(|s| s.nics.iter())
        .filter(|n| n.subnet_id == subnet_id)
        .map(|n| n.ip_address.as_str())
        .collect()
}

/// The first free host address of a subnet, from `.10` on (lower ones are the gateway's).
fn free_ip(world: &World, subnet_id: &str, cidr: &str) -> Option<String> {
    let (net, mask) = parse_cidr(cidr)?;
    let used = used_ips(world, subnet_id, &[]);
    let size = (!mask).saturating_sub(1);
    (10..size)
        .map(|h| Ipv4Addr::from(net + h).to_string())
        .find(|ip| !used.contains(ip.as_str()))
}

/// Checks a subnet for a NIC of an instance of `g`: it exists and belongs to the group's VPC.
fn subnet_in_group(
    world: &World,
    g: &ProtectionGroup,
    subnet_id: &str,
    action: Action,
) -> Result<String, ApiError> {
    match world.subnet(subnet_id) {
        Some((vpc, subnet)) if vpc.id == g.source_vpc_id => Ok(subnet.cidr.clone()),
        _ => Err(refuse(
            action,
            "subnet exists",
            format!(
                "subnet {subnet_id} not found in VPC {} of protection group {}",
                g.source_vpc_id, g.id
            ),
        )),
    }
}

/// Checks that a server can get a protected instance in group `g` (5.5.1 / A.1).
fn check_server<'a>(
    world: &'a World,
    g: &ProtectionGroup,
    server_id: &str,
    unknown_key: &str,
) -> Result<&'a Server, ApiError> {
    let action = Action::CreateInstance;
    let server = world
        .servers
        .get(server_id)
        .ok_or_else(|| refuse(action, unknown_key, format!("server {server_id} not found")))?;
    if let Some(i) = world.instance_of_server(server_id) {
        return Err(refuse(
            action,
            "server not yet used",
            format!(
                "server {server_id} is already protected by protected instance {}",
                i.id
            ),
        ));
    }
    if server.vpc_id != g.source_vpc_id {
        return Err(refuse(
            action,
            "server in the VPC",
            format!(
                "server {server_id} is in VPC {}, protection group {} in VPC {}",
                server.vpc_id, g.id, g.source_vpc_id
            ),
        ));
    }
    if server.availability_zone != g.production_az() {
        return Err(refuse(
            action,
            "server in the production AZ",
            format!(
                "server {server_id} is in {}, the production site of protection group {} is {}",
                server.availability_zone,
                g.id,
                g.production_az()
            ),
        ));
    }
    if !matches!(server.status, ServerStatus::Active | ServerStatus::Shutoff) {
        return Err(refuse(
            action,
            "server ACTIVE",
            format!(
                "server {server_id} is {}; it must be ACTIVE or SHUTOFF",
                server.status
            ),
        ));
    }
    Ok(server)
}

/// Options shared by single and batch creation.
struct CreateOptions {
    primary_subnet_id: Option<String>,
    primary_ip_address: Option<String>,
    tags: Vec<Tag>,
    description: Option<String>,
}

/// The creation inputs single and batch creation have in common, as the request models give
/// them.
struct Requested<'a> {
    description: Option<&'a str>,
    cluster_id: Option<&'a str>,
    primary_subnet_id: Option<&'a str>,
    primary_ip_address: Option<&'a str>,
    tags: Option<&'a [models::ResourceTag]>,
    tenancy: Option<&'a models::Tenancy>,
    dedicated_host_id: Option<&'a str>,
}

fn check_placement(r: &Requested<'_>) -> Result<(), ApiError> {
    let action = Action::CreateInstance;
    if let Some(t) = r.tenancy
        && !t.is_known()
    {
        return Err(refuse(
            action,
            "tenancy",
            format!("tenancy `{t}`: expected shared or dedicated"),
        ));
    }
    if let Some(host) = r.dedicated_host_id {
        if r.tenancy != Some(&models::Tenancy::Dedicated) {
            return Err(refuse(
                action,
                "dedicated_host_id only",
                "dedicated_host_id cannot be specified when tenancy is shared".to_owned(),
            ));
        }
        // The emulator has no dedicated hosts (A.1 SDRS.1372 "DeH not found").
        return Err(ApiError::sdrs(
            "SDRS.1372",
            format!("dedicated host {host} not found"),
        ));
    }
    if let Some(cluster) = r.cluster_id {
        // No dedicated distributed storage either (A.1 SDRS.1381).
        return Err(ApiError::sdrs(
            "SDRS.1381",
            format!("DSS storage pool {cluster} does not exist"),
        ));
    }
    Ok(())
}

fn create_options(
    world: &World,
    g: &ProtectionGroup,
    r: &Requested<'_>,
) -> Result<CreateOptions, ApiError> {
    let action = Action::CreateInstance;
    check_placement(r)?;
    check_description(r.description)?;
    if r.primary_ip_address.is_some() && r.primary_subnet_id.is_none() {
        return Err(refuse(
            action,
            "primary_subnet_id given",
            "primary_subnet_id must be specified when primary_ip_address is specified".to_owned(),
        ));
    }
    if let Some(subnet) = r.primary_subnet_id {
        let cidr = subnet_in_group(world, g, subnet, action)?;
        if let Some(ip) = r.primary_ip_address {
            if !in_cidr(ip, &cidr) {
                return Err(ApiError::sdrs(
                    "SDRS.0219",
                    format!("primary_ip_address {ip} is not in subnet {subnet} ({cidr})"),
                ));
            }
            if used_ips(world, subnet, &[]).contains(ip) {
                return Err(refuse(
                    action,
                    "IP address free",
                    format!("private IP address {ip} in subnet {subnet} is in use"),
                ));
            }
        }
    }
    let tags = check_tags(r.tags.unwrap_or_default())?;
    if tags.len() > 10 {
        return Err(refuse(
            action,
            "at most 10 tags",
            format!(
                "{} tags given; a protected instance has at most 10",
                tags.len()
            ),
        ));
    }
    Ok(CreateOptions {
        primary_subnet_id: r.primary_subnet_id.map(str::to_owned),
        primary_ip_address: r.primary_ip_address.map(str::to_owned),
        tags,
        description: r.description.map(str::to_owned),
    })
}

/// Creates the DR server and the instance record (status `creating`); returns the instance id.
fn create_one(
    ctx: &mut Ctx<'_>,
    group_id: &str,
    server_id: &str,
    name: &str,
    flavor: Option<&str>,
    options: &CreateOptions,
) -> Result<String, ApiError> {
    let rule = rules::find(RULES, Action::CreateInstance)?;
    let w = &*ctx.world;
    let g = group(w, group_id)?;
    let production = w
        .servers
        .get(server_id)
        .ok_or_else(|| ApiError::internal(format!("server {server_id} vanished")))?;
    // 5.5.1: the DR server has the production server's name, its own id, and the production
    // flavor unless flavorRef says otherwise; it lives at the DR site, stopped.
    let flavor = flavor.unwrap_or(&production.flavor).to_owned();
    let mut nics = Vec::new();
    for (index, nic) in production.nics.iter().enumerate() {
        let (subnet_id, ip) = match (index, &options.primary_subnet_id) {
            (0, Some(subnet)) => {
                let ip = match &options.primary_ip_address {
                    Some(ip) => ip.clone(),
                    None if *subnet == nic.subnet_id => nic.ip_address.clone(),
                    None => {
                        let cidr = w
                            .subnet(subnet)
                            .map(|(_, s)| s.cidr.clone())
                            .unwrap_or_default();
                        free_ip(w, subnet, &cidr).ok_or_else(|| {
                            ApiError::sdrs(
                                "SDRS.1334",
                                format!("no free address in subnet {subnet}"),
                            )
                        })?
                    }
                };
                (subnet.clone(), ip)
            }
            _ => (nic.subnet_id.clone(), nic.ip_address.clone()),
        };
        nics.push(Nic {
            port_id: new_id(),
            subnet_id,
            ip_address: ip,
            mac_address: new_mac(),
        });
    }
    let dr = Server {
        id: new_id(),
        name: production.name.clone(),
        status: ServerStatus::Shutoff,
        availability_zone: g.dr_az().to_owned(),
        flavor,
        vpc_id: production.vpc_id.clone(),
        nics,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let instance = ProtectedInstance {
        id: new_id(),
        name: name.to_owned(),
        description: options.description.clone(),
        server_group_id: group_id.to_owned(),
        status: rule
            .transitional
            .clone()
            .unwrap_or(InstanceStatus::Creating),
        source_server: server_id.to_owned(),
        target_server: dr.id.clone(),
        attachment: Vec::new(),
        tags: options.tags.clone(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let id = instance.id.clone();
    ctx.world.servers.insert(dr);
    ctx.world.protected_instances.insert(instance);
    Ok(id)
}

fn check_flavor(world: &World, flavor: Option<&str>) -> Result<(), ApiError> {
    if let Some(f) = flavor
        && !world.flavors.contains(f)
    {
        return Err(refuse(
            Action::CreateInstance,
            "flavorRef",
            format!("flavorRef {f}: no such flavor for DR site servers"),
        ));
    }
    Ok(())
}

/// 5.5.1 `POST /v1/{project_id}/protected-instances`.
pub fn create(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::CreateInstance)?;
    let body: models::CreateProtectedInstanceRequestBody = decode(call)?;
    let p = &body.protected_instance;
    let (group_id, server_id, name) = (
        p.server_group_id.as_str(),
        p.server_id.as_str(),
        p.name.as_str(),
    );
    check_name(name, 64)?;
    let w = &*ctx.world;
    let g = group(w, group_id)?;
    rule.check_group(group_id, &g.status)?;
    check_server(w, g, server_id, "server exists")?;
    let flavor = p.flavor_ref.as_deref();
    check_flavor(w, flavor)?;
    let options = create_options(
        w,
        g,
        &Requested {
            description: p.description.as_deref(),
            cluster_id: p.cluster_id.as_deref(),
            primary_subnet_id: p.primary_subnet_id.as_deref(),
            primary_ip_address: p.primary_ip_address.as_deref(),
            tags: p.tags.as_deref(),
            tenancy: p.tenancy.as_ref(),
            dedicated_host_id: p.dedicated_host_id.as_deref(),
        },
    )?;
    let id = create_one(ctx, group_id, server_id, name, flavor, &options)?;
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("protected_instance_id", &id),
                ("server_group_id", group_id),
                ("native_server_id", server_id),
            ]),
            Effect::CreateInstances {
                group: group_id.to_owned(),
                instances: vec![id.clone()],
            },
        ),
    )))
}

/// The `job_type` of a batch creation. The reference names no batch job type; the sub-jobs
/// carry the documented `createProtectedInstanceNoCG`.
pub const BATCH_CREATE_JOB_TYPE: &str = "batchCreateProtectedInstancesNoCG";
/// The `job_type` of a batch deletion (not named by the reference either).
pub const BATCH_DELETE_JOB_TYPE: &str = "batchDeleteProtectedInstancesNoCG";

/// 5.5.11 `POST /v1/{project_id}/protected-instances/batch` (202).
pub fn batch_create(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::CreateInstance)?;
    let body: models::BatchCreateProtectedInstancesRequestBody = decode(call)?;
    let p = &body.protected_instances;
    let group_id = p.server_group_id.as_str();
    let prefix = p.name_prefix.as_str();
    // 5.5.11: the prefix is 1 to 59 characters; "-0001" etc. is appended.
    check_name(prefix, 59)?;
    let servers: Vec<(String, Option<String>)> = p
        .servers
        .iter()
        .map(|s| (s.server_id.clone(), s.flavor_ref.clone()))
        .collect();
    let action = Action::CreateInstance;
    if servers.is_empty() {
        return Err(ApiError::invalid(
            "protected_instances.servers must list at least one server",
        ));
    }
    if servers.len() > 5 {
        return Err(refuse(
            action,
            "servers lists at most 5",
            format!(
                "servers lists {} servers; at most 5 are allowed",
                servers.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (id, _) in &servers {
        if !seen.insert(id.as_str()) {
            return Err(refuse(
                action,
                "servers lists no server twice",
                format!("servers lists server {id} twice"),
            ));
        }
    }
    let w = &*ctx.world;
    let g = group(w, group_id)?;
    rule.check_group(group_id, &g.status)?;
    for (server_id, flavor) in &servers {
        check_server(w, g, server_id, "servers lists existing")?;
        check_flavor(w, flavor.as_deref())?;
    }
    let options = create_options(
        w,
        g,
        &Requested {
            description: p.description.as_deref(),
            cluster_id: p.cluster_id.as_deref(),
            primary_subnet_id: p.primary_subnet_id.as_deref(),
            primary_ip_address: None,
            tags: p.tags.as_deref(),
            tenancy: p.tenancy.as_ref(),
            dedicated_host_id: p.dedicated_host_id.as_deref(),
        },
    )?;
    let mut ids: Vec<String> = Vec::new();
    for (n, (server_id, flavor)) in servers.iter().enumerate() {
        let name = format!("{prefix}-{:04}", n + 1);
        match create_one(ctx, group_id, server_id, &name, flavor.as_deref(), &options) {
            Ok(id) => ids.push(id),
            Err(e) => {
                // A refusal leaves the world unchanged: undo the members created so far.
                for id in &ids {
                    if let Some(i) = ctx.world.protected_instances.remove(id) {
                        ctx.world.servers.remove(&i.target_server);
                    }
                }
                return Err(e);
            }
        }
    }
    let sub_jobs = ids
        .iter()
        .zip(&servers)
        .map(|(id, (server_id, _))| {
            jobs::new_sub_job(
                rule.job_type,
                jobs::entities([
                    ("protected_instance_id", id),
                    ("server_group_id", group_id),
                    ("native_server_id", server_id),
                ]),
                ctx.now,
            )
        })
        .collect();
    ctx.resource = Some(ids.join(","));
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                BATCH_CREATE_JOB_TYPE,
                jobs::entities([("server_group_id", group_id)]),
                Effect::CreateInstances {
                    group: group_id.to_owned(),
                    instances: ids,
                },
            )
            .with_sub_jobs(sub_jobs),
        ),
    ))
}

/// Checks that an instance may be deleted with these options.
fn check_delete(
    world: &World,
    id: &str,
    delete_target_server: bool,
    delete_target_eip: bool,
) -> Result<(), ApiError> {
    let rule = rules::find(RULES, Action::DeleteInstance)?;
    let i = instance(world, id)?;
    rule.check("protected instance", id, &i.status)?;
    let station = world
        .protection_groups
        .get(&i.server_group_id)
        .map(|g| g.priority_station)
        .unwrap_or_default();
    if station == Station::Target {
        if delete_target_server {
            return Err(refuse(
                Action::DeleteInstance,
                "delete_target_server",
                format!(
                    "the current production site of protected instance {id} is not the one the \
                     protection group was created with, so its DR-site server cannot be deleted"
                ),
            ));
        }
        if delete_target_eip {
            return Err(refuse(
                Action::DeleteInstance,
                "delete_target_eip",
                format!(
                    "the current production site of protected instance {id} is not the one the \
                     protection group was created with, so the EIP cannot be deleted"
                ),
            ));
        }
    }
    Ok(())
}

fn mark_deleting(ctx: &mut Ctx<'_>, ids: &[String]) -> Result<(), ApiError> {
    let rule = rules::find(RULES, Action::DeleteInstance)?;
    for id in ids {
        if let (Some(i), Some(s)) = (
            ctx.world.protected_instances.get_mut(id),
            rule.transitional.clone(),
        ) {
            i.status = s;
            i.updated_at = ctx.now;
        }
    }
    Ok(())
}

/// 5.5.2 `DELETE /v1/{project_id}/protected-instances/{protected_instance_id}`.
pub fn delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DeleteInstance)?;
    let id = call.param("protected_instance_id")?.to_owned();
    let body: models::DeleteProtectedInstanceRequestBody = decode(call)?;
    let (dts, dte) = (
        body.delete_target_server.unwrap_or(false),
        body.delete_target_eip.unwrap_or(false),
    );
    check_delete(ctx.world, &id, dts, dte)?;
    let group_id = instance(ctx.world, &id)?.server_group_id.clone();
    mark_deleting(ctx, std::slice::from_ref(&id))?;
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("protected_instance_id", &id),
                ("server_group_id", &group_id),
            ]),
            Effect::DeleteInstances {
                instances: vec![id.clone()],
                delete_target_server: dts,
            },
        ),
    )))
}

/// 5.5.12 `POST /v1/{project_id}/protected-instances/delete` (202).
pub fn batch_delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DeleteInstance)?;
    let action = Action::DeleteInstance;
    let body: models::BatchDeleteProtectedInstancesRequestBody = decode(call)?;
    let ids: Vec<String> = body
        .protected_instances
        .iter()
        .map(|r| r.id.clone())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "protected_instances must list at least one instance",
        ));
    }
    if ids.len() > 20 {
        return Err(refuse(
            action,
            "protected_instances lists at most 20",
            format!(
                "protected_instances lists {} instances; at most 20 are allowed",
                ids.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for id in &ids {
        if !seen.insert(id.as_str()) {
            return Err(refuse(
                action,
                "protected_instances lists no instance twice",
                format!("protected_instances lists {id} twice"),
            ));
        }
    }
    let (dts, dte) = (
        body.delete_target_server.unwrap_or(false),
        body.delete_target_eip.unwrap_or(false),
    );
    let mut groups = BTreeSet::new();
    for id in &ids {
        groups.insert(instance(ctx.world, id)?.server_group_id.clone());
    }
    if groups.len() > 1 {
        return Err(refuse(
            action,
            "protected_instances from one",
            format!(
                "protected_instances belong to different protection groups: {}",
                groups.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for id in &ids {
        check_delete(ctx.world, id, dts, dte)?;
    }
    let group_id = groups.into_iter().next().unwrap_or_default();
    mark_deleting(ctx, &ids)?;
    let sub_jobs = ids
        .iter()
        .map(|id| {
            jobs::new_sub_job(
                rule.job_type,
                jobs::entities([
                    ("protected_instance_id", id),
                    ("server_group_id", &group_id),
                ]),
                ctx.now,
            )
        })
        .collect();
    ctx.resource = Some(ids.join(","));
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                BATCH_DELETE_JOB_TYPE,
                jobs::entities([("server_group_id", &group_id)]),
                Effect::DeleteInstances {
                    instances: ids,
                    delete_target_server: dts,
                },
            )
            .with_sub_jobs(sub_jobs),
        ),
    ))
}

/// 5.5.3 `GET /v1/{project_id}/protected-instances`.
pub fn list(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (limit, offset) = page(call)?;
    let query_type = call.query("query_type").unwrap_or("");
    if !["", "general", "status_abnormal"].contains(&query_type) {
        return Err(ApiError::invalid(format!(
            "query_type `{query_type}`: expected status_abnormal or general"
        )));
    }
    // 5.5.3: server_group_ids wins over server_group_id; protected_instance_ids is ignored when
    // either group filter is present.
    let groups: Option<Vec<String>> = match (
        call.query("server_group_ids"),
        call.query("server_group_id"),
    ) {
        (Some(list), _) => Some(id_list("server_group_ids", list)?),
        (None, Some(one)) => Some(vec![one.to_owned()]),
        (None, None) => None,
    };
    let instances: Option<Vec<String>> = match (&groups, call.query("protected_instance_ids")) {
        (None, Some(list)) => Some(id_list("protected_instance_ids", list)?),
        _ => None,
    };
    let status = call.query("status");
    let name = call.query("name");
    let az = call.query("availability_zone");
    let w = &*ctx.world;
    let mut items: Vec<&ProtectedInstance> = w
        .protected_instances
        .values()
        .filter(|i| {
            groups
                .as_ref()
                .is_none_or(|g| g.contains(&i.server_group_id))
        })
        .filter(|i| instances.as_ref().is_none_or(|l| l.contains(&i.id)))
        .filter(|i| status.is_none_or(|s| i.status.as_str() == s))
        .filter(|i| name_matches(&i.name, name))
        .filter(|i| query_type != "status_abnormal" || i.status.is_abnormal())
        .filter(|i| {
            az.is_none_or(|a| {
                w.protection_groups
                    .get(&i.server_group_id)
                    .is_some_and(|g| g.production_az() == a)
            })
        })
        .collect();
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let (page, count) = paginate(items, limit, offset);
    Ok(Reply::Json(views::to_json(
        &models::ListProtectedInstancesResponse {
            protected_instances: page
                .into_iter()
                .map(|i| views::protected_instance(w, i))
                .collect(),
            count: Some(i64::try_from(count).unwrap_or(i64::MAX)),
        },
    )))
}

/// 5.5.4 `GET /v1/{project_id}/protected-instances/{protected_instance_id}`.
pub fn show(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let i = instance(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(
        &models::ProtectedInstanceResponse {
            protected_instance: Some(views::protected_instance(ctx.world, i)),
        },
    )))
}

/// 5.5.5 `PUT /v1/{project_id}/protected-instances/{protected_instance_id}`.
pub fn rename(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("protected_instance_id")?;
    let body: models::UpdateProtectedInstanceNameRequestBody = decode(call)?;
    let name = body.protected_instance.name.as_str();
    check_name(name, 64)?;
    instance(ctx.world, id)?;
    ctx.resource = Some(id.to_owned());
    if let Some(i) = ctx.world.protected_instances.get_mut(id) {
        i.name = name.to_owned();
        i.updated_at = ctx.now;
    }
    let i = instance(ctx.world, id)?;
    Ok(Reply::Json(views::to_json(
        &models::ProtectedInstanceResponse {
            protected_instance: Some(views::protected_instance(ctx.world, i)),
        },
    )))
}

/// 5.5.6 table 5-31: KVM servers use `/dev/vdX`; `/dev/sdX` is changed to `/dev/vdX`.
fn normalise_device(device: &str) -> Result<String, ApiError> {
    let letters = device
        .strip_prefix("/dev/vd")
        .or_else(|| device.strip_prefix("/dev/sd"));
    match letters {
        Some(l) if !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase()) => {
            Ok(format!("/dev/vd{l}"))
        }
        _ => Err(ApiError::invalid(format!(
            "device `{device}`: expected a mount point such as /dev/vda or /dev/vdb"
        ))),
    }
}

/// 5.5.6 `POST .../protected-instances/{id}/attachreplication`.
pub fn attach(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::AttachReplication)?;
    let pair_rule = rules::find(replication::RULES, Action::AttachReplication)?;
    let id = call.param("protected_instance_id")?.to_owned();
    let body: models::AttachReplicationRequestBody = decode(call)?;
    let pair_id = body.replication_attachment.replication_id.clone();
    let device = normalise_device(&body.replication_attachment.device)?;
    let w = &*ctx.world;
    let i = instance(w, &id)?;
    let p = pair(w, &pair_id)?;
    let g = group(w, &i.server_group_id)?;
    rule.check_group(&g.id, &g.status)?;
    rule.check("protected instance", &id, &i.status)?;
    pair_rule.check("replication pair", &pair_id, &p.status)?;
    if p.server_group_id != i.server_group_id {
        return Err(refuse(
            Action::AttachReplication,
            "replication pair in the group",
            format!(
                "replication pair {pair_id} is in protection group {}, protected instance {id} in {}",
                p.server_group_id, i.server_group_id
            ),
        ));
    }
    if let Some(a) = &p.attachment {
        return Err(refuse(
            Action::AttachReplication,
            "replication pair not attached",
            format!(
                "replication pair {pair_id} is already attached to protected instance {}",
                a.protected_instance
            ),
        ));
    }
    if i.attachment.iter().any(|a| a.device == device) {
        return Err(refuse(
            Action::AttachReplication,
            "replication pair not attached",
            format!("device {device} of protected instance {id} is already used"),
        ));
    }
    let group_id = g.id.clone();
    if let (Some(p), Some(s)) = (
        ctx.world.replication_pairs.get_mut(&pair_id),
        pair_rule.transitional.clone(),
    ) {
        p.status = s;
        p.updated_at = ctx.now;
    }
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                rule.job_type,
                jobs::entities([
                    ("protected_instance_id", &id),
                    ("replication_pair_id", &pair_id),
                    ("server_group_id", &group_id),
                ]),
                Effect::Attach {
                    instance: id.clone(),
                    pair: pair_id,
                    device,
                },
            )
            .strings_only(),
        ),
    ))
}

/// 5.5.7 `DELETE .../protected-instances/{id}/detachreplication/{replication_id}`.
pub fn detach(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DetachReplication)?;
    let pair_rule = rules::find(replication::RULES, Action::DetachReplication)?;
    let id = call.param("protected_instance_id")?.to_owned();
    let pair_id = call.param("replication_id")?.to_owned();
    let w = &*ctx.world;
    let i = instance(w, &id)?;
    let p = pair(w, &pair_id)?;
    let g = group(w, &i.server_group_id)?;
    rule.check_group(&g.id, &g.status)?;
    rule.check("protected instance", &id, &i.status)?;
    pair_rule.check("replication pair", &pair_id, &p.status)?;
    let Some(attachment) = i.attachment.iter().find(|a| a.replication == pair_id) else {
        return Err(refuse(
            Action::DetachReplication,
            "replication pair attached",
            format!("replication pair {pair_id} is not attached to protected instance {id}"),
        ));
    };
    if attachment.device == "/dev/vda" {
        let server = i.production_server(g.priority_station);
        if w.servers
            .get(server)
            .is_some_and(|s| s.status != ServerStatus::Shutoff)
        {
            return Err(refuse(
                Action::DetachReplication,
                "system disk",
                format!(
                    "replication pair {pair_id} holds the system disk (/dev/vda); stop server \
                     {server} before detaching it"
                ),
            ));
        }
    }
    let group_id = g.id.clone();
    if let (Some(p), Some(s)) = (
        ctx.world.replication_pairs.get_mut(&pair_id),
        pair_rule.transitional.clone(),
    ) {
        p.status = s;
        p.updated_at = ctx.now;
    }
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(
        ctx.submit(
            call.op,
            NewJob::sdrs(
                rule.job_type,
                jobs::entities([
                    ("protected_instance_id", &id),
                    ("replication_pair_id", &pair_id),
                    ("server_group_id", &group_id),
                ]),
                Effect::Detach {
                    instance: id.clone(),
                    pair: pair_id,
                },
            )
            .strings_only(),
        ),
    ))
}

/// Checks the group and instance statuses for a NIC operation and returns the group id and the
/// instance's status.
fn nic_checks(
    ctx: &Ctx<'_>,
    id: &str,
    action: Action,
) -> Result<(String, InstanceStatus), ApiError> {
    let rule = rules::find(RULES, action)?;
    let i = instance(ctx.world, id)?;
    let g = group(ctx.world, &i.server_group_id)?;
    rule.check_group(&g.id, &g.status)?;
    rule.check("protected instance", id, &i.status)?;
    Ok((g.id.clone(), i.status.clone()))
}

fn set_instance_status(ctx: &mut Ctx<'_>, id: &str, status: Option<InstanceStatus>) {
    if let (Some(i), Some(s)) = (ctx.world.protected_instances.get_mut(id), status) {
        i.status = s;
        i.updated_at = ctx.now;
    }
}

/// 5.5.8 `POST .../protected-instances/{id}/nic`.
pub fn add_nic(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::AddNic)?;
    let id = call.param("protected_instance_id")?.to_owned();
    let body: models::AddNicRequestBody = decode(call)?;
    let subnet_id = body.subnet_id.clone();
    let (group_id, previous) = nic_checks(ctx, &id, Action::AddNic)?;
    let w = &*ctx.world;
    let g = group(w, &group_id)?;
    let cidr = subnet_in_group(w, g, &subnet_id, Action::AddNic)?;
    let ip = match body.ip_address.as_deref() {
        Some(ip) => {
            if !in_cidr(ip, &cidr) {
                return Err(ApiError::sdrs(
                    "SDRS.0219",
                    format!("ip_address {ip} is not in subnet {subnet_id} ({cidr})"),
                ));
            }
            if used_ips(w, &subnet_id, &[]).contains(ip) {
                return Err(refuse(
                    Action::AddNic,
                    "IP address free",
                    format!("private IP address {ip} in subnet {subnet_id} is in use"),
                ));
            }
            ip.to_owned()
        }
        None => free_ip(w, &subnet_id, &cidr).ok_or_else(|| {
            refuse(
                Action::AddNic,
                "IP address free",
                format!("no free address in subnet {subnet_id}"),
            )
        })?,
    };
    let port_id = new_id();
    set_instance_status(ctx, &id, rule.transitional.clone());
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("protected_instance_id", &id),
                ("nic_id", &port_id),
                ("server_group_id", &group_id),
            ]),
            Effect::AddNic {
                instance: id.clone(),
                subnet_id,
                ip_address: ip,
                port_id,
                previous,
            },
        ),
    )))
}

/// 5.5.9 `POST .../protected-instances/{id}/nic/delete`.
pub fn delete_nic(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::DeleteNic)?;
    let id = call.param("protected_instance_id")?.to_owned();
    let body: models::DeleteNicRequestBody = decode(call)?;
    let nic_id = body.nic_id.clone();
    let (group_id, previous) = nic_checks(ctx, &id, Action::DeleteNic)?;
    let w = &*ctx.world;
    let i = instance(w, &id)?;
    let position = [&i.source_server, &i.target_server].iter().find_map(|sid| {
        w.servers
            .get(sid.as_str())
            .and_then(|s| s.nics.iter().position(|n| n.port_id == nic_id))
    });
    match position {
        None => {
            return Err(refuse(
                Action::DeleteNic,
                "NIC exists",
                format!("NIC {nic_id} not found on the servers of protected instance {id}"),
            ));
        }
        Some(0) => {
            return Err(refuse(
                Action::DeleteNic,
                "NIC is not the primary",
                format!("NIC {nic_id} is the primary NIC; it cannot be deleted"),
            ));
        }
        Some(_) => {}
    }
    set_instance_status(ctx, &id, rule.transitional.clone());
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("protected_instance_id", &id),
                ("nic_id", &nic_id),
                ("server_group_id", &group_id),
            ]),
            Effect::DeleteNic {
                instance: id.clone(),
                port_id: nic_id,
                previous,
            },
        ),
    )))
}

/// 5.5.10 `POST .../protected-instances/{id}/resize`.
pub fn resize(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let rule = rules::find(RULES, Action::Resize)?;
    let action = Action::Resize;
    let id = call.param("protected_instance_id")?.to_owned();
    let body: models::ResizeRequestBody = decode(call)?;
    let r = &body.resize;
    let both = r.flavor_ref.as_deref();
    // Table 5-33: flavorRef wins over production_flavorRef and dr_flavorRef.
    let production_flavor = both
        .or(r.production_flavor_ref.as_deref())
        .map(str::to_owned);
    let dr_flavor = both.or(r.dr_flavor_ref.as_deref()).map(str::to_owned);
    if production_flavor.is_none() && dr_flavor.is_none() {
        return Err(ApiError::invalid(
            "resize needs flavorRef, production_flavorRef or dr_flavorRef",
        ));
    }
    let w = &*ctx.world;
    let i = instance(w, &id)?;
    let g = group(w, &i.server_group_id)?;
    rule.check_group(&g.id, &g.status)?;
    rule.check("protected instance", &id, &i.status)?;
    // The emulator has no dedicated hosts: DeH parameters are refused as for servers not on one.
    if r.production_dedicated_host_id.is_some() {
        return Err(ApiError::sdrs(
            "SDRS.1368",
            "the production site server is not on a dedicated host; production_dedicated_host_id is not allowed",
        ));
    }
    if r.dr_dedicated_host_id.is_some() {
        return Err(ApiError::sdrs(
            "SDRS.1367",
            "the DR site server is not on a dedicated host; dr_dedicated_host_id is not allowed",
        ));
    }
    let station = g.priority_station;
    let targets = [
        (
            i.production_server(station),
            &production_flavor,
            "production",
            "production server",
            "production flavor",
        ),
        (
            i.dr_server(station),
            &dr_flavor,
            "DR",
            "DR server",
            "DR flavor",
        ),
    ];
    let mut changes = 0;
    for (server_id, flavor, site, stopped_key, flavor_key) in targets {
        let Some(flavor) = flavor else { continue };
        if !w.flavors.contains(flavor) {
            return Err(refuse(
                action,
                flavor_key,
                format!("flavor {flavor} is not available for the {site} site server"),
            ));
        }
        let server = w
            .servers
            .get(server_id)
            .ok_or_else(|| ApiError::sdrs("SDRS.1326", format!("server {server_id} not found")))?;
        if server.status != ServerStatus::Shutoff {
            return Err(refuse(
                action,
                stopped_key,
                format!("{site} site server {server_id} must be stopped before resizing"),
            ));
        }
        if server.flavor != *flavor {
            changes += 1;
        }
    }
    if changes == 0 {
        return Err(refuse(
            action,
            "a flavor different",
            "the servers already have the requested flavors; choose another flavor".to_owned(),
        ));
    }
    let group_id = g.id.clone();
    set_instance_status(ctx, &id, rule.transitional.clone());
    ctx.resource = Some(id.clone());
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::sdrs(
            rule.job_type,
            jobs::entities([
                ("protected_instance_id", &id),
                ("server_group_id", &group_id),
            ]),
            Effect::Resize {
                instance: id.clone(),
                production_flavor,
                dr_flavor,
            },
        ),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        assert!(in_cidr("192.168.0.11", "192.168.0.0/24"));
        assert!(!in_cidr("192.168.1.11", "192.168.0.0/24"));
        assert!(!in_cidr("not-an-ip", "192.168.0.0/24"));
    }

    #[test]
    fn devices_are_normalised_to_kvm_names() {
        assert_eq!(normalise_device("/dev/sdb"), Ok("/dev/vdb".to_owned()));
        assert_eq!(normalise_device("/dev/vda"), Ok("/dev/vda".to_owned()));
        assert!(normalise_device("/dev/xvda1").is_err());
        assert!(normalise_device("/dev/vd").is_err());
    }
}
