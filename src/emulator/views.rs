//! How resources look on the wire: the response models of the reference (field names and order
//! of the SDK's `Show*Params` models, see `shared/sdrs/api-index.md`).
//!
//! Seam: these views build JSON directly because `sdrs::models` has not landed yet. When it
//! does, they become conversions into those types so client and emulator share one definition.

use serde_json::{Value, json};

use super::timefmt;
use super::world::{
    Drill, GroupStatus, InstanceStatus, PairStatus, ProtectedInstance, ProtectionGroup,
    ReplicationPair, Server, Station, World,
};

fn station_of(world: &World, group_id: &str) -> Station {
    world
        .protection_groups
        .get(group_id)
        .map(|g| g.priority_station)
        .unwrap_or_default()
}

/// `ShowProtectionGroupParams` (5.4.3 table 5-11).
pub fn protection_group(world: &World, g: &ProtectionGroup) -> Value {
    let domain_name = world
        .domains
        .iter()
        .find(|d| d.id == g.domain_id)
        .map(|d| d.name.clone());
    let progress = if g.status == GroupStatus::Protected {
        100
    } else {
        0
    };
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "status": g.status.as_str(),
        "progress": progress,
        "source_availability_zone": g.source_availability_zone,
        "target_availability_zone": g.target_availability_zone,
        "domain_id": g.domain_id,
        "domain_name": domain_name,
        "priority_station": g.priority_station.as_str(),
        "protected_instance_num": world.instances_of(&g.id).count(),
        "replication_num": world.pairs_of(&g.id).count(),
        "disaster_recovery_drill_num": world.drills_of(&g.id).count(),
        // 5.4.2: "null for groups created after the service upgrade".
        "protected_status": null,
        "replication_status": null,
        "health_status": null,
        "source_vpc_id": g.source_vpc_id,
        // dr_type `migration` is a migration inside one VPC: both sites use it.
        "target_vpc_id": g.source_vpc_id,
        "test_vpc_id": null,
        "dr_type": g.dr_type,
        "created_at": timefmt::resource(g.created_at),
        "updated_at": timefmt::resource(g.updated_at),
        "protection_type": "replication-pair",
        "replication_model": null,
        "server_type": "ECS",
    })
}

/// `ShowProtectedInstanceParams` (5.5.4 table 5-22).
pub fn protected_instance(world: &World, i: &ProtectedInstance) -> Value {
    let progress = if i.status == InstanceStatus::Protected {
        100
    } else {
        0
    };
    json!({
        "id": i.id,
        "name": i.name,
        "description": i.description,
        "status": i.status.as_str(),
        "source_server": i.source_server,
        "target_server": i.target_server,
        "server_group_id": i.server_group_id,
        "created_at": timefmt::resource(i.created_at),
        "updated_at": timefmt::resource(i.updated_at),
        "metadata": {},
        "attachment": i.attachment.iter().map(|a| json!({
            "replication": a.replication,
            "device": a.device,
        })).collect::<Vec<_>>(),
        "tags": i.tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>(),
        "progress": progress,
        "priority_station": station_of(world, &i.server_group_id).as_str(),
    })
}

/// `replication_status` of a pair (5.6.3): `active` while data is synchronised, `copying` while
/// protection is being (re-)enabled, `inactive` before it ever was, `active-stopped` once it
/// stopped.
fn replication_status(status: PairStatus) -> &'static str {
    match status {
        PairStatus::Protected
        | PairStatus::Reversing
        | PairStatus::Stopping
        | PairStatus::FailingOver
        | PairStatus::Extending
        | PairStatus::Attaching
        | PairStatus::Detaching => "active",
        PairStatus::Starting | PairStatus::Reprotecting => "copying",
        PairStatus::Creating | PairStatus::Available | PairStatus::Error => "inactive",
        _ => "active-stopped",
    }
}

/// `ShowReplicationParams` (5.6.4 table 5-43).
pub fn replication_pair(world: &World, p: &ReplicationPair) -> Value {
    let volume = world.volumes.get(&p.production_volume);
    let progress = if p.status == PairStatus::Protected {
        100
    } else {
        0
    };
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "status": p.status.as_str(),
        // Terraform splits this into exactly two ids: production first, DR second.
        "volume_ids": format!("{},{}", p.production_volume, p.dr_volume),
        "attachment": p.attachment.iter().map(|a| json!({
            "protected_instance": a.protected_instance,
            "device": a.device,
        })).collect::<Vec<_>>(),
        "created_at": timefmt::pair(p.created_at),
        "updated_at": timefmt::pair(p.updated_at),
        "replication_model": "hypermetro",
        "progress": progress,
        "failure_detail": if p.status == PairStatus::Error { p.failure_detail.clone() } else { None },
        "record_metadata": {
            "multiattach": volume.is_some_and(|v| v.multiattach),
            "bootable": volume.is_some_and(|v| v.bootable),
            "volume_size": volume.map_or(0, |v| v.size),
            "volume_type": volume.map_or("SSD", |v| v.volume_type.as_str()),
        },
        "fault_level": "0",
        "server_group_id": p.server_group_id,
        "priority_station": station_of(world, &p.server_group_id).as_str(),
        "replication_status": replication_status(p.status),
    })
}

/// `ShowDisasterRecoveryDrillParams` (5.7.4 table 5-54).
pub fn drill(d: &Drill) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "status": d.status.as_str(),
        "drill_vpc_id": d.drill_vpc_id,
        "created_at": timefmt::resource(d.created_at),
        "updated_at": timefmt::resource(d.updated_at),
        "server_group_id": d.server_group_id,
        "drill_servers": d.drill_servers.iter().map(|s| json!({
            "protected_instance": s.protected_instance,
            "drill_server_id": s.drill_server_id,
        })).collect::<Vec<_>>(),
    })
}

/// An ECS server as `GET /v1/{project_id}/cloudservers/{server_id}` shows it (the fields the
/// ECS SDK's `ServerDetail` model reads most; the rest are omitted).
pub fn server(world: &World, s: &Server) -> Value {
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
            let device = v.attachment.as_ref().map(|a| a.device.clone());
            json!({
                "id": v.id,
                "delete_on_termination": "false",
                "bootIndex": if v.bootable { "0" } else { "-1" },
                "device": device,
            })
        })
        .collect();
    let (vm_state, power_state) = match s.status {
        super::world::ServerStatus::Active => ("active", 1),
        super::world::ServerStatus::Shutoff => ("stopped", 4),
        super::world::ServerStatus::Error => ("error", 0),
    };
    json!({
        "server": {
            "id": s.id,
            "name": s.name,
            "status": s.status.as_str(),
            "flavor": {
                "id": s.flavor,
                "name": s.flavor,
                "vcpus": flavor.map(|f| f.vcpus.to_string()),
                "ram": flavor.map(|f| f.ram.to_string()),
                "disk": "0",
            },
            "addresses": { s.vpc_id.clone(): addresses },
            "metadata": { "vpc_id": s.vpc_id },
            "OS-EXT-AZ:availability_zone": s.availability_zone,
            "OS-EXT-STS:vm_state": vm_state,
            "OS-EXT-STS:task_state": null,
            "OS-EXT-STS:power_state": power_state,
            "os-extended-volumes:volumes_attached": volumes,
            "tenant_id": world.project_id,
            "created": timefmt::ecs(s.created_at),
            "updated": timefmt::ecs(s.updated_at),
        }
    })
}
