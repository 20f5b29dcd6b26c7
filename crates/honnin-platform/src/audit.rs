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

use std::sync::{Arc, PoisonError};

use aws_lc_rs::hmac;
use serde::Serialize;
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

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
    head: Arc<Mutex<Option<(i64, String)>>>,
    /// Entries waiting for the next group commit.
    queue: Arc<std::sync::Mutex<Vec<Queued>>>,
}

/// An entry waiting to be written, and who to tell its seq (`None`: not written, append alone).
struct Queued {
    row: AuditRow,
    done: oneshot::Sender<Option<i64>>,
}

/// Most entries one group commit writes.
const MAX_BATCH: usize = 256;

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

/// Writes a group of queued entries as one transaction after the head, tells each its seq (or
/// `None` if the group could not be written) and gives the head back.
async fn write_group(
    key: &hmac::Key,
    store: &Store,
    mut head: OwnedMutexGuard<Option<(i64, String)>>,
    batch: Vec<Queued>,
) -> OwnedMutexGuard<Option<(i64, String)>> {
    let mut rows: Vec<AuditRow> = batch.iter().map(|q| q.row.clone()).collect();
    let mut written = false;
    for _ in 0..16 {
        let (mut seq, mut mac) = match &*head {
            Some(h) => h.clone(),
            None => match store.last_audit().await {
                Ok(Some(last)) => (last.seq, last.mac),
                Ok(None) => (0, GENESIS.to_owned()),
                Err(_) => break,
            },
        };
        for row in &mut rows {
            seq += 1;
            row.seq = seq;
            row.prev_mac = std::mem::take(&mut mac);
            row.mac = mac_of(key, row);
            mac = row.mac.clone();
        }
        match store.insert_audit_batch(&rows).await {
            Ok(true) => {
                *head = Some((seq, mac));
                written = true;
                break;
            }
            // Another process appended first: re-read the head and chain again.
            Ok(false) => *head = None,
            Err(_) => {
                *head = None;
                break;
            }
        }
    }
    for (q, row) in batch.into_iter().zip(&rows) {
        let _ = q.done.send(written.then_some(row.seq));
    }
    head
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
            head: Arc::new(Mutex::new(None)),
            queue: Arc::new(std::sync::Mutex::new(Vec::new())),
        })
    }

    /// Appends an entry and returns its seq once it is committed.
    ///
    /// Group commit: the entry joins a queue; whoever holds the head next writes everything queued
    /// in one transaction, so concurrent requests share one commit (one fsync on PostgreSQL) instead
    /// of waiting for each other's. The write runs in its own task, so a request dropped meanwhile
    /// cannot leave the entries of others half-done. If a group cannot be written, each entry is
    /// appended alone, and its caller gets that append's own error.
    pub async fn append(&self, store: &Store, entry: Entry<'_>, at: i64) -> Result<i64, PlatformError> {
        let row = AuditRow {
            seq: 0,
            at,
            actor: entry.actor.label(),
            action: entry.action.to_owned(),
            tenant_id: entry.tenant_id.map(str::to_owned),
            subject: entry.subject.map(str::to_owned),
            outcome: entry.outcome.to_owned(),
            detail: entry.detail.to_string(),
            prev_mac: String::new(),
            mac: String::new(),
        };
        let (done, mut written) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Queued { row: row.clone(), done });
        let mut head = self.head.clone().lock_owned().await;
        loop {
            match written.try_recv() {
                // Written by the group commit of an earlier holder of the head.
                Ok(Some(seq)) => return Ok(seq),
                // Its group could not be written (or its writer died): alone.
                Ok(None) | Err(oneshot::error::TryRecvError::Closed) => {
                    return self.append_alone(store, head, row).await
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Still queued, and this task holds the head: write the next group, which holds it
            // unless more than a batch was waiting ahead of it.
            let batch: Vec<Queued> = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                // Not reachable (this entry is queued until answered); never spin.
                return self.append_alone(store, head, row).await;
            }
            let (key, store_for_task) = (self.key.clone(), store.clone());
            // The commit runs to completion even if this request is dropped meanwhile.
            head = match tokio::spawn(async move { write_group(&key, &store_for_task, head, batch).await }).await {
                Ok(h) => h,
                Err(_) => self.head.clone().lock_owned().await,
            };
        }
    }

    /// Appends one entry; retries when another process appended at the same time.
    async fn append_alone(
        &self,
        store: &Store,
        mut head: OwnedMutexGuard<Option<(i64, String)>>,
        mut row: AuditRow,
    ) -> Result<i64, PlatformError> {
        for _ in 0..16 {
            let (prev_seq, prev_mac) = match &*head {
                Some(h) => h.clone(),
                None => match store.last_audit().await? {
                    Some(last) => (last.seq, last.mac),
                    None => (0, GENESIS.to_owned()),
                },
            };
            row.seq = prev_seq + 1;
            row.prev_mac = prev_mac;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Entry<'static> {
        Entry {
            actor: Actor::Operator,
            action: "test.append",
            tenant_id: None,
            subject: None,
            outcome: "ok",
            detail: serde_json::json!({ "i": i }),
        }
    }

    /// Appends from `logs` (as from as many processes), `per_log` each, all at once.
    async fn appends(logs: Vec<Arc<AuditLog>>, store: &Store, per_log: usize) -> Vec<i64> {
        let mut tasks = Vec::new();
        for (n, log) in logs.into_iter().enumerate() {
            for i in 0..per_log {
                let (log, store) = (log.clone(), store.clone());
                tasks.push(tokio::spawn(async move {
                    log.append(&store, entry(n * 1000 + i), 1_700_000_000).await
                }));
            }
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.expect("task").expect("append"));
        }
        seqs.sort_unstable();
        seqs
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_make_one_intact_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        create_key(dir.path()).expect("key");
        let store = Store::open(&crate::store::sqlite_url(dir.path())).await.expect("store");
        let log = Arc::new(AuditLog::open(dir.path()).expect("log"));
        let seqs = appends(vec![log.clone()], &store, 200).await;
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>(), "every append has its own seq");
        let report = log.verify(&store).await.expect("verify");
        assert_eq!(report.entries, 200);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn groups_from_two_writers_retry_on_a_taken_seq() {
        // Two logs over one database, as two processes: each one's groups meet seqs the other took.
        let dir = tempfile::tempdir().expect("tempdir");
        create_key(dir.path()).expect("key");
        let store = Store::open(&crate::store::sqlite_url(dir.path())).await.expect("store");
        let a = Arc::new(AuditLog::open(dir.path()).expect("log"));
        let b = Arc::new(AuditLog::open(dir.path()).expect("log"));
        let seqs = appends(vec![a.clone(), b], &store, 100).await;
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        let report = a.verify(&store).await.expect("verify");
        assert_eq!(report.entries, 200);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
