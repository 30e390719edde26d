//! Schedule files: the YAML an SRE writes to rehearse a runbook on a cron, read in two stages.
//! serde-saphyr reads the raw shape (unknown keys and wrong types are refused with line and
//! column); then every schedule is checked (name, runbook and its mode and params, cron, time
//! zone, overlap, catch-up window) and *every* problem is reported, each naming its schedule and
//! where it is, so a typo never silently disables a rehearsal.
//!
//! ```yaml
//! schedules:
//!   - name: weekly-web-drill
//!     runbook: ../runbooks/dr-drill.yaml   # relative to this file
//!     mode: drill
//!     params: { server_group_id: pg-web-0001 }
//!     cron: "0 3 * * SUN"
//!     timezone: Europe/Paris
//!     overlap: skip          # skip | buffer-one
//!     catchup: 6h            # after downtime, fire (once) a missed slot younger than this
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::decide::{Overlap, Policy};
use super::error::{Error, Result};
use super::timing::Timing;
use crate::engine::catalog::Catalog;
use crate::runbook::{self, Mode, ParamValues, Runbook};

/// Longest schedule name: it is part of run keys and file names.
pub const MAX_NAME_LEN: usize = 64;

/// The time zone of a schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A checked schedule, ready to run.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Unique within the file; part of every run key.
    pub name: String,
    /// The runbook file (resolved against the schedule file's directory).
    pub runbook_path: PathBuf,
    /// The runbook's `name`.
    pub runbook_name: String,
    /// The mode to run in (`None` for a runbook without modes).
    pub mode: Option<Mode>,
    /// `name=value` arguments for `drbook run --param`, in name order.
    pub params: Vec<String>,
    /// The param values as written, for output (schedule files hold no secrets).
    pub param_values: BTreeMap<String, Value>,
    /// When its slots fall.
    pub timing: Timing,
    /// What happens to its slots.
    pub policy: Policy,
    /// Where it is declared (`line:column`).
    pub location: String,
}

impl Schedule {
    /// The run key of `slot`: `schedule:<name>:<slot in RFC 3339, UTC>`. UTC keeps the key of an
    /// instant the same whatever the schedule's time zone says.
    pub fn run_key(&self, slot: Timestamp) -> String {
        run_key(&self.name, slot)
    }
}

/// The run key of `slot` of schedule `name`.
pub fn run_key(name: &str, slot: Timestamp) -> String {
    format!("schedule:{name}:{slot}")
}

/// A loaded, checked schedule file.
#[derive(Clone, Debug)]
pub struct ScheduleFile {
    /// The file.
    pub path: PathBuf,
    /// Its schedules, in file order.
    pub schedules: Vec<Schedule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schedules: Vec<Spanned<RawSchedule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: Spanned<String>,
    runbook: Spanned<String>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    params: Option<Spanned<BTreeMap<String, Value>>>,
    cron: Spanned<String>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    overlap: Option<Spanned<Overlap>>,
    #[serde(default)]
    catchup: Option<Spanned<String>>,
}

/// `line:column` of a spanned value.
fn at<T>(spanned: &Spanned<T>) -> String {
    format!(
        "{}:{}",
        spanned.referenced.line(),
        spanned.referenced.column()
    )
}

/// Reads and checks the schedule file at `path` (runbooks are validated against drbook's action
/// catalog; `now` decides whether a cron still has a slot ahead).
pub fn load(path: &Path, now: Timestamp) -> Result<ScheduleFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text, now)
}

/// Checks the text of a schedule file named `path`.
pub fn parse(path: &Path, text: &str, now: Timestamp) -> Result<ScheduleFile> {
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| Error::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    let mut schedules = Vec::new();
    let mut names = HashSet::new();
    if raw.schedules.is_empty() {
        problems.push("`schedules` is empty: declare at least one schedule".to_owned());
    }
    for entry in &raw.schedules {
        let before = problems.len();
        let schedule = check(&entry.value, &at(entry), base, now, &mut problems);
        let name = &entry.value.name.value;
        if !names.insert(name.clone()) {
            problems.push(format!(
                "schedule `{name}` ({}): the name is used twice; schedule names must be unique",
                at(&entry.value.name)
            ));
        }
        if let Some(schedule) = schedule.filter(|_| problems.len() == before) {
            schedules.push(schedule);
        }
    }
    if problems.is_empty() {
        Ok(ScheduleFile {
            path: path.to_owned(),
            schedules,
        })
    } else {
        Err(Error::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

/// Checks one schedule; pushes every problem found (each naming the schedule and a location).
fn check(
    raw: &RawSchedule,
    location: &str,
    base: &Path,
    now: Timestamp,
    problems: &mut Vec<String>,
) -> Option<Schedule> {
    let name = raw.name.value.as_str();
    let mut problem = |where_: String, message: String| {
        problems.push(format!("schedule `{name}` ({where_}): {message}"));
    };
    if let Err(why) = check_name(name) {
        problem(at(&raw.name), why);
    }

    let timezone = raw
        .timezone
        .as_ref()
        .map_or(DEFAULT_TIMEZONE, |tz| tz.value.as_str());
    let timing = match Timing::parse(&raw.cron.value, timezone) {
        Ok(timing) => match timing.next_after(now) {
            Some(_) => Some(timing),
            None => {
                problem(
                    at(&raw.cron),
                    format!("cron `{}` never matches a future time", raw.cron.value),
                );
                None
            }
        },
        Err(error) => {
            if let Some(why) = error.cron {
                problem(at(&raw.cron), why);
            }
            if let Some(why) = error.zone {
                let where_ = raw.timezone.as_ref().map_or_else(|| at(&raw.cron), at);
                problem(where_, why);
            }
            None
        }
    };

    let catchup = match &raw.catchup {
        None => Some(SignedDuration::ZERO),
        Some(text) => match text.value.parse::<runbook::Duration>() {
            Ok(duration) => SignedDuration::try_from(duration.as_std())
                .map_err(|e| problem(at(text), format!("`catchup`: {e}")))
                .ok(),
            Err(why) => {
                problem(at(text), format!("`catchup`: {why}"));
                None
            }
        },
    };

    let runbook_path = base.join(&raw.runbook.value);
    let runbook = match runbook::load(&runbook_path, Catalog::global()) {
        Ok(runbook) => Some(runbook),
        Err(runbook::Error::Invalid(diagnostics)) => {
            problem(
                at(&raw.runbook),
                format!(
                    "runbook {diagnostics}; check it with `drbook validate {}`",
                    runbook_path.display()
                ),
            );
            None
        }
        Err(error) => {
            problem(at(&raw.runbook), format!("runbook: {error}"));
            None
        }
    };

    let mut mode = None;
    let mut params = Vec::new();
    let mut param_values = BTreeMap::new();
    if let Some(runbook) = &runbook {
        let requested = match &raw.mode {
            None => Ok(None),
            Some(text) => text
                .value
                .parse::<Mode>()
                .map(Some)
                .map_err(|why| (at(text), why)),
        };
        match requested.and_then(|requested| {
            runbook.resolve_mode(requested).map_err(|e| {
                let where_ = raw.mode.as_ref().map_or_else(|| location.to_owned(), at);
                (where_, e.to_string())
            })
        }) {
            Ok(resolved) => mode = resolved,
            Err((where_, why)) => problem(where_, why),
        }
        let given = raw
            .params
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        let params_at = raw.params.as_ref().map_or_else(|| location.to_owned(), at);
        match check_params(runbook, &given) {
            Ok(args) => {
                params = args;
                param_values = given;
            }
            Err(whys) => {
                for why in whys {
                    problem(params_at.clone(), why);
                }
            }
        }
    }

    Some(Schedule {
        name: name.to_owned(),
        runbook_name: runbook.as_ref()?.name.clone(),
        runbook_path,
        mode,
        params,
        param_values,
        timing: timing?,
        policy: Policy {
            overlap: raw.overlap.as_ref().map(|o| o.value).unwrap_or_default(),
            catchup: catchup?,
        },
        location: location.to_owned(),
    })
}

/// Schedule names go into run keys, logs and file names: keep them plain.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() {
        Err("the name is empty".to_owned())
    } else if name.len() > MAX_NAME_LEN {
        Err(format!(
            "the name is {} characters long; at most {MAX_NAME_LEN}",
            name.len()
        ))
    } else if !plain || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Err(
            "a name starts with a letter or digit and contains only letters, digits, `-`, `_` and `.`"
                .to_owned(),
        )
    } else {
        Ok(())
    }
}

/// Checks the params a schedule gives its runbook (types, unknown or missing ones) and turns
/// them into `name=value` arguments for `drbook run`. Secret params are refused: a schedule file
/// is configuration, often in a repository, and values given to `drbook run` on its command
/// line are visible to every user of the machine.
fn check_params(
    runbook: &Runbook,
    given: &BTreeMap<String, Value>,
) -> std::result::Result<Vec<String>, Vec<String>> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if runbook.params.get(name).is_some_and(|spec| spec.secret) {
            problems.push(format!(
                "param `{name}` is secret: a schedule file must not hold secrets; give the runbook \
                 param a non-secret source instead"
            ));
        }
    }
    if let Err(error) = ParamValues::from_values(runbook, given.clone()) {
        match error {
            runbook::Error::Params(list) => problems.extend(list),
            other => problems.push(other.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(given
        .iter()
        .map(|(name, value)| match value {
            // `drbook run --param` reads strings as they are and lists as JSON.
            Value::String(text) => format!("{name}={text}"),
            other => format!("{name}={other}"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-20T00:00:00Z".parse().unwrap()
    }

    /// A schedule file in the repository root, so `runbooks/...` resolves.
    fn parse_here(text: &str) -> Result<ScheduleFile> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules.yaml");
        parse(&path, text, now())
    }

    fn problems(text: &str) -> Vec<String> {
        match parse_here(text) {
            Err(Error::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_schedule_loads() {
        let file = parse_here(
            r#"
schedules:
  - name: weekly-web-drill
    runbook: runbooks/dr-drill.yaml
    mode: drill
    params: { server_group_id: pg-web-0002, approvers: [alice, bob] }
    cron: "0 3 * * SUN"
    timezone: Europe/Paris
    overlap: buffer-one
    catchup: 6h
  - name: defaults
    runbook: runbooks/dr-drill.yaml
    cron: "*/5 * * * * *"
"#,
        )
        .unwrap();
        let [weekly, defaults] = file.schedules.as_slice() else {
            panic!("{file:?}")
        };
        assert_eq!(weekly.name, "weekly-web-drill");
        assert_eq!(weekly.runbook_name, "dr-drill");
        assert_eq!(weekly.mode, Some(Mode::Drill));
        assert_eq!(
            weekly.params,
            [
                r#"approvers=["alice","bob"]"#.to_owned(),
                "server_group_id=pg-web-0002".to_owned()
            ]
        );
        assert_eq!(weekly.policy.overlap, Overlap::BufferOne);
        assert_eq!(weekly.policy.catchup, SignedDuration::from_hours(6));
        assert_eq!(weekly.timing.zone_name(), "Europe/Paris");
        assert_eq!(weekly.location, "3:5");
        assert_eq!(
            weekly.run_key("2026-11-22T02:00:00Z".parse().unwrap()),
            "schedule:weekly-web-drill:2026-11-22T02:00:00Z"
        );
        // The single mode of the runbook, UTC, skip, no catch-up.
        assert_eq!(defaults.mode, Some(Mode::Drill));
        assert_eq!(defaults.timing.zone_name(), "UTC");
        assert_eq!(defaults.policy.overlap, Overlap::Skip);
        assert_eq!(defaults.policy.catchup, SignedDuration::ZERO);
        assert!(defaults.params.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_schedule_and_location() {
        let found = problems(
            r#"
schedules:
  - name: bad cron
    runbook: runbooks/dr-drill.yaml
    cron: "0 3 * *"
    timezone: Mars/Olympus
    catchup: soon
  - name: bad-runbook
    runbook: runbooks/nope.yaml
    cron: "0 3 * * *"
  - name: bad-params
    runbook: runbooks/dr-drill.yaml
    mode: failover
    params: { server_group: pg-web-0001, approvers: 3 }
    cron: "0 3 * * *"
  - name: bad-params
    runbook: runbooks/dr-drill.yaml
    cron: "0 0 30 2 *"
"#,
        );
        let text = found.join("\n");
        let expect = [
            "schedule `bad cron` (3:11): a name starts with a letter or digit",
            "schedule `bad cron` (5:11): cron `0 3 * *` has 4 fields",
            "schedule `bad cron` (6:15): time zone `Mars/Olympus` is not known",
            "schedule `bad cron` (7:14): `catchup`: `soon` is not a duration",
            "schedule `bad-runbook` (9:14): runbook: cannot read",
            "schedule `bad-params` (13:11): runbook `dr-drill` does not support mode `failover`",
            "schedule `bad-params` (14:13): `server_group` is not a param of runbook `dr-drill`; did you mean `server_group_id`?",
            "schedule `bad-params` (14:13): param `approvers`: expected list",
            "schedule `bad-params` (18:11): cron `0 0 30 2 *` never matches a future time",
            "schedule `bad-params` (16:11): the name is used twice",
        ];
        for expected in expect {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(found.len(), expect.len(), "{text}");
    }

    #[test]
    fn an_unknown_zone_is_reported_at_the_zone() {
        let found = problems(
            r#"
schedules:
  - name: zone
    runbook: runbooks/dr-drill.yaml
    cron: "0 3 * * *"
    timezone: Mars/Olympus
"#,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("schedule `zone` (6:15): time zone `Mars/Olympus` is not known"),
            "{found:?}"
        );
    }

    #[test]
    fn secret_params_are_refused() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(
            temp.path().join("rb.yaml"),
            r#"
name: secretive
params:
  token: { type: string, secret: true, required: false }
steps:
  - id: hello
    action: log
    with: { message: hi }
"#,
        )
        .unwrap();
        let path = temp.path().join("schedules.yaml");
        let error = parse(
            &path,
            "schedules:\n  - { name: s, runbook: rb.yaml, cron: '@daily', params: { token: hunter2 } }\n",
            now(),
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("param `token` is secret"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn unknown_keys_and_wrong_shapes_name_the_line() {
        let error = parse_here(
            "schedules:\n  - name: x\n    runbook: runbooks/dr-drill.yaml\n    cron: '@daily'\n    overlaps: skip\n",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("overlaps"), "{text}");
        assert!(text.contains("line 5"), "{text}");
        let error = parse_here(
            "schedules:\n  - name: x\n    runbook: runbooks/dr-drill.yaml\n    cron: '@daily'\n    overlap: queue\n",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("queue") && text.contains("buffer-one"),
            "{text}"
        );
        assert!(text.contains("line 5"), "{text}");
        let empty = problems("schedules: []\n");
        assert_eq!(
            empty,
            ["`schedules` is empty: declare at least one schedule"]
        );
    }
}
