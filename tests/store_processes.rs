//! The store across real processes: a run database survives SIGKILL with every acknowledged
//! commit (also while it is being aged), a held run database and held locks are refused to other processes, run keys yield one
//! run when claimed concurrently, and concurrent audit appends from several processes keep one
//! intact chain.
//!
//! Child processes are this test executable itself, started with `DRBOOK_STORE_CHILD` set and
//! filtered to the ignored `child_process_entry_point` helper.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests unwrap what they just built"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use drbook::store::audit::{AuditEvent, AuditKind, AuditLog, Verification};
use drbook::store::locks::{Acquired, Locks};
use drbook::store::records::{EventRecord, RunRecord, RunStatus, StepKey, StepRecord, StepStatus};
use drbook::store::run_keys::{Claim, RunKeys};
use drbook::store::{Batch, DataDir, Error, RunId, SledStore, Store};
use jiff::Timestamp;
use serde_json::json;

const CHILD_ENV: &str = "DRBOOK_STORE_CHILD";
const LINE_PREFIX: &str = "CHILD:";

fn sample_run(run_id: RunId) -> RunRecord {
    RunRecord {
        run_id,
        runbook_name: "crash".into(),
        runbook_path: "crash.yaml".into(),
        runbook_digest: drbook::store::records::sha256_hex(b""),
        runbook_source: String::new(),
        mode: "failover".into(),
        params: Default::default(),
        secret_params: Vec::new(),
        status: RunStatus::Running,
        run_key: None,
        actor: "test".into(),
        dry_run: false,
        endpoint: "none".into(),
        created_at: Timestamp::now(),
        started_at: None,
        ended_at: None,
        attempt: 1,
        error: None,
        locks: vec!["pg-crash".into()],
        deadline: None,
    }
}

/// A child process running `mode` against `data_dir`.
struct ChildProcess {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl ChildProcess {
    fn spawn(mode: &str, data_dir: &std::path::Path, extra: &[(&str, String)]) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "child_process_entry_point",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, mode)
            .env("DRBOOK_TEST_DATA_DIR", data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next line the child reported (without the prefix); `None` when it exited.
    fn next(&mut self) -> Option<String> {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            // libtest prints "test child_process_entry_point ... " without a newline before the
            // test's own output, so the report may start in the middle of a line.
            if let Some(start) = line.find(LINE_PREFIX) {
                return Some(line[start + LINE_PREFIX.len()..].to_owned());
            }
        }
        None
    }

    fn expect(&mut self, expected: &str) {
        assert_eq!(self.next().as_deref(), Some(expected));
    }

    /// SIGKILL (on Unix, `Child::kill` sends SIGKILL: no destructor, no flush runs).
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
}

fn report(line: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{LINE_PREFIX}{line}").unwrap();
    stdout.flush().unwrap();
}

/// Not a test: the body of the child processes the tests below start.
#[test]
#[ignore = "entry point of child processes, started by the other tests"]
fn child_process_entry_point() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let data = DataDir::new(std::env::var("DRBOOK_TEST_DATA_DIR").unwrap());
    let env_run_id = || -> RunId {
        std::env::var("DRBOOK_TEST_RUN_ID")
            .unwrap()
            .parse()
            .unwrap()
    };
    match mode.as_str() {
        // Commits one step and one event after another until killed.
        "commit-forever" => {
            let run_id = env_run_id();
            let store = SledStore::open(&data, run_id).unwrap();
            let locks = Locks::open(&data).unwrap();
            locks.acquire("pg-crash", run_id).unwrap();
            report("driving");
            let start = store.load_steps().unwrap().len();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                for n in start.. {
                    let mut step = StepRecord::pending(&StepKey::item("s", n));
                    step.status = StepStatus::Succeeded;
                    let mut batch = Batch::new();
                    batch.put_step(&step).append_event(&EventRecord {
                        time: Timestamp::now(),
                        kind: "step.status".into(),
                        step: Some(step.key().to_string()),
                        data: json!({ "n": n }),
                    });
                    store.commit(batch).await.unwrap();
                    report(format!("committed {n}"));
                }
            });
        }
        // Appends entries to the shared audit log, then reports.
        "audit" => {
            let count: u64 = std::env::var("DRBOOK_TEST_COUNT").unwrap().parse().unwrap();
            let log = AuditLog::open(&data).unwrap();
            for n in 0..count {
                log.append_blocking(AuditEvent {
                    actor: format!("pid-{}", std::process::id()),
                    kind: AuditKind::OperatorVerb,
                    run_id: None,
                    data: json!({ "n": n }),
                })
                .unwrap();
            }
            report("appended");
        }
        // Claims a run key for a fresh run, waiting for the parent's go so that all children race.
        "claim" => {
            let keys = RunKeys::open(&data).unwrap();
            let run_id = RunId::new();
            report("ready");
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
            match keys.claim("change-4711", run_id).unwrap() {
                Claim::Claimed => report(format!("claimed {run_id}")),
                Claim::Existing(existing) => report(format!("existing {existing}")),
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// A new run's database, created and closed, in a fresh data directory.
fn closed_run() -> (tempfile::TempDir, DataDir, RunId) {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    SledStore::create(&data, &sample_run(run_id))
        .unwrap()
        .close()
        .unwrap();
    (temp, data, run_id)
}

/// Checks that the steps a "commit-forever" child acknowledged up to `acknowledged` (and their
/// events, numbered without gaps) are all in `store`; returns the number of steps it holds.
fn assert_acknowledged_kept(store: &SledStore, acknowledged: usize, context: &str) -> usize {
    let steps = store.load_steps().unwrap();
    for n in 0..=acknowledged {
        assert!(
            store.get_step(&StepKey::item("s", n)).unwrap().is_some(),
            "{context}: acknowledged step {n} lost"
        );
    }
    let events = store.load_events(0).unwrap();
    assert_eq!(
        events.len(),
        steps.len(),
        "{context}: one event per committed step"
    );
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1),
        "{context}: event numbers stay gap-free across crashes"
    );
    steps.len()
}

#[test]
fn every_acknowledged_commit_survives_sigkill_and_the_run_resumes() {
    let (temp, data, run_id) = closed_run();
    let env = [("DRBOOK_TEST_RUN_ID", run_id.to_string())];

    let mut acknowledged = 0;
    for round in 0..3 {
        let mut child = ChildProcess::spawn("commit-forever", temp.path(), &env);
        child.expect("driving");

        // While the child drives the run, nobody else may: not its database, not its lock.
        let error = SledStore::open(&data, run_id).unwrap_err();
        assert!(matches!(error, Error::InUse { .. }), "{error:?}");
        let error = Locks::open(&data)
            .unwrap()
            .acquire("pg-crash", RunId::new())
            .unwrap_err();
        assert!(
            matches!(&error, Error::Locked { holder, .. } if *holder == run_id.to_string()),
            "{error:?}"
        );

        let target = acknowledged + 40;
        loop {
            let line = child.next().expect("child exited early");
            let n: usize = line.strip_prefix("committed ").unwrap().parse().unwrap();
            if n >= target {
                acknowledged = n;
                break;
            }
        }
        // Killed while it keeps committing: most likely in the middle of a commit.
        child.kill();

        let store = SledStore::open(&data, run_id).unwrap();
        let steps = assert_acknowledged_kept(&store, acknowledged, &format!("round {round}"));
        acknowledged = steps - 1;
        store.close().unwrap();

        // The lock outlived the process, for the resumed run only.
        let locks = Locks::open(&data).unwrap();
        assert_eq!(
            locks.acquire("pg-crash", run_id).unwrap(),
            Acquired::AlreadyOurs
        );
    }
}

#[test]
fn concurrent_run_key_claims_from_several_processes_yield_one_run() {
    let temp = tempfile::tempdir().unwrap();
    let mut children: Vec<ChildProcess> = (0..4)
        .map(|_| ChildProcess::spawn("claim", temp.path(), &[]))
        .collect();
    for child in &mut children {
        child.expect("ready");
    }
    for child in &mut children {
        let stdin = child.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
    let mut claimed = Vec::new();
    let mut existing = Vec::new();
    for mut child in children {
        let line = child.next().unwrap();
        let (outcome, id) = line.split_once(' ').unwrap();
        let id: RunId = id.parse().unwrap();
        match outcome {
            "claimed" => claimed.push(id),
            "existing" => existing.push(id),
            other => panic!("unexpected {other}"),
        }
        child.finish();
    }
    assert_eq!(claimed.len(), 1, "claimed by {claimed:?}");
    assert!(existing.iter().all(|id| *id == claimed[0]));
    let keys = RunKeys::open(&DataDir::new(temp.path())).unwrap();
    assert_eq!(keys.get("change-4711").unwrap(), Some(claimed[0]));
}

#[test]
fn concurrent_audit_appends_from_several_processes_keep_one_chain() {
    let temp = tempfile::tempdir().unwrap();
    let count = 150u64;
    let children: Vec<ChildProcess> = (0..3)
        .map(|_| {
            ChildProcess::spawn(
                "audit",
                temp.path(),
                &[("DRBOOK_TEST_COUNT", count.to_string())],
            )
        })
        .collect();
    for mut child in children {
        child.expect("appended");
        child.finish();
    }
    let log = AuditLog::open(&DataDir::new(temp.path())).unwrap();
    match log.verify(None).unwrap() {
        Verification::Intact { entries, .. } => assert_eq!(entries, 3 * count),
        broken => panic!("{broken:?}"),
    }
}

#[test]
fn a_kill_while_the_run_database_is_aged_loses_nothing_and_the_run_goes_on() {
    // The child reports commit number n + 1 as "committed n"; aging follows the due commit.
    let last_before_aging = usize::try_from(drbook::store::AGE_AFTER_COMMITS).unwrap() - 1;
    // Killed once the data file grew this much after the due commit: while the throw-away
    // entries are written and flushed (aging writes ~6 MiB), while their tree is dropped, or
    // at once.
    for grown_kib in [0u64, 256, 1024, 2048, 3072, 4096, 5120, 6144] {
        let (temp, data, run_id) = closed_run();
        let data_file = data.run_dir(&run_id).join("db");
        let env = [("DRBOOK_TEST_RUN_ID", run_id.to_string())];
        let mut child = ChildProcess::spawn("commit-forever", temp.path(), &env);
        child.expect("driving");
        loop {
            let line = child.next().expect("child exited early");
            let n: usize = line.strip_prefix("committed ").unwrap().parse().unwrap();
            if n == last_before_aging {
                break;
            }
        }
        let before = std::fs::metadata(&data_file).unwrap().len();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&data_file).unwrap().len() < before + grown_kib * 1024
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        child.kill();

        let store = SledStore::open(&data, run_id).unwrap();
        assert_acknowledged_kept(
            &store,
            last_before_aging,
            &format!("killed {grown_kib} KiB into aging"),
        );
        // The run goes on.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut step = StepRecord::pending(&StepKey::single("after"));
        step.status = StepStatus::Succeeded;
        let mut batch = Batch::new();
        batch.put_step(&step);
        runtime.block_on(store.commit(batch)).unwrap();
        store.close().unwrap();
        let store = SledStore::open(&data, run_id).unwrap();
        assert!(store.get_step(&StepKey::single("after")).unwrap().is_some());
        store.close().unwrap();
        // Nothing of the aging is left once the run was opened again. (sled's I/O threads may
        // hold the file a moment after the close.)
        let reopen_deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match sled::open(data.run_dir(&run_id)) {
                Ok(db) => break db,
                Err(error)
                    if error.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < reopen_deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(error) => panic!("sled cannot open the run: {error}"),
            }
        };
        assert!(
            !db.tree_names()
                .iter()
                .any(|name| name.as_ref() == b"drbook-aging"),
            "killed {grown_kib} KiB into aging: the aging tree is still there"
        );
    }
}
