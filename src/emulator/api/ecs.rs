//! The ECS subset runbooks need: show a server, stop and start servers in a batch (jobs polled
//! through the shared `GET /v1/{project_id}/jobs/{job_id}`).

use super::{ApiError, Call, Ctx, NewJob, Reply, decode};
use crate::emulator::jobs::{self, Effect};
use crate::emulator::views;
use crate::sdrs::models;

/// ECS answers an unknown server with 404 and `Ecs.0114`.
fn no_such_server(id: &str) -> ApiError {
    ApiError::custom(
        404,
        "Ecs.0114",
        format!("Instance[{id}] could not be found."),
    )
}

/// ECS's code for an invalid request.
fn invalid(message: String) -> ApiError {
    ApiError::custom(400, "Ecs.0005", message)
}

fn server_ids(servers: &[models::ServerId], ctx: &Ctx<'_>) -> Result<Vec<String>, ApiError> {
    if servers.is_empty() {
        return Err(invalid(
            "servers must list at least one {\"id\": ...}".to_owned(),
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    for server in servers {
        if !ctx.world.servers.contains(&server.id) {
            return Err(no_such_server(&server.id));
        }
        if !ids.contains(&server.id) {
            ids.push(server.id.clone());
        }
    }
    Ok(ids)
}

fn submit(
    call: &Call<'_>,
    ctx: &mut Ctx<'_>,
    ids: Vec<String>,
    stop: bool,
) -> Result<Reply, ApiError> {
    let (job_type, sub_type) = if stop {
        ("batchStopServer", "stopServer")
    } else {
        ("batchStartServer", "startServer")
    };
    let sub_jobs = ids
        .iter()
        .map(|id| jobs::new_sub_job(sub_type, jobs::entities([("server_id", id)]), ctx.now))
        .collect();
    ctx.resource = Some(ids.join(","));
    let effect = if stop {
        Effect::StopServers { servers: ids }
    } else {
        Effect::StartServers { servers: ids }
    };
    Ok(Reply::Json(ctx.submit(
        call.op,
        NewJob::ecs(job_type, Default::default(), effect).with_sub_jobs(sub_jobs),
    )))
}

/// `POST /v1/{project_id}/cloudservers/action {"os-stop": {"type": "SOFT", "servers": [..]}}`.
pub fn batch_stop(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body: models::BatchStopServersRequestBody = decode(call)?;
    if let Some(t) = &body.os_stop.stop_type
        && !t.is_known()
    {
        return Err(invalid(format!("type `{t}`: expected SOFT or HARD")));
    }
    let ids = server_ids(&body.os_stop.servers, ctx)?;
    submit(call, ctx, ids, true)
}

/// `POST /v1/{project_id}/cloudservers/action {"os-start": {"servers": [..]}}`.
pub fn batch_start(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let body: models::BatchStartServersRequestBody = decode(call)?;
    let ids = server_ids(&body.os_start.servers, ctx)?;
    submit(call, ctx, ids, false)
}

/// `GET /v1/{project_id}/cloudservers/{server_id}`.
pub fn show_server(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("server_id")?;
    let server = ctx
        .world
        .servers
        .get(id)
        .ok_or_else(|| no_such_server(id))?;
    Ok(Reply::Json(views::to_json(&views::server(
        ctx.world, server,
    ))))
}
