//! One typed async method per operation (49 SDRS + 4 ECS), named like the official SDK's methods.
//!
//! Each method is a thin wrapper: it turns its arguments into the JSON inputs of
//! [`Client::call_typed`], which builds the request from the operation table, and decodes the
//! response into its model. Operations are resolved at compile time with
//! [`operations::find`], so a misspelt name does not build. Wrapped bodies
//! (`{"server_group": {...}}`) take the inner params struct; the table adds the wrapper.

use serde::Serialize;
use serde_json::{Map, Value};

use super::client::Client;
use super::error::Error;
use super::models::*;
use super::operations::{self, Operation};

/// The inputs of one call, assembled from path parameters and serialisable params.
struct Inputs {
    op: &'static Operation,
    map: Map<String, Value>,
}

impl Inputs {
    fn new(op: &'static Operation) -> Self {
        Self {
            op,
            map: Map::new(),
        }
    }

    /// A string input (a path parameter or a string field).
    fn text(mut self, name: &str, value: &str) -> Self {
        self.map.insert(name.to_owned(), Value::from(value));
        self
    }

    /// Merges the members of a serialisable struct (its `None` fields are skipped).
    fn fields<S: Serialize>(mut self, params: &S) -> Result<Self, Error> {
        match serde_json::to_value(params) {
            Ok(Value::Object(members)) => {
                self.map.extend(members);
                Ok(self)
            }
            Ok(other) => Err(Error::InvalidInput {
                operation: self.op.name,
                input: "(params)".to_owned(),
                reason: format!("expected an object of inputs, got {other}"),
            }),
            Err(e) => Err(Error::InvalidInput {
                operation: self.op.name,
                input: "(params)".to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    fn field<S: Serialize>(mut self, name: &str, value: &S) -> Result<Self, Error> {
        let value = serde_json::to_value(value).map_err(|e| Error::InvalidInput {
            operation: self.op.name,
            input: name.to_owned(),
            reason: e.to_string(),
        })?;
        self.map.insert(name.to_owned(), value);
        Ok(self)
    }
}

macro_rules! op {
    ($name:literal) => {{
        const OP: &Operation = operations::find($name);
        OP
    }};
}

impl Client {
    async fn run<T: serde::de::DeserializeOwned>(&self, inputs: Inputs) -> Result<T, Error> {
        self.call_typed(inputs.op, &inputs.map).await
    }

    /// Runs an operation whose success response is empty (204).
    async fn run_empty(&self, inputs: Inputs) -> Result<(), Error> {
        self.call(inputs.op, &inputs.map).await.map(|_| ())
    }

    // 5.1 Jobs

    /// `GET /v1/{project_id}/jobs/{job_id}`.
    pub async fn show_job_status(&self, job_id: &str) -> Result<Job, Error> {
        self.run(Inputs::new(op!("show_job_status")).text("job_id", job_id))
            .await
    }

    // 5.2 API versions

    pub async fn list_api_versions(&self) -> Result<ListApiVersionsResponse, Error> {
        self.run(Inputs::new(op!("list_api_versions"))).await
    }

    pub async fn show_specified_api_version(
        &self,
        api_version: &str,
    ) -> Result<ShowApiVersionResponse, Error> {
        self.run(Inputs::new(op!("show_specified_api_version")).text("api_version", api_version))
            .await
    }

    // 5.3 Active-active domains

    pub async fn list_active_active_domains(&self) -> Result<ListActiveDomainsResponse, Error> {
        self.run(Inputs::new(op!("list_active_active_domains")))
            .await
    }

    // 5.4 Protection groups

    pub async fn create_protection_group(
        &self,
        params: &CreateProtectionGroupParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("create_protection_group")).fields(params)?)
            .await
    }

    pub async fn list_protection_groups(
        &self,
        query: &ListProtectionGroupsQuery,
    ) -> Result<ListProtectionGroupsResponse, Error> {
        self.run(Inputs::new(op!("list_protection_groups")).fields(query)?)
            .await
    }

    pub async fn show_protection_group(
        &self,
        server_group_id: &str,
    ) -> Result<ProtectionGroupResponse, Error> {
        self.run(Inputs::new(op!("show_protection_group")).text("server_group_id", server_group_id))
            .await
    }

    pub async fn delete_protection_group(
        &self,
        server_group_id: &str,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("delete_protection_group")).text("server_group_id", server_group_id),
        )
        .await
    }

    pub async fn update_protection_group_name(
        &self,
        server_group_id: &str,
        name: &str,
    ) -> Result<ProtectionGroupResponse, Error> {
        self.run(
            Inputs::new(op!("update_protection_group_name"))
                .text("server_group_id", server_group_id)
                .text("name", name),
        )
        .await
    }

    /// Enables protection; on a failed-over group this is the reprotect.
    pub async fn start_protection_group(
        &self,
        server_group_id: &str,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("start_protection_group")).text("server_group_id", server_group_id),
        )
        .await
    }

    pub async fn stop_protection_group(&self, server_group_id: &str) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("stop_protection_group")).text("server_group_id", server_group_id))
            .await
    }

    /// Unplanned failover to the DR site.
    pub async fn start_failover_protection_group(
        &self,
        server_group_id: &str,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("start_failover_protection_group"))
                .text("server_group_id", server_group_id),
        )
        .await
    }

    /// Planned failover (switchover): makes `priority_station` the production site.
    pub async fn start_reverse_protection_group(
        &self,
        server_group_id: &str,
        priority_station: &PriorityStation,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("start_reverse_protection_group"))
                .text("server_group_id", server_group_id)
                .field("priority_station", priority_station)?,
        )
        .await
    }

    // 5.5 Protected instances

    pub async fn create_protected_instance(
        &self,
        params: &CreateProtectedInstanceParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("create_protected_instance")).fields(params)?)
            .await
    }

    pub async fn delete_protected_instance(
        &self,
        protected_instance_id: &str,
        body: &DeleteProtectedInstanceRequestBody,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("delete_protected_instance"))
                .text("protected_instance_id", protected_instance_id)
                .fields(body)?,
        )
        .await
    }

    pub async fn list_protected_instances(
        &self,
        query: &ListProtectedInstancesQuery,
    ) -> Result<ListProtectedInstancesResponse, Error> {
        self.run(Inputs::new(op!("list_protected_instances")).fields(query)?)
            .await
    }

    pub async fn show_protected_instance(
        &self,
        protected_instance_id: &str,
    ) -> Result<ProtectedInstanceResponse, Error> {
        self.run(
            Inputs::new(op!("show_protected_instance"))
                .text("protected_instance_id", protected_instance_id),
        )
        .await
    }

    pub async fn update_protected_instance_name(
        &self,
        protected_instance_id: &str,
        name: &str,
    ) -> Result<ProtectedInstanceResponse, Error> {
        self.run(
            Inputs::new(op!("update_protected_instance_name"))
                .text("protected_instance_id", protected_instance_id)
                .text("name", name),
        )
        .await
    }

    pub async fn attach_protected_instance_replication(
        &self,
        protected_instance_id: &str,
        params: &AttachReplicationParams,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("attach_protected_instance_replication"))
                .text("protected_instance_id", protected_instance_id)
                .fields(params)?,
        )
        .await
    }

    pub async fn detach_protected_instance_replication(
        &self,
        protected_instance_id: &str,
        replication_id: &str,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("detach_protected_instance_replication"))
                .text("protected_instance_id", protected_instance_id)
                .text("replication_id", replication_id),
        )
        .await
    }

    pub async fn add_protected_instance_nic(
        &self,
        protected_instance_id: &str,
        body: &AddNicRequestBody,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("add_protected_instance_nic"))
                .text("protected_instance_id", protected_instance_id)
                .fields(body)?,
        )
        .await
    }

    pub async fn delete_protected_instance_nic(
        &self,
        protected_instance_id: &str,
        nic_id: &str,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("delete_protected_instance_nic"))
                .text("protected_instance_id", protected_instance_id)
                .text("nic_id", nic_id),
        )
        .await
    }

    pub async fn resize_protected_instance(
        &self,
        protected_instance_id: &str,
        params: &ResizeParams,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("resize_protected_instance"))
                .text("protected_instance_id", protected_instance_id)
                .fields(params)?,
        )
        .await
    }

    pub async fn batch_create_protected_instances(
        &self,
        params: &BatchCreateProtectedInstancesParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("batch_create_protected_instances")).fields(params)?)
            .await
    }

    pub async fn batch_delete_protected_instances(
        &self,
        body: &BatchDeleteProtectedInstancesRequestBody,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("batch_delete_protected_instances")).fields(body)?)
            .await
    }

    // 5.6 Replication pairs

    pub async fn create_replication(
        &self,
        params: &CreateReplicationParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("create_replication")).fields(params)?)
            .await
    }

    pub async fn delete_replication(
        &self,
        replication_id: &str,
        params: &DeleteReplicationParams,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("delete_replication"))
                .text("replication_id", replication_id)
                .fields(params)?,
        )
        .await
    }

    pub async fn list_replications(
        &self,
        query: &ListReplicationsQuery,
    ) -> Result<ListReplicationsResponse, Error> {
        self.run(Inputs::new(op!("list_replications")).fields(query)?)
            .await
    }

    pub async fn show_replication(
        &self,
        replication_id: &str,
    ) -> Result<ReplicationResponse, Error> {
        self.run(Inputs::new(op!("show_replication")).text("replication_id", replication_id))
            .await
    }

    pub async fn expand_replication(
        &self,
        replication_id: &str,
        new_size_gb: i64,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("expand_replication"))
                .text("replication_id", replication_id)
                .field("new_size", &new_size_gb)?,
        )
        .await
    }

    pub async fn update_replication_name(
        &self,
        replication_id: &str,
        name: &str,
    ) -> Result<ReplicationResponse, Error> {
        self.run(
            Inputs::new(op!("update_replication_name"))
                .text("replication_id", replication_id)
                .text("name", name),
        )
        .await
    }

    // 5.7 DR drills

    pub async fn create_disaster_recovery_drill(
        &self,
        params: &CreateDrillParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("create_disaster_recovery_drill")).fields(params)?)
            .await
    }

    pub async fn delete_disaster_recovery_drill(
        &self,
        drill_id: &str,
    ) -> Result<JobResponse, Error> {
        self.run(
            Inputs::new(op!("delete_disaster_recovery_drill"))
                .text("disaster_recovery_drill_id", drill_id),
        )
        .await
    }

    pub async fn list_disaster_recovery_drills(
        &self,
        query: &ListDrillsQuery,
    ) -> Result<ListDrillsResponse, Error> {
        self.run(Inputs::new(op!("list_disaster_recovery_drills")).fields(query)?)
            .await
    }

    pub async fn show_disaster_recovery_drill(
        &self,
        drill_id: &str,
    ) -> Result<DrillResponse, Error> {
        self.run(
            Inputs::new(op!("show_disaster_recovery_drill"))
                .text("disaster_recovery_drill_id", drill_id),
        )
        .await
    }

    pub async fn update_disaster_recovery_drill_name(
        &self,
        drill_id: &str,
        name: &str,
    ) -> Result<DrillResponse, Error> {
        self.run(
            Inputs::new(op!("update_disaster_recovery_drill_name"))
                .text("disaster_recovery_drill_id", drill_id)
                .text("name", name),
        )
        .await
    }

    // 5.8 Tags

    /// A read-only POST: allowed on a read-only client.
    pub async fn list_protected_instances_by_tags(
        &self,
        body: &ListByTagsRequestBody,
    ) -> Result<ListByTagsResponse, Error> {
        self.run(Inputs::new(op!("list_protected_instances_by_tags")).fields(body)?)
            .await
    }

    pub async fn batch_add_tags(
        &self,
        protected_instance_id: &str,
        tags: &[ResourceTag],
    ) -> Result<(), Error> {
        self.run_empty(
            Inputs::new(op!("batch_add_tags"))
                .text("protected_instance_id", protected_instance_id)
                .field("tags", &tags)?,
        )
        .await
    }

    pub async fn batch_delete_tags(
        &self,
        protected_instance_id: &str,
        tags: &[DeleteResourceTag],
    ) -> Result<(), Error> {
        self.run_empty(
            Inputs::new(op!("batch_delete_tags"))
                .text("protected_instance_id", protected_instance_id)
                .field("tags", &tags)?,
        )
        .await
    }

    pub async fn add_protected_instance_tags(
        &self,
        protected_instance_id: &str,
        tag: &ResourceTag,
    ) -> Result<(), Error> {
        self.run_empty(
            Inputs::new(op!("add_protected_instance_tags"))
                .text("protected_instance_id", protected_instance_id)
                .field("tag", tag)?,
        )
        .await
    }

    pub async fn delete_protected_instance_tag(
        &self,
        protected_instance_id: &str,
        key: &str,
    ) -> Result<(), Error> {
        self.run_empty(
            Inputs::new(op!("delete_protected_instance_tag"))
                .text("protected_instance_id", protected_instance_id)
                .text("key", key),
        )
        .await
    }

    pub async fn list_protected_instance_tags(
        &self,
        protected_instance_id: &str,
    ) -> Result<ListTagsResponse, Error> {
        self.run(
            Inputs::new(op!("list_protected_instance_tags"))
                .text("protected_instance_id", protected_instance_id),
        )
        .await
    }

    pub async fn list_protected_instances_project_tags(
        &self,
    ) -> Result<ListProjectTagsResponse, Error> {
        self.run(Inputs::new(op!("list_protected_instances_project_tags")))
            .await
    }

    // 5.9 Task center

    pub async fn list_failure_jobs(
        &self,
        query: &ListFailureJobsQuery,
    ) -> Result<ListFailureJobsResponse, Error> {
        self.run(Inputs::new(op!("list_failure_jobs")).fields(query)?)
            .await
    }

    pub async fn delete_failure_job(&self, failure_job_id: &str) -> Result<(), Error> {
        self.run_empty(
            Inputs::new(op!("delete_failure_job")).text("failure_job_id", failure_job_id),
        )
        .await
    }

    pub async fn delete_all_server_group_failure_jobs(&self) -> Result<(), Error> {
        self.run_empty(Inputs::new(op!("delete_all_server_group_failure_jobs")))
            .await
    }

    pub async fn delete_server_group_failure_jobs(
        &self,
        server_group_id: &str,
    ) -> Result<(), Error> {
        self.run_empty(
            Inputs::new(op!("delete_server_group_failure_jobs"))
                .text("server_group_id", server_group_id),
        )
        .await
    }

    // 5.10 Quotas, and the SDK-only RPO statistics

    pub async fn show_quota(&self) -> Result<QuotaResponse, Error> {
        self.run(Inputs::new(op!("show_quota"))).await
    }

    pub async fn list_rpo_statistics(
        &self,
        query: &ListRpoStatisticsQuery,
    ) -> Result<ListRpoStatisticsResponse, Error> {
        self.run(Inputs::new(op!("list_rpo_statistics")).fields(query)?)
            .await
    }

    // ECS

    /// `POST /v1/{project_id}/cloudservers/action` with `os-stop`.
    pub async fn batch_stop_servers(
        &self,
        params: &StopServersParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("batch_stop_servers")).fields(params)?)
            .await
    }

    /// `POST /v1/{project_id}/cloudservers/action` with `os-start`.
    pub async fn batch_start_servers(
        &self,
        params: &StartServersParams,
    ) -> Result<JobResponse, Error> {
        self.run(Inputs::new(op!("batch_start_servers")).fields(params)?)
            .await
    }

    pub async fn show_server(&self, server_id: &str) -> Result<ShowServerResponse, Error> {
        self.run(Inputs::new(op!("show_server")).text("server_id", server_id))
            .await
    }

    /// `GET /v1/{project_id}/jobs/{job_id}` on the ECS endpoint.
    pub async fn show_ecs_job(&self, job_id: &str) -> Result<EcsJob, Error> {
        self.run(Inputs::new(op!("show_ecs_job")).text("job_id", job_id))
            .await
    }
}
