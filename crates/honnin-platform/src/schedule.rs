//! Scheduled status checks: every user every period (a yearly 現況確認), or — cheaply, e.g. daily —
//! only the users one of whose certificates appears on the current CRL while the platform has not yet
//! recorded a finding for it ("new CRL entries only": the CRL index answers in memory, so no call to
//! the authority is made for users whose certificates are not on it).

use std::collections::BTreeSet;
use std::time::Duration;

use honnin_profile::Hierarchy;
use serde_json::json;

use crate::audit::Actor;
use crate::flows::rfc3339;
use crate::store::ScheduleRow;
use crate::wire::{CreateSchedule, Schedule, Schedules};
use crate::{ids, Platform, PlatformError};

const YEAR: i64 = 365 * 24 * 3600;
const DAY: i64 = 24 * 3600;
/// How often due schedules are looked for.
const POLL: Duration = Duration::from_secs(1);
/// Findings that already report a revocation: a user with one of these is not "new".
const REPORTED: [&str; 6] = [
    "basic4_changed",
    "deceased_or_emigrated",
    "card_abolished",
    "card_suspended",
    "renewed",
    "key_compromised",
];

fn wire(s: ScheduleRow) -> Schedule {
    Schedule {
        id: s.id,
        scope: s.scope,
        method: s.method,
        period_seconds: s.period_seconds,
        alive_events: s.alive_events,
        next_run_at: rfc3339(s.next_run_at),
        last_status_check: s.last_job_id,
    }
}

impl Platform {
    /// `POST /v1/status-check-schedules`
    pub async fn create_schedule(&self, tenant: &str, req: &CreateSchedule) -> Result<Schedule, PlatformError> {
        if !matches!(req.method.as_str(), "crl" | "ocsp") {
            return Err(PlatformError::Invalid("method: crl or ocsp".into()));
        }
        let default_period = match req.scope.as_str() {
            "all" => YEAR,
            "new_crl_entries" => DAY,
            _ => return Err(PlatformError::Invalid("scope: all or new_crl_entries".into())),
        };
        let period = req.period_seconds.unwrap_or(default_period);
        if !(1..=10 * YEAR).contains(&period) {
            return Err(PlatformError::Invalid("period_seconds: 1 to ten years".into()));
        }
        let now = Self::now();
        let row = ScheduleRow {
            id: ids::new_id("sch")?,
            tenant_id: tenant.into(),
            scope: req.scope.clone(),
            method: req.method.clone(),
            alive_events: req.alive_events,
            period_seconds: period,
            next_run_at: if req.start_now { now } else { now + period },
            last_job_id: None,
        };
        self.inner.store.insert_schedule(&row, now).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "schedule.create",
            Some(tenant),
            Some(&row.id),
            "ok",
            json!({ "scope": row.scope, "period_seconds": period }),
        )
        .await?;
        Ok(wire(row))
    }

    /// `GET /v1/status-check-schedules`
    pub async fn schedules(&self, tenant: &str) -> Result<Schedules, PlatformError> {
        let rows = self.inner.store.schedules(tenant).await?;
        Ok(Schedules {
            schedules: rows.into_iter().map(wire).collect(),
        })
    }

    /// `DELETE /v1/status-check-schedules/{id}`
    pub async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<(), PlatformError> {
        if !self.inner.store.delete_schedule(tenant, id).await? {
            return Err(PlatformError::NotFound {
                what: "schedule",
                id: id.into(),
            });
        }
        self.audit(
            Actor::Tenant(tenant.into()),
            "schedule.delete",
            Some(tenant),
            Some(id),
            "ok",
            json!({}),
        )
        .await
    }

    /// Runs due schedules until the process ends.
    pub fn spawn_scheduler(&self) -> tokio::task::JoinHandle<()> {
        let platform = self.clone();
        tokio::spawn(async move {
            loop {
                match platform.inner.store.due_schedules(Self::now()).await {
                    Ok(due) => {
                        for s in due {
                            if let Err(e) = platform.run_schedule(s).await {
                                tracing::warn!(error = %e, "a scheduled status check failed to start");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the schedules"),
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }

    async fn run_schedule(&self, s: ScheduleRow) -> Result<(), PlatformError> {
        let now = Self::now();
        // Claim this occurrence first, so two platform processes never both run it.
        let next = s.next_run_at.max(now - s.period_seconds) + s.period_seconds;
        if !self
            .inner
            .store
            .advance_schedule(&s.id, s.next_run_at, next, None)
            .await?
        {
            return Ok(());
        }
        let users = match s.scope.as_str() {
            "new_crl_entries" => Some(self.users_newly_on_crl(&s.tenant_id).await?),
            _ => None,
        };
        if users.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let id = ids::new_id("chk")?;
        let total = self
            .inner
            .store
            .create_job(&id, &s.tenant_id, &s.method, s.alive_events, users.as_deref(), now)
            .await?;
        self.inner.store.advance_schedule(&s.id, next, next, Some(&id)).await?;
        self.audit(
            Actor::Operator,
            "schedule.run",
            Some(&s.tenant_id),
            Some(&id),
            "started",
            json!({ "schedule": s.id, "total": total }),
        )
        .await?;
        self.spawn_job(id);
        Ok(())
    }

    /// Users with a certificate on the current CRL and no revocation finding recorded yet.
    async fn users_newly_on_crl(&self, tenant: &str) -> Result<Vec<String>, PlatformError> {
        let now = crate::clock::now();
        let crls = [
            self.inner.revocation.current_crl(Hierarchy::Signing, now).await,
            self.inner.revocation.current_crl(Hierarchy::Authentication, now).await,
        ];
        // Every serial of the tenant, by hierarchy, then all looked up at once: at millions of users
        // the batched lookup overlaps the index's cache misses.
        let mut serials: [(Vec<String>, Vec<u64>); 2] = Default::default();
        for (user, h, serial, finding) in self.inner.store.tenant_serials(tenant).await? {
            if finding.as_deref().is_some_and(|f| REPORTED.contains(&f)) {
                continue;
            }
            if let Ok(s) = u64::from_str_radix(&serial, 16) {
                let (users, serials) = &mut serials[if h == "sign" { 0 } else { 1 }];
                users.push(user);
                serials.push(s);
            }
        }
        let mut users = BTreeSet::new();
        for (crl, (holders, serials)) in crls.iter().zip(serials) {
            let Some(crl) = crl else { continue };
            let mut found = vec![None; serials.len()];
            crl.index.lookup_many(&serials, &mut found);
            users.extend(
                holders
                    .into_iter()
                    .zip(found)
                    .filter(|(_, f)| f.is_some())
                    .map(|(u, _)| u),
            );
        }
        Ok(users.into_iter().collect())
    }
}
