//! How long a run report takes for large runs: building the `Report` from records (the stored
//! runbook validated and planned again) and rendering it as HTML, Markdown and JSON.
//!
//! ```text
//! cargo bench --bench report
//! ```
//!
//! Two shapes: a chain of 1,000 steps (the widest DAG picture: 167 bands of six columns) and a
//! fan-out of one `for_each` step over 10,000 items (10,000 step rows). Each figure is the
//! median of several repetitions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark aborts on any failure"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use drbook::report::{self, AuditStatus, ChainState};
use drbook::store::RunId;
use drbook::store::records::{
    Attempt, AttemptOutcome, RunRecord, RunStatus, StepKey, StepRecord, StepStatus, sha256_hex,
};
use jiff::{SignedDuration, Timestamp};

fn record(key: StepKey, start: Timestamp) -> StepRecord {
    let mut step = StepRecord::pending(&key);
    step.status = StepStatus::Succeeded;
    step.started_at = Some(start);
    step.ended_at = Some(start + SignedDuration::from_millis(250));
    step.attempts.push(Attempt {
        number: 1,
        started_at: start,
        ended_at: step.ended_at,
        outcome: AttemptOutcome::Succeeded,
        error_code: None,
        message: None,
    });
    step
}

fn run(source: String) -> RunRecord {
    RunRecord {
        run_id: RunId::new(),
        runbook_name: "bench".into(),
        runbook_path: "bench.yaml".into(),
        runbook_digest: sha256_hex(source.as_bytes()),
        runbook_source: source,
        mode: String::new(),
        params: BTreeMap::new(),
        secret_params: Vec::new(),
        status: RunStatus::Succeeded,
        run_key: None,
        actor: "bench".into(),
        dry_run: false,
        endpoint: "none".into(),
        created_at: Timestamp::UNIX_EPOCH,
        started_at: Some(Timestamp::UNIX_EPOCH),
        ended_at: Some(Timestamp::UNIX_EPOCH + SignedDuration::from_hours(1)),
        attempt: 1,
        error: None,
        locks: Vec::new(),
        deadline: None,
    }
}

fn chain(steps: usize) -> (RunRecord, Vec<StepRecord>) {
    let mut source = String::from("name: chain\nsteps:\n");
    for i in 0..steps {
        let _ = write!(
            source,
            "  - id: s{i}\n    action: log\n    with: {{ message: hi }}\n"
        );
        if i > 0 {
            let _ = writeln!(source, "    needs: [s{}]", i - 1);
        }
    }
    let records = (0..steps)
        .map(|i| {
            record(
                StepKey::single(format!("s{i}")),
                Timestamp::UNIX_EPOCH + SignedDuration::from_secs(i as i64),
            )
        })
        .collect();
    (run(source), records)
}

fn fan_out(items: usize) -> (RunRecord, Vec<StepRecord>) {
    let list: Vec<String> = (0..items).map(|i| format!("srv-{i}")).collect();
    let source = format!(
        "name: fan\nsteps:\n  - id: each\n    action: log\n    for_each:\n      items: {}\n    with: {{ message: \"{{{{ item }}}}\" }}\n",
        serde_json::to_string(&list).unwrap()
    );
    let records = (0..items)
        .map(|i| record(StepKey::item("each", i), Timestamp::UNIX_EPOCH))
        .collect();
    (run(source), records)
}

fn audit() -> AuditStatus {
    AuditStatus {
        log: "audit.jsonl".into(),
        chain: ChainState::Verified,
        entries: 0,
        head: None,
        breach: None,
        run_entries: BTreeMap::new(),
        run_seq_range: None,
        error: None,
    }
}

/// The median of `repetitions` timings of `work`.
fn median(repetitions: usize, mut work: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..repetitions)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn measure(name: &str, (run, records): (RunRecord, Vec<StepRecord>)) {
    let now = Timestamp::now();
    let build = median(5, || {
        std::hint::black_box(report::build(&run, &records, &[], audit(), now));
    });
    let built = report::build(&run, &records, &[], audit(), now);
    assert!(built.dag.problem.is_none(), "{:?}", built.dag.problem);
    let mut html_len = 0;
    let html = median(5, || html_len = report::html::render(&built).len());
    let mut md_len = 0;
    let md = median(5, || md_len = report::markdown::render(&built).len());
    let mut json_len = 0;
    let json = median(5, || {
        json_len = serde_json::to_string(&built).unwrap().len()
    });
    println!(
        "{name:<28} build {:>7.1} ms | html {:>6.1} ms ({:>5} KiB) | md {:>6.1} ms ({:>5} KiB) | json {:>6.1} ms ({:>5} KiB)",
        build.as_secs_f64() * 1e3,
        html.as_secs_f64() * 1e3,
        html_len / 1024,
        md.as_secs_f64() * 1e3,
        md_len / 1024,
        json.as_secs_f64() * 1e3,
        json_len / 1024,
    );
}

fn main() {
    measure("chain of 1,000 steps", chain(1_000));
    measure("for_each over 10,000 items", fan_out(10_000));
}
