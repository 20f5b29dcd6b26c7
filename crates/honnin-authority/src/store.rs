//! The SQLite store: opening, initialising, and the queries shared by the other modules.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use honnin_profile::build::{build_ocsp_responder, build_root, Issuer, RootSpec};
use honnin_profile::dates::{end_of_day_jst, jst_date};
use honnin_profile::{CaCertificate, Environment, Hierarchy, RevocationReason, RsaKey, Serial};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;

use crate::{AuthorityError, CaMaterial, InitOptions};

pub(crate) const DB_FILE: &str = "authority.sqlite";
const SCHEMA_TAG: &str = "honnin-authority";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

async fn connect(path: &Path, create: bool) -> Result<SqlitePool, sqlx::Error> {
    // The staging database of `init` is a single file (rollback journal) so it can be renamed into
    // place; the live one uses WAL so `serve` reads while other commands write.
    let journal = if create {
        SqliteJournalMode::Delete
    } else {
        SqliteJournalMode::Wal
    };
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(create)
        .journal_mode(journal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(15));
    SqlitePoolOptions::new().max_connections(8).connect_with(options).await
}

fn corrupt(dir: &Path, why: impl std::fmt::Display) -> AuthorityError {
    AuthorityError::Corrupt {
        dir: dir.display().to_string(),
        why: why.to_string(),
    }
}

pub(crate) async fn init(dir: &Path, options: InitOptions, now: OffsetDateTime) -> Result<SqlitePool, AuthorityError> {
    let io = |source| AuthorityError::Io {
        path: dir.display().to_string(),
        source,
    };
    let db = dir.join(DB_FILE);
    if db.exists() {
        return Err(AuthorityError::AlreadyInitialised(dir.display().to_string()));
    }
    if options.crl_cadence_secs < 60 {
        return Err(AuthorityError::BadInput(
            "the CRL cadence must be at least 60 seconds".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    // Build the database under a temporary name and rename it into place only when complete, so an
    // interrupted init leaves no half-made authority behind.
    let staging = dir.join(format!(".{DB_FILE}.init"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", staging.display()));
    }
    let pool = connect(&staging, true).await?;
    let result = async {
        MIGRATOR.run(&pool).await.map_err(|e| corrupt(dir, e))?;
        let mut tx = pool.begin().await?;
        for (key, value) in [
            ("schema", SCHEMA_TAG.to_owned()),
            ("environment", "sandbox".to_owned()),
            ("crl_cadence_secs", options.crl_cadence_secs.to_string()),
            ("created_at", now.unix_timestamp().to_string()),
            ("revision.sign", "0".to_owned()),
            ("revision.auth", "0".to_owned()),
        ] {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)").bind(key).bind(value).execute(&mut *tx).await?;
        }
        for hierarchy in Hierarchy::ALL {
            let material = new_ca(hierarchy, now)?;
            sqlx::query(
                "INSERT INTO ca (hierarchy, generation, certificate, private_key, responder_certificate, responder_key, active)
                 VALUES (?, 1, ?, ?, ?, ?, 1)",
            )
            .bind(hierarchy.short())
            .bind(&material.certificate.der)
            .bind(material.key.to_pkcs8()?)
            .bind(&material.responder_certificate)
            .bind(material.responder_key.to_pkcs8()?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok::<_, AuthorityError>(())
    }
    .await;
    pool.close().await;
    if let Err(e) = result {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", staging.display()));
        }
        return Err(e);
    }
    std::fs::rename(&staging, &db).map_err(io)?;
    open(dir).await
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // aws-lc's RNG does not fail on supported platforms; a zero value is still a valid draw.
    let _ = aws_lc_rs::rand::fill(&mut b);
    u64::from_be_bytes(b)
}

/// A uniformly random decimal digit (rejection sampling keeps it unbiased).
pub(crate) fn random_digit() -> u8 {
    let mut b = [0u8; 1];
    loop {
        // aws-lc's RNG does not fail on supported platforms.
        let _ = aws_lc_rs::rand::fill(&mut b);
        if b[0] < 250 {
            return b[0] % 10;
        }
    }
}

/// A random serial in [2^56, 2^63): always 8 DER content bytes, positive, unpredictable.
pub(crate) fn random_serial() -> u64 {
    (random_u64() & 0x7FFF_FFFF_FFFF_FFFF) | 0x0100_0000_0000_0000
}

fn new_ca(hierarchy: Hierarchy, now: OffsetDateTime) -> Result<CaMaterial, AuthorityError> {
    let key = RsaKey::generate()?;
    // Like J-LIS's roots: ten years, ending at 23:59:59 JST the day before the anniversary.
    let today = jst_date(now);
    let last_day = today
        .replace_year(today.year() + 10)
        .unwrap_or(today)
        .previous_day()
        .unwrap_or(today);
    let spec = RootSpec {
        environment: Environment::Sandbox,
        hierarchy,
        serial: Serial::from_u64((random_u64() & 0x7FFF_FFFF) | 0x0100_0000),
        not_before: now.replace_nanosecond(0).unwrap_or(now),
        not_after: end_of_day_jst(last_day),
    };
    let der = build_root(&spec, &key)?;
    let certificate = CaCertificate::from_der(&der)?;
    let (responder_certificate, responder_key) = new_responder(&certificate, &key, now)?;
    Ok(CaMaterial {
        certificate,
        key,
        responder_certificate,
        responder_key,
        generation: 1,
    })
}

/// How long a delegated responder certificate lives. It carries ocsp-nocheck, so it is kept short
/// and renewed automatically (see [`active_ca`]).
pub(crate) const RESPONDER_LIFETIME: time::Duration = time::Duration::days(365);

fn new_responder(
    ca: &CaCertificate,
    ca_key: &RsaKey,
    now: OffsetDateTime,
) -> Result<(Vec<u8>, RsaKey), AuthorityError> {
    let responder_key = RsaKey::generate()?;
    let not_before = now.replace_nanosecond(0).unwrap_or(now);
    let der = build_ocsp_responder(
        &Issuer {
            certificate: ca,
            key: ca_key,
        },
        &Serial::from_u64(random_serial()),
        not_before,
        not_before + RESPONDER_LIFETIME,
        &responder_key,
    )?;
    Ok((der, responder_key))
}

pub(crate) async fn open(dir: &Path) -> Result<SqlitePool, AuthorityError> {
    let db = dir.join(DB_FILE);
    if !db.is_file() {
        return Err(AuthorityError::NotInitialised(dir.display().to_string()));
    }
    let pool = connect(&db, false).await.map_err(|e| corrupt(dir, e))?;
    let schema: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema'")
        .fetch_optional(&pool)
        .await
        .map_err(|e| corrupt(dir, e))?;
    if schema.as_deref() != Some(SCHEMA_TAG) {
        return Err(corrupt(dir, "it has no honnin authority schema"));
    }
    MIGRATOR.run(&pool).await.map_err(|e| corrupt(dir, e))?;
    Ok(pool)
}

pub(crate) async fn meta_i64(pool: &SqlitePool, key: &str) -> Result<i64, AuthorityError> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(pool)
        .await?;
    v.and_then(|v| v.parse().ok()).ok_or_else(|| AuthorityError::Corrupt {
        dir: String::new(),
        why: format!("meta {key} missing"),
    })
}

/// The revision counter of a hierarchy: it changes whenever that hierarchy's revocation data does.
pub(crate) async fn revision(pool: &SqlitePool, hierarchy: Hierarchy) -> Result<i64, AuthorityError> {
    meta_i64(pool, &format!("revision.{}", hierarchy.short())).await
}

pub(crate) async fn bump_revision(conn: &mut sqlx::SqliteConnection, hierarchy: Hierarchy) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?")
        .bind(format!("revision.{}", hierarchy.short()))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) fn hierarchy_from_db(s: &str) -> Result<Hierarchy, AuthorityError> {
    Hierarchy::from_short(s).ok_or_else(|| AuthorityError::Corrupt {
        dir: String::new(),
        why: format!("hierarchy {s:?}"),
    })
}

pub(crate) async fn active_ca(pool: &SqlitePool, hierarchy: Hierarchy) -> Result<CaMaterial, AuthorityError> {
    let row = sqlx::query(
        "SELECT generation, certificate, private_key, responder_certificate, responder_key
         FROM ca WHERE hierarchy = ? AND active = 1 ORDER BY generation DESC LIMIT 1",
    )
    .bind(hierarchy.short())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AuthorityError::Corrupt {
        dir: String::new(),
        why: format!("no active {} CA", hierarchy.short()),
    })?;
    let generation: i64 = row.try_get(0)?;
    let certificate = CaCertificate::from_der(&row.try_get::<Vec<u8>, _>(1)?)?;
    let key = RsaKey::from_pkcs8(&row.try_get::<Vec<u8>, _>(2)?)?;
    let mut responder_certificate: Vec<u8> = row.try_get(3)?;
    let mut responder_key = RsaKey::from_pkcs8(&row.try_get::<Vec<u8>, _>(4)?)?;
    // Renew the responder certificate when it has less than a month to run.
    let now = OffsetDateTime::now_utc();
    let responder_end = responder_not_after(&responder_certificate)?;
    if responder_end - now < time::Duration::days(30) && certificate.not_after - now > time::Duration::days(1) {
        let (der, k) = new_responder(&certificate, &key, now)?;
        sqlx::query(
            "UPDATE ca SET responder_certificate = ?, responder_key = ? WHERE hierarchy = ? AND generation = ?",
        )
        .bind(&der)
        .bind(k.to_pkcs8()?)
        .bind(hierarchy.short())
        .bind(generation)
        .execute(pool)
        .await?;
        responder_certificate = der;
        responder_key = k;
    }
    Ok(CaMaterial {
        certificate,
        key,
        responder_certificate,
        responder_key,
        generation,
    })
}

fn responder_not_after(der: &[u8]) -> Result<OffsetDateTime, AuthorityError> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der)?;
    Ok(honnin_profile::from_x509_time(
        &cert.tbs_certificate.validity.not_after,
    )?)
}

pub(crate) async fn ca_certificates(
    pool: &SqlitePool,
    hierarchy: Hierarchy,
) -> Result<Vec<CaCertificate>, AuthorityError> {
    let rows: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT certificate FROM ca WHERE hierarchy = ? ORDER BY generation DESC")
            .bind(hierarchy.short())
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|der| CaCertificate::from_der(der).map_err(Into::into))
        .collect()
}

/// Whether a certificate is good or revoked, as the authority records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateStatus {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason: RevocationReason,
    },
}

pub(crate) fn status_from_row(
    revoked_at: Option<i64>,
    reason: Option<i64>,
) -> Result<CertificateStatus, AuthorityError> {
    match (revoked_at, reason) {
        (None, _) => Ok(CertificateStatus::Good),
        (Some(at), Some(reason)) => {
            let reason = u8::try_from(reason).ok().and_then(RevocationReason::from_code);
            let at = OffsetDateTime::from_unix_timestamp(at).ok();
            match (at, reason) {
                (Some(at), Some(reason)) => Ok(CertificateStatus::Revoked { at, reason }),
                _ => Err(AuthorityError::Corrupt {
                    dir: String::new(),
                    why: "a revocation row is out of range".into(),
                }),
            }
        }
        (Some(_), None) => Err(AuthorityError::Corrupt {
            dir: String::new(),
            why: "revocation without reason".into(),
        }),
    }
}

pub(crate) async fn certificate_status(
    pool: &SqlitePool,
    hierarchy: Hierarchy,
    serial: u64,
) -> Result<Option<CertificateStatus>, AuthorityError> {
    let Ok(serial) = i64::try_from(serial) else {
        return Ok(None);
    };
    let row = sqlx::query("SELECT revoked_at, reason FROM certificates WHERE serial = ? AND hierarchy = ?")
        .bind(serial)
        .bind(hierarchy.short())
        .fetch_optional(pool)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => status_from_row(r.try_get(0)?, r.try_get(1)?).map(Some),
    }
}

pub(crate) async fn latest_certificate(
    pool: &SqlitePool,
    resident: &str,
    hierarchy: Hierarchy,
) -> Result<Vec<u8>, AuthorityError> {
    crate::register::ensure_resident(pool, resident).await?;
    sqlx::query_scalar("SELECT der FROM certificates WHERE resident_id = ? AND hierarchy = ? ORDER BY id DESC LIMIT 1")
        .bind(resident)
        .bind(hierarchy.short())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AuthorityError::NoCertificate {
            id: resident.to_owned(),
            hierarchy: match hierarchy {
                Hierarchy::Signing => "signing",
                Hierarchy::Authentication => "authentication",
            },
        })
}

pub(crate) async fn successor(pool: &SqlitePool, serial: u64) -> Result<Option<u64>, AuthorityError> {
    let Ok(serial) = i64::try_from(serial) else {
        return Ok(None);
    };
    let next: Option<i64> =
        sqlx::query_scalar("SELECT serial FROM certificates WHERE predecessor = ? ORDER BY id DESC LIMIT 1")
            .bind(serial)
            .fetch_optional(pool)
            .await?;
    Ok(next.map(|s| s as u64))
}

pub(crate) async fn linked_serials(pool: &SqlitePool, serial: u64) -> Result<Vec<u64>, AuthorityError> {
    let Ok(serial) = i64::try_from(serial) else {
        return Ok(vec![]);
    };
    let rows: Vec<i64> = sqlx::query_scalar(
        "SELECT auth_serial FROM serial_links WHERE sign_serial = ?1
         UNION SELECT sign_serial FROM serial_links WHERE auth_serial = ?1",
    )
    .bind(serial)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|s| s as u64).collect())
}
