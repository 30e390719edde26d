//! Cross-process, durable, crash-surviving locks on protection groups (or any other name).
//!
//! A lock is a claim file in `locks/` (see the claim mechanism in `claim.rs`): it records the
//! holding run and when it was taken, and it outlives the process, so a run killed mid-failover
//! still holds its protection groups when it is resumed (`AlreadyOurs`) and no other run can touch
//! them meanwhile. Locks are released explicitly when a run ends; a lock held by a run that will
//! never resume is broken by an operator with [`Locks::break_lock`].

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::claim::{ClaimDir, Claimed};
use super::data_dir::DataDir;
use super::error::{Error, Result};
use super::records::{FORMAT_VERSION, RunId};

/// Who holds a lock, as recorded in its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// File format version.
    pub format: u32,
    /// The lock's full name.
    pub name: String,
    /// The run holding it.
    pub holder: RunId,
    /// When it was acquired.
    pub acquired_at: Timestamp,
}

impl Claimed for LockInfo {
    fn claim_name(&self) -> &str {
        &self.name
    }
}

/// The result of a successful [`Locks::acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lock was free and is now held by the run.
    Acquired,
    /// The run already held it (it is being resumed).
    AlreadyOurs,
}

/// The result of [`Locks::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// The run held the lock; it is now free.
    Released,
    /// Nobody held it.
    NotHeld,
}

/// One entry of [`Locks::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockEntry {
    /// A valid lock.
    Held(LockInfo),
    /// A lock file that cannot be read: it blocks its lock until an operator looks at it.
    Broken {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The lock directory of a data directory.
#[derive(Clone, Debug)]
pub struct Locks {
    claims: ClaimDir,
}

impl Locks {
    /// Opens `locks/` in `data_dir`, creating it if needed.
    pub fn open(data_dir: &DataDir) -> Result<Self> {
        Ok(Self {
            claims: ClaimDir::open(data_dir.locks_dir(), "lock", "lock")?,
        })
    }

    /// Takes the lock `name` for `run_id`.
    ///
    /// Fails with [`Error::Locked`] if another run holds it, and with [`Error::BrokenClaim`] if
    /// its file exists but is unreadable (it is then neither trusted nor overwritten).
    pub fn acquire(&self, name: &str, run_id: RunId) -> Result<Acquired> {
        let info = LockInfo {
            format: FORMAT_VERSION,
            name: name.to_owned(),
            holder: run_id,
            acquired_at: Timestamp::now(),
        };
        loop {
            if self.claims.create(name, &info)? {
                return Ok(Acquired::Acquired);
            }
            match self.claims.read::<LockInfo>(name)? {
                Some(existing) if existing.holder == run_id => return Ok(Acquired::AlreadyOurs),
                Some(existing) => {
                    return Err(Error::Locked {
                        name: name.to_owned(),
                        holder: existing.holder.to_string(),
                    });
                }
                // Released between our create and our read: try again.
                None => continue,
            }
        }
    }

    /// Takes every lock in `names` for `run_id`, or none: if one is held by another run, the
    /// ones this call acquired are released again and the error is returned.
    pub fn acquire_all<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        run_id: RunId,
    ) -> Result<Vec<Acquired>> {
        let mut outcomes = Vec::new();
        let mut taken = Vec::new();
        for name in names {
            match self.acquire(name, run_id) {
                Ok(outcome) => {
                    if outcome == Acquired::Acquired {
                        taken.push(name);
                    }
                    outcomes.push(outcome);
                }
                Err(error) => {
                    for name in taken {
                        if let Err(release_error) = self.release(name, run_id) {
                            tracing::warn!(lock = name, error = %release_error, "could not roll back a lock");
                        }
                    }
                    return Err(error);
                }
            }
        }
        Ok(outcomes)
    }

    /// Releases the lock `name` if `run_id` holds it.
    ///
    /// Releasing a lock held by another run is refused with [`Error::Locked`]: it is always a bug
    /// or a mix-up of run ids, and silently doing nothing would hide it.
    pub fn release(&self, name: &str, run_id: RunId) -> Result<Released> {
        match self.claims.read::<LockInfo>(name)? {
            None => Ok(Released::NotHeld),
            Some(existing) if existing.holder == run_id => {
                // Only the holder removes its lock, and the holder is this run, so no other
                // process can have replaced the file between the read and the removal.
                self.claims.remove(name)?;
                Ok(Released::Released)
            }
            Some(existing) => Err(Error::Locked {
                name: name.to_owned(),
                holder: existing.holder.to_string(),
            }),
        }
    }

    /// Who holds `name`, if anyone.
    pub fn holder(&self, name: &str) -> Result<Option<LockInfo>> {
        self.claims.read(name)
    }

    /// Operator override: removes the lock `name` whoever holds it (even if its file is broken).
    /// Returns the previous holder when the file was readable.
    pub fn break_lock(&self, name: &str) -> Result<Option<LockInfo>> {
        let previous = self.claims.read::<LockInfo>(name).ok().flatten();
        self.claims.remove(name)?;
        if let Some(info) = &previous {
            tracing::warn!(lock = name, holder = %info.holder, "lock broken by an operator");
        }
        Ok(previous)
    }

    /// Every lock file, valid or not, sorted by file name.
    pub fn list(&self) -> Result<Vec<LockEntry>> {
        let mut entries = Vec::new();
        for path in self.claims.files()? {
            match self.claims.read_path::<LockInfo>(&path) {
                Ok(Some(info)) if self.claims.path_for(&info.name) == path => {
                    entries.push(LockEntry::Held(info));
                }
                Ok(Some(info)) => entries.push(LockEntry::Broken {
                    path,
                    reason: format!("the file's name does not match its lock {:?}", info.name),
                }),
                // Released while we were listing.
                Ok(None) => {}
                Err(error) => entries.push(LockEntry::Broken {
                    path,
                    reason: error.to_string(),
                }),
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use std::fs;

    fn locks() -> (tempfile::TempDir, Locks) {
        let temp = tempfile::tempdir().unwrap();
        let locks = Locks::open(&DataDir::new(temp.path())).unwrap();
        (temp, locks)
    }

    #[test]
    fn acquire_resume_conflict_release() {
        let (_temp, locks) = locks();
        let (a, b) = (RunId::new(), RunId::new());
        assert_eq!(locks.acquire("pg-1", a).unwrap(), Acquired::Acquired);
        assert_eq!(locks.acquire("pg-1", a).unwrap(), Acquired::AlreadyOurs);
        let error = locks.acquire("pg-1", b).unwrap_err();
        assert!(
            matches!(&error, Error::Locked { name, holder } if name == "pg-1" && *holder == a.to_string()),
            "{error:?}"
        );
        assert_eq!(locks.holder("pg-1").unwrap().unwrap().holder, a);
        let error = locks.release("pg-1", b).unwrap_err();
        assert!(matches!(error, Error::Locked { .. }), "{error:?}");
        assert_eq!(locks.release("pg-1", a).unwrap(), Released::Released);
        assert_eq!(locks.release("pg-1", a).unwrap(), Released::NotHeld);
        assert_eq!(locks.acquire("pg-1", b).unwrap(), Acquired::Acquired);
    }

    #[test]
    fn locks_survive_reopening_the_directory() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let a = RunId::new();
        Locks::open(&data).unwrap().acquire("pg-1", a).unwrap();
        let reopened = Locks::open(&data).unwrap();
        assert_eq!(reopened.acquire("pg-1", a).unwrap(), Acquired::AlreadyOurs);
        assert!(reopened.acquire("pg-1", RunId::new()).is_err());
    }

    #[test]
    fn acquire_all_rolls_back_on_conflict() {
        let (_temp, locks) = locks();
        let (a, b) = (RunId::new(), RunId::new());
        locks.acquire("pg-3", b).unwrap();
        let error = locks.acquire_all(["pg-1", "pg-2", "pg-3"], a).unwrap_err();
        assert!(
            matches!(&error, Error::Locked { name, .. } if name == "pg-3"),
            "{error:?}"
        );
        assert_eq!(locks.holder("pg-1").unwrap(), None);
        assert_eq!(locks.holder("pg-2").unwrap(), None);
        // Locks the run already held before the call are kept.
        locks.acquire("pg-1", a).unwrap();
        assert!(locks.acquire_all(["pg-1", "pg-3"], a).is_err());
        assert_eq!(locks.holder("pg-1").unwrap().unwrap().holder, a);
        locks.release("pg-3", b).unwrap();
        assert_eq!(
            locks.acquire_all(["pg-1", "pg-3"], a).unwrap(),
            [Acquired::AlreadyOurs, Acquired::Acquired]
        );
    }

    #[test]
    fn a_half_written_lock_blocks_and_is_reported() {
        let (_temp, locks) = locks();
        let path = locks.claims.path_for("pg-torn");
        fs::write(&path, br#"{"format":1,"name":"pg-torn","hol"#).unwrap();
        let error = locks.acquire("pg-torn", RunId::new()).unwrap_err();
        assert!(
            matches!(&error, Error::BrokenClaim { kind: "lock", .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("unreadable"), "{error}");
        let listed = locks.list().unwrap();
        assert!(
            matches!(listed.as_slice(), [LockEntry::Broken { path: p, .. }] if *p == path),
            "{listed:?}"
        );
        assert_eq!(locks.break_lock("pg-torn").unwrap(), None);
        locks.acquire("pg-torn", RunId::new()).unwrap();
    }

    #[test]
    fn list_shows_holders_for_operators() {
        let (_temp, locks) = locks();
        let a = RunId::new();
        locks.acquire("pg/a", a).unwrap();
        locks.acquire("pg/b", a).unwrap();
        let mut names: Vec<String> = locks
            .list()
            .unwrap()
            .into_iter()
            .map(|entry| match entry {
                LockEntry::Held(info) => {
                    assert_eq!(info.holder, a);
                    info.name
                }
                LockEntry::Broken { path, reason } => panic!("{}: {reason}", path.display()),
            })
            .collect();
        names.sort();
        assert_eq!(names, ["pg/a", "pg/b"]);
        let broken = locks.break_lock("pg/a").unwrap().unwrap();
        assert_eq!(broken.holder, a);
        assert_eq!(locks.list().unwrap().len(), 1);
    }

    #[test]
    fn concurrent_acquirers_get_exactly_one_winner() {
        let (_temp, locks) = locks();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| locks.acquire("pg-race", RunId::new()).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 1);
    }
}
