//! Shared by the `tests/scheduler_*.rs` files: a data directory and schedule file in a temporary
//! directory, a stub `drbook run` that records how it was started, the real `drbook scheduler`
//! as a child process (with a chosen clock start), and readers for the audit log and
//! `drbook schedules --output json`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    dead_code,
    reason = "test support; not every test file uses every helper"
)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest wait for anything a test expects the scheduler to do; generous, because the machine
/// is shared. Never an assertion on speed: only a bound that turns a hang into a failure.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The repository's drill runbook.
pub fn drill_runbook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/dr-drill.yaml")
}

/// The drbook binary under test.
pub fn drbook() -> PathBuf {
    assert_cmd::cargo::cargo_bin("drbook")
}

/// One test's world: a temporary directory with `data/`, `schedules.yaml`, the stub and its log.
pub struct World {
    pub dir: tempfile::TempDir,
}

/// How the stub `drbook run` behaves.
#[derive(Clone, Copy, Debug)]
pub struct Stub {
    /// Seconds it runs.
    pub seconds: f64,
    /// Its exit code.
    pub exit: i32,
}

impl Default for Stub {
    fn default() -> Self {
        Self {
            seconds: 0.0,
            exit: 0,
        }
    }
}

/// One start of the stub, as it logged it.
#[derive(Clone, Debug, PartialEq)]
pub struct StubRun {
    /// The arguments after the program name.
    pub args: Vec<String>,
    /// The `--run-key` value.
    pub run_key: String,
    /// Start and end (seconds since the epoch, from the stub's clock); end is `None` while it
    /// runs.
    pub start: f64,
    pub end: Option<f64>,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stub = dir.path().join("stub-run.sh");
        // The stub logs `start <epoch> <pid> <args...>` and `end <epoch> <pid>`; its behaviour
        // comes from the environment the scheduler passes on.
        fs::write(
            &stub,
            "#!/bin/sh\n\
             echo \"start $(date +%s.%N) $$ $*\" >> \"$STUB_LOG\"\n\
             sleep \"${STUB_SECONDS:-0}\"\n\
             echo \"end $(date +%s.%N) $$\" >> \"$STUB_LOG\"\n\
             exit \"${STUB_EXIT:-0}\"\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    pub fn schedules_file(&self) -> PathBuf {
        self.path("schedules.yaml")
    }

    /// Writes a schedule file with one schedule `name` on the drill runbook.
    pub fn schedule(&self, name: &str, cron: &str, extra: &str) {
        let text = format!(
            "schedules:\n  - name: {name}\n    runbook: {}\n    mode: drill\n    params: {{ server_group_id: pg-web-0001 }}\n    cron: \"{cron}\"\n{extra}",
            drill_runbook().display()
        );
        fs::write(self.schedules_file(), text).unwrap();
    }

    /// The log of every scheduler this world started (`<name>.log`), for failure messages.
    fn scheduler_logs(&self) -> String {
        let mut logs: Vec<_> = fs::read_dir(self.path("."))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .filter(|path| path.file_name().is_some_and(|name| name != "stub.log"))
            .collect();
        logs.sort();
        logs.iter()
            .map(|path| {
                let text = fs::read_to_string(path).unwrap_or_default();
                format!("--- {}\n{text}", path.display())
            })
            .collect()
    }

    /// Starts `drbook scheduler` with its clock at `clock_start` (or the real time), the stub as
    /// its `drbook run`, JSON logs in `<name>.log` and extra environment variables.
    pub fn start(
        &self,
        name: &str,
        clock_start: Option<&str>,
        stub: Stub,
        env: &[(&str, &str)],
    ) -> Scheduler {
        let log_path = self.path(&format!("{name}.log"));
        let mut command = Command::new(drbook());
        command
            .arg("scheduler")
            .arg("--schedules")
            .arg(self.schedules_file())
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--run-command")
            .arg(self.path("stub-run.sh"))
            .args(["--log-format", "json", "--output", "json"])
            .env("STUB_LOG", self.path("stub.log"))
            .env("STUB_SECONDS", stub.seconds.to_string())
            .env("STUB_EXIT", stub.exit.to_string())
            .env("DRBOOK_LOG", "drbook=debug")
            .env_remove("DRBOOK_SCHEDULER_PAUSE")
            .stdin(Stdio::null())
            .stdout(File::create(self.path(&format!("{name}.out"))).unwrap())
            .stderr(File::create(&log_path).unwrap());
        if let Some(start) = clock_start {
            command.arg("--clock-start").arg(start);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        Scheduler {
            child: command.spawn().unwrap(),
            log_path,
        }
    }

    /// The stub's starts, in order.
    pub fn stub_runs(&self) -> Vec<StubRun> {
        let text = fs::read_to_string(self.path("stub.log")).unwrap_or_default();
        let mut runs: Vec<(String, StubRun)> = Vec::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            let (Some(kind), Some(time), Some(pid)) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let time: f64 = time.parse().unwrap();
            match kind {
                "start" => {
                    let args: Vec<String> = words.map(str::to_owned).collect();
                    let run_key = args
                        .iter()
                        .position(|a| a == "--run-key")
                        .map(|i| args[i + 1].clone())
                        .unwrap_or_default();
                    runs.push((
                        pid.to_owned(),
                        StubRun {
                            args,
                            run_key,
                            start: time,
                            end: None,
                        },
                    ));
                }
                "end" => {
                    if let Some((_, run)) = runs.iter_mut().find(|(p, _)| p == pid) {
                        run.end = Some(time);
                    }
                }
                _ => {}
            }
        }
        runs.into_iter().map(|(_, run)| run).collect()
    }

    /// Every audit entry.
    pub fn audit(&self) -> Vec<Value> {
        let text =
            fs::read_to_string(self.data_dir().join("audit/audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Audit entries of `kind` (`schedule.fired`, `schedule.missed`).
    pub fn audit_of(&self, kind: &str) -> Vec<Value> {
        self.audit()
            .into_iter()
            .filter(|entry| entry["kind"] == kind)
            .collect()
    }

    /// `drbook schedules --output json` (with `--clock-start` if given).
    pub fn schedules_json(&self, clock_start: Option<&str>) -> Value {
        let output = self.schedules_command(clock_start, &["--output", "json"]);
        assert!(
            output.status.success(),
            "drbook schedules failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub fn schedules_command(&self, clock_start: Option<&str>, extra: &[&str]) -> Output {
        let mut command = Command::new(drbook());
        command
            .arg("schedules")
            .arg("--schedules")
            .arg(self.schedules_file())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(extra);
        if let Some(start) = clock_start {
            command.arg("--clock-start").arg(start);
        }
        command.output().unwrap()
    }

    /// The `last_run` of the first schedule, as `drbook schedules` shows it (null if none).
    pub fn last_run(&self) -> Value {
        self.schedules_json(None)["schedules"][0]["last_run"].clone()
    }

    /// Waits until `condition` holds, failing the test after [`PATIENCE`].
    pub fn wait_for(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stub log:\n{}\nscheduler logs:\n{}\naudit:\n{:#?}",
                fs::read_to_string(self.path("stub.log")).unwrap_or_default(),
                self.scheduler_logs(),
                self.audit()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running `drbook scheduler`.
pub struct Scheduler {
    pub child: Child,
    pub log_path: PathBuf,
}

impl Scheduler {
    /// Its log so far (JSON lines).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether it logged a line containing `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log().lines().any(|line| line.contains(text))
    }

    /// Stops it with SIGTERM and returns its exit code.
    pub fn terminate(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the scheduler ignored SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no destructor, no flush, no goodbye.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // A failing test must not leave a scheduler behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
