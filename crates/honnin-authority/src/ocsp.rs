//! The RFC 6960 OCSP responder: one delegated responder per CA, picked by the request's issuer hashes.
//!
//! Requests with a nonce are signed fresh and echo it. Requests without one are answered from a
//! cache of pre-signed responses; a cached response is re-signed as soon as the certificate's status
//! differs from the one it was signed for (status is read from the database on every request, so
//! events recorded by other processes show at once), or when it is half-way to its nextUpdate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{DateTime, Decode, Encode};
use honnin_profile::key::{key_identifier, sha256_with_rsa};
use honnin_profile::{CaCertificate, Hierarchy, RsaKey};
use time::OffsetDateTime;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId, ResponseData,
    RevokedInfo, SingleResponse, Version,
};

use crate::store::CertificateStatus;
use crate::verifiers::{CallResult, NewCall, VerifierService};
use crate::{Authority, AuthorityError};

/// How long a response is valid (nextUpdate − thisUpdate).
pub const RESPONSE_VALIDITY: time::Duration = time::Duration::hours(24);
/// Pre-signed responses are re-signed after this age even if nothing changed.
const PRESIGNED_REFRESH: time::Duration = time::Duration::hours(12);
/// Bound on the pre-signed cache; it is cleared when full (it refills on demand).
const PRESIGNED_CAPACITY: usize = 200_000;

/// One CA's responder: its key, certificate and the hashes a CertID may name it by.
struct ResponderKeys {
    hierarchy: Hierarchy,
    certificate: Certificate,
    key: RsaKey,
    key_hash: Vec<u8>,
    /// How a CertID may name this CA, for SHA-1 and SHA-256.
    issuer_hashes: Vec<IssuerHash>,
}

/// (hash algorithm OID, issuerNameHash, issuerKeyHash).
type IssuerHash = (der::asn1::ObjectIdentifier, Vec<u8>, Vec<u8>);

struct Presigned {
    status: Option<CertificateStatus>,
    produced: OffsetDateTime,
    der: Arc<Vec<u8>>,
}

/// The OCSP responder for both CAs of an authority.
pub struct Responder {
    authority: Authority,
    keys: Vec<ResponderKeys>,
    presigned: Mutex<HashMap<Vec<u8>, Presigned>>,
}

fn digest(alg: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
}

fn issuer_hashes(ca: &CaCertificate) -> Result<Vec<IssuerHash>, AuthorityError> {
    let name = ca.subject.to_der()?;
    let mut out = Vec::new();
    for (oid, alg) in [
        (honnin_profile::oid::SHA1, &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
        (honnin_profile::oid::SHA256, &aws_lc_rs::digest::SHA256),
    ] {
        out.push((oid, digest(alg, &name), digest(alg, &ca.public_key)));
    }
    Ok(out)
}

fn generalized(t: OffsetDateTime) -> Result<OcspGeneralizedTime, AuthorityError> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| AuthorityError::BadInput("time before 1970".into()))?;
    let dt = DateTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_date_time(dt)))
}

/// An `internalError` OCSP response, for when an answer must not be given.
pub(crate) fn internal_error_response() -> Vec<u8> {
    error_response(OcspResponse::internal_error())
}

fn error_response(r: OcspResponse) -> Vec<u8> {
    // A status-only OCSPResponse always encodes.
    r.to_der().unwrap_or_else(|_| vec![0x30, 0x03, 0x0A, 0x01, 0x02])
}

impl Responder {
    /// Loads the active responder of each hierarchy.
    pub async fn new(authority: Authority) -> Result<Self, AuthorityError> {
        let mut keys = Vec::new();
        for h in Hierarchy::ALL {
            let ca = authority.ca(h).await?;
            let certificate = Certificate::from_der(&ca.responder_certificate)?;
            let key_hash = key_identifier(
                certificate
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            );
            keys.push(ResponderKeys {
                hierarchy: h,
                issuer_hashes: issuer_hashes(&ca.certificate)?,
                certificate,
                key: ca.responder_key,
                key_hash,
            });
        }
        Ok(Responder {
            authority,
            keys,
            presigned: Mutex::new(HashMap::new()),
        })
    }

    fn responder_for(&self, id: &CertId) -> Option<&ResponderKeys> {
        self.keys.iter().find(|k| {
            k.issuer_hashes.iter().any(|(alg, name, key)| {
                *alg == id.hash_algorithm.oid
                    && name.as_slice() == id.issuer_name_hash.as_bytes()
                    && key.as_slice() == id.issuer_key_hash.as_bytes()
            })
        })
    }

    /// Answers one DER `OCSPRequest` with a DER `OCSPResponse`. Never fails: a bad request gets
    /// `malformedRequest`, a CA this responder does not serve `unauthorized`, a database failure
    /// `internalError` (so a client's answer is "unknown", never "good").
    pub async fn respond(&self, request: &[u8], now: OffsetDateTime) -> Vec<u8> {
        self.answer(request, now).await.0
    }

    /// Like [`Responder::respond`], and also says what was asked and answered: one call per
    /// certificate of the request (hierarchy from the CertID's issuer hashes, serial, status), or
    /// one `malformed` call for a request that does not parse.
    pub(crate) async fn answer(&self, request: &[u8], now: OffsetDateTime) -> (Vec<u8>, Vec<NewCall>) {
        let mut calls = Vec::new();
        let der = match self.try_respond(request, now, &mut calls).await {
            Ok(der) => return (der, calls),
            Err(RespondError::Malformed) => {
                calls.clear();
                calls.push(NewCall {
                    service: VerifierService::Ocsp,
                    hierarchy: None,
                    serial: None,
                    linked_serial: None,
                    result: CallResult::Malformed,
                });
                error_response(OcspResponse::malformed_request())
            }
            Err(RespondError::Unauthorized) => {
                calls.iter_mut().for_each(|c| c.result = CallResult::Unauthorized);
                error_response(OcspResponse::unauthorized())
            }
            Err(RespondError::Internal(e)) => {
                tracing::error!(error = %e, "OCSP responder failed");
                calls.iter_mut().for_each(|c| c.result = CallResult::Error);
                error_response(OcspResponse::internal_error())
            }
        };
        (der, calls)
    }

    async fn try_respond(
        &self,
        request: &[u8],
        now: OffsetDateTime,
        calls: &mut Vec<NewCall>,
    ) -> Result<Vec<u8>, RespondError> {
        let req = OcspRequest::from_der(request).map_err(|_| RespondError::Malformed)?;
        let list = &req.tbs_request.request_list;
        if list.is_empty() {
            return Err(RespondError::Malformed);
        }
        calls.extend(list.iter().map(|r| NewCall {
            service: VerifierService::Ocsp,
            hierarchy: self.responder_for(&r.req_cert).map(|k| k.hierarchy),
            serial: honnin_profile::Serial::from_be_bytes(r.req_cert.serial_number.as_bytes()).to_u64(),
            linked_serial: None,
            result: CallResult::Error,
        }));
        // One responder signs the whole response, so every CertID must name the same CA.
        let keys = self
            .responder_for(&list[0].req_cert)
            .ok_or(RespondError::Unauthorized)?;
        if list
            .iter()
            .any(|r| self.responder_for(&r.req_cert).map(|k| k.hierarchy) != Some(keys.hierarchy))
        {
            return Err(RespondError::Unauthorized);
        }
        let nonce: Option<Extension> = req.tbs_request.request_extensions.as_ref().and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id == honnin_profile::oid::OCSP_NONCE)
                .cloned()
        });
        let mut statuses = Vec::with_capacity(list.len());
        for r in list {
            let serial = honnin_profile::Serial::from_be_bytes(r.req_cert.serial_number.as_bytes());
            let status = match serial.to_u64() {
                Some(s) => self
                    .authority
                    .certificate_status(keys.hierarchy, s)
                    .await
                    .map_err(RespondError::Internal)?,
                None => None,
            };
            statuses.push(status);
        }
        for (call, status) in calls.iter_mut().zip(&statuses) {
            call.result = match status {
                None => CallResult::Unknown,
                Some(CertificateStatus::Good) => CallResult::Good,
                Some(CertificateStatus::Revoked { .. }) => CallResult::Revoked,
            };
        }

        let cache_key = match (&nonce, list.len()) {
            (None, 1) => Some(list[0].req_cert.to_der().map_err(|_| RespondError::Malformed)?),
            _ => None,
        };
        if let Some(k) = &cache_key {
            if let Ok(cache) = self.presigned.lock() {
                if let Some(p) = cache.get(k) {
                    if p.status == statuses[0] && now - p.produced < PRESIGNED_REFRESH && now >= p.produced {
                        return Ok(p.der.as_ref().clone());
                    }
                }
            }
        }
        let der = self.sign(
            keys,
            list.iter().map(|r| &r.req_cert).zip(statuses.iter().copied()),
            nonce,
            now,
        )?;
        if let Some(k) = cache_key {
            if let Ok(mut cache) = self.presigned.lock() {
                if cache.len() >= PRESIGNED_CAPACITY {
                    cache.clear();
                }
                cache.insert(
                    k,
                    Presigned {
                        status: statuses[0],
                        produced: now,
                        der: Arc::new(der.clone()),
                    },
                );
            }
        }
        Ok(der)
    }

    fn sign<'a>(
        &self,
        keys: &ResponderKeys,
        answers: impl Iterator<Item = (&'a CertId, Option<CertificateStatus>)>,
        nonce: Option<Extension>,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, RespondError> {
        let internal = |e: AuthorityError| RespondError::Internal(e);
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let this_update = generalized(now).map_err(internal)?;
        let next_update = generalized(now + RESPONSE_VALIDITY).map_err(internal)?;
        let mut responses = Vec::new();
        for (id, status) in answers {
            let cert_status = match status {
                None => CertStatus::unknown(),
                Some(CertificateStatus::Good) => CertStatus::good(),
                Some(CertificateStatus::Revoked { at, reason }) => CertStatus::revoked(RevokedInfo {
                    revocation_time: generalized(at).map_err(internal)?,
                    revocation_reason: crl_reason(reason.code()),
                }),
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update,
                next_update: Some(next_update),
                single_extensions: None,
            });
        }
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(keys.key_hash.clone()).map_err(|e| internal(e.into()))?),
            produced_at: this_update,
            responses,
            response_extensions: nonce.map(|n| vec![n]),
        };
        let tbs = data.to_der().map_err(|e| internal(e.into()))?;
        let signature = keys.key.sign_sha256(&tbs).map_err(|e| internal(e.into()))?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: sha256_with_rsa(),
            signature: BitString::from_bytes(&signature).map_err(|e| internal(e.into()))?,
            certs: Some(vec![keys.certificate.clone()]),
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(|e| internal(e.into()))
    }
}

fn crl_reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        0 => CrlReason::Unspecified,
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        _ => return None,
    })
}

enum RespondError {
    Malformed,
    Unauthorized,
    Internal(AuthorityError),
}
