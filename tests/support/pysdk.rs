//! The official Huawei Cloud Python SDK, installed on demand into a venv under `target/` so
//! tests can compare drbook with it.
//!
//! [`python`] creates `target/pysdk-venv` (override the interpreter with `DRBOOK_PYTHON`) and
//! installs the pinned [`PACKAGES`] once; a lock directory makes this safe when several test
//! binaries race, and a marker file makes later runs instant. [`run_script`] runs a script with
//! that interpreter and returns its stdout. Without PyPI access the tests fail with a message
//! that says so (CI has PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The SDK version drbook is verified against (the latest on PyPI when this was written).
pub const SDK_VERSION: &str = "3.1.219";

/// Packages installed into the venv, pinned.
pub const PACKAGES: [&str; 3] = [
    "huaweicloudsdkcore==3.1.219",
    "huaweicloudsdksdrs==3.1.219",
    "huaweicloudsdkecs==3.1.219",
];

static IN_PROCESS: Mutex<()> = Mutex::new(());

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The venv directory.
pub fn venv_dir() -> PathBuf {
    target_dir().join("pysdk-venv")
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Holds the cross-process lock (a directory) until dropped.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: PathBuf) -> DirLock {
        let deadline = SystemTime::now() + Duration::from_secs(15 * 60);
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return DirLock(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // A lock older than ten minutes belongs to a process that died mid-install.
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(600));
                    if stale {
                        let _ = std::fs::remove_dir(&path);
                        continue;
                    }
                    assert!(
                        SystemTime::now() < deadline,
                        "waited 15 minutes for the Python SDK install lock {}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot create the lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}).\nThe SDK conformance tests need Python 3 with venv and access to PyPI \
         (pip install {}).\nstdout:\n{}\nstderr:\n{}",
        output.status,
        PACKAGES.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// The venv's interpreter, with the pinned SDK installed.
pub fn python() -> PathBuf {
    let _guard = IN_PROCESS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let venv = venv_dir();
    let python = venv_python(&venv);
    let marker = venv.join(format!(".drbook-sdk-{SDK_VERSION}"));
    if marker.exists() && python.exists() {
        return python;
    }
    std::fs::create_dir_all(target_dir()).expect("create the target directory");
    let _lock = DirLock::acquire(target_dir().join("pysdk-venv.lock"));
    if marker.exists() && python.exists() {
        return python;
    }
    if !python.exists() {
        let base = std::env::var("DRBOOK_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        run(
            Command::new(&base).arg("-m").arg("venv").arg(&venv),
            "creating the Python venv",
        );
    }
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(PACKAGES),
        "installing the Huawei Cloud Python SDK from PyPI",
    );
    std::fs::write(&marker, SDK_VERSION).expect("write the venv marker");
    python
}

/// Runs `script` with the SDK's interpreter and the given environment; returns stdout. Panics
/// with the script's stderr when it fails.
pub fn run_script(script: &str, env: &[(&str, String)]) -> String {
    let python = python();
    let mut command = Command::new(&python);
    command.arg("-c").arg(script);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("start the Python interpreter");
    assert!(
        output.status.success(),
        "the Python script failed ({}):\nstderr:\n{}\nstdout:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout),
    );
    String::from_utf8(output.stdout).expect("the script printed UTF-8")
}
