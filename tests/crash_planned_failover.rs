//! The crash test: the real `drbook run` of the planned-failover runbook is killed with SIGKILL
//! at random points, `drbook resume` (itself killed now and then) finishes it, and the
//! emulator's call log — which lives in this process and so survives every kill — shows that
//! each mutating call was issued exactly once and the protection group ended where it should.
//!
//! Each iteration gets a fresh emulator and a fresh data directory. The emulator's jobs take
//! [`JOB_LATENCY`] so that a run lasts long enough for kills to land everywhere; the kill delays
//! are drawn uniformly over the duration of one uninterrupted run, measured first. Some
//! iterations also make the emulator apply the reverse (or one batch stop) and then drop the
//! connection without answering (`drop_after_apply`): the engine must reconcile, never resend.
//!
//! Iterations go on until at least `DRBOOK_CRASH_ITERATIONS` (default 50) processes were
//! killed; `DRBOOK_CRASH_ITERATIONS=500` makes a longer run. `DRBOOK_CRASH_SEED=N` replays a
//! printed seed.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests")]

mod engine_common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use drbook::emulator::{CallRecord, Config, FaultAction, FaultRule, Outcome};
use drbook::store::locks::Locks;
use drbook::store::records::{AttemptOutcome, RunStatus, StepRecord};
use drbook::store::{DataDir, RunId, SledStore, Store};
use engine_common::{Harness, example};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// How long every emulated job takes: long enough that a run spans about a second.
const JOB_LATENCY: Duration = Duration::from_millis(300);
/// The share of first kills aimed near a mutating call rather than drawn uniformly.
const AIMED_SHARE: f64 = 0.4;
/// How far from a mutating call's arrival an aimed kill may land.
const AIM: Duration = Duration::from_millis(15);
/// A run that needs more processes than this to finish is wedged.
const MAX_PROCESSES: usize = 25;
/// Probability that a `drbook resume` is killed too.
const RESUME_KILL_PROBABILITY: f64 = 1.0 / 3.0;

const GROUP: &str = "pg-web-0001";
const PRODUCTION: [&str; 3] = ["ecs-web-01", "ecs-web-02", "ecs-db-01"];

/// How an iteration's run is meant to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// The planned failover succeeds.
    Switch,
    /// A step after the switch fails on purpose, so the run compensates in reverse order: stop
    /// the DR servers, reverse the group back to the source site, start production again.
    BackOut,
}

/// A step appended to the runbook for [`Scenario::BackOut`]: an assertion that cannot hold.
const FAILING_STEP: &str = r#"
  - id: fail_after_switch
    description: The crash test fails the run here on purpose, so that it compensates.
    action: assert
    needs: [confirm_protected]
    with:
      that: "{{ eq params.server_group_id 'no-such-group' }}"
      message: failing on purpose after the switch
"#;

impl Scenario {
    fn for_iteration(index: usize) -> Scenario {
        if index % 5 == 2 {
            Scenario::BackOut
        } else {
            Scenario::Switch
        }
    }

    /// The mutating calls the run makes, each exactly once per `(operation, resource)` (the
    /// back-out reverses the group twice: there and back).
    fn expected_calls(self) -> BTreeMap<(String, String), usize> {
        let mut expected = BTreeMap::new();
        let back_out = self == Scenario::BackOut;
        for server in PRODUCTION {
            let dr = format!("{server}-dr");
            expected.insert(("batch_stop_servers".to_owned(), server.to_owned()), 1);
            expected.insert(("batch_start_servers".to_owned(), dr.clone()), 1);
            if back_out {
                expected.insert(("batch_stop_servers".to_owned(), dr), 1);
                expected.insert(("batch_start_servers".to_owned(), server.to_owned()), 1);
            }
        }
        expected.insert(
            (
                "start_reverse_protection_group".to_owned(),
                GROUP.to_owned(),
            ),
            if back_out { 2 } else { 1 },
        );
        expected
    }

    fn final_status(self) -> RunStatus {
        match self {
            Scenario::Switch => RunStatus::Succeeded,
            Scenario::BackOut => RunStatus::Failed,
        }
    }
}

/// Which fault an iteration injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The reverse is applied and its connection dropped.
    DropReverse,
    /// The batch stop of one production server is applied and its connection dropped.
    DropStop,
    /// The reverse waits [`SLOW_CALL`] inside the emulator before it is handled: a kill then
    /// lands while the request is in flight, and the emulator drops it with the connection
    /// (never applied), so the resume must find it not applied and send it once.
    SlowReverse,
    /// The same for every batch stop.
    SlowStop,
}

/// How long a `Slow*` fault holds a request before handling it.
const SLOW_CALL: Duration = Duration::from_millis(200);

impl Fault {
    fn for_iteration(index: usize) -> Fault {
        match index % 6 {
            1 => Fault::DropReverse,
            2 => Fault::SlowStop,
            3 => Fault::DropStop,
            5 => Fault::SlowReverse,
            _ => Fault::None,
        }
    }

    fn rule(self) -> Option<FaultRule> {
        let (operation, resource, action) = match self {
            Fault::None => return None,
            Fault::DropReverse => (
                "start_reverse_protection_group",
                Some(GROUP),
                FaultAction::DropAfterApply,
            ),
            Fault::DropStop => (
                "batch_stop_servers",
                Some("ecs-web-02"),
                FaultAction::DropAfterApply,
            ),
            Fault::SlowReverse => (
                "start_reverse_protection_group",
                None,
                FaultAction::Latency {
                    duration: SLOW_CALL,
                },
            ),
            Fault::SlowStop => (
                "batch_stop_servers",
                None,
                FaultAction::Latency {
                    duration: SLOW_CALL,
                },
            ),
        };
        let drop = action == FaultAction::DropAfterApply;
        Some(FaultRule {
            id: None,
            operation: operation.into(),
            resource: resource.map(str::to_owned),
            action,
            rate: None,
            times: drop.then_some(1),
        })
    }

    /// The operation whose requests the fault holds inside the emulator.
    fn slowed(self) -> Option<&'static str> {
        match self {
            Fault::SlowReverse => Some("start_reverse_protection_group"),
            Fault::SlowStop => Some("batch_stop_servers"),
            _ => None,
        }
    }

    /// Whether the call log shows that the fault fired.
    fn drops(self) -> bool {
        matches!(self, Fault::DropReverse | Fault::DropStop)
    }
}

fn emulator_config(fault: Fault) -> Config {
    Config {
        job_latency: JOB_LATENCY,
        faults: fault.rule().into_iter().collect(),
        ..Config::default()
    }
}

/// How one `drbook` process ended.
#[derive(Debug)]
enum Ended {
    Killed,
    /// It exited on its own with this code.
    Exited(#[allow(dead_code, reason = "shown in failure reports")] i32),
}

/// One process of an iteration, for the failure report.
struct Process {
    verb: &'static str,
    kill_after: Option<Duration>,
    ended: Ended,
    log: PathBuf,
}

/// Where the run stood when a process was killed (from its store and the call log).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KillPoint {
    /// No run existed yet (startup, argument parsing, locks, creating the store).
    BeforeTheRun,
    /// The first mutating call of `phase` not yet answered had this state.
    Phase { phase: &'static str, state: Pending },
    /// Every forward mutating call was answered (waits, checks and the end of the run).
    AfterEveryCall,
    /// The run was compensating (backing out).
    Compensating,
    /// The process had already ended by itself.
    AlreadyEnded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    /// No intent recorded yet.
    NoIntent,
    /// The intent is durable but the emulator has not applied the call (it was not sent yet,
    /// or was still inside the emulator, which drops it with the connection).
    IntentNotSent,
    /// The emulator received the call but its answer is not recorded.
    SentNotRecorded,
}

impl std::fmt::Display for KillPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KillPoint::BeforeTheRun => write!(f, "before the run existed"),
            KillPoint::Phase { phase, state } => match state {
                Pending::NoIntent => write!(f, "{phase}: before its intent"),
                Pending::IntentNotSent => {
                    write!(
                        f,
                        "{phase}: intent durable, call not applied (never sent or in flight)"
                    )
                }
                Pending::SentNotRecorded => {
                    write!(f, "{phase}: call received, answer not recorded")
                }
            },
            KillPoint::AfterEveryCall => write!(f, "after every forward mutating call"),
            KillPoint::Compensating => write!(f, "while compensating"),
            KillPoint::AlreadyEnded => write!(f, "(the process ended before the kill)"),
        }
    }
}

/// The mutating steps in run order, with the operation and resource of each unit.
const PHASES: [(&str, &str); 3] = [
    ("stop_production", "batch_stop_servers"),
    ("reverse", "start_reverse_protection_group"),
    ("start_dr", "batch_start_servers"),
];

/// The resource a recorded intent is about: the server of a batch stop or start (read
/// from the request body, since `for_each` items follow the order the service listed them in),
/// or the group.
fn resource_of(intent: Option<&drbook::store::records::Intent>) -> String {
    let body = intent
        .and_then(|i| i.request.get("body"))
        .cloned()
        .unwrap_or_default();
    ["os-stop", "os-start"]
        .iter()
        .find_map(|action| body.pointer(&format!("/{action}/servers/0/id")))
        .and_then(serde_json::Value::as_str)
        .unwrap_or(GROUP)
        .to_owned()
}

fn classify(steps: &[StepRecord], calls: &[CallRecord]) -> KillPoint {
    for (phase, operation) in PHASES {
        let units: Vec<&StepRecord> = steps
            .iter()
            .filter(|s| s.step_id == phase && (phase == "reverse" || s.item.is_some()))
            .collect();
        let expected_units = if phase == "reverse" {
            1
        } else {
            PRODUCTION.len()
        };
        let answered = |s: &&StepRecord| {
            s.intent.is_some()
                && s.attempts
                    .last()
                    .is_some_and(|a| a.outcome != AttemptOutcome::InProgress)
        };
        if units.len() == expected_units && units.iter().all(answered) {
            continue;
        }
        let mut state = Pending::NoIntent;
        for unit in units.iter().filter(|u| !answered(u)) {
            if unit.intent.is_none() {
                continue;
            }
            let resource = resource_of(unit.intent.as_ref());
            let sent = calls.iter().any(|c| {
                c.operation.as_deref() == Some(operation)
                    && c.resource_id.as_deref() == Some(resource.as_str())
            });
            let unit_state = if sent {
                Pending::SentNotRecorded
            } else {
                Pending::IntentNotSent
            };
            state = state.max(unit_state);
        }
        return KillPoint::Phase { phase, state };
    }
    KillPoint::AfterEveryCall
}

/// One crash iteration: its own emulator, data directory and processes.
struct Iteration {
    harness: Harness,
    index: usize,
    fault: Fault,
    scenario: Scenario,
    logs: tempfile::TempDir,
    processes: Vec<Process>,
    kill_points: Vec<KillPoint>,
}

impl Iteration {
    fn new(index: usize, fault: Fault, scenario: Scenario) -> Iteration {
        Iteration {
            harness: Harness::with(emulator_config(fault)),
            index,
            fault,
            scenario,
            logs: tempfile::tempdir().unwrap(),
            processes: Vec::new(),
            kill_points: Vec::new(),
        }
    }

    fn data_dir(&self) -> &Path {
        self.harness.data_dir()
    }

    /// The run of this iteration, once its store exists.
    fn run_id(&self) -> Option<RunId> {
        DataDir::new(self.data_dir())
            .list_runs()
            .unwrap()
            .first()
            .copied()
    }

    fn open_store(&self, run: RunId) -> SledStore {
        SledStore::open(&DataDir::new(self.data_dir()), run).unwrap_or_else(|e| {
            panic!(
                "iteration {}: the run's store does not open after a kill: {e}\n{}",
                self.index,
                self.report()
            )
        })
    }

    fn run_status(&self, run: RunId) -> RunStatus {
        let store = self.open_store(run);
        let status = store.load_run().unwrap().status;
        store.close().unwrap();
        status
    }

    fn kill_point(&self) -> KillPoint {
        let Some(run) = self.run_id() else {
            return KillPoint::BeforeTheRun;
        };
        let store = self.open_store(run);
        let status = store.load_run().unwrap().status;
        let steps = store.load_steps().unwrap();
        store.close().unwrap();
        if status == RunStatus::Compensating {
            return KillPoint::Compensating;
        }
        classify(&steps, &self.harness.calls())
    }

    /// Starts `drbook <verb>`, kills it after `kill_after` (if it is still running then), and
    /// waits for it.
    fn process(&mut self, verb: &'static str, args: &[&str], kill_after: Option<Duration>) {
        let log = self
            .logs
            .path()
            .join(format!("{:02}-{verb}.log", self.processes.len()));
        let file = std::fs::File::create(&log).unwrap();
        let mut child: Child = self
            .harness
            .command(verb, args)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let started = Instant::now();
        let ended = loop {
            if let Some(status) = child.try_wait().unwrap() {
                if kill_after.is_some() {
                    self.kill_points.push(KillPoint::AlreadyEnded);
                }
                break Ended::Exited(status.code().unwrap_or(-1));
            }
            if let Some(limit) = kill_after
                && started.elapsed() >= limit
            {
                // `Child::kill` sends SIGKILL on Unix.
                child.kill().unwrap();
                child.wait().unwrap();
                self.kill_points.push(self.kill_point());
                break Ended::Killed;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "iteration {}: drbook {verb} ran for two minutes\n{}",
                self.index,
                self.report()
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        self.processes.push(Process {
            verb,
            kill_after,
            ended,
            log,
        });
    }

    fn start(&mut self, kill_after: Option<Duration>) {
        let runbook = match self.scenario {
            Scenario::Switch => example("planned-failover.yaml"),
            Scenario::BackOut => {
                let text = std::fs::read_to_string(example("planned-failover.yaml")).unwrap();
                self.harness
                    .runbook("planned-failover-back-out.yaml", &(text + FAILING_STEP))
            }
        };
        self.process(
            "run",
            &[
                &runbook,
                "--mode",
                "planned-failover",
                "--auto-approve",
                "--actor",
                "dr-lead",
                "--poll-interval",
                "50ms",
                "--output",
                "json",
            ],
            kill_after,
        );
    }

    fn resume(&mut self, run: RunId, kill_after: Option<Duration>) {
        let run = run.to_string();
        self.process(
            "resume",
            &[
                &run,
                "--auto-approve",
                "--actor",
                "dr-lead",
                "--poll-interval",
                "50ms",
                "--output",
                "json",
            ],
            kill_after,
        );
    }

    /// Kills the first `drbook run` after `first_kill`, then resumes (each resume killed with
    /// some probability) until the run reaches a terminal status; returns it.
    fn drive(&mut self, rng: &mut StdRng, first_kill: Duration, span: Duration) -> RunStatus {
        self.start(Some(first_kill));
        loop {
            assert!(
                self.processes.len() < MAX_PROCESSES,
                "iteration {}: the run is wedged after {} processes\n{}",
                self.index,
                self.processes.len(),
                self.report()
            );
            let kill = rng
                .random_bool(RESUME_KILL_PROBABILITY)
                .then(|| span.mul_f64(rng.random_range(0.0..1.0)));
            match self.run_id() {
                // Killed before its store existed: the operator starts it again.
                None => self.start(kill),
                Some(run) => {
                    let status = self.run_status(run);
                    if status.is_terminal() {
                        return status;
                    }
                    self.resume(run, kill);
                }
            }
        }
    }

    /// The processes, their kill points and their output, for a failure message. The data
    /// directory is copied to `$TMPDIR/drbook-crash-<iteration>` for a post-mortem.
    fn report(&self) -> String {
        let keep = std::env::temp_dir().join(format!("drbook-crash-{}", self.index));
        let _ = std::process::Command::new("cp")
            .arg("-a")
            .arg(self.data_dir())
            .arg(&keep)
            .status();
        let mut text = format!(
            "iteration {} ({:?}, fault {:?}), data dir kept in {}\n",
            self.index,
            self.scenario,
            self.fault,
            keep.display()
        );
        for (n, p) in self.processes.iter().enumerate() {
            let output = std::fs::read_to_string(&p.log).unwrap_or_default();
            let _ = writeln!(
                text,
                "--- process {n}: drbook {} (kill after {:?}): {:?}\n{output}",
                p.verb, p.kill_after, p.ended
            );
        }
        let _ = writeln!(text, "kill points: {:?}", self.kill_points);
        for call in self.harness.calls().iter().filter(|c| c.mutating) {
            let _ = writeln!(
                text,
                "call {} {:?} {:?} {} {:?}",
                call.seq, call.operation, call.resource_id, call.status, call.outcome
            );
        }
        text
    }

    /// The servers whose batch start was never sent because it was not needed.
    ///
    /// A successful reverse starts the servers of the new production site (reference 5.4.9):
    /// the reverse to `target` starts the DR servers before `start_dr`, and a back-out's
    /// reverse to `source` starts production before the undo of `stop_production`. When a
    /// kill lands after such a start's intent is durable but before the request is applied,
    /// the resumed run reconciles: the server is `ACTIVE` with no task, which is what the call
    /// asks for, so nothing is sent (resending is what exactly-once forbids when the outcome
    /// cannot be told apart). That is only legitimate if that reverse's job had ended before
    /// the intent was recorded (checked against the emulator's jobs: one machine, one clock)
    /// and the run says the call was reconciled.
    fn unneeded_starts(&self, seen: &BTreeMap<(String, String), usize>) -> Vec<String> {
        let missing: Vec<String> = self
            .scenario
            .expected_calls()
            .into_keys()
            .filter(|key| key.0 == "batch_start_servers" && !seen.contains_key(key))
            .map(|(_, server)| server)
            .collect();
        if missing.is_empty() {
            return missing;
        }
        let store = self.open_store(self.run_id().unwrap());
        let steps = store.load_steps().unwrap();
        store.close().unwrap();
        let world = serde_json::to_value(self.harness.emulator().world()).unwrap();
        let jobs: Vec<&serde_json::Value> = match &world["jobs"] {
            serde_json::Value::Array(list) => list.iter().collect(),
            serde_json::Value::Object(map) => map.values().collect(),
            _ => Vec::new(),
        };
        for server in &missing {
            // The start of a DR server is `start_dr`'s own call; the start of a production
            // server is the undo of `stop_production`.
            let (intent, response) = steps
                .iter()
                .filter(|s| s.item.is_some())
                .find_map(|s| {
                    if s.step_id == "start_dr" && resource_of(s.intent.as_ref()) == *server {
                        return Some((s.intent.clone(), s.response.clone()));
                    }
                    let comp = s.compensation.as_ref()?;
                    (s.step_id == "stop_production" && resource_of(comp.intent.as_ref()) == *server)
                        .then(|| (comp.intent.clone(), comp.response.clone()))
                })
                .unwrap_or_else(|| panic!("no start of {server} in the run\n{}", self.report()));
            let intent_at = intent.unwrap().recorded_at;
            let reconciled = response.is_some_and(|r| r["reconciled"] == true);
            let station = if server.ends_with("-dr") {
                "target"
            } else {
                "source"
            };
            let started_by_reverse = jobs.iter().any(|job| {
                job["operation"] == "start_reverse_protection_group"
                    && job["status"] == "SUCCESS"
                    && job["effect"]["plan"]["station_after"] == station
                    && job["due"]
                        .as_str()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|due| due <= intent_at)
            });
            assert!(
                reconciled && started_by_reverse,
                "iteration {}: the start of {server} was never sent, but no reverse had \
                 started it before the intent ({intent_at}; reconciled {reconciled})\n{}",
                self.index,
                self.report()
            );
        }
        missing
    }

    /// Every mutating call exactly once; the group and servers where a planned failover leaves
    /// them.
    /// Returns how many batch starts were not needed (see [`Iteration::unneeded_starts`]).
    fn check(&self, status: RunStatus) -> usize {
        assert_eq!(
            status,
            self.scenario.final_status(),
            "iteration {}: the run ended {status:?}\n{}",
            self.index,
            self.report()
        );
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for call in self.harness.mutating_calls() {
            let key = (
                call.operation.clone().unwrap_or_default(),
                call.resource_id.clone().unwrap_or_default(),
            );
            *seen.entry(key).or_default() += 1;
            assert!(
                matches!(call.outcome, Outcome::Ok | Outcome::Dropped),
                "iteration {}: mutating call {} was refused\n{}",
                self.index,
                call.seq,
                self.report()
            );
        }
        let unneeded = self.unneeded_starts(&seen);
        for server in &unneeded {
            seen.insert(("batch_start_servers".to_owned(), server.clone()), 1);
        }
        assert_eq!(
            seen,
            self.scenario.expected_calls(),
            "iteration {}: mutating calls per (operation, resource)\n{}",
            self.index,
            self.report()
        );
        if self.fault.drops() {
            assert!(
                self.harness
                    .calls()
                    .iter()
                    .any(|c| c.outcome == Outcome::Dropped),
                "iteration {}: the {:?} fault never fired\n{}",
                self.index,
                self.fault,
                self.report()
            );
        }
        let h = &self.harness;
        let (station, production, dr) = match self.scenario {
            Scenario::Switch => ("target", "SHUTOFF", "ACTIVE"),
            Scenario::BackOut => ("source", "ACTIVE", "SHUTOFF"),
        };
        assert_eq!(
            h.group(GROUP),
            ("protected".to_owned(), station.to_owned()),
            "iteration {}\n{}",
            self.index,
            self.report()
        );
        for server in PRODUCTION {
            assert_eq!(h.server(server), production, "iteration {}", self.index);
            assert_eq!(
                h.server(&format!("{server}-dr")),
                dr,
                "iteration {}\n{}",
                self.index,
                self.report()
            );
        }
        unneeded.len()
    }
}

/// One uninterrupted run of a scenario: how long it takes and when its mutating calls arrive.
struct Calibration {
    span: Duration,
    /// Each mutating call's operation and arrival, from the process start.
    calls: Vec<(String, Duration)>,
}

impl Calibration {
    fn measure(scenario: Scenario) -> Calibration {
        let mut run = Iteration::new(0, Fault::None, scenario);
        let clock = Instant::now();
        let wall = jiff::Timestamp::now();
        run.start(None);
        let span = clock.elapsed();
        let id = run.run_id().expect("the calibration run exists");
        let status = run.run_status(id);
        run.check(status);
        let calls: Vec<(String, Duration)> = run
            .harness
            .mutating_calls()
            .iter()
            .filter_map(|c| {
                let offset = Duration::try_from(c.time.duration_since(wall)).ok()?;
                Some((c.operation.clone()?, offset))
            })
            .collect();
        eprintln!(
            "crash test: one uninterrupted {scenario:?} run takes {span:?}; mutating calls at {:?}",
            calls.iter().map(|(_, at)| at).collect::<Vec<_>>()
        );
        Calibration { span, calls }
    }

    /// A first kill delay, and whether it was aimed. Most are uniform over the run; the
    /// windows around a mutating call (intent durable, request in flight, answer not yet
    /// recorded) last a few milliseconds each, so some kills aim at them: within [`AIM`] of
    /// the moment a call arrived in the calibration run, or, when the fault holds that
    /// operation's requests, inside the time it holds them.
    fn draw(&self, rng: &mut StdRng, fault: Fault) -> (Duration, bool) {
        if self.calls.is_empty() || rng.random_bool(1.0 - AIMED_SHARE) {
            return (self.span.mul_f64(rng.random_range(0.0..1.0)), false);
        }
        if let Some(slow) = fault.slowed()
            && let Some((_, at)) = self.calls.iter().find(|(op, _)| op == slow)
        {
            return (*at + SLOW_CALL.mul_f64(rng.random_range(0.0..1.0)), true);
        }
        let (_, at) = &self.calls[rng.random_range(0..self.calls.len())];
        let delay = (*at + AIM.mul_f64(rng.random_range(0.0..2.0))).saturating_sub(AIM);
        (delay, true)
    }
}

/// How many SIGKILLs to land (`DRBOOK_CRASH_ITERATIONS`, default 50).
fn kill_points() -> usize {
    std::env::var("DRBOOK_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn seed() -> u64 {
    std::env::var("DRBOOK_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

#[test]
fn every_mutating_call_is_issued_exactly_once_across_sigkills() {
    let started = Instant::now();
    let seed = seed();
    let target = kill_points();
    eprintln!(
        "crash test: seed {seed} (DRBOOK_CRASH_SEED={seed} replays it), at least {target} kill points"
    );
    let mut rng = StdRng::seed_from_u64(seed);

    // Calibrate: one uninterrupted run of each scenario, which must itself be exactly-once.
    let switch = Calibration::measure(Scenario::Switch);
    let back_out = Calibration::measure(Scenario::BackOut);

    let mut points: BTreeMap<KillPoint, usize> = BTreeMap::new();
    let mut kills = 0;
    let mut aimed_kills = 0;
    let mut unneeded_starts = 0;
    let mut index = 0;
    while kills < target {
        index += 1;
        let fault = Fault::for_iteration(index);
        let scenario = Scenario::for_iteration(index);
        let calibration = match scenario {
            Scenario::Switch => &switch,
            Scenario::BackOut => &back_out,
        };
        let mut iteration = Iteration::new(index, fault, scenario);
        let (first_kill, aimed) = calibration.draw(&mut rng, fault);
        aimed_kills += usize::from(aimed);
        let status = iteration.drive(&mut rng, first_kill, calibration.span);
        unneeded_starts += iteration.check(status);
        for point in &iteration.kill_points {
            if *point != KillPoint::AlreadyEnded {
                kills += 1;
            }
            *points.entry(point.clone()).or_default() += 1;
        }
    }
    eprintln!(
        "crash test: {kills} SIGKILLs over {index} iterations ({aimed_kills} first kills aimed \
         near a mutating call, the others uniform) in {:?}; where they landed:",
        started.elapsed()
    );
    for (point, count) in &points {
        eprintln!("  {count:4}  {point}");
    }
    eprintln!(
        "crash test: {unneeded_starts} batch starts found unneeded on resume (a reverse had \
         already started the server)"
    );
}

// ----- what a kill outside the steps can leave behind ---------------------------------------

fn planned_failover(h: &Harness) -> engine_common::Finished {
    h.run(
        &example("planned-failover.yaml"),
        &[
            "--mode",
            "planned-failover",
            "--auto-approve",
            "--actor",
            "dr-lead",
        ],
    )
}

#[test]
fn a_lock_whose_run_never_came_to_exist_does_not_wedge_the_group() {
    // What an older drbook killed between taking its locks and creating its run left behind:
    // a lock naming a run that does not exist.
    let h = Harness::new();
    let ghost = RunId::new();
    Locks::open(&DataDir::new(h.data_dir()))
        .unwrap()
        .acquire(GROUP, ghost)
        .unwrap();
    planned_failover(&h).expect(0, "succeeded");
}

#[test]
fn a_refused_start_leaves_no_run_behind() {
    let h = Harness::new();
    // A failover that stops at its approval holds the group's lock.
    let holder = h.run(
        &example("unplanned-failover.yaml"),
        &[
            "--mode",
            "failover",
            "-p",
            "require_approval=true",
            "--no-wait",
        ],
    );
    holder.expect(3, "waiting-approval");
    let refused = planned_failover(&h);
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&holder.run_id()),
        "{}",
        refused.stderr
    );
    let runs = DataDir::new(h.data_dir()).list_runs().unwrap();
    assert_eq!(runs.len(), 1, "only the holder's run exists: {runs:?}");
    let leftovers: Vec<_> = std::fs::read_dir(h.data_dir().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn resuming_a_finished_run_releases_the_locks_a_kill_left_behind() {
    let h = Harness::new();
    let first = planned_failover(&h);
    first.expect(0, "succeeded");
    let run: RunId = first.run_id().parse().unwrap();
    // A kill after the end was committed but before the locks were released and the last
    // snapshot written.
    Locks::open(&DataDir::new(h.data_dir()))
        .unwrap()
        .acquire(GROUP, run)
        .unwrap();
    std::fs::remove_file(
        h.data_dir()
            .join("runs")
            .join(run.to_string())
            .join("status.json"),
    )
    .unwrap();
    h.resume(&run.to_string(), &[]).expect(0, "succeeded");
    let holder = Locks::open(&DataDir::new(h.data_dir()))
        .unwrap()
        .holder(GROUP)
        .unwrap();
    assert!(holder.is_none(), "{holder:?}");
    assert_eq!(
        drbook::engine::read_status(&DataDir::new(h.data_dir()), run)
            .unwrap()
            .map(|s| s.status),
        Some(RunStatus::Succeeded)
    );
}

#[test]
fn a_kill_while_compensating_a_fan_out_still_undoes_every_item() {
    // Every undo of `stop_production` (a batch start of a production server) is held inside
    // the emulator for a while; the run is killed while the second one is held, so its intent
    // is durable and the request is never applied (the emulator drops it with the
    // connection). The resume must reconcile it and finish the back-out.
    let mut iteration = Iteration::new(1, Fault::None, Scenario::BackOut);
    for server in PRODUCTION {
        iteration
            .harness
            .emulator()
            .add_fault(FaultRule {
                id: None,
                operation: "batch_start_servers".into(),
                resource: Some(server.into()),
                action: FaultAction::Latency {
                    duration: Duration::from_millis(600),
                },
                rate: None,
                times: None,
            })
            .unwrap();
    }
    let is_production_start = |c: &CallRecord| {
        c.operation.as_deref() == Some("batch_start_servers")
            && c.resource_id
                .as_deref()
                .is_some_and(|r| PRODUCTION.contains(&r))
    };
    let h = &iteration.harness;
    let runbook = h.runbook(
        "back-out.yaml",
        &(std::fs::read_to_string(example("planned-failover.yaml")).unwrap() + FAILING_STEP),
    );
    let mut child = h.spawn(
        "run",
        &[
            &runbook,
            "--mode",
            "planned-failover",
            "--auto-approve",
            "--actor",
            "dr-lead",
            "--poll-interval",
            "50ms",
        ],
    );
    let started = Instant::now();
    while !h.calls().iter().any(is_production_start) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no undo started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // The first undo was applied; its job takes JOB_LATENCY, then the second is held.
    std::thread::sleep(JOB_LATENCY + Duration::from_millis(350));
    child.kill().unwrap();
    child.wait().unwrap();
    let run = iteration.run_id().unwrap();
    let point = iteration.kill_point();
    assert_eq!(point, KillPoint::Compensating);
    iteration.resume(run, None);
    let status = iteration.run_status(run);
    iteration.check(status);
}
