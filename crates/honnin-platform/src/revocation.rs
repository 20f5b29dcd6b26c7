//! Revocation checks for the platform: OCSP through the authority's verifier service, or CRL
//! indexes kept fresh from it with conditional GETs. Either way the answer is one
//! [`RevocationStatus`], with the proof kept as evidence; an unreachable authority or a CRL past its
//! nextUpdate gives `Unknown`, never `Good`.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use honnin_authority_client::{AuthorityClient, CrlFetch};
use honnin_profile::Hierarchy;
use honnin_verify::crl::CrlIndex;
use honnin_verify::ocsp::{self, Freshness};
use honnin_verify::{RevocationStatus, TrustProfile, Validated};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::config::RevocationMethod;

/// A CRL in use, with what identifies it as evidence.
pub struct LoadedCrl {
    pub index: CrlIndex,
    /// SHA-256 (hex) of the DER; the file is kept as `crls/<sha256>.crl`.
    pub sha256: String,
    etag: Option<String>,
}

/// A status and what proves it.
#[derive(Clone, Debug)]
pub struct Checked {
    pub status: RevocationStatus,
    pub source: &'static str,
    /// OCSP: the request sent (DER).
    pub request: Option<Vec<u8>>,
    /// OCSP: the response (DER); CRL: the SHA-256 of the CRL consulted (ASCII hex).
    pub proof: Option<Vec<u8>>,
}

pub struct RevocationChecker {
    method: RevocationMethod,
    client: AuthorityClient,
    profile: TrustProfile,
    crls: [ArcSwapOption<LoadedCrl>; 2],
    /// One refresh per hierarchy at a time.
    refreshing: [Mutex<()>; 2],
    archive: PathBuf,
}

fn slot(h: Hierarchy) -> usize {
    match h {
        Hierarchy::Signing => 0,
        Hierarchy::Authentication => 1,
    }
}

impl RevocationChecker {
    pub fn new(method: RevocationMethod, client: AuthorityClient, profile: TrustProfile, archive: PathBuf) -> Self {
        RevocationChecker {
            method,
            client,
            profile,
            crls: [ArcSwapOption::empty(), ArcSwapOption::empty()],
            refreshing: [Mutex::new(()), Mutex::new(())],
            archive,
        }
    }

    pub fn method(&self) -> RevocationMethod {
        self.method
    }

    /// The status of a validated certificate at `now`, by the configured method.
    pub async fn check(&self, certificate: &Validated, now: OffsetDateTime) -> Checked {
        self.check_with(self.method, certificate, now).await
    }

    /// The same, by a chosen method (status checks choose per job).
    pub async fn check_with(&self, method: RevocationMethod, certificate: &Validated, now: OffsetDateTime) -> Checked {
        match method {
            RevocationMethod::Ocsp => self.by_ocsp(certificate, now).await,
            RevocationMethod::Crl => self.by_crl(certificate, now).await,
        }
    }

    /// The status of a serial by the CRL index alone (no certificate needed): for status checks of
    /// serials the platform learnt through links. Stale or missing CRL → unknown.
    pub async fn status_by_serial(&self, h: Hierarchy, serial: u64, now: OffsetDateTime) -> RevocationStatus {
        serial_status(self.fresh_crl(h, now).await.as_deref(), serial, now)
    }

    /// The current CRL of a hierarchy (fetched or refreshed first if missing or stale), if any.
    pub async fn current_crl(&self, h: Hierarchy, now: OffsetDateTime) -> Option<Arc<LoadedCrl>> {
        self.fresh_crl(h, now).await
    }

    /// The current CRL of a hierarchy, refreshed first if missing or past its nextUpdate.
    async fn fresh_crl(&self, h: Hierarchy, now: OffsetDateTime) -> Option<Arc<LoadedCrl>> {
        let stale = |c: &Option<Arc<LoadedCrl>>| match c {
            None => true,
            Some(c) => c.index.next_update().is_none_or(|n| n < now),
        };
        if stale(&self.crls[slot(h)].load_full()) {
            if let Err(e) = self.refresh(h, now).await {
                tracing::warn!(error = %e, hierarchy = ?h, "CRL refresh failed");
            }
        }
        self.crls[slot(h)].load_full()
    }

    async fn by_ocsp(&self, certificate: &Validated, now: OffsetDateTime) -> Checked {
        let unknown = |why: String| Checked {
            status: RevocationStatus::unknown(why),
            source: "ocsp",
            request: None,
            proof: None,
        };
        let request = match ocsp::request(certificate, true) {
            Ok(r) => r,
            Err(e) => return unknown(format!("cannot build the OCSP request: {e}")),
        };
        match self.client.ocsp(&request.der).await {
            Ok(response) => Checked {
                status: ocsp::status_from_response(certificate, &request, &response, now, Freshness::default()),
                source: "ocsp",
                request: Some(request.der.clone()),
                proof: Some(response),
            },
            Err(e) => unknown(format!("the authority's OCSP responder could not be asked: {e}")),
        }
    }

    async fn by_crl(&self, certificate: &Validated, now: OffsetDateTime) -> Checked {
        match self.fresh_crl(certificate.hierarchy(), now).await {
            Some(c) => Checked {
                status: c.index.status(certificate, now),
                source: "crl",
                request: None,
                proof: Some(c.sha256.clone().into_bytes()),
            },
            None => Checked {
                status: RevocationStatus::unknown("no CRL could be obtained from the authority"),
                source: "crl",
                request: None,
                proof: None,
            },
        }
    }

    /// Fetches the CRL of a hierarchy if it changed (conditional GET), verifies it, archives it and
    /// swaps the index in. Readers keep using the previous index meanwhile.
    pub async fn refresh(&self, h: Hierarchy, now: OffsetDateTime) -> Result<bool, String> {
        let _one = self.refreshing[slot(h)].lock().await;
        let current = self.crls[slot(h)].load_full();
        let etag = current.as_ref().and_then(|c| c.etag.clone());
        let fetched = self.client.crl(h, etag.as_deref()).await.map_err(|e| e.to_string())?;
        let (der, etag) = match fetched {
            CrlFetch::NotModified => return Ok(false),
            CrlFetch::Fresh { der, etag } => (der, etag),
        };
        let profile = self.profile.clone();
        // Judged at the time of arrival, not of asking: a CRL the authority made in the second after
        // the request left would otherwise look issued in the future and be refused.
        let arrived = crate::clock::now().max(now);
        let (index, der) = tokio::task::spawn_blocking(move || (CrlIndex::build(&profile, &der, arrived), der))
            .await
            .map_err(|e| e.to_string())?;
        let index = index.map_err(|e| format!("the authority's CRL was refused: {e}"))?;
        if index.hierarchy() != h {
            return Err(format!("asked for the {h:?} CRL, got one of {:?}", index.hierarchy()));
        }
        if let Some(c) = &current {
            let newer = match (index.number(), c.index.number()) {
                (Some(n), Some(o)) => n > o,
                _ => index.this_update() > c.index.this_update(),
            };
            if !newer {
                return Ok(false);
            }
        }
        let sha256 = crate::ids::sha256_hex(&der);
        let path = self.archive.join(format!("{sha256}.crl"));
        if !path.exists() {
            crate::config::write_private(&path, &der).map_err(|e| e.to_string())?;
        }
        self.crls[slot(h)].store(Some(Arc::new(LoadedCrl { index, sha256, etag })));
        Ok(true)
    }
}

/// The status of a serial in a loaded CRL (by serial alone); no CRL or a stale one → unknown.
pub fn serial_status(crl: Option<&LoadedCrl>, serial: u64, now: OffsetDateTime) -> RevocationStatus {
    let Some(c) = crl else {
        return RevocationStatus::unknown("no CRL could be obtained from the authority");
    };
    if c.index.next_update().is_none_or(|n| n < now) {
        return RevocationStatus::unknown("the CRL is past its nextUpdate and no newer one could be fetched");
    }
    match c.index.lookup_u64(serial) {
        Some(r) => RevocationStatus::Revoked {
            source: honnin_verify::StatusSource::Crl,
            reason: r.reason(),
            revoked_at: r.revoked_at(),
        },
        None => RevocationStatus::Good {
            source: honnin_verify::StatusSource::Crl,
            checked_at: now,
        },
    }
}
