//! The resident register (住民基本台帳): the 4 attributes, the issuing municipality and status.

use honnin_profile::{Basic4, Sex};
use serde::Serialize;
use sqlx::{Row, SqlitePool};
use time::{Date, OffsetDateTime};

use crate::{Authority, AuthorityError};

/// Whether the resident is living, deceased or has moved abroad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidentStatus {
    Living,
    Deceased,
    Emigrated,
}

impl ResidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResidentStatus::Living => "living",
            ResidentStatus::Deceased => "deceased",
            ResidentStatus::Emigrated => "emigrated",
        }
    }

    fn parse(s: &str) -> Result<Self, AuthorityError> {
        match s {
            "living" => Ok(ResidentStatus::Living),
            "deceased" => Ok(ResidentStatus::Deceased),
            "emigrated" => Ok(ResidentStatus::Emigrated),
            other => Err(AuthorityError::Corrupt {
                dir: String::new(),
                why: format!("resident status {other:?}"),
            }),
        }
    }
}

/// A new entry in the register.
#[derive(Clone, Debug)]
pub struct NewResident {
    pub name: String,
    pub address: String,
    pub birth_date: Date,
    pub sex: Sex,
    /// Romanised prefecture, e.g. `Tokyo-to`.
    pub prefecture: String,
    /// Romanised municipality, e.g. `Kiyose-shi`.
    pub municipality: String,
    /// 成年被後見人: never gets a signing certificate.
    pub adult_ward: bool,
}

/// A resident as the register holds them. The My Number is held but never serialised here.
#[derive(Clone, Debug, Serialize)]
pub struct Resident {
    pub id: String,
    pub name: String,
    pub address: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub prefecture: String,
    pub municipality: String,
    pub status: ResidentStatus,
    pub adult_ward: bool,
    #[serde(skip)]
    pub(crate) my_number: String,
}

impl Resident {
    /// The attributes as a signing certificate would carry them.
    pub fn basic4(&self) -> Result<Basic4, AuthorityError> {
        Ok(Basic4::from_register(
            &self.name,
            &self.address,
            self.birth_date,
            self.sex,
        )?)
    }
}

/// Checks a romanised place name for the certificate subject and CRL distribution point.
pub(crate) fn check_place(what: &str, value: &str) -> Result<(), AuthorityError> {
    if value.trim().is_empty() || value.chars().count() > 64 || value.chars().any(|c| c.is_control()) {
        return Err(AuthorityError::BadInput(format!(
            "the {what} must be 1–64 printable characters, e.g. Tokyo-to"
        )));
    }
    Ok(())
}

/// A My Number (個人番号): 11 random digits and the check digit of 番号法施行令 第8条.
pub(crate) fn new_my_number() -> String {
    let digits: [u8; 11] = std::array::from_fn(|_| crate::store::random_digit());
    let mut s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    s.push(char::from(b'0' + my_number_check_digit(&digits)));
    s
}

/// Check digit over the first 11 digits: Σ Pn×Qn with Pn the nth digit from the right,
/// Qn = n+1 for n ≤ 6 and n−5 for n ≥ 7; 11 − (Σ mod 11), or 0 when the remainder is ≤ 1.
pub(crate) fn my_number_check_digit(first11: &[u8; 11]) -> u8 {
    let sum: u32 = (1..=11u32)
        .map(|n| {
            let p = first11[11 - n as usize] as u32;
            let q = if n <= 6 { n + 1 } else { n - 5 };
            p * q
        })
        .sum();
    let r = sum % 11;
    if r <= 1 {
        0
    } else {
        (11 - r) as u8
    }
}

fn new_resident_id() -> String {
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    format!("{:011}", u64::from_be_bytes(b) % 100_000_000_000)
}

pub(crate) async fn ensure_resident(pool: &SqlitePool, id: &str) -> Result<(), AuthorityError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM residents WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| AuthorityError::UnknownResident(id.to_owned()))
}

pub(crate) async fn load_resident<'e, E>(executor: E, id: &str) -> Result<Resident, AuthorityError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row = sqlx::query(
        "SELECT id, name, address, birth_date, sex, prefecture, municipality, status, adult_ward, my_number
         FROM residents WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| AuthorityError::UnknownResident(id.to_owned()))?;
    let bad = |why: &str| AuthorityError::Corrupt {
        dir: String::new(),
        why: format!("resident {id}: {why}"),
    };
    let birth: String = row.try_get(3)?;
    let sex: String = row.try_get(4)?;
    Ok(Resident {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        address: row.try_get(2)?,
        birth_date: Date::parse(&birth, &time::format_description::well_known::Iso8601::DATE)
            .map_err(|_| bad("birth date"))?,
        sex: sex.parse().map_err(|_| bad("sex"))?,
        prefecture: row.try_get(5)?,
        municipality: row.try_get(6)?,
        status: ResidentStatus::parse(&row.try_get::<String, _>(7)?)?,
        adult_ward: row.try_get::<i64, _>(8)? != 0,
        my_number: row.try_get(9)?,
    })
}

pub(crate) fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

impl Authority {
    /// Adds a resident to the register and returns the record with its new id.
    pub async fn add_resident(&self, new: NewResident, now: OffsetDateTime) -> Result<Resident, AuthorityError> {
        // Validates name and address the way the certificate will carry them.
        Basic4::from_register(&new.name, &new.address, new.birth_date, new.sex)?;
        check_place("prefecture", &new.prefecture)?;
        check_place("municipality", &new.municipality)?;
        if new.birth_date > honnin_profile::dates::jst_date(now) {
            return Err(AuthorityError::BadInput(format!(
                "the birth date {} is in the future",
                iso_date(new.birth_date)
            )));
        }
        for _ in 0..32 {
            let id = new_resident_id();
            let my_number = new_my_number();
            let result = sqlx::query(
                "INSERT INTO residents (id, name, address, birth_date, sex, prefecture, municipality, status, adult_ward,
                                        my_number, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 'living', ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(&new.name)
            .bind(&new.address)
            .bind(iso_date(new.birth_date))
            .bind(new.sex.as_str())
            .bind(&new.prefecture)
            .bind(&new.municipality)
            .bind(new.adult_ward as i64)
            .bind(&my_number)
            .bind(now.unix_timestamp())
            .bind(now.unix_timestamp())
            .execute(self.pool())
            .await;
            match result {
                Ok(_) => return load_resident(self.pool(), &id).await,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuthorityError::BadInput(
            "could not allocate a unique resident id".into(),
        ))
    }

    pub async fn resident(&self, id: &str) -> Result<Resident, AuthorityError> {
        load_resident(self.pool(), id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn my_number_check_digit_matches_the_published_example() {
        // Worked by hand: Σ = 212, 212 mod 11 = 3, 11 − 3 = 8.
        assert_eq!(my_number_check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]), 8);
        let n = new_my_number();
        assert_eq!(n.len(), 12);
        let d: Vec<u8> = n.bytes().map(|b| b - b'0').collect();
        let first: [u8; 11] = d[..11].try_into().expect("11");
        assert_eq!(my_number_check_digit(&first), d[11]);
    }
}
