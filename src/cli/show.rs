//! `drbook show RUN [STEP]`: everything recorded about a run's steps: inputs (params filled in,
//! secrets redacted) and the mutating request as sent, outputs, the SDRS job, every attempt with
//! its outcome, error code, message and times, approvals, skips, compensation and `for_each`
//! items. With STEP, only that step (and its items), followed by its history.
//!
//! A stopped run is read from its database. A live run's database is locked by the process
//! driving it, so `show` falls back to its status snapshot (states, attempt counts, last error,
//! outputs, job ids) and says so; the full record is there once the run stops.
//!
//! JSON (`--output json`): `{"run": {...}, "live": bool, "steps": [...], "events": [...]}`. A
//! stopped run's steps carry the store's step record members (`status`, `attempts`, `intent`,
//! `job_id`, `response`, `outputs`, `next_attempt_at`, `approval`, `skip_reason`, `started_at`,
//! `ended_at`, `compensation`) plus `id`, `action`, `needs`, `inputs` and `items` (the item
//! records); a live run's steps are the snapshot's step summaries.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::exit::Exit;
use super::output::{Output, print, print_json};
use super::run::error_exit;
use super::status::{parse_run, read_view};
use crate::engine::catalog::Catalog;
use crate::engine::{self, Error, RunView, inbox};
use crate::runbook::{Mode, ParamValues, Plan, Runbook};
use crate::store::DataDir;
use crate::store::records::{Attempt, StepRecord};
use crate::store::redact::redact;

/// Arguments of `drbook show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(value_name = "RUN")]
    run: String,
    /// Only this step (and its `for_each` items), with its history.
    #[arg(value_name = "STEP")]
    step: Option<String>,
    /// Where runs live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let run_id = match parse_run(&args.run) {
        Ok(id) => id,
        Err(exit) => return Ok(exit),
    };
    let data_dir = DataDir::from_arg(args.data_dir.clone())?;
    let stored = if inbox::is_driven(&data_dir, run_id) {
        None
    } else {
        match engine::read_run(&data_dir, run_id) {
            Ok(view) => Some(view),
            Err(Error::InUse { .. }) => None,
            Err(error) => return Ok(error_exit(&error)),
        }
    };
    let document = match stored {
        Some(view) => match stopped(&view, args.step.as_deref()) {
            Ok(document) => document,
            Err(error) => return Ok(error_exit(&error)),
        },
        None => {
            let view = match read_view(&data_dir, run_id) {
                Ok(view) => view,
                Err(error) => return Ok(error_exit(&error)),
            };
            let steps: Vec<Value> = view
                .snapshot
                .steps
                .iter()
                .filter(|s| args.step.as_ref().is_none_or(|id| *id == s.id))
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            if let Some(step) = &args.step
                && steps.is_empty()
            {
                return Ok(error_exit(&Error::StepNotFound {
                    run_id: run_id.to_string(),
                    step: step.clone(),
                }));
            }
            let mut run = serde_json::to_value(&view.snapshot)?;
            if let Value::Object(map) = &mut run {
                map.remove("steps");
                map.remove("counts");
            }
            json!({"run": run, "live": true, "steps": steps, "events": []})
        }
    };
    match args.output {
        Output::Json => print_json(&document)?,
        Output::Text => print(&render(&document))?,
    }
    Ok(Exit::Success)
}

/// The inputs of every step as the plan shows them: params filled in, references to other
/// steps and items still templates, secret params masked.
fn planned_inputs(view: &RunView, runbook: &Runbook) -> Map<String, Value> {
    let mode: Option<Mode> = view.run.mode.parse().ok();
    let params = ParamValues::from_values(
        runbook,
        view.run.params.iter().map(|(k, v)| (k.clone(), v.clone())),
    );
    let plan = params
        .ok()
        .and_then(|params| Plan::new(runbook, mode, &params, Catalog::global()).ok());
    runbook
        .steps
        .iter()
        .map(|step| {
            let inputs = plan
                .as_ref()
                .and_then(|p| p.steps.iter().find(|s| s.id == step.id))
                .map(|s| Value::Object(s.inputs.clone()))
                .unwrap_or_else(|| json!(step.inputs));
            (step.id.clone(), inputs)
        })
        .collect()
}

fn record_json(record: &StepRecord) -> Result<Map<String, Value>, Error> {
    match serde_json::to_value(record) {
        Ok(Value::Object(mut map)) => {
            map.remove("step_id");
            Ok(map)
        }
        Ok(_) => Ok(Map::new()),
        Err(e) => Err(Error::Internal(format!("cannot encode a step record: {e}"))),
    }
}

fn stopped(view: &RunView, only: Option<&str>) -> Result<Value, Error> {
    let run = &view.run;
    let secret_names: Vec<&str> = run.secret_params.iter().map(String::as_str).collect();
    let mode: Option<Mode> = run.mode.parse().ok();
    let inputs = view
        .runbook
        .as_ref()
        .map(|r| planned_inputs(view, r))
        .unwrap_or_default();
    // Steps in runbook order; without the runbook (it no longer validates), in record order.
    let mut order: Vec<(String, String, Vec<String>)> = match &view.runbook {
        Some(runbook) => runbook
            .steps
            .iter()
            .filter(|s| s.is_active_in(mode))
            .map(|s| (s.id.clone(), s.action.clone(), s.needs.clone()))
            .collect(),
        None => view
            .steps
            .iter()
            .filter(|r| r.item.is_none())
            .map(|r| (r.step_id.clone(), String::new(), Vec::new()))
            .collect(),
    };
    if let Some(only) = only {
        order.retain(|(id, _, _)| id == only);
        if order.is_empty() {
            return Err(Error::StepNotFound {
                run_id: run.run_id.to_string(),
                step: only.to_owned(),
            });
        }
    }
    let mut steps = Vec::new();
    for (id, action, needs) in order {
        let pending = StepRecord::pending(&crate::store::records::StepKey::single(id.clone()));
        let record = view
            .steps
            .iter()
            .find(|r| r.item.is_none() && r.step_id == id)
            .unwrap_or(&pending);
        let mut step = Map::new();
        step.insert("id".into(), id.clone().into());
        step.insert("action".into(), action.into());
        step.insert("needs".into(), json!(needs));
        step.insert(
            "inputs".into(),
            inputs.get(&id).cloned().unwrap_or(Value::Null),
        );
        step.extend(record_json(record)?);
        let mut items: Vec<&StepRecord> = view
            .steps
            .iter()
            .filter(|r| r.item.is_some() && r.step_id == id)
            .collect();
        items.sort_by_key(|r| r.item);
        if !items.is_empty() {
            let items: Vec<Value> = items
                .into_iter()
                .map(|r| record_json(r).map(Value::Object))
                .collect::<Result<_, _>>()?;
            step.insert("items".into(), Value::Array(items));
        }
        let mut step = Value::Object(step);
        // Secrets never reach the store; this only hides values under a secret param's name
        // that an action echoed back.
        redact(&mut step, &secret_names, &[]);
        steps.push(step);
    }
    let events: Vec<Value> = match only {
        Some(only) => view
            .events
            .iter()
            .filter(|e| {
                e.event.step.as_deref().is_some_and(|s| {
                    s == only || s.strip_prefix(only).is_some_and(|r| r.starts_with('['))
                })
            })
            .map(|e| {
                let mut value = json!({"seq": e.seq, "time": e.event.time, "kind": e.event.kind,
                    "step": e.event.step, "data": e.event.data});
                redact(&mut value, &secret_names, &[]);
                value
            })
            .collect(),
        None => Vec::new(),
    };
    let mut run_json = json!({
        "run_id": run.run_id,
        "runbook": run.runbook_name,
        "runbook_path": run.runbook_path,
        "runbook_digest": run.runbook_digest,
        "mode": (!run.mode.is_empty()).then(|| run.mode.clone()),
        "status": run.status,
        "dry_run": run.dry_run,
        "actor": run.actor,
        "attempt": run.attempt,
        "endpoint": run.endpoint,
        "params": run.params,
        "run_key": run.run_key,
        "locks": run.locks,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "deadline": run.deadline,
        "error": run.error,
    });
    redact(&mut run_json, &secret_names, &[]);
    Ok(json!({"run": run_json, "live": false, "steps": steps, "events": events}))
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn attempt_line(attempt: &Attempt) -> String {
    let outcome = serde_json::to_value(attempt.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut line = format!("#{} {outcome}", attempt.number);
    if let Some(code) = &attempt.error_code {
        line.push_str(&format!(" {code}"));
    }
    if let Some(message) = &attempt.message {
        line.push_str(&format!(": {message}"));
    }
    line.push_str(&format!("  ({}", attempt.started_at));
    if let Some(ended) = attempt.ended_at {
        line.push_str(&format!(" .. {ended}"));
    }
    line.push(')');
    line
}

/// The text view of a `show` document.
fn render(document: &Value) -> String {
    let run = &document["run"];
    let live = document["live"].as_bool().unwrap_or(false);
    let mut text = format!(
        "run {} {} ({}{})\n",
        run["run_id"].as_str().unwrap_or(""),
        run["status"].as_str().unwrap_or(""),
        run["runbook"].as_str().unwrap_or(""),
        run["mode"]
            .as_str()
            .map(|m| format!(", {m}"))
            .unwrap_or_default()
    );
    for key in [
        "actor",
        "attempt",
        "endpoint",
        "created_at",
        "started_at",
        "ended_at",
        "error",
    ] {
        match &run[key] {
            Value::Null => {}
            Value::String(s) => text.push_str(&format!("  {key}: {s}\n")),
            other => text.push_str(&format!("  {key}: {other}\n")),
        }
    }
    if let Some(params) = run["params"].as_object()
        && !params.is_empty()
    {
        text.push_str(&format!("  params: {}\n", compact(&run["params"])));
    }
    if live {
        text.push_str(
            "  (live: a process drives this run; showing its status snapshot. Inputs, attempts and history show once it stops.)\n",
        );
    }
    for step in document["steps"].as_array().into_iter().flatten() {
        render_step(&mut text, step, live);
    }
    let events = document["events"].as_array().cloned().unwrap_or_default();
    if !events.is_empty() {
        text.push_str("\nhistory:\n");
        for event in events {
            text.push_str(&format!(
                "  {} {} {}{}\n",
                event["time"].as_str().unwrap_or(""),
                event["step"].as_str().unwrap_or(""),
                event["kind"].as_str().unwrap_or(""),
                match &event["data"] {
                    Value::Null => String::new(),
                    data => format!(" {}", compact(data)),
                }
            ));
        }
    }
    text
}

fn render_step(text: &mut String, step: &Value, live: bool) {
    let status = step["status"].as_str().unwrap_or("");
    text.push_str(&format!(
        "\nstep {}  {status}  ({})\n",
        step["id"].as_str().unwrap_or(""),
        step["action"].as_str().unwrap_or("")
    ));
    if let Some(needs) = step["needs"].as_array()
        && !needs.is_empty()
    {
        let names: Vec<&str> = needs.iter().filter_map(Value::as_str).collect();
        text.push_str(&format!("  needs: {}\n", names.join(", ")));
    }
    for key in [
        "started_at",
        "ended_at",
        "job_id",
        "next_attempt_at",
        "skip_reason",
    ] {
        if let Some(value) = step[key].as_str() {
            text.push_str(&format!("  {}: {value}\n", key.replace('_', " ")));
        }
    }
    if live {
        for key in ["attempts", "error_code", "message"] {
            match &step[key] {
                Value::Null => {}
                Value::String(s) => text.push_str(&format!("  {key}: {s}\n")),
                other => text.push_str(&format!("  {key}: {other}\n")),
            }
        }
    }
    if !step["inputs"].is_null() {
        text.push_str(&format!("  inputs: {}\n", compact(&step["inputs"])));
    }
    if let Some(intent) = step["intent"].as_object() {
        text.push_str(&format!(
            "  request: {} {}\n",
            intent
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or(""),
            intent.get("request").map(compact).unwrap_or_default()
        ));
    }
    if let Some(outputs) = step["outputs"].as_object()
        && !outputs.is_empty()
    {
        text.push_str(&format!("  outputs: {}\n", compact(&step["outputs"])));
    }
    if !live && let Some(attempts) = step["attempts"].as_array() {
        for attempt in attempts {
            if let Ok(attempt) = serde_json::from_value::<Attempt>(attempt.clone()) {
                text.push_str(&format!("  attempt {}\n", attempt_line(&attempt)));
            }
        }
    }
    if let Some(approval) = step["approval"].as_object() {
        text.push_str(&format!(
            "  approval: {} by {}{}\n",
            approval
                .get("verdict")
                .and_then(Value::as_str)
                .unwrap_or(""),
            approval.get("actor").and_then(Value::as_str).unwrap_or(""),
            approval
                .get("comment")
                .and_then(Value::as_str)
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ));
    }
    if let Some(comp) = step["compensation"].as_object() {
        text.push_str("  compensation:");
        if let Some(job) = comp.get("job_id").and_then(Value::as_str) {
            text.push_str(&format!(" job {job}"));
        }
        text.push('\n');
        for attempt in comp
            .get("attempts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Ok(attempt) = serde_json::from_value::<Attempt>(attempt.clone()) {
                text.push_str(&format!("    attempt {}\n", attempt_line(&attempt)));
            }
        }
    }
    for item in step["items"].as_array().into_iter().flatten() {
        let status = item["status"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                serde_json::from_value(item["status"].clone())
                    .ok()
                    .map(|s: crate::store::records::StepStatus| s.as_str().to_owned())
            })
            .unwrap_or_default();
        let mut line = format!("  item [{}] {status}", item["item"]);
        if let Some(job) = item["job_id"].as_str() {
            line.push_str(&format!(" job {job}"));
        }
        if let Some(last) = item["attempts"].as_array().and_then(|a| a.last())
            && let Ok(attempt) = serde_json::from_value::<Attempt>(last.clone())
        {
            line.push_str(&format!(", last attempt {}", attempt_line(&attempt)));
        }
        text.push_str(&line);
        text.push('\n');
    }
}
