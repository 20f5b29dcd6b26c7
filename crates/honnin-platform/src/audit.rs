//! The audit log: every API call and operator action, appended to a chain where each entry carries
//! HMAC-SHA256(key, previous MAC ‖ entry). The key lives in the data directory (`audit.key`), not in
//! the database, so someone who can write the database still cannot rewrite history unnoticed:
//! `verify` finds an edited entry (its MAC), a removed one (a gap in `seq` and a broken chain) and
//! an inserted one. Truncating the newest entries is only visible against a head (seq, MAC) kept
//! elsewhere, which `verify` prints for that purpose.
//!
//! Entries never hold a PIN, a private key or a My Number: the API never receives the first two,
//! and callers pass only ids and outcomes as detail.

use std::path::Path;

use aws_lc_rs::hmac;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::write_private;
use crate::store::{AuditRow, Store};
use crate::PlatformError;

pub const KEY_FILE: &str = "audit.key";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Clone, Debug)]
pub enum Actor {
    Tenant(String),
    /// The holder's client (through a client URL).
    Client,
    Operator,
    /// Anyone who presented no or a wrong API key.
    Anonymous,
}

impl Actor {
    fn label(&self) -> String {
        match self {
            Actor::Tenant(t) => format!("tenant:{t}"),
            Actor::Client => "client".into(),
            Actor::Operator => "operator".into(),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

/// One thing to record.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    pub actor: Actor,
    pub action: &'a str,
    pub tenant_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub outcome: &'a str,
    /// JSON object with ids and outcomes only.
    pub detail: serde_json::Value,
}

pub struct AuditLog {
    key: hmac::Key,
    /// The newest (seq, MAC) this process knows; appends are serialised through it.
    head: Mutex<Option<(i64, String)>>,
}

/// Creates the MAC key of a new data directory.
pub fn create_key(dir: &Path) -> Result<(), PlatformError> {
    write_private(
        &dir.join(KEY_FILE),
        hex::encode(crate::ids::random_bytes(32)?).as_bytes(),
    )
}

fn load_key(dir: &Path) -> Result<hmac::Key, PlatformError> {
    let path = dir.join(KEY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| PlatformError::Io {
        path: path.clone(),
        source,
    })?;
    let key = hex::decode(text.trim()).map_err(|e| PlatformError::Config {
        path,
        why: e.to_string(),
    })?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &key))
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    tenant_id: Option<&'a str>,
    subject: Option<&'a str>,
    outcome: &'a str,
    detail: &'a str,
}

fn mac_of(key: &hmac::Key, row: &AuditRow) -> String {
    let canonical = Canonical {
        seq: row.seq,
        at: row.at,
        actor: &row.actor,
        action: &row.action,
        tenant_id: row.tenant_id.as_deref(),
        subject: row.subject.as_deref(),
        outcome: &row.outcome,
        detail: &row.detail,
    };
    // serde_json writes struct fields in declaration order: the encoding is canonical.
    let body = serde_json::to_vec(&canonical).unwrap_or_default();
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(row.prev_mac.as_bytes());
    ctx.update(&body);
    hex::encode(ctx.sign())
}

/// What `verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    pub entries: u64,
    pub head_seq: i64,
    pub head_mac: String,
    pub problems: Vec<AuditProblem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditProblem {
    pub seq: i64,
    pub what: String,
}

impl AuditLog {
    pub fn open(dir: &Path) -> Result<Self, PlatformError> {
        Ok(AuditLog {
            key: load_key(dir)?,
            head: Mutex::new(None),
        })
    }

    /// Appends an entry; retries when another process appended at the same time.
    pub async fn append(&self, store: &Store, entry: Entry<'_>, at: i64) -> Result<i64, PlatformError> {
        let mut head = self.head.lock().await;
        for _ in 0..16 {
            let (prev_seq, prev_mac) = match &*head {
                Some(h) => h.clone(),
                None => match store.last_audit().await? {
                    Some(last) => (last.seq, last.mac),
                    None => (0, GENESIS.to_owned()),
                },
            };
            let mut row = AuditRow {
                seq: prev_seq + 1,
                at,
                actor: entry.actor.label(),
                action: entry.action.to_owned(),
                tenant_id: entry.tenant_id.map(str::to_owned),
                subject: entry.subject.map(str::to_owned),
                outcome: entry.outcome.to_owned(),
                detail: entry.detail.to_string(),
                prev_mac,
                mac: String::new(),
            };
            row.mac = mac_of(&self.key, &row);
            if store.insert_audit(&row).await? {
                *head = Some((row.seq, row.mac));
                return Ok(row.seq);
            }
            *head = None; // someone else appended: re-read the head
        }
        Err(PlatformError::Corrupt("the audit log's head keeps moving".into()))
    }

    /// Walks the whole chain.
    pub async fn verify(&self, store: &Store) -> Result<AuditReport, PlatformError> {
        let mut report = AuditReport {
            entries: 0,
            head_seq: 0,
            head_mac: GENESIS.to_owned(),
            problems: Vec::new(),
        };
        let mut after = 0;
        loop {
            let page = store.audit_page(after, 1000).await?;
            if page.is_empty() {
                break;
            }
            for row in page {
                report.entries += 1;
                if row.seq != report.head_seq + 1 {
                    report.problems.push(AuditProblem {
                        seq: row.seq,
                        what: format!("entries {}..{} are missing (removed)", report.head_seq + 1, row.seq - 1),
                    });
                }
                if row.prev_mac != report.head_mac {
                    report.problems.push(AuditProblem {
                        seq: row.seq,
                        what: "the chain is broken: the previous MAC does not match the entry before it".into(),
                    });
                }
                if !crate::ids::same_hash(&mac_of(&self.key, &row), &row.mac) {
                    report.problems.push(AuditProblem {
                        seq: row.seq,
                        what: "the entry was altered: its MAC does not match its content".into(),
                    });
                }
                after = row.seq;
                report.head_seq = row.seq;
                report.head_mac = row.mac;
            }
        }
        Ok(report)
    }
}
