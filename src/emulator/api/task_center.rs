//! The task center (reference 5.9): failed jobs, in two layers. The outer layer holds the
//! protection groups' own failures (create, delete, start, ...); the inner layer, reached with
//! `server_group_id`, holds the failures of the resources inside one group.

use super::protection_groups::group;
use super::{ApiError, Call, Ctx, Reply, page, paginate};
use crate::emulator::jobs::FailureJob;
use crate::emulator::views;
use crate::sdrs::models;

/// `failure_status` values of 5.9.1.
const FAILURE_STATUSES: &[&str] = &[
    "createFail",
    "deleteFail",
    "attachFail",
    "detachFail",
    "expandFail",
    "resizeFail",
    "startFail",
    "stopFail",
    "reverseFail",
    "failoverFail",
    "reprotectFail",
];

/// `resource_type` values of 5.9.1.
const RESOURCE_TYPES: &[&str] = &[
    "server_groups",
    "protected_instances",
    "replications",
    "disaster_recovery_drills",
];

/// 5.9.1 `GET /v1/{project_id}/task-center/failure-jobs`.
pub fn list(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let (limit, offset) = page(call)?;
    let failure_status = call.query("failure_status");
    if let Some(s) = failure_status
        && !FAILURE_STATUSES.contains(&s)
    {
        return Err(ApiError::invalid(format!(
            "failure_status `{s}`: expected one of {}",
            FAILURE_STATUSES.join(", ")
        )));
    }
    let resource_type = call.query("resource_type");
    if let Some(t) = resource_type
        && !RESOURCE_TYPES.contains(&t)
    {
        return Err(ApiError::invalid(format!(
            "resource_type `{t}`: expected one of {}",
            RESOURCE_TYPES.join(", ")
        )));
    }
    let group_id = call.query("server_group_id");
    let resource_name = call.query("resource_name");
    let mut jobs: Vec<&FailureJob> = ctx
        .world
        .failure_jobs
        .values()
        .filter(|j| match group_id {
            // "Without filter parameters only group-level failures are listed".
            None => j.is_group_level(),
            Some(g) => j.server_group_id == g && !j.is_group_level(),
        })
        .filter(|j| failure_status.is_none_or(|s| j.failure_status == s))
        .filter(|j| resource_type.is_none_or(|t| j.resource_type == t))
        .filter(|j| resource_name.is_none_or(|n| j.resource_name.contains(n)))
        .collect();
    jobs.sort_by(|a, b| b.begin_time.cmp(&a.begin_time).then(a.id.cmp(&b.id)));
    let (page, count) = paginate(jobs, limit, offset);
    Ok(Reply::Json(views::to_json(
        &models::ListFailureJobsResponse {
            failure_jobs: page.into_iter().map(views::failure_job).collect(),
            count: Some(i64::try_from(count).unwrap_or(i64::MAX)),
        },
    )))
}

/// 5.9.2 `DELETE /v1/{project_id}/task-center/failure-jobs/{failure_job_id}`.
pub fn delete(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("failure_job_id")?;
    ctx.resource = Some(id.to_owned());
    if ctx.world.failure_jobs.remove(id).is_none() {
        // A.1 has no "failed job not found" code.
        return Err(ApiError::invalid(format!("failed job {id} not found")));
    }
    Ok(Reply::Empty)
}

/// 5.9.3 `DELETE /v1/{project_id}/task-center/failure-jobs/batch`: every group-level failure.
pub fn delete_all(_call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    ctx.world.failure_jobs.retain(|j| !j.is_group_level());
    Ok(Reply::Empty)
}

/// 5.9.4 `DELETE /v1/{project_id}/task-center/{server_group_id}/failure-jobs/batch`: every
/// failure inside one group.
pub fn delete_of_group(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("server_group_id")?.to_owned();
    let known = ctx.world.protection_groups.contains(&id)
        || ctx
            .world
            .failure_jobs
            .values()
            .any(|j| j.server_group_id == id);
    if !known {
        group(ctx.world, &id)?;
    }
    ctx.resource = Some(id.clone());
    ctx.world
        .failure_jobs
        .retain(|j| j.server_group_id != id || j.is_group_level());
    Ok(Reply::Empty)
}
