//! The pure core of the scheduler: given a schedule, what the scheduler remembers about it and
//! the current time, [`due`] says what to do with every slot that has come due: fire it, buffer
//! it, or record it as missed (and why). No I/O, no clock reads: the executor
//! ([`runner`](super::runner)) reads the clock, calls [`due`], makes each decision durable and
//! only then acts on it.
//!
//! The rules, in the order they apply:
//!
//! 1. A buffered slot fires as soon as the previous run of its schedule has ended, however late
//!    that is: buffering was a promise made while the scheduler was watching.
//! 2. A slot older than the catch-up window (`now - slot > max(catchup, ON_TIME_GRACE)`) is
//!    missed for downtime: the scheduler was not running (or the machine slept) when it fell.
//! 3. Of the slots inside the window, only the newest is acted on; older ones are missed as
//!    coalesced into it, so a scheduler back from downtime catches up *once*, not once per slot.
//! 4. The newest slot fires (on time if it is at most [`ON_TIME_GRACE`] late, as a catch-up
//!    otherwise) unless the previous run of the schedule is still running. Then `overlap: skip`
//!    misses it, and `overlap: buffer-one` buffers it, or misses it if a slot is already buffered.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::state::ScheduleState;
use super::timing::Timing;

/// How late a slot may be and still count as on time, whatever `catchup` says: a scheduler that
/// wakes a little late (a loaded machine, a slow disk) has not been down.
pub const ON_TIME_GRACE: SignedDuration = SignedDuration::from_secs(60);

/// Most slots one [`Miss`] lists individually; the rest are counted.
pub const MAX_LISTED: usize = 100;

/// Most slots counted in one pass; past this, a [`Miss`] gives a lower bound (a per-second
/// schedule after a month of downtime would otherwise be enumerated for minutes).
pub const MAX_COUNTED: u64 = 100_000;

/// What to do when a slot falls while the previous run of the same schedule is still running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Do not start a second run: the slot is recorded as missed (reason `overlap`).
    #[default]
    Skip,
    /// Keep the slot (at most one) and fire it as soon as the previous run ends; further slots
    /// that fall meanwhile are recorded as missed (reason `overlap`).
    BufferOne,
}

impl Overlap {
    /// The name used in schedule files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer-one",
        }
    }
}

/// The parts of a schedule that decide what happens to its slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// What to do with a slot that falls while the previous run is still running.
    pub overlap: Overlap,
    /// How late a slot missed during downtime may still be fired (once) after a restart.
    pub catchup: SignedDuration,
}

impl Policy {
    /// The catch-up window: slots later than this are missed.
    pub fn window(&self) -> SignedDuration {
        self.catchup.max(ON_TIME_GRACE)
    }
}

/// Why a slot fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// At its time (at most [`ON_TIME_GRACE`] late).
    OnTime,
    /// Late, inside the catch-up window, after the scheduler was down.
    CatchUp,
    /// Buffered while the previous run was running, fired when it ended.
    Buffered,
}

impl Trigger {
    /// The name used in output and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::OnTime => "on-time",
            Trigger::CatchUp => "catch-up",
            Trigger::Buffered => "buffered",
        }
    }
}

/// Why slots did not fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissReason {
    /// Older than the catch-up window: the scheduler was down when they fell.
    Downtime,
    /// Inside the catch-up window but superseded by a newer slot, which fires instead.
    Coalesced,
    /// The previous run was still running (`overlap: skip`, or the buffer was full).
    Overlap,
    /// The slot fired, but its run could not be started (recorded by the executor, never
    /// decided by [`due`]).
    LaunchFailed,
}

impl MissReason {
    /// The name used in output and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            MissReason::Downtime => "downtime",
            MissReason::Coalesced => "coalesced",
            MissReason::Overlap => "overlap",
            MissReason::LaunchFailed => "launch-failed",
        }
    }
}

/// A run of consecutive slots that did not fire, for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Miss {
    /// Why.
    pub reason: MissReason,
    /// The first [`MAX_LISTED`] slots, oldest first (never empty).
    pub slots: Vec<Timestamp>,
    /// The newest slot covered.
    pub last: Timestamp,
    /// How many slots are covered (a lower bound when `exact` is false).
    pub count: u64,
    /// Whether `count` is exact.
    pub exact: bool,
}

impl Miss {
    /// A miss of one slot.
    pub fn single(reason: MissReason, slot: Timestamp) -> Self {
        Self {
            reason,
            slots: vec![slot],
            last: slot,
            count: 1,
            exact: true,
        }
    }

    /// The oldest slot covered.
    pub fn first(&self) -> Timestamp {
        // `slots` is never empty by construction; `last` is a correct fallback anyway.
        self.slots.first().copied().unwrap_or(self.last)
    }
}

/// One thing the scheduler must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start a run for this slot.
    Fire {
        /// The slot.
        slot: Timestamp,
        /// Why now.
        trigger: Trigger,
    },
    /// Keep this slot until the running run ends (`overlap: buffer-one`).
    Buffer {
        /// The slot.
        slot: Timestamp,
    },
    /// Record these slots as missed.
    Miss(Miss),
}

impl Decision {
    /// The newest slot this decision settles.
    pub fn slot(&self) -> Timestamp {
        match self {
            Decision::Fire { slot, .. } | Decision::Buffer { slot } => *slot,
            Decision::Miss(miss) => miss.last,
        }
    }
}

/// Every decision for the slots of one schedule that are due at `now`, oldest first; empty when
/// nothing is due. Applying them in order and calling `due` again yields nothing new.
pub fn due(
    timing: &Timing,
    policy: &Policy,
    state: &ScheduleState,
    now: Timestamp,
) -> Vec<Decision> {
    let mut decisions = Vec::new();
    let mut running = state.is_running();
    let mut buffered = state.buffered;
    if !running && let Some(slot) = buffered.take() {
        decisions.push(Decision::Fire {
            slot,
            trigger: Trigger::Buffered,
        });
        running = true;
    }

    let mut after = state.start();
    // Slots strictly before the horizon are older than the window.
    let horizon = now.checked_sub(policy.window()).unwrap_or(Timestamp::MIN);
    if let Some(miss) = collect(timing, after, horizon, MissReason::Downtime) {
        after = miss.last;
        decisions.push(Decision::Miss(miss));
    }
    let Some(newest) = timing
        .last_at_or_before(now)
        .filter(|slot| *slot > after && *slot >= horizon)
    else {
        return decisions;
    };
    if let Some(miss) = collect(timing, after, newest, MissReason::Coalesced) {
        decisions.push(Decision::Miss(miss));
    }
    let decision = match (running, policy.overlap, buffered) {
        (false, _, _) => Decision::Fire {
            slot: newest,
            trigger: if now.duration_since(newest) <= ON_TIME_GRACE {
                Trigger::OnTime
            } else {
                Trigger::CatchUp
            },
        },
        (true, Overlap::BufferOne, None) => Decision::Buffer { slot: newest },
        (true, Overlap::Skip, _) | (true, Overlap::BufferOne, Some(_)) => {
            Decision::Miss(Miss::single(MissReason::Overlap, newest))
        }
    };
    decisions.push(decision);
    decisions
}

/// When [`due`] will next have something to do if nothing changes: the next slot after what
/// is settled and after `now`. A buffered slot waits for the running run, whose end the
/// executor notices on its own; `None` when the pattern never matches again.
pub fn next_slot(timing: &Timing, state: &ScheduleState, now: Timestamp) -> Option<Timestamp> {
    timing.next_after(state.start().max(now))
}

/// The slots strictly between `after` and `before`, as one [`Miss`]; `None` if there are none.
fn collect(
    timing: &Timing,
    after: Timestamp,
    before: Timestamp,
    reason: MissReason,
) -> Option<Miss> {
    let mut slots = Vec::new();
    let mut count = 0u64;
    let mut last = None;
    for slot in timing.slots_after(after) {
        if slot >= before {
            break;
        }
        if count == MAX_COUNTED {
            // Too many to count: report a lower bound and find the newest one directly.
            let newest = before
                .checked_sub(SignedDuration::from_nanos(1))
                .ok()
                .and_then(|just_before| timing.last_at_or_before(just_before))
                .unwrap_or(slot);
            return Some(Miss {
                reason,
                slots,
                last: newest,
                count,
                exact: false,
            });
        }
        if slots.len() < MAX_LISTED {
            slots.push(slot);
        }
        count += 1;
        last = Some(slot);
    }
    last.map(|last| Miss {
        reason,
        slots,
        last,
        count,
        exact: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::state::{FireRecord, Outcome};
    use crate::store::RunId;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn hourly() -> Timing {
        Timing::parse("0 * * * *", "UTC").unwrap()
    }

    fn policy(overlap: Overlap, catchup_secs: i64) -> Policy {
        Policy {
            overlap,
            catchup: SignedDuration::from_secs(catchup_secs),
        }
    }

    fn fresh(since: &str) -> ScheduleState {
        ScheduleState::new(at(since))
    }

    /// `state` after a fire of `slot` whose run is still running (or has ended).
    fn with_fire(mut state: ScheduleState, slot: &str, running: bool) -> ScheduleState {
        state.cursor = Some(at(slot));
        state.last_fire = Some(FireRecord {
            slot: at(slot),
            run_id: RunId::new(),
            run_key: format!("schedule:t:{slot}"),
            trigger: Trigger::OnTime,
            fired_at: at(slot),
            adopted: false,
            outcome: if running {
                Outcome::Running
            } else {
                Outcome::Succeeded
            },
            ended_at: None,
        });
        state
    }

    /// Applies decisions the way the executor does, with every fired run still running.
    fn apply(state: &mut ScheduleState, decisions: &[Decision]) {
        for decision in decisions {
            match decision {
                Decision::Fire { slot, .. } => {
                    let slot = slot.to_string();
                    let cursor = state.cursor;
                    *state = with_fire(state.clone(), &slot, true);
                    state.cursor = cursor.max(Some(at(&slot)));
                    if state.buffered == Some(at(&slot)) {
                        state.buffered = None;
                    }
                }
                Decision::Buffer { slot } => {
                    state.buffered = Some(*slot);
                    state.cursor = Some(*slot);
                }
                Decision::Miss(miss) => state.cursor = state.cursor.max(Some(miss.last)),
            }
        }
    }

    #[test]
    fn nothing_is_due_before_the_first_slot_and_slots_before_since_are_not_ours() {
        let state = fresh("2026-11-20T09:30:00Z");
        let p = policy(Overlap::Skip, 0);
        assert!(due(&hourly(), &p, &state, at("2026-11-20T09:59:59Z")).is_empty());
        assert_eq!(
            next_slot(&hourly(), &state, at("2026-11-20T09:59:59Z")),
            Some(at("2026-11-20T10:00:00Z"))
        );
    }

    #[test]
    fn a_slot_fires_on_time_once() {
        let mut state = fresh("2026-11-20T09:30:00Z");
        let p = policy(Overlap::Skip, 0);
        let now = at("2026-11-20T10:00:00.2Z");
        let decisions = due(&hourly(), &p, &state, now);
        assert_eq!(
            decisions,
            [Decision::Fire {
                slot: at("2026-11-20T10:00:00Z"),
                trigger: Trigger::OnTime
            }]
        );
        apply(&mut state, &decisions);
        assert!(due(&hourly(), &p, &state, now).is_empty());
        assert!(due(&hourly(), &p, &state, at("2026-11-20T10:59:59Z")).is_empty());
        assert_eq!(
            next_slot(&hourly(), &state, now),
            Some(at("2026-11-20T11:00:00Z"))
        );
    }

    #[test]
    fn a_slot_less_than_the_grace_late_is_on_time_even_without_catchup() {
        let state = fresh("2026-11-20T09:30:00Z");
        let decisions = due(
            &hourly(),
            &policy(Overlap::Skip, 0),
            &state,
            at("2026-11-20T10:01:00Z"),
        );
        assert_eq!(
            decisions,
            [Decision::Fire {
                slot: at("2026-11-20T10:00:00Z"),
                trigger: Trigger::OnTime
            }]
        );
        let late = due(
            &hourly(),
            &policy(Overlap::Skip, 0),
            &state,
            at("2026-11-20T10:01:01Z"),
        );
        assert_eq!(
            late,
            [Decision::Miss(Miss::single(
                MissReason::Downtime,
                at("2026-11-20T10:00:00Z")
            ))]
        );
    }

    #[test]
    fn after_downtime_old_slots_are_missed_and_the_newest_in_window_fires_once() {
        // Last handled 10:00; back at 13:30 with a 2h window: 11:00 is 2h30 late (missed),
        // 12:00 is 1h30 late (coalesced into 13:00), 13:00 fires as the catch-up.
        let mut state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", false);
        let p = policy(Overlap::Skip, 2 * 3600);
        let now = at("2026-11-20T13:30:00Z");
        let decisions = due(&hourly(), &p, &state, now);
        assert_eq!(
            decisions,
            [
                Decision::Miss(Miss::single(
                    MissReason::Downtime,
                    at("2026-11-20T11:00:00Z")
                )),
                Decision::Miss(Miss::single(
                    MissReason::Coalesced,
                    at("2026-11-20T12:00:00Z")
                )),
                Decision::Fire {
                    slot: at("2026-11-20T13:00:00Z"),
                    trigger: Trigger::CatchUp
                },
            ]
        );
        apply(&mut state, &decisions);
        assert!(due(&hourly(), &p, &state, now).is_empty(), "caught up once");
    }

    #[test]
    fn the_window_edge_belongs_to_the_window() {
        let state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", false);
        let p = policy(Overlap::Skip, 3600);
        let decisions = due(&hourly(), &p, &state, at("2026-11-20T12:00:00Z"));
        // 11:00 is exactly 1h late: inside the window, coalesced into 12:00.
        assert_eq!(
            decisions[0],
            Decision::Miss(Miss::single(
                MissReason::Coalesced,
                at("2026-11-20T11:00:00Z")
            ))
        );
    }

    #[test]
    fn overlap_skip_misses_a_slot_while_the_previous_run_runs() {
        let state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", true);
        let decisions = due(
            &hourly(),
            &policy(Overlap::Skip, 0),
            &state,
            at("2026-11-20T11:00:00Z"),
        );
        assert_eq!(
            decisions,
            [Decision::Miss(Miss::single(
                MissReason::Overlap,
                at("2026-11-20T11:00:00Z")
            ))]
        );
    }

    #[test]
    fn buffer_one_keeps_one_slot_and_fires_it_when_the_run_ends() {
        let mut state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", true);
        let p = policy(Overlap::BufferOne, 0);
        let d11 = due(&hourly(), &p, &state, at("2026-11-20T11:00:00Z"));
        assert_eq!(
            d11,
            [Decision::Buffer {
                slot: at("2026-11-20T11:00:00Z")
            }]
        );
        apply(&mut state, &d11);
        // A second slot while one is buffered is missed.
        let d12 = due(&hourly(), &p, &state, at("2026-11-20T12:00:00Z"));
        assert_eq!(
            d12,
            [Decision::Miss(Miss::single(
                MissReason::Overlap,
                at("2026-11-20T12:00:00Z")
            ))]
        );
        apply(&mut state, &d12);
        // The run ends at 12:20: the buffered 11:00 fires at once, late as it is.
        if let Some(fire) = state.last_fire.as_mut() {
            fire.outcome = Outcome::Failed;
        }
        let d1220 = due(&hourly(), &p, &state, at("2026-11-20T12:20:00Z"));
        assert_eq!(
            d1220,
            [Decision::Fire {
                slot: at("2026-11-20T11:00:00Z"),
                trigger: Trigger::Buffered
            }]
        );
        apply(&mut state, &d1220);
        assert_eq!(state.buffered, None);
        assert_eq!(state.cursor, Some(at("2026-11-20T12:00:00Z")));
        assert!(due(&hourly(), &p, &state, at("2026-11-20T12:20:00Z")).is_empty());
    }

    #[test]
    fn a_buffered_fire_and_a_new_slot_at_once_buffer_the_new_slot() {
        let mut state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", false);
        state.buffered = Some(at("2026-11-20T10:00:00Z"));
        state.cursor = Some(at("2026-11-20T10:00:00Z"));
        let decisions = due(
            &hourly(),
            &policy(Overlap::BufferOne, 0),
            &state,
            at("2026-11-20T11:00:00Z"),
        );
        assert_eq!(
            decisions,
            [
                Decision::Fire {
                    slot: at("2026-11-20T10:00:00Z"),
                    trigger: Trigger::Buffered
                },
                Decision::Buffer {
                    slot: at("2026-11-20T11:00:00Z")
                },
            ]
        );
    }

    #[test]
    fn a_catch_up_while_an_adopted_run_still_runs_obeys_overlap() {
        let state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", true);
        let decisions = due(
            &hourly(),
            &policy(Overlap::Skip, 4 * 3600),
            &state,
            at("2026-11-20T12:30:00Z"),
        );
        assert_eq!(
            decisions,
            [
                Decision::Miss(Miss::single(
                    MissReason::Coalesced,
                    at("2026-11-20T11:00:00Z")
                )),
                Decision::Miss(Miss::single(
                    MissReason::Overlap,
                    at("2026-11-20T12:00:00Z")
                )),
            ]
        );
    }

    #[test]
    fn long_downtime_lists_a_hundred_slots_and_counts_the_rest() {
        let state = with_fire(fresh("2026-11-01T00:00:00Z"), "2026-11-01T00:00:00Z", false);
        let now = at("2026-11-11T00:30:00Z");
        let decisions = due(&hourly(), &policy(Overlap::Skip, 0), &state, now);
        let [Decision::Miss(miss)] = decisions.as_slice() else {
            panic!("{decisions:?}")
        };
        assert_eq!(miss.reason, MissReason::Downtime);
        // 01:00 on the 1st up to 00:00 on the 11th: 10 days × 24 hours.
        assert_eq!(miss.count, 240);
        assert!(miss.exact);
        assert_eq!(miss.slots.len(), MAX_LISTED);
        assert_eq!(miss.first(), at("2026-11-01T01:00:00Z"));
        assert_eq!(miss.last, at("2026-11-11T00:00:00Z"));
    }

    #[test]
    fn an_enormous_downtime_is_counted_up_to_a_bound() {
        let every_second = Timing::parse("* * * * * *", "UTC").unwrap();
        let state = fresh("2026-11-01T00:00:00Z");
        let now = at("2026-11-03T00:00:00Z");
        let decisions = due(&every_second, &policy(Overlap::Skip, 0), &state, now);
        let Decision::Miss(miss) = &decisions[0] else {
            panic!("{decisions:?}")
        };
        assert_eq!(miss.count, MAX_COUNTED);
        assert!(!miss.exact);
        // The newest missed slot is the one just before the 60 s grace window.
        assert_eq!(miss.last, at("2026-11-02T23:58:59Z"));
        // Then 59 coalesced slots and the on-time fire at `now`.
        let Decision::Miss(coalesced) = &decisions[1] else {
            panic!("{decisions:?}")
        };
        assert_eq!(coalesced.reason, MissReason::Coalesced);
        assert_eq!(coalesced.count, 60);
        assert_eq!(
            decisions[2],
            Decision::Fire {
                slot: now,
                trigger: Trigger::OnTime
            }
        );
    }

    #[test]
    fn catchup_counts_real_time_across_a_dst_change() {
        // Daily 02:30 Paris. The scheduler handled 2026-10-24's slot, then was down until
        // 2026-10-25 02:45 CET (01:45 UTC). The 25th's slot (the earlier 02:30, CEST, 00:30 UTC)
        // is 1h15 late in real time although the wall clock reads only 15 minutes later.
        let timing = Timing::parse("30 2 * * *", "Europe/Paris").unwrap();
        let state = with_fire(fresh("2026-10-20T00:00:00Z"), "2026-10-24T00:30:00Z", false);
        let now = at("2026-10-25T01:45:00Z");
        let within = due(&timing, &policy(Overlap::Skip, 2 * 3600), &state, now);
        assert_eq!(
            within,
            [Decision::Fire {
                slot: at("2026-10-25T00:30:00Z"),
                trigger: Trigger::CatchUp
            }]
        );
        let outside = due(&timing, &policy(Overlap::Skip, 3600), &state, now);
        assert_eq!(
            outside,
            [Decision::Miss(Miss::single(
                MissReason::Downtime,
                at("2026-10-25T00:30:00Z")
            ))]
        );
    }

    #[test]
    fn a_clock_that_went_back_decides_nothing() {
        let state = with_fire(fresh("2026-11-20T09:30:00Z"), "2026-11-20T10:00:00Z", false);
        let decisions = due(
            &hourly(),
            &policy(Overlap::Skip, 3600),
            &state,
            at("2026-11-20T08:00:00Z"),
        );
        assert!(decisions.is_empty());
        assert_eq!(
            next_slot(&hourly(), &state, at("2026-11-20T08:00:00Z")),
            Some(at("2026-11-20T11:00:00Z"))
        );
    }
}
