//! Exit codes of every `drbook` command, documented in the README. Scripts rely on them to tell
//! "invalid runbook" from "run failed" from "waiting for approval", so they never change meaning.

use std::process::ExitCode;

/// How a `drbook` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: success; the runbook is valid; the run succeeded.
    Success,
    /// 1: the run failed or was rejected.
    Failed,
    /// 2: invalid runbook, or invalid input to it (params, mode).
    Invalid,
    /// 3: the run is waiting for an approval.
    Waiting,
    /// 4: not found (runbook file, run, step).
    NotFound,
    /// 5: conflict (a lock is held, the run is in use).
    Conflict,
    /// 64: bad command line (unknown flag, missing argument).
    Usage,
    /// 70: internal error (a bug, or the machine failing under drbook).
    Internal,
}

impl Exit {
    pub const ALL: [Exit; 8] = [
        Exit::Success,
        Exit::Failed,
        Exit::Invalid,
        Exit::Waiting,
        Exit::NotFound,
        Exit::Conflict,
        Exit::Usage,
        Exit::Internal,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Invalid => 2,
            Exit::Waiting => 3,
            Exit::NotFound => 4,
            Exit::Conflict => 5,
            Exit::Usage => 64,
            Exit::Internal => 70,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_ordered_by_severity() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 64, 70]);
        let mut sorted = Exit::ALL;
        sorted.sort();
        assert_eq!(sorted, Exit::ALL);
    }
}
