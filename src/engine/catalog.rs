//! The action catalog: every row of the SDRS operation table becomes an action, plus the
//! engine's built-in actions (job waits, reprotect, `wait.until`, `approval`, `assert`, `sleep`,
//! `log`).
//!
//! Operation actions take their inputs from the table (path parameters, then query parameters,
//! then body fields; `project_id` comes from the credentials and is never an input). The catalog
//! is what validation checks runbooks against (`runbook::ActionCatalog`), what `drbook plan`
//! shows, and what the engine dispatches on ([`ActionKind`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::runbook::catalog::{ActionCatalog, ActionSpec, Effect, InputKind, InputSpec, JobKind};
use crate::sdrs::operations::{self, Kind, Operation, Service};

/// Actions the engine implements itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `sdrs.job.wait`: poll `show_job_status` until `SUCCESS` or `FAIL`; fails with the job's
    /// `error_code` on `FAIL`. Result: the final job.
    SdrsJobWait,
    /// `ecs.job.wait`: the same for an ECS job (`show_ecs_job`).
    EcsJobWait,
    /// `sdrs.protection_group.reprotect`: `start_protection_group` on a `failed-over` group
    /// (the reference: enabling protection again after a failover).
    Reprotect,
    /// `wait.until`: poll a read-only action until a selected value is in `desired`.
    WaitUntil,
    /// `approval`: wait for a human decision.
    Approval,
    /// `assert`: fail unless a condition holds.
    Assert,
    /// `sleep`: wait a fixed time.
    Sleep,
    /// `log`: write a message to the run's log.
    Log,
}

impl Builtin {
    pub const ALL: [Builtin; 8] = [
        Builtin::SdrsJobWait,
        Builtin::EcsJobWait,
        Builtin::Reprotect,
        Builtin::WaitUntil,
        Builtin::Approval,
        Builtin::Assert,
        Builtin::Sleep,
        Builtin::Log,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::SdrsJobWait => "sdrs.job.wait",
            Builtin::EcsJobWait => "ecs.job.wait",
            Builtin::Reprotect => "sdrs.protection_group.reprotect",
            Builtin::WaitUntil => "wait.until",
            Builtin::Approval => "approval",
            Builtin::Assert => "assert",
            Builtin::Sleep => "sleep",
            Builtin::Log => "log",
        }
    }

    /// The SDRS operation a built-in calls, when it is an alias of one.
    pub fn operation(self) -> Option<&'static Operation> {
        match self {
            Builtin::Reprotect => operations::by_name("start_protection_group"),
            Builtin::SdrsJobWait => operations::by_name("show_job_status"),
            Builtin::EcsJobWait => operations::by_name("show_ecs_job"),
            _ => None,
        }
    }

    fn spec(self) -> ActionSpec {
        use InputKind as K;
        let (summary, inputs, effect, returns_job): (
            &str,
            Vec<InputSpec>,
            Effect,
            Option<JobKind>,
        ) = match self {
            Builtin::SdrsJobWait => (
                "Wait for an SDRS job to finish; fails with the job's error_code on FAIL",
                vec![
                    InputSpec::required("job_id", K::String).summary("the job to wait for"),
                    InputSpec::optional("max_wait", K::Duration)
                        .summary("give up after this long (default 30m)"),
                ],
                Effect::ReadOnly,
                None,
            ),
            Builtin::EcsJobWait => (
                "Wait for an ECS job to finish; fails with the job's error_code on FAIL",
                vec![
                    InputSpec::required("job_id", K::String).summary("the job to wait for"),
                    InputSpec::optional("max_wait", K::Duration)
                        .summary("give up after this long (default 30m)"),
                ],
                Effect::ReadOnly,
                None,
            ),
            Builtin::Reprotect => (
                "Enable protection again on a failed-over protection group (start_protection_group)",
                vec![InputSpec::required("server_group_id", K::String)],
                Effect::Mutating,
                Some(JobKind::Sdrs),
            ),
            Builtin::WaitUntil => (
                "Poll a read-only action until the selected value is in `desired` (fail fast on `stop`)",
                vec![
                    InputSpec::required("action", K::ActionName { read_only: true })
                        .summary("the read-only action to poll"),
                    InputSpec::optional("with", K::InputsOf("action".into())).summary("its inputs"),
                    InputSpec::required("select", K::Selector)
                        .summary("the value to watch in its result"),
                    InputSpec::required("desired", K::List)
                        .summary("values that end the wait successfully"),
                    InputSpec::optional("stop", K::List)
                        .summary("values that fail the wait at once"),
                    InputSpec::optional("interval", K::Duration)
                        .summary("time between polls (default 5s)"),
                    InputSpec::optional("max_wait", K::Duration)
                        .summary("give up after this long (default 30m)"),
                ],
                Effect::ReadOnly,
                None,
            ),
            Builtin::Approval => (
                "Wait for a human to approve or reject; the step's `timeout` bounds the wait",
                vec![
                    InputSpec::required("message", K::String).summary("what the approver decides"),
                    InputSpec::optional("approvers", K::StringList)
                        .summary("who may decide (default: anyone)"),
                    InputSpec::optional(
                        "on_timeout",
                        K::OneOf(vec!["reject".into(), "approve".into()]),
                    )
                    .summary("what the timeout decides (default reject)"),
                ],
                Effect::ReadOnly,
                None,
            ),
            Builtin::Assert => (
                "Fail the step unless a condition holds",
                vec![
                    InputSpec::required("that", K::Condition).summary("the condition"),
                    InputSpec::optional("message", K::String).summary("what failed, in words"),
                ],
                Effect::ReadOnly,
                None,
            ),
            Builtin::Sleep => (
                "Wait a fixed time",
                vec![InputSpec::required("duration", K::Duration)],
                Effect::ReadOnly,
                None,
            ),
            Builtin::Log => (
                "Write a message to the run's log",
                vec![
                    InputSpec::required("message", K::String),
                    InputSpec::optional(
                        "level",
                        K::OneOf(vec![
                            "debug".into(),
                            "info".into(),
                            "warn".into(),
                            "error".into(),
                        ]),
                    )
                    .summary("default info"),
                ],
                Effect::ReadOnly,
                None,
            ),
        };
        ActionSpec {
            name: self.name().to_string(),
            summary: summary.to_string(),
            inputs,
            effect,
            returns_job,
        }
    }
}

/// What an action is, for the engine's dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Call this SDRS or ECS operation.
    Operation(&'static Operation),
    /// Run this built-in.
    Builtin(Builtin),
}

/// The catalog of every action a runbook may use.
#[derive(Debug, Clone)]
pub struct Catalog {
    specs: Vec<ActionSpec>,
    kinds: Vec<ActionKind>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Builds the catalog from the operation table and the built-ins.
    pub fn new() -> Self {
        let mut catalog = Catalog {
            specs: Vec::new(),
            kinds: Vec::new(),
            index: HashMap::new(),
        };
        for op in operations::all() {
            catalog.add(operation_spec(op), ActionKind::Operation(op));
        }
        for builtin in Builtin::ALL {
            catalog.add(builtin.spec(), ActionKind::Builtin(builtin));
        }
        catalog
    }

    /// The catalog, built once.
    pub fn global() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(Catalog::new)
    }

    fn add(&mut self, spec: ActionSpec, kind: ActionKind) {
        self.index.insert(spec.name.clone(), self.specs.len());
        self.specs.push(spec);
        self.kinds.push(kind);
    }

    /// What the action called `name` is.
    pub fn kind(&self, name: &str) -> Option<ActionKind> {
        self.index.get(name).map(|&i| self.kinds[i])
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new()
    }
}

impl ActionCatalog for Catalog {
    fn action(&self, name: &str) -> Option<&ActionSpec> {
        self.index.get(name).map(|&i| &self.specs[i])
    }

    fn actions(&self) -> Vec<&ActionSpec> {
        self.specs.iter().collect()
    }
}

fn input_kind(kind: Kind) -> InputKind {
    match kind {
        Kind::String => InputKind::String,
        Kind::Integer => InputKind::Integer,
        Kind::Boolean => InputKind::Boolean,
        Kind::StringList => InputKind::StringList,
        Kind::Object => InputKind::Object,
        Kind::ObjectList => InputKind::ObjectList,
    }
}

fn operation_spec(op: &Operation) -> ActionSpec {
    ActionSpec {
        name: op.action.to_string(),
        summary: op.summary.to_string(),
        inputs: op
            .inputs()
            .map(|p| InputSpec {
                name: p.name.to_string(),
                kind: input_kind(p.kind),
                required: p.required,
                summary: String::new(),
            })
            .collect(),
        effect: match op.effect {
            operations::Effect::ReadOnly => Effect::ReadOnly,
            operations::Effect::Mutating => Effect::Mutating,
        },
        returns_job: op.returns_job.then_some(match op.service {
            Service::Sdrs => JobKind::Sdrs,
            Service::Ecs => JobKind::Ecs,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_maps_to_an_operation_or_a_builtin() {
        let catalog = Catalog::new();
        for spec in catalog.actions() {
            match catalog.kind(&spec.name) {
                Some(ActionKind::Operation(op)) => {
                    assert_eq!(op.action, spec.name);
                    let inputs: Vec<&str> = op.inputs().map(|p| p.name).collect();
                    let spec_inputs: Vec<&str> =
                        spec.inputs.iter().map(|i| i.name.as_str()).collect();
                    assert_eq!(inputs, spec_inputs, "{}", spec.name);
                }
                Some(ActionKind::Builtin(b)) => assert_eq!(b.name(), spec.name),
                None => panic!("{} has no kind", spec.name),
            }
        }
        assert_eq!(
            catalog.actions().len(),
            operations::all().count() + Builtin::ALL.len()
        );
    }

    #[test]
    fn no_action_takes_project_id() {
        for spec in Catalog::new().actions() {
            assert!(spec.input("project_id").is_none(), "{}", spec.name);
        }
    }

    #[test]
    fn builtin_names_do_not_shadow_operations() {
        for b in Builtin::ALL {
            assert!(operations::by_action(b.name()).is_none(), "{}", b.name());
        }
    }

    #[test]
    fn aliases_point_at_real_operations() {
        let reprotect = Builtin::Reprotect.operation().unwrap();
        assert_eq!(reprotect.name, "start_protection_group");
        assert_eq!(
            Builtin::SdrsJobWait.operation().unwrap().name,
            "show_job_status"
        );
        assert_eq!(
            Builtin::EcsJobWait.operation().unwrap().name,
            "show_ecs_job"
        );
    }

    #[test]
    fn job_returning_operations_are_marked_with_their_service() {
        let catalog = Catalog::new();
        let failover = catalog.action("sdrs.protection_group.failover").unwrap();
        assert_eq!(failover.returns_job, Some(JobKind::Sdrs));
        assert_eq!(failover.effect, Effect::Mutating);
        let stop = catalog.action("ecs.servers.stop").unwrap();
        assert_eq!(stop.returns_job, Some(JobKind::Ecs));
        let show = catalog.action("sdrs.protection_group.show").unwrap();
        assert_eq!((show.effect, show.returns_job), (Effect::ReadOnly, None));
    }
}
