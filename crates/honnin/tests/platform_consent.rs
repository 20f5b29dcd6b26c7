//! The holder's consent (本人同意), the latest 4 attributes on a move (最新の基本4情報) and age checks
//! (年齢判定) end to end: a real authority and platform, emulated cards, `honnin client complete`;
//! against SQLite and PostgreSQL.

mod common;
mod platform_kit;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_platform::wire::{ConsentScope, ConsentStatement};
use platform_kit::{this_month, Db, Receiver, Sandbox, Server};
use reqwest::Method;
use serde_json::{json, Value};

const OLD_ADDRESS: &str = "東京都清瀬市中里五丁目８４２番地";

fn events_of(s: &Sandbox, kind: &str, user: &str) -> Vec<Value> {
    s.all_events()
        .into_iter()
        .filter(|e| e["type"] == kind && e["user_id"] == user)
        .collect()
}

fn check(s: &Sandbox, user: &str, method: &str) -> Value {
    let (status, r) = s.sp(
        Method::POST,
        &format!("/v1/users/{user}/status-check?method={method}"),
        Some(&s.api_key),
        None,
    );
    assert_eq!(status, 200, "{r}");
    r
}

fn wait_done(s: &Sandbox, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let v = s.get(&format!("/v1/status-checks/{id}?limit=10000"));
        if v["state"] != "running" {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the status check did not finish: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn address_of(s: &Sandbox, user: &str) -> String {
    s.get(&format!("/v1/users/{user}"))["basic4"]["address"]
        .as_str()
        .expect("address")
        .to_owned()
}

fn a_move_with_consent_updates_the_user_and_without_consent_nothing_is_fetched(db: Db) {
    let s = Sandbox::new(db);
    let (alice, alice_id) = s.customer("alice", true);
    let (bob, bob_id) = s.customer("bob", true);
    let (carol, carol_id) = s.customer("carol", true);
    let (dave, dave_id) = s.customer("dave", true);

    // Alice and Bob consent through the client URL; Carol does not.
    let task_url = s.post(&format!("/v1/users/{alice_id}/consents"), json!({ "scope": "basic4" }));
    let (status, task) = s.client_get(task_url["client_url"].as_str().unwrap());
    assert_eq!(status, 200, "{task}");
    assert_eq!(
        (task["kind"].as_str(), task["scope"].as_str(), task["verifier"].as_str()),
        (Some("consent"), Some("basic4"), Some(s.verifier_id.as_str()))
    );
    let out = s.complete(task_url["client_url"].as_str().unwrap(), &alice.card, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let alice_consent = task_url["id"].as_str().unwrap();
    let c = s.get(&format!("/v1/consents/{alice_consent}"));
    assert_eq!(
        (c["state"].as_str(), c["scope"].as_str()),
        (Some("given"), Some("basic4")),
        "{c}"
    );
    assert!(c.get("client_url").is_none(), "the capability is shown once: {c}");
    let (_, code) = s.give_consent(&bob_id, &bob.card, "basic4");
    assert_eq!(code, Some(0));
    let list = s.get(&format!("/v1/users/{bob_id}/consents"));
    assert_eq!(list["consents"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["consents"][0]["state"], "given");
    // The authority holds the live consents the holders signed.
    let consents: Value = serde_json::from_str(&platform_kit::honnin_ok(&[
        "authority",
        "consent",
        "list",
        "--data",
        &s.authority_dir(),
        "--resident",
        &alice.resident,
        "--json",
    ]))
    .unwrap();
    assert!(
        consents.to_string().contains("basic4"),
        "the authority recorded the basic4 consent: {consents}"
    );

    // The service provider's webhook gets the events too.
    let receiver = Receiver::start(0);
    let (status, _) = s.sp(
        Method::PUT,
        "/v1/webhook",
        Some(&s.api_key),
        Some(json!({ "url": receiver.url })),
    );
    assert_eq!(status, 200);

    // Dave consents, but his service provider stops using the consent.
    let (dave_consent, code) = s.give_consent(&dave_id, &dave.card, "basic4");
    assert_eq!(code, Some(0));
    let (status, w) = s.sp(
        Method::DELETE,
        &format!("/v1/consents/{dave_consent}"),
        Some(&s.api_key),
        None,
    );
    assert_eq!((status, w["state"].as_str()), (200, Some("withdrawn")), "{w}");

    // All four move.
    s.move_house(&dave, "東京都清瀬市梅園一丁目４番地");
    s.move_house(&alice, "東京都清瀬市元町一丁目１番地");
    s.move_house(&bob, "埼玉県所沢市並木二丁目２番地");
    s.move_house(&carol, "東京都清瀬市竹丘三丁目３番地");
    assert_eq!(s.authority_calls("basic4"), 0);

    // One user now (OCSP): the finding, then the latest 4 attributes with Alice's consent.
    let r = check(&s, &alice_id, "ocsp");
    assert_eq!(r["finding"], "basic4_changed", "{r}");
    let updated = events_of(&s, "user.basic4_updated", &alice_id);
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["basic4"]["address"], "東京都清瀬市元町一丁目１番地");
    assert_eq!(updated[0]["basic4"]["name"], "髙山　花子");
    assert_eq!(events_of(&s, "user.basic4_changed", &alice_id).len(), 1);
    assert_eq!(address_of(&s, &alice_id), "東京都清瀬市元町一丁目１番地");
    assert_eq!(s.authority_calls("basic4"), 1);
    let started = Instant::now();
    let delivered = loop {
        let found = receiver.requests.lock().unwrap().iter().find_map(|(headers, body)| {
            (headers.get("honnin-event").map(String::as_str) == Some("user.basic4_updated"))
                .then(|| serde_json::from_slice::<Value>(body).unwrap())
        });
        if let Some(e) = found {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no basic4_updated webhook");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (delivered["user_id"].as_str(), delivered["basic4"]["address"].as_str()),
        (Some(alice_id.as_str()), Some("東京都清瀬市元町一丁目１番地"))
    );

    // Everyone by the CRL, in a batch: Bob is updated, Carol (no consent) is not asked about, and
    // Alice, whose new signing certificate the platform learnt, is fine now.
    let (status, job) = s.sp(
        Method::POST,
        "/v1/status-checks",
        Some(&s.api_key),
        Some(json!({ "all": true, "method": "crl" })),
    );
    assert_eq!(status, 202, "{job}");
    let done = wait_done(&s, job["id"].as_str().unwrap());
    let finding = |u: &str| {
        done["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user_id"] == u)
            .map(|r| r["finding"].as_str().unwrap().to_owned())
    };
    assert_eq!(finding(&alice_id).as_deref(), Some("alive_and_usable"), "{done}");
    assert_eq!(finding(&bob_id).as_deref(), Some("basic4_changed"), "{done}");
    assert_eq!(finding(&carol_id).as_deref(), Some("basic4_changed"), "{done}");
    assert_eq!(address_of(&s, &bob_id), "埼玉県所沢市並木二丁目２番地");
    assert_eq!(events_of(&s, "user.basic4_updated", &bob_id).len(), 1);
    assert_eq!(events_of(&s, "user.basic4_changed", &carol_id).len(), 1);
    assert!(events_of(&s, "user.basic4_updated", &carol_id).is_empty());
    assert_eq!(address_of(&s, &carol_id), OLD_ADDRESS, "no consent, no update");
    assert_eq!(finding(&dave_id).as_deref(), Some("basic4_changed"), "{done}");
    assert!(events_of(&s, "user.basic4_updated", &dave_id).is_empty());
    assert_eq!(address_of(&s, &dave_id), OLD_ADDRESS, "a withdrawn consent is not used");
    assert_eq!(
        s.authority_calls("basic4"),
        2,
        "one fetch each for Alice and Bob; none for Carol or Dave, none again for Alice"
    );

    // Carol checked again, alone: still no call.
    assert_eq!(check(&s, &carol_id, "crl")["finding"], "basic4_changed");
    assert_eq!(s.authority_calls("basic4"), 2);
    // Every call (consents, fetches, OCSP, CRL checks) is metered as the authority bills it.
    s.reconcile(&this_month());
}

fn an_unreachable_authority_leaves_the_finding_and_the_next_check_fetches(db: Db) {
    let mut s = Sandbox::new(db);
    let (alice, alice_id) = s.customer("alice", true);
    let (_, other_id) = s.customer("other", true);
    assert_eq!(s.give_consent(&alice_id, &alice.card, "basic4").1, Some(0));
    s.move_house(&alice, "東京都清瀬市元町一丁目１番地");
    // The platform loads the CRL (with Alice's revocation) while checking someone else.
    assert_eq!(check(&s, &other_id, "crl")["finding"], "alive_and_usable");

    let port = s.authority.base.rsplit(':').next().unwrap().to_owned();
    s.authority.stop();
    let r = check(&s, &alice_id, "crl");
    assert_eq!(r["finding"], "basic4_changed", "from the CRL already held: {r}");
    assert!(events_of(&s, "user.basic4_updated", &alice_id).is_empty());
    assert_eq!(address_of(&s, &alice_id), OLD_ADDRESS, "nothing updated");

    // The authority is back: the next check of the same finding fetches.
    s.authority = Server::start(&[
        "authority",
        "serve",
        "--data",
        &s.authority_dir(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!(check(&s, &alice_id, "crl")["finding"], "basic4_changed");
    assert_eq!(events_of(&s, "user.basic4_updated", &alice_id).len(), 1);
    assert_eq!(address_of(&s, &alice_id), "東京都清瀬市元町一丁目１番地");
    assert_eq!(
        events_of(&s, "user.basic4_changed", &alice_id).len(),
        1,
        "the finding did not change"
    );
}

fn a_move_before_the_new_certificate_is_fetched_again_without_repeating_the_event(db: Db) {
    let s = Sandbox::new(db);
    let (alice, alice_id) = s.customer("alice", true);
    assert_eq!(s.give_consent(&alice_id, &alice.card, "basic4").1, Some(0));
    // Moved, but no new signing certificate yet.
    s.life_event(
        &alice.resident,
        &["address-change", "--address", "東京都清瀬市元町一丁目１番地"],
    );
    assert_eq!(check(&s, &alice_id, "ocsp")["finding"], "basic4_changed");
    assert_eq!(address_of(&s, &alice_id), "東京都清瀬市元町一丁目１番地");
    assert_eq!(s.authority_calls("basic4"), 1);
    // The next check asks again (the only way to learn a new certificate), but the same values
    // make no second event.
    assert_eq!(check(&s, &alice_id, "ocsp")["finding"], "basic4_changed");
    assert_eq!(s.authority_calls("basic4"), 2);
    assert_eq!(events_of(&s, "user.basic4_updated", &alice_id).len(), 1);
    // The new certificate is issued: the next fetch learns its serial, and the CRL-based check
    // after that finds the user fine.
    platform_kit::honnin_ok(&[
        "authority",
        "card",
        "renew",
        "--data",
        &s.authority_dir(),
        "--card",
        &alice.card,
        "--which",
        "sign",
        "--sign-password",
        platform_kit::PASSWORD,
    ]);
    assert_eq!(check(&s, &alice_id, "ocsp")["finding"], "basic4_changed");
    assert_eq!(s.authority_calls("basic4"), 3);
    assert_eq!(check(&s, &alice_id, "crl")["finding"], "alive_and_usable");
    assert_eq!(s.authority_calls("basic4"), 3);
    assert_eq!(events_of(&s, "user.basic4_updated", &alice_id).len(), 1);
}

fn consents_must_be_signed_by_the_user(db: Db) {
    let s = Sandbox::new(db);
    let (alice, alice_id) = s.customer("alice", false);
    let (bob, _) = s.customer("bob", false);
    // Bob's card cannot consent for Alice.
    let (id, code) = s.give_consent(&alice_id, &bob.card, "basic4");
    assert_eq!(code, Some(1));
    let c = s.get(&format!("/v1/consents/{id}"));
    assert_eq!(
        (c["state"].as_str(), c["reason"].as_str()),
        (Some("refused"), Some("not_this_user")),
        "{c}"
    );
    // A client URL is single use; an unknown scope and another tenant's user are refused.
    let c = s.post(&format!("/v1/users/{alice_id}/consents"), json!({ "scope": "basic4" }));
    let url = c["client_url"].as_str().unwrap();
    assert_eq!(s.complete(url, &alice.card, &[]).status.code(), Some(0));
    assert_ne!(s.complete(url, &alice.card, &[]).status.code(), Some(0));
    let (status, p) = s.sp(
        Method::POST,
        &format!("/v1/users/{alice_id}/consents"),
        Some(&s.api_key),
        Some(json!({ "scope": "my_number" })),
    );
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["type"], "https://honnin.dev/problems/invalid-request");
    let (status, _) = s.sp(
        Method::POST,
        "/v1/users/usr_nobody/consents",
        Some(&s.api_key),
        Some(json!({ "scope": "basic4" })),
    );
    assert_eq!(status, 404);
    // A statement naming another verifier is refused by the platform itself.
    let c = s.post(&format!("/v1/users/{alice_id}/consents"), json!({ "scope": "basic4" }));
    let other = ConsentStatement::new(
        "0123456789abcdef",
        ConsentScope::Basic4,
        time::OffsetDateTime::now_utc(),
    );
    let (status, r) = s.client_post(
        c["client_url"].as_str().unwrap(),
        json!({ "statement": B64.encode(other.to_bytes()), "cms": "AA==" })
            .to_string()
            .as_bytes(),
    );
    assert_eq!((status, r["reason"].as_str()), (200, Some("statement_mismatch")), "{r}");
    let c = s.get(&format!("/v1/consents/{}", c["id"].as_str().unwrap()));
    assert_eq!(c["state"], "refused", "{c}");
    // Every new path is in the OpenAPI document.
    let (_, doc) = s.sp(Method::GET, "/openapi.json", None, None);
    for path in [
        "/v1/users/{id}/consents",
        "/v1/consents/{id}",
        "/v1/age-checks",
        "/v1/age-checks/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} in the OpenAPI document");
    }
}

/// Starts an age check and completes it with the card; returns the check's raw JSON and its value.
fn age_check(s: &Sandbox, card: &str, threshold: u8, pin: bool) -> (String, Value) {
    let c = s.post("/v1/age-checks", json!({ "threshold": threshold, "pin": pin }));
    let id = c["id"].as_str().unwrap().to_owned();
    let url = c["client_url"].as_str().unwrap();
    let (_, task) = s.client_get(url);
    assert_eq!(
        (task["kind"].as_str(), task["pin"].as_bool(), task["threshold"].as_u64()),
        (Some("age_check"), Some(pin), Some(u64::from(threshold))),
        "{task}"
    );
    let out = if pin {
        s.complete(url, card, &[])
    } else {
        // No PIN and no password: a card touch.
        platform_kit::honnin(&["client", "complete", url, "--card", card, "--json"])
    };
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let raw = s.get_raw(&format!("/v1/age-checks/{id}"));
    let v: Value = serde_json::from_str(&raw).unwrap();
    (raw, v)
}

fn age_checks_answer_over_or_not_without_a_birth_date(db: Db) {
    let s = Sandbox::new(db);
    // Born 1990-01-02 (the kit's resident), without any account at the platform.
    let h = s.holder("shopper", false);
    let cases = [
        (20, true, true),
        (20, false, true),
        (60, true, false),
        (60, false, false),
    ];
    for (threshold, pin, over) in cases {
        let (raw, v) = age_check(&s, &h.card, threshold, pin);
        assert_eq!(v["state"], "done", "{raw}");
        let r = &v["result"];
        assert_eq!(r["over"].as_bool(), Some(over), "{raw}");
        assert_eq!(r["validity"], "valid");
        assert_eq!(r["method"], if pin { "pin" } else { "card_read" });
        assert_eq!(r["threshold"].as_u64(), Some(u64::from(threshold)));
        assert!(r["checked_at"].is_string());
        for leak in ["1990", "birth", "01-02", "髙山"] {
            assert!(!raw.contains(leak), "{leak:?} in {raw}");
        }
    }
    // A wrong PIN proves nothing: the client fails, and the check stays pending.
    let c = s.post("/v1/age-checks", json!({ "threshold": 20, "pin": true }));
    let url = c["client_url"].as_str().unwrap();
    let out = platform_kit::honnin(&["client", "complete", url, "--card", &h.card, "--pin", "9999", "--json"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        s.get(&format!("/v1/age-checks/{}", c["id"].as_str().unwrap()))["state"],
        "pending"
    );
    // A lost card: the certificate is not valid, so no answer about age (fail closed).
    s.life_event(&h.resident, &["card-lost"]);
    let (raw, v) = age_check(&s, &h.card, 20, false);
    assert_eq!(v["result"]["validity"], "invalid", "{raw}");
    assert!(v["result"]["over"].is_null(), "{raw}");
    // Nothing of it reaches the event feed; the calls went to the authority's age check.
    assert!(s.all_events().is_empty());
    assert_eq!(s.authority_calls("age-check"), 5);
    s.reconcile(&this_month());
    let (status, p) = s.sp(
        Method::POST,
        "/v1/age-checks",
        Some(&s.api_key),
        Some(json!({ "threshold": 200, "pin": false })),
    );
    assert_eq!(status, 400, "{p}");
}

both_databases!(
    a_move_with_consent_updates_the_user_and_without_consent_nothing_is_fetched,
    an_unreachable_authority_leaves_the_finding_and_the_next_check_fetches,
    a_move_before_the_new_certificate_is_fetched_again_without_repeating_the_event,
    consents_must_be_signed_by_the_user,
    age_checks_answer_over_or_not_without_a_birth_date,
);
