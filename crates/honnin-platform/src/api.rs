//! The HTTP API: service providers' endpoints under `/v1` (Bearer API key), the holder's client
//! endpoints under `/client/v1/{token}` (the token is the capability), `/healthz`, `/metrics` and
//! `/openapi.json`. Errors are RFC 9457 problem documents; bodies are size-limited and requests
//! time out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::audit::Actor;
use crate::billing::{TenantStatement, TenantStatementLine};
use crate::wire::{
    AccountOpening, AgeCheck, AgeCheckCreated, AgeCheckResult, Basic4, CardCertificate, ClientOutcome, ClientTask,
    Consent, Consents, CreateAccountOpening, CreateAgeCheck, CreateConsent, CreateLogin, CreateSchedule,
    CreateStatusCheck, DeadLetter, DeadLetters, Event, EventPage, FlowCreated, FlowStatus, Login, Schedule, Schedules,
    SetWebhook, SignedApplication, SignedConsent, StatusCheck, StatusCheckCreated, StatusResult, User, WebEidToken,
    Webhook,
};
use crate::{Platform, PlatformError};

/// Largest body a service provider may send (an application text is at most 16 KiB).
pub const MAX_SP_BODY: usize = 64 * 1024;
/// Largest body the client may send (a CMS message with its certificate is a few KiB).
pub const MAX_CLIENT_BODY: usize = 256 * 1024;
/// No request takes longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const PROBLEM_BASE: &str = "https://honnin.dev/problems/";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("{PROBLEM_BASE}{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, Json(&self)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"honnin-platform\""),
            );
        }
        r
    }
}

impl From<PlatformError> for Problem {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::NotFound { what, .. } => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", format!("no such {what}"))
            }
            PlatformError::Invalid(d) => Problem::new(StatusCode::BAD_REQUEST, "invalid-request", d),
            PlatformError::Conflict(d) => Problem::new(StatusCode::CONFLICT, "already-completed", d),
            PlatformError::Gone(d) => Problem::new(StatusCode::GONE, "expired", d),
            // Nothing was concluded; the same request may succeed later.
            PlatformError::Authority(e) if e.is_unavailable() => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "authority-unavailable",
                "the authority cannot be reached now; try again",
            ),
            other => {
                tracing::error!(error = %other, "request failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the platform could not complete the request",
                )
            }
        }
    }
}

fn body_problem(r: BytesRejection) -> Problem {
    let status = r.status();
    let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too-large"
    } else {
        "invalid-request"
    };
    Problem::new(status, kind, r.body_text())
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Problem> {
    let body = body.map_err(body_problem)?;
    serde_json::from_slice(&body).map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-request", e.to_string()))
}

/// The authenticated tenant of a service-provider request.
pub struct Tenant(pub String);

impl FromRequestParts<Platform> for Tenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let tenant = match key {
            Some(k) => platform.authenticate(k).await.map_err(Problem::from)?,
            None => None,
        };
        match tenant {
            Some(t) => Ok(Tenant(t)),
            None => {
                let path = parts.uri.path().to_owned();
                platform
                    .audit(
                        Actor::Anonymous,
                        "api.unauthorized",
                        None,
                        Some(&path),
                        "refused",
                        json!({}),
                    )
                    .await
                    .map_err(Problem::from)?;
                Err(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a valid API key is required: Authorization: Bearer <api key>",
                ))
            }
        }
    }
}

/// Open an account: create the session the holder signs.
#[utoipa::path(post, path = "/v1/account-openings", tag = "account openings",
    request_body = CreateAccountOpening,
    responses((status = 201, body = FlowCreated), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn create_account_opening(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FlowCreated>), Problem> {
    let req: CreateAccountOpening = json_body(body)?;
    Ok((StatusCode::CREATED, Json(p.create_account_opening(&t, &req).await?)))
}

/// The result of an account opening.
#[utoipa::path(get, path = "/v1/account-openings/{id}", tag = "account openings",
    params(("id" = String, Path)),
    responses((status = 200, body = AccountOpening), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn get_account_opening(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<Json<AccountOpening>, Problem> {
    Ok(Json(p.account_opening(&t, &id).await?))
}

/// Log a user in: create the challenge the holder's auth certificate answers.
#[utoipa::path(post, path = "/v1/logins", tag = "logins",
    request_body = CreateLogin,
    responses((status = 201, body = FlowCreated), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn create_login(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FlowCreated>), Problem> {
    let req: CreateLogin = json_body(body)?;
    Ok((StatusCode::CREATED, Json(p.create_login(&t, &req).await?)))
}

/// The result of a login.
#[utoipa::path(get, path = "/v1/logins/{id}", tag = "logins",
    params(("id" = String, Path)),
    responses((status = 200, body = Login), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn get_login(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Login>, Problem> {
    Ok(Json(p.login(&t, &id).await?))
}

/// A user: its 4 attributes as last verified. Never a certificate.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path)),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn get_user(State(p): State<Platform>, Tenant(t): Tenant, Path(id): Path<String>) -> Result<Json<User>, Problem> {
    Ok(Json(p.user(&t, &id).await?))
}

/// What the holder's client must sign (no API key: the URL is the capability).
#[utoipa::path(get, path = "/client/v1/{token}", tag = "holder's client",
    params(("token" = String, Path)),
    responses((status = 200, body = ClientTask), (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem)))]
async fn get_client_task(State(p): State<Platform>, Path(token): Path<String>) -> Result<Json<ClientTask>, Problem> {
    Ok(Json(p.client_task(&token).await?))
}

/// The holder's signature: `{"cms": base64}` for an account opening, a Web eID token for a login.
#[utoipa::path(post, path = "/client/v1/{token}", tag = "holder's client",
    params(("token" = String, Path)),
    request_body(content = serde_json::Value, description = "SignedApplication or WebEidToken"),
    responses((status = 200, body = ClientOutcome), (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem), (status = 413, body = Problem)))]
async fn post_client(
    State(p): State<Platform>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ClientOutcome>, Problem> {
    let body = body.map_err(body_problem)?;
    Ok(Json(p.client_submit(&token, &body).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
struct PageQuery {
    /// The cursor from a previous answer's `next`.
    after: Option<String>,
    limit: Option<i64>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
struct MethodQuery {
    /// `crl` or `ocsp`.
    method: String,
}

/// Status check (現況確認) over users, in the background: every result is interpreted and, where
/// what it means changed, announced as an event.
#[utoipa::path(post, path = "/v1/status-checks", tag = "status checks",
    request_body = CreateStatusCheck,
    responses((status = 202, body = StatusCheckCreated), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn create_status_check(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<StatusCheckCreated>), Problem> {
    let req: CreateStatusCheck = json_body(body)?;
    Ok((StatusCode::ACCEPTED, Json(p.start_status_check(&t, &req).await?)))
}

/// Progress and results of a status check.
#[utoipa::path(get, path = "/v1/status-checks/{id}", tag = "status checks",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = StatusCheck), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn get_status_check(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<StatusCheck>, Problem> {
    Ok(Json(p.status_check(&t, &id, q.after.as_deref(), q.limit).await?))
}

/// Stop a running status check (results so far are kept).
#[utoipa::path(post, path = "/v1/status-checks/{id}/cancel", tag = "status checks",
    params(("id" = String, Path)),
    responses((status = 200, body = StatusCheck), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn cancel_status_check(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<Json<StatusCheck>, Problem> {
    Ok(Json(p.cancel_status_check(&t, &id).await?))
}

/// Check one user now.
#[utoipa::path(post, path = "/v1/users/{id}/status-check", tag = "status checks",
    params(("id" = String, Path), MethodQuery),
    responses((status = 200, body = StatusResult), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn check_user(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
    Query(q): Query<MethodQuery>,
) -> Result<Json<StatusResult>, Problem> {
    Ok(Json(p.check_user(&t, &id, &q.method).await?))
}

/// The event feed, oldest first, from a cursor.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(PageQuery),
    responses((status = 200, body = EventPage), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn get_events(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Query(q): Query<PageQuery>,
) -> Result<Json<EventPage>, Problem> {
    Ok(Json(p.events(&t, q.after.as_deref(), q.limit).await?))
}

/// The tenant's statement for one JST month (`YYYY-MM`): its calls to the authority priced by the
/// authority's fees (seed 001) plus the platform's margin, per line.
#[utoipa::path(get, path = "/v1/billing/statements/{month}", tag = "billing",
    params(("month" = String, Path, description = "YYYY-MM (JST)")),
    responses((status = 200, body = TenantStatement), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn get_billing_statement(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(month): Path<String>,
) -> Result<Json<TenantStatement>, Problem> {
    Ok(Json(p.billing_statement(&t, &month).await?))
}

/// Set the endpoint events are POSTed to; returns the signing secret (shown now only).
#[utoipa::path(put, path = "/v1/webhook", tag = "events",
    request_body = SetWebhook,
    responses((status = 200, body = Webhook), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn put_webhook(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Webhook>, Problem> {
    let req: SetWebhook = json_body(body)?;
    Ok(Json(p.set_webhook(&t, &req.url).await?))
}

/// Stop webhook deliveries.
#[utoipa::path(delete, path = "/v1/webhook", tag = "events",
    responses((status = 204), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn delete_webhook(State(p): State<Platform>, Tenant(t): Tenant) -> Result<StatusCode, Problem> {
    p.delete_webhook(&t).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deliveries the platform gave up on.
#[utoipa::path(get, path = "/v1/webhook/dead-letters", tag = "events",
    responses((status = 200, body = DeadLetters), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn get_dead_letters(State(p): State<Platform>, Tenant(t): Tenant) -> Result<Json<DeadLetters>, Problem> {
    Ok(Json(p.dead_letters(&t).await?))
}

/// Send a dead letter again.
#[utoipa::path(post, path = "/v1/webhook/dead-letters/{event_id}/retry", tag = "events",
    params(("event_id" = String, Path)),
    responses((status = 202), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn retry_dead_letter(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(event): Path<String>,
) -> Result<StatusCode, Problem> {
    p.retry_dead_letter(&t, &event).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Schedule status checks: all users every period, or daily over new CRL entries only.
#[utoipa::path(post, path = "/v1/status-check-schedules", tag = "status checks",
    request_body = CreateSchedule,
    responses((status = 201, body = Schedule), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn create_schedule(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Schedule>), Problem> {
    let req: CreateSchedule = json_body(body)?;
    Ok((StatusCode::CREATED, Json(p.create_schedule(&t, &req).await?)))
}

/// The tenant's schedules.
#[utoipa::path(get, path = "/v1/status-check-schedules", tag = "status checks",
    responses((status = 200, body = Schedules), (status = 401, body = Problem)),
    security(("api_key" = [])))]
async fn list_schedules(State(p): State<Platform>, Tenant(t): Tenant) -> Result<Json<Schedules>, Problem> {
    Ok(Json(p.schedules(&t).await?))
}

/// Remove a schedule (running checks go on).
#[utoipa::path(delete, path = "/v1/status-check-schedules/{id}", tag = "status checks",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
async fn delete_schedule(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    p.delete_schedule(&t, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn healthz(State(p): State<Platform>) -> Response {
    match p.store().tenants().await {
        Ok(_) => "ok\n".into_response(),
        Err(e) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()).into_response(),
    }
}

async fn metrics(State(p): State<Platform>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        p.metrics().render(),
    )
        .into_response()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "honnin platform API", description = "JPKI verification for service providers: account opening (犯収法施行規則 6条1項1号ワ), login (利用者証明), status checks (現況確認), the holder's consent (本人同意) to the latest 4 attributes, age checks (年齢判定) and the tenant's monthly statement (請求)."),
    paths(create_account_opening, get_account_opening, create_login, get_login, get_user, get_client_task, post_client, create_status_check, get_status_check, cancel_status_check, check_user, get_events, get_billing_statement, put_webhook, delete_webhook, get_dead_letters, retry_dead_letter, create_schedule, list_schedules, delete_schedule,
        crate::api_consent::create_consent, crate::api_consent::get_consent, crate::api_consent::delete_consent, crate::api_consent::list_user_consents, crate::api_consent::create_age_check, crate::api_consent::get_age_check),
    components(schemas(Problem, CreateAccountOpening, CreateLogin, FlowCreated, FlowStatus, AccountOpening, Login, Basic4, User, ClientTask, SignedApplication, WebEidToken, ClientOutcome, CreateStatusCheck, StatusCheckCreated, StatusCheck, StatusResult, Event, EventPage, SetWebhook, Webhook, DeadLetter, DeadLetters, CreateSchedule, Schedule, Schedules, TenantStatement, TenantStatementLine,
        CreateConsent, Consent, Consents, SignedConsent, CreateAgeCheck, AgeCheckCreated, AgeCheck, AgeCheckResult, CardCertificate)),
    modifiers(&Security)
)]
pub struct ApiDoc;

async fn observe(State(p): State<Platform>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    p.metrics()
        .request(&route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn fallback() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
}

/// The router.
pub fn router(platform: Platform) -> Router {
    let sp = Router::new()
        .route("/v1/account-openings", axum::routing::post(create_account_opening))
        .route("/v1/account-openings/{id}", get(get_account_opening))
        .route("/v1/logins", axum::routing::post(create_login))
        .route("/v1/logins/{id}", get(get_login))
        .route("/v1/users/{id}", get(get_user))
        .route("/v1/users/{id}/status-check", axum::routing::post(check_user))
        .route("/v1/status-checks", axum::routing::post(create_status_check))
        .route("/v1/status-checks/{id}", get(get_status_check))
        .route(
            "/v1/status-checks/{id}/cancel",
            axum::routing::post(cancel_status_check),
        )
        .route("/v1/events", get(get_events))
        .route("/v1/billing/statements/{month}", get(get_billing_statement))
        .route(
            "/v1/status-check-schedules",
            axum::routing::post(create_schedule).get(list_schedules),
        )
        .route(
            "/v1/status-check-schedules/{id}",
            axum::routing::delete(delete_schedule),
        )
        .route("/v1/webhook", axum::routing::put(put_webhook).delete(delete_webhook))
        .route("/v1/webhook/dead-letters", get(get_dead_letters))
        .merge(crate::api_consent::routes())
        .route(
            "/v1/webhook/dead-letters/{event_id}/retry",
            axum::routing::post(retry_dead_letter),
        )
        .layer(DefaultBodyLimit::max(MAX_SP_BODY));
    let client = Router::new()
        .route("/client/v1/{token}", get(get_client_task).post(post_client))
        .layer(DefaultBodyLimit::max(MAX_CLIENT_BODY));
    Router::new()
        .merge(sp)
        .merge(client)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(platform.clone(), observe))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(platform)
}

/// Serves until `shutdown` completes (the binary passes Ctrl-C/SIGTERM); `ready` gets the bound
/// address once listening.
pub async fn serve(
    platform: Platform,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), PlatformError> {
    let io = |source| PlatformError::Io {
        path: listen.to_string().into(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    platform.set_listen_url(format!("http://{addr}"));
    let refresher = platform.spawn_crl_refresher();
    let deliverer = platform.spawn_webhook_deliverer();
    let scheduler = platform.spawn_scheduler();
    let declarer = platform.spawn_crl_declarer();
    let resumed = platform.resume_status_checks().await?;
    if resumed > 0 {
        tracing::info!(jobs = resumed, "resumed status checks");
    }
    platform
        .operator_action("platform.serve", None, json!({ "listen": addr.to_string() }))
        .await?;
    ready(addr);
    let result = axum::serve(listener, router(platform))
        .with_graceful_shutdown(shutdown)
        .await;
    deliverer.abort();
    scheduler.abort();
    declarer.abort();
    if let Some(r) = refresher {
        r.abort();
    }
    result.map_err(io)
}
