//! The executor: the one loop that owns a run's state.
//!
//! ```text
//! loop:
//!   events  ← every event already waiting (at least one)
//!   for each: machine::decide(state, event, now)         (pure)
//!   commit  ← one store batch (records + history)  ┐ concurrently; both durable before
//!   audit   ← one group of audit entries            ┘ anything below happens
//!   effects → tasks (SDRS calls, waits, timers) that report back as events
//! ```
//!
//! Taking every waiting event per round is what makes a 1,000-way fan-out cost a handful of
//! fsyncs instead of a thousand. `log` and `assert` results are fed straight into the next round
//! (no task), and an effect is only started after the commit that recorded the decision behind
//! it: that is the whole exactly-once argument.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::actions::{self, Polling};
use super::error::Error;
use super::inbox;
use super::machine::{self, Decision, Effect, Event, LogLevel, Notice, Outcome};
use super::reconcile::{self, Settle};
use super::state::{RunState, TaskId};
use super::status::{self, StatusSnapshot};
use crate::sdrs::Client;
use crate::store::audit::AuditLog;
use crate::store::locks::Locks;
use crate::store::records::{EventRecord, RunStatus};
use crate::store::{Batch, DataDir, Store};

/// Who hears about progress (the CLI prints notices on stderr).
pub type Observer = Arc<dyn Fn(&Notice) + Send + Sync>;

/// How the executor behaves.
#[derive(Clone)]
pub struct ExecutorConfig {
    pub polling: Polling,
    pub settle: Settle,
    /// `false` (`--no-wait`): stop driving the run when it only waits for approvals.
    pub wait_for_approval: bool,
    /// Shortest time between two status snapshots (run status changes are always written).
    pub status_interval: Duration,
    /// Whether to watch the run's inbox for operator commands.
    pub watch_inbox: bool,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            polling: Polling::default(),
            settle: Settle::default(),
            wait_for_approval: true,
            status_interval: Duration::from_millis(500),
            watch_inbox: true,
        }
    }
}

/// How the executor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The run reached this terminal status.
    Finished(RunStatus),
    /// `--no-wait`: the run waits for an approval.
    WaitingApproval,
}

/// Drives one run to its end (or to an approval wait, with `--no-wait`).
pub struct Executor<S: Store> {
    pub state: RunState,
    store: Arc<S>,
    audit: Arc<AuditLog>,
    client: Client,
    data_dir: DataDir,
    config: ExecutorConfig,
    observer: Option<Observer>,
    handles: HashMap<TaskId, AbortHandle>,
    local: VecDeque<Event>,
    sender: mpsc::UnboundedSender<Event>,
    receiver: mpsc::UnboundedReceiver<Event>,
    status_sender: Option<watch::Sender<Option<StatusSnapshot>>>,
    last_status: Option<RunStatus>,
    last_snapshot: std::time::Instant,
    /// A change was not published yet (it came sooner than `status_interval` after the last
    /// snapshot): the loop publishes it once the interval is over, even if nothing else happens
    /// (a step waiting for a long job must show as waiting).
    snapshot_stale: bool,
    finished: Option<RunStatus>,
    /// Effects started so far, by kind, for tests and benchmarks.
    pub commits: u64,
}

impl<S: Store + 'static> Executor<S> {
    pub fn new(
        state: RunState,
        store: Arc<S>,
        audit: Arc<AuditLog>,
        client: Client,
        data_dir: DataDir,
        config: ExecutorConfig,
        observer: Option<Observer>,
    ) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Executor {
            state,
            store,
            audit,
            client,
            data_dir,
            config,
            observer,
            handles: HashMap::new(),
            local: VecDeque::new(),
            sender,
            receiver,
            status_sender: None,
            last_status: None,
            last_snapshot: std::time::Instant::now(),
            snapshot_stale: false,
            finished: None,
            commits: 0,
        }
    }

    /// Runs until the run ends (or only waits for approval, with `wait_for_approval` off).
    pub async fn run(mut self) -> Result<(RunState, Stopped), Error> {
        let status_task = self.start_status_writer();
        let inbox_task = self.start_inbox();
        self.local.push_back(Event::Start);
        let result = self.drive().await;
        if let Some(task) = inbox_task {
            task.abort();
        }
        for (_, handle) in self.handles.drain() {
            handle.abort();
        }
        self.publish_status(true);
        drop(self.status_sender.take());
        if let Some(task) = status_task {
            let _ = task.await;
        }
        let stopped = result?;
        Ok((self.state, stopped))
    }

    async fn drive(&mut self) -> Result<Stopped, Error> {
        loop {
            let mut events: Vec<Event> = self.local.drain(..).collect();
            if events.is_empty() {
                if let Some(status) = self.finished {
                    return Ok(Stopped::Finished(status));
                }
                if !self.config.wait_for_approval
                    && self.state.only_waiting_for_approval()
                    && !(self.config.watch_inbox && self.inbox_has_commands())
                {
                    return Ok(Stopped::WaitingApproval);
                }
                let next = if self.snapshot_stale {
                    let wait = self
                        .config
                        .status_interval
                        .saturating_sub(self.last_snapshot.elapsed());
                    match tokio::time::timeout(wait, self.receiver.recv()).await {
                        Ok(next) => next,
                        Err(_) => {
                            self.publish_status(false);
                            continue;
                        }
                    }
                } else {
                    self.receiver.recv().await
                };
                match next {
                    Some(event) => events.push(event),
                    None => return Err(Error::Internal("the event channel closed".into())),
                }
            }
            while let Ok(event) = self.receiver.try_recv() {
                events.push(event);
            }
            self.round(events).await?;
        }
    }

    /// One round: decide every event, commit once, then act.
    async fn round(&mut self, events: Vec<Event>) -> Result<(), Error> {
        let now = Timestamp::now();
        let mut decision = Decision::default();
        for event in events {
            if let Event::Done { task, .. }
            | Event::Reconciled { task, .. }
            | Event::TimerFired { task } = &event
            {
                self.handles.remove(task);
            }
            machine::decide(&mut self.state, event, now, &mut decision);
        }
        let batch = take_batch(&mut self.state, &mut decision.history);
        let audit = std::mem::take(&mut decision.audit);
        let store = Arc::clone(&self.store);
        let log = Arc::clone(&self.audit);
        let (committed, audited) = tokio::join!(
            async move {
                if batch.is_empty() {
                    Ok(())
                } else {
                    store.commit(batch).await
                }
            },
            async move {
                if audit.is_empty() {
                    Ok(Vec::new())
                } else {
                    log.append_all(audit).await
                }
            }
        );
        committed?;
        audited?;
        self.commits += 1;
        if let Some(observer) = &self.observer {
            for notice in &decision.notices {
                observer(notice);
            }
        }
        for effect in decision.effects {
            self.launch(effect).await?;
        }
        self.publish_status(false);
        Ok(())
    }

    /// Whether commands wait in the inbox (the watcher delivers them within moments).
    fn inbox_has_commands(&self) -> bool {
        !inbox::pending(&inbox::inbox_dir(&self.data_dir, self.state.run.run_id)).is_empty()
    }

    fn start_inbox(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        if !self.config.watch_inbox {
            return None;
        }
        let dir = inbox::inbox_dir(&self.data_dir, self.state.run.run_id);
        let (commands, mut incoming) = mpsc::unbounded_channel();
        let sender = self.sender.clone();
        let data_dir = self.data_dir.clone();
        let run_id = self.state.run.run_id;
        let forward = tokio::spawn(async move {
            while let Some((id, command)) = incoming.recv().await {
                let event = match command {
                    Ok(command) => Event::Command { id, command },
                    Err(reason) => {
                        let _ = inbox::answer(
                            &data_dir,
                            run_id,
                            &id,
                            false,
                            &format!("unreadable command: {reason}"),
                        );
                        continue;
                    }
                };
                if sender.send(event).is_err() {
                    return;
                }
            }
        });
        let watcher = tokio::spawn(inbox::watch(dir, commands));
        Some(tokio::spawn(async move {
            let _ = forward.await;
            watcher.abort();
        }))
    }

    fn start_status_writer(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let (sender, mut receiver) = watch::channel::<Option<StatusSnapshot>>(None);
        self.status_sender = Some(sender);
        let data_dir = self.data_dir.clone();
        Some(tokio::spawn(async move {
            loop {
                let changed = receiver.changed().await;
                let snapshot = receiver.borrow_and_update().clone();
                if let Some(snapshot) = snapshot {
                    let data_dir = data_dir.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(error) = status::write(&data_dir, &snapshot) {
                            tracing::warn!(%error, "cannot write the status snapshot");
                        }
                    })
                    .await;
                }
                if changed.is_err() {
                    return;
                }
            }
        }))
    }

    /// Hands a fresh snapshot to the status writer when the run status changed, when enough
    /// time passed, or at the end.
    fn publish_status(&mut self, force: bool) {
        let status = self.state.run.status;
        let due = self.last_snapshot.elapsed() >= self.config.status_interval;
        if !(force || due || self.last_status != Some(status)) {
            self.snapshot_stale = true;
            return;
        }
        self.snapshot_stale = false;
        self.last_status = Some(status);
        self.last_snapshot = std::time::Instant::now();
        let pid = (!force).then(std::process::id);
        let snapshot = StatusSnapshot::of(&self.state, pid);
        if let Some(sender) = &self.status_sender {
            let _ = sender.send(Some(snapshot));
        }
    }

    fn spawn(
        &mut self,
        task: TaskId,
        future: impl std::future::Future<Output = Event> + Send + 'static,
    ) {
        let sender = self.sender.clone();
        let handle = tokio::spawn(async move {
            let event = future.await;
            let _ = sender.send(event);
        });
        self.handles.insert(task, handle.abort_handle());
    }

    async fn launch(&mut self, effect: Effect) -> Result<(), Error> {
        match effect {
            Effect::Call {
                task,
                op,
                inputs,
                timeout,
            } => {
                let client = self.client.clone();
                let mutating = op.effect == crate::sdrs::operations::Effect::Mutating;
                self.spawn(task, async move {
                    let outcome = actions::with_timeout(
                        timeout,
                        mutating,
                        actions::call(&client, op, &inputs),
                    )
                    .await;
                    Event::Done { task, outcome }
                });
            }
            Effect::WaitJob {
                task,
                service,
                job_id,
                max_wait,
                timeout,
            } => {
                let client = self.client.clone();
                let polling = self.config.polling;
                self.spawn(task, async move {
                    let outcome = actions::with_timeout(
                        timeout,
                        false,
                        actions::wait_job(&client, service, &job_id, max_wait, polling),
                    )
                    .await;
                    Event::Done { task, outcome }
                });
            }
            Effect::WaitUntil {
                task,
                spec,
                timeout,
            } => {
                let client = self.client.clone();
                self.spawn(task, async move {
                    let outcome =
                        actions::with_timeout(timeout, false, actions::wait_until(&client, &spec))
                            .await;
                    Event::Done { task, outcome }
                });
            }
            Effect::Reconcile { task, op, inputs } => {
                let client = self.client.clone();
                let settle = self.config.settle;
                self.spawn(task, async move {
                    let verdict = reconcile::reconcile(&client, op, &inputs, settle).await;
                    Event::Reconciled { task, verdict }
                });
            }
            Effect::Log {
                task,
                key,
                level,
                message,
            } => {
                match level {
                    LogLevel::Debug => tracing::debug!(step = %key, "{message}"),
                    LogLevel::Info => tracing::info!(step = %key, "{message}"),
                    LogLevel::Warn => tracing::warn!(step = %key, "{message}"),
                    LogLevel::Error => tracing::error!(step = %key, "{message}"),
                }
                if level != LogLevel::Debug
                    && let Some(observer) = &self.observer
                {
                    observer(&Notice::Log {
                        key,
                        level,
                        message,
                    });
                }
                self.local.push_back(Event::Done {
                    task,
                    outcome: Outcome::Ok(serde_json::json!({})),
                });
            }
            Effect::Complete { task, outcome } => {
                self.local.push_back(Event::Done { task, outcome });
            }
            Effect::Timer { task, at } => {
                let delay = until(at);
                self.spawn(task, async move {
                    tokio::time::sleep(delay).await;
                    Event::TimerFired { task }
                });
            }
            Effect::Cancel { task } => {
                if let Some(handle) = self.handles.remove(&task) {
                    handle.abort();
                }
            }
            Effect::Deadline { at } => {
                let delay = until(at);
                let sender = self.sender.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sender.send(Event::DeadlinePassed);
                });
            }
            Effect::Reply {
                command,
                accepted,
                message,
            } => {
                let data_dir = self.data_dir.clone();
                let run_id = self.state.run.run_id;
                let answered = tokio::task::spawn_blocking(move || {
                    inbox::answer(&data_dir, run_id, &command, accepted, &message)
                })
                .await
                .map_err(|e| Error::Internal(format!("reply task: {e}")))?;
                if let Err(error) = answered {
                    tracing::warn!(%error, "cannot answer an operator command");
                }
            }
            Effect::Finished { status } => {
                self.finished = Some(status);
                let locks = self.state.run.locks.clone();
                if !locks.is_empty() {
                    let data_dir = self.data_dir.clone();
                    let run_id = self.state.run.run_id;
                    tokio::task::spawn_blocking(move || -> Result<(), Error> {
                        let table = Locks::open(&data_dir)?;
                        for name in &locks {
                            table.release(name, run_id)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| Error::Internal(format!("lock release task: {e}")))??;
                }
            }
        }
        Ok(())
    }
}

/// The time from now until `at` (zero when it is past).
fn until(at: Timestamp) -> Duration {
    let now = Timestamp::now();
    let span = at.duration_since(now);
    Duration::try_from(span).unwrap_or(Duration::ZERO)
}

/// The records a round changed, as one batch: dirty units, the run record, the history.
pub fn take_batch(state: &mut RunState, history: &mut Vec<EventRecord>) -> Batch {
    let mut batch = Batch::new();
    for id in std::mem::take(&mut state.dirty) {
        if let Some(unit) = state.unit_mut(id) {
            unit.dirty = false;
            batch.put_step(&unit.record);
        }
    }
    if state.run_dirty {
        state.run_dirty = false;
        batch.put_run(&state.run);
    }
    for event in history.drain(..) {
        batch.append_event(&event);
    }
    batch
}
