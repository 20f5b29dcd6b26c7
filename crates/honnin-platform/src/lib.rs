//! # honnin-platform: the verifier platform (プラットフォーム事業者)
//!
//! What service providers (banks, insurers, carriers) call to open accounts online with the signing
//! certificate and to log users in with the auth certificate, without holding certificates or
//! revocation data themselves: they get results (verified / rejected / unknown, a per-tenant
//! `user_id`, the 4 attributes), the platform keeps the evidence (確認記録) and an audit log.
//!
//! - [`Platform`]: the core over a [`store::Store`] (SQLite by default, PostgreSQL as the server
//!   option, one set of migrations), the verification core (`honnin-verify`) and the authority's
//!   verifier service (`honnin-authority-client`: OCSP, CRLs, serial links).
//! - [`api`]: the HTTP API (axum), with its OpenAPI document, problem+json errors, limits,
//!   `/healthz` and `/metrics`.
//! - [`audit`]: the hash-chained, keyed audit log; [`evidence`]: re-verification of what was kept.
//!
//! It must not: hand a certificate, a signature or revocation data to a service provider; log or
//! store a PIN, a private key or a My Number; answer "verified" when revocation status is unknown.

mod age_check;
pub mod api;
mod api_consent;
pub mod audit;
pub mod billing;
pub mod clock;
pub mod config;
mod consent;
mod error;
pub mod evidence;
mod flows;
mod identity;
pub mod ids;
mod metrics;
pub mod revocation;
mod schedule;
mod status;
pub mod store;
mod webhooks;
pub mod wire;
mod wire_consent;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use honnin_authority_client::AuthorityClient;
use honnin_profile::Hierarchy;
use honnin_verify::TrustProfile;

pub use config::{PlatformConfig, RevocationMethod, TrustConfig};
pub use error::PlatformError;
pub use flows::opening_document;
pub use metrics::Metrics;
pub use webhooks::signature as webhook_signature;

use audit::{Actor, AuditLog};
use revocation::RevocationChecker;
use store::Store;

/// The platform: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    config: PlatformConfig,
    store: Store,
    profile: TrustProfile,
    authority: AuthorityClient,
    revocation: RevocationChecker,
    audit: AuditLog,
    metrics: Metrics,
    /// Set by `serve` when no public URL is configured.
    listen_url: OnceLock<String>,
}

/// What `init` needs.
pub struct InitOptions {
    pub authority: String,
    pub verifier_id: String,
    pub verifier_secret: String,
    /// `None`: SQLite in the data directory.
    pub database: Option<String>,
    /// `None`: a sandbox profile with the authority's roots, fetched now.
    pub trust: Option<TrustConfig>,
    pub revocation: RevocationMethod,
    pub public_url: Option<String>,
    /// Seconds between CRL refreshes in CRL mode (default 300).
    pub crl_refresh_seconds: Option<u32>,
    /// Users per second a status-check job checks (default 0: unlimited).
    pub status_check_rate: Option<u32>,
    /// First webhook retry delay in milliseconds (default 1000), doubled at each attempt.
    pub webhook_retry_base_ms: Option<u32>,
    /// The platform's margin on the authority's fees, in percent (default 0; see [`billing`]).
    pub billing_margin_percent: Option<u32>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PlatformError + '_ {
    move |source| PlatformError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load_profile(dir: &Path, trust: &TrustConfig) -> Result<TrustProfile, PlatformError> {
    let read = |f: &String| std::fs::read(dir.join(f)).map_err(io(&dir.join(f)));
    Ok(match trust {
        TrustConfig::Production { extra } => {
            let extra = extra.iter().map(read).collect::<Result<Vec<_>, _>>()?;
            TrustProfile::production_with(&extra.iter().map(Vec::as_slice).collect::<Vec<_>>())?
        }
        TrustConfig::Sandbox { anchors } => {
            let anchors = anchors.iter().map(read).collect::<Result<Vec<_>, _>>()?;
            TrustProfile::sandbox(&anchors.iter().map(Vec::as_slice).collect::<Vec<_>>())?
        }
    })
}

impl Platform {
    /// Creates a platform in `dir`: configuration, audit key, database (migrated), and — for a
    /// sandbox profile without anchors given — the authority's roots, fetched and pinned now.
    pub async fn init(dir: &Path, options: InitOptions) -> Result<(), PlatformError> {
        if PlatformConfig::path(dir).exists() {
            return Err(PlatformError::AlreadyInitialised(dir.to_owned()));
        }
        std::fs::create_dir_all(dir.join("crls")).map_err(io(dir))?;
        let trust = match options.trust {
            Some(t) => t,
            None => {
                let client = AuthorityClient::new(&options.authority, &options.verifier_id, &options.verifier_secret)?;
                std::fs::create_dir_all(dir.join("trust")).map_err(io(dir))?;
                let mut anchors = Vec::new();
                for h in [Hierarchy::Signing, Hierarchy::Authentication] {
                    let der = client.ca_certificate(h).await?;
                    let name = format!("trust/{}.der", identity::hierarchy_name(h));
                    config::write_private(&dir.join(&name), &der)?;
                    anchors.push(name);
                }
                TrustConfig::Sandbox { anchors }
            }
        };
        load_profile(dir, &trust)?;
        let config = PlatformConfig {
            format: config::FORMAT.into(),
            database: options.database.unwrap_or_else(|| store::sqlite_url(dir)),
            authority: options.authority,
            verifier_id: options.verifier_id,
            verifier_secret: options.verifier_secret,
            trust,
            revocation: options.revocation,
            public_url: options.public_url,
            evidence_retention_years: 7,
            flow_ttl_seconds: 600,
            crl_refresh_seconds: options.crl_refresh_seconds.unwrap_or(300),
            status_check_rate: options.status_check_rate.unwrap_or(0),
            webhook_retry_base_ms: options.webhook_retry_base_ms.unwrap_or(1000),
            webhook_max_attempts: 8,
            billing_margin_percent: options.billing_margin_percent.unwrap_or(0),
        };
        audit::create_key(dir)?;
        let store = Store::open(&config.database).await?;
        store.close().await;
        config.save(dir)
    }

    /// Opens an initialised data directory.
    pub async fn open(dir: &Path) -> Result<Self, PlatformError> {
        let config = PlatformConfig::load(dir)?;
        let profile = load_profile(dir, &config.trust)?;
        let store = Store::open(&config.database).await?;
        let authority = AuthorityClient::new(&config.authority, &config.verifier_id, &config.verifier_secret)?;
        let revocation =
            RevocationChecker::new(config.revocation, authority.clone(), profile.clone(), dir.join("crls"));
        Ok(Platform {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                audit: AuditLog::open(dir)?,
                metrics: Metrics::new(),
                config,
                store,
                profile,
                authority,
                revocation,
                listen_url: OnceLock::new(),
            }),
        })
    }

    pub fn config(&self) -> &PlatformConfig {
        &self.inner.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn revocation(&self) -> &RevocationChecker {
        &self.inner.revocation
    }

    pub fn profile(&self) -> &TrustProfile {
        &self.inner.profile
    }

    fn now() -> i64 {
        clock::now().unix_timestamp()
    }

    /// The base URL of client URLs.
    pub fn public_url(&self) -> &str {
        self.inner
            .config
            .public_url
            .as_deref()
            .or_else(|| self.inner.listen_url.get().map(String::as_str))
            .unwrap_or("http://127.0.0.1")
    }

    /// Tells the platform where it listens (used for client URLs when no public URL is set).
    pub fn set_listen_url(&self, url: String) {
        let _ = self.inner.listen_url.set(url);
    }

    /// Adds a tenant (service provider); returns its id and API key (shown once, stored hashed).
    pub async fn add_tenant(&self, name: &str) -> Result<wire::TenantCreated, PlatformError> {
        if name.trim().is_empty() {
            return Err(PlatformError::Invalid("a tenant needs a name".into()));
        }
        let id = ids::new_id("tnt")?;
        let api_key = format!("{id}.{}", ids::new_secret()?);
        self.inner
            .store
            .insert_tenant(&id, name, &ids::sha256_hex(api_key.as_bytes()), Self::now())
            .await?;
        self.operator_action("tenant.add", Some(&id), serde_json::json!({ "name": name }))
            .await?;
        Ok(wire::TenantCreated { id, api_key })
    }

    /// The tenant an API key belongs to, or `None`.
    pub async fn authenticate(&self, api_key: &str) -> Result<Option<String>, PlatformError> {
        let Some((tenant, _)) = api_key.split_once('.') else {
            return Ok(None);
        };
        let Some(stored) = self.inner.store.tenant_key_hash(tenant).await? else {
            return Ok(None);
        };
        Ok(ids::same_hash(&stored, &ids::sha256_hex(api_key.as_bytes())).then(|| tenant.to_owned()))
    }

    /// Records an operator action in the audit log.
    pub async fn operator_action(
        &self,
        action: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), PlatformError> {
        self.audit(Actor::Operator, action, None, subject, "ok", detail).await
    }

    /// Checks the audit chain.
    pub async fn verify_audit(&self) -> Result<audit::AuditReport, PlatformError> {
        self.inner.audit.verify(&self.inner.store).await
    }

    /// Keeps the CRL indexes fresh (CRL mode): one refresh now, then every `crl_refresh_seconds`.
    pub fn spawn_crl_refresher(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.config.revocation != RevocationMethod::Crl {
            return None;
        }
        let platform = self.clone();
        Some(tokio::spawn(async move {
            let period = std::time::Duration::from_secs(u64::from(platform.inner.config.crl_refresh_seconds.max(1)));
            loop {
                for h in [Hierarchy::Signing, Hierarchy::Authentication] {
                    if let Err(e) = platform.inner.revocation.refresh(h, clock::now()).await {
                        tracing::warn!(error = %e, hierarchy = ?h, "CRL refresh failed");
                    }
                }
                tokio::time::sleep(period).await;
            }
        }))
    }
}
