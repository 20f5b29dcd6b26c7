//! The *production* trust profile: J-LIS's real roots, all published generations, built in.
//!
//! These are public data (J-LIS publishes them for anyone to download). More generations can be
//! added by configuration without a rebuild; see [`production_roots_with`].

use crate::{certificates_from_pem_or_der, CaCertificate, Environment, ProfileError};

/// PEM texts of the built-in production roots, signing 2015 and 2023, authentication 2015 and 2023.
pub const PRODUCTION_ROOT_PEMS: [&str; 4] = [
    include_str!("../trust/production/jpki_sign_ca_2015.pem"),
    include_str!("../trust/production/jpki_sign_ca_2023.pem"),
    include_str!("../trust/production/jpki_auth_ca_2015.pem"),
    include_str!("../trust/production/jpki_auth_ca_2023.pem"),
];

/// The built-in production roots.
pub fn production_roots() -> Result<Vec<CaCertificate>, ProfileError> {
    production_roots_with(&[])
}

/// The built-in production roots plus `extra` (DER or PEM), each of which must be a production
/// JPKI root: a sandbox root is refused here, so the two profiles cannot be mixed.
pub fn production_roots_with(extra: &[&[u8]]) -> Result<Vec<CaCertificate>, ProfileError> {
    let mut roots = Vec::new();
    let built_in = PRODUCTION_ROOT_PEMS.iter().map(|p| p.as_bytes());
    for input in built_in.chain(extra.iter().copied()) {
        for der in certificates_from_pem_or_der(input)? {
            let ca = CaCertificate::from_der(&der)?;
            if ca.environment != Environment::Production {
                return Err(ProfileError::NotJpkiRoot(
                    "a sandbox (JPKI-TEST) root in the production profile".into(),
                ));
            }
            if !roots.iter().any(|r: &CaCertificate| r.der == ca.der) {
                roots.push(ca);
            }
        }
    }
    Ok(roots)
}
