//! `honnin authority serve`: HTTP publication of the CA certificates, the CRLs (with ETag,
//! Last-Modified and conditional GET) and the OCSP responder at `/ocsp` (POST and GET).
//!
//! Every request reads the current state of the data directory, so events that other `honnin
//! authority` processes record show at once without a restart.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use honnin_profile::Hierarchy;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::crl::PublishedCrl;
use crate::ocsp::Responder;
use crate::{Authority, AuthorityError};

/// Largest OCSP request accepted (a request for thousands of certificates still fits).
const MAX_OCSP_REQUEST: usize = 64 * 1024;

struct ServerState {
    authority: Authority,
    responder: Responder,
    /// Last CRL served per hierarchy; the mutex also keeps two requests from publishing at once.
    crls: [Mutex<Option<PublishedCrl>>; 2],
}

/// An RFC 9457 problem document.
struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<AuthorityError> for Problem {
    fn from(e: AuthorityError) -> Self {
        tracing::error!(error = %e, "authority request failed");
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal Server Error",
            detail: e.to_string(),
        }
    }
}

fn not_found(what: &str) -> Problem {
    Problem {
        status: StatusCode::NOT_FOUND,
        title: "Not Found",
        detail: format!("no such resource: {what}"),
    }
}

/// The router, for embedding in tests or other servers.
pub async fn router(authority: Authority) -> Result<Router, AuthorityError> {
    let responder = Responder::new(authority.clone()).await?;
    let state = Arc::new(ServerState {
        authority,
        responder,
        crls: [Mutex::new(None), Mutex::new(None)],
    });
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .layer(DefaultBodyLimit::max(MAX_OCSP_REQUEST))
        .with_state(state))
}

/// Serves until Ctrl-C or SIGTERM. `ready` is called with the bound address once listening.
pub async fn serve(
    authority: Authority,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), AuthorityError> {
    let app = router(authority).await?;
    let io = |source| AuthorityError::Io {
        path: listen.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(io)?;
    ready(listener.local_addr().map_err(io)?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(io)
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
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
    let now = OffsetDateTime::now_utc();
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
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    Ok(response)
}

fn ocsp_response(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response")], der).into_response()
}

async fn ocsp_post(State(state): State<Arc<ServerState>>, body: Bytes) -> Response {
    ocsp_response(state.responder.respond(&body, OffsetDateTime::now_utc()).await)
}

/// RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}.
async fn ocsp_get(State(state): State<Arc<ServerState>>, Path(request): Path<String>) -> Response {
    let der = base64::engine::general_purpose::STANDARD
        .decode(request.trim_start_matches('/').as_bytes())
        .unwrap_or_default();
    ocsp_response(state.responder.respond(&der, OffsetDateTime::now_utc()).await)
}
