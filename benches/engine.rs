//! The engine's durable step throughput beside raw sled loops, resume time and peak memory.
//!
//! ```text
//! cargo bench --bench engine                        # ~1.5 min
//! DRBOOK_BENCH_SECS=30 cargo bench --bench engine   # longer, steadier figures
//! ```
//!
//! Knobs (environment): `DRBOOK_BENCH_SECS` (seconds per side of each comparison, default 8),
//! `DRBOOK_BENCH_CHAIN` (steps per chain run, default 2,000), `DRBOOK_BENCH_FAN` (width of a
//! fan-out, default 1,000), `DRBOOK_BENCH_RESUME` (completed steps of the resumed run, default
//! 10,000), `DRBOOK_BENCH_RESUMES` (resume repetitions, default 5).
//!
//! Every engine figure drives the engine through its library API (`engine::start` /
//! `engine::resume`) with a real `SledStore` (flush + `fdatasync` per commit) and the audit log
//! in a data directory on the machine's disk (not a tmpfs). The steps are `log` steps at debug
//! level: they make no I/O of their own, so what is measured is the engine and its durability.
//! No SDRS endpoint is contacted (the client points at a closed port).
//!
//! **What is counted.** A *step* is one unit of the runbook (a step, or one item of a
//! `for_each`) reaching `succeeded` durably: its record is committed to the run's database (sled
//! `flush()` + `fdatasync`) before the engine reports it or starts anything that depends on it.
//! The figure is the *in-run* rate: steps completed after the run's first step, divided by the
//! time from that first completion to the last one, so that it measures what the raw loops
//! measure (durable writes into an open database). "with setup" divides every step by the time
//! from calling `engine::start` to the last completion, which adds validating the runbook,
//! creating the run's database (a dozen fsyncs) and the run-started audit entry.
//!
//! **Side by side.** Each comparison alternates one-second slices of the raw loop with engine
//! runs of about the same total time, so that load from other processes hits both alike:
//! - a sequential chain (each step `needs` the previous one) against raw sled insert + `flush()`
//!   + `fdatasync` one at a time;
//! - a 1,000-way fan-out, both as one `for_each` over 1,000 items and as 1,000 independent steps
//!   (each needs only a common predecessor), with the run's concurrency at 1,000, against 64 raw
//!   writers sharing flushes. Two log steps `a` → `b` come first: `a`'s completion starts the
//!   clock, so the round that starts the fan-out (and its commit) is inside the measurement.
//!
//! **Resume.** A run of `DRBOOK_BENCH_RESUME` completed steps (a chain) and one approval gate
//! still waiting is created once; each resume (in a fresh process) opens its database, loads
//! and decodes every record, validates the stored runbook, rebuilds the state, takes the run's
//! driver lock, commits the new attempt and runs its first round (recovering the waiting gate).
//! The figure is the time from calling `engine::resume` until that first round is durable (the
//! run's first notice): open + rebuild + ready to run. The whole call (which then stops, as with
//! `--no-wait`, writes the final status snapshot and closes the database) is shown beside it.
//!
//! **Memory.** Each phase runs in a child process (this executable, re-run with
//! `DRBOOK_BENCH_PHASE`), which reports its own peak RSS (`VmHWM` from `/proc/self/status`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark aborts on any failure"
)]

#[path = "common/raw_sled.rs"]
mod raw_sled;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drbook::engine::{Connection, Notice, ResumeRequest, RunRequest, resume, start};
use drbook::sdrs::{Client, Credentials, Endpoint};
use drbook::store::records::{RunStatus, StepStatus};
use drbook::store::{DataDir, RunId};
use raw_sled::RawSled;
use secrecy::SecretString;
use serde_json::{Value, json};

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The size of a raw write: about one encoded step record, as the store's benchmark writes.
const RAW_VALUE_BYTES: usize = 250;

fn main() {
    match std::env::var("DRBOOK_BENCH_PHASE") {
        Ok(phase) => child(&phase),
        Err(_) => parent(),
    }
}

// ----- the parent: runs each phase in a child and prints the table ---------------------------------

fn parent() {
    let secs = env_number("DRBOOK_BENCH_SECS", 8.0);
    let chain = env_number("DRBOOK_BENCH_CHAIN", 2000.0) as usize;
    let fan = env_number("DRBOOK_BENCH_FAN", 1000.0) as usize;
    let resume_steps = env_number("DRBOOK_BENCH_RESUME", 10_000.0) as usize;
    println!(
        "engine benchmark: {secs} s per side of each comparison; load average before: {}",
        load_average()
    );
    // On the machine's disk (not a tmpfs), so that fdatasync costs what it costs in production.
    let base = tempfile::Builder::new()
        .prefix("drbook-engine-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();

    let chain_result = run_child("chain", base.path());
    let fan_result = run_child("fanout", base.path());
    let setup = run_child("resume-setup", base.path());
    let resumes = env_number("DRBOOK_BENCH_RESUMES", 5.0).max(1.0) as usize;
    let resume_results: Vec<Value> = (0..resumes)
        .map(|_| run_child("resume", base.path()))
        .collect();

    let rate = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let mut table = String::new();
    let line = |table: &mut String, name: &str, value: String, note: String| {
        writeln!(table, "{name:<58} {value:>14}  {note}").unwrap();
    };
    let raw1 = rate(&chain_result, "raw");
    let chain_rate = rate(&chain_result, "engine");
    line(
        &mut table,
        "raw sled insert+flush+fdatasync, one at a time",
        format!("{raw1:.0} ops/s"),
        spread(&chain_result["raw_slices"]),
    );
    line(
        &mut table,
        &format!("engine: sequential chain of {chain} log steps"),
        format!("{chain_rate:.0} steps/s"),
        format!(
            "{:.0} % of raw (target 80 %); runs {}; with setup {:.0} steps/s",
            100.0 * chain_rate / raw1,
            spread(&chain_result["engine_runs"]),
            rate(&chain_result, "whole"),
        ),
    );
    let raw64 = rate(&fan_result, "raw");
    line(
        &mut table,
        "raw sled, 64 writers sharing flushes",
        format!("{raw64:.0} ops/s"),
        spread(&fan_result["raw_slices"]),
    );
    for (key, what) in [
        ("for_each", format!("one for_each over {fan} items")),
        ("independent", format!("{fan} independent steps")),
    ] {
        let engine = rate(&fan_result[key], "engine");
        line(
            &mut table,
            &format!("engine: {fan}-way fan-out, {what}"),
            format!("{engine:.0} steps/s"),
            format!(
                "{:.0} % of raw (target 80 %); runs {}; with setup {:.0} steps/s",
                100.0 * engine / raw64,
                spread(&fan_result[key]["engine_runs"]),
                rate(&fan_result[key], "whole"),
            ),
        );
    }
    let times: Vec<f64> = resume_results
        .iter()
        .map(|r| rate(r, "resume_ms"))
        .collect();
    let calls: Vec<f64> = resume_results.iter().map(|r| rate(r, "call_ms")).collect();
    line(
        &mut table,
        &format!("resume of a run with {resume_steps} completed steps"),
        format!("{:.0} ms", min(&times)),
        format!(
            "best of {} (target < 200 ms); spread {}; whole call {}; creating it took {:.1} s",
            times.len(),
            spread_of(&times, " ms"),
            spread_of(&calls, " ms"),
            rate(&setup, "seconds")
        ),
    );
    let phases = [
        ("chain (raw loop + engine runs)", &chain_result),
        ("fan-out (raw loop + engine runs)", &fan_result),
        ("creating the resumed run", &setup),
    ];
    for (name, result) in phases {
        line(
            &mut table,
            &format!("peak RSS: {name}"),
            format!("{:.1} MiB", rate(result, "peak_rss_kib") / 1024.0),
            String::new(),
        );
    }
    let rss: Vec<f64> = resume_results
        .iter()
        .map(|r| rate(r, "peak_rss_kib") / 1024.0)
        .collect();
    line(
        &mut table,
        "peak RSS: resume (whole process)",
        format!("{:.1} MiB", max(&rss)),
        String::new(),
    );
    println!("\n{table}load average after: {}", load_average());
}

/// Runs one phase in a child process and returns what it reported.
fn run_child(phase: &str, base: &Path) -> Value {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .env("DRBOOK_BENCH_PHASE", phase)
        .env("DRBOOK_BENCH_DIR", base)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "phase {phase} failed: {}",
        output.status
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report = stdout
        .lines()
        .find_map(|l| l.strip_prefix("@@"))
        .unwrap_or_else(|| panic!("phase {phase} reported nothing: {stdout}"));
    serde_json::from_str(report).unwrap()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn spread_of(values: &[f64], unit: &str) -> String {
    if values.is_empty() {
        return String::new();
    }
    format!("{:.0}–{:.0}{unit}", min(values), max(values))
}

/// "min–max" of a list of rates.
fn spread(values: &Value) -> String {
    let values: Vec<f64> = values
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    spread_of(&values, "")
}

// ----- the children ------------------------------------------------------------------------------------

fn child(phase: &str) {
    let base = PathBuf::from(std::env::var("DRBOOK_BENCH_DIR").unwrap());
    let secs = env_number("DRBOOK_BENCH_SECS", 8.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut report = match phase {
        "chain" => chain_phase(&runtime, &base, secs),
        "fanout" => fanout_phase(&runtime, &base, secs),
        "resume-setup" => resume_setup(&runtime, &base),
        "resume" => resume_phase(&runtime, &base),
        other => panic!("unknown phase {other}"),
    };
    report["peak_rss_kib"] = json!(peak_rss_kib());
    println!("@@{report}");
}

/// `VmHWM` of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fresh_dir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A client for no-op runs: nothing is ever sent (the port is closed anyway).
fn connection() -> Connection {
    let credentials = Credentials::new("BENCH", SecretString::from("bench"), "bench-project");
    let client = Client::builder(credentials, Endpoint::Url("http://127.0.0.1:9".into()))
        .build()
        .unwrap();
    Connection::new(client, "none (log steps only)")
}

fn log_step(out: &mut String, id: &str, needs: Option<&str>) {
    writeln!(out, "  - id: {id}").unwrap();
    writeln!(out, "    action: log").unwrap();
    if let Some(need) = needs {
        writeln!(out, "    needs: [{need}]").unwrap();
    }
    writeln!(out, "    with: {{ level: debug, message: \"step {id}\" }}").unwrap();
}

/// `steps` log steps, each needing the previous one; optionally an approval gate at the end.
fn chain_runbook(steps: usize, gate: bool) -> String {
    let mut out = format!("name: bench-chain-{steps}\nsteps:\n");
    for i in 0..steps {
        let previous = (i > 0).then(|| format!("s{}", i - 1));
        log_step(&mut out, &format!("s{i}"), previous.as_deref());
    }
    if gate {
        writeln!(out, "  - id: gate\n    action: approval").unwrap();
        if steps > 0 {
            writeln!(out, "    needs: [s{}]", steps - 1).unwrap();
        }
        writeln!(out, "    with: {{ message: \"carry on?\" }}").unwrap();
    }
    out
}

/// Two log steps `a` → `b` before a fan-out: `a`'s completion starts the in-run clock, and `b`'s
/// round is the one that starts the fan-out, so the fan-out's own first commit is measured.
const PRELUDE: &str = "  - id: a\n    action: log\n    with: { level: debug, message: a }\n  - id: b\n    action: log\n    needs: [a]\n    with: { level: debug, message: b }\n";

/// One `for_each` step over `items` items, after the prelude.
fn for_each_runbook(items: usize) -> String {
    let list: Vec<String> = (0..items).map(|i| i.to_string()).collect();
    format!(
        "name: bench-for-each-{items}\nsteps:\n{PRELUDE}  - id: fan\n    action: log\n    needs: [b]\n    for_each:\n      items: [{}]\n    with: {{ level: debug, message: \"item {{{{ item }}}}\" }}\n",
        list.join(", ")
    )
}

/// `steps` log steps that need only `b` (none needs another), after the prelude.
fn independent_runbook(steps: usize) -> String {
    let mut out = format!("name: bench-independent-{steps}\nsteps:\n{PRELUDE}");
    for i in 0..steps {
        log_step(&mut out, &format!("s{i}"), Some("b"));
    }
    out
}

/// What one engine run measured.
struct Measured {
    /// Units that reached `succeeded` (a `for_each` step's own summary is not counted).
    steps: usize,
    /// From calling `start` to the last step reported durable.
    call_to_last: Duration,
    /// From the first to the last step reported durable (`steps - 1` steps in between).
    first_to_last: Duration,
}

/// Starts a run of `runbook` and drives it to its end, timing the steps' completions.
fn engine_run(
    runtime: &tokio::runtime::Runtime,
    data_dir: &DataDir,
    runbook: &Path,
    concurrency: usize,
) -> Measured {
    #[derive(Default)]
    struct Seen {
        steps: usize,
        first: Option<Instant>,
        last: Option<Instant>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut request = RunRequest::new(runbook.to_owned(), data_dir.clone(), connection());
    request.concurrency = concurrency;
    request.actor = "bench".into();
    let observer_seen = Arc::clone(&seen);
    request.observer = Some(Arc::new(move |notice: &Notice| {
        if let Notice::StepEnded {
            key,
            status: StepStatus::Succeeded,
            ..
        } = notice
        {
            // The for_each step's own completion is not one of its items.
            if key == "fan" {
                return;
            }
            let now = Instant::now();
            let mut seen = observer_seen.lock().unwrap();
            seen.steps += 1;
            seen.first.get_or_insert(now);
            seen.last = Some(now);
        }
    }));
    let started = Instant::now();
    let outcome = runtime.block_on(start(request)).unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    let seen = seen.lock().unwrap();
    let (first, last) = (seen.first.unwrap(), seen.last.unwrap());
    Measured {
        steps: seen.steps,
        call_to_last: last - started,
        first_to_last: last - first,
    }
}

/// Engine runs of one runbook until `budget` is spent, added to `totals`.
fn engine_runs_for(
    runtime: &tokio::runtime::Runtime,
    data_dir: &DataDir,
    runbook: &Path,
    concurrency: usize,
    budget: Duration,
    totals: &mut Totals,
) {
    let began = Instant::now();
    loop {
        let m = engine_run(runtime, data_dir, runbook, concurrency);
        let in_run = m.steps.saturating_sub(1);
        totals.in_run_steps += in_run as u64;
        totals.in_run_time += m.first_to_last;
        totals.whole_steps += m.steps as u64;
        totals.whole_time += m.call_to_last;
        totals
            .runs
            .push(in_run as f64 / m.first_to_last.as_secs_f64());
        if began.elapsed() >= budget {
            return;
        }
    }
}

/// Sums over the engine runs of one configuration.
#[derive(Default)]
struct Totals {
    /// Steps completed after the run's first one, and the time from that first completion to
    /// the last: the engine's rate once the run is going.
    in_run_steps: u64,
    in_run_time: Duration,
    /// Every step, and the time from calling `engine::start` to the last completion: the rate
    /// including validating the runbook, creating the run's database and the first commit.
    whole_steps: u64,
    whole_time: Duration,
    /// The in-run rate of each run.
    runs: Vec<f64>,
}

impl Totals {
    fn report(&self) -> Value {
        json!({
            "engine": self.in_run_steps as f64 / self.in_run_time.as_secs_f64(),
            "whole": self.whole_steps as f64 / self.whole_time.as_secs_f64(),
            "engine_runs": self.runs,
        })
    }
}

/// Raw slices of one second until `secs` are spent, each followed by engine work of the same
/// length; returns the raw rate and per-slice rates.
fn interleave(
    runtime: &tokio::runtime::Runtime,
    raw: &mut RawSled,
    secs: f64,
    mut engine: impl FnMut(Duration),
) -> Value {
    let slices = secs.ceil().max(1.0) as u32;
    let slice = Duration::from_secs_f64(secs / f64::from(slices));
    let (mut ops, mut time) = (0u64, Duration::ZERO);
    let mut rates = Vec::new();
    for _ in 0..slices {
        let began = Instant::now();
        let done = raw.write_for(runtime, slice);
        let took = began.elapsed();
        ops += done;
        time += took;
        rates.push(done as f64 / took.as_secs_f64());
        engine(slice);
    }
    json!({ "raw": ops as f64 / time.as_secs_f64(), "raw_slices": rates })
}

fn write_runbook(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn chain_phase(runtime: &tokio::runtime::Runtime, base: &Path, secs: f64) -> Value {
    let steps = env_number("DRBOOK_BENCH_CHAIN", 2000.0) as usize;
    let dir = fresh_dir(base, "chain");
    let runbook = write_runbook(&dir, "chain.yaml", &chain_runbook(steps, false));
    let data_dir = DataDir::new(dir.join("data"));
    let mut raw = RawSled::new(&fresh_dir(&dir, "raw"), 1, vec![b'x'; RAW_VALUE_BYTES]);
    // One warm-up run (page cache, allocator, the audit log's first append).
    engine_run(runtime, &data_dir, &runbook, 32);
    let mut totals = Totals::default();
    let mut report = interleave(runtime, &mut raw, secs, |budget| {
        engine_runs_for(runtime, &data_dir, &runbook, 32, budget, &mut totals)
    });
    merge(&mut report, totals.report());
    report
}

fn fanout_phase(runtime: &tokio::runtime::Runtime, base: &Path, secs: f64) -> Value {
    let width = env_number("DRBOOK_BENCH_FAN", 1000.0) as usize;
    let dir = fresh_dir(base, "fanout");
    let for_each = write_runbook(&dir, "for-each.yaml", &for_each_runbook(width));
    let independent = write_runbook(&dir, "independent.yaml", &independent_runbook(width));
    let data_dir = DataDir::new(dir.join("data"));
    let mut raw = RawSled::new(&fresh_dir(&dir, "raw"), 64, vec![b'x'; RAW_VALUE_BYTES]);
    engine_run(runtime, &data_dir, &for_each, width);
    engine_run(runtime, &data_dir, &independent, width);
    let (mut fan_totals, mut independent_totals) = (Totals::default(), Totals::default());
    let report = interleave(runtime, &mut raw, secs, |budget| {
        // Half of the engine's share to each shape.
        engine_runs_for(
            runtime,
            &data_dir,
            &for_each,
            width,
            budget / 2,
            &mut fan_totals,
        );
        engine_runs_for(
            runtime,
            &data_dir,
            &independent,
            width,
            budget / 2,
            &mut independent_totals,
        );
    });
    let mut report = report;
    report["for_each"] = fan_totals.report();
    report["independent"] = independent_totals.report();
    report
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// Creates the run the resume phase resumes: a chain of completed steps and a waiting gate.
fn resume_setup(runtime: &tokio::runtime::Runtime, base: &Path) -> Value {
    let steps = env_number("DRBOOK_BENCH_RESUME", 10_000.0) as usize;
    let dir = fresh_dir(base, "resume");
    let runbook = write_runbook(&dir, "resume.yaml", &chain_runbook(steps, true));
    let data_dir = DataDir::new(dir.join("data"));
    let mut request = RunRequest::new(runbook, data_dir, connection());
    request.wait_for_approval = false;
    request.actor = "bench".into();
    let began = Instant::now();
    let outcome = runtime.block_on(start(request)).unwrap();
    let seconds = began.elapsed().as_secs_f64();
    assert_eq!(outcome.status, RunStatus::WaitingApproval, "{outcome:?}");
    std::fs::write(dir.join("run-id"), outcome.run_id.to_string()).unwrap();
    json!({ "seconds": seconds, "run_id": outcome.run_id.to_string() })
}

fn resume_phase(runtime: &tokio::runtime::Runtime, base: &Path) -> Value {
    let dir = base.join("resume");
    let run_id: RunId = std::fs::read_to_string(dir.join("run-id"))
        .unwrap()
        .parse()
        .unwrap();
    let data_dir = DataDir::new(dir.join("data"));
    let mut request = ResumeRequest::new(run_id, data_dir, connection());
    request.wait_for_approval = false;
    request.actor = "bench".into();
    // The first notice comes right after the resumed run's first round is durable: the run is
    // open, rebuilt and running.
    let ready: Arc<Mutex<Option<Instant>>> = Arc::default();
    let observer_ready = Arc::clone(&ready);
    request.observer = Some(Arc::new(move |_: &Notice| {
        observer_ready
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
    }));
    let began = Instant::now();
    let outcome = runtime.block_on(resume(request)).unwrap();
    let took = began.elapsed();
    let ready = ready
        .lock()
        .unwrap()
        .expect("the resumed run told something")
        - began;
    assert_eq!(outcome.status, RunStatus::WaitingApproval, "{outcome:?}");
    assert_eq!(
        outcome.snapshot.counts.get("succeeded").copied(),
        Some(env_number("DRBOOK_BENCH_RESUME", 10_000.0) as usize),
        "every completed step is still completed"
    );
    json!({
        "resume_ms": ready.as_secs_f64() * 1000.0,
        "call_ms": took.as_secs_f64() * 1000.0,
    })
}
