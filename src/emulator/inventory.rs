//! The inventory: the world the emulator starts with. The default one
//! (`default_inventory.yaml`, compiled in) is the contract with the example runbooks
//! (`notes/inventory.md`); a YAML file of the same shape can replace it.

use std::path::Path;

use super::Error;
use super::world::World;

/// The default inventory, as YAML (also a template for custom inventories).
pub const DEFAULT_INVENTORY_YAML: &str = include_str!("default_inventory.yaml");

/// Parses an inventory from YAML text and checks its references. `origin` names the source in
/// error messages.
pub fn from_yaml(text: &str, origin: &Path) -> Result<World, Error> {
    let mut world: World = serde_saphyr::from_str(text).map_err(|e| Error::Inventory {
        path: origin.to_path_buf(),
        message: e.to_string(),
    })?;
    // Jobs and failed jobs belong to a running emulator's state, not to an inventory.
    world.jobs = Default::default();
    world.failure_jobs = Default::default();
    let problems = world.check();
    if !problems.is_empty() {
        return Err(Error::Inventory {
            path: origin.to_path_buf(),
            message: problems.join("; "),
        });
    }
    Ok(world)
}

/// Reads an inventory file.
pub fn load(path: &Path) -> Result<World, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    from_yaml(&text, path)
}

/// The default world.
pub fn default_world() -> Result<World, Error> {
    from_yaml(DEFAULT_INVENTORY_YAML, Path::new("<default inventory>"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::emulator::world::{GroupStatus, ServerStatus, Station};

    #[test]
    fn the_default_inventory_is_the_documented_world() {
        let w = default_world().unwrap();
        assert_eq!(w.region, "cn-north-4");
        assert_eq!(w.availability_zones, ["cn-north-4a", "cn-north-4b"]);
        let d = &w.domains[0];
        assert_eq!(
            (d.id.as_str(), d.name.as_str()),
            ("domain-0001", "SDRS_HypeMetroDomain")
        );
        assert!(w.vpcs.contains("vpc-prod-0001") && w.vpcs.contains("vpc-drill-0001"));
        for f in ["s6.large.2", "s6.xlarge.2", "c7.2xlarge.2"] {
            assert!(w.flavors.contains(f), "{f}");
        }
        for s in [
            "ecs-web-01",
            "ecs-web-02",
            "ecs-db-01",
            "ecs-app-01",
            "ecs-app-02",
        ] {
            let server = w.servers.get(s).unwrap();
            assert_eq!(server.status, ServerStatus::Active);
            assert_eq!(server.availability_zone, "cn-north-4a");
            assert_eq!(w.volumes.get(&format!("{s}-sys")).unwrap().size, 40);
        }
        assert_eq!(w.volumes.get("ecs-db-01-data").unwrap().size, 500);
        assert_eq!(w.volumes.get("ecs-web-01-data").unwrap().size, 100);
        for s in ["ecs-web-01-dr", "ecs-web-02-dr", "ecs-db-01-dr"] {
            let server = w.servers.get(s).unwrap();
            assert_eq!(server.status, ServerStatus::Shutoff);
            assert_eq!(server.availability_zone, "cn-north-4b");
        }
        let g = w.protection_groups.get("pg-web-0001").unwrap();
        assert_eq!(g.name, "web-tier");
        assert_eq!(g.status, GroupStatus::Protected);
        assert_eq!(g.priority_station, Station::Source);
        assert_eq!(w.instances_of("pg-web-0001").count(), 3);
        assert_eq!(w.pairs_of("pg-web-0001").count(), 6);
        let rp = w.replication_pairs.get("rp-web-01-sys").unwrap();
        assert_eq!(rp.production_volume, "ecs-web-01-sys");
        assert_eq!(w.instance_of_server("ecs-app-01"), None);
        assert_eq!((w.quotas.server_groups, w.quotas.replications), (10, 100));
        assert!(w.check().is_empty(), "{:?}", w.check());
    }

    #[test]
    fn an_inventory_with_dangling_references_is_refused_with_every_problem() {
        let text = r#"
region: r
availability_zones: [a, b]
domains: [{id: d, name: d, local_availability_zone: a, remote_availability_zone: c}]
servers:
  - {id: s, name: s, status: ACTIVE, availability_zone: a, flavor: nope, vpc_id: v}
"#;
        let err = from_yaml(text, Path::new("inv.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("inv.yaml"), "{err}");
        assert!(err.contains("unknown availability zone c"), "{err}");
        assert!(err.contains("unknown flavor nope"), "{err}");
        assert!(err.contains("unknown vpc v"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_statuses_are_reported() {
        let err = from_yaml(
            "region: r\navailability_zones: []\ndomains: []\nbogus: 1\n",
            Path::new("x"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bogus"), "{err}");
        let text = r#"
region: r
availability_zones: [a]
domains: []
vpcs: [{id: v, name: v, cidr: 10.0.0.0/8}]
flavors: [{id: f, vcpus: 1, ram: 1024}]
servers:
  - {id: s, name: s, status: RUNNING, availability_zone: a, flavor: f, vpc_id: v}
"#;
        let err = from_yaml(text, Path::new("x")).unwrap_err().to_string();
        assert!(err.contains("RUNNING"), "{err}");
    }
}
