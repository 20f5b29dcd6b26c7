//! Card issuance (交付), certificate renewal (更新) and re-issue (再発行).

use std::path::Path;

use honnin_cardfile::{Bytes, CardFile, JpkiAp, KeySlot, Pin, Surface, TOKEN_MYNUMBER_CARD};
use honnin_profile::build::{build_auth, build_signing, EndEntitySpec, Issuer, SigningSpec};
use honnin_profile::dates::{
    age_on, certificate_expiry, end_of_day_jst, jst_date, CardTermRule, SIGNING_CERTIFICATE_MIN_AGE,
};
use honnin_profile::names::signing_issuance_id;
use honnin_profile::{Hierarchy, RevocationReason, RsaKey, Serial, Sex};
use serde::Serialize;
use sqlx::{Row, SqliteConnection};
use time::{Date, OffsetDateTime};

use crate::card_data::{self, write_card_data};
use crate::register::{iso_date, load_resident, Resident, ResidentStatus};
use crate::store::{bump_revision, random_serial};
use crate::{Authority, AuthorityError, CaMaterial};

/// Which certificates a renewal replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Signing,
    Authentication,
    Both,
}

impl Which {
    fn includes(self, h: Hierarchy) -> bool {
        matches!(
            (self, h),
            (Which::Both, _)
                | (Which::Signing, Hierarchy::Signing)
                | (Which::Authentication, Hierarchy::Authentication)
        )
    }
}

/// A request to issue a card.
#[derive(Clone)]
pub struct IssueCard {
    pub resident_id: String,
    /// 利用者証明用暗証番号: 4 digits.
    pub auth_pin: String,
    /// 署名用パスワード: 6–16 of A–Z, 0–9. `None`: no signing certificate.
    pub sign_password: Option<String>,
    /// 券面事項入力補助用暗証番号; defaults to the auth PIN (the common 4-digit PIN most holders set).
    pub kenhojo_pin: Option<String>,
    /// 住民基本台帳用暗証番号; defaults to the auth PIN.
    pub juki_pin: Option<String>,
}

/// What an issuance or renewal produced.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedCard {
    pub card_id: String,
    pub resident_id: String,
    /// Hex serial of the auth certificate on the card.
    pub auth_serial: String,
    /// Hex serial of the signing certificate, when the card has one.
    pub sign_serial: Option<String>,
    pub card_expiry: String,
    pub auth_not_after: String,
    pub sign_not_after: Option<String>,
    /// The card this one replaced (re-issue), if any.
    pub replaced_card: Option<String>,
}

/// What a renewal replaced.
#[derive(Clone, Debug, Serialize)]
pub struct Renewal {
    pub card_id: String,
    pub renewed: Vec<RenewedCertificate>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RenewedCertificate {
    pub which: &'static str,
    pub old_serial: Option<String>,
    pub new_serial: String,
    pub not_after: String,
}

const AUTH_PIN_TRIES: u8 = 3;
const SIGN_PASSWORD_TRIES: u8 = 5;
const FOUR_DIGIT_PIN_TRIES: u8 = 3;

fn check_four_digits(what: &str, pin: &str) -> Result<(), AuthorityError> {
    if pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(AuthorityError::BadInput(format!("the {what} must be exactly 4 digits")))
    }
}

fn check_sign_password(password: &str) -> Result<(), AuthorityError> {
    let ok_chars = password.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if (6..=16).contains(&password.len()) && ok_chars {
        Ok(())
    } else {
        Err(AuthorityError::BadInput(
            "the signing password must be 6–16 characters of A–Z (upper case) and 0–9".into(),
        ))
    }
}

fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut b = [0u8; 1];
        let _ = aws_lc_rs::rand::fill(&mut b);
        if (b[0] as usize) < 252 {
            out.push(ALPHABET[b[0] as usize % 36] as char);
        }
    }
    out
}

fn random_digits(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + crate::store::random_digit()))
        .collect()
}

fn compact_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The 9-character counter identifier of the sandbox's issuing desk in a municipality.
fn counter_id(municipality: &str) -> String {
    municipality
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .chain(std::iter::repeat('0'))
        .take(6)
        .chain("001".chars())
        .collect()
}

/// ISO 5218 sex digit, as the 券面事項入力補助AP stores it.
fn iso5218(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "1",
        Sex::Female => "2",
        Sex::Unknown => "9",
    }
}

fn surface(resident: &Resident, card_expiry: Date, security_code: String) -> Surface {
    Surface {
        my_number: resident.my_number.clone(),
        name: resident.name.clone(),
        address: resident.address.clone(),
        birth_date: compact_date(resident.birth_date),
        sex: iso5218(resident.sex).to_owned(),
        card_expiry: compact_date(card_expiry),
        security_code,
        municipality: resident.municipality.clone(),
    }
}

/// Decides whether the resident may get a signing certificate now; `Ok(false)` when they simply did
/// not ask for one.
fn signing_allowed(resident: &Resident, today: Date, requested: bool) -> Result<bool, AuthorityError> {
    if !requested {
        return Ok(false);
    }
    let age = age_on(resident.birth_date, today);
    if age < SIGNING_CERTIFICATE_MIN_AGE {
        return Err(AuthorityError::TooYoungForSigning {
            id: resident.id.clone(),
            age,
        });
    }
    if resident.adult_ward {
        return Err(AuthorityError::AdultWard(resident.id.clone()));
    }
    Ok(true)
}

fn ensure_living(resident: &Resident) -> Result<(), AuthorityError> {
    if resident.status != ResidentStatus::Living {
        return Err(AuthorityError::NotLiving {
            id: resident.id.clone(),
            status: resident.status.as_str(),
        });
    }
    Ok(())
}

struct NewCertificate {
    serial: u64,
    der: Vec<u8>,
    not_after: OffsetDateTime,
}

/// Issues one end-entity certificate inside the caller's transaction, with a fresh unique serial.
#[allow(clippy::too_many_arguments)]
async fn issue_certificate(
    conn: &mut SqliteConnection,
    ca: &CaMaterial,
    resident: &Resident,
    card_id: &str,
    holder_key: &RsaKey,
    card_expiry: Date,
    now: OffsetDateTime,
    predecessor: Option<u64>,
) -> Result<NewCertificate, AuthorityError> {
    let hierarchy = ca.certificate.hierarchy;
    let today = jst_date(now);
    let not_before = now.replace_nanosecond(0).unwrap_or(now);
    let not_after =
        end_of_day_jst(certificate_expiry(resident.birth_date, today, card_expiry)).min(ca.certificate.not_after);
    if not_after <= not_before {
        return Err(AuthorityError::BadInput(format!(
            "a certificate issued now would already have expired (card ends {})",
            iso_date(card_expiry)
        )));
    }
    let serial = loop {
        let s = random_serial();
        let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM certificates WHERE serial = ?")
            .bind(s as i64)
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_none() {
            break s;
        }
    };
    let spec = EndEntitySpec {
        serial: Serial::from_u64(serial),
        not_before,
        not_after,
        public_key_pkcs1: holder_key.public_key_pkcs1().to_vec(),
        prefecture: resident.prefecture.clone(),
        municipality: resident.municipality.clone(),
    };
    let issuer = Issuer {
        certificate: &ca.certificate,
        key: &ca.key,
    };
    let der = match hierarchy {
        Hierarchy::Authentication => build_auth(&issuer, &spec, &random_alnum(23))?,
        Hierarchy::Signing => {
            let sequence: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE hierarchy = 'sign'")
                .fetch_one(&mut *conn)
                .await?;
            let spec = SigningSpec {
                common: spec,
                issuance_id: signing_issuance_id(now, (sequence + 1) as u64, &counter_id(&resident.municipality)),
                basic4: resident.basic4()?,
            };
            build_signing(&issuer, &spec)?
        }
    };
    sqlx::query(
        "INSERT INTO certificates (serial, hierarchy, ca_generation, card_id, resident_id, der, not_before, not_after, predecessor)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(serial as i64)
    .bind(hierarchy.short())
    .bind(ca.generation)
    .bind(card_id)
    .bind(&resident.id)
    .bind(&der)
    .bind(not_before.unix_timestamp())
    .bind(not_after.unix_timestamp())
    .bind(predecessor.map(|p| p as i64))
    .execute(&mut *conn)
    .await?;
    bump_revision(conn, hierarchy).await?;
    Ok(NewCertificate { serial, der, not_after })
}

/// Revokes the certificates in `serials` that are still good; returns those it revoked.
pub(crate) async fn revoke(
    conn: &mut SqliteConnection,
    serials: &[(u64, Hierarchy)],
    reason: RevocationReason,
    now: OffsetDateTime,
) -> Result<Vec<(u64, Hierarchy)>, AuthorityError> {
    let mut revoked = Vec::new();
    for &(serial, hierarchy) in serials {
        let done =
            sqlx::query("UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ? AND revoked_at IS NULL")
                .bind(now.unix_timestamp())
                .bind(reason.code() as i64)
                .bind(serial as i64)
                .execute(&mut *conn)
                .await?;
        if done.rows_affected() == 1 {
            bump_revision(conn, hierarchy).await?;
            revoked.push((serial, hierarchy));
        }
    }
    Ok(revoked)
}

/// The latest certificate of each hierarchy on a card: (serial, hierarchy, good?).
pub(crate) async fn card_certificates(
    conn: &mut SqliteConnection,
    card_id: &str,
) -> Result<Vec<(u64, Hierarchy, bool)>, AuthorityError> {
    let rows = sqlx::query(
        "SELECT serial, hierarchy, revoked_at IS NULL FROM certificates c
         WHERE card_id = ? AND id = (SELECT MAX(id) FROM certificates d WHERE d.card_id = c.card_id AND d.hierarchy = c.hierarchy)",
    )
    .bind(card_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>(0)? as u64,
                crate::store::hierarchy_from_db(&r.try_get::<String, _>(1)?)?,
                r.try_get::<bool, _>(2)?,
            ))
        })
        .collect()
}

pub(crate) async fn record_event(
    conn: &mut SqliteConnection,
    resident: &str,
    kind: &str,
    detail: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), AuthorityError> {
    sqlx::query("INSERT INTO events (resident_id, kind, detail, at) VALUES (?, ?, ?, ?)")
        .bind(resident)
        .bind(kind)
        .bind(detail.to_string())
        .bind(now.unix_timestamp())
        .execute(conn)
        .await?;
    Ok(())
}

fn slot(cert: &NewCertificate, key: &RsaKey, ca: &CaMaterial) -> Result<KeySlot, AuthorityError> {
    Ok(KeySlot {
        certificate: Bytes(cert.der.clone()),
        private_key: Bytes(key.to_pkcs8()?),
        ca_certificate: Bytes(ca.certificate.der.clone()),
    })
}

async fn link(conn: &mut SqliteConnection, sign: u64, auth: u64) -> Result<(), AuthorityError> {
    sqlx::query("INSERT OR IGNORE INTO serial_links (sign_serial, auth_serial) VALUES (?, ?)")
        .bind(sign as i64)
        .bind(auth as i64)
        .execute(conn)
        .await?;
    Ok(())
}

impl Authority {
    /// Issues a card to a resident and writes its card file to `out`. A resident who already holds
    /// an active card gets a re-issue: the old card is replaced and its certificates superseded.
    pub async fn issue_card(
        &self,
        request: IssueCard,
        out: &Path,
        now: OffsetDateTime,
    ) -> Result<IssuedCard, AuthorityError> {
        check_four_digits("auth PIN", &request.auth_pin)?;
        let kenhojo_pin = request.kenhojo_pin.clone().unwrap_or_else(|| request.auth_pin.clone());
        let juki_pin = request.juki_pin.clone().unwrap_or_else(|| request.auth_pin.clone());
        check_four_digits("券面事項入力補助 PIN (--kenhojo-pin)", &kenhojo_pin)?;
        check_four_digits("住基 PIN (--juki-pin)", &juki_pin)?;
        if let Some(p) = &request.sign_password {
            check_sign_password(p)?;
        }
        if out.is_dir() {
            return Err(AuthorityError::BadInput(format!(
                "{} is a directory, not a card file path",
                out.display()
            )));
        }
        let resident = load_resident(self.pool(), &request.resident_id).await?;
        ensure_living(&resident)?;
        let today = jst_date(now);
        let with_signing = signing_allowed(&resident, today, request.sign_password.is_some())?;
        let card_expiry = CardTermRule::for_application_date(today).card_expiry(resident.birth_date, today);

        // Key generation is the slow part; do it before taking the write lock.
        let auth_key = RsaKey::generate()?;
        let sign_key = if with_signing { Some(RsaKey::generate()?) } else { None };
        let auth_ca = self.ca(Hierarchy::Authentication).await?;
        let sign_ca = self.ca(Hierarchy::Signing).await?;
        let card_id = random_alnum(16);
        let card_data_keys = card_data::keys(self.pool()).await?;

        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        // Re-issue: the previous active card is replaced and its live certificates superseded.
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT id FROM cards WHERE resident_id = ? AND state = 'active' ORDER BY issued_at DESC LIMIT 1",
        )
        .bind(&resident.id)
        .fetch_optional(&mut *tx)
        .await?;
        let mut predecessors = (None, None);
        if let Some(old) = &previous {
            let certs = card_certificates(&mut tx, old).await?;
            for &(serial, h, _) in &certs {
                match h {
                    Hierarchy::Signing => predecessors.0 = Some(serial),
                    Hierarchy::Authentication => predecessors.1 = Some(serial),
                }
            }
            let live: Vec<_> = certs.iter().filter(|c| c.2).map(|c| (c.0, c.1)).collect();
            revoke(&mut tx, &live, RevocationReason::Superseded, now).await?;
        }
        sqlx::query("INSERT INTO cards (id, resident_id, issued_at, expires_on, state) VALUES (?, ?, ?, ?, 'active')")
            .bind(&card_id)
            .bind(&resident.id)
            .bind(now.unix_timestamp())
            .bind(iso_date(card_expiry))
            .execute(&mut *tx)
            .await?;
        if let Some(old) = &previous {
            sqlx::query("UPDATE cards SET state = 'replaced', replaced_by = ? WHERE id = ?")
                .bind(&card_id)
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        let auth = issue_certificate(
            &mut tx,
            &auth_ca,
            &resident,
            &card_id,
            &auth_key,
            card_expiry,
            now,
            predecessors.1,
        )
        .await?;
        let sign = match &sign_key {
            Some(k) => Some(
                issue_certificate(
                    &mut tx,
                    &sign_ca,
                    &resident,
                    &card_id,
                    k,
                    card_expiry,
                    now,
                    predecessors.0,
                )
                .await?,
            ),
            None => None,
        };
        if let Some(s) = &sign {
            link(&mut tx, s.serial, auth.serial).await?;
        }
        record_event(
            &mut tx,
            &resident.id,
            if previous.is_some() {
                "card-reissued"
            } else {
                "card-issued"
            },
            serde_json::json!({ "card": card_id, "replaced": previous }),
            now,
        )
        .await?;

        let mut card = CardFile {
            format: honnin_cardfile::FORMAT.into(),
            card_id: card_id.clone(),
            environment: "sandbox".into(),
            jpki: JpkiAp {
                token: TOKEN_MYNUMBER_CARD.into(),
                auth: slot(&auth, &auth_key, &auth_ca)?,
                auth_pin: Pin::new(&request.auth_pin, AUTH_PIN_TRIES),
                sign: match (&sign, &sign_key) {
                    (Some(c), Some(k)) => Some(slot(c, k, &sign_ca)?),
                    _ => None,
                },
                sign_password: request
                    .sign_password
                    .as_deref()
                    .filter(|_| with_signing)
                    .map(|p| Pin::new(p, SIGN_PASSWORD_TRIES)),
            },
            surface: surface(&resident, card_expiry, random_digits(4)),
            kenhojo_pin: Pin::new(&kenhojo_pin, FOUR_DIGIT_PIN_TRIES),
            juki_pin: Pin::new(&juki_pin, FOUR_DIGIT_PIN_TRIES),
            // Written from the surface data just below.
            pin_a: Pin::new("", 0),
            pin_b: Pin::new("", 0),
            kenhojo_files: Default::default(),
            kenkaku_files: Default::default(),
        };
        write_card_data(&mut card, &card_data_keys)?;
        // Stage the card first; if the commit fails the staged file is dropped and removed.
        let staged = card.stage(out)?;
        tx.commit().await?;
        staged.commit()?;
        Ok(IssuedCard {
            card_id,
            resident_id: resident.id.clone(),
            auth_serial: Serial::from_u64(auth.serial).to_hex(),
            sign_serial: sign.as_ref().map(|s| Serial::from_u64(s.serial).to_hex()),
            card_expiry: iso_date(card_expiry),
            auth_not_after: rfc3339(auth.not_after),
            sign_not_after: sign.as_ref().map(|s| rfc3339(s.not_after)),
            replaced_card: previous,
        })
    }

    /// Renews certificates on an existing card: new key pairs are written into the same card file
    /// (as the chip regenerates them), the old certificates are superseded, and the serials linked.
    /// After a change of the 4 attributes, `Which::Signing` issues the new signing certificate.
    pub async fn renew(
        &self,
        card_path: &Path,
        which: Which,
        sign_password: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Renewal, AuthorityError> {
        if let Some(p) = &sign_password {
            check_sign_password(p)?;
        }
        let mut card = CardFile::read(card_path)?;
        let row = sqlx::query("SELECT resident_id, state, expires_on FROM cards WHERE id = ?")
            .bind(&card.card_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| AuthorityError::UnknownCard(card.card_id.clone()))?;
        let (resident_id, state, expires_on): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if state != "active" {
            return Err(AuthorityError::CardNotActive {
                id: card.card_id.clone(),
                state,
            });
        }
        let card_expiry =
            Date::parse(&expires_on, &time::format_description::well_known::Iso8601::DATE).map_err(|_| {
                AuthorityError::Corrupt {
                    dir: String::new(),
                    why: "card expiry".into(),
                }
            })?;
        let today = jst_date(now);
        if today > card_expiry {
            return Err(AuthorityError::CardExpired {
                id: card.card_id.clone(),
                expiry: expires_on,
            });
        }
        let resident = load_resident(self.pool(), &resident_id).await?;
        ensure_living(&resident)?;
        let renew_sign = which.includes(Hierarchy::Signing);
        if renew_sign {
            signing_allowed(&resident, today, true)?;
            if card.jpki.sign_password.is_none() && sign_password.is_none() {
                return Err(AuthorityError::SignPasswordRequired);
            }
        }
        let card_data_keys = card_data::keys(self.pool()).await?;
        let mut keys = Vec::new();
        for h in Hierarchy::ALL {
            if which.includes(h) {
                keys.push((h, RsaKey::generate()?, self.ca(h).await?));
            }
        }

        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let current = card_certificates(&mut tx, &card.card_id).await?;
        let mut renewed = Vec::new();
        let mut new_serials = (None, None);
        for (h, key, ca) in &keys {
            let old = current.iter().find(|c| c.1 == *h);
            if let Some(&(serial, h, true)) = old {
                revoke(&mut tx, &[(serial, h)], RevocationReason::Superseded, now).await?;
            }
            let new = issue_certificate(
                &mut tx,
                ca,
                &resident,
                &card.card_id,
                key,
                card_expiry,
                now,
                old.map(|o| o.0),
            )
            .await?;
            let new_slot = slot(&new, key, ca)?;
            match h {
                Hierarchy::Signing => {
                    card.jpki.sign = Some(new_slot);
                    new_serials.0 = Some(new.serial);
                }
                Hierarchy::Authentication => {
                    card.jpki.auth = new_slot;
                    new_serials.1 = Some(new.serial);
                }
            }
            renewed.push(RenewedCertificate {
                which: h.short(),
                old_serial: old.map(|o| Serial::from_u64(o.0).to_hex()),
                new_serial: Serial::from_u64(new.serial).to_hex(),
                not_after: rfc3339(new.not_after),
            });
        }
        // Link the card's signing and auth certificates that are now current together.
        let sign_now = new_serials
            .0
            .or_else(|| current.iter().find(|c| c.1 == Hierarchy::Signing).map(|c| c.0));
        let auth_now = new_serials
            .1
            .or_else(|| current.iter().find(|c| c.1 == Hierarchy::Authentication).map(|c| c.0));
        if let (Some(s), Some(a)) = (sign_now, auth_now) {
            link(&mut tx, s, a).await?;
        }
        if let Some(p) = &sign_password {
            card.jpki.sign_password = Some(Pin::new(p, SIGN_PASSWORD_TRIES));
        }
        // The municipality rewrites the card's stored attributes at the same counter visit.
        let security_code = card.surface.security_code.clone();
        card.surface = surface(&resident, card_expiry, security_code);
        write_card_data(&mut card, &card_data_keys)?;
        record_event(
            &mut tx,
            &resident.id,
            "certificates-renewed",
            serde_json::json!({ "card": card.card_id, "renewed": renewed }),
            now,
        )
        .await?;
        let staged = card.stage(card_path)?;
        tx.commit().await?;
        staged.commit()?;
        Ok(Renewal {
            card_id: card.card_id,
            renewed,
        })
    }
}
