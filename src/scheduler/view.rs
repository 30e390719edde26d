//! What `drbook schedules` shows about each schedule, as data (`--output json`) and as text:
//! the schedule itself, its next slot, its last run and result, the buffered slot and the slots
//! it missed. Built from a checked schedule file and the state file; reads nothing else.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use super::decide::{self, MissReason, Trigger};
use super::spec::Schedule;
use super::state::{Outcome, ScheduleState};
use super::timing::Timing;
use crate::store::RunId;

/// An instant, in UTC and on the schedule's wall clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instant {
    /// RFC 3339, UTC.
    pub utc: Timestamp,
    /// RFC 3339 with the schedule's offset and zone.
    pub local: String,
}

impl Instant {
    fn of(timing: &Timing, instant: Timestamp) -> Self {
        Self {
            utc: instant,
            local: timing.local(instant).to_string(),
        }
    }

    /// `2026-11-22 03:00:00 CET`.
    fn short(timing: &Timing, instant: Timestamp) -> String {
        timing
            .local(instant)
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }
}

/// The last run of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// The slot it ran for.
    pub slot: Instant,
    /// The run.
    pub run_id: RunId,
    /// Its run key.
    pub run_key: String,
    /// Why it fired.
    pub trigger: Trigger,
    /// When it fired.
    pub fired_at: Timestamp,
    /// Whether a restarted scheduler adopted it.
    pub adopted: bool,
    /// How it ended, or `running`.
    pub result: Outcome,
    /// When the scheduler saw it end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

/// Slots that did not fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missed {
    /// Why.
    pub reason: MissReason,
    /// The oldest slot.
    pub first: Instant,
    /// The newest slot.
    pub last: Instant,
    /// How many (a lower bound when `exact` is false).
    pub count: u64,
    /// Whether `count` is exact.
    pub exact: bool,
    /// When the scheduler recorded it.
    pub recorded_at: Timestamp,
}

/// Everything `drbook schedules` says about one schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduleView {
    /// The schedule's name.
    pub name: String,
    /// The runbook file.
    pub runbook: String,
    /// The runbook's name.
    pub runbook_name: String,
    /// The mode.
    pub mode: Option<String>,
    /// The params given to the runbook.
    pub params: BTreeMap<String, Value>,
    /// The cron pattern.
    pub cron: String,
    /// The cron pattern in words.
    pub description: String,
    /// The time zone.
    pub timezone: String,
    /// `skip` or `buffer-one`.
    pub overlap: String,
    /// The catch-up window (`0s`, `6h`).
    pub catchup: String,
    /// The next slot to fire, if the pattern has one.
    pub next: Option<Instant>,
    /// The last run, if any.
    pub last_run: Option<LastRun>,
    /// The slot waiting for the running run.
    pub buffered: Option<Instant>,
    /// Slots fired so far.
    pub fired_total: u64,
    /// Slots missed so far.
    pub missed_total: u64,
    /// The most recent misses, oldest first.
    pub missed: Vec<Missed>,
    /// When the scheduler first followed this schedule (`None`: never yet).
    pub since: Option<Timestamp>,
}

impl ScheduleView {
    /// The view of `schedule` with its state (`None` if no scheduler has followed it yet) at
    /// `now`.
    pub fn of(schedule: &Schedule, state: Option<&ScheduleState>, now: Timestamp) -> Self {
        let timing = &schedule.timing;
        let next = match state {
            Some(state) => decide::next_slot(timing, state, now),
            None => timing.next_after(now),
        };
        let last_run = state
            .and_then(|s| s.last_fire.as_ref())
            .map(|fire| LastRun {
                slot: Instant::of(timing, fire.slot),
                run_id: fire.run_id,
                run_key: fire.run_key.clone(),
                trigger: fire.trigger,
                fired_at: fire.fired_at,
                adopted: fire.adopted,
                result: fire.outcome.clone(),
                ended_at: fire.ended_at,
            });
        let missed = state
            .map(|s| {
                s.recent_misses
                    .iter()
                    .map(|miss| Missed {
                        reason: miss.reason,
                        first: Instant::of(timing, miss.first),
                        last: Instant::of(timing, miss.last),
                        count: miss.count,
                        exact: miss.exact,
                        recorded_at: miss.recorded_at,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name: schedule.name.clone(),
            runbook: schedule.runbook_path.display().to_string(),
            runbook_name: schedule.runbook_name.clone(),
            mode: schedule.mode.map(|m| m.as_str().to_owned()),
            params: schedule.param_values.clone(),
            cron: timing.pattern().to_owned(),
            description: timing.describe(),
            timezone: timing.zone_name().to_owned(),
            overlap: schedule.policy.overlap.as_str().to_owned(),
            catchup: friendly(schedule.policy.catchup),
            next: next.map(|slot| Instant::of(timing, slot)),
            last_run,
            buffered: state
                .and_then(|s| s.buffered)
                .map(|slot| Instant::of(timing, slot)),
            fired_total: state.map_or(0, |s| s.totals.fired),
            missed_total: state.map_or(0, |s| s.totals.missed),
            missed,
            since: state.map(|s| s.since),
        }
    }

    /// The text block `drbook schedules` prints.
    pub fn render(&self, schedule: &Schedule) -> String {
        let timing = &schedule.timing;
        let mut out = String::new();
        let mode = self
            .mode
            .as_deref()
            .map(|m| format!(", mode {m}"))
            .unwrap_or_default();
        out.push_str(&format!("{}  ({}{mode})\n", self.name, self.runbook_name));
        out.push_str(&format!(
            "  cron      {} in {} ({}); overlap {}, catch-up {}\n",
            self.cron, self.timezone, self.description, self.overlap, self.catchup
        ));
        let next = match &self.next {
            Some(next) => format!("{} ({})", Instant::short(timing, next.utc), next.utc),
            None => "never (the pattern has no future slot)".to_owned(),
        };
        out.push_str(&format!("  next      {next}\n"));
        let last = match &self.last_run {
            None => "none yet".to_owned(),
            Some(run) => {
                let detail = run
                    .result
                    .detail()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                format!(
                    "{}  run {}  {} ({}{}){detail}",
                    Instant::short(timing, run.slot.utc),
                    run.run_id,
                    run.result.as_str(),
                    run.trigger.as_str(),
                    if run.adopted { ", adopted" } else { "" },
                )
            }
        };
        out.push_str(&format!("  last run  {last}\n"));
        if let Some(buffered) = &self.buffered {
            out.push_str(&format!(
                "  buffered  {} (fires when the running run ends)\n",
                Instant::short(timing, buffered.utc)
            ));
        }
        if self.missed_total == 0 {
            out.push_str("  missed    none\n");
        } else {
            out.push_str(&format!(
                "  missed    {} slot{} in total{}\n",
                self.missed_total,
                if self.missed_total == 1 { "" } else { "s" },
                if self.missed.is_empty() {
                    String::new()
                } else {
                    "; most recent:".to_owned()
                }
            ));
            for miss in self.missed.iter().rev().take(5) {
                let slots = if miss.count == 1 {
                    Instant::short(timing, miss.first.utc)
                } else {
                    format!(
                        "{} .. {} ({}{} slots)",
                        Instant::short(timing, miss.first.utc),
                        Instant::short(timing, miss.last.utc),
                        if miss.exact { "" } else { "at least " },
                        miss.count
                    )
                };
                out.push_str(&format!("            {slots}: {}\n", miss.reason.as_str()));
            }
        }
        out
    }
}

/// A non-negative duration in drbook's friendly form (`0s`, `6h`, `1h30m`).
fn friendly(duration: jiff::SignedDuration) -> String {
    std::time::Duration::try_from(duration)
        .map(|d| crate::runbook::Duration::from(d).to_string())
        .unwrap_or_else(|_| duration.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::decide::Miss;
    use crate::scheduler::spec;
    use crate::scheduler::state::FireRecord;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn schedule() -> Schedule {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "schedules:\n  - name: weekly\n    runbook: {}\n    cron: '0 3 * * SUN'\n    timezone: Europe/Paris\n    catchup: 6h\n",
            root.join("runbooks/dr-drill.yaml").display()
        );
        spec::parse(&root.join("s.yaml"), &text, at("2026-11-01T00:00:00Z"))
            .unwrap()
            .schedules
            .remove(0)
    }

    #[test]
    fn a_schedule_never_followed_shows_its_next_slot_only() {
        let schedule = schedule();
        let view = ScheduleView::of(&schedule, None, at("2026-11-20T00:00:00Z"));
        assert_eq!(
            view.next.as_ref().map(|n| n.utc),
            Some(at("2026-11-22T02:00:00Z"))
        );
        assert_eq!(
            view.next.as_ref().map(|n| n.local.as_str()),
            Some("2026-11-22T03:00:00+01:00[Europe/Paris]")
        );
        assert_eq!(view.catchup, "6h");
        assert_eq!(view.last_run, None);
        let text = view.render(&schedule);
        assert!(
            text.contains("next      2026-11-22 03:00:00 CET (2026-11-22T02:00:00Z)"),
            "{text}"
        );
        assert!(text.contains("last run  none yet"), "{text}");
        assert!(text.contains("missed    none"), "{text}");
    }

    #[test]
    fn last_run_result_and_misses_are_shown() {
        let schedule = schedule();
        let mut state = ScheduleState::new(at("2026-11-01T00:00:00Z"));
        state.record_miss(
            &Miss::single(MissReason::Downtime, at("2026-11-08T02:00:00Z")),
            at("2026-11-15T02:30:00Z"),
        );
        let run_id = RunId::new();
        state.record_fire(FireRecord {
            slot: at("2026-11-15T02:00:00Z"),
            run_id,
            run_key: schedule.run_key(at("2026-11-15T02:00:00Z")),
            trigger: Trigger::CatchUp,
            fired_at: at("2026-11-15T02:30:00Z"),
            adopted: false,
            outcome: Outcome::Succeeded,
            ended_at: Some(at("2026-11-15T02:45:00Z")),
        });
        let view = ScheduleView::of(&schedule, Some(&state), at("2026-11-20T00:00:00Z"));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["last_run"]["result"]["status"], "succeeded");
        assert_eq!(json["last_run"]["run_id"], run_id.to_string());
        assert_eq!(json["last_run"]["trigger"], "catch-up");
        assert_eq!(json["missed_total"], 1);
        assert_eq!(json["missed"][0]["reason"], "downtime");
        assert_eq!(json["missed"][0]["first"]["utc"], "2026-11-08T02:00:00Z");
        let text = view.render(&schedule);
        assert!(
            text.contains(&format!(
                "last run  2026-11-15 03:00:00 CET  run {run_id}  succeeded (catch-up)"
            )),
            "{text}"
        );
        assert!(text.contains("2026-11-08 03:00:00 CET: downtime"), "{text}");
    }
}
