//! Protected instance transitions (reference 5.5, statuses A.3), including how instances follow
//! their protection group's actions.
//!
//! Status refusals of the instance use the narrowest code appendix A.1 has: `SDRS.1301` for
//! deletion, `SDRS.1327` for NIC operations, and `SDRS.1314` ("Abnormal protected instance",
//! handling: "perform the operation in the correct status") where A.1 has nothing narrower.
//! Refusals because of the group's status use `SDRS.1024` ("protection group status not
//! available or protected") where the allowed set is exactly that, `SDRS.1002` otherwise.

use super::{Action, Next, Precondition, Rule};
use crate::emulator::world::GroupStatus;
use crate::emulator::world::InstanceStatus::{self, *};

/// 5.5.2 / 5.5.12: statuses from which an instance may be deleted.
const DELETABLE: &[InstanceStatus] = &[
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
    ErrorResizing,
    Invalid,
    Fault,
];

const AVAILABLE_OR_PROTECTED: &[InstanceStatus] = &[Available, Protected];

const GROUP_AVAILABLE_OR_PROTECTED: &[GroupStatus] =
    &[GroupStatus::Available, GroupStatus::Protected];

/// A row for an action the instance only follows (a group action): no constraint of its own.
const fn follows(
    action: Action,
    section: &'static str,
    transitional: InstanceStatus,
    success: InstanceStatus,
    failure: InstanceStatus,
    job_type: &'static str,
    failure_status: &'static str,
) -> Rule<InstanceStatus> {
    Rule {
        action,
        section,
        allowed: None,
        refused: "SDRS.1314",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(transitional),
        on_success: Next::To(success),
        on_failure: Next::To(failure),
        job_type,
        failure_status,
    }
}

/// The protected instance table.
pub const RULES: &[Rule<InstanceStatus>] = &[
    // 5.5.1 / 5.5.11 "status of the protection group must be available or protected". A new
    // instance in a protected group is protected at once (FollowGroup).
    Rule {
        action: Action::CreateInstance,
        section: "5.5.1",
        allowed: None,
        refused: "SDRS.1314",
        group_allowed: Some(GROUP_AVAILABLE_OR_PROTECTED),
        group_refused: "SDRS.1024",
        transitional: Some(Creating),
        on_success: Next::FollowGroup,
        on_failure: Next::To(Error),
        job_type: "createProtectedInstanceNoCG",
        failure_status: "createFail",
    },
    // 5.5.2 / 5.5.12 "status of the protected instance must be available, protected,
    // failed-over, error, error-starting, error-stopping, error-reversing, error-failing-over,
    // error-deleting, error-reprotecting, error-resizing, invalid, or fault". No group status
    // constraint in the 2023 reference (SDRS.1324 belongs to an older one).
    Rule {
        action: Action::DeleteInstance,
        section: "5.5.2",
        allowed: Some(DELETABLE),
        refused: "SDRS.1301",
        group_allowed: None,
        group_refused: "SDRS.1002",
        transitional: Some(Deleting),
        on_success: Next::Removed,
        on_failure: Next::To(ErrorDeleting),
        job_type: "deleteProtectedInstanceNoCG",
        failure_status: "deleteFail",
    },
    // 5.5.6 "group available or protected; protected instance available or protected". The
    // instance keeps its status; the pair goes through attaching (replication table).
    Rule {
        action: Action::AttachReplication,
        section: "5.5.6",
        allowed: Some(AVAILABLE_OR_PROTECTED),
        refused: "SDRS.1314",
        group_allowed: Some(GROUP_AVAILABLE_OR_PROTECTED),
        group_refused: "SDRS.1024",
        transitional: None,
        on_success: Next::Previous,
        on_failure: Next::Previous,
        job_type: "attachReplicationPairNew",
        failure_status: "attachFail",
    },
    // 5.5.7 "group available, protected, failed-over, error-starting, error-stopping,
    // error-reversing or error-failing-over; protected instance available, protected,
    // failed-over, error-starting, error-stopping, error-reversing, error-failing-over,
    // error-deleting, error-reprotecting, error-resizing, invalid or fault".
    Rule {
        action: Action::DetachReplication,
        section: "5.5.7",
        allowed: Some(&[
            Available,
            Protected,
            FailedOver,
            ErrorStarting,
            ErrorStopping,
            ErrorReversing,
            ErrorFailingOver,
            ErrorDeleting,
            ErrorReprotecting,
            ErrorResizing,
            Invalid,
            Fault,
        ]),
        refused: "SDRS.1314",
        group_allowed: Some(&[
            GroupStatus::Available,
            GroupStatus::Protected,
            GroupStatus::FailedOver,
            GroupStatus::ErrorStarting,
            GroupStatus::ErrorStopping,
            GroupStatus::ErrorReversing,
            GroupStatus::ErrorFailingOver,
        ]),
        group_refused: "SDRS.1002",
        transitional: None,
        on_success: Next::Previous,
        on_failure: Next::Previous,
        job_type: "detachReplicationPairNew",
        failure_status: "detachFail",
    },
    // 5.5.8 "group available or protected; protected instance available or protected". A.3:
    // nic-creating. A.3 has no error status for NICs, so the instance returns to its status.
    // A.1 SDRS.1327 "NIC-related operation not allowed for the protected instance state";
    // A.1 SDRS.1317 calls a failure "attach the NIC", hence attachFail.
    Rule {
        action: Action::AddNic,
        section: "5.5.8",
        allowed: Some(AVAILABLE_OR_PROTECTED),
        refused: "SDRS.1327",
        group_allowed: Some(GROUP_AVAILABLE_OR_PROTECTED),
        group_refused: "SDRS.1024",
        transitional: Some(NicCreating),
        on_success: Next::Previous,
        on_failure: Next::Previous,
        job_type: "addNicNew",
        failure_status: "attachFail",
    },
    // 5.5.9 "group available or protected; protected instance available or protected".
    // A.3: nic-deleting.
    Rule {
        action: Action::DeleteNic,
        section: "5.5.9",
        allowed: Some(AVAILABLE_OR_PROTECTED),
        refused: "SDRS.1327",
        group_allowed: Some(GROUP_AVAILABLE_OR_PROTECTED),
        group_refused: "SDRS.1024",
        transitional: Some(NicDeleting),
        on_success: Next::Previous,
        on_failure: Next::Previous,
        job_type: "deleteNicNew",
        failure_status: "detachFail",
    },
    // 5.5.10 "group available or protected; protected instance available, protected or
    // error-resizing". A.3: resizing, error-resizing.
    Rule {
        action: Action::Resize,
        section: "5.5.10",
        allowed: Some(&[Available, Protected, ErrorResizing]),
        refused: "SDRS.1314",
        group_allowed: Some(GROUP_AVAILABLE_OR_PROTECTED),
        group_refused: "SDRS.1024",
        transitional: Some(Resizing),
        on_success: Next::FollowGroup,
        on_failure: Next::To(ErrorResizing),
        job_type: "resizeProtectedInstanceNew",
        failure_status: "resizeFail",
    },
    // Group actions (5.4.6–5.4.9): the instances of the group go through the matching A.3
    // statuses with the group's job.
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

/// Preconditions of instance actions that are not a status.
pub const PRECONDITIONS: &[Precondition] = &[
    // 5.5.1 / 5.5.11 and A.1.
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.1",
        requirement: "server exists",
        code: "SDRS.1326",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.1",
        requirement: "server not yet used by a protected instance",
        code: "SDRS.1305",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.1",
        requirement: "server in the VPC of the group",
        code: "SDRS.1304",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "A.1",
        requirement: "server in the production AZ of the group",
        code: "SDRS.1303",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "A.1",
        requirement: "server ACTIVE or SHUTOFF",
        code: "SDRS.1333",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "A.1",
        requirement: "primary_subnet_id given when primary_ip_address is",
        code: "SDRS.1380",
    },
    Precondition {
        actions: &[Action::CreateInstance, Action::AddNic],
        section: "A.1",
        requirement: "subnet exists in the VPC of the group",
        code: "SDRS.1335",
    },
    Precondition {
        actions: &[Action::CreateInstance, Action::AddNic],
        section: "A.1",
        requirement: "IP address free in the subnet",
        code: "SDRS.1334",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "A.1",
        requirement: "flavorRef names a flavor",
        code: "SDRS.1353",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.1",
        requirement: "tenancy is shared or dedicated",
        code: "SDRS.0228",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "A.1",
        requirement: "dedicated_host_id only with tenancy dedicated",
        code: "SDRS.1371",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.1",
        requirement: "at most 10 tags",
        code: "SDRS.2203",
    },
    // 5.5.11 "By default at most 5 servers", and A.1 SDRS.1360–1362.
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.11",
        requirement: "servers lists at most 5 servers",
        code: "SDRS.1362",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.11",
        requirement: "servers lists no server twice",
        code: "SDRS.1361",
    },
    Precondition {
        actions: &[Action::CreateInstance],
        section: "5.5.11",
        requirement: "servers lists existing servers",
        code: "SDRS.1360",
    },
    // 5.5.12 "at most 20 instances by default" (A.1 has no code: invalid request parameter),
    // "from the same protection group" and A.1 SDRS.1363 / SDRS.1364.
    Precondition {
        actions: &[Action::DeleteInstance],
        section: "5.5.12",
        requirement: "protected_instances lists at most 20 instances",
        code: "SDRS.0201",
    },
    Precondition {
        actions: &[Action::DeleteInstance],
        section: "5.5.12",
        requirement: "protected_instances lists no instance twice",
        code: "SDRS.1363",
    },
    Precondition {
        actions: &[Action::DeleteInstance],
        section: "5.5.12",
        requirement: "protected_instances from one protection group",
        code: "SDRS.1364",
    },
    // A.1 SDRS.1330 / SDRS.1338: the DR-site server (or its EIP) may only be deleted while the
    // production site is the one the group was created with.
    Precondition {
        actions: &[Action::DeleteInstance],
        section: "A.1",
        requirement: "delete_target_server only while production is the source site",
        code: "SDRS.1330",
    },
    Precondition {
        actions: &[Action::DeleteInstance],
        section: "A.1",
        requirement: "delete_target_eip only while production is the source site",
        code: "SDRS.1338",
    },
    // 5.5.6 "the non-shared replication pair has not been attached"; device names (table 5-31)
    // must not collide. A.1 SDRS.1603 "Replication pair attached or device name used", SDRS.1611
    // "Replication pair not in the protection group".
    Precondition {
        actions: &[Action::AttachReplication],
        section: "5.5.6",
        requirement: "replication pair not attached and device unused",
        code: "SDRS.1603",
    },
    Precondition {
        actions: &[Action::AttachReplication],
        section: "A.1",
        requirement: "replication pair in the group of the instance",
        code: "SDRS.1611",
    },
    // 5.5.7 "The replication pair has been attached" (A.1 SDRS.1604 "Replication pair not
    // attached") and its note: a system disk (/dev/vda, /dev/sda) is detached only while the
    // server is stopped (A.1 SDRS.1316 "Server not stopped").
    Precondition {
        actions: &[Action::DetachReplication],
        section: "5.5.7",
        requirement: "replication pair attached to this instance",
        code: "SDRS.1604",
    },
    Precondition {
        actions: &[Action::DetachReplication],
        section: "5.5.7",
        requirement: "system disk detached only from a stopped server",
        code: "SDRS.1316",
    },
    // 5.5.9 "The primary NIC cannot be deleted" (A.1 SDRS.1311); unknown NIC (A.1 SDRS.1310).
    Precondition {
        actions: &[Action::DeleteNic],
        section: "5.5.9",
        requirement: "NIC exists",
        code: "SDRS.1310",
    },
    Precondition {
        actions: &[Action::DeleteNic],
        section: "5.5.9",
        requirement: "NIC is not the primary NIC",
        code: "SDRS.1311",
    },
    // 5.5.10 "servers whose specifications are modified are stopped" (A.1 SDRS.1352 for the
    // production site, SDRS.1342 for the DR site); A.1 SDRS.1341 "Another flavor must be used";
    // unknown flavors: A.1 SDRS.1378 / SDRS.1379.
    Precondition {
        actions: &[Action::Resize],
        section: "5.5.10",
        requirement: "production server stopped",
        code: "SDRS.1352",
    },
    Precondition {
        actions: &[Action::Resize],
        section: "5.5.10",
        requirement: "DR server stopped",
        code: "SDRS.1342",
    },
    Precondition {
        actions: &[Action::Resize],
        section: "A.1",
        requirement: "a flavor different from the current one",
        code: "SDRS.1341",
    },
    Precondition {
        actions: &[Action::Resize],
        section: "A.1",
        requirement: "production flavor exists",
        code: "SDRS.1378",
    },
    Precondition {
        actions: &[Action::Resize],
        section: "A.1",
        requirement: "DR flavor exists",
        code: "SDRS.1379",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instance_action_and_group_action_has_a_row() {
        for action in [
            Action::CreateInstance,
            Action::DeleteInstance,
            Action::AttachReplication,
            Action::DetachReplication,
            Action::AddNic,
            Action::DeleteNic,
            Action::Resize,
        ]
        .iter()
        .chain(Action::GROUP_ACTIONS)
        {
            assert!(super::super::find(RULES, *action).is_ok(), "{action:?}");
        }
    }

    #[test]
    fn members_follow_group_actions_with_the_groups_job_type() {
        use crate::emulator::rules::protection_group;
        for action in Action::GROUP_ACTIONS {
            let mine = super::super::find(RULES, *action).ok();
            let group = super::super::find(protection_group::RULES, *action).ok();
            let (Some(mine), Some(group)) = (mine, group) else {
                panic!("{action:?} missing");
            };
            assert_eq!(mine.job_type, group.job_type);
            assert_eq!(
                mine.transitional.as_ref().map(|s| s.as_str()),
                group.transitional.as_ref().map(|s| s.as_str())
            );
        }
    }
}
