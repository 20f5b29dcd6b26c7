use honnin_profile::{Environment, Hierarchy, ProfileError};
use time::OffsetDateTime;

/// Why a certificate, signature, CRL or OCSP response was not accepted. Every variant is a distinct
/// reason a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("malformed input: {0}")]
    Malformed(String),
    #[error("not a JPKI certificate: {0}")]
    NotJpki(ProfileError),
    #[error("the certificate expired at {0}")]
    Expired(OffsetDateTime),
    #[error("the certificate is not valid before {0}")]
    NotYetValid(OffsetDateTime),
    #[error("a {found:?} certificate cannot be accepted under the {expected:?} trust profile")]
    WrongPolicy { expected: Environment, found: Environment },
    #[error("expected a {expected:?} certificate, got a {found:?} one")]
    WrongKind { expected: Hierarchy, found: Hierarchy },
    #[error("no root of the trust profile issued this certificate")]
    UntrustedIssuer,
    #[error("the issuing root is outside its validity at the time checked")]
    IssuerNotValid,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("signature algorithm {0} is not allowed")]
    UnsupportedAlgorithm(String),
    #[error("the CMS content is missing (pass the detached content)")]
    MissingContent,
    #[error("the CMS messageDigest does not match the content")]
    ContentMismatch,
    #[error("the CMS contentType attribute does not match the content type")]
    ContentTypeMismatch,
    #[error("the CMS signer's certificate is not in the message")]
    SignerCertificateMissing,
    #[error("the CMS message has {0} signers; exactly one is supported")]
    SignerCount(usize),
    #[error("the CRL is not from a root of the trust profile")]
    CrlUnknownIssuer,
    #[error("the CRL's thisUpdate {0} is in the future")]
    CrlNotYetValid(OffsetDateTime),
    #[error("the OCSP responder answered {0}")]
    OcspRefused(&'static str),
    #[error("the OCSP response is not signed by the CA or a responder it authorised: {0}")]
    OcspUnauthorizedSigner(String),
    #[error("the OCSP response does not answer for this certificate")]
    OcspNoMatchingResponse,
    #[error("the OCSP response's nonce does not match the request's (a replay?)")]
    OcspNonceMismatch,
    #[error("the OCSP response is outside its freshness window: {0}")]
    OcspStale(String),
}

impl From<der::Error> for VerifyError {
    fn from(e: der::Error) -> Self {
        VerifyError::Malformed(e.to_string())
    }
}
