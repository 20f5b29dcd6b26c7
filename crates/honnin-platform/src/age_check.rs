//! Age checks (年齢判定) for service providers such as a vending machine or an online shop: "is the
//! holder N or older?" from a card touch, with or without the 4-digit PIN as the service provider
//! chooses (seed 001 allows both), answered by the authority without the birth date.
//!
//! - With PIN (`method: pin`): the holder's client signs the platform's challenge with the auth key
//!   after the PIN, as a login does; the platform verifies the chain and the proof. This shows the
//!   person at the terminal holds the card and knows its PIN.
//! - Without PIN (`method: card_read`): the client reads the auth certificate, which the card gives
//!   without a PIN, and submits it; the platform verifies the chain. This shows only that a valid
//!   card of someone that old was presented (it could be another's card, or a copied certificate),
//!   which is what a PIN-less card touch can show.
//!
//! No user account is needed or touched: a vending machine has none, and the answer names no user
//! even when the card belongs to one, so the service provider learns over/under and nothing else.
//! The birth date never reaches the platform (the authority answers over/under), so it cannot
//! appear in a response, an event, a log or the audit log.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_profile::Hierarchy;
use honnin_proto::Service;
use serde_json::json;
use sqlx::Row;

use crate::audit::Actor;
use crate::billing::{CallResult, Meter};
use crate::flows::{rejection, rfc3339, Outcome};
use crate::store::FlowRow;
use crate::wire::{
    AgeCheck, AgeCheckCreated, AgeCheckResult, CardCertificate, ClientTask, CreateAgeCheck, FlowStatus, WebEidToken,
};
use crate::{ids, Platform, PlatformError};

/// The flow kind of an age check.
pub const AGE_CHECK: &str = "age_check";
/// The oldest age the authority's age check accepts.
pub const MAX_THRESHOLD: u8 = 150;

/// An age check as stored, with its flow's state.
struct AgeRow {
    id: String,
    threshold: i64,
    pin: bool,
    created_at: i64,
    method: Option<String>,
    validity: Option<String>,
    is_over: Option<i64>,
    checked_at: Option<i64>,
    flow_status: String,
    reason: Option<String>,
    detail: Option<String>,
    expires_at: i64,
}

fn threshold_u8(t: i64) -> u8 {
    u8::try_from(t).unwrap_or(u8::MAX)
}

impl AgeRow {
    fn wire(self, now: i64) -> AgeCheck {
        let state = match self.flow_status.as_str() {
            "verified" => "done",
            "pending" | "processing" if self.expires_at < now => "expired",
            "pending" | "processing" => "pending",
            _ if self.reason.as_deref() == Some("expired") => "expired",
            _ => "rejected",
        };
        let result = match (state, self.method, self.validity, self.checked_at) {
            ("done", Some(method), Some(validity), Some(at)) => Some(AgeCheckResult {
                over: self.is_over.map(|o| o != 0),
                validity,
                method,
                threshold: threshold_u8(self.threshold),
                checked_at: rfc3339(at),
            }),
            _ => None,
        };
        let failed = state == "rejected" || state == "expired";
        AgeCheck {
            id: self.id,
            state: state.to_owned(),
            threshold: threshold_u8(self.threshold),
            pin: self.pin,
            result,
            reason: self.reason.filter(|_| failed),
            detail: self.detail.filter(|_| failed),
            created_at: rfc3339(self.created_at),
            expires_at: rfc3339(self.expires_at),
        }
    }
}

impl Platform {
    /// `POST /verifier/v1/age-check`: the authority's answer for one certificate (one function, so
    /// the call can be metered in one place).
    /// (Metered: the authority bills it as the validity check it requires.)
    async fn authority_age_check(
        &self,
        tenant: &str,
        certificate: &honnin_verify::Validated,
        threshold: u8,
    ) -> Result<honnin_authority_client::AgeCheck, PlatformError> {
        let answer = self
            .inner
            .authority
            .age_check(&certificate.der, threshold, None)
            .await?;
        let result = match answer.validity {
            honnin_authority_client::Validity::Valid => CallResult::Valid,
            honnin_authority_client::Validity::Invalid => CallResult::Invalid,
            honnin_authority_client::Validity::Unknown => CallResult::Unknown,
        };
        self.meter(&[Meter::new(
            tenant,
            Service::AgeCheck,
            Some(certificate.hierarchy()),
            certificate.certificate.info().serial.to_u64(),
            result,
            crate::clock::now(),
        )])
        .await?;
        Ok(answer)
    }

    /// The origin the holder's auth key signs for in an age check with PIN: the platform's own, so
    /// a proof made for a service provider's login cannot be replayed here, nor the reverse.
    fn age_check_origin(&self) -> String {
        reqwest::Url::parse(self.public_url())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| self.public_url().trim_end_matches('/').to_owned())
    }

    /// `POST /v1/age-checks`
    pub async fn create_age_check(&self, tenant: &str, req: &CreateAgeCheck) -> Result<AgeCheckCreated, PlatformError> {
        if req.threshold > MAX_THRESHOLD {
            return Err(PlatformError::Invalid(format!("threshold must be 0..={MAX_THRESHOLD}")));
        }
        let ttl = self.ttl(req.ttl_seconds)?;
        let nonce = B64.encode(ids::random_bytes(32)?);
        let (id, token, expires) = self.new_flow(tenant, AGE_CHECK, None, None, &nonce, ttl).await?;
        sqlx::query("INSERT INTO age_checks (id, tenant_id, threshold, pin, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(tenant)
            .bind(i64::from(req.threshold))
            .bind(i64::from(req.pin))
            .bind(Self::now())
            .execute(self.inner.store.pool())
            .await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "age_check.create",
            Some(tenant),
            Some(&id),
            "created",
            json!({ "threshold": req.threshold, "pin": req.pin }),
        )
        .await?;
        Ok(AgeCheckCreated {
            client_url: self.client_url(&token),
            id,
            expires_at: rfc3339(expires),
        })
    }

    async fn age_row(&self, tenant: &str, id: &str) -> Result<AgeRow, PlatformError> {
        let r = sqlx::query(
            "SELECT a.id, a.threshold, a.pin, a.created_at, a.method, a.validity, a.is_over, a.checked_at, \
             f.status, f.reason, f.detail, f.expires_at FROM age_checks a JOIN flows f ON f.id = a.id \
             WHERE a.tenant_id = $1 AND a.id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(self.inner.store.pool())
        .await?
        .ok_or_else(|| PlatformError::NotFound {
            what: "age check",
            id: id.into(),
        })?;
        Ok(AgeRow {
            id: r.try_get(0)?,
            threshold: r.try_get(1)?,
            pin: r.try_get::<i64, _>(2)? != 0,
            created_at: r.try_get(3)?,
            method: r.try_get(4)?,
            validity: r.try_get(5)?,
            is_over: r.try_get(6)?,
            checked_at: r.try_get(7)?,
            flow_status: r.try_get(8)?,
            reason: r.try_get(9)?,
            detail: r.try_get(10)?,
            expires_at: r.try_get(11)?,
        })
    }

    /// `GET /v1/age-checks/{id}`
    pub async fn age_check(&self, tenant: &str, id: &str) -> Result<AgeCheck, PlatformError> {
        self.tenant_flow(tenant, AGE_CHECK, id).await?;
        let row = self.age_row(tenant, id).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "age_check.get",
            Some(tenant),
            Some(id),
            "ok",
            json!({}),
        )
        .await?;
        Ok(row.wire(Self::now()))
    }

    /// `GET {client_url}` of an age check.
    pub(crate) async fn age_check_task(&self, flow: &FlowRow) -> Result<ClientTask, PlatformError> {
        let row = self.age_row(&flow.tenant_id, &flow.id).await?;
        Ok(ClientTask::AgeCheck {
            threshold: threshold_u8(row.threshold),
            pin: row.pin,
            origin: self.age_check_origin(),
            nonce: flow.nonce.clone(),
            expires_at: rfc3339(flow.expires_at),
        })
    }

    /// `POST {client_url}` of an age check: the auth certificate (with the PIN proof if asked),
    /// verified, then the authority's answer stored. An authority that cannot answer is an error
    /// (the flow goes back to pending, and the terminal may try again).
    pub(crate) async fn verify_age_check(&self, flow: &FlowRow, body: &[u8]) -> Result<Outcome, PlatformError> {
        let row = self.age_row(&flow.tenant_id, &flow.id).await?;
        let at = crate::clock::now();
        let (method, certificate) = if row.pin {
            let token: WebEidToken = match serde_json::from_slice(body) {
                Ok(t) => t,
                Err(e) => return Ok(Outcome::rejected("malformed", format!("not a Web eID token: {e}"))),
            };
            let origin = self.age_check_origin();
            match self
                .verify_web_eid(&token, &flow.nonce, &origin, at, "this age check's challenge")
                .await?
            {
                Ok(proof) => ("pin", proof.signer),
                Err(rejected) => return Ok(rejected),
            }
        } else {
            let submitted: CardCertificate = match serde_json::from_slice(body) {
                Ok(c) => c,
                Err(e) => {
                    return Ok(Outcome::rejected(
                        "malformed",
                        format!("expected {{\"certificate\": base64}}: {e}"),
                    ))
                }
            };
            let Ok(cert) = B64.decode(submitted.certificate.trim()) else {
                return Ok(Outcome::rejected("malformed", "certificate is not base64"));
            };
            let profile = self.inner.profile.clone();
            let checked =
                tokio::task::spawn_blocking(move || profile.validate_kind(&cert, Hierarchy::Authentication, at))
                    .await
                    .map_err(|e| PlatformError::Corrupt(e.to_string()))?;
            match checked {
                Ok(v) => ("card_read", v),
                Err(e) => {
                    let (code, detail) = rejection(&e);
                    return Ok(Outcome::rejected(code, detail));
                }
            }
        };
        let threshold = threshold_u8(row.threshold);
        let answer = self
            .authority_age_check(&flow.tenant_id, &certificate, threshold)
            .await?;
        let validity = match answer.validity {
            honnin_authority_client::Validity::Valid => "valid",
            honnin_authority_client::Validity::Invalid => "invalid",
            honnin_authority_client::Validity::Unknown => "unknown",
        };
        // Fail closed: an answer about a certificate that is not valid says nothing of age.
        let over = answer.over.filter(|_| validity == "valid");
        let now = at.unix_timestamp();
        sqlx::query(
            "UPDATE age_checks SET method = $1, validity = $2, is_over = $3, checked_at = $4 \
             WHERE id = $5 AND tenant_id = $6",
        )
        .bind(method)
        .bind(validity)
        .bind(over.map(i64::from))
        .bind(now)
        .bind(&flow.id)
        .bind(&flow.tenant_id)
        .execute(self.inner.store.pool())
        .await?;
        self.audit(
            Actor::Client,
            "age_check.done",
            Some(&flow.tenant_id),
            Some(&flow.id),
            validity,
            json!({ "threshold": threshold, "method": method, "over": over }),
        )
        .await?;
        Ok(Outcome {
            status: FlowStatus::Verified,
            reason: None,
            detail: None,
            user_id: None,
            evidence_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, method: Option<&str>, over: Option<i64>) -> AgeRow {
        AgeRow {
            id: "age_1".into(),
            threshold: 20,
            pin: false,
            created_at: 0,
            method: method.map(str::to_owned),
            validity: method.map(|_| "valid".to_owned()),
            is_over: over,
            checked_at: method.map(|_| 10),
            flow_status: status.into(),
            reason: None,
            detail: None,
            expires_at: 100,
        }
    }

    #[test]
    fn a_result_only_when_done_and_never_a_birth_date() {
        let pending = row("pending", None, None).wire(50);
        assert_eq!((pending.state.as_str(), pending.result.is_none()), ("pending", true));
        assert_eq!(row("pending", None, None).wire(150).state, "expired");
        let done = row("verified", Some("card_read"), Some(1)).wire(50);
        let r = done.result.as_ref().expect("a result");
        assert_eq!((r.over, r.method.as_str(), r.threshold), (Some(true), "card_read", 20));
        let text = serde_json::to_string(&done).expect("json");
        assert!(!text.contains("birth"), "{text}");
    }
}
