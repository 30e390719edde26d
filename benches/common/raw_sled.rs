//! The raw sled loops the store and engine targets are expressed against, shared by
//! `benches/store.rs` and `benches/engine.rs` (each includes this file with `#[path]`).
//!
//! Every operation inserts one value and is durable when it completes: sled `flush()` plus
//! `fdatasync` of sled's data file, with sled's default configuration. One task doing that one
//! at a time is the ceiling of a sequential chain; many tasks doing it on tokio's blocking pool
//! share their flushes, which is the ceiling of a fan-out.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Raw sled with the default configuration: insert, `flush()`, `fdatasync`.
pub struct RawSled {
    db: sled::Db,
    data_file: Arc<File>,
    value: Arc<Vec<u8>>,
    tasks: usize,
    next: Arc<AtomicU64>,
}

impl RawSled {
    /// A fresh database in `dir`; each operation writes `value` under a new key, from `tasks`
    /// concurrent writers (1 = one at a time on the calling thread).
    pub fn new(dir: &Path, tasks: usize, value: Vec<u8>) -> Self {
        let db = sled::open(dir).unwrap();
        let data_file = Arc::new(File::open(dir.join("db")).unwrap());
        Self {
            db,
            data_file,
            value: Arc::new(value),
            tasks,
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Writes for about `duration`; returns the number of durable operations completed.
    pub fn write_for(&mut self, runtime: &tokio::runtime::Runtime, duration: Duration) -> u64 {
        if self.tasks == 1 {
            // One at a time on this thread: the ceiling of a sequential chain.
            let start = Instant::now();
            let mut ops = 0;
            while start.elapsed() < duration {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                self.db
                    .insert(format!("step/s[{n}]"), self.value.as_slice())
                    .unwrap();
                self.db.flush().unwrap();
                self.data_file.sync_data().unwrap();
                ops += 1;
            }
            return ops;
        }
        // `tasks` tasks each doing the same on the blocking pool, so that concurrent flushes
        // share their work.
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        runtime.block_on(async {
            let handles: Vec<_> = (0..self.tasks)
                .map(|_| {
                    let (db, data_file, value, next) = (
                        self.db.clone(),
                        self.data_file.clone(),
                        self.value.clone(),
                        self.next.clone(),
                    );
                    let (stop, ops) = (stop.clone(), ops.clone());
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            let (db, data_file, value) =
                                (db.clone(), data_file.clone(), value.clone());
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            tokio::task::spawn_blocking(move || {
                                db.insert(format!("step/s[{n}]"), value.as_slice()).unwrap();
                                db.flush().unwrap();
                                data_file.sync_data().unwrap();
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
