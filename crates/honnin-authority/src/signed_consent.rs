//! Consents signed by the holder (reference §1.5: "a consent statement signed with the signing
//! certificate"): the verifier sends the authority a CMS `SignedData` over a
//! [`ConsentStatement`] naming itself and a scope, signed with the holder's signing certificate;
//! the authority verifies it against its own roots with `honnin-verify`, checks the certificate
//! in its own records, and makes the consent live. The statement is kept as evidence, and accepted
//! once: a verifier cannot replay it after the holder withdrew.

use aws_lc_rs::digest::{digest, SHA256};
use honnin_profile::Hierarchy;
use honnin_proto::{ConsentRecorded, ConsentScope, ConsentStatement, CONSENT_STATEMENT_VERSION};
use honnin_verify::TrustProfile;
use sqlx::Row;
use time::OffsetDateTime;

use crate::holder::MAX_CLOCK_SKEW;
use crate::verifiers::{live_or_new_consent, CallResult, NewCall, VerifierService};
use crate::{Authority, AuthorityError};

/// How long after the holder signed a statement the authority still accepts it.
pub const MAX_STATEMENT_AGE: time::Duration = time::Duration::hours(1);

/// What became of a signed consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedConsentOutcome {
    Accepted(ConsentRecorded),
    /// Refused, with the reason (for the verifier: it names nothing of the holder).
    Refused(String),
}

/// A consent statement that verified: whose, for what, signed by which certificate, and the digest
/// (of signer and statement) that accepts it once.
struct CheckedStatement {
    resident: String,
    scope: ConsentScope,
    signer: u64,
    digest: Vec<u8>,
}

impl Authority {
    /// Verifies a consent statement signed by the holder and sent by `verifier`, and if it holds,
    /// makes the consent live (or keeps the live one) and keeps the statement. Records the call.
    ///
    /// Accepted only if: the `SignedData` verifies (detached `content` or attached) with a signing
    /// certificate that chains to this authority's signing root and is valid at `now`; that
    /// certificate is one this authority issued and has not revoked; the content is a
    /// [`ConsentStatement`] of [`CONSENT_STATEMENT_VERSION`] naming `verifier`; it was signed no more
    /// than [`MAX_STATEMENT_AGE`] ago (and not in the future); and the same statement was never
    /// accepted before.
    pub async fn add_signed_consent(
        &self,
        verifier: &str,
        signed_data: &[u8],
        content: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<SignedConsentOutcome, AuthorityError> {
        let mut call = NewCall {
            service: VerifierService::Consent,
            hierarchy: Some(Hierarchy::Signing),
            serial: None,
            linked_serial: None,
            result: CallResult::Refused,
        };
        let outcome = match self.check_statement(verifier, signed_data, content, now).await? {
            Err(why) => SignedConsentOutcome::Refused(why),
            Ok(CheckedStatement {
                resident,
                scope,
                signer,
                digest: statement_digest,
            }) => {
                call.serial = Some(signer);
                let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
                let used: Option<i64> = sqlx::query_scalar("SELECT 1 FROM consent_statements WHERE digest = ?")
                    .bind(&statement_digest[..])
                    .fetch_optional(&mut *tx)
                    .await?;
                if used.is_some() {
                    SignedConsentOutcome::Refused("this consent statement was already used".into())
                } else {
                    let (consent, id) = live_or_new_consent(&mut tx, &resident, verifier, scope, now).await?;
                    sqlx::query(
                        "INSERT INTO consent_statements (digest, consent_id, signer_serial, signed_data, received_at)
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(&statement_digest[..])
                    .bind(id)
                    .bind(i64::try_from(signer).unwrap_or(i64::MAX))
                    .bind(signed_data)
                    .bind(now.unix_timestamp())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    call.result = CallResult::Accepted;
                    SignedConsentOutcome::Accepted(ConsentRecorded {
                        scope: consent.scope,
                        given_at: consent.given_at,
                        signer,
                    })
                }
            }
        };
        self.record_calls(verifier, &[call], now).await?;
        Ok(outcome)
    }

    /// A signed consent that passes every check, or why not.
    async fn check_statement(
        &self,
        verifier: &str,
        signed_data: &[u8],
        content: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<Result<CheckedStatement, String>, AuthorityError> {
        // Both hierarchies' roots, so that a statement signed with the auth key is refused for what
        // it is rather than as a stranger's.
        let mut roots = Vec::new();
        for h in Hierarchy::ALL {
            roots.extend(self.ca_certificates(h).await?.into_iter().map(|c| c.der));
        }
        let anchors: Vec<&[u8]> = roots.iter().map(Vec::as_slice).collect();
        let profile = TrustProfile::sandbox(&anchors).map_err(|e| AuthorityError::Corrupt {
            dir: String::new(),
            why: format!("the roots do not make a trust profile: {e}"),
        })?;
        let signature = match honnin_verify::cms::verify(&profile, signed_data, content, now) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("the consent statement's signature does not verify: {e}"))),
        };
        if signature.signer.hierarchy() != Hierarchy::Signing {
            return Ok(Err(
                "a consent statement must be signed with the holder's signing certificate".into(),
            ));
        }
        let Some(signer) = signature.signer.certificate.info().serial.to_u64() else {
            return Ok(Err("the signing certificate is not one this authority issued".into()));
        };
        let row = sqlx::query(
            "SELECT resident_id, der, revoked_at FROM certificates WHERE serial = ? AND hierarchy = 'sign'",
        )
        .bind(i64::try_from(signer).unwrap_or(-1))
        .fetch_optional(self.pool())
        .await?;
        let resident = match row {
            Some(row) if row.try_get::<Vec<u8>, _>(1)? == signature.signer.der => {
                if row.try_get::<Option<i64>, _>(2)?.is_some() {
                    return Ok(Err("the signing certificate is revoked".into()));
                }
                row.try_get::<String, _>(0)?
            }
            _ => return Ok(Err("the signing certificate is not one this authority issued".into())),
        };
        let statement: ConsentStatement = match serde_json::from_slice(&signature.content) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("the signed content is not a consent statement: {e}"))),
        };
        if statement.consent != CONSENT_STATEMENT_VERSION {
            return Ok(Err(format!(
                "the statement is {:?}, not {CONSENT_STATEMENT_VERSION:?}",
                statement.consent
            )));
        }
        if statement.verifier != verifier {
            return Ok(Err("the statement names another verifier".into()));
        }
        if statement.given_at > now + MAX_CLOCK_SKEW {
            return Ok(Err("the statement is dated in the future".into()));
        }
        if statement.given_at < now - MAX_STATEMENT_AGE {
            return Ok(Err(format!(
                "the statement was signed more than {} minutes ago",
                MAX_STATEMENT_AGE.whole_minutes()
            )));
        }
        Ok(Ok(CheckedStatement {
            resident,
            scope: statement.scope,
            signer,
            // The signer's serial with the text: two holders who consent to the same verifier in the
            // same second sign identical statements, and each must be accepted once.
            digest: digest(&SHA256, &[&signer.to_be_bytes()[..], &signature.content].concat())
                .as_ref()
                .to_vec(),
        }))
    }
}
