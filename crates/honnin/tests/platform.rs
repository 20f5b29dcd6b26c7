//! End to end over HTTP: a real authority, a real platform (SQLite and PostgreSQL), emulated cards
//! and `honnin client complete`. What a service provider relies on.

mod common;
mod platform_kit;

use platform_kit::{honnin, honnin_ok, Db, Sandbox, Server};
use reqwest::Method;
use serde_json::{json, Value};

const ORIGIN: &str = "https://bank.example";

fn outcome(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "client output: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Opens an account with the holder's card and returns the SP's view of it.
fn opened(s: &Sandbox, card: &str) -> Value {
    let (id, url) = s.open_account("普通預金口座の開設を申し込みます。");
    let out = s.complete(&url, card, &[]);
    assert_eq!(
        outcome(&out)["status"],
        "verified",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.get(&format!("/v1/account-openings/{id}"))
}

fn logged_in(s: &Sandbox, card: &str) -> Value {
    let (id, url) = s.login(ORIGIN);
    let out = s.complete(&url, card, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    s.get(&format!("/v1/logins/{id}"))
}

/// No certificate, signature or revocation data ever reaches the service provider.
fn assert_no_certificate(v: &Value) {
    let text = v.to_string();
    // DER certificates and CMS messages start with SEQUENCE (0x30 0x82), "MII" in base64.
    assert!(!text.contains("MII"), "the SP received certificate-like data: {text}");
    for key in ["certificate", "cms", "signature", "ocsp", "crl", "serial"] {
        assert!(!text.contains(&format!("\"{key}")), "the SP received {key}: {text}");
    }
}

fn account_opening_verified_then_login_same_user(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("hanako", true);
    let v = opened(&s, &h.card);
    assert_eq!(v["status"], "verified", "{v}");
    // 髙 is outside JIS X 0208: the certificate's name carries 〓 in its place (代替文字).
    assert_eq!(v["basic4"]["name"], "〓山　花子");
    assert_eq!(v["basic4"]["substituted"], true);
    assert_eq!(v["basic4"]["address"], "東京都清瀬市中里五丁目８４２番地");
    assert_eq!(v["basic4"]["birth_date"], "1990-01-02");
    assert_eq!(v["basic4"]["sex"], "female");
    let user = v["user_id"].as_str().expect("user_id").to_owned();
    assert_no_certificate(&v);

    let l = logged_in(&s, &h.card);
    assert_eq!(l["status"], "verified", "{l}");
    assert_eq!(l["user_id"], user.as_str(), "the login resolves to the account's user");
    assert_no_certificate(&l);
    let u = s.get(&format!("/v1/users/{user}"));
    assert_eq!(u["basic4"]["name"], "〓山　花子");
    assert_no_certificate(&u);

    // The evidence (確認記録) re-verifies from what was kept.
    let ids = honnin_ok(&["platform", "evidence", "list", "--data", &s.platform_dir()]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2, "one for the opening, one for the login: {ids:?}");
    for id in ids {
        let c: Value = serde_json::from_str(&honnin_ok(&[
            "platform",
            "evidence",
            "verify",
            "--data",
            &s.platform_dir(),
            "--id",
            id,
            "--json",
        ]))
        .expect("json");
        assert_eq!(c["consistent"], true, "{c}");
        assert_eq!(c["signature"], "valid");
        assert_eq!(c["revocation"]["status"], "good");
    }
}

fn rejected_when_revoked(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("moved", true);
    honnin_ok(&[
        "authority",
        "event",
        "--data",
        &s.authority_dir(),
        "--resident",
        &h.resident,
        "address-change",
        "--address",
        "東京都清瀬市元町一丁目１番地",
    ]);
    let (id, url) = s.open_account("open");
    let out = s.complete(&url, &h.card, &[]);
    assert_eq!(out.status.code(), Some(1));
    let v = s.get(&format!("/v1/account-openings/{id}"));
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["reason"], "certificate_revoked");
    assert!(
        v["detail"].as_str().unwrap_or_default().contains("affiliationChanged"),
        "{v}"
    );
    assert!(v.get("user_id").is_none() && v.get("basic4").is_none(), "{v}");
}

fn rejected_when_expired_or_tampered(db: Db) {
    let s = Sandbox::new(db);
    // A card issued six years ago: its signing certificate (5 years) has expired.
    let old = s.holder_at("old", true, Some("2020-01-06T10:00:00+09:00"));
    let (id, url) = s.open_account("open");
    assert_eq!(s.complete(&url, &old.card, &[]).status.code(), Some(1));
    let v = s.get(&format!("/v1/account-openings/{id}"));
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("rejected"), Some("certificate_expired")),
        "{v}"
    );

    // A signature over other content than the session's document.
    let h = s.holder("tamper", true);
    let (id, url) = s.open_account("open an account with 100 yen");
    std::fs::write(s.file("other.txt"), "open an account with 1,000,000 yen").expect("write");
    honnin_ok(&[
        "card",
        "--card",
        &h.card,
        "--password",
        platform_kit::PASSWORD,
        "sign",
        "--which",
        "sign",
        "--cms",
        "--in",
        &s.path("other.txt"),
        "--out",
        &s.path("other.p7s"),
    ]);
    let cms = std::fs::read(s.file("other.p7s")).expect("cms");
    use base64::Engine;
    let body = json!({ "cms": base64::engine::general_purpose::STANDARD.encode(cms) }).to_string();
    let (status, o) = s.client_post(&url, body.as_bytes());
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["status"], "rejected");
    let v = s.get(&format!("/v1/account-openings/{id}"));
    assert_eq!(v["reason"], "content_mismatch", "{v}");

    // Garbage instead of a CMS message.
    let (_, url) = s.open_account("open");
    let (status, o) = s.client_post(&url, br#"{"cms": "MIIBAAAA"}"#);
    assert_eq!((status, o["status"].as_str()), (200, Some("rejected")), "{o}");
}

fn rejected_under_a_foreign_profile(db: Db) {
    // A platform that trusts J-LIS's production roots refuses sandbox certificates.
    let s = Sandbox::with(db, "ocsp", &["--trust", "production"]);
    let h = s.holder("sandboxed", true);
    let (id, url) = s.open_account("open");
    assert_eq!(s.complete(&url, &h.card, &[]).status.code(), Some(1));
    let v = s.get(&format!("/v1/account-openings/{id}"));
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("rejected"), Some("foreign_profile")),
        "{v}"
    );
}

fn unknown_when_the_authority_is_down(db: Db) {
    let mut s = Sandbox::new(db);
    let h = s.holder("offline", true);
    s.authority.stop();
    let (id, url) = s.open_account("open");
    let out = s.complete(&url, &h.card, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "unknown: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = s.get(&format!("/v1/account-openings/{id}"));
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("unknown"), Some("revocation_unknown")),
        "{v}"
    );
    assert!(v.get("user_id").is_none(), "never a user for an unknown status: {v}");
    // A login fails closed.
    let (id, url) = s.login(ORIGIN);
    assert_eq!(s.complete(&url, &h.card, &[]).status.code(), Some(1));
    let l = s.get(&format!("/v1/logins/{id}"));
    assert_eq!(
        (l["status"].as_str(), l["reason"].as_str()),
        (Some("rejected"), Some("revocation_unknown")),
        "{l}"
    );
}

fn crl_mode_verifies_and_fails_closed(db: Db) {
    let mut s = Sandbox::with(db, "crl", &["--crl-refresh-seconds", "1"]);
    let good = s.holder("crl-good", true);
    let bad = s.holder("crl-bad", true);
    honnin_ok(&[
        "authority",
        "event",
        "--data",
        &s.authority_dir(),
        "--resident",
        &bad.resident,
        "card-lost",
    ]);
    // The platform sees the revocation with the next CRL it fetches (conditional GET every second).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(opened(&s, &good.card)["status"], "verified");
    let (id, url) = s.open_account("open");
    assert_eq!(s.complete(&url, &bad.card, &[]).status.code(), Some(1));
    let v = s.get(&format!("/v1/account-openings/{id}"));
    assert_eq!(v["reason"], "certificate_revoked", "{v}");
    assert!(
        v["detail"].as_str().unwrap_or_default().contains("certificateHold"),
        "{v}"
    );
    // The CRL evidence re-verifies from the archived CRL.
    for id in honnin_ok(&["platform", "evidence", "list", "--data", &s.platform_dir()]).lines() {
        let out = honnin(&[
            "platform",
            "evidence",
            "verify",
            "--data",
            &s.platform_dir(),
            "--id",
            id,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    }
    // A new platform in CRL mode that never got a CRL, with the authority down: unknown.
    s.authority.stop();
    let p2 = s.path("platform2");
    honnin_ok(&[
        "platform",
        "init",
        "--data",
        &p2,
        "--authority",
        &s.authority.base,
        "--verifier-id",
        &s.verifier_id,
        &format!("--verifier-secret={}", s.verifier_secret),
        "--revocation",
        "crl",
        "--trust-anchor",
        &format!("{}/trust/sign.der", s.platform_dir()),
        "--trust-anchor",
        &format!("{}/trust/auth.der", s.platform_dir()),
    ]);
    let t: Value = serde_json::from_str(&honnin_ok(&[
        "platform", "tenant", "add", "--data", &p2, "--name", "B", "--json",
    ]))
    .unwrap();
    let p2s = Server::start(&["platform", "serve", "--data", &p2, "--listen", "127.0.0.1:0"]);
    let client = reqwest::blocking::Client::new();
    let created: Value = client
        .post(format!("{}/v1/account-openings", p2s.base))
        .bearer_auth(t["api_key"].as_str().unwrap())
        .json(&json!({"application": "open"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let out = s.complete(created["client_url"].as_str().unwrap(), &good.card, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
}

fn login_replay_and_foreign_origin_refused(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("login", true);
    opened(&s, &h.card);

    // Wrong origin: the proof is made for a phishing site's origin.
    let (id, url) = s.login(ORIGIN);
    let out = s.complete(&url, &h.card, &["--origin", "https://bank.example.evil"]);
    assert_eq!(out.status.code(), Some(1));
    let l = s.get(&format!("/v1/logins/{id}"));
    assert_eq!(
        (l["status"].as_str(), l["reason"].as_str()),
        (Some("rejected"), Some("proof_invalid")),
        "{l}"
    );

    // Replay: the same token posted twice; then the same proof for another challenge.
    let (_, url) = s.login(ORIGIN);
    let (_, task) = s.client_get(&url);
    let nonce = task["nonce"].as_str().expect("nonce").to_owned();
    let proof = make_proof(&s, &h.card, ORIGIN, &nonce);
    let (status, o) = s.client_post(&url, &proof);
    assert_eq!((status, o["status"].as_str()), (200, Some("verified")), "{o}");
    let (status, o) = s.client_post(&url, &proof);
    assert_eq!(status, 409, "a replay is refused: {o}");
    assert_eq!(s.client_get(&url).0, 409);
    let (id2, url2) = s.login(ORIGIN);
    let (status, o) = s.client_post(&url2, &proof);
    assert_eq!((status, o["status"].as_str()), (200, Some("rejected")), "{o}");
    assert_eq!(s.get(&format!("/v1/logins/{id2}"))["reason"], "proof_invalid");

    // Expired challenge.
    let v = s.post("/v1/logins", json!({ "origin": ORIGIN, "ttl_seconds": 1 }));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let url = v["client_url"].as_str().unwrap();
    assert_eq!(s.client_get(url).0, 410);
    let l = s.get(&format!("/v1/logins/{}", v["id"].as_str().unwrap()));
    assert_eq!(
        (l["status"].as_str(), l["reason"].as_str()),
        (Some("rejected"), Some("expired")),
        "{l}"
    );

    // A login by a card that never opened an account.
    let stranger = s.holder("stranger", true);
    let (id, url) = s.login(ORIGIN);
    assert_eq!(s.complete(&url, &stranger.card, &[]).status.code(), Some(1));
    assert_eq!(s.get(&format!("/v1/logins/{id}"))["reason"], "unknown_user");
}

/// A Web eID token over `origin` and `nonce`, signed by the card's auth key (via `honnin card sign`).
fn make_proof(s: &Sandbox, card: &str, origin: &str, nonce: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let message = honnin_verify::signature::login_proof_message(origin, &b64.decode(nonce).expect("nonce"));
    std::fs::write(s.file("proof.bin"), &message).expect("write");
    honnin_ok(&[
        "card",
        "--card",
        card,
        "--pin",
        platform_kit::PIN,
        "sign",
        "--which",
        "auth",
        "--in",
        &s.path("proof.bin"),
        "--out",
        &s.path("proof.sig"),
    ]);
    honnin_ok(&[
        "card",
        "--card",
        card,
        "read-cert",
        "--which",
        "auth",
        "--out",
        &s.path("auth.der"),
    ]);
    json!({
        "unverifiedCertificate": b64.encode(std::fs::read(s.file("auth.der")).unwrap()),
        "algorithm": "RS256",
        "signature": b64.encode(std::fs::read(s.file("proof.sig")).unwrap()),
        "format": "web-eid:1.0",
    })
    .to_string()
    .into_bytes()
}

fn renewal_keeps_the_user_id(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("renewing", true);
    let user = opened(&s, &h.card)["user_id"].as_str().unwrap().to_owned();
    assert_eq!(logged_in(&s, &h.card)["user_id"], user.as_str());
    honnin_ok(&[
        "authority",
        "card",
        "renew",
        "--data",
        &s.authority_dir(),
        "--card",
        &h.card,
    ]);
    // New auth serial → previous serial → the same user.
    assert_eq!(logged_in(&s, &h.card)["user_id"], user.as_str());
    // New signing serial → the same user, too.
    assert_eq!(opened(&s, &h.card)["user_id"], user.as_str());
}

fn reissued_card_resolves_through_the_counterpart_link(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("reissued", true);
    let user = opened(&s, &h.card)["user_id"].as_str().unwrap().to_owned();
    // A new card (lost and re-issued) before the holder ever logged in with the old one.
    let card2 = s.path("reissued-2.json");
    honnin_ok(&[
        "authority",
        "card",
        "issue",
        "--data",
        &s.authority_dir(),
        "--resident",
        &h.resident,
        "--out",
        &card2,
        "--auth-pin",
        platform_kit::PIN,
        "--sign-password",
        platform_kit::PASSWORD,
    ]);
    assert_eq!(logged_in(&s, &card2)["user_id"], user.as_str());

    // Without the holder's consent to linking, a re-issued card is a stranger.
    let other = s.holder("no-consent", false);
    opened(&s, &other.card);
    let card3 = s.path("no-consent-2.json");
    honnin_ok(&[
        "authority",
        "card",
        "issue",
        "--data",
        &s.authority_dir(),
        "--resident",
        &other.resident,
        "--out",
        &card3,
        "--auth-pin",
        platform_kit::PIN,
        "--sign-password",
        platform_kit::PASSWORD,
    ]);
    let (id, url) = s.login(ORIGIN);
    assert_eq!(s.complete(&url, &card3, &[]).status.code(), Some(1));
    assert_eq!(s.get(&format!("/v1/logins/{id}"))["reason"], "unknown_user");
}

fn tenants_are_isolated_on_every_endpoint(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("isolated", true);
    let (opening, url) = s.open_account("open");
    assert_eq!(s.complete(&url, &h.card, &[]).status.code(), Some(0));
    let user = s.get(&format!("/v1/account-openings/{opening}"))["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (login, url) = s.login(ORIGIN);
    assert_eq!(s.complete(&url, &h.card, &[]).status.code(), Some(0));

    let other: Value = serde_json::from_str(&honnin_ok(&[
        "platform",
        "tenant",
        "add",
        "--data",
        &s.platform_dir(),
        "--name",
        "Bank B",
        "--json",
    ]))
    .unwrap();
    let other_key = other["api_key"].as_str().unwrap();
    let wrong_key = format!("{}.AAAA", s.tenant);
    for path in [
        format!("/v1/account-openings/{opening}"),
        format!("/v1/logins/{login}"),
        format!("/v1/users/{user}"),
    ] {
        let (status, v) = s.sp(Method::GET, &path, Some(other_key), None);
        assert_eq!(status, 404, "another tenant must not see {path}: {v}");
        assert_eq!(v["type"], "https://honnin.dev/problems/not-found");
        for key in [None, Some(wrong_key.as_str()), Some("garbage")] {
            let (status, v) = s.sp(Method::GET, &path, key, None);
            assert_eq!(status, 401, "{path} without a valid key: {v}");
            assert!(v.get("user_id").is_none(), "{v}");
        }
    }
    for path in ["/v1/account-openings", "/v1/logins"] {
        let (status, _) = s.sp(
            Method::POST,
            path,
            None,
            Some(json!({"application": "x", "origin": ORIGIN})),
        );
        assert_eq!(status, 401);
    }
    // The same person opening an account with the other tenant gets another user_id.
    let (status, v) = s.sp(
        Method::POST,
        "/v1/account-openings",
        Some(other_key),
        Some(json!({"application": "B"})),
    );
    assert_eq!(status, 201);
    assert_eq!(
        s.complete(v["client_url"].as_str().unwrap(), &h.card, &[])
            .status
            .code(),
        Some(0)
    );
    let (_, b) = s.sp(
        Method::GET,
        &format!("/v1/account-openings/{}", v["id"].as_str().unwrap()),
        Some(other_key),
        None,
    );
    assert_eq!(b["status"], "verified");
    assert_ne!(b["user_id"], user.as_str(), "user ids are per tenant");
}

fn audit_chain_detects_edits_and_deletions(db: Db) {
    let s = Sandbox::new(db);
    let h = s.holder("audited", true);
    opened(&s, &h.card);
    let out = honnin(&["platform", "audit", "verify", "--data", &s.platform_dir(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["entries"].as_u64().unwrap() >= 5, "{report}");
    // Every call is there, and nothing secret.
    let dump = honnin_ok(&["platform", "audit", "show", "--data", &s.platform_dir(), "--json"]);
    for action in [
        "tenant.add",
        "account_opening.create",
        "client.get",
        "client.submit",
        "account_opening.get",
    ] {
        assert!(
            dump.contains(&format!("\"action\":\"{action}\"")),
            "{action} not logged: {dump}"
        );
    }
    let secret = s.api_key.split_once('.').unwrap().1;
    assert!(
        !dump.contains(platform_kit::PASSWORD) && !dump.contains(secret),
        "{dump}"
    );

    s.tamper("UPDATE audit_log SET outcome = 'rejected' WHERE seq = 3");
    let out = honnin(&["platform", "audit", "verify", "--data", &s.platform_dir()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("entry 3: the entry was altered"), "{text}");

    s.tamper("UPDATE audit_log SET outcome = 'created' WHERE seq = 3");
    s.tamper("DELETE FROM audit_log WHERE seq = 4");
    let out = honnin(&["platform", "audit", "verify", "--data", &s.platform_dir()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("entries 4..4 are missing"), "{text}");
}

fn api_documents_limits_and_errors(db: Db) {
    let s = Sandbox::new(db);
    let client = reqwest::blocking::Client::new();
    let doc: Value = client
        .get(format!("{}/openapi.json", s.platform.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for path in [
        "/v1/account-openings",
        "/v1/account-openings/{id}",
        "/v1/logins",
        "/v1/logins/{id}",
        "/client/v1/{token}",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert_eq!(
        client
            .get(format!("{}/healthz", s.platform.base))
            .send()
            .unwrap()
            .status(),
        200
    );
    // Problems are problem+json.
    let r = client
        .post(format!("{}/v1/logins", s.platform.base))
        .bearer_auth(&s.api_key)
        .json(&json!({"origin": "http://plain.example"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let big = "x".repeat(100 * 1024);
    let (status, v) = s.sp(
        Method::POST,
        "/v1/account-openings",
        Some(&s.api_key),
        Some(json!({ "application": big })),
    );
    assert_eq!(status, 413, "{v}");
    let (status, _) = s.sp(
        Method::POST,
        "/v1/account-openings",
        Some(&s.api_key),
        Some(json!({ "application": "" })),
    );
    assert_eq!(status, 400);
    let (status, _) = s.client_get(&format!("{}/client/v1/not-a-token", s.platform.base));
    assert_eq!(status, 404);
    // Metrics count what happened.
    let h = s.holder("metered", true);
    opened(&s, &h.card);
    let metrics = client
        .get(format!("{}/metrics", s.platform.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("honnin_platform_verifications_total{flow=\"account_opening\",outcome=\"verified\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("honnin_platform_http_requests_total"), "{metrics}");
}

both_databases!(
    account_opening_verified_then_login_same_user,
    rejected_when_revoked,
    rejected_when_expired_or_tampered,
    rejected_under_a_foreign_profile,
    unknown_when_the_authority_is_down,
    crl_mode_verifies_and_fails_closed,
    login_replay_and_foreign_origin_refused,
    renewal_keeps_the_user_id,
    reissued_card_resolves_through_the_counterpart_link,
    tenants_are_isolated_on_every_endpoint,
    audit_chain_detects_edits_and_deletions,
    api_documents_limits_and_errors,
);
