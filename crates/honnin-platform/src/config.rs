//! The platform's data directory: `platform.json` (configuration, 0600: it holds the verifier
//! secret), `audit.key` (the audit log's MAC key, 0600), `platform.db` (SQLite, the default
//! database), `trust/` (the trust anchors of a sandbox profile) and `crls/` (every CRL the platform
//! used, by SHA-256, so evidence can be re-verified).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::PlatformError;

pub const CONFIG_FILE: &str = "platform.json";
pub const FORMAT: &str = "honnin-platform/1";

/// How revocation is checked when a signature is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationMethod {
    /// Ask the authority's OCSP responder for every verification (today's status; billed per call).
    Ocsp,
    /// Look up the CRL index the platform keeps fresh from the authority (conditional GETs).
    Crl,
}

/// Which roots the platform trusts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "environment", rename_all = "lowercase")]
pub enum TrustConfig {
    /// J-LIS's real roots (built in), plus extra production roots, files relative to the data dir.
    Production {
        #[serde(default)]
        extra: Vec<String>,
    },
    /// A sandbox authority's roots, files relative to the data dir.
    Sandbox { anchors: Vec<String> },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformConfig {
    pub format: String,
    /// `sqlite://…` or `postgres://…`.
    pub database: String,
    /// Base URL of the authority's HTTP service.
    pub authority: String,
    pub verifier_id: String,
    pub verifier_secret: String,
    pub trust: TrustConfig,
    pub revocation: RevocationMethod,
    /// The base URL clients reach the platform at (client URLs are built on it); default: the
    /// listening address.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long evidence (確認記録) is kept; 7 years (犯収法 6条) by default.
    pub evidence_retention_years: u32,
    /// Default time a holder has to complete a flow.
    pub flow_ttl_seconds: u32,
    /// How often the CRLs are refreshed (conditional GET) in CRL mode.
    pub crl_refresh_seconds: u32,
    /// Most users a status-check job checks per second (0: as fast as it can), so a batch over
    /// millions of users does not flood the authority.
    #[serde(default)]
    pub status_check_rate: u32,
    /// Webhook retries wait this long, doubled at every failed attempt (capped at an hour).
    #[serde(default = "default_retry_base_ms")]
    pub webhook_retry_base_ms: u32,
    /// After this many failed attempts a delivery becomes a dead letter.
    #[serde(default = "default_max_attempts")]
    pub webhook_max_attempts: u32,
    /// What the platform adds to the authority's fees when it bills a tenant, in percent of each
    /// statement line, rounded down per line (see `billing`).
    #[serde(default)]
    pub billing_margin_percent: u32,
}

fn default_retry_base_ms() -> u32 {
    1000
}

fn default_max_attempts() -> u32 {
    8
}

impl PlatformConfig {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(CONFIG_FILE)
    }

    pub fn load(dir: &Path) -> Result<Self, PlatformError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PlatformError::NotInitialised(dir.to_owned()))
            }
            Err(source) => return Err(PlatformError::Io { path, source }),
        };
        let config: PlatformConfig = serde_json::from_str(&text).map_err(|e| PlatformError::Config {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if config.format != FORMAT {
            return Err(PlatformError::Config {
                path,
                why: format!("format {:?}, expected {FORMAT:?}", config.format),
            });
        }
        Ok(config)
    }

    /// Writes the configuration readable by the owner only (it holds the verifier secret).
    pub fn save(&self, dir: &Path) -> Result<(), PlatformError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| PlatformError::Config {
            path: Self::path(dir),
            why: e.to_string(),
        })?;
        write_private(&Self::path(dir), text.as_bytes())
    }
}

/// Writes a file with mode 0600, atomically (temporary file + rename).
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), PlatformError> {
    use std::io::Write;
    let io = |source| PlatformError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
