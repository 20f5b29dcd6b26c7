//! A borrowing DER reader for the verification hot path (CMS `SignedData`): it frames TLVs and
//! hands out slices of the input, nothing more.
//!
//! Hand-written rather than a decode with the `cms` crate for speed: that decode builds an owned
//! tree of the whole message (every certificate fully decoded, every attribute copied) and took
//! about 12 µs of a 100 µs verification, then the signer's certificate and the signed attributes
//! had to be re-encoded. Only a few fields are needed, and they are needed as the bytes received.
//! Strict DER framing: single-byte tags, definite lengths in minimal form, at most four length
//! bytes. Every access is bounds-checked; malformed input is an error, never a panic (the `cms` fuzz
//! target drives this module).

use crate::VerifyError;

/// One TLV: its tag, its value, and the whole encoding (header included).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive TLVs from a slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

pub(crate) fn malformed(what: &str, why: &str) -> VerifyError {
    VerifyError::Malformed(format!("{what}: {why}"))
}

impl<'a> Reader<'a> {
    /// `what` names the structure in error messages ("CMS").
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    fn err(&self, why: &str) -> VerifyError {
        malformed(self.what, why)
    }

    /// The next TLV, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, VerifyError> {
        let buf = self.buf;
        let (&tag, rest) = buf.split_first().ok_or_else(|| self.err("truncated"))?;
        if tag & 0x1F == 0x1F {
            return Err(self.err("multi-byte tags are not supported"));
        }
        let (&first, rest) = rest.split_first().ok_or_else(|| self.err("truncated"))?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7F) as usize;
            if n == 0 {
                return Err(self.err("indefinite length (BER) is not DER"));
            }
            if n > 4 {
                return Err(self.err("a length of more than four bytes"));
            }
            let bytes = rest.get(..n).ok_or_else(|| self.err("truncated"))?;
            let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            // Minimal form: no leading zero byte, and the long form only from 128 on.
            if bytes[0] == 0 || len < 0x80 {
                return Err(self.err("a length is not in minimal form"));
            }
            (len, &rest[n..])
        };
        let header = buf.len() - rest.len();
        let value = rest.get(..len).ok_or_else(|| self.err("a length runs past the end"))?;
        let raw = &buf[..header + len];
        self.buf = &buf[header + len..];
        Ok(Tlv { tag, value, raw })
    }

    /// The next TLV, which must have tag `tag`.
    pub fn expect(&mut self, tag: u8, why: &str) -> Result<Tlv<'a>, VerifyError> {
        match self.peek_tag() {
            Some(t) if t == tag => self.any(),
            _ => Err(self.err(why)),
        }
    }

    /// The next TLV if it has tag `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, VerifyError> {
        match self.peek_tag() {
            Some(t) if t == tag => self.any().map(Some),
            _ => Ok(None),
        }
    }

    /// A reader over the value of the next TLV, which must have tag `tag`.
    pub fn enter(&mut self, tag: u8, why: &str) -> Result<Reader<'a>, VerifyError> {
        let t = self.expect(tag, why)?;
        Ok(Reader::new(t.value, self.what))
    }

    /// Requires that nothing is left.
    pub fn finish(&self, why: &str) -> Result<(), VerifyError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err(why))
        }
    }
}

impl<'a> Tlv<'a> {
    /// A reader over this TLV's value.
    pub fn reader(&self, what: &'static str) -> Reader<'a> {
        Reader::new(self.value, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_strict_der() {
        let mut r = Reader::new(&[0x04, 0x02, 0xAA, 0xBB, 0x05, 0x00], "t");
        let t = r.any().expect("tlv");
        assert_eq!((t.tag, t.value, t.raw.len()), (0x04, &[0xAA, 0xBB][..], 4));
        assert_eq!(r.expect(0x05, "null").expect("null").value, &[] as &[u8]);
        assert!(r.is_empty() && r.finish("end").is_ok());
        let long: Vec<u8> = [0x04, 0x81, 0x80].into_iter().chain([7u8; 0x80]).collect();
        assert_eq!(Reader::new(&long, "t").any().expect("long form").value.len(), 0x80);
        for bad in [
            &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5][..], // long form for a short length
            &[0x04, 0x82, 0x00, 0x80],              // leading zero length byte
            &[0x30, 0x80, 0x00, 0x00],              // indefinite length
            &[0x04, 0x85, 1, 1, 1, 1, 1],           // five length bytes
            &[0x1F, 0x01, 0x00],                    // multi-byte tag
            &[0x04, 0x03, 0x00],                    // runs past the end
            &[0x04],                                // truncated
        ] {
            assert!(Reader::new(bad, "t").any().is_err(), "{bad:02X?}");
        }
        assert!(Reader::new(&[0x04, 0x00], "t").expect(0x30, "a SEQUENCE").is_err());
    }
}
