//! Status words (SW1 SW2).

use std::fmt;

/// The two trailing bytes of every response.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    pub const OK: StatusWord = StatusWord(0x9000);
    /// 62 82: end of file reached before Le bytes.
    pub const END_OF_FILE: StatusWord = StatusWord(0x6282);
    /// 67 00: wrong length.
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    /// 69 82: security status not satisfied (PIN not verified).
    pub const SECURITY_NOT_SATISFIED: StatusWord = StatusWord(0x6982);
    /// 69 83: authentication method blocked (ISO).
    pub const AUTH_BLOCKED: StatusWord = StatusWord(0x6983);
    /// 69 84: reference data not usable — what the My Number card answers for a blocked PIN.
    pub const REFERENCE_DATA_UNUSABLE: StatusWord = StatusWord(0x6984);
    /// 69 85: conditions of use not satisfied (e.g. no key selected).
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    /// 69 86: command not allowed (no current EF).
    pub const COMMAND_NOT_ALLOWED: StatusWord = StatusWord(0x6986);
    /// 6A 80: incorrect data.
    pub const WRONG_DATA: StatusWord = StatusWord(0x6A80);
    /// 6A 81: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    /// 6A 82: file or application not found.
    pub const FILE_NOT_FOUND: StatusWord = StatusWord(0x6A82);
    /// 6A 86: incorrect P1 P2.
    pub const WRONG_P1P2: StatusWord = StatusWord(0x6A86);
    /// 6B 00: offset outside the file.
    pub const WRONG_OFFSET: StatusWord = StatusWord(0x6B00);
    /// 6D 00: instruction not supported.
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    /// 6E 00: class not supported.
    pub const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);

    pub fn new(sw1: u8, sw2: u8) -> Self {
        StatusWord(u16::from_be_bytes([sw1, sw2]))
    }

    /// `63 Cx` with `x` tries left.
    pub fn tries_left(n: u8) -> Self {
        StatusWord(0x63C0 | (n.min(15) as u16))
    }

    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// For `63 Cx`, the number of tries left.
    pub fn retries(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some((self.0 & 0x0F) as u8)
    }

    /// Whether the PIN is blocked (`69 83` or `69 84`).
    pub fn is_blocked(self) -> bool {
        self == Self::AUTH_BLOCKED || self == Self::REFERENCE_DATA_UNUSABLE
    }

    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// A short English description, for error messages.
    pub fn describe(self) -> &'static str {
        if self.retries().is_some() {
            return "wrong PIN";
        }
        match self.0 {
            0x9000 => "success",
            0x6282 => "end of file",
            0x6700 => "wrong length",
            0x6982 => "security status not satisfied (PIN not verified)",
            0x6983 | 0x6984 => "PIN blocked",
            0x6985 => "conditions of use not satisfied",
            0x6986 => "command not allowed",
            0x6A80 => "incorrect data",
            0x6A81 => "function not supported",
            0x6A82 => "file not found",
            0x6A86 => "incorrect P1/P2",
            0x6B00 => "wrong offset",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            _ => "card error",
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.sw1(), self.sw2())
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X} ({})", self.sw1(), self.sw2(), self.describe())
    }
}
