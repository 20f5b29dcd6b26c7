//! The authority through its library API: every row of the life-event table, renewal and re-issue
//! with their serial links, card files, and refusals that leave nothing half-written.

use std::path::PathBuf;

use der::Decode;
use honnin_authority::{
    Authority, AuthorityError, CertificateStatus, InitOptions, IssueCard, LifeEvent, NewResident, Which,
};
use honnin_cardfile::CardFile;
use honnin_profile::{parse_end_entity, EndEntity, Hierarchy, RevocationReason, Serial, Sex};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-21 01:00 UTC);

struct Sandbox {
    _dir: tempfile::TempDir,
    path: PathBuf,
    authority: Authority,
}

async fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("authority");
    let authority = Authority::init(&path, InitOptions::default(), NOW).await.expect("init");
    Sandbox {
        _dir: dir,
        path,
        authority,
    }
}

fn person(birth: Date) -> NewResident {
    NewResident {
        name: "山田　太郎".into(),
        address: "東京都清瀬市中里五丁目８４２番地".into(),
        birth_date: birth,
        sex: Sex::Male,
        prefecture: "Tokyo-to".into(),
        municipality: "Kiyose-shi".into(),
        adult_ward: false,
    }
}

fn request(resident: &str, sign: bool) -> IssueCard {
    IssueCard {
        resident_id: resident.into(),
        auth_pin: "1234".into(),
        sign_password: sign.then(|| "ABC123".into()),
        kenhojo_pin: None,
        juki_pin: None,
    }
}

fn serial(hex: &str) -> u64 {
    Serial::from_hex(hex).and_then(|s| s.to_u64()).expect("serial")
}

async fn status(a: &Authority, h: Hierarchy, hex: &str) -> CertificateStatus {
    a.certificate_status(h, serial(hex))
        .await
        .expect("query")
        .expect("issued by us")
}

fn revoked_for(s: CertificateStatus) -> Option<RevocationReason> {
    match s {
        CertificateStatus::Good => None,
        CertificateStatus::Revoked { reason, .. } => Some(reason),
    }
}

/// Issues a card with both certificates to a new adult and returns (resident id, card path, auth serial, sign serial).
async fn adult_with_card(s: &Sandbox, name: &str) -> (String, PathBuf, String, String) {
    let r = s
        .authority
        .add_resident(person(date!(1990 - 01 - 02)), NOW)
        .await
        .expect("resident");
    let card = s.path.parent().expect("parent").join(format!("{name}.card"));
    let issued = s
        .authority
        .issue_card(request(&r.id, true), &card, NOW)
        .await
        .expect("issue");
    (
        r.id,
        card,
        issued.auth_serial,
        issued.sign_serial.expect("signing certificate"),
    )
}

#[tokio::test]
async fn every_row_of_the_event_table() {
    let s = sandbox().await;
    use RevocationReason::*;
    let rows: Vec<(LifeEvent, Option<RevocationReason>, Option<RevocationReason>)> = vec![
        (
            LifeEvent::AddressChange {
                address: "東京都清瀬市上清戸一丁目１番地".into(),
                prefecture: None,
                municipality: None,
            },
            Some(AffiliationChanged),
            None,
        ),
        (
            LifeEvent::NameChange {
                name: "鈴木　太郎".into(),
            },
            Some(AffiliationChanged),
            None,
        ),
        (
            LifeEvent::SexChange { sex: Sex::Female },
            Some(AffiliationChanged),
            None,
        ),
        (
            LifeEvent::BirthDateCorrection {
                birth_date: date!(1990 - 01 - 03),
            },
            Some(AffiliationChanged),
            None,
        ),
        (LifeEvent::Death, Some(AffiliationChanged), Some(AffiliationChanged)),
        (
            LifeEvent::Emigration,
            Some(AffiliationChanged),
            Some(AffiliationChanged),
        ),
        (LifeEvent::CardLost, Some(CertificateHold), Some(CertificateHold)),
        (
            LifeEvent::CardAbolished,
            Some(CessationOfOperation),
            Some(CessationOfOperation),
        ),
        (LifeEvent::KeyCompromise, Some(KeyCompromise), Some(KeyCompromise)),
        (
            LifeEvent::CardDestroyedBeforeDelivery,
            Some(Unspecified),
            Some(Unspecified),
        ),
    ];
    for (i, (event, sign_reason, auth_reason)) in rows.into_iter().enumerate() {
        let kind = event.kind();
        let (id, _, auth, sign) = adult_with_card(&s, &format!("row{i}")).await;
        let outcome = s
            .authority
            .record_event(&id, event, NOW + time::Duration::hours(1))
            .await
            .expect(kind);
        assert_eq!(
            revoked_for(status(&s.authority, Hierarchy::Signing, &sign).await),
            sign_reason,
            "{kind}: signing"
        );
        assert_eq!(
            revoked_for(status(&s.authority, Hierarchy::Authentication, &auth).await),
            auth_reason,
            "{kind}: auth"
        );
        let expected = [sign_reason, auth_reason].iter().filter(|r| r.is_some()).count();
        assert_eq!(outcome.revoked.len(), expected, "{kind}: outcome lists what it revoked");
    }
}

#[tokio::test]
async fn a_hold_is_never_released_and_the_dead_get_nothing_new() {
    let s = sandbox().await;
    let (id, card, auth, _) = adult_with_card(&s, "lost").await;
    s.authority
        .record_event(&id, LifeEvent::CardLost, NOW)
        .await
        .expect("lost");
    // The lost card cannot be renewed back to life.
    let err = s
        .authority
        .renew(&card, Which::Both, None, NOW)
        .await
        .expect_err("lost card");
    assert!(matches!(err, AuthorityError::CardNotActive { .. }), "{err}");
    // A new card is a fresh issue; the held certificate stays held.
    let out = card.with_extension("new");
    s.authority
        .issue_card(request(&id, true), &out, NOW)
        .await
        .expect("new card");
    assert_eq!(
        revoked_for(status(&s.authority, Hierarchy::Authentication, &auth).await),
        Some(RevocationReason::CertificateHold)
    );

    let (dead, card, _, _) = adult_with_card(&s, "dead").await;
    s.authority
        .record_event(&dead, LifeEvent::Death, NOW)
        .await
        .expect("death");
    let err = s
        .authority
        .issue_card(request(&dead, false), &card.with_extension("x"), NOW)
        .await
        .expect_err("deceased");
    assert!(matches!(err, AuthorityError::NotLiving { .. }), "{err}");
    assert!(s.authority.record_event(&dead, LifeEvent::CardLost, NOW).await.is_err());
}

#[tokio::test]
async fn renewal_writes_new_keys_into_the_same_card_and_links_serials() {
    let s = sandbox().await;
    let (id, card_path, auth, sign) = adult_with_card(&s, "renew").await;
    let before = CardFile::read(&card_path).expect("card");
    let later = NOW + time::Duration::days(30);
    let renewal = s
        .authority
        .renew(&card_path, Which::Both, None, later)
        .await
        .expect("renew");
    assert_eq!(renewal.renewed.len(), 2);
    let after = CardFile::read(&card_path).expect("card");
    assert_eq!(after.card_id, before.card_id);
    assert_ne!(
        after.jpki.auth.private_key, before.jpki.auth.private_key,
        "new auth key on the chip"
    );
    assert_ne!(
        after.jpki.sign.as_ref().map(|s| &s.private_key),
        before.jpki.sign.as_ref().map(|s| &s.private_key)
    );
    assert_eq!(
        after.jpki.auth_pin, before.jpki.auth_pin,
        "PINs and counters survive renewal"
    );
    // Old ones superseded; old → new links; signing ↔ auth of the card linked.
    for (h, old) in [(Hierarchy::Authentication, &auth), (Hierarchy::Signing, &sign)] {
        assert_eq!(
            revoked_for(status(&s.authority, h, old).await),
            Some(RevocationReason::Superseded)
        );
    }
    let new_auth = renewal
        .renewed
        .iter()
        .find(|r| r.which == "auth")
        .expect("auth")
        .new_serial
        .clone();
    let new_sign = renewal
        .renewed
        .iter()
        .find(|r| r.which == "sign")
        .expect("sign")
        .new_serial
        .clone();
    assert_eq!(
        s.authority.successor(serial(&auth)).await.expect("link"),
        Some(serial(&new_auth))
    );
    assert!(s
        .authority
        .linked_serials(serial(&new_auth))
        .await
        .expect("links")
        .contains(&serial(&new_sign)));
    // The card now holds exactly the certificates the authority exports.
    let exported = s
        .authority
        .resident_certificate(&id, Hierarchy::Authentication)
        .await
        .expect("export");
    assert_eq!(after.jpki.auth.certificate.0, exported);
    // The card's key matches its certificate.
    let key = honnin_profile::RsaKey::from_pkcs8(&after.jpki.auth.private_key.0).expect("key");
    let cert = x509_cert::Certificate::from_der(&exported).expect("cert");
    assert_eq!(
        cert.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
        key.public_key_pkcs1()
    );
}

#[tokio::test]
async fn address_change_then_signing_renewal_carries_the_new_address() {
    let s = sandbox().await;
    let (id, card_path, auth, sign) = adult_with_card(&s, "move").await;
    let moved = LifeEvent::AddressChange {
        address: "北海道札幌市中央区北一条西二丁目".into(),
        prefecture: Some("Hokkaido".into()),
        municipality: Some("Sapporo-shi".into()),
    };
    s.authority.record_event(&id, moved, NOW).await.expect("move");
    let renewal = s
        .authority
        .renew(&card_path, Which::Signing, None, NOW)
        .await
        .expect("new signing certificate");
    assert_eq!(renewal.renewed.len(), 1);
    assert_eq!(renewal.renewed[0].old_serial.as_deref(), Some(sign.as_str()));
    // Already revoked affiliationChanged: the renewal does not re-revoke it as superseded.
    assert_eq!(
        revoked_for(status(&s.authority, Hierarchy::Signing, &sign).await),
        Some(RevocationReason::AffiliationChanged)
    );
    assert_eq!(
        revoked_for(status(&s.authority, Hierarchy::Authentication, &auth).await),
        None,
        "auth unchanged"
    );
    let der = s
        .authority
        .resident_certificate(&id, Hierarchy::Signing)
        .await
        .expect("sign");
    let EndEntity::Signing(c) = parse_end_entity(&der).expect("parse") else {
        panic!("signing")
    };
    assert_eq!(c.basic4.address.text, "北海道札幌市中央区北一条西二丁目");
    assert_eq!(c.municipality, "Sapporo-shi");
    assert_eq!(c.info.crl_partition.expect("partition").prefecture, "Hokkaido");
    let new_sign = serial(&renewal.renewed[0].new_serial);
    assert!(s
        .authority
        .linked_serials(serial(&auth))
        .await
        .expect("links")
        .contains(&new_sign));
    assert_eq!(
        CardFile::read(&card_path).expect("card").surface.address,
        "北海道札幌市中央区北一条西二丁目"
    );
}

#[tokio::test]
async fn reissue_supersedes_the_old_card() {
    let s = sandbox().await;
    let (id, _, auth, sign) = adult_with_card(&s, "old").await;
    let new_card = s.path.parent().expect("parent").join("new.card");
    let issued = s
        .authority
        .issue_card(request(&id, true), &new_card, NOW)
        .await
        .expect("reissue");
    assert!(issued.replaced_card.is_some());
    assert_eq!(
        revoked_for(status(&s.authority, Hierarchy::Authentication, &auth).await),
        Some(RevocationReason::Superseded)
    );
    assert_eq!(
        revoked_for(status(&s.authority, Hierarchy::Signing, &sign).await),
        Some(RevocationReason::Superseded)
    );
    assert_eq!(
        s.authority.successor(serial(&auth)).await.expect("link"),
        Some(serial(&issued.auth_serial))
    );
}

#[tokio::test]
async fn who_gets_which_certificate_and_for_how_long() {
    let s = sandbox().await;
    let dir = s.path.parent().expect("parent").to_path_buf();
    // 14 years old (15th birthday tomorrow in JST): no signing certificate, and asking is refused.
    let child = s
        .authority
        .add_resident(person(date!(2011 - 11 - 22)), NOW)
        .await
        .expect("child");
    let card = dir.join("child.card");
    let err = s
        .authority
        .issue_card(request(&child.id, true), &card, NOW)
        .await
        .expect_err("under 15");
    assert!(
        matches!(err, AuthorityError::TooYoungForSigning { age: 14, .. }),
        "{err}"
    );
    assert!(!card.exists(), "nothing written on refusal");
    let issued = s
        .authority
        .issue_card(request(&child.id, false), &card, NOW)
        .await
        .expect("auth only");
    assert!(issued.sign_serial.is_none());
    // Under 18: the card ends on the 5th birthday after issuance, and so does the certificate.
    assert_eq!(issued.card_expiry, "2030-11-22");
    assert_eq!(issued.auth_not_after, "2030-11-22T23:59:59+09:00");
    // 15 today (JST): a signing certificate.
    let teen = s
        .authority
        .add_resident(person(date!(2011 - 11 - 21)), NOW)
        .await
        .expect("teen");
    assert!(s
        .authority
        .issue_card(request(&teen.id, true), &dir.join("teen.card"), NOW)
        .await
        .expect("15")
        .sign_serial
        .is_some());
    // An adult ward gets the auth certificate only.
    let mut ward = person(date!(1960 - 05 - 05));
    ward.adult_ward = true;
    let ward = s.authority.add_resident(ward, NOW).await.expect("ward");
    let err = s
        .authority
        .issue_card(request(&ward.id, true), &dir.join("ward.card"), NOW)
        .await
        .expect_err("ward");
    assert!(matches!(err, AuthorityError::AdultWard(_)), "{err}");
    // Adult: card 10 birthdays, certificates 5; 29 February born → 28 Feb in common years.
    let leap = s
        .authority
        .add_resident(person(date!(1988 - 02 - 29)), NOW)
        .await
        .expect("leap");
    let issued = s
        .authority
        .issue_card(request(&leap.id, true), &dir.join("leap.card"), NOW)
        .await
        .expect("leap");
    assert_eq!(issued.card_expiry, "2036-02-29");
    assert_eq!(issued.auth_not_after, "2031-02-28T23:59:59+09:00");
    assert_eq!(issued.sign_not_after.as_deref(), Some("2031-02-28T23:59:59+09:00"));
    // The card file carries the surface data, the token, and the sandbox roots.
    let file = CardFile::read(&dir.join("leap.card")).expect("card");
    assert_eq!(file.jpki.token, "JPKIAPICCTOKEN2");
    assert_eq!(file.surface.card_expiry, "20360229");
    assert_eq!(file.surface.my_number.len(), 12);
    assert_eq!(
        file.jpki.auth.ca_certificate.0,
        s.authority
            .ca(Hierarchy::Authentication)
            .await
            .expect("ca")
            .certificate
            .der
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let s = sandbox().await;
    let (id, card, _, _) = adult_with_card(&s, "pins").await;
    let original = std::fs::read(&card).expect("card");
    let dir = s.path.parent().expect("parent");
    for (auth_pin, password) in [
        ("123", Some("ABC123")),
        ("12a4", None),
        ("1234", Some("abc123")),
        ("1234", Some("AB12")),
        ("1234", Some("ABCDEFGHIJ1234567")),
    ] {
        let mut r = request(&id, true);
        r.auth_pin = auth_pin.into();
        r.sign_password = password.map(Into::into);
        let err = s.authority.issue_card(r, &card, NOW).await.expect_err("bad PIN");
        assert!(matches!(err, AuthorityError::BadInput(_)), "{err}");
    }
    assert_eq!(
        std::fs::read(&card).expect("card"),
        original,
        "the existing card file is untouched"
    );
    assert!(matches!(
        s.authority
            .issue_card(request("00000000000", false), &dir.join("x.card"), NOW)
            .await,
        Err(AuthorityError::UnknownResident(_))
    ));
    let mut future = person(date!(2030 - 01 - 01));
    future.name = "未来　子".into();
    assert!(matches!(
        s.authority.add_resident(future, NOW).await,
        Err(AuthorityError::BadInput(_))
    ));
    let mut long = person(date!(1990 - 01 - 01));
    long.address = "あ".repeat(201);
    assert!(s.authority.add_resident(long, NOW).await.is_err());
    // The authority's own files: a second init is refused; garbage is "damaged", not a panic.
    assert!(matches!(
        Authority::init(&s.path, InitOptions::default(), NOW).await,
        Err(AuthorityError::AlreadyInitialised(_))
    ));
    assert!(matches!(
        Authority::open(&dir.join("nowhere")).await,
        Err(AuthorityError::NotInitialised(_))
    ));
    let junk = dir.join("junk");
    std::fs::create_dir_all(&junk).expect("dir");
    std::fs::write(junk.join("authority.sqlite"), b"this is not a database").expect("write");
    let err = Authority::open(&junk).await.err().expect("corrupt");
    assert!(matches!(err, AuthorityError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn crls_follow_revocations_and_drop_nothing_held() {
    let s = sandbox().await;
    let first = s.authority.current_crl(Hierarchy::Signing, NOW).await.expect("crl");
    let again = s
        .authority
        .current_crl(Hierarchy::Signing, NOW + time::Duration::minutes(5))
        .await
        .expect("crl");
    assert_eq!(first.number, again.number, "nothing changed: same CRL");
    let (id, _, _, sign) = adult_with_card(&s, "crl").await;
    s.authority
        .record_event(&id, LifeEvent::CardLost, NOW)
        .await
        .expect("lost");
    let after = s
        .authority
        .current_crl(Hierarchy::Signing, NOW + time::Duration::minutes(6))
        .await
        .expect("crl");
    assert_eq!(after.number, first.number + 1);
    let list = x509_cert::crl::CertificateList::from_der(&after.der).expect("parses as RFC 5280");
    let entries = list.tbs_cert_list.revoked_certificates.expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].serial_number.as_bytes(),
        Serial::from_hex(&sign).expect("hex").as_bytes()
    );
    s.authority
        .ca(Hierarchy::Signing)
        .await
        .expect("ca")
        .certificate
        .verify_issued(&after.der)
        .expect("signed by the CA");
    // Long after the certificate expired, the hold is still listed.
    let far = datetime!(2040-01-01 00:00 UTC);
    let late = s.authority.current_crl(Hierarchy::Signing, far).await.expect("crl");
    let list = x509_cert::crl::CertificateList::from_der(&late.der).expect("parse");
    assert_eq!(list.tbs_cert_list.revoked_certificates.map(|e| e.len()), Some(1));
}
