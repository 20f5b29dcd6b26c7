//! Applications (DF names) and files of the My Number card.

/// 公的個人認証AP (JPKI-AP).
pub const JPKI_AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// 券面事項入力補助AP.
pub const KENHOJO_AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// 券面事項確認AP (券面AP).
pub const KENKAKU_AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
/// 住基AP.
pub const JUKI_AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00];

/// The ATR a My Number card presents (OpenSC's JPKI driver matches it).
pub const ATR: [u8; 9] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// Files of the JPKI-AP.
pub mod jpki {
    /// 署名用電子証明書 (needs the signing password).
    pub const SIGN_CERT: u16 = 0x0001;
    /// The signing CA's root.
    pub const SIGN_CA: u16 = 0x0002;
    /// Token information, 32 bytes, space-padded.
    pub const TOKEN: u16 = 0x0006;
    /// 利用者証明用電子証明書.
    pub const AUTH_CERT: u16 = 0x000A;
    /// The authentication CA's root.
    pub const AUTH_CA: u16 = 0x000B;
    /// The authentication private key (select, then sign).
    pub const AUTH_KEY: u16 = 0x0017;
    /// 利用者証明用暗証番号: 4 digits, 3 tries.
    pub const AUTH_PIN: u16 = 0x0018;
    /// The signing private key.
    pub const SIGN_KEY: u16 = 0x001A;
    /// 署名用パスワード: 6–16 of A–Z and 0–9, 5 tries.
    pub const SIGN_PIN: u16 = 0x001B;
}

/// Files of the 券面事項入力補助AP.
pub mod kenhojo {
    /// My Number, `DF 10 0C` + 12 digits.
    pub const MY_NUMBER: u16 = 0x0001;
    /// The 4 attributes, `FF 20 { DF 21 offsets, DF 22 … DF 25 }`.
    pub const BASIC4: u16 = 0x0002;
    /// Hashes and signature, `FF 30 { DF 31, DF 32, DF 33 }`.
    pub const SIGNATURE: u16 = 0x0003;
    /// Card-verifiable certificate of the signing key, `7F 21 { 5F 4E, 5F 37 }`.
    pub const CERTIFICATE: u16 = 0x0004;
    /// AP basic information, `FF 40 { DF 41, DF 42 key id }`.
    pub const BASIC_INFO: u16 = 0x0005;
    /// 券面事項入力補助用暗証番号, 4 digits.
    pub const PIN: u16 = 0x0011;
    /// 照合番号A (the My Number).
    pub const PIN_A: u16 = 0x0014;
    /// 照合番号B (birth date YYMMDD + expiry year + security code).
    pub const PIN_B: u16 = 0x0015;
}

/// Files of the 券面AP.
pub mod kenkaku {
    /// Surface entries: photo, images, birth date, signature (after PIN A or PIN B).
    pub const ENTRIES: u16 = 0x0002;
    /// AP basic information with the issuing municipality.
    pub const BASIC_INFO: u16 = 0x0003;
    /// Card-verifiable certificate.
    pub const CERTIFICATE: u16 = 0x0004;
    /// The My Number as an image (after PIN A only).
    pub const MY_NUMBER_IMAGE: u16 = 0x0005;
    /// 照合番号B.
    pub const PIN_B: u16 = 0x0012;
    /// 照合番号A.
    pub const PIN_A: u16 = 0x0013;
}

/// Files of the 住基AP.
pub mod juki {
    /// 住民基本台帳用暗証番号, 4 digits.
    pub const PIN: u16 = 0x001C;
}

/// Short file identifier of a FID: its low five bits (how the card's files are numbered).
pub fn sfi(fid: u16) -> u8 {
    (fid & 0x1F) as u8
}

/// Token strings of EF 0006.
pub mod token {
    /// マイナンバーカード.
    pub const MY_NUMBER_CARD: &str = "JPKIAPICCTOKEN2";
    /// The old 住基カード.
    pub const JUKI_CARD: &str = "JPKIAPICCTOKEN";
    /// スマホ用電子証明書 (Android GP secure element).
    pub const SMARTPHONE: &str = "JPKIAPGPSETOKEN";
}
