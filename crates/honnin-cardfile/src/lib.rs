//! # honnin-cardfile: the emulated card's storage
//!
//! A *card file* is what the chip of one emulated My Number card holds: the JPKI-AP keys and
//! certificates, the PINs with their retry counters, and the data printed on and stored behind the
//! card's face (for the 券面事項入力補助AP and 券面AP). The authority writes it at issuance and
//! renewal; the card emulator reads it and persists PIN counters and PIN changes back.
//!
//! This crate defines the format and writes it atomically (a temporary file renamed over the old
//! one), so a crash never leaves half a card. It knows nothing about APDUs or certificates' meaning.
//! PINs are stored as salted SHA-256 digests, never as text.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The format tag written in every card file.
pub const FORMAT: &str = "honnin-card/1";

/// Token of a My Number card's JPKI-AP (EF 0006).
pub const TOKEN_MYNUMBER_CARD: &str = "JPKIAPICCTOKEN2";

#[derive(Debug, thiserror::Error)]
pub enum CardFileError {
    #[error("cannot read card file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write card file {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{path} is not a honnin card file: {why}")]
    Format { path: String, why: String },
}

/// Bytes stored as base64 in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// A PIN's reference data on the chip and its retry counter.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Hex salt.
    pub salt: String,
    /// Hex SHA-256(salt ‖ PIN).
    pub digest: String,
    pub tries_left: u8,
    pub max_tries: u8,
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pin")
            .field("tries_left", &self.tries_left)
            .field("max_tries", &self.max_tries)
            .finish_non_exhaustive()
    }
}

impl Pin {
    /// New reference data for `pin`, with a full counter.
    pub fn new(pin: &str, max_tries: u8) -> Self {
        let mut salt = [0u8; 16];
        // A failing system RNG leaves an all-zero salt; the salt only stops equal PINs from looking equal.
        let _ = aws_lc_rs::rand::fill(&mut salt);
        let salt = hex::encode(salt);
        let digest = Self::digest(&salt, pin);
        Pin {
            salt,
            digest,
            tries_left: max_tries,
            max_tries,
        }
    }

    fn digest(salt: &str, pin: &str) -> String {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(salt.as_bytes());
        ctx.update(pin.as_bytes());
        hex::encode(ctx.finish().as_ref())
    }

    /// Whether `pin` matches, in constant time. Does not touch the counter.
    pub fn matches(&self, pin: &str) -> bool {
        let candidate = Self::digest(&self.salt, pin);
        aws_lc_rs::constant_time::verify_slices_are_equal(candidate.as_bytes(), self.digest.as_bytes()).is_ok()
    }

    pub fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }
}

/// One key pair and certificate slot of the JPKI-AP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlot {
    /// X.509 DER of the end-entity certificate (EF 000A or 0001).
    pub certificate: Bytes,
    /// The private key, PKCS#8 DER (EF 0017 or 001A); never readable through the card interface.
    pub private_key: Bytes,
    /// The issuing root, X.509 DER (EF 000B or 0002).
    pub ca_certificate: Bytes,
}

/// The JPKI-AP (公的個人認証AP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JpkiAp {
    /// EF 0006 token, e.g. `JPKIAPICCTOKEN2`.
    pub token: String,
    /// User-authentication certificate and key (利用者証明用).
    pub auth: KeySlot,
    /// EF 0018: 4 digits, 3 tries.
    pub auth_pin: Pin,
    /// Signing certificate and key (署名用); absent for holders under 15 or who declined it.
    pub sign: Option<KeySlot>,
    /// EF 001B: 6–16 of A–Z and 0–9, 5 tries.
    pub sign_password: Option<Pin>,
}

/// What is printed on the card and kept behind it for the 券面事項入力補助AP and 券面AP.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surface {
    /// 個人番号: 12 digits.
    pub my_number: String,
    /// Full name, as in the register (no substitute characters).
    pub name: String,
    pub address: String,
    /// `YYYYMMDD`.
    pub birth_date: String,
    /// ISO 5218 digit: `1` male, `2` female, `9` not applicable.
    pub sex: String,
    /// The card's last day, `YYYYMMDD`.
    pub card_expiry: String,
    /// 4-digit security code printed on the face (PIN B's last part).
    pub security_code: String,
    /// The issuing municipality's name.
    pub municipality: String,
}

impl fmt::Debug for Surface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The My Number is never printed by a Debug impl.
        f.debug_struct("Surface")
            .field("card_expiry", &self.card_expiry)
            .finish_non_exhaustive()
    }
}

/// The files of one application (券面事項入力補助AP or 券面AP), by FID, as the authority wrote them
/// (signed with the authority's keys).
pub type ApFiles = std::collections::BTreeMap<u16, Bytes>;

/// The whole card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFile {
    pub format: String,
    /// The authority's identifier of this card.
    pub card_id: String,
    /// `sandbox` for every card honnin's authority issues.
    pub environment: String,
    pub jpki: JpkiAp,
    pub surface: Surface,
    /// 券面事項入力補助用暗証番号 (4 digits).
    pub kenhojo_pin: Pin,
    /// 住民基本台帳用暗証番号 (4 digits).
    pub juki_pin: Pin,
    /// 照合番号A (the My Number) of the 券面事項入力補助AP and of the 券面AP.
    pub pin_a: Pin,
    /// 照合番号B (birth date YYMMDD + expiry year + security code).
    pub pin_b: Pin,
    /// 券面事項入力補助AP files: 0001 My Number, 0002 4 attributes, 0003 signature, 0004 CVC, 0005 basic info.
    pub kenhojo_files: ApFiles,
    /// 券面AP files: 0002 entries, 0003 basic info, 0004 CVC, 0005 My Number image.
    pub kenkaku_files: ApFiles,
}

impl CardFile {
    pub fn read(path: &Path) -> Result<Self, CardFileError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CardFileError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&bytes).map_err(|why| CardFileError::Format { path: p, why })
    }

    /// Parses a card file's bytes; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let card: CardFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if card.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", card.format));
        }
        Ok(card)
    }

    /// Writes the card atomically: to a temporary file beside `path`, synced, then renamed over it.
    pub fn write(&self, path: &Path) -> Result<(), CardFileError> {
        let staged = self.stage(path)?;
        staged.commit()
    }

    /// Writes the card to a temporary file beside `path` without replacing `path` yet, so a caller
    /// can commit its own transaction first and then [`StagedCardFile::commit`].
    pub fn stage(&self, path: &Path) -> Result<StagedCardFile, CardFileError> {
        let err = |source| CardFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let mut tmp = tempfile_in(&dir).map_err(err)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        tmp.1.write_all(&json).map_err(err)?;
        tmp.1.sync_all().map_err(err)?;
        Ok(StagedCardFile {
            tmp: tmp.0,
            target: path.to_path_buf(),
        })
    }
}

/// A card file written beside its target, waiting to replace it.
#[derive(Debug)]
pub struct StagedCardFile {
    tmp: std::path::PathBuf,
    target: std::path::PathBuf,
}

impl StagedCardFile {
    pub fn commit(self) -> Result<(), CardFileError> {
        let result = std::fs::rename(&self.tmp, &self.target).map_err(|source| CardFileError::Write {
            path: self.target.display().to_string(),
            source,
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        std::mem::forget(self);
        result
    }
}

impl Drop for StagedCardFile {
    fn drop(&mut self) {
        // Not committed: leave the old card untouched and remove the staged copy.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    for _ in 0..16 {
        let mut n = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut n);
        let path = dir.join(format!(".honnin-card-{}.tmp", hex::encode(n)));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CardFile {
        let slot = KeySlot {
            certificate: Bytes(vec![0x30, 1]),
            private_key: Bytes(vec![2]),
            ca_certificate: Bytes(vec![3]),
        };
        CardFile {
            format: FORMAT.into(),
            card_id: "C1".into(),
            environment: "sandbox".into(),
            jpki: JpkiAp {
                token: TOKEN_MYNUMBER_CARD.into(),
                auth: slot.clone(),
                auth_pin: Pin::new("1234", 3),
                sign: Some(slot),
                sign_password: Some(Pin::new("ABC123", 5)),
            },
            surface: Surface {
                my_number: "123456789018".into(),
                name: "山田　太郎".into(),
                address: "東京都".into(),
                birth_date: "19900102".into(),
                sex: "1".into(),
                card_expiry: "20361121".into(),
                security_code: "4321".into(),
                municipality: "Kiyose-shi".into(),
            },
            kenhojo_pin: Pin::new("1234", 3),
            juki_pin: Pin::new("1234", 3),
            pin_a: Pin::new("123456789018", 10),
            pin_b: Pin::new("90010220364321", 10),
            kenhojo_files: [(2u16, Bytes(vec![0xFF, 0x20, 0x00]))].into_iter().collect(),
            kenkaku_files: ApFiles::new(),
        }
    }

    #[test]
    fn pins_are_hashed_and_checked() {
        let pin = Pin::new("1234", 3);
        assert!(pin.matches("1234"));
        assert!(!pin.matches("1235"));
        assert!(!pin.digest.contains("1234"));
        assert!(!format!("{pin:?}").contains(&pin.digest));
    }

    #[test]
    fn write_read_round_trip_and_no_my_number_in_debug() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("card.json");
        let card = sample();
        card.write(&path).expect("write");
        assert_eq!(CardFile::read(&path).expect("read"), card);
        assert!(!format!("{card:?}").contains("123456789018"));
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(!text.contains("ABC123"), "no PIN in clear");
    }

    #[test]
    fn staged_write_leaves_the_old_card_until_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("card.json");
        let mut card = sample();
        card.write(&path).expect("write");
        card.card_id = "C2".into();
        drop(card.stage(&path).expect("stage"));
        assert_eq!(
            CardFile::read(&path).expect("read").card_id,
            "C1",
            "dropped stage changes nothing"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temporary file left"
        );
        card.stage(&path).expect("stage").commit().expect("commit");
        assert_eq!(CardFile::read(&path).expect("read").card_id, "C2");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("card.json");
        std::fs::write(&path, b"not json").expect("write");
        let err = CardFile::read(&path).expect_err("garbage");
        assert!(err.to_string().contains("is not a honnin card file"), "{err}");
    }
}
