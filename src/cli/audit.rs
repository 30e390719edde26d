//! `drbook audit verify` and `drbook audit export`: check the audit log's hash chain, and ship its
//! entries to a SIEM as JSON Lines, byte for byte as written (so the receiver can check hashes).

use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::exit::Exit;
use super::output::{Output, print, print_json};
use crate::report::BreachInfo;
use crate::store::audit::{Anchor, AuditLog, Since, Verification};
use crate::store::{DataDir, Error as StoreError};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check the whole hash chain and name the first entry that was changed, removed, inserted
    /// or reordered (exit 0: intact, 1: broken).
    Verify(VerifyArgs),
    /// Write audit entries to stdout as JSON Lines, exactly as they are in the log.
    Export(ExportArgs),
}

/// Where the log is: a data directory's, or a file given directly.
#[derive(Debug, clap::Args)]
struct LogArgs {
    /// drbook's data directory (default: the platform data directory, e.g.
    /// `~/.local/share/drbook`); the log is `<DIR>/audit/audit.jsonl`.
    #[arg(long, env = "DRBOOK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// An audit log file to read instead (a copy, an archived log).
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    log: Option<PathBuf>,
}

impl LogArgs {
    /// The log's path, or the exit code after saying why there is none.
    fn path(&self) -> anyhow::Result<Result<PathBuf, Exit>> {
        let path = match &self.log {
            Some(path) => path.clone(),
            None => DataDir::from_arg(self.data_dir.clone())?.audit_log_path(),
        };
        if path.is_file() {
            Ok(Ok(path))
        } else {
            // Opening a missing log would create its directory; a typo in --data-dir should
            // not pass for an empty, intact log.
            eprintln!(
                "error: no audit log at {} (nothing has been audited in this data directory)",
                path.display()
            );
            Ok(Err(Exit::NotFound))
        }
    }
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    log: LogArgs,
    /// A head kept outside the host, as `SEQ:HASH` (from an earlier verify): also detects that
    /// the log was truncated or rewritten up to that entry.
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_anchor)]
    anchor: Option<Anchor>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// One JSON object per line, as written in the log.
    Jsonl,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Only entries appended at or after this time: RFC 3339 (`2026-11-01T00:00Z`), a date
    /// (`2026-11-01`, midnight UTC), or an age (`7d`, `12h`, `30m`, `2w`).
    #[arg(long, value_name = "WHEN", value_parser = parse_since, conflicts_with = "after_seq")]
    since: Option<Timestamp>,
    /// Only entries after this `seq` (what a forwarder that remembers its position wants).
    #[arg(long, value_name = "SEQ")]
    after_seq: Option<u64>,
    /// The output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: ExportFormat,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.command {
        Command::Verify(args) => verify(args),
        Command::Export(args) => export(args),
    }
}

/// `verify --output json`.
#[derive(Debug, Serialize)]
struct VerifyReport {
    log: PathBuf,
    /// `intact` or `broken`.
    status: &'static str,
    /// Entries that check out (all of them when intact; those before the breach otherwise).
    entries: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    head: Option<Anchor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breach: Option<BreachInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anchor: Option<Anchor>,
}

fn verify(args: VerifyArgs) -> anyhow::Result<Exit> {
    let path = match args.log.path()? {
        Ok(path) => path,
        Err(exit) => return Ok(exit),
    };
    let log = AuditLog::at(path.clone())?;
    let verification = match log.verify(args.anchor.as_ref()) {
        Ok(verification) => verification,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(Exit::Internal);
        }
    };
    let report = match verification {
        Verification::Intact { entries, head } => VerifyReport {
            log: path,
            status: "intact",
            entries,
            head,
            breach: None,
            anchor: args.anchor,
        },
        Verification::Broken(breach) => VerifyReport {
            log: path,
            status: "broken",
            entries: breach.line.saturating_sub(1),
            head: None,
            breach: Some(BreachInfo::from_breach(&breach)),
            anchor: args.anchor,
        },
    };
    match args.output {
        Output::Json => print_json(&report)?,
        Output::Text => print(&verify_text(&report))?,
    }
    Ok(if report.breach.is_some() {
        Exit::Failed
    } else {
        Exit::Success
    })
}

fn verify_text(report: &VerifyReport) -> String {
    let mut text = format!("audit log {}\n", report.log.display());
    match &report.breach {
        None => {
            text.push_str(&format!("intact: {} entries", report.entries));
            if let Some(anchor) = &report.anchor {
                text.push_str(&format!(", including the anchor at seq {}", anchor.seq));
            }
            text.push('\n');
            if let Some(head) = &report.head {
                text.push_str(&format!(
                    "head: {}:{}\n(keep the head outside this host; `--anchor {}:{}` then also detects truncation and rewrites)\n",
                    head.seq, head.hash, head.seq, head.hash
                ));
            }
        }
        Some(breach) => {
            text.push_str(&format!(
                "BROKEN at line {}{}: {}\n",
                breach.line,
                breach
                    .seq
                    .map(|s| format!(" (seq {s})"))
                    .unwrap_or_default(),
                breach.message
            ));
            text.push_str(&format!(
                "the {} entries before it verify; every entry from line {} on is unproven\n",
                report.entries, breach.line
            ));
        }
    }
    text
}

fn export(args: ExportArgs) -> anyhow::Result<Exit> {
    let path = match args.log.path()? {
        Ok(path) => path,
        Err(exit) => return Ok(exit),
    };
    let ExportFormat::Jsonl = args.format;
    let since = match (args.since, args.after_seq) {
        (Some(time), _) => Since::Time(time),
        (None, Some(seq)) => Since::Seq(seq),
        (None, None) => Since::Start,
    };
    let log = AuditLog::at(path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match log.export(since, &mut out) {
        Ok(count) => {
            drop(out);
            eprintln!("exported {count} entries");
            Ok(Exit::Success)
        }
        // A closed pipe (`... | head`) is not an error: the reader has what it wanted.
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(Exit::Success)
        }
        Err(error) => {
            // Whatever was exported so far is complete lines; say where it stopped.
            let _ = out.flush();
            eprintln!("error: {error}");
            if let Some(help) = miette::Diagnostic::help(&error) {
                eprintln!("  help: {help}");
            }
            Ok(Exit::Failed)
        }
    }
}

/// Reads `SEQ:HASH`.
fn parse_anchor(text: &str) -> Result<Anchor, String> {
    let (seq, hash) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not SEQ:HASH"))?;
    let seq: u64 = seq
        .trim()
        .parse()
        .map_err(|_| format!("`{seq}` is not an entry number"))?;
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the hash must be 64 hexadecimal digits (SHA-256)".to_owned());
    }
    if seq == 0 {
        return Err("entries are numbered from 1".to_owned());
    }
    Ok(Anchor { seq, hash })
}

/// Reads `--since`: an RFC 3339 time, a date (midnight UTC), or an age before now.
fn parse_since(text: &str) -> Result<Timestamp, String> {
    parse_since_at(text, Timestamp::now())
}

fn parse_since_at(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(seconds) = parse_age(text)? {
        let seconds = i64::try_from(seconds).map_err(|_| format!("`{text}` is too long"))?;
        return now
            .checked_sub(jiff::SignedDuration::from_secs(seconds))
            .map_err(|e| format!("`{text}` reaches too far back: {e}"));
    }
    if let Ok(time) = text.parse::<Timestamp>() {
        return Ok(time);
    }
    // jiff reads a date out of a date-time too; a time without a zone must not pass as midnight.
    let has_time = text.contains(['T', 't', ' ']);
    if has_time && text.parse::<jiff::civil::DateTime>().is_ok() {
        return Err(format!(
            "`{text}` has no time zone: add `Z` for UTC or an offset such as `+01:00`"
        ));
    }
    if !has_time && let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "`{text}` is neither a time (2026-11-01T00:00Z), a date (2026-11-01) nor an age (7d, 12h, 30m)"
    ))
}

/// An age such as `7d`, `1d12h`, `2w`, `90s`, in seconds; `None` if `text` is not shaped like
/// one (starts with a digit, ends with a unit letter, no `-` or `:`).
fn parse_age(text: &str) -> Result<Option<u64>, String> {
    let looks_like_age = text.starts_with(|c: char| c.is_ascii_digit())
        && text.ends_with(|c: char| c.is_ascii_alphabetic())
        && !text.contains(['-', ':']);
    if !looks_like_age {
        return Ok(None);
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("`{text}`: expected a number at `{rest}`"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (use s, m, h, d or w)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("`{text}` is too long"))?;
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_times_dates_and_ages() {
        let now: Timestamp = "2026-11-08T12:00:00Z".parse().unwrap();
        let at = |text: &str| parse_since_at(text, now);
        assert_eq!(
            at("2026-11-01T00:00Z").unwrap(),
            "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            at("2026-11-01T01:30:00+01:00").unwrap(),
            "2026-11-01T00:30:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            at("2026-11-01").unwrap(),
            "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            at("7d").unwrap(),
            "2026-11-01T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            at("1d12h").unwrap(),
            "2026-11-07T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            at("2w").unwrap(),
            "2026-10-25T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        let no_zone = at("2026-11-01T00:00").unwrap_err();
        assert!(no_zone.contains("no time zone"), "{no_zone}");
        let unit = at("7y").unwrap_err();
        assert!(unit.contains("unknown unit `y`"), "{unit}");
        let junk = at("yesterday").unwrap_err();
        assert!(junk.contains("neither a time"), "{junk}");
    }

    #[test]
    fn anchors_are_seq_colon_sha256() {
        let hash = "ab".repeat(32);
        assert_eq!(
            parse_anchor(&format!("12:{hash}")).unwrap(),
            Anchor {
                seq: 12,
                hash: hash.clone()
            }
        );
        assert!(parse_anchor(&hash).is_err());
        assert!(parse_anchor("12:abc").is_err());
        assert!(parse_anchor(&format!("0:{hash}")).is_err());
        assert!(parse_anchor(&format!("x:{hash}")).is_err());
    }
}
