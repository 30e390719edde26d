//! Samples for testing drbook's SDRS client against a stub: credentials, sample inputs for every
//! operation with the request they must produce (derived from the operation table independently
//! of the client's request builder), canned responses written from the reference, a call of every
//! typed method with the same sample values, and the error body forms with the errors they must
//! become. The emulator's tests can reuse the inputs and canned responses.

use std::sync::{Arc, Mutex};

use drbook::sdrs::models::*;
use drbook::sdrs::operations::{Body, Kind, Operation, Param};
use drbook::sdrs::signer::{self, ClockCheck, SignableRequest};
use drbook::sdrs::{Client, Credentials, Endpoint, Error, ErrorClass};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::capture::{CaptureServer, Captured, Reply};

pub const AK: &str = "HPUATESTAK0000000042";
pub const SK: &str = "Sk-Drbook-Test-Secret-9f8e7d6c5b4a3210";
pub const PROJECT: &str = "0605767ef300d5762fd3c0147d8a8f1e";

pub fn credentials() -> Credentials {
    Credentials::new(AK, SecretString::from(SK), PROJECT)
}

pub fn client(url: &str) -> Client {
    Client::builder(credentials(), Endpoint::Url(url.to_owned()))
        .build()
        .unwrap()
}

pub fn signature_is_valid(captured: &Captured) -> bool {
    let request = SignableRequest {
        method: &captured.method,
        path: &captured.path,
        query: &captured.query,
        headers: &captured.headers,
        body: &captured.body,
    };
    signer::verify(
        &request,
        |ak| (ak == AK).then(|| SecretString::from(SK)),
        ClockCheck::Skip,
    )
    .is_ok()
}

// ---------------------------------------------------------------------------------------------
// Sample inputs and the request they must produce, derived from the table independently of the
// client's request builder: every value is made of unreserved characters, so no encoding applies.

pub fn sample_scalar(name: &str, kind: Kind) -> Value {
    match kind {
        Kind::String => Value::from(format!("v-{name}")),
        Kind::Integer => Value::from(7),
        Kind::Boolean => Value::from(true),
        Kind::StringList => json!(["a", "b"]),
        Kind::Object | Kind::ObjectList => unreachable!("objects are built from item fields"),
    }
}

pub fn sample_object(op: &Operation, input: &str) -> Value {
    let mut object = Map::new();
    for field in op.item_fields(input).unwrap() {
        object.insert(field.name.to_owned(), sample_scalar(field.name, field.kind));
    }
    Value::Object(object)
}

pub fn sample_value(op: &Operation, param: &Param) -> Value {
    match param.kind {
        Kind::Object => sample_object(op, param.name),
        Kind::ObjectList => Value::Array(vec![sample_object(op, param.name)]),
        kind => sample_scalar(param.name, kind),
    }
}

pub fn sample_inputs(op: &Operation) -> Map<String, Value> {
    op.inputs()
        .map(|p| (p.name.to_owned(), sample_value(op, p)))
        .collect()
}

pub fn expected_path(op: &Operation) -> String {
    op.path
        .split('/')
        .map(|segment| match segment {
            "{project_id}" => PROJECT.to_owned(),
            s if s.starts_with('{') => format!("v-{}", &s[1..s.len() - 1]),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub fn expected_query(op: &Operation) -> String {
    let mut pairs: Vec<String> = op
        .query
        .iter()
        .map(|p| {
            let value = sample_value(op, p);
            let text = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            format!("{}={}", p.name, text)
        })
        .collect();
    pairs.sort();
    pairs.join("&")
}

pub fn expected_body(op: &Operation) -> Option<Value> {
    match op.body {
        Body::None => None,
        Body::Wrapped { key, fields } => {
            let inner: Map<String, Value> = fields
                .iter()
                .map(|f| (f.name.to_owned(), sample_value(op, f)))
                .collect();
            Some(json!({ key: inner }))
        }
        Body::TopLevel { fields, fixed } => {
            let mut members: Map<String, Value> = fields
                .iter()
                .map(|f| (f.name.to_owned(), sample_value(op, f)))
                .collect();
            for (name, value) in fixed {
                members.insert((*name).to_owned(), Value::from(*value));
            }
            Some(Value::Object(members))
        }
    }
}

pub fn assert_request_shape(op: &Operation, captured: &Captured, how: &str) {
    let what = format!("{} via {how}", op.name);
    assert_eq!(captured.method, op.method.as_str(), "{what}");
    assert_eq!(captured.path, expected_path(op), "{what}");
    assert_eq!(captured.query, expected_query(op), "{what}");
    match expected_body(op) {
        None => assert!(captured.body.is_empty(), "{what}: unexpected body"),
        Some(body) => assert_eq!(captured.body_json(), Some(body), "{what}"),
    }
    let content_type = if op.body == Body::None {
        "application/json"
    } else {
        "application/json;charset=utf-8"
    };
    assert_eq!(
        captured.header("content-type"),
        Some(content_type),
        "{what}"
    );
    assert_eq!(captured.header("x-project-id"), Some(PROJECT), "{what}");
    assert!(signature_is_valid(captured), "{what}: bad signature");
    assert_eq!(
        captured
            .header("authorization")
            .unwrap()
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next(),
        Some("content-type;host;user-agent;x-project-id;x-sdk-date"),
        "{what}"
    );
}

// ---------------------------------------------------------------------------------------------
// Canned responses, written from the reference's samples and field tables.

pub fn protection_group() -> Value {
    json!({
        "id": "40df180b-9fe2-471a-8c64-1b758dc84189", "name": "testname", "description": "description",
        "status": "protected", "progress": 100, "source_availability_zone": "cn-north-1a",
        "target_availability_zone": "cn-north-1b", "domain_id": "fb4bb8e3-a574-4437-a156-78c916aeea4d",
        "domain_name": "ActiveactiveDomain", "priority_station": "source", "protected_instance_num": 2,
        "replication_num": 3, "disaster_recovery_drill_num": 1, "protected_status": null,
        "replication_status": null, "health_status": null, "source_vpc_id": "046852ef",
        "target_vpc_id": "046852ef", "test_vpc_id": null, "dr_type": "migration",
        "created_at": "2019-05-23 03:51:58.256", "updated_at": "2019-05-23 07:48:12.484",
        "protection_type": "replication-pair", "replication_model": null, "server_type": "ECS"
    })
}

pub fn protected_instance() -> Value {
    json!({
        "id": "pi-1", "name": "web", "description": "d", "status": "protected", "source_server": "s-1",
        "target_server": "s-2", "server_group_id": "sg-1", "created_at": "2019-05-23 03:51:58.256",
        "updated_at": "2019-05-23 07:48:12.484", "metadata": {"__system__frozen": ""},
        "attachment": [{"replication": "r-1", "device": "/dev/vda"}],
        "tags": [{"key": "env", "value": "prod"}], "progress": 100, "priority_station": "source"
    })
}

pub fn replication() -> Value {
    json!({
        "id": "r-1", "name": "rep", "description": null, "status": "protected", "volume_ids": "vol-1,vol-2",
        "attachment": [{"protected_instance": "pi-1", "device": "/dev/vda"}],
        "created_at": "2019-04-01T12:00:00.000000", "updated_at": "2019-04-01T12:00:00.000000",
        "replication_model": "hypermetro", "progress": 100, "failure_detail": null,
        "record_metadata": {"multiattach": false, "bootable": true, "volume_size": 40, "volume_type": "SSD"},
        "fault_level": "0", "server_group_id": "sg-1", "priority_station": "source",
        "replication_status": "active"
    })
}

pub fn drill() -> Value {
    json!({
        "id": "d-1", "name": "drill", "status": "available", "drill_vpc_id": "vpc-d",
        "created_at": "2019-04-01 12:00:00.000", "updated_at": "2019-04-01 12:00:00.000",
        "server_group_id": "sg-1", "drill_servers": [{"protected_instance": "pi-1", "drill_server_id": "s-9"}]
    })
}

pub fn api_version() -> Value {
    json!({"id": "v1", "links": [{"rel": "self", "href": "https://sdrs.example.com/v1"}],
           "version": "", "status": "CURRENT", "updated": "2018-05-30T15:00:00Z", "min_version": ""})
}

/// The success answer of each operation: (status, body; `None` for an empty body).
pub fn canned(op: &Operation) -> (u16, Option<Value>) {
    if op.returns_job {
        return (
            op.success_status,
            Some(json!({"job_id": format!("job-{}", op.name)})),
        );
    }
    if op.success_status == 204 {
        return (204, None);
    }
    let body = match op.name {
        "show_job_status" => json!({
            "status": "SUCCESS", "job_id": "job-1", "job_type": "createProtectionGroupNoCG",
            "begin_time": "2018-04-19T01:55:30.443Z", "end_time": "2018-04-19T01:55:45.493Z",
            "error_code": null, "fail_reason": null,
            "entities": {"server_group_id": "sg-1", "sub_jobs": [{
                "status": "SUCCESS", "job_id": "sub-1", "job_type": "stopProtectionGroupRepNoCG",
                "begin_time": "2019-06-13T09:40:55.015Z", "end_time": "2019-06-13T09:40:58.951Z",
                "error_code": null, "fail_reason": null, "entities": {"server_group_id": "sg-1"}}]}
        }),
        "list_api_versions" => json!({"versions": [api_version()]}),
        "show_specified_api_version" => json!({"version": api_version()}),
        "list_active_active_domains" => json!({"domains": [{
            "id": "fb4bb8e3", "name": "ActiveactiveDomain", "description": "my domain", "sold_out": false,
            "local_replication_cluster": {"availability_zone": "cn-north-1a"},
            "remote_replication_cluster": {"availability_zone": "cn-north-1b"}}]}),
        "list_protection_groups" => json!({"server_groups": [protection_group()], "count": 1}),
        "show_protection_group" | "update_protection_group_name" => {
            json!({"server_group": protection_group()})
        }
        "list_protected_instances" => {
            json!({"protected_instances": [protected_instance()], "count": 1})
        }
        "show_protected_instance" | "update_protected_instance_name" => {
            json!({"protected_instance": protected_instance()})
        }
        "list_replications" => json!({"replications": [replication()], "count": 1}),
        "show_replication" | "update_replication_name" => json!({"replication": replication()}),
        "list_disaster_recovery_drills" => {
            json!({"disaster_recovery_drills": [drill()], "count": 1})
        }
        "show_disaster_recovery_drill" | "update_disaster_recovery_drill_name" => {
            json!({"disaster_recovery_drill": drill()})
        }
        "list_protected_instances_by_tags" => json!({"resources": [{
            "resource_id": "pi-1", "resource_detail": protected_instance(),
            "tags": [{"key": "env", "value": "prod"}], "resource_name": "web"}], "total_count": 1}),
        "list_protected_instance_tags" => json!({"tags": [{"key": "env", "value": "prod"}]}),
        "list_protected_instances_project_tags" => {
            json!({"tags": [{"key": "env", "values": ["prod", "test"]}]})
        }
        "list_failure_jobs" => json!({"failure_jobs": [{
            "job_type": "createProtectedInstanceNoCG", "job_status": "FAIL",
            "begin_time": "2019-04-01T12:00:00.000Z", "job_id": "j-9", "failure_status": "createFail",
            "resource_id": "pi-1", "resource_name": "web", "error_code": "SDRS.1311",
            "fail_reason": "quota", "resource_type": "protected_instances"}], "count": 1}),
        "show_quota" => json!({"quotas": {"resources": [
            {"type": "server_groups", "used": 1, "quota": 10, "min": 0, "max": -1},
            {"type": "replications", "used": 3, "quota": 100, "min": 0, "max": -1}]}}),
        "list_rpo_statistics" => json!({"resource_rpo_statistics": [{
            "id": "rpo-1", "point_time": "2024-01-01T00:00:00Z", "resource_num": 3,
            "resource_type": "server_groups", "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z"}], "count": 1}),
        "show_server" => json!({"server": {
            "id": "v-server_id", "name": "web", "status": "ACTIVE", "OS-EXT-STS:vm_state": "active",
            "OS-EXT-STS:task_state": null, "OS-EXT-STS:power_state": 1,
            "OS-EXT-AZ:availability_zone": "az-1a",
            "flavor": {"id": "s6.small.1", "name": "s6.small.1", "vcpus": "1", "ram": "1024", "disk": "0"},
            "addresses": {"net": [{"addr": "192.168.0.5", "version": 4}]},
            "metadata": {"image_name": "CentOS"}, "locked": false, "created": "2024-01-01T00:00:00Z",
            "updated": "2024-01-01T00:00:00Z", "description": "", "hostId": "abc", "key_name": null}}),
        "show_ecs_job" => json!({
            "status": "SUCCESS", "job_id": "ecs-job-1", "job_type": "batchStopServers",
            "begin_time": "2024-01-01T00:00:00.000Z", "end_time": "2024-01-01T00:00:05.000Z",
            "error_code": null, "fail_reason": null, "code": null, "message": null,
            "entities": {"sub_jobs_total": 1, "sub_jobs": [{
                "status": "SUCCESS", "entities": {"server_id": "s-1"}, "job_id": "j-s1",
                "job_type": "stopServer", "begin_time": "2024-01-01T00:00:00.000Z",
                "end_time": "2024-01-01T00:00:05.000Z", "error_code": null, "fail_reason": null}]}
        }),
        other => panic!("no canned response for {other}"),
    };
    (200, Some(body))
}

/// `expected` is contained in `actual`: every member of an expected object is present with a
/// contained value; arrays match element by element.
pub fn assert_contained(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let inner = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} missing from the decoded model"));
                assert_contained(value, inner, &format!("{path}.{key}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{path}: array length");
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_contained(ev, av, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(expected, actual, "{path}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The typed methods, called with the same sample values as the generic inputs.

pub fn v(name: &str) -> String {
    format!("v-{name}")
}

pub fn tag() -> ResourceTag {
    ResourceTag {
        key: v("key"),
        value: v("value"),
    }
}

pub fn tag_values() -> Vec<TagValues> {
    vec![TagValues {
        key: v("key"),
        values: vec!["a".into(), "b".into()],
    }]
}

pub async fn typed_call(client: &Client, op: &str) -> Result<Value, Error> {
    fn to<T: serde::Serialize>(result: Result<T, Error>) -> Result<Value, Error> {
        result.map(|t| serde_json::to_value(t).unwrap())
    }
    let pg = v("server_group_id");
    let pi = v("protected_instance_id");
    let rep = v("replication_id");
    let drill = v("disaster_recovery_drill_id");
    match op {
        "show_job_status" => to(client.show_job_status(&v("job_id")).await),
        "list_api_versions" => to(client.list_api_versions().await),
        "show_specified_api_version" => {
            to(client.show_specified_api_version(&v("api_version")).await)
        }
        "list_active_active_domains" => to(client.list_active_active_domains().await),
        "create_protection_group" => to(client
            .create_protection_group(&CreateProtectionGroupParams {
                name: v("name"),
                description: Some(v("description")),
                source_availability_zone: v("source_availability_zone"),
                target_availability_zone: v("target_availability_zone"),
                domain_id: v("domain_id"),
                source_vpc_id: v("source_vpc_id"),
                dr_type: Some(DrType::parse(&v("dr_type"))),
            })
            .await),
        "list_protection_groups" => to(client
            .list_protection_groups(&ListProtectionGroupsQuery {
                limit: Some(7),
                offset: Some(7),
                status: Some(ProtectionGroupStatus::parse(&v("status"))),
                name: Some(v("name")),
                query_type: Some(QueryType::parse(&v("query_type"))),
                availability_zone: Some(v("availability_zone")),
            })
            .await),
        "show_protection_group" => to(client.show_protection_group(&pg).await),
        "delete_protection_group" => to(client.delete_protection_group(&pg).await),
        "update_protection_group_name" => {
            to(client.update_protection_group_name(&pg, &v("name")).await)
        }
        "start_protection_group" => to(client.start_protection_group(&pg).await),
        "stop_protection_group" => to(client.stop_protection_group(&pg).await),
        "start_failover_protection_group" => to(client.start_failover_protection_group(&pg).await),
        "start_reverse_protection_group" => to(client
            .start_reverse_protection_group(&pg, &PriorityStation::parse(&v("priority_station")))
            .await),
        "create_protected_instance" => to(client
            .create_protected_instance(&CreateProtectedInstanceParams {
                server_group_id: pg,
                server_id: v("server_id"),
                name: v("name"),
                description: Some(v("description")),
                cluster_id: Some(v("cluster_id")),
                primary_subnet_id: Some(v("primary_subnet_id")),
                primary_ip_address: Some(v("primary_ip_address")),
                tags: Some(vec![tag()]),
                flavor_ref: Some(v("flavorRef")),
                tenancy: Some(Tenancy::parse(&v("tenancy"))),
                dedicated_host_id: Some(v("dedicated_host_id")),
            })
            .await),
        "delete_protected_instance" => to(client
            .delete_protected_instance(
                &pi,
                &DeleteProtectedInstanceRequestBody {
                    delete_target_server: Some(true),
                    delete_target_eip: Some(true),
                },
            )
            .await),
        "list_protected_instances" => to(client
            .list_protected_instances(&ListProtectedInstancesQuery {
                server_group_id: Some(pg),
                server_group_ids: Some(v("server_group_ids")),
                protected_instance_ids: Some(v("protected_instance_ids")),
                limit: Some(7),
                offset: Some(7),
                status: Some(ProtectedInstanceStatus::parse(&v("status"))),
                name: Some(v("name")),
                query_type: Some(QueryType::parse(&v("query_type"))),
                availability_zone: Some(v("availability_zone")),
            })
            .await),
        "show_protected_instance" => to(client.show_protected_instance(&pi).await),
        "update_protected_instance_name" => {
            to(client.update_protected_instance_name(&pi, &v("name")).await)
        }
        "attach_protected_instance_replication" => to(client
            .attach_protected_instance_replication(
                &pi,
                &AttachReplicationParams {
                    replication_id: rep,
                    device: v("device"),
                },
            )
            .await),
        "detach_protected_instance_replication" => to(client
            .detach_protected_instance_replication(&pi, &rep)
            .await),
        "add_protected_instance_nic" => to(client
            .add_protected_instance_nic(
                &pi,
                &AddNicRequestBody {
                    subnet_id: v("subnet_id"),
                    security_groups: Some(vec![SecurityGroupRef { id: v("id") }]),
                    ip_address: Some(v("ip_address")),
                },
            )
            .await),
        "delete_protected_instance_nic" => to(client
            .delete_protected_instance_nic(&pi, &v("nic_id"))
            .await),
        "resize_protected_instance" => to(client
            .resize_protected_instance(
                &pi,
                &ResizeParams {
                    flavor_ref: Some(v("flavorRef")),
                    production_flavor_ref: Some(v("production_flavorRef")),
                    dr_flavor_ref: Some(v("dr_flavorRef")),
                    production_dedicated_host_id: Some(v("production_dedicated_host_id")),
                    dr_dedicated_host_id: Some(v("dr_dedicated_host_id")),
                },
            )
            .await),
        "batch_create_protected_instances" => to(client
            .batch_create_protected_instances(&BatchCreateProtectedInstancesParams {
                name_prefix: v("name_prefix"),
                description: Some(v("description")),
                server_group_id: pg,
                cluster_id: Some(v("cluster_id")),
                primary_subnet_id: Some(v("primary_subnet_id")),
                tenancy: Some(Tenancy::parse(&v("tenancy"))),
                dedicated_host_id: Some(v("dedicated_host_id")),
                servers: vec![ServerInfo {
                    server_id: v("server_id"),
                    flavor_ref: Some(v("flavorRef")),
                }],
                tags: Some(vec![tag()]),
            })
            .await),
        "batch_delete_protected_instances" => to(client
            .batch_delete_protected_instances(&BatchDeleteProtectedInstancesRequestBody {
                protected_instances: vec![ResourceId { id: v("id") }],
                delete_target_server: Some(true),
                delete_target_eip: Some(true),
            })
            .await),
        "create_replication" => to(client
            .create_replication(&CreateReplicationParams {
                server_group_id: pg,
                volume_id: v("volume_id"),
                name: v("name"),
                description: Some(v("description")),
                cluster_id: Some(v("cluster_id")),
            })
            .await),
        "delete_replication" => to(client
            .delete_replication(
                &rep,
                &DeleteReplicationParams {
                    server_group_id: Some(pg),
                    delete_target_volume: Some(true),
                },
            )
            .await),
        "list_replications" => to(client
            .list_replications(&ListReplicationsQuery {
                server_group_id: Some(pg),
                server_group_ids: Some(v("server_group_ids")),
                protected_instance_id: Some(pi),
                protected_instance_ids: Some(v("protected_instance_ids")),
                name: Some(v("name")),
                status: Some(ReplicationStatus::parse(&v("status"))),
                limit: Some(7),
                offset: Some(7),
                query_type: Some(QueryType::parse(&v("query_type"))),
                availability_zone: Some(v("availability_zone")),
            })
            .await),
        "show_replication" => to(client.show_replication(&rep).await),
        "expand_replication" => to(client.expand_replication(&rep, 7).await),
        "update_replication_name" => to(client.update_replication_name(&rep, &v("name")).await),
        "create_disaster_recovery_drill" => to(client
            .create_disaster_recovery_drill(&CreateDrillParams {
                server_group_id: pg,
                drill_vpc_id: Some(v("drill_vpc_id")),
                name: v("name"),
            })
            .await),
        "delete_disaster_recovery_drill" => to(client.delete_disaster_recovery_drill(&drill).await),
        "list_disaster_recovery_drills" => to(client
            .list_disaster_recovery_drills(&ListDrillsQuery {
                server_group_id: Some(pg),
                name: Some(v("name")),
                status: Some(DrillStatus::parse(&v("status"))),
                drill_vpc_id: Some(v("drill_vpc_id")),
                limit: Some(7),
                offset: Some(7),
            })
            .await),
        "show_disaster_recovery_drill" => to(client.show_disaster_recovery_drill(&drill).await),
        "update_disaster_recovery_drill_name" => to(client
            .update_disaster_recovery_drill_name(&drill, &v("name"))
            .await),
        "list_protected_instances_by_tags" => to(client
            .list_protected_instances_by_tags(&ListByTagsRequestBody {
                tags: Some(tag_values()),
                tags_any: Some(tag_values()),
                not_tags: Some(tag_values()),
                not_tags_any: Some(tag_values()),
                limit: Some(v("limit")),
                offset: Some(v("offset")),
                action: TagQueryAction::parse(&v("action")),
                matches: Some(vec![TagMatch {
                    key: v("key"),
                    value: v("value"),
                }]),
            })
            .await),
        "batch_add_tags" => to(client.batch_add_tags(&pi, &[tag()]).await),
        "batch_delete_tags" => to(client
            .batch_delete_tags(
                &pi,
                &[DeleteResourceTag {
                    key: v("key"),
                    value: Some(v("value")),
                }],
            )
            .await),
        "add_protected_instance_tags" => to(client.add_protected_instance_tags(&pi, &tag()).await),
        "delete_protected_instance_tag" => {
            to(client.delete_protected_instance_tag(&pi, &v("key")).await)
        }
        "list_protected_instance_tags" => to(client.list_protected_instance_tags(&pi).await),
        "list_protected_instances_project_tags" => {
            to(client.list_protected_instances_project_tags().await)
        }
        "list_failure_jobs" => to(client
            .list_failure_jobs(&ListFailureJobsQuery {
                failure_status: Some(FailureStatus::parse(&v("failure_status"))),
                resource_name: Some(v("resource_name")),
                server_group_id: Some(pg),
                resource_type: Some(ResourceType::parse(&v("resource_type"))),
                limit: Some(7),
                offset: Some(7),
            })
            .await),
        "delete_failure_job" => to(client.delete_failure_job(&v("failure_job_id")).await),
        "delete_all_server_group_failure_jobs" => {
            to(client.delete_all_server_group_failure_jobs().await)
        }
        "delete_server_group_failure_jobs" => {
            to(client.delete_server_group_failure_jobs(&pg).await)
        }
        "show_quota" => to(client.show_quota().await),
        "list_rpo_statistics" => to(client
            .list_rpo_statistics(&ListRpoStatisticsQuery {
                limit: Some(7),
                offset: Some(7),
                start_time: Some(v("start_time")),
                end_time: Some(v("end_time")),
                resource_type: Some(ResourceType::parse(&v("resource_type"))),
            })
            .await),
        "batch_stop_servers" => to(client
            .batch_stop_servers(&StopServersParams {
                servers: vec![ServerId { id: v("id") }],
                stop_type: Some(StopType::parse(&v("type"))),
            })
            .await),
        "batch_start_servers" => to(client
            .batch_start_servers(&StartServersParams {
                servers: vec![ServerId { id: v("id") }],
            })
            .await),
        "show_server" => to(client.show_server(&v("server_id")).await),
        "show_ecs_job" => to(client.show_ecs_job(&v("job_id")).await),
        other => panic!("no typed call for {other}"),
    }
}

// ---------------------------------------------------------------------------------------------

/// What the stub answers next.
#[derive(Clone)]
pub enum Mode {
    Success(&'static Operation),
    Fail(Reply),
}

pub fn stub() -> (CaptureServer, Arc<Mutex<Mode>>) {
    let mode = Arc::new(Mutex::new(Mode::Fail(Reply::empty(500))));
    let shared = Arc::clone(&mode);
    let server = CaptureServer::start(move |_request| match shared.lock().unwrap().clone() {
        Mode::Success(op) => {
            let (status, body) = canned(op);
            match body {
                Some(body) => Reply::json(status, &body).with_header("X-Request-Id", "req-ok"),
                None => Reply::empty(status),
            }
        }
        Mode::Fail(reply) => reply,
    });
    (server, mode)
}

/// An error answer and the error it must become.
pub struct ErrorForm {
    pub reply: Reply,
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
    pub request_id: Option<&'static str>,
    pub class: ErrorClass,
}

pub fn form(
    reply: Reply,
    status: u16,
    code: &'static str,
    message: &'static str,
    request_id: Option<&'static str>,
    class: ErrorClass,
) -> ErrorForm {
    ErrorForm {
        reply,
        status,
        code,
        message,
        request_id,
        class,
    }
}

pub fn error_forms() -> Vec<ErrorForm> {
    vec![
        form(
            Reply::json(
                400,
                &json!({"error": {"code": "SDRS.0209", "message": "Incorrect status"}}),
            )
            .with_header("X-Request-Id", "req-400"),
            400,
            "SDRS.0209",
            "Incorrect status",
            Some("req-400"),
            ErrorClass::Permanent,
        ),
        form(
            Reply::json(
                404,
                &json!({"itemNotFound": {"message": "Protection group not found", "code": "SDRS.1013"}}),
            ),
            404,
            "SDRS.1013",
            "Protection group not found",
            None,
            ErrorClass::Permanent,
        ),
        form(
            Reply::json(
                400,
                &json!({"badrequest": {"message": "Invalid request parameters", "code": "SDRS.0201"}}),
            ),
            400,
            "SDRS.0201",
            "Invalid request parameters",
            None,
            ErrorClass::Permanent,
        ),
        form(
            Reply::json(
                401,
                &json!({
                "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
                "error_code": "APIGW.0301", "request_id": "gw-401"}),
            ),
            401,
            "APIGW.0301",
            "Incorrect IAM authentication information: verify aksk signature fail",
            Some("gw-401"),
            ErrorClass::Permanent,
        ),
        form(
            Reply::json(
                429,
                &json!({
                "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 minute",
                "error_code": "APIGW.0308", "request_id": "gw-429"}),
            ),
            429,
            "APIGW.0308",
            "The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 minute",
            Some("gw-429"),
            ErrorClass::Throttled,
        ),
        form(
            Reply::text(503, "text/html", "<html>Service Unavailable</html>"),
            503,
            "HTTP.503",
            "<html>Service Unavailable</html>",
            None,
            ErrorClass::Transient,
        ),
    ]
}
