//! The SDRS (and ECS) operation table: one row per API operation, as the official SDK sends it.
//!
//! This table is the single source of truth that the rest of drbook derives from: the client's
//! generic request builder, the engine's built-in `sdrs.*` / `ecs.*` actions (name, inputs,
//! read-only or mutating), the dry-run guard, and the emulator's call log all read it. Rows follow
//! `shared/sdrs/api-index.md` (49 SDRS operations) and keep the reference's JSON names verbatim,
//! including the odd ones (`flavorRef`, `replicationAttachment`, `extend-replication`, ...).

/// HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// Reads an HTTP method name (upper case, as on the wire).
    pub fn parse(method: &str) -> Option<Method> {
        match method {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Which service an operation belongs to (selects the endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Sdrs,
    Ecs,
}

/// Whether an operation changes anything. The dry-run guard refuses every `Mutating` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    ReadOnly,
    Mutating,
}

/// JSON type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    String,
    Integer,
    Boolean,
    /// An array of strings.
    StringList,
    /// A JSON object.
    Object,
    /// An array of JSON objects.
    ObjectList,
}

/// One input of an operation (a path parameter, a query parameter or a body field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// JSON / query name exactly as the reference writes it.
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
    }
}

/// Shape of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body is sent.
    None,
    /// `{ key: { fields... } }`; with no fields the body is `{ key: {} }`.
    Wrapped {
        key: &'static str,
        fields: &'static [Param],
    },
    /// `{ fields..., fixed... }` at the top level. `fixed` are constant string members
    /// (e.g. `"action": "create"` for the batch tag operations).
    TopLevel {
        fields: &'static [Param],
        fixed: &'static [(&'static str, &'static str)],
    },
}

impl Body {
    pub fn fields(&self) -> &'static [Param] {
        match self {
            Body::None => &[],
            Body::Wrapped { fields, .. } | Body::TopLevel { fields, .. } => fields,
        }
    }
}

/// One API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Method name in the official Python SDK (`show_protection_group`); also the name used in
    /// the emulator's call log and in fault-injection rules.
    pub name: &'static str,
    /// The runbook action that calls it (`sdrs.protection_group.show`).
    pub action: &'static str,
    /// Section of the API reference (`5.4.3`); `—` when only the SDK has it.
    pub doc: &'static str,
    pub service: Service,
    pub method: Method,
    /// Path template; `{project_id}` comes from the credentials, every other `{name}` is an input.
    pub path: &'static str,
    pub path_params: &'static [Param],
    pub query: &'static [Param],
    pub body: Body,
    /// `true` when the response is `{"job_id": ...}` and the work finishes asynchronously.
    pub returns_job: bool,
    /// Success status the reference documents (200, 202 or 204).
    pub success_status: u16,
    pub effect: Effect,
    /// One line for `drbook plan`, the JSON Schema and `--help` listings.
    pub summary: &'static str,
}

impl Operation {
    /// Every input of the operation: path parameters, then query parameters, then body fields.
    pub fn inputs(&self) -> impl Iterator<Item = &'static Param> {
        self.path_params
            .iter()
            .chain(self.query.iter())
            .chain(self.body.fields().iter())
    }
}

use Kind::{Boolean, Integer, Object, ObjectList, String as Str};

const PAGE: [Param; 2] = [opt("limit", Integer), opt("offset", Integer)];
const SERVER_GROUP_ID: Param = req("server_group_id", Str);
const PROTECTED_INSTANCE_ID: Param = req("protected_instance_id", Str);
const REPLICATION_ID: Param = req("replication_id", Str);
const DRILL_ID: Param = req("disaster_recovery_drill_id", Str);

macro_rules! op {
    ($name:literal, $action:literal, $doc:literal, $method:ident $path:literal,
     path: [$($pp:expr),* $(,)?], query: [$($q:expr),* $(,)?], body: $body:expr,
     job: $job:literal, status: $status:literal, $effect:ident, $summary:literal) => {
        Operation {
            name: $name,
            action: $action,
            doc: $doc,
            service: Service::Sdrs,
            method: Method::$method,
            path: $path,
            path_params: &[$($pp),*],
            query: &[$($q),*],
            body: $body,
            returns_job: $job,
            success_status: $status,
            effect: Effect::$effect,
            summary: $summary,
        }
    };
}

/// All 49 SDRS operations, in the order of the API reference.
pub static SDRS_OPERATIONS: &[Operation] = &[
    // 5.1 Job
    op!("show_job_status", "sdrs.job.show", "5.1.1", Get "/v1/{project_id}/jobs/{job_id}",
        path: [req("job_id", Str)], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Query the status of an asynchronous job"),
    // 5.2 API version
    op!("list_api_versions", "sdrs.api_version.list", "5.2.1", Get "/",
        path: [], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "List the API versions"),
    op!("show_specified_api_version", "sdrs.api_version.show", "5.2.2", Get "/{api_version}",
        path: [req("api_version", Str)], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Show one API version"),
    // 5.3 Active-active domain
    op!("list_active_active_domains", "sdrs.active_domain.list", "5.3.1", Get "/v1/{project_id}/active-domains",
        path: [], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "List the active-active domains"),
    // 5.4 Protection group
    op!("create_protection_group", "sdrs.protection_group.create", "5.4.1", Post "/v1/{project_id}/server-groups",
        path: [], query: [],
        body: Body::Wrapped { key: "server_group", fields: &[
            req("name", Str), opt("description", Str), req("source_availability_zone", Str),
            req("target_availability_zone", Str), req("domain_id", Str), req("source_vpc_id", Str),
            opt("dr_type", Str),
        ]},
        job: true, status: 200, Mutating, "Create a protection group"),
    op!("list_protection_groups", "sdrs.protection_group.list", "5.4.2", Get "/v1/{project_id}/server-groups",
        path: [],
        query: [PAGE[0], PAGE[1], opt("status", Str), opt("name", Str), opt("query_type", Str),
            opt("availability_zone", Str)],
        body: Body::None,
        job: false, status: 200, ReadOnly, "List protection groups"),
    op!("show_protection_group", "sdrs.protection_group.show", "5.4.3", Get "/v1/{project_id}/server-groups/{server_group_id}",
        path: [SERVER_GROUP_ID], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Show a protection group"),
    op!("delete_protection_group", "sdrs.protection_group.delete", "5.4.4", Delete "/v1/{project_id}/server-groups/{server_group_id}",
        path: [SERVER_GROUP_ID], query: [], body: Body::None,
        job: true, status: 200, Mutating, "Delete a protection group"),
    op!("update_protection_group_name", "sdrs.protection_group.rename", "5.4.5", Put "/v1/{project_id}/server-groups/{server_group_id}",
        path: [SERVER_GROUP_ID], query: [],
        body: Body::Wrapped { key: "server_group", fields: &[req("name", Str)] },
        job: false, status: 200, Mutating, "Rename a protection group"),
    op!("start_protection_group", "sdrs.protection_group.start", "5.4.6", Post "/v1/{project_id}/server-groups/{server_group_id}/action",
        path: [SERVER_GROUP_ID], query: [],
        body: Body::Wrapped { key: "start-server-group", fields: &[] },
        job: true, status: 200, Mutating, "Enable protection (or enable it again: reprotect after a failover)"),
    op!("stop_protection_group", "sdrs.protection_group.stop", "5.4.7", Post "/v1/{project_id}/server-groups/{server_group_id}/action",
        path: [SERVER_GROUP_ID], query: [],
        body: Body::Wrapped { key: "stop-server-group", fields: &[] },
        job: true, status: 200, Mutating, "Disable protection"),
    op!("start_failover_protection_group", "sdrs.protection_group.failover", "5.4.8", Post "/v1/{project_id}/server-groups/{server_group_id}/action",
        path: [SERVER_GROUP_ID], query: [],
        body: Body::Wrapped { key: "failover-server-group", fields: &[] },
        job: true, status: 200, Mutating, "Fail over to the DR site (unplanned)"),
    op!("start_reverse_protection_group", "sdrs.protection_group.reverse", "5.4.9", Post "/v1/{project_id}/server-groups/{server_group_id}/action",
        path: [SERVER_GROUP_ID], query: [],
        body: Body::Wrapped { key: "reverse-server-group", fields: &[req("priority_station", Str)] },
        job: true, status: 200, Mutating, "Planned failover: switch the production site (priority_station)"),
    // 5.5 Protected instance
    op!("create_protected_instance", "sdrs.protected_instance.create", "5.5.1", Post "/v1/{project_id}/protected-instances",
        path: [], query: [],
        body: Body::Wrapped { key: "protected_instance", fields: &[
            req("server_group_id", Str), req("server_id", Str), req("name", Str), opt("description", Str),
            opt("cluster_id", Str), opt("primary_subnet_id", Str), opt("primary_ip_address", Str),
            opt("tags", ObjectList), opt("flavorRef", Str), opt("tenancy", Str), opt("dedicated_host_id", Str),
        ]},
        job: true, status: 200, Mutating, "Create a protected instance for a production server"),
    op!("delete_protected_instance", "sdrs.protected_instance.delete", "5.5.2", Delete "/v1/{project_id}/protected-instances/{protected_instance_id}",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::TopLevel { fields: &[opt("delete_target_server", Boolean), opt("delete_target_eip", Boolean)], fixed: &[] },
        job: true, status: 200, Mutating, "Delete a protected instance"),
    op!("list_protected_instances", "sdrs.protected_instance.list", "5.5.3", Get "/v1/{project_id}/protected-instances",
        path: [],
        query: [opt("server_group_id", Str), opt("server_group_ids", Str), opt("protected_instance_ids", Str),
            PAGE[0], PAGE[1], opt("status", Str), opt("name", Str), opt("query_type", Str),
            opt("availability_zone", Str)],
        body: Body::None,
        job: false, status: 200, ReadOnly, "List protected instances"),
    op!("show_protected_instance", "sdrs.protected_instance.show", "5.5.4", Get "/v1/{project_id}/protected-instances/{protected_instance_id}",
        path: [PROTECTED_INSTANCE_ID], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Show a protected instance"),
    op!("update_protected_instance_name", "sdrs.protected_instance.rename", "5.5.5", Put "/v1/{project_id}/protected-instances/{protected_instance_id}",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::Wrapped { key: "protected_instance", fields: &[req("name", Str)] },
        job: false, status: 200, Mutating, "Rename a protected instance"),
    op!("attach_protected_instance_replication", "sdrs.protected_instance.attach_replication", "5.5.6", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/attachreplication",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::Wrapped { key: "replicationAttachment", fields: &[req("replication_id", Str), req("device", Str)] },
        job: true, status: 200, Mutating, "Attach a replication pair to a protected instance"),
    op!("detach_protected_instance_replication", "sdrs.protected_instance.detach_replication", "5.5.7", Delete "/v1/{project_id}/protected-instances/{protected_instance_id}/detachreplication/{replication_id}",
        path: [PROTECTED_INSTANCE_ID, REPLICATION_ID], query: [], body: Body::None,
        job: true, status: 200, Mutating, "Detach a replication pair from a protected instance"),
    op!("add_protected_instance_nic", "sdrs.protected_instance.add_nic", "5.5.8", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/nic",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::TopLevel { fields: &[req("subnet_id", Str), opt("security_groups", ObjectList), opt("ip_address", Str)], fixed: &[] },
        job: true, status: 200, Mutating, "Add a NIC to a protected instance"),
    op!("delete_protected_instance_nic", "sdrs.protected_instance.delete_nic", "5.5.9", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/nic/delete",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::TopLevel { fields: &[req("nic_id", Str)], fixed: &[] },
        job: true, status: 200, Mutating, "Delete a NIC from a protected instance"),
    op!("resize_protected_instance", "sdrs.protected_instance.resize", "5.5.10", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/resize",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::Wrapped { key: "resize", fields: &[
            opt("flavorRef", Str), opt("production_flavorRef", Str), opt("dr_flavorRef", Str),
            opt("production_dedicated_host_id", Str), opt("dr_dedicated_host_id", Str),
        ]},
        job: true, status: 200, Mutating, "Change the flavor of a protected instance's servers"),
    op!("batch_create_protected_instances", "sdrs.protected_instance.batch_create", "5.5.11", Post "/v1/{project_id}/protected-instances/batch",
        path: [], query: [],
        body: Body::Wrapped { key: "protected_instances", fields: &[
            req("name_prefix", Str), opt("description", Str), req("server_group_id", Str), opt("cluster_id", Str),
            opt("primary_subnet_id", Str), opt("tenancy", Str), opt("dedicated_host_id", Str),
            req("servers", ObjectList), opt("tags", ObjectList),
        ]},
        job: true, status: 202, Mutating, "Create protected instances in a batch"),
    op!("batch_delete_protected_instances", "sdrs.protected_instance.batch_delete", "5.5.12", Post "/v1/{project_id}/protected-instances/delete",
        path: [], query: [],
        body: Body::TopLevel { fields: &[
            req("protected_instances", ObjectList), opt("delete_target_server", Boolean), opt("delete_target_eip", Boolean),
        ], fixed: &[] },
        job: true, status: 202, Mutating, "Delete protected instances in a batch"),
    // 5.6 Replication pair
    op!("create_replication", "sdrs.replication.create", "5.6.1", Post "/v1/{project_id}/replications",
        path: [], query: [],
        body: Body::Wrapped { key: "replication", fields: &[
            req("server_group_id", Str), req("volume_id", Str), req("name", Str), opt("description", Str),
            opt("cluster_id", Str),
        ]},
        job: true, status: 200, Mutating, "Create a replication pair for a production volume"),
    op!("delete_replication", "sdrs.replication.delete", "5.6.2", Delete "/v1/{project_id}/replications/{replication_id}",
        path: [REPLICATION_ID], query: [],
        body: Body::Wrapped { key: "replication", fields: &[opt("server_group_id", Str), opt("delete_target_volume", Boolean)] },
        job: true, status: 200, Mutating, "Delete a replication pair"),
    op!("list_replications", "sdrs.replication.list", "5.6.3", Get "/v1/{project_id}/replications",
        path: [],
        query: [opt("server_group_id", Str), opt("server_group_ids", Str), opt("protected_instance_id", Str),
            opt("protected_instance_ids", Str), opt("name", Str), opt("status", Str), PAGE[0], PAGE[1],
            opt("query_type", Str), opt("availability_zone", Str)],
        body: Body::None,
        job: false, status: 200, ReadOnly, "List replication pairs"),
    op!("show_replication", "sdrs.replication.show", "5.6.4", Get "/v1/{project_id}/replications/{replication_id}",
        path: [REPLICATION_ID], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Show a replication pair"),
    op!("expand_replication", "sdrs.replication.expand", "5.6.5", Post "/v1/{project_id}/replications/{replication_id}/action",
        path: [REPLICATION_ID], query: [],
        body: Body::Wrapped { key: "extend-replication", fields: &[req("new_size", Integer)] },
        job: true, status: 200, Mutating, "Expand the capacity of a replication pair"),
    op!("update_replication_name", "sdrs.replication.rename", "5.6.6", Put "/v1/{project_id}/replications/{replication_id}",
        path: [REPLICATION_ID], query: [],
        body: Body::Wrapped { key: "replication", fields: &[req("name", Str)] },
        job: false, status: 200, Mutating, "Rename a replication pair"),
    // 5.7 DR drill
    op!("create_disaster_recovery_drill", "sdrs.drill.create", "5.7.1", Post "/v1/{project_id}/disaster-recovery-drills",
        path: [], query: [],
        body: Body::Wrapped { key: "disaster_recovery_drill", fields: &[
            // drill_vpc_id is optional in both references (the service then creates a drill VPC).
            req("server_group_id", Str), opt("drill_vpc_id", Str), req("name", Str),
        ]},
        job: true, status: 200, Mutating, "Create a DR drill (drill servers in an isolated VPC)"),
    op!("delete_disaster_recovery_drill", "sdrs.drill.delete", "5.7.2", Delete "/v1/{project_id}/disaster-recovery-drills/{disaster_recovery_drill_id}",
        path: [DRILL_ID], query: [], body: Body::None,
        job: true, status: 200, Mutating, "Delete a DR drill and its drill servers"),
    op!("list_disaster_recovery_drills", "sdrs.drill.list", "5.7.3", Get "/v1/{project_id}/disaster-recovery-drills",
        path: [],
        query: [opt("server_group_id", Str), opt("name", Str), opt("status", Str), opt("drill_vpc_id", Str),
            PAGE[0], PAGE[1]],
        body: Body::None,
        job: false, status: 200, ReadOnly, "List DR drills"),
    op!("show_disaster_recovery_drill", "sdrs.drill.show", "5.7.4", Get "/v1/{project_id}/disaster-recovery-drills/{disaster_recovery_drill_id}",
        path: [DRILL_ID], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Show a DR drill"),
    op!("update_disaster_recovery_drill_name", "sdrs.drill.rename", "5.7.5", Put "/v1/{project_id}/disaster-recovery-drills/{disaster_recovery_drill_id}",
        path: [DRILL_ID], query: [],
        body: Body::Wrapped { key: "disaster_recovery_drill", fields: &[req("name", Str)] },
        job: false, status: 200, Mutating, "Rename a DR drill"),
    // 5.8 Tags
    op!("list_protected_instances_by_tags", "sdrs.tag.list_instances", "5.8.1", Post "/v1/{project_id}/protected-instances/resource_instances/action",
        path: [], query: [],
        body: Body::TopLevel { fields: &[
            opt("tags", ObjectList), opt("tags_any", ObjectList), opt("not_tags", ObjectList),
            opt("not_tags_any", ObjectList), opt("limit", Str), opt("offset", Str), req("action", Str),
            opt("matches", ObjectList),
        ], fixed: &[] },
        // A POST, but a query: it changes nothing, so the dry-run guard lets it through.
        job: false, status: 200, ReadOnly, "Find protected instances by tag (action filter or count)"),
    op!("batch_add_tags", "sdrs.tag.batch_add", "5.8.2", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/tags/action",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::TopLevel { fields: &[req("tags", ObjectList)], fixed: &[("action", "create")] },
        job: false, status: 204, Mutating, "Add tags to a protected instance in a batch"),
    op!("batch_delete_tags", "sdrs.tag.batch_delete", "5.8.3", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/tags/action",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::TopLevel { fields: &[req("tags", ObjectList)], fixed: &[("action", "delete")] },
        job: false, status: 204, Mutating, "Delete tags of a protected instance in a batch"),
    op!("add_protected_instance_tags", "sdrs.tag.add", "5.8.4", Post "/v1/{project_id}/protected-instances/{protected_instance_id}/tags",
        path: [PROTECTED_INSTANCE_ID], query: [],
        body: Body::TopLevel { fields: &[req("tag", Object)], fixed: &[] },
        job: false, status: 204, Mutating, "Add one tag to a protected instance"),
    op!("delete_protected_instance_tag", "sdrs.tag.delete", "5.8.5", Delete "/v1/{project_id}/protected-instances/{protected_instance_id}/tags/{key}",
        path: [PROTECTED_INSTANCE_ID, req("key", Str)], query: [], body: Body::None,
        job: false, status: 204, Mutating, "Delete one tag of a protected instance"),
    op!("list_protected_instance_tags", "sdrs.tag.list", "5.8.6", Get "/v1/{project_id}/protected-instances/{protected_instance_id}/tags",
        path: [PROTECTED_INSTANCE_ID], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "List the tags of a protected instance"),
    op!("list_protected_instances_project_tags", "sdrs.tag.list_project", "5.8.7", Get "/v1/{project_id}/protected-instances/tags",
        path: [], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "List the tags used by all protected instances of the project"),
    // 5.9 Task center
    op!("list_failure_jobs", "sdrs.task_center.list_failure_jobs", "5.9.1", Get "/v1/{project_id}/task-center/failure-jobs",
        path: [],
        query: [opt("failure_status", Str), opt("resource_name", Str), opt("server_group_id", Str),
            opt("resource_type", Str), PAGE[0], PAGE[1]],
        body: Body::None,
        job: false, status: 200, ReadOnly, "List failed jobs in the task center"),
    op!("delete_failure_job", "sdrs.task_center.delete_failure_job", "5.9.2", Delete "/v1/{project_id}/task-center/failure-jobs/{failure_job_id}",
        path: [req("failure_job_id", Str)], query: [], body: Body::None,
        job: false, status: 204, Mutating, "Delete one failed job from the task center"),
    op!("delete_all_server_group_failure_jobs", "sdrs.task_center.delete_all_failure_jobs", "5.9.3", Delete "/v1/{project_id}/task-center/failure-jobs/batch",
        path: [], query: [], body: Body::None,
        job: false, status: 204, Mutating, "Delete the failed jobs of all protection groups"),
    op!("delete_server_group_failure_jobs", "sdrs.task_center.delete_group_failure_jobs", "5.9.4", Delete "/v1/{project_id}/task-center/{server_group_id}/failure-jobs/batch",
        path: [SERVER_GROUP_ID], query: [], body: Body::None,
        job: false, status: 204, Mutating, "Delete the failed jobs of one protection group"),
    // 5.10 Quota
    op!("show_quota", "sdrs.quota.show", "5.10.1", Get "/v1/{project_id}/sdrs/quotas",
        path: [], query: [], body: Body::None,
        job: false, status: 200, ReadOnly, "Show the SDRS quotas"),
    // SDK only (not in either reference).
    op!("list_rpo_statistics", "sdrs.rpo_statistics.list", "—", Get "/v1/{project_id}/resource/rpo-statistics",
        path: [],
        query: [PAGE[0], PAGE[1], opt("start_time", Str), opt("end_time", Str), opt("resource_type", Str)],
        body: Body::None,
        job: false, status: 200, ReadOnly, "List RPO statistics"),
];

/// The ECS operations runbooks need (stop/start servers, show a server, poll an ECS job).
pub static ECS_OPERATIONS: &[Operation] = &[
    Operation {
        name: "batch_stop_servers",
        action: "ecs.servers.stop",
        doc: "ECS",
        service: Service::Ecs,
        method: Method::Post,
        path: "/v1/{project_id}/cloudservers/action",
        path_params: &[],
        query: &[],
        // Sent as {"os-stop": {"servers": [{"id": ...}], "type": "SOFT"|"HARD"}}.
        body: Body::Wrapped {
            key: "os-stop",
            fields: &[req("servers", ObjectList), opt("type", Str)],
        },
        returns_job: true,
        success_status: 200,
        effect: Effect::Mutating,
        summary: "Stop ECS servers in a batch",
    },
    Operation {
        name: "batch_start_servers",
        action: "ecs.servers.start",
        doc: "ECS",
        service: Service::Ecs,
        method: Method::Post,
        path: "/v1/{project_id}/cloudservers/action",
        path_params: &[],
        query: &[],
        body: Body::Wrapped {
            key: "os-start",
            fields: &[req("servers", ObjectList)],
        },
        returns_job: true,
        success_status: 200,
        effect: Effect::Mutating,
        summary: "Start ECS servers in a batch",
    },
    Operation {
        name: "show_server",
        action: "ecs.server.show",
        doc: "ECS",
        service: Service::Ecs,
        method: Method::Get,
        path: "/v1/{project_id}/cloudservers/{server_id}",
        path_params: &[req("server_id", Str)],
        query: &[],
        body: Body::None,
        returns_job: false,
        success_status: 200,
        effect: Effect::ReadOnly,
        summary: "Show an ECS server (status, flavor, addresses)",
    },
    Operation {
        name: "show_ecs_job",
        action: "ecs.job.show",
        doc: "ECS",
        service: Service::Ecs,
        method: Method::Get,
        path: "/v1/{project_id}/jobs/{job_id}",
        path_params: &[req("job_id", Str)],
        query: &[],
        body: Body::None,
        returns_job: false,
        success_status: 200,
        effect: Effect::ReadOnly,
        summary: "Query the status of an ECS job",
    },
];

/// Every operation, SDRS first.
pub fn all() -> impl Iterator<Item = &'static Operation> {
    SDRS_OPERATIONS.iter().chain(ECS_OPERATIONS.iter())
}

/// The operation behind a runbook action name, if any.
pub fn by_action(action: &str) -> Option<&'static Operation> {
    all().find(|op| op.action == action)
}

/// The operation with this SDK method name, if any.
pub fn by_name(name: &str) -> Option<&'static Operation> {
    all().find(|op| op.name == name)
}

const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The operation with this SDK method name, resolved at compile time when used in a `const`:
/// `const OP: &Operation = operations::find("show_job_status");` fails to build on a typo.
pub const fn find(name: &str) -> &'static Operation {
    let mut i = 0;
    while i < SDRS_OPERATIONS.len() {
        if same_name(SDRS_OPERATIONS[i].name, name) {
            return &SDRS_OPERATIONS[i];
        }
        i += 1;
    }
    let mut j = 0;
    while j < ECS_OPERATIONS.len() {
        if same_name(ECS_OPERATIONS[j].name, name) {
            return &ECS_OPERATIONS[j];
        }
        j += 1;
    }
    panic!("operations::find: no operation with this SDK method name")
}

const TAG: [Param; 2] = [req("key", Str), req("value", Str)];
const TAG_FILTER: [Param; 2] = [req("key", Str), req("values", Kind::StringList)];
const ID: [Param; 1] = [req("id", Str)];

/// Members of the objects inside `Object` / `ObjectList` inputs, in SDK declaration order:
/// (operation, input, members). The request builder checks the required members and writes the
/// members in this order (unknown members follow, unchanged), so bodies match the SDK's bytes.
static ITEM_FIELDS: &[(&str, &str, &[Param])] = &[
    ("create_protected_instance", "tags", &TAG),
    ("add_protected_instance_nic", "security_groups", &ID),
    (
        "batch_create_protected_instances",
        "servers",
        &[req("server_id", Str), opt("flavorRef", Str)],
    ),
    ("batch_create_protected_instances", "tags", &TAG),
    (
        "batch_delete_protected_instances",
        "protected_instances",
        &ID,
    ),
    ("list_protected_instances_by_tags", "tags", &TAG_FILTER),
    ("list_protected_instances_by_tags", "tags_any", &TAG_FILTER),
    ("list_protected_instances_by_tags", "not_tags", &TAG_FILTER),
    (
        "list_protected_instances_by_tags",
        "not_tags_any",
        &TAG_FILTER,
    ),
    (
        "list_protected_instances_by_tags",
        "matches",
        &[req("key", Str), req("value", Str)],
    ),
    ("batch_add_tags", "tags", &TAG),
    // Deleting by key alone removes every value of the key.
    (
        "batch_delete_tags",
        "tags",
        &[req("key", Str), opt("value", Str)],
    ),
    ("add_protected_instance_tags", "tag", &TAG),
    ("batch_stop_servers", "servers", &ID),
    ("batch_start_servers", "servers", &ID),
];

impl Operation {
    /// The members of the objects of an `Object` / `ObjectList` input, when the reference
    /// describes them.
    pub fn item_fields(&self, input: &str) -> Option<&'static [Param]> {
        ITEM_FIELDS
            .iter()
            .find(|(op, name, _)| *op == self.name && *name == input)
            .map(|(_, _, fields)| *fields)
    }

    /// The `Content-Type` the official SDK sends: with a charset for operations that declare a
    /// body (even when it is empty), plain JSON for the rest, GETs included.
    pub fn content_type(&self) -> &'static str {
        match self.body {
            Body::None => "application/json",
            // The SDK lower-cases the declared `application/json;charset=UTF-8`.
            Body::Wrapped { .. } | Body::TopLevel { .. } => "application/json;charset=utf-8",
        }
    }
}

/// An incoming request matched to its operation (see [`identify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub operation: &'static Operation,
    /// The `{project_id}` segment, percent-decoded, when the path has one.
    pub project_id: Option<String>,
    /// The other path parameters in template order, percent-decoded.
    pub path_params: Vec<(&'static str, String)>,
}

impl Identified {
    /// A path parameter by name.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether a request body selects this operation among those sharing its method and path: the
/// four protection-group actions by their top-level key, the two tag batch writes by `action`, the
/// two ECS server actions by `os-stop` / `os-start`.
fn body_selects(op: &Operation, body: Option<&serde_json::Value>) -> bool {
    match op.body {
        Body::Wrapped { key, .. } => body.and_then(|b| b.get(key)).is_some(),
        Body::TopLevel { fixed, .. } => fixed.iter().all(|(name, value)| {
            body.and_then(|b| b.get(*name)).and_then(|v| v.as_str()) == Some(*value)
        }),
        Body::None => true,
    }
}

fn split_path(raw_path: &str) -> Vec<&str> {
    let path = raw_path.split(['?', '#']).next().unwrap_or("");
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    trimmed.split('/').collect()
}

/// Identifies the operation of a request from its method, raw path (as received, query allowed)
/// and JSON body, among the operations of `services`. Literal path segments beat placeholders
/// (`GET /protected-instances/tags` is the project-tag list, not a protected instance called
/// `tags`); operations that share method and path are told apart by the body (its top-level key,
/// or its `action`). `None` when nothing matches, or when a shared path's body selects none of
/// its operations (the emulator answers that with `SDRS.0206`, invalid action).
pub fn identify_in(
    services: &[Service],
    method: Method,
    raw_path: &str,
    body: Option<&serde_json::Value>,
) -> Option<Identified> {
    let segments = split_path(raw_path);
    // (literal segments matched, operation, project id, path parameters)
    let mut candidates: Vec<(usize, Identified)> = Vec::new();
    for op in all().filter(|op| op.method == method && services.contains(&op.service)) {
        let template = split_path(op.path);
        if template.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let mut project_id = None;
        let mut path_params = Vec::new();
        let mut matched = true;
        for (t, s) in template.iter().zip(&segments) {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                if s.is_empty() {
                    matched = false;
                    break;
                }
                if name == "project_id" {
                    project_id = Some(decode_segment(s));
                } else if let Some(p) = op.path_params.iter().find(|p| p.name == name) {
                    path_params.push((p.name, decode_segment(s)));
                }
            } else if t == s {
                literal += 1;
            } else {
                matched = false;
                break;
            }
        }
        if matched {
            candidates.push((
                literal,
                Identified {
                    operation: op,
                    project_id,
                    path_params,
                },
            ));
        }
    }
    let best_score = candidates.iter().map(|(score, _)| *score).max()?;
    let mut best: Vec<Identified> = candidates
        .into_iter()
        .filter(|(score, _)| *score == best_score)
        .map(|(_, identified)| identified)
        .collect();
    if best.len() == 1 {
        return best.pop();
    }
    best.into_iter()
        .find(|identified| body_selects(identified.operation, body))
}

/// [`identify_in`] over every operation. `GET /v1/{project_id}/jobs/{job_id}` is both the SDRS
/// and the ECS job query; this resolves it to SDRS `show_job_status` (SDRS rows come first).
pub fn identify(
    method: Method,
    raw_path: &str,
    body: Option<&serde_json::Value>,
) -> Option<Identified> {
    identify_in(&[Service::Sdrs, Service::Ecs], method, raw_path, body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_table_has_the_49_sdrs_operations_of_the_sdk() {
        assert_eq!(SDRS_OPERATIONS.len(), 49);
    }

    #[test]
    fn names_and_actions_are_unique() {
        let mut names = HashSet::new();
        let mut actions = HashSet::new();
        for op in all() {
            assert!(names.insert(op.name), "duplicate name {}", op.name);
            assert!(actions.insert(op.action), "duplicate action {}", op.action);
        }
    }

    #[test]
    fn every_path_placeholder_is_a_path_param() {
        for op in all() {
            let placeholders: Vec<&str> = op
                .path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split('}').next())
                .filter(|p| *p != "project_id")
                .collect();
            let params: Vec<&str> = op.path_params.iter().map(|p| p.name).collect();
            assert_eq!(placeholders, params, "{}", op.name);
        }
    }

    #[test]
    fn only_one_post_is_read_only_and_every_get_is() {
        for op in all() {
            if op.method == Method::Get {
                assert_eq!(op.effect, Effect::ReadOnly, "{}", op.name);
            } else if op.effect == Effect::ReadOnly {
                assert_eq!(op.name, "list_protected_instances_by_tags");
            }
        }
    }

    #[test]
    fn inputs_have_no_duplicate_names() {
        for op in all() {
            let mut seen = HashSet::new();
            for p in op.inputs() {
                assert!(
                    seen.insert(p.name),
                    "{}: duplicate input {}",
                    op.name,
                    p.name
                );
            }
        }
    }

    fn sample_path(op: &Operation) -> String {
        op.path
            .replace("{project_id}", "proj-1")
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => format!("{name}%20v"),
                    None => seg.to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    fn sample_body(op: &Operation) -> Option<serde_json::Value> {
        match op.body {
            Body::None => None,
            Body::Wrapped { key, .. } => Some(serde_json::json!({ key: {} })),
            Body::TopLevel { fixed, .. } => {
                let mut map = serde_json::Map::new();
                for (name, value) in fixed {
                    map.insert((*name).to_owned(), serde_json::Value::from(*value));
                }
                Some(serde_json::Value::Object(map))
            }
        }
    }

    #[test]
    fn every_operation_identifies_itself_from_method_path_and_body() {
        for op in all() {
            let path = sample_path(op);
            let body = sample_body(op);
            let found = identify_in(&[op.service], op.method, &path, body.as_ref())
                .unwrap_or_else(|| panic!("{} not identified from {path}", op.name));
            assert_eq!(found.operation.name, op.name, "{path}");
            for param in op.path_params {
                assert_eq!(
                    found.path_param(param.name),
                    Some(format!("{} v", param.name).as_str()),
                    "{}",
                    op.name
                );
            }
            if op.path.contains("{project_id}") {
                assert_eq!(found.project_id.as_deref(), Some("proj-1"));
            }
        }
    }

    #[test]
    fn literal_segments_beat_placeholders() {
        let tags = identify(Method::Get, "/v1/p/protected-instances/tags", None).unwrap();
        assert_eq!(tags.operation.name, "list_protected_instances_project_tags");
        let show = identify(Method::Get, "/v1/p/protected-instances/pi-1?x=1", None).unwrap();
        assert_eq!(show.operation.name, "show_protected_instance");
        assert_eq!(show.path_param("protected_instance_id"), Some("pi-1"));
        let batch = identify(Method::Delete, "/v1/p/task-center/failure-jobs/batch", None).unwrap();
        assert_eq!(batch.operation.name, "delete_all_server_group_failure_jobs");
        let one = identify(Method::Delete, "/v1/p/task-center/failure-jobs/fj-1", None).unwrap();
        assert_eq!(one.operation.name, "delete_failure_job");
        let root = identify(Method::Get, "/", None).unwrap();
        assert_eq!(root.operation.name, "list_api_versions");
        let version = identify(Method::Get, "/v1/", None).unwrap();
        assert_eq!(version.operation.name, "show_specified_api_version");
        assert_eq!(version.path_param("api_version"), Some("v1"));
    }

    #[test]
    fn shared_paths_are_told_apart_by_the_body() {
        let path = "/v1/p/server-groups/sg-1/action";
        for (key, name) in [
            ("start-server-group", "start_protection_group"),
            ("stop-server-group", "stop_protection_group"),
            ("failover-server-group", "start_failover_protection_group"),
            ("reverse-server-group", "start_reverse_protection_group"),
        ] {
            let body = serde_json::json!({ key: {} });
            assert_eq!(
                identify(Method::Post, path, Some(&body))
                    .unwrap()
                    .operation
                    .name,
                name
            );
        }
        let unknown = serde_json::json!({"explode-server-group": {}});
        assert!(identify(Method::Post, path, Some(&unknown)).is_none());
        assert!(identify(Method::Post, path, None).is_none());
        let tags = "/v1/p/protected-instances/pi/tags/action";
        let delete = serde_json::json!({"tags": [], "action": "delete"});
        assert_eq!(
            identify(Method::Post, tags, Some(&delete))
                .unwrap()
                .operation
                .name,
            "batch_delete_tags"
        );
        let stop = serde_json::json!({"os-stop": {"servers": []}});
        assert_eq!(
            identify(Method::Post, "/v1/p/cloudservers/action", Some(&stop))
                .unwrap()
                .operation
                .name,
            "batch_stop_servers"
        );
        // The job query path is shared by SDRS and ECS; the caller picks the service.
        let job = "/v1/p/jobs/j-1";
        assert_eq!(
            identify(Method::Get, job, None).unwrap().operation.name,
            "show_job_status"
        );
        assert_eq!(
            identify_in(&[Service::Ecs], Method::Get, job, None)
                .unwrap()
                .operation
                .name,
            "show_ecs_job"
        );
    }

    #[test]
    fn find_resolves_names_and_item_fields_cover_every_object_input() {
        assert_eq!(
            find("show_job_status").path,
            "/v1/{project_id}/jobs/{job_id}"
        );
        assert_eq!(find("show_ecs_job").service, Service::Ecs);
        for op in all() {
            for input in op.inputs() {
                if matches!(input.kind, Kind::Object | Kind::ObjectList) {
                    assert!(
                        op.item_fields(input.name).is_some(),
                        "{}.{} has no item fields",
                        op.name,
                        input.name
                    );
                }
            }
        }
    }

    #[test]
    fn drill_vpc_is_optional_as_in_the_2023_reference() {
        let fields = find("create_disaster_recovery_drill").body.fields();
        let vpc = fields.iter().find(|p| p.name == "drill_vpc_id").unwrap();
        assert!(!vpc.required);
    }
}
