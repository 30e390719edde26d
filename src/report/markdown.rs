//! The Markdown report: the HTML report's content for a pull-request comment or a wiki page
//! (GitHub-flavoured tables, the DAG as a Mermaid flowchart).
//!
//! Every string that comes from a runbook, an operator or the service goes through
//! [`Markdown`](super::escape::Markdown) (or [`MermaidLabel`](super::escape::MermaidLabel) inside
//! the diagram), so it cannot add links, markup or table cells.

use std::fmt::Write as _;

use serde_json::Value;

use super::escape::{Markdown as Md, MermaidLabel};
use super::{ChainState, EdgeKind, Outcome, Report, SECRET_MASK, format};
use crate::store::records::Verdict;

/// Where the RTO ends, in words.
fn rto_end(rto: &super::rto::Rto) -> String {
    match (&rto.last_recovery_step, &rto.job_waited_by) {
        (Some(step), Some(waiter)) => format!(
            "until the job of {} finished, as {} saw",
            Md(step),
            Md(waiter)
        ),
        (Some(step), None) => format!("until {} ended", Md(step)),
        _ => String::new(),
    }
}

fn time_or_dash(time: Option<jiff::Timestamp>) -> String {
    time.map_or_else(|| "—".to_owned(), format::timestamp)
}

/// Renders `report` as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let run = &report.run;
    let runbook = &report.runbook;
    let status = run.status.as_str();
    let mode = if run.mode.is_empty() {
        "none"
    } else {
        &run.mode
    };
    let _ = writeln!(out, "# DR run report: {}\n", Md(&runbook.name));
    let _ = writeln!(
        out,
        "**Status: {}** · mode {} · run {} · started by **{}**\n",
        status.to_uppercase(),
        Md(mode),
        run.run_id,
        Md(&run.actor)
    );

    let _ = writeln!(out, "| | |\n|---|---|");
    let rto = match report.rto.achieved_ms {
        Some(ms) => format!("**{}** ({})", format::duration(ms), rto_end(&report.rto)),
        None => format!(
            "not reported: {}",
            Md(report.rto.reason.as_deref().unwrap_or(""))
        ),
    };
    let audit = match report.audit.chain {
        ChainState::Verified => format!("verified ({} entries)", report.audit.entries),
        ChainState::Broken => match &report.audit.breach {
            Some(b) => format!(
                "**BROKEN** at line {}{}: {}",
                b.line,
                b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
                Md(&b.message)
            ),
            None => "**BROKEN**".to_owned(),
        },
        ChainState::Unavailable => format!(
            "unavailable: {}",
            Md(report.audit.error.as_deref().unwrap_or(""))
        ),
    };
    let digest = format!(
        "sha256:{} ({})",
        Md(&runbook.digest),
        if runbook.digest_verified {
            "matches the stored source"
        } else {
            "**does not match the stored source**"
        }
    );
    let mut rows: Vec<(&str, String)> = vec![
        ("Run id", run.run_id.to_string()),
        (
            "Runbook",
            format!("{} ({})", Md(&runbook.name), Md(&runbook.path)),
        ),
        ("Digest", digest),
        ("Mode", Md(mode).to_string()),
        ("Started by", Md(&run.actor).to_string()),
        ("Created", format::timestamp(run.created_at)),
        ("Started", time_or_dash(run.started_at)),
        ("Ended", time_or_dash(run.ended_at)),
        (
            "Duration",
            run.duration_ms
                .map_or_else(|| "—".to_owned(), format::duration),
        ),
        ("RTO achieved", rto),
        ("Executions", run.executions.to_string()),
        ("Endpoint", Md(&run.endpoint).to_string()),
        ("Audit chain", audit),
    ];
    if run.dry_run {
        rows.push(("Dry run", "yes: no mutating call was sent".to_owned()));
    }
    if let Some(key) = &run.run_key {
        rows.push(("Run key", Md(key).to_string()));
    }
    if !run.locks.is_empty() {
        let locks: Vec<String> = run.locks.iter().map(|l| Md(l).to_string()).collect();
        rows.push(("Locks", locks.join(", ")));
    }
    if let Some(error) = &run.error {
        rows.push(("Error", Md(error).to_string()));
    }
    for (label, value) in rows {
        let _ = writeln!(out, "| **{label}** | {value} |");
    }

    out.push_str("\n## Approvals\n\n");
    if report.approvals.is_empty() {
        out.push_str("No approval was decided in this run.\n");
    } else {
        out.push_str("| Step | Decision | By | When | Comment |\n|---|---|---|---|---|\n");
        for a in &report.approvals {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                Md(&a.step),
                match a.verdict {
                    Verdict::Approve => "approved",
                    Verdict::Reject => "**rejected**",
                },
                Md(&a.actor),
                format::timestamp(a.decided_at),
                Md(a.comment.as_deref().unwrap_or(""))
            );
        }
    }

    out.push_str("\n## Parameters\n\n");
    if report.params.is_empty() {
        out.push_str("The run took no parameters.\n");
    } else {
        out.push_str("| Name | Value |\n|---|---|\n");
        for p in &report.params {
            let value = if p.secret {
                format!("{} (secret)", Md(SECRET_MASK))
            } else {
                match &p.value {
                    Value::String(s) => Md(s).to_string(),
                    other => Md(&other.to_string()).to_string(),
                }
            };
            let _ = writeln!(out, "| {} | {value} |", Md(&p.name));
        }
    }

    out.push_str("\n## Step graph\n\n");
    match &report.dag.problem {
        Some(problem) => {
            let _ = writeln!(out, "The step graph cannot be drawn: {}", Md(problem));
        }
        None => mermaid(&mut out, report),
    }

    out.push_str("\n## Steps\n\n");
    if report.steps.is_empty() {
        out.push_str("No step has been recorded yet.\n");
    } else {
        out.push_str(
            "| Step | Action | Status | Started | Ended | Duration | Attempts | Job |\n|---|---|---|---|---|---|---|---|\n",
        );
        for s in &report.steps {
            let attempts: Vec<String> = s
                .attempts
                .iter()
                .map(|a| {
                    let word = super::build::attempt_outcome_word(a.outcome);
                    match &a.error_code {
                        Some(code) => format!("\\#{} {word} {}", a.number, Md(code)),
                        None => format!("\\#{} {word}", a.number),
                    }
                })
                .chain(s.skip_reason.iter().map(|r| Md(r).to_string()))
                .collect();
            let _ = writeln!(
                out,
                "| {}{} | {} | {} | {} | {} | {} | {} | {} |",
                Md(&s.key),
                if s.mutating { " ✱" } else { "" },
                Md(&s.action),
                s.status.as_str(),
                s.started_at.map_or_else(String::new, format::time_of_day),
                s.ended_at.map_or_else(String::new, format::time_of_day),
                s.duration_ms.map_or_else(String::new, format::duration),
                attempts.join("; "),
                Md(s.job_id.as_deref().unwrap_or("")),
            );
        }
        out.push_str("\n✱ changes SDRS or ECS resources\n");
    }

    out.push_str("\n## SDRS and ECS jobs\n\n");
    if report.jobs.is_empty() {
        out.push_str("The run started no asynchronous job.\n");
    } else {
        out.push_str("| Job id | Service | Operation | Started by | Job type | Status | Begin | End | Waited by | Error |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for j in &report.jobs {
            let error = [j.error_code.as_deref(), j.fail_reason.as_deref()]
                .into_iter()
                .flatten()
                .map(|s| Md(s).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {error} |",
                Md(&j.job_id),
                Md(&j.service.to_uppercase()),
                Md(&j.operation),
                Md(&j.step),
                Md(j.job_type.as_deref().unwrap_or("")),
                Md(j.status.as_deref().unwrap_or("not waited for")),
                Md(j.begin_time.as_deref().unwrap_or("")),
                Md(j.end_time.as_deref().unwrap_or("")),
                Md(j.waited_by.as_deref().unwrap_or("")),
            );
        }
    }

    out.push_str("\n## Recovery time (RTO)\n\n");
    match report.rto.achieved_ms {
        Some(ms) => {
            let _ = writeln!(
                out,
                "**{}**: from {} (run start) to {} ({}).\n",
                format::duration(ms),
                time_or_dash(report.rto.from),
                time_or_dash(report.rto.to),
                rto_end(&report.rto)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Not reported: {}.\n",
                Md(report.rto.reason.as_deref().unwrap_or(""))
            );
        }
    }
    let steps: Vec<String> = report
        .rto
        .recovery_steps
        .iter()
        .map(|s| Md(s).to_string())
        .collect();
    let _ = writeln!(
        out,
        "Recovery steps: {}. {}",
        if steps.is_empty() {
            "none".to_owned()
        } else {
            steps.join(", ")
        },
        Md(report.rto.definition)
    );

    out.push_str("\n## Audit chain\n\n");
    let a = &report.audit;
    match a.chain {
        ChainState::Verified => {
            let _ = writeln!(
                out,
                "**Verified**: all {} entries of {} chain by SHA-256 without a change, gap or reordering.",
                a.entries,
                Md(&a.log.display().to_string())
            );
        }
        ChainState::Broken => {
            let _ = writeln!(
                out,
                "**Broken**: {}",
                a.breach.as_ref().map_or_else(String::new, |b| format!(
                    "the first bad entry is on line {}{}: {}",
                    b.line,
                    b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
                    Md(&b.message)
                ))
            );
        }
        ChainState::Unavailable => {
            let _ = writeln!(
                out,
                "**Unavailable**: {}",
                Md(a.error.as_deref().unwrap_or(""))
            );
        }
    }
    if let Some(head) = &a.head {
        let _ = writeln!(
            out,
            "\nHead: seq {}, hash {} (keep it outside the host to detect truncation or a rewrite later).",
            head.seq,
            Md(&head.hash)
        );
    }
    let total: u64 = a.run_entries.values().sum();
    let kinds: Vec<String> = a
        .run_entries
        .iter()
        .map(|(k, n)| format!("{} × {n}", Md(k)))
        .collect();
    let _ = writeln!(
        out,
        "\nThis run: {}.",
        if total == 0 {
            "no entries".to_owned()
        } else {
            format!("{total} entries ({})", kinds.join(", "))
        }
    );

    let _ = writeln!(
        out,
        "\n---\nGenerated by {} on {} from the run's records and the audit log (report format {}). Secret parameters are shown as {}.",
        Md(&report.generated_by),
        format::timestamp(report.generated_at),
        report.report_format,
        Md(SECRET_MASK)
    );
    out
}

/// The DAG as a Mermaid flowchart, nodes coloured by outcome.
fn mermaid(out: &mut String, report: &Report) {
    let dag = &report.dag;
    out.push_str("```mermaid\nflowchart LR\n");
    // Node ids are positional (`n0`, `n1`, ...) so that step ids never have to be valid
    // Mermaid identifiers; the step id is in the quoted label.
    let positions: std::collections::HashMap<&str, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let index = |id: &str| positions.get(id).copied();
    for (i, node) in dag.nodes.iter().enumerate() {
        let status = node
            .status
            .map_or("not started", crate::store::records::StepStatus::as_str);
        let mut detail = status.to_owned();
        if let Some(items) = node.items {
            let _ = write!(detail, " · {}/{} items", items.succeeded, items.total);
        }
        let _ = writeln!(
            out,
            "  n{i}[\"{}<br/>{}<br/>{}\"]:::{}",
            MermaidLabel(&node.id),
            MermaidLabel(&node.action),
            MermaidLabel(&detail),
            node.outcome.as_str()
        );
    }
    for edge in &dag.edges {
        if let (Some(from), Some(to)) = (index(&edge.from), index(&edge.to)) {
            let arrow = match edge.kind {
                EdgeKind::Needs => "-->",
                EdgeKind::Handler => "-. on failure .->",
            };
            let _ = writeln!(out, "  n{from} {arrow} n{to}");
        }
    }
    for outcome in Outcome::ALL {
        let (fill, stroke) = match outcome {
            Outcome::Succeeded => ("#bbf7d0", "#16a34a"),
            Outcome::Failed => ("#fecaca", "#dc2626"),
            Outcome::Compensated => ("#fde68a", "#d97706"),
            Outcome::Skipped => ("#e5e7eb", "#9ca3af"),
            Outcome::Cancelled => ("#d1d5db", "#4b5563"),
            Outcome::Active => ("#bfdbfe", "#2563eb"),
            Outcome::Pending => ("#ffffff", "#9ca3af"),
        };
        let _ = writeln!(
            out,
            "  classDef {} fill:{fill},stroke:{stroke},color:#111827",
            outcome.as_str()
        );
    }
    out.push_str("```\n\nColours: green succeeded, red failed, amber compensated, grey skipped or cancelled, blue in progress, white not started.\n");
}
