//! The emulated world: the infrastructure around SDRS (domains, VPCs, flavors, ECS servers, EVS
//! volumes, quotas) and the SDRS resources themselves (protection groups, protected instances,
//! replication pairs, DR drills), plus the job table and the task center.
//!
//! This is plain data. The inventory file, the state file and `GET /_emulator/state` are all
//! this structure serialised; the rules in `rules/` decide how it may change and the handlers in
//! `api/` change it. Status names are the reference's (appendix A.2–A.5), spelled exactly.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::jobs::{FailureJob, Job};
use super::keyed::{HasId, Keyed};

/// The statuses of the SDRS resources are the wire enums of `sdrs::models` (reference appendix
/// A.2–A.5), shared with the client.
pub use crate::sdrs::models::{
    DrillStatus, ProtectedInstanceStatus as InstanceStatus, ProtectionGroupStatus as GroupStatus,
    ReplicationStatus as PairStatus, ServerStatus,
};

/// What the emulator needs to know about a status beyond its spelling.
pub trait StatusExt {
    /// The wire spelling.
    fn text(&self) -> &str;

    /// A transitional status (`creating`, `failing-over`, `nic-deleting`, ...): a job is working
    /// on the resource. `error-*` statuses are settled even though they name an `-ing` action.
    fn is_transitional(&self) -> bool {
        let text = self.text();
        !text.starts_with("error") && text.split('-').any(|w| w.ends_with("ing"))
    }

    /// A status a `query_type=status_abnormal` listing returns: an `error*` status, or `invalid`
    /// / `fault`.
    fn is_abnormal(&self) -> bool {
        let text = self.text();
        text.starts_with("error") || text == "invalid" || text == "fault"
    }
}

macro_rules! status_ext {
    ($($t:ty),+) => {
        $(impl StatusExt for $t {
            fn text(&self) -> &str {
                self.as_str()
            }
        })+
    };
}

status_ext!(GroupStatus, InstanceStatus, PairStatus, DrillStatus);

/// EVS volume statuses the emulator uses (no EVS operation is served, so there is no wire model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VolumeStatus {
    #[serde(rename = "available")]
    Available,
    #[serde(rename = "in-use")]
    InUse,
    #[serde(rename = "error")]
    Error,
}

impl std::fmt::Display for VolumeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VolumeStatus::Available => "available",
            VolumeStatus::InUse => "in-use",
            VolumeStatus::Error => "error",
        })
    }
}

/// Which site is the current production site of a protection group (`priority_station`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Station {
    /// Production runs in `source_availability_zone`.
    #[default]
    Source,
    /// Production runs in `target_availability_zone`.
    Target,
}

impl Station {
    pub fn as_str(self) -> &'static str {
        match self {
            Station::Source => "source",
            Station::Target => "target",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "source" => Some(Station::Source),
            "target" => Some(Station::Target),
            _ => None,
        }
    }

    /// The other site.
    pub fn flipped(self) -> Self {
        match self {
            Station::Source => Station::Target,
            Station::Target => Station::Source,
        }
    }
}

/// An active-active domain (5.3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sold_out: bool,
    pub local_availability_zone: String,
    pub remote_availability_zone: String,
}

/// A subnet of a VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub cidr: String,
}

/// A VPC and its subnets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub cidr: String,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
}

/// An ECS flavor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub vcpus: u32,
    /// Memory in MiB.
    pub ram: u32,
}

/// A network interface of a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nic {
    /// The port id (what `delete_protected_instance_nic` takes as `nic_id`).
    pub port_id: String,
    pub subnet_id: String,
    pub ip_address: String,
    pub mac_address: String,
}

/// An ECS server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub status: ServerStatus,
    pub availability_zone: String,
    pub flavor: String,
    pub vpc_id: String,
    /// The first NIC is the primary one.
    #[serde(default)]
    pub nics: Vec<Nic>,
    #[serde(default = "Timestamp::now")]
    pub created_at: Timestamp,
    #[serde(default = "Timestamp::now")]
    pub updated_at: Timestamp,
}

/// Where a volume is attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    pub server_id: String,
    pub device: String,
}

/// An EVS volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub name: String,
    /// Size in GB.
    pub size: u32,
    #[serde(default = "default_volume_type")]
    pub volume_type: String,
    pub availability_zone: String,
    #[serde(default)]
    pub bootable: bool,
    /// A shared (multi-attach) disk.
    #[serde(default)]
    pub multiattach: bool,
    pub status: VolumeStatus,
    #[serde(default)]
    pub attachment: Option<VolumeAttachment>,
}

fn default_volume_type() -> String {
    "SSD".to_owned()
}

/// Tenant quotas (5.10.1). `-1` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quotas {
    pub server_groups: i64,
    pub replications: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            server_groups: 10,
            replications: 100,
        }
    }
}

/// A tag of a protected instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A protection group (5.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectionGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub status: GroupStatus,
    pub source_availability_zone: String,
    pub target_availability_zone: String,
    pub domain_id: String,
    pub source_vpc_id: String,
    #[serde(default = "default_dr_type")]
    pub dr_type: String,
    #[serde(default)]
    pub priority_station: Station,
    /// When the last DR drill of the group was created (for `query_type=period_no_dr_drill`).
    #[serde(default)]
    pub last_drill_at: Option<Timestamp>,
    #[serde(default = "Timestamp::now")]
    pub created_at: Timestamp,
    #[serde(default = "Timestamp::now")]
    pub updated_at: Timestamp,
}

fn default_dr_type() -> String {
    "migration".to_owned()
}

impl ProtectionGroup {
    /// The AZ of the current production site.
    pub fn production_az(&self) -> &str {
        match self.priority_station {
            Station::Source => &self.source_availability_zone,
            Station::Target => &self.target_availability_zone,
        }
    }

    /// The AZ of the current DR site.
    pub fn dr_az(&self) -> &str {
        match self.priority_station {
            Station::Source => &self.target_availability_zone,
            Station::Target => &self.source_availability_zone,
        }
    }
}

/// A replication pair attached to a protected instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAttachment {
    pub replication: String,
    pub device: String,
}

/// A protected instance (5.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectedInstance {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub server_group_id: String,
    pub status: InstanceStatus,
    /// The production server the instance was created from.
    pub source_server: String,
    /// The DR server SDRS created for it.
    pub target_server: String,
    #[serde(default)]
    pub attachment: Vec<InstanceAttachment>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default = "Timestamp::now")]
    pub created_at: Timestamp,
    #[serde(default = "Timestamp::now")]
    pub updated_at: Timestamp,
}

impl ProtectedInstance {
    /// The server at the current production site.
    pub fn production_server(&self, station: Station) -> &str {
        match station {
            Station::Source => &self.source_server,
            Station::Target => &self.target_server,
        }
    }

    /// The server at the current DR site.
    pub fn dr_server(&self, station: Station) -> &str {
        self.production_server(station.flipped())
    }
}

/// Where a replication pair is attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairAttachment {
    pub protected_instance: String,
    pub device: String,
}

/// A replication pair (5.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationPair {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub server_group_id: String,
    pub status: PairStatus,
    /// The volume at the site that was production when the pair was created (first of
    /// `volume_ids`).
    pub production_volume: String,
    /// The volume SDRS created at the DR site (second of `volume_ids`).
    pub dr_volume: String,
    #[serde(default)]
    pub attachment: Option<PairAttachment>,
    /// The error code of the job that left the pair in `error` (`failure_detail`).
    #[serde(default)]
    pub failure_detail: Option<String>,
    #[serde(default = "Timestamp::now")]
    pub created_at: Timestamp,
    #[serde(default = "Timestamp::now")]
    pub updated_at: Timestamp,
}

/// A drill server created by a DR drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillServer {
    pub protected_instance: String,
    pub drill_server_id: String,
}

/// A DR drill (5.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    pub id: String,
    pub name: String,
    pub status: DrillStatus,
    pub server_group_id: String,
    pub drill_vpc_id: String,
    #[serde(default)]
    pub drill_servers: Vec<DrillServer>,
    #[serde(default = "Timestamp::now")]
    pub created_at: Timestamp,
    #[serde(default = "Timestamp::now")]
    pub updated_at: Timestamp,
}

macro_rules! has_id {
    ($($t:ty),+) => {
        $(impl HasId for $t {
            fn id(&self) -> &str {
                &self.id
            }
        })+
    };
}

has_id!(
    Vpc,
    Flavor,
    Server,
    Volume,
    ProtectionGroup,
    ProtectedInstance,
    ReplicationPair,
    Drill
);

/// The whole emulated world. The inventory file is this structure (jobs and task center
/// usually left out); the state file is all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// The project the emulator serves. Empty in an inventory file (the emulator picks one);
    /// kept in the state file so a restarted emulator serves the same project.
    #[serde(default)]
    pub project_id: String,
    pub region: String,
    pub availability_zones: Vec<String>,
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub vpcs: Keyed<Vpc>,
    #[serde(default)]
    pub flavors: Keyed<Flavor>,
    #[serde(default)]
    pub servers: Keyed<Server>,
    #[serde(default)]
    pub volumes: Keyed<Volume>,
    #[serde(default)]
    pub quotas: Quotas,
    #[serde(default)]
    pub protection_groups: Keyed<ProtectionGroup>,
    #[serde(default)]
    pub protected_instances: Keyed<ProtectedInstance>,
    #[serde(default)]
    pub replication_pairs: Keyed<ReplicationPair>,
    #[serde(default)]
    pub drills: Keyed<Drill>,
    #[serde(default)]
    pub jobs: Keyed<Job>,
    #[serde(default)]
    pub failure_jobs: Keyed<FailureJob>,
}

impl World {
    /// The protected instances of a group.
    pub fn instances_of<'a>(
        &'a self,
        group_id: &'a str,
    ) -> impl Iterator<Item = &'a ProtectedInstance> + 'a {
        self.protected_instances
            .values()
            .filter(move |i| i.server_group_id == group_id)
    }

    /// The replication pairs of a group.
    pub fn pairs_of<'a>(
        &'a self,
        group_id: &'a str,
    ) -> impl Iterator<Item = &'a ReplicationPair> + 'a {
        self.replication_pairs
            .values()
            .filter(move |p| p.server_group_id == group_id)
    }

    /// The DR drills of a group.
    pub fn drills_of<'a>(&'a self, group_id: &'a str) -> impl Iterator<Item = &'a Drill> + 'a {
        self.drills
            .values()
            .filter(move |d| d.server_group_id == group_id)
    }

    /// The protected instance created from a server, if any.
    pub fn instance_of_server(&self, server_id: &str) -> Option<&ProtectedInstance> {
        self.protected_instances
            .values()
            .find(|i| i.source_server == server_id || i.target_server == server_id)
    }

    /// The replication pair that uses a volume (at either site), if any.
    pub fn pair_of_volume(&self, volume_id: &str) -> Option<&ReplicationPair> {
        self.replication_pairs
            .values()
            .find(|p| p.production_volume == volume_id || p.dr_volume == volume_id)
    }

    /// A subnet by id, with its VPC.
    pub fn subnet(&self, subnet_id: &str) -> Option<(&Vpc, &Subnet)> {
        self.vpcs
            .values()
            .find_map(|v| v.subnets.iter().find(|s| s.id == subnet_id).map(|s| (v, s)))
    }

    /// Checks references between objects (a server's VPC and flavor exist, a volume's server
    /// exists, an instance's group and servers exist, ...). Returns every problem found.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let azs = &self.availability_zones;
        let unknown = |what: &str, id: &str, known: bool, text: &str| {
            (!known).then(|| format!("{what} {id}: unknown status `{text}`"))
        };
        problems.extend(
            self.servers
                .values()
                .filter_map(|s| unknown("server", &s.id, s.status.is_known(), s.status.as_str())),
        );
        problems.extend(self.protection_groups.values().filter_map(|g| {
            unknown(
                "protection group",
                &g.id,
                g.status.is_known(),
                g.status.as_str(),
            )
        }));
        problems.extend(self.protected_instances.values().filter_map(|i| {
            unknown(
                "protected instance",
                &i.id,
                i.status.is_known(),
                i.status.as_str(),
            )
        }));
        problems.extend(self.replication_pairs.values().filter_map(|p| {
            unknown(
                "replication pair",
                &p.id,
                p.status.is_known(),
                p.status.as_str(),
            )
        }));
        problems.extend(
            self.drills
                .values()
                .filter_map(|d| unknown("drill", &d.id, d.status.is_known(), d.status.as_str())),
        );
        for d in &self.domains {
            for az in [&d.local_availability_zone, &d.remote_availability_zone] {
                if !azs.contains(az) {
                    problems.push(format!("domain {}: unknown availability zone {az}", d.id));
                }
            }
        }
        for s in self.servers.values() {
            if !azs.contains(&s.availability_zone) {
                problems.push(format!(
                    "server {}: unknown availability zone {}",
                    s.id, s.availability_zone
                ));
            }
            if !self.vpcs.contains(&s.vpc_id) {
                problems.push(format!("server {}: unknown vpc {}", s.id, s.vpc_id));
            }
            if !self.flavors.contains(&s.flavor) {
                problems.push(format!("server {}: unknown flavor {}", s.id, s.flavor));
            }
            for nic in &s.nics {
                if self.subnet(&nic.subnet_id).is_none() {
                    problems.push(format!("server {}: unknown subnet {}", s.id, nic.subnet_id));
                }
            }
        }
        for v in self.volumes.values() {
            if let Some(a) = &v.attachment
                && !self.servers.contains(&a.server_id)
            {
                problems.push(format!(
                    "volume {}: attached to unknown server {}",
                    v.id, a.server_id
                ));
            }
        }
        for g in self.protection_groups.values() {
            if !self.domains.iter().any(|d| d.id == g.domain_id) {
                problems.push(format!(
                    "protection group {}: unknown domain {}",
                    g.id, g.domain_id
                ));
            }
            if !self.vpcs.contains(&g.source_vpc_id) {
                problems.push(format!(
                    "protection group {}: unknown vpc {}",
                    g.id, g.source_vpc_id
                ));
            }
        }
        for i in self.protected_instances.values() {
            if !self.protection_groups.contains(&i.server_group_id) {
                problems.push(format!(
                    "protected instance {}: unknown protection group {}",
                    i.id, i.server_group_id
                ));
            }
            for server in [&i.source_server, &i.target_server] {
                if !self.servers.contains(server) {
                    problems.push(format!(
                        "protected instance {}: unknown server {server}",
                        i.id
                    ));
                }
            }
            for a in &i.attachment {
                if !self.replication_pairs.contains(&a.replication) {
                    problems.push(format!(
                        "protected instance {}: unknown replication pair {}",
                        i.id, a.replication
                    ));
                }
            }
        }
        for p in self.replication_pairs.values() {
            if !self.protection_groups.contains(&p.server_group_id) {
                problems.push(format!(
                    "replication pair {}: unknown protection group {}",
                    p.id, p.server_group_id
                ));
            }
            for volume in [&p.production_volume, &p.dr_volume] {
                if !self.volumes.contains(volume) {
                    problems.push(format!(
                        "replication pair {}: unknown volume {volume}",
                        p.id
                    ));
                }
            }
            if let Some(a) = &p.attachment
                && !self
                    .protected_instances
                    .get(&a.protected_instance)
                    .is_some_and(|i| i.attachment.iter().any(|x| x.replication == p.id))
            {
                problems.push(format!(
                    "replication pair {}: attachment to {} is not mirrored by the instance",
                    p.id, a.protected_instance
                ));
            }
        }
        for d in self.drills.values() {
            if !self.protection_groups.contains(&d.server_group_id) {
                problems.push(format!(
                    "drill {}: unknown protection group {}",
                    d.id, d.server_group_id
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_statuses_are_settled_and_abnormal() {
        assert!(GroupStatus::Creating.is_transitional());
        assert!(GroupStatus::FailingOver.is_transitional());
        assert!(!GroupStatus::ErrorFailingOver.is_transitional());
        assert!(GroupStatus::ErrorFailingOver.is_abnormal());
        assert!(!GroupStatus::FailedOver.is_transitional());
        assert!(InstanceStatus::NicCreating.is_transitional());
        assert!(InstanceStatus::Invalid.is_abnormal());
        assert!(!PairStatus::Protected.is_abnormal());
    }

    #[test]
    fn every_transitional_status_of_the_reference_is_recognised() {
        let transitional: Vec<&str> = GroupStatus::KNOWN
            .iter()
            .copied()
            .filter(|s| GroupStatus::parse(s).is_transitional())
            .collect();
        assert_eq!(
            transitional,
            [
                "creating",
                "deleting",
                "starting",
                "reprotecting",
                "stopping",
                "reversing",
                "failing-over"
            ]
        );
    }
}
