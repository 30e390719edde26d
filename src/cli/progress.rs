//! Live progress of a run on stderr: `drbook run`, `resume`, `rerun`, `abort` and
//! `drbook status --watch`.
//!
//! On a terminal an indicatif bar shows steps done / total, the running and waiting steps and
//! the SDRS job each waits for, with progress notices printed above it. When stderr is not a
//! terminal (CI logs, pipes, tests) the same information comes as plain timestamped lines: every
//! notice, and a `progress:` line whenever the summary changes.
//!
//! Both views are fed from the engine's status snapshot (`runs/<id>/status.json`), read every
//! [`POLL`] (the driving engine rewrites it at most every half second), and from the engine's
//! notices when this process drives the run. Reading the snapshot is what lets `status --watch`
//! follow a run driven by another process the same way.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::status::StatusSnapshot;
use crate::engine::{self, Notice, Observer};
use crate::store::records::StepStatus;
use crate::store::{DataDir, RunId};

/// How often a follower reads the status snapshot.
pub const POLL: Duration = Duration::from_millis(250);

/// The progress display of one run.
pub struct Progress {
    /// The bar, on a terminal; `None` prints plain lines.
    bar: Option<ProgressBar>,
    /// The last summary shown, so that plain mode prints only changes.
    last: Mutex<Last>,
}

#[derive(Default)]
struct Last {
    summary: String,
    steps: BTreeMap<String, StepStatus>,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Arc<Progress> {
        Self::with_terminal(std::io::stderr().is_terminal())
    }

    pub fn with_terminal(terminal: bool) -> Arc<Progress> {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:20} {pos}/{len} steps  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Arc::new(Progress {
            bar,
            last: Mutex::new(Last::default()),
        })
    }

    /// Prints one line above the bar (or plainly), with the time.
    pub fn line(&self, text: &str) {
        let time = jiff::Zoned::now().strftime("%H:%M:%S");
        let line = format!("{time} {text}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{line}");
            }
        }
    }

    /// An engine notice (this process drives the run).
    pub fn notice(&self, notice: &Notice) {
        self.line(&notice.to_string());
    }

    /// The observer to hand the engine.
    pub fn observer(self: &Arc<Self>) -> Observer {
        let progress = Arc::clone(self);
        Arc::new(move |notice: &Notice| progress.notice(notice))
    }

    /// Shows a new snapshot. With `step_lines`, also prints each step whose status changed
    /// (for `status --watch`, where no notices come).
    pub fn update(&self, snapshot: &StatusSnapshot, step_lines: bool) {
        let (done, total) = done_total(snapshot);
        let summary = summary(snapshot);
        let mut last = match self.last.lock() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        if step_lines {
            for step in &snapshot.steps {
                let before = last.steps.insert(step.id.clone(), step.status);
                if before.is_some_and(|b| b != step.status)
                    || (before.is_none() && step.status != StepStatus::Pending)
                {
                    let mut text = format!("{}: {}", step.id, step.status.as_str());
                    if let Some(code) = &step.error_code {
                        text.push_str(&format!(" ({code})"));
                    }
                    if let Some(message) = &step.message {
                        text.push_str(&format!(": {message}"));
                    }
                    self.line(&text);
                }
            }
        }
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                // The bar shows the counts already: the message keeps the width for the steps.
                bar.set_message(activity(snapshot));
            }
            None => {
                if summary != last.summary {
                    self.line(&format!("progress: {summary}"));
                }
            }
        }
        last.summary = summary;
    }

    /// Removes the bar (the final summary follows on stdout).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Steps that will not change any more, and all the run's steps.
pub fn done_total(snapshot: &StatusSnapshot) -> (usize, usize) {
    let done = snapshot
        .steps
        .iter()
        .filter(|s| s.status.is_terminal())
        .count();
    (done, snapshot.steps.len())
}

/// One line: the run status, steps done / total, and what runs and waits (with job ids and
/// retry times).
pub fn summary(snapshot: &StatusSnapshot) -> String {
    let (done, total) = done_total(snapshot);
    let head = format!("{} {done}/{total} steps done", snapshot.status_name());
    match activity_parts(snapshot) {
        parts if parts.is_empty() => head,
        parts => format!("{head}; {}", parts.join("; ")),
    }
}

/// The run status and what runs and waits, without the counts (the bar's message).
fn activity(snapshot: &StatusSnapshot) -> String {
    let mut parts = vec![snapshot.status_name().to_owned()];
    parts.extend(activity_parts(snapshot));
    parts.join("; ")
}

/// `running: a, b`, `waiting-job: w (job J)`, ... for the steps that run or wait.
fn activity_parts(snapshot: &StatusSnapshot) -> Vec<String> {
    let mut parts = Vec::new();
    let mut running = Vec::new();
    let mut jobs = Vec::new();
    let mut approvals = Vec::new();
    let mut retrying = Vec::new();
    let mut compensating = Vec::new();
    for step in &snapshot.steps {
        match step.status {
            StepStatus::Running => running.push(match &step.items {
                Some(items) => format!(
                    "{} [{}/{} items]",
                    step.id,
                    items.get("succeeded").copied().unwrap_or(0),
                    items.get("total").copied().unwrap_or(0)
                ),
                None => step.id.clone(),
            }),
            StepStatus::WaitingJob => jobs.push(match &step.job_id {
                Some(job) => format!("{} (job {job})", step.id),
                None => step.id.clone(),
            }),
            StepStatus::WaitingApproval => approvals.push(step.id.clone()),
            StepStatus::Retrying => retrying.push(match step.next_attempt_at {
                Some(at) => format!(
                    "{} (next {})",
                    step.id,
                    at.to_zoned(jiff::tz::TimeZone::system())
                        .strftime("%H:%M:%S")
                ),
                None => step.id.clone(),
            }),
            StepStatus::Compensating => compensating.push(step.id.clone()),
            _ => {}
        }
    }
    for (label, list) in [
        ("running", running),
        ("waiting-job", jobs),
        ("waiting-approval", approvals),
        ("retrying", retrying),
        ("compensating", compensating),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}: {}", list.join(", ")));
        }
    }
    parts
}

/// Follows a run this process drives: reads its snapshot every [`POLL`] into the display until
/// [`Follower::stop`].
pub struct Follower {
    progress: Arc<Progress>,
    data_dir: DataDir,
    run_id: RunId,
    task: tokio::task::JoinHandle<()>,
}

impl Follower {
    /// Starts following (needs a tokio runtime).
    pub fn start(progress: Arc<Progress>, data_dir: DataDir, run_id: RunId) -> Follower {
        let task = {
            let (progress, data_dir) = (Arc::clone(&progress), data_dir.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(POLL).await;
                    let dir = data_dir.clone();
                    let read =
                        tokio::task::spawn_blocking(move || engine::read_status(&dir, run_id))
                            .await;
                    if let Ok(Ok(Some(snapshot))) = read {
                        progress.update(&snapshot, false);
                    }
                }
            })
        };
        Follower {
            progress,
            data_dir,
            run_id,
            task,
        }
    }

    /// Stops following and clears the bar.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let (dir, run_id) = (self.data_dir.clone(), self.run_id);
        if let Ok(Ok(Some(snapshot))) =
            tokio::task::spawn_blocking(move || engine::read_status(&dir, run_id)).await
        {
            self.progress.update(&snapshot, false);
        }
        self.progress.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::status::StepSummary;
    use crate::store::records::{RunRecord, RunStatus};

    fn step(id: &str, status: StepStatus) -> StepSummary {
        StepSummary {
            id: id.into(),
            status,
            action: "log".into(),
            needs: Vec::new(),
            attempts: 0,
            error_code: None,
            message: None,
            simulated: false,
            job_id: None,
            next_attempt_at: None,
            items: None,
            outputs: None,
        }
    }

    fn snapshot(steps: Vec<StepSummary>) -> StatusSnapshot {
        let run: RunRecord = serde_json::from_value(serde_json::json!({
            "run_id": RunId::new(), "runbook_name": "rb", "runbook_path": "rb.yaml",
            "runbook_digest": "", "runbook_source": "", "mode": "drill", "status": "running",
            "actor": "alice", "dry_run": false, "endpoint": "x",
            "created_at": "2026-01-01T00:00:00Z", "attempt": 1
        }))
        .unwrap();
        let mut snapshot = StatusSnapshot::of_record(&run);
        assert_eq!(snapshot.status, RunStatus::Running);
        snapshot.steps = steps;
        snapshot
    }

    #[test]
    fn the_summary_names_running_and_waiting_steps_with_their_job() {
        let mut waiting = step("wait_failover", StepStatus::WaitingJob);
        waiting.job_id = Some("job-42".into());
        let snap = snapshot(vec![
            step("check", StepStatus::Succeeded),
            step("stop", StepStatus::Running),
            waiting,
            step("sign_off", StepStatus::WaitingApproval),
            step("later", StepStatus::Pending),
        ]);
        assert_eq!(done_total(&snap), (1, 5));
        assert_eq!(
            summary(&snap),
            "running 1/5 steps done; running: stop; waiting-job: wait_failover (job job-42); waiting-approval: sign_off"
        );
    }

    #[test]
    fn skipped_and_failed_steps_count_as_done() {
        let snap = snapshot(vec![
            step("a", StepStatus::Skipped),
            step("b", StepStatus::Failed),
            step("c", StepStatus::Cancelled),
            step("d", StepStatus::Retrying),
        ]);
        assert_eq!(done_total(&snap), (3, 4));
        assert!(
            summary(&snap).ends_with("retrying: d"),
            "{}",
            summary(&snap)
        );
    }
}
