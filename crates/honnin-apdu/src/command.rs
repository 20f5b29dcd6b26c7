//! Command and response APDUs (ISO 7816-4 §5.1), short and extended.

use crate::{ApduError, StatusWord};

/// The largest Le of a short APDU (`00` means 256).
pub const MAX_SHORT_LE: usize = 256;
/// The largest Le of an extended APDU (`00 00` means 65536).
pub const MAX_EXTENDED_LE: usize = 65536;

/// A command APDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    /// Expected response length; `None` for no Le field.
    pub le: Option<usize>,
}

impl Command {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Whether this command needs the extended form.
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > MAX_SHORT_LE)
    }

    /// Encodes the command, short if it fits, extended otherwise.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > 65535 {
            return Err(ApduError::DataTooLong(self.data.len()));
        }
        if let Some(le) = self.le {
            if le == 0 || le > MAX_EXTENDED_LE {
                return Err(ApduError::BadLe(le));
            }
        }
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if !self.is_extended() {
            if !self.data.is_empty() {
                out.push(self.data.len() as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.push((le % 256) as u8);
            }
        } else {
            out.push(0);
            if !self.data.is_empty() {
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.extend_from_slice(&((le % 65536) as u16).to_be_bytes());
            }
        }
        Ok(out)
    }

    /// Parses a command APDU in any of the ISO 7816-3 cases (1, 2S, 3S, 4S, 2E, 3E, 4E).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort {
                needed: 4,
                got: bytes.len(),
            });
        };
        let mut cmd = Command::new(*cla, *ins, *p1, *p2);
        let short_le = |b: u8| if b == 0 { 256 } else { b as usize };
        let ext_le = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => 65536,
            n => n as usize,
        };
        match body {
            [] => {}
            [le] => cmd.le = Some(short_le(*le)),
            [0, rest @ ..] if rest.len() >= 2 => {
                // Extended: 00 then Lc (2 bytes) + data [+ Le (2)], or Le (2) alone.
                if rest.len() == 2 {
                    cmd.le = Some(ext_le(rest[0], rest[1]));
                } else {
                    let lc = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                    if lc == 0 {
                        return Err(ApduError::BadLength("extended Lc of zero"));
                    }
                    let after = &rest[2..];
                    if after.len() == lc {
                        cmd.data = after.to_vec();
                    } else if after.len() == lc + 2 {
                        cmd.data = after[..lc].to_vec();
                        cmd.le = Some(ext_le(after[lc], after[lc + 1]));
                    } else {
                        return Err(ApduError::BadLength("extended Lc does not match the data"));
                    }
                }
            }
            [lc, rest @ ..] => {
                let lc = *lc as usize;
                if lc == 0 {
                    return Err(ApduError::BadLength("short Lc of zero"));
                }
                if rest.len() == lc {
                    cmd.data = rest.to_vec();
                } else if rest.len() == lc + 1 {
                    cmd.data = rest[..lc].to_vec();
                    cmd.le = Some(short_le(rest[lc]));
                } else {
                    return Err(ApduError::BadLength("short Lc does not match the data"));
                }
            }
        }
        Ok(cmd)
    }
}

/// A response APDU: data and status word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl Response {
    pub fn new(data: Vec<u8>, sw: StatusWord) -> Self {
        Response { data, sw }
    }

    pub fn status(sw: StatusWord) -> Self {
        Response { data: Vec::new(), sw }
    }

    pub fn ok(data: Vec<u8>) -> Self {
        Response {
            data,
            sw: StatusWord::OK,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        if bytes.len() < 2 {
            return Err(ApduError::TooShort {
                needed: 2,
                got: bytes.len(),
            });
        }
        let (data, sw) = bytes.split_at(bytes.len() - 2);
        Ok(Response {
            data: data.to_vec(),
            sw: StatusWord::new(sw[0], sw[1]),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cmd: &Command) {
        let bytes = cmd.to_bytes().expect("encode");
        assert_eq!(&Command::parse(&bytes).expect("parse"), cmd, "{bytes:02X?}");
    }

    #[test]
    fn the_cards_canonical_commands() {
        // SELECT JPKI-AP by DF name, P2=0C.
        let aid = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
        let select = Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(aid);
        assert_eq!(select.to_bytes().expect("encode")[..5], [0x00, 0xA4, 0x04, 0x0C, 0x0A]);
        round_trip(&select);
        // READ BINARY with Le=00 (256).
        let read = Command::new(0x00, 0xB0, 0x00, 0x00).with_le(256);
        assert_eq!(read.to_bytes().expect("encode"), [0x00, 0xB0, 0x00, 0x00, 0x00]);
        // Tries left: case 1.
        assert_eq!(Command::parse(&[0x00, 0x20, 0x00, 0x80]).expect("case 1").le, None);
        // Sign: 80 2A 00 80 Lc DigestInfo 00.
        let sign = Command::new(0x80, 0x2A, 0x00, 0x80)
            .with_data(vec![0x30; 51])
            .with_le(256);
        round_trip(&sign);
    }

    #[test]
    fn extended_forms() {
        // READ BINARY by SFI, whole file: 00 B0 8A 00 00 00 00 (extended Le 65536).
        let cmd = Command::parse(&[0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00]).expect("2E");
        assert_eq!(cmd.le, Some(65536));
        round_trip(&cmd);
        round_trip(&Command::new(0x00, 0xB0, 0, 0).with_le(1000));
        round_trip(&Command::new(0x80, 0x2A, 0, 0x80).with_data(vec![1; 300]));
        round_trip(&Command::new(0x80, 0x2A, 0, 0x80).with_data(vec![1; 300]).with_le(65536));
        round_trip(&Command::new(0x80, 0x2A, 0, 0x80).with_data(vec![1; 10]).with_le(300));
    }

    #[test]
    fn malformed_commands_are_errors() {
        assert!(Command::parse(&[0x00, 0xA4, 0x04]).is_err());
        assert!(
            Command::parse(&[0x00, 0xA4, 0x04, 0x0C, 0x05, 1, 2]).is_err(),
            "Lc 5, 2 bytes"
        );
        assert!(Command::parse(&[0x00, 0xA4, 0x04, 0x0C, 0x00, 0x00, 0x05, 1]).is_err());
        assert!(
            Command::parse(&[0x00, 0xA4, 0x04, 0x0C, 0x00, 0x00, 0x00, 1]).is_err(),
            "extended Lc 0"
        );
        assert!(Command::new(0, 0, 0, 0).with_le(0).to_bytes().is_err());
        assert!(Response::parse(&[0x90]).is_err());
    }

    #[test]
    fn status_words() {
        assert_eq!(StatusWord::tries_left(2), StatusWord(0x63C2));
        assert_eq!(StatusWord(0x63C0).retries(), Some(0));
        assert_eq!(StatusWord::OK.retries(), None);
        assert!(StatusWord(0x6984).is_blocked());
        let r = Response::parse(&[1, 2, 0x90, 0x00]).expect("response");
        assert_eq!(r.data, [1, 2]);
        assert!(r.sw.is_ok());
        assert_eq!(r.to_bytes(), [1, 2, 0x90, 0x00]);
    }
}
