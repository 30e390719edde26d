//! Every allowed and every refused transition of the state machines, status by status.
//!
//! For each action, each status of the reference's appendix (A.2–A.5) is tried: the emulator
//! starts with the resource in that status, the action is sent, and the test checks that it is
//! accepted (and where the resource lands) exactly when the reference allows it, and refused with
//! the documented code otherwise. The allowed lists below are transcribed from the API reference
//! (2023 edition, sections cited), independently of the emulator's rule tables, so a wrong row in
//! a table fails here.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod emulator_common;

use drbook::emulator::World;
use drbook::emulator::world::{
    DrillStatus, GroupStatus, InstanceStatus, PairStatus, ProtectionGroup, ReplicationPair,
    ServerStatus,
};
use emulator_common::Env;
use serde_json::{Value, json};

/// Appendix A.2.
const GROUP: &[&str] = &[
    "creating",
    "available",
    "protected",
    "deleting",
    "error-deleting",
    "error",
    "starting",
    "error-starting",
    "reprotecting",
    "error-reprotecting",
    "stopping",
    "error-stopping",
    "reversing",
    "error-reversing",
    "failing-over",
    "failed-over",
    "error-failing-over",
];

/// Appendix A.3.
const INSTANCE: &[&str] = &[
    "creating",
    "available",
    "deleting",
    "error-deleting",
    "error",
    "nic-creating",
    "nic-deleting",
    "starting",
    "error-starting",
    "protected",
    "reversing",
    "failing-over",
    "failed-over",
    "reprotecting",
    "stopping",
    "error-stopping",
    "error-reversing",
    "error-failing-over",
    "error-reprotecting",
    "resizing",
    "error-resizing",
    "invalid",
    "fault",
];

/// Appendix A.4.
const PAIR: &[&str] = &[
    "creating",
    "available",
    "deleting",
    "error-deleting",
    "error",
    "extending",
    "error-extending",
    "starting",
    "error-starting",
    "protected",
    "reversing",
    "failing-over",
    "failed-over",
    "reprotecting",
    "stopping",
    "error-stopping",
    "error-reversing",
    "error-failing-over",
    "error-reprotecting",
    "invalid",
    "fault",
    "attaching",
    "detaching",
    "error-attaching",
    "error-detaching",
];

/// Appendix A.5.
const DRILL: &[&str] = &[
    "creating",
    "available",
    "deleting",
    "error-deleting",
    "error",
];

fn set_group(w: &mut World, id: &str, status: &str) {
    w.protection_groups.get_mut(id).expect("group").status = GroupStatus::parse(status);
}

fn set_instance(w: &mut World, id: &str, status: &str) {
    w.protected_instances.get_mut(id).expect("instance").status = InstanceStatus::parse(status);
}

fn set_pair(w: &mut World, id: &str, status: &str) {
    w.replication_pairs.get_mut(id).expect("pair").status = PairStatus::parse(status);
}

/// An extra, unattached replication pair `rp-extra` of `pg-web-0001` (on ecs-app-01's data disk).
fn add_unattached_pair(w: &mut World) {
    let mut dr = w.volumes.get("ecs-app-01-data").cloned().expect("volume");
    dr.id = "ecs-app-01-data-dr".into();
    dr.availability_zone = "cn-north-4b".into();
    dr.attachment = None;
    w.volumes.insert(dr);
    w.replication_pairs.insert(ReplicationPair {
        id: "rp-extra".into(),
        name: "rp-extra".into(),
        description: None,
        server_group_id: "pg-web-0001".into(),
        status: PairStatus::Protected,
        production_volume: "ecs-app-01-data".into(),
        dr_volume: "ecs-app-01-data-dr".into(),
        attachment: None,
        failure_detail: None,
        created_at: jiff::Timestamp::now(),
        updated_at: jiff::Timestamp::now(),
    });
}

/// An empty protection group `pg-empty`.
fn add_empty_group(w: &mut World, status: &str) {
    let mut g: ProtectionGroup = w
        .protection_groups
        .get("pg-web-0001")
        .cloned()
        .expect("group");
    g.id = "pg-empty".into();
    g.name = "empty".into();
    g.status = GroupStatus::parse(status);
    w.protection_groups.insert(g);
}

/// Runs `op` in a world prepared for `status`; `Ok(job)` when accepted (job waited for),
/// `Err((http status, code))` when refused.
async fn attempt(
    prepare: impl FnOnce(&mut World),
    op: &str,
    inputs: Value,
) -> (Env, Result<Value, (u16, String)>) {
    let env = Env::with_world(prepare).await;
    let result = match env.call(op, inputs).await {
        Ok(reply) => match reply["job_id"].as_str() {
            Some(job) => Ok(env.wait(job).await),
            None => Ok(reply),
        },
        Err(drbook::sdrs::Error::Api { status, code, .. }) => {
            Err((status, code.as_str().to_owned()))
        }
        Err(e) => panic!("{op}: {e}"),
    };
    (env, result)
}

/// Checks one action against every status of a resource.
#[expect(
    clippy::too_many_arguments,
    reason = "each call reads as one row: resource, statuses, allowed, code, request, setup, check"
)]
async fn sweep<F, C>(
    what: &str,
    statuses: &[&str],
    allowed: &[&str],
    refused_code: &str,
    op: &str,
    inputs: Value,
    prepare: F,
    check: C,
) where
    F: Fn(&mut World, &str),
    C: AsyncFn(&Env, &str, &Value),
{
    for status in statuses {
        let (env, result) = attempt(|w| prepare(w, status), op, inputs.clone()).await;
        let expected = allowed.contains(status);
        match result {
            Ok(job) if expected => {
                assert_eq!(job["status"], "SUCCESS", "{op} with {what} {status}: {job}");
                check(&env, status, &job).await;
            }
            Err((http, code)) if !expected => {
                assert_eq!(
                    (http, code.as_str()),
                    (400, refused_code),
                    "{op} with {what} {status}"
                );
            }
            Ok(job) => panic!("{op} with {what} {status} should be refused, got {job}"),
            Err(e) => panic!("{op} with {what} {status} should be accepted, got {e:?}"),
        }
        env.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Protection groups (5.4)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn start_protection_and_reprotect_by_group_status() {
    // 5.4.6: enable protection from available or error-starting; enable it again (reprotect) from
    // failed-over or error-reprotecting.
    sweep(
        "group",
        GROUP,
        &[
            "available",
            "error-starting",
            "failed-over",
            "error-reprotecting",
        ],
        "SDRS.1002",
        "start_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |env, status, job| {
            let reprotect = matches!(status, "failed-over" | "error-reprotecting");
            let expected_type = if reprotect {
                "reprotectProtectionGroupNoCG"
            } else {
                "startProtectionGroupNoCG"
            };
            assert_eq!(job["job_type"], expected_type);
            assert_eq!(env.group_status("pg-web-0001").await, "protected");
            assert_eq!(env.instance_status("pi-web-01").await, "protected");
            assert_eq!(env.pair_status("rp-web-01-sys").await, "protected");
            // One sub-job per replication pair, as in the 5.1.1 example.
            assert_eq!(
                job["entities"]["sub_jobs"].as_array().map(Vec::len),
                Some(6)
            );
        },
    )
    .await;
}

#[tokio::test]
async fn stop_protection_by_group_status() {
    // 5.4.7: protected or error-stopping.
    sweep(
        "group",
        GROUP,
        &["protected", "error-stopping"],
        "SDRS.1002",
        "stop_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |env, _, job| {
            assert_eq!(job["job_type"], "stopProtectionGroupNoCG");
            assert_eq!(
                job["entities"]["sub_jobs"][0]["job_type"],
                "stopProtectionGroupRepNoCG"
            );
            assert_eq!(env.group_status("pg-web-0001").await, "available");
            assert_eq!(env.instance_status("pi-db-01").await, "available");
            assert_eq!(env.pair_status("rp-db-01-data").await, "available");
        },
    )
    .await;
}

#[tokio::test]
async fn failover_by_group_status() {
    // 5.4.8: protected, error-failing-over or error-reversing.
    sweep(
        "group",
        GROUP,
        &["protected", "error-failing-over", "error-reversing"],
        "SDRS.1002",
        "start_failover_protection_group",
        json!({"server_group_id": "pg-web-0001"}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |env, _, job| {
            assert_eq!(job["job_type"], "failoverProtectionGroupNoCG");
            let g = env
                .ok(
                    "show_protection_group",
                    json!({"server_group_id": "pg-web-0001"}),
                )
                .await;
            assert_eq!(g["server_group"]["status"], "failed-over");
            // priority_station flips to the DR site, whose servers are started.
            assert_eq!(g["server_group"]["priority_station"], "target");
            assert_eq!(env.instance_status("pi-web-02").await, "failed-over");
            assert_eq!(env.pair_status("rp-web-02-data").await, "failed-over");
            assert_eq!(env.server_status("ecs-web-02-dr").await, "ACTIVE");
            let pi = env
                .ok(
                    "show_protected_instance",
                    json!({"protected_instance_id": "pi-web-02"}),
                )
                .await;
            assert_eq!(pi["protected_instance"]["priority_station"], "target");
        },
    )
    .await;
}

#[tokio::test]
async fn planned_failover_by_group_status() {
    // 5.4.9: protected or error-reversing; all production servers stopped (prepared here).
    sweep(
        "group",
        GROUP,
        &["protected", "error-reversing"],
        "SDRS.1002",
        "start_reverse_protection_group",
        json!({"server_group_id": "pg-web-0001", "priority_station": "target"}),
        |w, s| {
            set_group(w, "pg-web-0001", s);
            for id in ["ecs-web-01", "ecs-web-02", "ecs-db-01"] {
                w.servers.get_mut(id).expect("server").status = ServerStatus::Shutoff;
            }
        },
        async |env, _, job| {
            assert_eq!(job["job_type"], "reverseProtectionGroupNoCG");
            let g = env
                .ok(
                    "show_protection_group",
                    json!({"server_group_id": "pg-web-0001"}),
                )
                .await;
            assert_eq!(g["server_group"]["status"], "protected");
            assert_eq!(g["server_group"]["priority_station"], "target");
            assert_eq!(env.server_status("ecs-db-01-dr").await, "ACTIVE");
            assert_eq!(env.server_status("ecs-db-01").await, "SHUTOFF");
            let rp = env
                .ok(
                    "show_replication",
                    json!({"replication_id": "rp-db-01-sys"}),
                )
                .await;
            assert_eq!(rp["replication"]["priority_station"], "target");
        },
    )
    .await;
}

#[tokio::test]
async fn delete_group_by_status() {
    // 5.4.4 sets no status list; the emulator refuses only transitional statuses (a job runs).
    let settled: Vec<&str> = GROUP
        .iter()
        .copied()
        .filter(|s| {
            !matches!(
                *s,
                "creating"
                    | "deleting"
                    | "starting"
                    | "reprotecting"
                    | "stopping"
                    | "reversing"
                    | "failing-over"
            )
        })
        .collect();
    sweep(
        "group",
        GROUP,
        &settled,
        "SDRS.1002",
        "delete_protection_group",
        json!({"server_group_id": "pg-empty"}),
        add_empty_group,
        async |env, _, _| {
            let (status, code) = env
                .refused(
                    "show_protection_group",
                    json!({"server_group_id": "pg-empty"}),
                )
                .await;
            assert_eq!((status, code.as_str()), (400, "SDRS.1013"));
        },
    )
    .await;
}

#[tokio::test]
async fn group_actions_check_their_other_preconditions() {
    let env = Env::start().await;
    // A group with members cannot be deleted (5.4.4): instances first (SDRS.1001).
    let (_, code) = env
        .refused(
            "delete_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(code, "SDRS.1001");
    // Planned failover needs the production servers stopped (SDRS.1319) and the other site.
    let (_, code) = env
        .refused(
            "start_reverse_protection_group",
            json!({"server_group_id": "pg-web-0001", "priority_station": "target"}),
        )
        .await;
    assert_eq!(code, "SDRS.1319");
    let (_, code) = env
        .refused(
            "start_reverse_protection_group",
            json!({"server_group_id": "pg-web-0001", "priority_station": "source"}),
        )
        .await;
    assert_eq!(code, "SDRS.0216");
    let (_, code) = env
        .refused(
            "start_reverse_protection_group",
            json!({"server_group_id": "pg-web-0001", "priority_station": "moon"}),
        )
        .await;
    assert_eq!(code, "SDRS.0216");
    env.stop().await;

    // Deleting: pairs (SDRS.1010) and drills (SDRS.1003) block it too.
    let env = Env::with_world(|w| {
        w.protected_instances = Default::default();
        for p in w.replication_pairs.values_mut() {
            p.attachment = None;
        }
    })
    .await;
    let (_, code) = env
        .refused(
            "delete_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(code, "SDRS.1010");
    env.stop().await;
    let env = Env::with_world(|w| {
        add_empty_group(w, "available");
        w.drills.insert(drbook::emulator::world::Drill {
            id: "drill-1".into(),
            name: "d".into(),
            status: DrillStatus::Available,
            server_group_id: "pg-empty".into(),
            drill_vpc_id: "vpc-drill-0001".into(),
            drill_servers: Vec::new(),
            created_at: jiff::Timestamp::now(),
            updated_at: jiff::Timestamp::now(),
        });
    })
    .await;
    let (_, code) = env
        .refused(
            "delete_protection_group",
            json!({"server_group_id": "pg-empty"}),
        )
        .await;
    assert_eq!(code, "SDRS.1003");
    // Start, failover and planned failover need replication pairs (5.4.6, 5.4.8, 5.4.9).
    for op in ["start_protection_group"] {
        let (_, code) = env
            .refused(op, json!({"server_group_id": "pg-empty"}))
            .await;
        assert_eq!(code, "SDRS.1002", "{op}");
    }
    env.stop().await;

    // Reprotect needs the servers at the current DR site stopped (5.4.6, SDRS.1342).
    let env = Env::with_world(|w| {
        set_group(w, "pg-web-0001", "failed-over");
        w.protection_groups
            .get_mut("pg-web-0001")
            .expect("g")
            .priority_station = drbook::emulator::world::Station::Target;
    })
    .await;
    let (_, code) = env
        .refused(
            "start_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(code, "SDRS.1342");
    env.set_servers(&["ecs-web-01", "ecs-web-02", "ecs-db-01"], false)
        .await;
    let job = env
        .run_ok(
            "start_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(job["job_type"], "reprotectProtectionGroupNoCG");
    let g = env
        .ok(
            "show_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(
        g["server_group"]["priority_station"], "target",
        "reprotect keeps the site"
    );
    env.stop().await;

    // A group action while a member still runs its own job is refused.
    let env = Env::with_world(|w| set_pair(w, "rp-web-01-sys", "extending")).await;
    let (_, code) = env
        .refused(
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(code, "SDRS.1002");
    env.stop().await;
}

#[tokio::test]
async fn failed_group_jobs_land_in_error_statuses_and_the_task_center() {
    use drbook::emulator::{FaultAction, FaultRule};
    let cases = [
        (
            "start_protection_group",
            "available",
            "error-starting",
            "startFail",
        ),
        (
            "start_protection_group",
            "failed-over",
            "error-reprotecting",
            "reprotectFail",
        ),
        (
            "stop_protection_group",
            "protected",
            "error-stopping",
            "stopFail",
        ),
        (
            "start_failover_protection_group",
            "protected",
            "error-failing-over",
            "failoverFail",
        ),
        (
            "delete_protection_group",
            "available",
            "error-deleting",
            "deleteFail",
        ),
    ];
    for (op, from, to, failure_status) in cases {
        let group = if op == "delete_protection_group" {
            "pg-empty"
        } else {
            "pg-web-0001"
        };
        let env = Env::with_world(|w| {
            add_empty_group(w, "available");
            set_group(w, "pg-web-0001", from);
        })
        .await;
        env.emulator
            .add_fault(FaultRule {
                id: None,
                operation: op.into(),
                resource: None,
                action: FaultAction::JobFail {
                    code: "SDRS.1027".into(),
                    reason: Some("injected".into()),
                },
                rate: None,
                times: Some(1),
            })
            .expect("fault");
        let job = env.run(op, json!({"server_group_id": group})).await;
        assert_eq!(job["status"], "FAIL", "{op}");
        assert_eq!(job["error_code"], "SDRS.1027");
        assert_eq!(job["fail_reason"], "injected");
        assert_eq!(env.group_status(group).await, to, "{op} from {from}");
        if group == "pg-web-0001" {
            let member = env.instance_status("pi-web-01").await;
            assert_eq!(member, to, "{op}: members follow");
        }
        let failures = env.ok("list_failure_jobs", json!({})).await;
        assert_eq!(failures["count"], 1, "{op}: {failures}");
        let f = &failures["failure_jobs"][0];
        assert_eq!(f["failure_status"], failure_status);
        assert_eq!(f["resource_type"], "server_groups");
        assert_eq!(f["resource_id"], group);
        assert_eq!(f["job_status"], "FAIL");
        assert_eq!(f["error_code"], "SDRS.1027");
        env.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Protected instances (5.5)
// ---------------------------------------------------------------------------------------------

const GROUP_AVAILABLE_OR_PROTECTED: &[&str] = &["available", "protected"];

#[tokio::test]
async fn create_protected_instance_by_group_status() {
    // 5.5.1: the group must be available or protected.
    sweep(
        "group",
        GROUP,
        GROUP_AVAILABLE_OR_PROTECTED,
        "SDRS.1024",
        "create_protected_instance",
        json!({"server_group_id": "pg-web-0001", "server_id": "ecs-app-01", "name": "pi-app"}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |env, status, job| {
            let id = job["entities"]["protected_instance_id"]
                .as_str()
                .unwrap_or_default();
            // The new instance follows its group: protected in a protected group.
            assert_eq!(env.instance_status(id).await, *status);
        },
    )
    .await;
}

#[tokio::test]
async fn batch_create_protected_instances_by_group_status() {
    // 5.5.11: the group must be available or protected.
    sweep(
        "group",
        GROUP,
        GROUP_AVAILABLE_OR_PROTECTED,
        "SDRS.1024",
        "batch_create_protected_instances",
        json!({"server_group_id": "pg-web-0001", "name_prefix": "app", "servers": [{"server_id": "ecs-app-01"}]}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |_, _, job| {
            assert_eq!(job["entities"]["sub_jobs"].as_array().map(Vec::len), Some(1));
        },
    )
    .await;
}

/// 5.5.2 / 5.5.12: statuses from which an instance may be deleted.
const DELETABLE: &[&str] = &[
    "available",
    "protected",
    "failed-over",
    "error",
    "error-starting",
    "error-stopping",
    "error-reversing",
    "error-failing-over",
    "error-deleting",
    "error-reprotecting",
    "error-resizing",
    "invalid",
    "fault",
];

#[tokio::test]
async fn delete_protected_instance_by_status() {
    sweep(
        "instance",
        INSTANCE,
        DELETABLE,
        "SDRS.1301",
        "delete_protected_instance",
        json!({"protected_instance_id": "pi-web-01"}),
        |w, s| set_instance(w, "pi-web-01", s),
        async |env, _, _| {
            let (_, code) = env
                .refused(
                    "show_protected_instance",
                    json!({"protected_instance_id": "pi-web-01"}),
                )
                .await;
            assert_eq!(code, "SDRS.1320");
            // Its pairs stay, detached.
            let rp = env
                .ok(
                    "show_replication",
                    json!({"replication_id": "rp-web-01-sys"}),
                )
                .await;
            assert_eq!(rp["replication"]["attachment"], json!([]));
        },
    )
    .await;
}

#[tokio::test]
async fn batch_delete_protected_instances_by_status() {
    sweep(
        "instance",
        INSTANCE,
        DELETABLE,
        "SDRS.1301",
        "batch_delete_protected_instances",
        json!({"protected_instances": [{"id": "pi-web-01"}, {"id": "pi-web-02"}]}),
        |w, s| set_instance(w, "pi-web-01", s),
        async |env, _, _| {
            let listed = env.ok("list_protected_instances", json!({})).await;
            assert_eq!(listed["count"], 1);
        },
    )
    .await;
}

#[tokio::test]
async fn attach_by_instance_group_and_pair_status() {
    let inputs = json!({"protected_instance_id": "pi-web-01", "replication_id": "rp-extra", "device": "/dev/vdc"});
    // 5.5.6: instance available or protected.
    sweep(
        "instance",
        INSTANCE,
        &["available", "protected"],
        "SDRS.1314",
        "attach_protected_instance_replication",
        inputs.clone(),
        |w, s| {
            add_unattached_pair(w);
            set_instance(w, "pi-web-01", s);
        },
        async |env, _, _| {
            let rp = env
                .ok("show_replication", json!({"replication_id": "rp-extra"}))
                .await;
            assert_eq!(rp["replication"]["attachment"][0]["device"], "/dev/vdc");
            assert_eq!(rp["replication"]["status"], "protected");
        },
    )
    .await;
    // 5.5.6: group available or protected.
    sweep(
        "group",
        GROUP,
        GROUP_AVAILABLE_OR_PROTECTED,
        "SDRS.1024",
        "attach_protected_instance_replication",
        inputs.clone(),
        |w, s| {
            add_unattached_pair(w);
            set_group(w, "pg-web-0001", s);
        },
        async |_, _, _| {},
    )
    .await;
    // 5.5.6: replication pair available or protected.
    sweep(
        "pair",
        PAIR,
        &["available", "protected"],
        "SDRS.1601",
        "attach_protected_instance_replication",
        inputs,
        |w, s| {
            add_unattached_pair(w);
            set_pair(w, "rp-extra", s);
        },
        async |_, _, _| {},
    )
    .await;
}

#[tokio::test]
async fn detach_by_instance_group_and_pair_status() {
    let inputs = json!({"protected_instance_id": "pi-web-01", "replication_id": "rp-web-01-data"});
    // 5.5.7, instance list.
    sweep(
        "instance",
        INSTANCE,
        &[
            "available",
            "protected",
            "failed-over",
            "error-starting",
            "error-stopping",
            "error-reversing",
            "error-failing-over",
            "error-deleting",
            "error-reprotecting",
            "error-resizing",
            "invalid",
            "fault",
        ],
        "SDRS.1314",
        "detach_protected_instance_replication",
        inputs.clone(),
        |w, s| set_instance(w, "pi-web-01", s),
        async |env, _, _| {
            let pi = env
                .ok(
                    "show_protected_instance",
                    json!({"protected_instance_id": "pi-web-01"}),
                )
                .await;
            assert_eq!(
                pi["protected_instance"]["attachment"]
                    .as_array()
                    .map(Vec::len),
                Some(1)
            );
        },
    )
    .await;
    // 5.5.7, group list.
    sweep(
        "group",
        GROUP,
        &[
            "available",
            "protected",
            "failed-over",
            "error-starting",
            "error-stopping",
            "error-reversing",
            "error-failing-over",
        ],
        "SDRS.1002",
        "detach_protected_instance_replication",
        inputs.clone(),
        |w, s| set_group(w, "pg-web-0001", s),
        async |_, _, _| {},
    )
    .await;
    // 5.5.7, pair list.
    sweep(
        "pair",
        PAIR,
        &[
            "available",
            "protected",
            "failed-over",
            "error-attaching",
            "error-detaching",
            "error-starting",
            "error-stopping",
            "error-reversing",
            "error-failing-over",
            "error-deleting",
            "error-reprotecting",
            "error-extending",
            "invalid",
            "fault",
        ],
        "SDRS.1601",
        "detach_protected_instance_replication",
        inputs,
        |w, s| set_pair(w, "rp-web-01-data", s),
        async |_, _, _| {},
    )
    .await;
}

#[tokio::test]
async fn detaching_a_system_disk_needs_the_server_stopped() {
    let env = Env::start().await;
    let inputs = json!({"protected_instance_id": "pi-web-01", "replication_id": "rp-web-01-sys"});
    let (_, code) = env
        .refused("detach_protected_instance_replication", inputs.clone())
        .await;
    assert_eq!(code, "SDRS.1316");
    env.set_servers(&["ecs-web-01"], false).await;
    env.run_ok("detach_protected_instance_replication", inputs)
        .await;
    env.stop().await;
}

fn add_secondary_nic(w: &mut World) {
    let server = w.servers.get_mut("ecs-web-01").expect("server");
    server.nics.push(drbook::emulator::world::Nic {
        port_id: "port-extra".into(),
        subnet_id: "subnet-prod-0001".into(),
        ip_address: "192.168.0.200".into(),
        mac_address: "fa:16:3e:00:00:99".into(),
    });
}

#[tokio::test]
async fn nic_operations_by_instance_and_group_status() {
    let add = json!({"protected_instance_id": "pi-web-01", "subnet_id": "subnet-prod-0001"});
    let delete = json!({"protected_instance_id": "pi-web-01", "nic_id": "port-extra"});
    // 5.5.8 / 5.5.9: instance available or protected; the instance returns to its status.
    for (op, inputs) in [
        ("add_protected_instance_nic", add.clone()),
        ("delete_protected_instance_nic", delete.clone()),
    ] {
        sweep(
            "instance",
            INSTANCE,
            &["available", "protected"],
            "SDRS.1327",
            op,
            inputs.clone(),
            |w, s| {
                add_secondary_nic(w);
                set_instance(w, "pi-web-01", s);
            },
            async |env, status, _| {
                assert_eq!(env.instance_status("pi-web-01").await, *status);
            },
        )
        .await;
        sweep(
            "group",
            GROUP,
            GROUP_AVAILABLE_OR_PROTECTED,
            "SDRS.1024",
            op,
            inputs,
            |w, s| {
                add_secondary_nic(w);
                set_group(w, "pg-web-0001", s);
            },
            async |_, _, _| {},
        )
        .await;
    }
}

#[tokio::test]
async fn resize_by_instance_and_group_status() {
    let inputs = json!({"protected_instance_id": "pi-web-01", "dr_flavorRef": "s6.xlarge.2"});
    // 5.5.10: instance available, protected or error-resizing.
    sweep(
        "instance",
        INSTANCE,
        &["available", "protected", "error-resizing"],
        "SDRS.1314",
        "resize_protected_instance",
        inputs.clone(),
        |w, s| set_instance(w, "pi-web-01", s),
        async |env, _, _| {
            // Resized instances follow their (protected) group again.
            assert_eq!(env.instance_status("pi-web-01").await, "protected");
        },
    )
    .await;
    sweep(
        "group",
        GROUP,
        GROUP_AVAILABLE_OR_PROTECTED,
        "SDRS.1024",
        "resize_protected_instance",
        inputs,
        |w, s| set_group(w, "pg-web-0001", s),
        async |_, _, _| {},
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Replication pairs (5.6)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_replication_by_group_status() {
    // 5.6.1: the group must be available or protected.
    sweep(
        "group",
        GROUP,
        GROUP_AVAILABLE_OR_PROTECTED,
        "SDRS.1024",
        "create_replication",
        json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-01-sys", "name": "rp-new"}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |env, status, job| {
            let id = job["entities"]["replication_pair_id"]
                .as_str()
                .unwrap_or_default();
            assert_eq!(env.pair_status(id).await, *status);
            assert!(
                job["entities"]["volume_ids"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("ecs-app-01-sys,"))
            );
        },
    )
    .await;
}

#[tokio::test]
async fn delete_replication_by_group_and_pair_status() {
    let inputs = json!({"replication_id": "rp-extra"});
    // 5.6.2, group list.
    sweep(
        "group",
        GROUP,
        &[
            "available",
            "protected",
            "failed-over",
            "error-starting",
            "error-stopping",
            "error-reversing",
            "error-failing-over",
            "error-deleting",
            "error-reprotecting",
        ],
        "SDRS.1002",
        "delete_replication",
        inputs.clone(),
        |w, s| {
            add_unattached_pair(w);
            set_group(w, "pg-web-0001", s);
        },
        async |env, _, _| {
            let (_, code) = env
                .refused("show_replication", json!({"replication_id": "rp-extra"}))
                .await;
            assert_eq!(code, "SDRS.1608");
        },
    )
    .await;
    // 5.6.2, pair list.
    sweep(
        "pair",
        PAIR,
        &[
            "available",
            "protected",
            "failed-over",
            "error",
            "error-starting",
            "error-stopping",
            "error-reversing",
            "error-failing-over",
            "error-deleting",
            "error-reprotecting",
            "error-attaching",
            "error-extending",
            "invalid",
            "fault",
        ],
        "SDRS.1601",
        "delete_replication",
        inputs,
        |w, s| {
            add_unattached_pair(w);
            set_pair(w, "rp-extra", s);
        },
        async |_, _, _| {},
    )
    .await;
}

#[tokio::test]
async fn expand_replication_by_pair_status() {
    // 5.6.5: available, protected or error-extending.
    sweep(
        "pair",
        PAIR,
        &["available", "protected", "error-extending"],
        "SDRS.1601",
        "expand_replication",
        json!({"replication_id": "rp-web-01-data", "new_size": 150}),
        |w, s| set_pair(w, "rp-web-01-data", s),
        async |env, _, job| {
            assert_eq!(job["job_type"], "expandReplicationPairNew");
            assert_eq!(env.pair_status("rp-web-01-data").await, "protected");
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// DR drills (5.7)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_drill_by_group_status() {
    // 5.7.1: available, protected, failed-over, error-starting, error-stopping, error-reversing,
    // error-reprotecting or error-failing-over.
    sweep(
        "group",
        GROUP,
        &[
            "available",
            "protected",
            "failed-over",
            "error-starting",
            "error-stopping",
            "error-reversing",
            "error-reprotecting",
            "error-failing-over",
        ],
        "SDRS.1002",
        "create_disaster_recovery_drill",
        json!({"server_group_id": "pg-web-0001", "drill_vpc_id": "vpc-drill-0001", "name": "drill"}),
        |w, s| set_group(w, "pg-web-0001", s),
        async |env, _, job| {
            let id = job["entities"]["disaster_recovery_drill_id"].as_str().unwrap_or_default();
            let d = env.ok("show_disaster_recovery_drill", json!({"disaster_recovery_drill_id": id})).await;
            assert_eq!(d["disaster_recovery_drill"]["status"], "available");
        },
    )
    .await;
}

#[tokio::test]
async fn delete_drill_by_status() {
    // 5.7.2: available, error or error-deleting.
    sweep(
        "drill",
        DRILL,
        &["available", "error", "error-deleting"],
        "SDRS.1913",
        "delete_disaster_recovery_drill",
        json!({"disaster_recovery_drill_id": "drill-1"}),
        |w, s| {
            w.drills.insert(drbook::emulator::world::Drill {
                id: "drill-1".into(),
                name: "d".into(),
                status: DrillStatus::parse(s),
                server_group_id: "pg-web-0001".into(),
                drill_vpc_id: "vpc-drill-0001".into(),
                drill_servers: Vec::new(),
                created_at: jiff::Timestamp::now(),
                updated_at: jiff::Timestamp::now(),
            });
        },
        async |env, _, _| {
            let (_, code) = env
                .refused(
                    "show_disaster_recovery_drill",
                    json!({"disaster_recovery_drill_id": "drill-1"}),
                )
                .await;
            assert_eq!(code, "SDRS.1902");
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Failures of resource jobs, and transitional statuses while jobs run
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn failed_resource_jobs_land_in_their_error_statuses() {
    use drbook::emulator::{FaultAction, FaultRule};
    let env = Env::with_world(add_unattached_pair).await;
    env.emulator
        .add_fault(FaultRule {
            id: None,
            operation: "*".into(),
            resource: None,
            action: FaultAction::JobFail {
                code: "SDRS.0405".into(),
                reason: None,
            },
            rate: None,
            times: None,
        })
        .expect("fault");
    let pi_job = env
        .run(
            "create_protected_instance",
            json!({"server_group_id": "pg-web-0001", "server_id": "ecs-app-01", "name": "pi-new"}),
        )
        .await;
    assert_eq!(pi_job["status"], "FAIL");
    let pi = pi_job["entities"]["protected_instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(env.instance_status(&pi).await, "error");
    let rp_job = env
        .run(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-02-data", "name": "rp-new"}),
        )
        .await;
    let rp = rp_job["entities"]["replication_pair_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let shown = env
        .ok("show_replication", json!({"replication_id": rp}))
        .await;
    assert_eq!(shown["replication"]["status"], "error");
    assert_eq!(shown["replication"]["failure_detail"], "SDRS.0405");
    for (op, inputs, show_pair, expected) in [
        (
            "expand_replication",
            json!({"replication_id": "rp-web-01-data", "new_size": 300}),
            "rp-web-01-data",
            "error-extending",
        ),
        (
            "attach_protected_instance_replication",
            json!({"protected_instance_id": "pi-web-01", "replication_id": "rp-extra", "device": "/dev/vdc"}),
            "rp-extra",
            "error-attaching",
        ),
        (
            "detach_protected_instance_replication",
            json!({"protected_instance_id": "pi-web-02", "replication_id": "rp-web-02-data"}),
            "rp-web-02-data",
            "error-detaching",
        ),
        (
            "delete_replication",
            json!({"replication_id": rp}),
            rp.as_str(),
            "error-deleting",
        ),
    ] {
        let job = env.run(op, inputs).await;
        assert_eq!(job["status"], "FAIL", "{op}");
        assert_eq!(env.pair_status(show_pair).await, expected, "{op}");
    }
    let job = env
        .run(
            "resize_protected_instance",
            json!({"protected_instance_id": "pi-db-01", "dr_flavorRef": "s6.xlarge.2"}),
        )
        .await;
    assert_eq!(job["status"], "FAIL");
    assert_eq!(env.instance_status("pi-db-01").await, "error-resizing");
    let job = env
        .run(
            "add_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-02", "subnet_id": "subnet-prod-0001"}),
        )
        .await;
    assert_eq!(job["status"], "FAIL");
    assert_eq!(
        env.instance_status("pi-web-02").await,
        "protected",
        "NIC failures restore the status"
    );
    let job = env
        .run(
            "delete_protected_instance",
            json!({"protected_instance_id": pi}),
        )
        .await;
    assert_eq!(job["status"], "FAIL");
    assert_eq!(env.instance_status(&pi).await, "error-deleting");
    let drill_job = env
        .run("create_disaster_recovery_drill", json!({"server_group_id": "pg-web-0001", "drill_vpc_id": "vpc-drill-0001", "name": "d"}))
        .await;
    let drill = drill_job["entities"]["disaster_recovery_drill_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let d = env
        .ok(
            "show_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": drill}),
        )
        .await;
    assert_eq!(d["disaster_recovery_drill"]["status"], "error");
    env.run(
        "delete_disaster_recovery_drill",
        json!({"disaster_recovery_drill_id": drill}),
    )
    .await;
    let d = env
        .ok(
            "show_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": drill}),
        )
        .await;
    assert_eq!(d["disaster_recovery_drill"]["status"], "error-deleting");

    // The inner layer of the task center holds them all, by resource type.
    let inner = env
        .ok(
            "list_failure_jobs",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(inner["count"], 11, "{inner}");
    let outer = env.ok("list_failure_jobs", json!({})).await;
    assert_eq!(outer["count"], 0);
    let pairs = env
        .ok(
            "list_failure_jobs",
            json!({"server_group_id": "pg-web-0001", "resource_type": "replications"}),
        )
        .await;
    // create, expand, attach, detach and delete of pairs.
    assert_eq!(pairs["count"], 5);
    let extends = env
        .ok(
            "list_failure_jobs",
            json!({"server_group_id": "pg-web-0001", "failure_status": "expandFail"}),
        )
        .await;
    assert_eq!(extends["count"], 1);
    let one = extends["failure_jobs"][0]["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    env.ok("delete_failure_job", json!({"failure_job_id": one}))
        .await;
    let (_, code) = env
        .refused("delete_failure_job", json!({"failure_job_id": one}))
        .await;
    assert_eq!(code, "SDRS.0201");
    env.ok(
        "delete_server_group_failure_jobs",
        json!({"server_group_id": "pg-web-0001"}),
    )
    .await;
    let inner = env
        .ok(
            "list_failure_jobs",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(inner["count"], 0);
    env.stop().await;
}

#[tokio::test]
async fn resources_show_their_transitional_status_while_a_job_runs() {
    use drbook::emulator::{FaultAction, FaultRule};
    let hang = |op: &str| FaultRule {
        id: None,
        operation: op.into(),
        resource: None,
        action: FaultAction::JobHang,
        rate: None,
        times: Some(1),
    };
    for (op, inputs, expectations) in [
        (
            "stop_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
            vec![
                ("group", "pg-web-0001", "stopping"),
                ("instance", "pi-web-01", "stopping"),
                ("pair", "rp-web-01-sys", "stopping"),
            ],
        ),
        (
            "start_failover_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
            vec![
                ("group", "pg-web-0001", "failing-over"),
                ("instance", "pi-db-01", "failing-over"),
                ("pair", "rp-db-01-sys", "failing-over"),
            ],
        ),
        (
            "expand_replication",
            json!({"replication_id": "rp-web-01-data", "new_size": 200}),
            vec![("pair", "rp-web-01-data", "extending")],
        ),
        (
            "add_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "subnet_id": "subnet-prod-0001"}),
            vec![("instance", "pi-web-01", "nic-creating")],
        ),
        (
            "resize_protected_instance",
            json!({"protected_instance_id": "pi-web-01", "dr_flavorRef": "s6.xlarge.2"}),
            vec![("instance", "pi-web-01", "resizing")],
        ),
        (
            "delete_protected_instance",
            json!({"protected_instance_id": "pi-web-02"}),
            vec![("instance", "pi-web-02", "deleting")],
        ),
        (
            "detach_protected_instance_replication",
            json!({"protected_instance_id": "pi-web-01", "replication_id": "rp-web-01-data"}),
            vec![("pair", "rp-web-01-data", "detaching")],
        ),
    ] {
        let env = Env::start().await;
        env.emulator.add_fault(hang(op)).expect("fault");
        let reply = env.ok(op, inputs).await;
        let job = env
            .ok("show_job_status", json!({"job_id": reply["job_id"]}))
            .await;
        assert_eq!(job["status"], "RUNNING", "{op}");
        assert_eq!(job["end_time"], Value::Null);
        for (kind, id, expected) in expectations {
            let got = match kind {
                "group" => env.group_status(id).await,
                "instance" => env.instance_status(id).await,
                _ => env.pair_status(id).await,
            };
            assert_eq!(got, expected, "{op}: {kind} {id}");
        }
        env.stop().await;
    }
}
