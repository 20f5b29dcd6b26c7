//! Round trips through the public API: build sandbox roots and end-entity certificates, compare the
//! roots with J-LIS's real ones field for field, parse everything back, and refuse what is not JPKI.

use der::{Decode, Encode, Tagged};
use honnin_profile::build::{build_auth, build_root, build_signing, EndEntitySpec, Issuer, RootSpec, SigningSpec};
use honnin_profile::names::attributes;
use honnin_profile::trust::production_roots;
use honnin_profile::{
    find_issuer, parse_end_entity, Basic4, CaCertificate, EndEntity, Environment, Era, Hierarchy, ProfileError, RsaKey,
    Serial, Sex,
};
use time::macros::{date, datetime};
use x509_cert::Certificate;

fn sandbox_root(h: Hierarchy, serial: u64) -> (CaCertificate, RsaKey) {
    let key = RsaKey::generate().expect("keygen");
    let spec = RootSpec {
        environment: Environment::Sandbox,
        hierarchy: h,
        serial: Serial::from_u64(serial),
        not_before: datetime!(2026-01-01 00:00 UTC),
        not_after: datetime!(2036-01-01 14:59:59 UTC),
    };
    let der = build_root(&spec, &key).expect("root");
    (CaCertificate::from_der(&der).expect("parse root"), key)
}

fn ee_spec(key: &RsaKey) -> EndEntitySpec {
    EndEntitySpec {
        serial: Serial::from_u64(0x1234_5678_9ABC_DEF0),
        not_before: datetime!(2026-11-21 01:00 UTC),
        not_after: datetime!(2031-05-03 14:59:59 UTC),
        public_key_pkcs1: key.public_key_pkcs1().to_vec(),
        prefecture: "Tokyo-to".into(),
        municipality: "Kiyose-shi".into(),
    }
}

fn real_root(h: Hierarchy) -> CaCertificate {
    production_roots()
        .expect("built-in roots")
        .into_iter()
        .find(|r| r.hierarchy == h && r.not_before.year() == 2023)
        .expect("2023 generation")
}

#[test]
fn production_roots_are_built_in_and_classified() {
    let roots = production_roots().expect("roots parse and self-verify");
    assert_eq!(roots.len(), 4);
    assert!(roots.iter().all(|r| r.environment == Environment::Production));
    assert_eq!(roots.iter().filter(|r| r.hierarchy == Hierarchy::Signing).count(), 2);
    // Generations share one DN but not a key.
    assert_eq!(roots[0].subject, roots[1].subject);
    assert_ne!(roots[0].key_identifier, roots[1].key_identifier);
}

#[test]
fn sandbox_roots_match_the_real_ones_field_for_field_but_o() {
    for h in Hierarchy::ALL {
        let (ours, _) = sandbox_root(h, 0x0700_0001);
        let real = real_root(h);
        let ours_c = Certificate::from_der(&ours.der).expect("der");
        let real_c = Certificate::from_der(&real.der).expect("der");
        // DN: same attributes, same string types, in order; only O differs.
        let (o, r) = (&ours_c.tbs_certificate.subject, &real_c.tbs_certificate.subject);
        assert_eq!(o.0.len(), r.0.len());
        for (a, b) in o.0.iter().zip(r.0.iter()) {
            let (a, b) = (&a.0.as_slice()[0], &b.0.as_slice()[0]);
            assert_eq!(a.oid, b.oid);
            assert_eq!(a.value.tag(), b.value.tag(), "string type of {}", a.oid);
            if a.oid == honnin_profile::oid::ORGANIZATION {
                assert_eq!(a.value.value(), b"JPKI-TEST");
                assert_eq!(b.value.value(), b"JPKI");
            } else {
                assert_eq!(a.value.value(), b.value.value());
            }
        }
        // Extensions: same OIDs, order and criticality; same values except SKI and CRLDP's O.
        let oe = ours_c.tbs_certificate.extensions.as_deref().expect("exts");
        let re = real_c.tbs_certificate.extensions.as_deref().expect("exts");
        let shape = |e: &[x509_cert::ext::Extension]| e.iter().map(|x| (x.extn_id, x.critical)).collect::<Vec<_>>();
        assert_eq!(shape(oe), shape(re));
        for (a, b) in oe.iter().zip(re.iter()) {
            match a.extn_id {
                honnin_profile::oid::EXT_SUBJECT_KEY_ID => {
                    assert_eq!(a.extn_value.as_bytes().len(), b.extn_value.as_bytes().len())
                }
                honnin_profile::oid::EXT_CRL_DISTRIBUTION_POINTS => {
                    // The real CRLDP names the CA's own DN; ours names our own DN.
                    let dn = o.to_der().expect("der");
                    let bytes = a.extn_value.as_bytes();
                    assert!(bytes.windows(dn.len()).any(|w| w == dn.as_slice()), "CRLDP = own DN");
                }
                _ => assert_eq!(a.extn_value, b.extn_value, "extension {}", a.extn_id),
            }
        }
        assert_eq!(ours_c.signature_algorithm, real_c.signature_algorithm);
        assert_eq!(ours.not_after.time(), time::macros::time!(14:59:59));
    }
}

#[test]
fn signing_certificate_round_trip() {
    let (ca, ca_key) = sandbox_root(Hierarchy::Signing, 1);
    let holder = RsaKey::generate().expect("keygen");
    let basic4 = Basic4::from_register(
        "髙山　太郎",
        "東京都清瀬市中里五丁目８４２番地",
        date!(1990 - 01 - 02),
        Sex::Male,
    )
    .expect("attributes");
    let spec = SigningSpec {
        common: ee_spec(&holder),
        issuance_id: "2026112110000000001ABCDEFGHI".into(),
        basic4: basic4.clone(),
    };
    let der = build_signing(
        &Issuer {
            certificate: &ca,
            key: &ca_key,
        },
        &spec,
    )
    .expect("build");
    let EndEntity::Signing(parsed) = parse_end_entity(&der).expect("parse") else {
        panic!("not signing")
    };
    assert_eq!(parsed.basic4, basic4);
    assert_eq!(parsed.basic4.birth_date.era, Era::Heisei);
    assert_eq!(parsed.basic4.birth_date.encoded, "419900102");
    assert_eq!(parsed.basic4.name.positions(), "10000");
    assert_eq!(parsed.info.serial, Serial::from_u64(0x1234_5678_9ABC_DEF0));
    assert_eq!(parsed.info.environment, Environment::Sandbox);
    assert_eq!(parsed.info.not_after, datetime!(2031-05-03 14:59:59 UTC));
    assert_eq!(
        (parsed.prefecture.as_str(), parsed.municipality.as_str()),
        ("Tokyo-to", "Kiyose-shi")
    );
    let part = parsed.info.crl_partition.expect("partition");
    assert_eq!(part.municipality, "Kiyose-shi");
    assert_eq!(
        parsed.info.authority_key_id.as_deref(),
        Some(ca.key_identifier.as_slice())
    );
    ca.verify_issued(&der).expect("signed by the CA");

    // SAN otherNames in the real order: 5.5.1, 5.5.4, 5.5.3, 5.5.5, 5.5.2, 5.5.6.
    let cert = Certificate::from_der(&der).expect("der");
    let exts = cert.tbs_certificate.extensions.expect("exts");
    let ids: Vec<String> = exts.iter().map(|e| e.extn_id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "2.5.29.15",
            "2.5.29.32",
            "2.5.29.17",
            "2.5.29.18",
            "2.5.29.31",
            "2.5.29.35"
        ]
    );
    assert!(exts[0].critical);
    assert_eq!(exts[0].extn_value.as_bytes(), [0x03, 0x02, 0x06, 0xC0]);
    let san = x509_cert::ext::pkix::SubjectAltName::from_der(exts[2].extn_value.as_bytes()).expect("san");
    let order: Vec<String> = san
        .0
        .iter()
        .map(|g| match g {
            x509_cert::ext::pkix::name::GeneralName::OtherName(o) => o.type_id.to_string(),
            _ => "other".into(),
        })
        .collect();
    let expected: Vec<String> = [1, 4, 3, 5, 2, 6]
        .iter()
        .map(|n| format!("1.2.392.200149.8.5.5.{n}"))
        .collect();
    assert_eq!(order, expected);
    // Subject C=JP, L, L, CN with C printable and the rest UTF8.
    let attrs = attributes(&cert.tbs_certificate.subject).expect("attrs");
    assert_eq!(attrs.len(), 4);
    assert_eq!(
        cert.tbs_certificate.subject.0[0].0.as_slice()[0].value.tag(),
        der::Tag::PrintableString
    );
    assert_eq!(
        cert.tbs_certificate.subject.0[1].0.as_slice()[0].value.tag(),
        der::Tag::Utf8String
    );
}

#[test]
fn auth_certificate_round_trip_has_no_personal_data() {
    let (ca, ca_key) = sandbox_root(Hierarchy::Authentication, 2);
    let holder = RsaKey::generate().expect("keygen");
    let der = build_auth(
        &Issuer {
            certificate: &ca,
            key: &ca_key,
        },
        &ee_spec(&holder),
        "997794E9AGCIEG13221003A",
    )
    .expect("build");
    let EndEntity::Authentication(parsed) = parse_end_entity(&der).expect("parse") else {
        panic!("not auth")
    };
    assert_eq!(parsed.id, "997794E9AGCIEG13221003A");
    let cert = Certificate::from_der(&der).expect("der");
    let exts = cert.tbs_certificate.extensions.expect("exts");
    assert!(exts
        .iter()
        .all(|e| e.extn_id != honnin_profile::oid::EXT_SUBJECT_ALT_NAME));
    assert_eq!(exts[0].extn_value.as_bytes(), [0x03, 0x02, 0x07, 0x80]);
    // An auth CA cannot issue a signing certificate.
    let spec = SigningSpec {
        common: ee_spec(&holder),
        issuance_id: "x".into(),
        basic4: Basic4::from_register("山田　花子", "東京都", date!(1990 - 01 - 02), Sex::Female).expect("attrs"),
    };
    assert!(matches!(
        build_signing(
            &Issuer {
                certificate: &ca,
                key: &ca_key
            },
            &spec
        ),
        Err(ProfileError::WrongHierarchy { .. })
    ));
}

#[test]
fn issuer_is_found_by_key_not_by_name() {
    let (gen1, key1) = sandbox_root(Hierarchy::Authentication, 10);
    let (gen2, key2) = sandbox_root(Hierarchy::Authentication, 11);
    assert_eq!(gen1.subject, gen2.subject, "one DN, two generations");
    let holder = RsaKey::generate().expect("keygen");
    let by1 = build_auth(
        &Issuer {
            certificate: &gen1,
            key: &key1,
        },
        &ee_spec(&holder),
        "A",
    )
    .expect("build");
    let by2 = build_auth(
        &Issuer {
            certificate: &gen2,
            key: &key2,
        },
        &ee_spec(&holder),
        "B",
    )
    .expect("build");
    let both = [gen1.clone(), gen2.clone()];
    assert_eq!(find_issuer(&by1, &both).map(|c| &c.der), Some(&gen1.der));
    assert_eq!(find_issuer(&by2, &both).map(|c| &c.der), Some(&gen2.der));
    assert!(
        find_issuer(&by2, std::slice::from_ref(&gen1)).is_none(),
        "same name, wrong key: not the issuer"
    );
    assert!(gen1.verify_issued(&by2).is_err());
}

#[test]
fn non_jpki_certificates_are_refused_with_a_reason() {
    // A root is not an end-entity certificate.
    let real = real_root(Hierarchy::Signing);
    let err = parse_end_entity(&real.der).expect_err("root is not EE");
    assert!(
        matches!(err, ProfileError::MissingExtension("certificatePolicies")),
        "{err}"
    );
    // Garbage.
    assert!(matches!(
        parse_end_entity(b"\x30\x03\x02\x01\x01"),
        Err(ProfileError::Der(_))
    ));
    assert!(parse_end_entity(&[]).is_err());
    // A sandbox root is not accepted as a production root, nor an EE as a root.
    let (sandbox, key) = sandbox_root(Hierarchy::Signing, 3);
    assert!(honnin_profile::trust::production_roots_with(&[&sandbox.der]).is_err());
    let holder = RsaKey::generate().expect("keygen");
    let spec = SigningSpec {
        common: ee_spec(&holder),
        issuance_id: "id".into(),
        basic4: Basic4::from_register("山田　花子", "東京都", date!(1990 - 01 - 02), Sex::Female).expect("attrs"),
    };
    let ee = build_signing(
        &Issuer {
            certificate: &sandbox,
            key: &key,
        },
        &spec,
    )
    .expect("build");
    assert!(matches!(
        CaCertificate::from_der(&ee),
        Err(ProfileError::NotJpkiRoot(_))
    ));
    // Tampering with the signed bytes breaks the signature check.
    let mut tampered = ee.clone();
    let pos = tampered
        .windows(8)
        .position(|w| w == "Tokyo-to".as_bytes())
        .expect("found");
    tampered[pos] = b'K';
    assert!(sandbox.verify_issued(&tampered).is_err());
}

#[test]
fn serial_hex_round_trip() {
    let s = Serial::from_u64(0x067C6A21);
    assert_eq!(s.to_hex(), "067C6A21");
    assert_eq!(Serial::from_hex("67c6a21"), Some(s.clone()));
    assert_eq!(s.to_u64(), Some(0x067C6A21));
    assert_eq!(Serial::from_hex("zz"), None);
}

/// The fast path of `parse_end_entity` reads the certificates honnin builds, and whenever it
/// answers for a damaged one, the reference parser gives the same answer (the `end_entity` fuzz
/// target does the same on arbitrary damage).
#[test]
fn fast_parse_agrees_with_the_reference_parser() {
    use honnin_profile::parse::{parse_end_entity_fast, parse_end_entity_reference};
    let (sign_ca, sign_key) = sandbox_root(Hierarchy::Signing, 20);
    let (auth_ca, auth_key) = sandbox_root(Hierarchy::Authentication, 21);
    let holder = RsaKey::generate().expect("keygen");
    let signing = build_signing(
        &Issuer {
            certificate: &sign_ca,
            key: &sign_key,
        },
        &SigningSpec {
            common: ee_spec(&holder),
            issuance_id: "2026112110000000001ABCDEFGHI".into(),
            basic4: Basic4::from_register("山田　花子", "東京都清瀬市", date!(1990 - 01 - 02), Sex::Female)
                .expect("attributes"),
        },
    )
    .expect("build");
    let auth = build_auth(
        &Issuer {
            certificate: &auth_ca,
            key: &auth_key,
        },
        &ee_spec(&holder),
        "997794E9AGCIEG13221003A",
    )
    .expect("build");
    for der in [&signing, &auth] {
        let reference = parse_end_entity_reference(der).expect("reference");
        assert_eq!(parse_end_entity_fast(der).as_ref(), Some(&reference), "fast path taken");
        for pos in 0..der.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut damaged = der.clone();
                damaged[pos] ^= flip;
                if let Some(fast) = parse_end_entity_fast(&damaged) {
                    let reference = parse_end_entity_reference(&damaged);
                    assert_eq!(reference.ok().as_ref(), Some(&fast), "byte {pos} ^ {flip:02X}");
                }
            }
        }
    }
}
