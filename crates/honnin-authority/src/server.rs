//! `honnin authority serve`: HTTP publication of the CA certificates, the CRLs (with ETag,
//! Last-Modified and conditional GET) and the OCSP responder at `/ocsp` (POST and GET), and the
//! routes of registered verifiers under `/verifier/v1/` (HTTP Basic): OCSP, CRLs, serial linking,
//! the age check, the latest 4 attributes, signed consents, declared CRL checks and statements,
//! each call recorded for billing.
//!
//! Every request reads the current state of the data directory, so events that other `honnin
//! authority` processes record show at once without a restart. Errors are RFC 9457 problem
//! documents with a distinct `type` URI each (see `honnin_proto::problem_type`). The server's
//! [`Clock`] is the system clock, or a sandbox clock that starts at a chosen instant and runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use honnin_profile::Hierarchy;
use honnin_proto::{problem_type, Link};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::crl::PublishedCrl;
use crate::holder::Basic4Outcome;
use crate::ocsp::Responder;
use crate::signed_consent::SignedConsentOutcome;
use crate::verifiers::{CallResult, LinkAnswer, LinkOutcome, NewCall, VerifierAuth, VerifierService};
use crate::{Authority, AuthorityError};

/// Largest OCSP request accepted (a request for thousands of certificates still fits), and the
/// limit of every other body but a CRL-check declaration.
const MAX_OCSP_REQUEST: usize = 64 * 1024;
/// Largest CRL-check declaration: `MAX_CRL_CHECKS` checks of about 50 bytes each, with room.
const MAX_CRL_CHECKS_BODY: usize = 1024 * 1024;

/// The time the server acts at: the system clock, or a sandbox clock that started at a chosen
/// instant (`honnin authority serve --now …`) and runs at the system clock's pace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset: time::Duration,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: OffsetDateTime) -> Self {
        Clock {
            offset: start - OffsetDateTime::now_utc(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset
    }
}

struct ServerState {
    authority: Authority,
    responder: Responder,
    clock: Clock,
    /// Last CRL served per hierarchy; the mutex also keeps two requests from publishing at once.
    crls: [Mutex<Option<PublishedCrl>>; 2],
}

impl ServerState {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// An RFC 9457 problem document. A 401 also carries the `WWW-Authenticate: Basic` challenge.
struct Problem {
    status: StatusCode,
    /// One of `honnin_proto::problem_type`.
    kind: &'static str,
    title: &'static str,
    detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = honnin_proto::Problem {
            kind: self.kind.to_owned(),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: Some(self.detail),
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, honnin_proto::PROBLEM_CONTENT_TYPE)],
            body,
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(honnin_proto::CHALLENGE),
            );
        }
        response
    }
}

impl From<AuthorityError> for Problem {
    fn from(e: AuthorityError) -> Self {
        if let AuthorityError::BadInput(detail) = e {
            return bad_request(detail);
        }
        tracing::error!(error = %e, "authority request failed");
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: problem_type::INTERNAL,
            title: "Internal Server Error",
            detail: e.to_string(),
        }
    }
}

fn not_found(what: &str) -> Problem {
    Problem {
        status: StatusCode::NOT_FOUND,
        kind: problem_type::NOT_FOUND,
        title: "Not Found",
        detail: format!("no such resource: {what}"),
    }
}

fn unauthorized() -> Problem {
    Problem {
        status: StatusCode::UNAUTHORIZED,
        kind: problem_type::UNAUTHORIZED,
        title: "Unauthorized",
        detail: "this route needs a registered verifier's id and secret (HTTP Basic)".into(),
    }
}

fn disabled() -> Problem {
    Problem {
        status: StatusCode::FORBIDDEN,
        kind: problem_type::FORBIDDEN,
        title: "Forbidden",
        detail: "this verifier is disabled".into(),
    }
}

fn consent_required(what: &str) -> Problem {
    Problem {
        status: StatusCode::FORBIDDEN,
        kind: problem_type::CONSENT_REQUIRED,
        title: "Consent Required",
        detail: format!("the holder of this certificate has not consented to {what} for this verifier"),
    }
}

fn holder_gone(kind: &'static str, detail: &str) -> Problem {
    Problem {
        status: StatusCode::GONE,
        kind,
        title: "Gone",
        detail: detail.into(),
    }
}

fn bad_request(detail: String) -> Problem {
    Problem {
        status: StatusCode::BAD_REQUEST,
        kind: problem_type::BAD_REQUEST,
        title: "Bad Request",
        detail,
    }
}

/// The router, for embedding in tests or other servers.
pub async fn router(authority: Authority, clock: Clock) -> Result<Router, AuthorityError> {
    let responder = Responder::new(authority.clone()).await?;
    let state = Arc::new(ServerState {
        authority,
        responder,
        clock,
        crls: [Mutex::new(None), Mutex::new(None)],
    });
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .nest(honnin_proto::API_PREFIX, verifier_routes())
        .fallback(|uri: axum::http::Uri| async move { not_found(uri.path()) })
        .layer(DefaultBodyLimit::max(MAX_OCSP_REQUEST))
        .with_state(state))
}

/// Serves until `shutdown` completes (the binary passes Ctrl-C/SIGTERM). `ready` is called with the
/// bound address once listening.
pub async fn serve(
    authority: Authority,
    clock: Clock,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), AuthorityError> {
    let app = router(authority, clock).await?;
    let io = |source| AuthorityError::Io {
        path: listen.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(io)?;
    ready(listener.local_addr().map_err(io)?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(io)
}

fn split_file(file: &str) -> Option<(Hierarchy, &str)> {
    let (name, ext) = file.split_once('.')?;
    Some((Hierarchy::from_short(name)?, ext))
}

async fn ca_certificate(State(state): State<Arc<ServerState>>, Path(file): Path<String>) -> Result<Response, Problem> {
    let Some((h, ext)) = split_file(&file) else {
        return Err(not_found(&file));
    };
    let ca = state.authority.ca(h).await?;
    Ok(match ext {
        "der" | "cer" | "crt" => {
            ([(header::CONTENT_TYPE, "application/pkix-cert")], ca.certificate.der).into_response()
        }
        "pem" => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            ca.certificate.to_pem(),
        )
            .into_response(),
        _ => return Err(not_found(&file)),
    })
}

fn http_date(t: OffsetDateTime) -> HeaderValue {
    let system = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unix_timestamp().max(0) as u64);
    HeaderValue::from_str(&httpdate::fmt_http_date(system)).unwrap_or(HeaderValue::from_static(""))
}

async fn crl(
    State(state): State<Arc<ServerState>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Some((h, "crl")) = split_file(&file) else {
        return Err(not_found(&file));
    };
    Ok(crl_response(&state, h, &headers, "public").await?.0)
}

/// The current CRL of `h`, or 304 when the request's validators match it; `true` with a 304.
async fn crl_response(
    state: &ServerState,
    h: Hierarchy,
    headers: &HeaderMap,
    cache_scope: &str,
) -> Result<(Response, bool), Problem> {
    let now = state.now();
    let slot = &state.crls[match h {
        Hierarchy::Signing => 0,
        Hierarchy::Authentication => 1,
    }];
    let mut cached = slot.lock().await;
    let crl = match state.authority.fresh_crl(h, now, cached.as_ref()).await? {
        Some(c) => c,
        None => state.authority.current_crl(h, now).await?,
    };
    *cached = Some(crl.clone());
    drop(cached);

    let etag = crl.etag();
    let not_modified = match headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(tags) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(|since| {
                since
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0)
            })
            .is_some_and(|since| since >= crl.this_update.unix_timestamp()),
    };
    let max_age = (crl.next_update - now).whole_seconds().clamp(0, 3600);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Bytes::from(crl.der.as_ref().clone()).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pkix-crl"));
        r
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::LAST_MODIFIED, http_date(crl.this_update));
    h.insert(header::EXPIRES, http_date(crl.next_update));
    if let Ok(v) = HeaderValue::from_str(&format!("{cache_scope}, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    Ok((response, not_modified))
}

fn ocsp_response(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response")], der).into_response()
}

async fn ocsp_post(State(state): State<Arc<ServerState>>, body: Bytes) -> Response {
    ocsp_response(state.responder.respond(&body, state.now()).await)
}

/// RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}.
async fn ocsp_get(State(state): State<Arc<ServerState>>, Path(request): Path<String>) -> Response {
    let der = base64::engine::general_purpose::STANDARD
        .decode(request.trim_start_matches('/').as_bytes())
        .unwrap_or_default();
    ocsp_response(state.responder.respond(&der, state.now()).await)
}

fn json_response<T: serde::Serialize>(body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(json) => ([(header::CONTENT_TYPE, honnin_proto::JSON_CONTENT_TYPE)], json).into_response(),
        Err(e) => Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: problem_type::INTERNAL,
            title: "Internal Server Error",
            detail: format!("cannot encode the answer: {e}"),
        }
        .into_response(),
    }
}

/// The routes of registered verifiers, nested under `/verifier/v1`. Every one of them, including
/// the fallback for unknown paths, authenticates first: without valid credentials a caller learns
/// nothing but the 401.
fn verifier_routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/ocsp", post(verifier_ocsp))
        .route("/crl/{file}", get(verifier_crl))
        .route("/certificates/{hierarchy}/{serial}/basic4", get(verifier_basic4))
        .route("/certificates/{hierarchy}/{serial}/{link}", get(verifier_link))
        .route("/age-check", post(verifier_age_check))
        .route(
            "/crl-checks",
            post(verifier_crl_checks).layer(DefaultBodyLimit::max(MAX_CRL_CHECKS_BODY)),
        )
        .route("/consents", post(verifier_consent))
        .route("/statements/{month}", get(verifier_statement))
        .fallback(verifier_fallback)
}

/// A verifier's credentials as sent in `Authorization: Basic base64(id:secret)`. `Debug` hides
/// the secret.
#[derive(PartialEq, Eq)]
struct BasicCredentials {
    id: String,
    secret: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("id", &self.id)
            .field("secret", &"…")
            .finish()
    }
}

/// Parses an RFC 7617 `Basic` authorization: the scheme (any case), one or more spaces, standard
/// base64 of UTF-8 `id:secret`; the id is everything before the first colon. Anything else —
/// another scheme, bad base64, no colon, an empty id or secret — is `None`.
fn parse_basic(value: &HeaderValue) -> Option<BasicCredentials> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim_start())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    if id.is_empty() || secret.is_empty() {
        return None;
    }
    Some(BasicCredentials {
        id: id.to_owned(),
        secret: secret.to_owned(),
    })
}

/// The registered, enabled verifier a request comes from. Missing, malformed, unknown or wrong
/// credentials are one and the same 401; a disabled verifier's are a 403.
struct AuthenticatedVerifier(String);

impl FromRequestParts<Arc<ServerState>> for AuthenticatedVerifier {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<ServerState>) -> Result<Self, Self::Rejection> {
        let Some(credentials) = parts.headers.get(header::AUTHORIZATION).and_then(parse_basic) else {
            return Err(unauthorized());
        };
        match state
            .authority
            .authenticate_verifier(&credentials.id, &credentials.secret)
            .await?
        {
            VerifierAuth::Accepted(id) => Ok(AuthenticatedVerifier(id)),
            VerifierAuth::Disabled(id) => {
                tracing::info!(verifier = %id, "a disabled verifier was refused");
                Err(disabled())
            }
            VerifierAuth::Rejected => {
                // The presented id is not logged: a caller who swapped id and secret would leak it.
                tracing::info!("verifier credentials were refused");
                Err(unauthorized())
            }
        }
    }
}

/// Unknown paths under the prefix (which the nested router strips from `uri`).
async fn verifier_fallback(_: AuthenticatedVerifier, uri: axum::http::Uri) -> Problem {
    not_found(&format!("{}{}", honnin_proto::API_PREFIX, uri.path()))
}

/// OCSP for a verifier: the same response as `/ocsp`, and one recorded call per certificate. If the
/// calls cannot be recorded the answer is `internalError`, never an unrecorded status.
async fn verifier_ocsp(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    body: Bytes,
) -> Response {
    let now = state.now();
    let (der, calls) = state.responder.answer(&body, now).await;
    if let Err(e) = state.authority.record_calls(&verifier, &calls, now).await {
        tracing::error!(error = %e, verifier = %verifier, "cannot record a verifier's OCSP call");
        return ocsp_response(crate::ocsp::internal_error_response());
    }
    ocsp_response(der)
}

/// A CRL for a verifier, with the public route's validators; `Cache-Control: private` so a shared
/// cache does not answer other verifiers unrecorded.
async fn verifier_crl(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Some((h, "crl")) = split_file(&file) else {
        return Err(not_found(&file));
    };
    let (response, not_modified) = crl_response(&state, h, &headers, "private").await?;
    let call = NewCall {
        service: VerifierService::Crl,
        hierarchy: Some(h),
        serial: None,
        linked_serial: None,
        result: if not_modified {
            CallResult::NotModified
        } else {
            CallResult::Sent
        },
    };
    state.authority.record_calls(&verifier, &[call], state.now()).await?;
    Ok(response)
}

fn parse_serial(serial: &str) -> Result<u64, Problem> {
    honnin_proto::serial_from_hex(serial)
        .ok_or_else(|| bad_request(format!("{serial:?} is not a certificate serial (hex, at most 64 bits)")))
}

fn unknown_certificate(h: Hierarchy, serial: u64) -> Problem {
    not_found(&format!(
        "{} certificate {}",
        h.short(),
        honnin_proto::serial_to_hex(serial)
    ))
}

/// A JSON body, or a 400 that says why not.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("the body is not the expected JSON: {e}")))
}

async fn verifier_link(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    Path((hierarchy, serial, link)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let (Some(h), Some(link)) = (Hierarchy::from_short(&hierarchy), Link::from_path(&link)) else {
        return Err(not_found(&format!("certificates/{hierarchy}/{serial}/{link}")));
    };
    let serial = parse_serial(&serial)?;
    let outcome = state
        .authority
        .verifier_link(&verifier, h, serial, link, state.now())
        .await?;
    Ok(match outcome {
        LinkOutcome::UnknownCertificate => return Err(unknown_certificate(h, serial)),
        LinkOutcome::ConsentRequired => return Err(consent_required("serial linking")),
        LinkOutcome::Answer(LinkAnswer::Previous(previous)) => json_response(&honnin_proto::PreviousCertificate {
            hierarchy: h,
            serial,
            previous,
        }),
        LinkOutcome::Answer(LinkAnswer::Next(next)) => json_response(&honnin_proto::NextCertificate {
            hierarchy: h,
            serial,
            next,
        }),
        LinkOutcome::Answer(LinkAnswer::Counterpart { sign, auth }) => {
            json_response(&honnin_proto::Counterpart { sign, auth })
        }
    })
}

/// The holder's latest 4 attributes (with a live `basic4` consent): 200, 403 consent-required,
/// 404 for an unknown serial, 410 `…/holder-deceased` or `…/holder-emigrated`.
async fn verifier_basic4(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    Path((hierarchy, serial)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let Some(h) = Hierarchy::from_short(&hierarchy) else {
        return Err(not_found(&format!("certificates/{hierarchy}/{serial}/basic4")));
    };
    let serial = parse_serial(&serial)?;
    match state.authority.latest_basic4(&verifier, h, serial, state.now()).await? {
        Basic4Outcome::Answer(answer) => Ok(json_response(&answer)),
        Basic4Outcome::UnknownCertificate => Err(unknown_certificate(h, serial)),
        Basic4Outcome::ConsentRequired => Err(consent_required("providing the latest 4 attributes")),
        Basic4Outcome::Deceased => Err(holder_gone(
            problem_type::HOLDER_DECEASED,
            "the holder of this certificate has died; the register gives no attributes",
        )),
        Basic4Outcome::Emigrated => Err(holder_gone(
            problem_type::HOLDER_EMIGRATED,
            "the holder of this certificate has moved abroad; the register gives no current attributes",
        )),
    }
}

/// The age check (年齢判定): validity and whether the holder is N or older, never the birth date.
async fn verifier_age_check(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    body: Bytes,
) -> Result<Response, Problem> {
    let request: honnin_proto::AgeCheckRequest = json_body(&body)?;
    let answer = state
        .authority
        .age_check(
            &verifier,
            &request.certificate,
            request.threshold,
            request.at,
            state.now(),
        )
        .await?;
    Ok(json_response(&answer))
}

/// CRL-based status checks the platform declares, recorded for billing (once a year per holder).
async fn verifier_crl_checks(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    body: Bytes,
) -> Result<Response, Problem> {
    let request: honnin_proto::CrlChecksRequest = json_body(&body)?;
    let checks = state
        .authority
        .record_crl_checks(&verifier, &request.checks, state.now())
        .await?;
    Ok(json_response(&honnin_proto::CrlChecksAnswer { checks }))
}

/// A consent statement signed by the holder: 201 when the consent is live, 422 when refused.
async fn verifier_consent(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    body: Bytes,
) -> Result<Response, Problem> {
    let request: honnin_proto::ConsentRequest = json_body(&body)?;
    let outcome = state
        .authority
        .add_signed_consent(&verifier, &request.signed_data, request.content.as_deref(), state.now())
        .await?;
    match outcome {
        SignedConsentOutcome::Accepted(recorded) => Ok((StatusCode::CREATED, json_response(&recorded)).into_response()),
        SignedConsentOutcome::Refused(detail) => Err(Problem {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: problem_type::CONSENT_STATEMENT_REFUSED,
            title: "Consent Statement Refused",
            detail,
        }),
    }
}

/// The verifier's own statement of one JST month (`YYYY-MM`).
async fn verifier_statement(
    AuthenticatedVerifier(verifier): AuthenticatedVerifier,
    State(state): State<Arc<ServerState>>,
    Path(month): Path<String>,
) -> Result<Response, Problem> {
    let Some(month) = honnin_proto::BillingMonth::parse(&month) else {
        return Err(bad_request(format!("{month:?} is not a month YYYY-MM")));
    };
    let now = state.now();
    let statement = state.authority.statement(&verifier, month).await?;
    let call = NewCall {
        service: VerifierService::Statement,
        hierarchy: None,
        serial: None,
        linked_serial: None,
        result: CallResult::Sent,
    };
    state.authority.record_calls(&verifier, &[call], now).await?;
    Ok(json_response(&statement))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> Option<BasicCredentials> {
        parse_basic(&HeaderValue::from_str(raw).expect("header value"))
    }

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_credentials_parse_as_rfc_7617_says() {
        let ok = basic(&format!("Basic {}", b64(b"0123abcd:s3cr:et"))).expect("valid");
        assert_eq!(ok.id, "0123abcd");
        assert_eq!(
            ok.secret, "s3cr:et",
            "the secret may hold colons; the id ends at the first"
        );
        // Scheme in any case, extra spaces around the token.
        for raw in [
            format!("basic {}", b64(b"id:secret")),
            format!("BASIC   {}", b64(b"id:secret")),
            format!("  Basic {}  ", b64(b"id:secret")),
        ] {
            let c = basic(&raw).expect(&raw);
            assert_eq!((c.id.as_str(), c.secret.as_str()), ("id", "secret"));
        }
    }

    #[test]
    fn malformed_basic_credentials_are_refused() {
        for raw in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            format!("Bearer {}", b64(b"id:secret")),
            format!("Basic{}", b64(b"id:secret")),
            "Basic !!!not-base64!!!".into(),
            format!("Basic {}", b64(b"id:secret").trim_end_matches('=').to_owned() + "="),
            format!("Basic {}", b64(b"no-colon")),
            format!("Basic {}", b64(b":secret")),
            format!("Basic {}", b64(b"id:")),
            format!("Basic {}", b64(b":")),
            format!("Basic {}", b64(&[0x69, 0x64, 0x3A, 0xFF, 0xFE])),
            format!("Basic {} extra", b64(b"id:secret")),
        ] {
            assert_eq!(basic(&raw), None, "{raw:?}");
        }
        // Bytes that are not visible ASCII (obs-text) in the header itself.
        let raw = HeaderValue::from_bytes(b"Basic \xE3\x81\x82").expect("obs-text is a valid header value");
        assert_eq!(parse_basic(&raw), None);
    }

    #[test]
    fn credentials_debug_output_hides_the_secret() {
        let c = basic(&format!("Basic {}", b64(b"id:topsecret"))).expect("valid");
        let shown = format!("{c:?}");
        assert!(shown.contains("id") && !shown.contains("topsecret"), "{shown}");
    }
}
