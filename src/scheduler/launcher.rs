//! Launching scheduled runs and following them to their end.
//!
//! [`Launcher`] is what the executor needs: start a run for a slot whose run key is already
//! claimed, tell where a run stands, and wake the executor when one may have ended.
//! [`ProcessLauncher`] implements it by spawning `drbook run <runbook> --run-key <key> ...` as a
//! child process: each run gets its own process (the store lets one process drive a run), a
//! crashing run cannot take the scheduler down, and a run outlives a scheduler restart. Children
//! get their own process group, so a Ctrl-C meant for the scheduler does not abort the runs it
//! started, and write their output to `<data-dir>/scheduler/logs/<run-id>.log`.
//!
//! The run id is known before the child starts: the executor claims the run key for a fresh id,
//! and `drbook run --run-key` finds the key claimed and creates the run under that id.
//!
//! Where a run stands comes from its exit status while the scheduler still holds the child, and
//! otherwise (runs adopted after a restart) from the run's database in the store: held by
//! another process means running; a terminal record gives the outcome.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use jiff::Timestamp;
use tokio::sync::mpsc;

use super::error::{Error, Result};
use super::spec::Schedule;
use super::state::{Outcome, create_private_dir};
use crate::store::records::RunStatus;
use crate::store::{self, DataDir, RunId, SledStore, Store};

/// What the executor asks a launcher to start.
#[derive(Clone, Copy, Debug)]
pub struct LaunchRequest<'a> {
    /// The schedule firing.
    pub schedule: &'a Schedule,
    /// The slot it fires for.
    pub slot: Timestamp,
    /// The run id the run key names.
    pub run_id: RunId,
    /// The run key, already claimed for `run_id`.
    pub run_key: &'a str,
}

/// Where a run stands, as a launcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Still running (or waiting for an approval in its process).
    Running,
    /// Ended, with this outcome.
    Ended(Outcome),
    /// No trace of the run: it has not created its database (yet), and this launcher did not
    /// start it.
    NotFound,
}

/// Starts scheduled runs and follows them.
pub trait Launcher {
    /// Starts the run of `request`. An error means the run was not started.
    fn start(&mut self, request: &LaunchRequest<'_>) -> Result<()>;

    /// Where run `run_id` stands (one this launcher started, or one a previous scheduler process
    /// started).
    fn status(&mut self, run_id: RunId) -> Progress;

    /// Resolves when a run this launcher started may have changed status, so the executor need
    /// not poll for it. Cancel-safe: dropping the future loses nothing.
    fn changed(&mut self) -> impl Future<Output = ()> + Send;
}

/// Where `drbook run` should send the runs: the scheduler passes its own choice on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Whatever `drbook run` defaults to (credentials and endpoint from the environment).
    #[default]
    Default,
    /// `--emulator`: each run starts its own in-process emulator (rehearsing the rehearsal).
    Emulator,
    /// `--endpoint URL`.
    Endpoint(String),
    /// `--region R`.
    Region(String),
}

impl Target {
    /// The `drbook run` arguments for this target.
    pub fn args(&self) -> Vec<String> {
        match self {
            Target::Default => Vec::new(),
            Target::Emulator => vec!["--emulator".to_owned()],
            Target::Endpoint(url) => vec!["--endpoint".to_owned(), url.clone()],
            Target::Region(region) => vec!["--region".to_owned(), region.clone()],
        }
    }
}

/// The outcome of a `drbook run` that exited with `status` and left no run record to read
/// (`drbook run` refused before creating the run, or the program is not drbook). The codes are
/// `cli::exit::Exit`'s, as the README documents them.
pub fn outcome_of_exit(status: ExitStatus) -> Outcome {
    let Some(code) = status.code() else {
        #[cfg(unix)]
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
            return Outcome::Interrupted {
                detail: format!("`drbook run` was killed by signal {signal}"),
            };
        }
        return Outcome::Interrupted {
            detail: format!("`drbook run` ended abnormally ({status})"),
        };
    };
    let refused = |meaning: &str| Outcome::NotStarted {
        detail: format!("`drbook run` exited with code {code}: {meaning}"),
    };
    match code {
        0 => Outcome::Succeeded,
        1 => Outcome::Failed,
        2 => refused("invalid runbook, params or mode"),
        3 => Outcome::WaitingApproval,
        4 => refused("runbook or run not found"),
        5 => refused("conflict: a lock is held by another run, or the run is in use"),
        64 => refused("bad command line"),
        70 => Outcome::Interrupted {
            detail: format!("`drbook run` exited with code {code}: internal error"),
        },
        other => Outcome::Interrupted {
            detail: format!("`drbook run` exited with code {other}"),
        },
    }
}

/// The outcome a run record tells, for a run no process drives any more.
pub fn outcome_of_record(run_id: RunId, status: RunStatus) -> Outcome {
    match status {
        RunStatus::Succeeded => Outcome::Succeeded,
        RunStatus::Failed => Outcome::Failed,
        RunStatus::FailedCompensation => Outcome::FailedCompensation,
        RunStatus::Aborted => Outcome::Aborted,
        RunStatus::WaitingApproval => Outcome::WaitingApproval,
        RunStatus::Pending | RunStatus::Running | RunStatus::Compensating => Outcome::Interrupted {
            detail: format!(
                "the run stopped while {}; continue it with `drbook resume {run_id}`",
                serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        },
    }
}

/// Where run `run_id` stands according to the store, for a run this process does not hold.
pub fn probe_store(data_dir: &DataDir, run_id: RunId) -> Progress {
    match SledStore::open(data_dir, run_id) {
        Ok(store) => {
            let record = store.load_run();
            // Closing releases sled's lock at once, so that an operator's `drbook resume` right
            // after this probe does not find the run in use.
            if let Err(error) = store.close() {
                tracing::warn!(run_id = %run_id, %error, "closing a probed run database failed");
            }
            match record {
                Ok(record) => Progress::Ended(outcome_of_record(run_id, record.status)),
                Err(error) => Progress::Ended(Outcome::Unknown {
                    detail: format!("the run's database cannot be read: {error}"),
                }),
            }
        }
        Err(store::Error::InUse { .. }) => Progress::Running,
        Err(store::Error::RunNotFound { .. }) => Progress::NotFound,
        Err(error) => Progress::Ended(Outcome::Unknown {
            detail: format!("the run's database cannot be read: {error}"),
        }),
    }
}

/// How a child of this launcher stands.
#[derive(Debug)]
enum Child {
    Running,
    Exited(ExitStatus),
    /// Waiting for the child failed; it cannot be followed any more.
    Lost(String),
}

/// Starts each run as a `drbook run` child process.
#[derive(Debug)]
pub struct ProcessLauncher {
    program: PathBuf,
    data_dir: DataDir,
    target: Target,
    actor: String,
    children: HashMap<RunId, Child>,
    exits: mpsc::UnboundedReceiver<(RunId, std::io::Result<ExitStatus>)>,
    exits_sender: mpsc::UnboundedSender<(RunId, std::io::Result<ExitStatus>)>,
}

impl ProcessLauncher {
    /// A launcher running `program` (normally this drbook executable) against `data_dir` and
    /// `target`, recording `actor` as who started the runs.
    pub fn new(program: PathBuf, data_dir: DataDir, target: Target, actor: String) -> Self {
        let (exits_sender, exits) = mpsc::unbounded_channel();
        Self {
            program,
            data_dir,
            target,
            actor,
            children: HashMap::new(),
            exits,
            exits_sender,
        }
    }

    /// The directory of the runs' output files.
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.scheduler_dir().join("logs")
    }

    /// The `drbook run` arguments for `request`.
    pub fn arguments(&self, request: &LaunchRequest<'_>) -> Vec<String> {
        let schedule = request.schedule;
        let mut args = vec![
            "run".to_owned(),
            schedule.runbook_path.display().to_string(),
        ];
        if let Some(mode) = schedule.mode {
            args.extend(["--mode".to_owned(), mode.as_str().to_owned()]);
        }
        for param in &schedule.params {
            args.extend(["--param".to_owned(), param.clone()]);
        }
        args.extend([
            "--run-key".to_owned(),
            request.run_key.to_owned(),
            "--data-dir".to_owned(),
            self.data_dir.root().display().to_string(),
            "--actor".to_owned(),
            self.actor.clone(),
        ]);
        args.extend(self.target.args());
        args
    }

    /// Records exits reported since the last look.
    fn drain_exits(&mut self) {
        while let Ok((run_id, result)) = self.exits.try_recv() {
            self.record_exit(run_id, result);
        }
    }

    fn record_exit(&mut self, run_id: RunId, result: std::io::Result<ExitStatus>) {
        let child = match result {
            Ok(status) => Child::Exited(status),
            Err(error) => Child::Lost(format!("waiting for `drbook run` failed: {error}")),
        };
        self.children.insert(run_id, child);
    }
}

impl Launcher for ProcessLauncher {
    fn start(&mut self, request: &LaunchRequest<'_>) -> Result<()> {
        let failed = |reason: String| Error::Launch {
            schedule: request.schedule.name.clone(),
            program: self.program.display().to_string(),
            reason,
        };
        let log_dir = self.log_dir();
        create_private_dir(&log_dir)?;
        let log_path = log_dir.join(format!("{}.log", request.run_id));
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let log = options.open(&log_path).map_err(|source| Error::Io {
            path: log_path.clone(),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| Error::Io {
            path: log_path.clone(),
            source,
        })?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(self.arguments(request))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // The run must outlive the scheduler (a restart adopts it), so it is never killed
            // when its handle is dropped.
            .kill_on_drop(false);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| failed(e.to_string()))?;
        let run_id = request.run_id;
        let exits = self.exits_sender.clone();
        tokio::spawn(async move {
            let result = child.wait().await;
            // The receiver lives as long as the launcher; after that nobody needs the news.
            let _ = exits.send((run_id, result));
        });
        self.children.insert(run_id, Child::Running);
        Ok(())
    }

    fn status(&mut self, run_id: RunId) -> Progress {
        self.drain_exits();
        match self.children.get(&run_id) {
            Some(Child::Running) => Progress::Running,
            Some(Child::Lost(detail)) => Progress::Ended(Outcome::Unknown {
                detail: detail.clone(),
            }),
            Some(Child::Exited(status)) => {
                let status = *status;
                // The record says more than the exit code (failed-compensation, aborted); without
                // one, `drbook run` refused before creating the run.
                match probe_store(&self.data_dir, run_id) {
                    Progress::Ended(outcome) => {
                        let interrupted = matches!(outcome, Outcome::Interrupted { .. });
                        if interrupted && status.code() == Some(3) {
                            Progress::Ended(Outcome::WaitingApproval)
                        } else {
                            Progress::Ended(outcome)
                        }
                    }
                    // Held by another process: someone resumed it already.
                    Progress::Running => Progress::Running,
                    Progress::NotFound => Progress::Ended(outcome_of_exit(status)),
                }
            }
            None => probe_store(&self.data_dir, run_id),
        }
    }

    async fn changed(&mut self) {
        if let Some((run_id, result)) = self.exits.recv().await {
            self.record_exit(run_id, result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn exit(code: i32) -> ExitStatus {
        std::os::unix::process::ExitStatusExt::from_raw(code << 8)
    }

    #[cfg(unix)]
    #[test]
    fn exit_codes_map_to_outcomes() {
        assert_eq!(outcome_of_exit(exit(0)), Outcome::Succeeded);
        assert_eq!(outcome_of_exit(exit(1)), Outcome::Failed);
        assert_eq!(outcome_of_exit(exit(3)), Outcome::WaitingApproval);
        let conflict = outcome_of_exit(exit(5));
        assert_eq!(conflict.as_str(), "not-started");
        assert!(
            conflict.detail().unwrap_or_default().contains("lock"),
            "{conflict:?}"
        );
        let killed = outcome_of_exit(std::os::unix::process::ExitStatusExt::from_raw(9));
        assert_eq!(
            killed,
            Outcome::Interrupted {
                detail: "`drbook run` was killed by signal 9".into()
            }
        );
    }

    #[test]
    fn records_map_to_outcomes() {
        let id = RunId::new();
        assert_eq!(
            outcome_of_record(id, RunStatus::FailedCompensation),
            Outcome::FailedCompensation
        );
        let Outcome::Interrupted { detail } = outcome_of_record(id, RunStatus::Compensating) else {
            panic!()
        };
        assert!(detail.contains("while compensating"), "{detail}");
        assert!(detail.contains(&format!("drbook resume {id}")), "{detail}");
    }

    #[test]
    fn a_run_without_a_database_is_not_found() {
        let temp = tempfile::tempdir().unwrap();
        assert_eq!(
            probe_store(&DataDir::new(temp.path()), RunId::new()),
            Progress::NotFound
        );
    }

    #[test]
    fn a_run_database_tells_the_outcome_or_that_it_is_in_use() {
        use crate::store::records::{RunRecord, sha256_hex};
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let mut record = RunRecord {
            run_id: RunId::new(),
            runbook_name: "dr-drill".into(),
            runbook_path: "runbooks/dr-drill.yaml".into(),
            runbook_digest: sha256_hex(b""),
            runbook_source: String::new(),
            mode: "drill".into(),
            params: Default::default(),
            secret_params: Vec::new(),
            status: RunStatus::Running,
            run_key: Some("schedule:w:2026-11-22T02:00:00Z".into()),
            actor: "scheduler".into(),
            dry_run: false,
            endpoint: "emulator".into(),
            created_at: Timestamp::now(),
            started_at: None,
            ended_at: None,
            attempt: 1,
            error: None,
            locks: Vec::new(),
            deadline: None,
        };
        let store = SledStore::create(&data, &record).unwrap();
        assert_eq!(probe_store(&data, record.run_id), Progress::Running);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        record.status = RunStatus::Succeeded;
        let mut batch = crate::store::Batch::new();
        batch.put_run(&record);
        runtime.block_on(store.commit(batch)).unwrap();
        store.close().unwrap();
        assert_eq!(
            probe_store(&data, record.run_id),
            Progress::Ended(Outcome::Succeeded)
        );
    }
}
