//! The verification core against a sandbox authority and `openssl`: chains across root generations,
//! every error, CMS from `openssl cms -sign`, OCSP from honnin's responder and from `openssl ocsp`,
//! and CRL indexes that fail closed.

use std::path::{Path, PathBuf};
use std::process::Command;

use honnin_authority::crl::{encode_crl, CrlEntry, CrlHeader};
use honnin_authority::ocsp::Responder;
use honnin_authority::{Authority, InitOptions, IssueCard, LifeEvent, NewResident};
use honnin_cardfile::CardFile;
use honnin_profile::build::{build_auth, build_root, EndEntitySpec, Issuer, RootSpec};
use honnin_profile::{oid, CaCertificate, Environment, Hierarchy, RevocationReason, RsaKey, Serial, Sex};
use honnin_verify::crl::{CrlIndex, CrlStore};
use honnin_verify::ocsp::{self, Freshness};
use honnin_verify::{cms, signature, RevocationStatus, TrustProfile, VerifyError};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-21 01:00 UTC);

struct World {
    dir: tempfile::TempDir,
    authority: Authority,
    profile: TrustProfile,
    resident: String,
    card: CardFile,
}

impl World {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
    async fn cert(&self, h: Hierarchy) -> Vec<u8> {
        self.authority
            .resident_certificate(&self.resident, h)
            .await
            .expect("certificate")
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let authority = Authority::init(&dir.path().join("data"), InitOptions::default(), NOW)
        .await
        .expect("init");
    let resident = authority
        .add_resident(
            NewResident {
                name: "山田　花子".into(),
                address: "東京都清瀬市中里五丁目８４２番地".into(),
                birth_date: date!(1990 - 01 - 02),
                sex: Sex::Female,
                prefecture: "Tokyo-to".into(),
                municipality: "Kiyose-shi".into(),
                adult_ward: false,
            },
            NOW,
        )
        .await
        .expect("resident")
        .id;
    let card_path = dir.path().join("card.json");
    let request = IssueCard {
        resident_id: resident.clone(),
        auth_pin: "1234".into(),
        sign_password: Some("ABC123".into()),
        kenhojo_pin: None,
        juki_pin: None,
    };
    authority.issue_card(request, &card_path, NOW).await.expect("issue");
    let roots = [
        authority.ca(Hierarchy::Signing).await.expect("ca").certificate.der,
        authority
            .ca(Hierarchy::Authentication)
            .await
            .expect("ca")
            .certificate
            .der,
    ];
    let profile = TrustProfile::sandbox(&[&roots[0], &roots[1]]).expect("profile");
    World {
        card: CardFile::read(&card_path).expect("card"),
        dir,
        authority,
        profile,
        resident,
    }
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().expect("openssl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_pem(path: &Path, label: &str, der: &[u8]) {
    std::fs::write(
        path,
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("pem"),
    )
    .expect("write");
}

#[tokio::test]
async fn validation_and_every_certificate_error() {
    let w = world().await;
    let sign = w.cert(Hierarchy::Signing).await;
    let v = w.profile.validate(&sign, NOW + Duration::hours(1)).expect("valid");
    let honnin_profile::EndEntity::Signing(s) = &v.certificate else {
        panic!("signing")
    };
    assert_eq!(s.basic4.name.text, "山田　花子");
    // Production never accepts a sandbox certificate, and the sandbox profile refuses production roots.
    let production = TrustProfile::production().expect("production");
    assert!(matches!(
        production.validate(&sign, NOW),
        Err(VerifyError::WrongPolicy { .. })
    ));
    let real = honnin_profile::trust::PRODUCTION_ROOT_PEMS[0].as_bytes();
    assert!(matches!(
        TrustProfile::sandbox(&[real]),
        Err(VerifyError::WrongPolicy { .. })
    ));
    // Time.
    assert!(matches!(
        w.profile.validate(&sign, NOW - Duration::days(1)),
        Err(VerifyError::NotYetValid(_))
    ));
    assert!(matches!(
        w.profile.validate(&sign, datetime!(2035-01-01 00:00 UTC)),
        Err(VerifyError::Expired(_))
    ));
    // Another authority's roots: same DN, other keys.
    let other = world().await;
    assert!(
        matches!(other.profile.validate(&sign, NOW), Err(VerifyError::UntrustedIssuer)),
        "same name, other key"
    );
    // Tampering with the signed bytes.
    let mut forged = sign.clone();
    let at = forged.windows(8).position(|x| x == b"Tokyo-to").expect("subject");
    forged[at] = b'K';
    assert!(matches!(
        w.profile.validate(&forged, NOW),
        Err(VerifyError::BadSignature)
    ));
    // Kinds and garbage.
    assert!(matches!(
        w.profile.validate_kind(&sign, Hierarchy::Authentication, NOW),
        Err(VerifyError::WrongKind { .. })
    ));
    assert!(matches!(
        w.profile.validate(b"\x30\x00", NOW),
        Err(VerifyError::Malformed(_))
    ));
    let root = w.authority.ca(Hierarchy::Signing).await.expect("ca").certificate.der;
    assert!(matches!(w.profile.validate(&root, NOW), Err(VerifyError::NotJpki(_))));
}

#[tokio::test]
async fn chains_across_root_generations_with_one_dn() {
    let mut roots = Vec::new();
    let mut issued = Vec::new();
    for serial in [1u64, 2] {
        let key = RsaKey::generate().expect("key");
        let spec = RootSpec {
            environment: Environment::Sandbox,
            hierarchy: Hierarchy::Authentication,
            serial: Serial::from_u64(serial),
            not_before: datetime!(2020-01-01 00:00 UTC),
            not_after: datetime!(2035-01-01 00:00 UTC),
        };
        let ca = CaCertificate::from_der(&build_root(&spec, &key).expect("root")).expect("parse");
        let holder = RsaKey::generate().expect("key");
        let ee = EndEntitySpec {
            serial: Serial::from_u64(0x0100_0000_0000_0000 + serial),
            not_before: datetime!(2026-01-01 00:00 UTC),
            not_after: datetime!(2030-01-01 00:00 UTC),
            public_key_pkcs1: holder.public_key_pkcs1().to_vec(),
            prefecture: "Tokyo-to".into(),
            municipality: "Kiyose-shi".into(),
        };
        issued.push(
            build_auth(
                &Issuer {
                    certificate: &ca,
                    key: &key,
                },
                &ee,
                "ID",
            )
            .expect("ee"),
        );
        roots.push(ca);
    }
    assert_eq!(roots[0].subject, roots[1].subject);
    let profile = TrustProfile::sandbox(&[&roots[0].der, &roots[1].der]).expect("profile");
    for (i, der) in issued.iter().enumerate() {
        let v = profile.validate(der, NOW).expect("valid");
        assert_eq!(v.issuer.der, roots[i].der, "generation {i} found by key");
    }
    let only_first = TrustProfile::sandbox(&[&roots[0].der]).expect("profile");
    assert!(only_first.validate(&issued[1], NOW).is_err());
}

#[tokio::test]
async fn cms_from_openssl_verifies_and_tampering_fails() {
    let w = world().await;
    let sign = w.cert(Hierarchy::Signing).await;
    let key = &w.card.jpki.sign.as_ref().expect("sign").private_key.0;
    write_pem(&w.path("sign.pem"), "CERTIFICATE", &sign);
    write_pem(&w.path("sign.key"), "PRIVATE KEY", key);
    std::fs::write(w.path("app.txt"), "口座開設申込書").expect("write");
    let at = OffsetDateTime::now_utc();
    let profile_at = at.min(NOW + Duration::days(30));
    for (name, extra) in [
        ("detached.p7s", vec![]),
        ("attached.p7s", vec!["-nodetach"]),
        ("noattr.p7s", vec!["-noattr"]),
    ] {
        let (out, input, signer, key) = (w.p(name), w.p("app.txt"), w.p("sign.pem"), w.p("sign.key"));
        let mut args = vec![
            "cms", "-sign", "-binary", "-md", "sha256", "-in", &input, "-signer", &signer, "-inkey", &key,
        ];
        args.extend(["-outform", "DER", "-out", &out]);
        args.extend(extra.iter());
        let log = openssl(&args);
        let message = std::fs::read(w.path(name)).unwrap_or_else(|_| panic!("openssl cms -sign: {log}"));
        let detached = if name == "attached.p7s" {
            None
        } else {
            Some(&b"\xe5\x8f\xa3\xe5\xba\xa7\xe9\x96\x8b\xe8\xa8\xad\xe7\x94\xb3\xe8\xbe\xbc\xe6\x9b\xb8"[..])
        };
        let v = cms::verify(&w.profile, &message, detached, profile_at).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.content, "口座開設申込書".as_bytes());
        assert_eq!(
            v.signing_time.is_some(),
            name != "noattr.p7s",
            "{name}: signingTime reported when present"
        );
        // Other content.
        let err = cms::verify(&w.profile, &message, Some(b"tampered"), profile_at);
        if name == "attached.p7s" {
            assert!(err.is_ok(), "attached content is what counts");
        } else if name == "noattr.p7s" {
            assert!(matches!(err, Err(VerifyError::BadSignature)), "{name}: {err:?}");
        } else {
            assert!(matches!(err, Err(VerifyError::ContentMismatch)), "{name}: {err:?}");
        }
    }
    // Tampered signed attributes: flip a byte of the signingTime inside the message.
    let mut message = std::fs::read(w.path("detached.p7s")).expect("read");
    let pos = message
        .windows(3)
        .position(|x| x == [0x06, 0x09, 0x2A])
        .expect("an attribute OID");
    let t = message[pos..]
        .windows(2)
        .position(|x| x == [0x17, 0x0D])
        .expect("a UTCTime")
        + pos
        + 3;
    message[t] = if message[t] == b'1' { b'2' } else { b'1' };
    let err = cms::verify(&w.profile, &message, Some("口座開設申込書".as_bytes()), profile_at)
        .expect_err("tampered attributes");
    assert!(
        matches!(err, VerifyError::BadSignature | VerifyError::Malformed(_)),
        "{err}"
    );
    assert!(matches!(
        cms::verify(
            &w.profile,
            &std::fs::read(w.path("detached.p7s")).expect("read"),
            None,
            profile_at
        ),
        Err(VerifyError::MissingContent)
    ));
}

#[tokio::test]
async fn login_proof_binds_origin_and_nonce() {
    let w = world().await;
    let auth = w
        .profile
        .validate(&w.cert(Hierarchy::Authentication).await, NOW)
        .expect("valid");
    let key = RsaKey::from_pkcs8(&w.card.jpki.auth.private_key.0).expect("key");
    let nonce = b"0123456789abcdef0123456789abcdef";
    let sig = key
        .sign_sha256(&signature::login_proof_message("https://bank.example", nonce))
        .expect("sign");
    signature::verify_login_proof(&auth, "https://bank.example", nonce, &oid::SHA256_WITH_RSA, &sig)
        .expect("valid proof");
    assert!(signature::verify_login_proof(&auth, "https://evil.example", nonce, &oid::SHA256_WITH_RSA, &sig).is_err());
    assert!(
        signature::verify_login_proof(&auth, "https://bank.example", b"other", &oid::SHA256_WITH_RSA, &sig).is_err()
    );
    let sign = w
        .profile
        .validate(&w.cert(Hierarchy::Signing).await, NOW)
        .expect("valid");
    assert!(matches!(
        signature::verify_login_proof(&sign, "https://bank.example", nonce, &oid::SHA256_WITH_RSA, &sig),
        Err(VerifyError::WrongKind { .. })
    ));
    // Raw signature over a digest.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"data");
    let sig = key.sign_sha256(b"data").expect("sign");
    signature::verify_digest(&auth, digest.as_ref(), &sig).expect("digest");
    signature::verify_data(&auth, &oid::SHA256_WITH_RSA, b"data", &sig).expect("data");
    assert!(signature::verify_data(&auth, &oid::SHA256_WITH_RSA, b"date", &sig).is_err());
}

#[tokio::test]
async fn ocsp_from_honnin_and_openssl_and_what_fails() {
    let w = world().await;
    let auth = w
        .profile
        .validate(&w.cert(Hierarchy::Authentication).await, NOW)
        .expect("valid");
    let responder = Responder::new(w.authority.clone()).await.expect("responder");
    let now = OffsetDateTime::now_utc();
    let profile_now = auth.clone();
    let req = ocsp::request(&profile_now, true).expect("request");
    let resp = responder.respond(&req.der, now).await;
    let status = ocsp::verify_response(&auth, &req, &resp, now, Freshness::default()).expect("verifies");
    assert!(status.is_good(), "{status:?}");
    // Replay: the same response against a new request (new nonce).
    let req2 = ocsp::request(&auth, true).expect("request");
    assert!(matches!(
        ocsp::verify_response(&auth, &req2, &resp, now, Freshness::default()),
        Err(VerifyError::OcspNonceMismatch)
    ));
    // Stale: checked two days later.
    let err =
        ocsp::verify_response(&auth, &req, &resp, now + Duration::days(2), Freshness::default()).expect_err("stale");
    assert!(matches!(err, VerifyError::OcspStale(_)), "{err}");
    // Revoked after an event, with the reason.
    w.authority
        .record_event(&w.resident, LifeEvent::KeyCompromise, now)
        .await
        .expect("event");
    let req3 = ocsp::request(&auth, false).expect("request");
    let resp = responder.respond(&req3.der, now + Duration::seconds(1)).await;
    match ocsp::verify_response(&auth, &req3, &resp, now + Duration::seconds(2), Freshness::default())
        .expect("verifies")
    {
        RevocationStatus::Revoked { reason, .. } => assert_eq!(reason, RevocationReason::KeyCompromise),
        other => panic!("{other:?}"),
    }
    // A response for another certificate does not answer this one.
    let sign = w
        .profile
        .validate(&w.cert(Hierarchy::Signing).await, NOW)
        .expect("valid");
    let req_sign = ocsp::request(&sign, false).expect("request");
    let resp_sign = responder.respond(&req_sign.der, now).await;
    assert!(ocsp::verify_response(&auth, &req3, &resp_sign, now, Freshness::default()).is_err());

    // openssl as the responder, signing with the authority's delegated responder key.
    let ca = w.authority.ca(Hierarchy::Authentication).await.expect("ca");
    write_pem(&w.path("ca.pem"), "CERTIFICATE", &ca.certificate.der);
    write_pem(&w.path("resp.pem"), "CERTIFICATE", &ca.responder_certificate);
    std::fs::write(w.path("resp.key"), ca.responder_key.to_pkcs8_pem().expect("pem")).expect("write");
    let serial = auth.certificate.info().serial.to_hex();
    std::fs::write(
        w.path("index.txt"),
        format!("V\t301231235959Z\t\t{serial}\tunknown\t/CN=x\n"),
    )
    .expect("index");
    let fresh = ocsp::request(&auth, true).expect("request");
    std::fs::write(w.path("req.der"), &fresh.der).expect("write");
    let log = openssl(&[
        "ocsp",
        "-index",
        &w.p("index.txt"),
        "-CA",
        &w.p("ca.pem"),
        "-rsigner",
        &w.p("resp.pem"),
        "-rkey",
        &w.p("resp.key"),
        "-reqin",
        &w.p("req.der"),
        "-respout",
        &w.p("openssl-resp.der"),
        "-ndays",
        "1",
    ]);
    let resp = std::fs::read(w.path("openssl-resp.der")).unwrap_or_else(|_| panic!("openssl ocsp: {log}"));
    let status = ocsp::verify_response(&auth, &fresh, &resp, OffsetDateTime::now_utc(), Freshness::default())
        .expect("openssl's response verifies");
    assert!(status.is_good(), "openssl's index says V: {status:?}");
    // openssl signing with a key the CA never authorised.
    let rogue = RsaKey::generate().expect("key");
    std::fs::write(w.path("rogue.key"), rogue.to_pkcs8_pem().expect("pem")).expect("write");
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &w.p("rogue.key"),
        "-subj",
        "/CN=rogue",
        "-days",
        "2",
        "-out",
        &w.p("rogue.pem"),
    ]);
    openssl(&[
        "ocsp",
        "-index",
        &w.p("index.txt"),
        "-CA",
        &w.p("ca.pem"),
        "-rsigner",
        &w.p("rogue.pem"),
        "-rkey",
        &w.p("rogue.key"),
        "-reqin",
        &w.p("req.der"),
        "-respout",
        &w.p("rogue-resp.der"),
        "-ndays",
        "1",
    ]);
    let rogue_resp = std::fs::read(w.path("rogue-resp.der")).expect("rogue response");
    let err = ocsp::verify_response(
        &auth,
        &fresh,
        &rogue_resp,
        OffsetDateTime::now_utc(),
        Freshness::default(),
    )
    .expect_err("rogue");
    assert!(matches!(err, VerifyError::OcspUnauthorizedSigner(_)), "{err}");
    assert!(matches!(
        ocsp::status_from_response(&auth, &fresh, &rogue_resp, now, Freshness::default()),
        RevocationStatus::Unknown { .. }
    ));
}

#[tokio::test]
async fn crl_index_answers_and_fails_closed() {
    let w = world().await;
    let sign = w
        .profile
        .validate(&w.cert(Hierarchy::Signing).await, NOW)
        .expect("valid");
    let crl = w.authority.current_crl(Hierarchy::Signing, NOW).await.expect("crl");
    let index = CrlIndex::build(&w.profile, &crl.der, NOW).expect("index");
    assert!(index.status(&sign, NOW + Duration::hours(1)).is_good());
    // Past nextUpdate: unknown, never good.
    assert!(matches!(
        index.status(&sign, NOW + Duration::days(2)),
        RevocationStatus::Unknown { .. }
    ));
    w.authority
        .record_event(
            &w.resident,
            LifeEvent::AddressChange {
                address: "東京都港区".into(),
                prefecture: None,
                municipality: None,
            },
            NOW + Duration::minutes(1),
        )
        .await
        .expect("move");
    let crl2 = w
        .authority
        .current_crl(Hierarchy::Signing, NOW + Duration::minutes(2))
        .await
        .expect("crl");
    let index2 = CrlIndex::build(&w.profile, &crl2.der, NOW + Duration::minutes(2)).expect("index");
    assert_eq!(
        index2.status(&sign, NOW + Duration::minutes(3)).reason(),
        Some(RevocationReason::AffiliationChanged)
    );
    // The store swaps in newer CRLs only.
    let store = CrlStore::new();
    assert!(
        matches!(store.status(&sign, NOW), RevocationStatus::Unknown { .. }),
        "nothing loaded: unknown"
    );
    assert!(store.replace(index2));
    assert!(
        !store.replace(CrlIndex::build(&w.profile, &crl.der, NOW).expect("index")),
        "an older CRL is not installed"
    );
    assert!(store.status(&sign, NOW + Duration::minutes(3)).reason().is_some());
    // Another authority's CRL, or a tampered one.
    let other = world().await;
    assert!(matches!(
        CrlIndex::build(&other.profile, &crl2.der, NOW),
        Err(VerifyError::CrlUnknownIssuer)
    ));
    let mut tampered = crl2.der.as_ref().clone();
    let n = tampered.len();
    tampered[n - 300] ^= 1;
    assert!(CrlIndex::build(&w.profile, &tampered, NOW + Duration::minutes(2)).is_err());
    assert!(matches!(
        CrlIndex::build(&w.profile, &crl2.der, NOW - Duration::days(1)),
        Err(VerifyError::CrlNotYetValid(_))
    ));
}

#[tokio::test]
async fn crl_index_matches_a_generic_parser_on_an_unsorted_crl() {
    let w = world().await;
    let ca = w.authority.ca(Hierarchy::Signing).await.expect("ca");
    let mut seed = 0x9E3779B97F4A7C15u64;
    let mut entries: Vec<CrlEntry> = (0..20_000)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            CrlEntry {
                // Mixed widths, including serials with the top bit set and tiny ones.
                serial: match i % 5 {
                    0 => seed,
                    1 => seed >> 40,
                    _ => (seed & 0x7FFF_FFFF_FFFF_FFFF) | 0x0100_0000_0000_0000,
                },
                revoked_at: 1_700_000_000 + i as i64,
                reason: RevocationReason::from_code((i % 7) as u8).expect("reason"),
            }
        })
        .collect();
    entries.dedup_by_key(|e| e.serial);
    let header = CrlHeader {
        number: 7,
        this_update: NOW,
        next_update: NOW + Duration::days(1),
    };
    let der = encode_crl(
        &Issuer {
            certificate: &ca.certificate,
            key: &ca.key,
        },
        &header,
        &entries,
    )
    .expect("crl");
    let index = CrlIndex::build(&w.profile, &der, NOW).expect("index");
    assert_eq!(index.len(), entries.len());
    assert_eq!(index.number(), Some(7));
    let generic = <x509_cert::crl::CertificateList as der::Decode>::from_der(&der).expect("x509-cert parses it");
    let by_serial: std::collections::HashMap<u64, RevocationReason> =
        entries.iter().map(|e| (e.serial, e.reason)).collect();
    for e in generic.tbs_cert_list.revoked_certificates.expect("entries") {
        let found = index.lookup(e.serial_number.as_bytes()).expect("listed");
        let (reason, at) = (found.reason(), found.revoked_at());
        assert_eq!(
            at.unix_timestamp() as u64,
            e.revocation_date.to_unix_duration().as_secs()
        );
        let serial = Serial::from_be_bytes(e.serial_number.as_bytes())
            .to_u64()
            .expect("64-bit");
        assert_eq!(Some(&reason), by_serial.get(&serial));
    }
    assert!(index.lookup_u64(12345).is_none());
    assert!(
        index.memory_bytes() <= 16 * entries.len() + 4096,
        "{} bytes for {} entries",
        index.memory_bytes(),
        entries.len()
    );
}

#[tokio::test]
async fn the_remaining_error_variants_from_crafted_inputs() {
    let w = world().await;
    // IssuerNotValid: a root that starts after its end-entity certificate does.
    let key = RsaKey::generate().expect("key");
    let spec = RootSpec {
        environment: Environment::Sandbox,
        hierarchy: Hierarchy::Authentication,
        serial: Serial::from_u64(9),
        not_before: datetime!(2026-06-01 00:00 UTC),
        not_after: datetime!(2035-01-01 00:00 UTC),
    };
    let root = CaCertificate::from_der(&build_root(&spec, &key).expect("root")).expect("parse");
    let holder = RsaKey::generate().expect("key");
    let ee = EndEntitySpec {
        serial: Serial::from_u64(0x0100_0000_0000_0009),
        not_before: datetime!(2026-01-01 00:00 UTC),
        not_after: datetime!(2030-01-01 00:00 UTC),
        public_key_pkcs1: holder.public_key_pkcs1().to_vec(),
        prefecture: "Tokyo-to".into(),
        municipality: "Kiyose-shi".into(),
    };
    let der = build_auth(
        &Issuer {
            certificate: &root,
            key: &key,
        },
        &ee,
        "ID",
    )
    .expect("ee");
    let profile = TrustProfile::sandbox(&[&root.der]).expect("profile");
    assert!(matches!(
        profile.validate(&der, datetime!(2026-03-01 00:00 UTC)),
        Err(VerifyError::IssuerNotValid)
    ));

    // CMS variants made with openssl.
    let sign = w.cert(Hierarchy::Signing).await;
    let auth = w.cert(Hierarchy::Authentication).await;
    write_pem(&w.path("sign.pem"), "CERTIFICATE", &sign);
    write_pem(
        &w.path("sign.key"),
        "PRIVATE KEY",
        &w.card.jpki.sign.as_ref().expect("sign").private_key.0,
    );
    write_pem(&w.path("auth.pem"), "CERTIFICATE", &auth);
    write_pem(&w.path("auth.key"), "PRIVATE KEY", &w.card.jpki.auth.private_key.0);
    std::fs::write(w.path("doc.txt"), "doc").expect("write");
    let (doc, s_pem, s_key, a_pem, a_key) = (
        w.p("doc.txt"),
        w.p("sign.pem"),
        w.p("sign.key"),
        w.p("auth.pem"),
        w.p("auth.key"),
    );
    let at = OffsetDateTime::now_utc().min(NOW + Duration::days(30));
    let cms_with = |name: &str, extra: &[&str]| {
        let out = w.p(name);
        let mut args = vec![
            "cms",
            "-sign",
            "-binary",
            "-in",
            doc.as_str(),
            "-outform",
            "DER",
            "-out",
            out.as_str(),
        ];
        args.extend_from_slice(extra);
        let log = openssl(&args);
        std::fs::read(&out).unwrap_or_else(|_| panic!("openssl: {log}"))
    };
    let sha1 = cms_with("sha1.p7s", &["-md", "sha1", "-signer", &s_pem, "-inkey", &s_key]);
    assert!(matches!(
        cms::verify(&w.profile, &sha1, Some(b"doc"), at),
        Err(VerifyError::UnsupportedAlgorithm(_))
    ));
    let nocerts = cms_with(
        "nocerts.p7s",
        &["-md", "sha256", "-nocerts", "-signer", &s_pem, "-inkey", &s_key],
    );
    assert!(matches!(
        cms::verify(&w.profile, &nocerts, Some(b"doc"), at),
        Err(VerifyError::SignerCertificateMissing)
    ));
    let two = cms_with(
        "two.p7s",
        &[
            "-md", "sha256", "-signer", &s_pem, "-inkey", &s_key, "-signer", &a_pem, "-inkey", &a_key,
        ],
    );
    assert!(matches!(
        cms::verify(&w.profile, &two, Some(b"doc"), at),
        Err(VerifyError::SignerCount(2))
    ));
    // contentType attribute changed from id-data: refused before the signature is even tried.
    let mut message = cms_with("ct.p7s", &["-md", "sha256", "-signer", &s_pem, "-inkey", &s_key]);
    let id_data = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
    let positions: Vec<usize> = message
        .windows(id_data.len())
        .enumerate()
        .filter(|(_, x)| *x == id_data)
        .map(|(i, _)| i)
        .collect();
    let last = *positions.last().expect("the contentType attribute");
    assert!(positions.len() >= 2, "eContentType and the attribute");
    message[last + id_data.len() - 1] = 0x02;
    assert!(matches!(
        cms::verify(&w.profile, &message, Some(b"doc"), at),
        Err(VerifyError::ContentTypeMismatch)
    ));

    // OCSP: a refused request, and an answer about another certificate.
    let v = w.profile.validate(&auth, NOW).expect("valid");
    let responder = Responder::new(w.authority.clone()).await.expect("responder");
    let now = OffsetDateTime::now_utc();
    let req = ocsp::request(&v, false).expect("request");
    let refused = responder.respond(b"not an OCSP request", now).await;
    assert!(matches!(
        ocsp::verify_response(&v, &req, &refused, now, Freshness::default()),
        Err(VerifyError::OcspRefused("malformedRequest"))
    ));
    let s = w.profile.validate(&sign, NOW).expect("valid");
    let other = responder
        .respond(&ocsp::request(&s, false).expect("request").der, now)
        .await;
    // The signing CA's responder does not speak for the auth CA.
    assert!(matches!(
        ocsp::verify_response(&v, &req, &other, now, Freshness::default()),
        Err(VerifyError::OcspUnauthorizedSigner(_))
    ));
    // Same CA, another serial: the signature is fine, the answer is not for us.
    let second = {
        let card = w.dir.path().join("second.json");
        let r = w
            .authority
            .add_resident(
                NewResident {
                    name: "佐藤　一郎".into(),
                    address: "東京都".into(),
                    birth_date: date!(1980 - 01 - 01),
                    sex: Sex::Male,
                    prefecture: "Tokyo-to".into(),
                    municipality: "Kiyose-shi".into(),
                    adult_ward: false,
                },
                NOW,
            )
            .await
            .expect("resident");
        w.authority
            .issue_card(
                IssueCard {
                    resident_id: r.id.clone(),
                    auth_pin: "1234".into(),
                    sign_password: None,
                    kenhojo_pin: None,
                    juki_pin: None,
                },
                &card,
                NOW,
            )
            .await
            .expect("issue");
        w.profile
            .validate(
                &w.authority
                    .resident_certificate(&r.id, Hierarchy::Authentication)
                    .await
                    .expect("cert"),
                NOW,
            )
            .expect("valid")
    };
    let for_second = responder
        .respond(&ocsp::request(&second, false).expect("request").der, now)
        .await;
    assert!(matches!(
        ocsp::verify_response(&v, &req, &for_second, now, Freshness::default()),
        Err(VerifyError::OcspNoMatchingResponse)
    ));
}
