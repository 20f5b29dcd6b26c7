//! Re-verification of kept evidence (確認記録): the signature and chain at the time of the original
//! verification, and the revocation proof kept with it (the OCSP response, or the archived CRL).
//! An operator runs it (`honnin platform evidence verify`), e.g. when a service provider's
//! customer disputes an account opening years later.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_profile::Hierarchy;
use honnin_verify::crl::CrlIndex;
use honnin_verify::ocsp::{self, Freshness, PreparedRequest};
use honnin_verify::{RevocationStatus, Validated, VerifyError};
use serde::Serialize;
use time::OffsetDateTime;

use crate::flows::{web_eid_algorithm, ACCOUNT_OPENING, LOGIN};
use crate::store::EvidenceRow;
use crate::{Platform, PlatformError};

/// What re-verification found.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceCheck {
    pub id: String,
    pub tenant_id: String,
    pub flow_id: String,
    pub kind: String,
    pub verified_at: String,
    pub retain_until: String,
    /// What was concluded then.
    pub recorded_outcome: String,
    /// `valid`, or why the signature does not verify now.
    pub signature: String,
    /// The revocation status the kept proof gives at the time of verification.
    pub revocation: RevocationStatus,
    /// The signature is valid and the proof gives the recorded outcome.
    pub consistent: bool,
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, PlatformError> {
    B64.decode(text)
        .map_err(|e| PlatformError::Corrupt(format!("evidence {field}: {e}")))
}

impl Platform {
    /// Re-verifies one piece of evidence.
    pub async fn reverify_evidence(&self, id: &str) -> Result<EvidenceCheck, PlatformError> {
        let e = self
            .inner
            .store
            .evidence(id)
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                what: "evidence",
                id: id.into(),
            })?;
        let at = OffsetDateTime::from_unix_timestamp(e.verified_at)
            .map_err(|err| PlatformError::Corrupt(err.to_string()))?;
        let signer = self.reverify_signature(&e, at);
        let (signature, revocation) = match &signer {
            Ok(v) => ("valid".to_owned(), self.reverify_revocation(&e, v, at)?),
            Err(err) => (
                err.to_string(),
                RevocationStatus::unknown("the signature does not verify, so the proof was not read"),
            ),
        };
        let consistent = signer.is_ok()
            && match e.outcome.as_str() {
                "verified" => revocation.is_good(),
                "rejected" => matches!(revocation, RevocationStatus::Revoked { .. }),
                _ => false,
            };
        self.operator_action(
            "evidence.verify",
            Some(id),
            serde_json::json!({ "consistent": consistent }),
        )
        .await?;
        Ok(EvidenceCheck {
            id: e.id.clone(),
            tenant_id: e.tenant_id.clone(),
            flow_id: e.flow_id.clone(),
            kind: e.kind.clone(),
            verified_at: crate::flows::rfc3339(e.verified_at),
            retain_until: crate::flows::rfc3339(e.retain_until),
            recorded_outcome: e.outcome.clone(),
            signature,
            revocation,
            consistent,
        })
    }

    fn reverify_signature(&self, e: &EvidenceRow, at: OffsetDateTime) -> Result<Validated, VerifyError> {
        let bad = |what: &str| VerifyError::Malformed(format!("the evidence's {what} is not base64"));
        let certificate = B64.decode(&e.certificate).map_err(|_| bad("certificate"))?;
        let content = B64.decode(&e.signed_content).map_err(|_| bad("content"))?;
        let signature = B64.decode(&e.signature).map_err(|_| bad("signature"))?;
        match e.kind.as_str() {
            ACCOUNT_OPENING => {
                let verified = honnin_verify::cms::verify(&self.inner.profile, &signature, Some(&content), at)?;
                if verified.signer.der != certificate {
                    return Err(VerifyError::Malformed(
                        "the kept certificate is not the CMS signer's".into(),
                    ));
                }
                Ok(verified.signer)
            }
            LOGIN => {
                #[derive(serde::Deserialize)]
                struct Covered {
                    origin: String,
                    nonce: String,
                    algorithm: String,
                }
                let covered: Covered = serde_json::from_slice(&content)
                    .map_err(|err| VerifyError::Malformed(format!("the evidence's login content: {err}")))?;
                let nonce = B64.decode(&covered.nonce).map_err(|_| bad("nonce"))?;
                let algorithm = web_eid_algorithm(&covered.algorithm)
                    .ok_or_else(|| VerifyError::UnsupportedAlgorithm(covered.algorithm.clone()))?;
                let v = self
                    .inner
                    .profile
                    .validate_kind(&certificate, Hierarchy::Authentication, at)?;
                honnin_verify::signature::verify_login_proof(&v, &covered.origin, &nonce, &algorithm, &signature)?;
                Ok(v)
            }
            other => Err(VerifyError::Malformed(format!("unknown evidence kind {other}"))),
        }
    }

    fn reverify_revocation(
        &self,
        e: &EvidenceRow,
        signer: &Validated,
        at: OffsetDateTime,
    ) -> Result<RevocationStatus, PlatformError> {
        let Some(proof) = &e.revocation_proof else {
            return Ok(RevocationStatus::unknown("no revocation proof was kept"));
        };
        let proof = decode("revocation proof", proof)?;
        Ok(match e.revocation_source.as_str() {
            "ocsp" => {
                let Some(request) = &e.revocation_request else {
                    return Ok(RevocationStatus::unknown("the OCSP request was not kept"));
                };
                match PreparedRequest::from_der(&decode("OCSP request", request)?) {
                    Ok(request) => ocsp::status_from_response(signer, &request, &proof, at, Freshness::default()),
                    Err(err) => RevocationStatus::unknown(format!("the kept OCSP request: {err}")),
                }
            }
            "crl" => {
                let sha256 = String::from_utf8_lossy(&proof).into_owned();
                if !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(PlatformError::Corrupt("the kept CRL hash is not hex".into()));
                }
                let path = self.inner.dir.join("crls").join(format!("{sha256}.crl"));
                let der = std::fs::read(&path).map_err(|source| PlatformError::Io { path, source })?;
                if crate::ids::sha256_hex(&der) != sha256 {
                    return Ok(RevocationStatus::unknown("the archived CRL was altered"));
                }
                match CrlIndex::build(&self.inner.profile, &der, at) {
                    Ok(index) => index.status(signer, at),
                    Err(err) => RevocationStatus::unknown(format!("the archived CRL: {err}")),
                }
            }
            other => RevocationStatus::unknown(format!("unknown revocation source {other}")),
        })
    }
}
