//! HTTP routes of consents (本人同意) and age checks (年齢判定), merged into [`crate::api::router`]
//! and listed in its OpenAPI document. The holder's side goes through the existing client URL routes.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::api::{json_body, Problem, Tenant};
use crate::wire::{AgeCheck, AgeCheckCreated, Consent, Consents, CreateAgeCheck, CreateConsent};
use crate::Platform;

/// Ask a user for a consent: returns the client URL where the holder signs it with the signing
/// certificate. Once given, a `basic4` consent lets the platform fetch the latest 4 attributes
/// when a status check finds `basic4_changed`, and emit `user.basic4_updated`.
#[utoipa::path(post, path = "/v1/users/{id}/consents", tag = "consents",
    params(("id" = String, Path)),
    request_body = CreateConsent,
    responses((status = 201, body = Consent), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub(crate) async fn create_consent(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(user): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Consent>), Problem> {
    let req: CreateConsent = json_body(body)?;
    Ok((StatusCode::CREATED, Json(p.create_consent(&t, &user, &req).await?)))
}

/// A user's consents, live and past.
#[utoipa::path(get, path = "/v1/users/{id}/consents", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, body = Consents), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub(crate) async fn list_user_consents(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(user): Path<String>,
) -> Result<Json<Consents>, Problem> {
    Ok(Json(p.user_consents(&t, &user).await?))
}

/// A consent.
#[utoipa::path(get, path = "/v1/consents/{id}", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, body = Consent), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub(crate) async fn get_consent(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Consent>, Problem> {
    Ok(Json(p.consent(&t, &id).await?))
}

/// Stop using a consent (this service provider only; the holder withdraws the authority's
/// consent at the authority).
#[utoipa::path(delete, path = "/v1/consents/{id}", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, body = Consent), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub(crate) async fn delete_consent(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Consent>, Problem> {
    Ok(Json(p.withdraw_consent(&t, &id).await?))
}

/// Start an age check ("N or older?"): the terminal's client completes it at `client_url`, with
/// the PIN or by reading the card. No user account is involved.
#[utoipa::path(post, path = "/v1/age-checks", tag = "age checks",
    request_body = CreateAgeCheck,
    responses((status = 201, body = AgeCheckCreated), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
pub(crate) async fn create_age_check(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<AgeCheckCreated>), Problem> {
    let req: CreateAgeCheck = json_body(body)?;
    Ok((StatusCode::CREATED, Json(p.create_age_check(&t, &req).await?)))
}

/// The result of an age check: over or not, the certificate's validity and the method used;
/// never the birth date.
#[utoipa::path(get, path = "/v1/age-checks/{id}", tag = "age checks",
    params(("id" = String, Path)),
    responses((status = 200, body = AgeCheck), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub(crate) async fn get_age_check(
    State(p): State<Platform>,
    Tenant(t): Tenant,
    Path(id): Path<String>,
) -> Result<Json<AgeCheck>, Problem> {
    Ok(Json(p.age_check(&t, &id).await?))
}

pub(crate) fn routes() -> Router<Platform> {
    Router::new()
        .route("/v1/users/{id}/consents", post(create_consent).get(list_user_consents))
        .route("/v1/consents/{id}", get(get_consent).delete(delete_consent))
        .route("/v1/age-checks", post(create_age_check))
        .route("/v1/age-checks/{id}", get(get_age_check))
}
