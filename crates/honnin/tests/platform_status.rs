//! Status checks (現況確認) end to end: life events at the authority become findings, actions and
//! events at the platform; batch jobs survive a SIGKILL; against SQLite and PostgreSQL.

mod common;
mod platform_kit;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use platform_kit::{honnin_ok, Db, Holder, Sandbox, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Opens an account (and logs in, if `login`) and returns the user id.
fn customer(s: &Sandbox, name: &str, login: bool) -> (Holder, String) {
    let h = s.holder(name, true);
    let (id, url) = s.open_account("open");
    assert_eq!(s.complete(&url, &h.card, &[]).status.code(), Some(0));
    let user = s.get(&format!("/v1/account-openings/{id}"))["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    if login {
        let (id, url) = s.login("https://bank.example");
        assert_eq!(s.complete(&url, &h.card, &[]).status.code(), Some(0));
        assert_eq!(s.get(&format!("/v1/logins/{id}"))["user_id"], user.as_str());
    }
    (h, user)
}

fn event(s: &Sandbox, resident: &str, args: &[&str]) {
    let a = s.authority_dir();
    let mut all = vec!["authority", "event", "--data", a.as_str(), "--resident", resident];
    all.extend_from_slice(args);
    honnin_ok(&all);
}

fn wait_done(s: &Sandbox, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let v = s.get(&format!("/v1/status-checks/{id}?limit=10000"));
        if v["state"] != "running" {
            return v;
        }
        assert!(started.elapsed() < limit, "the status check did not finish: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_events(s: &Sandbox) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = s.get(&format!("/v1/events?after={after}&limit=50"));
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            return out;
        }
        after = page["next"].as_str().unwrap().to_owned();
        out.extend(events);
    }
}

fn life_events_become_findings_and_events(db: Db) {
    let s = Sandbox::new(db);
    let (mover, mover_id) = customer(&s, "mover", true);
    let (dier, dier_id) = customer(&s, "dier", false);
    let (loser, loser_id) = customer(&s, "loser", true);
    let (renewer, renewer_id) = customer(&s, "renewer", true);
    let (_, steady_id) = customer(&s, "steady", false);
    event(
        &s,
        &mover.resident,
        &["address-change", "--address", "東京都清瀬市元町一丁目１番地"],
    );
    event(&s, &dier.resident, &["death"]);
    event(&s, &loser.resident, &["card-lost"]);
    honnin_ok(&[
        "authority",
        "card",
        "renew",
        "--data",
        &s.authority_dir(),
        "--card",
        &renewer.card,
    ]);

    // One user now, by OCSP (the platform kept the certificates it saw).
    let (status, r) = s.sp(
        Method::POST,
        &format!("/v1/users/{mover_id}/status-check?method=ocsp"),
        Some(&s.api_key),
        None,
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["finding"].as_str(), r["action"].as_str()),
        (Some("basic4_changed"), Some("request_latest_basic4"))
    );

    // Everyone, by the CRL, with alive confirmations.
    let (status, job) = s.sp(
        Method::POST,
        "/v1/status-checks",
        Some(&s.api_key),
        Some(json!({ "all": true, "method": "crl", "alive_events": true })),
    );
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["total"], 5);
    let done = wait_done(&s, job["id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(
        (done["state"].as_str(), done["done"].as_i64()),
        (Some("done"), Some(5)),
        "{done}"
    );
    let results: BTreeMap<String, (String, String)> = done["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user_id"].as_str().unwrap().to_owned(),
                (
                    r["finding"].as_str().unwrap().to_owned(),
                    r["action"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let expect = |u: &str, f: &str, a: &str| assert_eq!(results[u], (f.to_owned(), a.to_owned()), "{u}: {done}");
    expect(&mover_id, "basic4_changed", "request_latest_basic4");
    expect(&dier_id, "deceased_or_emigrated", "confirm_death_or_emigration");
    expect(&loser_id, "card_suspended", "suspend_logins");
    expect(&renewer_id, "renewed", "follow_serial_link");
    expect(&steady_id, "alive_and_usable", "none");

    let events: Vec<(String, String)> = all_events(&s)
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("user.basic4_changed", &mover_id),
        ("user.deceased_or_emigrated", &dier_id),
        ("user.card_suspended", &loser_id),
        ("user.renewed", &renewer_id),
        ("user.alive_confirmed", &steady_id),
    ];
    for (t, u) in want {
        assert_eq!(
            events.iter().filter(|(et, eu)| et == t && eu == u).count(),
            1,
            "{t} for {u} once: {events:?}"
        );
    }
    assert_eq!(events.len(), 5, "nothing else: {events:?}");

    // Checking again changes nothing: no new events.
    let (_, job) = s.sp(
        Method::POST,
        "/v1/status-checks",
        Some(&s.api_key),
        Some(json!({ "all": true, "method": "crl" })),
    );
    wait_done(&s, job["id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(all_events(&s).len(), 5);

    // The lost card cannot log in.
    let (id, url) = s.login("https://bank.example");
    assert_eq!(s.complete(&url, &loser.card, &[]).status.code(), Some(1));
    assert_eq!(s.get(&format!("/v1/logins/{id}"))["reason"], "certificate_revoked");

    // Another tenant sees none of it.
    let other: Value = serde_json::from_str(&honnin_ok(&[
        "platform",
        "tenant",
        "add",
        "--data",
        &s.platform_dir(),
        "--name",
        "B",
        "--json",
    ]))
    .unwrap();
    let key = other["api_key"].as_str().unwrap();
    let (_, page) = s.sp(Method::GET, "/v1/events", Some(key), None);
    assert_eq!(page["events"].as_array().map(Vec::len), Some(0), "{page}");
    let (status, _) = s.sp(
        Method::GET,
        &format!("/v1/status-checks/{}", job["id"].as_str().unwrap()),
        Some(key),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = s.sp(
        Method::POST,
        &format!("/v1/users/{mover_id}/status-check?method=crl"),
        Some(key),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = s.sp(
        Method::POST,
        "/v1/status-checks",
        Some(key),
        Some(json!({ "user_ids": [mover_id], "method": "crl" })),
    );
    assert_eq!(status, 400, "another tenant's user cannot be checked");
}

fn a_killed_job_resumes_and_checks_everyone_once(db: Db) {
    let mut s = Sandbox::with(db, "ocsp", &["--status-check-rate", "8"]);
    let users: Vec<String> = (0..16).map(|i| customer(&s, &format!("c{i}"), false).1).collect();
    let (status, job) = s.sp(
        Method::POST,
        "/v1/status-checks",
        Some(&s.api_key),
        Some(json!({ "all": true, "method": "crl", "alive_events": true })),
    );
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let v = s.get(&format!("/v1/status-checks/{id}"));
        if v["done"].as_i64().unwrap() >= 3 {
            assert!(v["done"].as_i64().unwrap() < 16, "too late to kill it halfway: {v}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.platform.stop(); // SIGKILL
    s.platform = Server::start(&[
        "platform",
        "serve",
        "--data",
        &s.platform_dir(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let done = wait_done(&s, &id, Duration::from_secs(60));
    assert_eq!(
        (done["state"].as_str(), done["done"].as_i64(), done["total"].as_i64()),
        (Some("done"), Some(16), Some(16))
    );
    let mut seen: Vec<String> = done["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut want = users.clone();
    want.sort();
    assert_eq!(seen, want, "every user exactly once");
    let events = all_events(&s);
    assert_eq!(
        events.len(),
        16,
        "one alive confirmation per user, none lost or repeated: {events:?}"
    );

    // Cancelling stops a job where it is.
    let (_, job) = s.sp(
        Method::POST,
        "/v1/status-checks",
        Some(&s.api_key),
        Some(json!({ "all": true, "method": "crl" })),
    );
    let id = job["id"].as_str().unwrap();
    let (status, v) = s.sp(
        Method::POST,
        &format!("/v1/status-checks/{id}/cancel"),
        Some(&s.api_key),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "cancelled");
    std::thread::sleep(Duration::from_millis(500));
    let v = s.get(&format!("/v1/status-checks/{id}"));
    assert_eq!(v["state"], "cancelled");
    assert!(v["done"].as_i64().unwrap() < 16, "{v}");
}

both_databases!(
    life_events_become_findings_and_events,
    a_killed_job_resumes_and_checks_everyone_once
);
