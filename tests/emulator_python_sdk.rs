//! The emulator driven only through Huawei's official Python SDKs (`huaweicloudsdksdrs` and
//! `huaweicloudsdkecs` 3.1.219, unchanged, with their own signing), through a whole DR lifecycle:
//! versions, domains, quota, create group → protected instance → replication pair → attach →
//! start protection → drill create/delete → planned failover → failover → reprotect → stop →
//! deletes, polling every job with `show_job_status`. The script prints a JSON summary that the
//! test checks.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod support;

use drbook::emulator::{Config, Emulator};
use secrecy::ExposeSecret;
use serde_json::Value;

const SCRIPT: &str = r#"
import json, os, time
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdksdrs.v1 import *
from huaweicloudsdkecs.v2 import (EcsClient, BatchStopServersRequest, BatchStopServersRequestBody,
    BatchStopServersOption, ServerId, ShowJobRequest)

creds = BasicCredentials(os.environ["EMU_AK"], os.environ["EMU_SK"], os.environ["EMU_PROJECT"])
endpoint = os.environ["EMU_ENDPOINT"]
sdrs = SdrsClient.new_builder().with_credentials(creds).with_endpoint(endpoint).build()
ecs = EcsClient.new_builder().with_credentials(creds).with_endpoint(endpoint).build()
out = {"steps": []}

def wait(job_id, step):
    while True:
        job = sdrs.show_job_status(ShowJobStatusRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            out["steps"].append({"step": step, "job_type": job.job_type, "status": job.status})
            if job.status != "SUCCESS":
                raise RuntimeError(step + " failed: " + str(job.error_code) + " " + str(job.fail_reason))
            return job
        time.sleep(0.02)

def stop_servers(ids):
    body = BatchStopServersRequestBody(os_stop=BatchStopServersOption(
        servers=[ServerId(id=i) for i in ids], type="SOFT"))
    job_id = ecs.batch_stop_servers(BatchStopServersRequest(body=body)).job_id
    while True:
        job = ecs.show_job(ShowJobRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            out["steps"].append({"step": "stop " + ",".join(ids), "job_type": job.job_type, "status": job.status})
            return
        time.sleep(0.02)

def group(gid):
    return sdrs.show_protection_group(ShowProtectionGroupRequest(server_group_id=gid)).server_group

out["versions"] = [v.id for v in sdrs.list_api_versions(ListApiVersionsRequest()).versions]
out["domains"] = [d.id for d in sdrs.list_active_active_domains(ListActiveActiveDomainsRequest()).domains]
out["quota_before"] = {r.type: r.used for r in sdrs.show_quota(ShowQuotaRequest()).quotas.resources}

job_id = sdrs.create_protection_group(CreateProtectionGroupRequest(body=CreateProtectionGroupRequestBody(
    server_group=CreateProtectionGroupRequestParams(name="sdk-group", description="python sdk",
        source_availability_zone="cn-north-4a", target_availability_zone="cn-north-4b",
        domain_id="domain-0001", source_vpc_id="vpc-prod-0001", dr_type="migration")))).job_id
gid = wait(job_id, "create group").entities.server_group_id

job_id = sdrs.create_protected_instance(CreateProtectedInstanceRequest(body=CreateProtectedInstanceRequestBody(
    protected_instance=CreateProtectedInstanceRequestParams(server_group_id=gid, server_id="ecs-app-01",
        name="sdk-instance")))).job_id
pid = wait(job_id, "create protected instance").entities.protected_instance_id
instance = sdrs.show_protected_instance(ShowProtectedInstanceRequest(protected_instance_id=pid)).protected_instance
dr_server = instance.target_server

job_id = sdrs.create_replication(CreateReplicationRequest(body=CreateReplicationRequestBody(
    replication=CreateReplicationRequestParams(server_group_id=gid, volume_id="ecs-app-01-data",
        name="sdk-pair")))).job_id
rid = wait(job_id, "create replication").entities.replication_pair_id
pair = sdrs.show_replication(ShowReplicationRequest(replication_id=rid)).replication
out["volume_ids"] = pair.volume_ids

job_id = sdrs.attach_protected_instance_replication(AttachProtectedInstanceReplicationRequest(
    protected_instance_id=pid, body=ProtectedInstanceAttachReplicationRequestBody(
        replication_attachment=ProtectedInstanceAttachReplicationRequestParams(replication_id=rid,
            device="/dev/vdb")))).job_id
wait(job_id, "attach")

job_id = sdrs.start_protection_group(StartProtectionGroupRequest(server_group_id=gid,
    body=StartProtectionGroupRequestBody(start_server_group={}))).job_id
wait(job_id, "start protection")
out["after_start"] = group(gid).status

job_id = sdrs.create_disaster_recovery_drill(CreateDisasterRecoveryDrillRequest(
    body=CreateDisasterRecoveryDrillRequestBody(disaster_recovery_drill=CreateDisasterRecoveryDrillRequestParams(
        server_group_id=gid, drill_vpc_id="vpc-drill-0001", name="sdk-drill")))).job_id
job = wait(job_id, "create drill")
# The SDK model drops disaster_recovery_drill_id (Terraform reads it): check the raw body.
out["drill_entity_in_raw"] = json.loads(job.raw_content)["entities"].get("disaster_recovery_drill_id")
drills = sdrs.list_disaster_recovery_drills(ListDisasterRecoveryDrillsRequest(server_group_id=gid))
drill = drills.disaster_recovery_drills[0]
out["drill_servers"] = len(drill.drill_servers)
job_id = sdrs.delete_disaster_recovery_drill(DeleteDisasterRecoveryDrillRequest(
    disaster_recovery_drill_id=drill.id)).job_id
wait(job_id, "delete drill")

try:
    sdrs.start_reverse_protection_group(StartReverseProtectionGroupRequest(server_group_id=gid,
        body=ReverseProtectionGroupRequestBody(reverse_server_group=ReverseProtectionGroupRequestParams(
            priority_station="target"))))
    out["reverse_running_servers"] = "accepted"
except ClientRequestException as e:
    out["reverse_running_servers"] = [e.status_code, e.error_code]
stop_servers(["ecs-app-01"])
job_id = sdrs.start_reverse_protection_group(StartReverseProtectionGroupRequest(server_group_id=gid,
    body=ReverseProtectionGroupRequestBody(reverse_server_group=ReverseProtectionGroupRequestParams(
        priority_station="target")))).job_id
wait(job_id, "planned failover")
g = group(gid)
out["after_reverse"] = [g.status, g.priority_station]

job_id = sdrs.start_failover_protection_group(StartFailoverProtectionGroupRequest(server_group_id=gid,
    body=FailoverProtectionGroupRequestBody(failover_server_group={}))).job_id
wait(job_id, "failover")
g = group(gid)
out["after_failover"] = [g.status, g.priority_station]

try:
    sdrs.start_protection_group(StartProtectionGroupRequest(server_group_id=gid,
        body=StartProtectionGroupRequestBody(start_server_group={})))
    out["reprotect_running_dr"] = "accepted"
except ClientRequestException as e:
    out["reprotect_running_dr"] = [e.status_code, e.error_code]
stop_servers([dr_server])
job_id = sdrs.start_protection_group(StartProtectionGroupRequest(server_group_id=gid,
    body=StartProtectionGroupRequestBody(start_server_group={}))).job_id
wait(job_id, "reprotect")
g = group(gid)
out["after_reprotect"] = [g.status, g.priority_station]

job_id = sdrs.stop_protection_group(StopProtectionGroupRequest(server_group_id=gid,
    body=StopProtectionGroupRequestBody(stop_server_group={}))).job_id
wait(job_id, "stop protection")
out["after_stop"] = group(gid).status

job_id = sdrs.detach_protected_instance_replication(DetachProtectedInstanceReplicationRequest(
    protected_instance_id=pid, replication_id=rid)).job_id
wait(job_id, "detach")
job_id = sdrs.delete_replication(DeleteReplicationRequest(replication_id=rid,
    body=DeleteReplicationRequestBody(replication=DeleteReplicationRequestParams(server_group_id=gid,
        delete_target_volume=True)))).job_id
wait(job_id, "delete replication")
job_id = sdrs.delete_protected_instance(DeleteProtectedInstanceRequest(protected_instance_id=pid,
    body=DeleteProtectedInstanceRequestBody(delete_target_server=True, delete_target_eip=False))).job_id
wait(job_id, "delete protected instance")
job_id = sdrs.delete_protection_group(DeleteProtectionGroupRequest(server_group_id=gid)).job_id
wait(job_id, "delete group")
try:
    group(gid)
    out["after_delete"] = "still there"
except ClientRequestException as e:
    out["after_delete"] = [e.status_code, e.error_code]
out["quota_after"] = {r.type: r.used for r in sdrs.show_quota(ShowQuotaRequest()).quotas.resources}
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_runs_a_whole_dr_lifecycle() {
    let emulator = Emulator::start(Config::default()).await.expect("start");
    let creds = emulator.credentials();
    let env = [
        ("EMU_AK", creds.access_key.clone()),
        ("EMU_SK", creds.secret_key.expose_secret().to_owned()),
        ("EMU_PROJECT", emulator.project_id().to_owned()),
        ("EMU_ENDPOINT", emulator.endpoint()),
    ];
    let stdout = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
        support::pysdk::run_script(SCRIPT, &env)
    })
    .await
    .expect("script thread");
    let out: Value = serde_json::from_str(stdout.trim()).expect("JSON summary");

    assert_eq!(out["versions"], serde_json::json!(["v1"]));
    assert_eq!(out["domains"], serde_json::json!(["domain-0001"]));
    assert_eq!(out["quota_before"]["server_groups"], 1);
    assert_eq!(out["quota_before"]["replications"], 6);
    let steps: Vec<(String, String)> = out["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or_default().to_owned(),
                s["job_type"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("create group", "createProtectionGroupNoCG"),
        ("create protected instance", "createProtectedInstanceNoCG"),
        ("create replication", "createReplicationPairNoCG"),
        ("attach", "attachReplicationPairNew"),
        ("start protection", "startProtectionGroupNoCG"),
        ("create drill", "createDisasterRecoveryDrill"),
        ("delete drill", "deleteDisasterRecoveryDrill"),
        ("stop ecs-app-01", "batchStopServer"),
        ("planned failover", "reverseProtectionGroupNoCG"),
        ("failover", "failoverProtectionGroupNoCG"),
    ];
    for (i, (step, job_type)) in expected.iter().enumerate() {
        assert_eq!(steps[i].0, *step);
        assert_eq!(steps[i].1, *job_type, "{step}");
    }
    let tail: Vec<&str> = steps[10..].iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        tail,
        [
            "batchStopServer",
            "reprotectProtectionGroupNoCG",
            "stopProtectionGroupNoCG",
            "detachReplicationPairNew",
            "deleteReplicationPairNoCG",
            "deleteProtectedInstanceNoCG",
            "deleteProtectionGroupNoCG",
        ]
    );
    assert!(
        out["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["status"] == "SUCCESS"),
        "{out}"
    );
    assert!(
        out["volume_ids"]
            .as_str()
            .is_some_and(|v| v.starts_with("ecs-app-01-data,"))
    );
    assert_eq!(out["after_start"], "protected");
    assert!(
        out["drill_entity_in_raw"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{out}"
    );
    assert_eq!(out["drill_servers"], 1);
    assert_eq!(
        out["reverse_running_servers"],
        serde_json::json!([400, "SDRS.1319"])
    );
    assert_eq!(
        out["after_reverse"],
        serde_json::json!(["protected", "target"])
    );
    assert_eq!(
        out["after_failover"],
        serde_json::json!(["failed-over", "source"])
    );
    assert_eq!(
        out["reprotect_running_dr"],
        serde_json::json!([400, "SDRS.1342"])
    );
    assert_eq!(
        out["after_reprotect"],
        serde_json::json!(["protected", "source"])
    );
    assert_eq!(out["after_stop"], "available");
    assert_eq!(out["after_delete"], serde_json::json!([400, "SDRS.1013"]));
    assert_eq!(out["quota_after"]["server_groups"], 1);
    assert_eq!(out["quota_after"]["replications"], 6);

    // Every request the SDK made was signed correctly: nothing was refused by authentication.
    let calls = emulator.calls();
    assert!(calls.len() > 30);
    assert!(
        calls
            .iter()
            .all(|c| c.outcome != drbook::emulator::Outcome::Unauthorized),
        "{calls:?}"
    );
    emulator.shutdown().await;
}
