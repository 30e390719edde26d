//! Problems found in a runbook, with their location, and how they are shown.
//!
//! Every problem has a stable [`Code`] (scripts and the JSON output key on it), a message that
//! says what is wrong, the span it points at, and help that says how to fix it. Validation
//! collects all problems of a file into [`Diagnostics`], which renders them with miette (a
//! graphical report with a source snippet) or as data.

use std::fmt;

use serde::Serialize;

use super::source::{Source, Span};

macro_rules! codes {
    ($($variant:ident = $name:literal: $help:literal,)*) => {
        /// Stable identifier of a kind of problem. The string form (`unknown-key`) is part of
        /// drbook's interface: it appears in reports as `runbook::unknown-key` and in JSON output.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// General advice for this kind of problem; a problem may carry more specific help.
            pub fn help(self) -> &'static str {
                match self {
                    $(Code::$variant => $help,)*
                }
            }
        }
    };
}

codes! {
    YamlSyntax = "yaml-syntax": "fix the YAML syntax at this point",
    YamlLimit = "yaml-limit": "runbooks are limited in nesting depth, node count and aliases; write the YAML out plainly",
    UnknownKey = "unknown-key": "remove the key or fix its spelling; the README lists every key",
    DuplicateKey = "duplicate-key": "a key may appear only once in a mapping",
    MissingKey = "missing-key": "add the key",
    WrongType = "wrong-type": "change the value to the expected type",
    InvalidValue = "invalid-value": "use one of the allowed values",
    InvalidName = "invalid-name": "names start with a letter or `_` and contain only letters, digits, `_` and `-`",
    DuplicateStep = "duplicate-step": "give every step a unique `id`",
    UnknownStep = "unknown-step": "name the `id` of a step of this runbook",
    Cycle = "cycle": "remove one of the `needs` entries on the cycle",
    UnknownAction = "unknown-action": "run `drbook actions` to list the actions, or see the README",
    MissingInput = "missing-input": "add the input under `with`",
    UnknownInput = "unknown-input": "remove the input or fix its spelling",
    InputType = "input-type": "change the input to the type the action expects",
    BadDuration = "bad-duration": "write durations as a number and a unit, e.g. `500ms`, `30s`, `5m`, `2h`, `1h30m`",
    BadErrorPattern = "bad-error-pattern": "write error codes as `NAMESPACE.CODE`, e.g. `SDRS.0209`, with `*` and `?` as wildcards and `x` for a digit (`HTTP.5xx`)",
    BadSelector = "bad-selector": "selectors look like `$.server_group.status`, `$.items[0].id` or `$.items[*].id`",
    TemplateSyntax = "template-syntax": "templates are handlebars expressions such as `{{ params.name }}` or `{{ eq steps.check.outputs.status 'protected' }}`",
    UnknownParam = "unknown-param": "declare the param under `params`, or fix the name",
    UnknownReference = "unknown-reference": "templates can read `params.*`, `steps.<id>.outputs.*`, `steps.<id>.status`, `item`, `index`, `run.id` and `run.mode`",
    MissingDependency = "missing-dependency": "a step may read only the steps it depends on through `needs`; otherwise it would race",
    UnknownHelper = "unknown-helper": "use one of the documented helpers: eq, ne, gt, gte, lt, lte, and, or, not, len, contains, lookup, find, join, default, json, concat, lower, upper",
    BadCondition = "bad-condition": "a condition is one template expression, e.g. `{{ eq steps.check.outputs.status 'protected' }}`",
    UnsupportedMode = "unsupported-mode": "add the mode to the runbook's `modes`, or remove it here",
    ExcludedDependency = "excluded-dependency": "a step may only depend on steps that run in the same modes; widen the other step's `only_in_modes` or split this step",
    DrillCleanup = "drill-cleanup": "a drill must always clean up: add a `sdrs.drill.delete` step after the drill is created, and the same action as the create step's `compensate`",
    BadHandler = "bad-handler": "`on_failure` is `abort`, `continue`, or the id of a handler step that runs when this step fails",
    ParamType = "param-type": "make the default match the param's type",
    MissingLocks = "missing-locks": "a runbook that changes anything must declare `locks` (the protection groups it acts on) so that two runs cannot act on the same group at once",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a runbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: Code,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where: the primary location.
    pub span: Span,
    /// Short text shown under the primary location.
    pub label: String,
    /// How to fix it, when more specific than [`Code::help`].
    pub help: Option<String>,
    /// Other locations that explain the problem (e.g. every edge of a cycle).
    pub related: Vec<(Span, String)>,
}

impl Problem {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// The help shown: the specific one, or the code's general advice.
    pub fn help_text(&self) -> &str {
        self.help.as_deref().unwrap_or(self.code.help())
    }
}

/// All problems of one runbook, with its source so that they can be shown.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub source: Source,
    pub problems: Vec<Problem>,
}

/// How to draw diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Terminal width to wrap at.
    pub width: usize,
    /// ANSI colours (only for terminals that want them).
    pub color: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            width: 100,
            color: false,
        }
    }
}

impl Diagnostics {
    pub fn new(source: Source, mut problems: Vec<Problem>) -> Self {
        // Reports read top to bottom like the file; equal positions keep the order found.
        problems.sort_by_key(|p| p.span.offset);
        Diagnostics { source, problems }
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// The graphical report (miette): message, code, source snippet with labels, help.
    pub fn render(&self, options: RenderOptions) -> String {
        let theme = if options.color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(options.width)
            .with_links(false)
            .with_context_lines(1);
        let named = self.source.named_source();
        let mut out = String::new();
        for problem in &self.problems {
            let report = ProblemReport {
                problem,
                source: &named,
            };
            if handler.render_report(&mut out, &report).is_err() {
                // Rendering into a String cannot fail; if miette ever does, fall back to text.
                out.push_str(&format!("error: {}\n", problem.message));
            }
            out.push('\n');
        }
        out
    }

    /// The problems as data, for `--output json`.
    pub fn to_data(&self) -> Vec<ProblemData> {
        self.problems
            .iter()
            .map(|p| {
                let (line, column) = self.source.line_col(p.span.offset);
                let (end_line, end_column) = self.source.line_col(p.span.end());
                ProblemData {
                    code: format!("runbook::{}", p.code),
                    severity: "error",
                    message: p.message.clone(),
                    file: self.source.name().to_string(),
                    line,
                    column,
                    end_line,
                    end_column,
                    label: p.label.clone(),
                    help: p.help_text().to_string(),
                    related: p
                        .related
                        .iter()
                        .map(|(span, label)| {
                            let (line, column) = self.source.line_col(span.offset);
                            RelatedData {
                                line,
                                column,
                                label: label.clone(),
                            }
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} has {} problem{}",
            self.source.name(),
            n,
            if n == 1 { "" } else { "s" }
        )?;
        if let Some(first) = self.problems.first() {
            let (line, column) = self.source.line_col(first.span.offset);
            write!(f, "; first at {line}:{column}: {}", first.message)?;
        }
        Ok(())
    }
}

/// A problem as data (`drbook validate --output json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProblemData {
    pub code: String,
    pub severity: &'static str,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub label: String,
    pub help: String,
    pub related: Vec<RelatedData>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RelatedData {
    pub line: usize,
    pub column: usize,
    pub label: String,
}

/// Adapter that lets miette draw one [`Problem`] against its source.
struct ProblemReport<'a> {
    problem: &'a Problem,
    source: &'a miette::NamedSource<std::sync::Arc<str>>,
}

impl fmt::Debug for ProblemReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.problem, f)
    }
}

impl fmt::Display for ProblemReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for ProblemReport<'_> {}

impl miette::Diagnostic for ProblemReport<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("runbook::{}", self.problem.code)))
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.problem.help_text()))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary_label = if self.problem.label.is_empty() {
            None
        } else {
            Some(self.problem.label.clone())
        };
        let primary = miette::LabeledSpan::new_primary_with_span(primary_label, self.problem.span);
        let related =
            self.problem.related.iter().map(|(span, label)| {
                miette::LabeledSpan::new_with_span(Some(label.clone()), *span)
            });
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code}"
            );
            assert!(!code.help().is_empty());
        }
    }

    #[test]
    fn the_report_shows_code_location_label_and_help() {
        let source = Source::new("x.yaml", "name: x\nstpes: []\n").unwrap();
        let diagnostics = Diagnostics::new(
            source,
            vec![
                Problem::new(Code::UnknownKey, Span::new(8, 5), "unknown key `stpes`")
                    .label("not a runbook key")
                    .help("did you mean `steps`?"),
            ],
        );
        let text = diagnostics.render(RenderOptions::default());
        assert!(text.contains("runbook::unknown-key"), "{text}");
        assert!(text.contains("[x.yaml:2:1]"), "{text}");
        assert!(text.contains("not a runbook key"), "{text}");
        assert!(text.contains("did you mean `steps`?"), "{text}");
        let data = diagnostics.to_data();
        assert_eq!((data[0].line, data[0].column), (2, 1));
        assert_eq!((data[0].end_line, data[0].end_column), (2, 6));
    }
}
