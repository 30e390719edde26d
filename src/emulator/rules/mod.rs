//! The state machines of the SDRS resources, written as tables that can be checked against the API
//! reference line by line: one file per resource, one row per action.
//!
//! A row says which statuses of the resource allow the action (and which error code refuses it
//! otherwise), which statuses the resource's protection group must be in (the reference lists
//! those under the resource's API, so they live in the resource's table), the transitional status
//! while the job runs, the status on success and on failure, the reference's `job_type`, and the
//! task-center `failure_status` a failed job is filed under. Cross-resource preconditions that are
//! not a status check (a group with members cannot be deleted, production servers must be
//! stopped, ...) are listed in each file's `PRECONDITIONS` table with their error codes, and
//! checked by the handlers in `api/`.
//!
//! Sources: `002_*` (API reference, ZH, 2023-11-20) wins over `003_*` (EN, 2020-04-29) where they
//! differ; every row cites its section. Error codes and HTTP statuses come from appendix A.1
//! (`shared/sdrs/error-codes.tsv`).

pub mod drill;
pub mod protected_instance;
pub mod protection_group;
pub mod replication;

use std::fmt::Display;

use super::api::ApiError;

/// What a row is about. Group actions also drive the members of the group (its protected
/// instances and replication pairs follow with their own transitional statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    CreateGroup,
    DeleteGroup,
    /// `start_protection_group` on an `available` / `error-starting` group.
    StartProtection,
    /// `start_protection_group` on a `failed-over` / `error-reprotecting` group (5.4.6).
    Reprotect,
    StopProtection,
    Failover,
    /// Planned failover (`start_reverse_protection_group`).
    Reverse,
    CreateInstance,
    DeleteInstance,
    AttachReplication,
    DetachReplication,
    AddNic,
    DeleteNic,
    Resize,
    CreatePair,
    DeletePair,
    ExpandPair,
    CreateDrill,
    DeleteDrill,
}

impl Action {
    /// The group actions, which every member of the group follows.
    pub const GROUP_ACTIONS: &'static [Action] = &[
        Action::StartProtection,
        Action::Reprotect,
        Action::StopProtection,
        Action::Failover,
        Action::Reverse,
    ];
}

/// Where a resource lands when its job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<S> {
    /// This status.
    To(S),
    /// The settled status of its protection group: `protected` in a protected group,
    /// `failed-over` in a failed-over group, `available` otherwise. Used where the reference
    /// gives no status of its own (a pair created in a protected group is protected, an
    /// attach leaves a pair as protected as its group).
    FollowGroup,
    /// The status it had before the job started (e.g. a NIC change that failed).
    Previous,
    /// The resource is gone.
    Removed,
}

/// One row of a resource's transition table.
#[derive(Debug, Clone)]
pub struct Rule<S: 'static> {
    pub action: Action,
    /// Reference section the row comes from.
    pub section: &'static str,
    /// Statuses of the resource that allow the action; `None` when the reference sets no
    /// constraint (or the resource does not exist yet).
    pub allowed: Option<&'static [S]>,
    /// Error code when the resource's status refuses the action.
    pub refused: &'static str,
    /// Statuses of the resource's protection group that allow the action; `None` when the
    /// reference sets none.
    pub group_allowed: Option<&'static [crate::emulator::world::GroupStatus]>,
    /// Error code when the group's status refuses the action.
    pub group_refused: &'static str,
    /// Status while the job runs; `None` keeps the current status.
    pub transitional: Option<S>,
    pub on_success: Next<S>,
    pub on_failure: Next<S>,
    /// The reference's `job_type` (5.1.1) of the job the action starts.
    pub job_type: &'static str,
    /// Task-center `failure_status` (5.9.1) of a failed job.
    pub failure_status: &'static str,
}

impl<S: Clone + PartialEq + Display> Rule<S> {
    /// Refuses the action unless the resource's status allows it.
    pub fn check(&self, what: &str, id: &str, status: &S) -> Result<(), ApiError> {
        match self.allowed {
            Some(allowed) if !allowed.contains(status) => Err(ApiError::sdrs(
                self.refused,
                format!(
                    "{what} {id} is {status}; {} needs it to be {} (reference {})",
                    action_text(self.action),
                    list(allowed),
                    self.section
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses the action unless the resource's protection group status allows it.
    pub fn check_group(
        &self,
        group_id: &str,
        status: &crate::emulator::world::GroupStatus,
    ) -> Result<(), ApiError> {
        match self.group_allowed {
            Some(allowed) if !allowed.contains(status) => Err(ApiError::sdrs(
                self.group_refused,
                format!(
                    "protection group {group_id} is {status}; {} needs it to be {} (reference {})",
                    action_text(self.action),
                    list(allowed),
                    self.section
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Finds the row for an action in a table.
pub fn find<S>(table: &'static [Rule<S>], action: Action) -> Result<&'static Rule<S>, ApiError> {
    table
        .iter()
        .find(|r| r.action == action)
        .ok_or_else(|| ApiError::internal(format!("no rule for {action:?}")))
}

/// A cross-resource precondition: not a status check, but something the reference requires
/// before an action, with the code that refuses it.
#[derive(Debug, Clone, Copy)]
pub struct Precondition {
    /// The actions the precondition applies to.
    pub actions: &'static [Action],
    pub section: &'static str,
    pub requirement: &'static str,
    pub code: &'static str,
}

/// Returns the code of the precondition for this action whose requirement starts with `key`.
/// A key that names no row is a bug of the emulator (debug builds, and so every test, stop on
/// it); release builds answer "invalid request parameters".
pub fn code_of(table: &'static [Precondition], action: Action, key: &str) -> &'static str {
    let row = table
        .iter()
        .find(|p| p.actions.contains(&action) && p.requirement.starts_with(key));
    debug_assert!(row.is_some(), "no precondition `{key}` for {action:?}");
    row.map_or("SDRS.0201", |p| p.code)
}

fn list<S: Display>(statuses: &[S]) -> String {
    let names: Vec<String> = statuses.iter().map(ToString::to_string).collect();
    match names.len() {
        0 => "nothing".to_owned(),
        1 => names[0].clone(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn action_text(action: Action) -> &'static str {
    match action {
        Action::CreateGroup => "creating a protection group",
        Action::DeleteGroup => "deleting the protection group",
        Action::StartProtection => "enabling protection",
        Action::Reprotect => "enabling protection again (reprotect)",
        Action::StopProtection => "disabling protection",
        Action::Failover => "a failover",
        Action::Reverse => "a planned failover",
        Action::CreateInstance => "creating a protected instance",
        Action::DeleteInstance => "deleting the protected instance",
        Action::AttachReplication => "attaching a replication pair",
        Action::DetachReplication => "detaching a replication pair",
        Action::AddNic => "adding a NIC",
        Action::DeleteNic => "deleting a NIC",
        Action::Resize => "resizing",
        Action::CreatePair => "creating a replication pair",
        Action::DeletePair => "deleting the replication pair",
        Action::ExpandPair => "expanding the replication pair",
        Action::CreateDrill => "creating a DR drill",
        Action::DeleteDrill => "deleting the DR drill",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::world::GroupStatus;

    #[test]
    fn lists_read_like_the_reference() {
        assert_eq!(
            list(&[GroupStatus::Protected, GroupStatus::ErrorStopping]),
            "protected or error-stopping"
        );
        assert_eq!(
            list(&[
                GroupStatus::Protected,
                GroupStatus::ErrorFailingOver,
                GroupStatus::ErrorReversing
            ]),
            "protected, error-failing-over or error-reversing"
        );
    }
}
