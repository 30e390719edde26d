//! The executor behind `drbook scheduler`: it reads the clock, asks [`due`](super::decide::due)
//! what to do, makes each decision durable, and only then acts on it; then it sleeps until the
//! next slot (or until a run it started ends). It never polls faster than a run's status needs.
//!
//! # Firing a slot exactly once
//!
//! 1. Claim the slot's run key `schedule:<name>:<slot>` for a fresh run id (`store::run_keys`:
//!    atomic, durable, cross-process). If the key is already claimed, an earlier scheduler
//!    process fired this slot and was killed before recording it: its run id is adopted.
//! 2. Append `schedule.fired` to the audit log (durable before the run starts). For an adopted
//!    run id, the log is searched first: if the entry is there, the run may have been launched
//!    and is never launched again (at most once); if not, the earlier process died before
//!    launching it, and this one launches it under the same run id.
//! 3. Launch the run (`drbook run --run-key <key>`, which creates the run under the claimed id).
//! 4. Record the fire in the state file, which settles the slot.
//!
//! A kill between 1 and 4 leaves the slot unsettled, so the restarted scheduler decides it again
//! and meets the claimed key in step 1 (or, if the slot has meanwhile left the catch-up window,
//! checks the key before recording it as missed). With one scheduler per data directory (an
//! `flock`), only the first unsettled slot of a schedule can be in that state.
//!
//! # Recording misses exactly once
//!
//! A miss is written to the state as pending, then to the audit log, then settled in the state.
//! A restart that finds a pending miss looks for its audit entry and appends it only if absent.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::clock::Clock;
use super::decide::{self, Decision, Miss, MissReason, Trigger};
use super::error::Result;
use super::launcher::{LaunchRequest, Launcher, Progress};
use super::spec::{Schedule, ScheduleFile};
use super::state::{self, FireRecord, InstanceLock, Outcome, PendingMiss, ScheduleState, State};
use crate::store::audit::{AuditEntry, AuditEvent, AuditKind, AuditLog, Since};
use crate::store::run_keys::{Claim, RunKeys};
use crate::store::{DataDir, RunId};

/// The environment variable of the fault-injection hook (debug builds only), e.g.
/// `DRBOOK_SCHEDULER_PAUSE=after-claim:/tmp/paused`: at that point of a fire the scheduler
/// writes the marker file and stops until it is killed. Crash tests use it to SIGKILL the
/// scheduler at a known point.
pub const PAUSE_ENV: &str = "DRBOOK_SCHEDULER_PAUSE";

/// A point of the fire protocol where the fault-injection hook can stop the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PausePoint {
    /// The run key is claimed; nothing else is recorded.
    AfterClaim,
    /// `schedule.fired` is in the audit log; the run is not launched.
    AfterAudit,
    /// The run is launched; the fire is not recorded in the state.
    AfterLaunch,
}

impl PausePoint {
    fn as_str(self) -> &'static str {
        match self {
            PausePoint::AfterClaim => "after-claim",
            PausePoint::AfterAudit => "after-audit",
            PausePoint::AfterLaunch => "after-launch",
        }
    }
}

/// Where to stop, and the marker file that says the scheduler got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    /// Where.
    pub point: PausePoint,
    /// Written (with the run key) when the point is reached.
    pub marker: PathBuf,
}

impl Pause {
    /// Parses `<point>:<marker file>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (point, marker) = text.split_once(':')?;
        let point = [
            PausePoint::AfterClaim,
            PausePoint::AfterAudit,
            PausePoint::AfterLaunch,
        ]
        .into_iter()
        .find(|p| p.as_str() == point)?;
        Some(Self {
            point,
            marker: PathBuf::from(marker),
        })
    }

    /// The hook requested through [`PAUSE_ENV`]; always `None` in release builds, so that a
    /// stray environment variable can never wedge a production scheduler.
    pub fn from_env() -> Option<Self> {
        if !cfg!(debug_assertions) {
            return None;
        }
        let text = std::env::var(PAUSE_ENV).ok()?;
        let pause = Self::parse(&text);
        if pause.is_none() {
            tracing::warn!(value = %text, "ignoring {PAUSE_ENV}: expected <after-claim|after-audit|after-launch>:<file>");
        }
        pause
    }
}

/// How the executor behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Who the audit log says acted (`scheduler`).
    pub actor: String,
    /// How often a running run's status is checked when nothing wakes the scheduler sooner.
    pub poll_interval: std::time::Duration,
    /// The longest sleep: the wall clock is looked at again at least this often, so a clock
    /// that jumped (NTP, a suspended machine) is noticed.
    pub max_sleep: std::time::Duration,
    /// How long after its fire an adopted run may still have no database before the scheduler
    /// gives up on it (`unknown`).
    pub lost_after: SignedDuration,
    /// The fault-injection hook.
    pub pause: Option<Pause>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            actor: "scheduler".to_owned(),
            poll_interval: std::time::Duration::from_secs(2),
            max_sleep: std::time::Duration::from_secs(60),
            lost_after: SignedDuration::from_secs(60),
            pause: None,
        }
    }
}

/// The scheduler: schedules, their durable state, and what it needs to act.
pub struct Scheduler<L: Launcher, C: Clock> {
    schedules: Vec<Arc<Schedule>>,
    state_path: PathBuf,
    state: State,
    run_keys: RunKeys,
    audit: AuditLog,
    launcher: L,
    clock: C,
    options: Options,
    _lock: InstanceLock,
}

impl<L: Launcher, C: Clock> std::fmt::Debug for Scheduler<L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("schedules", &self.schedules.len())
            .field("state_path", &self.state_path)
            .finish_non_exhaustive()
    }
}

impl<L: Launcher, C: Clock> Scheduler<L, C> {
    /// Takes the data directory's scheduler lock, loads the state, and starts following the
    /// schedules of `file` (a schedule seen for the first time starts now: earlier slots are
    /// not its own).
    pub fn open(
        file: &ScheduleFile,
        data_dir: &DataDir,
        launcher: L,
        clock: C,
        options: Options,
    ) -> Result<Self> {
        let lock = InstanceLock::acquire(data_dir)?;
        let state_path = state::state_path(data_dir);
        let mut state = state::load(&state_path)?;
        let now = clock.now();
        let mut added = false;
        for schedule in &file.schedules {
            if !state.schedules.contains_key(&schedule.name) {
                state
                    .schedules
                    .insert(schedule.name.clone(), ScheduleState::new(now));
                tracing::info!(schedule = %schedule.name, since = %now, "new schedule");
                added = true;
            }
        }
        if added {
            state::save(&state_path, &state)?;
        }
        Ok(Self {
            schedules: file.schedules.iter().cloned().map(Arc::new).collect(),
            state_path,
            state,
            run_keys: RunKeys::open(data_dir)?,
            audit: AuditLog::open(data_dir)?,
            launcher,
            clock,
            options,
            _lock: lock,
        })
    }

    /// The state as it stands (tests, `drbook schedules`).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The launcher (tests).
    pub fn launcher(&self) -> &L {
        &self.launcher
    }

    /// Runs until `shutdown` resolves: settles what a killed predecessor left pending, then
    /// alternates [`tick`](Self::tick) and sleeping until the next slot, a run's end, or the
    /// shutdown. A decision being applied is finished before the shutdown is honoured.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        self.recover().await?;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let wake = self.tick().await?;
            let wait = wake
                .duration_since(self.clock.now())
                .max(SignedDuration::ZERO);
            let wait = std::time::Duration::try_from(wait)
                .unwrap_or_default()
                .min(self.options.max_sleep);
            tracing::debug!(wake = %wake, "sleeping");
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("scheduler stopping");
                    return Ok(());
                }
                () = tokio::time::sleep(wait) => {}
                () = self.launcher.changed() => {}
            }
        }
    }

    /// Settles misses a killed predecessor left pending: appends each one's audit entry unless
    /// it made it to the log before the kill.
    pub async fn recover(&mut self) -> Result<()> {
        let now = self.clock.now();
        for schedule in self.schedules.clone() {
            let Some(pending) = self.schedule_state(&schedule.name).pending_miss.clone() else {
                continue;
            };
            let recorded = self.find_audit(&schedule.name, |entry| {
                is_entry_of_miss(entry, &schedule.name, &pending.miss)
            })?;
            if recorded.is_none() {
                self.append_audit(
                    AuditKind::ScheduleMissed,
                    pending.orphan_run_id,
                    missed_data(&schedule, &pending.miss, pending.orphan_run_id, None),
                )
                .await?;
            }
            tracing::info!(schedule = %schedule.name, already_audited = recorded.is_some(), "settled a pending miss");
            self.schedule_state_mut(&schedule.name)
                .record_miss(&pending.miss, now);
            self.save()?;
        }
        Ok(())
    }

    /// One pass: notes runs that ended, applies every due decision, and returns when the next
    /// pass is needed.
    pub async fn tick(&mut self) -> Result<Timestamp> {
        let now = self.clock.now();
        for schedule in self.schedules.clone() {
            // One decision at a time, re-deciding after each: adopting a fire found in the log
            // (and learning how its run ended) changes what the later slots should become.
            loop {
                self.refresh(&schedule, now)?;
                let decisions = decide::due(
                    &schedule.timing,
                    &schedule.policy,
                    self.schedule_state(&schedule.name),
                    now,
                );
                let Some(decision) = decisions.into_iter().next() else {
                    break;
                };
                self.apply(&schedule, decision, now).await?;
            }
        }
        Ok(self.next_wake(now))
    }

    /// When the next pass is needed: the next slot of any schedule, sooner if a run must be
    /// checked on, and never later than `max_sleep`.
    fn next_wake(&self, now: Timestamp) -> Timestamp {
        let at_most = |duration: std::time::Duration| {
            SignedDuration::try_from(duration)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .unwrap_or(now)
        };
        let mut wake = at_most(self.options.max_sleep);
        for schedule in &self.schedules {
            let state = self.schedule_state(&schedule.name);
            if let Some(next) = decide::next_slot(&schedule.timing, state, now) {
                wake = wake.min(next);
            }
            if state.is_running() {
                wake = wake.min(at_most(self.options.poll_interval));
            }
        }
        wake
    }

    /// Notes the end of the schedule's running run, if it ended.
    fn refresh(&mut self, schedule: &Schedule, now: Timestamp) -> Result<()> {
        let Some(fire) = self
            .schedule_state(&schedule.name)
            .last_fire
            .clone()
            .filter(|fire| fire.outcome.is_running())
        else {
            return Ok(());
        };
        let outcome = match self.launcher.status(fire.run_id) {
            Progress::Running => return Ok(()),
            Progress::Ended(outcome) => outcome,
            Progress::NotFound if now.duration_since(fire.fired_at) < self.options.lost_after => {
                return Ok(());
            }
            Progress::NotFound => Outcome::Unknown {
                detail: format!(
                    "no run {} appeared in the data directory; the scheduler was probably stopped \
                     while launching it (see scheduler/logs/{}.log)",
                    fire.run_id, fire.run_id
                ),
            },
        };
        tracing::info!(
            schedule = %schedule.name,
            slot = %fire.slot,
            run_id = %fire.run_id,
            outcome = outcome.as_str(),
            detail = outcome.detail().unwrap_or_default(),
            "scheduled run ended"
        );
        if let Some(last) = self.schedule_state_mut(&schedule.name).last_fire.as_mut() {
            last.outcome = outcome;
            last.ended_at = Some(now);
        }
        self.save()
    }

    async fn apply(
        &mut self,
        schedule: &Schedule,
        decision: Decision,
        now: Timestamp,
    ) -> Result<()> {
        match decision {
            Decision::Fire { slot, trigger } => self.fire(schedule, slot, trigger, now).await,
            Decision::Buffer { slot } => {
                let state = self.schedule_state_mut(&schedule.name);
                state.buffered = Some(slot);
                state.cursor = state.cursor.max(Some(slot));
                tracing::info!(schedule = %schedule.name, slot = %slot, "slot buffered until the running run ends");
                self.save()
            }
            Decision::Miss(miss) => self.miss(schedule, miss, now).await,
        }
    }

    /// Fires `slot` (see the module documentation for the protocol).
    async fn fire(
        &mut self,
        schedule: &Schedule,
        slot: Timestamp,
        trigger: Trigger,
        now: Timestamp,
    ) -> Result<()> {
        let run_key = schedule.run_key(slot);
        let fresh = RunId::new();
        let (run_id, adopted) = match self.run_keys.claim(&run_key, fresh)? {
            Claim::Claimed => (fresh, false),
            Claim::Existing(existing) => (existing, true),
        };
        self.pause_at(PausePoint::AfterClaim, &run_key);
        let earlier = if adopted {
            self.find_fired(&schedule.name, run_id)?
        } else {
            None
        };
        let mut trigger = trigger;
        let mut launch_error = None;
        if let Some(entry) = earlier {
            // The fire is in the log: the run may have been launched. Never launch it twice.
            trigger = trigger_of(&entry).unwrap_or(trigger);
            tracing::warn!(
                schedule = %schedule.name, slot = %slot, run_id = %run_id,
                "adopting a fire a killed scheduler made but did not record; the run is not launched again"
            );
        } else {
            if adopted {
                tracing::warn!(
                    schedule = %schedule.name, slot = %slot, run_id = %run_id,
                    "a killed scheduler claimed this slot but did not launch it; launching it under the claimed run id"
                );
            }
            self.append_audit(
                AuditKind::ScheduleFired,
                Some(run_id),
                fired_data(schedule, slot, &run_key, trigger, adopted, now),
            )
            .await?;
            self.pause_at(PausePoint::AfterAudit, &run_key);
            let request = LaunchRequest {
                schedule,
                slot,
                run_id,
                run_key: &run_key,
            };
            if let Err(error) = self.launcher.start(&request) {
                launch_error = Some(error.to_string());
            }
            self.pause_at(PausePoint::AfterLaunch, &run_key);
        }
        let outcome = match &launch_error {
            None => Outcome::Running,
            Some(error) => Outcome::NotStarted {
                detail: error.clone(),
            },
        };
        tracing::info!(
            schedule = %schedule.name,
            slot = %slot,
            local = %schedule.timing.local(slot).strftime("%Y-%m-%d %H:%M:%S %Z"),
            run_id = %run_id,
            run_key = %run_key,
            trigger = trigger.as_str(),
            adopted,
            "fired"
        );
        self.schedule_state_mut(&schedule.name)
            .record_fire(FireRecord {
                slot,
                run_id,
                run_key,
                trigger,
                fired_at: now,
                adopted,
                outcome,
                ended_at: launch_error.is_some().then_some(now),
            });
        if let Some(error) = launch_error {
            tracing::error!(schedule = %schedule.name, slot = %slot, %error, "the scheduled run could not be launched");
            let miss = Miss::single(MissReason::LaunchFailed, slot);
            self.append_audit(
                AuditKind::ScheduleMissed,
                Some(run_id),
                missed_data(schedule, &miss, Some(run_id), Some(&error)),
            )
            .await?;
            self.schedule_state_mut(&schedule.name)
                .record_miss(&miss, now);
        }
        self.save()
    }

    /// Records `miss` (see the module documentation), unless its first slot turns out to have
    /// been fired by a killed predecessor.
    async fn miss(&mut self, schedule: &Schedule, miss: Miss, now: Timestamp) -> Result<()> {
        let first = miss.first();
        let orphan = self.run_keys.get(&schedule.run_key(first))?;
        if let Some(run_id) = orphan
            && let Some(entry) = self.find_fired(&schedule.name, run_id)?
        {
            tracing::warn!(
                schedule = %schedule.name, slot = %first, run_id = %run_id,
                "adopting a fire a killed scheduler made but did not record"
            );
            self.schedule_state_mut(&schedule.name)
                .record_fire(FireRecord {
                    slot: first,
                    run_id,
                    run_key: schedule.run_key(first),
                    trigger: trigger_of(&entry).unwrap_or(Trigger::OnTime),
                    fired_at: now,
                    adopted: true,
                    outcome: Outcome::Running,
                    ended_at: None,
                });
            // The rest of the miss, if any, is decided again from the new cursor.
            return self.save();
        }
        self.schedule_state_mut(&schedule.name).pending_miss = Some(PendingMiss {
            miss: miss.clone(),
            orphan_run_id: orphan,
        });
        self.save()?;
        self.append_audit(
            AuditKind::ScheduleMissed,
            orphan,
            missed_data(schedule, &miss, orphan, None),
        )
        .await?;
        tracing::info!(
            schedule = %schedule.name,
            reason = miss.reason.as_str(),
            first = %first,
            last = %miss.last,
            count = miss.count,
            "slots missed"
        );
        self.schedule_state_mut(&schedule.name)
            .record_miss(&miss, now);
        self.save()
    }

    fn schedule_state(&self, name: &str) -> &ScheduleState {
        // `open` gives every schedule a state and nothing removes one.
        static EMPTY: std::sync::OnceLock<ScheduleState> = std::sync::OnceLock::new();
        self.state
            .schedules
            .get(name)
            .unwrap_or_else(|| EMPTY.get_or_init(|| ScheduleState::new(Timestamp::MAX)))
    }

    fn schedule_state_mut(&mut self, name: &str) -> &mut ScheduleState {
        let now = self.clock.now();
        self.state
            .schedules
            .entry(name.to_owned())
            .or_insert_with(|| ScheduleState::new(now))
    }

    fn save(&self) -> Result<()> {
        state::save(&self.state_path, &self.state)
    }

    async fn append_audit(
        &self,
        kind: AuditKind,
        run_id: Option<RunId>,
        data: Value,
    ) -> Result<()> {
        self.audit
            .append(AuditEvent {
                actor: self.options.actor.clone(),
                kind,
                run_id,
                data,
            })
            .await?;
        Ok(())
    }

    /// The `schedule.fired` entry of `run_id`, if the log has one.
    fn find_fired(&self, schedule: &str, run_id: RunId) -> Result<Option<AuditEntry>> {
        self.find_audit(&run_id.to_string(), |entry| {
            entry.kind == AuditKind::ScheduleFired.as_str()
                && entry.run_id == Some(run_id)
                && entry.data.get("schedule").and_then(Value::as_str) == Some(schedule)
        })
    }

    /// The first audit entry whose line contains `needle` and that `matches`. Reads the whole
    /// log: this runs only when a killed scheduler left something to check.
    fn find_audit(
        &self,
        needle: &str,
        matches: impl Fn(&AuditEntry) -> bool,
    ) -> Result<Option<AuditEntry>> {
        let mut finder = LineFinder {
            needle: needle.as_bytes(),
            matches,
            partial: Vec::new(),
            found: None,
        };
        self.audit.export(Since::Start, &mut finder)?;
        Ok(finder.found)
    }

    /// The fault-injection hook: at the configured point, write the marker and stop for good.
    fn pause_at(&self, point: PausePoint, run_key: &str) {
        let Some(pause) = &self.options.pause else {
            return;
        };
        if pause.point != point {
            return;
        }
        tracing::warn!(
            point = point.as_str(),
            run_key,
            "{PAUSE_ENV}: pausing until killed"
        );
        if let Err(error) = write_marker(&pause.marker, point, run_key) {
            tracing::error!(%error, "cannot write the pause marker");
        }
        loop {
            // Blocking the whole runtime is the point: nothing may happen until the kill.
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

fn write_marker(path: &Path, point: PausePoint, run_key: &str) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, format!("{} {run_key}\n", point.as_str()))?;
    std::fs::rename(temp, path)
}

/// Scans audit lines as `export` writes them, keeping the first match.
struct LineFinder<'a, F> {
    needle: &'a [u8],
    matches: F,
    partial: Vec<u8>,
    found: Option<AuditEntry>,
}

impl<F: Fn(&AuditEntry) -> bool> Write for LineFinder<'_, F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if self.found.is_some()
                || !line
                    .windows(self.needle.len().max(1))
                    .any(|window| window == self.needle)
            {
                continue;
            }
            // `export` already checked every line parses; a line that does not is skipped.
            if let Ok(entry) = serde_json::from_slice::<AuditEntry>(&line)
                && (self.matches)(&entry)
            {
                self.found = Some(entry);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The trigger an audit entry recorded.
fn trigger_of(entry: &AuditEntry) -> Option<Trigger> {
    serde_json::from_value(entry.data.get("trigger")?.clone()).ok()
}

/// Whether `entry` records `miss` of `schedule`.
fn is_entry_of_miss(entry: &AuditEntry, schedule: &str, miss: &Miss) -> bool {
    entry.kind == AuditKind::ScheduleMissed.as_str()
        && entry.data.get("schedule").and_then(Value::as_str) == Some(schedule)
        && entry.data.get("reason").and_then(Value::as_str) == Some(miss.reason.as_str())
        && entry.data.get("first").and_then(Value::as_str) == Some(&miss.first().to_string())
}

/// The `data` of a `schedule.fired` entry.
fn fired_data(
    schedule: &Schedule,
    slot: Timestamp,
    run_key: &str,
    trigger: Trigger,
    adopted: bool,
    now: Timestamp,
) -> Value {
    json!({
        "schedule": schedule.name,
        "slot": slot.to_string(),
        "slot_local": schedule.timing.local(slot).to_string(),
        "run_key": run_key,
        "runbook": schedule.runbook_path.display().to_string(),
        "mode": schedule.mode.map(|m| m.as_str()),
        "trigger": trigger.as_str(),
        "late_ms": i64::try_from(now.duration_since(slot).as_millis().max(0)).unwrap_or(i64::MAX),
        "adopted": adopted,
    })
}

/// The `data` of a `schedule.missed` entry.
fn missed_data(
    schedule: &Schedule,
    miss: &Miss,
    run_id: Option<RunId>,
    error: Option<&str>,
) -> Value {
    let mut data = json!({
        "schedule": schedule.name,
        "reason": miss.reason.as_str(),
        "first": miss.first().to_string(),
        "last": miss.last.to_string(),
        "count": miss.count,
        "exact": miss.exact,
        "slots": miss.slots.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "runbook": schedule.runbook_path.display().to_string(),
        "mode": schedule.mode.map(|m| m.as_str()),
    });
    if let Some(map) = data.as_object_mut() {
        if let Some(run_id) = run_id {
            // A run key claimed for the slot by a scheduler killed before launching its run.
            map.insert("run_key".into(), json!(schedule.run_key(miss.first())));
            map.insert("claimed_run_id".into(), json!(run_id.to_string()));
        }
        if let Some(error) = error {
            map.insert("error".into(), json!(error));
        }
    }
    data
}

#[cfg(test)]
mod tests;
