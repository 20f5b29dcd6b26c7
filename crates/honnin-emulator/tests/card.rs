//! The emulator and the driver together, in process, on a card the authority issued: what the
//! reference's emulator checklist asks for, APDU by APDU, and the driver's operations on top.

use std::path::PathBuf;

use honnin_apdu::{Command, Response, StatusWord, Transport, TransportError};
use honnin_authority::{Authority, InitOptions, IssueCard, NewResident};
use honnin_card::{CardError, MynaCard, PinKind, SignKey, Token};
use honnin_emulator::Emulator;
use honnin_profile::key::verify_rsa_pkcs1;
use honnin_profile::{oid, Hierarchy, Sex};
use time::macros::{date, datetime};

struct Issued {
    _dir: tempfile::TempDir,
    card: PathBuf,
    authority: Authority,
    resident: String,
}

async fn issue(birth: time::Date) -> Issued {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = datetime!(2026-11-21 01:00 UTC);
    let authority = Authority::init(&dir.path().join("data"), InitOptions::default(), now)
        .await
        .expect("init");
    let resident = authority
        .add_resident(
            NewResident {
                name: "髙山　花子".into(),
                address: "東京都清瀬市中里五丁目８４２番地".into(),
                birth_date: birth,
                sex: Sex::Female,
                prefecture: "Tokyo-to".into(),
                municipality: "Kiyose-shi".into(),
                adult_ward: false,
            },
            now,
        )
        .await
        .expect("resident");
    let card = dir.path().join("card.json");
    let request = IssueCard {
        resident_id: resident.id.clone(),
        auth_pin: "1234".into(),
        sign_password: Some("ABC123".into()),
        kenhojo_pin: Some("5678".into()),
        juki_pin: None,
    };
    authority.issue_card(request, &card, now).await.expect("issue");
    Issued {
        _dir: dir,
        card,
        authority,
        resident: resident.id,
    }
}

fn sw(e: &mut Emulator, apdu: &[u8]) -> StatusWord {
    Response::parse(&e.handle(apdu)).expect("response").sw
}

const SELECT_JPKI: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
];
const SELECT_KENHOJO: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08,
];

#[tokio::test]
async fn wrong_pins_count_down_block_and_survive_a_restart() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut e = Emulator::open(&issued.card).expect("open");
    assert_eq!(sw(&mut e, &SELECT_JPKI), StatusWord::OK);
    assert_eq!(sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]), StatusWord::OK);
    // Empty VERIFY: tries left, none spent.
    assert_eq!(sw(&mut e, &[0x00, 0x20, 0x00, 0x80]), StatusWord(0x63C3));
    assert_eq!(sw(&mut e, &[0x00, 0x20, 0x00, 0x80]), StatusWord(0x63C3));
    let wrong = [0x00, 0x20, 0x00, 0x80, 0x04, b'9', b'9', b'9', b'9'];
    assert_eq!(sw(&mut e, &wrong), StatusWord(0x63C2));
    assert_eq!(sw(&mut e, &wrong), StatusWord(0x63C1));
    // Restart the emulator from the card file: the counter was persisted.
    drop(e);
    let mut e = Emulator::open(&issued.card).expect("reopen");
    sw(&mut e, &SELECT_JPKI);
    sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
    assert_eq!(sw(&mut e, &[0x00, 0x20, 0x00, 0x80]), StatusWord(0x63C1));
    assert_eq!(sw(&mut e, &wrong), StatusWord(0x63C0));
    // Blocked: even the right PIN gets 69 84.
    assert_eq!(
        sw(&mut e, &[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4']),
        StatusWord(0x6984)
    );
    drop(e);
    let mut card = MynaCard::new(Emulator::open(&issued.card).expect("reopen"));
    assert_eq!(card.tries_left(PinKind::Auth).expect("tries"), 0);
    let err = card.verify(PinKind::Auth, "1234").expect_err("blocked");
    assert!(matches!(err, CardError::Blocked(PinKind::Auth)), "{err}");
    assert!(err.to_string().contains("blocked"));
    // Other PINs are independent.
    assert_eq!(card.tries_left(PinKind::Sign).expect("tries"), 5);
}

#[tokio::test]
async fn a_right_pin_resets_the_counter_and_wrong_ones_say_how_many_are_left() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut card = MynaCard::new(Emulator::open(&issued.card).expect("open"));
    let err = card.verify(PinKind::Sign, "WRONG1").expect_err("wrong");
    assert!(
        matches!(
            err,
            CardError::WrongPin {
                pin: PinKind::Sign,
                tries_left: 4
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "wrong signing password: 4 tries left");
    card.verify(PinKind::Sign, "ABC123").expect("right");
    assert_eq!(card.tries_left(PinKind::Sign).expect("tries"), 5);
    // Malformed PINs are refused before they reach the card (they would spend a try).
    assert!(matches!(card.verify(PinKind::Auth, "12"), Err(CardError::PinFormat(_))));
    assert_eq!(card.tries_left(PinKind::Auth).expect("tries"), 3);
}

#[tokio::test]
async fn certificates_and_signatures_match_what_the_authority_issued() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut emulator = Emulator::open(&issued.card).expect("open");
    emulator.record();
    let mut card = MynaCard::new(emulator);
    assert_eq!(card.token().expect("token"), Token::MyNumberCard);
    let auth = card.auth_certificate().expect("auth certificate");
    assert_eq!(
        auth,
        issued
            .authority
            .resident_certificate(&issued.resident, Hierarchy::Authentication)
            .await
            .expect("export")
    );
    let sign = card.sign_certificate("ABC123").expect("signing certificate");
    assert_eq!(
        sign,
        issued
            .authority
            .resident_certificate(&issued.resident, Hierarchy::Signing)
            .await
            .expect("export")
    );
    assert_eq!(
        card.auth_ca_certificate().expect("ca"),
        issued
            .authority
            .ca(Hierarchy::Authentication)
            .await
            .expect("ca")
            .certificate
            .der
    );
    assert_eq!(
        card.sign_ca_certificate().expect("ca"),
        issued
            .authority
            .ca(Hierarchy::Signing)
            .await
            .expect("ca")
            .certificate
            .der
    );

    let x509 = <x509_cert::Certificate as der::Decode>::from_der(&auth).expect("x509");
    let public_key = x509
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    for (alg, digest) in [
        (
            oid::SHA256_WITH_RSA,
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"login"),
        ),
        (
            oid::SHA384_WITH_RSA,
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, b"login"),
        ),
        (
            oid::SHA512_WITH_RSA,
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, b"login"),
        ),
    ] {
        let sig = card.sign_digest(SignKey::Auth, "1234", digest.as_ref()).expect("sign");
        verify_rsa_pkcs1(&alg, &public_key, b"login", &sig).expect("the auth signature verifies");
    }
    // The token plus the auth certificate took few round trips: SELECT AP, READ (token), READ (cert).
    let emulator = card.into_transport();
    let first: Vec<&[u8]> = emulator.exchanges().iter().take(3).map(|x| &x.command[..2]).collect();
    assert_eq!(first, [&[0x00, 0xA4][..], &[0x00, 0xB0], &[0x00, 0xB0]]);
}

#[tokio::test]
async fn signing_needs_the_pin_and_the_key_selected_and_selecting_another_ap_forgets_the_pin() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut e = Emulator::open(&issued.card).expect("open");
    let digest_info = {
        let mut d = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ];
        d.extend_from_slice(&[7u8; 32]);
        d
    };
    let mut sign_apdu = vec![0x80, 0x2A, 0x00, 0x80, digest_info.len() as u8];
    sign_apdu.extend_from_slice(&digest_info);
    sign_apdu.push(0x00);
    sw(&mut e, &SELECT_JPKI);
    assert_eq!(
        sw(&mut e, &sign_apdu),
        StatusWord::CONDITIONS_NOT_SATISFIED,
        "no key selected"
    );
    sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]);
    assert_eq!(
        sw(&mut e, &sign_apdu),
        StatusWord::SECURITY_NOT_SATISFIED,
        "PIN not verified"
    );
    // VERIFY by SFI (P2 = 80 | 18).
    assert_eq!(
        sw(&mut e, &[0x00, 0x20, 0x00, 0x98, 0x04, b'1', b'2', b'3', b'4']),
        StatusWord::OK
    );
    sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]);
    let r = Response::parse(&e.handle(&sign_apdu)).expect("response");
    assert_eq!((r.sw, r.data.len()), (StatusWord::OK, 256));
    // The auth PIN does not unlock the signing key.
    sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x1A]);
    assert_eq!(sw(&mut e, &sign_apdu), StatusWord::SECURITY_NOT_SATISFIED);
    // Leaving the application forgets the PIN.
    sw(&mut e, &SELECT_KENHOJO);
    sw(&mut e, &SELECT_JPKI);
    sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]);
    assert_eq!(sw(&mut e, &sign_apdu), StatusWord::SECURITY_NOT_SATISFIED);
    // Keys and PINs are never readable.
    assert_eq!(
        sw(&mut e, &[0x00, 0xB0, 0x00, 0x00, 0x00]),
        StatusWord::COMMAND_NOT_ALLOWED
    );
    assert_eq!(
        sw(&mut e, &[0x00, 0xB0, 0x97, 0x00, 0x00]),
        StatusWord::COMMAND_NOT_ALLOWED
    );
    // The signing certificate needs the signing password.
    assert_eq!(
        sw(&mut e, &[0x00, 0xB0, 0x81, 0x00, 0x00]),
        StatusWord::SECURITY_NOT_SATISFIED
    );
}

#[tokio::test]
async fn reads_by_offset_by_sfi_and_past_the_end() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut e = Emulator::open(&issued.card).expect("open");
    sw(&mut e, &SELECT_JPKI);
    // By SFI with an extended Le: the whole certificate in one response.
    let whole = Response::parse(&e.handle(&[0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00])).expect("response");
    assert!(whole.sw.is_ok());
    let len = whole.data.len();
    assert_eq!(honnin_apdu::tlv::encoded_len(&whole.data).expect("tlv"), len);
    // By offset after SELECT: a short read at the end returns what is left, with 90 00.
    sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]);
    let [hi, lo] = ((len - 10) as u16).to_be_bytes();
    let tail = Response::parse(&e.handle(&[0x00, 0xB0, hi, lo, 0x00])).expect("response");
    assert_eq!(
        (tail.sw, tail.data.as_slice()),
        (StatusWord::OK, &whole.data[len - 10..])
    );
    let [hi, lo] = (len as u16).to_be_bytes();
    assert_eq!(sw(&mut e, &[0x00, 0xB0, hi, lo, 0x00]), StatusWord::WRONG_OFFSET);
    // Unknown AIDs and files: 6A 82 (OpenSC relies on this to pick its JPKI driver).
    assert_eq!(
        sw(&mut e, &[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]),
        StatusWord::FILE_NOT_FOUND
    );
    assert_eq!(
        sw(&mut e, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x99]),
        StatusWord::FILE_NOT_FOUND
    );
}

/// A transport without extended length: the driver falls back to SELECT + 256-byte chunks.
struct ShortOnly(Emulator, usize);

impl Transport for ShortOnly {
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError> {
        assert!(
            !command.is_extended(),
            "sent an extended APDU to a short-only transport"
        );
        self.1 += 1;
        self.0.transmit(command)
    }
}

#[tokio::test]
async fn without_extended_length_reads_chunk_and_stop_at_the_tlv_length() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut card = MynaCard::new(ShortOnly(Emulator::open(&issued.card).expect("open"), 0));
    let cert = card.auth_certificate().expect("certificate");
    let expected = issued
        .authority
        .resident_certificate(&issued.resident, Hierarchy::Authentication)
        .await
        .expect("export");
    assert_eq!(cert, expected);
    // SELECT AP + SELECT EF + ceil(len / 256) reads, not one more.
    assert_eq!(card.transport().1, 2 + expected.len().div_ceil(256));
}

#[tokio::test]
async fn kenhojo_attributes_verify_and_the_my_number_only_on_request() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let top = issued.authority.card_data_top_key().await.expect("top key");
    let mut card = MynaCard::new(Emulator::open(&issued.card).expect("open"));
    let read = card.kenhojo_basic4("5678", false, Some(&top)).expect("basic4");
    assert_eq!(
        read.basic4.name, "髙山　花子",
        "the kenhojo AP keeps characters the certificate substitutes"
    );
    assert_eq!(read.basic4.birth_date, "19900102");
    assert_eq!(read.basic4.sex, "2");
    assert!(read.my_number.is_none());
    assert!(matches!(read.verified, Some(Ok(c)) if !c.my_number_checked));
    let with = card.kenhojo_basic4("5678", true, Some(&top)).expect("basic4");
    let my_number = with.my_number.expect("asked for");
    assert_eq!(my_number.len(), 12);
    assert!(matches!(with.verified, Some(Ok(c)) if c.my_number_checked));
    // A foreign top key does not verify.
    let other = honnin_profile::RsaKey::generate().expect("key");
    let foreign = card
        .kenhojo_basic4("5678", false, Some(other.public_key_pkcs1()))
        .expect("basic4");
    assert!(matches!(foreign.verified, Some(Err(_))));
    // Without the kenhojo PIN the data stays closed.
    let mut e = Emulator::open(&issued.card).expect("open");
    sw(&mut e, &SELECT_KENHOJO);
    assert_eq!(
        sw(&mut e, &[0x00, 0xB0, 0x82, 0x00, 0x00]),
        StatusWord::SECURITY_NOT_SATISFIED
    );
    assert_eq!(
        sw(&mut e, &[0x00, 0xB0, 0x84, 0x00, 0x00]),
        StatusWord::OK,
        "the CVC is public"
    );

    // 券面AP: PIN A (the My Number) or PIN B; only PIN A yields the My Number image.
    let card_file = honnin_cardfile::CardFile::read(&issued.card).expect("card");
    let pin_b = format!(
        "900102{}{}",
        &card_file.surface.card_expiry[..4],
        card_file.surface.security_code
    );
    let entries = card
        .kenkaku_entries(PinKind::KenkakuPinB, &pin_b)
        .expect("entries with PIN B");
    assert_eq!(
        &entries.face[..12],
        &[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A],
        "JPEG 2000 signature box"
    );
    assert_eq!(entries.card_expiry, card_file.surface.card_expiry);
    assert!(
        matches!(card.kenkaku_my_number_image(&pin_b), Err(CardError::PinFormat(_))),
        "PIN B is not PIN A"
    );
    let mut e = Emulator::open(&issued.card).expect("open");
    let select_kenkaku = [
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02,
    ];
    sw(&mut e, &select_kenkaku);
    let mut verify_b = vec![0x00, 0x20, 0x00, 0x92, 14];
    verify_b.extend_from_slice(pin_b.as_bytes());
    assert_eq!(sw(&mut e, &verify_b), StatusWord::OK);
    assert_eq!(sw(&mut e, &[0x00, 0xB0, 0x82, 0x00, 0x00]), StatusWord::OK);
    assert_eq!(
        sw(&mut e, &[0x00, 0xB0, 0x85, 0x00, 0x00]),
        StatusWord::SECURITY_NOT_SATISFIED,
        "PIN B never yields the My Number image"
    );
    let image = card.kenkaku_my_number_image(&my_number).expect("PIN A");
    assert_eq!(&image[1..4], b"PNG");
}

#[tokio::test]
async fn pin_changes_persist() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut card = MynaCard::new(Emulator::open(&issued.card).expect("open"));
    card.change_pin(PinKind::Auth, "1234", "4321").expect("change");
    assert!(
        card.change_pin(PinKind::Sign, "ABC123", "abc").is_err(),
        "format checked"
    );
    let mut card = MynaCard::new(Emulator::open(&issued.card).expect("reopen"));
    assert!(matches!(
        card.verify(PinKind::Auth, "1234"),
        Err(CardError::WrongPin { tries_left: 2, .. })
    ));
    card.verify(PinKind::Auth, "4321").expect("the new PIN");
}

#[tokio::test]
async fn malformed_apdus_get_a_status_word() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut e = Emulator::open(&issued.card).expect("open");
    let mut seed = 0x2545F4914F6CDD1Du64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8).collect();
        let answer = e.handle(&bytes);
        assert!(answer.len() >= 2, "{bytes:02X?}");
    }
    assert_eq!(sw(&mut e, &[0x00]), StatusWord::WRONG_LENGTH);
    assert_eq!(sw(&mut e, &[0x12, 0x34, 0x00, 0x00]), StatusWord::CLA_NOT_SUPPORTED);
}

#[tokio::test]
async fn reading_the_signing_certificate_then_signing_verifies_the_password_once() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut emulator = Emulator::open(&issued.card).expect("open");
    emulator.record();
    let mut card = MynaCard::new(emulator);
    let certificate = card.sign_certificate("ABC123").expect("certificate");
    let cms = honnin_card::cms::sign_detached(
        &mut card,
        SignKey::Sign,
        "ABC123",
        &certificate,
        b"application",
        1_795_000_000,
    )
    .expect("CMS");
    assert!(!cms.is_empty());
    let emulator = card.into_transport();
    let verifies = emulator.exchanges().iter().filter(|x| x.command[1] == 0x20).count();
    assert_eq!(verifies, 1, "one VERIFY for reading and signing");
    // SELECT AP, VERIFY, READ (cert), SELECT key, SIGN.
    assert_eq!(emulator.exchanges().len(), 5);
}

/// A reader that refuses extended APDUs below the card (as PC/SC does), not with a status word.
struct RefusesExtended(Emulator);

impl Transport for RefusesExtended {
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError> {
        if command.is_extended() {
            return Err(TransportError::Other("SCARD_E_INVALID_PARAMETER".into()));
        }
        self.0.transmit(command)
    }

    fn supports_extended_length(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_reader_that_refuses_extended_apdus_falls_back_to_short_reads() {
    let issued = issue(date!(1990 - 01 - 02)).await;
    let mut card = MynaCard::new(RefusesExtended(Emulator::open(&issued.card).expect("open")));
    let cert = card.auth_certificate().expect("falls back");
    let expected = issued
        .authority
        .resident_certificate(&issued.resident, Hierarchy::Authentication)
        .await
        .expect("export");
    assert_eq!(cert, expected);
    assert!(!card.sign_ca_certificate().expect("short reads from now on").is_empty());
}
