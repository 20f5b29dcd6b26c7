//! The JSON bodies of consents (本人同意) and age checks (年齢判定); re-exported by [`crate::wire`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use honnin_authority_client::{ConsentScope, ConsentStatement};

/// `POST /v1/users/{id}/consents`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConsent {
    /// What the holder is asked to consent to: `basic4` (the latest 4 attributes after a move or
    /// marriage, 最新の基本4情報の提供).
    pub scope: String,
    /// How long the holder has to sign, in seconds (default: the platform's flow TTL; at most 1800,
    /// as the authority accepts a statement only shortly after it was signed).
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

/// A consent as the service provider sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Consent {
    pub id: String,
    pub user_id: String,
    pub scope: String,
    /// `pending` (the holder has not signed), `given` (live), `refused` (the signature or the
    /// authority refused it; see `reason`), `expired`, `withdrawn`.
    pub state: String,
    /// Only when the consent was created: where the holder's client signs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
}

/// `GET /v1/users/{id}/consents`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Consents {
    pub consents: Vec<Consent>,
}

/// `POST {client_url}` for a consent: the holder's [`ConsentStatement`] and its detached CMS
/// signature made with the signing certificate.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedConsent {
    /// The statement's exact bytes (UTF-8 JSON), base64.
    pub statement: String,
    /// DER `ContentInfo { SignedData }` over `statement`, detached, base64.
    pub cms: String,
}

/// `POST /v1/age-checks`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgeCheck {
    /// "Is the holder this old or older?", in whole years (0–150).
    pub threshold: u8,
    /// `true`: the holder enters the 4-digit PIN and the card proves possession of the auth key;
    /// `false`: the auth certificate is read from the card without a PIN (a card touch).
    pub pin: bool,
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

/// `POST /v1/age-checks` → 201
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgeCheckCreated {
    pub id: String,
    /// Where the holder's client (the terminal with the card reader) completes the check.
    pub client_url: String,
    pub expires_at: String,
}

/// The answer of an age check. Never the birth date.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgeCheckResult {
    /// `null` unless the certificate is valid.
    pub over: Option<bool>,
    /// The auth certificate at the authority: `valid`, `invalid` (expired, revoked) or `unknown`.
    pub validity: String,
    /// `pin` (possession of the auth key proven with the PIN) or `card_read` (the certificate read
    /// without a PIN: proves a card was presented, not who holds it).
    pub method: String,
    pub threshold: u8,
    pub checked_at: String,
}

/// `GET /v1/age-checks/{id}`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AgeCheck {
    pub id: String,
    /// `pending`, `done`, `rejected` (the proof or certificate did not verify; see `reason`) or
    /// `expired`.
    pub state: String,
    pub threshold: u8,
    pub pin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<AgeCheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// `POST {client_url}` for an age check without PIN.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardCertificate {
    /// The auth certificate as read from the card, base64 DER.
    pub certificate: String,
}
