//! The real `drbook scheduler` process with a stub `drbook run`: a slot fires on time; slots
//! falling during a run are skipped (`overlap: skip`) or buffered (`overlap: buffer-one`); after
//! a restart a missed slot inside the catch-up window is caught up once and an older one is
//! reported as missed; and a scheduler SIGKILLed in the middle of a fire never fires the slot
//! twice. The scheduler's clock is started at chosen instants (hidden `--clock-start`), so a
//! weekly slot or three hours of downtime take seconds.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod scheduler_support;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use drbook::store::DataDir;
use drbook::store::run_keys::RunKeys;
use scheduler_support::{Stub, World, drill_runbook};

fn ts(value: &Value) -> Timestamp {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
        .parse()
        .unwrap()
}

/// The run id the run key `key` names in the data directory.
fn claimed(world: &World, key: &str) -> Option<String> {
    RunKeys::open(&DataDir::new(world.data_dir()))
        .unwrap()
        .get(key)
        .unwrap()
        .map(|id| id.to_string())
}

#[test]
fn a_slot_fires_on_time_and_drbook_schedules_shows_the_run() {
    let world = World::new();
    world.schedule("weekly", "0 3 * * SUN", "    timezone: Europe/Paris\n");
    // Sunday 2026-11-22 03:00 in Paris is 02:00 UTC; the clock starts 1.5 s before.
    let scheduler = world.start("run", Some("2026-11-22T01:59:58.5Z"), Stub::default(), &[]);
    world.wait_for("the weekly slot to fire", || world.stub_runs().len() == 1);
    world.wait_for("the run's result", || {
        world.last_run()["result"]["status"] == "succeeded"
    });
    let listing = world.schedules_json(None);
    assert!(
        listing["scheduler"]
            .as_str()
            .unwrap_or_default()
            .starts_with("pid "),
        "a running scheduler is reported: {listing}"
    );
    assert_eq!(scheduler.terminate(), 0, "SIGTERM is a clean stop");

    let key = "schedule:weekly:2026-11-22T02:00:00Z";
    let runs = world.stub_runs();
    assert_eq!(runs.len(), 1);
    let data_dir = world.data_dir().display().to_string();
    let runbook = drill_runbook().display().to_string();
    assert_eq!(
        runs[0].args,
        [
            "run",
            &runbook,
            "--mode",
            "drill",
            "--param",
            "server_group_id=pg-web-0001",
            "--run-key",
            key,
            "--data-dir",
            &data_dir,
            "--actor",
            "scheduler"
        ]
    );

    let fired = world.audit_of("schedule.fired");
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["actor"], "scheduler");
    assert_eq!(fired[0]["data"]["schedule"], "weekly");
    assert_eq!(fired[0]["data"]["slot"], "2026-11-22T02:00:00Z");
    assert_eq!(fired[0]["data"]["trigger"], "on-time");
    assert_eq!(fired[0]["data"]["run_key"], key);
    let run_id = fired[0]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(claimed(&world, key).as_deref(), Some(run_id.as_str()));
    assert!(
        world
            .data_dir()
            .join(format!("scheduler/logs/{run_id}.log"))
            .is_file(),
        "the run's output is kept"
    );

    let listing = world.schedules_json(Some("2026-11-22T02:10:00Z"));
    assert_eq!(listing["scheduler"], Value::Null);
    let weekly = &listing["schedules"][0];
    assert_eq!(weekly["name"], "weekly");
    assert_eq!(weekly["next"]["utc"], "2026-11-29T02:00:00Z");
    assert_eq!(weekly["last_run"]["run_id"], run_id.as_str());
    assert_eq!(
        weekly["last_run"]["slot"]["local"],
        "2026-11-22T03:00:00+01:00[Europe/Paris]"
    );
    assert_eq!(weekly["fired_total"], 1);
    assert_eq!(weekly["missed_total"], 0);

    let text = world.schedules_command(Some("2026-11-22T02:10:00Z"), &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "last run  2026-11-22 03:00:00 CET  run {run_id}  succeeded (on-time)"
        )),
        "{text}"
    );
    assert!(text.contains("next      2026-11-29 03:00:00 CET"), "{text}");
}

/// Every slot between the first and the last one the audit log mentions, fired or missed,
/// appears exactly once.
fn assert_every_slot_settled_once(world: &World) {
    let mut slots = Vec::new();
    for entry in world.audit() {
        match entry["kind"].as_str() {
            Some("schedule.fired") => slots.push(ts(&entry["data"]["slot"])),
            Some("schedule.missed") => {
                let listed = entry["data"]["slots"].as_array().unwrap();
                assert_eq!(
                    listed.len() as u64,
                    entry["data"]["count"].as_u64().unwrap()
                );
                slots.extend(listed.iter().map(ts));
            }
            _ => {}
        }
    }
    slots.sort();
    for pair in slots.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]),
            SignedDuration::from_secs(1),
            "a slot is missing or settled twice around {}: {slots:?}",
            pair[0]
        );
    }
}

#[test]
fn overlap_skip_records_slots_falling_during_a_run_as_missed() {
    let world = World::new();
    world.schedule("every-second", "* * * * * *", "    overlap: skip\n");
    let stub = Stub {
        seconds: 2.5,
        exit: 0,
    };
    let scheduler = world.start("run", None, stub, &[]);
    world.wait_for("a second run", || world.stub_runs().len() >= 2);
    assert_eq!(scheduler.terminate(), 0);

    let runs = world.stub_runs();
    for pair in runs.windows(2) {
        let ended = pair[0].end.expect("a run ended before the next started");
        assert!(
            ended <= pair[1].start,
            "two runs of the schedule overlapped: {pair:?}"
        );
    }
    let overlaps: Vec<Value> = world
        .audit_of("schedule.missed")
        .into_iter()
        .filter(|entry| entry["data"]["reason"] == "overlap")
        .collect();
    assert!(!overlaps.is_empty(), "{:#?}", world.audit());
    // The first run lasted 2.5 s: the slots of its second and third seconds were skipped.
    let first_fire = ts(&world.audit_of("schedule.fired")[0]["data"]["slot"]);
    let first_skip = ts(&overlaps[0]["data"]["first"]);
    assert_eq!(
        first_skip.duration_since(first_fire),
        SignedDuration::from_secs(1)
    );
    assert_every_slot_settled_once(&world);
    assert_eq!(
        world.audit_of("schedule.fired").len(),
        runs.len(),
        "every fire started one run"
    );
}

#[test]
fn overlap_buffer_one_fires_the_buffered_slot_when_the_run_ends() {
    let world = World::new();
    world.schedule("every-second", "* * * * * *", "    overlap: buffer-one\n");
    let stub = Stub {
        seconds: 2.5,
        exit: 0,
    };
    let scheduler = world.start("run", None, stub, &[]);
    world.wait_for("a second run", || world.stub_runs().len() >= 2);
    assert_eq!(scheduler.terminate(), 0);

    let runs = world.stub_runs();
    let ended = runs[0].end.expect("the first run ended");
    assert!(ended <= runs[1].start, "{runs:?}");
    let fired = world.audit_of("schedule.fired");
    assert_eq!(fired[0]["data"]["trigger"], "on-time");
    assert_eq!(fired[1]["data"]["trigger"], "buffered");
    // The buffered slot is the one right after the first fire; the run for it started late.
    let (first, second) = (ts(&fired[0]["data"]["slot"]), ts(&fired[1]["data"]["slot"]));
    assert_eq!(second.duration_since(first), SignedDuration::from_secs(1));
    assert_eq!(runs[1].run_key, format!("schedule:every-second:{second}"));
    // The slot after the buffered one found the buffer full.
    let overlaps = world.audit_of("schedule.missed");
    assert_eq!(overlaps[0]["data"]["reason"], "overlap");
    assert_eq!(
        ts(&overlaps[0]["data"]["first"]).duration_since(first),
        SignedDuration::from_secs(2)
    );
}

#[test]
fn after_downtime_a_slot_in_the_window_is_caught_up_once_and_an_older_one_is_missed() {
    let world = World::new();
    world.schedule("hourly", "0 * * * *", "    catchup: 1h\n");

    // 09:59:59: the 10:00 slot fires on time.
    let scheduler = world.start("first", Some("2026-11-20T09:59:59Z"), Stub::default(), &[]);
    world.wait_for("the 10:00 run to succeed", || {
        world.last_run()["result"]["status"] == "succeeded"
    });
    assert_eq!(scheduler.terminate(), 0);

    // Down until 12:20: 11:00 is 1h20 late (outside the 1h window), 12:00 is 20 min late.
    let scheduler = world.start("second", Some("2026-11-20T12:20:00Z"), Stub::default(), &[]);
    world.wait_for("the 12:00 catch-up to succeed", || {
        let last = world.last_run();
        last["slot"]["utc"] == "2026-11-20T12:00:00Z" && last["result"]["status"] == "succeeded"
    });
    assert_eq!(scheduler.terminate(), 0);

    // Up again at the same moment: nothing is caught up twice.
    let scheduler = world.start("third", Some("2026-11-20T12:20:00Z"), Stub::default(), &[]);
    world.wait_for("the third scheduler's first pass", || {
        scheduler.logged("\"sleeping\"")
    });
    assert_eq!(scheduler.terminate(), 0);

    let keys: Vec<String> = world.stub_runs().into_iter().map(|r| r.run_key).collect();
    assert_eq!(
        keys,
        [
            "schedule:hourly:2026-11-20T10:00:00Z",
            "schedule:hourly:2026-11-20T12:00:00Z"
        ]
    );
    let summary: Vec<(String, String, String)> = world
        .audit()
        .iter()
        .map(|entry| {
            let data = &entry["data"];
            let (slot, why) = if entry["kind"] == "schedule.fired" {
                (&data["slot"], &data["trigger"])
            } else {
                (&data["first"], &data["reason"])
            };
            (
                entry["kind"].as_str().unwrap().to_owned(),
                slot.as_str().unwrap().to_owned(),
                why.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("schedule.fired", "2026-11-20T10:00:00Z", "on-time"),
        ("schedule.missed", "2026-11-20T11:00:00Z", "downtime"),
        ("schedule.fired", "2026-11-20T12:00:00Z", "catch-up"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(summary, expected);

    let listing = world.schedules_json(Some("2026-11-20T12:30:00Z"));
    let hourly = &listing["schedules"][0];
    assert_eq!(hourly["missed_total"], 1);
    assert_eq!(hourly["missed"][0]["reason"], "downtime");
    assert_eq!(hourly["missed"][0]["first"]["utc"], "2026-11-20T11:00:00Z");
    assert_eq!(hourly["last_run"]["trigger"], "catch-up");
    assert_eq!(hourly["next"]["utc"], "2026-11-20T13:00:00Z");
    let text = world.schedules_command(Some("2026-11-20T12:30:00Z"), &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("missed    1 slot in total"), "{text}");
    assert!(text.contains("2026-11-20 11:00:00 UTC: downtime"), "{text}");
}

/// Kills the scheduler with SIGKILL at `point` of the fire protocol, restarts it, and returns
/// the claimed run id of the slot.
fn kill_while_firing(world: &World, point: &str) -> String {
    world.schedule("weekly", "0 3 * * SUN", "    timezone: Europe/Paris\n");
    let marker = world.path("paused");
    let pause = format!("{point}:{}", marker.display());
    let start = "2026-11-22T01:59:58.5Z";
    let scheduler = world.start(
        "killed",
        Some(start),
        Stub::default(),
        &[("DRBOOK_SCHEDULER_PAUSE", &pause)],
    );
    world.wait_for("the pause point", || marker.exists());
    scheduler.kill();
    let key = "schedule:weekly:2026-11-22T02:00:00Z";
    let run_id = claimed(world, key).expect("the run key was claimed before the kill");
    assert_eq!(world.last_run(), Value::Null, "the fire was not recorded");

    // Restarted with the same clock, the slot is due again: the claim is found and adopted.
    let scheduler = world.start("restarted", Some(start), Stub::default(), &[]);
    world.wait_for("the fire to be adopted", || {
        world.last_run()["adopted"] == true
    });
    if point != "after-audit" {
        world.wait_for("the run", || !world.stub_runs().is_empty());
    }
    assert_eq!(scheduler.terminate(), 0);
    assert_eq!(world.last_run()["run_id"], run_id.as_str());
    assert_eq!(claimed(world, key).as_deref(), Some(run_id.as_str()));
    let fired = world.audit_of("schedule.fired");
    assert_eq!(fired.len(), 1, "one fired entry for the slot: {fired:#?}");
    assert_eq!(fired[0]["run_id"], run_id.as_str());
    run_id
}

#[test]
fn killed_after_claiming_the_slot_is_launched_once_by_the_next_scheduler() {
    let world = World::new();
    let run_id = kill_while_firing(&world, "after-claim");
    let runs = world.stub_runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].run_key, "schedule:weekly:2026-11-22T02:00:00Z");
    // The run was launched by the second scheduler, under the id the first one claimed.
    assert_eq!(world.audit_of("schedule.fired")[0]["data"]["adopted"], true);
    assert!(
        world
            .data_dir()
            .join(format!("scheduler/logs/{run_id}.log"))
            .is_file()
    );
}

#[test]
fn killed_after_the_audit_entry_the_slot_is_never_launched_twice() {
    let world = World::new();
    kill_while_firing(&world, "after-audit");
    // The first scheduler recorded the fire and died before launching; the run may or may not
    // have started, so the second one does not launch it again (at most once) and reports it.
    assert!(world.stub_runs().is_empty(), "{:?}", world.stub_runs());
    assert_eq!(
        world.audit_of("schedule.fired")[0]["data"]["adopted"],
        false
    );
}

#[test]
fn killed_after_launching_the_run_is_adopted_not_launched_again() {
    let world = World::new();
    kill_while_firing(&world, "after-launch");
    let runs = world.stub_runs();
    assert_eq!(runs.len(), 1, "only the first scheduler's launch: {runs:?}");
}
