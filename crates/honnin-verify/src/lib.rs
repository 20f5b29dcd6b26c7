//! # honnin-verify: the verification core
//!
//! Everything a verifier decides about a JPKI certificate or signature, as a pure library (no network,
//! no database, no clock of its own: every check takes the time to check at):
//!
//! - [`TrustProfile`]: *production* (J-LIS's real roots) or *sandbox* (a sandbox authority's roots),
//!   chosen explicitly; a certificate of one is never accepted under the other.
//! - [`TrustProfile::validate`]: chain, validity, key usage, policy, algorithms → a typed
//!   [`Validated`] signing or authentication certificate, or a [`VerifyError`] saying what is wrong.
//! - [`signature`]: raw PKCS#1 v1.5 over data or a digest, and the Web eID–style login proof;
//!   [`cms`]: CMS `SignedData`, detached or attached, with or without signed attributes.
//! - [`crl::CrlIndex`]: a compact serial → (reason, time) index built in one streaming pass over a
//!   CRL's DER; [`crl::CrlStore`] swaps in a new one without blocking readers. [`ocsp`]: requests
//!   and response verification. Both answer one [`RevocationStatus`], and stale or missing data is
//!   `Unknown`, never `Good`.
//! - [`interpret`]: what a person's signing and auth statuses mean, and what to do.

pub mod cms;
pub mod crl;
mod error;
mod frame;
pub mod interpret;
pub mod ocsp;
pub mod signature;
mod status;
mod trust;

pub use error::VerifyError;
pub use status::{RevocationStatus, StatusSource};
pub use trust::{TrustProfile, Validated};
