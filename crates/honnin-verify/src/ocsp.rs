//! OCSP (RFC 6960) from the client's side: build a request with a nonce, and verify the response —
//! signed by the CA itself or by a responder the CA authorised (id-kp-OCSPSigning), answering for
//! this certificate, with our nonce, inside its freshness window. Pure: the caller does the HTTP.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use honnin_profile::key::{key_identifier, verify_rsa_pkcs1};
use honnin_profile::{oid, RevocationReason};
use time::{Duration, OffsetDateTime};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request, ResponderId,
    TbsRequest, Version,
};

use crate::{RevocationStatus, StatusSource, Validated, VerifyError};

/// How much clock difference to tolerate between us and the responder.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::minutes(5);
/// How old a response without nextUpdate may be.
pub const DEFAULT_MAX_AGE: Duration = Duration::hours(24);

/// A request ready to send, and what the response must match.
#[derive(Clone, Debug)]
pub struct PreparedRequest {
    pub der: Vec<u8>,
    cert_id: CertId,
    nonce: Option<Vec<u8>>,
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

/// Builds a request for a validated certificate, with a 32-byte random nonce unless `nonce` is false.
/// The CertID uses SHA-1, which every responder understands (it identifies, it does not protect).
pub fn request(certificate: &Validated, nonce: bool) -> Result<PreparedRequest, VerifyError> {
    let issuer = &certificate.issuer;
    let cert_id = CertId {
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            oid: oid::SHA1,
            parameters: Some(der::Any::null()),
        },
        issuer_name_hash: OctetString::new(sha1(&issuer.subject.to_der()?))?,
        issuer_key_hash: OctetString::new(sha1(&issuer.public_key))?,
        serial_number: SerialNumber::new(certificate.certificate.info().serial.as_bytes())?,
    };
    let nonce = if nonce {
        let mut n = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut n).map_err(|_| VerifyError::Malformed("no randomness for the nonce".into()))?;
        Some(n)
    } else {
        None
    };
    let request_extensions = match &nonce {
        Some(n) => Some(vec![Extension {
            extn_id: oid::OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n.clone())?.to_der()?)?,
        }]),
        None => None,
    };
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id.clone(),
                single_request_extensions: None,
            }],
            request_extensions,
        },
        optional_signature: None,
    };
    Ok(PreparedRequest {
        der: req.to_der()?,
        cert_id,
        nonce,
    })
}

impl PreparedRequest {
    /// Reads back a request this module built (kept as evidence), to re-verify its response later.
    pub fn from_der(der: &[u8]) -> Result<Self, VerifyError> {
        let req = OcspRequest::from_der(der)?;
        let [single] = req.tbs_request.request_list.as_slice() else {
            return Err(VerifyError::Malformed(
                "the OCSP request is not for exactly one certificate".into(),
            ));
        };
        let nonce = req
            .tbs_request
            .request_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid::OCSP_NONCE)
            .map(|e| OctetString::from_der(e.extn_value.as_bytes()).map(|n| n.as_bytes().to_vec()))
            .transpose()?;
        Ok(PreparedRequest {
            der: der.to_vec(),
            cert_id: single.req_cert.clone(),
            nonce,
        })
    }
}

/// Freshness rules for responses.
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    pub clock_skew: Duration,
    pub max_age: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            clock_skew: DEFAULT_CLOCK_SKEW,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

fn gt(t: &x509_ocsp::OcspGeneralizedTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.0.to_unix_duration().as_secs() as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn same_cert_id(a: &CertId, b: &CertId) -> bool {
    a.hash_algorithm.oid == b.hash_algorithm.oid
        && a.issuer_name_hash == b.issuer_name_hash
        && a.issuer_key_hash == b.issuer_key_hash
        && a.serial_number == b.serial_number
}

/// Verifies a DER OCSP response to `request` for `certificate`, and maps it to a status.
/// Errors say why the response cannot be trusted; a caller turns them into `Unknown`.
pub fn verify_response(
    certificate: &Validated,
    request: &PreparedRequest,
    response: &[u8],
    at: OffsetDateTime,
    freshness: Freshness,
) -> Result<RevocationStatus, VerifyError> {
    let resp = OcspResponse::from_der(response)?;
    let status_name = match resp.response_status {
        OcspResponseStatus::Successful => None,
        OcspResponseStatus::MalformedRequest => Some("malformedRequest"),
        OcspResponseStatus::InternalError => Some("internalError"),
        OcspResponseStatus::TryLater => Some("tryLater"),
        OcspResponseStatus::SigRequired => Some("sigRequired"),
        OcspResponseStatus::Unauthorized => Some("unauthorized"),
    };
    if let Some(name) = status_name {
        return Err(VerifyError::OcspRefused(name));
    }
    let bytes = resp
        .response_bytes
        .ok_or_else(|| VerifyError::Malformed("OCSP: no response bytes".into()))?;
    if bytes.response_type != oid::OCSP_BASIC {
        return Err(VerifyError::Malformed("OCSP: not a basic response".into()));
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())?;
    let tbs = basic.tbs_response_data.to_der()?;
    let signature = basic
        .signature
        .as_bytes()
        .ok_or_else(|| VerifyError::Malformed("OCSP: signature bits".into()))?;
    let ca = &certificate.issuer;

    // Who signed: the CA itself, or a delegated responder certificate the CA issued.
    let names_ca = match &basic.tbs_response_data.responder_id {
        ResponderId::ByName(n) => *n == ca.subject,
        ResponderId::ByKey(k) => k.as_bytes() == key_identifier(&ca.public_key).as_slice(),
    };
    let signer_key = if names_ca {
        ca.public_key.clone()
    } else {
        let certs = basic.certs.as_deref().unwrap_or(&[]);
        let responder = certs
            .iter()
            .find(|c| match &basic.tbs_response_data.responder_id {
                ResponderId::ByName(n) => c.tbs_certificate.subject == *n,
                ResponderId::ByKey(k) => {
                    k.as_bytes()
                        == key_identifier(c.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes())
                            .as_slice()
                }
            })
            .ok_or_else(|| {
                VerifyError::OcspUnauthorizedSigner("the responder's certificate is not in the response".into())
            })?;
        check_delegated(responder, ca, at)?;
        responder
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec()
    };
    verify_rsa_pkcs1(&basic.signature_algorithm.oid, &signer_key, &tbs, signature)
        .map_err(|_| VerifyError::BadSignature)?;

    // Our nonce, echoed: without it a recorded answer could be replayed.
    if let Some(sent) = &request.nonce {
        let echoed = basic
            .tbs_response_data
            .response_extensions
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .find(|e| e.extn_id == oid::OCSP_NONCE)
            .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok());
        if echoed.as_ref().map(|o| o.as_bytes()) != Some(sent.as_slice()) {
            return Err(VerifyError::OcspNonceMismatch);
        }
    }
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| same_cert_id(&r.cert_id, &request.cert_id))
        .ok_or(VerifyError::OcspNoMatchingResponse)?;
    let this_update = gt(&single.this_update);
    if this_update > at + freshness.clock_skew {
        return Err(VerifyError::OcspStale(format!(
            "thisUpdate {this_update} is in the future"
        )));
    }
    match &single.next_update {
        Some(next) if gt(next) < at - freshness.clock_skew => {
            return Err(VerifyError::OcspStale(format!("nextUpdate {} has passed", gt(next))));
        }
        None if this_update < at - freshness.max_age => {
            return Err(VerifyError::OcspStale(format!(
                "thisUpdate {this_update} is older than allowed"
            )));
        }
        _ => {}
    }
    Ok(match &single.cert_status {
        CertStatus::Good(_) => RevocationStatus::Good {
            source: StatusSource::Ocsp,
            checked_at: this_update,
        },
        CertStatus::Revoked(info) => RevocationStatus::Revoked {
            source: StatusSource::Ocsp,
            reason: info
                .revocation_reason
                .and_then(|r| RevocationReason::from_code(r as u8))
                .unwrap_or(RevocationReason::Unspecified),
            revoked_at: gt(&info.revocation_time),
        },
        CertStatus::Unknown(_) => RevocationStatus::unknown("the responder does not know the certificate"),
    })
}

/// A delegated responder must be issued by the CA, carry id-kp-OCSPSigning, and be valid now.
fn check_delegated(
    responder: &Certificate,
    ca: &honnin_profile::CaCertificate,
    at: OffsetDateTime,
) -> Result<(), VerifyError> {
    let der = responder.to_der()?;
    ca.verify_issued(&der)
        .map_err(|_| VerifyError::OcspUnauthorizedSigner("the responder certificate is not issued by the CA".into()))?;
    let eku_oid = ObjectIdentifier::new_unwrap("2.5.29.37");
    let has_ocsp_signing = responder
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter(|e| e.extn_id == eku_oid)
        .filter_map(|e| x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&oid::KP_OCSP_SIGNING));
    if !has_ocsp_signing {
        return Err(VerifyError::OcspUnauthorizedSigner(
            "the responder certificate lacks id-kp-OCSPSigning".into(),
        ));
    }
    let v = &responder.tbs_certificate.validity;
    let (nb, na) = (
        honnin_profile::from_x509_time(&v.not_before),
        honnin_profile::from_x509_time(&v.not_after),
    );
    match (nb, na) {
        (Ok(nb), Ok(na)) if nb <= at && at <= na => Ok(()),
        _ => Err(VerifyError::OcspUnauthorizedSigner(
            "the responder certificate is not valid now".into(),
        )),
    }
}

/// Verifies a response and folds every failure into `Unknown` (fail closed): what a status check wants.
pub fn status_from_response(
    certificate: &Validated,
    request: &PreparedRequest,
    response: &[u8],
    at: OffsetDateTime,
    freshness: Freshness,
) -> RevocationStatus {
    verify_response(certificate, request, response, at, freshness)
        .unwrap_or_else(|e| RevocationStatus::unknown(e.to_string()))
}
