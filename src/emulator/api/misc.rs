//! Jobs (5.1), API versions (5.2), active-active domains (5.3), quotas (5.10) and the SDK-only
//! RPO statistics.

use super::{ApiError, Call, Ctx, ErrorShape, Reply, page};
use crate::emulator::views;
use crate::sdrs::models;

/// 5.1.1 `GET /v1/{project_id}/jobs/{job_id}`, shared by SDRS and ECS jobs.
pub fn show_job(call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = call.param("job_id")?;
    ctx.resource = Some(id.to_owned());
    let job = ctx.world.jobs.get(id).ok_or_else(|| {
        // A.1 has no "job not found" code; the live service answers unknown ids with 400.
        ApiError::invalid(format!("job {id} not found"))
    })?;
    Ok(Reply::Json(views::job(job)))
}

fn version_v1() -> models::ApiVersion {
    // 5.2.1 example: the only version, v1, current since 2018-05-30.
    models::ApiVersion {
        id: Some("v1".to_owned()),
        links: vec![models::ApiVersionLink {
            rel: Some("self".to_owned()),
            href: Some("/v1".to_owned()),
        }],
        version: Some(String::new()),
        status: Some(models::ApiVersionStatus::Current),
        updated: Some("2018-05-30T15:00:00Z".to_owned()),
        min_version: Some(String::new()),
    }
}

/// 5.2.1 `GET /`.
pub fn list_api_versions(_call: &Call<'_>, _ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::Json(views::to_json(
        &models::ListApiVersionsResponse {
            versions: vec![version_v1()],
        },
    )))
}

/// 5.2.2 `GET /{api_version}`.
pub fn show_api_version(call: &Call<'_>, _ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let version = call.param("api_version")?;
    if version == "v1" {
        return Ok(Reply::Json(views::to_json(
            &models::ShowApiVersionResponse {
                version: Some(version_v1()),
            },
        )));
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
    Ok(Reply::Json(views::to_json(
        &models::ListActiveDomainsResponse {
            domains: ctx.world.domains.iter().map(views::domain).collect(),
        },
    )))
}

/// 5.10.1 `GET /v1/{project_id}/sdrs/quotas`: quotas of the inventory, used counts of the state.
pub fn show_quota(_call: &Call<'_>, ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let w = &ctx.world;
    let resource = |kind, used: usize, quota: i64| models::QuotaResource {
        resource_type: Some(kind),
        used: Some(i64::try_from(used).unwrap_or(i64::MAX)),
        quota: Some(quota),
        min: Some(0),
        max: Some(-1),
    };
    Ok(Reply::Json(views::to_json(&models::QuotaResponse {
        quotas: Some(models::Quotas {
            resources: vec![
                resource(
                    models::QuotaResourceType::ServerGroups,
                    w.protection_groups.len(),
                    w.quotas.server_groups,
                ),
                resource(
                    models::QuotaResourceType::Replications,
                    w.replication_pairs.len(),
                    w.quotas.replications,
                ),
            ],
        }),
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
    Ok(Reply::Json(views::to_json(
        &models::ListRpoStatisticsResponse {
            resource_rpo_statistics: Vec::new(),
            count: Some(0),
        },
    )))
}
