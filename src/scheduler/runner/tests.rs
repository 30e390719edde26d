//! The executor against a fake launcher and a manual clock: fires, overlaps, restarts, and the
//! states a killed scheduler leaves behind, reproduced by writing what it would have written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::scheduler::Error;
use crate::scheduler::clock::ManualClock;
use crate::scheduler::spec;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct Started {
    schedule: String,
    slot: Timestamp,
    run_id: RunId,
    run_key: String,
}

#[derive(Default)]
struct FakeInner {
    started: Vec<Started>,
    progress: HashMap<RunId, Progress>,
    fail: bool,
}

/// A launcher that records starts and reports whatever the test says.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<FakeInner>>);

impl Fake {
    fn started(&self) -> Vec<Started> {
        self.0.lock().unwrap().started.clone()
    }

    fn set(&self, run_id: RunId, progress: Progress) {
        self.0.lock().unwrap().progress.insert(run_id, progress);
    }

    fn fail_starts(&self) {
        self.0.lock().unwrap().fail = true;
    }
}

impl Launcher for Fake {
    fn start(&mut self, request: &LaunchRequest<'_>) -> Result<()> {
        let mut inner = self.0.lock().unwrap();
        if inner.fail {
            return Err(Error::Launch {
                schedule: request.schedule.name.clone(),
                program: "drbook".into(),
                reason: "No such file or directory".into(),
            });
        }
        inner.started.push(Started {
            schedule: request.schedule.name.clone(),
            slot: request.slot,
            run_id: request.run_id,
            run_key: request.run_key.to_owned(),
        });
        inner.progress.insert(request.run_id, Progress::Running);
        Ok(())
    }

    fn status(&mut self, run_id: RunId) -> Progress {
        let inner = self.0.lock().unwrap();
        inner
            .progress
            .get(&run_id)
            .cloned()
            .unwrap_or(Progress::NotFound)
    }

    async fn changed(&mut self) {
        std::future::pending::<()>().await;
    }
}

struct Harness {
    _temp: tempfile::TempDir,
    data: DataDir,
    clock: ManualClock,
    launcher: Fake,
    file: ScheduleFile,
}

impl Harness {
    /// One schedule `hourly` (`0 * * * *`, UTC) on the drill runbook, with `extra` YAML keys.
    fn new(extra: &str, start: &str) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "schedules:\n  - name: hourly\n    runbook: {}\n    cron: '0 * * * *'\n{extra}",
            root.join("runbooks/dr-drill.yaml").display()
        );
        let file = spec::parse(&temp.path().join("s.yaml"), &text, at(start)).unwrap();
        Self {
            data: DataDir::new(temp.path().join("data")),
            _temp: temp,
            clock: ManualClock::new(at(start)),
            launcher: Fake::default(),
            file,
        }
    }

    fn open(&self) -> Scheduler<Fake, ManualClock> {
        Scheduler::open(
            &self.file,
            &self.data,
            self.launcher.clone(),
            self.clock.clone(),
            Options::default(),
        )
        .unwrap()
    }

    fn schedule(&self) -> &Schedule {
        &self.file.schedules[0]
    }

    fn audit(&self) -> Vec<AuditEntry> {
        let mut bytes = Vec::new();
        AuditLog::open(&self.data)
            .unwrap()
            .export(Since::Start, &mut bytes)
            .unwrap();
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect()
    }

    /// `(kind, slot or first slot, reason or trigger)` of every audit entry.
    fn audit_summary(&self) -> Vec<(String, String, String)> {
        self.audit()
            .iter()
            .map(|entry| {
                let text = |key: &str| {
                    entry
                        .data
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let slot = if entry.kind == "schedule.fired" {
                    text("slot")
                } else {
                    text("first")
                };
                let why = if entry.kind == "schedule.fired" {
                    text("trigger")
                } else {
                    text("reason")
                };
                (entry.kind.clone(), slot, why)
            })
            .collect()
    }

    /// Claims the run key of `slot` as a scheduler killed right after the claim would have.
    fn claim(&self, slot: &str) -> RunId {
        let id = RunId::new();
        let keys = RunKeys::open(&self.data).unwrap();
        assert_eq!(
            keys.claim(&self.schedule().run_key(at(slot)), id).unwrap(),
            Claim::Claimed
        );
        id
    }

    /// Appends the `schedule.fired` entry a scheduler killed after its audit append wrote.
    fn audit_fire(&self, slot: &str, run_id: RunId) {
        let data = fired_data(
            self.schedule(),
            at(slot),
            &self.schedule().run_key(at(slot)),
            Trigger::OnTime,
            false,
            at(slot),
        );
        AuditLog::open(&self.data)
            .unwrap()
            .append_blocking(AuditEvent {
                actor: "scheduler".into(),
                kind: AuditKind::ScheduleFired,
                run_id: Some(run_id),
                data,
            })
            .unwrap();
    }
}

fn entry(kind: &str, slot: &str, why: &str) -> (String, String, String) {
    (kind.to_owned(), slot.to_owned(), why.to_owned())
}

fn last_fire(scheduler: &Scheduler<Fake, ManualClock>) -> FireRecord {
    scheduler.state().schedules["hourly"]
        .last_fire
        .clone()
        .unwrap()
}

#[tokio::test]
async fn a_slot_fires_once_and_its_run_is_followed_to_its_end() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    let mut scheduler = h.open();
    assert_eq!(
        scheduler.tick().await.unwrap(),
        at("2026-11-20T09:31:00Z"),
        "sleeps towards the slot, looking at the clock at least every minute"
    );
    h.clock.set(at("2026-11-20T09:59:30Z"));
    assert_eq!(scheduler.tick().await.unwrap(), at("2026-11-20T10:00:00Z"));
    assert!(h.launcher.started().is_empty());

    h.clock.set(at("2026-11-20T10:00:00.003Z"));
    let wake = scheduler.tick().await.unwrap();
    let started = h.launcher.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].slot, at("2026-11-20T10:00:00Z"));
    assert_eq!(started[0].run_key, "schedule:hourly:2026-11-20T10:00:00Z");
    assert_eq!(
        wake,
        at("2026-11-20T10:00:02.003Z"),
        "polls the running run"
    );
    let fire = last_fire(&scheduler);
    assert_eq!(fire.run_id, started[0].run_id);
    assert_eq!(fire.outcome, Outcome::Running);
    assert!(!fire.adopted);
    // The run key names the run, durably.
    let keys = RunKeys::open(&h.data).unwrap();
    assert_eq!(
        keys.get(&started[0].run_key).unwrap(),
        Some(started[0].run_id)
    );
    let audit = h.audit();
    assert_eq!(
        h.audit_summary(),
        [entry("schedule.fired", "2026-11-20T10:00:00Z", "on-time")]
    );
    assert_eq!(audit[0].run_id, Some(started[0].run_id));
    assert_eq!(audit[0].actor, "scheduler");

    // Ticking again fires nothing; the run's end is noticed.
    scheduler.tick().await.unwrap();
    assert_eq!(h.launcher.started().len(), 1);
    h.launcher
        .set(started[0].run_id, Progress::Ended(Outcome::Succeeded));
    h.clock.set(at("2026-11-20T10:05:00Z"));
    assert_eq!(
        scheduler.tick().await.unwrap(),
        at("2026-11-20T10:05:00Z") + SignedDuration::from_secs(60)
    );
    let fire = last_fire(&scheduler);
    assert_eq!(fire.outcome, Outcome::Succeeded);
    assert_eq!(fire.ended_at, Some(at("2026-11-20T10:05:00Z")));
    // The state on disk says the same.
    drop(scheduler);
    let saved = state::load(&state::state_path(&h.data)).unwrap();
    assert_eq!(
        saved.schedules["hourly"]
            .last_fire
            .as_ref()
            .unwrap()
            .outcome,
        Outcome::Succeeded
    );
}

#[tokio::test]
async fn overlap_skip_records_the_slot_as_missed() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    let mut scheduler = h.open();
    h.clock.set(at("2026-11-20T10:00:00Z"));
    scheduler.tick().await.unwrap();
    h.clock.set(at("2026-11-20T11:00:00Z"));
    scheduler.tick().await.unwrap();
    assert_eq!(h.launcher.started().len(), 1);
    assert_eq!(
        h.audit_summary(),
        [
            entry("schedule.fired", "2026-11-20T10:00:00Z", "on-time"),
            entry("schedule.missed", "2026-11-20T11:00:00Z", "overlap"),
        ]
    );
    let state = &scheduler.state().schedules["hourly"];
    assert_eq!(state.totals.missed, 1);
    assert_eq!(state.recent_misses[0].reason, MissReason::Overlap);
}

#[tokio::test]
async fn buffer_one_fires_the_buffered_slot_when_the_run_ends() {
    let h = Harness::new("    overlap: buffer-one\n", "2026-11-20T09:30:00Z");
    let mut scheduler = h.open();
    h.clock.set(at("2026-11-20T10:00:00Z"));
    scheduler.tick().await.unwrap();
    h.clock.set(at("2026-11-20T11:00:00Z"));
    scheduler.tick().await.unwrap();
    assert_eq!(
        scheduler.state().schedules["hourly"].buffered,
        Some(at("2026-11-20T11:00:00Z"))
    );
    let first = h.launcher.started()[0].run_id;
    h.launcher.set(first, Progress::Ended(Outcome::Failed));
    h.clock.set(at("2026-11-20T11:40:00Z"));
    scheduler.tick().await.unwrap();
    let started = h.launcher.started();
    assert_eq!(started.len(), 2);
    assert_eq!(started[1].slot, at("2026-11-20T11:00:00Z"));
    assert_eq!(
        h.audit_summary(),
        [
            entry("schedule.fired", "2026-11-20T10:00:00Z", "on-time"),
            entry("schedule.fired", "2026-11-20T11:00:00Z", "buffered"),
        ]
    );
    assert_eq!(scheduler.state().schedules["hourly"].buffered, None);
}

#[tokio::test]
async fn after_a_restart_a_missed_slot_is_caught_up_once_and_older_ones_are_reported() {
    let h = Harness::new("    catchup: 1h\n", "2026-11-20T09:30:00Z");
    let mut scheduler = h.open();
    h.clock.set(at("2026-11-20T10:00:00Z"));
    scheduler.tick().await.unwrap();
    h.launcher.set(
        h.launcher.started()[0].run_id,
        Progress::Ended(Outcome::Succeeded),
    );
    scheduler.tick().await.unwrap();
    drop(scheduler);

    // Down from 10:00 to 12:20: 11:00 is 1h20 late (missed), 12:00 is 20 minutes late.
    h.clock.set(at("2026-11-20T12:20:00Z"));
    let mut scheduler = h.open();
    scheduler.recover().await.unwrap();
    scheduler.tick().await.unwrap();
    let started = h.launcher.started();
    assert_eq!(started.len(), 2);
    assert_eq!(started[1].slot, at("2026-11-20T12:00:00Z"));
    assert_eq!(last_fire(&scheduler).trigger, Trigger::CatchUp);
    drop(scheduler);

    // Another restart at the same time does not catch up again.
    let mut scheduler = h.open();
    scheduler.recover().await.unwrap();
    scheduler.tick().await.unwrap();
    assert_eq!(h.launcher.started().len(), 2);
    assert_eq!(
        h.audit_summary(),
        [
            entry("schedule.fired", "2026-11-20T10:00:00Z", "on-time"),
            entry("schedule.missed", "2026-11-20T11:00:00Z", "downtime"),
            entry("schedule.fired", "2026-11-20T12:00:00Z", "catch-up"),
        ]
    );
}

#[tokio::test]
async fn killed_after_the_claim_the_slot_is_launched_once_under_the_claimed_id() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    drop(h.open());
    let claimed = h.claim("2026-11-20T10:00:00Z");
    h.clock.set(at("2026-11-20T10:00:05Z"));
    let mut scheduler = h.open();
    scheduler.tick().await.unwrap();
    let started = h.launcher.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].run_id, claimed);
    let fire = last_fire(&scheduler);
    assert!(fire.adopted);
    assert_eq!(fire.run_id, claimed);
    let audit = h.audit();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].data["adopted"], json!(true));
    assert_eq!(audit[0].run_id, Some(claimed));
}

#[tokio::test]
async fn killed_after_the_audit_entry_the_run_is_adopted_never_launched_again() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    drop(h.open());
    let claimed = h.claim("2026-11-20T10:00:00Z");
    h.audit_fire("2026-11-20T10:00:00Z", claimed);
    h.clock.set(at("2026-11-20T10:00:05Z"));
    let mut scheduler = h.open();
    scheduler.tick().await.unwrap();
    assert!(h.launcher.started().is_empty(), "at most once");
    let fire = last_fire(&scheduler);
    assert_eq!(fire.run_id, claimed);
    assert!(fire.adopted);
    assert_eq!(fire.outcome, Outcome::Running);
    assert_eq!(h.audit().len(), 1, "no second fired entry");

    // The run never shows up: after `lost_after` the scheduler says it does not know.
    h.clock.set(at("2026-11-20T10:00:30Z"));
    scheduler.tick().await.unwrap();
    assert_eq!(last_fire(&scheduler).outcome, Outcome::Running);
    h.clock.set(at("2026-11-20T10:01:06Z"));
    scheduler.tick().await.unwrap();
    let outcome = last_fire(&scheduler).outcome;
    assert_eq!(outcome.as_str(), "unknown", "{outcome:?}");
    // A run that does show up is followed instead.
    drop(scheduler);
}

#[tokio::test]
async fn an_adopted_run_that_exists_is_followed() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    drop(h.open());
    let claimed = h.claim("2026-11-20T10:00:00Z");
    h.audit_fire("2026-11-20T10:00:00Z", claimed);
    h.launcher.set(claimed, Progress::Running);
    h.clock.set(at("2026-11-20T10:00:05Z"));
    let mut scheduler = h.open();
    scheduler.tick().await.unwrap();
    h.clock.set(at("2026-11-20T10:30:00Z"));
    scheduler.tick().await.unwrap();
    assert_eq!(last_fire(&scheduler).outcome, Outcome::Running);
    h.launcher
        .set(claimed, Progress::Ended(Outcome::FailedCompensation));
    scheduler.tick().await.unwrap();
    assert_eq!(last_fire(&scheduler).outcome, Outcome::FailedCompensation);
    assert!(h.launcher.started().is_empty());
}

#[tokio::test]
async fn a_claimed_slot_that_left_the_window_is_missed_with_its_claim_noted() {
    let h = Harness::new("    catchup: 1h\n", "2026-11-20T09:30:00Z");
    drop(h.open());
    let claimed = h.claim("2026-11-20T10:00:00Z");
    h.clock.set(at("2026-11-20T13:00:30Z"));
    let mut scheduler = h.open();
    scheduler.tick().await.unwrap();
    let started = h.launcher.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].slot, at("2026-11-20T13:00:00Z"));
    let audit = h.audit();
    assert_eq!(
        h.audit_summary(),
        [
            entry("schedule.missed", "2026-11-20T10:00:00Z", "downtime"),
            entry("schedule.fired", "2026-11-20T13:00:00Z", "on-time"),
        ]
    );
    assert_eq!(audit[0].data["count"], json!(3));
    assert_eq!(audit[0].data["claimed_run_id"], json!(claimed.to_string()));
    assert_eq!(audit[0].run_id, Some(claimed));
}

#[tokio::test]
async fn a_fire_found_in_the_log_for_a_slot_that_left_the_window_is_adopted() {
    let h = Harness::new("    catchup: 1h\n", "2026-11-20T09:30:00Z");
    drop(h.open());
    let claimed = h.claim("2026-11-20T10:00:00Z");
    h.audit_fire("2026-11-20T10:00:00Z", claimed);
    h.launcher.set(claimed, Progress::Ended(Outcome::Succeeded));
    h.clock.set(at("2026-11-20T13:00:30Z"));
    let mut scheduler = h.open();
    scheduler.tick().await.unwrap();
    assert_eq!(
        h.audit_summary(),
        [
            entry("schedule.fired", "2026-11-20T10:00:00Z", "on-time"),
            entry("schedule.missed", "2026-11-20T11:00:00Z", "downtime"),
            entry("schedule.fired", "2026-11-20T13:00:00Z", "on-time"),
        ]
    );
    let started = h.launcher.started();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].slot, at("2026-11-20T13:00:00Z"));
    let state = &scheduler.state().schedules["hourly"];
    assert_eq!(state.totals.fired, 2);
    assert_eq!(state.totals.missed, 2);
}

#[tokio::test]
async fn a_pending_miss_is_audited_exactly_once_on_recovery() {
    for already_audited in [false, true] {
        let h = Harness::new("", "2026-11-20T09:30:00Z");
        drop(h.open());
        // What a scheduler killed between "pending" and "settled" leaves behind.
        let miss = Miss::single(MissReason::Overlap, at("2026-11-20T11:00:00Z"));
        let path = state::state_path(&h.data);
        let mut saved = state::load(&path).unwrap();
        saved.schedules.get_mut("hourly").unwrap().pending_miss = Some(PendingMiss {
            miss: miss.clone(),
            orphan_run_id: None,
        });
        saved.schedules.get_mut("hourly").unwrap().cursor = Some(at("2026-11-20T10:00:00Z"));
        state::save(&path, &saved).unwrap();
        if already_audited {
            AuditLog::open(&h.data)
                .unwrap()
                .append_blocking(AuditEvent {
                    actor: "scheduler".into(),
                    kind: AuditKind::ScheduleMissed,
                    run_id: None,
                    data: missed_data(h.schedule(), &miss, None, None),
                })
                .unwrap();
        }
        h.clock.set(at("2026-11-20T11:00:10Z"));
        let mut scheduler = h.open();
        scheduler.recover().await.unwrap();
        scheduler.tick().await.unwrap();
        assert_eq!(
            h.audit_summary(),
            [entry("schedule.missed", "2026-11-20T11:00:00Z", "overlap")],
            "already audited: {already_audited}"
        );
        let state = &scheduler.state().schedules["hourly"];
        assert_eq!(state.pending_miss, None);
        assert_eq!(state.cursor, Some(at("2026-11-20T11:00:00Z")));
        assert!(h.launcher.started().is_empty(), "11:00 is settled");
    }
}

#[tokio::test]
async fn a_run_that_cannot_be_launched_is_recorded_and_not_retried() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    h.launcher.fail_starts();
    let mut scheduler = h.open();
    h.clock.set(at("2026-11-20T10:00:00Z"));
    scheduler.tick().await.unwrap();
    scheduler.tick().await.unwrap();
    let fire = last_fire(&scheduler);
    assert_eq!(fire.outcome.as_str(), "not-started");
    assert!(
        fire.outcome
            .detail()
            .unwrap_or_default()
            .contains("No such file"),
        "{fire:?}"
    );
    assert_eq!(
        h.audit_summary(),
        [
            entry("schedule.fired", "2026-11-20T10:00:00Z", "on-time"),
            entry("schedule.missed", "2026-11-20T10:00:00Z", "launch-failed"),
        ]
    );
    // The next slot fires normally (the failed one is not running).
    h.clock.set(at("2026-11-20T11:00:00Z"));
    scheduler.tick().await.unwrap();
    assert_eq!(h.audit().len(), 4);
}

#[tokio::test]
async fn one_scheduler_per_data_directory() {
    let h = Harness::new("", "2026-11-20T09:30:00Z");
    let _first = h.open();
    let second = Scheduler::open(
        &h.file,
        &h.data,
        h.launcher.clone(),
        h.clock.clone(),
        Options::default(),
    )
    .unwrap_err();
    assert!(matches!(second, Error::AlreadyRunning { .. }), "{second}");
}

#[test]
fn pause_points_parse() {
    assert_eq!(
        Pause::parse("after-claim:/tmp/x"),
        Some(Pause {
            point: PausePoint::AfterClaim,
            marker: "/tmp/x".into()
        })
    );
    assert_eq!(Pause::parse("before-claim:/tmp/x"), None);
    assert_eq!(Pause::parse("after-claim"), None);
}
