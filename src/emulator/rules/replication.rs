//! Replication pair transitions (reference 5.6 and the pair side of 5.5.6 / 5.5.7, statuses A.4),
//! including how pairs follow their protection group's actions.
//!
//! Status refusals of the pair use A.1 `SDRS.1601` ("Replication pair status not available");
//! the group's use `SDRS.1024` where the allowed set is "available or protected", `SDRS.1002`
//! otherwise.

use super::{Action, Next, Precondition, Rule};
use crate::emulator::world::GroupStatus;
use crate::emulator::world::PairStatus::{self, *};

const GROUP_AVAILABLE_OR_PROTECTED: &[GroupStatus] =
    &[GroupStatus::Available, GroupStatus::Protected];

/// A row for a group action the pair only follows.
const fn follows(
    action: Action,
    section: &'static str,
    transitional: PairStatus,
    success: PairStatus,
    failure: PairStatus,
    job_type: &'static str,
    failure_status: &'static str,
) -> Rule<PairStatus> {
    Rule {
        action,
        section,
        allowed: None,
        refused: "SDRS.1601",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(transitional),
        on_success: Next::To(success),
        on_failure: Next::To(failure),
        job_type,
        failure_status,
    }
}

/// The replication pair table.
pub const RULES: &[Rule<PairStatus>] = &[
    // 5.6.1 "status of the protection group must be available or protected". A pair created in
    // a protected group starts replicating at once (FollowGroup).
    Rule {
        action: Action::CreatePair,
        section: "5.6.1",
        allowed: None,
        refused: "SDRS.1601",
        group_allowed: Some(GROUP_AVAILABLE_OR_PROTECTED),
        group_refused: "SDRS.1024",
        transitional: Some(Creating),
        on_success: Next::FollowGroup,
        on_failure: Next::To(Error),
        job_type: "createReplicationPairNoCG",
        failure_status: "createFail",
    },
    // 5.6.2 "group available, protected, failed-over, error-starting, error-stopping,
    // error-reversing, error-failing-over, error-deleting or error-reprotecting; replication
    // pair available, protected, failed-over, error, error-starting, error-stopping,
    // error-reversing, error-failing-over, error-deleting, error-reprotecting, error-attaching,
    // error-extending, invalid or fault".
    Rule {
        action: Action::DeletePair,
        section: "5.6.2",
        allowed: Some(&[
            Available,
            Protected,
            FailedOver,
            Error,
            ErrorStarting,
            ErrorStopping,
            ErrorReversing,
            ErrorFailingOver,
            ErrorDeleting,
            ErrorReprotecting,
            ErrorAttaching,
            ErrorExtending,
            Invalid,
            Fault,
        ]),
        refused: "SDRS.1601",
        group_allowed: Some(&[
            GroupStatus::Available,
            GroupStatus::Protected,
            GroupStatus::FailedOver,
            GroupStatus::ErrorStarting,
            GroupStatus::ErrorStopping,
            GroupStatus::ErrorReversing,
            GroupStatus::ErrorFailingOver,
            GroupStatus::ErrorDeleting,
            GroupStatus::ErrorReprotecting,
        ]),
        group_refused: "SDRS.1002",
        transitional: Some(Deleting),
        on_success: Next::Removed,
        on_failure: Next::To(ErrorDeleting),
        job_type: "deleteReplicationPairNoCG",
        failure_status: "deleteFail",
    },
    // 5.6.5 "status of the replication pair must be available, protected or error-extending".
    // A.4: extending, error-extending.
    Rule {
        action: Action::ExpandPair,
        section: "5.6.5",
        allowed: Some(&[Available, Protected, ErrorExtending]),
        refused: "SDRS.1601",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Extending),
        on_success: Next::FollowGroup,
        on_failure: Next::To(ErrorExtending),
        job_type: "expandReplicationPairNew",
        failure_status: "expandFail",
    },
    // 5.5.6 "status of the replication pair must be available or protected" (the group and
    // instance constraints are in the instance table). A.4: attaching, error-attaching.
    Rule {
        action: Action::AttachReplication,
        section: "5.5.6",
        allowed: Some(&[Available, Protected]),
        refused: "SDRS.1601",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Attaching),
        on_success: Next::FollowGroup,
        on_failure: Next::To(ErrorAttaching),
        job_type: "attachReplicationPairNew",
        failure_status: "attachFail",
    },
    // 5.5.7 "status of the replication pair must be available, protected, failed-over,
    // error-attaching, error-detaching, error-starting, error-stopping, error-reversing,
    // error-failing-over, error-deleting, error-reprotecting, error-extending, invalid or
    // fault". A.4: detaching, error-detaching.
    Rule {
        action: Action::DetachReplication,
        section: "5.5.7",
        allowed: Some(&[
            Available,
            Protected,
            FailedOver,
            ErrorAttaching,
            ErrorDetaching,
            ErrorStarting,
            ErrorStopping,
            ErrorReversing,
            ErrorFailingOver,
            ErrorDeleting,
            ErrorReprotecting,
            ErrorExtending,
            Invalid,
            Fault,
        ]),
        refused: "SDRS.1601",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Detaching),
        on_success: Next::FollowGroup,
        on_failure: Next::To(ErrorDetaching),
        job_type: "detachReplicationPairNew",
        failure_status: "detachFail",
    },
    // Group actions (5.4.6–5.4.9): the pairs of the group go through the matching A.4 statuses.
    follows(
        Action::StartProtection,
        "5.4.6",
        Starting,
        Protected,
        ErrorStarting,
        "startProtectionGroupNoCG",
        "startFail",
    ),
    follows(
        Action::Reprotect,
        "5.4.6",
        Reprotecting,
        Protected,
        ErrorReprotecting,
        "reprotectProtectionGroupNoCG",
        "reprotectFail",
    ),
    follows(
        Action::StopProtection,
        "5.4.7",
        Stopping,
        Available,
        ErrorStopping,
        "stopProtectionGroupNoCG",
        "stopFail",
    ),
    follows(
        Action::Failover,
        "5.4.8",
        FailingOver,
        FailedOver,
        ErrorFailingOver,
        "failoverProtectionGroupNoCG",
        "failoverFail",
    ),
    follows(
        Action::Reverse,
        "5.4.9",
        Reversing,
        Protected,
        ErrorReversing,
        "reverseProtectionGroupNoCG",
        "reverseFail",
    ),
];

/// Preconditions of pair actions that are not a status.
pub const PRECONDITIONS: &[Precondition] = &[
    // 5.6.1 and A.1.
    Precondition {
        actions: &[Action::CreatePair],
        section: "A.1",
        requirement: "volume exists",
        code: "SDRS.0211",
    },
    // 5.6.1 says the disk must be `available` for an ECS group. The emulator also accepts
    // `in-use`: the ECS subset it serves has no way to detach a disk, and the default
    // inventory's unprotected servers (for the onboarding runbook) have their disks attached.
    Precondition {
        actions: &[Action::CreatePair],
        section: "5.6.1",
        requirement: "volume available (or in-use)",
        code: "SDRS.1801",
    },
    Precondition {
        actions: &[Action::CreatePair],
        section: "A.1",
        requirement: "volume not yet used by a replication pair",
        code: "SDRS.1811",
    },
    Precondition {
        actions: &[Action::CreatePair],
        section: "A.1",
        requirement: "volume in the production AZ of the group",
        code: "SDRS.1810",
    },
    // 5.10: quota of replication pairs. A.1 SDRS.0306 "Insufficient replication pair quota".
    Precondition {
        actions: &[Action::CreatePair],
        section: "5.10.1",
        requirement: "replications quota not exhausted",
        code: "SDRS.0306",
    },
    // 5.6.2 "The replication pair has not been attached" (A.1 SDRS.1605 "Replication pair
    // attached"); a server_group_id in the body must be the pair's (A.1 SDRS.1611).
    Precondition {
        actions: &[Action::DeletePair],
        section: "5.6.2",
        requirement: "replication pair not attached",
        code: "SDRS.1605",
    },
    Precondition {
        actions: &[Action::DeletePair],
        section: "A.1",
        requirement: "server_group_id is the group of the pair",
        code: "SDRS.1611",
    },
    // 5.6.5 "status of disks in the replication pair is available or in-use" (A.1 SDRS.1817);
    // new_size is the final size (table 5-46), so it must exceed the current one.
    Precondition {
        actions: &[Action::ExpandPair],
        section: "5.6.5",
        requirement: "disks available or in-use",
        code: "SDRS.1817",
    },
    Precondition {
        actions: &[Action::ExpandPair],
        section: "5.6.5",
        requirement: "new_size larger than the current size",
        code: "SDRS.0201",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_action_and_group_action_has_a_row() {
        for action in [
            Action::CreatePair,
            Action::DeletePair,
            Action::ExpandPair,
            Action::AttachReplication,
            Action::DetachReplication,
        ]
        .iter()
        .chain(Action::GROUP_ACTIONS)
        {
            assert!(super::super::find(RULES, *action).is_ok(), "{action:?}");
        }
    }
}
