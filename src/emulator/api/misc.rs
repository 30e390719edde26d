//! Jobs (5.1), API versions (5.2), active-active domains (5.3), quotas (5.10) and the SDK-only
//! RPO statistics.

use serde_json::{Value, json};

use super::{ApiError, Call, Ctx, ErrorShape, Reply, page};

/// 5.1.1 `GET /v1/{project_id}/jobs/{job_id}`, shared by SDRS and ECS jobs.
pub fn show_job(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("job_id")?;
    ctx.resource = Some(id.to_owned());
    let job = ctx.world.jobs.get(id).ok_or_else(|| {
        // A.1 has no "job not found" code; the live service answers unknown ids with 400.
        ApiError::invalid(format!("job {id} not found"))
    })?;
    Ok(Reply::Json(job.to_json()))
}

fn version_v1() -> Value {
    // 5.2.1 example: the only version, v1, current since 2018-05-30.
    json!({
        "id": "v1",
        "links": [{"rel": "self", "href": "/v1"}],
        "version": "",
        "status": "CURRENT",
        "updated": "2018-05-30T15:00:00Z",
        "min_version": "",
    })
}

/// 5.2.1 `GET /`.
pub fn list_api_versions(_call: &Call<'_>, _ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::Json(json!({ "versions": [version_v1()] })))
}

/// 5.2.2 `GET /{api_version}`.
pub fn show_api_version(call: &Call<'_>, _ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let version = call.param("api_version")?;
    if version == "v1" {
        return Ok(Reply::Json(json!({ "version": version_v1() })));
    }
    Err(ApiError {
        http_status: 404,
        code: "SDRS.0201".to_owned(),
        message: format!("API version {version} not found; the only version is v1"),
        shape: ErrorShape::ItemNotFound,
    })
}

/// 5.3.1 `GET /v1/{project_id}/active-domains`.
pub fn list_domains(_call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let domains: Vec<Value> = ctx
        .world
        .domains
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.name,
                "description": d.description,
                "sold_out": d.sold_out,
                "local_replication_cluster": {"availability_zone": d.local_availability_zone},
                "remote_replication_cluster": {"availability_zone": d.remote_availability_zone},
            })
        })
        .collect();
    Ok(Reply::Json(json!({ "domains": domains })))
}

/// 5.10.1 `GET /v1/{project_id}/sdrs/quotas`: quotas of the inventory, used counts of the state.
pub fn show_quota(_call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let w = &ctx.world;
    Ok(Reply::Json(json!({
        "quotas": {
            "resources": [
                {
                    "type": "server_groups",
                    "used": w.protection_groups.len(),
                    "quota": w.quotas.server_groups,
                    "min": 0,
                    "max": -1,
                },
                {
                    "type": "replications",
                    "used": w.replication_pairs.len(),
                    "quota": w.quotas.replications,
                    "min": 0,
                    "max": -1,
                },
            ]
        }
    })))
}

/// SDK-only `GET /v1/{project_id}/resource/rpo-statistics`: resources whose RPO was exceeded.
/// Replication is synchronous (RPO 0) in the emulator, so the list is always empty.
pub fn list_rpo_statistics(call: &Call<'_>, _ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    page(call)?;
    for name in ["start_time", "end_time"] {
        if let Some(text) = call.query(name)
            && text.parse::<jiff::Timestamp>().is_err()
            && jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text).is_err()
        {
            return Err(ApiError::invalid(format!(
                "{name} `{text}` is not a time (RFC 3339 or yyyy-MM-dd HH:mm:ss)"
            )));
        }
    }
    Ok(Reply::Json(
        json!({ "resource_rpo_statistics": [], "count": 0 }),
    ))
}
