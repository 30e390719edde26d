//! Every operation of the emulator, through drbook's own client (real signatures), against the
//! default world: status codes, response shapes, filters and pagination, side effects.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod emulator_common;

use emulator_common::Env;
use serde_json::{Value, json};

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {list}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn api_versions_and_domains_and_quota() {
    let env = Env::start().await;
    let versions = env.ok("list_api_versions", json!({})).await;
    assert_eq!(versions["versions"][0]["id"], "v1");
    assert_eq!(versions["versions"][0]["status"], "CURRENT");
    let v1 = env
        .ok("show_specified_api_version", json!({"api_version": "v1"}))
        .await;
    assert_eq!(v1["version"]["id"], "v1");
    let (status, _) = env
        .refused("show_specified_api_version", json!({"api_version": "v9"}))
        .await;
    assert_eq!(status, 404);

    let domains = env.ok("list_active_active_domains", json!({})).await;
    let d = &domains["domains"][0];
    assert_eq!(d["id"], "domain-0001");
    assert_eq!(d["name"], "SDRS_HypeMetroDomain");
    assert_eq!(d["sold_out"], false);
    assert_eq!(
        d["local_replication_cluster"]["availability_zone"],
        "cn-north-4a"
    );
    assert_eq!(
        d["remote_replication_cluster"]["availability_zone"],
        "cn-north-4b"
    );

    let quota = env.ok("show_quota", json!({})).await;
    let resources = quota["quotas"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let find = |t: &str| {
        resources
            .iter()
            .find(|r| r["type"] == t)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(find("server_groups")["used"], 1);
    assert_eq!(find("server_groups")["quota"], 10);
    assert_eq!(find("replications")["used"], 6);
    assert_eq!(find("replications")["quota"], 100);
    assert_eq!(find("replications")["max"], -1);

    let rpo = env.ok("list_rpo_statistics", json!({"limit": 10})).await;
    assert_eq!(rpo["count"], 0);
    assert_eq!(rpo["resource_rpo_statistics"], json!([]));
    env.stop().await;
}

async fn create_group(env: &Env, name: &str) -> String {
    let job = env
        .run_ok(
            "create_protection_group",
            json!({
                "name": name,
                "description": "test group",
                "source_availability_zone": "cn-north-4a",
                "target_availability_zone": "cn-north-4b",
                "domain_id": "domain-0001",
                "source_vpc_id": "vpc-prod-0001",
                "dr_type": "migration",
            }),
        )
        .await;
    assert_eq!(job["job_type"], "createProtectionGroupNoCG");
    job["entities"]["server_group_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no server_group_id in {job}"))
        .to_owned()
}

#[tokio::test]
async fn protection_group_create_list_show_rename_delete() {
    let env = Env::start().await;
    let id = create_group(&env, "app-tier").await;
    let shown = env
        .ok("show_protection_group", json!({"server_group_id": id}))
        .await;
    let g = &shown["server_group"];
    assert_eq!(g["name"], "app-tier");
    assert_eq!(g["status"], "available");
    assert_eq!(g["priority_station"], "source");
    assert_eq!(g["domain_name"], "SDRS_HypeMetroDomain");
    assert_eq!(g["protected_instance_num"], 0);
    assert_eq!(g["server_type"], "ECS");
    assert_eq!(g["protection_type"], "replication-pair");
    assert!(
        g["created_at"].as_str().is_some_and(|t| t.len() == 23),
        "{g}"
    );

    let all = env.ok("list_protection_groups", json!({})).await;
    assert_eq!(all["count"], 2);
    let fuzzy = env
        .ok("list_protection_groups", json!({"name": "APP"}))
        .await;
    assert_eq!(ids(&fuzzy, "server_groups"), [id.as_str()]);
    let protected = env
        .ok("list_protection_groups", json!({"status": "protected"}))
        .await;
    assert_eq!(ids(&protected, "server_groups"), ["pg-web-0001"]);
    let stopped = env
        .ok(
            "list_protection_groups",
            json!({"query_type": "stop_protected"}),
        )
        .await;
    assert_eq!(ids(&stopped, "server_groups"), [id.as_str()]);
    let abnormal = env
        .ok(
            "list_protection_groups",
            json!({"query_type": "status_abnormal"}),
        )
        .await;
    assert_eq!(abnormal["count"], 0);
    let no_drill = env
        .ok(
            "list_protection_groups",
            json!({"query_type": "period_no_dr_drill"}),
        )
        .await;
    assert_eq!(no_drill["count"], 2);
    let in_b = env
        .ok(
            "list_protection_groups",
            json!({"availability_zone": "cn-north-4b"}),
        )
        .await;
    assert_eq!(in_b["count"], 0);
    let page = env
        .ok("list_protection_groups", json!({"limit": 1, "offset": 1}))
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["server_groups"].as_array().map(Vec::len), Some(1));
    let past_end = env.ok("list_protection_groups", json!({"offset": 5})).await;
    assert_eq!(past_end["server_groups"], json!([]));
    let (status, code) = env
        .refused("list_protection_groups", json!({"limit": 0}))
        .await;
    assert_eq!((status, code.as_str()), (400, "SDRS.0221"));

    let renamed = env
        .ok(
            "update_protection_group_name",
            json!({"server_group_id": id, "name": "app-tier-2"}),
        )
        .await;
    assert_eq!(renamed["server_group"]["name"], "app-tier-2");
    let (_, code) = env
        .refused(
            "update_protection_group_name",
            json!({"server_group_id": id, "name": "bad name!"}),
        )
        .await;
    assert_eq!(code, "SDRS.0202");

    let job = env
        .run_ok("delete_protection_group", json!({"server_group_id": id}))
        .await;
    assert_eq!(job["job_type"], "deleteProtectionGroupNoCG");
    let (status, code) = env
        .refused("show_protection_group", json!({"server_group_id": id}))
        .await;
    assert_eq!((status, code.as_str()), (400, "SDRS.1013"));
    env.stop().await;
}

#[tokio::test]
async fn group_creation_checks_its_inputs_and_the_quota() {
    let env = Env::start().await;
    let base = json!({
        "name": "g",
        "source_availability_zone": "cn-north-4a",
        "target_availability_zone": "cn-north-4b",
        "domain_id": "domain-0001",
        "source_vpc_id": "vpc-prod-0001",
    });
    let with = |k: &str, v: &str| {
        let mut b = base.clone();
        b[k] = json!(v);
        b
    };
    for (field, value, code) in [
        ("domain_id", "domain-9", "SDRS.0205"),
        ("target_availability_zone", "cn-north-4a", "SDRS.0203"),
        ("source_availability_zone", "cn-north-4z", "SDRS.0203"),
        ("source_vpc_id", "vpc-none", "SDRS.0204"),
        ("dr_type", "backup", "SDRS.0217"),
        ("name", "", "SDRS.0202"),
    ] {
        let (status, got) = env
            .refused("create_protection_group", with(field, value))
            .await;
        assert_eq!((status, got.as_str()), (400, code), "{field}={value}");
    }
    // The default quota is 10 groups; one exists.
    for n in 0..9 {
        env.run_ok("create_protection_group", with("name", &format!("g{n}")))
            .await;
    }
    let (status, code) = env.refused("create_protection_group", base.clone()).await;
    assert_eq!((status, code.as_str()), (400, "SDRS.0305"));
    let quota = env.ok("show_quota", json!({})).await;
    assert_eq!(quota["quotas"]["resources"][0]["used"], 10);
    env.stop().await;
}

#[tokio::test]
async fn protected_instances_create_list_show_rename_delete() {
    let env = Env::start().await;
    let job = env
        .run_ok(
            "create_protected_instance",
            json!({
                "server_group_id": "pg-web-0001",
                "server_id": "ecs-app-01",
                "name": "pi-app-01",
                "description": "app server",
                "tags": [{"key": "tier", "value": "app"}],
            }),
        )
        .await;
    assert_eq!(job["job_type"], "createProtectedInstanceNoCG");
    let id = job["entities"]["protected_instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(job["entities"]["server_group_id"], "pg-web-0001");
    let shown = env
        .ok(
            "show_protected_instance",
            json!({"protected_instance_id": id}),
        )
        .await;
    let pi = &shown["protected_instance"];
    // A new instance in a protected group is protected at once.
    assert_eq!(pi["status"], "protected");
    assert_eq!(pi["source_server"], "ecs-app-01");
    assert_eq!(pi["priority_station"], "source");
    assert_eq!(pi["tags"], json!([{"key": "tier", "value": "app"}]));
    let dr = pi["target_server"].as_str().unwrap_or_default().to_owned();
    let server = env.ok("show_server", json!({"server_id": dr})).await;
    assert_eq!(server["server"]["name"], "ecs-app-01");
    assert_eq!(server["server"]["status"], "SHUTOFF");
    assert_eq!(
        server["server"]["OS-EXT-AZ:availability_zone"],
        "cn-north-4b"
    );

    let by_group = env
        .ok(
            "list_protected_instances",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(by_group["count"], 4);
    let by_groups = env
        .ok(
            "list_protected_instances",
            json!({"server_group_ids": "[\"pg-web-0001\",\"nope\"]", "name": "app"}),
        )
        .await;
    assert_eq!(ids(&by_groups, "protected_instances"), [id.as_str()]);
    let by_ids = env
        .ok(
            "list_protected_instances",
            json!({"protected_instance_ids": format!("['{id}','pi-web-01']")}),
        )
        .await;
    assert_eq!(by_ids["count"], 2);
    let abnormal = env
        .ok(
            "list_protected_instances",
            json!({"query_type": "status_abnormal"}),
        )
        .await;
    assert_eq!(abnormal["count"], 0);
    let in_a = env
        .ok(
            "list_protected_instances",
            json!({"availability_zone": "cn-north-4a", "status": "protected", "limit": 2}),
        )
        .await;
    assert_eq!(in_a["count"], 4);
    assert_eq!(
        in_a["protected_instances"].as_array().map(Vec::len),
        Some(2)
    );

    let renamed = env
        .ok(
            "update_protected_instance_name",
            json!({"protected_instance_id": id, "name": "pi-app-one"}),
        )
        .await;
    assert_eq!(renamed["protected_instance"]["name"], "pi-app-one");

    // The same server cannot be protected twice (A.1 SDRS.1305).
    let (_, code) = env
        .refused(
            "create_protected_instance",
            json!({"server_group_id": "pg-web-0001", "server_id": "ecs-app-01", "name": "again"}),
        )
        .await;
    assert_eq!(code, "SDRS.1305");

    let job = env
        .run_ok(
            "delete_protected_instance",
            json!({"protected_instance_id": id, "delete_target_server": true}),
        )
        .await;
    assert_eq!(job["job_type"], "deleteProtectedInstanceNoCG");
    let (status, code) = env
        .refused(
            "show_protected_instance",
            json!({"protected_instance_id": id}),
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "SDRS.1320"));
    let (status, code) = env.refused("show_server", json!({"server_id": dr})).await;
    assert_eq!((status, code.as_str()), (404, "Ecs.0114"));
    env.stop().await;
}

#[tokio::test]
async fn protected_instance_creation_checks_the_server() {
    let env = Env::with_world(|w| {
        let mut stray = w.servers.get("ecs-app-02").cloned().expect("server");
        stray.id = "ecs-elsewhere".into();
        stray.availability_zone = "cn-north-4b".into();
        w.servers.insert(stray);
        let mut other_vpc = w.servers.get("ecs-app-02").cloned().expect("server");
        other_vpc.id = "ecs-other-vpc".into();
        other_vpc.vpc_id = "vpc-drill-0001".into();
        other_vpc.nics.clear();
        w.servers.insert(other_vpc);
    })
    .await;
    let create =
        |server: &str| json!({"server_group_id": "pg-web-0001", "server_id": server, "name": "x"});
    for (server, code) in [
        ("ecs-none", "SDRS.1326"),
        ("ecs-web-01", "SDRS.1305"),
        ("ecs-elsewhere", "SDRS.1303"),
        ("ecs-other-vpc", "SDRS.1304"),
    ] {
        let (_, got) = env
            .refused("create_protected_instance", create(server))
            .await;
        assert_eq!(got, code, "{server}");
    }
    let mut body = create("ecs-app-01");
    body["primary_ip_address"] = json!("192.168.0.99");
    assert_eq!(
        env.refused("create_protected_instance", body).await.1,
        "SDRS.1380"
    );
    let mut body = create("ecs-app-01");
    body["primary_subnet_id"] = json!("subnet-drill-0001");
    assert_eq!(
        env.refused("create_protected_instance", body).await.1,
        "SDRS.1335"
    );
    let mut body = create("ecs-app-01");
    body["primary_subnet_id"] = json!("subnet-prod-0001");
    body["primary_ip_address"] = json!("192.168.0.11");
    assert_eq!(
        env.refused("create_protected_instance", body).await.1,
        "SDRS.1334"
    );
    let mut body = create("ecs-app-01");
    body["flavorRef"] = json!("m9.huge");
    assert_eq!(
        env.refused("create_protected_instance", body).await.1,
        "SDRS.1353"
    );
    let mut body = create("ecs-app-01");
    body["tenancy"] = json!("shared");
    body["dedicated_host_id"] = json!("deh-1");
    assert_eq!(
        env.refused("create_protected_instance", body).await.1,
        "SDRS.1371"
    );
    let mut body = create("ecs-app-01");
    body["tags"] = json!(
        (0..11)
            .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        env.refused("create_protected_instance", body).await.1,
        "SDRS.2203"
    );
    // With a primary subnet and address, the DR server gets them.
    let mut body = create("ecs-app-01");
    body["primary_subnet_id"] = json!("subnet-prod-0001");
    body["primary_ip_address"] = json!("192.168.0.77");
    body["flavorRef"] = json!("s6.xlarge.2");
    let job = env.run_ok("create_protected_instance", body).await;
    let id = job["entities"]["protected_instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let pi = env
        .ok(
            "show_protected_instance",
            json!({"protected_instance_id": id}),
        )
        .await;
    let dr = pi["protected_instance"]["target_server"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let server = env.ok("show_server", json!({"server_id": dr})).await;
    assert_eq!(server["server"]["flavor"]["id"], "s6.xlarge.2");
    assert_eq!(
        server["server"]["addresses"]["vpc-prod-0001"][0]["addr"],
        "192.168.0.77"
    );
    env.stop().await;
}

#[tokio::test]
async fn batch_create_and_batch_delete_answer_202_with_sub_jobs() {
    let env = Env::start().await;
    let reply = env
        .ok(
            "batch_create_protected_instances",
            json!({
                "name_prefix": "app",
                "server_group_id": "pg-web-0001",
                "servers": [{"server_id": "ecs-app-01"}, {"server_id": "ecs-app-02", "flavorRef": "s6.xlarge.2"}],
            }),
        )
        .await;
    let job = env.wait(reply["job_id"].as_str().unwrap_or_default()).await;
    assert_eq!(job["status"], "SUCCESS");
    let subs = job["entities"]["sub_jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(subs.len(), 2);
    assert!(
        subs.iter()
            .all(|s| s["job_type"] == "createProtectedInstanceNoCG")
    );
    let created: Vec<String> = subs
        .iter()
        .map(|s| {
            s["entities"]["protected_instance_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let listed = env
        .ok("list_protected_instances", json!({"name": "app-000"}))
        .await;
    assert_eq!(listed["count"], 2);
    let names: Vec<&str> = listed["protected_instances"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"app-0001") && names.contains(&"app-0002"),
        "{names:?}"
    );

    // The status code of the batch operations is 202 (5.5.11, 5.5.12): check on the wire.
    let log = env
        .admin_get("/_emulator/calls?operation=batch_create_protected_instances")
        .await;
    assert_eq!(log[0]["status"], 202);

    let (_, code) = env
        .refused(
            "batch_delete_protected_instances",
            json!({"protected_instances": [{"id": created[0]}, {"id": created[0]}]}),
        )
        .await;
    assert_eq!(code, "SDRS.1363");
    let job = env
        .run(
            "batch_delete_protected_instances",
            json!({"protected_instances": created.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(job["status"], "SUCCESS");
    assert_eq!(
        job["entities"]["sub_jobs"].as_array().map(Vec::len),
        Some(2)
    );
    let listed = env
        .ok("list_protected_instances", json!({"name": "app-000"}))
        .await;
    assert_eq!(listed["count"], 0);
    let log = env
        .admin_get("/_emulator/calls?operation=batch_delete_protected_instances")
        .await;
    assert_eq!(log[1]["status"], 202);
    env.stop().await;
}

#[tokio::test]
async fn replication_pairs_create_list_show_expand_rename_delete() {
    let env = Env::start().await;
    let job = env
        .run_ok(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-01-data", "name": "rp-app-01-data"}),
        )
        .await;
    assert_eq!(job["job_type"], "createReplicationPairNoCG");
    let id = job["entities"]["replication_pair_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let shown = env
        .ok("show_replication", json!({"replication_id": id}))
        .await;
    let rp = &shown["replication"];
    assert_eq!(rp["status"], "protected");
    assert_eq!(rp["replication_model"], "hypermetro");
    assert_eq!(rp["fault_level"], "0");
    assert_eq!(rp["record_metadata"]["volume_size"], 100);
    let volume_ids: Vec<&str> = rp["volume_ids"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .collect();
    assert_eq!(volume_ids.len(), 2);
    assert_eq!(volume_ids[0], "ecs-app-01-data");
    assert!(
        rp["created_at"].as_str().is_some_and(|t| t.len() == 26),
        "{rp}"
    );

    let (_, code) = env
        .refused(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-01-data", "name": "again"}),
        )
        .await;
    assert_eq!(code, "SDRS.1811");
    let (_, code) = env
        .refused(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "nope", "name": "x"}),
        )
        .await;
    assert_eq!(code, "SDRS.0211");
    let (_, code) = env
        .refused(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-web-01-sys-dr", "name": "x"}),
        )
        .await;
    assert_eq!(code, "SDRS.1811");

    let all = env
        .ok(
            "list_replications",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(all["count"], 7);
    let of_instance = env
        .ok(
            "list_replications",
            json!({"protected_instance_id": "pi-web-01"}),
        )
        .await;
    assert_eq!(of_instance["count"], 2);
    let of_instances = env
        .ok(
            "list_replications",
            json!({"protected_instance_ids": "[\"pi-web-01\",\"pi-db-01\"]", "name": "data"}),
        )
        .await;
    assert_eq!(of_instances["count"], 2);
    let page = env
        .ok("list_replications", json!({"limit": 3, "offset": 6}))
        .await;
    assert_eq!(page["replications"].as_array().map(Vec::len), Some(1));

    let job = env
        .run_ok(
            "expand_replication",
            json!({"replication_id": id, "new_size": 200}),
        )
        .await;
    assert_eq!(job["job_type"], "expandReplicationPairNew");
    let shown = env
        .ok("show_replication", json!({"replication_id": id}))
        .await;
    assert_eq!(shown["replication"]["record_metadata"]["volume_size"], 200);
    let (_, code) = env
        .refused(
            "expand_replication",
            json!({"replication_id": id, "new_size": 100}),
        )
        .await;
    assert_eq!(code, "SDRS.0201");

    let renamed = env
        .ok(
            "update_replication_name",
            json!({"replication_id": id, "name": "rp-renamed"}),
        )
        .await;
    assert_eq!(renamed["replication"]["name"], "rp-renamed");

    let dr_volume = volume_ids[1].to_owned();
    let job = env
        .run_ok(
            "delete_replication",
            json!({"replication_id": id, "server_group_id": "pg-web-0001", "delete_target_volume": true}),
        )
        .await;
    assert_eq!(job["job_type"], "deleteReplicationPairNoCG");
    let (status, code) = env
        .refused("show_replication", json!({"replication_id": id}))
        .await;
    assert_eq!((status, code.as_str()), (400, "SDRS.1608"));
    let state = env.admin_get("/_emulator/state").await;
    let volumes = state["volumes"].as_array().cloned().unwrap_or_default();
    assert!(!volumes.iter().any(|v| v["id"] == dr_volume.as_str()));
    env.stop().await;
}

#[tokio::test]
async fn attach_and_detach_jobs_carry_string_entities() {
    let env = Env::start().await;
    let pi = env
        .run_ok(
            "create_protected_instance",
            json!({"server_group_id": "pg-web-0001", "server_id": "ecs-app-01", "name": "pi-app"}),
        )
        .await["entities"]["protected_instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rp = env
        .run_ok(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-01-data", "name": "rp-app"}),
        )
        .await["entities"]["replication_pair_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let job = env
        .run_ok(
            "attach_protected_instance_replication",
            json!({"protected_instance_id": pi, "replication_id": rp, "device": "/dev/sdb"}),
        )
        .await;
    assert_eq!(job["job_type"], "attachReplicationPairNew");
    let entities = job["entities"].as_object().cloned().unwrap_or_default();
    assert!(entities.values().all(Value::is_string), "{job}");
    assert_eq!(entities["replication_pair_id"], rp.as_str());
    let shown = env
        .ok(
            "show_protected_instance",
            json!({"protected_instance_id": pi}),
        )
        .await;
    assert_eq!(
        shown["protected_instance"]["attachment"],
        json!([{"replication": rp, "device": "/dev/vdb"}])
    );
    let pair = env
        .ok("show_replication", json!({"replication_id": rp}))
        .await;
    assert_eq!(
        pair["replication"]["attachment"][0]["protected_instance"],
        pi.as_str()
    );
    let (_, code) = env
        .refused(
            "attach_protected_instance_replication",
            json!({"protected_instance_id": pi, "replication_id": rp, "device": "/dev/vdc"}),
        )
        .await;
    assert_eq!(code, "SDRS.1603");
    let (_, code) = env
        .refused("delete_replication", json!({"replication_id": rp}))
        .await;
    assert_eq!(code, "SDRS.1605");

    let job = env
        .run_ok(
            "detach_protected_instance_replication",
            json!({"protected_instance_id": pi, "replication_id": rp}),
        )
        .await;
    assert_eq!(job["job_type"], "detachReplicationPairNew");
    assert!(
        job["entities"]
            .as_object()
            .is_some_and(|e| e.values().all(Value::is_string))
    );
    let (_, code) = env
        .refused(
            "detach_protected_instance_replication",
            json!({"protected_instance_id": pi, "replication_id": rp}),
        )
        .await;
    assert_eq!(code, "SDRS.1604");
    env.stop().await;
}

#[tokio::test]
async fn nics_are_added_and_deleted() {
    let env = Env::start().await;
    let job = env
        .run_ok(
            "add_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "subnet_id": "subnet-prod-0001", "ip_address": "192.168.0.150"}),
        )
        .await;
    assert_eq!(job["job_type"], "addNicNew");
    let nic = job["entities"]["nic_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let server = env
        .ok("show_server", json!({"server_id": "ecs-web-01"}))
        .await;
    let addrs = server["server"]["addresses"]["vpc-prod-0001"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[1]["addr"], "192.168.0.150");
    assert_eq!(env.instance_status("pi-web-01").await, "protected");
    let (_, code) = env
        .refused(
            "add_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "subnet_id": "subnet-prod-0001", "ip_address": "192.168.0.150"}),
        )
        .await;
    assert_eq!(code, "SDRS.1334");
    let (_, code) = env
        .refused(
            "add_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "subnet_id": "subnet-drill-0001"}),
        )
        .await;
    assert_eq!(code, "SDRS.1335");

    let (_, code) = env
        .refused(
            "delete_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "nic_id": "port-ecs-web-01"}),
        )
        .await;
    assert_eq!(code, "SDRS.1311");
    let (_, code) = env
        .refused(
            "delete_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "nic_id": "no-such-port"}),
        )
        .await;
    assert_eq!(code, "SDRS.1310");
    let job = env
        .run_ok(
            "delete_protected_instance_nic",
            json!({"protected_instance_id": "pi-web-01", "nic_id": nic}),
        )
        .await;
    assert_eq!(job["job_type"], "deleteNicNew");
    let server = env
        .ok("show_server", json!({"server_id": "ecs-web-01"}))
        .await;
    assert_eq!(
        server["server"]["addresses"]["vpc-prod-0001"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let dr = env
        .ok("show_server", json!({"server_id": "ecs-web-01-dr"}))
        .await;
    assert_eq!(
        dr["server"]["addresses"]["vpc-prod-0001"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    env.stop().await;
}

#[tokio::test]
async fn resize_needs_stopped_servers_and_a_new_flavor() {
    let env = Env::start().await;
    let (_, code) = env
        .refused(
            "resize_protected_instance",
            json!({"protected_instance_id": "pi-web-01", "production_flavorRef": "s6.xlarge.2"}),
        )
        .await;
    assert_eq!(code, "SDRS.1352");
    let (_, code) = env
        .refused(
            "resize_protected_instance",
            json!({"protected_instance_id": "pi-web-01", "dr_flavorRef": "s6.large.2"}),
        )
        .await;
    assert_eq!(code, "SDRS.1341");
    let (_, code) = env
        .refused(
            "resize_protected_instance",
            json!({"protected_instance_id": "pi-web-01", "dr_flavorRef": "x9.nope"}),
        )
        .await;
    assert_eq!(code, "SDRS.1379");
    let job = env
        .run_ok(
            "resize_protected_instance",
            json!({"protected_instance_id": "pi-web-01", "dr_flavorRef": "s6.xlarge.2"}),
        )
        .await;
    assert_eq!(job["job_type"], "resizeProtectedInstanceNew");
    let dr = env
        .ok("show_server", json!({"server_id": "ecs-web-01-dr"}))
        .await;
    assert_eq!(dr["server"]["flavor"]["id"], "s6.xlarge.2");
    env.set_servers(&["ecs-web-01"], false).await;
    env.run_ok(
        "resize_protected_instance",
        json!({"protected_instance_id": "pi-web-01", "flavorRef": "c7.2xlarge.2"}),
    )
    .await;
    let prod = env
        .ok("show_server", json!({"server_id": "ecs-web-01"}))
        .await;
    assert_eq!(prod["server"]["flavor"]["id"], "c7.2xlarge.2");
    assert_eq!(env.instance_status("pi-web-01").await, "protected");
    env.stop().await;
}

#[tokio::test]
async fn drills_create_list_show_rename_delete() {
    let env = Env::start().await;
    let job = env
        .run_ok(
            "create_disaster_recovery_drill",
            json!({"server_group_id": "pg-web-0001", "drill_vpc_id": "vpc-drill-0001", "name": "drill-1"}),
        )
        .await;
    assert_eq!(job["job_type"], "createDisasterRecoveryDrill");
    let entities = job["entities"].as_object().cloned().unwrap_or_default();
    assert!(entities.values().all(Value::is_string), "{job}");
    let id = entities["disaster_recovery_drill_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let shown = env
        .ok(
            "show_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": id}),
        )
        .await;
    let d = &shown["disaster_recovery_drill"];
    assert_eq!(d["status"], "available");
    assert_eq!(d["drill_vpc_id"], "vpc-drill-0001");
    let servers = d["drill_servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(servers.len(), 3);
    let drill_server = servers[0]["drill_server_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let s = env
        .ok("show_server", json!({"server_id": drill_server}))
        .await;
    assert_eq!(s["server"]["status"], "ACTIVE");
    assert_eq!(s["server"]["OS-EXT-AZ:availability_zone"], "cn-north-4b");

    let listed = env
        .ok(
            "list_disaster_recovery_drills",
            json!({"server_group_id": "pg-web-0001", "name": "DRILL", "status": "available", "drill_vpc_id": "vpc-drill-0001"}),
        )
        .await;
    assert_eq!(listed["count"], 1);
    let renamed = env
        .ok(
            "update_disaster_recovery_drill_name",
            json!({"disaster_recovery_drill_id": id, "name": "drill-2"}),
        )
        .await;
    assert_eq!(renamed["disaster_recovery_drill"]["name"], "drill-2");
    let recent = env
        .ok(
            "list_protection_groups",
            json!({"query_type": "period_no_dr_drill"}),
        )
        .await;
    assert_eq!(recent["count"], 0);
    let (_, code) = env
        .refused(
            "delete_protection_group",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(code, "SDRS.1001");

    let job = env
        .run_ok(
            "delete_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": id}),
        )
        .await;
    assert_eq!(job["job_type"], "deleteDisasterRecoveryDrill");
    let (status, code) = env
        .refused(
            "show_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": id}),
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "SDRS.1902"));
    let (status, _) = env
        .refused("show_server", json!({"server_id": drill_server}))
        .await;
    assert_eq!(status, 404);

    // Without drill_vpc_id a drill VPC is created (5.7.1).
    let job = env
        .run_ok(
            "create_disaster_recovery_drill",
            json!({"server_group_id": "pg-web-0001", "name": "auto-vpc"}),
        )
        .await;
    let id = job["entities"]["disaster_recovery_drill_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let d = env
        .ok(
            "show_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": id}),
        )
        .await;
    let vpc = d["disaster_recovery_drill"]["drill_vpc_id"]
        .as_str()
        .unwrap_or_default();
    assert!(!vpc.is_empty() && vpc != "vpc-prod-0001" && vpc != "vpc-drill-0001");
    for (vpc, code) in [("vpc-prod-0001", "SDRS.1907"), ("vpc-nope", "SDRS.1928")] {
        let (_, got) = env
            .refused(
                "create_disaster_recovery_drill",
                json!({"server_group_id": "pg-web-0001", "drill_vpc_id": vpc, "name": "x"}),
            )
            .await;
        assert_eq!(got, code, "{vpc}");
    }
    env.stop().await;
}

#[tokio::test]
async fn tags_of_protected_instances() {
    let env = Env::start().await;
    let pi = json!({"protected_instance_id": "pi-web-01"});
    let with = |extra: Value| {
        let mut v = pi.clone();
        for (k, x) in extra.as_object().cloned().unwrap_or_default() {
            v[k] = x;
        }
        v
    };
    let reply = env
        .ok(
            "batch_add_tags",
            with(
                json!({"tags": [{"key": "env", "value": "prod"}, {"key": "tier", "value": "web"}]}),
            ),
        )
        .await;
    assert_eq!(reply, json!({}), "204 has no body");
    env.ok(
        "add_protected_instance_tags",
        with(json!({"tag": {"key": "env", "value": "production"}})),
    )
    .await;
    let tags = env.ok("list_protected_instance_tags", pi.clone()).await;
    assert_eq!(
        tags["tags"],
        json!([{"key": "env", "value": "production"}, {"key": "tier", "value": "web"}])
    );
    env.ok(
        "batch_add_tags",
        json!({"protected_instance_id": "pi-db-01", "tags": [{"key": "tier", "value": "db"}]}),
    )
    .await;
    let project = env
        .ok("list_protected_instances_project_tags", json!({}))
        .await;
    assert_eq!(
        project["tags"],
        json!([{"key": "env", "values": ["production"]}, {"key": "tier", "values": ["db", "web"]}])
    );

    let filter = env
        .ok(
            "list_protected_instances_by_tags",
            json!({"action": "filter", "tags": [{"key": "tier", "values": ["web", "db"]}], "not_tags": [{"key": "env", "values": []}]}),
        )
        .await;
    assert_eq!(filter["total_count"], 1);
    assert_eq!(filter["resources"][0]["resource_id"], "pi-db-01");
    assert_eq!(filter["resources"][0]["resource_detail"]["id"], "pi-db-01");
    let fuzzy = env
        .ok(
            "list_protected_instances_by_tags",
            json!({"action": "filter", "tags_any": [{"key": "env", "values": ["*duct"]}], "matches": [{"key": "resource_name", "value": "WEB"}], "limit": "10", "offset": "0"}),
        )
        .await;
    assert_eq!(fuzzy["total_count"], 1);
    let count = env
        .ok(
            "list_protected_instances_by_tags",
            json!({"action": "count", "not_tags_any": [{"key": "tier", "values": []}]}),
        )
        .await;
    assert_eq!(count, json!({"total_count": 1}));
    let (_, code) = env
        .refused(
            "list_protected_instances_by_tags",
            json!({"action": "count", "limit": "5"}),
        )
        .await;
    assert_eq!(code, "SDRS.2211");
    let (_, code) = env
        .refused("list_protected_instances_by_tags", json!({"action": "sum"}))
        .await;
    assert_eq!(code, "SDRS.2210");

    env.ok(
        "batch_delete_tags",
        with(json!({"tags": [{"key": "env", "value": "other"}]})),
    )
    .await;
    assert_eq!(
        env.ok("list_protected_instance_tags", pi.clone()).await["tags"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    env.ok("batch_delete_tags", with(json!({"tags": [{"key": "env"}]})))
        .await;
    env.ok(
        "delete_protected_instance_tag",
        with(json!({"key": "tier"})),
    )
    .await;
    assert_eq!(
        env.ok("list_protected_instance_tags", pi.clone()).await["tags"],
        json!([])
    );
    let (status, code) = env
        .refused(
            "delete_protected_instance_tag",
            with(json!({"key": "tier"})),
        )
        .await;
    assert_eq!((status, code.as_str()), (404, "SDRS.2206"));
    let (_, code) = env
        .refused(
            "batch_add_tags",
            with(json!({"tags": [{"key": "a*b", "value": "x"}]})),
        )
        .await;
    assert_eq!(code, "SDRS.2204");
    let many: Vec<Value> = (0..11)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let (_, code) = env
        .refused("batch_add_tags", with(json!({"tags": many})))
        .await;
    assert_eq!(code, "SDRS.2203");
    // The tag writes answer 204 (5.8.2-5.8.5).
    let log = env
        .admin_get("/_emulator/calls?operation=add_protected_instance_tags")
        .await;
    assert_eq!(log[0]["status"], 204);
    env.stop().await;
}

#[tokio::test]
async fn ecs_subset_shows_stops_and_starts_servers() {
    let env = Env::start().await;
    let server = env
        .ok("show_server", json!({"server_id": "ecs-db-01"}))
        .await;
    let s = &server["server"];
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["flavor"]["id"], "c7.2xlarge.2");
    assert_eq!(s["OS-EXT-AZ:availability_zone"], "cn-north-4a");
    assert_eq!(s["addresses"]["vpc-prod-0001"][0]["addr"], "192.168.0.21");
    assert_eq!(
        s["os-extended-volumes:volumes_attached"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let reply = env
        .ok(
            "batch_stop_servers",
            json!({"servers": [{"id": "ecs-db-01"}, {"id": "ecs-web-02"}], "type": "HARD"}),
        )
        .await;
    let job_id = reply["job_id"].as_str().unwrap_or_default().to_owned();
    let job = env.ok("show_ecs_job", json!({"job_id": job_id})).await;
    assert_eq!(job["status"], "SUCCESS");
    assert_eq!(job["job_type"], "batchStopServer");
    assert_eq!(job["entities"]["sub_jobs_total"], 2);
    assert_eq!(job["entities"]["sub_jobs"][0]["job_type"], "stopServer");
    assert_eq!(env.server_status("ecs-db-01").await, "SHUTOFF");
    assert_eq!(env.server_status("ecs-web-02").await, "SHUTOFF");
    let log = env
        .admin_get(&format!("/_emulator/calls?resource={job_id}"))
        .await;
    assert_eq!(log[0]["operation"], "show_ecs_job");

    env.set_servers(&["ecs-db-01"], true).await;
    assert_eq!(env.server_status("ecs-db-01").await, "ACTIVE");
    let (status, code) = env
        .refused(
            "batch_start_servers",
            json!({"servers": [{"id": "ecs-none"}]}),
        )
        .await;
    assert_eq!((status, code.as_str()), (404, "Ecs.0114"));
    env.stop().await;
}

#[tokio::test]
async fn unknown_ids_get_400_with_the_resource_code_and_unknown_paths_404() {
    let env = Env::start().await;
    for (op, input, code) in [
        (
            "show_protection_group",
            json!({"server_group_id": "nope"}),
            "SDRS.1013",
        ),
        (
            "delete_protection_group",
            json!({"server_group_id": "nope"}),
            "SDRS.1013",
        ),
        (
            "start_protection_group",
            json!({"server_group_id": "nope"}),
            "SDRS.1013",
        ),
        (
            "show_protected_instance",
            json!({"protected_instance_id": "nope"}),
            "SDRS.1320",
        ),
        (
            "delete_protected_instance",
            json!({"protected_instance_id": "nope"}),
            "SDRS.1320",
        ),
        (
            "show_replication",
            json!({"replication_id": "nope"}),
            "SDRS.1608",
        ),
        (
            "delete_replication",
            json!({"replication_id": "nope"}),
            "SDRS.1608",
        ),
        (
            "show_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": "nope"}),
            "SDRS.1902",
        ),
        (
            "delete_disaster_recovery_drill",
            json!({"disaster_recovery_drill_id": "nope"}),
            "SDRS.1902",
        ),
    ] {
        let (status, got) = env.refused(op, input).await;
        assert_eq!((status, got.as_str()), (400, code), "{op}");
    }
    let (status, body) = env
        .raw("GET", &format!("{}/nothing-here", env.v1()), None, |_| {})
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error_code"], "APIGW.0101");
    let (status, body) = env
        .raw(
            "POST",
            &format!("{}/server-groups/pg-web-0001/action", env.v1()),
            Some(r#"{"explode-server-group": {}}"#),
            |_| {},
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SDRS.0206"))
    );
    let (status, body) = env
        .raw(
            "POST",
            &format!("{}/protected-instances/pi-web-01/tags/action", env.v1()),
            Some(r#"{"action": "upsert", "tags": []}"#),
            |_| {},
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SDRS.2201"))
    );
    let (status, body) = env
        .raw(
            "POST",
            &format!("{}/server-groups", env.v1()),
            Some("{not json"),
            |_| {},
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SDRS.0201"))
    );
    let (status, body) = env
        .raw(
            "POST",
            &format!("{}/server-groups", env.v1()),
            Some(r#"{"server_group": {"name": "x"}}"#),
            |_| {},
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("source_availability_zone")),
        "{body}"
    );
    env.stop().await;
}

#[tokio::test]
async fn the_replication_pair_quota_is_enforced() {
    let env = Env::with_world(|w| w.quotas.replications = 7).await;
    env.run_ok(
        "create_replication",
        json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-01-data", "name": "rp-7"}),
    )
    .await;
    let (status, code) = env
        .refused(
            "create_replication",
            json!({"server_group_id": "pg-web-0001", "volume_id": "ecs-app-02-data", "name": "rp-8"}),
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "SDRS.0306"));
    let quota = env.ok("show_quota", json!({})).await;
    assert_eq!(quota["quotas"]["resources"][1]["used"], 7);
    assert_eq!(quota["quotas"]["resources"][1]["quota"], 7);
    env.stop().await;
}

#[tokio::test]
async fn the_task_center_keeps_group_level_and_inner_failures_apart() {
    use drbook::emulator::{FaultAction, FaultRule};
    let env = Env::start().await;
    env.emulator
        .add_fault(FaultRule {
            id: None,
            operation: "*".into(),
            resource: None,
            action: FaultAction::JobFail {
                code: "SDRS.0405".into(),
                reason: Some("injected".into()),
            },
            rate: None,
            times: Some(2),
        })
        .expect("fault");
    let job = env
        .run(
            "create_protection_group",
            json!({"name": "doomed", "source_availability_zone": "cn-north-4a", "target_availability_zone": "cn-north-4b", "domain_id": "domain-0001", "source_vpc_id": "vpc-prod-0001"}),
        )
        .await;
    assert_eq!(job["status"], "FAIL");
    let doomed = job["entities"]["server_group_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(env.group_status(&doomed).await, "error");
    let job = env
        .run(
            "create_protected_instance",
            json!({"server_group_id": "pg-web-0001", "server_id": "ecs-app-01", "name": "doomed-pi"}),
        )
        .await;
    assert_eq!(job["status"], "FAIL");

    let outer = env.ok("list_failure_jobs", json!({})).await;
    assert_eq!(outer["count"], 1);
    let f = &outer["failure_jobs"][0];
    assert_eq!(f["resource_type"], "server_groups");
    assert_eq!(f["failure_status"], "createFail");
    assert_eq!(f["resource_name"], "doomed");
    assert_eq!(f["job_type"], "createProtectionGroupNoCG");
    let inner = env
        .ok(
            "list_failure_jobs",
            json!({"server_group_id": "pg-web-0001", "resource_name": "doomed"}),
        )
        .await;
    assert_eq!(inner["count"], 1);
    assert_eq!(
        inner["failure_jobs"][0]["resource_type"],
        "protected_instances"
    );
    let (_, code) = env
        .refused(
            "list_failure_jobs",
            json!({"failure_status": "explodeFail"}),
        )
        .await;
    assert_eq!(code, "SDRS.0201");

    env.ok("delete_all_server_group_failure_jobs", json!({}))
        .await;
    assert_eq!(env.ok("list_failure_jobs", json!({})).await["count"], 0);
    let inner = env
        .ok(
            "list_failure_jobs",
            json!({"server_group_id": "pg-web-0001"}),
        )
        .await;
    assert_eq!(inner["count"], 1, "the inner layer is kept");
    let log = env
        .admin_get("/_emulator/calls?operation=delete_all_server_group_failure_jobs")
        .await;
    assert_eq!(log[0]["status"], 204);
    // A group in error can be deleted.
    env.run_ok(
        "delete_protection_group",
        json!({"server_group_id": doomed}),
    )
    .await;
    env.stop().await;
}
