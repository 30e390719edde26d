//! The executor: the one loop that owns a run's state.
//!
//! ```text
//! loop:
//!   events  ← every event already waiting (at least one)
//!   for each: machine::decide(state, event, now)         (pure)
//!   commit  ← one store batch (records + history)  ┐ concurrently; both durable before
//!   audit   ← one group of audit entries            ┘ anything below happens (*)
//!   effects → tasks (SDRS calls, waits, timers) that report back as events
//! ```
//!
//! (*) The audit entries are queued in round order every round, but only waited for when the
//! round starts something outside the process (an SDRS/ECS request, an operator's answer, the
//! run's end); then every entry queued before is durable first. The entries of rounds that stay
//! in-process (`log`, `assert`, timers) are buffered for up to 20 ms (or until the executor
//! waits for events) and then queued without urgency, which the audit writer syncs within 50 ms:
//! a chain of no-op steps costs one store commit per step, not a commit and an audit sync.
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
use crate::store::audit::{AuditLog, PendingAppends};
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
    /// Audit entries of earlier rounds that are queued but not yet known to be durable (see
    /// [`acts_outside`]).
    audit_backlog: Vec<PendingAppends>,
    /// Audit entries of in-process rounds not yet handed to the audit log, oldest first, and
    /// when the oldest was decided. They are handed over in one group every
    /// [`AUDIT_BUFFER_TIME`], before anything acts outside the process, and before the
    /// executor waits for events, so the audit writer wakes once per group, not once per round.
    audit_buffer: Vec<crate::store::audit::AuditEvent>,
    audit_buffer_since: Option<std::time::Instant>,
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
            audit_backlog: Vec::new(),
            audit_buffer: Vec::new(),
            audit_buffer_since: None,
            commits: 0,
        }
    }

    /// Runs until the run ends (or only waits for approval, with `wait_for_approval` off).
    pub async fn run(mut self) -> Result<(RunState, Stopped), Error> {
        let status_task = self.start_status_writer();
        let inbox_task = self.start_inbox();
        self.local.push_back(Event::Start);
        let result = self.drive().await;
        // Whatever the outcome, the audit entries of the last rounds are durable before the
        // run's driver lets go.
        let audited = match self.hand_over_audit(false) {
            Ok(()) => wait_audit(
                Arc::clone(&self.audit),
                std::mem::take(&mut self.audit_backlog),
                true,
            )
            .await
            .map_err(Error::from),
            Err(error) => Err(error),
        };
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
        audited?;
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
                // Nothing to do until an event comes, which may take long: let the audit
                // writer make the buffered entries durable meanwhile.
                self.hand_over_audit(false)?;
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
        // The round's audit entries must be durable before anything acts outside the process. A
        // round that only does in-process work (a `log`, an `assert`, arming a timer) does not
        // wait for them: they are buffered in order, and a later round that acts outside, the
        // end of the run, or the audit writer's lazy sync makes them durable. This spares a chain
        // of no-op steps one audit `fdatasync` (and one audit writer wake-up) per step on top of
        // its store commit.
        self.check_audit_backlog()?;
        let outside = decision.effects.iter().any(acts_outside);
        if !decision.audit.is_empty() {
            self.audit_buffer_since
                .get_or_insert_with(std::time::Instant::now);
            self.audit_buffer.append(&mut decision.audit);
        }
        let queued_urgently = outside && !self.audit_buffer.is_empty();
        if outside
            || self
                .audit_buffer_since
                .is_some_and(|since| since.elapsed() >= AUDIT_BUFFER_TIME)
        {
            self.hand_over_audit(outside)?;
        }
        let must_wait = if outside {
            std::mem::take(&mut self.audit_backlog)
        } else {
            Vec::new()
        };
        let hurry = !queued_urgently && !must_wait.is_empty();
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
            wait_audit(log, must_wait, hurry)
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

    /// Hands the buffered audit entries to the audit log (`urgent`: to be synced at once).
    fn hand_over_audit(&mut self, urgent: bool) -> Result<(), Error> {
        self.audit_buffer_since = None;
        if self.audit_buffer.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.audit_buffer);
        self.audit_backlog
            .push(self.audit.queue_all(events, urgent)?);
        Ok(())
    }

    /// Drops the backlog entries that became durable; reports a failed one.
    fn check_audit_backlog(&mut self) -> Result<(), Error> {
        let mut failure = None;
        self.audit_backlog
            .retain_mut(|pending| match pending.check() {
                Some(Ok(())) => false,
                Some(Err(error)) => {
                    failure.get_or_insert(error);
                    false
                }
                None => true,
            });
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
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

/// Longest time audit entries of in-process rounds are buffered by the executor before they are
/// handed to the audit log (which syncs them within 50 ms more, or sooner with anything urgent).
const AUDIT_BUFFER_TIME: Duration = Duration::from_millis(20);

/// Whether an effect acts outside the process (an SDRS/ECS request, an answer to an operator,
/// releasing the run's locks at its end), so that the audit entries of its round, and of every
/// round before, must be durable before it starts. `log`, `assert`, timers, the deadline and
/// cancelling a task stay inside the process.
fn acts_outside(effect: &Effect) -> bool {
    match effect {
        Effect::Call { .. }
        | Effect::WaitJob { .. }
        | Effect::WaitUntil { .. }
        | Effect::Reconcile { .. }
        | Effect::Reply { .. }
        | Effect::Finished { .. } => true,
        Effect::Log { .. }
        | Effect::Complete { .. }
        | Effect::Timer { .. }
        | Effect::Cancel { .. }
        | Effect::Deadline { .. } => false,
    }
}

/// Waits until the `pending` audit entries are durable, first asking the writer to sync at
/// once when `hurry` (nothing urgent was queued behind them).
async fn wait_audit(
    log: Arc<AuditLog>,
    pending: Vec<PendingAppends>,
    hurry: bool,
) -> Result<(), crate::store::Error> {
    if pending.is_empty() {
        return Ok(());
    }
    if hurry {
        log.sync_queued().await?;
    }
    for appends in pending {
        appends.wait().await?;
    }
    Ok(())
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
