//! Data layouts of the 券面事項入力補助AP (kenhojo) and 券面AP (kenkaku), and the card-verifiable
//! certificate (CVC) that carries the key signing them.
//!
//! The outer structure follows the reference (§2): two-byte private tags, an offsets table in
//! `DF 21`, 336 bytes for kenhojo EF 0003, 568 bytes for the CVC. What J-LIS does not publish — what
//! exactly `DF 33` and the CVC signature cover — is fixed here as the sandbox's own choice and is
//! documented on each function; a verifier for the real card needs J-LIS's registered-party spec.

use honnin_apdu::tlv::{self, Tag};
use honnin_profile::key::{verify_rsa_pkcs1, RsaKey};
use honnin_profile::oid;

/// What is wrong with a kenhojo or kenkaku file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    #[error("malformed TLV in {file}: {source}")]
    Tlv { file: &'static str, source: tlv::TlvError },
    #[error("{file} lacks {what}")]
    Missing { file: &'static str, what: &'static str },
    #[error("{file}: {why}")]
    Invalid { file: &'static str, why: String },
    #[error("the hash of {0} does not match the signed hash")]
    HashMismatch(&'static str),
    #[error("the signature of {0} does not verify")]
    BadSignature(&'static str),
}

fn tlv_err(file: &'static str) -> impl Fn(tlv::TlvError) -> LayoutError {
    move |source| LayoutError::Tlv { file, source }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `DF 10 0C` + the 12 digits (kenhojo EF 0001).
pub fn my_number_file(my_number: &str) -> Vec<u8> {
    tlv::encode(Tag(0xDF10), my_number.as_bytes())
}

/// Reads the My Number from kenhojo EF 0001.
pub fn parse_my_number(file: &[u8]) -> Result<String, LayoutError> {
    const F: &str = "kenhojo EF 0001";
    let t = tlv::parse(file).map_err(tlv_err(F))?;
    if t.tag != Tag(0xDF10) || t.value.len() != 12 || !t.value.iter().all(u8::is_ascii_digit) {
        return Err(LayoutError::Invalid {
            file: F,
            why: "not DF 10 with 12 digits".into(),
        });
    }
    Ok(String::from_utf8_lossy(t.value).into_owned())
}

/// The 4 attributes as the kenhojo AP stores them (full text, no substitute characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basic4Text {
    pub name: String,
    pub address: String,
    /// `YYYYMMDD`.
    pub birth_date: String,
    /// ISO 5218 digit: `1` male, `2` female, `9` not applicable.
    pub sex: String,
}

/// Builds a constructed file `outer { DF 21 offsets, children… }` where the offsets table gives the
/// position of each child TLV from the start of the file.
fn with_offsets(outer: Tag, children: &[(Tag, &[u8])]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = children.iter().map(|(t, v)| tlv::encode(*t, v)).collect();
    let offsets_len = 2 * children.len();
    let offsets_tlv_len = tlv::encode(Tag(0xDF21), &vec![0; offsets_len]).len();
    let body_len = offsets_tlv_len + encoded.iter().map(Vec::len).sum::<usize>();
    let header_len = tlv::encode(outer, &vec![0; body_len]).len() - body_len;
    let mut offsets = Vec::with_capacity(offsets_len);
    let mut pos = header_len + offsets_tlv_len;
    for e in &encoded {
        offsets.extend_from_slice(&(pos as u16).to_be_bytes());
        pos += e.len();
    }
    let mut body = tlv::encode(Tag(0xDF21), &offsets);
    for e in &encoded {
        body.extend_from_slice(e);
    }
    tlv::encode(outer, &body)
}

/// `FF 20 { DF 21 offsets, DF 22 name, DF 23 address, DF 24 birth date, DF 25 sex }` (kenhojo EF 0002).
pub fn basic4_file(b: &Basic4Text) -> Vec<u8> {
    with_offsets(
        Tag(0xFF20),
        &[
            (Tag(0xDF22), b.name.as_bytes()),
            (Tag(0xDF23), b.address.as_bytes()),
            (Tag(0xDF24), b.birth_date.as_bytes()),
            (Tag(0xDF25), b.sex.as_bytes()),
        ],
    )
}

fn utf8(file: &'static str, bytes: &[u8]) -> Result<String, LayoutError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| LayoutError::Invalid {
        file,
        why: "text is not UTF-8".into(),
    })
}

/// Parses kenhojo EF 0002.
pub fn parse_basic4(file: &[u8]) -> Result<Basic4Text, LayoutError> {
    const F: &str = "kenhojo EF 0002";
    let outer = tlv::parse(file).map_err(tlv_err(F))?;
    if outer.tag != Tag(0xFF20) {
        return Err(LayoutError::Invalid {
            file: F,
            why: format!("outer tag {:?}, expected FF 20", outer.tag),
        });
    }
    let get = |tag: u32, what: &'static str| -> Result<String, LayoutError> {
        let child = outer
            .child(Tag(tag))
            .map_err(tlv_err(F))?
            .ok_or(LayoutError::Missing { file: F, what })?;
        utf8(F, child.value)
    };
    Ok(Basic4Text {
        name: get(0xDF22, "the name (DF 22)")?,
        address: get(0xDF23, "the address (DF 23)")?,
        birth_date: get(0xDF24, "the birth date (DF 24)")?,
        sex: get(0xDF25, "the sex (DF 25)")?,
    })
}

/// The bytes of kenhojo EF 0002 that `DF 32` hashes: from the first offset to the end of the outer TLV.
fn basic4_hashed_part(file: &[u8]) -> Result<&[u8], LayoutError> {
    const F: &str = "kenhojo EF 0002";
    let outer = tlv::parse(file).map_err(tlv_err(F))?;
    let offsets = outer
        .child(Tag(0xDF21))
        .map_err(tlv_err(F))?
        .ok_or(LayoutError::Missing {
            file: F,
            what: "offsets (DF 21)",
        })?;
    let first = offsets.value.get(..2).ok_or(LayoutError::Missing {
        file: F,
        what: "a first offset",
    })?;
    let start = u16::from_be_bytes([first[0], first[1]]) as usize;
    file.get(start..outer.raw.len())
        .filter(|_| start <= outer.raw.len())
        .ok_or_else(|| LayoutError::Invalid {
            file: F,
            why: "the first offset is outside the file".into(),
        })
}

/// `FF 30 { DF 31 SHA-256(EF 0001), DF 32 SHA-256(EF 0002 from offsets[0]), DF 33 signature }`
/// (kenhojo EF 0003, 336 bytes). Sandbox choice: `DF 33` is RSASSA-PKCS1-v1_5/SHA-256 over the
/// encoded `DF 31` and `DF 32` TLVs.
pub fn kenhojo_signature_file(
    my_number_file: &[u8],
    basic4_file: &[u8],
    signer: &RsaKey,
) -> Result<Vec<u8>, LayoutError> {
    let mut signed = tlv::encode(Tag(0xDF31), &sha256(my_number_file));
    signed.extend(tlv::encode(Tag(0xDF32), &sha256(basic4_hashed_part(basic4_file)?)));
    let signature = signer.sign_sha256(&signed).map_err(|e| LayoutError::Invalid {
        file: "kenhojo EF 0003",
        why: e.to_string(),
    })?;
    signed.extend(tlv::encode(Tag(0xDF33), &signature));
    Ok(tlv::encode(Tag(0xFF30), &signed))
}

/// A card-verifiable certificate: `7F 21 { 5F 4E { issuer id (16), subject id (16), 82 exponent,
/// 81 modulus }, 5F 37 signature }` — 568 bytes for RSA-2048. Sandbox choice: the signature is
/// RSASSA-PKCS1-v1_5/SHA-256 over the encoded `5F 4E` TLV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cvc {
    pub issuer_id: [u8; 16],
    pub subject_id: [u8; 16],
    /// PKCS#1 `RSAPublicKey` DER of the certified key.
    pub public_key: Vec<u8>,
    body: Vec<u8>,
    signature: Vec<u8>,
}

impl Cvc {
    pub fn build(
        issuer_id: [u8; 16],
        subject_id: [u8; 16],
        subject: &[u8],
        issuer_key: &RsaKey,
    ) -> Result<Vec<u8>, LayoutError> {
        let (modulus, exponent) = rsa_components(subject)?;
        let mut content = issuer_id.to_vec();
        content.extend_from_slice(&subject_id);
        content.extend(tlv::encode(Tag(0x82), &exponent));
        content.extend(tlv::encode(Tag(0x81), &modulus));
        let body = tlv::encode(Tag(0x5F4E), &content);
        let signature = issuer_key.sign_sha256(&body).map_err(|e| LayoutError::Invalid {
            file: "CVC",
            why: e.to_string(),
        })?;
        let mut inner = body;
        inner.extend(tlv::encode(Tag(0x5F37), &signature));
        Ok(tlv::encode(Tag(0x7F21), &inner))
    }

    pub fn parse(file: &[u8]) -> Result<Self, LayoutError> {
        const F: &str = "CVC (EF 0004)";
        let outer = tlv::parse(file).map_err(tlv_err(F))?;
        if outer.tag != Tag(0x7F21) {
            return Err(LayoutError::Invalid {
                file: F,
                why: format!("outer tag {:?}, expected 7F 21", outer.tag),
            });
        }
        let children = outer.children().map_err(tlv_err(F))?;
        let body = children
            .iter()
            .find(|c| c.tag == Tag(0x5F4E))
            .ok_or(LayoutError::Missing {
                file: F,
                what: "a body (5F 4E)",
            })?;
        let sig = children
            .iter()
            .find(|c| c.tag == Tag(0x5F37))
            .ok_or(LayoutError::Missing {
                file: F,
                what: "a signature (5F 37)",
            })?;
        let v = body.value;
        if v.len() < 32 {
            return Err(LayoutError::Invalid {
                file: F,
                why: "body shorter than its two identifiers".into(),
            });
        }
        let key_tlvs = tlv::parse_all(&v[32..]).map_err(tlv_err(F))?;
        let exponent = key_tlvs
            .iter()
            .find(|t| t.tag == Tag(0x82))
            .ok_or(LayoutError::Missing {
                file: F,
                what: "an exponent (82)",
            })?;
        let modulus = key_tlvs
            .iter()
            .find(|t| t.tag == Tag(0x81))
            .ok_or(LayoutError::Missing {
                file: F,
                what: "a modulus (81)",
            })?;
        let mut issuer_id = [0u8; 16];
        issuer_id.copy_from_slice(&v[..16]);
        let mut subject_id = [0u8; 16];
        subject_id.copy_from_slice(&v[16..32]);
        Ok(Cvc {
            issuer_id,
            subject_id,
            public_key: rsa_public_key(modulus.value, exponent.value),
            body: body.raw.to_vec(),
            signature: sig.value.to_vec(),
        })
    }

    /// Checks the certificate's signature with the issuer's PKCS#1 public key.
    pub fn verify(&self, issuer_public_key: &[u8]) -> Result<(), LayoutError> {
        verify_rsa_pkcs1(&oid::SHA256_WITH_RSA, issuer_public_key, &self.body, &self.signature)
            .map_err(|_| LayoutError::BadSignature("the card-verifiable certificate"))
    }
}

/// Splits a PKCS#1 `RSAPublicKey` into (modulus, exponent) magnitudes.
fn rsa_components(pkcs1: &[u8]) -> Result<(Vec<u8>, Vec<u8>), LayoutError> {
    let bad = |_| LayoutError::Invalid {
        file: "public key",
        why: "not a PKCS#1 RSA public key".into(),
    };
    let seq = tlv::parse(pkcs1).map_err(bad)?;
    let parts = seq.children().map_err(bad)?;
    let strip = |v: &[u8]| v.iter().position(|&b| b != 0).map_or(vec![0], |i| v[i..].to_vec());
    match parts.as_slice() {
        [n, e] if n.tag == Tag(0x02) && e.tag == Tag(0x02) => Ok((strip(n.value), strip(e.value))),
        _ => Err(LayoutError::Invalid {
            file: "public key",
            why: "not a PKCS#1 RSA public key".into(),
        }),
    }
}

/// A PKCS#1 `RSAPublicKey` from magnitudes.
pub fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v: Vec<u8> = match v.iter().position(|&b| b != 0) {
            Some(i) => v[i..].to_vec(),
            None => vec![0],
        };
        let mut content = Vec::with_capacity(v.len() + 1);
        if v[0] & 0x80 != 0 {
            content.push(0);
        }
        content.extend_from_slice(&v);
        tlv::encode(Tag(0x02), &content)
    };
    let mut body = int(modulus);
    body.extend(int(exponent));
    tlv::encode(Tag(0x30), &body)
}

/// What checking kenhojo data found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KenhojoCheck {
    /// The My Number's hash was checked too (only when the My Number file was read).
    pub my_number_checked: bool,
}

/// Checks the kenhojo data: the CVC against the top key, the `DF 33` signature against the CVC's
/// key, and the recomputed hashes of the basic-4 file (and of the My Number file, when given).
pub fn verify_kenhojo(
    basic4_file: &[u8],
    my_number_file: Option<&[u8]>,
    signature_file: &[u8],
    certificate_file: &[u8],
    top_public_key: &[u8],
) -> Result<KenhojoCheck, LayoutError> {
    const F: &str = "kenhojo EF 0003";
    let cvc = Cvc::parse(certificate_file)?;
    cvc.verify(top_public_key)?;
    let outer = tlv::parse(signature_file).map_err(tlv_err(F))?;
    if outer.tag != Tag(0xFF30) {
        return Err(LayoutError::Invalid {
            file: F,
            why: "outer tag is not FF 30".into(),
        });
    }
    let children = outer.children().map_err(tlv_err(F))?;
    let find = |tag: u32, what: &'static str| {
        children
            .iter()
            .find(|c| c.tag == Tag(tag))
            .ok_or(LayoutError::Missing { file: F, what })
    };
    let (h31, h32, sig) = (find(0xDF31, "DF 31")?, find(0xDF32, "DF 32")?, find(0xDF33, "DF 33")?);
    let signed_len = h31.raw.len() + h32.raw.len();
    let signed = outer.value.get(..signed_len).ok_or(LayoutError::Invalid {
        file: F,
        why: "DF 31 and DF 32 must come first".into(),
    })?;
    verify_rsa_pkcs1(&oid::SHA256_WITH_RSA, &cvc.public_key, signed, sig.value)
        .map_err(|_| LayoutError::BadSignature("the 4 attributes"))?;
    if h32.value != sha256(basic4_hashed_part(basic4_file)?) {
        return Err(LayoutError::HashMismatch("the 4 attributes"));
    }
    if let Some(mn) = my_number_file {
        if h31.value != sha256(mn) {
            return Err(LayoutError::HashMismatch("the My Number"));
        }
    }
    Ok(KenhojoCheck {
        my_number_checked: my_number_file.is_some(),
    })
}

/// `FF 40 { DF 41 AP info (4 bytes), DF 42 key id (16 bytes) }` (kenhojo EF 0005).
pub fn basic_info_file(key_id: [u8; 16]) -> Vec<u8> {
    let mut body = tlv::encode(Tag(0xDF41), &[0x01, 0x00, 0x00, 0x00]);
    body.extend(tlv::encode(Tag(0xDF42), &key_id));
    tlv::encode(Tag(0xFF40), &body)
}

/// The surface (券面) as the 券面AP stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Surface {
    /// `YYYYMMDD`.
    pub birth_date: String,
    /// ISO 5218 digit.
    pub sex: String,
    pub name_image: Vec<u8>,
    pub address_image: Vec<u8>,
    /// JPEG 2000.
    pub face: Vec<u8>,
    /// The card's last day, `YYYYMMDD`.
    pub card_expiry: String,
    pub security_code_image: Vec<u8>,
}

/// `FF 20 { DF 21 offsets, DF 22 birth, DF 23 sex, DF 24 public key, DF 25 name image, DF 26
/// address image, DF 27 face, DF 28 signature, DF 29 expiry, DF 2A security code image }` (kenkaku EF
/// 0002). Sandbox choice: `DF 28` signs (SHA-256, PKCS#1 v1.5) the concatenated `DF 22`–`DF 27`,
/// `DF 29` and `DF 2A` TLVs.
pub fn kenkaku_entries_file(s: &Surface, signer: &RsaKey) -> Result<Vec<u8>, LayoutError> {
    let public_key = signer.public_key_pkcs1().to_vec();
    let signed_parts: [(Tag, &[u8]); 8] = [
        (Tag(0xDF22), s.birth_date.as_bytes()),
        (Tag(0xDF23), s.sex.as_bytes()),
        (Tag(0xDF24), &public_key),
        (Tag(0xDF25), &s.name_image),
        (Tag(0xDF26), &s.address_image),
        (Tag(0xDF27), &s.face),
        (Tag(0xDF29), s.card_expiry.as_bytes()),
        (Tag(0xDF2A), &s.security_code_image),
    ];
    let mut signed = Vec::new();
    for (t, v) in &signed_parts {
        signed.extend(tlv::encode(*t, v));
    }
    let signature = signer.sign_sha256(&signed).map_err(|e| LayoutError::Invalid {
        file: "kenkaku EF 0002",
        why: e.to_string(),
    })?;
    let mut children: Vec<(Tag, &[u8])> = signed_parts[..6].to_vec();
    children.push((Tag(0xDF28), &signature));
    children.extend_from_slice(&signed_parts[6..]);
    Ok(with_offsets(Tag(0xFF20), &children))
}

/// The parts of kenkaku EF 0002 a holder's client shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurfaceEntries {
    pub birth_date: String,
    pub sex: String,
    pub face: Vec<u8>,
    pub name_image: Vec<u8>,
    pub address_image: Vec<u8>,
    pub card_expiry: String,
}

/// Parses kenkaku EF 0002.
pub fn parse_kenkaku_entries(file: &[u8]) -> Result<SurfaceEntries, LayoutError> {
    const F: &str = "kenkaku EF 0002";
    let outer = tlv::parse(file).map_err(tlv_err(F))?;
    let children = outer.children().map_err(tlv_err(F))?;
    let get = |tag: u32, what: &'static str| {
        children
            .iter()
            .find(|c| c.tag == Tag(tag))
            .map(|c| c.value.to_vec())
            .ok_or(LayoutError::Missing { file: F, what })
    };
    Ok(SurfaceEntries {
        birth_date: utf8(F, &get(0xDF22, "the birth date (DF 22)")?)?,
        sex: utf8(F, &get(0xDF23, "the sex (DF 23)")?)?,
        name_image: get(0xDF25, "the name image (DF 25)")?,
        address_image: get(0xDF26, "the address image (DF 26)")?,
        face: get(0xDF27, "the face photo (DF 27)")?,
        card_expiry: utf8(F, &get(0xDF29, "the expiry (DF 29)")?)?,
    })
}

/// `FF 40 { DF 41 image, DF 42 public key, DF 43 signature }` (kenkaku EF 0005, the My Number image).
pub fn kenkaku_my_number_file(image: &[u8], signer: &RsaKey) -> Result<Vec<u8>, LayoutError> {
    let public_key = signer.public_key_pkcs1().to_vec();
    let mut signed = tlv::encode(Tag(0xDF41), image);
    signed.extend(tlv::encode(Tag(0xDF42), &public_key));
    let signature = signer.sign_sha256(&signed).map_err(|e| LayoutError::Invalid {
        file: "kenkaku EF 0005",
        why: e.to_string(),
    })?;
    signed.extend(tlv::encode(Tag(0xDF43), &signature));
    Ok(tlv::encode(Tag(0xFF40), &signed))
}

/// Kenkaku EF 0003: `FF 30 { DF 31 id (4), DF 32 (unknown), DF 33 version, DF 34 municipality }`.
pub fn kenkaku_basic_info_file(municipality: &str) -> Vec<u8> {
    let mut body = tlv::encode(Tag(0xDF31), &[0x00, 0x00, 0x00, 0x01]);
    body.extend(tlv::encode(Tag(0xDF32), &[0x00]));
    body.extend(tlv::encode(Tag(0xDF33), &[0x01]));
    body.extend(tlv::encode(Tag(0xDF34), municipality.as_bytes()));
    tlv::encode(Tag(0xFF30), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic4() -> Basic4Text {
        Basic4Text {
            name: "山田　花子".into(),
            address: "東京都清瀬市".into(),
            birth_date: "19900102".into(),
            sex: "2".into(),
        }
    }

    #[test]
    fn kenhojo_round_trip_sizes_and_verification() {
        let top = RsaKey::generate().expect("key");
        let intermediate = RsaKey::generate().expect("key");
        let cvc = Cvc::build([1; 16], [2; 16], intermediate.public_key_pkcs1(), &top).expect("cvc");
        assert_eq!(cvc.len(), 568, "the reference's CVC size");
        let mn = my_number_file("123456789018");
        let b4 = basic4_file(&basic4());
        let sig = kenhojo_signature_file(&mn, &b4, &intermediate).expect("sign");
        assert_eq!(sig.len(), 336, "the reference's EF 0003 size");
        assert_eq!(parse_basic4(&b4).expect("parse"), basic4());
        assert_eq!(parse_my_number(&mn).expect("parse"), "123456789018");
        let check = verify_kenhojo(&b4, None, &sig, &cvc, top.public_key_pkcs1()).expect("verifies");
        assert!(!check.my_number_checked);
        assert!(
            verify_kenhojo(&b4, Some(&mn), &sig, &cvc, top.public_key_pkcs1())
                .expect("verifies")
                .my_number_checked
        );
        // The offsets point at the children.
        let offsets = tlv::parse(&b4)
            .expect("outer")
            .child(Tag(0xDF21))
            .expect("ok")
            .expect("offsets");
        let first = u16::from_be_bytes([offsets.value[0], offsets.value[1]]) as usize;
        assert_eq!(&b4[first..first + 2], &[0xDF, 0x22]);
        // Tampering: a changed address, a foreign top key, a changed My Number.
        let mut other = basic4();
        other.address = "東京都千代田区".into();
        let err = verify_kenhojo(&basic4_file(&other), None, &sig, &cvc, top.public_key_pkcs1()).expect_err("tampered");
        assert!(matches!(err, LayoutError::HashMismatch("the 4 attributes")), "{err}");
        assert!(verify_kenhojo(&b4, None, &sig, &cvc, intermediate.public_key_pkcs1()).is_err());
        assert!(verify_kenhojo(
            &b4,
            Some(&my_number_file("123456789017")),
            &sig,
            &cvc,
            top.public_key_pkcs1()
        )
        .is_err());
    }

    #[test]
    fn kenkaku_round_trip() {
        let key = RsaKey::generate().expect("key");
        let s = Surface {
            birth_date: "19900102".into(),
            sex: "2".into(),
            name_image: vec![1; 10],
            address_image: vec![2; 20],
            face: vec![3; 3000],
            card_expiry: "20361121".into(),
            security_code_image: vec![4; 5],
        };
        let file = kenkaku_entries_file(&s, &key).expect("build");
        let parsed = parse_kenkaku_entries(&file).expect("parse");
        assert_eq!(parsed.face, s.face);
        assert_eq!(parsed.card_expiry, "20361121");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            &[][..],
            &[0xFF, 0x20, 0x01],
            &[0x7F, 0x21, 0x00],
            &[0xDF, 0x10, 0x02, b'1', b'2'],
        ] {
            assert!(parse_basic4(bad).is_err());
            assert!(Cvc::parse(bad).is_err());
            assert!(parse_my_number(bad).is_err());
            assert!(parse_kenkaku_entries(bad).is_err());
        }
    }
}
