//! The fees registered verifiers pay (情報提供手数料), and their monthly statement.
//!
//! Seed 001 (総務省, 平成30年2月, 「公的個人認証サービスにおける民間署名等検証者の情報提供手数料の設定について」)
//! sets them; in its words:
//!
//! - 「**署名用電子証明書**の有効性確認を行った件数 × **20円**」, 「**利用者証明用電子証明書**の有効性確認を
//!   行った件数 × **2円**」 — per validity check (有効性確認) and hierarchy, metered 「…失効情報の集合物を
//!   提供する方法」又は「即時に応答する方法」の別を問わず (【注2】): by CRL or by OCSP alike.
//! - 「**現況確認のための有効性確認**は、利用者毎に年間2件以上であっても、**1件とみなす**。(CRLを利用する場合で、
//!   かつ、現況確認のために行う確認であることが認識できるものとして機構が認めるものに限る。)」
//! - ※1 「対応証明書の発行の番号の提供は、利用者証明用電子証明書と同様に、2円/件。」
//! - ※2 「新旧シリアル番号の紐付けサービス」及び「年齢判定機能」は 「当該機能を使用する前提として電子証明書の
//!   有効性確認の実施が必須となることから、手数料としては有効性確認のための情報提供手数料のみを徴収し、当該機能の
//!   使用料等を名目とした追加の徴収は行わない。」
//!
//! ## What each recorded call costs
//!
//! Every call in `verifier_calls` falls in exactly one line of its month's statement, by service,
//! hierarchy and [`FeeBasis`]:
//!
//! | Call (service: result) | Basis | Yen |
//! |---|---|---|
//! | `ocsp`: good, revoked — per certificate of the request | validity-check | sign 20, auth 2 |
//! | `ocsp`: unknown, unauthorized, malformed, error | no-check | 0 |
//! | `crl`: sent, not-modified — a download checks no one | free | 0 |
//! | `crl-check`: recorded, the holder's first in the fiscal year for this hierarchy | validity-check | sign 20, auth 2 |
//! | `crl-check`: recorded, the holder already counted this fiscal year for this hierarchy | counted-this-year | 0 |
//! | `crl-check`: not-found | no-check | 0 |
//! | `age-check`: valid, invalid — the check answers the validity itself | validity-check | sign 20, auth 2 |
//! | `age-check`: unknown (not a certificate of this authority) | no-check | 0 |
//! | `previous`, `next`, `basic4`: answered, with a validity check of the same certificate the same JST day | covered-by-validity-check | 0 |
//! | `previous`, `next`, `basic4`: answered, without one | validity-check | sign 20, auth 2 |
//! | `previous`, `next`, `basic4`, `counterpart`: consent-required, not-found | no-check | 0 |
//! | `counterpart`: answered (found or none) | counterpart | 2, either hierarchy |
//! | `consent`, `statement` | free | 0 |
//!
//! Decisions the seed leaves open, and how they are made here:
//!
//! - *What counts as a check.* An answer about a certificate this authority issued: OCSP good or
//!   revoked, an age check's valid or invalid. An OCSP `unknown`, a serial never issued, a refused
//!   or failed call checked nothing and costs nothing.
//! - *Linking (and the latest 4 attributes) "only as the validity check they require".* Here the
//!   link routes do not answer a status, so the required check is normally the OCSP (or declared
//!   CRL) check the verifier makes of the same certificate; that one is billed, and the link is free
//!   ※2. A link asked without any check of that certificate the same JST day is billed as the check
//!   it requires, so linking is never free of the check and never billed twice. The latest 4
//!   attributes (§1.5 of the reference: "identity verification, … then a status check, then a
//!   consent lookup") are a later service seed 001 does not price; they follow the same rule.
//! - *The counterpart* is its own fee (※1): 2 yen per answer, whichever certificate was asked about.
//! - *CRL-based checks* cost nothing to download; the platform declares each check it made against
//!   its copy (`POST /verifier/v1/crl-checks`), and that declaration is what the authority
//!   「認識できる」. "利用者毎" is the holder, found from the serial, so the checks of a holder's old
//!   and renewed certificates count once; the fee lines are per hierarchy, so the rule counts once
//!   per holder *and hierarchy*. "年間" is J-LIS's fiscal year (年度, 1 April – 31 March, JST): the
//!   first declared check of a holder in a fiscal year is billed in its month, later ones that
//!   year are `counted-this-year`. OCSP checks are never merged: the seed's rule is for CRLs only.
//! - *Months* are JST calendar months (the authority's business calendar); amounts are exact
//!   integer yen.
//!
//! One consequence to know: a statement aggregates, so a verifier that declares two CRL checks in
//! an otherwise empty year can tell from the count billed whether the two serials have one holder.
//! The `crl-checks` answer itself never says.

use std::collections::{BTreeMap, HashSet};

use honnin_profile::Hierarchy;
use honnin_proto::{
    BillingMonth, CrlCheck, CrlCheckOutcome, CrlCheckResult, FeeBasis, Statement, StatementLine, MAX_CRL_CHECKS,
};
use sqlx::Row;
use time::OffsetDateTime;

use crate::store::hierarchy_from_db;
use crate::verifiers::{db_serial, time_from_db, CallResult, NewCall, VerifierService};
use crate::{Authority, AuthorityError};

use honnin_proto::fees::{bases, BillableCall};
pub use honnin_proto::fees::{
    fiscal_year_start, unit_price, AUTH_VALIDITY_CHECK_YEN, COUNTERPART_YEN, SIGN_VALIDITY_CHECK_YEN,
};

/// Statement lines (ordered by service, then signing, auth, none, then basis) and the total.
fn lines(calls: &[BillableCall], bases: &[FeeBasis]) -> Result<(Vec<StatementLine>, u64), AuthorityError> {
    let order = |h: Option<Hierarchy>| match h {
        Some(Hierarchy::Signing) => 0u8,
        Some(Hierarchy::Authentication) => 1,
        None => 2,
    };
    let mut counts: BTreeMap<(VerifierService, u8, FeeBasis), (Option<Hierarchy>, u64)> = BTreeMap::new();
    for (call, basis) in calls.iter().zip(bases) {
        counts
            .entry((call.service, order(call.hierarchy), *basis))
            .or_insert((call.hierarchy, 0))
            .1 += 1;
    }
    let overflow = || AuthorityError::Corrupt {
        dir: String::new(),
        why: "a statement amount overflows".into(),
    };
    let mut total = 0u64;
    let mut out = Vec::with_capacity(counts.len());
    for ((service, _, basis), (hierarchy, count)) in counts {
        let unit_price_yen = unit_price(basis, hierarchy);
        let amount_yen = count.checked_mul(unit_price_yen).ok_or_else(overflow)?;
        total = total.checked_add(amount_yen).ok_or_else(overflow)?;
        out.push(StatementLine {
            service,
            hierarchy,
            basis,
            count,
            unit_price_yen,
            amount_yen,
        });
    }
    Ok((out, total))
}

impl Authority {
    /// Records CRL-based status checks the verifier declares it made against its copy of a CRL, one
    /// call per check, all or none; answers each check in order. A serial this authority never
    /// issued in that hierarchy is recorded as not found (and not billed). What is billed is the
    /// statement's business: a holder counts once a fiscal year per hierarchy (see the module).
    pub async fn record_crl_checks(
        &self,
        verifier: &str,
        checks: &[CrlCheck],
        now: OffsetDateTime,
    ) -> Result<Vec<CrlCheckOutcome>, AuthorityError> {
        if checks.is_empty() || checks.len() > MAX_CRL_CHECKS {
            return Err(AuthorityError::BadInput(format!(
                "declare 1 to {MAX_CRL_CHECKS} CRL checks at a time"
            )));
        }
        let issued = self.issued(checks).await?;
        let mut outcomes = Vec::with_capacity(checks.len());
        let mut calls = Vec::with_capacity(checks.len());
        for check in checks {
            let known = issued.contains(&(check.hierarchy.short(), check.serial));
            let result = if known {
                CallResult::Recorded
            } else {
                CallResult::NotFound
            };
            calls.push(NewCall {
                service: VerifierService::CrlCheck,
                hierarchy: Some(check.hierarchy),
                serial: Some(check.serial),
                linked_serial: None,
                result,
            });
            outcomes.push(CrlCheckOutcome {
                hierarchy: check.hierarchy,
                serial: check.serial,
                result: if known {
                    CrlCheckResult::Recorded
                } else {
                    CrlCheckResult::NotFound
                },
            });
        }
        self.record_calls(verifier, &calls, now).await?;
        Ok(outcomes)
    }

    /// Which of the checks' certificates this authority issued, as (hierarchy, serial): one query
    /// for a whole declaration rather than one per check (a platform declares thousands at a time).
    async fn issued(&self, checks: &[CrlCheck]) -> Result<HashSet<(&'static str, u64)>, AuthorityError> {
        let mut issued = HashSet::new();
        let serials: Vec<i64> = checks.iter().filter_map(|c| i64::try_from(c.serial).ok()).collect();
        for chunk in serials.chunks(1000) {
            let sql = format!(
                "SELECT serial, hierarchy FROM certificates WHERE serial IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q.bind(*s);
            }
            for row in q.fetch_all(self.pool()).await? {
                let h = hierarchy_from_db(&row.try_get::<String, _>(1)?)?;
                issued.insert((h.short(), u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or_default()));
            }
        }
        Ok(issued)
    }

    /// The statement of `verifier` for one JST month: each recorded call of the month in one line
    /// by service, hierarchy and basis, with its unit price and amount, and the total in yen (the
    /// rules are in this module's documentation).
    pub async fn statement(&self, verifier: &str, month: BillingMonth) -> Result<Statement, AuthorityError> {
        self.verifier(verifier).await?;
        let (from, to) = month.bounds();
        let year_start = fiscal_year_start(month).start();
        let counted: HashSet<(String, Hierarchy)> = sqlx::query(
            "SELECT DISTINCT c.resident_id, vc.hierarchy FROM verifier_calls vc
             JOIN certificates c ON c.serial = vc.serial AND c.hierarchy = vc.hierarchy
             WHERE vc.verifier_id = ? AND vc.service = 'crl-check' AND vc.result = 'recorded'
               AND vc.at >= ? AND vc.at < ?",
        )
        .bind(verifier)
        .bind(year_start.unix_timestamp())
        .bind(from.unix_timestamp())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, hierarchy_from_db(&row.try_get::<String, _>(1)?)?)))
        .collect::<Result<_, AuthorityError>>()?;
        let rows = sqlx::query(
            "SELECT vc.at, vc.service, vc.hierarchy, vc.serial, vc.result, c.resident_id FROM verifier_calls vc
             LEFT JOIN certificates c ON c.serial = vc.serial AND c.hierarchy = vc.hierarchy
             WHERE vc.verifier_id = ? AND vc.at >= ? AND vc.at < ? ORDER BY vc.id",
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
        let calls = rows
            .iter()
            .map(|row| {
                Ok(BillableCall {
                    at: time_from_db(row.try_get(0)?)?,
                    service: VerifierService::from_name(&row.try_get::<String, _>(1)?).ok_or_else(|| bad("service"))?,
                    hierarchy: row
                        .try_get::<Option<String>, _>(2)?
                        .as_deref()
                        .map(hierarchy_from_db)
                        .transpose()?,
                    serial: db_serial(row.try_get(3)?),
                    result: CallResult::from_name(&row.try_get::<String, _>(4)?).ok_or_else(|| bad("result"))?,
                    holder: row.try_get(5)?,
                    caller: (),
                })
            })
            .collect::<Result<Vec<_>, AuthorityError>>()?;
        let (lines, total_yen) = lines(&calls, &bases(&calls, counted))?;
        Ok(Statement {
            verifier: verifier.to_owned(),
            month,
            from,
            to,
            lines,
            total_yen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use CallResult as R;
    use Hierarchy::{Authentication as AUTH, Signing as SIGN};
    use VerifierService as S;

    fn call(at: OffsetDateTime, service: S, h: Option<Hierarchy>, serial: u64, result: R) -> BillableCall {
        BillableCall {
            at,
            service,
            hierarchy: h,
            serial: Some(serial),
            result,
            holder: Some(format!("holder-of-{serial}")),
            caller: (),
        }
    }

    #[test]
    fn fiscal_years_start_in_april() {
        let m = |s: &str| BillingMonth::parse(s).expect("month");
        assert_eq!(fiscal_year_start(m("2026-04")), m("2026-04"));
        assert_eq!(fiscal_year_start(m("2027-03")), m("2026-04"));
        assert_eq!(fiscal_year_start(m("2026-12")), m("2026-04"));
        assert_eq!(fiscal_year_start(m("2027-01")), m("2026-04"));
    }

    #[test]
    fn each_call_has_the_basis_the_table_gives() {
        let day = datetime!(2026-05-10 10:00 +09:00);
        let next_day = datetime!(2026-05-11 00:00 +09:00);
        let calls = vec![
            call(day, S::Ocsp, Some(SIGN), 1, R::Good),
            call(day, S::Ocsp, Some(AUTH), 2, R::Revoked),
            call(day, S::Ocsp, Some(AUTH), 3, R::Unknown),
            BillableCall {
                hierarchy: None,
                serial: None,
                ..call(day, S::Ocsp, None, 0, R::Malformed)
            },
            BillableCall {
                serial: None,
                ..call(day, S::Crl, Some(SIGN), 0, R::Sent)
            },
            // Linking: covered by the OCSP check of serial 1 that day, billed the next day.
            call(day, S::Next, Some(SIGN), 1, R::Found),
            call(next_day, S::Next, Some(SIGN), 1, R::None),
            call(day, S::Previous, Some(AUTH), 9, R::ConsentRequired),
            call(day, S::Counterpart, Some(SIGN), 1, R::Found),
            call(day, S::Counterpart, Some(AUTH), 2, R::NotFound),
            call(day, S::AgeCheck, Some(AUTH), 4, R::Invalid),
            call(day, S::AgeCheck, Some(SIGN), 5, R::Unknown),
            // Basic 4 covered by the age check of serial 4 that day.
            call(day, S::Basic4, Some(AUTH), 4, R::Found),
            call(day, S::Basic4, Some(AUTH), 6, R::Deceased),
            call(day, S::CrlCheck, Some(SIGN), 7, R::Recorded),
            call(day, S::CrlCheck, Some(SIGN), 7, R::Recorded),
            call(day, S::CrlCheck, Some(AUTH), 7, R::NotFound),
            BillableCall {
                holder: Some("holder-of-8".into()),
                ..call(day, S::CrlCheck, Some(SIGN), 8, R::Recorded)
            },
            BillableCall {
                hierarchy: None,
                serial: None,
                ..call(day, S::Statement, None, 0, R::Sent)
            },
        ];
        // Holder 8 was counted earlier in the fiscal year.
        let counted = HashSet::from([("holder-of-8".to_owned(), SIGN)]);
        use FeeBasis as B;
        assert_eq!(
            bases(&calls, counted),
            vec![
                B::ValidityCheck,
                B::ValidityCheck,
                B::NoCheck,
                B::NoCheck,
                B::Free,
                B::CoveredByValidityCheck,
                B::ValidityCheck,
                B::NoCheck,
                B::Counterpart,
                B::NoCheck,
                B::ValidityCheck,
                B::NoCheck,
                B::CoveredByValidityCheck,
                B::ValidityCheck,
                B::ValidityCheck,
                B::CountedThisYear,
                B::NoCheck,
                B::CountedThisYear,
                B::Free,
            ]
        );
    }

    #[test]
    fn lines_group_calls_and_add_up_in_whole_yen() {
        let day = datetime!(2026-05-10 10:00 +09:00);
        let calls = vec![
            call(day, S::Ocsp, Some(AUTH), 2, R::Good),
            call(day, S::Ocsp, Some(SIGN), 1, R::Good),
            call(day, S::Ocsp, Some(SIGN), 1, R::Revoked),
            call(day, S::Counterpart, Some(SIGN), 1, R::Found),
            call(day, S::Ocsp, Some(AUTH), 3, R::Unknown),
        ];
        let (lines, total) = lines(&calls, &bases(&calls, HashSet::new())).expect("lines");
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.service, l.hierarchy, l.basis, l.count, l.unit_price_yen, l.amount_yen))
            .collect();
        assert_eq!(
            got,
            vec![
                (S::Ocsp, Some(SIGN), FeeBasis::ValidityCheck, 2, 20, 40),
                (S::Ocsp, Some(AUTH), FeeBasis::ValidityCheck, 1, 2, 2),
                (S::Ocsp, Some(AUTH), FeeBasis::NoCheck, 1, 0, 0),
                (S::Counterpart, Some(SIGN), FeeBasis::Counterpart, 1, 2, 2),
            ]
        );
        assert_eq!(total, 44);
    }
}
