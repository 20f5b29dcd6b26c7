//! # honnin-authority: a sandbox of J-LIS (地方公共団体情報システム機構)
//!
//! The authority keeps a resident register, issues My Number cards (as card files) with a signing
//! certificate and a user-authentication certificate, turns life events into revocations with the
//! reason codes J-LIS uses, publishes RFC 5280 CRLs and answers RFC 6960 OCSP. It serves registered
//! verifiers (署名検証者 / プラットフォーム事業者) over HTTP — OCSP, CRLs, serial linking and the latest
//! 4 attributes where the holder consented, the age check, consents signed by the holder, declared
//! CRL-based checks — records each of their calls, and bills them monthly by seed 001's fees.
//!
//! It is a *sandbox*: its roots are named `O=JPKI-TEST` and its policies are the test ones, so
//! nothing it issues can pass for a production certificate. It keeps certificates, never holders'
//! private keys (those go into the card file only). State lives in one SQLite database in the data
//! directory; every change is one transaction, so a failed command leaves nothing half-written.
//!
//! It must not log PINs, private keys, My Numbers or verifiers' secrets, and stores verifiers'
//! secrets only as salted hashes.

mod card_data;
pub mod crl;
mod error;
mod events;
pub mod fees;
mod holder;
mod issue;
pub mod ocsp;
mod register;
pub mod server;
mod signed_consent;
mod store;
mod verifiers;

use std::path::{Path, PathBuf};

use honnin_profile::{CaCertificate, Hierarchy, RsaKey};
use time::OffsetDateTime;

pub use error::AuthorityError;
pub use events::{EventOutcome, LifeEvent};
pub use holder::{Basic4Outcome, MAX_CLOCK_SKEW};
pub use honnin_proto::{BillingMonth, FeeBasis, Link, Statement, StatementLine};
pub use issue::{IssueCard, IssuedCard, Renewal, Which};
pub use register::{NewResident, Resident, ResidentStatus};
pub use signed_consent::{SignedConsentOutcome, MAX_STATEMENT_AGE};
pub use store::CertificateStatus;
pub use verifiers::{
    CallResult, Consent, ConsentScope, LinkAnswer, LinkOutcome, Verifier, VerifierAuth, VerifierCall, VerifierSecret,
    VerifierService,
};

/// How often a fresh CRL is due when nothing changes (J-LIS publishes daily).
pub const DEFAULT_CRL_CADENCE_SECS: i64 = 24 * 3600;

/// Options for `honnin authority init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Seconds between thisUpdate and nextUpdate of each CRL.
    pub crl_cadence_secs: i64,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            crl_cadence_secs: DEFAULT_CRL_CADENCE_SECS,
        }
    }
}

/// One CA generation's material: the root, its key, and its delegated OCSP responder.
pub struct CaMaterial {
    pub certificate: CaCertificate,
    pub key: RsaKey,
    pub responder_certificate: Vec<u8>,
    pub responder_key: RsaKey,
    pub generation: i64,
}

/// The authority over one data directory.
#[derive(Clone)]
pub struct Authority {
    pool: sqlx::SqlitePool,
    dir: PathBuf,
}

impl Authority {
    /// Creates a new authority in `dir`: the database, and for each hierarchy a root (10 years) and
    /// a delegated OCSP responder.
    pub async fn init(dir: &Path, options: InitOptions, now: OffsetDateTime) -> Result<Self, AuthorityError> {
        store::init(dir, options, now).await.map(|pool| Authority {
            pool,
            dir: dir.to_path_buf(),
        })
    }

    /// Opens an existing data directory; a missing or foreign one is an error that says so.
    pub async fn open(dir: &Path) -> Result<Self, AuthorityError> {
        store::open(dir).await.map(|pool| Authority {
            pool,
            dir: dir.to_path_buf(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The active root of a hierarchy, with its key and responder.
    pub async fn ca(&self, hierarchy: Hierarchy) -> Result<CaMaterial, AuthorityError> {
        store::active_ca(&self.pool, hierarchy).await
    }

    /// Every root generation of a hierarchy, newest first.
    pub async fn ca_certificates(&self, hierarchy: Hierarchy) -> Result<Vec<CaCertificate>, AuthorityError> {
        store::ca_certificates(&self.pool, hierarchy).await
    }

    /// The latest certificate of `hierarchy` issued to a resident, DER.
    pub async fn resident_certificate(&self, resident: &str, hierarchy: Hierarchy) -> Result<Vec<u8>, AuthorityError> {
        store::latest_certificate(&self.pool, resident, hierarchy).await
    }

    /// The status of the certificate with `serial` in `hierarchy`, or `None` if the authority never issued it.
    pub async fn certificate_status(
        &self,
        hierarchy: Hierarchy,
        serial: u64,
    ) -> Result<Option<CertificateStatus>, AuthorityError> {
        store::certificate_status(&self.pool, hierarchy, serial).await
    }

    /// The newer auth serial that replaced `serial` (renewal or re-issue), if any.
    pub async fn successor(&self, serial: u64) -> Result<Option<u64>, AuthorityError> {
        store::successor(&self.pool, serial).await
    }

    /// The certificates of the other hierarchy that were live together with `serial` on one card.
    pub async fn linked_serials(&self, serial: u64) -> Result<Vec<u64>, AuthorityError> {
        store::linked_serials(&self.pool, serial).await
    }

    pub(crate) fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}
