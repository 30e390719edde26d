//! The in-memory state of one run, rebuilt from the store's records: every step of the runbook
//! (active in the run's mode or not) with its durable record, its `for_each` items, the
//! dependency counters that make scheduling O(1) per event, the ready queue, the template
//! context, the live tasks (effects in flight) and the run's phase.
//!
//! Nothing here does I/O or reads a clock; [`RunState::new`] only rebuilds. The transitions
//! live in `machine.rs` (`impl RunState` there); the executor owns the state and feeds it events.
//!
//! Scheduling is counter-based: each step knows how many of its predecessors (the steps it
//! `needs`, and the steps whose failure handler it is) are not final yet. When a step becomes
//! final, only its dependants' counters move, and a counter reaching zero queues that one step:
//! no event ever rescans all steps, so a 10,000-step run stays fast.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::catalog::{ActionKind, Builtin, Catalog};
use super::error::Error;
use super::retry::{Failure, ThrottlePolicy};
use crate::runbook::template::Template;
use crate::runbook::{Context, Mode, OnFailure, ParamValues, Runbook, Step};
use crate::sdrs::operations::{self, Operation, Service};
use crate::store::records::{RunRecord, RunStatus, StepKey, StepRecord, StepStatus};

/// One schedulable unit: a step, or one item of a `for_each` step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId {
    /// Index of the step in the runbook.
    pub step: u32,
    /// The item index for a `for_each` item; `None` for the step itself.
    pub item: Option<u32>,
}

impl UnitId {
    pub fn step(step: u32) -> Self {
        UnitId { step, item: None }
    }

    pub fn item(step: u32, item: u32) -> Self {
        UnitId {
            step,
            item: Some(item),
        }
    }
}

/// Which action of a unit a task belongs to: the step's own action, or its compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    Forward,
    Compensation,
}

/// The id of one effect in flight. Events name it; an event whose task is no longer live (it
/// was cancelled, or replaced by a later attempt) is ignored.
pub type TaskId = u64;

/// What a live task is for.
#[derive(Clone, Debug, PartialEq)]
pub enum Purpose {
    /// An attempt of the unit's action.
    Attempt,
    /// Finding out whether a mutating call was applied. `failure` is the error that made it
    /// uncertain; `None` after a crash (the process died before the answer was recorded).
    Reconcile { failure: Option<Failure> },
    /// Waiting for the next attempt.
    RetryTimer,
    /// An approval gate waiting for a human (with or without a timeout timer).
    Approval,
    /// A `sleep` step.
    Sleep,
    /// Polling the job a compensation returned.
    CompensationJob,
}

/// A live task.
#[derive(Clone, Debug)]
pub struct Task {
    pub unit: UnitId,
    pub track: Track,
    pub purpose: Purpose,
}

/// How a step's action is carried out, resolved once from the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionPlan {
    /// An SDRS/ECS operation of the table (`sdrs.protection_group.reprotect` is an alias).
    Operation(&'static Operation),
    /// `sdrs.job.wait` / `ecs.job.wait`.
    JobWait(Service),
    WaitUntil,
    Approval,
    Assert,
    Sleep,
    Log,
}

impl ActionPlan {
    /// The plan of a catalog action; `None` for a name the catalog does not know (validation
    /// makes that impossible for a loaded runbook).
    pub fn of(action: &str) -> Option<ActionPlan> {
        Some(match Catalog::global().kind(action)? {
            ActionKind::Operation(op) => ActionPlan::Operation(op),
            ActionKind::Builtin(Builtin::Reprotect) => {
                ActionPlan::Operation(operations::by_name("start_protection_group")?)
            }
            ActionKind::Builtin(Builtin::SdrsJobWait) => ActionPlan::JobWait(Service::Sdrs),
            ActionKind::Builtin(Builtin::EcsJobWait) => ActionPlan::JobWait(Service::Ecs),
            ActionKind::Builtin(Builtin::WaitUntil) => ActionPlan::WaitUntil,
            ActionKind::Builtin(Builtin::Approval) => ActionPlan::Approval,
            ActionKind::Builtin(Builtin::Assert) => ActionPlan::Assert,
            ActionKind::Builtin(Builtin::Sleep) => ActionPlan::Sleep,
            ActionKind::Builtin(Builtin::Log) => ActionPlan::Log,
        })
    }

    /// Whether the action changes anything in the cloud.
    pub fn is_mutating(self) -> bool {
        matches!(self, ActionPlan::Operation(op) if op.effect == operations::Effect::Mutating)
    }

    /// Whether the action only waits for something another step set in motion (dry runs
    /// simulate such waits once anything before them was simulated).
    pub fn is_wait(self) -> bool {
        matches!(
            self,
            ActionPlan::JobWait(_) | ActionPlan::WaitUntil | ActionPlan::Sleep
        )
    }
}

/// The durable record of a unit plus what only lives in memory.
#[derive(Clone, Debug)]
pub struct Unit {
    pub record: StepRecord,
    /// The declared outputs, selected from the result (unredacted: templates read them).
    pub outputs: Map<String, Value>,
    /// The live task of this unit, if any.
    pub task: Option<TaskId>,
    /// Whether the unit holds one of the run's concurrency slots.
    pub slot: bool,
    /// Whether the record changed since the last commit.
    pub dirty: bool,
    /// Dry run: the unit was only simulated (its outputs are unknown).
    pub simulated: bool,
}

impl Unit {
    fn from_record(record: StepRecord) -> Self {
        let outputs = match &record.outputs {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let simulated = record
            .response
            .as_ref()
            .is_some_and(|r| r.get(SIMULATED_KEY).is_some());
        Unit {
            record,
            outputs,
            task: None,
            slot: false,
            dirty: false,
            simulated,
        }
    }

    pub fn status(&self) -> StepStatus {
        self.record.status
    }
}

/// The key under which a dry run records what a simulated unit would have sent.
pub const SIMULATED_KEY: &str = "dry_run";

/// The `for_each` state of a step.
#[derive(Clone, Debug)]
pub struct Fan {
    /// The rendered items.
    pub items: Vec<Value>,
    pub units: Vec<Unit>,
    /// The next item not yet queued.
    pub next: usize,
    /// Items queued or started and not final.
    pub in_progress: u32,
    pub failed: u32,
    pub finished: u32,
    /// Most items in flight at once.
    pub limit: u32,
    /// More items failed than `max_errors`: no further item starts.
    pub overflow: bool,
}

/// One step of the runbook, as the run sees it.
#[derive(Clone, Debug)]
pub struct StepNode {
    pub id: String,
    /// Whether the step runs in the run's mode.
    pub active: bool,
    pub action: ActionPlan,
    /// The compensation's action, when the step has one.
    pub compensation: Option<ActionPlan>,
    /// The step's own record (for a `for_each` step: the summary of its items).
    pub unit: Unit,
    pub fan: Option<Fan>,
    /// Predecessors (needs and handled steps) that are not final yet.
    pub preds_left: u32,
    pub needs: Vec<u32>,
    pub dependants: Vec<u32>,
    /// Steps whose failure this step handles (it is their `on_failure` handler).
    pub handles: Vec<u32>,
    /// This step's failure handler, when its policy names one.
    pub handler: Option<u32>,
    /// What a failure of this step does, after the mode's policy.
    pub policy: OnFailure,
    /// Whether a failure of this step fails the run (after the mode's policy).
    pub critical: bool,
    /// Position in a topological order of the active steps; compensation runs in reverse.
    pub order: u32,
    /// Steps whose outputs or status this step's templates read.
    pub reads: Vec<u32>,
    /// Dry run: a step before this one was simulated.
    pub tainted: bool,
    /// Whether the step is in the ready queue (or already started).
    pub queued: bool,
}

/// Where the run as a whole stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Steps run.
    Running,
    /// A failure (or the deadline) stopped the run: nothing new starts, cancellable tasks are
    /// cancelled, mutating calls in flight finish; then compensation.
    Draining { reason: String },
    /// Completed steps are being undone, one at a time, newest first.
    Compensating {
        /// Units still to compensate, next first.
        queue: VecDeque<UnitId>,
        /// The unit being compensated.
        current: Option<UnitId>,
    },
    /// The run reached a terminal status.
    Done,
}

/// How `--auto-approve` decides approval gates.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoApprove {
    /// Recorded as the approver.
    pub actor: String,
    /// Whether the actor must be among a gate's `approvers` (not enforced against the
    /// in-process emulator, where nothing real is at stake).
    pub enforce_approvers: bool,
}

/// The engine settings the state machine needs.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// Most units running at once (approval waits and retry delays do not count).
    pub concurrency: usize,
    pub dry_run: bool,
    pub auto_approve: Option<AutoApprove>,
    /// The project requests are made for (to show the exact request of a mutating call).
    pub project_id: String,
    pub throttle: ThrottlePolicy,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            concurrency: 32,
            dry_run: false,
            auto_approve: None,
            project_id: String::new(),
            throttle: ThrottlePolicy::default(),
        }
    }
}

/// A run in memory.
pub struct RunState {
    pub run: RunRecord,
    pub runbook: Arc<Runbook>,
    pub mode: Option<Mode>,
    pub params: ParamValues,
    pub config: MachineConfig,
    pub steps: Vec<StepNode>,
    pub index: HashMap<String, u32>,
    pub context: Context,
    pub ready: VecDeque<UnitId>,
    /// Slots in use (see [`MachineConfig::concurrency`]).
    pub in_flight: usize,
    pub tasks: HashMap<TaskId, Task>,
    pub next_task: TaskId,
    pub phase: Phase,
    /// Active steps (in the mode) and how many of them are final.
    pub active_steps: usize,
    pub final_steps: usize,
    /// Units whose records changed since the last commit.
    pub dirty: Vec<UnitId>,
    pub run_dirty: bool,
    /// Steps whose counter reached zero and wait to be judged (`when`, failed needs).
    pub to_resolve: Vec<u32>,
    /// Whether the run was resumed (recovery happens on `Start`).
    pub resumed: bool,
    /// Units that were in flight when the run last stopped (recovered on `Start`).
    pub recover: Vec<UnitId>,
}

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("run_id", &self.run.run_id)
            .field("status", &self.run.status)
            .field("phase", &self.phase)
            .field("steps", &self.steps.len())
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

/// What the mode does to a step's failure policy: in a planned failover the first error stops
/// the run; elsewhere a non-critical step's failure is passed over (its dependants are skipped).
pub fn effective_policy(step: &Step, mode: Option<Mode>) -> (OnFailure, bool) {
    match mode {
        Some(Mode::PlannedFailover) => (OnFailure::Abort, true),
        _ if !step.critical && step.on_failure == OnFailure::Abort => (OnFailure::Continue, false),
        _ => (step.on_failure.clone(), step.critical),
    }
}

/// The step ids a step's templates read (`steps.<id>...`), in its `with`, `when` and items.
fn referenced_steps(step: &Step, index: &HashMap<String, u32>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    let mut visit = |text: &str| {
        if !crate::runbook::template::is_template(text) {
            return;
        }
        if let Ok(template) = Template::parse(text) {
            for path in template.references() {
                if path.segment(0) == Some("steps")
                    && let Some(id) = path.segment(1)
                    && let Some(&i) = index.get(id)
                    && !out.contains(&i)
                {
                    out.push(i);
                }
            }
        }
    };
    fn walk(value: &Value, visit: &mut impl FnMut(&str)) {
        match value {
            Value::String(s) => visit(s),
            Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
            Value::Object(map) => map.values().for_each(|v| walk(v, visit)),
            _ => {}
        }
    }
    for value in step.inputs.values() {
        walk(value, &mut visit);
    }
    if let Some(when) = &step.when {
        visit(when);
    }
    if let Some(for_each) = &step.for_each {
        match &for_each.items {
            crate::runbook::Items::List(items) => items.iter().for_each(|v| walk(v, &mut visit)),
            crate::runbook::Items::Template(text) => visit(text),
        }
    }
    out
}

/// The runbook's template status for a stored status (the two enums share one vocabulary).
pub fn template_status(status: StepStatus) -> crate::runbook::StepStatus {
    use crate::runbook::StepStatus as T;
    match status {
        StepStatus::Pending => T::Pending,
        StepStatus::Running => T::Running,
        StepStatus::WaitingJob => T::WaitingJob,
        StepStatus::WaitingApproval => T::WaitingApproval,
        StepStatus::Retrying => T::Retrying,
        StepStatus::Succeeded => T::Succeeded,
        StepStatus::Failed => T::Failed,
        StepStatus::Skipped => T::Skipped,
        StepStatus::Cancelled => T::Cancelled,
        StepStatus::Compensating => T::Compensating,
        StepStatus::Compensated => T::Compensated,
        StepStatus::CompensationFailed => T::CompensationFailed,
    }
}

/// Whether a status is final for the forward run (compensation may still change it).
pub fn is_final(status: StepStatus) -> bool {
    status.is_terminal()
}

impl RunState {
    /// Rebuilds a run from its runbook, params and stored step records. A fresh run passes no
    /// records.
    pub fn new(
        runbook: Arc<Runbook>,
        run: RunRecord,
        params: ParamValues,
        config: MachineConfig,
        records: Vec<StepRecord>,
    ) -> Result<Self, Error> {
        let mode = if run.mode.is_empty() {
            None
        } else {
            Some(
                run.mode
                    .parse::<Mode>()
                    .map_err(|e| Error::Internal(format!("stored mode: {e}")))?,
            )
        };
        let n = runbook.steps.len();
        let index: HashMap<String, u32> = runbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i as u32))
            .collect();
        let mut by_key: HashMap<StepKey, StepRecord> = HashMap::with_capacity(records.len());
        for record in records {
            by_key.insert(record.key(), record);
        }

        let mut steps = Vec::with_capacity(n);
        for step in &runbook.steps {
            let action = ActionPlan::of(&step.action).ok_or_else(|| {
                Error::Internal(format!(
                    "step `{}`: unknown action {}",
                    step.id, step.action
                ))
            })?;
            let compensation = match &step.compensate {
                Some(c) => Some(ActionPlan::of(&c.action).ok_or_else(|| {
                    Error::Internal(format!(
                        "step `{}`: unknown compensation action {}",
                        step.id, c.action
                    ))
                })?),
                None => None,
            };
            let active = step.is_active_in(mode);
            let (policy, critical) = effective_policy(step, mode);
            let record = by_key
                .remove(&StepKey::single(step.id.clone()))
                .unwrap_or_else(|| StepRecord::pending(&StepKey::single(step.id.clone())));
            steps.push(StepNode {
                id: step.id.clone(),
                active,
                action,
                compensation,
                unit: Unit::from_record(record),
                fan: None,
                preds_left: 0,
                needs: Vec::new(),
                dependants: Vec::new(),
                handles: Vec::new(),
                handler: None,
                policy,
                critical,
                order: 0,
                reads: referenced_steps(step, &index),
                tainted: false,
                queued: false,
            });
        }
        // Edges between active steps: needs, and failure handlers (a handler waits for the steps
        // it handles).
        for (i, step) in runbook.steps.iter().enumerate() {
            if !steps[i].active {
                continue;
            }
            for need in &step.needs {
                if let Some(&p) = index.get(need)
                    && steps[p as usize].active
                    && p as usize != i
                {
                    steps[i].needs.push(p);
                    steps[p as usize].dependants.push(i as u32);
                }
            }
            if let OnFailure::Handler(handler) = &steps[i].policy
                && let Some(&h) = index.get(handler)
                && steps[h as usize].active
            {
                steps[h as usize].handles.push(i as u32);
                steps[i].handler = Some(h);
            }
        }
        // A topological order (Kahn) of the active steps, for compensation order.
        {
            let mut indegree: Vec<u32> = steps
                .iter()
                .map(|s| (s.needs.len() + s.handles.len()) as u32)
                .collect();
            let mut queue: VecDeque<usize> = (0..n)
                .filter(|&i| steps[i].active && indegree[i] == 0)
                .collect();
            let mut order = 0u32;
            while let Some(i) = queue.pop_front() {
                steps[i].order = order;
                order += 1;
                let mut next: Vec<u32> = steps[i].dependants.clone();
                next.extend(steps[i].handler);
                for d in next {
                    let d = d as usize;
                    indegree[d] = indegree[d].saturating_sub(1);
                    if indegree[d] == 0 {
                        queue.push_back(d);
                    }
                }
            }
        }

        let mut context = Context::for_run(&run.run_id.to_string(), mode, &params);
        let mut active_steps = 0;
        let mut final_steps = 0;
        for node in &steps {
            if !node.active {
                continue;
            }
            active_steps += 1;
            if is_final(node.unit.status()) {
                final_steps += 1;
                context.set_step(
                    &node.id,
                    template_status(node.unit.status()),
                    node.unit.outputs.clone(),
                );
            }
        }
        // Predecessor counters.
        for i in 0..n {
            if !steps[i].active {
                continue;
            }
            let preds: Vec<u32> = steps[i]
                .needs
                .iter()
                .chain(steps[i].handles.iter())
                .copied()
                .collect();
            steps[i].preds_left = preds
                .iter()
                .filter(|&&p| !is_final(steps[p as usize].unit.status()))
                .count() as u32;
        }
        let phase = match run.status {
            RunStatus::Compensating => Phase::Compensating {
                queue: VecDeque::new(),
                current: None,
            },
            RunStatus::Running | RunStatus::WaitingApproval if run.error.is_some() => {
                Phase::Draining {
                    reason: run.error.clone().unwrap_or_default(),
                }
            }
            status if status.is_terminal() => Phase::Done,
            _ => Phase::Running,
        };
        let mut state = RunState {
            run,
            runbook,
            mode,
            params,
            config,
            steps,
            index,
            context,
            ready: VecDeque::new(),
            in_flight: 0,
            tasks: HashMap::new(),
            next_task: 1,
            phase,
            active_steps,
            final_steps,
            dirty: Vec::new(),
            run_dirty: false,
            to_resolve: Vec::new(),
            resumed: false,
            recover: Vec::new(),
        };
        state.rebuild_fans(&mut by_key)?;
        state.rebuild_taint();
        Ok(state)
    }

    /// Rebuilds the items of `for_each` steps that had started: their items are rendered again
    /// (from the same recorded outputs, so they are the same) and matched with the item records.
    fn rebuild_fans(&mut self, by_key: &mut HashMap<StepKey, StepRecord>) -> Result<(), Error> {
        for i in 0..self.steps.len() {
            let node = &self.steps[i];
            if !node.active || node.unit.status() == StepStatus::Pending {
                continue;
            }
            let step = &self.runbook.steps[i];
            let Some(for_each) = &step.for_each else {
                continue;
            };
            let has_items = by_key
                .keys()
                .any(|k| k.step_id == step.id && k.item.is_some());
            if is_final(node.unit.status()) && !has_items {
                continue;
            }
            let items = match self.render_items(i as u32) {
                Ok(items) => items,
                Err(_) if is_final(node.unit.status()) => Vec::new(),
                Err(message) => {
                    return Err(Error::NotResumable {
                        run_id: self.run.run_id.to_string(),
                        reason: format!(
                            "the items of step `{}` cannot be rendered again: {message}",
                            step.id
                        ),
                    });
                }
            };
            let mut units = Vec::with_capacity(items.len());
            let (mut failed, mut finished) = (0, 0);
            for index in 0..items.len() {
                let key = StepKey::item(step.id.clone(), index);
                let record = by_key
                    .remove(&key)
                    .unwrap_or_else(|| StepRecord::pending(&key));
                if is_final(record.status) {
                    finished += 1;
                    if record.status == StepStatus::Failed {
                        failed += 1;
                    }
                }
                units.push(Unit::from_record(record));
            }
            let limit = for_each
                .concurrency
                .filter(|c| *c > 0)
                .unwrap_or(u32::MAX)
                .min(items.len().max(1) as u32);
            let overflow = failed > for_each.max_errors;
            self.steps[i].fan = Some(Fan {
                next: 0,
                items,
                units,
                in_progress: 0,
                failed,
                finished,
                limit,
                overflow,
            });
        }
        Ok(())
    }

    /// Dry run: marks the steps after a simulated one.
    fn rebuild_taint(&mut self) {
        if !self.config.dry_run {
            return;
        }
        let mut order: Vec<usize> = (0..self.steps.len())
            .filter(|&i| self.steps[i].active)
            .collect();
        order.sort_by_key(|&i| self.steps[i].order);
        for i in order {
            let tainted = self.steps[i].needs.iter().any(|&p| {
                let p = &self.steps[p as usize];
                p.tainted || p.unit.simulated
            });
            self.steps[i].tainted = tainted;
        }
    }

    /// The runbook step of a node.
    pub fn step_def(&self, step: u32) -> &Step {
        &self.runbook.steps[step as usize]
    }

    /// A unit by id.
    pub fn unit(&self, id: UnitId) -> Option<&Unit> {
        let node = self.steps.get(id.step as usize)?;
        match id.item {
            None => Some(&node.unit),
            Some(i) => node.fan.as_ref()?.units.get(i as usize),
        }
    }

    /// A unit by id, mutably.
    pub fn unit_mut(&mut self, id: UnitId) -> Option<&mut Unit> {
        let node = self.steps.get_mut(id.step as usize)?;
        match id.item {
            None => Some(&mut node.unit),
            Some(i) => node.fan.as_mut()?.units.get_mut(i as usize),
        }
    }

    /// The store key of a unit.
    pub fn key(&self, id: UnitId) -> StepKey {
        let step_id = self.steps[id.step as usize].id.clone();
        match id.item {
            None => StepKey::single(step_id),
            Some(i) => StepKey::item(step_id, i as usize),
        }
    }

    /// The unit named by a store key (`stop[2]`), if it exists.
    pub fn unit_by_key(&self, key: &StepKey) -> Option<UnitId> {
        let &step = self.index.get(&key.step_id)?;
        let id = UnitId {
            step,
            item: key.item.map(|i| i as u32),
        };
        self.unit(id).map(|_| id)
    }

    /// Marks a unit's record for the next commit.
    pub fn touch(&mut self, id: UnitId) {
        if let Some(unit) = self.unit_mut(id)
            && !unit.dirty
        {
            unit.dirty = true;
            self.dirty.push(id);
        }
    }

    /// The template context of a unit: the run's context, plus `item`/`index` for an item.
    pub fn context_for(&self, id: UnitId) -> std::borrow::Cow<'_, Context> {
        match (id.item, self.steps[id.step as usize].fan.as_ref()) {
            (Some(i), Some(fan)) => {
                let item = fan.items.get(i as usize).cloned().unwrap_or(Value::Null);
                std::borrow::Cow::Owned(self.context.with_item(item, i as usize))
            }
            _ => std::borrow::Cow::Borrowed(&self.context),
        }
    }

    /// Renders the items of a `for_each` step.
    pub fn render_items(&self, step: u32) -> Result<Vec<Value>, String> {
        let Some(for_each) = &self.step_def(step).for_each else {
            return Ok(Vec::new());
        };
        let raw = match &for_each.items {
            crate::runbook::Items::List(items) => Value::Array(items.clone()),
            crate::runbook::Items::Template(text) => Value::String(text.clone()),
        };
        match crate::runbook::render(&raw, &self.context) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(other) => Err(format!(
                "`for_each.items` rendered to {}, not a list",
                crate::runbook::helpers::kind(&other)
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether every active step is final.
    pub fn all_final(&self) -> bool {
        self.final_steps >= self.active_steps
    }

    /// `text` with every secret param value masked.
    pub fn mask(&self, text: &str) -> String {
        self.params.redact(text)
    }

    /// `value` with every secret param value masked, at any depth.
    pub fn mask_value(&self, value: &Value) -> Value {
        if !self.params.has_secrets() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.params.redact(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.mask_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Run status while steps run: `waiting-approval` when the only live tasks are approval
    /// gates, `running` otherwise.
    pub fn live_status(&self) -> RunStatus {
        let waiting = self
            .tasks
            .values()
            .filter(|t| t.purpose == Purpose::Approval)
            .count();
        if waiting > 0 && waiting == self.tasks.len() && self.ready.is_empty() {
            RunStatus::WaitingApproval
        } else {
            RunStatus::Running
        }
    }

    /// Whether the run only waits for approvals (nothing else is in flight or queued).
    pub fn only_waiting_for_approval(&self) -> bool {
        self.phase == Phase::Running && self.live_status() == RunStatus::WaitingApproval
    }

    /// The time a unit's record was last changed by a status, for compensation order.
    pub fn ended_at(&self, id: UnitId) -> Timestamp {
        self.unit(id)
            .and_then(|u| u.record.ended_at)
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
