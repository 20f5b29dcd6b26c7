//! Metering and billing end to end (issue 6): a scripted month of account openings, logins, a
//! renewal resolved through the authority's serial links and CRL status checks by two tenants,
//! played on a sandbox clock shared by the authority and the platform; `honnin platform bill`
//! (JSON, CSV, the tenant's API) must equal the fees table of seed 001 to the yen with the margin,
//! CRL checks count once per holder a fiscal year and again after 1 April, declarations survive an
//! unreachable authority, and the tenants' attributed costs reconcile with the authority's own
//! statement. Against SQLite and PostgreSQL.

mod common;
mod platform_kit;

use std::time::{Duration, Instant};

use platform_kit::{honnin, honnin_ok, Db, Holder, Sandbox, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// In fiscal year 2026 (April 2026 – March 2027), on one JST day.
const MARCH: &str = "2027-03-10T12:00:00+09:00";
/// Fiscal year 2027.
const APRIL: &str = "2027-04-01T09:00:00+09:00";

/// Restarts the authority (on its port: the platform's configuration names it) and the platform
/// on a sandbox clock that starts at `now`.
fn restart_at(s: &mut Sandbox, now: &str) {
    let listen = s.authority.base.trim_start_matches("http://").to_owned();
    s.authority.stop();
    s.platform.stop();
    let a = s.authority_dir();
    s.authority = Server::start(&["authority", "--now", now, "serve", "--data", &a, "--listen", &listen]);
    start_platform(s, now);
}

/// `start` plus the time elapsed since `since`: where a sandbox clock started then is now (the
/// authority must come back on the platform's clock, or OCSP answers look like they come from the
/// future).
fn same_clock(start: &str, since: Instant) -> String {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let start = time::OffsetDateTime::parse(start, rfc3339).unwrap();
    (start + since.elapsed()).format(rfc3339).unwrap()
}

fn start_platform(s: &mut Sandbox, now: &str) {
    let p = s.platform_dir();
    s.platform = Server::start(&[
        "platform",
        "--now",
        now,
        "serve",
        "--data",
        &p,
        "--listen",
        "127.0.0.1:0",
    ]);
}

fn call(s: &Sandbox, key: &str, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
    let (got, v) = s.sp(method.clone(), path, Some(key), body);
    assert_eq!(got, status, "{method} {path}: {v}");
    v
}

/// Opens an account for the holder at the tenant; returns the user id.
fn open(s: &Sandbox, key: &str, h: &Holder) -> String {
    let v = call(
        s,
        key,
        Method::POST,
        "/v1/account-openings",
        Some(json!({"application": "open"})),
        201,
    );
    let out = s.complete(v["client_url"].as_str().unwrap(), &h.card, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let done = call(
        s,
        key,
        Method::GET,
        &format!("/v1/account-openings/{}", v["id"].as_str().unwrap()),
        None,
        200,
    );
    assert_eq!(done["status"], "verified", "{done}");
    done["user_id"].as_str().unwrap().to_owned()
}

/// Logs the holder in at the tenant; returns the user id.
fn login(s: &Sandbox, key: &str, h: &Holder) -> String {
    let v = call(
        s,
        key,
        Method::POST,
        "/v1/logins",
        Some(json!({"origin": "https://bank.example"})),
        201,
    );
    let out = s.complete(v["client_url"].as_str().unwrap(), &h.card, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let done = call(
        s,
        key,
        Method::GET,
        &format!("/v1/logins/{}", v["id"].as_str().unwrap()),
        None,
        200,
    );
    assert_eq!(done["status"], "verified", "{done}");
    done["user_id"].as_str().unwrap().to_owned()
}

/// A CRL status check of all the tenant's users, to the end.
fn crl_job(s: &Sandbox, key: &str) -> Value {
    let v = call(
        s,
        key,
        Method::POST,
        "/v1/status-checks",
        Some(json!({"all": true, "method": "crl"})),
        202,
    );
    let id = v["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let v = call(s, key, Method::GET, &format!("/v1/status-checks/{id}"), None, 200);
        if v["state"] != "running" {
            assert_eq!(v["state"], "done", "{v}");
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the status check did not finish: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bill(s: &Sandbox, tenant: &str, month: &str) -> Value {
    let p = s.platform_dir();
    serde_json::from_str(&honnin_ok(&[
        "platform", "bill", "--data", &p, "--tenant", tenant, "--month", month,
    ]))
    .expect("statement json")
}

/// The authority's own statement for the platform, from its command line.
fn authority_total(s: &Sandbox, month: &str) -> u64 {
    let a = s.authority_dir();
    let v: Value = serde_json::from_str(&honnin_ok(&[
        "authority",
        "verifier",
        "statement",
        "--data",
        &a,
        "--id",
        &s.verifier_id,
        "--month",
        month,
        "--json",
    ]))
    .expect("authority statement");
    v["total_yen"].as_u64().unwrap()
}

/// (service, hierarchy, basis) → (count, authority unit, authority amount, margin, amount)
fn lines(statement: &Value) -> Vec<(String, u64, u64, u64, u64, u64)> {
    statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                format!(
                    "{}/{}/{}",
                    l["service"].as_str().unwrap(),
                    l["hierarchy"].as_str().unwrap_or("-"),
                    l["basis"].as_str().unwrap()
                ),
                l["count"].as_u64().unwrap(),
                l["authority_unit_yen"].as_u64().unwrap(),
                l["authority_amount_yen"].as_u64().unwrap(),
                l["margin_yen"].as_u64().unwrap(),
                l["amount_yen"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn row(key: &str, count: u64, unit: u64, margin: u64) -> (String, u64, u64, u64, u64, u64) {
    (key.to_owned(), count, unit, count * unit, margin, count * unit + margin)
}

fn totals(statement: &Value) -> (u64, u64, u64) {
    (
        statement["authority_total_yen"].as_u64().unwrap(),
        statement["margin_total_yen"].as_u64().unwrap(),
        statement["total_yen"].as_u64().unwrap(),
    )
}

fn a_scripted_month_bills_the_fees_table(db: Db) {
    let mut s = Sandbox::with(db, "ocsp", &["--billing-margin-percent", "10"]);
    let p = s.platform_dir();
    let tb: Value = serde_json::from_str(&honnin_ok(&[
        "platform",
        "tenant",
        "add",
        "--data",
        &p,
        "--name",
        "Insurer B",
        "--json",
    ]))
    .unwrap();
    let (ta, ka) = (s.tenant.clone(), s.api_key.clone());
    let (tb, kb) = (
        tb["id"].as_str().unwrap().to_owned(),
        tb["api_key"].as_str().unwrap().to_owned(),
    );
    let h1 = s.holder("h1", true);
    let h2 = s.holder("h2", true);
    restart_at(&mut s, MARCH);
    let march_started = Instant::now();

    // Tenant A: two account openings (a signing OCSP check each, 20 yen; the `previous` lookup of
    // the same certificate the same day is covered by it), a login (an auth OCSP check, 2 yen; its
    // `previous` is covered; the card's counterpart, 2 yen).
    let a1 = open(&s, &ka, &h1);
    let a2 = open(&s, &ka, &h2);
    assert_eq!(login(&s, &ka, &h1), a1);
    // Tenant B opens an account for the same holder.
    let b1 = open(&s, &kb, &h1);
    // h2 renews both certificates; the login with the new card is resolved through the links:
    // OCSP of the new auth certificate (2), previous(new auth) covered, previous(old auth) billed
    // as the auth check it needs (2), counterpart(new auth) (2), previous(new sign) billed as the
    // signing check it needs (20) — and the same user.
    honnin_ok(&[
        "authority",
        "card",
        "renew",
        "--data",
        &s.authority_dir(),
        "--card",
        &h2.card,
        "--which",
        "both",
        "--sign-password",
        platform_kit::PASSWORD,
        "--now",
        MARCH,
    ]);
    assert_eq!(login(&s, &ka, &h2), a2);

    // CRL status checks, declared to the authority: A's two users (signing and auth each), B's one
    // user (its auth certificate found through the counterpart, 2 yen).
    crl_job(&s, &ka);
    crl_job(&s, &kb);
    // A checks again the same fiscal year, while the authority is down: the checks are stored and
    // their declarations wait in the outbox.
    s.authority.stop();
    crl_job(&s, &ka);
    let pending = honnin(&["platform", "bill", "--data", &p, "--month", "2027-03", "--reconcile"]);
    assert_ne!(
        pending.status.code(),
        Some(0),
        "the authority is down: nothing to reconcile with"
    );
    // It comes back; B's next check declares everything pending (B's own checks: counted this year).
    let listen = s.authority.base.trim_start_matches("http://").to_owned();
    s.authority = Server::start(&[
        "authority",
        "--now",
        &same_clock(MARCH, march_started),
        "serve",
        "--data",
        &s.authority_dir(),
        "--listen",
        &listen,
    ]);
    let r = call(
        &s,
        &kb,
        Method::POST,
        &format!("/v1/users/{b1}/status-check?method=crl"),
        None,
        200,
    );
    assert_eq!(r["finding"], "alive_and_usable", "{r}");
    // A checks h1 by OCSP: one signing and one auth validity check, metered with the result.
    let r = call(
        &s,
        &ka,
        Method::POST,
        &format!("/v1/users/{a1}/status-check?method=ocsp"),
        None,
        200,
    );
    assert_eq!(r["finding"], "alive_and_usable", "{r}");

    // Tenant A, March, by the fees table (seed 001) with a 10% margin rounded down per line.
    let march_a = bill(&s, &ta, "2027-03");
    assert_eq!(
        lines(&march_a),
        [
            row("ocsp/sign/validity-check", 3, 20, 6),
            row("ocsp/auth/validity-check", 3, 2, 0),
            row("crl-check/sign/validity-check", 2, 20, 4),
            row("crl-check/sign/counted-this-year", 2, 0, 0),
            row("crl-check/auth/validity-check", 2, 2, 0),
            row("crl-check/auth/counted-this-year", 2, 0, 0),
            row("previous/sign/validity-check", 1, 20, 2),
            row("previous/sign/covered-by-validity-check", 2, 0, 0),
            row("previous/auth/validity-check", 1, 2, 0),
            row("previous/auth/covered-by-validity-check", 2, 0, 0),
            row("counterpart/auth/counterpart", 2, 2, 0),
        ],
        "{march_a:#}"
    );
    assert_eq!(totals(&march_a), (136, 12, 148));
    assert_eq!(march_a["margin_percent"], 10);

    // Tenant B: its own calls by the same rules, whoever else checked the holder.
    let march_b = bill(&s, &tb, "2027-03");
    assert_eq!(
        lines(&march_b),
        [
            row("ocsp/sign/validity-check", 1, 20, 2),
            row("crl-check/sign/validity-check", 1, 20, 2),
            row("crl-check/sign/counted-this-year", 1, 0, 0),
            row("crl-check/auth/validity-check", 1, 2, 0),
            row("crl-check/auth/counted-this-year", 1, 0, 0),
            row("previous/sign/covered-by-validity-check", 1, 0, 0),
            row("counterpart/sign/counterpart", 1, 2, 0),
        ],
        "{march_b:#}"
    );
    assert_eq!(totals(&march_b), (44, 4, 48));

    // CSV: the same numbers.
    let csv = honnin_ok(&[
        "platform", "bill", "--data", &p, "--tenant", &tb, "--month", "2027-03", "--csv",
    ]);
    let expected = [
        "tenant,month,service,hierarchy,basis,count,authority_unit_yen,authority_amount_yen,margin_percent,margin_yen,amount_yen".to_owned(),
        format!("{tb},2027-03,ocsp,sign,validity-check,1,20,20,10,2,22"),
        format!("{tb},2027-03,crl-check,sign,validity-check,1,20,20,10,2,22"),
        format!("{tb},2027-03,crl-check,sign,counted-this-year,1,0,0,10,0,0"),
        format!("{tb},2027-03,crl-check,auth,validity-check,1,2,2,10,0,2"),
        format!("{tb},2027-03,crl-check,auth,counted-this-year,1,0,0,10,0,0"),
        format!("{tb},2027-03,previous,sign,covered-by-validity-check,1,0,0,10,0,0"),
        format!("{tb},2027-03,counterpart,sign,counterpart,1,2,2,10,0,2"),
        format!("{tb},2027-03,total,,,,,44,10,4,48"),
    ];
    assert_eq!(csv, expected.map(|l| l + "\r\n").concat());

    // The tenant's API answers the same statement, to that tenant only.
    assert_eq!(
        call(&s, &kb, Method::GET, "/v1/billing/statements/2027-03", None, 200),
        march_b
    );
    assert_eq!(
        call(&s, &ka, Method::GET, "/v1/billing/statements/2027-03", None, 200),
        march_a
    );
    let bad = call(&s, &ka, Method::GET, "/v1/billing/statements/2027-13", None, 400);
    assert_eq!(bad["type"], "https://honnin.dev/problems/invalid-request");
    let (status, _) = s.sp(Method::GET, "/v1/billing/statements/2027-03", None, None);
    assert_eq!(status, 401);
    let openapi = call(&s, &ka, Method::GET, "/openapi.json", None, 200);
    assert!(openapi["paths"]["/v1/billing/statements/{month}"]["get"].is_object());

    // The authority billed the platform once for h1's CRL checks although both tenants made them,
    // and B's `previous` is covered by the check of the same certificate that day: 158 yen. The
    // attributed costs add up to it; B pays its own rule's 44 on 22 attributed.
    assert_eq!(authority_total(&s, "2027-03"), 158);
    let r = s.reconcile("2027-03");
    assert_eq!(r["platform_total_yen"], 158, "{r:#}");
    assert_eq!(r["authority"]["total_yen"], 158);
    assert_eq!(r["difference_yen"], 0);
    assert_eq!(r["undeclared_crl_checks"], 0);
    let share = |t: &str| {
        r["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["tenant"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no share for {t}: {r:#}"))
    };
    assert_eq!(share(&ta)["attributed_authority_yen"], 136);
    assert_eq!(share(&ta)["billed_authority_yen"], 136);
    assert_eq!(share(&tb)["attributed_authority_yen"], 22);
    assert_eq!(share(&tb)["billed_authority_yen"], 44);
    assert_eq!(share(&tb)["total_yen"], 48);

    // 1 April: a new fiscal year, and the same checks are billed again.
    restart_at(&mut s, APRIL);
    crl_job(&s, &ka);
    let april_a = bill(&s, &ta, "2027-04");
    assert_eq!(
        lines(&april_a),
        [
            row("crl-check/sign/validity-check", 2, 20, 4),
            row("crl-check/auth/validity-check", 2, 2, 0),
        ],
        "{april_a:#}"
    );
    assert_eq!(totals(&april_a), (44, 4, 48));
    assert_eq!(totals(&bill(&s, &ta, "2027-03")), (136, 12, 148), "March is closed");
    assert_eq!(authority_total(&s, "2027-04"), 44);
    let r = s.reconcile("2027-04");
    assert_eq!(r["platform_total_yen"], 44, "{r:#}");
    assert_eq!(r["difference_yen"], 0);
}

fn the_command_line_refuses_what_it_cannot_bill(db: Db) {
    let s = Sandbox::new(db);
    let p = s.platform_dir();
    let bad_month = honnin(&[
        "platform", "bill", "--data", &p, "--tenant", &s.tenant, "--month", "2027-3",
    ]);
    assert_ne!(bad_month.status.code(), Some(0));
    let no_tenant = honnin(&["platform", "bill", "--data", &p, "--month", "2027-03"]);
    assert_ne!(no_tenant.status.code(), Some(0));
    let unknown = honnin(&[
        "platform",
        "bill",
        "--data",
        &p,
        "--tenant",
        "tnt_nobody",
        "--month",
        "2027-03",
    ]);
    assert_ne!(unknown.status.code(), Some(0));
    assert!(
        common::stderr(&unknown).contains("no such tenant"),
        "{}",
        common::stderr(&unknown)
    );
    // An empty month is an empty statement, not an error.
    let empty = bill(&s, &s.tenant, "2027-03");
    assert_eq!(empty["lines"], json!([]));
    assert_eq!(empty["total_yen"], 0);
    let help = honnin_ok(&["platform", "bill", "--help"]);
    assert!(help.contains("JSON by default"), "{help}");
}

both_databases!(
    a_scripted_month_bills_the_fees_table,
    the_command_line_refuses_what_it_cannot_bill
);
