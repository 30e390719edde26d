//! Protection group transitions (reference 5.4, statuses A.2).
//!
//! Where the reference gives no status list for an action (create, delete), the emulator refuses
//! only what would let two jobs work on one group at once: a group in a transitional status.
//! `SDRS.1002` ("Operation not allowed for the protection group in the current state") is the
//! code for every status refusal here, because appendix A.1 has no narrower code matching these
//! status sets (`SDRS.1017`–`1024` name other combinations).

use super::{Action, Next, Precondition, Rule};
use crate::emulator::world::GroupStatus::{self, *};

/// Every settled (non-transitional) status: delete accepts them all (5.4.4 constrains only the
/// members, not the status).
const SETTLED: &[GroupStatus] = &[
    Available,
    Protected,
    ErrorDeleting,
    Error,
    ErrorStarting,
    ErrorReprotecting,
    ErrorStopping,
    ErrorReversing,
    FailedOver,
    ErrorFailingOver,
];

/// The protection group table.
pub const RULES: &[Rule<GroupStatus>] = &[
    // 5.4.1 "Constraints: none". A.2: creating → available, creation failure → error.
    Rule {
        action: Action::CreateGroup,
        section: "5.4.1",
        allowed: None,
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Creating),
        on_success: Next::To(Available),
        on_failure: Next::To(Error),
        job_type: "createProtectionGroupNoCG",
        failure_status: "createFail",
    },
    // 5.4.4 "The group has no protected instances, replication pairs or DR drills" (see
    // PRECONDITIONS); no status list, so any settled status. A.2: deleting, error-deleting.
    Rule {
        action: Action::DeleteGroup,
        section: "5.4.4",
        allowed: Some(SETTLED),
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Deleting),
        on_success: Next::Removed,
        on_failure: Next::To(ErrorDeleting),
        job_type: "deleteProtectionGroupNoCG",
        failure_status: "deleteFail",
    },
    // 5.4.6 (enable protection) "status must be available or error-starting".
    Rule {
        action: Action::StartProtection,
        section: "5.4.6",
        allowed: Some(&[Available, ErrorStarting]),
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Starting),
        on_success: Next::To(Protected),
        on_failure: Next::To(ErrorStarting),
        job_type: "startProtectionGroupNoCG",
        failure_status: "startFail",
    },
    // 5.4.6 (enable protection again) "status must be failed-over or error-reprotecting".
    // A.2: reprotecting is enabling protection after a failover.
    Rule {
        action: Action::Reprotect,
        section: "5.4.6",
        allowed: Some(&[FailedOver, ErrorReprotecting]),
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Reprotecting),
        on_success: Next::To(Protected),
        on_failure: Next::To(ErrorReprotecting),
        job_type: "reprotectProtectionGroupNoCG",
        failure_status: "reprotectFail",
    },
    // 5.4.7 "status must be protected or error-stopping".
    Rule {
        action: Action::StopProtection,
        section: "5.4.7",
        allowed: Some(&[Protected, ErrorStopping]),
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Stopping),
        on_success: Next::To(Available),
        on_failure: Next::To(ErrorStopping),
        job_type: "stopProtectionGroupNoCG",
        failure_status: "stopFail",
    },
    // 5.4.8 "status must be protected, error-failing-over or error-reversing".
    Rule {
        action: Action::Failover,
        section: "5.4.8",
        allowed: Some(&[Protected, ErrorFailingOver, ErrorReversing]),
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(FailingOver),
        on_success: Next::To(FailedOver),
        on_failure: Next::To(ErrorFailingOver),
        job_type: "failoverProtectionGroupNoCG",
        failure_status: "failoverFail",
    },
    // 5.4.9 "status must be protected or error-reversing". After a planned failover the data is
    // still protected, only in the other direction, so the group returns to protected.
    Rule {
        action: Action::Reverse,
        section: "5.4.9",
        allowed: Some(&[Protected, ErrorReversing]),
        refused: "SDRS.1002",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Reversing),
        on_success: Next::To(Protected),
        on_failure: Next::To(ErrorReversing),
        job_type: "reverseProtectionGroupNoCG",
        failure_status: "reverseFail",
    },
];

/// Preconditions of group actions that are not the group's own status.
pub const PRECONDITIONS: &[Precondition] = &[
    // 5.4.4 and its note; codes from A.1.
    Precondition {
        actions: &[Action::DeleteGroup],
        section: "5.4.4",
        requirement: "no protected instances in the group",
        code: "SDRS.1001",
    },
    Precondition {
        actions: &[Action::DeleteGroup],
        section: "5.4.4",
        requirement: "no replication pairs in the group",
        code: "SDRS.1010",
    },
    Precondition {
        actions: &[Action::DeleteGroup],
        section: "5.4.4",
        requirement: "no DR drills in the group",
        code: "SDRS.1003",
    },
    // 5.4.6 "The protection group must have replication pairs." No narrower code in A.1.
    Precondition {
        actions: &[Action::StartProtection],
        section: "5.4.6",
        requirement: "replication pairs in the group",
        code: "SDRS.1002",
    },
    // 5.4.6 (reprotect) "ensure that the servers at the DR site are stopped": the current DR
    // site after the failover. A.1 SDRS.1342 "Current DR site server is not stopped".
    Precondition {
        actions: &[Action::Reprotect],
        section: "5.4.6",
        requirement: "servers at the current DR site stopped",
        code: "SDRS.1342",
    },
    // 5.4.8 "The protection group must have replication pairs."
    Precondition {
        actions: &[Action::Failover],
        section: "5.4.8",
        requirement: "replication pairs in the group",
        code: "SDRS.1002",
    },
    // 5.4.9 "The protection group must have replication pairs."
    Precondition {
        actions: &[Action::Reverse],
        section: "5.4.9",
        requirement: "replication pairs in the group",
        code: "SDRS.1002",
    },
    // 5.4.9 "All servers at the current production site of the protection group are stopped."
    // A.1 SDRS.1319 "Server at the current production site not stopped".
    Precondition {
        actions: &[Action::Reverse],
        section: "5.4.9",
        requirement: "servers at the current production site stopped",
        code: "SDRS.1319",
    },
    // 5.4.9 table 5-15: priority_station is `source` or `target`, the site to switch to; the
    // current site is not a switch. A.1 SDRS.0216 "Invalid preferred AZ" (invalid
    // priority_station).
    Precondition {
        actions: &[Action::Reverse],
        section: "5.4.9",
        requirement: "priority_station names the other site",
        code: "SDRS.0216",
    },
    // Not in the reference: a group action while a member still runs its own job would be
    // overtaken by it, so it is refused like any other status conflict.
    Precondition {
        actions: &[
            Action::DeleteGroup,
            Action::StartProtection,
            Action::Reprotect,
            Action::StopProtection,
            Action::Failover,
            Action::Reverse,
        ],
        section: "A.2",
        requirement: "no member in a transitional status",
        code: "SDRS.1002",
    },
    // 5.4.1: the AZs must be the two ends of the domain (A.1 SDRS.0203 invalid AZ,
    // SDRS.0205 invalid domain, SDRS.0204 invalid VPC, SDRS.0217 invalid dr_type).
    Precondition {
        actions: &[Action::CreateGroup],
        section: "5.4.1",
        requirement: "domain_id names an active-active domain",
        code: "SDRS.0205",
    },
    Precondition {
        actions: &[Action::CreateGroup],
        section: "5.4.1",
        requirement: "availability zones are the two ends of the domain",
        code: "SDRS.0203",
    },
    Precondition {
        actions: &[Action::CreateGroup],
        section: "5.4.1",
        requirement: "source_vpc_id names a VPC",
        code: "SDRS.0204",
    },
    Precondition {
        actions: &[Action::CreateGroup],
        section: "5.4.1",
        requirement: "dr_type is migration",
        code: "SDRS.0217",
    },
    // 5.10: quota of protection groups. A.1 SDRS.0305 "Insufficient protection group quota".
    Precondition {
        actions: &[Action::CreateGroup],
        section: "5.10.1",
        requirement: "server_groups quota not exhausted",
        code: "SDRS.0305",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::world::StatusExt;

    #[test]
    fn every_group_action_has_a_row() {
        for action in [
            Action::CreateGroup,
            Action::DeleteGroup,
            Action::StartProtection,
            Action::Reprotect,
            Action::StopProtection,
            Action::Failover,
            Action::Reverse,
        ] {
            assert!(super::super::find(RULES, action).is_ok(), "{action:?}");
        }
    }

    #[test]
    fn start_and_reprotect_cover_disjoint_statuses() {
        let start = super::super::find(RULES, Action::StartProtection).ok();
        let reprotect = super::super::find(RULES, Action::Reprotect).ok();
        let (Some(start), Some(reprotect)) = (start, reprotect) else {
            panic!("rows missing");
        };
        for s in start.allowed.unwrap_or_default() {
            assert!(!reprotect.allowed.unwrap_or_default().contains(s));
        }
    }

    #[test]
    fn transitional_statuses_are_transitional_and_landing_statuses_are_settled() {
        for rule in RULES {
            if let Some(t) = rule.transitional.clone() {
                assert!(t.is_transitional(), "{:?}", rule.action);
            }
            for next in [&rule.on_success, &rule.on_failure] {
                if let Next::To(s) = next {
                    assert!(!s.is_transitional(), "{:?}", rule.action);
                }
            }
        }
    }
}
