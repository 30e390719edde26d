//! The HTML report: one self-contained file (inline CSS, inline SVG; no script, no external font,
//! image or stylesheet), readable on screen and printable to PDF.
//!
//! Every string that comes from a runbook, an operator or the service goes through
//! [`Html`](super::escape::Html); only this module's own markup is written raw.

use std::fmt::Write as _;

use serde_json::Value;

use super::escape::Html;
use super::format;
use super::{ChainState, Report, SECRET_MASK, dag};
use crate::store::records::{AttemptOutcome, RunStatus, Verdict};

const STYLE: &str = r#"
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--card:#fff;
--ok:#15803d;--ok-bg:#dcfce7;--bad:#b91c1c;--bad-bg:#fee2e2;--warn:#b45309;--warn-bg:#fef3c7;
--info:#1d4ed8;--info-bg:#dbeafe;--grey:#4b5563;--grey-bg:#f3f4f6}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans","DejaVu Sans",sans-serif}
main{max-width:1320px;margin:0 auto;padding:28px 28px 40px}
header.top{display:flex;justify-content:space-between;align-items:flex-start;gap:24px;border-bottom:3px solid var(--ink);padding-bottom:16px;margin-bottom:20px}
.eyebrow{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);font-weight:600}
h1{font-size:28px;margin:2px 0 6px;letter-spacing:-.01em}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.sub{color:var(--muted);font-size:13px}
.sub code{color:var(--ink)}
code,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace;font-size:12.5px}
.badge{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:700;font-size:12px;letter-spacing:.03em;text-transform:uppercase;border:1px solid transparent;white-space:nowrap}
.badge.big{font-size:15px;padding:7px 16px}
.s-ok{background:var(--ok-bg);color:var(--ok);border-color:#86efac}
.s-bad{background:var(--bad-bg);color:var(--bad);border-color:#fca5a5}
.s-warn{background:var(--warn-bg);color:var(--warn);border-color:#fcd34d}
.s-info{background:var(--info-bg);color:var(--info);border-color:#93c5fd}
.s-grey{background:var(--grey-bg);color:var(--grey);border-color:#d1d5db}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em;font-weight:600}
.card .value{font-size:24px;font-weight:700;margin-top:4px;line-height:1.2}
.card .note{font-size:12px;color:var(--muted);margin-top:4px}
.card.ok{border-top:4px solid var(--ok)}.card.bad{border-top:4px solid var(--bad)}.card.warn{border-top:4px solid var(--warn)}.card.info{border-top:4px solid var(--info)}.card.grey{border-top:4px solid #9ca3af}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:20px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:4px 16px 12px}
dl.kv{display:grid;grid-template-columns:150px 1fr;gap:6px 14px;margin:12px 0}
dl.kv dt{color:var(--muted);font-weight:600;font-size:13px}
dl.kv dd{margin:0;word-break:break-word}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f9fafb;font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
tr:last-child td{border-bottom:none}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.nowrap{white-space:nowrap}
td.break{word-break:break-all;min-width:110px}
tr.item td:first-child{padding-left:26px;color:var(--grey)}
.attempt{display:inline-block;margin:0 6px 2px 0;white-space:nowrap}
.muted{color:var(--muted)}
.empty{color:var(--muted);font-style:italic;padding:8px 0}
.dag-wrap{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px;overflow-x:auto}
svg.dag{display:block;max-width:100%;height:auto;margin:0 auto}
svg.dag text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,"Liberation Sans","DejaVu Sans",sans-serif}
.node rect{stroke-width:1.6}
.node-id{font-size:12.5px;font-weight:700;fill:#111827}
.node-action{font-size:11px;fill:#374151;font-family:ui-monospace,Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace}
.node-status{font-size:11px;fill:#374151}
.node-succeeded rect,.swatch.node-succeeded{fill:#bbf7d0;background:#bbf7d0;stroke:#16a34a;border-color:#16a34a}
.node-failed rect,.swatch.node-failed{fill:#fecaca;background:#fecaca;stroke:#dc2626;border-color:#dc2626}
.node-compensated rect,.swatch.node-compensated{fill:#fde68a;background:#fde68a;stroke:#d97706;border-color:#d97706}
.node-skipped rect,.swatch.node-skipped{fill:#e5e7eb;background:#e5e7eb;stroke:#9ca3af;border-color:#9ca3af}
.node-cancelled rect,.swatch.node-cancelled{fill:#d1d5db;background:#d1d5db;stroke:#4b5563;border-color:#4b5563;stroke-dasharray:5 3}
.node-active rect,.swatch.node-active{fill:#bfdbfe;background:#bfdbfe;stroke:#2563eb;border-color:#2563eb}
.node-pending rect,.swatch.node-pending{fill:#ffffff;background:#ffffff;stroke:#9ca3af;border-color:#9ca3af}
.node-mutating{fill:#7c3aed}
.edge{fill:none;stroke:#6b7280;stroke-width:1.5;stroke-linejoin:round}
.edge-handler{stroke:#dc2626;stroke-dasharray:6 4}
.arrow-head{fill:#6b7280}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:12px;color:var(--grey);margin:10px 4px 2px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:16px;height:12px;border:1.5px solid;border-radius:3px}
.swatch-dot{display:inline-block;width:8px;height:8px;border-radius:50%;background:#7c3aed}
.swatch-line{display:inline-block;width:22px;border-top:2px solid #6b7280}
.swatch-line.handler{border-top:2px dashed #dc2626}
.rto{display:flex;gap:24px;align-items:center}
.rto .figure{font-size:40px;font-weight:800;letter-spacing:-.02em;min-width:180px}
.hash{font-family:ui-monospace,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px;word-break:break-all}
details{margin-top:10px}
summary{cursor:pointer;font-weight:600}
pre{background:#0f172a;color:#e2e8f0;padding:14px;border-radius:8px;overflow-x:auto;font-size:12px;line-height:1.5}
footer{margin-top:36px;padding-top:12px;border-top:1px solid var(--line);color:var(--muted);font-size:12px;display:flex;justify-content:space-between;gap:16px}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,1fr)}.grid2{grid-template-columns:1fr}}
@media print{body{background:#fff}main{padding:0}.card,.panel,table,.dag-wrap{break-inside:avoid}h2{break-after:avoid}details{display:none}}
"#;

/// The CSS class of a status badge.
fn run_status_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "s-ok",
        RunStatus::Failed | RunStatus::FailedCompensation => "s-bad",
        RunStatus::Aborted => "s-grey",
        RunStatus::Compensating => "s-warn",
        RunStatus::Pending | RunStatus::Running | RunStatus::WaitingApproval => "s-info",
    }
}

fn outcome_class(outcome: super::Outcome) -> &'static str {
    use super::Outcome::*;
    match outcome {
        Succeeded => "s-ok",
        Failed => "s-bad",
        Compensated => "s-warn",
        Active => "s-info",
        Skipped | Cancelled | Pending => "s-grey",
    }
}

/// A JSON param value as text (strings without their quotes).
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where the RTO ends, in words: the recovery step, or the wait for its job.
fn rto_end_html(rto: &super::rto::Rto) -> String {
    match (&rto.last_recovery_step, &rto.job_waited_by) {
        (Some(step), Some(waiter)) => format!(
            "until the job of <code>{}</code> finished (<code>{}</code>)",
            Html(step),
            Html(waiter)
        ),
        (Some(step), None) => format!("until <code>{}</code> ended", Html(step)),
        _ => String::new(),
    }
}

fn time_or_dash(time: Option<jiff::Timestamp>) -> String {
    time.map_or_else(|| "—".to_owned(), format::timestamp)
}

/// Renders `report` as a complete HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let run = &report.run;
    let runbook = &report.runbook;
    let status = run.status.as_str();
    let mode = if run.mode.is_empty() {
        "none"
    } else {
        &run.mode
    };
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{generator}">
<title>{name} · {status} · run {id}</title>
<style>{STYLE}</style></head><body><main>
<header class="top"><div><div class="eyebrow">Disaster-recovery run report</div><h1>{name}</h1>
<div class="sub">mode <code>{mode}</code> · run <code>{id}</code> · started by <strong>{actor}</strong> on {created}</div></div>
<div><span class="badge big {class}">{status}</span></div></header>
"#,
        generator = Html(&report.generated_by),
        name = Html(&runbook.name),
        status = status,
        id = run.run_id,
        mode = Html(mode),
        actor = Html(&run.actor),
        created = format::timestamp(run.created_at),
        class = run_status_class(run.status),
    );

    cards(&mut out, report);

    // Run details and approvals side by side.
    out.push_str(r#"<div class="grid2"><section><h2>Run</h2><div class="panel"><dl class="kv">"#);
    let digest_note = if runbook.digest_verified {
        r#" <span class="badge s-ok">matches stored source</span>"#
    } else {
        r#" <span class="badge s-bad">does not match stored source</span>"#
    };
    let mut row = |label: &str, value: String| {
        let _ = write!(out, "<dt>{}</dt><dd>{value}</dd>", Html(label));
    };
    row("Run id", format!("<code>{}</code>", run.run_id));
    row(
        "Runbook",
        format!(
            "<strong>{}</strong> <span class=\"muted\">({})</span>",
            Html(&runbook.name),
            Html(&runbook.path)
        ),
    );
    row(
        "Digest",
        format!(
            "<span class=\"hash\">sha256:{}</span>{digest_note}",
            Html(&runbook.digest)
        ),
    );
    row("Mode", format!("<code>{}</code>", Html(mode)));
    row(
        "Started by",
        format!("<strong>{}</strong>", Html(&run.actor)),
    );
    row("Created", format::timestamp(run.created_at));
    row("Started", time_or_dash(run.started_at));
    row("Ended", time_or_dash(run.ended_at));
    row(
        "Executions",
        if run.executions > 1 {
            format!("{} (resumed {} times)", run.executions, run.executions - 1)
        } else {
            run.executions.to_string()
        },
    );
    row("Endpoint", Html(&run.endpoint).to_string());
    if run.dry_run {
        row(
            "Dry run",
            r#"<span class="badge s-warn">dry run: no mutating call was sent</span>"#.to_owned(),
        );
    }
    if let Some(key) = &run.run_key {
        row("Run key", format!("<code>{}</code>", Html(key)));
    }
    if !run.locks.is_empty() {
        let locks: Vec<String> = run
            .locks
            .iter()
            .map(|l| format!("<code>{}</code>", Html(l)))
            .collect();
        row("Locks", locks.join(" "));
    }
    if let Some(error) = &run.error {
        row(
            "Error",
            format!("<span style=\"color:var(--bad)\">{}</span>", Html(error)),
        );
    }
    out.push_str("</dl>");
    if !runbook.description.is_empty() {
        let _ = write!(
            out,
            r#"<p class="muted" style="margin:0 0 8px">{}</p>"#,
            Html(&runbook.description)
        );
    }
    out.push_str("</div></section><section>");

    out.push_str("<h2>Approvals</h2>");
    if report.approvals.is_empty() {
        out.push_str(r#"<div class="empty">No approval was decided in this run.</div>"#);
    } else {
        out.push_str("<table><thead><tr><th>Step</th><th>Decision</th><th>By</th><th>When</th><th>Comment</th></tr></thead><tbody>");
        for approval in &report.approvals {
            let (class, verdict) = match approval.verdict {
                Verdict::Approve => ("s-ok", "approved"),
                Verdict::Reject => ("s-bad", "rejected"),
            };
            let _ = write!(
                out,
                r#"<tr><td><code>{}</code></td><td><span class="badge {class}">{verdict}</span></td><td class="nowrap"><strong>{}</strong></td><td class="nowrap">{}</td><td>{}</td></tr>"#,
                Html(&approval.step),
                Html(&approval.actor),
                format::timestamp(approval.decided_at),
                Html(approval.comment.as_deref().unwrap_or("")),
            );
        }
        out.push_str("</tbody></table>");
    }

    out.push_str("<h2>Parameters</h2>");
    if report.params.is_empty() {
        out.push_str(r#"<div class="empty">The run took no parameters.</div>"#);
    } else {
        out.push_str("<table><thead><tr><th>Name</th><th>Value</th></tr></thead><tbody>");
        for param in &report.params {
            let value = if param.secret {
                format!(r#"<code>{SECRET_MASK}</code> <span class="badge s-grey">secret</span>"#)
            } else {
                format!("<code>{}</code>", Html(&value_text(&param.value)))
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{value}</td></tr>",
                Html(&param.name)
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section></div>");

    // The DAG.
    out.push_str("<h2>Step graph</h2>");
    match &report.dag.problem {
        Some(problem) => {
            let _ = write!(
                out,
                r#"<div class="empty">The step graph cannot be drawn: {}</div>"#,
                Html(problem)
            );
        }
        None => {
            let _ = write!(
                out,
                r#"<div class="dag-wrap">{}{}</div>"#,
                dag::svg(&report.dag),
                dag::legend()
            );
        }
    }

    steps_table(&mut out, report);
    jobs_table(&mut out, report);
    rto_section(&mut out, report);
    audit_section(&mut out, report);

    let _ = write!(
        out,
        r#"<h2>Runbook source</h2><details><summary>{} ({} lines, sha256:{})</summary><pre>{}</pre></details>"#,
        Html(&runbook.path),
        runbook.source.lines().count(),
        Html(runbook.digest.get(..12).unwrap_or(&runbook.digest)),
        Html(&runbook.source)
    );

    let _ = write!(
        out,
        r#"<footer><span>Generated by {} on {} from the run's records and the audit log. Secret parameters are shown as <code>{SECRET_MASK}</code>.</span><span>report format {}</span></footer>
</main></body></html>
"#,
        Html(&report.generated_by),
        format::timestamp(report.generated_at),
        report.report_format,
    );
    out
}

fn cards(out: &mut String, report: &Report) {
    let run = &report.run;
    out.push_str(r#"<section class="cards">"#);
    let mut card = |class: &str, label: &str, value: String, note: String| {
        let _ = write!(
            out,
            r#"<div class="card {class}"><div class="label">{label}</div><div class="value">{value}</div><div class="note">{note}</div></div>"#
        );
    };
    let status = run.status.as_str();
    let status_class = match run.status {
        RunStatus::Succeeded => "ok",
        RunStatus::Failed | RunStatus::FailedCompensation => "bad",
        RunStatus::Compensating => "warn",
        RunStatus::Aborted => "grey",
        _ => "info",
    };
    let attempts: usize = report.steps.iter().map(|s| s.attempts.len()).sum();
    card(
        status_class,
        "Outcome",
        Html(status).to_string(),
        format!("{} step records, {attempts} attempts", report.steps.len()),
    );
    match report.rto.achieved_ms {
        Some(ms) => card(
            "ok",
            "RTO achieved",
            format::duration(ms),
            rto_end_html(&report.rto),
        ),
        None => card(
            "grey",
            "RTO achieved",
            "—".to_owned(),
            Html(report.rto.reason.as_deref().unwrap_or("")).to_string(),
        ),
    }
    card(
        "info",
        "Duration",
        run.duration_ms
            .map_or_else(|| "—".to_owned(), format::duration),
        if run.ended_at.is_some() {
            "created to ended".to_owned()
        } else {
            "so far (the run has not ended)".to_owned()
        },
    );
    let count = |name: &str| report.step_counts.get(name).copied().unwrap_or(0);
    let bad = count("failed") + count("compensation-failed");
    card(
        if bad > 0 { "bad" } else { "ok" },
        "Steps",
        format!("{} / {}", count("succeeded"), report.steps.len()),
        format!(
            "succeeded; {bad} failed, {} skipped, {} compensated",
            count("skipped"),
            count("compensated")
        ),
    );
    let (class, value, note) = match report.audit.chain {
        ChainState::Verified => (
            "ok",
            "Verified".to_owned(),
            format!("{} entries, hash chain intact", report.audit.entries),
        ),
        ChainState::Broken => (
            "bad",
            "Broken".to_owned(),
            report.audit.breach.as_ref().map_or_else(String::new, |b| {
                format!(
                    "first bad entry: line {}{}",
                    b.line,
                    b.seq.map(|s| format!(", seq {s}")).unwrap_or_default()
                )
            }),
        ),
        ChainState::Unavailable => (
            "warn",
            "Unavailable".to_owned(),
            "the audit log could not be read".to_owned(),
        ),
    };
    card(class, "Audit chain", value, note);
    out.push_str("</section>");
}

fn steps_table(out: &mut String, report: &Report) {
    out.push_str("<h2>Steps</h2>");
    if report.steps.is_empty() {
        out.push_str(r#"<div class="empty">No step has been recorded yet.</div>"#);
        return;
    }
    out.push_str("<table><thead><tr><th>Step</th><th>Action</th><th>Status</th><th>Started</th><th>Ended</th><th>Duration</th><th>Attempts</th><th>Job</th></tr></thead><tbody>");
    for step in &report.steps {
        let mut attempts = String::new();
        for attempt in &step.attempts {
            let class = match attempt.outcome {
                AttemptOutcome::Succeeded => "s-ok",
                AttemptOutcome::Failed | AttemptOutcome::TimedOut => "s-bad",
                AttemptOutcome::Throttled => "s-warn",
                AttemptOutcome::Cancelled => "s-grey",
                AttemptOutcome::InProgress => "s-info",
            };
            let word = super::build::attempt_outcome_word(attempt.outcome);
            let title = attempt.message.as_deref().unwrap_or("");
            let _ = write!(
                attempts,
                r#"<span class="attempt" title="{}"><span class="badge {class}">#{} {word}</span>"#,
                Html(title),
                attempt.number
            );
            if let Some(code) = &attempt.error_code {
                let _ = write!(attempts, " <code>{}</code>", Html(code));
            }
            attempts.push_str("</span>");
        }
        if let Some(reason) = &step.skip_reason {
            let _ = write!(attempts, r#"<span class="muted">{}</span>"#, Html(reason));
        }
        let status = step.status.as_str();
        let _ = write!(
            out,
            r#"<tr class="{row}"><td><code>{key}</code>{mutating}</td><td><code>{action}</code></td><td><span class="badge {class}">{status}</span></td><td class="nowrap">{start}</td><td class="nowrap">{end}</td><td class="num">{duration}</td><td>{attempts}</td><td class="mono">{job}</td></tr>"#,
            row = if step.item.is_some() { "item" } else { "step" },
            key = Html(&step.key),
            mutating = if step.mutating {
                r#" <span class="swatch-dot" title="changes SDRS or ECS resources"></span>"#
            } else {
                ""
            },
            action = Html(&step.action),
            class = outcome_class(step.outcome),
            start = step
                .started_at
                .map_or_else(String::new, format::time_of_day),
            end = step.ended_at.map_or_else(String::new, format::time_of_day),
            duration = step.duration_ms.map_or_else(String::new, format::duration),
            job = Html(step.job_id.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table>");
}

fn jobs_table(out: &mut String, report: &Report) {
    out.push_str("<h2>SDRS and ECS jobs</h2>");
    if report.jobs.is_empty() {
        out.push_str(r#"<div class="empty">The run started no asynchronous job.</div>"#);
        return;
    }
    out.push_str("<table><thead><tr><th>Job id</th><th>Operation</th><th>Started by</th><th>Job type</th><th>Status</th><th>Ran (service time)</th><th>Waited by</th><th>Error</th></tr></thead><tbody>");
    for job in &report.jobs {
        let status = job.status.as_deref().unwrap_or("");
        let class = match status {
            "SUCCESS" => "s-ok",
            "FAIL" | "FAILED" => "s-bad",
            _ => "s-info",
        };
        let status = if status.is_empty() {
            r#"<span class="muted">not waited for</span>"#.to_owned()
        } else {
            format!(r#"<span class="badge {class}">{}</span>"#, Html(status))
        };
        let error = match (&job.error_code, &job.fail_reason) {
            (Some(code), Some(reason)) => format!("<code>{}</code> {}", Html(code), Html(reason)),
            (Some(code), None) => format!("<code>{}</code>", Html(code)),
            (None, Some(reason)) => Html(reason).to_string(),
            (None, None) => String::new(),
        };
        let _ = write!(
            out,
            r#"<tr><td class="mono break">{}</td><td><code>{}</code> <span class="badge s-grey">{}</span></td><td><code>{}</code></td><td class="mono">{}</td><td>{status}</td><td class="nowrap">{}</td><td><code>{}</code></td><td>{error}</td></tr>"#,
            Html(&job.job_id),
            Html(&job.operation),
            Html(&job.service.to_uppercase()),
            Html(&job.step),
            Html(job.job_type.as_deref().unwrap_or("")),
            job_times(job.begin_time.as_deref(), job.end_time.as_deref()),
            Html(job.waited_by.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table>");
}

/// A job's begin and end as the service reported them: times of day and the duration when
/// both parse as timestamps, the text as given otherwise.
fn job_times(begin: Option<&str>, end: Option<&str>) -> String {
    let parse = |t: Option<&str>| t.and_then(|t| t.parse::<jiff::Timestamp>().ok());
    match (parse(begin), parse(end)) {
        (Some(b), Some(e)) => format!(
            "{} → {} <span class=\"muted\">({})</span>",
            format::time_of_day(b),
            format::time_of_day(e),
            format::millis_between(Some(b), Some(e)).map_or_else(String::new, format::duration)
        ),
        _ => {
            let text = |t: Option<&str>| Html(t.unwrap_or("?")).to_string();
            if begin.is_none() && end.is_none() {
                String::new()
            } else {
                format!("{} → {}", text(begin), text(end))
            }
        }
    }
}

fn rto_section(out: &mut String, report: &Report) {
    let rto = &report.rto;
    out.push_str(r#"<h2>Recovery time (RTO)</h2><div class="panel"><div class="rto">"#);
    match rto.achieved_ms {
        Some(ms) => {
            let _ = write!(
                out,
                r#"<div class="figure" style="color:var(--ok)">{}</div><dl class="kv"><dt>From</dt><dd>{} (run start)</dd><dt>To</dt><dd>{} ({})</dd>"#,
                format::duration(ms),
                time_or_dash(rto.from),
                time_or_dash(rto.to),
                rto_end_html(rto),
            );
        }
        None => {
            let _ = write!(
                out,
                r#"<div class="figure muted">—</div><dl class="kv"><dt>Not reported</dt><dd>{}</dd>"#,
                Html(rto.reason.as_deref().unwrap_or(""))
            );
        }
    }
    let steps: Vec<String> = rto
        .recovery_steps
        .iter()
        .map(|s| format!("<code>{}</code>", Html(s)))
        .collect();
    let _ = write!(
        out,
        r#"<dt>Recovery steps</dt><dd>{}</dd><dt>Definition</dt><dd class="muted">{}</dd></dl></div></div>"#,
        if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join(", ")
        },
        Html(rto.definition)
    );
}

fn audit_section(out: &mut String, report: &Report) {
    let audit = &report.audit;
    out.push_str(r#"<h2>Audit chain</h2><div class="panel"><dl class="kv">"#);
    let status = match audit.chain {
        ChainState::Verified => format!(
            r#"<span class="badge s-ok">verified</span> all {} entries chain by SHA-256 without a change, gap or reordering"#,
            audit.entries
        ),
        ChainState::Broken => {
            let breach = audit.breach.as_ref();
            format!(
                r#"<span class="badge s-bad">broken at entry {}</span> {}"#,
                breach.map_or_else(String::new, |b| match b.seq {
                    Some(seq) => format!("{seq} (line {})", b.line),
                    None => format!("on line {}", b.line),
                }),
                Html(breach.map_or("", |b| b.message.as_str()))
            )
        }
        ChainState::Unavailable => format!(
            r#"<span class="badge s-warn">unavailable</span> {}"#,
            Html(audit.error.as_deref().unwrap_or(""))
        ),
    };
    let _ = write!(out, "<dt>Status</dt><dd>{status}</dd>");
    let _ = write!(
        out,
        r#"<dt>Log</dt><dd class="mono">{}</dd>"#,
        Html(&audit.log.display().to_string())
    );
    if let Some(head) = &audit.head {
        let _ = write!(
            out,
            r#"<dt>Head</dt><dd>seq {} · <span class="hash">{}</span><div class="muted">Keep this hash outside the host: it proves later that the log was not truncated or rewritten up to here.</div></dd>"#,
            head.seq,
            Html(&head.hash)
        );
    }
    let entries: Vec<String> = audit
        .run_entries
        .iter()
        .map(|(kind, count)| format!("<code>{}</code> × {count}", Html(kind)))
        .collect();
    let total: u64 = audit.run_entries.values().sum();
    let _ = write!(
        out,
        "<dt>This run</dt><dd>{}{}</dd>",
        if total == 0 {
            "no entries".to_owned()
        } else {
            format!("{total} entries: {}", entries.join(", "))
        },
        audit
            .run_seq_range
            .map(|(first, last)| format!(r#" <span class="muted">(seq {first}–{last})</span>"#))
            .unwrap_or_default()
    );
    if let Some(error) = audit
        .error
        .as_ref()
        .filter(|_| audit.chain != ChainState::Unavailable)
    {
        let _ = write!(out, "<dt>Note</dt><dd>{}</dd>", Html(error));
    }
    out.push_str(r#"<dt>What it proves</dt><dd class="muted">No entry before the last one was changed, removed, inserted or moved since it was written. It cannot show that entries were cut from the end, or that the whole file was rewritten, unless the head hash was kept elsewhere.</dd></dl></div>"#);
}
