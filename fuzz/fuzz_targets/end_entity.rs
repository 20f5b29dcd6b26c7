//! Any bytes given as a JPKI end-entity certificate: parse or refuse, never panic. And the fast
//! path of `parse_end_entity` against the reference parser: whenever the fast path answers (for the
//! input itself, or for the input spliced into a valid signing or authentication certificate), the
//! reference must give the same certificate.
#![no_main]
use std::sync::OnceLock;

use honnin_profile::build::{build_auth, build_root, build_signing, EndEntitySpec, Issuer, RootSpec, SigningSpec};
use honnin_profile::parse::{parse_end_entity_fast, parse_end_entity_reference};
use honnin_profile::{Basic4, CaCertificate, Environment, Hierarchy, RsaKey, Serial, Sex};
use time::macros::{date, datetime};

/// A signing and an authentication certificate, made once.
fn certificates() -> &'static [Vec<u8>; 2] {
    static C: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    C.get_or_init(|| {
        let holder = RsaKey::generate().expect("key");
        let ee = EndEntitySpec {
            serial: Serial::from_u64(0x0100_0000_0000_0001),
            not_before: datetime!(2026-01-01 00:00 UTC),
            not_after: datetime!(2030-01-01 00:00 UTC),
            public_key_pkcs1: holder.public_key_pkcs1().to_vec(),
            prefecture: "Tokyo-to".into(),
            municipality: "Kiyose-shi".into(),
        };
        let issue = |hierarchy: Hierarchy| {
            let key = RsaKey::generate().expect("key");
            let spec = RootSpec {
                environment: Environment::Sandbox,
                hierarchy,
                serial: Serial::from_u64(1),
                not_before: datetime!(2020-01-01 00:00 UTC),
                not_after: datetime!(2035-01-01 00:00 UTC),
            };
            let root = CaCertificate::from_der(&build_root(&spec, &key).expect("root")).expect("root");
            let issuer = Issuer {
                certificate: &root,
                key: &key,
            };
            match hierarchy {
                Hierarchy::Signing => build_signing(
                    &issuer,
                    &SigningSpec {
                        common: ee.clone(),
                        issuance_id: "2026010100000000001ABCDEFGHI".into(),
                        basic4: Basic4::from_register("山田　花子", "東京都清瀬市", date!(1990 - 01 - 02), Sex::Female)
                            .expect("attributes"),
                    },
                ),
                Hierarchy::Authentication => build_auth(&issuer, &ee, "ID"),
            }
            .expect("certificate")
        };
        [issue(Hierarchy::Signing), issue(Hierarchy::Authentication)]
    })
}

fn agree(der: &[u8]) {
    let reference = parse_end_entity_reference(der);
    if let Some(fast) = parse_end_entity_fast(der) {
        assert_eq!(
            reference.ok(),
            Some(fast),
            "the fast path accepted what the reference did not, or differs"
        );
    }
    let _ = honnin_profile::signed_parts(der);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    agree(data);
    if let [a, b, rest @ ..] = data {
        let cert = &certificates()[usize::from(*a & 1)];
        let mut der = cert.clone();
        let pos = (usize::from(*a >> 2) << 8 | usize::from(*b)) % der.len();
        if *a & 2 == 0 {
            let end = (pos + rest.len()).min(der.len());
            der[pos..end].copy_from_slice(&rest[..end - pos]);
        } else {
            der.splice(pos..pos, rest.iter().copied());
        }
        agree(&der);
    }
});
