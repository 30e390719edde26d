//! Helpers for the engine's integration tests: an emulator in the test process (so its call log
//! and world can be inspected), a private data directory, and the real `drbook` binary pointed
//! at both (credentials through the environment, as a user would).
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use drbook::emulator::{CallRecord, Config, Emulator, FaultAction, FaultRule, Running};
use drbook::store::records::{RunStatus, StepKey, StepRecord};
use drbook::store::{DataDir, RunId, SledStore, Store};
use secrecy::ExposeSecret;
use serde_json::Value;

/// An emulator, a data directory, and the binary.
pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub emulator: Option<Running>,
    pub data: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(Config::default())
    }

    pub fn with(config: Config) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emulator = runtime.block_on(Emulator::start(config)).unwrap();
        Harness {
            runtime,
            emulator: Some(emulator),
            data: tempfile::tempdir().unwrap(),
        }
    }

    pub fn emulator(&self) -> &Running {
        self.emulator.as_ref().unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// `drbook <verb> ...` with the emulator's credentials in the environment and this
    /// harness's data directory.
    pub fn command(&self, verb: &str, args: &[&str]) -> Command {
        let emulator = self.emulator();
        let credentials = emulator.credentials();
        let mut command = Command::new(env!("CARGO_BIN_EXE_drbook"));
        command
            .arg(verb)
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("HUAWEICLOUD_SDK_AK", &credentials.access_key)
            .env("HUAWEICLOUD_SDK_SK", credentials.secret_key.expose_secret())
            .env("HUAWEICLOUD_SDK_PROJECT_ID", emulator.project_id())
            .env("DRBOOK_SDRS_ENDPOINT", emulator.endpoint())
            .env("HOME", self.data_dir())
            .env("USER", "tester")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        command
    }

    /// Runs `drbook <verb> ... --output json` to its end.
    pub fn json(&self, verb: &str, args: &[&str]) -> Finished {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.command(verb, &all).output().unwrap();
        Finished::from(output)
    }

    /// `drbook run FILE --poll-interval 50ms ...`, as JSON.
    pub fn run(&self, runbook: &str, args: &[&str]) -> Finished {
        let mut all = vec![runbook, "--poll-interval", "50ms"];
        all.extend_from_slice(args);
        self.json("run", &all)
    }

    /// `drbook resume RUN --poll-interval 50ms ...`, as JSON.
    pub fn resume(&self, run: &str, args: &[&str]) -> Finished {
        let mut all = vec![run, "--poll-interval", "50ms"];
        all.extend_from_slice(args);
        self.json("resume", &all)
    }

    /// Writes a runbook into the data directory's sibling and returns its path.
    pub fn runbook(&self, name: &str, yaml: &str) -> String {
        let dir = self.data_dir().join("runbooks");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, yaml).unwrap();
        path.display().to_string()
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.emulator().calls()
    }

    /// Mutating calls that reached the service (dropped ones included: they were applied).
    pub fn mutating_calls(&self) -> Vec<CallRecord> {
        self.calls()
            .into_iter()
            .filter(|c| c.mutating && c.outcome != drbook::emulator::Outcome::Unauthorized)
            .collect()
    }

    pub fn calls_to(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation.as_deref() == Some(operation))
            .count()
    }

    pub fn fault(&self, operation: &str, action: FaultAction, times: Option<u32>) -> String {
        self.emulator()
            .add_fault(FaultRule {
                id: None,
                operation: operation.into(),
                resource: None,
                action,
                rate: None,
                times,
            })
            .unwrap()
    }

    /// The step records of a finished run (its database is free once the process ended).
    pub fn steps(&self, run: &str) -> Vec<StepRecord> {
        let store = SledStore::open(
            &DataDir::new(self.data_dir()),
            run.parse::<RunId>().unwrap(),
        )
        .unwrap();
        let steps = store.load_steps().unwrap();
        store.close().unwrap();
        steps
    }

    pub fn step(&self, run: &str, key: &str) -> StepRecord {
        let wanted = match key.split_once('[') {
            Some((id, rest)) => StepKey::item(id, rest.trim_end_matches(']').parse().unwrap()),
            None => StepKey::single(key),
        };
        self.steps(run)
            .into_iter()
            .find(|s| s.key() == wanted)
            .unwrap_or_else(|| panic!("no step {key} in run {run}"))
    }

    /// The group's `(status, priority_station)` in the emulator's world.
    pub fn group(&self, id: &str) -> (String, String) {
        let world = serde_json::to_value(self.emulator().world()).unwrap();
        let groups = world["protection_groups"].as_array().unwrap();
        let group = groups
            .iter()
            .find(|g| g["id"] == id)
            .unwrap_or_else(|| panic!("no group {id}"));
        (
            group["status"].as_str().unwrap().to_owned(),
            group["priority_station"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// An ECS server's status in the emulator's world.
    pub fn server(&self, id: &str) -> String {
        let world = serde_json::to_value(self.emulator().world()).unwrap();
        let servers = world["servers"].as_array().unwrap();
        servers
            .iter()
            .find(|s| s["id"] == id)
            .and_then(|s| s["status"].as_str())
            .unwrap_or_else(|| panic!("no server {id}"))
            .to_owned()
    }

    /// Waits until the run's status snapshot says `status` (for runs driven in the background).
    pub fn wait_for_status(&self, run: &str, status: &str, limit: Duration) -> Value {
        let path = self.data_dir().join("runs").join(run).join("status.json");
        let started = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(&path)
                && let Ok(value) = serde_json::from_slice::<Value>(&bytes)
                && value["status"] == status
            {
                return value;
            }
            assert!(
                started.elapsed() < limit,
                "run {run} did not reach {status} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The only run of the data directory (for runs started in the background).
    pub fn wait_for_run(&self, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Ok(runs) = DataDir::new(self.data_dir()).list_runs()
                && let Some(run) = runs.first()
            {
                return run.to_string();
            }
            assert!(
                started.elapsed() < limit,
                "no run appeared within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `drbook <verb> ... --poll-interval 50ms --output json` started in the background
    /// (`run` and `resume`); collect it with [`finish`].
    pub fn spawn_json(&self, verb: &str, args: &[&str]) -> std::process::Child {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--poll-interval", "50ms", "--output", "json"]);
        self.spawn(verb, &all)
    }

    /// Waits until a run other than `known` appears in the data directory; returns its id.
    pub fn wait_for_new_run(&self, known: &[&str], limit: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Ok(runs) = DataDir::new(self.data_dir()).list_runs()
                && let Some(run) = runs
                    .iter()
                    .map(ToString::to_string)
                    .find(|r| !known.contains(&r.as_str()))
            {
                return run;
            }
            assert!(
                started.elapsed() < limit,
                "no new run appeared within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every entry of the data directory's audit log, parsed.
    pub fn audit(&self) -> Vec<Value> {
        let path = DataDir::new(self.data_dir()).audit_log_path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The audit entries of one run and kind (`approval`, `run.ended`, ...).
    pub fn audit_of(&self, run: &str, kind: &str) -> Vec<Value> {
        self.audit()
            .into_iter()
            .filter(|e| e["run_id"] == run && e["kind"] == kind)
            .collect()
    }

    /// Who holds lock `name` now (none when it is free).
    pub fn lock_holder(&self, name: &str) -> Option<String> {
        let locks = drbook::store::locks::Locks::open(&DataDir::new(self.data_dir())).unwrap();
        locks
            .holder(name)
            .unwrap()
            .map(|info| info.holder.to_string())
    }

    /// Every file under the data directory whose bytes contain `needle`.
    pub fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, needle: &[u8], found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, needle, found);
                } else if let Ok(bytes) = std::fs::read(&path)
                    && bytes.windows(needle.len()).any(|w| w == needle)
                {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(self.data_dir(), needle.as_bytes(), &mut found);
        found
    }

    pub fn spawn(&self, verb: &str, args: &[&str]) -> std::process::Child {
        self.command(verb, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            self.runtime.block_on(emulator.shutdown());
        }
    }
}

/// A finished `drbook` process with `--output json`.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Finished {
    fn from(output: Output) -> Self {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Finished {
            code: output.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr,
        }
    }
}

impl Finished {
    pub fn run_id(&self) -> String {
        self.json["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no run id in: {}\n{}", self.stdout, self.stderr))
            .to_owned()
    }

    pub fn status(&self) -> &str {
        self.json["status"].as_str().unwrap_or("")
    }

    /// The status of one step in the summary.
    pub fn step(&self, id: &str) -> &Value {
        self.json["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["id"] == id))
            .unwrap_or_else(|| panic!("no step {id} in {}", self.stdout))
    }

    pub fn step_status(&self, id: &str) -> &str {
        self.step(id)["status"].as_str().unwrap_or("")
    }

    /// Asserts the process ended with `code` and the run with `status`.
    pub fn expect(&self, code: i32, status: &str) -> &Self {
        assert_eq!(
            (self.code, self.status()),
            (code, status),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Waits for a background `drbook` process and reads its JSON summary.
pub fn finish(child: std::process::Child) -> Finished {
    Finished::from(child.wait_with_output().unwrap())
}

/// Ends a background `drbook` process with SIGKILL (no cleanup runs in it) and reaps it.
pub fn kill(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The run status names as the store writes them.
pub fn status_name(status: RunStatus) -> String {
    serde_json::to_value(status)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The repository's example runbook `name`.
pub fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks")
        .join(name)
        .display()
        .to_string()
}
