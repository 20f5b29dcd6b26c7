//! `MynaCard`: the host driver for the My Number card over any [`Transport`].
//!
//! Round trips are what a card costs (each is several milliseconds on a contactless reader), so the
//! driver reads a whole file in one `READ BINARY` by short file identifier with an extended Le
//! where the transport allows it, falls back to `SELECT` + 256-byte chunks that stop at the file's TLV
//! length, verifies PINs by SFI, and does not re-select the application it already has selected.

use std::fmt;

use honnin_apdu::tlv;
use honnin_apdu::{Command, Response, StatusWord, Transport, TransportError, MAX_EXTENDED_LE, MAX_SHORT_LE};

use crate::ap::{self, jpki, juki, kenhojo, kenkaku, sfi};
use crate::layout::{self, Basic4Text, KenhojoCheck, LayoutError, SurfaceEntries};

/// The card's PINs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinKind {
    /// 利用者証明用暗証番号 (JPKI EF 0018): 4 digits, 3 tries.
    Auth,
    /// 署名用パスワード (JPKI EF 001B): 6–16 of A–Z and 0–9, 5 tries.
    Sign,
    /// 券面事項入力補助用暗証番号 (kenhojo EF 0011): 4 digits.
    Kenhojo,
    /// 住基用暗証番号 (juki EF 001C): 4 digits.
    Juki,
    /// 照合番号A of the 券面AP (the 12-digit My Number).
    KenkakuPinA,
    /// 照合番号B of the 券面AP (birth date YYMMDD, expiry year, security code: 14 digits).
    KenkakuPinB,
}

impl PinKind {
    pub const ALL: [PinKind; 6] = [
        PinKind::Auth,
        PinKind::Sign,
        PinKind::Kenhojo,
        PinKind::Juki,
        PinKind::KenkakuPinA,
        PinKind::KenkakuPinB,
    ];

    fn location(self) -> ([u8; 10], u16) {
        match self {
            PinKind::Auth => (ap::JPKI_AID, jpki::AUTH_PIN),
            PinKind::Sign => (ap::JPKI_AID, jpki::SIGN_PIN),
            PinKind::Kenhojo => (ap::KENHOJO_AID, kenhojo::PIN),
            PinKind::Juki => (ap::JUKI_AID, juki::PIN),
            PinKind::KenkakuPinA => (ap::KENKAKU_AID, kenkaku::PIN_A),
            PinKind::KenkakuPinB => (ap::KENKAKU_AID, kenkaku::PIN_B),
        }
    }

    /// Short name for command lines and JSON.
    pub fn id(self) -> &'static str {
        match self {
            PinKind::Auth => "auth",
            PinKind::Sign => "sign",
            PinKind::Kenhojo => "kenhojo",
            PinKind::Juki => "juki",
            PinKind::KenkakuPinA => "pin-a",
            PinKind::KenkakuPinB => "pin-b",
        }
    }

    /// Checks a PIN's format before it is sent (a malformed PIN would still spend a try).
    pub fn check_format(self, pin: &str) -> Result<(), CardError> {
        let digits = |n: usize| pin.len() == n && pin.bytes().all(|b| b.is_ascii_digit());
        let ok = match self {
            PinKind::Auth | PinKind::Kenhojo | PinKind::Juki => digits(4),
            PinKind::Sign => {
                (6..=16).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            PinKind::KenkakuPinA => digits(12),
            PinKind::KenkakuPinB => digits(14),
        };
        if ok {
            Ok(())
        } else {
            Err(CardError::PinFormat(match self {
                PinKind::Auth | PinKind::Kenhojo | PinKind::Juki => format!("the {self} is exactly 4 digits"),
                PinKind::Sign => "the signing password is 6–16 characters of A–Z and 0–9".into(),
                PinKind::KenkakuPinA => "PIN A is the 12-digit My Number".into(),
                PinKind::KenkakuPinB => "PIN B is 14 digits: birth date YYMMDD, expiry year YYYY, security code".into(),
            }))
        }
    }
}

impl fmt::Display for PinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinKind::Auth => "auth PIN",
            PinKind::Sign => "signing password",
            PinKind::Kenhojo => "券面事項入力補助 PIN",
            PinKind::Juki => "住基 PIN",
            PinKind::KenkakuPinA => "PIN A",
            PinKind::KenkakuPinB => "PIN B",
        })
    }
}

/// Which private key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignKey {
    /// The user-authentication key (EF 0017), unlocked by the auth PIN.
    Auth,
    /// The signing key (EF 001A), unlocked by the signing password.
    Sign,
}

impl SignKey {
    fn key_file(self) -> u16 {
        match self {
            SignKey::Auth => jpki::AUTH_KEY,
            SignKey::Sign => jpki::SIGN_KEY,
        }
    }

    pub fn pin(self) -> PinKind {
        match self {
            SignKey::Auth => PinKind::Auth,
            SignKey::Sign => PinKind::Sign,
        }
    }
}

/// What EF 0006 of the JPKI-AP says the card is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// `JPKIAPICCTOKEN2`: a My Number card.
    MyNumberCard,
    /// `JPKIAPICCTOKEN`: an old 住基カード.
    JukiCard,
    /// `JPKIAPGPSETOKEN`: a smartphone's secure element (スマホ用電子証明書).
    Smartphone,
    Other(String),
}

impl Token {
    pub fn parse(text: &str) -> Token {
        match text {
            ap::token::MY_NUMBER_CARD => Token::MyNumberCard,
            ap::token::JUKI_CARD => Token::JukiCard,
            ap::token::SMARTPHONE => Token::Smartphone,
            other => Token::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Token::MyNumberCard => ap::token::MY_NUMBER_CARD,
            Token::JukiCard => ap::token::JUKI_CARD,
            Token::Smartphone => ap::token::SMARTPHONE,
            Token::Other(s) => s,
        }
    }
}

/// Why a card operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("wrong {pin}: {tries_left} {} left", if *tries_left == 1 { "try" } else { "tries" })]
    WrongPin { pin: PinKind, tries_left: u8 },
    #[error("the {0} is blocked; it can only be reset at the municipal office")]
    Blocked(PinKind),
    #[error("{0}")]
    PinFormat(String),
    #[error("the card answered {sw} to {what}")]
    Status { what: &'static str, sw: StatusWord },
    #[error("the card has no {0}")]
    NotPresent(&'static str),
    #[error("the card's {0} is malformed")]
    Malformed(&'static str),
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

/// The 4 attributes read from the 券面事項入力補助AP, with the outcome of their authenticity check.
#[derive(Clone, Debug)]
pub struct KenhojoBasic4 {
    pub basic4: Basic4Text,
    /// Only when asked for.
    pub my_number: Option<String>,
    /// `None` when no top key was given; otherwise the check's result.
    pub verified: Option<Result<KenhojoCheck, String>>,
}

/// SHA-256/384/512 `DigestInfo` prefixes (RFC 8017 §9.2 note 1).
const DIGEST_INFO_PREFIXES: [(usize, &[u8]); 3] = [
    (
        32,
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ],
    ),
    (
        48,
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04,
            0x30,
        ],
    ),
    (
        64,
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
            0x40,
        ],
    ),
];

/// The DER `DigestInfo` for a SHA-256, SHA-384 or SHA-512 digest (chosen by its length).
pub fn digest_info(digest: &[u8]) -> Option<Vec<u8>> {
    let (_, prefix) = DIGEST_INFO_PREFIXES.iter().find(|(len, _)| *len == digest.len())?;
    let mut out = prefix.to_vec();
    out.extend_from_slice(digest);
    Some(out)
}

/// The driver.
pub struct MynaCard<T: Transport> {
    transport: T,
    selected: Option<[u8; 10]>,
    /// PINs verified since the current application was selected: the card keeps that state until
    /// another application is selected, so signing after reading a PIN-protected file needs no
    /// second VERIFY.
    verified: Vec<PinKind>,
    extended: bool,
}

impl<T: Transport> MynaCard<T> {
    pub fn new(transport: T) -> Self {
        let extended = transport.supports_extended_length();
        MynaCard {
            transport,
            selected: None,
            verified: Vec::new(),
            extended,
        }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    fn send(&mut self, cmd: &Command) -> Result<Response, CardError> {
        match self.transport.transmit(cmd) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.selected = None;
                self.verified.clear();
                Err(e.into())
            }
        }
    }

    fn expect_ok(&mut self, cmd: &Command, what: &'static str) -> Result<Vec<u8>, CardError> {
        let r = self.send(cmd)?;
        if r.sw.is_ok() {
            Ok(r.data)
        } else {
            Err(CardError::Status { what, sw: r.sw })
        }
    }

    /// Selects an application by DF name, unless it is the one already selected.
    pub fn select_application(&mut self, aid: [u8; 10]) -> Result<(), CardError> {
        if self.selected == Some(aid) {
            return Ok(());
        }
        self.verified.clear();
        let r = self.send(&Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(aid))?;
        if r.sw == StatusWord::FILE_NOT_FOUND {
            self.selected = None;
            return Err(CardError::NotPresent("such application (is this a My Number card?)"));
        }
        if !r.sw.is_ok() {
            self.selected = None;
            return Err(CardError::Status {
                what: "SELECT application",
                sw: r.sw,
            });
        }
        self.selected = Some(aid);
        Ok(())
    }

    fn select_file(&mut self, fid: u16, what: &'static str) -> Result<(), CardError> {
        let r = self.send(&Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(fid.to_be_bytes()))?;
        match r.sw {
            StatusWord::OK => Ok(()),
            StatusWord::FILE_NOT_FOUND => Err(CardError::NotPresent(what)),
            sw => Err(CardError::Status {
                what: "SELECT file",
                sw,
            }),
        }
    }

    /// Reads one TLV-structured file of the selected application.
    fn read_tlv_file(&mut self, fid: u16, what: &'static str) -> Result<Vec<u8>, CardError> {
        if self.extended {
            // One round trip: READ BINARY by SFI with an extended Le.
            let application = self.selected;
            let r = match self.send(&Command::new(0x00, 0xB0, 0x80 | sfi(fid), 0x00).with_le(MAX_EXTENDED_LE)) {
                Ok(r) => r,
                // A reader that cannot carry extended APDUs fails below the card (PC/SC error):
                // use short ones from now on, in the application we were in.
                Err(CardError::Transport(_)) => {
                    self.extended = false;
                    if let Some(aid) = application {
                        self.select_application(aid)?;
                    }
                    return self.read_tlv_file(fid, what);
                }
                Err(e) => return Err(e),
            };
            match r.sw {
                StatusWord::OK | StatusWord::END_OF_FILE => {
                    let total = tlv::encoded_len(&r.data).map_err(|_| CardError::Malformed(what))?;
                    if total <= r.data.len() {
                        let mut data = r.data;
                        data.truncate(total);
                        return Ok(data);
                    }
                    // A reader that capped the response: continue in chunks below.
                    return self.read_rest(fid, r.data, total, what);
                }
                StatusWord::FILE_NOT_FOUND => return Err(CardError::NotPresent(what)),
                StatusWord::SECURITY_NOT_SATISFIED => {
                    return Err(CardError::Status {
                        what: "READ BINARY",
                        sw: r.sw,
                    })
                }
                _ => self.extended = false,
            }
        }
        self.select_file(fid, what)?;
        let first = self.read_chunk(0, MAX_SHORT_LE)?;
        let total = tlv::encoded_len(&first).map_err(|_| CardError::Malformed(what))?;
        if total <= first.len() {
            let mut data = first;
            data.truncate(total);
            return Ok(data);
        }
        self.read_rest(fid, first, total, what)
    }

    fn read_rest(
        &mut self,
        _fid: u16,
        mut data: Vec<u8>,
        total: usize,
        what: &'static str,
    ) -> Result<Vec<u8>, CardError> {
        while data.len() < total {
            if data.len() > 0x7FFF {
                return Err(CardError::Malformed(what));
            }
            let chunk = self.read_chunk(data.len(), (total - data.len()).min(MAX_SHORT_LE))?;
            if chunk.is_empty() {
                return Err(CardError::Malformed(what));
            }
            data.extend_from_slice(&chunk);
        }
        data.truncate(total);
        Ok(data)
    }

    fn read_chunk(&mut self, offset: usize, le: usize) -> Result<Vec<u8>, CardError> {
        let [hi, lo] = (offset as u16).to_be_bytes();
        let r = self.send(&Command::new(0x00, 0xB0, hi & 0x7F, lo).with_le(le))?;
        match r.sw {
            StatusWord::OK | StatusWord::END_OF_FILE => Ok(r.data),
            sw => Err(CardError::Status {
                what: "READ BINARY",
                sw,
            }),
        }
    }

    /// The JPKI-AP token (EF 0006), which says what kind of card (or phone) this is.
    pub fn token(&mut self) -> Result<Token, CardError> {
        self.select_application(ap::JPKI_AID)?;
        let r = self.send(&Command::new(0x00, 0xB0, 0x80 | sfi(jpki::TOKEN), 0x00).with_le(0x20))?;
        let data = if r.sw.is_ok() {
            r.data
        } else {
            self.select_file(jpki::TOKEN, "token")?;
            self.read_chunk(0, 0x20)?
        };
        let text = String::from_utf8_lossy(&data);
        Ok(Token::parse(text.trim_end_matches([' ', '\0'])))
    }

    /// Tries left for a PIN, without spending one. `Ok(0)` means blocked.
    pub fn tries_left(&mut self, pin: PinKind) -> Result<u8, CardError> {
        let (aid, fid) = pin.location();
        self.select_application(aid)?;
        let r = self.verify_command(fid, None)?;
        match r.sw {
            sw if sw.retries().is_some() => Ok(sw.retries().unwrap_or(0)),
            sw if sw.is_blocked() => Ok(0),
            StatusWord::FILE_NOT_FOUND => Err(CardError::NotPresent("such PIN")),
            sw => Err(CardError::Status {
                what: "VERIFY (tries left)",
                sw,
            }),
        }
    }

    /// VERIFY by SFI in P2 (one round trip), falling back to SELECT + VERIFY P2=80.
    fn verify_command(&mut self, fid: u16, pin: Option<&str>) -> Result<Response, CardError> {
        let build = |p2: u8| {
            let c = Command::new(0x00, 0x20, 0x00, p2);
            match pin {
                Some(p) => c.with_data(p.as_bytes()),
                None => c,
            }
        };
        let r = self.send(&build(0x80 | sfi(fid)))?;
        if matches!(
            r.sw,
            StatusWord::WRONG_P1P2 | StatusWord::FUNCTION_NOT_SUPPORTED | StatusWord::FILE_NOT_FOUND
        ) {
            self.select_file(fid, "PIN")?;
            return self.send(&build(0x80));
        }
        Ok(r)
    }

    /// Verifies a PIN. A wrong one reports the tries left; a blocked one says so.
    pub fn verify(&mut self, pin: PinKind, value: &str) -> Result<(), CardError> {
        pin.check_format(value)?;
        let (aid, fid) = pin.location();
        self.select_application(aid)?;
        let r = self.verify_command(fid, Some(value))?;
        self.verified.retain(|p| *p != pin);
        match r.sw {
            StatusWord::OK => {
                self.verified.push(pin);
                Ok(())
            }
            sw if sw.retries() == Some(0) || sw.is_blocked() => Err(if sw.is_blocked() {
                CardError::Blocked(pin)
            } else {
                CardError::WrongPin { pin, tries_left: 0 }
            }),
            sw if sw.retries().is_some() => Err(CardError::WrongPin {
                pin,
                tries_left: sw.retries().unwrap_or(0),
            }),
            sw => Err(CardError::Status { what: "VERIFY", sw }),
        }
    }

    /// Changes a PIN: VERIFY the current one, then CHANGE REFERENCE DATA with the new one only.
    pub fn change_pin(&mut self, pin: PinKind, current: &str, new: &str) -> Result<(), CardError> {
        pin.check_format(new)?;
        self.verify(pin, current)?;
        let (_, fid) = pin.location();
        self.select_file(fid, "PIN")?;
        self.expect_ok(
            &Command::new(0x00, 0x24, 0x01, 0x80).with_data(new.as_bytes()),
            "CHANGE REFERENCE DATA",
        )?;
        Ok(())
    }

    /// The user-authentication certificate (DER). On a smartphone token the auth PIN is needed first.
    pub fn auth_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        self.select_application(ap::JPKI_AID)?;
        self.read_tlv_file(jpki::AUTH_CERT, "authentication certificate")
    }

    /// The root that issued the auth certificate.
    pub fn auth_ca_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        self.select_application(ap::JPKI_AID)?;
        self.read_tlv_file(jpki::AUTH_CA, "authentication CA certificate")
    }

    /// The root that issued the signing certificate.
    pub fn sign_ca_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        self.select_application(ap::JPKI_AID)?;
        self.read_tlv_file(jpki::SIGN_CA, "signing CA certificate")
    }

    /// The signing certificate: readable only after the signing password.
    pub fn sign_certificate(&mut self, password: &str) -> Result<Vec<u8>, CardError> {
        self.verify(PinKind::Sign, password)?;
        self.read_tlv_file(jpki::SIGN_CERT, "signing certificate")
    }

    /// Signs a DER `DigestInfo` with a key, verifying its PIN first. The card pads (PKCS#1 v1.5
    /// type 1) and performs the RSA operation.
    ///
    /// When this session already verified the PIN (say, to read the signing certificate), the
    /// signature is tried without a second VERIFY; if the card has forgotten it, the PIN is verified
    /// and the signature tried once more.
    pub fn sign_digest_info(&mut self, key: SignKey, pin: &str, digest_info: &[u8]) -> Result<Vec<u8>, CardError> {
        if self.selected == Some(ap::JPKI_AID) && self.verified.contains(&key.pin()) {
            match self.sign_after_verify(key, digest_info) {
                Err(CardError::Status {
                    sw: StatusWord::SECURITY_NOT_SATISFIED,
                    ..
                }) => {}
                other => return other,
            }
        }
        self.verify(key.pin(), pin)?;
        self.sign_after_verify(key, digest_info)
    }

    /// Signs with a key whose PIN this session already verified.
    pub fn sign_after_verify(&mut self, key: SignKey, digest_info: &[u8]) -> Result<Vec<u8>, CardError> {
        self.select_application(ap::JPKI_AID)?;
        self.select_file(key.key_file(), "private key")?;
        let r = self.send(
            &Command::new(0x80, 0x2A, 0x00, 0x80)
                .with_data(digest_info)
                .with_le(MAX_SHORT_LE),
        )?;
        match r.sw {
            StatusWord::OK => Ok(r.data),
            StatusWord::SECURITY_NOT_SATISFIED => Err(CardError::Status {
                what: "SIGN (PIN not verified)",
                sw: r.sw,
            }),
            sw => Err(CardError::Status { what: "SIGN", sw }),
        }
    }

    /// Signs a SHA-256/384/512 digest (the `DigestInfo` is built here).
    pub fn sign_digest(&mut self, key: SignKey, pin: &str, digest: &[u8]) -> Result<Vec<u8>, CardError> {
        let di = digest_info(digest).ok_or(CardError::PinFormat("a digest is 32, 48 or 64 bytes".into()))?;
        self.sign_digest_info(key, pin, &di)
    }

    /// The 4 attributes from the 券面事項入力補助AP, checked against `top_key` (PKCS#1) when given.
    /// The My Number is read only when `with_my_number` is set.
    pub fn kenhojo_basic4(
        &mut self,
        pin: &str,
        with_my_number: bool,
        top_key: Option<&[u8]>,
    ) -> Result<KenhojoBasic4, CardError> {
        self.verify(PinKind::Kenhojo, pin)?;
        let basic4_file = self.read_tlv_file(kenhojo::BASIC4, "4 attributes")?;
        let basic4 = layout::parse_basic4(&basic4_file)?;
        let my_number_file = if with_my_number {
            Some(self.read_tlv_file(kenhojo::MY_NUMBER, "My Number")?)
        } else {
            None
        };
        let my_number = my_number_file.as_deref().map(layout::parse_my_number).transpose()?;
        let verified = match top_key {
            None => None,
            Some(top) => {
                let signature = self.read_tlv_file(kenhojo::SIGNATURE, "signature of the 4 attributes")?;
                let certificate = self.read_tlv_file(kenhojo::CERTIFICATE, "card-verifiable certificate")?;
                Some(
                    layout::verify_kenhojo(&basic4_file, my_number_file.as_deref(), &signature, &certificate, top)
                        .map_err(|e| e.to_string()),
                )
            }
        };
        Ok(KenhojoBasic4 {
            basic4,
            my_number,
            verified,
        })
    }

    /// The 券面AP's entries (face photo, images, birth date) after PIN A or PIN B.
    pub fn kenkaku_entries(&mut self, pin: PinKind, value: &str) -> Result<SurfaceEntries, CardError> {
        if !matches!(pin, PinKind::KenkakuPinA | PinKind::KenkakuPinB) {
            return Err(CardError::PinFormat("the 券面AP opens with PIN A or PIN B".into()));
        }
        self.verify(pin, value)?;
        Ok(layout::parse_kenkaku_entries(
            &self.read_tlv_file(kenkaku::ENTRIES, "surface entries")?,
        )?)
    }

    /// The My Number as an image (kenkaku EF 0005): PIN A only; PIN B never yields it.
    pub fn kenkaku_my_number_image(&mut self, pin_a: &str) -> Result<Vec<u8>, CardError> {
        self.verify(PinKind::KenkakuPinA, pin_a)?;
        let file = self.read_tlv_file(kenkaku::MY_NUMBER_IMAGE, "My Number image")?;
        let outer = tlv::parse(&file).map_err(|_| CardError::Malformed("My Number image"))?;
        let image = outer
            .child(tlv::Tag(0xDF41))
            .map_err(|_| CardError::Malformed("My Number image"))?;
        image
            .map(|i| i.value.to_vec())
            .ok_or(CardError::Malformed("My Number image"))
    }
}
