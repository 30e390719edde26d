//! The same DR lifecycle as the Python SDK test, through drbook's own typed client and its job
//! waiting, with realistic (scaled) job latency so every job is polled while it runs.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod emulator_common;

use std::time::Duration;

use drbook::emulator::{Config, Emulator};
use drbook::sdrs::models::{
    AttachReplicationParams, CreateDrillParams, CreateProtectedInstanceParams,
    CreateProtectionGroupParams, CreateReplicationParams, DeleteProtectedInstanceRequestBody,
    DeleteReplicationParams, DrType, JobStatus, ListDrillsQuery, PriorityStation,
    ProtectionGroupStatus, ServerId, StopServersParams, StopType,
};
use drbook::sdrs::{Client, Error, PollPolicy};
use emulator_common::client_for;

fn policy() -> PollPolicy {
    PollPolicy {
        initial: Duration::from_millis(20),
        factor: 1.5,
        cap: Duration::from_millis(100),
        max_wait: Duration::from_secs(60),
    }
}

async fn wait(
    client: &Client,
    job: Result<drbook::sdrs::models::JobResponse, Error>,
) -> drbook::sdrs::models::Job {
    let job_id = job.expect("submitted").job_id;
    let done = client.wait_job(&job_id, &policy()).await.expect("job ends");
    assert_eq!(done.status, Some(JobStatus::Success), "{done:?}");
    done
}

async fn stop_servers(client: &Client, ids: &[&str]) {
    let job = client
        .batch_stop_servers(&StopServersParams {
            servers: ids
                .iter()
                .map(|id| ServerId {
                    id: (*id).to_owned(),
                })
                .collect(),
            stop_type: Some(StopType::Soft),
        })
        .await
        .expect("stop");
    let done = client
        .wait_ecs_job(&job.job_id, &policy())
        .await
        .expect("ecs job");
    assert_eq!(done.status, Some(JobStatus::Success));
}

async fn group(client: &Client, id: &str) -> (ProtectionGroupStatus, PriorityStation) {
    let g = client
        .show_protection_group(id)
        .await
        .expect("show")
        .server_group
        .expect("group");
    (
        g.status.expect("status"),
        g.priority_station.expect("station"),
    )
}

#[tokio::test]
async fn drbooks_client_runs_the_whole_dr_lifecycle() {
    // Two emulated seconds per job, twenty times faster than real time.
    let emulator = Emulator::start(Config {
        job_latency: Duration::from_secs(2),
        time_scale: 20.0,
        ..Config::default()
    })
    .await
    .expect("start");
    let client = client_for(&emulator);

    assert_eq!(
        client.list_api_versions().await.expect("versions").versions[0]
            .id
            .as_deref(),
        Some("v1")
    );
    let domains = client.list_active_active_domains().await.expect("domains");
    assert_eq!(domains.domains[0].id.as_deref(), Some("domain-0001"));
    let quota = client.show_quota().await.expect("quota");
    assert_eq!(quota.quotas.expect("quotas").resources.len(), 2);

    let job = wait(
        &client,
        client
            .create_protection_group(&CreateProtectionGroupParams {
                name: "drbook-group".into(),
                description: Some("lifecycle".into()),
                source_availability_zone: "cn-north-4a".into(),
                target_availability_zone: "cn-north-4b".into(),
                domain_id: "domain-0001".into(),
                source_vpc_id: "vpc-prod-0001".into(),
                dr_type: Some(DrType::Migration),
            })
            .await,
    )
    .await;
    let gid = job
        .entities
        .expect("entities")
        .server_group_id
        .expect("group id");
    assert_eq!(
        group(&client, &gid).await.0,
        ProtectionGroupStatus::Available
    );

    let job = wait(
        &client,
        client
            .create_protected_instance(&CreateProtectedInstanceParams {
                server_group_id: gid.clone(),
                server_id: "ecs-app-02".into(),
                name: "drbook-instance".into(),
                description: None,
                cluster_id: None,
                primary_subnet_id: None,
                primary_ip_address: None,
                tags: None,
                flavor_ref: None,
                tenancy: None,
                dedicated_host_id: None,
            })
            .await,
    )
    .await;
    let pid = job
        .entities
        .expect("entities")
        .protected_instance_id
        .expect("instance id");
    let dr_server = client
        .show_protected_instance(&pid)
        .await
        .expect("show")
        .protected_instance
        .expect("instance")
        .target_server
        .expect("dr server");

    let job = wait(
        &client,
        client
            .create_replication(&CreateReplicationParams {
                server_group_id: gid.clone(),
                volume_id: "ecs-app-02-sys".into(),
                name: "drbook-pair".into(),
                description: None,
                cluster_id: None,
            })
            .await,
    )
    .await;
    let rid = job
        .entities
        .expect("entities")
        .replication_pair_id
        .expect("pair id");

    wait(
        &client,
        client
            .attach_protected_instance_replication(
                &pid,
                &AttachReplicationParams {
                    replication_id: rid.clone(),
                    device: "/dev/vda".into(),
                },
            )
            .await,
    )
    .await;
    wait(&client, client.start_protection_group(&gid).await).await;
    assert_eq!(
        group(&client, &gid).await.0,
        ProtectionGroupStatus::Protected
    );

    let job = wait(
        &client,
        client
            .create_disaster_recovery_drill(&CreateDrillParams {
                server_group_id: gid.clone(),
                drill_vpc_id: Some("vpc-drill-0001".into()),
                name: "drbook-drill".into(),
            })
            .await,
    )
    .await;
    let drill = job
        .entities
        .expect("entities")
        .disaster_recovery_drill_id
        .expect("drill id");
    let drills = client
        .list_disaster_recovery_drills(&ListDrillsQuery {
            server_group_id: Some(gid.clone()),
            ..ListDrillsQuery::default()
        })
        .await
        .expect("drills");
    assert_eq!(drills.disaster_recovery_drills.len(), 1);
    wait(&client, client.delete_disaster_recovery_drill(&drill).await).await;

    // Planned failover needs the production server stopped.
    match client
        .start_reverse_protection_group(&gid, &PriorityStation::Target)
        .await
    {
        Err(Error::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (400, "SDRS.1319"))
        }
        other => panic!("expected SDRS.1319, got {other:?}"),
    }
    stop_servers(&client, &["ecs-app-02"]).await;
    wait(
        &client,
        client
            .start_reverse_protection_group(&gid, &PriorityStation::Target)
            .await,
    )
    .await;
    assert_eq!(
        group(&client, &gid).await,
        (ProtectionGroupStatus::Protected, PriorityStation::Target)
    );

    wait(&client, client.start_failover_protection_group(&gid).await).await;
    assert_eq!(
        group(&client, &gid).await,
        (ProtectionGroupStatus::FailedOver, PriorityStation::Source)
    );

    stop_servers(&client, &[&dr_server]).await;
    let job = wait(&client, client.start_protection_group(&gid).await).await;
    assert_eq!(
        job.job_type.map(|t| t.as_str().to_owned()).as_deref(),
        Some("reprotectProtectionGroupNoCG")
    );
    assert_eq!(
        group(&client, &gid).await.0,
        ProtectionGroupStatus::Protected
    );

    wait(&client, client.stop_protection_group(&gid).await).await;
    assert_eq!(
        group(&client, &gid).await.0,
        ProtectionGroupStatus::Available
    );

    // The pair holds the system disk, which is detached offline only (5.5.7); the failover
    // started the production server again, so stop it first.
    stop_servers(&client, &["ecs-app-02"]).await;
    wait(
        &client,
        client
            .detach_protected_instance_replication(&pid, &rid)
            .await,
    )
    .await;
    wait(
        &client,
        client
            .delete_replication(
                &rid,
                &DeleteReplicationParams {
                    server_group_id: Some(gid.clone()),
                    delete_target_volume: Some(true),
                },
            )
            .await,
    )
    .await;
    wait(
        &client,
        client
            .delete_protected_instance(
                &pid,
                &DeleteProtectedInstanceRequestBody {
                    delete_target_server: Some(true),
                    delete_target_eip: None,
                },
            )
            .await,
    )
    .await;
    wait(&client, client.delete_protection_group(&gid).await).await;
    match client.show_protection_group(&gid).await {
        Err(Error::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (400, "SDRS.1013"))
        }
        other => panic!("expected SDRS.1013, got {other:?}"),
    }

    // Jobs really ran with latency: some polls saw them unfinished.
    let polls = emulator.calls_matching(&drbook::emulator::CallFilter {
        operation: Some("show_job_status".into()),
        ..Default::default()
    });
    let submitted = emulator
        .calls()
        .iter()
        .filter(|c| c.mutating && c.operation.as_deref() != Some("batch_stop_servers"))
        .count();
    assert!(
        polls.len() > submitted,
        "{} polls for {submitted} jobs",
        polls.len()
    );
    emulator.shutdown().await;
}
