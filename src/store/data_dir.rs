//! The data directory: where every piece of drbook's durable state lives, and the file-system
//! helpers (private directories, directory fsync) the rest of the store uses to create it safely.
//!
//! ```text
//! <data-dir>/                 default: dirs::data_dir()/drbook
//!   runs/<run-id>/            one sled database per run, held exclusively by the process driving it
//!   locks/                    protection-group locks (store::locks)
//!   run-keys/                 idempotent starts (store::run_keys)
//!   audit/audit.jsonl         the tamper-evident audit log shared by all processes (store::audit)
//!   scheduler/                the scheduler's sled database
//! ```
//!
//! Directories are created on demand with mode 0700: runs and the audit log describe the
//! organisation's DR topology and are nobody else's business.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Error, IoResultExt, Result};
use super::records::RunId;

/// The root of drbook's durable state. Cheap to clone; creating one does no I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data directory rooted at `root` (usually the `--data-dir` argument).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data directory given on the command line, or the platform default
    /// (`$XDG_DATA_HOME/drbook`, i.e. `~/.local/share/drbook` on Linux).
    pub fn from_arg(arg: Option<PathBuf>) -> Result<Self> {
        match arg {
            Some(root) => Ok(Self::new(root)),
            None => Self::default_root().map(Self::new),
        }
    }

    /// The platform default root, `dirs::data_dir()/drbook`.
    pub fn default_root() -> Result<PathBuf> {
        dirs::data_dir()
            .map(|dir| dir.join("drbook"))
            .ok_or(Error::NoDataDir)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `runs/`: one database directory per run.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `runs/<run-id>/`: the run's sled database.
    pub fn run_dir(&self, run_id: &RunId) -> PathBuf {
        // The id's canonical form contains only hex digits and hyphens, so it cannot escape `runs/`.
        self.runs_dir().join(run_id.to_string())
    }

    /// `locks/`: protection-group lock files.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// `run-keys/`: run-key claim files.
    pub fn run_keys_dir(&self) -> PathBuf {
        self.root.join("run-keys")
    }

    /// `audit/audit.jsonl`: the audit log.
    pub fn audit_log_path(&self) -> PathBuf {
        self.root.join("audit").join("audit.jsonl")
    }

    /// `scheduler/`: the scheduler's sled database.
    pub fn scheduler_dir(&self) -> PathBuf {
        self.root.join("scheduler")
    }

    /// Every run in the data directory, newest first.
    ///
    /// Entries of `runs/` that are not directories named by a canonical run id are ignored (and
    /// logged at debug level), so stray files an operator left there do not break listing.
    pub fn list_runs(&self) -> Result<Vec<RunId>> {
        let runs_dir = self.runs_dir();
        let entries = match fs::read_dir(&runs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&runs_dir, e)),
        };
        let mut runs = Vec::new();
        for entry in entries {
            let entry = entry.at(&runs_dir)?;
            let name = entry.file_name();
            let parsed = name.to_str().and_then(|text| {
                text.parse::<RunId>()
                    .ok()
                    .filter(|id| id.to_string() == text)
            });
            match parsed {
                Some(id) if entry.file_type().at(entry.path())?.is_dir() => runs.push(id),
                _ => {
                    tracing::debug!(path = %entry.path().display(), "ignoring non-run entry in runs/")
                }
            }
        }
        // UUID v7 ids sort by creation time.
        runs.sort_unstable_by(|a, b| b.cmp(a));
        Ok(runs)
    }
}

/// Creates `dir` and any missing parents with mode 0700, fsyncing each parent whose entries
/// changed so that the new directories survive a power cut. Does nothing if `dir` exists.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || path.is_dir() {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(path) {
            Ok(()) => {}
            // Another process created it between our check and now: fine.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// fsyncs a directory, making the creation, renaming or removal of its entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Opens options for a new private (0600) file.
pub(crate) fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;

    #[test]
    fn layout_is_under_the_root() {
        let data = DataDir::new("/var/lib/drbook");
        let id: RunId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        assert_eq!(
            data.run_dir(&id),
            Path::new("/var/lib/drbook/runs/01890a5d-ac96-774b-bcce-b302099a8057")
        );
        assert_eq!(data.locks_dir(), Path::new("/var/lib/drbook/locks"));
        assert_eq!(data.run_keys_dir(), Path::new("/var/lib/drbook/run-keys"));
        assert_eq!(
            data.audit_log_path(),
            Path::new("/var/lib/drbook/audit/audit.jsonl")
        );
        assert_eq!(data.scheduler_dir(), Path::new("/var/lib/drbook/scheduler"));
    }

    #[test]
    fn default_root_ends_in_drbook() {
        if let Ok(root) = DataDir::default_root() {
            assert!(root.ends_with("drbook"), "{}", root.display());
        }
        let explicit = DataDir::from_arg(Some("/tmp/x".into())).unwrap();
        assert_eq!(explicit.root(), Path::new("/tmp/x"));
    }

    #[test]
    fn private_dirs_are_created_with_mode_0700() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b/c");
        create_private_dir(&dir).unwrap();
        create_private_dir(&dir).unwrap();
        #[cfg(unix)]
        for path in [temp.path().join("a"), temp.path().join("a/b"), dir.clone()] {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", path.display());
        }
    }

    #[test]
    fn list_runs_is_newest_first_and_skips_strays() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path());
        assert!(data.list_runs().unwrap().is_empty(), "no runs/ yet");
        let ids: Vec<RunId> = (0..3).map(|_| RunId::new()).collect();
        for id in &ids {
            create_private_dir(&data.run_dir(id)).unwrap();
        }
        fs::write(data.runs_dir().join("README"), "stray").unwrap();
        create_private_dir(&data.runs_dir().join("not-a-run")).unwrap();
        let upper = ids[0].to_string().to_uppercase();
        create_private_dir(&data.runs_dir().join(upper)).unwrap();
        let listed = data.list_runs().unwrap();
        assert_eq!(listed, vec![ids[2], ids[1], ids[0]]);
    }
}
