//! The validated runbook of a run, cached beside its database (`runs/<id>/runbook.json`), so that
//! `resume` does not parse and validate the stored YAML again.
//!
//! Why: a resume must be quick even for a large run, and most of its time went into the YAML
//! parser and the validator (about 40 % of resuming a 10,000-step run, measured with
//! `benches/engine.rs`); reading the runbook model back from JSON costs a fraction of that.
//!
//! The cache is only an accelerator. The run record's `runbook_source` stays the truth: the cache
//! is used only when it was written by this drbook version for a source with the same digest,
//! and anything else (missing, torn, unreadable, another version, another digest) falls back to
//! validating the source, after which the cache is written again. So it is written without
//! `fsync` (a crash can at worst cost the next resume its shortcut) and atomically (temp file +
//! rename), so that a reader never sees half of it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::runbook::Runbook;
use crate::store::{DataDir, RunId};

/// The cache file's name inside the run's directory.
const FILE: &str = "runbook.json";

/// What is written.
#[derive(Serialize)]
struct CachedRef<'a> {
    /// The drbook version that validated the runbook (`CARGO_PKG_VERSION`).
    drbook: &'a str,
    /// `runbook_digest` of the run record: sha256 of the source the runbook was validated from.
    digest: &'a str,
    runbook: &'a Runbook,
}

/// What is read back.
#[derive(Deserialize)]
struct Cached {
    drbook: String,
    digest: String,
    runbook: Runbook,
}

fn path(data_dir: &DataDir, run_id: RunId) -> PathBuf {
    data_dir.run_dir(&run_id).join(FILE)
}

/// Writes the cache of a run's validated runbook (best effort: a failure is only logged).
/// Blocking.
pub fn save(data_dir: &DataDir, run_id: RunId, digest: &str, runbook: &Runbook) {
    let target = path(data_dir, run_id);
    let written = serde_json::to_vec(&CachedRef {
        drbook: env!("CARGO_PKG_VERSION"),
        digest,
        runbook,
    })
    .map_err(std::io::Error::other)
    .and_then(|bytes| {
        let temp = target.with_extension("json.tmp");
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, &target)
    });
    if let Err(error) = written {
        tracing::debug!(path = %target.display(), %error, "cannot cache the validated runbook");
    }
}

/// The cached runbook of a run, if it was validated by this drbook version from a source with
/// `digest`. Blocking.
pub fn load(data_dir: &DataDir, run_id: RunId, digest: &str) -> Option<Runbook> {
    let bytes = std::fs::read(path(data_dir, run_id)).ok()?;
    let cached: Cached = serde_json::from_slice(&bytes).ok()?;
    (cached.drbook == env!("CARGO_PKG_VERSION") && cached.digest == digest)
        .then_some(cached.runbook)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::engine::catalog::Catalog;
    use crate::runbook::{self, Source};

    #[test]
    fn every_example_runbook_reads_back_equal_and_only_for_its_digest_and_version() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let mut seen = 0;
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let source = Source::read(&path).unwrap();
            let runbook = runbook::check(&source, Catalog::global()).unwrap();
            let run_id = RunId::new();
            std::fs::create_dir_all(data_dir.run_dir(&run_id)).unwrap();
            assert_eq!(load(&data_dir, run_id, "d1"), None, "nothing cached yet");
            save(&data_dir, run_id, "d1", &runbook);
            assert_eq!(
                load(&data_dir, run_id, "d1").as_ref(),
                Some(&runbook),
                "{}",
                path.display()
            );
            assert_eq!(load(&data_dir, run_id, "d2"), None, "another source");
            seen += 1;
        }
        assert!(seen >= 5, "the example runbooks were found");
    }

    #[test]
    fn a_cache_of_another_version_or_a_torn_one_is_not_used() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let run_id = RunId::new();
        std::fs::create_dir_all(data_dir.run_dir(&run_id)).unwrap();
        let source = Source::new(
            "r.yaml",
            "name: r\nsteps:\n  - id: a\n    action: log\n    with: { message: hi }\n",
        )
        .unwrap();
        let runbook = runbook::check(&source, Catalog::global()).unwrap();
        save(&data_dir, run_id, "d", &runbook);
        let file = path(&data_dir, run_id);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, &text[..text.len() / 2]).unwrap();
        assert_eq!(load(&data_dir, run_id, "d"), None);
        let other = text.replace(
            &format!("\"drbook\":\"{}\"", env!("CARGO_PKG_VERSION")),
            "\"drbook\":\"0.0.0-other\"",
        );
        assert_ne!(other, text);
        std::fs::write(&file, other).unwrap();
        assert_eq!(load(&data_dir, run_id, "d"), None);
    }
}
