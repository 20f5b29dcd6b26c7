//! Status checks (現況確認): each user's signing and auth certificates asked about together (by the
//! CRL index or OCSP), read with the verification core's table, stored, and turned into events when
//! what they mean changed. Batch jobs run in the background, resume after a crash where they stopped
//! (an item and its event are written in one transaction) and can be cancelled.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_profile::Hierarchy;
use honnin_proto::Service;
use honnin_verify::interpret::{interpret, Finding, Interpretation};
use honnin_verify::RevocationStatus;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::Actor;
use crate::billing::{self, CallResult, Meter};
use crate::config::RevocationMethod;
use crate::flows::rfc3339;
use crate::identity::hierarchy_name;
use crate::revocation::serial_status;
use crate::store::{JobRow, StatusRecord};
use crate::wire::{CreateStatusCheck, Event, EventPage, StatusCheck, StatusCheckCreated, StatusResult};
use crate::{ids, Platform, PlatformError};

/// Items taken from the database at a time.
const BATCH: i64 = 1000;
/// Most results returned in one page.
const MAX_PAGE: i64 = 10_000;

fn parse_method(m: &str) -> Result<RevocationMethod, PlatformError> {
    match m {
        "crl" => Ok(RevocationMethod::Crl),
        "ocsp" => Ok(RevocationMethod::Ocsp),
        other => Err(PlatformError::Invalid(format!("method {other:?}: crl or ocsp"))),
    }
}

fn name<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The event a finding announces.
fn event_type(f: Finding) -> Option<&'static str> {
    Some(match f {
        Finding::Basic4Changed => "user.basic4_changed",
        Finding::DeceasedOrEmigrated => "user.deceased_or_emigrated",
        Finding::CardAbolished | Finding::NeverDelivered => "user.card_abolished",
        Finding::CardSuspended => "user.card_suspended",
        Finding::Renewed => "user.renewed",
        Finding::KeyCompromised => "user.key_compromised",
        Finding::AliveAndUsable | Finding::Unknown => return None,
    })
}

/// A result ready to store.
struct Outcome {
    finding: String,
    action: String,
    detail: String,
    always: Option<&'static str>,
    on_change: Option<&'static str>,
    event_id: String,
}

impl Outcome {
    fn of(meaning: &Interpretation, auth: &RevocationStatus, alive_events: bool) -> Result<Self, PlatformError> {
        Ok(Outcome {
            finding: name(meaning.finding),
            action: name(meaning.action),
            detail: match auth {
                RevocationStatus::Unknown { why } => why.clone(),
                _ => meaning.meaning.to_owned(),
            },
            always: (alive_events && meaning.finding == Finding::AliveAndUsable).then_some("user.alive_confirmed"),
            on_change: event_type(meaning.finding),
            event_id: ids::new_id("evt")?,
        })
    }

    fn record<'a>(
        &'a self,
        tenant: &'a str,
        user: &'a str,
        item: Option<(&'a str, i64)>,
        now: OffsetDateTime,
        meters: &'a [Meter],
    ) -> StatusRecord<'a> {
        StatusRecord {
            tenant,
            user,
            finding: &self.finding,
            action: &self.action,
            detail: &self.detail,
            item,
            always: self.always,
            on_change: self.on_change,
            event_id: &self.event_id,
            now: now.unix_timestamp(),
            meters,
        }
    }
}

/// The meter of a CRL lookup that answered (an unknown status checked nothing: no CRL to check).
fn crl_meter(
    tenant: &str,
    user: &str,
    h: Hierarchy,
    serial: u64,
    status: &RevocationStatus,
    now: OffsetDateTime,
) -> Option<Meter> {
    (!matches!(status, RevocationStatus::Unknown { .. })).then(|| {
        Meter::new(
            tenant,
            Service::CrlCheck,
            Some(h),
            Some(serial),
            CallResult::Recorded,
            now,
        )
        .for_user(user)
    })
}

impl Platform {
    /// Declares the CRL checks just stored; a failure is retried by the background declarer.
    async fn declare_after_check(&self) {
        if let Err(e) = self.declare_crl_checks().await {
            tracing::warn!(error = %e, "declaring CRL checks to the authority failed; retrying later");
        }
    }

    /// Declares the CRL checks stored so far in the background, so a job's next batch does not wait
    /// for the authority; one such task at a time (it declares until nothing is pending), and the
    /// job's end declares whatever is left before the job reports done.
    fn declare_soon(&self) {
        static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if RUNNING.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let platform = self.clone();
        tokio::spawn(async move {
            platform.declare_after_check().await;
            RUNNING.store(false, std::sync::atomic::Ordering::Release);
        });
    }

    /// The status of one certificate of a user; the authority calls it took go to `meters` (the
    /// counterpart lookup is metered at once, with the link it stores).
    async fn certificate_status(
        &self,
        tenant: &str,
        user: &str,
        h: Hierarchy,
        method: RevocationMethod,
        now: OffsetDateTime,
        meters: &mut Vec<Meter>,
    ) -> Result<Option<RevocationStatus>, PlatformError> {
        let store = &self.inner.store;
        let mut latest = store.latest_certificate(tenant, user, hierarchy_name(h)).await?;
        if latest.is_none() && h == Hierarchy::Authentication {
            // The user never logged in: the auth certificate of the card they opened the account with.
            if let Some((sign, _, _)) = store.latest_certificate(tenant, user, "sign").await? {
                if let Ok(sign) = u64::from_str_radix(&sign, 16) {
                    let answer = self.inner.authority.counterpart(Hierarchy::Signing, sign).await;
                    self.meter_link(tenant, Service::Counterpart, Hierarchy::Signing, sign, &answer, |_| {
                        true
                    })
                    .await?;
                    if let Ok(c) = answer {
                        let now = now.unix_timestamp();
                        self.remember(tenant, user, &[(Hierarchy::Authentication, c.auth)], "serial_link", now)
                            .await?;
                        latest = store.latest_certificate(tenant, user, "auth").await?;
                    }
                }
            }
        }
        let Some((serial, certificate, learnt_at)) = latest else {
            return Ok(None);
        };
        let Ok(serial_u64) = u64::from_str_radix(&serial, 16) else {
            return Ok(Some(RevocationStatus::unknown(
                "the stored serial is not a 64-bit number",
            )));
        };
        Ok(Some(match method {
            RevocationMethod::Crl => {
                let status = self.inner.revocation.status_by_serial(h, serial_u64, now).await;
                if let Some(m) = crl_meter(tenant, user, h, serial_u64, &status, now) {
                    meters.push(m);
                }
                status
            }
            RevocationMethod::Ocsp => {
                let Some(der) = certificate.and_then(|c| B64.decode(c).ok()) else {
                    return Ok(Some(RevocationStatus::unknown(
                        "OCSP needs the certificate, which the platform has not seen (use the CRL method)",
                    )));
                };
                // Valid when the platform learnt it; a certificate expired since is still asked about.
                let at = OffsetDateTime::from_unix_timestamp(learnt_at).unwrap_or(now);
                match self.inner.profile.validate_kind(&der, h, at) {
                    Ok(v) => {
                        let checked = self.inner.revocation.check_with(method, &v, now).await;
                        if let Some(m) = billing::ocsp_meter(tenant, h, Some(serial_u64), &checked, now) {
                            meters.push(m.for_user(user));
                        }
                        checked.status
                    }
                    Err(e) => RevocationStatus::unknown(format!("the kept certificate: {e}")),
                }
            }
        }))
    }

    /// Checks one user now and stores the result (and its event).
    async fn check_and_record(
        &self,
        tenant: &str,
        user: &str,
        method: RevocationMethod,
        alive_events: bool,
        item: Option<(&str, i64)>,
    ) -> Result<Interpretation, PlatformError> {
        let now = crate::clock::now();
        let mut meters = Vec::new();
        let signing = self
            .certificate_status(tenant, user, Hierarchy::Signing, method, now, &mut meters)
            .await?;
        let auth = self
            .certificate_status(tenant, user, Hierarchy::Authentication, method, now, &mut meters)
            .await?
            .unwrap_or_else(|| RevocationStatus::unknown("no auth certificate is known for this user"));
        let meaning = interpret(signing.as_ref(), &auth);
        let o = Outcome::of(&meaning, &auth, alive_events)?;
        self.inner
            .store
            .record_status(&o.record(tenant, user, item, now, &meters))
            .await?;
        if meaning.finding == Finding::Basic4Changed {
            self.on_basic4_changed(tenant, user).await;
        }
        Ok(meaning)
    }

    /// A batch of a CRL job in one go: the users' certificates in one query, their statuses from the
    /// CRL indexes in memory, all results in one transaction. Users whose auth certificate the
    /// platform has not learnt yet go the single way (it asks the authority for the link).
    async fn check_batch(&self, job: &JobRow, items: &[(i64, String)]) -> Result<(), PlatformError> {
        let now = crate::clock::now();
        let users: Vec<String> = items.iter().map(|(_, u)| u.clone()).collect();
        let certs = self.inner.store.latest_certificates_of(&job.tenant_id, &users).await?;
        let crls = [
            self.inner.revocation.current_crl(Hierarchy::Signing, now).await,
            self.inner.revocation.current_crl(Hierarchy::Authentication, now).await,
        ];
        let status = |crl: usize, serial: &str| match u64::from_str_radix(serial, 16) {
            Ok(s) => serial_status(crls[crl].as_deref(), s, now),
            Err(_) => RevocationStatus::unknown("the stored serial is not a 64-bit number"),
        };
        let mut done = Vec::with_capacity(items.len());
        let mut slow = Vec::new();
        for (seq, user) in items {
            let Some((auth_serial, _, _)) = certs.get(&(user.clone(), "auth".to_owned())) else {
                slow.push((*seq, user));
                continue;
            };
            let mut meters = Vec::new();
            let mut check = |h: Hierarchy, serial: &str| {
                let s = status(if h == Hierarchy::Signing { 0 } else { 1 }, serial);
                if let Ok(n) = u64::from_str_radix(serial, 16) {
                    meters.extend(crl_meter(&job.tenant_id, user, h, n, &s, now));
                }
                s
            };
            let signing = certs
                .get(&(user.clone(), "sign".to_owned()))
                .map(|(s, _, _)| check(Hierarchy::Signing, s));
            let auth = check(Hierarchy::Authentication, auth_serial);
            let meaning = interpret(signing.as_ref(), &auth);
            done.push((*seq, user, Outcome::of(&meaning, &auth, job.alive_events)?, meters));
        }
        let records: Vec<StatusRecord<'_>> = done
            .iter()
            .map(|(seq, user, o, meters)| o.record(&job.tenant_id, user, Some((&job.id, *seq)), now, meters))
            .collect();
        self.inner.store.record_statuses(&records).await?;
        // The latest 4 attributes, for the few users whose signing certificate was revoked for a
        // change of attributes (only those with the tenant's consent cause a call).
        let basic4_changed = name(Finding::Basic4Changed);
        for (_, user, o, _) in &done {
            if o.finding == basic4_changed {
                self.on_basic4_changed(&job.tenant_id, user).await;
            }
        }
        for (seq, user) in slow {
            self.check_and_record(
                &job.tenant_id,
                user,
                RevocationMethod::Crl,
                job.alive_events,
                Some((&job.id, seq)),
            )
            .await?;
        }
        Ok(())
    }

    /// `POST /v1/users/{id}/status-check`: one user, now.
    pub async fn check_user(&self, tenant: &str, user: &str, method: &str) -> Result<StatusResult, PlatformError> {
        let method = parse_method(method)?;
        if self.inner.store.user(tenant, user).await?.is_none() {
            return Err(PlatformError::NotFound {
                what: "user",
                id: user.into(),
            });
        }
        let meaning = self.check_and_record(tenant, user, method, false, None).await?;
        self.declare_after_check().await;
        self.audit(
            Actor::Tenant(tenant.into()),
            "user.status_check",
            Some(tenant),
            Some(user),
            &name(meaning.finding),
            json!({}),
        )
        .await?;
        Ok(StatusResult {
            user_id: user.into(),
            finding: name(meaning.finding),
            action: name(meaning.action),
        })
    }

    /// `POST /v1/status-checks`: creates a job and starts it in the background.
    pub async fn start_status_check(
        &self,
        tenant: &str,
        req: &CreateStatusCheck,
    ) -> Result<StatusCheckCreated, PlatformError> {
        parse_method(&req.method)?;
        let users = match (&req.user_ids, req.all) {
            (Some(list), false) => {
                for u in list {
                    if self.inner.store.user(tenant, u).await?.is_none() {
                        return Err(PlatformError::Invalid(format!("no such user: {u}")));
                    }
                }
                Some(list.as_slice())
            }
            (None, true) => None,
            _ => return Err(PlatformError::Invalid("give either user_ids or all: true".into())),
        };
        let id = ids::new_id("chk")?;
        let total = self
            .inner
            .store
            .create_job(&id, tenant, &req.method, req.alive_events, users, Self::now())
            .await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "status_check.create",
            Some(tenant),
            Some(&id),
            "started",
            json!({ "method": req.method, "total": total }),
        )
        .await?;
        self.spawn_job(id.clone());
        Ok(StatusCheckCreated { id, total })
    }

    pub(crate) fn spawn_job(&self, id: String) {
        let platform = self.clone();
        tokio::spawn(async move {
            if let Err(e) = platform.run_job(&id).await {
                tracing::error!(error = %e, job = %id, "status check job stopped; it resumes at the next start");
            }
        });
    }

    /// Resumes every job that was running when the platform stopped.
    pub async fn resume_status_checks(&self) -> Result<usize, PlatformError> {
        let jobs = self.inner.store.running_jobs().await?;
        for id in &jobs {
            self.spawn_job(id.clone());
        }
        Ok(jobs.len())
    }

    async fn run_job(&self, id: &str) -> Result<(), PlatformError> {
        let store = &self.inner.store;
        let Some(job) = store.job(None, id).await? else {
            return Ok(());
        };
        let method = parse_method(&job.method)?;
        let pause = match self.inner.config.status_check_rate {
            0 => None,
            rate => Some(std::time::Duration::from_secs_f64(1.0 / f64::from(rate))),
        };
        // Items before the cursor are done: every batch either records all its items or stops the
        // runner with an error (the next start begins at 0 again).
        let mut after = 0;
        loop {
            let items = store.pending_items(id, after, BATCH).await?;
            after = items.last().map_or(after, |(seq, _)| *seq);
            if items.is_empty() {
                self.declare_after_check().await;
                store.finish_job(id, "done", Self::now()).await?;
                return Ok(());
            }
            if store.job(None, id).await?.is_none_or(|j| j.state != "running") {
                return Ok(()); // cancelled
            }
            if method == RevocationMethod::Crl && pause.is_none() {
                self.check_batch(&job, &items).await?;
                self.declare_soon();
                continue;
            }
            for (seq, user) in items {
                if store.job(None, id).await?.is_none_or(|j| j.state != "running") {
                    return Ok(());
                }
                self.check_and_record(&job.tenant_id, &user, method, job.alive_events, Some((id, seq)))
                    .await?;
                if let Some(p) = pause {
                    tokio::time::sleep(p).await;
                }
            }
        }
    }

    /// `GET /v1/status-checks/{id}`
    pub async fn status_check(
        &self,
        tenant: &str,
        id: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<StatusCheck, PlatformError> {
        let job = self
            .inner
            .store
            .job(Some(tenant), id)
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                what: "status check",
                id: id.into(),
            })?;
        let after = after
            .map(|a| {
                a.parse::<i64>()
                    .map_err(|_| PlatformError::Invalid("after: a cursor from `next`".into()))
            })
            .transpose()?
            .unwrap_or(0);
        let limit = limit.unwrap_or(1000).clamp(1, MAX_PAGE);
        let items = self.inner.store.done_items(id, after, limit).await?;
        let next = (items.len() as i64 == limit)
            .then(|| items.last().map(|i| i.seq.to_string()))
            .flatten();
        Ok(StatusCheck {
            id: job.id,
            state: job.state,
            method: job.method,
            done: job.done,
            total: job.total,
            results: items
                .into_iter()
                .map(|i| StatusResult {
                    user_id: i.user_id,
                    finding: i.finding.unwrap_or_default(),
                    action: i.action.unwrap_or_default(),
                })
                .collect(),
            next,
        })
    }

    /// `POST /v1/status-checks/{id}/cancel`
    pub async fn cancel_status_check(&self, tenant: &str, id: &str) -> Result<StatusCheck, PlatformError> {
        if self.inner.store.job(Some(tenant), id).await?.is_none() {
            return Err(PlatformError::NotFound {
                what: "status check",
                id: id.into(),
            });
        }
        self.inner.store.finish_job(id, "cancelled", Self::now()).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "status_check.cancel",
            Some(tenant),
            Some(id),
            "cancelled",
            json!({}),
        )
        .await?;
        self.status_check(tenant, id, None, Some(1)).await
    }

    /// `GET /v1/events?after=CURSOR`
    pub async fn events(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<EventPage, PlatformError> {
        let after = after
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<i64>()
                    .map_err(|_| PlatformError::Invalid("after: a cursor from `next`".into()))
            })
            .transpose()?
            .unwrap_or(0);
        let rows = self
            .inner
            .store
            .events(tenant, after, limit.unwrap_or(100).clamp(1, 1000))
            .await?;
        let next = rows.last().map_or(after, |r| r.seq).to_string();
        let events = rows
            .into_iter()
            .map(|r| {
                let data: serde_json::Value = serde_json::from_str(&r.data).unwrap_or_default();
                Event {
                    id: r.id,
                    kind: r.kind,
                    user_id: r.user_id,
                    at: rfc3339(r.at),
                    finding: data["finding"].as_str().unwrap_or_default().to_owned(),
                    action: data["action"].as_str().unwrap_or_default().to_owned(),
                    basic4: serde_json::from_value(data["basic4"].clone()).ok(),
                }
            })
            .collect();
        self.audit(
            Actor::Tenant(tenant.into()),
            "events.get",
            Some(tenant),
            None,
            "ok",
            json!({ "after": after }),
        )
        .await?;
        Ok(EventPage { events, next })
    }
}
