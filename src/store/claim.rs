//! Claim files: the atomic, durable, cross-process "create if absent" that locks and run keys are
//! built on.
//!
//! A claim is written in full to a private temporary file, fsynced, and only then hard-linked to
//! its final name. `link(2)` fails if the name exists, atomically, across processes, so exactly one
//! of several concurrent claimants wins; and because the content was durable before the name
//! appeared, a claim file is never seen half-written after a crash. The directory is fsynced
//! afterwards so the new name survives a power cut.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::data_dir::{create_private_dir, private_file_options, sync_dir};
use super::error::{Error, IoResultExt, Result};
use super::records::{FORMAT_VERSION, RunId};

/// Prefix of the temporary files claims are staged in; such files are skipped by listings.
const TEMP_PREFIX: &str = ".tmp-";

/// Longest readable prefix kept from a claim's name in its file name.
const READABLE_PREFIX_LEN: usize = 48;

/// A directory of claim files of one kind (locks or run keys).
#[derive(Clone, Debug)]
pub(crate) struct ClaimDir {
    dir: PathBuf,
    /// `lock` or `run key`, for messages.
    kind: &'static str,
    extension: &'static str,
}

impl ClaimDir {
    /// Opens (creating if needed) the claim directory `dir`.
    pub(crate) fn open(dir: PathBuf, kind: &'static str, extension: &'static str) -> Result<Self> {
        create_private_dir(&dir)?;
        Ok(Self {
            dir,
            kind,
            extension,
        })
    }

    /// The directory.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the claim on `name`.
    ///
    /// Names are arbitrary strings, so the file name is a readable, sanitised prefix (for operators
    /// listing the directory) plus the SHA-256 of the full name (for uniqueness); two names that
    /// sanitise alike still get different files.
    pub(crate) fn path_for(&self, name: &str) -> PathBuf {
        let readable: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .take(READABLE_PREFIX_LEN)
            .collect();
        // A leading dot would hide the file and could collide with the temporary-file prefix.
        let readable = match readable.strip_prefix('.') {
            Some(rest) => format!("_{rest}"),
            None => readable,
        };
        let hash = hex::encode(&Sha256::digest(name.as_bytes())[..16]);
        self.dir
            .join(format!("{readable}-{hash}.{}", self.extension))
    }

    /// Atomically creates the claim file for `name` with `content`; returns `false` (and writes
    /// nothing) if it already exists.
    pub(crate) fn create<T: Serialize>(&self, name: &str, content: &T) -> Result<bool> {
        let final_path = self.path_for(name);
        let bytes = serde_json::to_vec(content).map_err(|e| Error::Encode {
            what: format!("{} file for {name:?}", self.kind),
            reason: e.to_string(),
        })?;
        let temp_path = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            RunId::new()
        ));
        let staged = (|| {
            let mut file = private_file_options()
                .write(true)
                .create_new(true)
                .open(&temp_path)?;
            file.write_all(&bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()
        })();
        if let Err(e) = staged {
            let _ = fs::remove_file(&temp_path);
            return Err(Error::io(&temp_path, e));
        }
        let linked = fs::hard_link(&temp_path, &final_path);
        // The temporary name has served its purpose whether or not the link succeeded.
        let removed = fs::remove_file(&temp_path);
        let created = match linked {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(Error::io(&final_path, e)),
        };
        removed.at(&temp_path)?;
        sync_dir(&self.dir)?;
        Ok(created)
    }

    /// Reads and validates the claim file for `name`; `None` if there is none.
    ///
    /// A file that exists but cannot be decoded, or that names another claim, is an error: it is
    /// never mistaken for a valid claim, nor silently ignored.
    pub(crate) fn read<T: Claimed>(&self, name: &str) -> Result<Option<T>> {
        let path = self.path_for(name);
        match self.read_path::<T>(&path)? {
            None => Ok(None),
            Some(claim) if claim.claim_name() == name => Ok(Some(claim)),
            Some(claim) => Err(Error::BrokenClaim {
                kind: self.kind,
                name: name.to_owned(),
                path,
                reason: format!("the file belongs to {:?}", claim.claim_name()),
            }),
        }
    }

    /// Reads and decodes one claim file; `None` if it does not exist.
    pub(crate) fn read_path<T: Claimed>(&self, path: &Path) -> Result<Option<T>> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let broken = |reason: String| Error::BrokenClaim {
            kind: self.kind,
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: path.to_owned(),
            reason,
        };
        #[derive(serde::Deserialize)]
        struct Probe {
            format: u32,
        }
        match serde_json::from_slice::<Probe>(&bytes) {
            Ok(probe) if probe.format > FORMAT_VERSION => {
                return Err(Error::UnsupportedFormat {
                    what: format!("{} file {}", self.kind, path.display()),
                    found: probe.format,
                    expected: FORMAT_VERSION,
                });
            }
            Ok(probe) if probe.format == 0 => {
                return Err(broken("format version 0 does not exist".to_owned()));
            }
            _ => {}
        }
        serde_json::from_slice::<T>(&bytes)
            .map(Some)
            .map_err(|e| broken(e.to_string()))
    }

    /// Removes the claim file for `name` durably; `false` if there was none.
    pub(crate) fn remove(&self, name: &str) -> Result<bool> {
        let path = self.path_for(name);
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Every claim file in the directory (temporary files excluded), sorted by path.
    pub(crate) fn files(&self) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) || !name.ends_with(&format!(".{}", self.extension)) {
                continue;
            }
            files.push(entry.path());
        }
        files.sort();
        Ok(files)
    }
}

/// The content of a claim file: it knows the name it claims, so a file cannot be mistaken for
/// another name's claim.
pub(crate) trait Claimed: DeserializeOwned {
    /// The lock name or run key this file claims.
    fn claim_name(&self) -> &str;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Sample {
        format: u32,
        name: String,
    }

    impl Claimed for Sample {
        fn claim_name(&self) -> &str {
            &self.name
        }
    }

    fn sample(name: &str) -> Sample {
        Sample {
            format: FORMAT_VERSION,
            name: name.to_owned(),
        }
    }

    #[test]
    fn file_names_are_readable_unique_and_safe() {
        let temp = tempfile::tempdir().unwrap();
        let claims = ClaimDir::open(temp.path().join("c"), "lock", "lock").unwrap();
        let a = claims.path_for("pg/prod db");
        let b = claims.path_for("pg_prod_db");
        let hidden = claims.path_for("../..");
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(claims.dir()));
        assert_eq!(hidden.parent(), Some(claims.dir()));
        let a_name = a.file_name().unwrap().to_str().unwrap();
        assert!(a_name.starts_with("pg_prod_db-"), "{a_name}");
        assert!(a_name.ends_with(".lock"), "{a_name}");
        let hidden_name = hidden.file_name().unwrap().to_str().unwrap();
        assert!(hidden_name.starts_with('_'), "{hidden_name}");
        let long = claims.path_for(&"x".repeat(1000));
        assert!(long.file_name().unwrap().len() < 100);
    }

    #[test]
    fn create_is_exclusive_and_leaves_no_temporary_files() {
        let temp = tempfile::tempdir().unwrap();
        let claims = ClaimDir::open(temp.path().join("c"), "lock", "lock").unwrap();
        assert!(claims.create("pg-1", &sample("pg-1")).unwrap());
        assert!(!claims.create("pg-1", &sample("pg-1")).unwrap());
        assert_eq!(claims.read::<Sample>("pg-1").unwrap(), Some(sample("pg-1")));
        assert_eq!(claims.read::<Sample>("pg-2").unwrap(), None);
        assert_eq!(fs::read_dir(claims.dir()).unwrap().count(), 1);
        assert!(claims.remove("pg-1").unwrap());
        assert!(!claims.remove("pg-1").unwrap());
    }

    #[test]
    fn a_damaged_or_misplaced_claim_is_reported_not_trusted() {
        let temp = tempfile::tempdir().unwrap();
        let claims = ClaimDir::open(temp.path().join("c"), "lock", "lock").unwrap();
        fs::write(claims.path_for("torn"), br#"{"format":1,"na"#).unwrap();
        let error = claims.read::<Sample>("torn").unwrap_err();
        assert!(matches!(error, Error::BrokenClaim { .. }), "{error:?}");
        fs::write(claims.path_for("moved"), br#"{"format":1,"name":"other"}"#).unwrap();
        let error = claims.read::<Sample>("moved").unwrap_err();
        assert!(
            error.to_string().contains("belongs to \"other\""),
            "{error}"
        );
        fs::write(claims.path_for("newer"), br#"{"format":9}"#).unwrap();
        let error = claims.read::<Sample>("newer").unwrap_err();
        assert!(
            matches!(error, Error::UnsupportedFormat { found: 9, .. }),
            "{error:?}"
        );
    }
}
