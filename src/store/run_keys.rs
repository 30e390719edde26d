//! Run keys: `drbook run --run-key K` started twice, even concurrently from two processes, yields
//! one run.
//!
//! The first start claims `K` for its fresh run id with the same atomic create as locks (a claim
//! file in `run-keys/`); every later start finds the claim and attaches to the existing run
//! instead of starting a second failover. A claim is permanent: a key names one run forever.
//!
//! A process can die after claiming a key and before creating its run database; the claim then
//! names a run that does not exist yet. The caller handles that by creating the run under the
//! claimed id (the key is still theirs to fulfil), which is why [`RunKeys::claim`] returns
//! `Claimed` again when the same run id claims the same key twice.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::claim::{ClaimDir, Claimed};
use super::data_dir::DataDir;
use super::error::Result;
use super::records::{FORMAT_VERSION, RunId};

/// The content of a run-key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunKeyInfo {
    /// File format version.
    pub format: u32,
    /// The run key.
    pub key: String,
    /// The run it names.
    pub run_id: RunId,
    /// When it was claimed.
    pub claimed_at: Timestamp,
}

impl Claimed for RunKeyInfo {
    fn claim_name(&self) -> &str {
        &self.key
    }
}

/// The result of [`RunKeys::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key now names the given run (or already did): start or continue it.
    Claimed,
    /// The key already names this other run: attach to it instead of starting a new one.
    Existing(RunId),
}

/// The run-key directory of a data directory.
#[derive(Clone, Debug)]
pub struct RunKeys {
    claims: ClaimDir,
}

impl RunKeys {
    /// Opens `run-keys/` in `data_dir`, creating it if needed.
    pub fn open(data_dir: &DataDir) -> Result<Self> {
        Ok(Self {
            claims: ClaimDir::open(data_dir.run_keys_dir(), "run key", "key")?,
        })
    }

    /// Claims `key` for `run_id`, durably, unless it already names a run.
    pub fn claim(&self, key: &str, run_id: RunId) -> Result<Claim> {
        let info = RunKeyInfo {
            format: FORMAT_VERSION,
            key: key.to_owned(),
            run_id,
            claimed_at: Timestamp::now(),
        };
        if self.claims.create(key, &info)? {
            return Ok(Claim::Claimed);
        }
        // Keys are never removed, so an existing claim cannot vanish between create and read; a
        // missing file here means an operator deleted it, which is reported as such below.
        match self.claims.read::<RunKeyInfo>(key)? {
            Some(existing) if existing.run_id == run_id => Ok(Claim::Claimed),
            Some(existing) => Ok(Claim::Existing(existing.run_id)),
            None => self.claim(key, run_id),
        }
    }

    /// The run `key` names, if it has been claimed.
    pub fn get(&self, key: &str) -> Result<Option<RunId>> {
        Ok(self.claims.read::<RunKeyInfo>(key)?.map(|info| info.run_id))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use crate::store::Error;

    #[test]
    fn first_claim_wins_and_later_ones_see_it() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let keys = RunKeys::open(&data).unwrap();
        let (a, b) = (RunId::new(), RunId::new());
        assert_eq!(keys.claim("change-4711", a).unwrap(), Claim::Claimed);
        assert_eq!(keys.claim("change-4711", a).unwrap(), Claim::Claimed);
        assert_eq!(keys.claim("change-4711", b).unwrap(), Claim::Existing(a));
        assert_eq!(keys.get("change-4711").unwrap(), Some(a));
        assert_eq!(keys.get("other").unwrap(), None);
        // A second handle (another process would do the same) sees the durable claim.
        let again = RunKeys::open(&data).unwrap();
        assert_eq!(again.claim("change-4711", b).unwrap(), Claim::Existing(a));
    }

    #[test]
    fn concurrent_claims_yield_one_run() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        let outcomes: Vec<(RunId, Claim)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let data = data.clone();
                    scope.spawn(move || {
                        let id = RunId::new();
                        (id, RunKeys::open(&data).unwrap().claim("K", id).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<RunId> = outcomes
            .iter()
            .filter(|(_, claim)| *claim == Claim::Claimed)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        for (_, claim) in &outcomes {
            if let Claim::Existing(existing) = claim {
                assert_eq!(*existing, winners[0]);
            }
        }
    }

    #[test]
    fn a_damaged_key_file_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        let keys = RunKeys::open(&DataDir::new(temp.path())).unwrap();
        std::fs::write(keys.claims.path_for("K"), "garbage").unwrap();
        let error = keys.claim("K", RunId::new()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::BrokenClaim {
                    kind: "run key",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
