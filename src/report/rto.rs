//! The recovery time objective a run achieved, and exactly what drbook means by it.
//!
//! **Definition.** RTO achieved = from the run's start (`started_at`, the moment its first step
//! started; `created_at` if that is missing) to the end of its last *recovery step*. A recovery
//! step is a step whose action calls one of [`RECOVERY_OPERATIONS`]: the mutating operations that
//! bring service up at the recovery site (unplanned failover, planned failover/failback by
//! reversing the group, a DR drill's creation, starting ECS servers). An asynchronous operation
//! has only been carried out when its job has finished, so a recovery step ends when the step
//! that waited for its job ended (or when the step itself ended if nothing waited). For a
//! `for_each` recovery step, the last item counts.
//!
//! Checks after the last recovery step (servers `ACTIVE`, the group `protected`), cleanup (a
//! drill's deletion), sign-offs after recovery and compensation are not part of the RTO; waiting
//! for an approval *before* recovery is, since people are part of a recovery. A run reports an
//! RTO only when it succeeded, at least one of its recovery steps succeeded, and none failed,
//! was cancelled or was undone by compensation (a failed run is compensated, or left for a
//! human: either way its service was not recovered as planned); a dry run recovers nothing.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use super::StepRow;
use super::format::millis_between;
use crate::engine::catalog::{ActionKind, Builtin, Catalog};
use crate::store::records::{RunRecord, RunStatus, StepStatus};

/// The operations (SDK method names in `sdrs::operations`) whose completion restores service
/// at the recovery site. Every name is checked against the operation table in tests.
pub const RECOVERY_OPERATIONS: &[&str] = &[
    // Unplanned failover: the DR site takes over.
    "start_failover_protection_group",
    // Planned failover and failback: the production site switches (`priority_station`).
    "start_reverse_protection_group",
    // A DR drill: the rehearsed recovery is the drill servers coming up.
    "create_disaster_recovery_drill",
    // The servers at the new production site start.
    "batch_start_servers",
];

/// The definition, in one sentence, as printed under the figure in reports.
pub const DEFINITION: &str = "From the run's start to the end of its last recovery step \
    (failover, reverse, drill creation or server start, including the wait for its job). \
    Later checks, cleanup and compensation are not counted.";

/// Whether `action` (a runbook action name) is a recovery step.
pub fn is_recovery_action(action: &str) -> bool {
    match Catalog::global().kind(action) {
        Some(ActionKind::Operation(operation)) => RECOVERY_OPERATIONS.contains(&operation.name),
        // Reprotect re-enables replication; it does not restore service.
        Some(ActionKind::Builtin(Builtin::Reprotect)) | Some(ActionKind::Builtin(_)) | None => {
            false
        }
    }
}

/// The RTO of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rto {
    /// The RTO achieved, in ms; `None` when the run did not recover (see `reason`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub achieved_ms: Option<u64>,
    /// The run's start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// The end of the last recovery step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    /// The recovery step record (`step` or `step[item]`) whose work ended last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_recovery_step: Option<String>,
    /// The step that waited for that record's job, whose end is the RTO's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_waited_by: Option<String>,
    /// The recovery steps of the run's plan.
    pub recovery_steps: Vec<String>,
    /// Why no RTO is reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// [`DEFINITION`].
    pub definition: &'static str,
}

/// Computes the RTO of `run` from its step rows. `recovery_steps` are the step ids whose action
/// is a recovery operation; `job_done` maps a job id to when the step that waited for it ended.
pub fn compute(
    run: &RunRecord,
    rows: &[StepRow],
    recovery_steps: &[String],
    job_done: &HashMap<String, (String, Option<Timestamp>)>,
) -> Rto {
    let from = run.started_at.or(Some(run.created_at));
    let mut rto = Rto {
        achieved_ms: None,
        from,
        to: None,
        last_recovery_step: None,
        job_waited_by: None,
        recovery_steps: recovery_steps.to_vec(),
        reason: None,
        definition: DEFINITION,
    };
    let not_achieved = |mut rto: Rto, reason: String| {
        rto.reason = Some(reason);
        rto
    };
    if run.dry_run {
        return not_achieved(rto, "dry run: nothing was recovered".to_owned());
    }
    if recovery_steps.is_empty() {
        return not_achieved(
            rto,
            "the run has no recovery step (no failover, reverse, drill creation or server start)"
                .to_owned(),
        );
    }
    if run.status != RunStatus::Succeeded {
        let status = run.status.as_str();
        let reason = if run.status.is_terminal() {
            format!("the run did not succeed (status {status})")
        } else {
            format!("the run has not ended (status {status})")
        };
        return not_achieved(rto, reason);
    }
    let mut last: Option<(Timestamp, String, Option<String>)> = None;
    let mut succeeded = 0;
    for row in rows.iter().filter(|r| recovery_steps.contains(&r.step_id)) {
        match row.status {
            StepStatus::Succeeded => {}
            StepStatus::Skipped => continue,
            other => {
                return not_achieved(
                    rto,
                    format!("recovery step `{}` ended {}", row.key, other.as_str()),
                );
            }
        }
        succeeded += 1;
        // The end of the work: when its job's waiter ended, else when the step ended.
        let (end, waiter) = match row.job_id.as_ref().and_then(|job| job_done.get(job)) {
            Some((waiter, Some(end))) => (Some(*end), Some(waiter.clone())),
            _ => (row.ended_at, None),
        };
        if let Some(end) = end
            && last.as_ref().is_none_or(|(t, _, _)| end > *t)
        {
            last = Some((end, row.key.clone(), waiter));
        }
    }
    if succeeded == 0 {
        return not_achieved(rto, "every recovery step was skipped".to_owned());
    }
    let Some((to, key, waiter)) = last else {
        return not_achieved(rto, "the recovery steps recorded no end time".to_owned());
    };
    rto.achieved_ms = millis_between(from, Some(to));
    rto.to = Some(to);
    rto.last_recovery_step = Some(key);
    rto.job_waited_by = waiter;
    rto
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdrs::operations::{self, Effect};

    #[test]
    fn recovery_operations_are_mutating_rows_of_the_table() {
        for name in RECOVERY_OPERATIONS {
            let operation = operations::by_name(name)
                .unwrap_or_else(|| panic!("{name} is not in the operation table"));
            assert_eq!(operation.effect, Effect::Mutating, "{name}");
        }
    }

    #[test]
    fn recovery_actions_follow_the_table() {
        assert!(is_recovery_action("sdrs.protection_group.failover"));
        assert!(is_recovery_action("sdrs.protection_group.reverse"));
        assert!(is_recovery_action("sdrs.drill.create"));
        assert!(is_recovery_action("ecs.servers.start"));
        for not_recovery in [
            "sdrs.drill.delete",
            "ecs.servers.stop",
            "sdrs.protection_group.reprotect",
            "sdrs.protection_group.show",
            "sdrs.job.wait",
            "approval",
            "no.such.action",
        ] {
            assert!(!is_recovery_action(not_recovery), "{not_recovery}");
        }
    }
}
