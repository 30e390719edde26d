//! How the world looks on the wire: conversions from the emulator's records into the response
//! models of `sdrs::models`, which the client decodes with. Client and emulator share one
//! definition of every field name; this file only decides the values.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::jobs::{FailureJob as FailureRecord, Job as JobRecord, JobService, SubJob as SubRecord};
use super::timefmt;
use super::world::{
    Domain, Drill, GroupStatus, InstanceStatus, PairStatus, ProtectedInstance, ProtectionGroup,
    ReplicationPair, Server, ServerStatus, Station, World,
};
use crate::sdrs::models;

/// Serialises a model (these never fail: string keys, no maps with non-string keys).
pub fn to_json<T: Serialize>(model: &T) -> Value {
    serde_json::to_value(model).unwrap_or(Value::Null)
}

fn station(s: Station) -> models::PriorityStation {
    match s {
        Station::Source => models::PriorityStation::Source,
        Station::Target => models::PriorityStation::Target,
    }
}

fn station_of(world: &World, group_id: &str) -> Station {
    world
        .protection_groups
        .get(group_id)
        .map(|g| g.priority_station)
        .unwrap_or_default()
}

fn count(n: usize) -> Option<i64> {
    Some(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `ShowProtectionGroupParams` (5.4.3 table 5-11).
pub fn protection_group(world: &World, g: &ProtectionGroup) -> models::ProtectionGroup {
    let domain_name = world
        .domains
        .iter()
        .find(|d| d.id == g.domain_id)
        .map(|d| d.name.clone());
    models::ProtectionGroup {
        id: Some(g.id.clone()),
        name: Some(g.name.clone()),
        description: g.description.clone(),
        status: Some(g.status.clone()),
        progress: Some(if g.status == GroupStatus::Protected {
            100
        } else {
            0
        }),
        source_availability_zone: Some(g.source_availability_zone.clone()),
        target_availability_zone: Some(g.target_availability_zone.clone()),
        domain_id: Some(g.domain_id.clone()),
        domain_name,
        priority_station: Some(station(g.priority_station)),
        protected_instance_num: count(world.instances_of(&g.id).count()),
        replication_num: count(world.pairs_of(&g.id).count()),
        disaster_recovery_drill_num: count(world.drills_of(&g.id).count()),
        // 5.4.2: "null for groups created after the service upgrade".
        protected_status: None,
        replication_status: None,
        health_status: None,
        source_vpc_id: Some(g.source_vpc_id.clone()),
        // dr_type `migration` is a migration inside one VPC: both sites use it.
        target_vpc_id: Some(g.source_vpc_id.clone()),
        test_vpc_id: None,
        dr_type: Some(models::DrType::parse(&g.dr_type)),
        created_at: Some(timefmt::resource(g.created_at)),
        updated_at: Some(timefmt::resource(g.updated_at)),
        protection_type: Some("replication-pair".to_owned()),
        replication_model: None,
        server_type: Some("ECS".to_owned()),
    }
}

fn tags(i: &ProtectedInstance) -> Vec<models::ResourceTag> {
    i.tags
        .iter()
        .map(|t| models::ResourceTag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

/// `ShowProtectedInstanceParams` (5.5.4 table 5-22).
pub fn protected_instance(world: &World, i: &ProtectedInstance) -> models::ProtectedInstance {
    models::ProtectedInstance {
        id: Some(i.id.clone()),
        name: Some(i.name.clone()),
        description: i.description.clone(),
        status: Some(i.status.clone()),
        source_server: Some(i.source_server.clone()),
        target_server: Some(i.target_server.clone()),
        server_group_id: Some(i.server_group_id.clone()),
        created_at: Some(timefmt::resource(i.created_at)),
        updated_at: Some(timefmt::resource(i.updated_at)),
        metadata: Some(models::ProtectedInstanceMetadata {
            // "empty: the resource is not frozen".
            system_frozen: Some(String::new()),
            other: Map::new(),
        }),
        attachment: i
            .attachment
            .iter()
            .map(|a| models::ProtectedInstanceAttachment {
                replication: Some(a.replication.clone()),
                device: Some(a.device.clone()),
            })
            .collect(),
        tags: tags(i),
        progress: Some(if i.status == InstanceStatus::Protected {
            100
        } else {
            0
        }),
        priority_station: Some(station(station_of(world, &i.server_group_id))),
    }
}

/// `replication_status` of a pair (5.6.3): `active` while data is synchronised, `copying` while
/// protection is being (re-)enabled, `inactive` before it ever was, `active-stopped` once it
/// stopped.
fn data_sync(status: &PairStatus) -> models::DataSyncStatus {
    use models::DataSyncStatus as D;
    match status {
        PairStatus::Protected
        | PairStatus::Reversing
        | PairStatus::Stopping
        | PairStatus::FailingOver
        | PairStatus::Extending
        | PairStatus::Attaching
        | PairStatus::Detaching => D::Active,
        PairStatus::Starting | PairStatus::Reprotecting => D::Copying,
        PairStatus::Creating | PairStatus::Available | PairStatus::Error => D::Inactive,
        _ => D::ActiveStopped,
    }
}

/// `ShowReplicationParams` (5.6.4 table 5-43).
pub fn replication_pair(world: &World, p: &ReplicationPair) -> models::Replication {
    let volume = world.volumes.get(&p.production_volume);
    models::Replication {
        id: Some(p.id.clone()),
        name: Some(p.name.clone()),
        description: p.description.clone(),
        status: Some(p.status.clone()),
        // Terraform splits this into exactly two ids: production first, DR second.
        volume_ids: Some(format!("{},{}", p.production_volume, p.dr_volume)),
        attachment: p
            .attachment
            .iter()
            .map(|a| models::ReplicationAttachment {
                protected_instance: Some(a.protected_instance.clone()),
                device: Some(a.device.clone()),
            })
            .collect(),
        created_at: Some(timefmt::pair(p.created_at)),
        updated_at: Some(timefmt::pair(p.updated_at)),
        replication_model: Some("hypermetro".to_owned()),
        progress: Some(if p.status == PairStatus::Protected {
            100
        } else {
            0
        }),
        // "Only when the status is error: the error code".
        failure_detail: if p.status == PairStatus::Error {
            p.failure_detail.clone()
        } else {
            None
        },
        record_metadata: Some(models::ReplicationRecordMetadata {
            multiattach: Some(volume.is_some_and(|v| v.multiattach)),
            bootable: Some(volume.is_some_and(|v| v.bootable)),
            volume_size: Some(volume.map_or(0, |v| i64::from(v.size))),
            volume_type: Some(volume.map_or_else(|| "SSD".to_owned(), |v| v.volume_type.clone())),
        }),
        fault_level: Some(models::FaultLevel::None),
        server_group_id: Some(p.server_group_id.clone()),
        priority_station: Some(station(station_of(world, &p.server_group_id))),
        replication_status: Some(data_sync(&p.status)),
    }
}

/// `ShowDisasterRecoveryDrillParams` (5.7.4 table 5-54).
pub fn drill(d: &Drill) -> models::Drill {
    models::Drill {
        id: Some(d.id.clone()),
        name: Some(d.name.clone()),
        status: Some(d.status.clone()),
        drill_vpc_id: Some(d.drill_vpc_id.clone()),
        created_at: Some(timefmt::resource(d.created_at)),
        updated_at: Some(timefmt::resource(d.updated_at)),
        server_group_id: Some(d.server_group_id.clone()),
        drill_servers: d
            .drill_servers
            .iter()
            .map(|s| models::DrillServer {
                protected_instance: Some(s.protected_instance.clone()),
                drill_server_id: Some(s.drill_server_id.clone()),
            })
            .collect(),
    }
}

/// An active-active domain (5.3.1 table 5-6).
pub fn domain(d: &Domain) -> models::ActiveDomain {
    models::ActiveDomain {
        id: Some(d.id.clone()),
        name: Some(d.name.clone()),
        description: d.description.clone(),
        sold_out: Some(d.sold_out),
        local_replication_cluster: Some(models::ReplicationCluster {
            availability_zone: Some(d.local_availability_zone.clone()),
        }),
        remote_replication_cluster: Some(models::ReplicationCluster {
            availability_zone: Some(d.remote_availability_zone.clone()),
        }),
    }
}

/// A protected instance as the tag query (5.8.1 table 5-61) returns it.
pub fn tagged(world: &World, i: &ProtectedInstance) -> models::TaggedResource {
    models::TaggedResource {
        resource_id: Some(i.id.clone()),
        resource_detail: Some(protected_instance(world, i)),
        tags: tags(i),
        resource_name: Some(i.name.clone()),
    }
}

/// A failed job of the task center (5.9.1 table 5-72).
pub fn failure_job(f: &FailureRecord) -> models::FailureJob {
    models::FailureJob {
        job_type: Some(f.job_type.clone()),
        job_status: Some(models::JobStatus::Fail),
        begin_time: Some(timefmt::job(f.begin_time)),
        job_id: Some(f.job_id.clone()),
        failure_status: Some(models::FailureStatus::parse(&f.failure_status)),
        resource_id: Some(f.resource_id.clone()),
        resource_name: Some(f.resource_name.clone()),
        error_code: Some(f.error_code.clone()),
        fail_reason: Some(f.fail_reason.clone()),
        resource_type: Some(models::ResourceType::parse(&f.resource_type)),
    }
}

fn entities(map: &std::collections::BTreeMap<String, String>) -> models::JobEntities {
    // The named keys land in their fields, any other (none today) in `other`.
    let object: Map<String, Value> = map
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::from_value(Value::Object(object)).unwrap_or_default()
}

fn sdrs_sub_job(s: &SubRecord) -> models::SubJob {
    models::SubJob {
        status: Some(s.status.clone()),
        entities: Some(entities(&s.entities)),
        job_id: Some(s.job_id.clone()),
        job_type: Some(models::JobType::parse(&s.job_type)),
        begin_time: Some(timefmt::job(s.begin_time)),
        end_time: s.end_time.map(timefmt::job),
        error_code: s.error_code.clone(),
        fail_reason: s.fail_reason.clone(),
    }
}

fn ecs_sub_job(s: &SubRecord) -> models::EcsSubJob {
    models::EcsSubJob {
        status: Some(s.status.clone()),
        entities: Some(models::EcsJobEntities {
            server_id: s.entities.get("server_id").cloned(),
            ..Default::default()
        }),
        job_id: Some(s.job_id.clone()),
        job_type: Some(s.job_type.clone()),
        begin_time: Some(timefmt::job(s.begin_time)),
        // ECS writes an empty end time while a job runs.
        end_time: Some(s.end_time.map(timefmt::job).unwrap_or_default()),
        error_code: s.error_code.clone(),
        fail_reason: s.fail_reason.clone(),
    }
}

/// `GET /v1/{project_id}/jobs/{job_id}`: 5.1.1 for SDRS jobs, ECS's job shape for ECS jobs.
pub fn job(j: &JobRecord) -> Value {
    match j.service {
        JobService::Sdrs => {
            let mut e = entities(&j.entities);
            if !j.strings_only {
                // 5.1.1 table 5-1: "an empty list when there is no sub-job".
                e.sub_jobs = Some(j.sub_jobs.iter().map(sdrs_sub_job).collect());
            }
            to_json(&models::Job {
                status: Some(j.status.clone()),
                entities: Some(e),
                job_id: Some(j.id.clone()),
                job_type: Some(models::JobType::parse(&j.job_type)),
                begin_time: Some(timefmt::job(j.begin_time)),
                end_time: j.end_time.map(timefmt::job),
                error_code: j.error_code.clone(),
                fail_reason: j.fail_reason.clone(),
            })
        }
        JobService::Ecs => to_json(&models::EcsJob {
            begin_time: Some(timefmt::job(j.begin_time)),
            code: None,
            end_time: Some(j.end_time.map(timefmt::job).unwrap_or_default()),
            entities: Some(models::EcsJobEntities {
                sub_jobs: Some(j.sub_jobs.iter().map(ecs_sub_job).collect()),
                sub_jobs_total: count(j.sub_jobs.len()),
                ..Default::default()
            }),
            error_code: j.error_code.clone(),
            fail_reason: j.fail_reason.clone(),
            job_id: Some(j.id.clone()),
            job_type: Some(j.job_type.clone()),
            message: None,
            status: Some(j.status.clone()),
        }),
    }
}

/// An ECS server as `GET /v1/{project_id}/cloudservers/{server_id}` shows it.
pub fn server(world: &World, s: &Server) -> models::ShowServerResponse {
    let flavor = world.flavors.get(&s.flavor);
    let addresses: Vec<Value> = s
        .nics
        .iter()
        .map(|n| {
            json!({
                "version": "4",
                "addr": n.ip_address,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": n.mac_address,
                "OS-EXT-IPS:port_id": n.port_id,
            })
        })
        .collect();
    let volumes: Vec<Value> = world
        .volumes
        .values()
        .filter(|v| v.attachment.as_ref().is_some_and(|a| a.server_id == s.id))
        .map(|v| {
            json!({
                "id": v.id,
                "delete_on_termination": "false",
                "bootIndex": if v.bootable { "0" } else { "-1" },
                "device": v.attachment.as_ref().map(|a| a.device.clone()),
            })
        })
        .collect();
    let (vm_state, power_state) = match s.status {
        ServerStatus::Active => ("active", 1),
        ServerStatus::Shutoff => ("stopped", 4),
        _ => ("error", 0),
    };
    // ECS shows a server's pending power change as its `task_state` while the batch job runs
    // (the status itself changes only when the job is done). drbook's crash recovery reads it to
    // tell a stop or start that was accepted from one that never arrived.
    let task_state = world.jobs.values().find_map(|job| {
        if job.status.is_final() {
            return None;
        }
        match &job.effect {
            super::jobs::Effect::StopServers { servers } if servers.contains(&s.id) => {
                Some("powering-off".to_owned())
            }
            super::jobs::Effect::StartServers { servers } if servers.contains(&s.id) => {
                Some("powering-on".to_owned())
            }
            _ => None,
        }
    });
    let mut address_map = Map::new();
    address_map.insert(s.vpc_id.clone(), Value::Array(addresses));
    let mut metadata = Map::new();
    metadata.insert("vpc_id".to_owned(), Value::String(s.vpc_id.clone()));
    let mut other = Map::new();
    other.insert(
        "os-extended-volumes:volumes_attached".to_owned(),
        Value::Array(volumes),
    );
    other.insert(
        "tenant_id".to_owned(),
        Value::String(world.project_id.clone()),
    );
    models::ShowServerResponse {
        server: Some(models::Server {
            id: Some(s.id.clone()),
            name: Some(s.name.clone()),
            status: Some(s.status.clone()),
            vm_state: Some(vm_state.to_owned()),
            task_state,
            power_state: Some(power_state),
            availability_zone: Some(s.availability_zone.clone()),
            flavor: Some(models::ServerFlavor {
                id: Some(s.flavor.clone()),
                name: Some(s.flavor.clone()),
                vcpus: flavor.map(|f| f.vcpus.to_string()),
                ram: flavor.map(|f| f.ram.to_string()),
                disk: Some("0".to_owned()),
            }),
            addresses: Some(address_map),
            metadata: Some(metadata),
            locked: Some(false),
            created: Some(timefmt::ecs(s.created_at)),
            updated: Some(timefmt::ecs(s.updated_at)),
            description: None,
            other,
        }),
    }
}
