//! Trust profiles and certificate validation.

use std::sync::Arc;

use honnin_profile::{
    certificates_from_pem_or_der, parse_end_entity, trust, CaCertificate, EndEntity, Environment, Hierarchy,
    ProfileError,
};
use time::OffsetDateTime;

use crate::VerifyError;

/// The roots a verifier trusts, all of one environment.
#[derive(Clone, Debug)]
pub struct TrustProfile {
    environment: Environment,
    roots: Vec<CaCertificate>,
    /// The roots again, shared: a validated certificate points at its issuer without copying it.
    shared: Vec<Arc<CaCertificate>>,
}

/// A certificate that chains to the profile and is valid at the time checked.
#[derive(Clone, Debug)]
pub struct Validated {
    pub certificate: EndEntity,
    /// The root generation that issued it.
    pub issuer: Arc<CaCertificate>,
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
        Ok(Self::new(Environment::Production, roots))
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
        Ok(Self::new(Environment::Sandbox, roots))
    }

    fn new(environment: Environment, roots: Vec<CaCertificate>) -> Self {
        let shared = roots.iter().cloned().map(Arc::new).collect();
        TrustProfile {
            environment,
            roots,
            shared,
        }
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
        honnin_profile::find_issuer(der, &self.roots)
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
        // The issuer: a root of the right hierarchy, name and key identifier whose key verifies the
        // signature. Never by name alone: every generation has the same DN.
        let mut named = false;
        let mut issuer = None;
        for root in self
            .shared
            .iter()
            .filter(|r| r.hierarchy == certificate.hierarchy() && r.subject == info.issuer)
        {
            if info
                .authority_key_id
                .as_ref()
                .is_some_and(|k| *k != root.key_identifier)
            {
                continue;
            }
            named = true;
            if root.verify_issued(der).is_ok() {
                issuer = Some(Arc::clone(root));
                break;
            }
        }
        // A root with the right name and key identifier that does not verify the signature means a
        // forged or damaged certificate, not an unknown issuer.
        let issuer = issuer.ok_or(if named {
            VerifyError::BadSignature
        } else {
            VerifyError::UntrustedIssuer
        })?;
        if at < info.not_before {
            return Err(VerifyError::NotYetValid(info.not_before));
        }
        if at > info.not_after {
            return Err(VerifyError::Expired(info.not_after));
        }
        if at < issuer.not_before || at > issuer.not_after {
            return Err(VerifyError::IssuerNotValid);
        }
        let public_key = info.public_key.clone();
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
