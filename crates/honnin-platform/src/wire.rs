//! The platform API's JSON bodies, as service providers and the holder's client see them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::wire_consent::*;

/// `POST /v1/account-openings`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountOpening {
    /// The application text the holder signs (e.g. the account terms and what is being opened).
    pub application: String,
    /// How long the holder has to sign, in seconds (default: the platform's flow TTL).
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

/// `POST /v1/logins`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLogin {
    /// The https origin of the site the holder logs in to, e.g. `https://bank.example`.
    pub origin: String,
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

/// A new flow, as returned to the service provider.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FlowCreated {
    pub id: String,
    /// Where the holder's client completes the flow; it carries its own capability, so hand it only
    /// to the holder.
    pub client_url: String,
    /// Always `pending`.
    pub status: FlowStatus,
    /// RFC 3339.
    pub expires_at: String,
    /// For account openings: SHA-256 (hex) of the exact document the holder signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Where a flow stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlowStatus {
    Pending,
    Verified,
    Rejected,
    /// The signature is valid but the revocation status could not be established (account openings
    /// only: logins fail closed as `rejected`). Never treat as verified.
    Unknown,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Pending => "pending",
            FlowStatus::Verified => "verified",
            FlowStatus::Rejected => "rejected",
            FlowStatus::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => FlowStatus::Pending,
            "verified" => FlowStatus::Verified,
            "rejected" => FlowStatus::Rejected,
            "unknown" => FlowStatus::Unknown,
            _ => return None,
        })
    }
}

/// The 4 attributes (基本4情報) as verified from the signing certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Basic4 {
    pub name: String,
    pub address: String,
    /// `YYYY-MM-DD` (Gregorian).
    pub birth_date: String,
    /// `male`, `female` or `not_known`.
    pub sex: String,
    /// The name or address holds 〓 where a character outside JIS X 0208 stood; the certificate
    /// carries the original characters separately (代替文字), so ask the holder to confirm.
    pub substituted: bool,
}

/// `GET /v1/account-openings/{id}`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountOpening {
    pub id: String,
    pub status: FlowStatus,
    /// Why it was rejected or is unknown: a stable code (`certificate_revoked`, `bad_signature`,
    /// `certificate_expired`, `foreign_profile`, `content_mismatch`, `revocation_unknown`, `expired`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A sentence for people, when there is a reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic4: Option<Basic4>,
    pub created_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// `GET /v1/logins/{id}`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Login {
    pub id: String,
    pub status: FlowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub origin: String,
    pub created_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// `GET /v1/users/{id}`: what a service provider may know of its user. Never a certificate.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub user_id: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic4: Option<Basic4>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic4_verified_at: Option<String>,
}

/// `GET {client_url}`: what the holder's client must do.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClientTask {
    /// Sign `document` (base64) with the signing certificate as CMS SignedData (detached) and POST
    /// `{"cms": base64}`. `application` is the text to show the holder; it is inside `document`.
    AccountOpening {
        application: String,
        document: String,
        expires_at: String,
    },
    /// Sign hash(origin) ‖ hash(nonce) with the auth key (Web eID) and POST the Web eID token.
    Login {
        origin: String,
        /// base64 of the challenge nonce bytes.
        nonce: String,
        expires_at: String,
    },
    /// Show `text`, then sign a `ConsentStatement` naming `verifier` and `scope` at the current time
    /// with the signing certificate (detached CMS) and POST a [`SignedConsent`].
    Consent {
        scope: String,
        verifier: String,
        /// What the holder consents to, in words.
        text: String,
        expires_at: String,
    },
    /// With `pin`: sign hash(origin) ‖ hash(nonce) with the auth key after the PIN and POST a Web
    /// eID token (as a login). Without: read the auth certificate (no PIN) and POST a
    /// [`CardCertificate`].
    AgeCheck {
        threshold: u8,
        pin: bool,
        origin: String,
        /// base64 of the challenge nonce bytes.
        nonce: String,
        expires_at: String,
    },
}

/// `POST {client_url}` for an account opening.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedApplication {
    /// DER `ContentInfo { SignedData }`, base64; detached or attached.
    pub cms: String,
}

/// `POST {client_url}` for a login: a Web eID authentication token (`web-eid:1.0`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebEidToken {
    /// The auth certificate, base64 DER.
    pub unverified_certificate: String,
    /// `RS256`, `RS384` or `RS512`.
    pub algorithm: String,
    /// base64 PKCS#1 v1.5 signature over hash(origin) ‖ hash(nonce).
    pub signature: String,
    /// `web-eid:1.0`
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

/// What the holder's client is told after it submits.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientOutcome {
    pub status: FlowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `POST /v1/tenants`-free operator output of `honnin platform tenant add --json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantCreated {
    pub id: String,
    pub api_key: String,
}

/// `POST /v1/status-checks`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStatusCheck {
    /// The users to check; or `all`.
    #[serde(default)]
    pub user_ids: Option<Vec<String>>,
    #[serde(default)]
    pub all: bool,
    /// `crl` (cheap: the CRL index) or `ocsp` (today's status, per call).
    pub method: String,
    /// Emit `user.alive_confirmed` for every user whose card is usable (life insurers' 生存確認).
    #[serde(default)]
    pub alive_events: bool,
}

/// `POST /v1/status-checks` → 202
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusCheckCreated {
    pub id: String,
    pub total: i64,
}

/// One user's result.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResult {
    pub user_id: String,
    /// What happened (`alive_and_usable`, `basic4_changed`, `deceased_or_emigrated`, `card_abolished`,
    /// `card_suspended`, `renewed`, `key_compromised`, `never_delivered`, `unknown`).
    pub finding: String,
    /// What to do (`none`, `request_latest_basic4`, `confirm_death_or_emigration`, `suspend_logins`,
    /// `follow_serial_link`, `ask_for_new_card`, `retry_later`).
    pub action: String,
}

/// `GET /v1/status-checks/{id}`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusCheck {
    pub id: String,
    /// `running`, `done` or `cancelled`.
    pub state: String,
    pub method: String,
    pub done: i64,
    pub total: i64,
    pub results: Vec<StatusResult>,
    /// Pass as `after` for the next page of results, when there may be more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One event of the feed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: String,
    /// `user.basic4_changed`, `user.deceased_or_emigrated`, `user.card_abolished`,
    /// `user.card_suspended`, `user.renewed`, `user.key_compromised`, `user.alive_confirmed`,
    /// `user.basic4_updated`.
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: String,
    pub at: String,
    pub finding: String,
    pub action: String,
    /// `user.basic4_updated`: the latest 4 attributes fetched from the authority with consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic4: Option<Basic4>,
}

/// `GET /v1/events?after=CURSOR`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The cursor to pass as `after` next time (unchanged when there was nothing new).
    pub next: String,
}

/// `PUT /v1/webhook`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetWebhook {
    /// Where events are POSTed (http or https).
    pub url: String,
}

/// The webhook, with the secret its signatures use (shown when set).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub url: String,
    /// Verify `Honnin-Signature: t=UNIX,v1=HEX` as HMAC-SHA256(secret, "UNIX.BODY").
    pub secret: String,
}

/// A delivery the platform gave up on.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetter {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `GET /v1/webhook/dead-letters`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetters {
    pub dead_letters: Vec<DeadLetter>,
}

/// `POST /v1/status-check-schedules`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    /// `all` (every user, e.g. yearly) or `new_crl_entries` (only users whose certificates newly
    /// appear on the CRL, e.g. daily: cheap, no call per user).
    pub scope: String,
    /// `crl` or `ocsp` for the checks themselves.
    pub method: String,
    /// Seconds between runs (default: a year for `all`, a day for `new_crl_entries`).
    #[serde(default)]
    pub period_seconds: Option<i64>,
    #[serde(default)]
    pub alive_events: bool,
    /// Run once now, too (otherwise the first run is one period from now).
    #[serde(default)]
    pub start_now: bool,
}

/// A schedule.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    pub id: String,
    pub scope: String,
    pub method: String,
    pub period_seconds: i64,
    pub alive_events: bool,
    pub next_run_at: String,
    /// The status check the last run started, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_check: Option<String>,
}

/// `GET /v1/status-check-schedules`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Schedules {
    pub schedules: Vec<Schedule>,
}
