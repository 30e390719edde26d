//! The call log: every request the emulated services received, in order, with the operation it
//! was routed to, the resource it concerned and how it ended. The engine's exactly-once tests
//! count mutating calls per resource with it.

use std::collections::VecDeque;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// An error answer (unknown path, refused, injected error, throttled).
    Error,
    /// Applied, but the connection was closed without an answer (`drop_after_apply`).
    Dropped,
    /// Refused by authentication (401).
    Unauthorized,
}

/// One logged call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// 1, 2, 3, ... in arrival order.
    pub seq: u64,
    pub time: Timestamp,
    /// SDK method name; `None` when the path matched no operation.
    pub operation: Option<String>,
    pub method: String,
    pub path: String,
    /// The resource the call was about (a path id, or the id a create produced; several ids
    /// of a batch are joined with `,`).
    pub resource_id: Option<String>,
    /// Whether the operation changes anything (from the operation table).
    pub mutating: bool,
    /// The HTTP status sent (or that would have been sent, for a dropped call).
    pub status: u16,
    pub error_code: Option<String>,
    pub outcome: Outcome,
}

/// Which calls to return.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CallFilter {
    pub operation: Option<String>,
    /// A resource id; matches a record whose `resource_id` is it or lists it.
    pub resource: Option<String>,
    /// A sequence number (calls after it) or an RFC 3339 time (calls at or after it).
    pub since: Option<String>,
}

impl CallFilter {
    fn matches(&self, r: &CallRecord) -> bool {
        if let Some(op) = &self.operation
            && r.operation.as_deref() != Some(op.as_str())
        {
            return false;
        }
        if let Some(res) = &self.resource
            && !r
                .resource_id
                .as_deref()
                .is_some_and(|ids| ids.split(',').any(|id| id == res))
        {
            return false;
        }
        match self.since.as_deref() {
            None => true,
            Some(text) => match text.parse::<u64>() {
                Ok(seq) => r.seq > seq,
                Err(_) => text.parse::<Timestamp>().is_ok_and(|t| r.time >= t),
            },
        }
    }
}

/// The log, bounded so a long demo does not grow without limit.
#[derive(Debug)]
pub struct CallLog {
    records: VecDeque<CallRecord>,
    next_seq: u64,
    capacity: usize,
}

impl Default for CallLog {
    fn default() -> Self {
        Self::with_capacity(200_000)
    }
}

impl CallLog {
    /// A log that keeps the last `capacity` calls (older ones are forgotten; sequence numbers
    /// keep counting).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            records: VecDeque::new(),
            next_seq: 1,
            capacity: capacity.max(1),
        }
    }

    /// Appends a record, assigning its sequence number; returns it.
    pub fn push(&mut self, mut record: CallRecord) -> u64 {
        record.seq = self.next_seq;
        self.next_seq += 1;
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        let seq = record.seq;
        self.records.push_back(record);
        seq
    }

    /// The records matching a filter, oldest first.
    pub fn query(&self, filter: &CallFilter) -> Vec<CallRecord> {
        self.records
            .iter()
            .filter(|r| filter.matches(r))
            .cloned()
            .collect()
    }

    /// The sequence number of the last call (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(op: &str, resource: Option<&str>) -> CallRecord {
        CallRecord {
            seq: 0,
            time: Timestamp::UNIX_EPOCH,
            operation: Some(op.into()),
            method: "GET".into(),
            path: "/".into(),
            resource_id: resource.map(str::to_owned),
            mutating: false,
            status: 200,
            error_code: None,
            outcome: Outcome::Ok,
        }
    }

    #[test]
    fn filters_by_operation_resource_and_sequence() {
        let mut log = CallLog::default();
        log.push(record("a", Some("x")));
        log.push(record("b", Some("x,y")));
        log.push(record("a", Some("z")));
        let f = |op: Option<&str>, res: Option<&str>, since: Option<&str>| CallFilter {
            operation: op.map(str::to_owned),
            resource: res.map(str::to_owned),
            since: since.map(str::to_owned),
        };
        assert_eq!(log.query(&f(Some("a"), None, None)).len(), 2);
        assert_eq!(log.query(&f(None, Some("y"), None)).len(), 1);
        assert_eq!(log.query(&f(None, Some("x"), None)).len(), 2);
        let after = log.query(&f(None, None, Some("2")));
        assert_eq!(after.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
        assert_eq!(log.last_seq(), 3);
    }

    #[test]
    fn the_log_forgets_the_oldest_beyond_its_capacity() {
        let mut log = CallLog::with_capacity(2);
        for _ in 0..3 {
            log.push(record("a", None));
        }
        let seqs: Vec<u64> = log
            .query(&CallFilter::default())
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, [2, 3]);
    }
}
