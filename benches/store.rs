//! Store throughput against raw sled loops, side by side in one run.
//!
//! ```text
//! cargo bench --bench store                       # ~5 s per configuration, ~35 s in total
//! DRBOOK_BENCH_SECS=20 cargo bench --bench store  # longer, steadier figures
//! ```
//!
//! Every operation writes one encoded step record (~250 bytes) and is durable when it completes:
//! sled `flush()` plus `fdatasync` of the data file. The raw loops are the ceilings the engine's
//! targets are expressed against: a sequential chain must reach 80 % of the raw one-at-a-time
//! loop, and a fan-out 80 % of the 64 raw writers sharing flushes. The audit log's appends (one
//! `fdatasync` of a plain file per group) are shown against the same ceilings for reference.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark aborts on any failure"
)]

#[path = "common/raw_sled.rs"]
mod raw_sled;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drbook::store::audit::{AuditEvent, AuditKind, AuditLog};
use drbook::store::records::{
    Attempt, AttemptOutcome, RunRecord, RunStatus, StepKey, StepRecord, StepStatus,
};
use drbook::store::{Batch, DataDir, RunId, SledStore, Store};
use jiff::Timestamp;
use raw_sled::RawSled;

fn step(n: usize) -> StepRecord {
    let mut step = StepRecord::pending(&StepKey::item("stop_servers", n));
    step.status = StepStatus::Succeeded;
    step.started_at = Some(Timestamp::now());
    step.ended_at = Some(Timestamp::now());
    step.attempts.push(Attempt {
        number: 1,
        started_at: Timestamp::now(),
        ended_at: Some(Timestamp::now()),
        outcome: AttemptOutcome::Succeeded,
        error_code: None,
        message: None,
    });
    step.job_id = Some("2c9eb2c37c9b4e9c017c9c1d2e3f0a11".into());
    step.outputs = Some(serde_json::json!({ "server_id": "9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b" }));
    step
}

fn encoded_step(n: usize) -> Vec<u8> {
    serde_json::to_vec(&step(n)).unwrap()
}

fn run_record(run_id: RunId) -> RunRecord {
    RunRecord {
        run_id,
        runbook_name: "bench".into(),
        runbook_path: "bench.yaml".into(),
        runbook_digest: drbook::store::records::sha256_hex(b""),
        runbook_source: String::new(),
        mode: "drill".into(),
        params: Default::default(),
        secret_params: Vec::new(),
        status: RunStatus::Running,
        run_key: None,
        actor: "bench".into(),
        dry_run: false,
        endpoint: "none".into(),
        created_at: Timestamp::now(),
        started_at: None,
        ended_at: None,
        attempt: 1,
        error: None,
        locks: Vec::new(),
        deadline: None,
    }
}

/// One of the measured configurations; each `run_for` adds to its totals.
trait Workload {
    /// Runs for about `duration`; returns the number of durable operations completed.
    fn run_for(&mut self, runtime: &tokio::runtime::Runtime, duration: Duration) -> u64;
}

/// The raw loops live in a module shared with the engine's benchmark.
impl Workload for RawSled {
    fn run_for(&mut self, runtime: &tokio::runtime::Runtime, duration: Duration) -> u64 {
        self.write_for(runtime, duration)
    }
}

/// `SledStore::commit` of one step record per batch from `tasks` concurrent tasks (1 = a
/// sequential chain).
struct Commits {
    store: Arc<SledStore>,
    tasks: usize,
    next: Arc<AtomicU64>,
}

impl Commits {
    fn new(dir: &Path, tasks: usize) -> Self {
        let data = DataDir::new(dir);
        Self {
            store: Arc::new(SledStore::create(&data, &run_record(RunId::new())).unwrap()),
            tasks,
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Workload for Commits {
    fn run_for(&mut self, runtime: &tokio::runtime::Runtime, duration: Duration) -> u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        runtime.block_on(async {
            let handles: Vec<_> = (0..self.tasks)
                .map(|_| {
                    let (store, next) = (self.store.clone(), self.next.clone());
                    let (stop, ops) = (stop.clone(), ops.clone());
                    tokio::spawn(async move {
                        let mut record = step(0);
                        while !stop.load(Ordering::Relaxed) {
                            // A distinct key per commit, as distinct steps would have.
                            record.item = Some(next.fetch_add(1, Ordering::Relaxed) as usize);
                            let mut batch = Batch::new();
                            batch.put_step(&record);
                            store.commit(batch).await.unwrap();
                            ops.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
            for handle in handles {
                handle.await.unwrap();
            }
        });
        ops.load(Ordering::Relaxed)
    }
}

/// `AuditLog::append` of one ~200 byte entry from `tasks` concurrent tasks.
struct Appends {
    log: Arc<AuditLog>,
    tasks: usize,
}

impl Workload for Appends {
    fn run_for(&mut self, runtime: &tokio::runtime::Runtime, duration: Duration) -> u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        runtime.block_on(async {
            let handles: Vec<_> = (0..self.tasks)
                .map(|_| {
                    let log = self.log.clone();
                    let (stop, ops) = (stop.clone(), ops.clone());
                    tokio::spawn(async move {
                        let run_id = RunId::new();
                        while !stop.load(Ordering::Relaxed) {
                            log.append(AuditEvent {
                                actor: "bench".into(),
                                kind: AuditKind::SdrsRequest,
                                run_id: Some(run_id),
                                data: serde_json::json!({
                                    "operation": "failover_protection_group",
                                    "protection_group_id": "a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                                }),
                            })
                            .await
                            .unwrap();
                            ops.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
            for handle in handles {
                handle.await.unwrap();
            }
        });
        ops.load(Ordering::Relaxed)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options to parse.
    let seconds: f64 = std::env::var("DRBOOK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    // Each configuration runs in one-second slices, interleaved with the others, so that load
    // from other processes on this shared machine hits every configuration alike.
    let slices = seconds.ceil().max(1.0) as u32;
    let slice = Duration::from_secs_f64(seconds / f64::from(slices));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // On the machine's disk (not a tmpfs), so that fdatasync costs what it costs in production.
    let base = tempfile::Builder::new()
        .prefix("drbook-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let fresh = |name: &str| {
        let dir = base.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    println!(
        "store benchmark: {seconds} s per configuration in {slices} interleaved slices; \
         one {} byte step record per durable operation",
        encoded_step(0).len()
    );
    let mut workloads: Vec<(&str, Box<dyn Workload>, Option<usize>)> = vec![
        (
            "raw sled insert+flush+fdatasync, sequential",
            Box::new(RawSled::new(&fresh("raw-1"), 1, encoded_step(0))),
            None,
        ),
        (
            "raw sled, 64 tasks sharing flushes",
            Box::new(RawSled::new(&fresh("raw-64"), 64, encoded_step(0))),
            None,
        ),
        (
            "SledStore::commit, sequential",
            Box::new(Commits::new(&fresh("store-1"), 1)),
            Some(0),
        ),
        (
            "SledStore::commit, 64 concurrent tasks",
            Box::new(Commits::new(&fresh("store-64"), 64)),
            Some(1),
        ),
        (
            "SledStore::commit, 1,000 concurrent tasks",
            Box::new(Commits::new(&fresh("store-1000"), 1000)),
            Some(1),
        ),
        (
            "AuditLog::append, sequential",
            Box::new(Appends {
                log: Arc::new(AuditLog::at(fresh("audit-1").join("audit.jsonl")).unwrap()),
                tasks: 1,
            }),
            Some(0),
        ),
        (
            "AuditLog::append, 64 concurrent tasks",
            Box::new(Appends {
                log: Arc::new(AuditLog::at(fresh("audit-64").join("audit.jsonl")).unwrap()),
                tasks: 64,
            }),
            Some(1),
        ),
    ];
    let mut totals = vec![(0u64, Duration::ZERO); workloads.len()];
    for _ in 0..slices {
        for ((_, workload, _), total) in workloads.iter_mut().zip(totals.iter_mut()) {
            let start = Instant::now();
            total.0 += workload.run_for(&runtime, slice);
            total.1 += start.elapsed();
        }
    }
    let rates: Vec<f64> = totals
        .iter()
        .map(|(ops, elapsed)| *ops as f64 / elapsed.as_secs_f64())
        .collect();
    for (index, (name, _, baseline)) in workloads.iter().enumerate() {
        let rate = rates[index];
        match baseline {
            None => println!("{name:<44} {rate:>9.0} ops/s"),
            Some(raw) => println!(
                "{name:<44} {rate:>9.0} ops/s  {:>5.0} % of {}",
                100.0 * rate / rates[*raw],
                workloads[*raw].0
            ),
        }
    }
}
