//! Status checks (現況確認) end to end: life events at the authority become findings, actions and
//! events at the platform; batch jobs survive a SIGKILL; against SQLite and PostgreSQL.

mod common;
mod platform_kit;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use platform_kit::{honnin_ok, Db, Holder, Receiver, Sandbox, Server};
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

fn webhooks_are_signed_retried_and_dead_lettered(db: Db) {
    let s = Sandbox::with(db, "ocsp", &["--webhook-retry-base-ms", "10"]);
    let receiver = Receiver::start(2);
    let (status, hook) = s.sp(
        Method::PUT,
        "/v1/webhook",
        Some(&s.api_key),
        Some(json!({ "url": receiver.url })),
    );
    assert_eq!(status, 200, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let (dier, dier_id) = customer(&s, "dier", true);
    event(&s, &dier.resident, &["death"]);
    let (status, _) = s.sp(
        Method::POST,
        &format!("/v1/users/{dier_id}/status-check?method=ocsp"),
        Some(&s.api_key),
        None,
    );
    assert_eq!(status, 200);
    let started = Instant::now();
    while receiver.requests.lock().unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the webhook was not retried to success"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(800));
    let requests = receiver.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "two failures, then delivered once, and not again");
    let key = requests[0].0["idempotency-key"].clone();
    for (headers, body) in &requests {
        assert_eq!(headers["idempotency-key"], key, "every retry carries the same key");
        assert_eq!(headers["honnin-event"], "user.deceased_or_emigrated");
        let sig = &headers["honnin-signature"];
        let t: i64 = sig
            .strip_prefix("t=")
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            sig,
            &honnin_platform::webhook_signature(&secret, t, body),
            "HMAC over t.body"
        );
        let e: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (e["type"].as_str(), e["user_id"].as_str(), e["id"].as_str()),
            (
                Some("user.deceased_or_emigrated"),
                Some(dier_id.as_str()),
                Some(key.as_str())
            )
        );
    }

    // A receiver that is gone: the delivery ends as a dead letter, and can be sent again.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_url = format!("http://{}/hook", gone.local_addr().unwrap());
    drop(gone);
    let (status, _) = s.sp(
        Method::PUT,
        "/v1/webhook",
        Some(&s.api_key),
        Some(json!({ "url": gone_url })),
    );
    assert_eq!(status, 200);
    let (lost, lost_id) = customer(&s, "lost", true);
    event(&s, &lost.resident, &["card-lost"]);
    s.sp(
        Method::POST,
        &format!("/v1/users/{lost_id}/status-check?method=ocsp"),
        Some(&s.api_key),
        None,
    );
    let started = Instant::now();
    let dead = loop {
        let v = s.get("/v1/webhook/dead-letters");
        if v["dead_letters"].as_array().is_some_and(|d| !d.is_empty()) {
            break v;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no dead letter: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let letter = &dead["dead_letters"][0];
    assert_eq!(
        (letter["type"].as_str(), letter["attempts"].as_i64()),
        (Some("user.card_suspended"), Some(8)),
        "{dead}"
    );
    let good = Receiver::start(0);
    s.sp(
        Method::PUT,
        "/v1/webhook",
        Some(&s.api_key),
        Some(json!({ "url": good.url })),
    );
    let (status, _) = s.sp(
        Method::POST,
        &format!(
            "/v1/webhook/dead-letters/{}/retry",
            letter["event_id"].as_str().unwrap()
        ),
        Some(&s.api_key),
        None,
    );
    assert_eq!(status, 202);
    let started = Instant::now();
    while good.requests.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the dead letter was not sent again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        s.get("/v1/webhook/dead-letters")["dead_letters"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

fn schedules_run_checks_over_new_crl_entries_or_everyone(db: Db) {
    let s = Sandbox::new(db);
    let users: Vec<(Holder, String)> = (0..3).map(|i| customer(&s, &format!("s{i}"), false)).collect();
    event(&s, &users[1].0.resident, &["death"]);
    let (status, sched) = s.sp(
        Method::POST,
        "/v1/status-check-schedules",
        Some(&s.api_key),
        Some(json!({ "scope": "new_crl_entries", "method": "crl", "period_seconds": 1, "start_now": true })),
    );
    assert_eq!(status, 201, "{sched}");
    let started = Instant::now();
    let job = loop {
        let list = s.get("/v1/status-check-schedules");
        if let Some(id) = list["schedules"][0]["last_status_check"].as_str() {
            break id.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the schedule did not run: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let done = wait_done(&s, &job, Duration::from_secs(30));
    assert_eq!(done["total"], 1, "only the user newly on the CRL: {done}");
    assert_eq!(done["results"][0]["user_id"], users[1].1.as_str());
    assert_eq!(done["results"][0]["finding"], "deceased_or_emigrated");
    // The next runs find nothing new: no new check, no new event.
    std::thread::sleep(Duration::from_millis(2500));
    let list = s.get("/v1/status-check-schedules");
    assert_eq!(list["schedules"][0]["last_status_check"], job.as_str(), "{list}");
    assert_eq!(all_events(&s).len(), 1);
    let id = sched["id"].as_str().unwrap();
    let (status, _) = s.sp(
        Method::DELETE,
        &format!("/v1/status-check-schedules/{id}"),
        Some(&s.api_key),
        None,
    );
    assert_eq!(status, 204);

    // Everyone, yearly, starting now.
    let (status, _) = s.sp(
        Method::POST,
        "/v1/status-check-schedules",
        Some(&s.api_key),
        Some(json!({ "scope": "all", "method": "crl", "start_now": true, "alive_events": true })),
    );
    assert_eq!(status, 201);
    let started = Instant::now();
    let job = loop {
        let list = s.get("/v1/status-check-schedules");
        if let Some(id) = list["schedules"][0]["last_status_check"].as_str() {
            assert_eq!(list["schedules"][0]["period_seconds"], 365 * 24 * 3600);
            break id.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the schedule did not run: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(wait_done(&s, &job, Duration::from_secs(30))["total"], 3);
    assert_eq!(all_events(&s).len(), 3, "the death once, and two alive confirmations");
}

both_databases!(
    life_events_become_findings_and_events,
    a_killed_job_resumes_and_checks_everyone_once,
    webhooks_are_signed_retried_and_dead_lettered,
    schedules_run_checks_over_new_crl_entries_or_everyone,
);
