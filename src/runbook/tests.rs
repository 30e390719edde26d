//! Tests of the whole language pipeline (check, plan) on small runbooks, against a small
//! catalog that mimics the real one (the real catalog lives in `engine` and is exercised by the
//! tests in `tests/`).

use serde_json::json;

use super::*;

fn catalog() -> VecCatalog {
    let s = |n: &str| InputSpec::required(n, InputKind::String);
    let action =
        |name: &str, inputs: Vec<InputSpec>, effect: Effect, job: Option<JobKind>| ActionSpec {
            name: name.into(),
            summary: format!("{name} summary"),
            inputs,
            effect,
            returns_job: job,
        };
    VecCatalog {
        actions: vec![
            action(
                "sdrs.protection_group.show",
                vec![s("server_group_id")],
                Effect::ReadOnly,
                None,
            ),
            action(
                "sdrs.drill.create",
                vec![s("server_group_id"), s("drill_vpc_id"), s("name")],
                Effect::Mutating,
                Some(JobKind::Sdrs),
            ),
            action(
                "sdrs.drill.delete",
                vec![s("disaster_recovery_drill_id")],
                Effect::Mutating,
                Some(JobKind::Sdrs),
            ),
            action(
                "sdrs.job.wait",
                vec![
                    s("job_id"),
                    InputSpec::optional("max_wait", InputKind::Duration),
                ],
                Effect::ReadOnly,
                None,
            ),
            action(
                "ecs.servers.stop",
                vec![
                    InputSpec::required("servers", InputKind::ObjectList),
                    InputSpec::optional("type", InputKind::String),
                ],
                Effect::Mutating,
                Some(JobKind::Ecs),
            ),
            action(
                "wait.until",
                vec![
                    InputSpec::required("action", InputKind::ActionName { read_only: true }),
                    InputSpec::optional("with", InputKind::InputsOf("action".into())),
                    InputSpec::required("select", InputKind::Selector),
                    InputSpec::required("desired", InputKind::List),
                    InputSpec::optional("interval", InputKind::Duration),
                ],
                Effect::ReadOnly,
                None,
            ),
            action(
                "assert",
                vec![
                    InputSpec::required("that", InputKind::Condition),
                    InputSpec::optional("message", InputKind::String),
                ],
                Effect::ReadOnly,
                None,
            ),
            action(
                "log",
                vec![
                    s("message"),
                    InputSpec::optional(
                        "level",
                        InputKind::OneOf(vec!["info".into(), "warn".into()]),
                    ),
                ],
                Effect::ReadOnly,
                None,
            ),
        ],
    }
}

fn check_text(text: &str) -> Result<Runbook, Box<Diagnostics>> {
    check(&Source::new("test.yaml", text).unwrap(), &catalog())
}

/// The problems as `line:column code message`, for compact assertions.
fn problems(text: &str) -> Vec<String> {
    match check_text(text) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .to_data()
            .into_iter()
            .map(|p| format!("{}:{} {} {}", p.line, p.column, p.code, p.message))
            .collect(),
    }
}

const DRILL: &str = r#"
name: drill
modes: [drill]
params:
  server_group_id: { type: string, default: pg-web-0001 }
  drill_vpc_id: { type: string, default: vpc-drill-0001 }
locks: ["{{ params.server_group_id }}"]
steps:
  - id: check
    action: sdrs.protection_group.show
    with: { server_group_id: "{{ params.server_group_id }}" }
    outputs: { status: $.server_group.status }
  - id: ensure_protected
    action: assert
    needs: [check]
    with: { that: "{{ eq steps.check.outputs.status 'protected' }}" }
  - id: create
    action: sdrs.drill.create
    needs: [ensure_protected]
    with:
      server_group_id: "{{ params.server_group_id }}"
      drill_vpc_id: "{{ params.drill_vpc_id }}"
      name: "drill-{{ run.id }}"
    outputs: { job_id: $.job_id }
  - id: wait_create
    action: sdrs.job.wait
    needs: [create]
    with: { job_id: "{{ steps.create.outputs.job_id }}", max_wait: 20m }
    outputs: { drill_id: $.entities.disaster_recovery_drill_id }
    compensate:
      action: sdrs.drill.delete
      with: { disaster_recovery_drill_id: "{{ steps.wait_create.outputs.drill_id }}" }
  - id: delete
    action: sdrs.drill.delete
    needs: [wait_create]
    with: { disaster_recovery_drill_id: "{{ steps.wait_create.outputs.drill_id }}" }
"#;

#[test]
fn a_good_runbook_checks_and_plans_in_waves() {
    let runbook = check_text(DRILL).unwrap();
    assert_eq!(runbook.steps.len(), 5);
    let params = ParamValues::from_args(&runbook, &[]).unwrap();
    let plan = Plan::new(&runbook, Some(Mode::Drill), &params, &catalog()).unwrap();
    assert_eq!(
        plan.waves,
        vec![
            vec!["check"],
            vec!["ensure_protected"],
            vec!["create"],
            vec!["wait_create"],
            vec!["delete"]
        ]
    );
    assert_eq!(plan.locks, vec!["pg-web-0001"]);
    let create = plan.step("create").unwrap();
    assert_eq!(create.effect, Effect::Mutating);
    assert_eq!(create.returns_job, Some(JobKind::Sdrs));
    // Params render; the run id is unknown at plan time and stays a template.
    assert_eq!(create.inputs["server_group_id"], json!("pg-web-0001"));
    assert_eq!(create.inputs["name"], json!("drill-{{ run.id }}"));
    let wait = plan.step("wait_create").unwrap();
    assert_eq!(
        wait.inputs["job_id"],
        json!("{{ steps.create.outputs.job_id }}")
    );
    assert!(plan.render_text().contains("Wave 5"));
}

#[test]
fn the_model_round_trips_through_serde() {
    let runbook = check_text(DRILL).unwrap();
    let json = serde_json::to_value(&runbook).unwrap();
    let back: Runbook = serde_json::from_value(json).unwrap();
    assert_eq!(back, runbook);
}

#[test]
fn every_problem_is_reported_with_its_location() {
    let text = r#"
name: broken
stpes: []
steps:
  - id: a
    action: sdrs.protection_group.shwo
  - id: a
    action: log
    needs: [b, zzz]
    with: { message: "{{ params.nope }}", colour: red }
  - id: b
    action: log
    needs: [a]
    timeout: 30
    with: { message: hi }
"#;
    let found = problems(text);
    let expected = [
        "3:1 runbook::unknown-key unknown key `stpes` in a runbook",
        "6:13 runbook::unknown-action `sdrs.protection_group.shwo` is not an action",
        "7:9 runbook::duplicate-step step id `a` is used twice",
        "9:16 runbook::unknown-step `needs` names `zzz`, which is not a step of this runbook",
        "10:26 runbook::unknown-param `params.nope` reads the param `nope`, which is not declared",
        "10:43 runbook::unknown-input `log` has no input `colour`",
        "14:14 runbook::bad-duration `timeout` `30` has no unit",
    ];
    for e in expected {
        assert!(found.iter().any(|f| f == e), "missing {e:?} in {found:#?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn cycles_show_their_path() {
    let text = r#"
name: cycle
steps:
  - id: a
    action: log
    needs: [c]
    with: { message: a }
  - id: b
    action: log
    needs: [a]
    with: { message: b }
  - id: c
    action: log
    needs: [b]
    with: { message: c }
"#;
    let d = check_text(text).unwrap_err();
    assert_eq!(d.problems.len(), 1);
    let p = &d.problems[0];
    assert_eq!(p.code, Code::Cycle);
    assert_eq!(p.message, "dependency cycle: a → c → b → a");
    assert_eq!(p.label, "`b` needs `a`");
    let related: Vec<&str> = p.related.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(related, ["`c` needs `b`", "`a` needs `c`"]);
}

#[test]
fn reading_a_step_without_depending_on_it_is_an_error() {
    let text = r#"
name: race
steps:
  - id: check
    action: sdrs.protection_group.show
    with: { server_group_id: pg }
    outputs: { status: $.server_group.status }
  - id: report
    action: log
    with: { message: "status is {{ steps.check.outputs.status }}" }
"#;
    let d = check_text(text).unwrap_err();
    let p = &d.problems[0];
    assert_eq!(p.code, Code::MissingDependency);
    assert_eq!(
        p.help.as_deref(),
        Some("add `needs: [check]` to step `report`")
    );
    assert_eq!(
        d.source.slice(p.span),
        Some("steps.check.outputs.status"),
        "the problem points at the reference itself"
    );
}

#[test]
fn handlers_run_after_the_steps_they_handle() {
    let text = r#"
name: handled
steps:
  - id: risky
    action: log
    with: { message: go }
    on_failure: recover
  - id: recover
    action: log
    with: { message: "risky ended {{ steps.risky.status }}" }
"#;
    let runbook = check_text(text).unwrap();
    let plan = Plan::new(&runbook, None, &ParamValues::default(), &catalog()).unwrap();
    assert_eq!(plan.waves, vec![vec!["risky"], vec!["recover"]]);
    assert_eq!(plan.step("recover").unwrap().handles, vec!["risky"]);

    let ancestor = r#"
name: bad
steps:
  - id: first
    action: log
    with: { message: a }
  - id: second
    action: log
    needs: [first]
    with: { message: b }
    on_failure: first
"#;
    let found = problems(ancestor);
    assert_eq!(
        found,
        [
            "11:17 runbook::bad-handler handler `first` runs before `second`, so it cannot handle its failure"
        ]
    );
}

#[test]
fn modes_filter_steps_and_dependencies_must_follow() {
    let text = r#"
name: modes
modes: [drill, failover]
steps:
  - id: only_failover
    action: log
    only_in_modes: [failover]
    with: { message: a }
  - id: always
    action: log
    needs: [only_failover]
    with: { message: b }
  - id: reverse_only
    action: log
    only_in_modes: [reverse]
    with: { message: c }
"#;
    let found = problems(text);
    assert!(
        found.contains(&"11:13 runbook::excluded-dependency step `always` runs in `drill` but needs `only_failover`, which does not".to_string()),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("15:21 runbook::unsupported-mode")),
        "{found:#?}"
    );
}

#[test]
fn a_drill_must_clean_up() {
    let without_delete = DRILL
        .replace(
            "  - id: delete\n    action: sdrs.drill.delete\n    needs: [wait_create]\n    with: { disaster_recovery_drill_id: \"{{ steps.wait_create.outputs.drill_id }}\" }\n",
            "",
        )
        .replace(
            "    compensate:\n      action: sdrs.drill.delete\n      with: { disaster_recovery_drill_id: \"{{ steps.wait_create.outputs.drill_id }}\" }\n",
            "",
        );
    let found = problems(&without_delete);
    assert_eq!(
        found,
        [
            "3:9 runbook::drill-cleanup the runbook supports `drill` but no step runs `sdrs.drill.delete` in that mode",
            "18:13 runbook::drill-cleanup the drill created by step `create` is never deleted",
        ],
        "{found:#?}"
    );
}

#[test]
fn mutating_runbooks_need_locks() {
    let text = DRILL.replace("locks: [\"{{ params.server_group_id }}\"]\n", "");
    let found = problems(&text);
    assert_eq!(
        found,
        [
            "17:13 runbook::missing-locks step `create` changes things, but the runbook declares no `locks`"
        ]
    );
}

#[test]
fn wait_until_checks_the_polled_action_and_its_inputs() {
    let text = r#"
name: poll
locks: [x]
steps:
  - id: wait
    action: wait.until
    with:
      action: sdrs.drill.create
      with: { server_group_id: pg }
      select: "server_group.status"
      desired: [protected]
"#;
    let found = problems(text);
    assert_eq!(
        found,
        [
            "8:15 runbook::input-type `wait.until` polls with read-only actions, but `sdrs.drill.create` changes things",
            "9:13 runbook::missing-input `sdrs.drill.create` needs the inputs `drill_vpc_id`, `name`",
            "10:16 runbook::bad-selector `server_group.status` is not a selector: selectors start with `$` (e.g. `$.server_group.status`)",
        ],
        "{found:#?}"
    );
}

#[test]
fn secrets_are_masked_in_plans() {
    let text = r#"
name: secret
params:
  token: { type: string, secret: true }
steps:
  - id: say
    action: log
    with: { message: "token={{ params.token }}" }
"#;
    let runbook = check_text(text).unwrap();
    let params = ParamValues::from_args(&runbook, &["token=s3cr3t".to_string()]).unwrap();
    let plan = Plan::new(&runbook, None, &params, &catalog()).unwrap();
    let shown = format!(
        "{}{}",
        plan.render_text(),
        serde_json::to_string(&plan).unwrap()
    );
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("token=***"), "{shown}");
}

#[test]
fn the_mode_is_resolved_from_the_runbook() {
    let runbook = check_text(DRILL).unwrap();
    assert_eq!(runbook.resolve_mode(None).unwrap(), Some(Mode::Drill));
    assert!(matches!(
        runbook.resolve_mode(Some(Mode::Failover)),
        Err(Error::Mode(m)) if m.contains("does not support mode `failover`")
    ));
}

#[test]
fn for_each_items_and_outputs() {
    let text = r#"
name: fanout
locks: [x]
params:
  servers: { type: list, default: [ecs-web-01, ecs-web-02] }
steps:
  - id: stop
    action: ecs.servers.stop
    for_each: { items: "{{ params.servers }}", concurrency: 2 }
    with: { servers: [{ id: "{{ item }}" }], type: SOFT }
    outputs: { job_id: $.job_id }
  - id: wait
    action: sdrs.job.wait
    needs: [stop]
    for_each: { items: "{{ steps.stop.outputs.job_id }}" }
    with: { job_id: "{{ item }}" }
  - id: bad
    action: log
    needs: [stop]
    when: "{{ item }}"
    with: { message: "{{ index }}" }
"#;
    let found = problems(text);
    assert_eq!(
        found,
        [
            "20:15 runbook::unknown-reference `item` is only defined inside a `for_each` step",
            "21:26 runbook::unknown-reference `index` is only defined inside a `for_each` step",
        ],
        "{found:#?}"
    );
    let fixed = text.replace(
        "    when: \"{{ item }}\"\n    with: { message: \"{{ index }}\" }",
        "    with: { message: done }",
    );
    let runbook = check_text(&fixed).unwrap();
    let params = ParamValues::from_args(&runbook, &[]).unwrap();
    let plan = Plan::new(&runbook, None, &params, &catalog()).unwrap();
    let stop = plan.step("stop").unwrap().for_each.as_ref().unwrap();
    assert_eq!(stop.items, json!(["ecs-web-01", "ecs-web-02"]));
    assert_eq!(stop.count, Some(2));
    assert!(plan.render_dot().contains("\"stop\" -> \"wait\""));
    assert!(plan.render_mermaid().contains("n0 --> n1"));
}
