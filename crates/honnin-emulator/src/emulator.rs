//! The card's file system and security state machine.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use honnin_apdu::{Command, Response, StatusWord, Transport, TransportError, MAX_SHORT_LE};
use honnin_card::ap::{self, jpki, juki, kenhojo, kenkaku};
use honnin_cardfile::{CardFile, CardFileError, Pin};
use honnin_profile::RsaKey;

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(transparent)]
    CardFile(#[from] CardFileError),
    #[error("the card file's {0} key is not a usable RSA key")]
    BadKey(&'static str),
}

/// The card's applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Df {
    Jpki,
    Kenhojo,
    Kenkaku,
    Juki,
}

impl Df {
    fn from_aid(aid: &[u8]) -> Option<Df> {
        [
            (ap::JPKI_AID, Df::Jpki),
            (ap::KENHOJO_AID, Df::Kenhojo),
            (ap::KENKAKU_AID, Df::Kenkaku),
            (ap::JUKI_AID, Df::Juki),
        ]
        .into_iter()
        .find(|(a, _)| a.as_slice() == aid)
        .map(|(_, df)| df)
    }
}

/// Which PIN record of the card file a PIN EF is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PinRef {
    Auth,
    Sign,
    Kenhojo,
    Juki,
    A,
    B,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyRef {
    Auth,
    Sign,
}

/// Who may read a binary file.
#[derive(Clone, Copy, Debug)]
enum Access {
    Free,
    /// After any of these PIN EFs (of the same application) was verified.
    AnyOf(&'static [u16]),
}

enum File<'a> {
    Binary(std::borrow::Cow<'a, [u8]>, Access),
    Pin(PinRef),
    Key(KeyRef, u16),
}

/// One APDU exchange, for logs and benchmarks.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub command: Vec<u8>,
    pub response: Vec<u8>,
}

/// A My Number card in software.
pub struct Emulator {
    card: CardFile,
    path: Option<PathBuf>,
    auth_key: RsaKey,
    sign_key: Option<RsaKey>,
    df: Option<Df>,
    ef: Option<u16>,
    verified: HashSet<u16>,
    log: Option<Vec<Exchange>>,
    log_to: Option<Box<dyn std::io::Write + Send>>,
}

impl Emulator {
    /// Opens a card file; PIN changes and counters are written back to it.
    pub fn open(path: &Path) -> Result<Self, EmulatorError> {
        let card = CardFile::read(path)?;
        let mut e = Self::in_memory(card)?;
        e.path = Some(path.to_path_buf());
        Ok(e)
    }

    /// A card that keeps its state in memory only.
    pub fn in_memory(card: CardFile) -> Result<Self, EmulatorError> {
        let auth_key = RsaKey::from_pkcs8(&card.jpki.auth.private_key.0).map_err(|_| EmulatorError::BadKey("auth"))?;
        let sign_key = match &card.jpki.sign {
            Some(slot) => Some(RsaKey::from_pkcs8(&slot.private_key.0).map_err(|_| EmulatorError::BadKey("signing"))?),
            None => None,
        };
        Ok(Emulator {
            card,
            path: None,
            auth_key,
            sign_key,
            df: None,
            ef: None,
            verified: HashSet::new(),
            log: None,
            log_to: None,
        })
    }

    /// Records every exchange from now on (see [`Emulator::exchanges`]).
    pub fn record(&mut self) {
        self.log = Some(Vec::new());
    }

    /// Writes one line per exchange to `out`: the command in hex (PIN data of VERIFY and CHANGE
    /// REFERENCE DATA withheld) and the response's length and status word.
    pub fn log_to(&mut self, out: Box<dyn std::io::Write + Send>) {
        self.log_to = Some(out);
    }

    /// What was recorded, oldest first.
    pub fn exchanges(&self) -> &[Exchange] {
        self.log.as_deref().unwrap_or(&[])
    }

    /// The card as it is now (PIN counters included).
    pub fn card(&self) -> &CardFile {
        &self.card
    }

    /// Power-on or reset: no application selected, no PIN verified.
    pub fn reset(&mut self) {
        self.df = None;
        self.ef = None;
        self.verified.clear();
    }

    /// Answers one APDU (bytes in, response bytes out). Never panics.
    pub fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        let response = match Command::parse(apdu) {
            Ok(cmd) => self.execute(&cmd),
            Err(_) => Response::status(StatusWord::WRONG_LENGTH),
        };
        let bytes = response.to_bytes();
        if let Some(log) = &mut self.log {
            log.push(Exchange {
                command: apdu.to_vec(),
                response: bytes.clone(),
            });
        }
        if let Some(out) = &mut self.log_to {
            let line = log_line(apdu, &bytes);
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                tracing::warn!("cannot write the APDU log; logging stops");
                self.log_to = None;
            }
        }
        bytes
    }

    fn execute(&mut self, cmd: &Command) -> Response {
        match (cmd.cla, cmd.ins) {
            (0x00, 0xA4) => self.select(cmd),
            (0x00, 0xB0) => self.read_binary(cmd),
            (0x00, 0x20) => self.verify(cmd),
            (0x00, 0x24) => self.change_reference_data(cmd),
            (0x80, 0x2A) => self.sign(cmd),
            (0x00, 0xB2) => Response::status(StatusWord(0x6A83)), // READ RECORD: no such record
            (0x00 | 0x80, _) => Response::status(StatusWord::INS_NOT_SUPPORTED),
            _ => Response::status(StatusWord::CLA_NOT_SUPPORTED),
        }
    }

    fn file(&self, df: Df, fid: u16) -> Option<File<'_>> {
        use std::borrow::Cow::{Borrowed, Owned};
        let card = &self.card;
        let has_sign = card.jpki.sign.is_some();
        Some(match (df, fid) {
            (Df::Jpki, jpki::TOKEN) => {
                let mut token = card.jpki.token.as_bytes().to_vec();
                token.resize(32, b' ');
                File::Binary(Owned(token), Access::Free)
            }
            (Df::Jpki, jpki::AUTH_CERT) => File::Binary(Borrowed(&card.jpki.auth.certificate.0), Access::Free),
            (Df::Jpki, jpki::AUTH_CA) => File::Binary(Borrowed(&card.jpki.auth.ca_certificate.0), Access::Free),
            (Df::Jpki, jpki::AUTH_KEY) => File::Key(KeyRef::Auth, jpki::AUTH_PIN),
            (Df::Jpki, jpki::AUTH_PIN) => File::Pin(PinRef::Auth),
            (Df::Jpki, jpki::SIGN_CERT) if has_sign => File::Binary(
                Borrowed(&card.jpki.sign.as_ref()?.certificate.0),
                Access::AnyOf(&[jpki::SIGN_PIN]),
            ),
            (Df::Jpki, jpki::SIGN_CA) if has_sign => {
                File::Binary(Borrowed(&card.jpki.sign.as_ref()?.ca_certificate.0), Access::Free)
            }
            (Df::Jpki, jpki::SIGN_KEY) if has_sign => File::Key(KeyRef::Sign, jpki::SIGN_PIN),
            (Df::Jpki, jpki::SIGN_PIN) if card.jpki.sign_password.is_some() => File::Pin(PinRef::Sign),
            (Df::Kenhojo, kenhojo::PIN) => File::Pin(PinRef::Kenhojo),
            (Df::Kenhojo, kenhojo::PIN_A) => File::Pin(PinRef::A),
            (Df::Kenhojo, kenhojo::PIN_B) => File::Pin(PinRef::B),
            (Df::Kenhojo, f @ (kenhojo::MY_NUMBER | kenhojo::BASIC4 | kenhojo::SIGNATURE)) => {
                File::Binary(Borrowed(&card.kenhojo_files.get(&f)?.0), Access::AnyOf(&[kenhojo::PIN]))
            }
            (Df::Kenhojo, f @ (kenhojo::CERTIFICATE | kenhojo::BASIC_INFO)) => {
                File::Binary(Borrowed(&card.kenhojo_files.get(&f)?.0), Access::Free)
            }
            (Df::Kenkaku, kenkaku::PIN_A) => File::Pin(PinRef::A),
            (Df::Kenkaku, kenkaku::PIN_B) => File::Pin(PinRef::B),
            (Df::Kenkaku, kenkaku::ENTRIES) => File::Binary(
                Borrowed(&card.kenkaku_files.get(&kenkaku::ENTRIES)?.0),
                Access::AnyOf(&[kenkaku::PIN_A, kenkaku::PIN_B]),
            ),
            // PIN B alone never yields the My Number image.
            (Df::Kenkaku, kenkaku::MY_NUMBER_IMAGE) => File::Binary(
                Borrowed(&card.kenkaku_files.get(&kenkaku::MY_NUMBER_IMAGE)?.0),
                Access::AnyOf(&[kenkaku::PIN_A]),
            ),
            (Df::Kenkaku, f @ (kenkaku::BASIC_INFO | kenkaku::CERTIFICATE)) => {
                File::Binary(Borrowed(&card.kenkaku_files.get(&f)?.0), Access::Free)
            }
            (Df::Juki, juki::PIN) => File::Pin(PinRef::Juki),
            _ => return None,
        })
    }

    /// The FID in the current application whose short file identifier is `sfi`.
    /// Every file of the card has a FID below 0x20, so a file's SFI is its FID.
    fn fid_by_sfi(&self, df: Df, sfi: u8) -> Option<u16> {
        let fid = sfi as u16;
        self.file(df, fid).is_some().then_some(fid)
    }

    fn select(&mut self, cmd: &Command) -> Response {
        if !matches!(cmd.p2, 0x00 | 0x04 | 0x0C) {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        match cmd.p1 {
            0x04 => match Df::from_aid(&cmd.data) {
                Some(df) => {
                    if self.df != Some(df) {
                        // Security state belongs to the application: leaving it forgets PINs.
                        self.verified.clear();
                    }
                    self.df = Some(df);
                    self.ef = None;
                    Response::status(StatusWord::OK)
                }
                None => Response::status(StatusWord::FILE_NOT_FOUND),
            },
            0x00 | 0x02 => {
                let [hi, lo] = cmd.data.as_slice() else {
                    return Response::status(StatusWord::WRONG_LENGTH);
                };
                let fid = u16::from_be_bytes([*hi, *lo]);
                if fid == 0x3F00 && cmd.p1 == 0x00 {
                    self.reset();
                    return Response::status(StatusWord::OK);
                }
                match self.df {
                    Some(df) if self.file(df, fid).is_some() => {
                        self.ef = Some(fid);
                        Response::status(StatusWord::OK)
                    }
                    _ => Response::status(StatusWord::FILE_NOT_FOUND),
                }
            }
            _ => Response::status(StatusWord::WRONG_P1P2),
        }
    }

    fn read_binary(&mut self, cmd: &Command) -> Response {
        let Some(df) = self.df else {
            return Response::status(StatusWord::COMMAND_NOT_ALLOWED);
        };
        let (fid, offset) = if cmd.p1 & 0x80 != 0 {
            match self.fid_by_sfi(df, cmd.p1 & 0x1F) {
                Some(fid) => (fid, cmd.p2 as usize),
                None => return Response::status(StatusWord::FILE_NOT_FOUND),
            }
        } else {
            match self.ef {
                Some(fid) => (fid, (((cmd.p1 & 0x7F) as usize) << 8) | cmd.p2 as usize),
                None => return Response::status(StatusWord::COMMAND_NOT_ALLOWED),
            }
        };
        let response = match self.file(df, fid) {
            Some(File::Binary(data, access)) => {
                if !self.allowed(access) {
                    Response::status(StatusWord::SECURITY_NOT_SATISFIED)
                } else if offset >= data.len() {
                    Response::status(StatusWord::WRONG_OFFSET)
                } else {
                    let le = cmd.le.unwrap_or(MAX_SHORT_LE);
                    let end = data.len().min(offset + le);
                    // A read that runs past the end returns what there is (short read), with 90 00.
                    Response::ok(data[offset..end].to_vec())
                }
            }
            // Keys are never readable; PIN reference data neither.
            Some(_) => Response::status(StatusWord::COMMAND_NOT_ALLOWED),
            None => Response::status(StatusWord::FILE_NOT_FOUND),
        };
        if response.sw != StatusWord::FILE_NOT_FOUND {
            self.ef = Some(fid);
        }
        response
    }

    fn allowed(&self, access: Access) -> bool {
        match access {
            Access::Free => true,
            Access::AnyOf(pins) => pins.iter().any(|p| self.verified.contains(p)),
        }
    }

    fn pin_mut(&mut self, r: PinRef) -> Option<&mut Pin> {
        Some(match r {
            PinRef::Auth => &mut self.card.jpki.auth_pin,
            PinRef::Sign => self.card.jpki.sign_password.as_mut()?,
            PinRef::Kenhojo => &mut self.card.kenhojo_pin,
            PinRef::Juki => &mut self.card.juki_pin,
            PinRef::A => &mut self.card.pin_a,
            PinRef::B => &mut self.card.pin_b,
        })
    }

    /// The PIN EF a VERIFY or CHANGE addresses: P2 = 80 (current EF) or 80 | SFI.
    fn addressed_pin(&self, p2: u8) -> Result<(u16, PinRef), StatusWord> {
        let df = self.df.ok_or(StatusWord::COMMAND_NOT_ALLOWED)?;
        if p2 & 0x80 == 0 {
            return Err(StatusWord::WRONG_P1P2);
        }
        let fid = match p2 & 0x1F {
            0 => self.ef.ok_or(StatusWord::COMMAND_NOT_ALLOWED)?,
            sfi => self.fid_by_sfi(df, sfi).ok_or(StatusWord::FILE_NOT_FOUND)?,
        };
        match self.file(df, fid) {
            Some(File::Pin(r)) => Ok((fid, r)),
            Some(_) => Err(StatusWord::COMMAND_NOT_ALLOWED),
            None => Err(StatusWord::FILE_NOT_FOUND),
        }
    }

    fn verify(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != 0x00 {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        let (fid, r) = match self.addressed_pin(cmd.p2) {
            Ok(x) => x,
            Err(sw) => return Response::status(sw),
        };
        let Some(pin) = self.pin_mut(r) else {
            return Response::status(StatusWord::FILE_NOT_FOUND);
        };
        if pin.is_blocked() {
            return Response::status(StatusWord::REFERENCE_DATA_UNUSABLE);
        }
        if cmd.data.is_empty() {
            // Tries left, without spending one.
            return Response::status(StatusWord::tries_left(pin.tries_left));
        }
        let candidate = String::from_utf8_lossy(&cmd.data).into_owned();
        let (sw, changed) = if pin.matches(&candidate) {
            let changed = pin.tries_left != pin.max_tries;
            pin.tries_left = pin.max_tries;
            (StatusWord::OK, changed)
        } else {
            pin.tries_left = pin.tries_left.saturating_sub(1);
            (StatusWord::tries_left(pin.tries_left), true)
        };
        if sw.is_ok() {
            self.verified.insert(fid);
        } else {
            self.verified.remove(&fid);
        }
        // The counter is on "the chip" before the answer leaves it.
        if changed {
            if let Err(e) = self.persist() {
                tracing::error!(error = %e, "cannot persist the card state");
                return Response::status(StatusWord(0x6581));
            }
        }
        Response::status(sw)
    }

    fn change_reference_data(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != 0x01 {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        let (fid, r) = match self.addressed_pin(cmd.p2) {
            Ok(x) => x,
            Err(sw) => return Response::status(sw),
        };
        if !self.verified.contains(&fid) {
            return Response::status(StatusWord::SECURITY_NOT_SATISFIED);
        }
        let new = String::from_utf8_lossy(&cmd.data).into_owned();
        let valid = match r {
            PinRef::Auth | PinRef::Kenhojo | PinRef::Juki => new.len() == 4 && new.bytes().all(|b| b.is_ascii_digit()),
            PinRef::Sign => {
                (6..=16).contains(&new.len()) && new.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            // PIN A and PIN B are the card's printed data; they cannot be changed.
            PinRef::A | PinRef::B => return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED),
        };
        if !valid {
            return Response::status(StatusWord::WRONG_DATA);
        }
        let Some(pin) = self.pin_mut(r) else {
            return Response::status(StatusWord::FILE_NOT_FOUND);
        };
        *pin = Pin::new(&new, pin.max_tries);
        if let Err(e) = self.persist() {
            tracing::error!(error = %e, "cannot persist the card state");
            return Response::status(StatusWord(0x6581));
        }
        Response::status(StatusWord::OK)
    }

    fn sign(&mut self, cmd: &Command) -> Response {
        if (cmd.p1, cmd.p2) != (0x00, 0x80) {
            return Response::status(StatusWord::WRONG_P1P2);
        }
        let (Some(df), Some(ef)) = (self.df, self.ef) else {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        let Some(File::Key(key, pin)) = self.file(df, ef) else {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        if !self.verified.contains(&pin) {
            return Response::status(StatusWord::SECURITY_NOT_SATISFIED);
        }
        let key = match key {
            KeyRef::Auth => Some(&self.auth_key),
            KeyRef::Sign => self.sign_key.as_ref(),
        };
        let Some(key) = key else {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        if cmd.data.is_empty() {
            return Response::status(StatusWord::WRONG_LENGTH);
        }
        match key.sign_digest_info(&cmd.data) {
            Ok(signature) => Response::ok(signature),
            Err(_) => Response::status(StatusWord::WRONG_DATA),
        }
    }

    fn persist(&self) -> Result<(), CardFileError> {
        match &self.path {
            Some(p) => self.card.write(p),
            None => Ok(()),
        }
    }
}

/// `> 00 A4 04 0C 0A D392… | < 2 bytes 90 00`, with PINs withheld.
fn log_line(command: &[u8], response: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let shown = match command {
        // VERIFY and CHANGE REFERENCE DATA carry PINs: keep the header and the length only.
        [0x00, 0x20 | 0x24, _, _, lc, ..] => format!("{} [{lc} PIN bytes withheld]", hex(&command[..5])),
        _ => hex(command),
    };
    let sw = response.len().saturating_sub(2);
    format!(
        "> {} ({} bytes) | < {} bytes {}",
        shown,
        command.len(),
        response.len(),
        hex(&response[sw..])
    )
}

impl Transport for Emulator {
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError> {
        let bytes = command.to_bytes()?;
        Ok(Response::parse(&self.handle(&bytes))?)
    }

    fn supports_extended_length(&self) -> bool {
        true
    }
}
