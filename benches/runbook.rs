//! Parse + validate + plan a generated 5,000-step runbook (fan-out, templates, needs) and print
//! the time (median of several runs) and the peak memory.
//!
//! Run with `cargo bench --bench runbook`. Peak RSS is measured in a child process (this
//! binary started again with `DRBOOK_BENCH_CHILD=1`), which runs the pipeline once and reads
//! `VmHWM` from `/proc/self/status`, so that the timing runs do not inflate it. Targets: under
//! 100 ms and under 64 MiB on the 2-core CI machine.

#![allow(
    clippy::expect_used,
    reason = "a benchmark that cannot build its input has nothing to measure; it stops"
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use drbook::engine::catalog::Catalog;
use drbook::runbook::{self, Mode, ParamValues, Plan, Source};

const STEPS: usize = 5_000;
const RUNS: usize = 15;

/// A runbook of `STEPS` steps in blocks of ten: a head that reads the protection group (and
/// needs the previous block's tail), eight steps that need the head and read its outputs
/// (every other one fans out over the servers with `item` and `index`), and a tail that needs
/// all eight. Every step has templated inputs.
fn generate() -> String {
    let mut y = String::with_capacity(1024 * 1024);
    y.push_str(
        "name: bench\nmodes: [planned-failover, failover]\nlocks: [\"{{ params.server_group_id }}\"]\nparams:\n  \
         server_group_id: {type: string, default: pg-web-0001}\n  \
         servers: {type: list, default: [ecs-web-01, ecs-web-02, ecs-db-01]}\n  \
         prefix: {type: string, default: bench}\nsteps:\n",
    );
    for block in 0..STEPS / 10 {
        let head = block * 10;
        let needs = if block == 0 {
            String::new()
        } else {
            format!(", needs: [s{}]", head - 1)
        };
        let _ = writeln!(
            y,
            "- {{id: s{head}, action: sdrs.protection_group.show{needs}, with: {{server_group_id: \"{{{{ params.server_group_id }}}}\"}}, outputs: {{status: $.server_group.status, ids: \"$.items[*].id\"}}}}"
        );
        for k in 1..9 {
            let id = head + k;
            if k % 2 == 0 {
                let _ = writeln!(
                    y,
                    "- {{id: s{id}, action: ecs.server.show, needs: [s{head}], for_each: {{items: \"{{{{ params.servers }}}}\", concurrency: 2}}, with: {{server_id: \"{{{{ item }}}}-{{{{ index }}}}\"}}, outputs: {{st: $.server.status}}}}"
                );
            } else {
                let _ = writeln!(
                    y,
                    "- {{id: s{id}, action: log, needs: [s{head}], when: \"{{{{ eq steps.s{head}.outputs.status 'protected' }}}}\", with: {{message: \"{{{{ params.prefix }}}}-{{{{ steps.s{head}.outputs.status }}}}\"}}}}"
                );
            }
        }
        let tail = head + 9;
        let inner: Vec<String> = (head + 1..tail).map(|i| format!("s{i}")).collect();
        let _ = writeln!(
            y,
            "- {{id: s{tail}, action: log, needs: [{}], with: {{message: \"{{{{ len steps.s{}.outputs.st }}}} {{{{ steps.s{head}.status }}}}\"}}}}",
            inner.join(", "),
            head + 2
        );
    }
    y
}

/// One full pass: parse, validate, plan. Returns what it built, so that the caller can stop its
/// clock before the runbook and the plan are freed (freeing is not part of planning).
fn pipeline(text: &str) -> (runbook::Runbook, Plan) {
    let catalog = Catalog::global();
    let source =
        Source::new("bench.yaml", text).expect("the generated runbook fits the size limit");
    let runbook = match runbook::check(&source, catalog) {
        Ok(runbook) => runbook,
        Err(d) => panic!("the generated runbook is invalid: {d}"),
    };
    let params = ParamValues::from_args(&runbook, &[]).expect("defaults cover every param");
    let plan = Plan::new(&runbook, Some(Mode::Failover), &params, catalog).expect("plan");
    assert_eq!(plan.steps.len(), STEPS);
    (runbook, plan)
}

/// CPU time this thread has used, in nanoseconds (`/proc/thread-self/schedstat`). Unlike wall
/// time it does not count the time other processes on the shared machine hold the cores.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    if std::env::var_os("DRBOOK_BENCH_CHILD").is_some() {
        let before = vm_hwm_kib().unwrap_or(0);
        let text = generate();
        let (_runbook, plan) = pipeline(&text);
        let waves = plan.waves.len();
        let after = vm_hwm_kib().unwrap_or(0);
        println!("{before} {after} {waves}");
        return;
    }
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let text = generate();
    println!(
        "runbook: {STEPS} steps, {} bytes ({:.0}% of the 1 MiB limit)",
        text.len(),
        text.len() as f64 * 100.0 / runbook::MAX_RUNBOOK_BYTES as f64
    );
    let catalog_start = Instant::now();
    let _ = Catalog::global();
    println!(
        "catalog build (once per process): {:?}",
        catalog_start.elapsed()
    );

    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut cpu: Vec<u64> = Vec::with_capacity(RUNS);
    let mut waves = 0;
    for _ in 0..RUNS {
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let built = pipeline(&text);
        times.push(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
            cpu.push(b.saturating_sub(a));
        }
        waves = built.1.waves.len();
        drop(built);
    }
    cpu.sort_unstable();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[RUNS / 2];
    println!(
        "parse + validate + plan ({waves} waves): median {:.1} ms, min {:.1} ms, max {:.1} ms over {RUNS} runs (target < 100 ms)",
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    if cpu.len() == RUNS {
        println!(
            "CPU time per pass (this thread only): median {:.1} ms, min {:.1} ms",
            cpu[RUNS / 2] as f64 / 1e6,
            cpu[0] as f64 / 1e6
        );
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let one_minute = load.split_whitespace().next().unwrap_or("?");
        println!(
            "machine load average (1 min) during the run: {one_minute} on {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }

    let phases = {
        let catalog = Catalog::global();
        let t0 = Instant::now();
        let source = Source::new("bench.yaml", text.as_str()).expect("fits");
        let runbook = runbook::check(&source, catalog).expect("valid");
        let t1 = Instant::now();
        let params = ParamValues::from_args(&runbook, &[]).expect("params");
        let _plan = Plan::new(&runbook, Some(Mode::Failover), &params, catalog).expect("plan");
        let t2 = Instant::now();
        (t1 - t0, t2 - t1)
    };
    println!(
        "one run split: parse + validate {:.1} ms, plan {:.1} ms",
        ms(phases.0),
        ms(phases.1)
    );

    match std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .env("DRBOOK_BENCH_CHILD", "1")
            .output()
    }) {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let nums: Vec<u64> = text
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            if let [before, after, _] = nums.as_slice() {
                println!(
                    "peak RSS (child process, one full pass): {:.1} MiB (process baseline {:.1} MiB; target < 64 MiB)",
                    *after as f64 / 1024.0,
                    *before as f64 / 1024.0
                );
            } else {
                println!("peak RSS: unreadable child output {text:?}");
            }
        }
        Ok(out) => println!(
            "peak RSS: child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("peak RSS: cannot start child: {e}"),
    }
}
