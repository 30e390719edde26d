//! Exactly-once: telling from read-only queries whether a mutating call whose answer was lost
//! (the process died, the connection dropped after the request left, a 5xx, a timeout) was
//! applied, so that it is never sent twice.
//!
//! [`RULES`] has one row per mutating operation drbook can reconcile: which resource to read and
//! what state of it proves the call was applied. A call found applied is treated as if it had
//! answered: drbook waits for the resource to settle (read-only polls instead of the unknown job
//! id), then synthesises the job's outcome from the resource (`SUCCESS` with the entities a job
//! would carry, or `FAIL` when the resource ended in an error state). A call found not applied
//! may be sent again. An operation without a row, or a resource whose state proves nothing
//! either way, gives [`Verdict::Unknown`]: the step fails with `DRBOOK.UNKNOWN_OUTCOME` and a
//! message saying what to check, and nothing is re-issued blindly.
//!
//! Known limit: a request still travelling inside the service when the probe reads the
//! resource looks "not applied". drbook resumes in milliseconds after a crash only if an
//! operator restarts it that fast; a real service applies a request long before that.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::actions::Polling;
use super::machine::{NOT_FOUND_CODES, Verdict};
use crate::sdrs::operations::{self, Operation};
use crate::sdrs::{Client, ErrorClass};

/// What proves that an operation was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `show_protection_group`: applied when the group's `status` is in `applied`, or (for a
    /// reverse) its `priority_station` already is the requested one. Succeeded when it settles
    /// in a status of `ok`.
    GroupStatus {
        applied: &'static [&'static str],
        ok: &'static [&'static str],
        station: bool,
    },
    /// `list_protection_groups?name=`: a group with exactly that name exists.
    GroupCreated,
    /// `show_protection_group`: the group is gone (`SDRS.1013`) or `deleting`.
    GroupDeleted,
    /// `list_protected_instances?server_group_id=`: an instance of that server exists.
    InstanceCreated,
    /// `show_protected_instance`: gone (`SDRS.1320`) or `deleting`.
    InstanceDeleted,
    /// `show_protected_instance`: the pair is attached (or `attaching`).
    Attached,
    /// `show_protected_instance`: the pair is no longer attached (or `detaching`).
    Detached,
    /// `list_replications?server_group_id=`: a pair of that volume exists.
    ReplicationCreated,
    /// `show_replication`: gone (`SDRS.1608`) or `deleting`.
    ReplicationDeleted,
    /// `list_disaster_recovery_drills?server_group_id=&name=`: a drill with that name exists.
    DrillCreated,
    /// `show_disaster_recovery_drill`: gone (`SDRS.1902`) or `deleting`.
    DrillDeleted,
    /// `show_server` for every server: `status` is `target`, or `task_state` is `task`.
    Servers {
        target: &'static str,
        task: &'static str,
    },
    /// Show the resource: its `name` is the requested one.
    Renamed {
        show: &'static str,
        id_input: &'static str,
        wrapper: &'static str,
    },
}

/// One row of the reconciliation table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The SDK method name (`start_reverse_protection_group`).
    pub operation: &'static str,
    pub probe: Probe,
}

/// The reconciliation table: one row per mutating operation drbook can tell "applied" for.
pub static RULES: &[Rule] = &[
    Rule {
        operation: "start_protection_group",
        probe: Probe::GroupStatus {
            applied: &[
                "starting",
                "error-starting",
                "reprotecting",
                "error-reprotecting",
                "protected",
            ],
            ok: &["protected"],
            station: false,
        },
    },
    Rule {
        operation: "stop_protection_group",
        probe: Probe::GroupStatus {
            applied: &["stopping", "error-stopping", "available"],
            ok: &["available"],
            station: false,
        },
    },
    Rule {
        operation: "start_failover_protection_group",
        probe: Probe::GroupStatus {
            applied: &["failing-over", "failed-over", "error-failing-over"],
            ok: &["failed-over"],
            station: false,
        },
    },
    Rule {
        operation: "start_reverse_protection_group",
        probe: Probe::GroupStatus {
            applied: &["reversing", "error-reversing"],
            ok: &["protected"],
            station: true,
        },
    },
    Rule {
        operation: "create_protection_group",
        probe: Probe::GroupCreated,
    },
    Rule {
        operation: "delete_protection_group",
        probe: Probe::GroupDeleted,
    },
    Rule {
        operation: "update_protection_group_name",
        probe: Probe::Renamed {
            show: "show_protection_group",
            id_input: "server_group_id",
            wrapper: "server_group",
        },
    },
    Rule {
        operation: "create_protected_instance",
        probe: Probe::InstanceCreated,
    },
    Rule {
        operation: "delete_protected_instance",
        probe: Probe::InstanceDeleted,
    },
    Rule {
        operation: "update_protected_instance_name",
        probe: Probe::Renamed {
            show: "show_protected_instance",
            id_input: "protected_instance_id",
            wrapper: "protected_instance",
        },
    },
    Rule {
        operation: "attach_protected_instance_replication",
        probe: Probe::Attached,
    },
    Rule {
        operation: "detach_protected_instance_replication",
        probe: Probe::Detached,
    },
    Rule {
        operation: "create_replication",
        probe: Probe::ReplicationCreated,
    },
    Rule {
        operation: "delete_replication",
        probe: Probe::ReplicationDeleted,
    },
    Rule {
        operation: "update_replication_name",
        probe: Probe::Renamed {
            show: "show_replication",
            id_input: "replication_id",
            wrapper: "replication",
        },
    },
    Rule {
        operation: "create_disaster_recovery_drill",
        probe: Probe::DrillCreated,
    },
    Rule {
        operation: "delete_disaster_recovery_drill",
        probe: Probe::DrillDeleted,
    },
    Rule {
        operation: "update_disaster_recovery_drill_name",
        probe: Probe::Renamed {
            show: "show_disaster_recovery_drill",
            id_input: "disaster_recovery_drill_id",
            wrapper: "disaster_recovery_drill",
        },
    },
    Rule {
        operation: "batch_stop_servers",
        probe: Probe::Servers {
            target: "SHUTOFF",
            task: "powering-off",
        },
    },
    Rule {
        operation: "batch_start_servers",
        probe: Probe::Servers {
            target: "ACTIVE",
            task: "powering-on",
        },
    },
];

/// The row for an operation, if drbook can reconcile it.
pub fn rule(operation: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.operation == operation)
}

/// How long to wait for a resource found "applied" to settle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settle {
    pub polling: Polling,
    /// Give up waiting (the step fails with `DRBOOK.UNKNOWN_OUTCOME`) after this long.
    pub max_wait: Duration,
}

impl Default for Settle {
    fn default() -> Self {
        Settle {
            polling: Polling::default(),
            max_wait: Duration::from_secs(3600),
        }
    }
}

/// A status that is still moving (`reversing`, `creating`, ...); `error-*` statuses are final.
pub fn is_transitional(status: &str) -> bool {
    status.ends_with("ing") && !status.starts_with("error")
}

fn is_not_found(error: &crate::sdrs::Error) -> bool {
    let code = error.code();
    NOT_FOUND_CODES.contains(&code.as_str())
        || code.as_str() == "HTTP.404"
        || code.as_str().eq_ignore_ascii_case("Ecs.0114")
        || error.status() == Some(404)
}

/// What one probe found.
enum Found {
    /// Applied; `settled` carries the job outcome once the resource stopped moving.
    Applied {
        settled: Option<Value>,
        entities: Map<String, Value>,
    },
    NotApplied,
    Unknown(String),
}

struct Prober<'a> {
    client: &'a Client,
    inputs: &'a Map<String, Value>,
}

impl Prober<'_> {
    fn input(&self, name: &str) -> Option<&str> {
        self.inputs.get(name).and_then(Value::as_str)
    }

    async fn get(
        &self,
        operation: &str,
        inputs: Map<String, Value>,
    ) -> Result<Value, crate::sdrs::Error> {
        let op = operations::by_name(operation).ok_or_else(|| {
            crate::sdrs::Error::Config(format!("no operation {operation} in the table"))
        })?;
        self.client.call(op, &inputs).await
    }

    async fn show(
        &self,
        operation: &str,
        id_name: &str,
        id: &str,
    ) -> Result<Value, crate::sdrs::Error> {
        let mut inputs = Map::new();
        inputs.insert(id_name.to_owned(), Value::String(id.to_owned()));
        self.get(operation, inputs).await
    }
}

fn str_at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn entities(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect()
}

/// Decides whether `op` with `inputs` was applied. Transient errors while probing are retried
/// within the settle budget; anything else that stops the probe is `Unknown`.
pub async fn reconcile(
    client: &Client,
    op: &'static Operation,
    inputs: &Map<String, Value>,
    settle: Settle,
) -> Verdict {
    let Some(rule) = rule(op.name) else {
        return Verdict::Unknown(unknown_message(
            op,
            "drbook has no rule to tell whether this operation was applied",
        ));
    };
    let prober = Prober { client, inputs };
    let started = Instant::now();
    let mut delay = settle.polling.initial.max(Duration::from_millis(1));
    let mut found_applied: Option<Map<String, Value>> = None;
    loop {
        match probe(&prober, rule.probe).await {
            Ok(Found::NotApplied) if found_applied.is_none() => return Verdict::NotApplied,
            Ok(Found::NotApplied) => {
                // It looked applied a moment ago and now does not: the resource moved back.
                return Verdict::Unknown(unknown_message(
                    op,
                    "the resource changed back while drbook watched it settle",
                ));
            }
            Ok(Found::Unknown(why)) => return Verdict::Unknown(unknown_message(op, &why)),
            Ok(Found::Applied {
                settled: Some(job),
                entities,
            }) => {
                let mut job = job;
                if let Value::Object(map) = &mut job {
                    map.insert("entities".into(), Value::Object(entities.clone()));
                    map.insert("reconciled".into(), Value::Bool(true));
                }
                let mut answer = Map::new();
                answer.insert("reconciled".into(), Value::Bool(true));
                answer.insert("job".into(), job);
                answer.insert("entities".into(), Value::Object(entities));
                return Verdict::Applied(Value::Object(answer));
            }
            Ok(Found::Applied {
                settled: None,
                entities,
            }) => {
                found_applied = Some(entities);
            }
            Err(error) if error.class() != ErrorClass::Permanent => {
                tracing::warn!(operation = op.name, code = %error.code(), "reconcile probe failed, will retry: {error}");
            }
            Err(error) => {
                return Verdict::Unknown(unknown_message(
                    op,
                    &format!("reading the resource failed: {error}"),
                ));
            }
        }
        if started.elapsed() >= settle.max_wait {
            return Verdict::Unknown(unknown_message(
                op,
                &format!(
                    "the resource did not settle within {}",
                    crate::runbook::Duration::from(settle.max_wait)
                ),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(settle.polling.cap.max(settle.polling.initial));
    }
}

fn unknown_message(op: &Operation, why: &str) -> String {
    format!(
        "cannot tell whether {} ({} {}) was applied: {why}. Check the resource in the console; \
         if the change did not happen, `drbook resume` retries the step (it sends the request \
         again), otherwise finish the remaining steps by hand",
        op.name,
        op.method.as_str(),
        op.path
    )
}

fn job(ok: bool, job_type: &str, why: &str) -> Value {
    if ok {
        json!({"status": "SUCCESS", "job_type": job_type})
    } else {
        json!({
            "status": "FAIL",
            "job_type": job_type,
            "error_code": crate::sdrs::ErrorCode::JOB_FAILED,
            "fail_reason": why,
        })
    }
}

/// One look at the resource.
async fn probe(p: &Prober<'_>, probe: Probe) -> Result<Found, crate::sdrs::Error> {
    match probe {
        Probe::GroupStatus {
            applied,
            ok,
            station,
        } => {
            let id = p.input("server_group_id").unwrap_or_default();
            let group = match p.show("show_protection_group", "server_group_id", id).await {
                Ok(group) => group,
                Err(e) if is_not_found(&e) => {
                    return Ok(Found::Unknown(format!(
                        "protection group {id} does not exist"
                    )));
                }
                Err(e) => return Err(e),
            };
            let status = str_at(&group, "/server_group/status");
            let current_station = str_at(&group, "/server_group/priority_station");
            let wanted_station = p
                .inputs
                .get("priority_station")
                .and_then(Value::as_str)
                .unwrap_or("");
            let is_applied = applied.contains(&status)
                || (station && !wanted_station.is_empty() && current_station == wanted_station);
            if !is_applied {
                return Ok(Found::NotApplied);
            }
            let entities = entities(&[("server_group_id", id)]);
            if is_transitional(status) {
                return Ok(Found::Applied {
                    settled: None,
                    entities,
                });
            }
            let good = ok.contains(&status) && (!station || current_station == wanted_station);
            Ok(Found::Applied {
                settled: Some(job(
                    good,
                    "reconciled",
                    &format!(
                        "protection group {id} is {status} (priority_station {current_station})"
                    ),
                )),
                entities,
            })
        }
        Probe::GroupCreated => {
            let name = p.input("name").unwrap_or_default();
            let mut query = Map::new();
            query.insert("name".into(), Value::String(name.to_owned()));
            let list = p.get("list_protection_groups", query).await?;
            let found = list
                .get("server_groups")
                .and_then(Value::as_array)
                .and_then(|groups| {
                    groups
                        .iter()
                        .find(|g| g.get("name").and_then(Value::as_str) == Some(name))
                });
            let Some(group) = found else {
                return Ok(Found::NotApplied);
            };
            let status = str_at(group, "/status");
            let id = str_at(group, "/id");
            settled(
                status,
                &[("server_group_id", id)],
                &["available", "protected"],
                "createProtectionGroupNoCG",
            )
        }
        Probe::GroupDeleted => {
            let id = p.input("server_group_id").unwrap_or_default();
            gone(
                p.show("show_protection_group", "server_group_id", id).await,
                "/server_group/status",
                &[("server_group_id", id)],
                "deleteProtectionGroupNoCG",
            )
        }
        Probe::InstanceCreated => {
            let group = p.input("server_group_id").unwrap_or_default();
            let server = p.input("server_id").unwrap_or_default();
            let mut query = Map::new();
            query.insert("server_group_id".into(), Value::String(group.to_owned()));
            let list = p.get("list_protected_instances", query).await?;
            let found = list
                .get("protected_instances")
                .and_then(Value::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .find(|i| i.get("source_server").and_then(Value::as_str) == Some(server))
                });
            let Some(instance) = found else {
                return Ok(Found::NotApplied);
            };
            let status = str_at(instance, "/status");
            let id = str_at(instance, "/id");
            settled(
                status,
                &[
                    ("protected_instance_id", id),
                    ("native_server_id", str_at(instance, "/target_server")),
                ],
                &["available", "protected"],
                "createProtectedInstanceNoCG",
            )
        }
        Probe::InstanceDeleted => {
            let id = p.input("protected_instance_id").unwrap_or_default();
            gone(
                p.show("show_protected_instance", "protected_instance_id", id)
                    .await,
                "/protected_instance/status",
                &[("protected_instance_id", id)],
                "deleteProtectedInstanceNoCG",
            )
        }
        Probe::Attached | Probe::Detached => {
            let id = p.input("protected_instance_id").unwrap_or_default();
            let pair = p.input("replication_id").unwrap_or_default();
            let instance = match p
                .show("show_protected_instance", "protected_instance_id", id)
                .await
            {
                Ok(v) => v,
                Err(e) if is_not_found(&e) && probe == Probe::Detached => {
                    return Ok(Found::Applied {
                        settled: Some(job(true, "detachReplicationPairNew", "")),
                        entities: entities(&[
                            ("protected_instance_id", id),
                            ("replication_pair_id", pair),
                        ]),
                    });
                }
                Err(e) if is_not_found(&e) => {
                    return Ok(Found::Unknown(format!(
                        "protected instance {id} does not exist"
                    )));
                }
                Err(e) => return Err(e),
            };
            let status = str_at(&instance, "/protected_instance/status");
            let attached = instance
                .pointer("/protected_instance/attachment")
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    list.iter()
                        .any(|a| a.get("replication").and_then(Value::as_str) == Some(pair))
                });
            let (applied, moving, job_type) = if probe == Probe::Attached {
                (attached, "attaching", "attachReplicationPairNew")
            } else {
                (!attached, "detaching", "detachReplicationPairNew")
            };
            if !(applied || status == moving) {
                return Ok(Found::NotApplied);
            }
            settled(
                status,
                &[("protected_instance_id", id), ("replication_pair_id", pair)],
                &["available", "protected"],
                job_type,
            )
        }
        Probe::ReplicationCreated => {
            let group = p.input("server_group_id").unwrap_or_default();
            let volume = p.input("volume_id").unwrap_or_default();
            let mut query = Map::new();
            query.insert("server_group_id".into(), Value::String(group.to_owned()));
            let list = p.get("list_replications", query).await?;
            let found = list
                .get("replications")
                .and_then(Value::as_array)
                .and_then(|items| {
                    items.iter().find(|r| {
                        r.get("volume_ids")
                            .and_then(Value::as_str)
                            .is_some_and(|ids| ids.split(',').any(|v| v.trim() == volume))
                    })
                });
            let Some(pair) = found else {
                return Ok(Found::NotApplied);
            };
            let status = str_at(pair, "/status");
            settled(
                status,
                &[
                    ("replication_pair_id", str_at(pair, "/id")),
                    ("volume_ids", str_at(pair, "/volume_ids")),
                ],
                &["available", "protected"],
                "createReplicationPairNoCG",
            )
        }
        Probe::ReplicationDeleted => {
            let id = p.input("replication_id").unwrap_or_default();
            gone(
                p.show("show_replication", "replication_id", id).await,
                "/replication/status",
                &[("replication_pair_id", id)],
                "deleteReplicationPairNoCG",
            )
        }
        Probe::DrillCreated => {
            let group = p.input("server_group_id").unwrap_or_default();
            let name = p.input("name").unwrap_or_default();
            let mut query = Map::new();
            query.insert("server_group_id".into(), Value::String(group.to_owned()));
            query.insert("name".into(), Value::String(name.to_owned()));
            let list = p.get("list_disaster_recovery_drills", query).await?;
            let found = list
                .get("disaster_recovery_drills")
                .and_then(Value::as_array)
                .and_then(|items| {
                    items
                        .iter()
                        .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
                });
            let Some(drill) = found else {
                return Ok(Found::NotApplied);
            };
            settled(
                str_at(drill, "/status"),
                &[("disaster_recovery_drill_id", str_at(drill, "/id"))],
                &["available"],
                "createDisasterRecoveryDrill",
            )
        }
        Probe::DrillDeleted => {
            let id = p.input("disaster_recovery_drill_id").unwrap_or_default();
            gone(
                p.show(
                    "show_disaster_recovery_drill",
                    "disaster_recovery_drill_id",
                    id,
                )
                .await,
                "/disaster_recovery_drill/status",
                &[("disaster_recovery_drill_id", id)],
                "deleteDisasterRecoveryDrill",
            )
        }
        Probe::Servers { target, task } => {
            let ids: Vec<String> = p
                .inputs
                .get("servers")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|s| s.get("id").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if ids.is_empty() {
                return Ok(Found::Unknown("the request names no server".into()));
            }
            let (mut done, mut moving, mut untouched) = (0, 0, 0);
            for id in &ids {
                let server = p.show("show_server", "server_id", id).await?;
                let (status, task_state) = server_power(&server);
                if task_state == task {
                    moving += 1;
                } else if status == target && task_state.is_empty() {
                    done += 1;
                } else if task_state.is_empty() {
                    untouched += 1;
                } else {
                    return Ok(Found::Unknown(format!(
                        "server {id} is busy with another task ({task_state})"
                    )));
                }
            }
            let job_type = if target == "SHUTOFF" {
                "batchStopServer"
            } else {
                "batchStartServer"
            };
            let entities = Map::new();
            if untouched == ids.len() {
                Ok(Found::NotApplied)
            } else if untouched > 0 {
                Ok(Found::Unknown(format!(
                    "{done} of {} servers are {target}, {untouched} are not and none is changing",
                    ids.len()
                )))
            } else if moving > 0 {
                Ok(Found::Applied {
                    settled: None,
                    entities,
                })
            } else {
                Ok(Found::Applied {
                    settled: Some(job(true, job_type, "")),
                    entities,
                })
            }
        }
        Probe::Renamed {
            show,
            id_input,
            wrapper,
        } => {
            let id = p.input(id_input).unwrap_or_default();
            let name = p.input("name").unwrap_or_default();
            let resource = p.show(show, id_input, id).await?;
            if str_at(&resource, &format!("/{wrapper}/name")) == name {
                Ok(Found::Applied {
                    settled: Some(resource),
                    entities: Map::new(),
                })
            } else {
                Ok(Found::NotApplied)
            }
        }
    }
}

/// A `show_server` answer's `status` and pending power change. ECS names the latter
/// `OS-EXT-STS:task_state` on the wire (as the `sdrs` models spell it); it is the only sign of
/// a batch stop or start that was accepted and is still running, since `status` changes only
/// when the job is done.
fn server_power(server: &Value) -> (&str, &str) {
    (
        str_at(server, "/server/status"),
        str_at(server, "/server/OS-EXT-STS:task_state"),
    )
}

/// An applied create/attach: settled once its status stops moving.
fn settled(
    status: &str,
    pairs: &[(&str, &str)],
    ok: &[&str],
    job_type: &str,
) -> Result<Found, crate::sdrs::Error> {
    let entities = entities(pairs);
    if is_transitional(status) {
        return Ok(Found::Applied {
            settled: None,
            entities,
        });
    }
    Ok(Found::Applied {
        settled: Some(job(
            ok.contains(&status),
            job_type,
            &format!("the resource is {status}"),
        )),
        entities,
    })
}

/// An applied delete: the resource is gone, or still deleting.
fn gone(
    shown: Result<Value, crate::sdrs::Error>,
    status_pointer: &str,
    pairs: &[(&str, &str)],
    job_type: &str,
) -> Result<Found, crate::sdrs::Error> {
    match shown {
        Err(e) if is_not_found(&e) => Ok(Found::Applied {
            settled: Some(job(true, job_type, "")),
            entities: entities(pairs),
        }),
        Err(e) => Err(e),
        Ok(resource) => {
            let status = str_at(&resource, status_pointer);
            if status == "deleting" {
                Ok(Found::Applied {
                    settled: None,
                    entities: entities(pairs),
                })
            } else if status == "error-deleting" {
                Ok(Found::Applied {
                    settled: Some(job(false, job_type, "the resource is error-deleting")),
                    entities: entities(pairs),
                })
            } else {
                Ok(Found::NotApplied)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_a_mutating_operation_once() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            let op = operations::by_name(rule.operation)
                .unwrap_or_else(|| panic!("{} is not in the table", rule.operation));
            assert_eq!(
                op.effect,
                operations::Effect::Mutating,
                "{}",
                rule.operation
            );
            assert!(seen.insert(rule.operation), "{} twice", rule.operation);
        }
    }

    #[test]
    fn the_operations_runbooks_use_have_rules() {
        for name in [
            "start_protection_group",
            "stop_protection_group",
            "start_failover_protection_group",
            "start_reverse_protection_group",
            "create_protection_group",
            "delete_protection_group",
            "create_disaster_recovery_drill",
            "delete_disaster_recovery_drill",
            "create_protected_instance",
            "delete_protected_instance",
            "create_replication",
            "delete_replication",
            "attach_protected_instance_replication",
            "detach_protected_instance_replication",
            "batch_stop_servers",
            "batch_start_servers",
        ] {
            assert!(rule(name).is_some(), "{name} has no reconciliation rule");
        }
    }

    #[test]
    fn a_pending_power_change_is_read_from_the_wire_field() {
        // Built from the wire model, so a renamed field cannot slip past this test.
        let server = crate::sdrs::models::ShowServerResponse {
            server: Some(crate::sdrs::models::Server {
                status: Some("ACTIVE".into()),
                task_state: Some("powering-off".into()),
                ..Default::default()
            }),
        };
        let value = serde_json::to_value(&server).unwrap();
        assert_eq!(server_power(&value), ("ACTIVE", "powering-off"));
        let idle = json!({"server": {"status": "SHUTOFF"}});
        assert_eq!(server_power(&idle), ("SHUTOFF", ""));
    }

    #[test]
    fn transitional_statuses_end_in_ing_but_errors_are_final() {
        assert!(is_transitional("reversing"));
        assert!(is_transitional("creating"));
        assert!(!is_transitional("error-reversing"));
        assert!(!is_transitional("protected"));
        assert!(!is_transitional("failed-over"));
    }
}
