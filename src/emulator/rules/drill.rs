//! DR drill transitions (reference 5.7, statuses A.5).

use super::{Action, Next, Precondition, Rule};
use crate::emulator::world::DrillStatus::{self, *};
use crate::emulator::world::GroupStatus;

/// The DR drill table.
pub const RULES: &[Rule<DrillStatus>] = &[
    // 5.7.1 "status of the protection group must be available, protected, failed-over,
    // error-starting, error-stopping, error-reversing, error-reprotecting or error-failing-over".
    // No A.1 code names this set, so the generic SDRS.1002.
    Rule {
        action: Action::CreateDrill,
        section: "5.7.1",
        allowed: None,
        refused: "SDRS.1913",
        group_allowed: Some(&[
            GroupStatus::Available,
            GroupStatus::Protected,
            GroupStatus::FailedOver,
            GroupStatus::ErrorStarting,
            GroupStatus::ErrorStopping,
            GroupStatus::ErrorReversing,
            GroupStatus::ErrorReprotecting,
            GroupStatus::ErrorFailingOver,
        ]),
        group_refused: "SDRS.1002",
        transitional: Some(Creating),
        on_success: Next::To(Available),
        on_failure: Next::To(Error),
        job_type: "createDisasterRecoveryDrill",
        failure_status: "createFail",
    },
    // 5.7.2 "The status of the DR drill must be available, error or error-deleting". A.1
    // SDRS.1913 "DR drill deletion not allowed in the current state".
    Rule {
        action: Action::DeleteDrill,
        section: "5.7.2",
        allowed: Some(&[Available, Error, ErrorDeleting]),
        refused: "SDRS.1913",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Deleting),
        on_success: Next::Removed,
        on_failure: Next::To(ErrorDeleting),
        job_type: "deleteDisasterRecoveryDrill",
        failure_status: "deleteFail",
    },
];

/// Preconditions of drill actions that are not a status: 5.7.1 on the drill VPC, with A.1's codes.
pub const PRECONDITIONS: &[Precondition] = &[
    Precondition {
        actions: &[Action::CreateDrill],
        section: "A.1",
        requirement: "drill_vpc_id names a VPC",
        code: "SDRS.1928",
    },
    Precondition {
        actions: &[Action::CreateDrill],
        section: "A.1",
        requirement: "drill VPC differs from the VPC of the group",
        code: "SDRS.1907",
    },
    Precondition {
        actions: &[Action::CreateDrill],
        section: "A.1",
        requirement: "drill VPC has a subnet",
        code: "SDRS.1908",
    },
    // 5.7.1 also says the drill VPC's subnet CIDRs must match the group's (A.1 SDRS.1909). The
    // emulator does not enforce that: the default inventory's drill VPC (172.16.0.0/24, fixed
    // by notes/inventory.md) differs from the production subnet (192.168.0.0/24), and the
    // example drill runbook must work against it. Drill servers then take the drill subnet's
    // prefix with the production host number.
    Precondition {
        actions: &[Action::CreateDrill],
        section: "A.1",
        requirement: "drill VPC not used by another drill",
        code: "SDRS.1921",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_drill_actions_have_a_row() {
        for action in [Action::CreateDrill, Action::DeleteDrill] {
            assert!(super::super::find(RULES, action).is_ok(), "{action:?}");
        }
    }
}
