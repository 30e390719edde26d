//! Data-driven tests of the runbook language: every `fixtures/runbooks/err/*.yaml` must report
//! exactly the problems its `# expect: <code> at <line>:<column>` comments list, and the
//! rendered diagnostics are snapshotted; every `fixtures/runbooks/ok/*.yaml` must be valid, and
//! its plan for each mode is snapshotted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

use std::collections::BTreeSet;
use std::path::Path;

use drbook::engine::catalog::Catalog;
use drbook::runbook::{self, Diagnostics, ParamValues, Plan, RenderOptions, Runbook, Source};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runbooks");

/// Reads a fixture under a stable name (`err/cycle.yaml`), so that snapshots do not depend on
/// where the repository is checked out.
fn source(kind: &str, path: &Path) -> Source {
    let text = std::fs::read_to_string(path).unwrap();
    let name = format!("{kind}/{}", path.file_name().unwrap().to_string_lossy());
    Source::new(name, text).unwrap()
}

fn fixtures(kind: &str) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(Path::new(FIXTURES).join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
}

fn expectations(text: &str) -> BTreeSet<(String, usize, usize)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (code, at) = rest
                .split_once(" at ")
                .expect("`# expect: <code> at <line>:<col>`");
            let (line, column) = at.trim().split_once(':').unwrap();
            (
                format!("runbook::{}", code.trim()),
                line.parse().unwrap(),
                column.parse().unwrap(),
            )
        })
        .collect()
}

fn found(diagnostics: &Diagnostics) -> BTreeSet<(String, usize, usize)> {
    diagnostics
        .to_data()
        .into_iter()
        .map(|p| (p.code, p.line, p.column))
        .collect()
}

#[test]
fn there_are_at_least_thirty_error_cases() {
    assert!(fixtures("err").len() >= 30, "{}", fixtures("err").len());
}

#[test]
fn each_error_case_reports_its_problems_at_the_right_line_and_column() {
    let mut failures = Vec::new();
    for path in fixtures("err") {
        let source = source("err", &path);
        let expected = expectations(source.text());
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            source.name()
        );
        match runbook::check(&source, Catalog::global()) {
            Ok(_) => failures.push(format!("{}: valid, expected {expected:?}", source.name())),
            Err(diagnostics) => {
                let found = found(&diagnostics);
                if found != expected {
                    failures.push(format!(
                        "{}:\n  expected {expected:?}\n  found    {found:?}",
                        source.name()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_diagnostics_match_their_snapshots() {
    insta::glob!("fixtures/runbooks/err/*.yaml", |path| {
        let source = source("err", path);
        let diagnostics = runbook::check(&source, Catalog::global()).unwrap_err();
        let rendered = diagnostics.render(RenderOptions {
            width: 100,
            color: false,
        });
        insta::assert_snapshot!(rendered);
    });
}

fn plans(runbook: &Runbook) -> String {
    let catalog = Catalog::global();
    let params = ParamValues::from_args(runbook, &[]).unwrap();
    let modes: Vec<Option<runbook::Mode>> = if runbook.modes.is_empty() {
        vec![None]
    } else {
        runbook.modes.iter().copied().map(Some).collect()
    };
    modes
        .into_iter()
        .map(|mode| {
            Plan::new(runbook, mode, &params, catalog)
                .unwrap()
                .render_text()
        })
        .collect::<Vec<_>>()
        .join("\n----\n")
}

#[test]
fn valid_cases_check_and_their_plans_match_their_snapshots() {
    insta::glob!("fixtures/runbooks/ok/*.yaml", |path| {
        let source = source("ok", path);
        let runbook = match runbook::check(&source, Catalog::global()) {
            Ok(runbook) => runbook,
            Err(d) => panic!("{}", d.render(RenderOptions::default())),
        };
        insta::assert_snapshot!(plans(&runbook));
    });
}
