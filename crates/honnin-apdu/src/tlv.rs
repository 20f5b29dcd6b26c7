//! BER-TLV (ISO 7816-4 §5.2 / X.690) as the My Number card writes it.
//!
//! Tags are kept as their raw bytes (`DF 21` is `0xDF21`), because J-LIS writes two-byte tags even
//! where one byte would do; a minimal-form re-encoding would not match the card.

use std::fmt;

/// A tag as it appears on the card: its raw bytes, big-endian, one to three bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    /// Whether the tag's first byte marks a constructed encoding.
    pub fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    fn first_byte(self) -> u8 {
        let bytes = self.0.to_be_bytes();
        bytes.iter().copied().find(|&b| b != 0).unwrap_or(0)
    }

    pub fn to_bytes(self) -> Vec<u8> {
        let bytes = self.0.to_be_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
        bytes[start..].to_vec()
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.to_bytes().iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "Tag({})", parts.join(" "))
    }
}

/// Why bytes are not a TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("TLV truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    #[error("TLV tag longer than three bytes")]
    TagTooLong,
    #[error("TLV length form {0:#04x} is not supported")]
    BadLength(u8),
}

/// One TLV borrowed from a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: Tag,
    pub value: &'a [u8],
    /// The whole TLV as it was read (header and value), for signatures over exact bytes.
    pub raw: &'a [u8],
}

/// Header of a TLV: (tag, value length, header length). Needs only the first few bytes, so a reader
/// can learn a file's size from a short read.
pub fn header(bytes: &[u8]) -> Result<(Tag, usize, usize), TlvError> {
    let need = |n: usize| {
        if bytes.len() < n {
            Err(TlvError::Truncated {
                needed: n,
                have: bytes.len(),
            })
        } else {
            Ok(())
        }
    };
    need(1)?;
    let mut tag = bytes[0] as u32;
    let mut i = 1;
    if bytes[0] & 0x1F == 0x1F {
        loop {
            need(i + 1)?;
            tag = (tag << 8) | bytes[i] as u32;
            i += 1;
            if bytes[i - 1] & 0x80 == 0 {
                break;
            }
            if i >= 3 {
                return Err(TlvError::TagTooLong);
            }
        }
    }
    need(i + 1)?;
    let first = bytes[i];
    i += 1;
    let len = match first {
        0x00..=0x7F => first as usize,
        0x81..=0x83 => {
            let n = (first & 0x7F) as usize;
            need(i + n)?;
            let len = bytes[i..i + n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
            i += n;
            len
        }
        other => return Err(TlvError::BadLength(other)),
    };
    Ok((Tag(tag), len, i))
}

/// The total size (header + value) of the TLV that starts `bytes`, from its header alone.
pub fn encoded_len(bytes: &[u8]) -> Result<usize, TlvError> {
    let (_, len, header_len) = header(bytes)?;
    Ok(header_len + len)
}

/// Parses the TLV at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Tlv<'_>, TlvError> {
    let (tag, len, header_len) = header(bytes)?;
    let end = header_len + len;
    if bytes.len() < end {
        return Err(TlvError::Truncated {
            needed: end,
            have: bytes.len(),
        });
    }
    Ok(Tlv {
        tag,
        value: &bytes[header_len..end],
        raw: &bytes[..end],
    })
}

/// Parses a sequence of TLVs that fills `bytes` exactly.
pub fn parse_all(mut bytes: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let t = parse(bytes)?;
        bytes = &bytes[t.raw.len()..];
        out.push(t);
    }
    Ok(out)
}

impl<'a> Tlv<'a> {
    /// The children of a constructed TLV.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        parse_all(self.value)
    }

    /// The first child with `tag`.
    pub fn child(&self, tag: Tag) -> Result<Option<Tlv<'a>>, TlvError> {
        Ok(self.children()?.into_iter().find(|c| c.tag == tag))
    }
}

/// Appends a TLV with `tag` (written with exactly its bytes) and the shortest length form.
pub fn write(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    out.extend_from_slice(&tag.to_bytes());
    let len = value.len();
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(value);
}

/// A TLV as a new buffer.
pub fn encode(tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    write(&mut out, tag, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_private_tags_are_kept_as_written() {
        // My Number EF: DF 10 0C + 12 digits (non-minimal: tag number 0x10 < 31).
        let mut ef = vec![0xDF, 0x10, 0x0C];
        ef.extend_from_slice(b"123456789018");
        let t = parse(&ef).expect("tlv");
        assert_eq!(t.tag, Tag(0xDF10));
        assert_eq!(t.value, b"123456789018");
        assert_eq!(t.raw.len(), 15);
        assert_eq!(encode(Tag(0xDF10), b"123456789018"), ef);
    }

    #[test]
    fn lengths_from_a_short_prefix() {
        // A certificate: 30 82 05 14 … → 1304 + 4 bytes, known from 4 bytes.
        assert_eq!(encoded_len(&[0x30, 0x82, 0x05, 0x14]).expect("len"), 0x518);
        // Kenhojo signature EF: FF 30 82 01 4B → 336 bytes.
        assert_eq!(encoded_len(&[0xFF, 0x30, 0x82, 0x01, 0x4B]).expect("len"), 336);
        assert!(matches!(
            encoded_len(&[0x30, 0x82, 0x05]),
            Err(TlvError::Truncated { .. })
        ));
    }

    #[test]
    fn constructed_children() {
        let mut inner = encode(Tag(0xDF22), "山田".as_bytes());
        inner.extend(encode(Tag(0xDF25), b"1"));
        let outer = encode(Tag(0xFF20), &inner);
        let t = parse(&outer).expect("outer");
        assert!(t.tag.is_constructed());
        assert_eq!(
            t.child(Tag(0xDF25)).expect("children").map(|c| c.value),
            Some(&b"1"[..])
        );
        assert_eq!(t.children().expect("children").len(), 2);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0xDF],
            &[0xDF, 0x81],
            &[0x30, 0x84, 1, 2, 3, 4],
            &[0xDF, 0xFF, 0xFF, 0x01],
            &[0x04, 0x05, 1],
        ] {
            assert!(parse(bad).is_err(), "{bad:02X?}");
        }
        let _ = parse_all(&[0x30, 0x00, 0x30]);
    }
}
