//! The four basic attributes (基本4情報): name, address, birth date and sex, as the signing
//! certificate carries them.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::ProfileError;

/// Sex as recorded in the resident register and written in the certificate (`1`/`2`/`3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
    /// Not known (不明).
    Unknown,
}

impl Sex {
    /// The certificate's code: `1` male, `2` female, `3` unknown.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unknown => "3",
        }
    }

    pub fn from_code(code: &str) -> Result<Self, ProfileError> {
        match code {
            "1" => Ok(Sex::Male),
            "2" => Ok(Sex::Female),
            "3" => Ok(Sex::Unknown),
            other => Err(ProfileError::BadAttribute {
                attribute: "sex",
                why: format!("code {other:?} is not 1, 2 or 3"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Unknown => "unknown",
        }
    }
}

impl std::str::FromStr for Sex {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "male" => Ok(Sex::Male),
            "female" => Ok(Sex::Female),
            "unknown" => Ok(Sex::Unknown),
            other => Err(ProfileError::BadAttribute {
                attribute: "sex",
                why: format!("{other:?} is not male, female or unknown"),
            }),
        }
    }
}

/// The Japanese era (元号) of a birth date, the leading digit of the certificate's `EYYYYMMDD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Era {
    /// 0: not known.
    Unknown,
    /// 1: 明治, from 1868-01-25.
    Meiji,
    /// 2: 大正, from 1912-07-30.
    Taisho,
    /// 3: 昭和, from 1926-12-25.
    Showa,
    /// 4: 平成, from 1989-01-08.
    Heisei,
    /// 5: 令和, from 2019-05-01.
    Reiwa,
}

impl Era {
    const STARTS: [(Era, i32, Month, u8); 5] = [
        (Era::Reiwa, 2019, Month::May, 1),
        (Era::Heisei, 1989, Month::January, 8),
        (Era::Showa, 1926, Month::December, 25),
        (Era::Taisho, 1912, Month::July, 30),
        (Era::Meiji, 1868, Month::January, 25),
    ];

    /// The era a Gregorian date falls in.
    pub fn of(date: Date) -> Era {
        for (era, y, m, d) in Self::STARTS {
            if let Ok(start) = Date::from_calendar_date(y, m, d) {
                if date >= start {
                    return era;
                }
            }
        }
        Era::Unknown
    }

    pub fn digit(self) -> char {
        match self {
            Era::Unknown => '0',
            Era::Meiji => '1',
            Era::Taisho => '2',
            Era::Showa => '3',
            Era::Heisei => '4',
            Era::Reiwa => '5',
        }
    }

    fn from_digit(c: char) -> Option<Era> {
        Some(match c {
            '0' => Era::Unknown,
            '1' => Era::Meiji,
            '2' => Era::Taisho,
            '3' => Era::Showa,
            '4' => Era::Heisei,
            '5' => Era::Reiwa,
            _ => return None,
        })
    }
}

/// A birth date as the certificate writes it: era digit, then the Gregorian `YYYYMMDD`.
///
/// Some residents' birth dates are partly unknown (a `00` month or day); those keep their text and
/// have no calendar date.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BirthDate {
    pub era: Era,
    /// The calendar date, when month and day are known.
    pub date: Option<Date>,
    /// The 9-character certificate form, e.g. `419900102`.
    pub encoded: String,
}

impl BirthDate {
    pub fn from_date(date: Date) -> Self {
        let era = Era::of(date);
        let encoded = format!(
            "{}{:04}{:02}{:02}",
            era.digit(),
            date.year(),
            date.month() as u8,
            date.day()
        );
        BirthDate {
            era,
            date: Some(date),
            encoded,
        }
    }

    /// Parses the `EYYYYMMDD` form, checking that the era digit agrees with the date.
    pub fn parse(encoded: &str) -> Result<Self, ProfileError> {
        let bad = |why: &str| ProfileError::BadAttribute {
            attribute: "birth date",
            why: format!("{encoded:?}: {why}"),
        };
        if encoded.len() != 9 || !encoded.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not 9 digits EYYYYMMDD"));
        }
        let mut chars = encoded.chars();
        let era = chars
            .next()
            .and_then(Era::from_digit)
            .ok_or_else(|| bad("unknown era digit"))?;
        let num = |r: std::ops::Range<usize>| encoded[r].parse::<u32>().map_err(|_| bad("not a number"));
        let (year, month, day) = (num(1..5)?, num(5..7)?, num(7..9)?);
        if month == 0 || day == 0 {
            return Ok(BirthDate {
                era,
                date: None,
                encoded: encoded.to_owned(),
            });
        }
        let month = Month::try_from(month as u8).map_err(|_| bad("month out of range"))?;
        let date = Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad("no such day"))?;
        if era != Era::Unknown && Era::of(date) != era {
            return Err(bad("era digit does not match the date"));
        }
        Ok(BirthDate {
            era,
            date: Some(date),
            encoded: encoded.to_owned(),
        })
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.date {
            Some(d) => write!(f, "{d}"),
            None => f.write_str(&self.encoded),
        }
    }
}

/// Text as the certificate carries it: characters outside JIS X 0208 and JIS X 0212 replaced by a
/// substitute character (代替文字), with one flag per character saying which ones were replaced.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubstitutedText {
    pub text: String,
    /// One entry per character of `text`; `true` where a substitute stands.
    pub substituted: Vec<bool>,
}

/// The character written in place of one the certificate's character set cannot carry (〓, ゲタ).
pub const SUBSTITUTE_CHARACTER: char = '\u{3013}';

impl SubstitutedText {
    /// Replaces what JPKI's character set cannot carry.
    pub fn from_register(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut substituted = Vec::new();
        for c in original.chars() {
            if jis_representable(c) {
                text.push(c);
                substituted.push(false);
            } else {
                text.push(SUBSTITUTE_CHARACTER);
                substituted.push(true);
            }
        }
        SubstitutedText { text, substituted }
    }

    /// The `0`/`1` position string of SAN `…5.5.2` / `…5.5.6`.
    pub fn positions(&self) -> String {
        self.substituted.iter().map(|&s| if s { '1' } else { '0' }).collect()
    }

    /// Joins a certificate's text and its position string, checking they agree.
    pub fn from_certificate(attribute: &'static str, text: &str, positions: &str) -> Result<Self, ProfileError> {
        let substituted: Vec<bool> = positions
            .chars()
            .map(|c| match c {
                '0' => Ok(false),
                '1' => Ok(true),
                other => Err(ProfileError::BadAttribute {
                    attribute,
                    why: format!("position flag {other:?} is not 0 or 1"),
                }),
            })
            .collect::<Result<_, _>>()?;
        let n = text.chars().count();
        if substituted.len() != n {
            return Err(ProfileError::BadAttribute {
                attribute,
                why: format!("{} position flags for {n} characters", substituted.len()),
            });
        }
        Ok(SubstitutedText {
            text: text.to_owned(),
            substituted,
        })
    }

    pub fn has_substitutes(&self) -> bool {
        self.substituted.iter().any(|&s| s)
    }
}

/// Whether `c` is in the character set JPKI certificates carry: ASCII, JIS X 0208 (non-kanji rows and
/// kanji levels 1 and 2) and the JIS X 0212 supplementary kanji (補助漢字).
pub fn jis_representable(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_control();
    }
    let mut buf = [0u8; 4];
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buf));
    if !unmappable && bytes.len() == 2 {
        if let Some(row) = sjis_row(bytes[0], bytes[1]) {
            // Rows 1–8: symbols and kana; 16–47: level 1; 48–84: level 2. Row 13 (NEC specials) and
            // rows above 84 (vendor extensions) are not JIS X 0208.
            if (1..=8).contains(&row) || (16..=84).contains(&row) {
                return true;
            }
        }
    }
    jis0212().contains(&c)
}

/// JIS row (区) of a two-byte Shift_JIS code.
fn sjis_row(lead: u8, trail: u8) -> Option<u32> {
    let base = match lead {
        0x81..=0x9F => (lead - 0x81) as u32 * 2 + 1,
        0xE0..=0xEF => (lead - 0xC1) as u32 * 2 + 1,
        0xF0..=0xFC => (lead - 0xC1) as u32 * 2 + 1,
        _ => return None,
    };
    Some(if trail >= 0x9F { base + 1 } else { base })
}

/// The JIS X 0212 repertoire, read once from EUC-JP's three-byte (`8F xx xx`) decoding table.
fn jis0212() -> &'static HashSet<char> {
    static SET: OnceLock<HashSet<char>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = HashSet::new();
        let mut decoder_input = Vec::with_capacity(3);
        for hi in 0xA1u8..=0xFE {
            for lo in 0xA1u8..=0xFE {
                decoder_input.clear();
                decoder_input.extend_from_slice(&[0x8F, hi, lo]);
                let (text, had_errors) = encoding_rs::EUC_JP.decode_without_bom_handling(&decoder_input);
                if !had_errors {
                    if let Some(c) = text.chars().next() {
                        set.insert(c);
                    }
                }
            }
        }
        set
    })
}

/// The four basic attributes as a signing certificate carries them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Basic4 {
    /// 氏名: surname and given name separated by a full-width space.
    pub name: SubstitutedText,
    /// 住所: from the prefecture down, no postcode.
    pub address: SubstitutedText,
    /// 生年月日.
    pub birth_date: BirthDate,
    /// 性別.
    pub sex: Sex,
}

/// The longest address the certificate carries, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;

impl Basic4 {
    /// The attributes of a resident record, substituted for the certificate.
    pub fn from_register(name: &str, address: &str, birth: Date, sex: Sex) -> Result<Self, ProfileError> {
        if name.trim().is_empty() {
            return Err(ProfileError::BadAttribute {
                attribute: "name",
                why: "it is empty".into(),
            });
        }
        if address.trim().is_empty() {
            return Err(ProfileError::BadAttribute {
                attribute: "address",
                why: "it is empty".into(),
            });
        }
        let chars = address.chars().count();
        if chars > MAX_ADDRESS_CHARS {
            return Err(ProfileError::BadAttribute {
                attribute: "address",
                why: format!("{chars} characters, more than the {MAX_ADDRESS_CHARS} a certificate carries"),
            });
        }
        Ok(Basic4 {
            name: SubstitutedText::from_register(name),
            address: SubstitutedText::from_register(address),
            birth_date: BirthDate::from_date(birth),
            sex,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn era_boundaries() {
        assert_eq!(BirthDate::from_date(date!(1990 - 01 - 02)).encoded, "419900102");
        assert_eq!(Era::of(date!(1989 - 01 - 07)), Era::Showa);
        assert_eq!(Era::of(date!(1989 - 01 - 08)), Era::Heisei);
        assert_eq!(Era::of(date!(2019 - 04 - 30)), Era::Heisei);
        assert_eq!(Era::of(date!(2019 - 05 - 01)), Era::Reiwa);
        assert_eq!(Era::of(date!(1926 - 12 - 24)), Era::Taisho);
        assert_eq!(Era::of(date!(1926 - 12 - 25)), Era::Showa);
        assert_eq!(Era::of(date!(1912 - 07 - 29)), Era::Meiji);
        assert_eq!(Era::of(date!(1860 - 01 - 01)), Era::Unknown);
    }

    #[test]
    fn birth_date_round_trip_and_errors() {
        let b = BirthDate::parse("520200229").expect("leap day in Reiwa");
        assert_eq!(b.date, Some(date!(2020 - 02 - 29)));
        assert!(BirthDate::parse("520210229").is_err(), "no 29 Feb 2021");
        assert!(BirthDate::parse("319900102").is_err(), "1990 is Heisei, not Showa");
        assert!(BirthDate::parse("91990010").is_err());
        assert!(BirthDate::parse("919900102").is_err(), "no era 9");
        let partial = BirthDate::parse("319500000").expect("unknown month and day");
        assert_eq!(partial.date, None);
    }

    #[test]
    fn substitutes_outside_jis() {
        // 髙 (U+9AD9) is an IBM extension, not JIS X 0208; 﨑 likewise. 山田 are level 1 kanji.
        let t = SubstitutedText::from_register("髙山　太郎");
        assert_eq!(t.text, "〓山　太郎");
        assert_eq!(t.positions(), "10000");
        let t = SubstitutedText::from_register("山﨑　花子");
        assert_eq!(t.positions(), "01000");
        // 丂 (U+4E02) is JIS X 0212 (補助漢字): kept.
        assert!(jis_representable('丂'));
        // Kana, full-width digits and hyphen are JIS X 0208.
        let t = SubstitutedText::from_register("東京都千代田区霞が関２－１－２");
        assert!(!t.has_substitutes());
        // An emoji is never representable.
        assert!(!jis_representable('😀'));
    }

    #[test]
    fn position_string_must_match_text() {
        assert!(SubstitutedText::from_certificate("name", "山田", "00").is_ok());
        assert!(SubstitutedText::from_certificate("name", "山田", "0").is_err());
        assert!(SubstitutedText::from_certificate("name", "山田", "0x").is_err());
    }

    #[test]
    fn address_length_limit() {
        let long = "あ".repeat(201);
        assert!(Basic4::from_register("山田　太郎", &long, date!(1990 - 01 - 01), Sex::Male).is_err());
        assert!(Basic4::from_register("", "東京都", date!(1990 - 01 - 01), Sex::Male).is_err());
    }
}
