//! Metering and billing (計量・請求): every call the platform makes to the authority for a tenant,
//! the declaration of CRL-based status checks to the authority, and each tenant's monthly
//! statement priced like the authority's fees (seed 001) plus the platform's margin.
//!
//! ## Metering
//!
//! A call is one [`Meter`]: tenant, user (when known), the authority's [`Service`], hierarchy,
//! serial, what the authority answered ([`CallResult`], in the authority's words) and the
//! platform's time. Status checks write their meters in the transaction that stores the result
//! (`StatusRecord::meters`), so a crash never leaves a check billed without its result or the
//! other way round; flows and serial links write them as soon as the authority answered
//! ([`meter`], or [`Platform::meter`]). New authority calls are metered the same way:
//!
//! ```ignore
//! billing::meter(platform.store(), &[Meter::new(tenant, Service::Basic4, Some(h), Some(serial), CallResult::Found, at)]).await?;
//! ```
//!
//! Nothing is metered when the authority could not be reached or failed: it then recorded no
//! call either. Flows in CRL mode (`--revocation crl`) look the certificate up in the platform's
//! CRL copy and declare nothing: the authority's declaration service is for status checks
//! (現況確認), whose once-a-year rule would misprice a validity check at account opening; how J-LIS
//! bills a CRL-based check at opening is a question for the authority, left open here.
//!
//! ## CRL checks declared to the authority
//!
//! A status check by the CRL index costs the authority nothing to answer, so the platform declares
//! it (`POST /verifier/v1/crl-checks`); seed 001 counts a holder's CRL-based status checks once a
//! fiscal year. The meter row of a CRL check is its own outbox entry: `declared_at` stays empty
//! until the authority acknowledged it, and [`Platform::declare_crl_checks`] sends pending ones
//! oldest first, at most [`MAX_CRL_CHECKS`] per call, from the job that made them and from a
//! background retry loop. If the platform dies between the authority's answer and its own update,
//! those checks are declared again: the authority then counts them as `counted-this-year`
//! (0 yen) — the once-a-year rule makes a repeat harmless except across 1 April.
//!
//! ## Pricing
//!
//! A tenant's statement applies the authority's rules ([`bases`], the same table as the
//! authority's `fees.rs`) to **that tenant's calls alone**: a validity check is 20 yen (signing) or
//! 2 yen (auth), a counterpart 2 yen, a link or latest-4-attributes answer is free when the tenant
//! checked the same certificate the same JST day and otherwise billed as the check it needs, and a
//! CRL status check is billed the first time in a fiscal year (April–March, JST) per user and
//! hierarchy. What one tenant pays never depends on another tenant's calls — otherwise a statement
//! would tell a service provider that someone else checked its customer this year.
//!
//! The margin is `billing_margin_percent` of the platform's configuration, applied **per line**:
//! `margin_yen = floor(authority_amount_yen × percent / 100)` (切り捨て), so a tenant never pays a
//! rounded-up fraction, and `amount_yen = authority_amount_yen + margin_yen`.
//!
//! ## Reconciliation
//!
//! The authority bills the platform as one verifier: a holder checked by CRL by two tenants in
//! one year is billed once, and a link is free when *any* tenant checked that certificate that
//! day. [`Platform::reconcile`] replays every tenant's calls through the same rules the way the
//! authority sees them (CRL checks at the time they were declared; holders found by joining
//! serials and the tenants' users they belong to) and **attributes each yen to the tenant whose
//! call caused it** (the first check of a holder in the year carries the charge). The attributed
//! amounts add up to the predicted statement, which must equal the authority's, fetched from it.
//! What tenants pay beyond their attributed cost (shared holders) is shown as such.

use std::collections::{BTreeMap, HashMap, HashSet};

use honnin_profile::Hierarchy;
pub use honnin_proto::{BillingMonth, MAX_CRL_CHECKS};
use honnin_proto::{CrlCheck, CrlCheckResult, FeeBasis, Service, Statement, StatementLine};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::identity::{hierarchy_name, serial_text};
use crate::store::Store;
use crate::{ids, Platform, PlatformError};

use honnin_proto::fees::{bases, BillableCall};
pub use honnin_proto::fees::{
    fiscal_year_start, unit_price, CallResult, AUTH_VALIDITY_CHECK_YEN, COUNTERPART_YEN, SIGN_VALIDITY_CHECK_YEN,
};

/// How often pending CRL-check declarations are retried in the background.
const DECLARE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What a link lookup's answer means for billing; `None` when the authority recorded nothing
/// billable we could know of (unreachable, failed).
pub fn link_result<T>(
    answer: &Result<T, honnin_authority_client::ClientError>,
    found: impl Fn(&T) -> bool,
) -> Option<CallResult> {
    use honnin_authority_client::ClientError as E;
    match answer {
        Ok(v) if found(v) => Some(CallResult::Found),
        Ok(_) => Some(CallResult::None),
        Err(E::ConsentRequired { .. }) => Some(CallResult::ConsentRequired),
        Err(E::NotFound { .. }) => Some(CallResult::NotFound),
        Err(_) => None,
    }
}

/// One call to the authority made for a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meter {
    pub tenant: String,
    pub user: Option<String>,
    pub service: Service,
    pub hierarchy: Option<Hierarchy>,
    pub serial: Option<u64>,
    pub result: CallResult,
    pub at: OffsetDateTime,
}

impl Meter {
    pub fn new(
        tenant: &str,
        service: Service,
        hierarchy: Option<Hierarchy>,
        serial: Option<u64>,
        result: CallResult,
        at: OffsetDateTime,
    ) -> Self {
        Meter {
            tenant: tenant.to_owned(),
            user: None,
            service,
            hierarchy,
            serial,
            result,
            at,
        }
    }

    /// The tenant's user the call was about.
    pub fn for_user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }
}

/// Records calls on their own, in one transaction.
pub async fn meter(store: &Store, meters: &[Meter]) -> Result<(), PlatformError> {
    if meters.is_empty() {
        return Ok(());
    }
    let mut tx = store.pool().begin().await?;
    insert_meters(&mut tx, meters).await?;
    tx.commit().await?;
    Ok(())
}

/// Records calls inside a caller's transaction (with the result they produced).
pub(crate) async fn insert_meters<'m>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    meters: impl IntoIterator<Item = &'m Meter>,
) -> Result<(), PlatformError> {
    let meters: Vec<&Meter> = meters.into_iter().collect();
    // Multi-row INSERTs: a batch of a CRL job meters two checks per user, and one statement per
    // meter would cost more than the rest of the batch.
    for chunk in meters.chunks(METER_ROWS) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", crate::store::placeholders(i * 8 + 1, 8)))
            .collect();
        let sql = format!(
            "INSERT INTO billing_calls (id, tenant_id, user_id, at, service, hierarchy, serial, result) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q
                .bind(ids::new_id("bil")?)
                .bind(&m.tenant)
                .bind(&m.user)
                .bind(m.at.unix_timestamp())
                .bind(m.service.as_str())
                .bind(m.hierarchy.map(hierarchy_name))
                .bind(m.serial.map(serial_text))
                .bind(m.result.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Declared rows per UPDATE (3 parameters each).
const DECLARED_ROWS: usize = 1000;

/// Meters per multi-row INSERT (8 parameters each: well under either engine's limit).
const METER_ROWS: usize = 500;

// --- the rules -------------------------------------------------------------------------------

/// The platform's margin on a line: `floor(amount × percent / 100)` yen (切り捨て, per line).
pub fn margin_yen(authority_amount_yen: u64, percent: u32) -> u64 {
    let m = u128::from(authority_amount_yen) * u128::from(percent) / 100;
    u64::try_from(m).unwrap_or(u64::MAX)
}

/// The fiscal year (年度, named by the year it starts in) of an instant, in JST.
pub fn fiscal_year(at: OffsetDateTime) -> i32 {
    fiscal_year_start(BillingMonth::containing(at)).year()
}

/// A metered call as the rules see it; the caller is the tenant. `at` is when the authority saw it
/// (a CRL check: when it was declared, in the platform's view of the authority; its own time in a
/// tenant's view).
type Priced = BillableCall<String>;

/// Statement lines in the authority's order (service, then signing, auth, none, then basis), with
/// the calls of each line.
fn group<'a>(calls: &'a [Priced], bases: &[FeeBasis]) -> Vec<(StatementLine, Vec<&'a Priced>)> {
    let order = |h: Option<Hierarchy>| match h {
        Some(Hierarchy::Signing) => 0u8,
        Some(Hierarchy::Authentication) => 1,
        None => 2,
    };
    type Key = (Service, u8, FeeBasis);
    let mut groups: BTreeMap<Key, (Option<Hierarchy>, Vec<&Priced>)> = BTreeMap::new();
    for (call, basis) in calls.iter().zip(bases) {
        groups
            .entry((call.service, order(call.hierarchy), *basis))
            .or_insert((call.hierarchy, Vec::new()))
            .1
            .push(call);
    }
    groups
        .into_iter()
        .map(|((service, _, basis), (hierarchy, calls))| {
            let count = calls.len() as u64;
            let unit_price_yen = unit_price(basis, hierarchy);
            (
                StatementLine {
                    service,
                    hierarchy,
                    basis,
                    count,
                    unit_price_yen,
                    amount_yen: count.saturating_mul(unit_price_yen),
                },
                calls,
            )
        })
        .collect()
}

// --- statements ------------------------------------------------------------------------------

/// One line of a tenant's statement: the tenant's calls of one service and hierarchy billed on one
/// basis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantStatementLine {
    /// The authority's service: `ocsp`, `crl-check`, `previous`, `next`, `counterpart`, `basic4`, `age-check`, …
    pub service: String,
    /// `sign`, `auth`, or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<String>,
    /// `validity-check`, `counterpart`, `counted-this-year`, `covered-by-validity-check`, `no-check`, `free`.
    pub basis: String,
    pub count: u64,
    /// The authority's fee per call on this basis (seed 001).
    pub authority_unit_yen: u64,
    /// `count × authority_unit_yen`.
    pub authority_amount_yen: u64,
    /// The platform's margin on the line (rounded down).
    pub margin_yen: u64,
    /// `authority_amount_yen + margin_yen`.
    pub amount_yen: u64,
}

/// A tenant's monthly statement (JST month).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantStatement {
    pub tenant: String,
    /// `YYYY-MM`.
    pub month: String,
    /// RFC 3339: the month's first instant, 00:00 JST on the 1st.
    pub from: String,
    /// RFC 3339: the next month's first instant.
    pub to: String,
    pub margin_percent: u32,
    pub lines: Vec<TenantStatementLine>,
    pub authority_total_yen: u64,
    pub margin_total_yen: u64,
    pub total_yen: u64,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

impl TenantStatement {
    /// RFC 4180 CSV (CRLF): a header, one row per line, and a `total` row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "tenant,month,service,hierarchy,basis,count,authority_unit_yen,authority_amount_yen,margin_percent,margin_yen,amount_yen\r\n",
        );
        let t = csv_field(&self.tenant);
        for l in &self.lines {
            out.push_str(&format!(
                "{t},{},{},{},{},{},{},{},{},{},{}\r\n",
                self.month,
                l.service,
                l.hierarchy.as_deref().unwrap_or(""),
                l.basis,
                l.count,
                l.authority_unit_yen,
                l.authority_amount_yen,
                self.margin_percent,
                l.margin_yen,
                l.amount_yen
            ));
        }
        out.push_str(&format!(
            "{t},{},total,,,,,{},{},{},{}\r\n",
            self.month, self.authority_total_yen, self.margin_percent, self.margin_total_yen, self.total_yen
        ));
        out
    }
}

/// A tenant's share of the month in the reconciliation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantShare {
    pub tenant: String,
    /// The authority's charges this tenant's calls caused (the first check of a shared holder
    /// carries it).
    pub attributed_authority_yen: u64,
    /// The authority amounts of the tenant's own statement (its calls alone, by the same rules).
    pub billed_authority_yen: u64,
    pub margin_yen: u64,
    pub total_yen: u64,
}

/// A line where the platform's prediction and the authority's statement differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDifference {
    pub service: Service,
    #[serde(with = "honnin_proto::wire::optional_hierarchy")]
    pub hierarchy: Option<Hierarchy>,
    pub basis: FeeBasis,
    pub platform_count: u64,
    pub authority_count: u64,
    pub platform_yen: u64,
    pub authority_yen: u64,
}

/// The month seen from both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub month: BillingMonth,
    /// The authority's statement as the platform's meters predict it.
    pub platform: Vec<StatementLine>,
    pub platform_total_yen: u64,
    /// The statement the authority sent.
    pub authority: Statement,
    /// `authority.total_yen − platform_total_yen`.
    pub difference_yen: i64,
    pub line_differences: Vec<LineDifference>,
    /// Per tenant; the attributed amounts add up to `platform_total_yen`.
    pub tenants: Vec<TenantShare>,
    /// CRL checks the authority has not acknowledged yet (they are not in its statement).
    pub undeclared_crl_checks: u64,
    /// True when the totals agree to the yen and no line differs in amount.
    pub reconciled: bool,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn hierarchy_from(s: Option<String>) -> Result<Option<Hierarchy>, PlatformError> {
    match s.as_deref() {
        None => Ok(None),
        Some("sign") => Ok(Some(Hierarchy::Signing)),
        Some("auth") => Ok(Some(Hierarchy::Authentication)),
        Some(other) => Err(PlatformError::Corrupt(format!("billing call hierarchy {other:?}"))),
    }
}

/// A stored meter row.
struct MeterRow {
    id: String,
    tenant: String,
    user: Option<String>,
    at: OffsetDateTime,
    service: Service,
    hierarchy: Option<Hierarchy>,
    serial: Option<u64>,
    result: CallResult,
    declared_at: Option<OffsetDateTime>,
}

fn time_of(t: i64) -> Result<OffsetDateTime, PlatformError> {
    OffsetDateTime::from_unix_timestamp(t).map_err(|e| PlatformError::Corrupt(format!("billing call time: {e}")))
}

const ROW_COLUMNS: &str = "id, tenant_id, user_id, at, service, hierarchy, serial, \
                           COALESCE(declared_result, result) AS result, declared_at";

fn row(r: &sqlx::any::AnyRow) -> Result<MeterRow, PlatformError> {
    let bad = |what: &str| PlatformError::Corrupt(format!("billing call {what}"));
    Ok(MeterRow {
        id: r.try_get("id")?,
        tenant: r.try_get("tenant_id")?,
        user: r.try_get("user_id")?,
        at: time_of(r.try_get("at")?)?,
        service: Service::from_name(&r.try_get::<String, _>("service")?).ok_or_else(|| bad("service"))?,
        hierarchy: hierarchy_from(r.try_get("hierarchy")?)?,
        serial: r
            .try_get::<Option<String>, _>("serial")?
            .map(|s| u64::from_str_radix(&s, 16).map_err(|_| bad("serial")))
            .transpose()?,
        result: CallResult::from_name(&r.try_get::<String, _>("result")?).ok_or_else(|| bad("result"))?,
        declared_at: r.try_get::<Option<i64>, _>("declared_at")?.map(time_of).transpose()?,
    })
}

/// A tenant's holder key for the yearly CRL rule: the user, else the certificate.
fn tenant_holder(r: &MeterRow) -> Option<String> {
    match (&r.user, r.hierarchy, r.serial) {
        (Some(u), _, _) => Some(format!("u:{u}")),
        (None, Some(h), Some(s)) => Some(format!("s:{}:{s:x}", hierarchy_name(h))),
        _ => None,
    }
}

/// Disjoint sets of strings (users of tenants, certificates), for "the same holder".
#[derive(Default)]
struct Holders {
    parent: HashMap<String, String>,
}

impl Holders {
    fn find(&mut self, x: &str) -> String {
        let mut root = x.to_owned();
        while let Some(p) = self.parent.get(&root) {
            if *p == root {
                break;
            }
            root = p.clone();
        }
        // Path compression.
        let mut cur = x.to_owned();
        while cur != root {
            let next = self.parent.get(&cur).cloned().unwrap_or_else(|| root.clone());
            self.parent.insert(cur, root.clone());
            cur = next;
        }
        self.parent.entry(root.clone()).or_insert_with(|| root.clone());
        root
    }

    fn union(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }
}

fn user_node(tenant: &str, user: &str) -> String {
    format!("u:{tenant}:{user}")
}

fn serial_node(h: Hierarchy, serial: u64) -> String {
    format!("s:{}:{serial:x}", hierarchy_name(h))
}

impl Platform {
    /// Records calls on their own (see the module documentation).
    pub async fn meter(&self, meters: &[Meter]) -> Result<(), PlatformError> {
        meter(&self.inner.store, meters).await
    }

    /// Meters a revocation check when it was an OCSP call the authority answered.
    pub(crate) async fn meter_revocation(
        &self,
        tenant: &str,
        certificate: &honnin_verify::Validated,
        checked: &crate::revocation::Checked,
        at: OffsetDateTime,
    ) -> Result<(), PlatformError> {
        if let Some(m) = ocsp_meter(
            tenant,
            certificate.hierarchy(),
            certificate.certificate.info().serial.to_u64(),
            checked,
            at,
        ) {
            self.meter(&[m]).await?;
        }
        Ok(())
    }

    /// Meters a link lookup (previous, next, counterpart) the authority answered.
    pub(crate) async fn meter_link<T>(
        &self,
        tenant: &str,
        service: Service,
        h: Hierarchy,
        serial: u64,
        answer: &Result<T, honnin_authority_client::ClientError>,
        found: impl Fn(&T) -> bool,
    ) -> Result<(), PlatformError> {
        if let Some(result) = link_result(answer, found) {
            self.meter(&[Meter::new(
                tenant,
                service,
                Some(h),
                Some(serial),
                result,
                crate::clock::now(),
            )])
            .await?;
        }
        Ok(())
    }

    /// A tenant's statement for one JST month (see the module documentation for the rules).
    pub async fn tenant_statement(&self, tenant: &str, month: BillingMonth) -> Result<TenantStatement, PlatformError> {
        let store = &self.inner.store;
        if store.tenant_key_hash(tenant).await?.is_none() {
            return Err(PlatformError::NotFound {
                what: "tenant",
                id: tenant.into(),
            });
        }
        let (from, to) = month.bounds();
        let year_start = fiscal_year_start(month).start();
        let earlier = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM billing_calls WHERE tenant_id = $1 AND service = 'crl-check' \
             AND at >= $2 AND at < $3"
        ))
        .bind(tenant)
        .bind(year_start.unix_timestamp())
        .bind(from.unix_timestamp())
        .fetch_all(store.pool())
        .await?;
        let mut counted = HashSet::new();
        for r in &earlier {
            let r = row(r)?;
            if let (CallResult::Recorded, Some(holder), Some(h)) = (r.result, tenant_holder(&r), r.hierarchy) {
                counted.insert((holder, h));
            }
        }
        let rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM billing_calls WHERE tenant_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id"
        ))
        .bind(tenant)
        .bind(from.unix_timestamp())
        .bind(to.unix_timestamp())
        .fetch_all(store.pool())
        .await?;
        let calls = rows
            .iter()
            .map(|r| {
                let r = row(r)?;
                Ok(Priced {
                    at: r.at,
                    holder: tenant_holder(&r),
                    caller: r.tenant,
                    service: r.service,
                    hierarchy: r.hierarchy,
                    serial: r.serial,
                    result: r.result,
                })
            })
            .collect::<Result<Vec<_>, PlatformError>>()?;
        let bases = bases(&calls, counted);
        Ok(statement_of(
            tenant,
            month,
            self.inner.config.billing_margin_percent,
            group(&calls, &bases).into_iter().map(|(l, _)| l),
        ))
    }

    /// `GET /v1/billing/statements/{month}`: the tenant's own statement.
    pub async fn billing_statement(&self, tenant: &str, month: &str) -> Result<TenantStatement, PlatformError> {
        let month = BillingMonth::parse(month)
            .ok_or_else(|| PlatformError::Invalid(format!("{month:?} is not a month YYYY-MM")))?;
        let statement = self.tenant_statement(tenant, month).await?;
        self.audit(
            crate::audit::Actor::Tenant(tenant.into()),
            "billing.statement",
            Some(tenant),
            None,
            "ok",
            serde_json::json!({ "month": month.to_string(), "total_yen": statement.total_yen }),
        )
        .await?;
        Ok(statement)
    }

    /// The authority's statement for the platform as the meters predict it, each call with the
    /// tenant it is attributed to; and how many CRL checks are not declared yet.
    async fn authority_view(
        &self,
        month: BillingMonth,
    ) -> Result<(Vec<(StatementLine, Vec<Priced>)>, u64), PlatformError> {
        let store = &self.inner.store;
        let pool = store.pool();
        let (from, to) = month.bounds();
        let year_start = fiscal_year_start(month).start();
        // The year's declared CRL checks up to the month's end, in the order the authority got them.
        let crl_rows = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM billing_calls WHERE service = 'crl-check' \
             AND declared_at >= $1 AND declared_at < $2 ORDER BY declared_seq, at, id"
        ))
        .bind(year_start.unix_timestamp())
        .bind(to.unix_timestamp())
        .fetch_all(pool)
        .await?
        .iter()
        .map(row)
        .collect::<Result<Vec<_>, _>>()?;
        // Holders: a check joins its certificate and the tenant's user; a user joins every
        // certificate the platform knows of them (a renewal is the same holder to the authority).
        let mut holders = Holders::default();
        for r in &crl_rows {
            if let (Some(u), Some(h), Some(s)) = (&r.user, r.hierarchy, r.serial) {
                holders.union(&user_node(&r.tenant, u), &serial_node(h, s));
            }
        }
        let certs = sqlx::query(
            "SELECT uc.tenant_id, uc.user_id, uc.hierarchy, uc.serial FROM user_certificates uc WHERE EXISTS \
             (SELECT 1 FROM billing_calls b WHERE b.tenant_id = uc.tenant_id AND b.user_id = uc.user_id \
              AND b.service = 'crl-check' AND b.declared_at >= $1 AND b.declared_at < $2)",
        )
        .bind(year_start.unix_timestamp())
        .bind(to.unix_timestamp())
        .fetch_all(pool)
        .await?;
        for c in &certs {
            let (tenant, user): (String, String) = (c.try_get("tenant_id")?, c.try_get("user_id")?);
            let h = hierarchy_from(c.try_get("hierarchy")?)?;
            let serial = u64::from_str_radix(&c.try_get::<String, _>("serial")?, 16).ok();
            if let (Some(h), Some(s)) = (h, serial) {
                holders.union(&user_node(&tenant, &user), &serial_node(h, s));
            }
        }
        let mut counted = HashSet::new();
        let mut calls = Vec::new();
        // Only the CRL checks' order matters (the first of a holder is billed): theirs is the
        // authority's; the other calls follow.
        for r in crl_rows {
            let holder = match (r.hierarchy, r.serial) {
                (Some(h), Some(s)) => Some(holders.find(&serial_node(h, s))),
                _ => None,
            };
            let declared = r.declared_at.unwrap_or(r.at);
            if declared < from {
                if let (CallResult::Recorded, Some(holder), Some(h)) = (r.result, &holder, r.hierarchy) {
                    counted.insert((holder.clone(), h));
                }
                continue;
            }
            calls.push(Priced {
                at: declared,
                caller: r.tenant,
                service: r.service,
                hierarchy: r.hierarchy,
                serial: r.serial,
                result: r.result,
                holder,
            });
        }
        let others = sqlx::query(&format!(
            "SELECT {ROW_COLUMNS} FROM billing_calls WHERE service <> 'crl-check' AND at >= $1 AND at < $2"
        ))
        .bind(from.unix_timestamp())
        .bind(to.unix_timestamp())
        .fetch_all(pool)
        .await?;
        for r in &others {
            let r = row(r)?;
            calls.push(Priced {
                at: r.at,
                caller: r.tenant,
                service: r.service,
                hierarchy: r.hierarchy,
                serial: r.serial,
                result: r.result,
                holder: None,
            });
        }
        let bases = bases(&calls, counted);
        let lines = group(&calls, &bases)
            .into_iter()
            .map(|(l, cs)| (l, cs.into_iter().cloned().collect()))
            .collect();
        let undeclared: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM billing_calls WHERE service = 'crl-check' AND declared_at IS NULL AND at < $1",
        )
        .bind(to.unix_timestamp())
        .fetch_one(pool)
        .await?
        .try_get("n")?;
        Ok((lines, u64::try_from(undeclared).unwrap_or(0)))
    }

    /// The month seen from both sides: the authority's statement (fetched from it), the platform's
    /// prediction of it, the difference, and each tenant's attributed cost and bill.
    pub async fn reconcile(&self, month: BillingMonth) -> Result<Reconciliation, PlatformError> {
        let authority = self.inner.authority.statement(month).await?;
        let (view, undeclared) = self.authority_view(month).await?;
        let mut attributed: BTreeMap<String, u64> = BTreeMap::new();
        for (line, calls) in &view {
            for c in calls {
                *attributed.entry(c.caller.clone()).or_default() += line.unit_price_yen;
            }
        }
        let platform: Vec<StatementLine> = view.into_iter().map(|(l, _)| l).collect();
        let platform_total_yen: u64 = platform.iter().map(|l| l.amount_yen).sum();
        let key = |l: &StatementLine| (l.service, l.hierarchy.map(hierarchy_name), l.basis);
        let mut both: BTreeMap<_, (Option<&StatementLine>, Option<&StatementLine>)> = BTreeMap::new();
        for l in &platform {
            both.entry(key(l)).or_default().0 = Some(l);
        }
        for l in &authority.lines {
            both.entry(key(l)).or_default().1 = Some(l);
        }
        let line_differences: Vec<LineDifference> = both
            .into_values()
            .filter_map(|(p, a)| {
                let any = p.or(a)?;
                // CRL downloads and statements are free and not a tenant's: the platform does not
                // meter them, so their counts are no difference.
                if any.basis == FeeBasis::Free {
                    return None;
                }
                let d = LineDifference {
                    service: any.service,
                    hierarchy: any.hierarchy,
                    basis: any.basis,
                    platform_count: p.map_or(0, |l| l.count),
                    authority_count: a.map_or(0, |l| l.count),
                    platform_yen: p.map_or(0, |l| l.amount_yen),
                    authority_yen: a.map_or(0, |l| l.amount_yen),
                };
                (d.platform_count != d.authority_count || d.platform_yen != d.authority_yen).then_some(d)
            })
            .collect();
        let mut tenants = Vec::new();
        for (id, _, _) in self.inner.store.tenants().await? {
            let s = self.tenant_statement(&id, month).await?;
            let attributed_authority_yen = attributed.get(&id).copied().unwrap_or(0);
            if s.lines.is_empty() && attributed_authority_yen == 0 {
                continue;
            }
            tenants.push(TenantShare {
                tenant: id,
                attributed_authority_yen,
                billed_authority_yen: s.authority_total_yen,
                margin_yen: s.margin_total_yen,
                total_yen: s.total_yen,
            });
        }
        let difference_yen = authority.total_yen as i64 - platform_total_yen as i64;
        let reconciled = difference_yen == 0 && line_differences.iter().all(|d| d.platform_yen == d.authority_yen);
        Ok(Reconciliation {
            month,
            platform,
            platform_total_yen,
            authority,
            difference_yen,
            line_differences,
            tenants,
            undeclared_crl_checks: undeclared,
            reconciled,
        })
    }

    /// Declares pending CRL checks to the authority, oldest first, [`MAX_CRL_CHECKS`] at a time;
    /// returns how many were declared. One declarer at a time in this process.
    pub async fn declare_crl_checks(&self) -> Result<u64, PlatformError> {
        static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = ONE.lock().await;
        let pool = self.inner.store.pool();
        let mut declared = 0u64;
        // Within one call, each round starts after the last row the previous one took: even
        // through the partial index, the rows just declared leave dead entries (PostgreSQL) that a
        // scan from the start would step over again. A row committed later with an earlier `at`
        // (a job's transaction still open) is taken by the next call, which starts from the start.
        let mut after: Option<(i64, String)> = None;
        loop {
            let select = format!(
                "SELECT {ROW_COLUMNS} FROM billing_calls WHERE service = 'crl-check' AND declared_at IS NULL {} \
                 ORDER BY at, id LIMIT {MAX_CRL_CHECKS}",
                if after.is_some() { "AND (at, id) > ($1, $2)" } else { "" }
            );
            let mut query = sqlx::query(&select);
            if let Some((at, id)) = &after {
                query = query.bind(*at).bind(id.as_str());
            }
            let pending = query
                .fetch_all(pool)
                .await?
                .iter()
                .map(row)
                .collect::<Result<Vec<_>, _>>()?;
            let Some(last) = pending.last() else {
                return Ok(declared);
            };
            after = Some((last.at.unix_timestamp(), last.id.clone()));
            let mut ids = Vec::with_capacity(pending.len());
            let mut checks = Vec::with_capacity(pending.len());
            for r in &pending {
                match (r.hierarchy, r.serial) {
                    (Some(hierarchy), Some(serial)) => {
                        ids.push(r.id.as_str());
                        checks.push(CrlCheck { hierarchy, serial });
                    }
                    // Nothing to declare: close it so it does not block the outbox.
                    _ => {
                        sqlx::query(
                            "UPDATE billing_calls SET declared_at = $1, declared_result = 'not-found' WHERE id = $2",
                        )
                        .bind(crate::clock::now().unix_timestamp())
                        .bind(&r.id)
                        .execute(pool)
                        .await?;
                    }
                }
            }
            if checks.is_empty() {
                continue;
            }
            let answer = self.inner.authority.crl_checks(&checks).await?;
            if answer.len() != checks.len() {
                return Err(PlatformError::Corrupt(format!(
                    "the authority answered {} of {} CRL checks",
                    answer.len(),
                    checks.len()
                )));
            }
            let now = crate::clock::now().unix_timestamp();
            let mut tx = pool.begin().await?;
            let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
            let last: i64 =
                sqlx::query("UPDATE counters SET value = value + $1 WHERE name = 'crl_declarations' RETURNING value")
                    .bind(n)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("value")?;
            // One UPDATE per chunk, the seq and answer of each row given in a VALUES list (both
            // engines name its columns column1…): per-row statements cost more than the declaring.
            let rows: Vec<(&str, i64, &str)> = (last - n + 1..)
                .zip(ids.iter().zip(&answer))
                .map(|(seq, (id, outcome))| {
                    let result = match outcome.result {
                        CrlCheckResult::Recorded => CallResult::Recorded,
                        CrlCheckResult::NotFound => CallResult::NotFound,
                    };
                    (*id, seq, result.as_str())
                })
                .collect();
            for chunk in rows.chunks(DECLARED_ROWS) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| format!("({})", crate::store::placeholders(i * 3 + 2, 3)))
                    .collect();
                let sql = format!(
                    "UPDATE billing_calls SET declared_at = $1, declared_seq = v.column2, declared_result = v.column3 \
                     FROM (VALUES {}) AS v WHERE billing_calls.id = v.column1 AND billing_calls.declared_at IS NULL",
                    values.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(now);
                for (id, seq, result) in chunk {
                    q = q.bind(*id).bind(*seq).bind(*result);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            declared += checks.len() as u64;
        }
    }

    /// Declares pending CRL checks now and then, so an unreachable authority only delays them.
    pub fn spawn_crl_declarer(&self) -> tokio::task::JoinHandle<()> {
        let platform = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = platform.declare_crl_checks().await {
                    tracing::warn!(error = %e, "declaring CRL checks to the authority failed; retrying later");
                }
                tokio::time::sleep(DECLARE_EVERY).await;
            }
        })
    }
}

/// The meter of an OCSP check the authority answered (none for an unreachable responder, nor for a
/// flow's CRL lookup, which is not declared: see the module documentation). An answer the platform
/// could not verify is metered `unknown` (0 yen) even if the authority recorded it as good or
/// revoked: reconciliation then shows the difference.
pub(crate) fn ocsp_meter(
    tenant: &str,
    h: Hierarchy,
    serial: Option<u64>,
    checked: &crate::revocation::Checked,
    at: OffsetDateTime,
) -> Option<Meter> {
    use honnin_verify::RevocationStatus as S;
    if checked.source != "ocsp" || checked.proof.is_none() {
        return None;
    }
    let result = match checked.status {
        S::Good { .. } => CallResult::Good,
        S::Revoked { .. } => CallResult::Revoked,
        S::Unknown { .. } => CallResult::Unknown,
    };
    Some(Meter::new(tenant, Service::Ocsp, Some(h), serial, result, at))
}

fn statement_of(
    tenant: &str,
    month: BillingMonth,
    margin_percent: u32,
    lines: impl Iterator<Item = StatementLine>,
) -> TenantStatement {
    let lines: Vec<TenantStatementLine> = lines
        .map(|l| {
            let margin = margin_yen(l.amount_yen, margin_percent);
            TenantStatementLine {
                service: l.service.as_str().to_owned(),
                hierarchy: l.hierarchy.map(|h| hierarchy_name(h).to_owned()),
                basis: l.basis.as_str().to_owned(),
                count: l.count,
                authority_unit_yen: l.unit_price_yen,
                authority_amount_yen: l.amount_yen,
                margin_yen: margin,
                amount_yen: l.amount_yen.saturating_add(margin),
            }
        })
        .collect();
    let (from, to) = month.bounds();
    TenantStatement {
        tenant: tenant.to_owned(),
        month: month.to_string(),
        from: rfc3339(from),
        to: rfc3339(to),
        margin_percent,
        authority_total_yen: lines.iter().map(|l| l.authority_amount_yen).sum(),
        margin_total_yen: lines.iter().map(|l| l.margin_yen).sum(),
        total_yen: lines.iter().map(|l| l.amount_yen).sum(),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use CallResult as R;
    use Hierarchy::{Authentication as AUTH, Signing as SIGN};

    fn call(at: OffsetDateTime, service: Service, h: Hierarchy, serial: u64, result: R, holder: &str) -> Priced {
        Priced {
            at,
            caller: "t".into(),
            service,
            hierarchy: Some(h),
            serial: Some(serial),
            result,
            holder: Some(holder.into()),
        }
    }

    #[test]
    fn margin_is_per_line_and_rounded_down() {
        assert_eq!(margin_yen(0, 10), 0);
        assert_eq!(margin_yen(20, 10), 2);
        assert_eq!(margin_yen(2, 10), 0, "0.2 yen rounds down");
        assert_eq!(margin_yen(19, 10), 1, "1.9 yen rounds down");
        assert_eq!(margin_yen(46, 15), 6, "6.9 yen rounds down");
        assert_eq!(margin_yen(100, 0), 0);
        assert_eq!(margin_yen(u64::MAX, 200), u64::MAX, "saturates instead of overflowing");
        // Per line, not on the total: 2 + 2 lines of 2 yen at 50% are 1 + 1, the same as 4 at 50%,
        // but 3 lines of 1 yen at 50% are 0, where the total would give 1.
        let s = statement_of(
            "t",
            BillingMonth::new(2027, 3).unwrap(),
            50,
            [1u64, 1, 1].into_iter().map(|amount| StatementLine {
                service: Service::Counterpart,
                hierarchy: None,
                basis: FeeBasis::Counterpart,
                count: 1,
                unit_price_yen: amount,
                amount_yen: amount,
            }),
        );
        assert_eq!((s.authority_total_yen, s.margin_total_yen, s.total_yen), (3, 0, 3));
    }

    #[test]
    fn fiscal_year_turns_at_midnight_jst_on_1_april() {
        assert_eq!(fiscal_year(datetime!(2027-03-31 23:59:59 +09:00)), 2026);
        assert_eq!(fiscal_year(datetime!(2027-04-01 00:00:00 +09:00)), 2027);
        // 1 April 00:00 JST is still 31 March in UTC.
        assert_eq!(fiscal_year(datetime!(2027-03-31 15:00:00 UTC)), 2027);
        assert_eq!(fiscal_year(datetime!(2027-03-31 14:59:59 UTC)), 2026);
        assert_eq!(fiscal_year(datetime!(2027-01-15 12:00:00 +09:00)), 2026);
        assert_eq!(fiscal_year(datetime!(2026-12-31 23:59:59 +09:00)), 2026);
        assert_eq!(
            fiscal_year_start(BillingMonth::new(2027, 3).unwrap()),
            BillingMonth::new(2026, 4).unwrap()
        );
        assert_eq!(
            fiscal_year_start(BillingMonth::new(2027, 4).unwrap()),
            BillingMonth::new(2027, 4).unwrap()
        );
    }

    #[test]
    fn seed_001_prices() {
        assert_eq!(unit_price(FeeBasis::ValidityCheck, Some(SIGN)), 20);
        assert_eq!(unit_price(FeeBasis::ValidityCheck, Some(AUTH)), 2);
        assert_eq!(unit_price(FeeBasis::Counterpart, Some(SIGN)), 2);
        assert_eq!(unit_price(FeeBasis::Counterpart, Some(AUTH)), 2);
        for free in [
            FeeBasis::CountedThisYear,
            FeeBasis::CoveredByValidityCheck,
            FeeBasis::NoCheck,
            FeeBasis::Free,
        ] {
            assert_eq!(unit_price(free, Some(SIGN)), 0);
        }
    }

    #[test]
    fn crl_checks_count_once_per_holder_and_hierarchy() {
        let t = datetime!(2027-03-10 12:00:00 +09:00);
        let calls = [
            call(t, Service::CrlCheck, SIGN, 1, R::Recorded, "a"),
            call(t, Service::CrlCheck, AUTH, 2, R::Recorded, "a"),
            call(t, Service::CrlCheck, SIGN, 1, R::Recorded, "a"),
            // A renewed certificate of the same holder.
            call(t, Service::CrlCheck, SIGN, 3, R::Recorded, "a"),
            call(t, Service::CrlCheck, SIGN, 4, R::Recorded, "b"),
            call(t, Service::CrlCheck, SIGN, 5, R::NotFound, "c"),
        ];
        let b = bases(&calls, HashSet::new());
        use FeeBasis::*;
        assert_eq!(
            b,
            [
                ValidityCheck,
                ValidityCheck,
                CountedThisYear,
                CountedThisYear,
                ValidityCheck,
                NoCheck
            ]
        );
        // Already counted earlier in the fiscal year: nothing more.
        let counted = HashSet::from([("a".to_owned(), SIGN)]);
        assert_eq!(bases(&calls[..1], counted), [CountedThisYear]);
    }

    #[test]
    fn links_are_covered_by_a_check_of_the_same_certificate_the_same_jst_day() {
        let day = datetime!(2027-03-10 09:00:00 +09:00);
        let calls = [
            call(day, Service::Ocsp, AUTH, 7, R::Good, "a"),
            call(day, Service::Previous, AUTH, 7, R::None, "a"),
            // Another certificate: billed as the check it needs.
            call(day, Service::Previous, AUTH, 8, R::Found, "a"),
            // The next JST day: not covered.
            call(
                datetime!(2027-03-11 00:00:00 +09:00),
                Service::Previous,
                AUTH,
                7,
                R::None,
                "a",
            ),
            call(day, Service::Counterpart, AUTH, 7, R::Found, "a"),
            call(day, Service::Previous, SIGN, 9, R::ConsentRequired, "a"),
        ];
        use FeeBasis::*;
        assert_eq!(
            bases(&calls, HashSet::new()),
            [
                ValidityCheck,
                CoveredByValidityCheck,
                ValidityCheck,
                ValidityCheck,
                Counterpart,
                NoCheck
            ]
        );
    }

    #[test]
    fn csv_has_a_total_row() {
        let s = statement_of(
            "tnt_1",
            BillingMonth::new(2027, 3).unwrap(),
            10,
            std::iter::once(StatementLine {
                service: Service::Ocsp,
                hierarchy: Some(SIGN),
                basis: FeeBasis::ValidityCheck,
                count: 3,
                unit_price_yen: 20,
                amount_yen: 60,
            }),
        );
        assert_eq!(
            s.to_csv(),
            "tenant,month,service,hierarchy,basis,count,authority_unit_yen,authority_amount_yen,margin_percent,margin_yen,amount_yen\r\n\
             tnt_1,2027-03,ocsp,sign,validity-check,3,20,60,10,6,66\r\n\
             tnt_1,2027-03,total,,,,,60,10,6,66\r\n"
        );
    }

    #[test]
    fn holders_join_users_and_certificates() {
        let mut h = Holders::default();
        h.union("u:A:1", "s:sign:1");
        h.union("u:B:9", "s:sign:1");
        h.union("u:B:9", "s:sign:2");
        assert_eq!(h.find("s:sign:2"), h.find("u:A:1"));
        assert_ne!(h.find("s:sign:3"), h.find("u:A:1"));
    }
}
