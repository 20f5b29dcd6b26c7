//! Storage over SQLite or PostgreSQL with one set of migrations (`sqlx`'s `Any` driver).
//!
//! The SQL is kept to what both engines read the same way: `$n` parameters in order, BIGINT Unix
//! seconds, TEXT for everything else, `ON CONFLICT DO NOTHING`. Every query of tenant data names the
//! tenant: isolation is in the queries, not only in the handlers.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Executor, Row};

use crate::PlatformError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The default database of a data directory.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("platform.db").display())
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// PostgreSQL or SQLite; for the few places the engines differ.
    pub postgres: bool,
    /// Tenants' API key hashes once read: every service-provider request needs one, and nothing
    /// changes a tenant's row once written (a key is never rotated in place).
    tenant_keys: Arc<RwLock<HashMap<String, String>>>,
}

/// A flow as stored.
#[derive(Clone, Debug)]
pub struct FlowRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub application: Option<String>,
    pub origin: Option<String>,
    pub nonce: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: String,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub user_id: Option<String>,
    pub evidence_id: Option<String>,
    pub completed_at: Option<i64>,
}

/// A user as stored.
#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub created_at: i64,
    pub basic4: Option<[String; 4]>,
    pub basic4_at: Option<i64>,
}

/// One piece of evidence (確認記録).
#[derive(Clone, Debug)]
pub struct EvidenceRow {
    pub id: String,
    pub tenant_id: String,
    pub flow_id: String,
    pub kind: String,
    pub verified_at: i64,
    pub retain_until: i64,
    pub certificate: String,
    pub signed_content: String,
    pub signature: String,
    pub revocation_source: String,
    pub revocation_request: Option<String>,
    pub revocation_proof: Option<String>,
    pub outcome: String,
}

/// One audit log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub tenant_id: Option<String>,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub prev_mac: String,
    pub mac: String,
}

fn flow(row: &AnyRow) -> Result<FlowRow, sqlx::Error> {
    Ok(FlowRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        kind: row.try_get("kind")?,
        application: row.try_get("application")?,
        origin: row.try_get("origin")?,
        nonce: row.try_get("nonce")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        detail: row.try_get("detail")?,
        user_id: row.try_get("user_id")?,
        evidence_id: row.try_get("evidence_id")?,
        completed_at: row.try_get("completed_at")?,
    })
}

fn audit(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        tenant_id: row.try_get("tenant_id")?,
        subject: row.try_get("subject")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        prev_mac: row.try_get("prev_mac")?,
        mac: row.try_get("mac")?,
    })
}

const FLOW_COLUMNS: &str = "id, tenant_id, kind, application, origin, nonce, created_at, expires_at, status, reason, \
                            detail, user_id, evidence_id, completed_at";
/// Rows per multi-row audit INSERT (10 parameters each: well under either engine's limit).
const AUDIT_ROWS_PER_STATEMENT: usize = 64;

const AUDIT_COLUMNS: &str = "seq, at, actor, action, tenant_id, subject, outcome, detail, prev_mac, mac";

/// The text of a multi-row audit INSERT of `n` rows (1..=AUDIT_ROWS_PER_STATEMENT), made once.
fn audit_sql(n: usize) -> &'static str {
    static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        (1..=AUDIT_ROWS_PER_STATEMENT)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|i| {
                        let p: Vec<String> = (1..=10).map(|c| format!("${}", i * 10 + c)).collect();
                        format!("({})", p.join(", "))
                    })
                    .collect();
                format!(
                    "INSERT INTO audit_log (seq, at, actor, action, tenant_id, subject, outcome, detail, prev_mac, mac) \
                     VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    });
    &texts[n.clamp(1, AUDIT_ROWS_PER_STATEMENT) - 1]
}

/// A multi-row INSERT of audit entries (at most AUDIT_ROWS_PER_STATEMENT), without ON CONFLICT:
/// a taken seq fails the whole statement.
fn audit_insert(rows: &[AuditRow]) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    let mut q = sqlx::query(audit_sql(rows.len()));
    for e in rows {
        q = q
            .bind(e.seq)
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.tenant_id)
            .bind(&e.subject)
            .bind(&e.outcome)
            .bind(&e.detail)
            .bind(&e.prev_mac)
            .bind(&e.mac);
    }
    q
}

impl Store {
    /// Connects and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, PlatformError> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            // SQLite has one writer at a time: more connections only wait on its lock (sleeping in
            // the busy handler) and lose their page cache whenever another one writes. One
            // connection serialises the platform's statements without either.
            .max_connections(if postgres { 16 } else { 1 })
            // A ping per acquire is a round trip per query (on SQLite, two thread hand-offs); a dead
            // connection fails its query instead, which the caller reports.
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !postgres {
                        // WAL lets readers work beside the writer; the busy timeout makes concurrent
                        // writers wait instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            postgres,
            tenant_keys: Arc::default(),
        })
    }

    /// The pool, for modules that keep their own tables and SQL (billing, consents, age checks).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // --- tenants -------------------------------------------------------------------------------

    pub async fn insert_tenant(&self, id: &str, name: &str, key_hash: &str, now: i64) -> Result<(), PlatformError> {
        sqlx::query("INSERT INTO tenants (id, name, api_key_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(key_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tenant's key hash, if the tenant exists.
    pub async fn tenant_key_hash(&self, id: &str) -> Result<Option<String>, PlatformError> {
        if let Some(hash) = self.tenant_keys.read().unwrap_or_else(PoisonError::into_inner).get(id) {
            return Ok(Some(hash.clone()));
        }
        let hash: Option<String> = sqlx::query("SELECT api_key_hash FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("api_key_hash"))
            .transpose()?;
        if let Some(h) = &hash {
            // Unknown ids are not remembered: anyone can send those.
            self.tenant_keys
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.to_owned(), h.clone());
        }
        Ok(hash)
    }

    /// (id, name, created_at) of every tenant.
    pub async fn tenants(&self) -> Result<Vec<(String, String, i64)>, PlatformError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("created_at")?)))
            .collect()
    }

    // --- flows ---------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_flow(
        &self,
        id: &str,
        tenant: &str,
        kind: &str,
        token_hash: &str,
        application: Option<&str>,
        origin: Option<&str>,
        nonce: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), PlatformError> {
        sqlx::query(
            "INSERT INTO flows (id, tenant_id, kind, client_token_hash, application, origin, nonce, created_at, \
             expires_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')",
        )
        .bind(id)
        .bind(tenant)
        .bind(kind)
        .bind(token_hash)
        .bind(application)
        .bind(origin)
        .bind(nonce)
        .bind(created_at)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A tenant's flow of one kind; another tenant's id is simply not found.
    pub async fn flow(&self, tenant: &str, kind: &str, id: &str) -> Result<Option<FlowRow>, PlatformError> {
        let sql = format!("SELECT {FLOW_COLUMNS} FROM flows WHERE id = $1 AND tenant_id = $2 AND kind = $3");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(flow).transpose()?)
    }

    /// A tenant's flow of one kind with the 4 attributes of its user, if it has one (one query for
    /// what `GET /v1/account-openings/{id}` shows).
    pub async fn flow_with_basic4(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<(FlowRow, Option<[String; 4]>)>, PlatformError> {
        let columns: Vec<String> = FLOW_COLUMNS.split(", ").map(|c| format!("f.{c}")).collect();
        let sql = format!(
            "SELECT {}, u.name AS u_name, u.address AS u_address, u.birth_date AS u_birth_date, u.sex AS u_sex \
             FROM flows f LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.id = f.user_id \
             WHERE f.id = $1 AND f.tenant_id = $2 AND f.kind = $3",
            columns.join(", ")
        );
        let Some(r) = sqlx::query(&sql)
            .bind(id)
            .bind(tenant)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let parts: [Option<String>; 4] = [
            r.try_get("u_name")?,
            r.try_get("u_address")?,
            r.try_get("u_birth_date")?,
            r.try_get("u_sex")?,
        ];
        let basic4 = match parts {
            [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
            _ => None,
        };
        Ok(Some((flow(&r)?, basic4)))
    }

    pub async fn flow_by_token(&self, token_hash: &str) -> Result<Option<FlowRow>, PlatformError> {
        let sql = format!("SELECT {FLOW_COLUMNS} FROM flows WHERE client_token_hash = $1");
        let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(flow).transpose()?)
    }

    /// Takes the pending, unexpired flow of a client token for processing, in one statement (the
    /// compare-and-set that makes a challenge single-use); `None` if there is none such (unknown
    /// token, already used or being used, or expired: the caller looks closer).
    pub async fn claim_flow_by_token(&self, token_hash: &str, now: i64) -> Result<Option<FlowRow>, PlatformError> {
        let sql = format!(
            "UPDATE flows SET status = 'processing' WHERE client_token_hash = $1 AND status = 'pending' \
             AND expires_at >= $2 RETURNING {FLOW_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(flow).transpose()?)
    }

    /// Takes a pending flow for processing; false if it was not pending (used, or being used): the
    /// compare-and-set that makes a challenge single-use.
    pub async fn claim_flow(&self, id: &str) -> Result<bool, PlatformError> {
        let done = sqlx::query("UPDATE flows SET status = 'processing' WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn complete_flow(
        &self,
        id: &str,
        status: &str,
        reason: Option<&str>,
        detail: Option<&str>,
        user_id: Option<&str>,
        evidence_id: Option<&str>,
        at: i64,
    ) -> Result<(), PlatformError> {
        sqlx::query(
            "UPDATE flows SET status = $1, reason = $2, detail = $3, user_id = $4, evidence_id = $5, completed_at = $6 \
             WHERE id = $7",
        )
        .bind(status)
        .bind(reason)
        .bind(detail)
        .bind(user_id)
        .bind(evidence_id)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a still-pending flow past its expiry as rejected (`expired`).
    pub async fn expire_flow(&self, id: &str, now: i64) -> Result<(), PlatformError> {
        sqlx::query(
            "UPDATE flows SET status = 'rejected', reason = 'expired', detail = 'the holder did not complete it in time', \
             completed_at = $1 WHERE id = $2 AND status IN ('pending', 'processing') AND expires_at < $3",
        )
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- users ---------------------------------------------------------------------------------

    pub async fn insert_user(&self, tenant: &str, id: &str, now: i64) -> Result<(), PlatformError> {
        sqlx::query("INSERT INTO users (tenant_id, id, created_at) VALUES ($1, $2, $3)")
            .bind(tenant)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_basic4(&self, tenant: &str, id: &str, basic4: &[String; 4], at: i64) -> Result<(), PlatformError> {
        sqlx::query(
            "UPDATE users SET name = $1, address = $2, birth_date = $3, sex = $4, basic4_at = $5 \
             WHERE tenant_id = $6 AND id = $7",
        )
        .bind(&basic4[0])
        .bind(&basic4[1])
        .bind(&basic4[2])
        .bind(&basic4[3])
        .bind(at)
        .bind(tenant)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn user(&self, tenant: &str, id: &str) -> Result<Option<UserRow>, PlatformError> {
        let row = sqlx::query(
            "SELECT id, created_at, name, address, birth_date, sex, basic4_at FROM users WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let parts: [Option<String>; 4] = [
            r.try_get("name")?,
            r.try_get("address")?,
            r.try_get("birth_date")?,
            r.try_get("sex")?,
        ];
        let basic4 = match parts {
            [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
            _ => None,
        };
        Ok(Some(UserRow {
            id: r.try_get("id")?,
            created_at: r.try_get("created_at")?,
            basic4,
            basic4_at: r.try_get("basic4_at")?,
        }))
    }

    /// The user a certificate belongs to, within one tenant.
    pub async fn user_of_certificate(
        &self,
        tenant: &str,
        hierarchy: &str,
        serial: &str,
    ) -> Result<Option<String>, PlatformError> {
        Ok(
            sqlx::query(
                "SELECT user_id FROM user_certificates WHERE tenant_id = $1 AND hierarchy = $2 AND serial = $3",
            )
            .bind(tenant)
            .bind(hierarchy)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("user_id"))
            .transpose()?,
        )
    }

    /// Records that a certificate belongs to a user (kept if already known).
    #[allow(clippy::too_many_arguments)]
    pub async fn link_certificate(
        &self,
        tenant: &str,
        hierarchy: &str,
        serial: &str,
        user: &str,
        not_after: Option<i64>,
        how: &str,
        now: i64,
    ) -> Result<(), PlatformError> {
        sqlx::query(
            "INSERT INTO user_certificates (tenant_id, hierarchy, serial, user_id, not_after, learnt_at, learnt_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(hierarchy)
        .bind(serial)
        .bind(user)
        .bind(not_after)
        .bind(now)
        .bind(how)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- evidence ------------------------------------------------------------------------------

    pub async fn insert_evidence(&self, e: &EvidenceRow) -> Result<(), PlatformError> {
        sqlx::query(
            "INSERT INTO evidence (id, tenant_id, flow_id, kind, verified_at, retain_until, certificate, signed_content, \
             signature, revocation_source, revocation_request, revocation_proof, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&e.id)
        .bind(&e.tenant_id)
        .bind(&e.flow_id)
        .bind(&e.kind)
        .bind(e.verified_at)
        .bind(e.retain_until)
        .bind(&e.certificate)
        .bind(&e.signed_content)
        .bind(&e.signature)
        .bind(&e.revocation_source)
        .bind(&e.revocation_request)
        .bind(&e.revocation_proof)
        .bind(&e.outcome)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn evidence(&self, id: &str) -> Result<Option<EvidenceRow>, PlatformError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, flow_id, kind, verified_at, retain_until, certificate, signed_content, signature, \
             revocation_source, revocation_request, revocation_proof, outcome FROM evidence WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(EvidenceRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            flow_id: r.try_get("flow_id")?,
            kind: r.try_get("kind")?,
            verified_at: r.try_get("verified_at")?,
            retain_until: r.try_get("retain_until")?,
            certificate: r.try_get("certificate")?,
            signed_content: r.try_get("signed_content")?,
            signature: r.try_get("signature")?,
            revocation_source: r.try_get("revocation_source")?,
            revocation_request: r.try_get("revocation_request")?,
            revocation_proof: r.try_get("revocation_proof")?,
            outcome: r.try_get("outcome")?,
        }))
    }

    /// Evidence ids, oldest first (for the operator).
    pub async fn evidence_ids(&self, tenant: Option<&str>) -> Result<Vec<String>, PlatformError> {
        let rows = match tenant {
            Some(t) => {
                sqlx::query("SELECT id FROM evidence WHERE tenant_id = $1 ORDER BY verified_at, id")
                    .bind(t)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT id FROM evidence ORDER BY verified_at, id")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?)
    }

    // --- audit log -----------------------------------------------------------------------------

    pub async fn last_audit(&self) -> Result<Option<AuditRow>, PlatformError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1");
        let row = sqlx::query(&sql).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(audit).transpose()?)
    }

    /// Appends an entry; false if its seq is taken (another process appended first).
    pub async fn insert_audit(&self, e: &AuditRow) -> Result<bool, PlatformError> {
        let done = sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, tenant_id, subject, outcome, detail, prev_mac, mac) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(e.seq)
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.tenant_id)
        .bind(&e.subject)
        .bind(&e.outcome)
        .bind(&e.detail)
        .bind(&e.prev_mac)
        .bind(&e.mac)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends consecutive entries in one transaction; false (and nothing written) if any seq is
    /// taken (another process appended first). The group commit of the audit log.
    pub async fn insert_audit_batch(&self, rows: &[AuditRow]) -> Result<bool, PlatformError> {
        match rows {
            [] => return Ok(true),
            [one] => return self.insert_audit(one).await,
            _ => {}
        }
        if rows.len() <= AUDIT_ROWS_PER_STATEMENT {
            // One statement is atomic by itself: a taken seq fails it whole.
            return match audit_insert(rows).execute(&self.pool).await {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(AUDIT_ROWS_PER_STATEMENT) {
            match audit_insert(chunk).execute(&mut *tx).await {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Audit entries with seq > `after`, in order, at most `limit`.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>, PlatformError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(audit).collect::<Result<_, _>>()?)
    }

    /// For tests and operators' forensics: raw SQL on the store.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, PlatformError> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }
}

/// A status-check job as stored.
#[derive(Clone, Debug)]
pub struct JobRow {
    pub id: String,
    pub tenant_id: String,
    pub method: String,
    pub alive_events: bool,
    pub state: String,
    pub total: i64,
    pub done: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A finished item of a job.
#[derive(Clone, Debug)]
pub struct ItemRow {
    pub seq: i64,
    pub user_id: String,
    pub finding: Option<String>,
    pub action: Option<String>,
}

/// An event as stored.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub user_id: String,
    pub at: i64,
    pub data: String,
}

/// What one status check concluded, to store atomically.
pub struct StatusRecord<'a> {
    pub tenant: &'a str,
    pub user: &'a str,
    pub finding: &'a str,
    pub action: &'a str,
    pub detail: &'a str,
    /// The job item this answers, if it is part of a job.
    pub item: Option<(&'a str, i64)>,
    /// Emit this event (type) even if the finding did not change (`user.alive_confirmed`).
    pub always: Option<&'a str>,
    /// The event type for a changed finding, if the finding has one.
    pub on_change: Option<&'a str>,
    pub event_id: &'a str,
    pub now: i64,
    /// The authority calls that produced this result, metered with it (and only if it is stored).
    pub meters: &'a [crate::billing::Meter],
}

fn job(r: &AnyRow) -> Result<JobRow, sqlx::Error> {
    Ok(JobRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        method: r.try_get("method")?,
        alive_events: r.try_get::<i64, _>("alive_events")? != 0,
        state: r.try_get("state")?,
        total: r.try_get("total")?,
        done: r.try_get("done")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl Store {
    /// Keeps the certificate of a user's serial, for OCSP status checks.
    pub async fn set_certificate(
        &self,
        tenant: &str,
        hierarchy: &str,
        serial: &str,
        certificate: &str,
    ) -> Result<(), PlatformError> {
        sqlx::query(
            "UPDATE user_certificates SET certificate = $1 WHERE tenant_id = $2 AND hierarchy = $3 AND serial = $4",
        )
        .bind(certificate)
        .bind(tenant)
        .bind(hierarchy)
        .bind(serial)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest serial of a user in a hierarchy: (serial, certificate, learnt_at).
    pub async fn latest_certificate(
        &self,
        tenant: &str,
        user: &str,
        hierarchy: &str,
    ) -> Result<Option<(String, Option<String>, i64)>, PlatformError> {
        let row = sqlx::query(
            "SELECT serial, certificate, learnt_at FROM user_certificates WHERE tenant_id = $1 AND user_id = $2 \
             AND hierarchy = $3 ORDER BY learnt_at DESC, CASE WHEN certificate IS NULL THEN 1 ELSE 0 END, serial DESC \
             LIMIT 1",
        )
        .bind(tenant)
        .bind(user)
        .bind(hierarchy)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some((
            r.try_get("serial")?,
            r.try_get("certificate")?,
            r.try_get("learnt_at")?,
        )))
    }

    /// Creates a job over all of a tenant's users (`users` None) or the given ones; returns the total.
    pub async fn create_job(
        &self,
        id: &str,
        tenant: &str,
        method: &str,
        alive_events: bool,
        users: Option<&[String]>,
        now: i64,
    ) -> Result<i64, PlatformError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO status_jobs (id, tenant_id, method, alive_events, state, total, done, created_at) \
             VALUES ($1, $2, $3, $4, 'running', 0, 0, $5)",
        )
        .bind(id)
        .bind(tenant)
        .bind(method)
        .bind(i64::from(alive_events))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let total = match users {
            None => sqlx::query(
                // One set-based statement, so a job over a million users is created in one go.
                "INSERT INTO status_job_items (job_id, seq, user_id, state) \
                 SELECT CAST($1 AS TEXT), ROW_NUMBER() OVER (ORDER BY id), id, 'pending' FROM users WHERE tenant_id = $2",
            )
            .bind(id)
            .bind(tenant)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64,
            Some(list) => {
                for (i, user) in list.iter().enumerate() {
                    sqlx::query("INSERT INTO status_job_items (job_id, seq, user_id, state) VALUES ($1, $2, $3, 'pending')")
                        .bind(id)
                        .bind(i as i64 + 1)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
                list.len() as i64
            }
        };
        sqlx::query("UPDATE status_jobs SET total = $1 WHERE id = $2")
            .bind(total)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(total)
    }

    pub async fn job(&self, tenant: Option<&str>, id: &str) -> Result<Option<JobRow>, PlatformError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, method, alive_events, state, total, done, created_at, finished_at FROM status_jobs \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let job = row.as_ref().map(job).transpose()?;
        Ok(job.filter(|j| tenant.is_none_or(|t| t == j.tenant_id)))
    }

    /// Ids of jobs still running (to resume after a restart).
    pub async fn running_jobs(&self) -> Result<Vec<String>, PlatformError> {
        let rows = sqlx::query("SELECT id FROM status_jobs WHERE state = 'running' ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?)
    }

    /// The next pending items of a job, in order.
    ///
    /// From `after` on (the last seq this runner took; 0 when it starts): on PostgreSQL the items
    /// already done leave dead entries at the front of the `pending` index range until a vacuum, and
    /// a scan from the start would step over all of them on every batch (quadratic in a big job).
    pub async fn pending_items(&self, job: &str, after: i64, limit: i64) -> Result<Vec<(i64, String)>, PlatformError> {
        let rows = sqlx::query(
            "SELECT seq, user_id FROM status_job_items WHERE job_id = $1 AND state = 'pending' AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("user_id")?)))
            .collect()
    }

    /// Finished items after `after`, in order.
    pub async fn done_items(&self, job: &str, after: i64, limit: i64) -> Result<Vec<ItemRow>, PlatformError> {
        let rows = sqlx::query(
            "SELECT seq, user_id, finding, action FROM status_job_items WHERE job_id = $1 AND state = 'done' AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ItemRow {
                    seq: r.try_get("seq")?,
                    user_id: r.try_get("user_id")?,
                    finding: r.try_get("finding")?,
                    action: r.try_get("action")?,
                })
            })
            .collect()
    }

    /// Moves a running job to `state` (`done` or `cancelled`); false if it was not running.
    pub async fn finish_job(&self, id: &str, state: &str, now: i64) -> Result<bool, PlatformError> {
        Ok(
            sqlx::query("UPDATE status_jobs SET state = $1, finished_at = $2 WHERE id = $3 AND state = 'running'")
                .bind(state)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// Stores a status result in one transaction: the job item turns done (only once), the user's
    /// finding is updated, and an event is written when the finding changed (or always, if asked).
    /// Returns false if the item was already done.
    pub async fn record_status(&self, r: &StatusRecord<'_>) -> Result<bool, PlatformError> {
        let mut tx = self.pool.begin().await?;
        let done = record_in(&mut tx, r).await?;
        if done {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(done)
    }

    /// Stores a batch of results in one transaction (a job's batch: all of it or, after a crash,
    /// none of it). Items already done are skipped.
    ///
    /// Grouped rather than one record at a time: a batch of a job has a handful of distinct
    /// outcomes, so each outcome's items and users are updated by one statement, the events get
    /// their seqs from one counter update and go in with one INSERT, and the webhook deliveries with
    /// one more. A batch costs about ten statements instead of three or four per user.
    pub async fn record_statuses(&self, records: &[StatusRecord<'_>]) -> Result<(), PlatformError> {
        let mut tx = self.pool.begin().await?;
        // Records outside a job keep the one-by-one path (they do not come in batches).
        let (batched, single): (Vec<&StatusRecord<'_>>, Vec<&StatusRecord<'_>>) =
            records.iter().partition(|r| r.item.is_some());
        for r in single {
            record_in(&mut tx, r).await?;
        }
        // Same job, tenant, outcome and clock → one group; groups in order of first appearance, and
        // the events follow that order (each user has one result a batch, so no user's events reorder).
        let mut groups: Vec<Vec<&StatusRecord<'_>>> = Vec::new();
        for r in batched {
            let same = |x: &StatusRecord<'_>| {
                x.item.map(|(j, _)| j) == r.item.map(|(j, _)| j)
                    && (x.tenant, x.finding, x.action, x.detail, x.now)
                        == (r.tenant, r.finding, r.action, r.detail, r.now)
            };
            match groups.iter_mut().find(|g| same(g[0])) {
                Some(g) => g.push(r),
                None => groups.push(vec![r]),
            }
        }
        let mut events: Vec<NewEvent<'_>> = Vec::new();
        let mut meters: Vec<&crate::billing::Meter> = Vec::new();
        for group in &groups {
            let first = group[0];
            let Some((job, _)) = first.item else { continue };
            // Items still pending turn done; those already done (a batch retried after a crash
            // that happened after its commit cannot occur, but a concurrent runner could) are skipped.
            let seqs: Vec<i64> = group.iter().filter_map(|r| r.item.map(|(_, s)| s)).collect();
            let (Some(&lowest), Some(&highest)) = (seqs.iter().min(), seqs.iter().max()) else {
                continue;
            };
            // The seq range as well as the list: PostgreSQL plans a statement prepared with a
            // thousand parameters generically, and without the range it took every pending item
            // of the job from the index and filtered them by the list (each batch reading the
            // whole rest of a million-item job: 14 s a batch at 300,000 done).
            let sql = format!(
                "UPDATE status_job_items SET state = 'done', finding = $1, action = $2, detail = $3, checked_at = $4 \
                 WHERE job_id = $5 AND state = 'pending' AND seq >= $6 AND seq <= $7 AND seq IN ({}) RETURNING seq",
                placeholders(8, seqs.len())
            );
            let mut q = sqlx::query(&sql)
                .bind(first.finding)
                .bind(first.action)
                .bind(first.detail)
                .bind(first.now)
                .bind(job)
                .bind(lowest)
                .bind(highest);
            for s in &seqs {
                q = q.bind(*s);
            }
            let done: std::collections::HashSet<i64> = q
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("seq"))
                .collect::<Result<_, _>>()?;
            if done.is_empty() {
                continue;
            }
            sqlx::query("UPDATE status_jobs SET done = done + $1 WHERE id = $2")
                .bind(done.len() as i64)
                .bind(job)
                .execute(&mut *tx)
                .await?;
            let newly: Vec<&StatusRecord<'_>> = group
                .iter()
                .copied()
                .filter(|r| r.item.is_some_and(|(_, s)| done.contains(&s)))
                .collect();
            let sql = format!(
                "UPDATE users SET finding = $1, finding_at = $2 WHERE tenant_id = $3 \
                 AND (finding IS NULL OR finding <> $4) AND id IN ({}) RETURNING id",
                placeholders(5, newly.len())
            );
            let mut q = sqlx::query(&sql)
                .bind(first.finding)
                .bind(first.now)
                .bind(first.tenant)
                .bind(first.finding);
            for r in &newly {
                q = q.bind(r.user);
            }
            let changed: std::collections::HashSet<String> = q
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?;
            for r in newly {
                meters.extend(r.meters);
                let kind = match (r.always, changed.contains(r.user)) {
                    (Some(k), _) => Some(k),
                    (None, true) => r.on_change,
                    (None, false) => None,
                };
                if let Some(kind) = kind {
                    events.push(NewEvent::of(r, kind));
                }
            }
        }
        crate::billing::insert_meters(&mut tx, meters).await?;
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest certificate per (user, hierarchy) of some users: (serial, certificate, learnt_at).
    pub async fn latest_certificates_of(
        &self,
        tenant: &str,
        users: &[String],
    ) -> Result<std::collections::HashMap<(String, String), (String, Option<String>, i64)>, PlatformError> {
        let mut out = std::collections::HashMap::new();
        if users.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT user_id, hierarchy, serial, certificate, learnt_at FROM user_certificates \
             WHERE tenant_id = $1 AND user_id IN ({})",
            placeholders(2, users.len())
        );
        let mut q = sqlx::query(&sql).bind(tenant);
        for u in users {
            q = q.bind(u);
        }
        for r in q.fetch_all(&self.pool).await? {
            let key: (String, String) = (r.try_get("user_id")?, r.try_get("hierarchy")?);
            let value: (String, Option<String>, i64) =
                (r.try_get("serial")?, r.try_get("certificate")?, r.try_get("learnt_at")?);
            // The same order as latest_certificate: newest, then with a certificate, then highest serial.
            let rank = |v: &(String, Option<String>, i64)| (v.2, v.1.is_some(), v.0.clone());
            match out.get(&key) {
                Some(old) if rank(old) >= rank(&value) => {}
                _ => {
                    out.insert(key, value);
                }
            }
        }
        Ok(out)
    }
}

/// One status result inside a transaction; false if its job item was already done.
async fn record_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, r: &StatusRecord<'_>) -> Result<bool, PlatformError> {
    if let Some((job, seq)) = r.item {
        // A write first: SQLite then takes the write lock at once (no stale read snapshot).
        let done = sqlx::query(
            "UPDATE status_job_items SET state = 'done', finding = $1, action = $2, detail = $3, checked_at = $4 \
                 WHERE job_id = $5 AND seq = $6 AND state = 'pending'",
        )
        .bind(r.finding)
        .bind(r.action)
        .bind(r.detail)
        .bind(r.now)
        .bind(job)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE status_jobs SET done = done + 1 WHERE id = $1")
            .bind(job)
            .execute(&mut **tx)
            .await?;
    }
    crate::billing::insert_meters(tx, r.meters).await?;
    let changed = sqlx::query(
        "UPDATE users SET finding = $1, finding_at = $2 WHERE tenant_id = $3 AND id = $4 \
             AND (finding IS NULL OR finding <> $5)",
    )
    .bind(r.finding)
    .bind(r.now)
    .bind(r.tenant)
    .bind(r.user)
    .bind(r.finding)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    let kind = match (r.always, changed) {
        (Some(k), _) => Some(k),
        (None, true) => r.on_change,
        (None, false) => None,
    };
    if let Some(kind) = kind {
        insert_events(tx, &[NewEvent::of(r, kind)]).await?;
    }
    Ok(true)
}

/// `$from, $from+1, …` for `n` values bound after the fixed ones.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// An event to write.
pub(crate) struct NewEvent<'a> {
    pub tenant: &'a str,
    pub kind: &'a str,
    pub user: &'a str,
    pub event_id: &'a str,
    pub now: i64,
    pub data: String,
}

impl<'a> NewEvent<'a> {
    /// The event a status result announces.
    fn of(r: &StatusRecord<'a>, kind: &'a str) -> Self {
        NewEvent {
            tenant: r.tenant,
            kind,
            user: r.user,
            event_id: r.event_id,
            now: r.now,
            data: serde_json::json!({ "finding": r.finding, "action": r.action, "detail": r.detail }).to_string(),
        }
    }
}

/// Writes an event and, if the tenant has a webhook, its delivery, inside the caller's transaction
/// (so no event is ever left without its delivery); returns the event's feed position.
pub(crate) async fn insert_event_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    kind: &str,
    user: &str,
    event_id: &str,
    now: i64,
    data: &str,
) -> Result<i64, PlatformError> {
    let event = NewEvent {
        tenant,
        kind,
        user,
        event_id,
        now,
        data: data.to_owned(),
    };
    insert_events(tx, &[event]).await
}

/// Events and their webhook deliveries, in order: seqs taken from the counter in one update, the
/// rows written by one INSERT each (a batch's events cost three statements, not three each).
/// Returns the last seq written (0 when there were none).
async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    events: &[NewEvent<'_>],
) -> Result<i64, PlatformError> {
    if events.is_empty() {
        return Ok(0);
    }
    let n = events.len() as i64;
    let last: i64 = sqlx::query("UPDATE counters SET value = value + $1 WHERE name = 'events' RETURNING value")
        .bind(n)
        .fetch_one(&mut **tx)
        .await?
        .try_get("value")?;
    let first = last - n + 1;
    let rows: Vec<String> = (0..events.len())
        .map(|i| format!("({})", placeholders(i * 7 + 1, 7)))
        .collect();
    let sql = format!(
        "INSERT INTO events (seq, id, tenant_id, type, user_id, at, data) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for (i, e) in events.iter().enumerate() {
        q = q
            .bind(first + i as i64)
            .bind(e.event_id)
            .bind(e.tenant)
            .bind(e.kind)
            .bind(e.user)
            .bind(e.now)
            .bind(e.data.as_str());
    }
    q.execute(&mut **tx).await?;
    // Deliveries for the tenants that have a webhook (times in milliseconds).
    sqlx::query(
        "INSERT INTO webhook_deliveries (event_seq, tenant_id, state, attempts, next_attempt_at) \
             SELECT e.seq, t.id, 'pending', 0, e.at * 1000 FROM events e JOIN tenants t ON t.id = e.tenant_id \
             WHERE e.seq >= $1 AND e.seq <= $2 AND t.webhook_url IS NOT NULL",
    )
    .bind(first)
    .bind(last)
    .execute(&mut **tx)
    .await?;
    Ok(last)
}

impl Store {
    /// A tenant's events after `after`, in order.
    pub async fn events(&self, tenant: &str, after: i64, limit: i64) -> Result<Vec<EventRow>, PlatformError> {
        let rows = sqlx::query(
            "SELECT seq, id, type, user_id, at, data FROM events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    seq: r.try_get("seq")?,
                    id: r.try_get("id")?,
                    kind: r.try_get("type")?,
                    user_id: r.try_get("user_id")?,
                    at: r.try_get("at")?,
                    data: r.try_get("data")?,
                })
            })
            .collect()
    }
}

/// A delivery that is due.
#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub event: EventRow,
    pub tenant_id: String,
    pub url: String,
    pub secret: String,
    pub attempts: i64,
}

/// A delivery that gave up.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub event_id: String,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl Store {
    pub async fn set_webhook(
        &self,
        tenant: &str,
        url: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), PlatformError> {
        sqlx::query("UPDATE tenants SET webhook_url = $1, webhook_secret = $2 WHERE id = $3")
            .bind(url)
            .bind(secret)
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deliveries due at `now_ms`, oldest first.
    pub async fn due_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<DeliveryRow>, PlatformError> {
        let rows = sqlx::query(
            "SELECT e.seq, e.id, e.type, e.user_id, e.at, e.data, d.tenant_id, d.attempts, t.webhook_url, t.webhook_secret \
             FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq JOIN tenants t ON t.id = d.tenant_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND t.webhook_url IS NOT NULL \
             ORDER BY d.next_attempt_at, d.event_seq LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    event: EventRow {
                        seq: r.try_get("seq")?,
                        id: r.try_get("id")?,
                        kind: r.try_get("type")?,
                        user_id: r.try_get("user_id")?,
                        at: r.try_get("at")?,
                        data: r.try_get("data")?,
                    },
                    tenant_id: r.try_get("tenant_id")?,
                    url: r.try_get("webhook_url")?,
                    secret: r.try_get::<Option<String>, _>("webhook_secret")?.unwrap_or_default(),
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records an attempt: `delivered`, `pending` again (retry at `next_ms`), or `dead`.
    pub async fn delivery_attempt(
        &self,
        seq: i64,
        state: &str,
        next_ms: i64,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), PlatformError> {
        let delivered_at = (state == "delivered").then_some(now);
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, \
             delivered_at = $4 WHERE event_seq = $5",
        )
        .bind(state)
        .bind(next_ms)
        .bind(error)
        .bind(delivered_at)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>, PlatformError> {
        let rows = sqlx::query(
            "SELECT e.id, e.type, d.attempts, d.last_error FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq \
             WHERE d.tenant_id = $1 AND d.state = 'dead' ORDER BY d.event_seq",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    event_id: r.try_get("id")?,
                    kind: r.try_get("type")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    /// Puts a dead delivery back in the queue; false if there is no such dead letter.
    pub async fn retry_dead_letter(&self, tenant: &str, event_id: &str, now_ms: i64) -> Result<bool, PlatformError> {
        Ok(sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1 \
             WHERE tenant_id = $2 AND state = 'dead' AND event_seq = (SELECT seq FROM events WHERE id = $3)",
        )
        .bind(now_ms)
        .bind(tenant)
        .bind(event_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}

/// A schedule as stored.
#[derive(Clone, Debug)]
pub struct ScheduleRow {
    pub id: String,
    pub tenant_id: String,
    pub scope: String,
    pub method: String,
    pub alive_events: bool,
    pub period_seconds: i64,
    pub next_run_at: i64,
    pub last_job_id: Option<String>,
}

fn schedule(r: &AnyRow) -> Result<ScheduleRow, sqlx::Error> {
    Ok(ScheduleRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        scope: r.try_get("scope")?,
        method: r.try_get("method")?,
        alive_events: r.try_get::<i64, _>("alive_events")? != 0,
        period_seconds: r.try_get("period_seconds")?,
        next_run_at: r.try_get("next_run_at")?,
        last_job_id: r.try_get("last_job_id")?,
    })
}

const SCHEDULE_COLUMNS: &str = "id, tenant_id, scope, method, alive_events, period_seconds, next_run_at, last_job_id";

impl Store {
    pub async fn insert_schedule(&self, s: &ScheduleRow, now: i64) -> Result<(), PlatformError> {
        sqlx::query(
            "INSERT INTO status_schedules (id, tenant_id, scope, method, alive_events, period_seconds, next_run_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(&s.tenant_id)
        .bind(&s.scope)
        .bind(&s.method)
        .bind(i64::from(s.alive_events))
        .bind(s.period_seconds)
        .bind(s.next_run_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn schedules(&self, tenant: &str) -> Result<Vec<ScheduleRow>, PlatformError> {
        let sql =
            format!("SELECT {SCHEDULE_COLUMNS} FROM status_schedules WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(tenant).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(schedule).collect::<Result<_, _>>()?)
    }

    pub async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<bool, PlatformError> {
        Ok(
            sqlx::query("DELETE FROM status_schedules WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    pub async fn due_schedules(&self, now: i64) -> Result<Vec<ScheduleRow>, PlatformError> {
        let sql =
            format!("SELECT {SCHEDULE_COLUMNS} FROM status_schedules WHERE next_run_at <= $1 ORDER BY next_run_at");
        let rows = sqlx::query(&sql).bind(now).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(schedule).collect::<Result<_, _>>()?)
    }

    /// Moves a schedule on from `expected` (compare-and-set: one process runs each occurrence).
    pub async fn advance_schedule(
        &self,
        id: &str,
        expected: i64,
        next: i64,
        job: Option<&str>,
    ) -> Result<bool, PlatformError> {
        Ok(sqlx::query(
            "UPDATE status_schedules SET next_run_at = $1, last_job_id = COALESCE($2, last_job_id) \
             WHERE id = $3 AND next_run_at = $4",
        )
        .bind(next)
        .bind(job)
        .bind(id)
        .bind(expected)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Every certificate serial of a tenant's users, with the user and their last finding.
    pub async fn tenant_serials(
        &self,
        tenant: &str,
    ) -> Result<Vec<(String, String, String, Option<String>)>, PlatformError> {
        let rows = sqlx::query(
            "SELECT c.user_id, c.hierarchy, c.serial, u.finding FROM user_certificates c \
             JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.user_id WHERE c.tenant_id = $1",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("hierarchy")?,
                    r.try_get("serial")?,
                    r.try_get("finding")?,
                ))
            })
            .collect()
    }
}
