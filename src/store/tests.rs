//! Tests of the [`Store`] contract, run against both implementations, and of the sled
//! implementation's durability and error handling.

#![allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]

use std::collections::BTreeMap;
use std::fs;

use jiff::Timestamp;
use serde_json::json;

use super::records::{EventRecord, RunStatus, StepStatus};
use super::*;
use super::{aging, batch, commit_log, journal};

fn sample_run(run_id: RunId) -> RunRecord {
    RunRecord {
        run_id,
        runbook_name: "dr-drill".into(),
        runbook_path: "runbooks/dr-drill.yaml".into(),
        runbook_digest: records::sha256_hex(b"steps: []"),
        runbook_source: "steps: []".into(),
        mode: "drill".into(),
        params: BTreeMap::from([
            ("group".to_owned(), json!("pg-1")),
            ("admin_pass".to_owned(), json!(redact::REDACTED)),
        ]),
        secret_params: vec!["admin_pass".into()],
        status: RunStatus::Pending,
        run_key: Some("change-4711".into()),
        actor: "alice".into(),
        dry_run: false,
        endpoint: "emulator".into(),
        created_at: Timestamp::now(),
        started_at: None,
        ended_at: None,
        attempt: 1,
        error: None,
        locks: vec!["pg-1".into()],
        deadline: None,
    }
}

fn step(id: &str, item: Option<usize>, status: StepStatus) -> StepRecord {
    let key = StepKey {
        step_id: id.into(),
        item,
    };
    let mut record = StepRecord::pending(&key);
    record.status = status;
    record
}

fn event(kind: &str, n: u64) -> EventRecord {
    EventRecord {
        time: Timestamp::now(),
        kind: kind.into(),
        step: None,
        data: json!({ "n": n }),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The contract every store implements.
async fn exercise_contract<S: Store>(store: &S) {
    let run_id = store.run_id();
    assert_eq!(store.load_run().unwrap().run_id, run_id);
    assert!(store.load_steps().unwrap().is_empty());
    assert!(store.load_events(0).unwrap().is_empty());

    // A batch is applied as a whole.
    let mut run = store.load_run().unwrap();
    run.status = RunStatus::Running;
    let mut batch = Batch::new();
    batch
        .put_run(&run)
        .put_step(&step("a", None, StepStatus::Running))
        .put_step(&step("b", Some(2), StepStatus::Pending))
        .put_step(&step("b", Some(10), StepStatus::Pending))
        .append_event(&event("run.status", 1))
        .append_event(&event("step.status", 2));
    store.commit(batch).await.unwrap();
    assert_eq!(store.load_run().unwrap().status, RunStatus::Running);
    let keys: Vec<String> = store
        .load_steps()
        .unwrap()
        .iter()
        .map(|s| s.key().to_string())
        .collect();
    assert_eq!(keys, ["a", "b[10]", "b[2]"]);
    assert_eq!(
        store
            .get_step(&StepKey::item("b", 2))
            .unwrap()
            .unwrap()
            .status,
        StepStatus::Pending
    );
    assert_eq!(store.get_step(&StepKey::single("zzz")).unwrap(), None);

    // Replace and delete.
    let mut batch = Batch::new();
    batch
        .put_step(&step("a", None, StepStatus::Succeeded))
        .delete_step(&StepKey::item("b", 10))
        .append_event(&event("step.status", 3));
    store.commit(batch).await.unwrap();
    assert_eq!(
        store
            .get_step(&StepKey::single("a"))
            .unwrap()
            .unwrap()
            .status,
        StepStatus::Succeeded
    );
    assert_eq!(store.get_step(&StepKey::item("b", 10)).unwrap(), None);

    // Events are numbered from 1 without gaps; `since` is exclusive.
    let events = store.load_events(0).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(events[2].event.data, json!({"n": 3}));
    let later: Vec<u64> = store
        .load_events(2)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(later, [3]);
    assert!(store.load_events(3).unwrap().is_empty());
    assert!(store.load_events(u64::MAX).unwrap().is_empty());

    // An empty batch is a no-op; a batch for another run is refused before anything is written.
    store.commit(Batch::new()).await.unwrap();
    let mut wrong = Batch::new();
    wrong
        .put_step(&step("c", None, StepStatus::Pending))
        .put_run(&sample_run(RunId::new()));
    let error = store.commit(wrong).await.unwrap_err();
    assert!(matches!(error, Error::WrongRun { .. }), "{error:?}");
    assert_eq!(store.get_step(&StepKey::single("c")).unwrap(), None);

    // Concurrent commits each land, and event numbers stay gap-free.
    let commits = (0..200u64).map(|n| async move {
        let mut batch = Batch::new();
        batch
            .put_step(&step("fan", Some(n as usize), StepStatus::Succeeded))
            .append_event(&event("step.status", 100 + n));
        store.commit(batch).await
    });
    for result in futures_join_all(commits).await {
        result.unwrap();
    }
    let events = store.load_events(0).unwrap();
    assert_eq!(events.len(), 203);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1)
    );
    assert_eq!(
        store
            .load_steps()
            .unwrap()
            .iter()
            .filter(|s| s.step_id == "fan")
            .count(),
        200
    );
}

/// Runs futures concurrently on the current task (no extra dependency for `join_all`).
async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[test]
fn memory_store_keeps_the_contract() {
    let store = MemoryStore::new(&sample_run(RunId::new())).unwrap();
    runtime().block_on(exercise_contract(&store));
    assert!(store.commits() > 0);
}

#[test]
fn sled_store_keeps_the_contract() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    runtime().block_on(exercise_contract(&store));
}

#[test]
fn reopen_after_drop_sees_everything_committed() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run = sample_run(RunId::new());
    let rt = runtime();
    {
        let store = SledStore::create(&data, &run).unwrap();
        rt.block_on(async {
            for n in 0..50 {
                let mut batch = Batch::new();
                batch
                    .put_step(&step("s", Some(n), StepStatus::Succeeded))
                    .append_event(&event("step.status", n as u64));
                store.commit(batch).await.unwrap();
            }
        });
        // Dropped without close.
    }
    let store = SledStore::open(&data, run.run_id).unwrap();
    assert_eq!(store.load_run().unwrap(), run);
    assert_eq!(store.load_steps().unwrap().len(), 50);
    assert_eq!(store.load_events(0).unwrap().len(), 50);
    // Event numbering continues after a reopen.
    rt.block_on(async {
        let mut batch = Batch::new();
        batch.append_event(&event("run.resumed", 0));
        store.commit(batch).await.unwrap();
    });
    assert_eq!(store.load_events(50).unwrap()[0].seq, 51);
    store.close().unwrap();
    assert_eq!(data.list_runs().unwrap(), vec![run.run_id]);
}

#[test]
fn a_second_handle_on_a_run_is_refused_as_in_use() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let error = SledStore::open(&data, run_id).unwrap_err();
    assert!(
        matches!(&error, Error::InUse { run_id: id, .. } if *id == run_id.to_string()),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("is being driven by another drbook process"),
        "{error}"
    );
    store.close().unwrap();
    SledStore::open(&data, run_id).unwrap().close().unwrap();
}

#[test]
fn reopening_a_run_this_process_let_go_of_waits_for_the_lock_to_be_let_go() {
    let (_temp, data, run_id) = closed_run();
    // Stands for sled's I/O threads still holding the file after the store was closed.
    let holder = fs::File::open(data.run_dir(&run_id).join("db")).unwrap();
    holder.try_lock().unwrap();
    let released = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let letting_go = std::time::Instant::now();
        drop(holder);
        letting_go
    });
    let reopened = SledStore::open(&data, run_id);
    let returned = std::time::Instant::now();
    reopened.unwrap().close().unwrap();
    assert!(
        returned >= released.join().unwrap(),
        "returned while the lock was held"
    );
}

#[test]
fn a_run_held_open_is_refused_at_once_even_just_after_a_release() {
    let (_temp, data, run_id) = closed_run();
    let store = SledStore::open(&data, run_id).unwrap();
    let began = std::time::Instant::now();
    let second = SledStore::open(&data, run_id).unwrap_err();
    assert!(matches!(second, Error::InUse { .. }), "{second}");
    assert!(
        began.elapsed() < super::sled_store::lingering::LINGER,
        "the open waited for a live holder as if it were a lingering release"
    );
    store.close().unwrap();
}

#[test]
fn creating_an_existing_run_or_opening_a_missing_one_fails_clearly() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run = sample_run(RunId::new());
    SledStore::create(&data, &run).unwrap().close().unwrap();
    let error = SledStore::create(&data, &run).unwrap_err();
    assert!(matches!(error, Error::RunExists { .. }), "{error:?}");
    let error = SledStore::open(&data, RunId::new()).unwrap_err();
    assert!(matches!(error, Error::RunNotFound { .. }), "{error:?}");
}

#[test]
fn an_interrupted_creation_leaves_no_run_behind() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run = sample_run(RunId::new());
    // What a creator killed before the rename leaves behind.
    let staging = data.runs_dir().join(format!(".creating-{}", run.run_id));
    fs::create_dir_all(staging.join("blobs")).unwrap();
    fs::write(staging.join("db"), b"partial").unwrap();
    assert!(data.list_runs().unwrap().is_empty());
    let store = SledStore::create(&data, &run).unwrap();
    assert_eq!(store.load_run().unwrap(), run);
    assert!(!staging.exists());
}

/// Opens `run_id` in `data`, containing any panic so the test reports it as such.
fn open_result(data: &DataDir, run_id: RunId) -> Result<SledStore> {
    std::panic::catch_unwind(|| SledStore::open(data, run_id))
        .unwrap_or_else(|_| panic!("SledStore::open panicked instead of returning an error"))
}

#[test]
fn a_foreign_sled_database_is_recognised() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let dir = data.run_dir(&run_id);
    {
        let db = raw_db(&dir);
        db.insert(b"users/1", b"bob".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let error = open_result(&data, run_id).unwrap_err();
    assert!(
        matches!(&error, Error::Foreign { reason, .. } if reason.contains("no drbook-store marker")),
        "{error:?}"
    );

    // A `meta` key that is not ours.
    {
        let db = raw_db(&dir);
        db.insert(b"meta", b"{\"version\":3}".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let error = open_result(&data, run_id).unwrap_err();
    assert!(matches!(error, Error::Foreign { .. }), "{error:?}");

    // A directory without a database at all.
    let other = RunId::new();
    fs::create_dir_all(data.run_dir(&other)).unwrap();
    fs::write(data.run_dir(&other).join("notes.txt"), "hello").unwrap();
    let error = open_result(&data, other).unwrap_err();
    assert!(matches!(error, Error::Foreign { .. }), "{error:?}");
    assert!(
        !data.run_dir(&other).join("db").exists(),
        "opening must not create a database"
    );
}

#[test]
fn a_database_moved_to_another_runs_directory_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let (a, b) = (RunId::new(), RunId::new());
    SledStore::create(&data, &sample_run(a))
        .unwrap()
        .close()
        .unwrap();
    fs::create_dir_all(data.runs_dir()).unwrap();
    fs::rename(data.run_dir(&a), data.run_dir(&b)).unwrap();
    let error = open_result(&data, b).unwrap_err();
    assert!(
        matches!(&error, Error::Foreign { reason, .. } if reason.contains(&a.to_string())),
        "{error:?}"
    );
}

#[test]
fn records_of_a_newer_format_are_refused_on_open() {
    let (_temp, data, run_id) = closed_run();
    {
        let db = raw_db(&data.run_dir(&run_id));
        let run = db.get(b"run").unwrap().unwrap();
        let mut envelope: serde_json::Value = serde_json::from_slice(&run).unwrap();
        envelope["format"] = json!(FORMAT_VERSION + 1);
        db.insert(b"run", serde_json::to_vec(&envelope).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let error = open_result(&data, run_id).unwrap_err();
    assert!(
        matches!(error, Error::UnsupportedFormat { found, expected: FORMAT_VERSION, .. } if found == FORMAT_VERSION + 1),
        "{error:?}"
    );
}

#[test]
fn a_corrupt_record_is_reported_with_its_key() {
    let (_temp, data, run_id) = closed_run();
    {
        let db = raw_db(&data.run_dir(&run_id));
        db.insert(b"step/a", b"\x00garbage".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let store = open_result(&data, run_id).unwrap();
    let error = store.load_steps().unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { table: "step", key, .. } if key == "step/a"),
        "{error:?}"
    );
    let error = store.get_step(&StepKey::single("a")).unwrap_err();
    assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
}

/// Overwrites `file` in a closed run database with garbage in several ways; opening must return
/// an error every time, never panic and never silently succeed.
fn assert_garbage_is_an_error(file: &str) {
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage); 4] = [
        ("random bytes", |bytes| {
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(151).wrapping_add(7);
            }
        }),
        ("truncated to half", |bytes| bytes.truncate(bytes.len() / 2)),
        ("emptied", |bytes| bytes.clear()),
        ("zeroed", |bytes| bytes.iter_mut().for_each(|b| *b = 0)),
    ];
    for (what, damage) in cases {
        let (_temp, data, run_id) = closed_run();
        let path = data.run_dir(&run_id).join(file);
        let mut bytes = fs::read(&path).unwrap();
        damage(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        // Snapshots would let sled recover from damage to the log; remove them to make sure the
        // damaged file is what gets read.
        for entry in fs::read_dir(data.run_dir(&run_id)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with("snap.") {
                fs::remove_file(entry.path()).unwrap();
            }
        }
        match open_result(&data, run_id) {
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        Error::DamagedDatabase { .. }
                            | Error::Corrupt { .. }
                            | Error::Foreign { .. }
                            | Error::Database { .. }
                    ),
                    "{file} {what}: {error:?}"
                );
            }
            // sled may recover when the damage misses live data (a truncated tail of unused
            // segment space, an empty config it rewrites); then the records must be intact.
            Ok(store) => {
                assert_eq!(store.load_run().unwrap(), sample_run_with(run_id, &store));
            }
        }
    }
}

/// The sample run as created, with the creation time read back from `store` (it is not fixed).
fn sample_run_with(run_id: RunId, store: &SledStore) -> RunRecord {
    let mut run = sample_run(run_id);
    run.created_at = store
        .load_run()
        .map(|r| r.created_at)
        .unwrap_or(run.created_at);
    run
}

#[test]
fn garbage_in_the_data_file_is_an_error_not_a_panic() {
    assert_garbage_is_an_error("db");
}

#[test]
fn garbage_in_the_config_file_is_an_error_not_a_panic() {
    assert_garbage_is_an_error("conf");
}

#[test]
fn large_records_spill_to_durable_blobs_and_read_back() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let mut big = step("big", None, StepStatus::Succeeded);
    big.response = Some(json!({ "blob": "x".repeat(400 * 1024) }));
    runtime().block_on(async {
        let mut batch = Batch::new();
        batch.put_step(&big);
        store.commit(batch).await.unwrap();
    });
    let blobs = fs::read_dir(store.path().join("blobs")).unwrap().count();
    assert!(
        blobs > 0,
        "a 400 KiB record should be stored as a sled blob"
    );
    store.close().unwrap();
    let store = SledStore::open(&data, run_id).unwrap();
    assert_eq!(store.get_step(&StepKey::single("big")).unwrap(), Some(big));
}

#[test]
fn a_large_record_long_after_opening_is_synced_as_a_blob() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let rt = runtime();
    // Past the window after opening, in which every commit checks for blob files.
    for n in 0..100 {
        rt.block_on(async {
            let mut batch = Batch::new();
            batch.put_step(&step("s", Some(n), StepStatus::Succeeded));
            store.commit(batch).await.unwrap();
        });
    }
    assert_eq!(store.synced_blobs(), 0);
    let mut big = step("big", None, StepStatus::Succeeded);
    big.response = Some(json!({ "blob": "x".repeat(400 * 1024) }));
    rt.block_on(async {
        let mut batch = Batch::new();
        batch.put_step(&big);
        store.commit(batch).await.unwrap();
    });
    let on_disk = fs::read_dir(store.path().join("blobs")).unwrap().count();
    assert!(
        on_disk > 0,
        "a 400 KiB record should be stored as a sled blob"
    );
    assert_eq!(store.synced_blobs(), on_disk);
}

#[test]
fn full_size_log_entries_never_spill_into_blob_files() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let rt = runtime();
    // Each commit one log entry just under the limit: the worst case for a leaf's size.
    let mut record = step("s", None, StepStatus::Succeeded);
    record.response = Some(json!({ "fill": "" }));
    let base = records::encode(&record).unwrap().len();
    let room = commit_log::MAX_CHUNK_BYTES - base - 9 - "step/s".len() - 40;
    record.response = Some(json!({ "fill": "x".repeat(room) }));
    for n in 0..300 {
        rt.block_on(async {
            let mut batch = Batch::new();
            let mut record = record.clone();
            record.step_id = format!("s{n:03}");
            batch.put_step(&record);
            store.commit(batch).await.unwrap();
        });
    }
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| {
        let entries = log_entries(db);
        assert_eq!(entries.len(), 300);
        assert!(entries.iter().all(|e| e.2 == 1), "a record was cut in two");
    });
    let blobs = fs::read_dir(data.run_dir(&run_id).join("blobs"))
        .unwrap()
        .count();
    assert_eq!(
        blobs, 0,
        "sled wrote blob files for entries under the limit"
    );
}

#[test]
fn commits_after_close_of_the_writer_fail_instead_of_hanging() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let mut store = SledStore::create(&data, &sample_run(RunId::new())).unwrap();
    store.shut_down();
    let error = runtime()
        .block_on(async {
            let mut batch = Batch::new();
            batch.append_event(&event("x", 0));
            store.commit(batch).await
        })
        .unwrap_err();
    assert!(matches!(error, Error::Closed { .. }), "{error:?}");
}

#[test]
fn a_failed_group_commit_poisons_the_store() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let store = SledStore::create(&data, &sample_run(RunId::new())).unwrap();
    // Make the post-flush durability step fail: the blob directory vanishes.
    fs::remove_dir_all(store.path().join("blobs")).unwrap();
    let rt = runtime();
    let commit = |n: u64| {
        rt.block_on(async {
            let mut batch = Batch::new();
            batch.append_event(&event("x", n));
            store.commit(batch).await
        })
    };
    let error = commit(1).unwrap_err();
    assert!(
        matches!(&error, Error::CommitFailed { reason, .. } if reason.contains("blobs")),
        "{error:?}"
    );
    fs::create_dir(store.path().join("blobs")).unwrap();
    let error = commit(2).unwrap_err();
    assert!(
        matches!(&error, Error::CommitFailed { reason, .. } if reason.contains("earlier failure")),
        "{error:?}"
    );
}

#[test]
fn a_flipped_byte_in_the_log_never_yields_a_silently_shortened_history() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let commits = 20;
    runtime().block_on(async {
        for n in 0..commits {
            let mut batch = Batch::new();
            batch
                .put_step(&step("s", Some(n), StepStatus::Succeeded))
                .append_event(&event("e", n as u64));
            store.commit(batch).await.unwrap();
        }
    });
    store.close().unwrap();
    let dir = data.run_dir(&run_id);
    let pristine = fs::read(dir.join("db")).unwrap();
    let used = pristine.iter().rposition(|b| *b != 0).unwrap();
    let (mut refused, mut intact) = (0, 0);
    for i in 0..120usize {
        let mut bytes = pristine.clone();
        bytes[(i * 7919) % (used + 1)] ^= 0x5a;
        fs::write(dir.join("db"), &bytes).unwrap();
        // Without snapshots sled must recover from the (damaged) log alone.
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with("snap.") {
                fs::remove_file(entry.path()).unwrap();
            }
        }
        let loaded = open_result(&data, run_id)
            .and_then(|store| Ok((store.load_steps()?.len(), store.load_events(0)?.len())));
        match loaded {
            Ok(counts) => {
                assert_eq!(counts, (commits, commits), "flip {i}: history shortened");
                intact += 1;
            }
            Err(Error::DamagedDatabase { .. } | Error::Corrupt { .. } | Error::Foreign { .. }) => {
                refused += 1;
            }
            Err(other) => panic!("flip {i}: unexpected error {other:?}"),
        }
    }
    assert_eq!(refused + intact, 120);
    assert!(refused > 0, "no flip was detected");
    // The undamaged file still opens with its full history: the refusals were about the damage.
    fs::write(dir.join("db"), &pristine).unwrap();
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(store.load_steps().unwrap().len(), commits);
}

/// A data directory (alive as long as the returned tempdir) holding one run, created and closed.
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

/// sled opened directly on a run's directory, to write what drbook never would. Like
/// `SledStore::open` it waits for this process's sled I/O threads still holding the file after
/// an earlier handle, and dropping it counts as a release like a store's (see the lingering module
/// of sled_store.rs).
struct RawDb {
    db: sled::Db,
    dir: std::path::PathBuf,
}

impl std::ops::Deref for RawDb {
    type Target = sled::Db;
    fn deref(&self) -> &sled::Db {
        &self.db
    }
}

impl Drop for RawDb {
    fn drop(&mut self) {
        super::sled_store::lingering::released(&self.dir);
    }
}

fn raw_db(dir: &std::path::Path) -> RawDb {
    let deadline = std::time::Instant::now() + super::sled_store::lingering::LINGER;
    loop {
        match sled::open(dir) {
            Ok(db) => {
                return RawDb {
                    db,
                    dir: dir.to_owned(),
                };
            }
            Err(error)
                if error.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(error) => panic!("sled cannot open {}: {error}", dir.display()),
        }
    }
}

/// Writes directly into a closed run database, as a crash in the middle of a group would leave it.
fn with_raw_db(data: &DataDir, run_id: RunId, edit: impl FnOnce(&sled::Db)) {
    let db = raw_db(&data.run_dir(&run_id));
    edit(&db);
    db.flush().unwrap();
}

/// The status of step `a`, which the test wrote.
fn status_of_a(store: &SledStore) -> StepStatus {
    store
        .get_step(&StepKey::single("a"))
        .unwrap()
        .unwrap()
        .status
}

/// The number of the last group commit, from the format 1 and 2 journal.
fn journal_count(db: &sled::Db) -> u64 {
    db.get(journal::JOURNAL_KEY)
        .unwrap()
        .map_or(0, |v| journal::decode(&v).unwrap().0)
}

/// The entries of the commit log: (commit, index, count, writes).
fn log_entries(db: &sled::Db) -> Vec<(u64, u32, u32, Vec<journal::Write>)> {
    db.open_tree(commit_log::LOG_TREE)
        .unwrap()
        .iter()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            let (commit, index, count) = commit_log::parse_key(&key).unwrap();
            let (_, writes) = commit_log::decode_entry(&key, &value).unwrap();
            (commit, index, count, writes)
        })
        .collect()
}

/// The number of the last group commit, from the commit log.
fn commit_count(db: &sled::Db) -> u64 {
    log_entries(db).last().map_or(0, |entry| entry.0)
}

#[test]
fn a_group_interrupted_after_its_journal_is_completed_on_open() {
    let (_temp, data, run_id) = closed_run();
    let done = records::encode(&step("x", None, StepStatus::Succeeded)).unwrap();
    let also = records::encode(&step("y", None, StepStatus::Running)).unwrap();
    with_raw_db(&data, run_id, |db| {
        let next = journal_count(db) + 1;
        let writes = vec![
            (b"step/x".to_vec(), Some(done.clone())),
            (b"step/y".to_vec(), Some(also.clone())),
        ];
        db.insert(
            journal::JOURNAL_KEY,
            journal::encode(next, &writes).unwrap(),
        )
        .unwrap();
        // The crash came after the first of the group's writes.
        db.insert(b"step/x", done.clone()).unwrap();
    });
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(
        store
            .get_step(&StepKey::single("y"))
            .unwrap()
            .unwrap()
            .status,
        StepStatus::Running
    );
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| assert_eq!(journal_count(db), 1));
}

#[test]
fn a_format_1_journal_behind_its_counter_is_not_replayed() {
    let (_temp, data, run_id) = closed_run();
    let running = records::encode(&step("a", None, StepStatus::Running)).unwrap();
    let succeeded = records::encode(&step("a", None, StepStatus::Succeeded)).unwrap();
    // Format 1: commit 4 was a journalled group, commit 5 a single write with the counter.
    with_raw_db(&data, run_id, |db| {
        let writes = vec![(b"step/a".to_vec(), Some(running.clone()))];
        db.insert(journal::JOURNAL_KEY, journal::encode(4, &writes).unwrap())
            .unwrap();
        db.insert(b"step/a", succeeded.clone()).unwrap();
        db.insert(batch::COMMITS_KEY, &5u64.to_be_bytes()).unwrap();
    });
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(status_of_a(&store), StepStatus::Succeeded);
    // The database goes on counting from 5.
    runtime().block_on(async {
        let mut batch = Batch::new();
        batch.append_event(&event("x", 6));
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| assert_eq!(commit_count(db), 6));
    assert_eq!(
        status_of_a(&open_result(&data, run_id).unwrap()),
        StepStatus::Succeeded
    );
}

#[test]
fn a_completed_journal_is_not_replayed_over_later_commits() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let rt = runtime();
    rt.block_on(async {
        // A two-write group leaves a journal behind...
        let mut batch = Batch::new();
        batch
            .put_step(&step("a", None, StepStatus::Running))
            .append_event(&event("step.status", 1));
        store.commit(batch).await.unwrap();
        // ...and a later single-write group changes the same step.
        let mut batch = Batch::new();
        batch.put_step(&step("a", None, StepStatus::Succeeded));
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(
        store
            .get_step(&StepKey::single("a"))
            .unwrap()
            .unwrap()
            .status,
        StepStatus::Succeeded
    );
}

#[test]
fn a_large_group_is_logged_in_chunks_without_blob_files() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut batch = Batch::new();
        batch
            .put_step(&step("a", None, StepStatus::Running))
            .append_event(&event("step.status", 1));
        store.commit(batch).await.unwrap();
        // A fan-out's worth of records, several times what a leaf of the log may hold.
        let mut batch = Batch::new();
        for i in 0..1000 {
            batch
                .put_step(&step("fan", Some(i), StepStatus::Succeeded))
                .append_event(&event("step.status", i as u64));
        }
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| {
        let entries = log_entries(db);
        assert_eq!(entries[0].0..=entries[0].2 as u64, 1..=1);
        let second: Vec<_> = entries.iter().filter(|e| e.0 == 2).collect();
        assert!(second.len() > 10, "{} entries", second.len());
        assert!(second.iter().all(|e| e.2 as usize == second.len()));
        assert!(
            fs::read_dir(data.run_dir(&run_id).join("blobs"))
                .unwrap()
                .next()
                .is_none(),
            "a blob file was written"
        );
        // Nothing but the creation's records under the records' own keys.
        assert!(db.scan_prefix(batch::STEP_PREFIX).next().is_none());
    });
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(store.load_steps().unwrap().len(), 1001);
    assert_eq!(store.load_events(0).unwrap().len(), 1001);
}

#[test]
fn a_commit_cut_short_by_a_crash_is_dropped_on_open() {
    let (_temp, data, run_id) = closed_run();
    let store = open_result(&data, run_id).unwrap();
    runtime().block_on(async {
        let mut batch = Batch::new();
        batch.put_step(&step("a", None, StepStatus::Running));
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    // Commit 2 was to be three entries; the crash came after the first.
    let torn = records::encode(&step("a", None, StepStatus::Succeeded)).unwrap();
    with_raw_db(&data, run_id, |db| {
        let writes = vec![(b"step/a".to_vec(), Some(torn.clone()))];
        db.open_tree(commit_log::LOG_TREE)
            .unwrap()
            .insert(
                commit_log::key(2, 0, 3),
                journal::encode(2, &writes).unwrap(),
            )
            .unwrap();
    });
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(status_of_a(&store), StepStatus::Running);
    // The next commit takes its number.
    runtime().block_on(async {
        let mut batch = Batch::new();
        batch.put_step(&step("a", None, StepStatus::Failed));
        store.commit(batch).await.unwrap();
    });
    assert_eq!(status_of_a(&store), StepStatus::Failed);
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| {
        let numbers: Vec<_> = log_entries(db).iter().map(|e| (e.0, e.1, e.2)).collect();
        assert_eq!(numbers, [(1, 0, 1), (2, 0, 1)]);
    });
}

#[test]
fn a_format_2_database_is_restamped_and_continued_in_the_log() {
    let (_temp, data, run_id) = closed_run();
    let running = records::encode(&step("a", None, StepStatus::Running)).unwrap();
    // A format 2 database: records under their own keys, its last group in the journal.
    with_raw_db(&data, run_id, |db| {
        let mut envelope: serde_json::Value =
            serde_json::from_slice(&db.get(batch::RUN_KEY).unwrap().unwrap()).unwrap();
        envelope["format"] = json!(2);
        db.insert(batch::RUN_KEY, serde_json::to_vec(&envelope).unwrap())
            .unwrap();
        let writes = vec![(b"step/a".to_vec(), Some(running.clone()))];
        db.insert(journal::JOURNAL_KEY, journal::encode(7, &writes).unwrap())
            .unwrap();
        db.insert(b"step/a", running.clone()).unwrap();
        db.insert(
            batch::event_key(1),
            records::encode(&vec![event("x", 1)]).unwrap(),
        )
        .unwrap();
    });
    let store = open_result(&data, run_id).unwrap();
    runtime().block_on(async {
        let mut batch = Batch::new();
        batch
            .put_step(&step("a", None, StepStatus::Succeeded))
            .append_event(&event("y", 2));
        store.commit(batch).await.unwrap();
    });
    let steps = store.load_steps().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, StepStatus::Succeeded);
    let events = store.load_events(0).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.seq, e.event.kind.as_str()))
            .collect::<Vec<_>>(),
        [(1, "x"), (2, "y")]
    );
    assert_eq!(store.load_events(1).unwrap().len(), 1);
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| {
        // Numbered after the journal's count, and the run record is format 3 now.
        assert_eq!(commit_count(db), 8);
        let run = db.get(batch::RUN_KEY).unwrap().unwrap();
        assert_eq!(records::format_of(&run), Some(records::FORMAT_VERSION));
    });
}

#[test]
fn concurrent_committers_share_group_commits() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = std::sync::Arc::new(SledStore::create(&data, &sample_run(run_id)).unwrap());
    let (tasks, per_task) = (32u64, 8u64);
    runtime().block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let store = std::sync::Arc::clone(&store);
                tokio::spawn(async move {
                    for n in 0..per_task {
                        let mut batch = Batch::new();
                        batch
                            .put_step(&step(
                                "fan",
                                Some((t * per_task + n) as usize),
                                StepStatus::Succeeded,
                            ))
                            .append_event(&event("step.status", n));
                        store.commit(batch).await.unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let events = store.load_events(0).unwrap();
    assert_eq!(events.len() as u64, tasks * per_task);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1)
    );
    std::sync::Arc::into_inner(store).unwrap().close().unwrap();
    with_raw_db(&data, run_id, |db| {
        let groups = commit_count(db);
        // While a leader flushes, the batches of the other tasks queue up and go in its next
        // group: far fewer flushes than batches.
        assert!(
            groups < tasks * per_task / 2,
            "{groups} group commits for {} batches",
            tasks * per_task
        );
    });
}

#[test]
fn a_current_thread_runtime_commits_on_the_blocking_pool() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(exercise_contract(&store));
    store.close().unwrap();
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(store.load_events(0).unwrap().len(), 203);
}

#[test]
fn the_runbook_source_is_stored_once_apart_from_the_run_record() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let mut run = sample_run(run_id);
    run.runbook_source = "name: big\n".repeat(20_000);
    let store = SledStore::create(&data, &run).unwrap();
    runtime().block_on(async {
        let mut running = store.load_run().unwrap();
        running.status = RunStatus::Running;
        let mut batch = Batch::new();
        batch.put_run(&running);
        store.commit(batch).await.unwrap();
    });
    assert_eq!(store.load_run().unwrap().runbook_source, run.runbook_source);
    store.close().unwrap();
    with_raw_db(&data, run_id, |db| {
        // As created, and as committed later (in the commit log).
        let created = db.get(batch::RUN_KEY).unwrap().unwrap().to_vec();
        let logged = log_entries(db)
            .into_iter()
            .flat_map(|entry| entry.3)
            .filter(|(key, _)| key == batch::RUN_KEY)
            .filter_map(|(_, value)| value)
            .next_back()
            .unwrap();
        for record in [created, logged] {
            assert!(
                record.len() < 2_000,
                "the run record holds {} bytes",
                record.len()
            );
            let text = String::from_utf8(record).unwrap();
            assert!(!text.contains("name: big"), "{text}");
            assert!(text.starts_with(r#"{"format":3,"kind":"run""#), "{text}");
        }
    });
    let store = open_result(&data, run_id).unwrap();
    let loaded = store.load_run().unwrap();
    assert_eq!(loaded.status, RunStatus::Running);
    assert_eq!(loaded.runbook_source, run.runbook_source);
}

#[test]
fn a_format_1_run_record_with_its_source_inline_still_loads() {
    let (_temp, data, run_id) = closed_run();
    with_raw_db(&data, run_id, |db| {
        let mut record = serde_json::to_value(sample_run(run_id)).unwrap();
        record["runbook_source"] = json!("name: legacy\nsteps: []\n");
        let envelope = json!({"format": 1, "kind": "run", "record": record});
        db.insert(batch::RUN_KEY, serde_json::to_vec(&envelope).unwrap())
            .unwrap();
        db.drop_tree(batch::SOURCE_TREE).unwrap();
    });
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(
        store.load_run().unwrap().runbook_source,
        "name: legacy\nsteps: []\n"
    );
}

#[test]
fn a_run_database_without_its_runbook_source_is_reported() {
    let (_temp, data, run_id) = closed_run();
    with_raw_db(&data, run_id, |db| {
        db.drop_tree(batch::SOURCE_TREE).unwrap();
    });
    let error = open_result(&data, run_id).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { table: "runbook-source", reason, .. } if reason.contains("no runbook source")),
        "{error:?}"
    );
}

#[test]
fn the_watermark_follows_the_commits() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let path = store.path().join("drbook-watermark");
    let read = || {
        let bytes = fs::read(&path).unwrap();
        if bytes.is_empty() {
            return 0;
        }
        assert_eq!(bytes.len(), 16, "{bytes:?}");
        assert_eq!(bytes[..8], bytes[8..]);
        u64::from_be_bytes(bytes[..8].try_into().unwrap())
    };
    let rt = runtime();
    for n in 1..=3 {
        rt.block_on(async {
            let mut batch = Batch::new();
            batch.append_event(&event("x", n));
            store.commit(batch).await.unwrap();
        });
    }
    assert_eq!(read(), 3);
    rt.block_on(async {
        let mut batch = Batch::new();
        batch.append_event(&event("x", 4));
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    assert_eq!(read(), 4);
}

#[test]
fn a_commit_outside_any_tokio_runtime_is_made_inline() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run_id = RunId::new();
    let store = SledStore::create(&data, &sample_run(run_id)).unwrap();
    let mut batch = Batch::new();
    batch
        .put_step(&step("a", None, StepStatus::Succeeded))
        .append_event(&event("step.status", 1));
    {
        let mut commit = std::pin::pin!(store.commit(batch));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        // No runtime to hand the work to: the first poll commits and answers.
        match commit.as_mut().poll(&mut context) {
            std::task::Poll::Ready(result) => result.unwrap(),
            std::task::Poll::Pending => {
                panic!("the commit waited for a runtime that is not there")
            }
        }
    }
    store.close().unwrap();
    let store = open_result(&data, run_id).unwrap();
    assert_eq!(store.load_steps().unwrap().len(), 1);
}

#[test]
fn a_run_database_is_aged_once_after_its_first_commits_and_keeps_every_record() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::new(temp.path());
    let run = sample_run(RunId::new());
    let rt = runtime();
    let data_file = data.run_dir(&run.run_id).join("db");
    let commits = aging::AGE_AFTER_COMMITS + 10;
    let mut size_before_aging = 0;
    {
        let store = SledStore::create(&data, &run).unwrap();
        rt.block_on(async {
            for n in 0..commits {
                let mut batch = Batch::new();
                batch
                    .put_step(&step("s", Some(n as usize), StepStatus::Succeeded))
                    .append_event(&event("step.status", n));
                store.commit(batch).await.unwrap();
                if n + 1 == aging::AGE_AFTER_COMMITS - 1 {
                    size_before_aging = fs::metadata(&data_file).unwrap().len();
                }
            }
        });
        store.close().unwrap();
    }
    // Aging wrote its megabytes of throw-away log (the run's own commits write far less)...
    let size_after = fs::metadata(&data_file).unwrap().len();
    assert!(
        size_after >= size_before_aging + 2 * 1024 * 1024,
        "the data file grew from {size_before_aging} to {size_after} bytes only"
    );
    // ...and left neither its tree nor any trace in the run's records.
    {
        let db = raw_db(&data.run_dir(&run.run_id));
        assert!(
            !db.tree_names()
                .iter()
                .any(|name| name.as_ref() == aging::TREE)
        );
    }
    let store = SledStore::open(&data, run.run_id).unwrap();
    assert_eq!(store.load_run().unwrap(), run);
    assert_eq!(store.load_steps().unwrap().len(), commits as usize);
    assert_eq!(store.load_events(0).unwrap().len(), commits as usize);
    store.close().unwrap();
}

#[test]
fn an_aging_tree_left_by_a_crash_is_dropped_on_open() {
    let (_temp, data, run_id) = closed_run();
    with_raw_db(&data, run_id, |db| {
        let tree = db.open_tree(aging::TREE).unwrap();
        for index in 0u32..100 {
            tree.insert(index.to_be_bytes(), &[0u8; 500][..]).unwrap();
        }
    });
    let store = SledStore::open(&data, run_id).unwrap();
    assert_eq!(store.load_run().unwrap().run_id, run_id);
    let rt = runtime();
    rt.block_on(async {
        let mut batch = Batch::new();
        batch.put_step(&step("a", None, StepStatus::Succeeded));
        store.commit(batch).await.unwrap();
    });
    store.close().unwrap();
    let db = raw_db(&data.run_dir(&run_id));
    assert!(
        !db.tree_names()
            .iter()
            .any(|name| name.as_ref() == aging::TREE)
    );
}
