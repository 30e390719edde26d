//! What finishing a job does to the world: the landing statuses from the rule tables, and the side
//! effects the reference describes (DR servers and volumes, priority-station flips, servers
//! started at the new production site, drill servers, ...). Failed SDRS jobs are filed in the
//! task center.

use jiff::Timestamp;

use super::jobs::{Effect, FailureJob, GroupActionPlan, JobService, JobStatus, PlannedFailure};
use super::rules::{self, Action, Next, Rule};
use super::world::{
    DrillServer, DrillStatus, GroupStatus, InstanceStatus, Nic, PairStatus, Server, ServerStatus,
    VolumeAttachment, VolumeStatus, World,
};

/// A fresh resource id, like the service's UUIDs.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A random MAC address in OpenStack's `fa:16:3e` range.
pub fn new_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// The settled status an instance of this group has when it follows the group.
pub fn instance_following(world: &World, group_id: &str) -> InstanceStatus {
    match world.protection_groups.get(group_id).map(|g| &g.status) {
        Some(GroupStatus::Protected) => InstanceStatus::Protected,
        Some(GroupStatus::FailedOver) => InstanceStatus::FailedOver,
        _ => InstanceStatus::Available,
    }
}

/// The settled status a replication pair of this group has when it follows the group.
pub fn pair_following(world: &World, group_id: &str) -> PairStatus {
    match world.protection_groups.get(group_id).map(|g| &g.status) {
        Some(GroupStatus::Protected) => PairStatus::Protected,
        Some(GroupStatus::FailedOver) => PairStatus::FailedOver,
        _ => PairStatus::Available,
    }
}

/// Resolves where a row lands: `None` means the resource is removed.
fn land<S: Clone>(next: &Next<S>, previous: &S, following: S) -> Option<S> {
    match next {
        Next::To(s) => Some(s.clone()),
        Next::FollowGroup => Some(following),
        Next::Previous => Some(previous.clone()),
        Next::Removed => None,
    }
}

fn pick<S>(rule: &Rule<S>, success: bool) -> &Next<S> {
    if success {
        &rule.on_success
    } else {
        &rule.on_failure
    }
}

fn row<S>(table: &'static [Rule<S>], action: Action) -> Option<&'static Rule<S>> {
    rules::find(table, action).ok()
}

/// Finishes a job: applies its effect for success (or its failure), sets its final status and
/// files a failed SDRS job in the task center.
pub fn finish(world: &mut World, job_id: &str, now: Timestamp) {
    let Some(job) = world.jobs.get(job_id) else {
        return;
    };
    let effect = job.effect.clone();
    let failure = job.planned_failure.clone();
    let service = job.service;
    let job_type = job.job_type.clone();
    let begin = job.begin_time;
    let sub_ids: Vec<String> = job.sub_jobs.iter().map(|s| s.job_id.clone()).collect();

    let mut filed = Vec::new();
    match &failure {
        None => succeed(world, &effect, now),
        Some(f) => {
            let resources = fail(world, &effect, now);
            if service == JobService::Sdrs {
                for (i, (resource_type, resource_id, resource_name, group_id, failure_status)) in
                    resources.into_iter().enumerate()
                {
                    // A batch files one record per member, under the member's sub-job id.
                    let id = if sub_ids.len() > 1 {
                        sub_ids.get(i).cloned().unwrap_or_else(|| job_id.to_owned())
                    } else {
                        job_id.to_owned()
                    };
                    filed.push(FailureJob {
                        id,
                        job_id: job_id.to_owned(),
                        job_type: job_type.clone(),
                        begin_time: begin,
                        failure_status: failure_status.to_owned(),
                        resource_id,
                        resource_name,
                        resource_type: resource_type.to_owned(),
                        error_code: f.code.clone(),
                        fail_reason: f.reason.clone(),
                        server_group_id: group_id,
                    });
                }
            }
        }
    }
    if let Some(job) = world.jobs.get_mut(job_id) {
        let status = if failure.is_some() {
            JobStatus::Fail
        } else {
            JobStatus::Success
        };
        job.status = status.clone();
        job.end_time = Some(now);
        job.error_code = failure.as_ref().map(|f| f.code.clone());
        job.fail_reason = failure.as_ref().map(|f| f.reason.clone());
        for sub in &mut job.sub_jobs {
            sub.status = status.clone();
            sub.end_time = Some(now);
            sub.error_code = failure.as_ref().map(|f| f.code.clone());
            sub.fail_reason = failure.as_ref().map(|f| f.reason.clone());
        }
    }
    for record in filed {
        world.failure_jobs.insert(record);
    }
}

fn succeed(world: &mut World, effect: &Effect, now: Timestamp) {
    match effect {
        Effect::CreateGroup { group } => {
            if let (Some(g), Some(rule)) = (
                world.protection_groups.get_mut(group),
                row(rules::protection_group::RULES, Action::CreateGroup),
            ) {
                if let Some(s) = land(&rule.on_success, &g.status, g.status.clone()) {
                    g.status = s;
                }
                g.updated_at = now;
            }
        }
        Effect::DeleteGroup { group } => {
            world.protection_groups.remove(group);
        }
        Effect::GroupAction { group, plan } => finish_group_action(world, group, *plan, true, now),
        Effect::CreateInstances { group, instances } => {
            let rule = row(rules::protected_instance::RULES, Action::CreateInstance);
            let following = instance_following(world, group);
            for id in instances {
                if let (Some(i), Some(rule)) = (world.protected_instances.get_mut(id), rule) {
                    if let Some(s) = land(&rule.on_success, &i.status, following.clone()) {
                        i.status = s;
                    }
                    i.updated_at = now;
                }
            }
        }
        Effect::DeleteInstances {
            instances,
            delete_target_server,
        } => {
            for id in instances {
                delete_instance(world, id, *delete_target_server);
            }
        }
        Effect::Attach {
            instance,
            pair,
            device,
        } => attach(world, instance, pair, device, now),
        Effect::Detach { instance, pair } => detach(world, instance, pair, now),
        Effect::AddNic {
            instance,
            subnet_id,
            ip_address,
            port_id,
            previous,
        } => {
            let station = station_of_instance(world, instance);
            let servers = world.protected_instances.get(instance).map(|i| {
                (
                    i.production_server(station).to_owned(),
                    i.dr_server(station).to_owned(),
                )
            });
            if let Some((production, dr)) = servers {
                // The NIC is added to both servers, so a switchover keeps the interface.
                for (server, port) in [(production, port_id.clone()), (dr, new_id())] {
                    if let Some(s) = world.servers.get_mut(&server) {
                        s.nics.push(Nic {
                            port_id: port,
                            subnet_id: subnet_id.clone(),
                            ip_address: ip_address.clone(),
                            mac_address: new_mac(),
                        });
                        s.updated_at = now;
                    }
                }
            }
            restore_instance(world, instance, previous.clone(), now);
        }
        Effect::DeleteNic {
            instance,
            port_id,
            previous,
        } => {
            let servers = world
                .protected_instances
                .get(instance)
                .map(|i| (i.source_server.clone(), i.target_server.clone()));
            if let Some((source, target)) = servers {
                // The port id names the NIC on one server; its twin on the other server has the
                // same subnet and address.
                let twin = [&source, &target].iter().find_map(|sid| {
                    world
                        .servers
                        .get(sid.as_str())
                        .and_then(|s| s.nics.iter().find(|n| &n.port_id == port_id))
                        .map(|n| (n.subnet_id.clone(), n.ip_address.clone()))
                });
                if let Some((subnet, ip)) = twin {
                    for sid in [&source, &target] {
                        if let Some(s) = world.servers.get_mut(sid) {
                            s.nics.retain(|n| {
                                !(n.port_id == *port_id
                                    || (n.subnet_id == subnet && n.ip_address == ip))
                            });
                            s.updated_at = now;
                        }
                    }
                }
            }
            restore_instance(world, instance, previous.clone(), now);
        }
        Effect::Resize {
            instance,
            production_flavor,
            dr_flavor,
        } => {
            let station = station_of_instance(world, instance);
            let Some(i) = world.protected_instances.get(instance) else {
                return;
            };
            let group = i.server_group_id.clone();
            let production = i.production_server(station).to_owned();
            let dr = i.dr_server(station).to_owned();
            for (server, flavor) in [(production, production_flavor), (dr, dr_flavor)] {
                if let (Some(s), Some(f)) = (world.servers.get_mut(&server), flavor) {
                    s.flavor = f.clone();
                    s.updated_at = now;
                }
            }
            let following = instance_following(world, &group);
            if let (Some(i), Some(rule)) = (
                world.protected_instances.get_mut(instance),
                row(rules::protected_instance::RULES, Action::Resize),
            ) {
                if let Some(s) = land(&rule.on_success, &i.status, following.clone()) {
                    i.status = s;
                }
                i.updated_at = now;
            }
        }
        Effect::CreatePair { pair } => settle_pair(world, pair, Action::CreatePair, true, now),
        Effect::DeletePair {
            pair,
            delete_target_volume,
        } => {
            if let Some(p) = world.replication_pairs.remove(pair)
                && *delete_target_volume
            {
                world.volumes.remove(&p.dr_volume);
            }
        }
        Effect::ExpandPair { pair, new_size } => {
            let volumes = world
                .replication_pairs
                .get(pair)
                .map(|p| [p.production_volume.clone(), p.dr_volume.clone()]);
            for v in volumes.into_iter().flatten() {
                if let Some(v) = world.volumes.get_mut(&v) {
                    v.size = *new_size;
                }
            }
            settle_pair(world, pair, Action::ExpandPair, true, now);
        }
        Effect::CreateDrill { drill } => create_drill_servers(world, drill, now),
        Effect::DeleteDrill { drill } => {
            if let Some(d) = world.drills.remove(drill) {
                for s in d.drill_servers {
                    world.servers.remove(&s.drill_server_id);
                }
            }
        }
        Effect::StopServers { servers } | Effect::StartServers { servers } => {
            let status = if matches!(effect, Effect::StopServers { .. }) {
                ServerStatus::Shutoff
            } else {
                ServerStatus::Active
            };
            for id in servers {
                if let Some(s) = world.servers.get_mut(id) {
                    s.status = status.clone();
                    s.updated_at = now;
                }
            }
        }
    }
}

/// `(resource_type, resource_id, resource_name, server_group_id, failure_status)` of a resource
/// a failed job leaves in an error status.
type Failed = (&'static str, String, String, String, &'static str);

fn fail(world: &mut World, effect: &Effect, now: Timestamp) -> Vec<Failed> {
    let mut failed = Vec::new();
    match effect {
        Effect::CreateGroup { group } | Effect::DeleteGroup { group } => {
            let action = if matches!(effect, Effect::CreateGroup { .. }) {
                Action::CreateGroup
            } else {
                Action::DeleteGroup
            };
            if let (Some(g), Some(rule)) = (
                world.protection_groups.get_mut(group),
                row(rules::protection_group::RULES, action),
            ) {
                if let Some(s) = land(&rule.on_failure, &g.status, g.status.clone()) {
                    g.status = s;
                }
                g.updated_at = now;
                failed.push((
                    "server_groups",
                    g.id.clone(),
                    g.name.clone(),
                    g.id.clone(),
                    rule.failure_status,
                ));
            }
        }
        Effect::GroupAction { group, plan } => {
            finish_group_action(world, group, *plan, false, now);
            if let (Some(g), Some(rule)) = (
                world.protection_groups.get(group),
                row(rules::protection_group::RULES, plan.action),
            ) {
                failed.push((
                    "server_groups",
                    g.id.clone(),
                    g.name.clone(),
                    g.id.clone(),
                    rule.failure_status,
                ));
            }
        }
        Effect::CreateInstances { instances, .. } | Effect::DeleteInstances { instances, .. } => {
            let action = if matches!(effect, Effect::CreateInstances { .. }) {
                Action::CreateInstance
            } else {
                Action::DeleteInstance
            };
            let Some(rule) = row(rules::protected_instance::RULES, action) else {
                return failed;
            };
            for id in instances {
                if let Some(i) = world.protected_instances.get_mut(id) {
                    if let Some(s) = land(&rule.on_failure, &i.status, i.status.clone()) {
                        i.status = s;
                    }
                    i.updated_at = now;
                    failed.push((
                        "protected_instances",
                        i.id.clone(),
                        i.name.clone(),
                        i.server_group_id.clone(),
                        rule.failure_status,
                    ));
                }
            }
        }
        Effect::Attach { pair, .. } => {
            if let Some(f) = pair_failed(world, pair, Action::AttachReplication, now) {
                failed.push(f);
            }
        }
        Effect::Detach { pair, .. } => {
            if let Some(f) = pair_failed(world, pair, Action::DetachReplication, now) {
                failed.push(f);
            }
        }
        Effect::AddNic {
            instance, previous, ..
        }
        | Effect::DeleteNic {
            instance, previous, ..
        } => {
            let action = if matches!(effect, Effect::AddNic { .. }) {
                Action::AddNic
            } else {
                Action::DeleteNic
            };
            restore_instance(world, instance, previous.clone(), now);
            if let (Some(i), Some(rule)) = (
                world.protected_instances.get(instance),
                row(rules::protected_instance::RULES, action),
            ) {
                failed.push((
                    "protected_instances",
                    i.id.clone(),
                    i.name.clone(),
                    i.server_group_id.clone(),
                    rule.failure_status,
                ));
            }
        }
        Effect::Resize { instance, .. } => {
            if let (Some(i), Some(rule)) = (
                world.protected_instances.get_mut(instance),
                row(rules::protected_instance::RULES, Action::Resize),
            ) {
                if let Some(s) = land(&rule.on_failure, &i.status, i.status.clone()) {
                    i.status = s;
                }
                i.updated_at = now;
                failed.push((
                    "protected_instances",
                    i.id.clone(),
                    i.name.clone(),
                    i.server_group_id.clone(),
                    rule.failure_status,
                ));
            }
        }
        Effect::CreatePair { pair } => {
            if let Some(f) = pair_failed(world, pair, Action::CreatePair, now) {
                failed.push(f);
            }
            // 5.6.3 failure_detail: "the error code, only when status is error".
            let code = world
                .jobs
                .values()
                .find(|j| matches!(&j.effect, Effect::CreatePair { pair: p } if p == pair))
                .and_then(|j| j.planned_failure.as_ref().map(|f| f.code.clone()));
            if let Some(p) = world.replication_pairs.get_mut(pair) {
                p.failure_detail = code;
            }
        }
        Effect::DeletePair { pair, .. } => {
            if let Some(f) = pair_failed(world, pair, Action::DeletePair, now) {
                failed.push(f);
            }
        }
        Effect::ExpandPair { pair, .. } => {
            if let Some(f) = pair_failed(world, pair, Action::ExpandPair, now) {
                failed.push(f);
            }
        }
        Effect::CreateDrill { drill } | Effect::DeleteDrill { drill } => {
            let action = if matches!(effect, Effect::CreateDrill { .. }) {
                Action::CreateDrill
            } else {
                Action::DeleteDrill
            };
            if let (Some(d), Some(rule)) = (
                world.drills.get_mut(drill),
                row(rules::drill::RULES, action),
            ) {
                if let Some(s) = land(&rule.on_failure, &d.status, DrillStatus::Error) {
                    d.status = s;
                }
                d.updated_at = now;
                failed.push((
                    "disaster_recovery_drills",
                    d.id.clone(),
                    d.name.clone(),
                    d.server_group_id.clone(),
                    rule.failure_status,
                ));
            }
        }
        // A failed ECS job leaves the servers as they were.
        Effect::StopServers { .. } | Effect::StartServers { .. } => {}
    }
    failed
}

fn station_of_instance(world: &World, instance: &str) -> super::world::Station {
    world
        .protected_instances
        .get(instance)
        .and_then(|i| world.protection_groups.get(&i.server_group_id))
        .map(|g| g.priority_station)
        .unwrap_or_default()
}

fn restore_instance(world: &mut World, instance: &str, previous: InstanceStatus, now: Timestamp) {
    if let Some(i) = world.protected_instances.get_mut(instance) {
        i.status = previous;
        i.updated_at = now;
    }
}

fn settle_pair(world: &mut World, pair: &str, action: Action, success: bool, now: Timestamp) {
    let Some(group) = world
        .replication_pairs
        .get(pair)
        .map(|p| p.server_group_id.clone())
    else {
        return;
    };
    let following = pair_following(world, &group);
    if let (Some(p), Some(rule)) = (
        world.replication_pairs.get_mut(pair),
        row(rules::replication::RULES, action),
    ) {
        if let Some(s) = land(pick(rule, success), &p.status, following) {
            p.status = s;
        }
        p.updated_at = now;
    }
}

fn pair_failed(world: &mut World, pair: &str, action: Action, now: Timestamp) -> Option<Failed> {
    settle_pair(world, pair, action, false, now);
    let p = world.replication_pairs.get(pair)?;
    let rule = row(rules::replication::RULES, action)?;
    Some((
        "replications",
        p.id.clone(),
        p.name.clone(),
        p.server_group_id.clone(),
        rule.failure_status,
    ))
}

/// Lands a group and its members after a group action, and on success applies the site
/// switch: the new `priority_station`, and the servers of the new production site started
/// (5.4.8: a failover "starts servers and disks at the DR site"; 5.4.9: after a planned
/// failover the servers at the new production site run).
fn finish_group_action(
    world: &mut World,
    group: &str,
    plan: GroupActionPlan,
    success: bool,
    now: Timestamp,
) {
    let group_rule = row(rules::protection_group::RULES, plan.action);
    let instance_rule = row(rules::protected_instance::RULES, plan.action);
    let pair_rule = row(rules::replication::RULES, plan.action);
    if let (Some(g), Some(rule)) = (world.protection_groups.get_mut(group), group_rule) {
        if let Some(s) = land(pick(rule, success), &g.status, g.status.clone()) {
            g.status = s;
        }
        if success {
            g.priority_station = plan.station_after;
        }
        g.updated_at = now;
    }
    let station = plan.station_after;
    let mut start = Vec::new();
    for i in world.protected_instances.values_mut() {
        if i.server_group_id != group {
            continue;
        }
        if let Some(rule) = instance_rule
            && let Some(s) = land(pick(rule, success), &i.status, i.status.clone())
        {
            i.status = s;
        }
        i.updated_at = now;
        if success && matches!(plan.action, Action::Failover | Action::Reverse) {
            start.push(i.production_server(station).to_owned());
        }
    }
    for p in world.replication_pairs.values_mut() {
        if p.server_group_id != group {
            continue;
        }
        if let Some(rule) = pair_rule
            && let Some(s) = land(pick(rule, success), &p.status, p.status.clone())
        {
            p.status = s;
        }
        p.updated_at = now;
    }
    for id in start {
        if let Some(s) = world.servers.get_mut(&id) {
            s.status = ServerStatus::Active;
            s.updated_at = now;
        }
    }
}

/// Removes a protected instance: its pairs stay (detached, their DR volumes detached from the DR
/// server), and with `delete_target_server` its DR-site server goes too.
fn delete_instance(world: &mut World, id: &str, delete_target_server: bool) {
    let Some(instance) = world.protected_instances.remove(id) else {
        return;
    };
    for a in &instance.attachment {
        if let Some(p) = world.replication_pairs.get_mut(&a.replication) {
            p.attachment = None;
        }
    }
    if delete_target_server {
        world.servers.remove(&instance.target_server);
        for v in world.volumes.values_mut() {
            if v.attachment
                .as_ref()
                .is_some_and(|a| a.server_id == instance.target_server)
            {
                v.attachment = None;
                v.status = VolumeStatus::Available;
            }
        }
    }
}

fn attach(world: &mut World, instance: &str, pair: &str, device: &str, now: Timestamp) {
    let Some(i) = world.protected_instances.get_mut(instance) else {
        return;
    };
    if !i.attachment.iter().any(|a| a.replication == pair) {
        i.attachment.push(super::world::InstanceAttachment {
            replication: pair.to_owned(),
            device: device.to_owned(),
        });
    }
    i.updated_at = now;
    let (source, target) = (i.source_server.clone(), i.target_server.clone());
    let Some(p) = world.replication_pairs.get_mut(pair) else {
        return;
    };
    p.attachment = Some(super::world::PairAttachment {
        protected_instance: instance.to_owned(),
        device: device.to_owned(),
    });
    let volumes = [p.production_volume.clone(), p.dr_volume.clone()];
    // Each volume goes to the instance's server in its own AZ (the pair and the instance may
    // have been created with different production sites).
    let servers: Vec<(String, String)> = [source, target]
        .into_iter()
        .filter_map(|s| {
            world
                .servers
                .get(&s)
                .map(|x| (x.availability_zone.clone(), s.clone()))
        })
        .collect();
    for volume in volumes {
        if let Some(v) = world.volumes.get_mut(&volume)
            && let Some((_, server)) = servers.iter().find(|(az, _)| *az == v.availability_zone)
        {
            v.attachment = Some(VolumeAttachment {
                server_id: server.clone(),
                device: device.to_owned(),
            });
            v.status = VolumeStatus::InUse;
        }
    }
    settle_pair(world, pair, Action::AttachReplication, true, now);
}

fn detach(world: &mut World, instance: &str, pair: &str, now: Timestamp) {
    if let Some(i) = world.protected_instances.get_mut(instance) {
        i.attachment.retain(|a| a.replication != pair);
        i.updated_at = now;
    }
    let Some(p) = world.replication_pairs.get_mut(pair) else {
        return;
    };
    p.attachment = None;
    for volume in [p.production_volume.clone(), p.dr_volume.clone()] {
        if let Some(v) = world.volumes.get_mut(&volume) {
            v.attachment = None;
            v.status = VolumeStatus::Available;
        }
    }
    settle_pair(world, pair, Action::DetachReplication, true, now);
}

/// 5.7.1: a drill creates one drill server per protected instance, at the current DR site, in the
/// drill VPC (same subnet CIDRs and addresses as production), running.
fn create_drill_servers(world: &mut World, drill: &str, now: Timestamp) {
    let Some(d) = world.drills.get(drill) else {
        return;
    };
    let (group_id, vpc_id) = (d.server_group_id.clone(), d.drill_vpc_id.clone());
    let Some(g) = world.protection_groups.get(&group_id) else {
        return;
    };
    let (station, dr_az) = (g.priority_station, g.dr_az().to_owned());
    let drill_vpc = world.vpcs.get(&vpc_id).cloned();
    let mut created = Vec::new();
    for i in world.instances_of(&group_id) {
        let Some(dr) = world.servers.get(i.dr_server(station)) else {
            continue;
        };
        let Some(production) = world.servers.get(i.production_server(station)) else {
            continue;
        };
        let nics = production
            .nics
            .iter()
            .filter_map(|n| {
                let (_, subnet) = world.subnet(&n.subnet_id)?;
                let subnets = &drill_vpc.as_ref()?.subnets;
                // The subnet with the same CIDR (as 5.7.1 asks), else the first one with the
                // production host number (see rules/drill.rs).
                let (twin, ip) = match subnets.iter().find(|s| s.cidr == subnet.cidr) {
                    Some(s) => (s, n.ip_address.clone()),
                    None => {
                        let s = subnets.first()?;
                        (s, same_host_in(&n.ip_address, &s.cidr))
                    }
                };
                Some(Nic {
                    port_id: new_id(),
                    subnet_id: twin.id.clone(),
                    ip_address: ip,
                    mac_address: new_mac(),
                })
            })
            .collect();
        created.push((
            i.id.clone(),
            Server {
                id: new_id(),
                name: format!("{}-drill", production.name),
                status: ServerStatus::Active,
                availability_zone: dr_az.clone(),
                flavor: dr.flavor.clone(),
                vpc_id: vpc_id.clone(),
                nics,
                created_at: now,
                updated_at: now,
            },
        ));
    }
    let mut drill_servers = Vec::new();
    for (instance, server) in created {
        drill_servers.push(DrillServer {
            protected_instance: instance,
            drill_server_id: server.id.clone(),
        });
        world.servers.insert(server);
    }
    if let (Some(d), Some(rule)) = (
        world.drills.get_mut(drill),
        row(rules::drill::RULES, Action::CreateDrill),
    ) {
        d.drill_servers = drill_servers;
        if let Some(s) = land(&rule.on_success, &d.status, DrillStatus::Available) {
            d.status = s;
        }
        d.updated_at = now;
    }
}

/// The address with the last octet of `ip` in the (IPv4) network of `cidr`:
/// `192.168.0.11` in `172.16.0.0/24` is `172.16.0.11`.
fn same_host_in(ip: &str, cidr: &str) -> String {
    let host = ip.rsplit('.').next().unwrap_or("10");
    let network = cidr.split('/').next().unwrap_or(cidr);
    match network.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{host}"),
        None => ip.to_owned(),
    }
}

/// A planned failure for a fault rule's `job_fail` action.
pub fn planned_failure(code: &str, reason: &str) -> PlannedFailure {
    PlannedFailure {
        code: code.to_owned(),
        reason: reason.to_owned(),
    }
}
