//! Account openings (犯収法施行規則 6条1項1号ワ) and logins (利用者証明): sessions created by a
//! service provider, completed by the holder's client, verified by the verification core.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_profile::{EndEntity, Hierarchy};
use honnin_verify::{RevocationStatus, Validated, VerifyError};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{Actor, Entry};
use crate::identity::Found;
use crate::store::{EvidenceRow, FlowRow};
use crate::wire::{
    AccountOpening, Basic4, ClientOutcome, ClientTask, CreateAccountOpening, CreateLogin, FlowCreated, FlowStatus,
    Login, SignedApplication, WebEidToken,
};
use crate::{ids, Platform, PlatformError};

pub const ACCOUNT_OPENING: &str = "account_opening";
pub const LOGIN: &str = "login";
/// Longest application text accepted.
pub const MAX_APPLICATION: usize = 16 * 1024;
/// The longest a flow may stay open.
pub const MAX_TTL: u32 = 24 * 3600;

pub(crate) fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The exact bytes the holder signs to open an account: the application text, then a line binding
/// the signature to this one session (its id and nonce), so a signature cannot be replayed into
/// another session with the same text.
pub fn opening_document(flow_id: &str, application: &str, nonce: &str) -> Vec<u8> {
    format!("{application}\n\n--\nhonnin account opening {flow_id}\nnonce {nonce}\n").into_bytes()
}

/// A stable code and a sentence for a verification error.
pub(crate) fn rejection(e: &VerifyError) -> (&'static str, String) {
    let code = match e {
        VerifyError::Expired(_) => "certificate_expired",
        VerifyError::NotYetValid(_) => "certificate_not_yet_valid",
        VerifyError::WrongPolicy { .. } => "foreign_profile",
        VerifyError::WrongKind { .. } => "wrong_certificate_kind",
        VerifyError::UntrustedIssuer | VerifyError::IssuerNotValid => "untrusted_issuer",
        VerifyError::BadSignature => "bad_signature",
        VerifyError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
        VerifyError::MissingContent | VerifyError::ContentMismatch | VerifyError::ContentTypeMismatch => {
            "content_mismatch"
        }
        VerifyError::SignerCertificateMissing | VerifyError::SignerCount(_) => "malformed_signature",
        VerifyError::Malformed(_) | VerifyError::NotJpki(_) => "malformed",
        _ => "invalid",
    };
    (code, e.to_string())
}

/// What a completed flow came to.
/// A verified Web eID proof: the auth certificate validated, with the bytes the token carried.
pub(crate) struct WebEidProof {
    pub(crate) signer: Validated,
    pub(crate) certificate: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

pub(crate) struct Outcome {
    pub(crate) status: FlowStatus,
    pub(crate) reason: Option<&'static str>,
    pub(crate) detail: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) evidence_id: Option<String>,
}

impl Outcome {
    pub(crate) fn rejected(reason: &'static str, detail: impl Into<String>) -> Self {
        Outcome {
            status: FlowStatus::Rejected,
            reason: Some(reason),
            detail: Some(detail.into()),
            user_id: None,
            evidence_id: None,
        }
    }
}

fn basic4_of(v: &Validated) -> Option<[String; 4]> {
    match &v.certificate {
        EndEntity::Signing(s) => Some([
            s.basic4.name.text.clone(),
            s.basic4.address.text.clone(),
            s.basic4.birth_date.to_string(),
            s.basic4.sex.as_str().to_owned(),
        ]),
        EndEntity::Authentication(_) => None,
    }
}

pub(crate) fn basic4_wire(b: [String; 4]) -> Basic4 {
    let [name, address, birth_date, sex] = b;
    Basic4 {
        substituted: name.contains('〓') || address.contains('〓'),
        name,
        address,
        birth_date,
        sex,
    }
}

pub(crate) fn web_eid_algorithm(name: &str) -> Option<der::oid::ObjectIdentifier> {
    Some(match name {
        "RS256" => honnin_profile::oid::SHA256_WITH_RSA,
        "RS384" => honnin_profile::oid::SHA384_WITH_RSA,
        "RS512" => honnin_profile::oid::SHA512_WITH_RSA,
        _ => return None,
    })
}

impl Platform {
    pub(crate) fn client_url(&self, token: &str) -> String {
        format!("{}/client/v1/{token}", self.public_url().trim_end_matches('/'))
    }

    pub(crate) fn ttl(&self, requested: Option<u32>) -> Result<i64, PlatformError> {
        let ttl = requested.unwrap_or(self.inner.config.flow_ttl_seconds);
        if ttl == 0 || ttl > MAX_TTL {
            return Err(PlatformError::Invalid(format!("ttl_seconds must be 1..={MAX_TTL}")));
        }
        Ok(i64::from(ttl))
    }

    pub(crate) async fn new_flow(
        &self,
        tenant: &str,
        kind: &str,
        application: Option<&str>,
        origin: Option<&str>,
        nonce: &str,
        ttl: i64,
    ) -> Result<(String, String, i64), PlatformError> {
        let id = ids::new_id(match kind {
            LOGIN => "lgn",
            crate::consent::CONSENT => "cns",
            crate::age_check::AGE_CHECK => "age",
            _ => "aop",
        })?;
        let token = ids::new_secret()?;
        let now = Self::now();
        self.inner
            .store
            .insert_flow(
                &id,
                tenant,
                kind,
                &ids::sha256_hex(token.as_bytes()),
                application,
                origin,
                nonce,
                now,
                now + ttl,
            )
            .await?;
        Ok((id, token, now + ttl))
    }

    /// `POST /v1/account-openings`
    pub async fn create_account_opening(
        &self,
        tenant: &str,
        req: &CreateAccountOpening,
    ) -> Result<FlowCreated, PlatformError> {
        if req.application.trim().is_empty() || req.application.len() > MAX_APPLICATION {
            return Err(PlatformError::Invalid(format!(
                "application must be non-empty text of at most {MAX_APPLICATION} bytes"
            )));
        }
        let ttl = self.ttl(req.ttl_seconds)?;
        let nonce = B64.encode(ids::random_bytes(16)?);
        let (id, token, expires) = self
            .new_flow(tenant, ACCOUNT_OPENING, Some(&req.application), None, &nonce, ttl)
            .await?;
        let digest = ids::sha256_hex(&opening_document(&id, &req.application, &nonce));
        self.audit(
            Actor::Tenant(tenant.into()),
            "account_opening.create",
            Some(tenant),
            Some(&id),
            "created",
            json!({}),
        )
        .await?;
        Ok(FlowCreated {
            client_url: self.client_url(&token),
            id,
            status: FlowStatus::Pending,
            expires_at: rfc3339(expires),
            digest: Some(digest),
        })
    }

    /// `POST /v1/logins`
    pub async fn create_login(&self, tenant: &str, req: &CreateLogin) -> Result<FlowCreated, PlatformError> {
        let origin = req.origin.trim_end_matches('/');
        if !valid_origin(origin) {
            return Err(PlatformError::Invalid(
                "origin must be an https origin: scheme, host and optional port, no path".into(),
            ));
        }
        let ttl = self.ttl(req.ttl_seconds)?;
        let nonce = B64.encode(ids::random_bytes(32)?);
        let (id, token, expires) = self.new_flow(tenant, LOGIN, None, Some(origin), &nonce, ttl).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "login.create",
            Some(tenant),
            Some(&id),
            "created",
            json!({ "origin": origin }),
        )
        .await?;
        Ok(FlowCreated {
            client_url: self.client_url(&token),
            id,
            status: FlowStatus::Pending,
            expires_at: rfc3339(expires),
            digest: None,
        })
    }

    pub(crate) async fn tenant_flow(
        &self,
        tenant: &str,
        kind: &'static str,
        id: &str,
    ) -> Result<FlowRow, PlatformError> {
        let now = Self::now();
        let mut flow = self
            .inner
            .store
            .flow(tenant, kind, id)
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                what: kind,
                id: id.into(),
            })?;
        if flow.status == "pending" && flow.expires_at < now {
            self.inner.store.expire_flow(id, now).await?;
            flow = self
                .inner
                .store
                .flow(tenant, kind, id)
                .await?
                .ok_or_else(|| PlatformError::NotFound {
                    what: kind,
                    id: id.into(),
                })?;
        }
        Ok(flow)
    }

    fn status_of(flow: &FlowRow) -> FlowStatus {
        // `processing` is internal: the SP sees pending until the result is stored.
        FlowStatus::parse(&flow.status).unwrap_or(FlowStatus::Pending)
    }

    /// `GET /v1/account-openings/{id}`
    pub async fn account_opening(&self, tenant: &str, id: &str) -> Result<AccountOpening, PlatformError> {
        // The flow and its user's 4 attributes in one query; an expired pending flow is settled
        // (and read again) the usual way.
        let (flow, basic4) = match self.inner.store.flow_with_basic4(tenant, ACCOUNT_OPENING, id).await? {
            Some((flow, basic4)) if !(flow.status == "pending" && flow.expires_at < Self::now()) => (flow, basic4),
            Some(_) => (self.tenant_flow(tenant, ACCOUNT_OPENING, id).await?, None),
            None => {
                return Err(PlatformError::NotFound {
                    what: ACCOUNT_OPENING,
                    id: id.into(),
                })
            }
        };
        let status = Self::status_of(&flow);
        let basic4 = match (&flow.user_id, status) {
            (Some(_), FlowStatus::Verified) => basic4,
            _ => None,
        };
        self.audit(
            Actor::Tenant(tenant.into()),
            "account_opening.get",
            Some(tenant),
            Some(id),
            status.as_str(),
            json!({}),
        )
        .await?;
        Ok(AccountOpening {
            id: flow.id,
            status,
            reason: flow.reason,
            detail: flow.detail,
            user_id: flow.user_id,
            basic4: basic4.map(basic4_wire),
            created_at: rfc3339(flow.created_at),
            expires_at: rfc3339(flow.expires_at),
            completed_at: flow.completed_at.map(rfc3339),
        })
    }

    /// `GET /v1/logins/{id}`
    pub async fn login(&self, tenant: &str, id: &str) -> Result<Login, PlatformError> {
        let flow = self.tenant_flow(tenant, LOGIN, id).await?;
        let status = Self::status_of(&flow);
        self.audit(
            Actor::Tenant(tenant.into()),
            "login.get",
            Some(tenant),
            Some(id),
            status.as_str(),
            json!({}),
        )
        .await?;
        Ok(Login {
            id: flow.id,
            status,
            reason: flow.reason,
            detail: flow.detail,
            user_id: flow.user_id,
            origin: flow.origin.unwrap_or_default(),
            created_at: rfc3339(flow.created_at),
            expires_at: rfc3339(flow.expires_at),
            completed_at: flow.completed_at.map(rfc3339),
        })
    }

    async fn client_flow(&self, token: &str) -> Result<FlowRow, PlatformError> {
        self.inner
            .store
            .flow_by_token(&ids::sha256_hex(token.as_bytes()))
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                what: "client flow",
                id: "(the client URL)".into(),
            })
    }

    /// `GET {client_url}`: what the holder's client must sign.
    pub async fn client_task(&self, token: &str) -> Result<ClientTask, PlatformError> {
        let flow = self.client_flow(token).await?;
        let now = Self::now();
        if flow.status != "pending" {
            return Err(PlatformError::Conflict("this flow is already completed".into()));
        }
        if flow.expires_at < now {
            self.inner.store.expire_flow(&flow.id, now).await?;
            return Err(PlatformError::Gone("this flow expired".into()));
        }
        self.audit(
            Actor::Client,
            "client.get",
            Some(&flow.tenant_id),
            Some(&flow.id),
            "ok",
            json!({}),
        )
        .await?;
        Ok(match flow.kind.as_str() {
            crate::consent::CONSENT => self.consent_task(&flow),
            crate::age_check::AGE_CHECK => self.age_check_task(&flow).await?,
            LOGIN => ClientTask::Login {
                origin: flow.origin.unwrap_or_default(),
                nonce: flow.nonce,
                expires_at: rfc3339(flow.expires_at),
            },
            _ => {
                let application = flow.application.unwrap_or_default();
                ClientTask::AccountOpening {
                    document: B64.encode(opening_document(&flow.id, &application, &flow.nonce)),
                    application,
                    expires_at: rfc3339(flow.expires_at),
                }
            }
        })
    }

    /// `POST {client_url}`: the holder's signature. Single use: the flow is claimed first, so a
    /// replay (or a second submission racing the first) gets `Conflict`.
    pub async fn client_submit(&self, token: &str, body: &[u8]) -> Result<ClientOutcome, PlatformError> {
        let now = Self::now();
        // The common case in one statement: a pending, unexpired flow, claimed.
        let claimed = self
            .inner
            .store
            .claim_flow_by_token(&ids::sha256_hex(token.as_bytes()), now)
            .await?;
        let flow = match claimed {
            Some(flow) => flow,
            None => {
                let flow = self.client_flow(token).await?;
                if flow.status == "pending" && flow.expires_at < now {
                    self.inner.store.expire_flow(&flow.id, now).await?;
                    return Err(PlatformError::Gone("this flow expired".into()));
                }
                self.audit(
                    Actor::Client,
                    "client.submit",
                    Some(&flow.tenant_id),
                    Some(&flow.id),
                    "replay_refused",
                    json!({}),
                )
                .await?;
                return Err(PlatformError::Conflict(
                    "this flow is already completed or in progress".into(),
                ));
            }
        };
        let outcome = match flow.kind.as_str() {
            crate::consent::CONSENT => self.verify_consent(&flow, body).await,
            crate::age_check::AGE_CHECK => self.verify_age_check(&flow, body).await,
            LOGIN => match serde_json::from_slice::<WebEidToken>(body) {
                Ok(t) => self.verify_login(&flow, &t).await,
                Err(e) => Ok(Outcome::rejected("malformed", format!("not a Web eID token: {e}"))),
            },
            _ => match serde_json::from_slice::<SignedApplication>(body) {
                Ok(s) => self.verify_opening(&flow, &s).await,
                Err(e) => Ok(Outcome::rejected(
                    "malformed",
                    format!("expected {{\"cms\": base64}}: {e}"),
                )),
            },
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // Nothing was concluded: put the flow back so the holder can try again.
                tracing::error!(error = %e, flow = %flow.id, "verification failed");
                self.inner
                    .store
                    .complete_flow(&flow.id, "pending", None, None, None, None, now)
                    .await
                    .ok();
                return Err(e);
            }
        };
        let done = Self::now();
        self.inner
            .store
            .complete_flow(
                &flow.id,
                outcome.status.as_str(),
                outcome.reason,
                outcome.detail.as_deref(),
                outcome.user_id.as_deref(),
                outcome.evidence_id.as_deref(),
                done,
            )
            .await?;
        self.metrics().verification(&flow.kind, outcome.status.as_str());
        self.audit(
            Actor::Client,
            "client.submit",
            Some(&flow.tenant_id),
            Some(&flow.id),
            outcome.status.as_str(),
            json!({ "reason": outcome.reason, "user_id": outcome.user_id, "evidence_id": outcome.evidence_id }),
        )
        .await?;
        Ok(ClientOutcome {
            status: outcome.status,
            reason: outcome.reason.map(str::to_owned),
            detail: outcome.detail,
        })
    }

    async fn verify_opening(&self, flow: &FlowRow, signed: &SignedApplication) -> Result<Outcome, PlatformError> {
        let Ok(cms) = B64.decode(signed.cms.trim()) else {
            return Ok(Outcome::rejected("malformed", "cms is not base64"));
        };
        let document = opening_document(&flow.id, flow.application.as_deref().unwrap_or_default(), &flow.nonce);
        let at = crate::clock::now();
        let profile = self.inner.profile.clone();
        // RSA verification is CPU work: keep it off the async workers.
        let (verified, document) = tokio::task::spawn_blocking(move || {
            let r = honnin_verify::cms::verify(&profile, &cms, Some(&document), at);
            (r.map(|v| (v, cms)), document)
        })
        .await
        .map_err(|e| PlatformError::Corrupt(e.to_string()))?;
        let (signature, cms) = match verified {
            Ok(v) => v,
            Err(e) => {
                let (code, detail) = rejection(&e);
                return Ok(Outcome::rejected(code, detail));
            }
        };
        let signer = signature.signer;
        if signer.hierarchy() != Hierarchy::Signing {
            return Ok(Outcome::rejected(
                "wrong_certificate_kind",
                "an account opening needs the signing certificate (署名用電子証明書)",
            ));
        }
        let checked = self.inner.revocation.check(&signer, at).await;
        self.meter_revocation(&flow.tenant_id, &signer, &checked, at).await?;
        let serial = signer.certificate.info().serial.to_u64();
        let evidence = |outcome: &str| EvidenceRow {
            id: String::new(),
            tenant_id: flow.tenant_id.clone(),
            flow_id: flow.id.clone(),
            kind: ACCOUNT_OPENING.into(),
            verified_at: at.unix_timestamp(),
            retain_until: at.unix_timestamp() + i64::from(self.inner.config.evidence_retention_years) * 31_556_952,
            certificate: B64.encode(&signer.der),
            signed_content: B64.encode(&document),
            signature: B64.encode(&cms),
            revocation_source: checked.source.into(),
            revocation_request: checked.request.as_ref().map(|r| B64.encode(r)),
            revocation_proof: checked.proof.as_ref().map(|p| B64.encode(p)),
            outcome: outcome.into(),
        };
        match &checked.status {
            RevocationStatus::Good { .. } => {}
            RevocationStatus::Revoked { reason, .. } => {
                let evidence_id = self.store_evidence(evidence("rejected")).await?;
                let mut o = Outcome::rejected(
                    "certificate_revoked",
                    format!("the signing certificate is revoked ({})", reason.as_str()),
                );
                o.evidence_id = Some(evidence_id);
                return Ok(o);
            }
            RevocationStatus::Unknown { why } => {
                return Ok(Outcome {
                    status: FlowStatus::Unknown,
                    reason: Some("revocation_unknown"),
                    detail: Some(why.clone()),
                    user_id: None,
                    evidence_id: None,
                })
            }
        }
        let Some(serial) = serial else {
            return Ok(Outcome::rejected(
                "malformed",
                "the certificate's serial is longer than 64 bits",
            ));
        };
        let now = at.unix_timestamp();
        let (user, seen, created) = match self.find_user(&flow.tenant_id, Hierarchy::Signing, serial, false).await {
            Ok(Found::User(u, seen)) => (u, seen, false),
            Ok(Found::Nobody) => {
                let u = ids::new_id("usr")?;
                self.inner.store.insert_user(&flow.tenant_id, &u, now).await?;
                (u, vec![(Hierarchy::Signing, serial)], true)
            }
            Err(e) => {
                return Ok(Outcome {
                    status: FlowStatus::Unknown,
                    reason: Some("authority_unreachable"),
                    detail: Some(format!("the authority's serial links could not be read: {}", e.0)),
                    user_id: None,
                    evidence_id: None,
                })
            }
        };
        self.remember(
            &flow.tenant_id,
            &user,
            &seen,
            if created { ACCOUNT_OPENING } else { "serial_link" },
            now,
        )
        .await?;
        let serial_hex = crate::identity::serial_text(serial);
        let der = B64.encode(&signer.der);
        self.inner
            .store
            .set_certificate(&flow.tenant_id, "sign", &serial_hex, &der)
            .await?;
        if let Some(b4) = basic4_of(&signer) {
            self.inner.store.set_basic4(&flow.tenant_id, &user, &b4, now).await?;
        }
        let evidence_id = self.store_evidence(evidence("verified")).await?;
        Ok(Outcome {
            status: FlowStatus::Verified,
            reason: None,
            detail: None,
            user_id: Some(user),
            evidence_id: Some(evidence_id),
        })
    }

    async fn verify_login(&self, flow: &FlowRow, token: &WebEidToken) -> Result<Outcome, PlatformError> {
        let origin = flow.origin.clone().unwrap_or_default();
        let at = crate::clock::now();
        let proof = match self
            .verify_web_eid(token, &flow.nonce, &origin, at, "this login's origin and challenge")
            .await?
        {
            Ok(p) => p,
            Err(rejected) => return Ok(rejected),
        };
        let (signer, cert, signature) = (proof.signer, proof.certificate, proof.signature);
        // A login cannot be "unknown": without a known-good status it fails closed.
        let (serial, checked) = match self.good_serial(&flow.tenant_id, &signer, at, "auth").await? {
            Ok(good) => good,
            Err(rejected) => return Ok(rejected),
        };
        let now = at.unix_timestamp();
        let user = match self
            .find_user(&flow.tenant_id, Hierarchy::Authentication, serial, true)
            .await
        {
            Ok(Found::User(u, seen)) => {
                self.remember(&flow.tenant_id, &u, &seen, "serial_link", now).await?;
                let serial_hex = crate::identity::serial_text(serial);
                self.inner
                    .store
                    .set_certificate(&flow.tenant_id, "auth", &serial_hex, &B64.encode(&cert))
                    .await?;
                u
            }
            Ok(Found::Nobody) => {
                return Ok(Outcome::rejected(
                    "unknown_user",
                    "no account was opened with this card (or the holder has not consented to serial linking)",
                ))
            }
            Err(e) => {
                return Ok(Outcome::rejected(
                    "authority_unreachable",
                    format!("the authority's serial links could not be read: {}", e.0),
                ))
            }
        };
        let evidence_id = self
            .store_evidence(EvidenceRow {
                id: String::new(),
                tenant_id: flow.tenant_id.clone(),
                flow_id: flow.id.clone(),
                kind: LOGIN.into(),
                verified_at: now,
                retain_until: now + i64::from(self.inner.config.evidence_retention_years) * 31_556_952,
                certificate: B64.encode(&cert),
                // What the proof covers, to re-verify it later (evidence::reverify).
                signed_content: B64
                    .encode(json!({ "origin": origin, "nonce": flow.nonce, "algorithm": token.algorithm }).to_string()),
                signature: B64.encode(&signature),
                revocation_source: checked.source.into(),
                revocation_request: checked.request.as_ref().map(|r| B64.encode(r)),
                revocation_proof: checked.proof.as_ref().map(|p| B64.encode(p)),
                outcome: "verified".into(),
            })
            .await?;
        Ok(Outcome {
            status: FlowStatus::Verified,
            reason: None,
            detail: None,
            user_id: Some(user),
            evidence_id: Some(evidence_id),
        })
    }

    /// A Web eID token (an auth-key signature over SHA-256(origin) ‖ SHA-256(nonce)) checked: its
    /// form, the auth certificate's chain at `at`, and the proof for `origin` and the flow's nonce.
    /// `Err` is the rejection the client gets; `what` names what the proof was for.
    pub(crate) async fn verify_web_eid(
        &self,
        token: &WebEidToken,
        nonce_b64: &str,
        origin: &str,
        at: time::OffsetDateTime,
        what: &str,
    ) -> Result<Result<WebEidProof, Outcome>, PlatformError> {
        if token.format != "web-eid:1.0" {
            return Ok(Err(Outcome::rejected(
                "malformed",
                format!("unsupported token format {:?}", token.format),
            )));
        }
        let Some(algorithm) = web_eid_algorithm(&token.algorithm) else {
            return Ok(Err(Outcome::rejected(
                "unsupported_algorithm",
                format!("algorithm {:?} (RS256, RS384, RS512)", token.algorithm),
            )));
        };
        let (Ok(certificate), Ok(signature), Ok(nonce)) = (
            B64.decode(token.unverified_certificate.trim()),
            B64.decode(token.signature.trim()),
            B64.decode(nonce_b64),
        ) else {
            return Ok(Err(Outcome::rejected(
                "malformed",
                "certificate, signature or nonce is not base64",
            )));
        };
        let profile = self.inner.profile.clone();
        let (cert, sig, origin) = (certificate.clone(), signature.clone(), origin.to_owned());
        let checked = tokio::task::spawn_blocking(move || {
            let v = profile.validate_kind(&cert, Hierarchy::Authentication, at)?;
            honnin_verify::signature::verify_login_proof(&v, &origin, &nonce, &algorithm, &sig)?;
            Ok::<_, VerifyError>(v)
        })
        .await
        .map_err(|e| PlatformError::Corrupt(e.to_string()))?;
        Ok(match checked {
            Ok(signer) => Ok(WebEidProof {
                signer,
                certificate,
                signature,
            }),
            Err(VerifyError::BadSignature) => Err(Outcome::rejected(
                "proof_invalid",
                format!("the proof does not verify for {what}"),
            )),
            Err(e) => {
                let (code, detail) = rejection(&e);
                Err(Outcome::rejected(code, detail))
            }
        })
    }

    /// The certificate's revocation status (metered for the tenant) must be good — unknown fails
    /// closed — and its serial fit 64 bits: the serial and the check (for the evidence), or the
    /// rejection. `kind` names the certificate.
    pub(crate) async fn good_serial(
        &self,
        tenant: &str,
        certificate: &Validated,
        at: time::OffsetDateTime,
        kind: &str,
    ) -> Result<Result<(u64, crate::revocation::Checked), Outcome>, PlatformError> {
        let checked = self.inner.revocation.check(certificate, at).await;
        self.meter_revocation(tenant, certificate, &checked, at).await?;
        match &checked.status {
            RevocationStatus::Good { .. } => {}
            RevocationStatus::Revoked { reason, .. } => {
                return Ok(Err(Outcome::rejected(
                    "certificate_revoked",
                    format!("the {kind} certificate is revoked ({})", reason.as_str()),
                )))
            }
            RevocationStatus::Unknown { why } => return Ok(Err(Outcome::rejected("revocation_unknown", why.clone()))),
        }
        Ok(match certificate.certificate.info().serial.to_u64() {
            Some(serial) => Ok((serial, checked)),
            None => Err(Outcome::rejected(
                "malformed",
                "the certificate's serial is longer than 64 bits",
            )),
        })
    }

    async fn store_evidence(&self, mut e: EvidenceRow) -> Result<String, PlatformError> {
        e.id = ids::new_id("evd")?;
        self.inner.store.insert_evidence(&e).await?;
        Ok(e.id)
    }

    /// `GET /v1/users/{id}`
    pub async fn user(&self, tenant: &str, id: &str) -> Result<crate::wire::User, PlatformError> {
        let u = self
            .inner
            .store
            .user(tenant, id)
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                what: "user",
                id: id.into(),
            })?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "user.get",
            Some(tenant),
            Some(id),
            "ok",
            json!({}),
        )
        .await?;
        Ok(crate::wire::User {
            user_id: u.id,
            created_at: rfc3339(u.created_at),
            basic4: u.basic4.map(basic4_wire),
            basic4_verified_at: u.basic4_at.map(rfc3339),
        })
    }

    pub(crate) async fn audit(
        &self,
        actor: Actor,
        action: &str,
        tenant: Option<&str>,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<(), PlatformError> {
        self.inner
            .audit
            .append(
                &self.inner.store,
                Entry {
                    actor,
                    action,
                    tenant_id: tenant,
                    subject,
                    outcome,
                    detail,
                },
                Self::now(),
            )
            .await
            .map(|_| ())
    }
}

/// `https://host[:port]`, nothing else (a Web eID origin).
fn valid_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(valid_origin("https://bank.example"));
        assert!(valid_origin("https://bank.example:8443"));
        for bad in [
            "http://bank.example",
            "https://bank.example/login",
            "https://",
            "https://bank.example:0",
            "https://bank.example:99999",
            "https://user@bank.example",
            "bank.example",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }

    #[test]
    fn the_document_binds_the_session() {
        let a = opening_document("aop_1", "open an account", "n1");
        assert_ne!(a, opening_document("aop_2", "open an account", "n1"));
        assert_ne!(a, opening_document("aop_1", "open an account", "n2"));
        assert!(String::from_utf8(a).unwrap().starts_with("open an account\n"));
    }
}
