//! The holder's consent (本人同意) and the latest 4 attributes on a move (最新の基本4情報の提供).
//!
//! A service provider asks for a consent of one of its users; the holder's client signs a
//! [`ConsentStatement`] naming the platform's verifier id with the signing certificate; the platform
//! checks the signer is that user (chain, revocation, the user's certificate or its renewal) and
//! forwards it to the authority (`POST /verifier/v1/consents`), which makes the consent live.
//!
//! The authority's consent names the platform, not the service provider, so the platform gates each
//! tenant's use on its own `consents` row: a tenant without a live row of its own never causes a
//! `basic4` call, even if the same person consented through another tenant.
//!
//! When a status check finds `basic4_changed` (the signing certificate revoked for a move, a
//! marriage …) for a user with a live `basic4` consent, the platform fetches the latest 4
//! attributes for the revoked serial, updates the user and its current signing serial, and emits
//! `user.basic4_updated`. If the authority cannot answer, nothing is updated and the finding stays
//! `basic4_changed`; the next status check of the user (single or batch) fetches again, because a
//! fetch follows every `basic4_changed` result, not only a changed one.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_authority_client::{ClientError, ConsentRecorded, LatestBasic4};
use honnin_profile::Hierarchy;
use honnin_proto::Service;
use serde_json::json;
use sqlx::Row;

use crate::audit::Actor;
use crate::billing::{CallResult, Meter};
use crate::clock;
use crate::flows::{basic4_wire, rejection, rfc3339, Outcome};
use crate::identity::{serial_text, Found};
use crate::store::{insert_event_in, FlowRow};
use crate::wire::{
    ClientTask, Consent, ConsentScope, ConsentStatement, Consents, CreateConsent, FlowStatus, SignedConsent,
};
use crate::{ids, Platform, PlatformError};

/// The flow kind of a consent.
pub const CONSENT: &str = "consent";
/// The longest a consent request stays open: the authority accepts a statement only within an hour
/// of its signing, and the holder signs when they open the client URL.
pub const MAX_CONSENT_TTL: u32 = 1800;
/// How far a statement's `given_at` may be from the platform's clock (the authority allows 5
/// minutes into the future, and an hour into the past).
const STATEMENT_SKEW_SECONDS: i64 = 300;

fn scope_text(scope: ConsentScope) -> &'static str {
    match scope {
        ConsentScope::Basic4 => {
            "the authority (J-LIS) may give this platform your latest name, address, date of birth and sex \
             (最新の基本4情報) when your signing certificate is revoked after a move or a change of name, \
             so that your service provider's records stay current without you reporting it"
        }
        _ => {
            "the authority (J-LIS) may tell this platform which certificates replaced yours \
             (シリアル番号の紐付け), so that you stay the same customer after a renewal"
        }
    }
}

/// A consent row with its flow's state.
struct ConsentRow {
    id: String,
    user_id: String,
    scope: String,
    created_at: i64,
    given_at: Option<i64>,
    withdrawn_at: Option<i64>,
    flow_status: String,
    reason: Option<String>,
    detail: Option<String>,
    expires_at: i64,
}

const CONSENT_SELECT: &str = "SELECT c.id, c.user_id, c.scope, c.created_at, c.given_at, c.withdrawn_at, \
     f.status, f.reason, f.detail, f.expires_at FROM consents c JOIN flows f ON f.id = c.id";

fn consent_row(r: &sqlx::any::AnyRow) -> Result<ConsentRow, sqlx::Error> {
    Ok(ConsentRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        scope: r.try_get(2)?,
        created_at: r.try_get(3)?,
        given_at: r.try_get(4)?,
        withdrawn_at: r.try_get(5)?,
        flow_status: r.try_get(6)?,
        reason: r.try_get(7)?,
        detail: r.try_get(8)?,
        expires_at: r.try_get(9)?,
    })
}

impl ConsentRow {
    fn state(&self, now: i64) -> &'static str {
        if self.withdrawn_at.is_some() {
            "withdrawn"
        } else if self.given_at.is_some() {
            "given"
        } else {
            match self.flow_status.as_str() {
                "pending" | "processing" if self.expires_at < now => "expired",
                "pending" | "processing" => "pending",
                _ if self.reason.as_deref() == Some("expired") => "expired",
                _ => "refused",
            }
        }
    }

    fn wire(self, now: i64, client_url: Option<String>) -> Consent {
        let state = self.state(now);
        let refused = state == "refused" || state == "expired";
        Consent {
            state: state.to_owned(),
            id: self.id,
            user_id: self.user_id,
            scope: self.scope,
            client_url,
            reason: self.reason.filter(|_| refused),
            detail: self.detail.filter(|_| refused),
            created_at: rfc3339(self.created_at),
            expires_at: rfc3339(self.expires_at),
            given_at: self.given_at.map(rfc3339),
            withdrawn_at: self.withdrawn_at.map(rfc3339),
        }
    }
}

/// What a fetch of the latest 4 attributes came to (for the audit log and tests of the module).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Basic4Refresh {
    /// No live consent of this tenant: the authority was not asked.
    NoConsent,
    /// The user has no signing certificate on record.
    NoCertificate,
    Updated,
    /// The attributes are what the platform already had (fetched again because the holder had no
    /// new signing certificate yet): no event; a new signing serial, if any, is recorded.
    Unchanged,
    /// The holder died or moved abroad: nothing to update (the status event says so).
    HolderGone,
    /// The authority has no live consent (withdrawn there): the local consent is withdrawn too.
    ConsentWithdrawn,
    /// The authority could not answer: nothing updated, fetched again at the next check.
    Unavailable,
}

impl Platform {
    // --- the authority's services (one function each, so calls can be metered in one place) ----

    /// `POST /verifier/v1/consents`: the holder's signed statement (metered; the authority charges
    /// nothing for it).
    async fn authority_give_consent(
        &self,
        tenant: &str,
        user: &str,
        signer: u64,
        cms: &[u8],
        statement: &[u8],
    ) -> Result<Result<ConsentRecorded, ClientError>, PlatformError> {
        let answer = self.inner.authority.give_consent(cms, Some(statement)).await;
        let result = match &answer {
            Ok(_) => Some(CallResult::Accepted),
            Err(ClientError::ConsentStatementRefused { .. }) => Some(CallResult::Refused),
            Err(_) => None,
        };
        if let Some(result) = result {
            let m = Meter::new(
                tenant,
                Service::Consent,
                Some(Hierarchy::Signing),
                Some(signer),
                result,
                clock::now(),
            );
            self.meter(&[m.for_user(user)]).await?;
        }
        Ok(answer)
    }

    /// `GET /verifier/v1/certificates/sign/{serial}/basic4`: the latest 4 attributes, with consent
    /// (metered: billed as the validity check it requires).
    async fn authority_basic4(
        &self,
        tenant: &str,
        user: &str,
        signing_serial: u64,
    ) -> Result<Result<LatestBasic4, ClientError>, PlatformError> {
        let answer = self.inner.authority.basic4(Hierarchy::Signing, signing_serial).await;
        let result = match &answer {
            Ok(_) => Some(CallResult::Found),
            Err(ClientError::HolderDeceased { .. }) => Some(CallResult::Deceased),
            Err(ClientError::HolderEmigrated { .. }) => Some(CallResult::Emigrated),
            Err(ClientError::ConsentRequired { .. }) => Some(CallResult::ConsentRequired),
            Err(ClientError::NotFound { .. }) => Some(CallResult::NotFound),
            Err(_) => None,
        };
        if let Some(result) = result {
            let m = Meter::new(
                tenant,
                Service::Basic4,
                Some(Hierarchy::Signing),
                Some(signing_serial),
                result,
                clock::now(),
            );
            self.meter(&[m.for_user(user)]).await?;
        }
        Ok(answer)
    }

    // --- the service provider's side -------------------------------------------------------

    /// `POST /v1/users/{id}/consents`
    pub async fn create_consent(
        &self,
        tenant: &str,
        user: &str,
        req: &CreateConsent,
    ) -> Result<Consent, PlatformError> {
        let scope = ConsentScope::from_name(&req.scope)
            .ok_or_else(|| PlatformError::Invalid(format!("scope {:?}: basic4 or linking", req.scope)))?;
        if self.inner.store.user(tenant, user).await?.is_none() {
            return Err(PlatformError::NotFound {
                what: "user",
                id: user.into(),
            });
        }
        let ttl = self.ttl(Some(
            req.ttl_seconds
                .unwrap_or(self.inner.config.flow_ttl_seconds)
                .min(MAX_CONSENT_TTL),
        ))?;
        let nonce = B64.encode(ids::random_bytes(16)?);
        let (id, token, _) = self
            .new_flow(tenant, CONSENT, Some(scope.as_str()), None, &nonce, ttl)
            .await?;
        sqlx::query("INSERT INTO consents (id, tenant_id, user_id, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(tenant)
            .bind(user)
            .bind(scope.as_str())
            .bind(Self::now())
            .execute(self.inner.store.pool())
            .await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "consent.create",
            Some(tenant),
            Some(&id),
            "created",
            json!({ "user_id": user, "scope": scope.as_str() }),
        )
        .await?;
        let row = self.consent_row(tenant, &id).await?;
        Ok(row.wire(Self::now(), Some(self.client_url(&token))))
    }

    async fn consent_row(&self, tenant: &str, id: &str) -> Result<ConsentRow, PlatformError> {
        let sql = format!("{CONSENT_SELECT} WHERE c.tenant_id = $1 AND c.id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                what: "consent",
                id: id.into(),
            })?;
        Ok(consent_row(&row)?)
    }

    /// `GET /v1/consents/{id}`
    pub async fn consent(&self, tenant: &str, id: &str) -> Result<Consent, PlatformError> {
        // Settles an expired pending flow the usual way.
        self.tenant_flow(tenant, CONSENT, id).await?;
        let row = self.consent_row(tenant, id).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "consent.get",
            Some(tenant),
            Some(id),
            "ok",
            json!({}),
        )
        .await?;
        Ok(row.wire(Self::now(), None))
    }

    /// `GET /v1/users/{id}/consents`
    pub async fn user_consents(&self, tenant: &str, user: &str) -> Result<Consents, PlatformError> {
        if self.inner.store.user(tenant, user).await?.is_none() {
            return Err(PlatformError::NotFound {
                what: "user",
                id: user.into(),
            });
        }
        let sql = format!("{CONSENT_SELECT} WHERE c.tenant_id = $1 AND c.user_id = $2 ORDER BY c.created_at, c.id");
        let rows = sqlx::query(&sql)
            .bind(tenant)
            .bind(user)
            .fetch_all(self.inner.store.pool())
            .await?;
        let now = Self::now();
        let consents = rows
            .iter()
            .map(|r| consent_row(r).map(|c| c.wire(now, None)))
            .collect::<Result<_, _>>()?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "consent.list",
            Some(tenant),
            Some(user),
            "ok",
            json!({}),
        )
        .await?;
        Ok(Consents { consents })
    }

    /// `DELETE /v1/consents/{id}`: the service provider stops using the consent (the holder asked
    /// it to, or the relationship ended). Local: the authority's consent names the platform and may
    /// serve other tenants; the holder withdraws it there.
    pub async fn withdraw_consent(&self, tenant: &str, id: &str) -> Result<Consent, PlatformError> {
        self.consent_row(tenant, id).await?;
        sqlx::query(
            "UPDATE consents SET withdrawn_at = $1, withdrawn_by = 'tenant' WHERE tenant_id = $2 AND id = $3 \
             AND withdrawn_at IS NULL",
        )
        .bind(Self::now())
        .bind(tenant)
        .bind(id)
        .execute(self.inner.store.pool())
        .await?;
        // A pending request can no longer be signed.
        sqlx::query("UPDATE flows SET status = 'rejected', reason = 'withdrawn', completed_at = $1 WHERE id = $2 AND status = 'pending'")
            .bind(Self::now())
            .bind(id)
            .execute(self.inner.store.pool())
            .await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "consent.withdraw",
            Some(tenant),
            Some(id),
            "withdrawn",
            json!({}),
        )
        .await?;
        Ok(self.consent_row(tenant, id).await?.wire(Self::now(), None))
    }

    /// Whether the tenant holds a live consent of `scope` from the user.
    pub(crate) async fn has_live_consent(&self, tenant: &str, user: &str, scope: &str) -> Result<bool, PlatformError> {
        Ok(sqlx::query(
            "SELECT 1 FROM consents WHERE tenant_id = $1 AND user_id = $2 AND scope = $3 \
             AND given_at IS NOT NULL AND withdrawn_at IS NULL LIMIT 1",
        )
        .bind(tenant)
        .bind(user)
        .bind(scope)
        .fetch_optional(self.inner.store.pool())
        .await?
        .is_some())
    }

    // --- the holder's side -----------------------------------------------------------------

    /// `GET {client_url}` of a consent.
    pub(crate) fn consent_task(&self, flow: &FlowRow) -> ClientTask {
        let scope = flow
            .application
            .as_deref()
            .and_then(ConsentScope::from_name)
            .unwrap_or(ConsentScope::Basic4);
        ClientTask::Consent {
            scope: scope.as_str().to_owned(),
            verifier: self.inner.config.verifier_id.clone(),
            text: scope_text(scope).to_owned(),
            expires_at: rfc3339(flow.expires_at),
        }
    }

    /// `POST {client_url}` of a consent: checks the statement and its signer, forwards it to the
    /// authority, and records the consent. An authority that cannot answer is an error (the flow
    /// goes back to pending and the holder may try again with a fresh statement).
    pub(crate) async fn verify_consent(&self, flow: &FlowRow, body: &[u8]) -> Result<Outcome, PlatformError> {
        let row = self.consent_row(&flow.tenant_id, &flow.id).await?;
        let Some(scope) = ConsentScope::from_name(&row.scope) else {
            return Err(PlatformError::Corrupt(format!("consent scope {:?}", row.scope)));
        };
        let signed: SignedConsent = match serde_json::from_slice(body) {
            Ok(s) => s,
            Err(e) => {
                return Ok(Outcome::rejected(
                    "malformed",
                    format!("expected {{\"statement\": base64, \"cms\": base64}}: {e}"),
                ))
            }
        };
        let (Ok(statement), Ok(cms)) = (B64.decode(signed.statement.trim()), B64.decode(signed.cms.trim())) else {
            return Ok(Outcome::rejected("malformed", "statement or cms is not base64"));
        };
        let Ok(parsed) = serde_json::from_slice::<ConsentStatement>(&statement) else {
            return Ok(Outcome::rejected(
                "malformed",
                "the statement is not a consent statement",
            ));
        };
        if parsed != ConsentStatement::new(&self.inner.config.verifier_id, scope, parsed.given_at) {
            return Ok(Outcome::rejected(
                "statement_mismatch",
                "the statement must name this platform's verifier id and the scope asked for",
            ));
        }
        let at = clock::now();
        if (parsed.given_at - at).whole_seconds().abs() > STATEMENT_SKEW_SECONDS {
            return Ok(Outcome::rejected(
                "statement_stale",
                "the statement's given_at is more than 5 minutes from the platform's clock",
            ));
        }
        let profile = self.inner.profile.clone();
        let content = statement.clone();
        let signature_der = cms.clone();
        let verified = tokio::task::spawn_blocking(move || {
            honnin_verify::cms::verify(&profile, &signature_der, Some(&content), at)
        })
        .await
        .map_err(|e| PlatformError::Corrupt(e.to_string()))?;
        let signer = match verified {
            Ok(v) => v.signer,
            Err(e) => {
                let (code, detail) = rejection(&e);
                return Ok(Outcome::rejected(code, detail));
            }
        };
        if signer.hierarchy() != Hierarchy::Signing {
            return Ok(Outcome::rejected(
                "wrong_certificate_kind",
                "a consent needs the signing certificate (署名用電子証明書)",
            ));
        }
        let serial = match self.good_serial(&flow.tenant_id, &signer, at, "signing").await? {
            Ok((serial, _)) => serial,
            Err(rejected) => return Ok(rejected),
        };
        // The same person: a signing certificate of this user, or one the authority links to one.
        let now = at.unix_timestamp();
        match self.find_user(&flow.tenant_id, Hierarchy::Signing, serial, false).await {
            Ok(Found::User(u, seen)) if u == row.user_id => {
                self.remember(&flow.tenant_id, &u, &seen, "serial_link", now).await?;
            }
            Ok(_) => {
                return Ok(Outcome::rejected(
                    "not_this_user",
                    "the statement was signed with a certificate that is not this user's",
                ))
            }
            Err(e) => {
                return Ok(Outcome::rejected(
                    "authority_unreachable",
                    format!("the authority's serial links could not be read: {}", e.0),
                ))
            }
        }
        let recorded = match self
            .authority_give_consent(&flow.tenant_id, &row.user_id, serial, &cms, &statement)
            .await?
        {
            Ok(r) => r,
            Err(ClientError::ConsentStatementRefused { detail }) => {
                return Ok(Outcome::rejected("consent_refused", detail));
            }
            Err(e) => return Err(e.into()),
        };
        let serial_hex = serial_text(serial);
        self.inner
            .store
            .set_certificate(&flow.tenant_id, "sign", &serial_hex, &B64.encode(&signer.der))
            .await?;
        sqlx::query("UPDATE consents SET given_at = $1, signer_serial = $2 WHERE id = $3 AND tenant_id = $4")
            .bind(now)
            .bind(&serial_hex)
            .bind(&flow.id)
            .bind(&flow.tenant_id)
            .execute(self.inner.store.pool())
            .await?;
        self.audit(
            Actor::Client,
            "consent.given",
            Some(&flow.tenant_id),
            Some(&flow.id),
            "given",
            json!({
                "user_id": row.user_id,
                "scope": scope.as_str(),
                "signer_serial": serial_hex,
                "authority_given_at": rfc3339(recorded.given_at.unix_timestamp()),
            }),
        )
        .await?;
        Ok(Outcome {
            status: FlowStatus::Verified,
            reason: None,
            detail: None,
            user_id: Some(row.user_id),
            evidence_id: None,
        })
    }

    // --- the latest 4 attributes -----------------------------------------------------------

    /// After a status check found `basic4_changed`: fetch and apply the latest 4 attributes if the
    /// tenant holds the user's consent. Never fails the status check: what happened is logged and
    /// audited, and an unanswered fetch is repeated at the next check.
    pub(crate) async fn on_basic4_changed(&self, tenant: &str, user: &str) {
        match self.refresh_basic4(tenant, user).await {
            Ok(Basic4Refresh::NoConsent | Basic4Refresh::Updated | Basic4Refresh::Unchanged) => {}
            Ok(other) => tracing::info!(user, outcome = ?other, "latest 4 attributes not applied"),
            Err(e) => tracing::warn!(error = %e, user, "latest 4 attributes: bookkeeping failed"),
        }
    }

    pub(crate) async fn refresh_basic4(&self, tenant: &str, user: &str) -> Result<Basic4Refresh, PlatformError> {
        if !self
            .has_live_consent(tenant, user, ConsentScope::Basic4.as_str())
            .await?
        {
            return Ok(Basic4Refresh::NoConsent);
        }
        let Some((serial_hex, _, learnt_at)) = self.inner.store.latest_certificate(tenant, user, "sign").await? else {
            return Ok(Basic4Refresh::NoCertificate);
        };
        let Ok(serial) = u64::from_str_radix(&serial_hex, 16) else {
            return Ok(Basic4Refresh::NoCertificate);
        };
        let outcome = match self.authority_basic4(tenant, user, serial).await? {
            Ok(latest) => {
                if self.apply_basic4(tenant, user, &latest, learnt_at).await? {
                    Basic4Refresh::Updated
                } else {
                    Basic4Refresh::Unchanged
                }
            }
            Err(ClientError::HolderDeceased { .. } | ClientError::HolderEmigrated { .. }) => Basic4Refresh::HolderGone,
            Err(ClientError::ConsentRequired { .. }) => {
                sqlx::query(
                    "UPDATE consents SET withdrawn_at = $1, withdrawn_by = 'authority' WHERE tenant_id = $2 \
                     AND user_id = $3 AND scope = 'basic4' AND given_at IS NOT NULL AND withdrawn_at IS NULL",
                )
                .bind(Self::now())
                .bind(tenant)
                .bind(user)
                .execute(self.inner.store.pool())
                .await?;
                Basic4Refresh::ConsentWithdrawn
            }
            Err(e) => {
                tracing::warn!(error = %e, user, "the latest 4 attributes could not be fetched; retried at the next check");
                Basic4Refresh::Unavailable
            }
        };
        // The audit entry names what happened, never the attributes themselves.
        self.audit(
            Actor::Operator,
            "user.basic4_fetch",
            Some(tenant),
            Some(user),
            match outcome {
                Basic4Refresh::Updated => "updated",
                Basic4Refresh::Unchanged => "unchanged",
                Basic4Refresh::HolderGone => "holder_gone",
                Basic4Refresh::ConsentWithdrawn => "consent_withdrawn",
                _ => "unavailable",
            },
            json!({ "revoked_serial": serial_hex }),
        )
        .await?;
        Ok(outcome)
    }

    /// Stores the latest 4 attributes with the `user.basic4_updated` event, and the holder's current
    /// signing serial, in one transaction; false if the attributes are those already held (then
    /// only a new signing serial is recorded, and no event emitted).
    async fn apply_basic4(
        &self,
        tenant: &str,
        user: &str,
        latest: &LatestBasic4,
        revoked_learnt_at: i64,
    ) -> Result<bool, PlatformError> {
        let now = Self::now();
        let b4 = [
            latest.name.clone(),
            latest.address.clone(),
            latest.birth_date.to_string(),
            latest.sex.as_str().to_owned(),
        ];
        let changed = self.inner.store.user(tenant, user).await?.and_then(|u| u.basic4) != Some(b4.clone());
        let data = json!({
            "finding": "basic4_changed",
            "action": "none",
            "detail": "the latest 4 attributes, from the authority with the holder's consent",
            "basic4": basic4_wire(b4.clone()),
        })
        .to_string();
        let event_id = ids::new_id("evt")?;
        let mut tx = self.inner.store.pool().begin().await?;
        if changed {
            sqlx::query(
                "UPDATE users SET name = $1, address = $2, birth_date = $3, sex = $4, basic4_at = $5 \
                 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(&b4[0])
            .bind(&b4[1])
            .bind(&b4[2])
            .bind(&b4[3])
            .bind(now)
            .bind(tenant)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(current) = latest.sign {
            // Learnt after the revoked one even within the same second, so it is the user's latest.
            sqlx::query(
                "INSERT INTO user_certificates (tenant_id, hierarchy, serial, user_id, learnt_at, learnt_by) \
                 VALUES ($1, 'sign', $2, $3, $4, 'basic4') ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(serial_text(current))
            .bind(user)
            .bind(now.max(revoked_learnt_at + 1))
            .execute(&mut *tx)
            .await?;
        }
        if changed {
            insert_event_in(&mut tx, tenant, "user.basic4_updated", user, &event_id, now, &data).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(given: Option<i64>, withdrawn: Option<i64>, status: &str, reason: Option<&str>, expires: i64) -> ConsentRow {
        ConsentRow {
            id: "cns_1".into(),
            user_id: "usr_1".into(),
            scope: "basic4".into(),
            created_at: 0,
            given_at: given,
            withdrawn_at: withdrawn,
            flow_status: status.into(),
            reason: reason.map(str::to_owned),
            detail: None,
            expires_at: expires,
        }
    }

    #[test]
    fn states_follow_the_flow_and_the_consent() {
        assert_eq!(row(None, None, "pending", None, 100).state(50), "pending");
        assert_eq!(row(None, None, "pending", None, 100).state(150), "expired");
        assert_eq!(row(None, None, "rejected", Some("expired"), 100).state(150), "expired");
        assert_eq!(
            row(None, None, "rejected", Some("bad_signature"), 100).state(50),
            "refused"
        );
        assert_eq!(row(Some(10), None, "verified", None, 100).state(500), "given");
        assert_eq!(row(Some(10), Some(20), "verified", None, 100).state(500), "withdrawn");
        // A reason is shown only for what did not become a consent.
        assert!(row(None, None, "rejected", Some("x"), 100)
            .wire(50, None)
            .reason
            .is_some());
        assert!(row(Some(1), None, "verified", Some("x"), 100)
            .wire(50, None)
            .reason
            .is_none());
    }
}
