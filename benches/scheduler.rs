//! Scheduler figures: how long the pure core takes on its worst input (a per-second schedule
//! after days of downtime), how fast slots are computed, and what one durable fire decision
//! costs (run-key claim + audit append + state file, each fsynced) through the real executor
//! with a launcher that starts nothing.
//!
//! `cargo bench --bench scheduler` (set `DRBOOK_BENCH_FIRES` to change the number of fires).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::time::{Duration, Instant};

use drbook::scheduler::clock::ManualClock;
use drbook::scheduler::decide::{self, Overlap, Policy};
use drbook::scheduler::launcher::{LaunchRequest, Launcher, Progress};
use drbook::scheduler::runner::{Options, Scheduler};
use drbook::scheduler::spec;
use drbook::scheduler::state::{Outcome, ScheduleState};
use drbook::scheduler::timing::Timing;
use drbook::store::{DataDir, RunId};
use jiff::{SignedDuration, Timestamp};

/// Starts nothing; every run has ended by the time anyone asks.
struct NoLauncher;

impl Launcher for NoLauncher {
    fn start(&mut self, _: &LaunchRequest<'_>) -> drbook::scheduler::Result<()> {
        Ok(())
    }

    fn status(&mut self, _: RunId) -> Progress {
        Progress::Ended(Outcome::Succeeded)
    }

    async fn changed(&mut self) {
        std::future::pending::<()>().await;
    }
}

fn per_second(label: &str, count: u64, elapsed: Duration) {
    println!(
        "{label:<58} {:>12.0}/s  ({:.2} µs each)",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

fn main() {
    let start: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();

    // Slot arithmetic.
    for (label, pattern, zone) in [
        (
            "next_after, weekly 0 3 * * SUN in Europe/Paris",
            "0 3 * * SUN",
            "Europe/Paris",
        ),
        ("next_after, every second in UTC", "* * * * * *", "UTC"),
    ] {
        let timing = Timing::parse(pattern, zone).unwrap();
        let count = 20_000u64;
        let began = Instant::now();
        let mut cursor = start;
        for _ in 0..count {
            cursor = timing.next_after(cursor).unwrap();
        }
        per_second(label, count, began.elapsed());
    }

    // The core's worst case: two days of per-second slots missed, counted up to MAX_COUNTED.
    let timing = Timing::parse("* * * * * *", "UTC").unwrap();
    let state = ScheduleState::new(start);
    let policy = Policy {
        overlap: Overlap::Skip,
        catchup: SignedDuration::ZERO,
    };
    let now = start.checked_add(SignedDuration::from_hours(48)).unwrap();
    let began = Instant::now();
    let decisions = decide::due(&timing, &policy, &state, now);
    let elapsed = began.elapsed();
    println!(
        "{:<58} {:>12.1} ms  ({} decisions)",
        format!(
            "due() after 48 h of a per-second schedule ({} slots counted)",
            decide::MAX_COUNTED
        ),
        elapsed.as_secs_f64() * 1e3,
        decisions.len()
    );

    // Durable fire decisions through the executor: one hourly schedule, the clock stepped from
    // slot to slot, each tick firing one slot.
    let fires: u64 = std::env::var("DRBOOK_BENCH_FIRES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let temp = tempfile::tempdir().unwrap();
    let runbook = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/dr-drill.yaml");
    let text = format!(
        "schedules:\n  - name: bench\n    runbook: {}\n    cron: '0 * * * *'\n",
        runbook.display()
    );
    let file = spec::parse(&temp.path().join("s.yaml"), &text, start).unwrap();
    let clock = ManualClock::new(start);
    let data = DataDir::new(temp.path().join("data"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut scheduler =
        Scheduler::open(&file, &data, NoLauncher, clock.clone(), Options::default()).unwrap();
    let began = Instant::now();
    runtime.block_on(async {
        for hour in 1..=fires {
            let slot = start
                .checked_add(SignedDuration::from_hours(hour as i64))
                .unwrap();
            clock.set(slot);
            scheduler.tick().await.unwrap();
        }
    });
    let elapsed = began.elapsed();
    let state = &scheduler.state().schedules["bench"];
    assert_eq!(state.totals.fired, fires);
    per_second(
        "durable fires (claim + audit + state; + noting the last end)",
        fires,
        elapsed,
    );
}
