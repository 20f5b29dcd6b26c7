//! Trust profiles and certificate validation.

use honnin_profile::{
    certificates_from_pem_or_der, find_issuer, parse_end_entity, trust, CaCertificate, EndEntity, Environment,
    Hierarchy, ProfileError,
};
use time::OffsetDateTime;

use crate::VerifyError;

/// The roots a verifier trusts, all of one environment.
#[derive(Clone, Debug)]
pub struct TrustProfile {
    environment: Environment,
    roots: Vec<CaCertificate>,
}

/// A certificate that chains to the profile and is valid at the time checked.
#[derive(Clone, Debug)]
pub struct Validated {
    pub certificate: EndEntity,
    /// The root generation that issued it.
    pub issuer: CaCertificate,
    /// The certificate's public key, PKCS#1 DER.
    pub public_key: Vec<u8>,
    pub der: Vec<u8>,
}

impl Validated {
    pub fn hierarchy(&self) -> Hierarchy {
        self.certificate.hierarchy()
    }
}

fn not_jpki(e: ProfileError) -> VerifyError {
    match e {
        ProfileError::Der(e) => VerifyError::Malformed(e.to_string()),
        ProfileError::UnsupportedSignatureAlgorithm(a) => VerifyError::UnsupportedAlgorithm(a),
        other => VerifyError::NotJpki(other),
    }
}

impl TrustProfile {
    /// The production profile: J-LIS's real roots, built in.
    pub fn production() -> Result<Self, VerifyError> {
        Self::production_with(&[])
    }

    /// The production profile plus more production roots (PEM or DER), e.g. a generation published
    /// after this build.
    pub fn production_with(extra: &[&[u8]]) -> Result<Self, VerifyError> {
        let roots = trust::production_roots_with(extra).map_err(not_jpki)?;
        Ok(TrustProfile {
            environment: Environment::Production,
            roots,
        })
    }

    /// The sandbox profile: the roots of a sandbox authority (`honnin authority ca export`), PEM or DER.
    /// A production root is refused here.
    pub fn sandbox(anchors: &[&[u8]]) -> Result<Self, VerifyError> {
        let mut roots = Vec::new();
        for input in anchors {
            for der in certificates_from_pem_or_der(input).map_err(not_jpki)? {
                let root = CaCertificate::from_der(&der).map_err(not_jpki)?;
                if root.environment != Environment::Sandbox {
                    return Err(VerifyError::WrongPolicy {
                        expected: Environment::Sandbox,
                        found: root.environment,
                    });
                }
                roots.push(root);
            }
        }
        if roots.is_empty() {
            return Err(VerifyError::Malformed("no trust anchor given".into()));
        }
        Ok(TrustProfile {
            environment: Environment::Sandbox,
            roots,
        })
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    pub fn roots(&self) -> &[CaCertificate] {
        &self.roots
    }

    /// The root generation whose key signed `der` (a certificate or a CRL), by key identifier and
    /// signature.
    pub fn issuer_of(&self, der: &[u8]) -> Option<&CaCertificate> {
        find_issuer(der, &self.roots)
    }

    /// Validates an end-entity certificate at `at`: JPKI profile, the profile's environment (policy
    /// OIDs), a chain to one of the roots by key identifier and signature, and validity.
    pub fn validate(&self, der: &[u8], at: OffsetDateTime) -> Result<Validated, VerifyError> {
        let certificate = parse_end_entity(der).map_err(not_jpki)?;
        let info = certificate.info();
        if info.environment != self.environment {
            return Err(VerifyError::WrongPolicy {
                expected: self.environment,
                found: info.environment,
            });
        }
        let candidates: Vec<CaCertificate> = self
            .roots
            .iter()
            .filter(|r| r.hierarchy == certificate.hierarchy())
            .cloned()
            .collect();
        let issuer = match find_issuer(der, &candidates) {
            Some(i) => i.clone(),
            None => {
                // A root with the right name and key identifier that does not verify the signature
                // means a forged or damaged certificate, not an unknown issuer.
                let named = candidates.iter().any(|r| {
                    r.subject == info.issuer && info.authority_key_id.as_ref().is_none_or(|k| *k == r.key_identifier)
                });
                return Err(if named {
                    VerifyError::BadSignature
                } else {
                    VerifyError::UntrustedIssuer
                });
            }
        };
        if at < info.not_before {
            return Err(VerifyError::NotYetValid(info.not_before));
        }
        if at > info.not_after {
            return Err(VerifyError::Expired(info.not_after));
        }
        if at < issuer.not_before || at > issuer.not_after {
            return Err(VerifyError::IssuerNotValid);
        }
        let public_key = public_key_of(der)?;
        Ok(Validated {
            certificate,
            issuer,
            public_key,
            der: der.to_vec(),
        })
    }

    /// Validates and requires a certificate of one hierarchy.
    pub fn validate_kind(&self, der: &[u8], kind: Hierarchy, at: OffsetDateTime) -> Result<Validated, VerifyError> {
        let v = self.validate(der, at)?;
        if v.hierarchy() != kind {
            return Err(VerifyError::WrongKind {
                expected: kind,
                found: v.hierarchy(),
            });
        }
        Ok(v)
    }
}

/// The PKCS#1 public key of a certificate.
pub(crate) fn public_key_of(der: &[u8]) -> Result<Vec<u8>, VerifyError> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der)?;
    Ok(cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec())
}
