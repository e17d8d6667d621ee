//! Finding out which Databricks workspace to talk to and with which credentials, the way the
//! Databricks SDKs' unified auth does: explicit settings from the lode environment file win over
//! `DATABRICKS_*` environment variables, which win over a profile in `~/.databrickscfg`. Only
//! personal access tokens and OAuth machine-to-machine (service principal) credentials are
//! supported. Secrets never leave this module in a printable form: `Credentials` masks them in
//! `Debug`, and no error message echoes a value read from the environment or the config file
//! except hosts and profile names.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::redact::MASK;

const DEFAULT_PROFILE: &str = "DEFAULT";
const SETTINGS_SECTION: &str = "__settings__";

/// How lode proves who it is to the workspace.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A personal access token (or any token sent as-is as a bearer token).
    Pat { token: String },
    /// A service principal's OAuth client id and secret, exchanged for short-lived tokens.
    OAuthM2m {
        client_id: String,
        client_secret: String,
    },
}

impl Credentials {
    /// `pat` or `oauth-m2m`: the `auth_type` names the SDKs use.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::Pat { .. } => "pat",
            Credentials::OAuthM2m { .. } => "oauth-m2m",
        }
    }
}

// Written by hand so that `{:?}` of anything holding credentials (options, clients, test
// failures) can never print a secret. The client id is an identifier, not a secret.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Pat { .. } => f.debug_struct("Pat").field("token", &MASK).finish(),
            Credentials::OAuthM2m { client_id, .. } => f
                .debug_struct("OAuthM2m")
                .field("client_id", client_id)
                .field("client_secret", &MASK)
                .finish(),
        }
    }
}

/// Where to connect and how to authenticate, after precedence has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAuth {
    /// `https://host[:port]` (or `http://` for a loopback emulator), no path, no trailing slash.
    pub host: String,
    pub credentials: Credentials,
    pub warehouse_id: Option<String>,
    /// For humans: where host and credentials came from, e.g. `environment variables` or
    /// `profile DEFAULT in ~/.databrickscfg`.
    pub source: String,
}

/// What the lode environment file says about Databricks auth; each field, when set, beats the
/// environment variables and the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub host: Option<String>,
    /// A profile name in the Databricks config file.
    pub profile: Option<String>,
    /// The name (not the value) of an environment variable holding a personal access token.
    pub token_env: Option<String>,
}

/// Why no usable workspace address and credentials could be put together.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Databricks host configured; looked at: {}. Set DATABRICKS_HOST (e.g. \
         https://adb-1234567890123456.7.azuredatabricks.net), `host` in the environment file, \
         or `host` in a profile of ~/.databrickscfg",
        looked_at.join("; ")
    )]
    NoHost { looked_at: Vec<String> },

    #[error(
        "no Databricks credentials for {host}; looked at: {}. Set DATABRICKS_TOKEN (a personal \
         access token), or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (a service \
         principal's OAuth secret), or add `token` or `client_id` + `client_secret` to a profile \
         in ~/.databrickscfg",
        looked_at.join("; ")
    )]
    NoCredentials {
        host: String,
        looked_at: Vec<String>,
    },

    #[error(
        "environment variable {name} (named by `token_env` in the environment file) is not set; \
         export it with a Databricks personal access token, or remove `token_env` to use the \
         DATABRICKS_* variables or ~/.databrickscfg"
    )]
    TokenEnvUnset { name: String },

    #[error(
        "profile `{profile}` (from {origin}) is not in {path}; available profiles: {}. Pick one \
         of those or add a [{profile}] section",
        if available.is_empty() { "none".to_string() } else { available.join(", ") }
    )]
    ProfileNotFound {
        profile: String,
        origin: String,
        path: String,
        available: Vec<String>,
    },

    #[error(
        "profile `{profile}` (from {origin}) was asked for, but the config file {path} does not \
         exist; create it or set DATABRICKS_CONFIG_FILE to the right file"
    )]
    ConfigFileMissing {
        profile: String,
        origin: String,
        path: String,
    },

    #[error(
        "cannot read the Databricks config file {path}: {source}; fix its permissions or set DATABRICKS_CONFIG_FILE to another file"
    )]
    ConfigFileUnreadable {
        path: String,
        source: std::io::Error,
    },

    // The offending line is deliberately not quoted: it may hold a token.
    #[error("the Databricks config file {path} is not valid INI at line {line}: {message}")]
    ConfigFileInvalid {
        path: String,
        line: usize,
        message: String,
    },

    #[error(
        "auth type `{value}` (from {origin}) is not supported by lode; use `pat` or `oauth-m2m`"
    )]
    UnsupportedAuthType { value: String, origin: String },

    #[error("Databricks host `{host}` (from {origin}) is not usable: {reason}")]
    InvalidHost {
        host: String,
        origin: String,
        reason: String,
    },
}

/// Resolves host, credentials and warehouse from `settings`, the environment (read through
/// `env`, so tests need not touch the process environment) and the Databricks config file
/// (`config_file` when given, else `DATABRICKS_CONFIG_FILE`, else `$HOME/.databrickscfg`).
///
/// Host and warehouse are resolved field by field. Credentials come whole from the first layer
/// that has a complete set (token, or client id and secret), so a token from one place is never
/// paired with a client id from another; within a layer a token wins unless `auth_type`
/// (`DATABRICKS_AUTH_TYPE` or the profile's) says `oauth-m2m`, as in the SDKs' chain order.
pub fn resolve_auth(
    settings: &AuthSettings,
    env: &dyn Fn(&str) -> Option<String>,
    config_file: Option<&Path>,
) -> Result<ResolvedAuth, AuthError> {
    // Empty variables count as unset, as in the SDKs (`export DATABRICKS_TOKEN=` disables it).
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let home = var("HOME").or_else(|| var("USERPROFILE"));

    let config_path: Option<PathBuf> = match config_file {
        Some(path) => Some(path.to_path_buf()),
        None => match var("DATABRICKS_CONFIG_FILE") {
            Some(path) => Some(expand_home(&path, home.as_deref())),
            None => home.as_deref().map(|h| Path::new(h).join(".databrickscfg")),
        },
    };
    let shown_path = config_path
        .as_deref()
        .map(|p| display_path(p, home.as_deref()))
        .unwrap_or_else(|| "~/.databrickscfg".to_string());

    let config = match &config_path {
        Some(path) => load_config(path, &shown_path)?,
        None => None,
    };

    // Which profile: explicit > DATABRICKS_CONFIG_PROFILE > [__settings__] default_profile >
    // DEFAULT. Only an implicit DEFAULT may be absent without an error.
    let requested = clean(&settings.profile)
        .map(|p| (p, "the environment file".to_string()))
        .or_else(|| {
            var("DATABRICKS_CONFIG_PROFILE").map(|p| (p, "DATABRICKS_CONFIG_PROFILE".to_string()))
        })
        .or_else(|| {
            config.as_ref().and_then(|c| {
                c.section(SETTINGS_SECTION)
                    .and_then(|s| s.get("default_profile"))
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        (
                            p.clone(),
                            format!("default_profile in [{SETTINGS_SECTION}]"),
                        )
                    })
            })
        });
    let profile: Option<(String, &BTreeMap<String, String>)> = match (&requested, &config) {
        (Some((name, origin)), None) => {
            return Err(AuthError::ConfigFileMissing {
                profile: name.clone(),
                origin: origin.clone(),
                path: shown_path,
            });
        }
        (Some((name, origin)), Some(config)) => match config.section(name) {
            Some(section) => Some((name.clone(), section)),
            None => {
                return Err(AuthError::ProfileNotFound {
                    profile: name.clone(),
                    origin: origin.clone(),
                    path: shown_path,
                    available: config.profile_names(),
                });
            }
        },
        (None, Some(config)) => config
            .section(DEFAULT_PROFILE)
            .map(|s| (DEFAULT_PROFILE.to_string(), s)),
        (None, None) => None,
    };
    let profile_origin = profile
        .as_ref()
        .map(|(name, _)| format!("profile {name} in {shown_path}"));
    let from_profile = |key: &str| -> Option<String> {
        profile
            .as_ref()
            .and_then(|(_, s)| s.get(key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };

    // Host, field by field.
    let host_candidates = [
        (clean(&settings.host), "the environment file".to_string()),
        (var("DATABRICKS_HOST"), "environment variables".to_string()),
        (
            from_profile("host"),
            profile_origin.clone().unwrap_or_default(),
        ),
    ];
    let Some((raw_host, host_origin)) = host_candidates
        .into_iter()
        .find_map(|(value, origin)| value.map(|v| (v, origin)))
    else {
        let mut looked_at = vec![
            "`host` in the environment file (not set)".to_string(),
            "DATABRICKS_HOST (not set)".to_string(),
        ];
        looked_at.push(describe_profile_miss(
            &profile_origin,
            config.is_some(),
            &shown_path,
            "no `host`",
        ));
        return Err(AuthError::NoHost { looked_at });
    };
    let host = normalize_host(&raw_host).map_err(|reason| AuthError::InvalidHost {
        host: raw_host.clone(),
        origin: host_origin.clone(),
        reason,
    })?;

    // Auth type, which narrows the credential search.
    let auth_type = match (var("DATABRICKS_AUTH_TYPE"), from_profile("auth_type")) {
        (Some(v), _) => Some((v, "DATABRICKS_AUTH_TYPE".to_string())),
        (None, Some(v)) => Some((v, profile_origin.clone().unwrap_or_default())),
        (None, None) => None,
    };
    let allowed = match &auth_type {
        None => Allowed::Any,
        Some((v, _)) if v == "pat" => Allowed::Pat,
        Some((v, _)) if v == "oauth-m2m" => Allowed::M2m,
        Some((value, origin)) => {
            return Err(AuthError::UnsupportedAuthType {
                value: value.clone(),
                origin: origin.clone(),
            });
        }
    };

    // Credentials, layer by layer.
    let mut looked_at = Vec::new();
    let mut found: Option<(Credentials, String)> = None;
    if let Some(name) = clean(&settings.token_env) {
        match var(&name) {
            Some(token) => {
                found = Some((
                    Credentials::Pat { token },
                    format!("environment variable {name}"),
                ))
            }
            None => return Err(AuthError::TokenEnvUnset { name }),
        }
    }
    if found.is_none() {
        let layer = Layer {
            token: var("DATABRICKS_TOKEN"),
            client_id: var("DATABRICKS_CLIENT_ID"),
            client_secret: var("DATABRICKS_CLIENT_SECRET"),
        };
        match layer.pick(allowed) {
            Some(credentials) => found = Some((credentials, "environment variables".to_string())),
            None => looked_at.push(layer.describe_miss(
                allowed,
                "DATABRICKS_TOKEN",
                "DATABRICKS_CLIENT_ID",
                "DATABRICKS_CLIENT_SECRET",
                "",
            )),
        }
    }
    if found.is_none() {
        match &profile_origin {
            Some(origin) => {
                let layer = Layer {
                    token: from_profile("token"),
                    client_id: from_profile("client_id"),
                    client_secret: from_profile("client_secret"),
                };
                match layer.pick(allowed) {
                    Some(credentials) => found = Some((credentials, origin.clone())),
                    None => looked_at.push(layer.describe_miss(
                        allowed,
                        "token",
                        "client_id",
                        "client_secret",
                        origin,
                    )),
                }
            }
            None => looked_at.push(describe_profile_miss(
                &None,
                config.is_some(),
                &shown_path,
                "",
            )),
        }
    }
    let Some((credentials, credentials_origin)) = found else {
        if let Some((value, origin)) = &auth_type {
            looked_at.push(format!("auth type `{value}` from {origin}"));
        }
        return Err(AuthError::NoCredentials { host, looked_at });
    };

    let warehouse_id = var("DATABRICKS_WAREHOUSE_ID").or_else(|| from_profile("warehouse_id"));
    let source = if host_origin == credentials_origin {
        host_origin
    } else {
        format!("host from {host_origin}, credentials from {credentials_origin}")
    };
    Ok(ResolvedAuth {
        host,
        credentials,
        warehouse_id,
        source,
    })
}

/// Which credential kinds `auth_type` allows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Any,
    Pat,
    M2m,
}

/// The credential fields one layer (environment or profile) provides.
struct Layer {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl Layer {
    fn pick(&self, allowed: Allowed) -> Option<Credentials> {
        let pat = self.token.clone().map(|token| Credentials::Pat { token });
        let m2m = match (&self.client_id, &self.client_secret) {
            (Some(id), Some(secret)) => Some(Credentials::OAuthM2m {
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            _ => None,
        };
        match allowed {
            Allowed::Any => pat.or(m2m),
            Allowed::Pat => pat,
            Allowed::M2m => m2m,
        }
    }

    /// Says which names were looked at and what was missing, never their values.
    fn describe_miss(
        &self,
        allowed: Allowed,
        token: &str,
        id: &str,
        secret: &str,
        origin: &str,
    ) -> String {
        let mut parts = Vec::new();
        if allowed != Allowed::M2m {
            parts.push(format!(
                "{token} ({})",
                if self.token.is_some() {
                    "set"
                } else {
                    "not set"
                }
            ));
        }
        if allowed != Allowed::Pat {
            parts.push(
                match (self.client_id.is_some(), self.client_secret.is_some()) {
                    (true, false) => format!("{id} (set) but {secret} (not set)"),
                    (false, true) => format!("{secret} (set) but {id} (not set)"),
                    _ => format!("{id} and {secret} (not set)"),
                },
            );
        }
        if origin.is_empty() {
            parts.join(", ")
        } else {
            format!("{origin}: {}", parts.join(", "))
        }
    }
}

fn describe_profile_miss(
    profile_origin: &Option<String>,
    config_exists: bool,
    shown_path: &str,
    what: &str,
) -> String {
    match profile_origin {
        Some(origin) => format!("{origin} ({what})"),
        None if config_exists => {
            format!("{shown_path} (no [DEFAULT] profile and none selected)")
        }
        None => format!("{shown_path} (file not found)"),
    }
}

fn clean(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn expand_home(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Shows paths under the home folder as `~/...`, which is how users know the file.
fn display_path(path: &Path, home: Option<&str>) -> String {
    if let Some(home) = home
        && let Ok(rest) = path.strip_prefix(home)
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// Reduces a host to `scheme://host[:port]`: people paste workspace URLs with paths and
/// `?o=` query strings, and a missing scheme means https, as in the SDKs. Plain http is only
/// accepted for loopback addresses (the local emulators), since it would expose the token.
pub fn normalize_host(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("not a URL ({e})"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "it has no host name".to_string())?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback =
                matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.");
            if !loopback {
                return Err("plain http would send the token unencrypted; use https://".to_string());
            }
        }
        other => return Err(format!("scheme `{other}` is not http or https")),
    }
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// A parsed Databricks config file: sections in file order, keys lower-cased.
#[derive(Debug, Default)]
struct ConfigFile {
    sections: Vec<(String, BTreeMap<String, String>)>,
}

impl ConfigFile {
    fn section(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, keys)| keys)
    }

    fn profile_names(&self) -> Vec<String> {
        self.sections
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| n != SETTINGS_SECTION)
            .collect()
    }
}

/// Reads the config file; a missing file is `None` (it is optional unless a profile is asked
/// for), any other read failure is an error because the user evidently has a file.
fn load_config(path: &Path, shown_path: &str) -> Result<Option<ConfigFile>, AuthError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::ConfigFileUnreadable {
                path: shown_path.to_string(),
                source,
            });
        }
    };
    parse_ini(&text)
        .map(Some)
        .map_err(|(line, message)| AuthError::ConfigFileInvalid {
            path: shown_path.to_string(),
            line,
            message,
        })
}

/// A small INI reader covering what `databricks configure` and hand edits produce: `[section]`
/// headers, `key = value` (or `key: value`) pairs, `;`/`#` comment lines, inline comments after
/// whitespace, optional quotes around values. Keys before any header belong to DEFAULT, and a
/// repeated section or key merges with the later value winning, as go-ini does.
fn parse_ini(text: &str) -> Result<ConfigFile, (usize, String)> {
    let mut config = ConfigFile::default();
    let mut current = DEFAULT_PROFILE.to_string();
    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err((line_no, "a section header is missing its `]`".to_string()));
            };
            let name = rest[..end].trim();
            if name.is_empty() {
                return Err((line_no, "a section header has no name".to_string()));
            }
            let trailing = rest[end + 1..].trim();
            if !(trailing.is_empty() || trailing.starts_with(';') || trailing.starts_with('#')) {
                return Err((line_no, "text after a section header".to_string()));
            }
            current = name.to_string();
            section_mut(&mut config, &current);
            continue;
        }
        let split = line.find('=').or_else(|| line.find(':'));
        let Some(at) = split else {
            return Err((line_no, "expected `[section]` or `key = value`".to_string()));
        };
        let key = line[..at].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err((line_no, "a `key = value` line has no key".to_string()));
        }
        let value = unquote(strip_inline_comment(line[at + 1..].trim()));
        section_mut(&mut config, &current).insert(key, value.to_string());
    }
    Ok(config)
}

fn section_mut<'a>(config: &'a mut ConfigFile, name: &str) -> &'a mut BTreeMap<String, String> {
    let index = match config.sections.iter().position(|(n, _)| n == name) {
        Some(index) => index,
        None => {
            config.sections.push((name.to_string(), BTreeMap::new()));
            config.sections.len() - 1
        }
    };
    &mut config.sections[index].1
}

fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'#' || bytes[i] == b';') && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET_TOKEN: &str = "dapi-super-secret-0123";
    const SECRET_CLIENT: &str = "dose-client-secret-4567";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write_config(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join(".databrickscfg");
        std::fs::write(&path, text).unwrap();
        path
    }

    const CONFIG: &str = "\
; written by databricks configure
[DEFAULT]
host  = https://default.cloud.databricks.com/
token = dapi-default-token   # inline comment

[dev]
host = adb-111.11.azuredatabricks.net/?o=111
client_id = sp-dev
client_secret = \"sp-dev-secret\"
warehouse_id = wh-dev

# a PAT-only profile
[prod]
host: https://prod.cloud.databricks.com
token = dapi-prod-token
auth_type = pat
";

    #[test]
    fn env_beats_profile_field_by_field_and_credentials_layer_by_layer() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(&dir, CONFIG);
        let env = env_of(&[
            ("DATABRICKS_HOST", "https://env.cloud.databricks.com"),
            ("DATABRICKS_TOKEN", "dapi-env-token"),
        ]);
        let auth = resolve_auth(&AuthSettings::default(), &env, Some(&path)).unwrap();
        assert_eq!(auth.host, "https://env.cloud.databricks.com");
        assert_eq!(
            auth.credentials,
            Credentials::Pat {
                token: "dapi-env-token".into()
            }
        );
        assert_eq!(auth.source, "environment variables");

        // Only the host in the environment: credentials come from the DEFAULT profile.
        let env = env_of(&[("DATABRICKS_HOST", "https://env.cloud.databricks.com")]);
        let auth = resolve_auth(&AuthSettings::default(), &env, Some(&path)).unwrap();
        assert_eq!(auth.host, "https://env.cloud.databricks.com");
        assert_eq!(
            auth.credentials,
            Credentials::Pat {
                token: "dapi-default-token".into()
            }
        );
        assert!(
            auth.source.starts_with(
                "host from environment variables, credentials from profile DEFAULT in "
            )
        );
    }

    #[test]
    fn default_profile_named_profile_and_settings_default_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(&dir, CONFIG);
        let home = dir.path().to_str().unwrap().to_string();

        // Implicit DEFAULT, found through $HOME, shown as ~/.databrickscfg.
        let env = env_of(&[("HOME", &home)]);
        let auth = resolve_auth(&AuthSettings::default(), &env, None).unwrap();
        assert_eq!(auth.host, "https://default.cloud.databricks.com");
        assert_eq!(auth.source, "profile DEFAULT in ~/.databrickscfg");

        // Named profile through the environment variable; host is cut to scheme://host.
        let env = env_of(&[("HOME", &home), ("DATABRICKS_CONFIG_PROFILE", "dev")]);
        let auth = resolve_auth(&AuthSettings::default(), &env, None).unwrap();
        assert_eq!(auth.host, "https://adb-111.11.azuredatabricks.net");
        assert_eq!(
            auth.credentials,
            Credentials::OAuthM2m {
                client_id: "sp-dev".into(),
                client_secret: "sp-dev-secret".into()
            }
        );
        assert_eq!(auth.warehouse_id.as_deref(), Some("wh-dev"));
        assert_eq!(auth.source, "profile dev in ~/.databrickscfg");

        // The environment file's profile beats DATABRICKS_CONFIG_PROFILE.
        let settings = AuthSettings {
            profile: Some("prod".into()),
            ..AuthSettings::default()
        };
        let auth = resolve_auth(&settings, &env, None).unwrap();
        assert_eq!(auth.host, "https://prod.cloud.databricks.com");

        // [__settings__] default_profile replaces DEFAULT as the implicit choice.
        let text = format!("{CONFIG}\n[__settings__]\ndefault_profile = prod\n");
        write_config(&dir, &text);
        let env = env_of(&[("HOME", &home)]);
        let auth = resolve_auth(&AuthSettings::default(), &env, Some(&path)).unwrap();
        assert_eq!(auth.host, "https://prod.cloud.databricks.com");
        assert!(auth.source.starts_with("profile prod in "));
    }

    #[test]
    fn explicit_settings_beat_environment() {
        let env = env_of(&[
            ("DATABRICKS_HOST", "https://env.cloud.databricks.com"),
            ("DATABRICKS_TOKEN", "dapi-env-token"),
            ("LODE_DBX_TOKEN", "dapi-from-token-env"),
        ]);
        let settings = AuthSettings {
            host: Some("http://127.0.0.1:8123/".into()),
            profile: None,
            token_env: Some("LODE_DBX_TOKEN".into()),
        };
        let auth = resolve_auth(&settings, &env, Some(Path::new("/nonexistent/cfg"))).unwrap();
        assert_eq!(auth.host, "http://127.0.0.1:8123");
        assert_eq!(
            auth.credentials,
            Credentials::Pat {
                token: "dapi-from-token-env".into()
            }
        );
        assert_eq!(
            auth.source,
            "host from the environment file, credentials from environment variable LODE_DBX_TOKEN"
        );

        let settings = AuthSettings {
            token_env: Some("MISSING_VAR".into()),
            ..settings
        };
        let err = resolve_auth(&settings, &env, None).unwrap_err();
        assert!(err.to_string().contains("MISSING_VAR"), "{err}");
    }

    #[test]
    fn auth_type_selects_m2m_over_a_token_in_the_same_layer() {
        let env = env_of(&[
            ("DATABRICKS_HOST", "example.cloud.databricks.com"),
            ("DATABRICKS_TOKEN", "dapi-env-token"),
            ("DATABRICKS_CLIENT_ID", "sp"),
            ("DATABRICKS_CLIENT_SECRET", "sp-secret"),
        ]);
        let auth = resolve_auth(&AuthSettings::default(), &env, None).unwrap();
        assert_eq!(auth.credentials.kind(), "pat");
        assert_eq!(auth.host, "https://example.cloud.databricks.com");

        let env = env_of(&[
            ("DATABRICKS_HOST", "example.cloud.databricks.com"),
            ("DATABRICKS_TOKEN", "dapi-env-token"),
            ("DATABRICKS_CLIENT_ID", "sp"),
            ("DATABRICKS_CLIENT_SECRET", "sp-secret"),
            ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
        ]);
        let auth = resolve_auth(&AuthSettings::default(), &env, None).unwrap();
        assert_eq!(auth.credentials.kind(), "oauth-m2m");

        let env = env_of(&[
            ("DATABRICKS_HOST", "example.cloud.databricks.com"),
            ("DATABRICKS_AUTH_TYPE", "azure-cli"),
        ]);
        let err = resolve_auth(&AuthSettings::default(), &env, None).unwrap_err();
        assert!(
            matches!(err, AuthError::UnsupportedAuthType { .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_everything_says_what_was_looked_at() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap().to_string();
        let env = env_of(&[("HOME", &home)]);
        let err = resolve_auth(&AuthSettings::default(), &env, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no Databricks host configured; looked at: `host` in the environment file (not \
             set); DATABRICKS_HOST (not set); ~/.databrickscfg (file not found). Set \
             DATABRICKS_HOST (e.g. https://adb-1234567890123456.7.azuredatabricks.net), `host` \
             in the environment file, or `host` in a profile of ~/.databrickscfg"
        );

        let env = env_of(&[
            ("HOME", &home),
            ("DATABRICKS_HOST", "https://x.cloud.databricks.com"),
            ("DATABRICKS_CLIENT_ID", "sp"),
        ]);
        let err = resolve_auth(&AuthSettings::default(), &env, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no Databricks credentials for https://x.cloud.databricks.com; looked at: \
             DATABRICKS_TOKEN (not set), DATABRICKS_CLIENT_ID (set) but \
             DATABRICKS_CLIENT_SECRET (not set); ~/.databrickscfg (file not found). Set \
             DATABRICKS_TOKEN (a personal access token), or DATABRICKS_CLIENT_ID and \
             DATABRICKS_CLIENT_SECRET (a service principal's OAuth secret), or add `token` or \
             `client_id` + `client_secret` to a profile in ~/.databrickscfg"
        );
    }

    #[test]
    fn profile_errors_list_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(&dir, &format!("{CONFIG}[__settings__]\n"));
        let env = env_of(&[("DATABRICKS_CONFIG_PROFILE", "staging")]);
        let err = resolve_auth(&AuthSettings::default(), &env, Some(&path)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, AuthError::ProfileNotFound { .. }));
        assert!(
            text.contains("profile `staging` (from DATABRICKS_CONFIG_PROFILE)"),
            "{text}"
        );
        assert!(
            text.contains("available profiles: DEFAULT, dev, prod."),
            "{text}"
        );

        let err = resolve_auth(
            &AuthSettings::default(),
            &env,
            Some(&dir.path().join("absent")),
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::ConfigFileMissing { .. }), "{err}");

        let bad = write_config(&dir, "[DEFAULT]\ntoken dapi-broken-secret\n");
        let err = resolve_auth(&AuthSettings::default(), &env_of(&[]), Some(&bad)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("dapi-broken-secret"), "{text}");

        // A folder is not a readable file.
        let err =
            resolve_auth(&AuthSettings::default(), &env_of(&[]), Some(dir.path())).unwrap_err();
        assert!(
            matches!(err, AuthError::ConfigFileUnreadable { .. }),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_masked_in_debug_and_errors() {
        let env = env_of(&[
            ("DATABRICKS_HOST", "https://x.cloud.databricks.com"),
            ("DATABRICKS_CLIENT_ID", "sp-id"),
            ("DATABRICKS_CLIENT_SECRET", SECRET_CLIENT),
            ("DATABRICKS_TOKEN", SECRET_TOKEN),
        ]);
        let auth = resolve_auth(&AuthSettings::default(), &env, None).unwrap();
        let debug = format!("{auth:?}");
        assert!(!debug.contains(SECRET_TOKEN), "{debug}");
        assert!(debug.contains("(sensitive)"), "{debug}");
        let m2m = Credentials::OAuthM2m {
            client_id: "sp-id".into(),
            client_secret: SECRET_CLIENT.into(),
        };
        let debug = format!("{m2m:?}");
        assert!(
            !debug.contains(SECRET_CLIENT) && debug.contains("sp-id"),
            "{debug}"
        );

        // Errors name variables, never values.
        let env = env_of(&[
            ("DATABRICKS_HOST", "https://x.cloud.databricks.com"),
            ("DATABRICKS_CLIENT_SECRET", SECRET_CLIENT),
            ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
        ]);
        let err = resolve_auth(&AuthSettings::default(), &env, None).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(SECRET_CLIENT), "{text}");
        assert!(
            text.contains("DATABRICKS_CLIENT_SECRET (set) but DATABRICKS_CLIENT_ID (not set)"),
            "{text}"
        );
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(
            normalize_host("https://adb-1.2.azuredatabricks.net/?o=1#/x").unwrap(),
            "https://adb-1.2.azuredatabricks.net"
        );
        assert_eq!(
            normalize_host("x.databricks.com:8443").unwrap(),
            "https://x.databricks.com:8443"
        );
        assert_eq!(
            normalize_host("http://localhost:9000/").unwrap(),
            "http://localhost:9000"
        );
        assert!(normalize_host("http://x.databricks.com").is_err());
        assert!(normalize_host("ftp://x").is_err());
    }

    #[test]
    fn ini_parser_edges() {
        let config =
            parse_ini("top = 1\n[a]\nk = v ; c\nquoted = 'x y'\nhash=abc#def\n[ a ]\nk = w\n")
                .unwrap();
        assert_eq!(config.section("DEFAULT").unwrap()["top"], "1");
        let a = config.section("a").unwrap();
        assert_eq!(a["k"], "w");
        assert_eq!(a["quoted"], "x y");
        assert_eq!(a["hash"], "abc#def");
        assert_eq!(parse_ini("[x\n").unwrap_err().0, 1);
    }
}
