//! The state file (`--state FILE`): the whole world as JSON, loaded at start when present and
//! rewritten after every change, atomically (a temporary file renamed over the old one), so an
//! emulator restarted during a demo keeps its world.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use super::Error;
use super::world::World;

/// A state file and the version of the last snapshot written to it.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// Snapshots are numbered when taken (under the world lock) and may reach the writer out
    /// of order; an older one never overwrites a newer one.
    written: Mutex<u64>,
}

impl StateFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            written: Mutex::new(0),
        }
    }

    /// Loads the world from the file; `None` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<World>, Error> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let world: World = serde_json::from_slice(&bytes).map_err(|e| Error::StateFile {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let problems = world.check();
        if !problems.is_empty() {
            return Err(Error::StateFile {
                path: self.path.clone(),
                message: problems.join("; "),
            });
        }
        Ok(Some(world))
    }

    /// Writes snapshot number `version` (serialised world) unless a newer one was written.
    /// Blocking: call it from a blocking thread.
    pub fn save(&self, version: u64, bytes: &[u8]) -> Result<(), Error> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if version <= *written {
            return Ok(());
        }
        let write_err = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
        file.write_all(bytes).map_err(write_err)?;
        file.sync_data().map_err(write_err)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(write_err)?;
        *written = version;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_and_never_goes_back_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("state.json"));
        assert!(file.load().unwrap().is_none());
        let mut world = crate::emulator::inventory::default_world().unwrap();
        world.project_id = "p1".into();
        file.save(2, &serde_json::to_vec(&world).unwrap()).unwrap();
        world.project_id = "p0".into();
        file.save(1, &serde_json::to_vec(&world).unwrap()).unwrap();
        let loaded = file.load().unwrap().unwrap();
        assert_eq!(loaded.project_id, "p1");
        assert_eq!(loaded.protected_instances.len(), 3);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_corrupt_state_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = StateFile::new(path).load().unwrap_err().to_string();
        assert!(err.contains("state.json"), "{err}");
    }
}
