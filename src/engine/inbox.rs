//! Operator commands from other processes (`drbook approve`, `drbook reject`, `drbook skip`,
//! `drbook abort`), and the lock that tells whether a process is driving a run.
//!
//! sled holds a live run's database exclusively, so a second process never opens it. Instead it
//! drops a command file into the run's inbox, atomically (temp file, `fsync`, rename, directory
//! `fsync`):
//!
//! ```text
//! runs/<run-id>/inbox/<command-id>.json     {"format":1,"verb":"approve","step":"sign_off",
//!                                            "actor":"alice","comment":"...","issued_at":"..."}
//! runs/<run-id>/replies/<command-id>.json   {"format":1,"command":"<command-id>","accepted":true,
//!                                            "message":"...","replied_at":"..."}
//! runs/<run-id>/driver.lock                 flock'd by the process driving the run
//! ```
//!
//! The driving engine checks the inbox every few hundred milliseconds (a directory listing; the
//! waiting run does not spin), validates each command against the run, records the decision
//! durably (and in the audit log), then writes the reply and removes the command. When nobody
//! drives the run, commands wait in the inbox and `drbook resume` ingests them.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::error::Error;
use crate::store::{DataDir, RunId};

/// The command file format this build writes and reads.
pub const COMMAND_FORMAT: u32 = 1;

/// How often the driving engine looks at its inbox.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// What an operator asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    /// Approve an approval gate.
    Approve,
    /// Reject an approval gate (the step fails with `DRBOOK.REJECTED`).
    Reject,
    /// Skip a step that has not started, waits (approval, retry delay, job, `wait.until`,
    /// `sleep`) or runs a read-only action; the comment is the reason. Steps that need it run
    /// as if it had succeeded.
    Skip,
    /// Abort the run: nothing new starts, cancellable work stops, completed steps are
    /// compensated, and the run ends `aborted`. The comment is the reason; `step` is empty.
    Abort,
}

impl Verb {
    /// The verb's name as operators type it (`approve`, `skip`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Approve => "approve",
            Verb::Reject => "reject",
            Verb::Skip => "skip",
            Verb::Abort => "abort",
        }
    }
}

/// One operator command, as written into a run's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorCommand {
    #[serde(default = "command_format")]
    pub format: u32,
    pub verb: Verb,
    /// The step the command is about (empty for `abort`, which is about the whole run).
    #[serde(default)]
    pub step: String,
    /// Who decides (`--actor`, default the OS user).
    pub actor: String,
    /// The approver's comment, or the reason of a skip or an abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub issued_at: Timestamp,
}

fn command_format() -> u32 {
    COMMAND_FORMAT
}

/// The driving engine's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub format: u32,
    /// The command's id (its file name without `.json`).
    pub command: String,
    pub accepted: bool,
    pub message: String,
    pub replied_at: Timestamp,
}

/// `runs/<id>/inbox/`.
pub fn inbox_dir(data_dir: &DataDir, run_id: RunId) -> PathBuf {
    data_dir.run_dir(&run_id).join("inbox")
}

/// `runs/<id>/replies/`.
pub fn replies_dir(data_dir: &DataDir, run_id: RunId) -> PathBuf {
    data_dir.run_dir(&run_id).join("replies")
}

/// `runs/<id>/driver.lock`.
pub fn driver_lock_path(data_dir: &DataDir, run_id: RunId) -> PathBuf {
    data_dir.run_dir(&run_id).join("driver.lock")
}

pub(crate) fn private_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::io(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Writes `bytes` to `path` atomically and durably: a temp file in the same directory, `fsync`,
/// rename, directory `fsync`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<(), Error> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("{} has no directory", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".tmp-{}-{name}", uuid::Uuid::now_v7().simple()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(Error::io(path, e));
    }
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Drops a command into a run's inbox; returns its id. The run must exist.
pub fn submit(
    data_dir: &DataDir,
    run_id: RunId,
    command: &OperatorCommand,
) -> Result<String, Error> {
    let run_dir = data_dir.run_dir(&run_id);
    if !run_dir.is_dir() {
        return Err(Error::RunNotFound {
            run_id: run_id.to_string(),
            data_dir: data_dir.root().to_owned(),
        });
    }
    let dir = inbox_dir(data_dir, run_id);
    private_dir(&dir)?;
    // UUID v7: command ids sort by submission time, so commands are applied in order.
    let id = uuid::Uuid::now_v7().to_string();
    let bytes = serde_json::to_vec(command)
        .map_err(|e| Error::Internal(format!("cannot encode a command: {e}")))?;
    write_atomic(&dir.join(format!("{id}.json")), &bytes, true)?;
    Ok(id)
}

/// The commands waiting in a run's inbox, oldest first. A file that cannot be read as a command
/// comes back as `Err` with the reason (it is answered as refused).
pub fn pending(dir: &Path) -> Vec<(String, Result<OperatorCommand, String>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Result<OperatorCommand, String>)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".json")?.to_owned();
            if id.starts_with('.') {
                return None;
            }
            let parsed = fs::read(entry.path())
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<OperatorCommand>(&bytes).map_err(|e| e.to_string())
                })
                .and_then(|command| {
                    if command.format > COMMAND_FORMAT {
                        Err(format!(
                            "command format {} is newer than this drbook understands ({COMMAND_FORMAT})",
                            command.format
                        ))
                    } else {
                        Ok(command)
                    }
                });
            Some((id, parsed))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Answers a command: writes its reply, then removes it from the inbox.
pub fn answer(
    data_dir: &DataDir,
    run_id: RunId,
    command: &str,
    accepted: bool,
    message: &str,
) -> Result<(), Error> {
    let dir = replies_dir(data_dir, run_id);
    private_dir(&dir)?;
    let reply = Reply {
        format: COMMAND_FORMAT,
        command: command.to_owned(),
        accepted,
        message: message.to_owned(),
        replied_at: Timestamp::now(),
    };
    let bytes = serde_json::to_vec(&reply)
        .map_err(|e| Error::Internal(format!("cannot encode a reply: {e}")))?;
    write_atomic(&dir.join(format!("{command}.json")), &bytes, false)?;
    let path = inbox_dir(data_dir, run_id).join(format!("{command}.json"));
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The reply to a command, once there is one.
pub fn read_reply(data_dir: &DataDir, run_id: RunId, command: &str) -> Option<Reply> {
    let path = replies_dir(data_dir, run_id).join(format!("{command}.json"));
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether a process holds the run's driver lock right now.
pub fn is_driven(data_dir: &DataDir, run_id: RunId) -> bool {
    let path = driver_lock_path(data_dir, run_id);
    let Ok(file) = OpenOptions::new().read(true).open(&path) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(_) => false,
    }
}

/// The lock held by the process driving a run; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DriverLock {
    _file: File,
}

impl DriverLock {
    /// Takes the driver lock of a run whose database this process already holds.
    pub fn acquire(data_dir: &DataDir, run_id: RunId) -> Result<Self, Error> {
        let path = driver_lock_path(data_dir, run_id);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| Error::io(&path, e))?;
        // Blocking: a concurrent `is_driven` probe holds it only for an instant.
        file.lock().map_err(|e| Error::io(&path, e))?;
        Ok(DriverLock { _file: file })
    }
}

/// Watches a run's inbox and sends every new command to the executor, once.
pub async fn watch(
    dir: PathBuf,
    sender: mpsc::UnboundedSender<(String, Result<OperatorCommand, String>)>,
) {
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let listed = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || pending(&dir))
                .await
                .unwrap_or_default()
        };
        for (id, command) in listed {
            if seen.insert(id.clone()) && sender.send((id, command)).is_err() {
                return;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(step: &str) -> OperatorCommand {
        OperatorCommand {
            format: COMMAND_FORMAT,
            verb: Verb::Approve,
            step: step.into(),
            actor: "alice".into(),
            comment: Some("looks good".into()),
            issued_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn commands_round_trip_in_submission_order_and_are_answered() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let run = RunId::new();
        fs::create_dir_all(data.run_dir(&run)).unwrap();
        let first = submit(&data, run, &command("a")).unwrap();
        let second = submit(&data, run, &command("b")).unwrap();
        let listed = pending(&inbox_dir(&data, run));
        let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, [first.as_str(), second.as_str()]);
        assert_eq!(listed[1].1.as_ref().unwrap().step, "b");
        answer(&data, run, &first, false, "not waiting").unwrap();
        assert_eq!(pending(&inbox_dir(&data, run)).len(), 1);
        let reply = read_reply(&data, run, &first).unwrap();
        assert!(!reply.accepted);
        assert_eq!(reply.message, "not waiting");
    }

    #[test]
    fn unreadable_commands_are_reported_not_dropped() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("inbox");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("x.json"), b"{not json").unwrap();
        fs::write(dir.join(".tmp-half.json"), b"{").unwrap();
        let listed = pending(&dir);
        assert_eq!(listed.len(), 1);
        assert!(listed[0].1.is_err());
    }

    #[test]
    fn a_missing_run_cannot_receive_commands() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let error = submit(&data, RunId::new(), &command("a")).unwrap_err();
        assert!(matches!(error, Error::RunNotFound { .. }), "{error}");
    }

    #[test]
    fn the_driver_lock_is_visible_to_other_handles() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let run = RunId::new();
        fs::create_dir_all(data.run_dir(&run)).unwrap();
        assert!(!is_driven(&data, run));
        let lock = DriverLock::acquire(&data, run).unwrap();
        assert!(is_driven(&data, run));
        drop(lock);
        assert!(!is_driven(&data, run));
    }
}
