//! What the scheduler remembers between restarts, per schedule: which slots are settled, the
//! buffered slot, the last fire and its outcome, recent misses; and how that is kept on disk
//! (`<data-dir>/scheduler/state.json`), plus the lock that keeps one scheduler per data
//! directory.
//!
//! Why a JSON file and not a sled database: `drbook schedules` reads the state while the
//! scheduler runs, and sled holds its database exclusively; the state is a few hundred bytes per
//! schedule, rewritten whole at every decision. Each write goes to a temporary file that is
//! fsynced and renamed over the old one, and the directory is fsynced, so a reader or a restart
//! sees either the old state or the new one, never a mix, and a saved decision survives a crash.
//!
//! The state file is not what makes a fire happen once: the run key claimed before each fire
//! (`store::run_keys`) and the `schedule.fired` audit entry are (see [`runner`](super::runner)).
//! The state says which slots are settled, so a restart does not look at them again.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::decide::{Miss, MissReason, Trigger};
use super::error::{Error, Result};
use crate::store::{DataDir, RunId};

/// The state file's format version.
pub const STATE_FORMAT: u32 = 1;

/// How many recent misses each schedule keeps (older ones are in the audit log).
pub const RECENT_MISSES: usize = 20;

/// How a fired run ended, or that it has not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The run is in progress (or waiting for an approval).
    Running,
    /// The run succeeded.
    Succeeded,
    /// The run failed (and was compensated, if it had anything to undo).
    Failed,
    /// The run failed and undoing its completed steps failed too: a human must look.
    FailedCompensation,
    /// An operator aborted the run.
    Aborted,
    /// `drbook run` exited while the run waits for an approval (it can be resumed).
    WaitingApproval,
    /// `drbook run` refused to start the run (invalid runbook or params, a lock held by another
    /// run, no credentials, ...); see the run's log.
    NotStarted {
        /// What `drbook run` reported (its exit code and meaning).
        detail: String,
    },
    /// The run stopped without reaching an end (its process crashed or was killed); it can be
    /// resumed with `drbook resume`.
    Interrupted {
        /// What is known about it.
        detail: String,
    },
    /// The scheduler cannot tell (it was killed while launching the run and finds no trace of
    /// it, or the run's database cannot be read).
    Unknown {
        /// What is known about it.
        detail: String,
    },
}

impl Outcome {
    /// Whether the run is still going (the overlap policy applies).
    pub fn is_running(&self) -> bool {
        matches!(self, Outcome::Running)
    }

    /// The status name used in output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::FailedCompensation => "failed-compensation",
            Outcome::Aborted => "aborted",
            Outcome::WaitingApproval => "waiting-approval",
            Outcome::NotStarted { .. } => "not-started",
            Outcome::Interrupted { .. } => "interrupted",
            Outcome::Unknown { .. } => "unknown",
        }
    }

    /// The detail, if the outcome has one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Outcome::NotStarted { detail }
            | Outcome::Interrupted { detail }
            | Outcome::Unknown { detail } => Some(detail),
            _ => None,
        }
    }
}

/// The last slot a schedule fired and what became of its run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FireRecord {
    /// The slot.
    pub slot: Timestamp,
    /// The run started for it (named by the run key).
    pub run_id: RunId,
    /// `schedule:<name>:<slot>`.
    pub run_key: String,
    /// Why it fired.
    pub trigger: Trigger,
    /// When the scheduler fired it.
    pub fired_at: Timestamp,
    /// Whether this scheduler found the fire already made by an earlier scheduler process that
    /// was killed before recording it.
    #[serde(default)]
    pub adopted: bool,
    /// How the run ended, or `running`.
    pub outcome: Outcome,
    /// When the scheduler saw the run end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

/// A recorded miss (a summary of a [`Miss`]; the audit log lists its slots).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissRecord {
    /// Why the slots did not fire.
    pub reason: MissReason,
    /// The oldest slot.
    pub first: Timestamp,
    /// The newest slot.
    pub last: Timestamp,
    /// How many slots (a lower bound when `exact` is false).
    pub count: u64,
    /// Whether `count` is exact.
    pub exact: bool,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

impl MissRecord {
    /// The record of `miss`, made at `now`.
    pub fn of(miss: &Miss, now: Timestamp) -> Self {
        Self {
            reason: miss.reason,
            first: miss.first(),
            last: miss.last,
            count: miss.count,
            exact: miss.exact,
            recorded_at: now,
        }
    }
}

/// Running totals, for `drbook schedules`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Slots fired.
    pub fired: u64,
    /// Slots missed, for any reason (lower bound if a huge downtime was only counted in part).
    pub missed: u64,
}

/// A miss whose audit entry is being written: set durably before the append and cleared with
/// the state change after it, so a restart knows to check whether the entry made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMiss {
    /// The miss.
    pub miss: Miss,
    /// The run named by the slot's run key, when an earlier scheduler claimed it but never
    /// launched the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphan_run_id: Option<RunId>,
}

/// Everything the scheduler remembers about one schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// When a scheduler first saw this schedule: earlier slots are none of its business.
    pub since: Timestamp,
    /// The newest slot settled (fired, buffered or missed); `None` before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Timestamp>,
    /// The slot waiting for the running run to end (`overlap: buffer-one`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffered: Option<Timestamp>,
    /// The last fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fire: Option<FireRecord>,
    /// The most recent misses, oldest first (at most [`RECENT_MISSES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_misses: Vec<MissRecord>,
    /// Running totals.
    #[serde(default)]
    pub totals: Totals,
    /// A miss being recorded (see [`PendingMiss`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_miss: Option<PendingMiss>,
}

impl ScheduleState {
    /// The state of a schedule first seen at `since`.
    pub fn new(since: Timestamp) -> Self {
        Self {
            since,
            cursor: None,
            buffered: None,
            last_fire: None,
            recent_misses: Vec::new(),
            totals: Totals::default(),
            pending_miss: None,
        }
    }

    /// Slots after this instant are not settled yet.
    pub fn start(&self) -> Timestamp {
        self.cursor
            .map_or(self.since, |cursor| cursor.max(self.since))
    }

    /// Whether the last fired run is still running.
    pub fn is_running(&self) -> bool {
        self.last_fire
            .as_ref()
            .is_some_and(|fire| fire.outcome.is_running())
    }

    /// Records `miss` as settled.
    pub fn record_miss(&mut self, miss: &Miss, now: Timestamp) {
        self.cursor = self.cursor.max(Some(miss.last));
        self.totals.missed = self.totals.missed.saturating_add(miss.count);
        self.recent_misses.push(MissRecord::of(miss, now));
        if self.recent_misses.len() > RECENT_MISSES {
            let excess = self.recent_misses.len() - RECENT_MISSES;
            self.recent_misses.drain(..excess);
        }
        self.pending_miss = None;
    }

    /// Records the fire of `fire.slot`.
    pub fn record_fire(&mut self, fire: FireRecord) {
        self.cursor = self.cursor.max(Some(fire.slot));
        if self.buffered == Some(fire.slot) {
            self.buffered = None;
        }
        self.totals.fired = self.totals.fired.saturating_add(1);
        self.last_fire = Some(fire);
    }
}

/// The whole state file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Per schedule name.
    pub schedules: BTreeMap<String, ScheduleState>,
}

/// The file's layout: the format version beside the schedules.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: u32,
    schedules: BTreeMap<String, ScheduleState>,
}

/// `<data-dir>/scheduler/state.json`.
pub fn state_path(data_dir: &DataDir) -> PathBuf {
    data_dir.scheduler_dir().join("state.json")
}

/// Reads the state file; an empty state if there is none yet.
pub fn load(path: &Path) -> Result<State> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    #[derive(Deserialize)]
    struct Probe {
        format: u32,
    }
    let corrupt = |reason: String| Error::CorruptState {
        path: path.to_owned(),
        reason,
    };
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if probe.format != STATE_FORMAT {
        return Err(corrupt(format!(
            "format {} is not the format {STATE_FORMAT} this drbook reads",
            probe.format
        )));
    }
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    Ok(State {
        schedules: envelope.schedules,
    })
}

/// Writes the state file atomically and durably (temporary file, fsync, rename, directory
/// fsync).
pub fn save(path: &Path, state: &State) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut bytes = serde_json::to_vec_pretty(&Envelope {
        format: STATE_FORMAT,
        schedules: state.schedules.clone(),
    })
    .map_err(|e| Error::CorruptState {
        path: path.to_owned(),
        reason: format!("cannot encode the state: {e}"),
    })?;
    bytes.push(b'\n');
    let temp = dir.join(format!(".state.json.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = private_file().open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(io)
}

/// Options for a new private (0600) file, truncating an old one.
fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Io {
                path: parent.to_owned(),
                source,
            })?;
    }
    Ok(())
}

/// The exclusive lock of one scheduler process on a data directory, held for the process's
/// life, and the file that names the holder. Both are `flock`s, released by the kernel when
/// the process dies, so a killed scheduler never leaves a stale lock.
///
/// Two files, because observers must never get in a starting scheduler's way:
/// `scheduler/scheduler.lock` is locked only by schedulers (exclusively, never waiting: a
/// second scheduler is refused); `scheduler/scheduler.pid` says `pid N` and is locked
/// exclusively by the holder, so an observer (`drbook schedules`) learns whether a scheduler
/// runs by trying a shared lock on it. An observer's brief shared lock on the pid file only
/// makes a starting scheduler wait that long for it; were it taken on `scheduler.lock`, the
/// scheduler's non-waiting attempt would fail and it would refuse to start, naming a holder
/// that is not there.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: File,
    _pid: File,
}

const LOCK_FILE: &str = "scheduler.lock";
const PID_FILE: &str = "scheduler.pid";

impl InstanceLock {
    /// Who holds the lock (`pid N`), without taking it or writing anything; `None` when no
    /// scheduler runs on `data_dir`.
    pub fn holder(data_dir: &DataDir) -> Result<Option<String>> {
        let path = data_dir.scheduler_dir().join(PID_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        match file.try_lock_shared() {
            // Free: nobody runs; the shared lock goes with `file`.
            Ok(()) => Ok(None),
            Err(fs::TryLockError::WouldBlock) => Ok(Some(read_holder(&path))),
            Err(fs::TryLockError::Error(source)) => Err(Error::Io { path, source }),
        }
    }

    /// Takes the lock, or says which process holds it.
    pub fn acquire(data_dir: &DataDir) -> Result<Self> {
        let dir = data_dir.scheduler_dir();
        create_private_dir(&dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = open_private(&lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::AlreadyRunning {
                    path: lock_path,
                    holder: read_holder(&dir.join(PID_FILE)),
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(Error::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        // Only the holder of `scheduler.lock` gets here, so the only other lockers of the pid
        // file are observers holding a shared lock for an instant: waiting is right.
        let pid_path = dir.join(PID_FILE);
        let io = |source| Error::Io {
            path: pid_path.clone(),
            source,
        };
        let mut pid = open_private(&pid_path)?;
        pid.lock().map_err(io)?;
        pid.set_len(0).map_err(io)?;
        writeln!(pid, "pid {}", std::process::id()).map_err(io)?;
        Ok(Self {
            _lock: lock,
            _pid: pid,
        })
    }
}

/// What the pid file says about the scheduler holding the lock.
fn read_holder(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => "pid unknown".to_owned(),
    }
}

/// Opens (creating it `0600`) a file of the scheduler directory for reading and writing.
fn open_private(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn state_round_trips_and_a_missing_file_is_empty() {
        let temp = tempfile::tempdir().unwrap();
        let path = state_path(&DataDir::new(temp.path()));
        assert_eq!(load(&path).unwrap(), State::default());
        let mut state = State::default();
        let mut schedule = ScheduleState::new(at("2026-11-20T09:30:00Z"));
        schedule.record_fire(FireRecord {
            slot: at("2026-11-20T10:00:00Z"),
            run_id: RunId::new(),
            run_key: "schedule:w:2026-11-20T10:00:00Z".into(),
            trigger: Trigger::OnTime,
            fired_at: at("2026-11-20T10:00:00.1Z"),
            adopted: false,
            outcome: Outcome::NotStarted {
                detail: "exit code 5".into(),
            },
            ended_at: None,
        });
        schedule.record_miss(
            &Miss::single(MissReason::Downtime, at("2026-11-20T11:00:00Z")),
            at("2026-11-20T13:00:00Z"),
        );
        state.schedules.insert("w".into(), schedule);
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": 1"), "{text}");
        assert!(text.contains("\"status\": \"not-started\""), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_damaged_or_newer_state_file_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("state.json");
        fs::write(&path, "{\"format\":1,\"schedules\":{\"w\":{\"since\":3}}}").unwrap();
        assert!(matches!(load(&path), Err(Error::CorruptState { .. })));
        fs::write(&path, "{\"format\":2,\"schedules\":{}}").unwrap();
        let error = load(&path).unwrap_err();
        assert!(error.to_string().contains("format 2"), "{error}");
    }

    #[test]
    fn recent_misses_are_bounded_and_totals_count_slots() {
        let mut schedule = ScheduleState::new(at("2026-11-01T00:00:00Z"));
        for hour in 1..=30 {
            let slot = at("2026-11-01T00:00:00Z")
                .checked_add(jiff::SignedDuration::from_hours(hour))
                .unwrap();
            schedule.record_miss(&Miss::single(MissReason::Overlap, slot), slot);
        }
        assert_eq!(schedule.recent_misses.len(), RECENT_MISSES);
        assert_eq!(schedule.totals.missed, 30);
        assert_eq!(schedule.cursor, Some(at("2026-11-02T06:00:00Z")));
        assert_eq!(
            schedule.recent_misses[0].first,
            at("2026-11-01T11:00:00Z"),
            "the oldest were dropped"
        );
    }

    #[test]
    fn a_second_scheduler_on_the_same_data_dir_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        assert_eq!(InstanceLock::holder(&data).unwrap(), None);
        let first = InstanceLock::acquire(&data).unwrap();
        assert_eq!(
            InstanceLock::holder(&data).unwrap(),
            Some(format!("pid {}", std::process::id()))
        );
        let second = InstanceLock::acquire(&data).unwrap_err();
        assert!(
            second
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{second}"
        );
        drop(first);
        assert_eq!(InstanceLock::holder(&data).unwrap(), None);
        InstanceLock::acquire(&data).unwrap();
    }

    #[test]
    fn an_observer_looking_at_the_holder_does_not_make_a_starting_scheduler_refuse() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        drop(InstanceLock::acquire(&data).unwrap());
        // An observer (`drbook schedules`) in the middle of `holder`: its shared lock on the
        // pid file is held while a scheduler starts.
        let observer = File::open(data.scheduler_dir().join(PID_FILE)).unwrap();
        observer.try_lock_shared().unwrap();
        let started = std::thread::spawn({
            let data = data.clone();
            move || InstanceLock::acquire(&data).map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(observer);
        started.join().unwrap().unwrap();
    }
}
