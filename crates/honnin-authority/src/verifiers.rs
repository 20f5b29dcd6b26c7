//! Registered verifiers (署名検証者 / プラットフォーム事業者): their credentials, the holders'
//! consents, the serial-linking answers (新旧シリアル番号紐付け and 対応証明書の発行の番号), and the record
//! of every call a verifier makes, from which `fees` bills them.
//!
//! A verifier's secret is 256 random bits, shown once when the verifier is added. The database keeps
//! a random salt and SHA-256(salt ‖ secret); a presented secret is hashed the same way and compared
//! in constant time. (The secret is random, not a password, so a slow KDF buys nothing.) Secrets are
//! never logged.

use std::fmt;

use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;
use honnin_profile::Hierarchy;
use honnin_proto::Link;
pub use honnin_proto::{ConsentScope, Service as VerifierService};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::register::ensure_resident;
use crate::store::hierarchy_from_db;
use crate::{Authority, AuthorityError};

const SECRET_BYTES: usize = 32;
const SALT_BYTES: usize = 16;
const ID_BYTES: usize = 8;
const MAX_NAME_CHARS: usize = 200;

/// A verifier's secret as issued: shown once, never stored. `Debug` does not print it.
pub struct VerifierSecret(String);

impl VerifierSecret {
    /// The secret, for the one place that hands it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerifierSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifierSecret(…)")
    }
}

/// A registered verifier, as listed (never with its secret or hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verifier {
    pub id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub disabled: bool,
}

/// The outcome of checking a verifier's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifierAuth {
    /// Id and secret match an enabled verifier (its id).
    Accepted(String),
    /// Id and secret match, but the verifier is disabled.
    Disabled(String),
    /// Unknown id or wrong secret; which of the two is not said.
    Rejected,
}

/// A holder's consent to one verifier; `withdrawn_at` is `None` while it is live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub resident_id: String,
    pub verifier_id: String,
    pub scope: ConsentScope,
    #[serde(with = "time::serde::rfc3339")]
    pub given_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
}

pub use honnin_proto::fees::CallResult;

/// One recorded verifier call: enough to bill it (verifier, time, service, hierarchy, serials, result).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifierCall {
    /// Increasing in the order calls were recorded.
    pub id: i64,
    pub verifier_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub service: VerifierService,
    /// `None` for an OCSP request naming no CA of this authority, or one that did not parse.
    pub hierarchy: Option<Hierarchy>,
    /// The certificate asked about (`None` for a CRL, or a serial over 63 bits).
    pub serial: Option<u64>,
    /// The certificate answered: previous, next, or the other certificate of the card.
    pub linked_serial: Option<u64>,
    pub result: CallResult,
}

/// A call to record (the verifier and time are given separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewCall {
    pub service: VerifierService,
    pub hierarchy: Option<Hierarchy>,
    pub serial: Option<u64>,
    pub linked_serial: Option<u64>,
    pub result: CallResult,
}

/// The answer to a serial-linking question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAnswer {
    Previous(Option<u64>),
    Next(Option<u64>),
    /// The card's signing certificate (absent on a card without one) and auth certificate.
    Counterpart {
        sign: Option<u64>,
        auth: u64,
    },
}

/// What a verifier gets when it asks for a certificate's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    Answer(LinkAnswer),
    /// The authority issued no certificate with that serial in that hierarchy.
    UnknownCertificate,
    /// The holder has no live linking consent for this verifier.
    ConsentRequired,
}

fn random<const N: usize>() -> Result<[u8; N], AuthorityError> {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| AuthorityError::Random)?;
    Ok(b)
}

/// SHA-256(salt ‖ secret).
fn hash_secret(salt: &[u8], secret: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(salt.len() + secret.len());
    input.extend_from_slice(salt);
    input.extend_from_slice(secret);
    digest(&SHA256, &input).as_ref().to_vec()
}

/// Whether `presented` hashes to `stored` under `salt`, compared in constant time.
fn secret_matches(salt: &[u8], stored: &[u8], presented: &[u8]) -> bool {
    let hash = hash_secret(salt, presented);
    aws_lc_rs::constant_time::verify_slices_are_equal(&hash, stored).is_ok()
}

pub(crate) fn db_serial(serial: Option<i64>) -> Option<u64> {
    serial.and_then(|s| u64::try_from(s).ok())
}

pub(crate) fn time_from_db(t: i64) -> Result<OffsetDateTime, AuthorityError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(|_| AuthorityError::Corrupt {
        dir: String::new(),
        why: format!("time {t} out of range"),
    })
}

fn verifier_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Verifier, AuthorityError> {
    Ok(Verifier {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: time_from_db(row.try_get("created_at")?)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

fn consent_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Consent, AuthorityError> {
    Ok(Consent {
        resident_id: row.try_get("resident_id")?,
        verifier_id: row.try_get("verifier_id")?,
        scope: scope_from_db(&row.try_get::<String, _>("scope")?)?,
        given_at: time_from_db(row.try_get("given_at")?)?,
        withdrawn_at: row
            .try_get::<Option<i64>, _>("withdrawn_at")?
            .map(time_from_db)
            .transpose()?,
    })
}

fn scope_from_db(s: &str) -> Result<ConsentScope, AuthorityError> {
    ConsentScope::from_name(s).ok_or_else(|| AuthorityError::Corrupt {
        dir: String::new(),
        why: format!("consent scope {s:?}"),
    })
}

fn check_name(name: &str) -> Result<&str, AuthorityError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AuthorityError::BadInput(format!(
            "a verifier name must be 1–{MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name)
}

/// The holder's live consent of `scope` to `verifier` and its row id, made now if there was none
/// (inside the caller's transaction).
pub(crate) async fn live_or_new_consent(
    conn: &mut sqlx::SqliteConnection,
    resident: &str,
    verifier: &str,
    scope: ConsentScope,
    now: OffsetDateTime,
) -> Result<(Consent, i64), AuthorityError> {
    let live = sqlx::query(&format!(
        "SELECT id, {CONSENT_COLUMNS} FROM consents
         WHERE resident_id = ? AND verifier_id = ? AND scope = ? AND withdrawn_at IS NULL"
    ))
    .bind(resident)
    .bind(verifier)
    .bind(scope.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = live {
        return Ok((consent_from_row(&row)?, row.try_get("id")?));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO consents (resident_id, verifier_id, scope, given_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(resident)
    .bind(verifier)
    .bind(scope.as_str())
    .bind(now.unix_timestamp())
    .fetch_one(&mut *conn)
    .await?;
    let consent = Consent {
        resident_id: resident.to_owned(),
        verifier_id: verifier.to_owned(),
        scope,
        given_at: time_from_db(now.unix_timestamp())?,
        withdrawn_at: None,
    };
    Ok((consent, id))
}

const VERIFIER_COLUMNS: &str = "id, name, created_at, disabled";
const CONSENT_COLUMNS: &str = "resident_id, verifier_id, scope, given_at, withdrawn_at";

impl Authority {
    /// Registers a verifier and returns it with its secret, which is shown only this once.
    pub async fn add_verifier(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<(Verifier, VerifierSecret), AuthorityError> {
        let name = check_name(name)?;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<SECRET_BYTES>()?);
        let salt = random::<SALT_BYTES>()?;
        let hash = hash_secret(&salt, secret.as_bytes());
        for _ in 0..8 {
            let id = hex::encode(random::<ID_BYTES>()?);
            let inserted = sqlx::query(
                "INSERT INTO verifiers (id, name, secret_salt, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&id)
            .bind(name)
            .bind(&salt[..])
            .bind(&hash)
            .bind(now.unix_timestamp())
            .execute(self.pool())
            .await;
            match inserted {
                Ok(_) => return Ok((self.verifier(&id).await?, VerifierSecret(secret))),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuthorityError::BadInput(
            "could not allocate a unique verifier id".into(),
        ))
    }

    /// One registered verifier.
    pub async fn verifier(&self, id: &str) -> Result<Verifier, AuthorityError> {
        let row = sqlx::query(&format!("SELECT {VERIFIER_COLUMNS} FROM verifiers WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| AuthorityError::UnknownVerifier(id.to_owned()))?;
        verifier_from_row(&row)
    }

    /// Every registered verifier, oldest first.
    pub async fn verifiers(&self) -> Result<Vec<Verifier>, AuthorityError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERIFIER_COLUMNS} FROM verifiers ORDER BY created_at, rowid"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(verifier_from_row).collect()
    }

    /// Disables a verifier: its credentials then get 403 on every verifier route. Disabling a
    /// disabled verifier changes nothing.
    pub async fn disable_verifier(&self, id: &str, now: OffsetDateTime) -> Result<Verifier, AuthorityError> {
        let done = sqlx::query("UPDATE verifiers SET disabled = 1, disabled_at = ? WHERE id = ? AND disabled = 0")
            .bind(now.unix_timestamp())
            .bind(id)
            .execute(self.pool())
            .await?;
        let verifier = self.verifier(id).await?;
        if done.rows_affected() == 1 {
            tracing::info!(verifier = %id, "verifier disabled");
        }
        Ok(verifier)
    }

    /// Checks a verifier's id and secret. An unknown id costs the same hash as a known one.
    pub async fn authenticate_verifier(&self, id: &str, secret: &str) -> Result<VerifierAuth, AuthorityError> {
        let row = sqlx::query("SELECT secret_salt, secret_hash, disabled FROM verifiers WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            let _ = secret_matches(&[0; SALT_BYTES], &[0; 32], secret.as_bytes());
            return Ok(VerifierAuth::Rejected);
        };
        let salt: Vec<u8> = row.try_get(0)?;
        let stored: Vec<u8> = row.try_get(1)?;
        let disabled = row.try_get::<i64, _>(2)? != 0;
        Ok(match (secret_matches(&salt, &stored, secret.as_bytes()), disabled) {
            (false, _) => VerifierAuth::Rejected,
            (true, true) => VerifierAuth::Disabled(id.to_owned()),
            (true, false) => VerifierAuth::Accepted(id.to_owned()),
        })
    }

    /// Records a holder's consent to a verifier. A consent that is already live is returned as it
    /// is (its `given_at` unchanged).
    pub async fn add_consent(
        &self,
        resident: &str,
        verifier: &str,
        scope: ConsentScope,
        now: OffsetDateTime,
    ) -> Result<Consent, AuthorityError> {
        ensure_resident(self.pool(), resident).await?;
        if self.verifier(verifier).await?.disabled {
            return Err(AuthorityError::VerifierDisabled(verifier.to_owned()));
        }
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let (consent, _) = live_or_new_consent(&mut tx, resident, verifier, scope, now).await?;
        tx.commit().await?;
        Ok(consent)
    }

    /// Withdraws a holder's live consent; it stays in the history with its withdrawal time.
    pub async fn withdraw_consent(
        &self,
        resident: &str,
        verifier: &str,
        scope: ConsentScope,
        now: OffsetDateTime,
    ) -> Result<Consent, AuthorityError> {
        ensure_resident(self.pool(), resident).await?;
        self.verifier(verifier).await?;
        let row = sqlx::query(&format!(
            "UPDATE consents SET withdrawn_at = ?
             WHERE resident_id = ? AND verifier_id = ? AND scope = ? AND withdrawn_at IS NULL
             RETURNING {CONSENT_COLUMNS}"
        ))
        .bind(now.unix_timestamp())
        .bind(resident)
        .bind(verifier)
        .bind(scope.as_str())
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| AuthorityError::NoConsent {
            resident: resident.to_owned(),
            verifier: verifier.to_owned(),
            scope: scope.as_str(),
        })?;
        consent_from_row(&row)
    }

    /// Consents, live and withdrawn, oldest first; of one resident when `resident` is given.
    pub async fn consents(&self, resident: Option<&str>) -> Result<Vec<Consent>, AuthorityError> {
        if let Some(r) = resident {
            ensure_resident(self.pool(), r).await?;
        }
        let rows = sqlx::query(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE ?1 IS NULL OR resident_id = ?1 ORDER BY given_at, id"
        ))
        .bind(resident)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(consent_from_row).collect()
    }

    pub(crate) async fn has_live_consent(
        &self,
        resident: &str,
        verifier: &str,
        scope: ConsentScope,
    ) -> Result<bool, AuthorityError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM consents
             WHERE resident_id = ? AND verifier_id = ? AND scope = ? AND withdrawn_at IS NULL",
        )
        .bind(resident)
        .bind(verifier)
        .bind(scope.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Answers a verifier's serial-linking question about the certificate `serial` of `hierarchy`,
    /// if its holder consented to linking for this verifier, and records the call whatever the answer.
    ///
    /// `Previous` and `Next` walk one step along the renewal / re-issue chain of the same hierarchy.
    /// `Counterpart` gives the card's signing and auth certificates; when a certificate of one
    /// hierarchy was renewed alone, the newest certificate of the other hierarchy that was live
    /// together with it on the card is answered (the one the card holds beside it).
    pub async fn verifier_link(
        &self,
        verifier: &str,
        hierarchy: Hierarchy,
        serial: u64,
        link: Link,
        now: OffsetDateTime,
    ) -> Result<LinkOutcome, AuthorityError> {
        let mut call = NewCall {
            service: link.into(),
            hierarchy: Some(hierarchy),
            serial: Some(serial),
            linked_serial: None,
            result: CallResult::NotFound,
        };
        let outcome = self.link_answer(verifier, hierarchy, serial, link).await?;
        match outcome {
            LinkOutcome::UnknownCertificate => call.result = CallResult::NotFound,
            LinkOutcome::ConsentRequired => call.result = CallResult::ConsentRequired,
            LinkOutcome::Answer(answer) => {
                call.linked_serial = match answer {
                    LinkAnswer::Previous(s) | LinkAnswer::Next(s) => s,
                    LinkAnswer::Counterpart { sign, auth } => match hierarchy {
                        Hierarchy::Signing => Some(auth),
                        Hierarchy::Authentication => sign,
                    },
                };
                call.result = if call.linked_serial.is_some() {
                    CallResult::Found
                } else {
                    CallResult::None
                };
            }
        }
        self.record_calls(verifier, &[call], now).await?;
        Ok(outcome)
    }

    async fn link_answer(
        &self,
        verifier: &str,
        hierarchy: Hierarchy,
        serial: u64,
        link: Link,
    ) -> Result<LinkOutcome, AuthorityError> {
        let Ok(key) = i64::try_from(serial) else {
            return Ok(LinkOutcome::UnknownCertificate);
        };
        let row = sqlx::query("SELECT resident_id, predecessor FROM certificates WHERE serial = ? AND hierarchy = ?")
            .bind(key)
            .bind(hierarchy.short())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(LinkOutcome::UnknownCertificate);
        };
        let resident: String = row.try_get(0)?;
        if !self
            .has_live_consent(&resident, verifier, ConsentScope::Linking)
            .await?
        {
            return Ok(LinkOutcome::ConsentRequired);
        }
        let answer = match link {
            Link::Previous => LinkAnswer::Previous(db_serial(row.try_get(1)?)),
            Link::Next => {
                let next: Option<i64> = sqlx::query_scalar(
                    "SELECT serial FROM certificates WHERE predecessor = ? AND hierarchy = ? ORDER BY id DESC LIMIT 1",
                )
                .bind(key)
                .bind(hierarchy.short())
                .fetch_optional(self.pool())
                .await?;
                LinkAnswer::Next(db_serial(next))
            }
            Link::Counterpart => {
                let (mine, theirs) = match hierarchy {
                    Hierarchy::Signing => ("sign_serial", "auth_serial"),
                    Hierarchy::Authentication => ("auth_serial", "sign_serial"),
                };
                let other: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT l.{theirs} FROM serial_links l JOIN certificates c ON c.serial = l.{theirs}
                     WHERE l.{mine} = ? ORDER BY c.id DESC LIMIT 1"
                ))
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
                let other = db_serial(other);
                match hierarchy {
                    Hierarchy::Signing => match other {
                        Some(auth) => LinkAnswer::Counterpart {
                            sign: Some(serial),
                            auth,
                        },
                        // Every card has an auth certificate, linked when the signing one is issued.
                        None => {
                            return Err(AuthorityError::Corrupt {
                                dir: String::new(),
                                why: format!("signing certificate {serial:X} has no linked auth certificate"),
                            })
                        }
                    },
                    Hierarchy::Authentication => LinkAnswer::Counterpart {
                        sign: other,
                        auth: serial,
                    },
                }
            }
        };
        Ok(LinkOutcome::Answer(answer))
    }

    /// Records calls of one verifier at `now`, all or none.
    pub(crate) async fn record_calls(
        &self,
        verifier: &str,
        calls: &[NewCall],
        now: OffsetDateTime,
    ) -> Result<(), AuthorityError> {
        let mut tx = self.pool().begin().await?;
        // Multi-row INSERTs: a declaration of CRL checks records thousands of calls at once.
        for chunk in calls.chunks(1000) {
            let sql = format!(
                "INSERT INTO verifier_calls (verifier_id, at, service, hierarchy, serial, linked_serial, result) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for call in chunk {
                q = q
                    .bind(verifier)
                    .bind(now.unix_timestamp())
                    .bind(call.service.as_str())
                    .bind(call.hierarchy.map(Hierarchy::short))
                    .bind(call.serial.and_then(|s| i64::try_from(s).ok()))
                    .bind(call.linked_serial.and_then(|s| i64::try_from(s).ok()))
                    .bind(call.result.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The calls a verifier made in `[from, to)`, in the order they were recorded: what a bill for
    /// that period is computed from.
    pub async fn verifier_calls(
        &self,
        verifier: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<VerifierCall>, AuthorityError> {
        self.verifier(verifier).await?;
        let rows = sqlx::query(
            "SELECT id, verifier_id, at, service, hierarchy, serial, linked_serial, result FROM verifier_calls
             WHERE verifier_id = ? AND at >= ? AND at < ? ORDER BY id",
        )
        .bind(verifier)
        .bind(from.unix_timestamp())
        .bind(to.unix_timestamp())
        .fetch_all(self.pool())
        .await?;
        let bad = |what: &str| AuthorityError::Corrupt {
            dir: String::new(),
            why: format!("verifier call {what}"),
        };
        rows.iter()
            .map(|row| {
                Ok(VerifierCall {
                    id: row.try_get(0)?,
                    verifier_id: row.try_get(1)?,
                    at: time_from_db(row.try_get(2)?)?,
                    service: VerifierService::from_name(&row.try_get::<String, _>(3)?).ok_or_else(|| bad("service"))?,
                    hierarchy: row
                        .try_get::<Option<String>, _>(4)?
                        .as_deref()
                        .map(hierarchy_from_db)
                        .transpose()?,
                    serial: db_serial(row.try_get(5)?),
                    linked_serial: db_serial(row.try_get(6)?),
                    result: CallResult::from_name(&row.try_get::<String, _>(7)?).ok_or_else(|| bad("result"))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_hash_is_salted_sha256_and_never_the_secret() {
        let salt = [7u8; SALT_BYTES];
        let h = hash_secret(&salt, b"s3cret");
        assert_eq!(h.len(), 32);
        assert_ne!(
            h,
            hash_secret(&[8u8; SALT_BYTES], b"s3cret"),
            "the salt changes the hash"
        );
        assert_eq!(
            h,
            digest(&SHA256, &[&salt[..], b"s3cret"].concat()).as_ref(),
            "SHA-256(salt ‖ secret)"
        );
        assert!(!h.windows(6).any(|w| w == b"s3cret"));
    }

    #[test]
    fn only_the_exact_secret_matches() {
        let salt = [1u8; SALT_BYTES];
        let stored = hash_secret(&salt, b"correct horse");
        assert!(secret_matches(&salt, &stored, b"correct horse"));
        for wrong in [
            &b"correct hors"[..],
            b"correct horsf",
            b"Correct horse",
            b"",
            b"correct horse ",
        ] {
            assert!(!secret_matches(&salt, &stored, wrong), "{wrong:?}");
        }
        // A truncated or empty stored hash (damaged row) matches nothing.
        assert!(!secret_matches(&salt, &stored[..31], b"correct horse"));
        assert!(!secret_matches(&salt, &[], b""));
    }

    #[test]
    fn secret_debug_output_hides_the_secret() {
        let s = VerifierSecret("abcdef".into());
        assert!(!format!("{s:?}").contains("abcdef"));
        assert_eq!(s.expose(), "abcdef");
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(check_name("  Example Bank  ").expect("ok"), "Example Bank");
        assert_eq!(check_name("株式会社テスト").expect("ok"), "株式会社テスト");
        for bad in ["", "   ", "a\nb", "tab\there"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }
}
