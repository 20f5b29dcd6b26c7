//! # honnin-authority-client: the verifier platform's client of the authority
//!
//! An async HTTP client for what the authority (the J-LIS sandbox, 機構) serves registered verifiers
//! (署名検証者 / プラットフォーム事業者): OCSP and CRLs (with conditional GET) through the
//! authenticated `/verifier/v1/` routes, the public root certificates, serial linking — the
//! previous or next certificate after renewal or re-issue (新旧シリアル番号紐付け) and the signing ↔ auth
//! pair of one card (対応証明書の発行の番号) — the age check (年齢判定), the holder's latest 4 attributes
//! with consent, consents signed by the holder, declarations of CRL-based checks, and the monthly
//! statement of fees. Wire types come from `honnin-proto`.
//!
//! Every failure is a typed [`ClientError`], so the platform can fail closed: an authority it cannot
//! reach, or one that fails, means "unknown", never "good" ([`ClientError::is_unavailable`]).
//!
//! It must not verify what it fetches (OCSP responses, CRLs and certificates are checked by
//! `honnin-verify`), must not log or print the verifier's secret, does not follow redirects (so the
//! credentials never go elsewhere), and keeps no state between calls but the connection pool.

use std::fmt;
use std::time::Duration;

use honnin_profile::Hierarchy;
use honnin_proto::{problem_type, Link, NextCertificate, PreviousCertificate};
use reqwest::header::{HeaderMap, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{RequestBuilder, Response, StatusCode};
use time::OffsetDateTime;

pub use honnin_proto::{
    AgeCheck, BillingMonth, ConsentRecorded, ConsentScope, ConsentStatement, Counterpart, CrlCheck, CrlCheckOutcome,
    CrlCheckResult, LatestBasic4, Statement, Validity, MAX_CRL_CHECKS,
};

/// How long to wait for a connection to the authority.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the authority may stay silent mid-answer (a national CRL is large, so there is no bound
/// on a whole download, only on a stall).
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to the authority failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("{url:?} is not an http(s) base URL: {why}")]
    InvalidBaseUrl { url: String, why: String },
    #[error("a verifier id must be non-empty and contain no colon")]
    InvalidVerifierId,
    /// Connection refused, DNS, timeout, or a connection dropped mid-answer.
    #[error("the authority at {url} cannot be reached: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// 401: the verifier id or secret is wrong (or the verifier is not registered).
    #[error("the authority refused the verifier's credentials")]
    Unauthorized,
    /// 403 `…/forbidden`: the verifier is registered but disabled.
    #[error("the authority refused this verifier: {detail}")]
    Forbidden { detail: String },
    /// 403 `…/consent-required`: the holder gave this verifier no live consent for the service
    /// (serial linking, or the latest 4 attributes).
    #[error("the holder has not consented: {detail}")]
    ConsentRequired { detail: String },
    /// 404: the authority issued no such certificate (or the route does not exist).
    #[error("not found at the authority: {detail}")]
    NotFound { detail: String },
    /// 410 `…/holder-deceased`: the certificate's holder has died; no attributes are given.
    #[error("the holder has died: {detail}")]
    HolderDeceased { detail: String },
    /// 410 `…/holder-emigrated`: the certificate's holder has moved abroad; no attributes are given.
    #[error("the holder has moved abroad: {detail}")]
    HolderEmigrated { detail: String },
    /// 422 `…/consent-statement-refused`: the signed consent statement was not accepted.
    #[error("the authority refused the consent statement: {detail}")]
    ConsentStatementRefused { detail: String },
    /// 400: the authority found the request malformed (a bad certificate, threshold, month …).
    #[error("the authority refused the request as malformed: {detail}")]
    BadRequest { detail: String },
    /// 5xx: the authority failed; nothing was answered.
    #[error("the authority failed (HTTP {status}): {detail}")]
    Server { status: u16, detail: String },
    /// Anything else: an unexpected status, content type or body.
    #[error("unexpected answer from the authority (HTTP {status}): {detail}")]
    Protocol { status: u16, detail: String },
}

impl ClientError {
    /// The authority could not answer (unreachable or failing): revocation status is unknown.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. } | ClientError::Server { .. })
    }
}

/// The result of a conditional CRL fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrlFetch {
    /// The CRL whose ETag was given is still current (304).
    NotModified,
    /// A CRL (DER) and its ETag, to pass back next time.
    Fresh { der: Vec<u8>, etag: Option<String> },
}

/// A client of one authority, as one registered verifier. Cheap to clone (shares its pool).
#[derive(Clone)]
pub struct AuthorityClient {
    http: reqwest::Client,
    /// Scheme, host, port and any path prefix, without a trailing slash.
    base: String,
    verifier_id: String,
    secret: String,
}

impl fmt::Debug for AuthorityClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityClient")
            .field("base", &self.base)
            .field("verifier_id", &self.verifier_id)
            .field("secret", &"…")
            .finish()
    }
}

impl AuthorityClient {
    /// A client of the authority at `base_url` (e.g. `http://127.0.0.1:8460`), authenticating as
    /// `verifier_id` with `secret` (what `honnin authority verifier add` printed).
    pub fn new(base_url: &str, verifier_id: impl Into<String>, secret: impl Into<String>) -> Result<Self, ClientError> {
        let invalid = |why: &str| ClientError::InvalidBaseUrl {
            url: base_url.to_owned(),
            why: why.to_owned(),
        };
        let url = reqwest::Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it must have no query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials go in the verifier id and secret, not the URL"));
        }
        let verifier_id = verifier_id.into();
        if verifier_id.is_empty() || verifier_id.contains(':') {
            return Err(ClientError::InvalidVerifierId);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(AuthorityClient {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            verifier_id,
            secret: secret.into(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, builder: RequestBuilder) -> RequestBuilder {
        builder.basic_auth(&self.verifier_id, Some(&self.secret))
    }

    async fn send(&self, builder: RequestBuilder, url: &str) -> Result<Response, ClientError> {
        builder.send().await.map_err(|source| ClientError::Unreachable {
            url: url.to_owned(),
            source,
        })
    }

    /// Sends a DER `OCSPRequest` to `/verifier/v1/ocsp`; returns the DER `OCSPResponse`, unverified.
    pub async fn ocsp(&self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        let url = self.url(honnin_proto::OCSP_PATH);
        let builder = self
            .authed(self.http.post(&url))
            .header(CONTENT_TYPE, honnin_proto::OCSP_REQUEST_CONTENT_TYPE)
            .body(request.to_vec());
        let response = self.send(builder, &url).await?;
        let response = expect_success(response, StatusCode::OK).await?;
        expect_content_type(&response, honnin_proto::OCSP_RESPONSE_CONTENT_TYPE)?;
        body(response, &url).await
    }

    /// Fetches the CRL of `hierarchy` from `/verifier/v1/crl/…`; with the ETag of the copy held,
    /// an unchanged CRL is [`CrlFetch::NotModified`].
    pub async fn crl(&self, hierarchy: Hierarchy, etag: Option<&str>) -> Result<CrlFetch, ClientError> {
        let url = self.url(&honnin_proto::crl_path(hierarchy));
        let mut builder = self.authed(self.http.get(&url));
        if let Some(tag) = etag {
            builder = builder.header(IF_NONE_MATCH, tag);
        }
        let response = self.send(builder, &url).await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(CrlFetch::NotModified);
        }
        let response = expect_success(response, StatusCode::OK).await?;
        expect_content_type(&response, honnin_proto::CRL_CONTENT_TYPE)?;
        let etag = header_text(response.headers(), ETAG);
        Ok(CrlFetch::Fresh {
            der: body(response, &url).await?,
            etag,
        })
    }

    /// The active root certificate of `hierarchy` (DER) from the public `/ca/{h}.der`; sent
    /// without credentials.
    pub async fn ca_certificate(&self, hierarchy: Hierarchy) -> Result<Vec<u8>, ClientError> {
        let url = self.url(&honnin_proto::ca_path(hierarchy));
        let response = self.send(self.http.get(&url), &url).await?;
        let response = expect_success(response, StatusCode::OK).await?;
        expect_content_type(&response, honnin_proto::CERTIFICATE_CONTENT_TYPE)?;
        body(response, &url).await
    }

    async fn link<T: serde::de::DeserializeOwned>(
        &self,
        hierarchy: Hierarchy,
        serial: u64,
        link: Link,
    ) -> Result<T, ClientError> {
        let url = self.url(&honnin_proto::link_path(hierarchy, serial, link));
        self.json(self.http.get(&url), url, StatusCode::OK, link.as_str()).await
    }

    /// The certificate of the same hierarchy that `serial` replaced on renewal or re-issue, or
    /// `None` if it replaced none (one step back; call again to walk further).
    pub async fn previous(&self, hierarchy: Hierarchy, serial: u64) -> Result<Option<u64>, ClientError> {
        let answer: PreviousCertificate = self.link(hierarchy, serial, Link::Previous).await?;
        echoes(answer.hierarchy, answer.serial, hierarchy, serial)?;
        Ok(answer.previous)
    }

    /// The certificate of the same hierarchy that replaced `serial`, or `None` (one step forward):
    /// what a platform follows when a certificate was revoked as `superseded`.
    pub async fn next(&self, hierarchy: Hierarchy, serial: u64) -> Result<Option<u64>, ClientError> {
        let answer: NextCertificate = self.link(hierarchy, serial, Link::Next).await?;
        echoes(answer.hierarchy, answer.serial, hierarchy, serial)?;
        Ok(answer.next)
    }

    /// The signing and auth certificates of the card that holds `serial` (`sign` is `None` for a
    /// card without a signing certificate).
    pub async fn counterpart(&self, hierarchy: Hierarchy, serial: u64) -> Result<Counterpart, ClientError> {
        let answer: Counterpart = self.link(hierarchy, serial, Link::Counterpart).await?;
        let mine = match hierarchy {
            Hierarchy::Signing => answer.sign,
            Hierarchy::Authentication => Some(answer.auth),
        };
        if mine != Some(serial) {
            return Err(ClientError::Protocol {
                status: 200,
                detail: format!(
                    "the counterpart answer does not contain the {} certificate asked about",
                    hierarchy.short()
                ),
            });
        }
        Ok(answer)
    }

    /// Sends an authenticated request and decodes its JSON answer, which must come with `expected`.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        builder: RequestBuilder,
        url: String,
        expected: StatusCode,
        what: &str,
    ) -> Result<T, ClientError> {
        let response = self.send(self.authed(builder), &url).await?;
        let response = expect_success(response, expected).await?;
        expect_content_type(&response, honnin_proto::JSON_CONTENT_TYPE)?;
        let status = response.status().as_u16();
        response.json::<T>().await.map_err(|e| {
            if e.is_decode() {
                ClientError::Protocol {
                    status,
                    detail: format!("the {what} answer does not parse: {e}"),
                }
            } else {
                ClientError::Unreachable { url, source: e }
            }
        })
    }

    /// The age check (年齢判定): whether `certificate` (DER, signing or auth) is valid at `at` (the
    /// authority's clock when `None`), and whether its holder is `threshold` or older then. The
    /// answer never holds the birth date; `over` is `None` unless the certificate is valid.
    pub async fn age_check(
        &self,
        certificate: &[u8],
        threshold: u8,
        at: Option<OffsetDateTime>,
    ) -> Result<AgeCheck, ClientError> {
        let url = self.url(honnin_proto::AGE_CHECK_PATH);
        let request = honnin_proto::AgeCheckRequest {
            certificate: certificate.to_vec(),
            threshold,
            at,
        };
        let answer: AgeCheck = self
            .json(self.http.post(&url).json(&request), url, StatusCode::OK, "age check")
            .await?;
        if answer.threshold != threshold || at.is_some_and(|t| t != answer.at) {
            return Err(ClientError::Protocol {
                status: 200,
                detail: "the age check answers another question than the one asked".into(),
            });
        }
        Ok(answer)
    }

    /// The latest 4 attributes of the holder of `serial` and their current signing certificate,
    /// if the holder gave this verifier a live `basic4` consent ([`ClientError::ConsentRequired`]
    /// otherwise; [`ClientError::HolderDeceased`] or [`ClientError::HolderEmigrated`] when the
    /// register gives none).
    pub async fn basic4(&self, hierarchy: Hierarchy, serial: u64) -> Result<LatestBasic4, ClientError> {
        let url = self.url(&honnin_proto::basic4_path(hierarchy, serial));
        let answer: LatestBasic4 = self.json(self.http.get(&url), url, StatusCode::OK, "basic4").await?;
        echoes(answer.hierarchy, answer.serial, hierarchy, serial)?;
        Ok(answer)
    }

    /// Declares CRL-based status checks made against this verifier's CRL copy, for billing (a
    /// holder counts once a fiscal year); one outcome per check, in order. 1 to [`MAX_CRL_CHECKS`]
    /// at a time.
    pub async fn crl_checks(&self, checks: &[CrlCheck]) -> Result<Vec<CrlCheckOutcome>, ClientError> {
        let url = self.url(honnin_proto::CRL_CHECKS_PATH);
        let request = honnin_proto::CrlChecksRequest {
            checks: checks.to_vec(),
        };
        let answer: honnin_proto::CrlChecksAnswer = self
            .json(self.http.post(&url).json(&request), url, StatusCode::OK, "crl-checks")
            .await?;
        let same = answer.checks.len() == checks.len()
            && answer
                .checks
                .iter()
                .zip(checks)
                .all(|(a, c)| a.hierarchy == c.hierarchy && a.serial == c.serial);
        if !same {
            return Err(ClientError::Protocol {
                status: 200,
                detail: "the crl-checks answer does not match the checks declared".into(),
            });
        }
        Ok(answer.checks)
    }

    /// Sends a consent the holder signed: `signed_data` is a DER CMS `SignedData` over a
    /// [`ConsentStatement`] naming this verifier, made with the holder's signing certificate;
    /// `content` is the statement when the SignedData is detached.
    pub async fn give_consent(
        &self,
        signed_data: &[u8],
        content: Option<&[u8]>,
    ) -> Result<ConsentRecorded, ClientError> {
        let url = self.url(honnin_proto::CONSENTS_PATH);
        let request = honnin_proto::ConsentRequest {
            signed_data: signed_data.to_vec(),
            content: content.map(<[u8]>::to_vec),
        };
        self.json(self.http.post(&url).json(&request), url, StatusCode::CREATED, "consent")
            .await
    }

    /// This verifier's statement of fees for one JST month.
    pub async fn statement(&self, month: BillingMonth) -> Result<Statement, ClientError> {
        let url = self.url(&honnin_proto::statement_path(month));
        let answer: Statement = self.json(self.http.get(&url), url, StatusCode::OK, "statement").await?;
        if answer.month != month || answer.verifier != self.verifier_id {
            return Err(ClientError::Protocol {
                status: 200,
                detail: "the statement is of another month or verifier than asked".into(),
            });
        }
        Ok(answer)
    }
}

fn echoes(got_h: Hierarchy, got_serial: u64, asked_h: Hierarchy, asked_serial: u64) -> Result<(), ClientError> {
    if got_h == asked_h && got_serial == asked_serial {
        Ok(())
    } else {
        Err(ClientError::Protocol {
            status: 200,
            detail: "the answer is about another certificate than the one asked".into(),
        })
    }
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn expect_content_type(response: &Response, expected: &str) -> Result<(), ClientError> {
    let got = header_text(response.headers(), CONTENT_TYPE);
    let essence = got.as_deref().and_then(|t| t.split(';').next()).map(str::trim);
    if essence.is_some_and(|e| e.eq_ignore_ascii_case(expected)) {
        Ok(())
    } else {
        Err(ClientError::Protocol {
            status: response.status().as_u16(),
            detail: format!(
                "expected {expected}, got {}",
                got.as_deref().unwrap_or("no content type")
            ),
        })
    }
}

async fn body(response: Response, url: &str) -> Result<Vec<u8>, ClientError> {
    response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|source| ClientError::Unreachable {
            url: url.to_owned(),
            source,
        })
}

/// Passes a response with the expected status; turns any other into its [`ClientError`].
async fn expect_success(response: Response, expected: StatusCode) -> Result<Response, ClientError> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let content_type = header_text(response.headers(), CONTENT_TYPE);
    // A body that breaks off still leaves the status to go by.
    let body = response.bytes().await.unwrap_or_default();
    Err(classify(status, content_type.as_deref(), &body))
}

/// The error for a non-success answer: by status, and for a 403 by the problem `type`.
fn classify(status: u16, content_type: Option<&str>, body: &[u8]) -> ClientError {
    let problem = content_type
        .filter(|t| t.starts_with(honnin_proto::PROBLEM_CONTENT_TYPE))
        .and_then(|_| serde_json::from_slice::<honnin_proto::Problem>(body).ok());
    let detail = match &problem {
        Some(p) => p.detail.clone().unwrap_or_else(|| p.title.clone()),
        None => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() {
                format!("HTTP {status} without a problem document")
            } else {
                text.trim().to_owned()
            }
        }
    };
    let kind = problem.as_ref().map(|p| p.kind.as_str());
    match status {
        400 => ClientError::BadRequest { detail },
        401 => ClientError::Unauthorized,
        403 if kind == Some(problem_type::CONSENT_REQUIRED) => ClientError::ConsentRequired { detail },
        403 => ClientError::Forbidden { detail },
        404 => ClientError::NotFound { detail },
        410 if kind == Some(problem_type::HOLDER_DECEASED) => ClientError::HolderDeceased { detail },
        410 if kind == Some(problem_type::HOLDER_EMIGRATED) => ClientError::HolderEmigrated { detail },
        422 if kind == Some(problem_type::CONSENT_STATEMENT_REFUSED) => ClientError::ConsentStatementRefused { detail },
        500..=599 => ClientError::Server { status, detail },
        _ => ClientError::Protocol { status, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, status: u16) -> Vec<u8> {
        serde_json::to_vec(&honnin_proto::Problem {
            kind: kind.into(),
            title: "t".into(),
            status,
            detail: Some("why".into()),
        })
        .expect("json")
    }

    const PJ: Option<&str> = Some("application/problem+json");

    #[test]
    fn statuses_and_problem_types_become_distinct_errors() {
        assert!(matches!(
            classify(401, PJ, &problem(problem_type::UNAUTHORIZED, 401)),
            ClientError::Unauthorized
        ));
        assert!(matches!(
            classify(403, PJ, &problem(problem_type::CONSENT_REQUIRED, 403)),
            ClientError::ConsentRequired { detail } if detail == "why"
        ));
        assert!(matches!(
            classify(403, PJ, &problem(problem_type::FORBIDDEN, 403)),
            ClientError::Forbidden { .. }
        ));
        // A 403 from something that is not the authority (a proxy) is never taken for consent.
        assert!(matches!(
            classify(403, Some("text/html"), b"<h1>Forbidden</h1>"),
            ClientError::Forbidden { .. }
        ));
        assert!(matches!(
            classify(404, PJ, &problem(problem_type::NOT_FOUND, 404)),
            ClientError::NotFound { .. }
        ));
        assert!(matches!(
            classify(410, PJ, &problem(problem_type::HOLDER_DECEASED, 410)),
            ClientError::HolderDeceased { .. }
        ));
        assert!(matches!(
            classify(410, PJ, &problem(problem_type::HOLDER_EMIGRATED, 410)),
            ClientError::HolderEmigrated { .. }
        ));
        // A 410 or 422 that is not the authority's problem is not taken for one.
        assert!(matches!(
            classify(410, None, b"gone"),
            ClientError::Protocol { status: 410, .. }
        ));
        assert!(matches!(
            classify(422, PJ, &problem(problem_type::CONSENT_STATEMENT_REFUSED, 422)),
            ClientError::ConsentStatementRefused { detail } if detail == "why"
        ));
        assert!(matches!(
            classify(422, None, b""),
            ClientError::Protocol { status: 422, .. }
        ));
        let e = classify(400, PJ, &problem(problem_type::BAD_REQUEST, 400));
        assert!(matches!(e, ClientError::BadRequest { .. }) && !e.is_unavailable());
        let e = classify(503, None, b"");
        assert!(matches!(e, ClientError::Server { status: 503, .. }) && e.is_unavailable());
        let e = classify(302, None, b"elsewhere");
        assert!(matches!(e, ClientError::Protocol { status: 302, .. }) && !e.is_unavailable());
    }

    #[test]
    fn base_urls_and_ids_are_checked_and_the_secret_is_not_shown() {
        for bad in ["", "ftp://x", "http://h/?q=1", "http://u:p@h/", "mailto:a@b"] {
            assert!(
                matches!(
                    AuthorityClient::new(bad, "id", "s"),
                    Err(ClientError::InvalidBaseUrl { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            AuthorityClient::new("http://h", "a:b", "s"),
            Err(ClientError::InvalidVerifierId)
        ));
        let c = AuthorityClient::new("http://127.0.0.1:8460/prefix/", "id", "hunter2").expect("client");
        assert_eq!(c.url("/ocsp"), "http://127.0.0.1:8460/prefix/ocsp");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
