//! The versioned record types a run database holds (the run, its steps, its event history and the
//! store marker) and their on-disk encoding.
//!
//! Records are plain serde structs; the store wraps each one in an envelope
//! `{"format":2,"kind":"step","record":{...}}` when it writes it. The envelope carries the format
//! version, so a record written by a newer drbook is refused with [`Error::UnsupportedFormat`]
//! instead of being misread, and the record kind, so a record found under the wrong key is
//! reported as corrupt instead of being decoded as something else. Encoding is JSON: it keeps a
//! damaged database debuggable with a hex dump, and it costs a few microseconds per record against
//! a few hundred for the fsync that makes a commit durable.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{Error, Result};

/// The record format this build writes and the newest one it reads.
///
/// 2: the run record no longer carries the runbook source; the store keeps it apart, written once
/// (format 1 records, which carry it inline, are still read).
/// 3: group commits are appended to the run database's commit log instead of being written under
/// the records' own keys (see `store/commit_log.rs`); a format 2 drbook would not see them, so the
/// run record of an older database is restamped when a newer drbook opens it.
pub const FORMAT_VERSION: u32 = 3;

/// The marker stored in every run database's meta record; a sled database without it is foreign.
pub const STORE_MAGIC: &str = "drbook-store";

/// Identifies one run: a UUID v7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(Uuid);

impl RunId {
    /// A fresh id for a new run (UUID v7: time-ordered).
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for RunId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hyphenated lower-case form is also the run's directory name.
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({self})")
    }
}

impl FromStr for RunId {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        Uuid::parse_str(value)
            .map(Self)
            .map_err(|e| Error::InvalidRunId {
                value: value.to_owned(),
                reason: e.to_string(),
            })
    }
}

impl TryFrom<String> for RunId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.to_string()
    }
}

/// The lowercase hex SHA-256 of `bytes`; used for the runbook digest in [`RunRecord`].
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a run stands as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Created, no step started yet.
    Pending,
    /// Steps are being executed.
    Running,
    /// Paused until an operator approves or rejects a gate.
    WaitingApproval,
    /// A step failed and completed steps are being compensated (undone).
    Compensating,
    /// Every step finished successfully or was skipped.
    Succeeded,
    /// A step failed and there was nothing to compensate, or compensation completed.
    Failed,
    /// A step failed and compensating the completed steps failed too: needs a human.
    FailedCompensation,
    /// An operator aborted the run.
    Aborted,
}

impl RunStatus {
    /// The kebab-case name, as stored and shown (`waiting-approval`, `failed-compensation`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::WaitingApproval => "waiting-approval",
            Self::Compensating => "compensating",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::FailedCompensation => "failed-compensation",
            Self::Aborted => "aborted",
        }
    }

    /// Whether the run has ended and will never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::FailedCompensation | Self::Aborted
        )
    }
}

/// The run as a whole: what runbook, with which inputs, by whom, and where it stands.
///
/// Secret parameter values never reach this record: the caller replaces them with
/// [`REDACTED`](super::redact::REDACTED) (see [`redact`](super::redact)) and lists their names in
/// `secret_params`, so a resume knows to ask for them again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: RunId,
    /// The runbook's `name`.
    pub runbook_name: String,
    /// The runbook file as given on the command line.
    pub runbook_path: String,
    /// SHA-256 (hex) of the runbook file's bytes; a resume refuses a runbook that changed.
    pub runbook_digest: String,
    /// The runbook's source text, so `drbook show` and a resume do not depend on the file.
    ///
    /// Not part of the encoded record: a store writes it once, apart, when it creates the run,
    /// and fills it in when it loads the record. The run record is rewritten on every run status
    /// change and shares sled pages with the records every step rewrites; a runbook of a few
    /// thousand steps inside it made sled spill those pages to blob files over and over.
    #[serde(default, skip_serializing)]
    pub runbook_source: String,
    /// The DR mode (`drill`, `planned-failover`, `failover`, `reverse`, `failback`).
    pub mode: String,
    /// Parameter values, secrets already redacted.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Names of parameters declared `secret: true` (their values are redacted in `params`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_params: Vec<String>,
    /// Where the run stands.
    pub status: RunStatus,
    /// The idempotency key given with `--run-key`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_key: Option<String>,
    /// Who started the run (user name, scheduler, ...).
    pub actor: String,
    /// Whether mutating SDRS calls are only printed, not sent.
    pub dry_run: bool,
    /// Human description of the SDRS endpoint (region, project, URL or "emulator"); no secrets.
    pub endpoint: String,
    /// When the run was created.
    pub created_at: Timestamp,
    /// When its first step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// 1 for the first execution, incremented on each resume.
    pub attempt: u32,
    /// Why the run failed or was aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Names of the locks (protection groups) the run holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
    /// The run-wide deadline (`drbook run --deadline`), kept so that a resumed run honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

/// Identifies one step execution: the step id, plus the item index for `for_each` steps.
///
/// Displayed (and stored) as `stop_servers` or `stop_servers[3]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepKey {
    /// The step's `id` in the runbook.
    pub step_id: String,
    /// The `for_each` item index, if the step fans out.
    pub item: Option<usize>,
}

impl StepKey {
    /// The key of a step without `for_each`.
    pub fn single(step_id: impl Into<String>) -> Self {
        Self {
            step_id: step_id.into(),
            item: None,
        }
    }

    /// The key of item `index` of a `for_each` step.
    pub fn item(step_id: impl Into<String>, index: usize) -> Self {
        Self {
            step_id: step_id.into(),
            item: Some(index),
        }
    }
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item {
            Some(index) => write!(f, "{}[{index}]", self.step_id),
            None => f.write_str(&self.step_id),
        }
    }
}

/// Where one step (or one `for_each` item) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Not started; waiting for its dependencies.
    Pending,
    /// Its action is executing.
    Running,
    /// The SDRS call returned a job id; the job is being polled.
    WaitingJob,
    /// Blocked on an approval gate.
    WaitingApproval,
    /// An attempt failed with a retryable error; the next one is due at `next_attempt_at`.
    Retrying,
    /// Finished successfully.
    Succeeded,
    /// Failed for good (retries exhausted or a non-retryable error).
    Failed,
    /// Not executed: its condition was false, its mode excluded it, or a dependency failed.
    Skipped,
    /// Not executed or interrupted because the run was aborted.
    Cancelled,
    /// Its compensation (undo) action is executing.
    Compensating,
    /// Its compensation finished successfully.
    Compensated,
    /// Its compensation failed: needs a human.
    CompensationFailed,
}

impl StepStatus {
    /// The kebab-case name, as stored and shown (`waiting-job`, `compensation-failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::WaitingJob => "waiting-job",
            Self::WaitingApproval => "waiting-approval",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::Compensating => "compensating",
            Self::Compensated => "compensated",
            Self::CompensationFailed => "compensation-failed",
        }
    }

    /// Whether the step will not change again (barring compensation of a succeeded step).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded
                | Self::Failed
                | Self::Skipped
                | Self::Cancelled
                | Self::Compensated
                | Self::CompensationFailed
        )
    }
}

/// How one attempt of a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// Still executing (or the process died while it was).
    InProgress,
    /// The action succeeded.
    Succeeded,
    /// The action failed; see the error code and message.
    Failed,
    /// The action exceeded its timeout.
    TimedOut,
    /// The attempt was cancelled (run aborted).
    Cancelled,
    /// The service throttled the call (HTTP 429, API gateway limits). Throttled attempts are
    /// retried from their own budget and do not count towards the step's `max_attempts`.
    Throttled,
}

/// One attempt at executing a step's action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub number: u32,
    /// When the attempt started.
    pub started_at: Timestamp,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The SDRS (or drbook) error code, such as `SDRS.0209`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A mutating request recorded durably *before* it is sent, so a resumed run knows it may already
/// have been issued and must look for its effect instead of sending it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The operation's name in the SDRS operation table.
    pub operation: String,
    /// The rendered request (path, query, body) with secrets redacted.
    pub request: Value,
    /// When the intent was recorded.
    pub recorded_at: Timestamp,
}

/// An operator's verdict on an approval gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Proceed.
    Approve,
    /// Do not proceed; the step fails.
    Reject,
}

/// Who decided an approval gate, how and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    /// The operator.
    pub actor: String,
    /// Approve or reject.
    pub verdict: Verdict,
    /// Free-text justification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When the decision was made.
    pub decided_at: Timestamp,
}

/// The durable state of one step (or one `for_each` item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's `id` in the runbook.
    pub step_id: String,
    /// The `for_each` item index, if the step fans out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Where the step stands.
    pub status: StepStatus,
    /// Every attempt so far, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// The mutating request about to be (or already) sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// The SDRS job id returned by an asynchronous operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The action's raw response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The step's declared outputs, as selected from the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
    /// When the next attempt is due (status `retrying`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// The approval decision, for approval gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
    /// Why the step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// When the first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the step reached a terminal status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// The undo of this step (its `compensate` action), once a failed run starts compensating it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<CompensationRecord>,
}

/// The durable state of a step's compensation (undo) action. It goes through the same
/// exactly-once machinery as the step itself: intent before the request, job id before polling.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompensationRecord {
    /// Every attempt so far, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// The mutating request about to be (or already) sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// The job id the compensation's request returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The answer (or the final job), secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// When the next attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// When the compensation started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended (compensated or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

impl StepRecord {
    /// A fresh `pending` record for `key`.
    pub fn pending(key: &StepKey) -> Self {
        Self {
            step_id: key.step_id.clone(),
            item: key.item,
            status: StepStatus::Pending,
            attempts: Vec::new(),
            intent: None,
            job_id: None,
            response: None,
            outputs: None,
            next_attempt_at: None,
            approval: None,
            skip_reason: None,
            started_at: None,
            ended_at: None,
            compensation: None,
        }
    }

    /// The record's key (`step_id` or `step_id[item]`).
    pub fn key(&self) -> StepKey {
        StepKey {
            step_id: self.step_id.clone(),
            item: self.item,
        }
    }
}

/// One entry of a run's append-only history, for `drbook show` and reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When it happened.
    pub time: Timestamp,
    /// What happened, e.g. `step.status`, `run.status`, `sdrs.job` (the engine defines the names).
    pub kind: String,
    /// The step concerned (`step_id` or `step_id[item]`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Details.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// An event as read back, with the sequence number the store assigned when it was committed.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Position in the run's history, starting at 1, without gaps.
    pub seq: u64,
    /// The event.
    pub event: EventRecord,
}

/// The marker written when a run database is created, so a foreign sled database is recognised
/// and a database moved to another run's directory is noticed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Always [`STORE_MAGIC`].
    pub magic: String,
    /// The run this database belongs to.
    pub run_id: RunId,
    /// When the database was created.
    pub created_at: Timestamp,
    /// The drbook version that created it.
    pub created_by: String,
}

/// A record type the store knows how to place in an envelope.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// The envelope `kind`, also used as the table name in errors.
    const KIND: &'static str;
}

impl Record for RunRecord {
    const KIND: &'static str = "run";
}

impl Record for StepRecord {
    const KIND: &'static str = "step";
}

impl Record for EventRecord {
    const KIND: &'static str = "event";
}

/// The events one batch appended, stored as one record under the sequence number of the first
/// (format 2; format 1 stored each event alone, kind `event`).
impl Record for Vec<EventRecord> {
    const KIND: &'static str = "events";
}

impl Record for StoreMeta {
    const KIND: &'static str = "meta";
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    format: u32,
    kind: &'static str,
    record: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    format: u32,
    kind: String,
    record: T,
}

/// Only the envelope's header, for telling "written by a newer drbook" or "a record of another
/// kind" from plain damage when a full decode fails.
#[derive(Deserialize)]
struct EnvelopeHeader {
    format: u32,
    #[serde(default)]
    kind: Option<String>,
}

/// The format version in a record's envelope, if it has a readable one.
pub(crate) fn format_of(bytes: &[u8]) -> Option<u32> {
    serde_json::from_slice::<EnvelopeHeader>(bytes)
        .ok()
        .map(|header| header.format)
}

/// Encodes `record` in its envelope.
pub(crate) fn encode<T: Record>(record: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(&EnvelopeOut {
        format: FORMAT_VERSION,
        kind: T::KIND,
        record,
    })
    .map_err(|e| Error::Encode {
        what: format!("{} record", T::KIND),
        reason: e.to_string(),
    })
}

/// The JSON of `record` alone, without an envelope (for [`encode_event_group`]).
pub(crate) fn encode_bare<T: Serialize>(record: &T, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| Error::Encode {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// The record of an event group, from events already encoded by [`encode_bare`]: the same bytes
/// [`encode`] would make of the `Vec<EventRecord>`, without decoding and encoding them again.
pub(crate) fn encode_event_group(events: &[Vec<u8>]) -> Vec<u8> {
    let head = format!(
        r#"{{"format":{FORMAT_VERSION},"kind":"{}","record":["#,
        <Vec<EventRecord> as Record>::KIND
    );
    let size = head.len() + events.iter().map(|e| e.len() + 1).sum::<usize>() + 2;
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(head.as_bytes());
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(event);
    }
    bytes.extend_from_slice(b"]}");
    bytes
}

/// Decodes the record under an `event/` key: a group of events (format 2) or a single event
/// (format 1).
pub(crate) fn decode_event_group(key: &[u8], bytes: &[u8]) -> Result<Vec<EventRecord>> {
    let single = serde_json::from_slice::<EnvelopeHeader>(bytes)
        .is_ok_and(|header| header.kind.as_deref() == Some(<EventRecord as Record>::KIND));
    if single {
        decode::<EventRecord>(key, bytes).map(|event| vec![event])
    } else {
        decode(key, bytes)
    }
}

/// Decodes a record stored under `key`, telling a newer format or a misplaced record apart from
/// damage.
pub(crate) fn decode<T: Record>(key: &[u8], bytes: &[u8]) -> Result<T> {
    let key_text = || String::from_utf8_lossy(key).into_owned();
    let corrupt = |reason: String| Error::Corrupt {
        table: T::KIND,
        key: key_text(),
        reason,
    };
    let check_header = |format: u32, kind: Option<&str>| -> Result<()> {
        if format > FORMAT_VERSION {
            Err(Error::UnsupportedFormat {
                what: format!("{} record {:?}", T::KIND, key_text()),
                found: format,
                expected: FORMAT_VERSION,
            })
        } else if format == 0 {
            Err(corrupt("format version 0 does not exist".to_owned()))
        } else if let Some(kind) = kind.filter(|kind| *kind != T::KIND) {
            Err(corrupt(format!(
                "expected a {} record, found a {kind:?} record",
                T::KIND
            )))
        } else {
            Ok(())
        }
    };
    match serde_json::from_slice::<EnvelopeIn<T>>(bytes) {
        Ok(envelope) => {
            check_header(envelope.format, Some(&envelope.kind))?;
            Ok(envelope.record)
        }
        Err(error) => {
            // A newer format may have changed the record's shape; that is not damage.
            if let Ok(header) = serde_json::from_slice::<EnvelopeHeader>(bytes) {
                check_header(header.format, header.kind.as_deref())?;
            }
            Err(corrupt(error.to_string()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_stored_names() {
        use RunStatus as R;
        use StepStatus as S;
        for status in [
            R::Pending,
            R::Running,
            R::WaitingApproval,
            R::Compensating,
            R::Succeeded,
            R::Failed,
            R::FailedCompensation,
            R::Aborted,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in [
            S::Pending,
            S::Running,
            S::WaitingJob,
            S::WaitingApproval,
            S::Retrying,
            S::Succeeded,
            S::Failed,
            S::Skipped,
            S::Cancelled,
            S::Compensating,
            S::Compensated,
            S::CompensationFailed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    fn sample_step() -> StepRecord {
        let mut step = StepRecord::pending(&StepKey::item("stop_servers", 3));
        step.status = StepStatus::WaitingJob;
        step.job_id = Some("0000-job".to_owned());
        step.attempts.push(Attempt {
            number: 1,
            started_at: Timestamp::UNIX_EPOCH,
            ended_at: None,
            outcome: AttemptOutcome::InProgress,
            error_code: None,
            message: None,
        });
        step
    }

    #[test]
    fn step_record_round_trips_through_its_envelope() {
        let step = sample_step();
        let bytes = encode(&step).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.starts_with(&format!(
                r#"{{"format":{FORMAT_VERSION},"kind":"step","record":{{"#
            )),
            "{text}"
        );
        assert!(text.contains(r#""status":"waiting-job""#), "{text}");
        assert!(
            text.contains(r#""started_at":"1970-01-01T00:00:00Z""#),
            "{text}"
        );
        let back: StepRecord = decode(b"step/stop_servers[3]", &bytes).unwrap();
        assert_eq!(back, step);
        assert_eq!(back.key().to_string(), "stop_servers[3]");
    }

    #[test]
    fn newer_format_is_unsupported_not_corrupt() {
        let bytes = br#"{"format":4,"kind":"step","record":{"entirely":"different"}}"#;
        let error = decode::<StepRecord>(b"step/a", bytes).unwrap_err();
        assert!(
            matches!(
                error,
                Error::UnsupportedFormat {
                    found: 4,
                    expected: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        // Even when the newer record happens to decode, it must not be trusted.
        let mut newer = serde_json::to_value(EnvelopeOut {
            format: 1,
            kind: "step",
            record: &sample_step(),
        })
        .unwrap();
        newer["format"] = 7.into();
        let error =
            decode::<StepRecord>(b"step/a", &serde_json::to_vec(&newer).unwrap()).unwrap_err();
        assert!(
            matches!(error, Error::UnsupportedFormat { found: 7, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn garbage_and_wrong_kind_are_corrupt() {
        for bytes in [
            &b"\x00\xff garbage"[..],
            br#"{"format":1}"#,
            br#"{"format":0,"kind":"step","record":{}}"#,
            br#"{"format":1,"kind":"step","record":{"step_id":5}}"#,
        ] {
            let error = decode::<StepRecord>(b"step/x", bytes).unwrap_err();
            assert!(
                matches!(&error, Error::Corrupt { table: "step", key, .. } if key == "step/x"),
                "{error:?}"
            );
        }
        let run_bytes = encode(&sample_step()).unwrap();
        let error = decode::<EventRecord>(b"event/1", &run_bytes).unwrap_err();
        assert!(
            error.to_string().contains("expected a event record"),
            "{error}"
        );
    }

    #[test]
    fn status_names_are_kebab_case() {
        let names: Vec<String> = [
            RunStatus::WaitingApproval,
            RunStatus::FailedCompensation,
            RunStatus::Aborted,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                r#""waiting-approval""#,
                r#""failed-compensation""#,
                r#""aborted""#
            ]
        );
        assert_eq!(
            serde_json::to_string(&StepStatus::CompensationFailed).unwrap(),
            r#""compensation-failed""#
        );
    }

    #[test]
    fn run_id_parses_displays_and_rejects_junk() {
        let id = RunId::new();
        let text = id.to_string();
        assert_eq!(text.parse::<RunId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        let error = "../../etc".parse::<RunId>().unwrap_err();
        assert!(matches!(error, Error::InvalidRunId { .. }), "{error:?}");
        let later = RunId::new();
        assert!(later > id, "v7 ids sort by creation time");
    }

    #[test]
    fn sha256_hex_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
