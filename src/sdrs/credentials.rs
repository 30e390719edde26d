//! Credentials: the AK/SK pair, the project id and an optional security token, read from the
//! conventions users already have.
//!
//! - Environment, official SDK names: `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`,
//!   `HUAWEICLOUD_SDK_PROJECT_ID`, `HUAWEICLOUD_SDK_SECURITY_TOKEN`.
//! - Environment, Terraform names: `HW_ACCESS_KEY`, `HW_SECRET_KEY`, `HW_PROJECT_ID`,
//!   `HW_SECURITY_TOKEN`, and `HW_REGION_NAME` for the region. Where both are set, the official
//!   SDK's name wins, field by field.
//! - A profile file, by default `~/.config/drbook/credentials`:
//!
//! ```text
//! # Lines starting with # or ; are comments. Values may be quoted.
//! [default]
//! ak = HPUAEXAMPLEAK0000001
//! sk = "..."
//! project_id = 0605767ef300d5762fd3c0147d8a8f1e
//! region = cn-north-4                 # optional
//! endpoint = http://127.0.0.1:8443    # optional, e.g. the emulator
//! security_token = ...                # optional, temporary credentials
//!
//! [staging]
//! ...
//! ```
//!
//! The secret key and the token live in [`SecretString`]; `Debug` prints `***` for them, and
//! no error message quotes a line of the profile file (only its number and key).

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::error::Error;

/// AK/SK credentials of one project.
#[derive(Clone)]
pub struct Credentials {
    pub ak: String,
    pub sk: SecretString,
    pub project_id: String,
    /// Only with temporary credentials; sent (and signed) as `X-Security-Token`.
    pub security_token: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ak", &self.ak)
            .field("sk", &"***")
            .field("project_id", &self.project_id)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// A named profile of the credentials file: credentials plus where to send requests.
#[derive(Debug, Clone)]
pub struct Profile {
    pub credentials: Credentials,
    pub region: Option<String>,
    pub endpoint: Option<String>,
}

/// (official SDK name, Terraform name, what it is)
const AK_VARS: (&str, &str, &str) = ("HUAWEICLOUD_SDK_AK", "HW_ACCESS_KEY", "access key");
const SK_VARS: (&str, &str, &str) = ("HUAWEICLOUD_SDK_SK", "HW_SECRET_KEY", "secret key");
const PROJECT_VARS: (&str, &str, &str) =
    ("HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID", "project id");
const TOKEN_VARS: (&str, &str) = ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "HW_SECURITY_TOKEN");

/// The Terraform provider's region variable.
pub const REGION_VAR: &str = "HW_REGION_NAME";

impl Credentials {
    pub fn new(ak: impl Into<String>, sk: SecretString, project_id: impl Into<String>) -> Self {
        Self {
            ak: ak.into(),
            sk,
            project_id: project_id.into(),
            security_token: None,
        }
    }

    /// Reads the process environment (see the module documentation).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads credentials through `lookup` (a variable name to its value), with the rules of
    /// [`Credentials::from_env`]. Empty values count as unset. The error lists everything missing.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let pick =
            |(official, terraform, _): (&str, &str, &str)| get(official).or_else(|| get(terraform));
        let ak = pick(AK_VARS);
        let sk = pick(SK_VARS);
        let project_id = pick(PROJECT_VARS);
        let missing: Vec<String> = [
            (AK_VARS, ak.is_none()),
            (SK_VARS, sk.is_none()),
            (PROJECT_VARS, project_id.is_none()),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|((official, terraform, what), _)| format!("{what} (set {official} or {terraform})"))
        .collect();
        match (ak, sk, project_id) {
            (Some(ak), Some(sk), Some(project_id)) => Ok(Self {
                ak: ak.trim().to_owned(),
                sk: SecretString::from(sk.trim().to_owned()),
                project_id: project_id.trim().to_owned(),
                security_token: get(TOKEN_VARS.0)
                    .or_else(|| get(TOKEN_VARS.1))
                    .map(|t| SecretString::from(t.trim().to_owned())),
            }),
            _ => Err(Error::Credentials(format!(
                "missing from the environment: {}",
                missing.join("; ")
            ))),
        }
    }

    /// Reads the profile `name` of a credentials file.
    pub fn from_profile(path: &Path, name: &str) -> Result<Self, Error> {
        Profile::load(path, name).map(|p| p.credentials)
    }
}

/// `~/.config/drbook/credentials` (on every platform, so one documented place works everywhere).
pub fn default_profile_path() -> Option<PathBuf> {
    dirs::home_dir().map(|home| home.join(".config").join("drbook").join("credentials"))
}

/// The region from `HW_REGION_NAME`, if set.
pub fn region_from_env() -> Option<String> {
    std::env::var(REGION_VAR)
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
}

fn unquote(value: &str) -> &str {
    let value = value.trim();
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// Drops a ` # comment` after an unquoted value.
fn strip_trailing_comment(value: &str) -> &str {
    let trimmed = value.trim();
    if trimmed.starts_with('"') || trimmed.starts_with('\'') {
        return trimmed;
    }
    match trimmed.find(" #").or_else(|| trimmed.find(" ;")) {
        Some(at) => trimmed[..at].trim_end(),
        None => trimmed,
    }
}

impl Profile {
    /// Reads the profile `name` of the credentials file at `path`.
    pub fn load(path: &Path, name: &str) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Credentials(format!("cannot read {}: {e}", path.display())))?;
        warn_if_readable_by_others(path);
        Self::parse(&text, name)
            .map_err(|reason| Error::Credentials(format!("{}: {reason}", path.display())))
    }

    /// Parses the text of a credentials file and returns the profile `name`.
    pub fn parse(text: &str, name: &str) -> Result<Self, String> {
        let mut sections: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        let mut found = false;
        let mut ak = None;
        let mut sk = None;
        let mut project_id = None;
        let mut region = None;
        let mut endpoint = None;
        let mut security_token = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[') {
                let section = section
                    .strip_suffix(']')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("line {line_no}: a section header looks like [name]"))?;
                if sections.iter().any(|s| s == section) {
                    return Err(format!("line {line_no}: profile [{section}] appears twice"));
                }
                sections.push(section.to_owned());
                found |= section == name;
                current = Some(section.to_owned());
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {line_no}: expected `key = value`"));
            };
            let key = key.trim();
            let Some(section) = current.as_deref() else {
                return Err(format!(
                    "line {line_no}: `{key}` comes before any [profile] header"
                ));
            };
            let slot = match key {
                "ak" => &mut ak,
                "sk" => &mut sk,
                "project_id" => &mut project_id,
                "region" => &mut region,
                "endpoint" => &mut endpoint,
                "security_token" => &mut security_token,
                _ => {
                    return Err(format!(
                        "line {line_no}: unknown key `{key}` (expected ak, sk, project_id, region, endpoint or security_token)"
                    ));
                }
            };
            if section != name {
                continue;
            }
            if slot.is_some() {
                return Err(format!("line {line_no}: `{key}` is set twice in [{name}]"));
            }
            let value = unquote(strip_trailing_comment(value)).to_owned();
            *slot = Some(value).filter(|v: &String| !v.is_empty());
        }
        if !found {
            return Err(if sections.is_empty() {
                format!("no profile [{name}]: the file has no profiles")
            } else {
                format!("no profile [{name}]; profiles: {}", sections.join(", "))
            });
        }
        let missing: Vec<&str> = [
            ("ak", ak.is_none()),
            ("sk", sk.is_none()),
            ("project_id", project_id.is_none()),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(key, _)| key)
        .collect();
        match (ak, sk, project_id) {
            (Some(ak), Some(sk), Some(project_id)) => Ok(Profile {
                credentials: Credentials {
                    ak,
                    sk: SecretString::from(sk),
                    project_id,
                    security_token: security_token.map(SecretString::from),
                },
                region,
                endpoint,
            }),
            _ => Err(format!("profile [{name}] lacks: {}", missing.join(", "))),
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the credentials file is readable by other users; run chmod 600 on it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    const SK: &str = "ExampleSecretKey0000000000000000000000001";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn official_sdk_names_win_over_terraform_names() {
        let creds = Credentials::from_lookup(env(&[
            ("HUAWEICLOUD_SDK_AK", "AK-SDK"),
            ("HW_ACCESS_KEY", "AK-TF"),
            ("HW_SECRET_KEY", SK),
            ("HW_PROJECT_ID", "proj-tf"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "proj-sdk"),
        ]))
        .unwrap();
        assert_eq!(creds.ak, "AK-SDK");
        assert_eq!(creds.sk.expose_secret(), SK);
        assert_eq!(creds.project_id, "proj-sdk");
        assert!(creds.security_token.is_none());
    }

    #[test]
    fn terraform_names_alone_work_and_the_token_is_read() {
        let creds = Credentials::from_lookup(env(&[
            ("HW_ACCESS_KEY", "AK-TF"),
            ("HW_SECRET_KEY", SK),
            ("HW_PROJECT_ID", "proj-tf"),
            ("HW_SECURITY_TOKEN", "tok"),
        ]))
        .unwrap();
        assert_eq!(creds.ak, "AK-TF");
        assert_eq!(creds.security_token.unwrap().expose_secret(), "tok");
    }

    #[test]
    fn the_error_lists_everything_missing() {
        let err = Credentials::from_lookup(env(&[("HW_SECRET_KEY", SK), ("HW_ACCESS_KEY", " ")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "credentials: missing from the environment: access key (set HUAWEICLOUD_SDK_AK or HW_ACCESS_KEY); project id (set HUAWEICLOUD_SDK_PROJECT_ID or HW_PROJECT_ID)"
        );
        assert!(!err.contains(SK));
    }

    #[test]
    fn debug_output_hides_the_secret_key_and_token() {
        let mut creds = Credentials::new("AK", SecretString::from(SK), "p");
        creds.security_token = Some(SecretString::from("token-value"));
        let debug = format!("{creds:?}");
        assert!(!debug.contains(SK), "{debug}");
        assert!(!debug.contains("token-value"), "{debug}");
        assert!(debug.contains("sk: \"***\""), "{debug}");
    }

    const FILE: &str = r#"
# drbook credentials
[default]
ak = AK-DEFAULT
sk = "ExampleSecretKey0000000000000000000000001"
project_id = proj-default   # production project
region = cn-north-4

[emulator]
ak = AK-EMU
sk = emu-secret
project_id = proj-emu
endpoint = http://127.0.0.1:8443
"#;

    #[test]
    fn profiles_are_read_by_name() {
        let default = Profile::parse(FILE, "default").unwrap();
        assert_eq!(default.credentials.ak, "AK-DEFAULT");
        assert_eq!(default.credentials.sk.expose_secret(), SK);
        assert_eq!(default.credentials.project_id, "proj-default");
        assert_eq!(default.region.as_deref(), Some("cn-north-4"));
        assert_eq!(default.endpoint, None);
        let emulator = Profile::parse(FILE, "emulator").unwrap();
        assert_eq!(emulator.endpoint.as_deref(), Some("http://127.0.0.1:8443"));
    }

    #[test]
    fn profile_errors_name_lines_and_keys_but_never_values() {
        assert_eq!(
            Profile::parse(FILE, "prod").unwrap_err(),
            "no profile [prod]; profiles: default, emulator"
        );
        let bad = format!("[default]\nak = A\nsk {SK}\n");
        let err = Profile::parse(&bad, "default").unwrap_err();
        assert_eq!(err, "line 3: expected `key = value`");
        assert!(!err.contains(SK));
        assert_eq!(
            Profile::parse("[default]\nak = A\nsk = B\n", "default").unwrap_err(),
            "profile [default] lacks: project_id"
        );
        assert_eq!(
            Profile::parse("[default]\nsecret = x\n", "default").unwrap_err(),
            "line 2: unknown key `secret` (expected ak, sk, project_id, region, endpoint or security_token)"
        );
        assert_eq!(
            Profile::parse("ak = x\n", "default").unwrap_err(),
            "line 1: `ak` comes before any [profile] header"
        );
    }

    #[test]
    fn profile_files_are_read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, FILE).unwrap();
        let creds = Credentials::from_profile(&path, "emulator").unwrap();
        assert_eq!(creds.ak, "AK-EMU");
        let missing = Credentials::from_profile(&dir.path().join("nope"), "default").unwrap_err();
        assert!(
            missing.to_string().starts_with("credentials: cannot read "),
            "{missing}"
        );
    }
}
