//! Registered verifiers end to end: verifiers and consents made with the `honnin authority` command
//! line, then `honnin authority serve` called through `honnin-authority-client` (and raw HTTP where
//! the client would not send what is tested). Credentials are checked before anything is answered,
//! serial linking follows renewal and re-issue only with the holder's consent, OCSP and CRLs work on
//! the verifier routes, the age check judges birthdays (29 February included) without telling the
//! birth date, the latest 4 attributes follow the register with a basic4 consent, holder-signed
//! consents are verified and accepted once, and every call is recorded and billed by seed 001's fee
//! table — played through on the server's sandbox clock (`serve --now`).

mod common;

use std::future::Future;
use std::path::PathBuf;

use common::{honnin, honnin_ok, openssl, Server};
use honnin_authority::{Authority, CallResult as R, FeeBasis, Statement, VerifierCall, VerifierService as S};
use honnin_authority_client::{
    AuthorityClient, BillingMonth, ClientError, ConsentScope, ConsentStatement, Counterpart, CrlCheck, CrlCheckResult,
    CrlFetch, Validity, MAX_CRL_CHECKS,
};
use honnin_profile::Hierarchy::{self, Authentication as AUTH, Signing as SIGN};
use honnin_profile::Serial;
use time::OffsetDateTime;

const UNAUTHORIZED_TYPE: &str = "https://honnin.dev/problems/unauthorized";

fn block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn serial(hex: &serde_json::Value) -> u64 {
    hex.as_str()
        .and_then(Serial::from_hex)
        .and_then(|s| s.to_u64())
        .unwrap_or_else(|| panic!("a hex serial: {hex}"))
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("JSON ({e}): {out}"))
}

/// A card's serials as `card issue --json` printed them.
#[derive(Clone, Copy, Debug)]
struct Card {
    sign: Option<u64>,
    auth: u64,
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let s = Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        honnin_ok(&["authority", "init", "--data", &s.data()]);
        s
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> String {
        self.p("data")
    }

    /// `honnin authority ARGS… --data DIR`, which must succeed.
    fn authority(&self, args: &[&str]) -> String {
        self.authority_at(None, args)
    }

    /// `honnin authority [--now NOW] ARGS… --data DIR` (the sandbox clock), which must succeed.
    fn authority_at(&self, now: Option<&str>, args: &[&str]) -> String {
        let data = self.data();
        let mut all = vec!["authority"];
        if let Some(now) = now {
            all.extend(["--now", now]);
        }
        all.extend_from_slice(args);
        all.extend(["--data", &data]);
        honnin_ok(&all)
    }

    /// `honnin authority --now NOW event --data DIR --resident RID EVENT…`.
    fn event_at(&self, now: &str, resident: &str, event: &[&str]) -> String {
        let data = self.data();
        let mut all = vec![
            "authority",
            "--now",
            now,
            "event",
            "--data",
            &data,
            "--resident",
            resident,
        ];
        all.extend_from_slice(event);
        honnin_ok(&all)
    }

    fn add_resident(&self, name: &str) -> String {
        self.add_resident_born(name, "1990-01-02")
    }

    fn add_resident_born(&self, name: &str, birth_date: &str) -> String {
        let out = self.authority(&[
            "resident",
            "add",
            "--name",
            name,
            "--address",
            "東京都清瀬市中里五丁目８４２番地",
            "--birth-date",
            birth_date,
            "--sex",
            "female",
            "--prefecture",
            "Tokyo-to",
            "--municipality",
            "Kiyose-shi",
        ]);
        out.trim().to_owned()
    }

    /// Issues (or re-issues) a card; `signing`: with a signing certificate.
    fn issue(&self, resident: &str, card: &str, signing: bool) -> Card {
        self.issue_at(None, resident, card, signing)
    }

    /// Issues (or re-issues) a card at the sandbox time `now`.
    fn issue_at(&self, now: Option<&str>, resident: &str, card: &str, signing: bool) -> Card {
        let out = self.p(card);
        let mut args = vec![
            "card",
            "issue",
            "--resident",
            resident,
            "--out",
            &out,
            "--auth-pin",
            "1234",
            "--json",
        ];
        if signing {
            args.extend(["--sign-password", "ABC123"]);
        }
        let v = json(&self.authority_at(now, &args));
        Card {
            sign: (!v["sign_serial"].is_null()).then(|| serial(&v["sign_serial"])),
            auth: serial(&v["auth_serial"]),
        }
    }

    /// Renews `which` (sign, auth, both) on a card; returns the new serials (unchanged ones from `before`).
    fn renew(&self, card: &str, which: &str, before: Card) -> Card {
        self.renew_at(None, card, which, before)
    }

    fn renew_at(&self, now: Option<&str>, card: &str, which: &str, before: Card) -> Card {
        let v = json(&self.authority_at(
            now,
            &["card", "renew", "--card", &self.p(card), "--which", which, "--json"],
        ));
        let mut after = before;
        for r in v["renewed"].as_array().expect("renewed") {
            match r["which"].as_str() {
                Some("sign") => after.sign = Some(serial(&r["new_serial"])),
                Some("auth") => after.auth = serial(&r["new_serial"]),
                other => panic!("renewed {other:?}"),
            }
        }
        after
    }

    /// `verifier add --json`: (id, secret).
    fn add_verifier(&self, name: &str) -> (String, String) {
        let v = json(&self.authority(&["verifier", "add", "--name", name, "--json"]));
        let obj = v.as_object().expect("object");
        assert_eq!(obj.len(), 2, "exactly id and secret: {v}");
        (
            v["id"].as_str().expect("id").to_owned(),
            v["secret"].as_str().expect("secret").to_owned(),
        )
    }

    fn consent(&self, action: &str, resident: &str, verifier: &str) -> serde_json::Value {
        self.consent_to(action, resident, verifier, "linking")
    }

    /// `consent add|withdraw` of one scope (`linking`, `basic4`).
    fn consent_to(&self, action: &str, resident: &str, verifier: &str, scope: &str) -> serde_json::Value {
        json(&self.authority(&[
            "consent",
            action,
            "--resident",
            resident,
            "--verifier",
            verifier,
            "--scope",
            scope,
            "--json",
        ]))
    }

    fn ca_pem(&self, which: &str) -> String {
        let out = self.p(&format!("{which}-ca.pem"));
        self.authority(&["ca", "export", "--which", which, "--out", &out]);
        out
    }

    fn cert_pem(&self, resident: &str, which: &str) -> String {
        let out = self.p(&format!("{resident}-{which}.pem"));
        self.authority(&[
            "cert",
            "export",
            "--resident",
            resident,
            "--which",
            which,
            "--out",
            &out,
            "--pem",
        ]);
        out
    }

    /// The calls `verifier` made in the last and next hour, from the data directory.
    fn calls(&self, verifier: &str) -> Vec<VerifierCall> {
        let now = OffsetDateTime::now_utc();
        self.calls_between(verifier, now - time::Duration::hours(1), now + time::Duration::hours(1))
    }

    /// The calls `verifier` made in `[from, to)`, from the data directory (as a bill reads them).
    fn calls_between(&self, verifier: &str, from: OffsetDateTime, to: OffsetDateTime) -> Vec<VerifierCall> {
        let data = self.path("data");
        let verifier = verifier.to_owned();
        block(async move {
            let authority = Authority::open(&data).await.expect("open");
            authority.verifier_calls(&verifier, from, to).await.expect("calls")
        })
    }
}

fn serve(s: &Sandbox) -> Server {
    serve_at(s, None)
}

/// `honnin authority serve`, its sandbox clock started at `now` when given.
fn serve_at(s: &Sandbox, now: Option<&str>) -> Server {
    let data = s.data();
    let mut args = vec!["authority"];
    if let Some(now) = now {
        args.extend(["--now", now]);
    }
    args.extend(["serve", "--data", &data, "--listen", "127.0.0.1:0"]);
    Server::start(&args)
}

fn client(server: &Server, (id, secret): &(String, String)) -> AuthorityClient {
    AuthorityClient::new(&server.base, id.as_str(), secret.as_str()).expect("client")
}

/// (service, hierarchy, serial, linked serial, result) of each call, in order.
type CallRow = (S, Option<Hierarchy>, Option<u64>, Option<u64>, R);

fn rows(calls: &[VerifierCall]) -> Vec<CallRow> {
    calls
        .iter()
        .map(|c| (c.service, c.hierarchy, c.serial, c.linked_serial, c.result))
        .collect()
}

#[test]
fn credentials_are_checked_before_anything_is_answered() {
    let s = Sandbox::new();
    let resident = s.add_resident("山田　花子");
    let card = s.issue(&resident, "card.json", true);
    let good = s.add_verifier("Example Bank");
    let other = s.add_verifier("Example Shop");
    s.consent("add", &resident, &good.0);
    let server = serve(&s);
    let link_url = format!(
        "{}/verifier/v1/certificates/auth/{:X}/counterpart",
        server.base, card.auth
    );

    // No credentials, an unknown verifier, a wrong secret, another verifier's secret, malformed
    // Basic: the same 401, with the challenge and nothing but the problem document.
    let http = reqwest::blocking::Client::new();
    let attempts: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("unknown id", Some(format!("{}:{}", "0000000000000000", good.1))),
        ("wrong secret", Some(format!("{}:{}x", good.0, good.1))),
        ("other's secret", Some(format!("{}:{}", good.0, other.1))),
        ("no colon", Some(good.0.clone())),
    ];
    let mut bodies = Vec::new();
    for (what, credentials) in attempts {
        for url in [
            link_url.clone(),
            format!("{}/verifier/v1/crl/auth.crl", server.base),
            format!("{}/verifier/v1/no-such-route", server.base),
        ] {
            let mut request = http.get(&url);
            if let Some(c) = &credentials {
                request = request.header("Authorization", format!("Basic {}", b64(c.as_bytes())));
            }
            let response = request.send().expect("GET");
            assert_eq!(response.status(), 401, "{what}: {url}");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Basic realm=\"honnin-authority\"",
                "{what}"
            );
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            assert!(response.headers().get("etag").is_none(), "{what}: no CRL headers");
            let body = response.text().expect("body");
            let v = json(&body);
            assert_eq!(v["type"], UNAUTHORIZED_TYPE, "{what}");
            assert_eq!(v["status"], 401);
            assert!(
                !body.contains(&format!("{:X}", card.auth)) && !body.contains(&resident),
                "{what}: nothing about the certificate or holder: {body}"
            );
            bodies.push(body);
        }
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "every refusal is the same document: {bodies:?}");
    // The OCSP route refuses before it reads the request.
    let response = http
        .post(format!("{}/verifier/v1/ocsp", server.base))
        .header("Content-Type", "application/ocsp-request")
        .body(vec![0x30, 0x00])
        .send()
        .expect("POST");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "application/problem+json");

    // Through the client: wrong secret and unknown id are Unauthorized.
    block(async {
        for c in [
            client(&server, &(good.0.clone(), "wrong".into())),
            client(&server, &("0000000000000000".into(), good.1.clone())),
        ] {
            assert!(matches!(
                c.counterpart(AUTH, card.auth).await,
                Err(ClientError::Unauthorized)
            ));
            assert!(matches!(c.crl(AUTH, None).await, Err(ClientError::Unauthorized)));
            assert!(matches!(c.ocsp(&[0x30, 0x00]).await, Err(ClientError::Unauthorized)));
        }
        let c = client(&server, &good);
        assert_eq!(
            c.counterpart(AUTH, card.auth).await.expect("the right secret works"),
            Counterpart {
                sign: card.sign,
                auth: card.auth
            }
        );
    });

    // A disabled verifier: 403 forbidden (not consent-required), on every route.
    honnin_ok(&["authority", "verifier", "disable", "--data", &s.data(), "--id", &good.0]);
    let listed = json(&s.authority(&["verifier", "list", "--json"]));
    let listed = listed.as_array().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|v| v.get("secret").is_none() && v.get("secret_hash").is_none()));
    assert_eq!(
        listed.iter().find(|v| v["id"] == good.0.as_str()).expect("listed")["disabled"],
        true
    );
    block(async {
        let c = client(&server, &good);
        for result in [
            c.counterpart(AUTH, card.auth).await.map(|_| ()),
            c.crl(SIGN, None).await.map(|_| ()),
            c.ocsp(&[0x30, 0x00]).await.map(|_| ()),
        ] {
            match result {
                Err(ClientError::Forbidden { detail }) => assert!(detail.contains("disabled"), "{detail}"),
                other => panic!("expected Forbidden, got {other:?}"),
            }
        }
        // A disabled verifier with a wrong secret learns nothing more than anyone else.
        let c = client(&server, &(good.0.clone(), "wrong".into()));
        assert!(matches!(
            c.counterpart(AUTH, card.auth).await,
            Err(ClientError::Unauthorized)
        ));
    });
    let response = http
        .get(&link_url)
        .basic_auth(&good.0, Some(&good.1))
        .send()
        .expect("GET");
    assert_eq!(response.status(), 403);
    assert_eq!(
        json(&response.text().expect("body"))["type"],
        "https://honnin.dev/problems/forbidden"
    );
    // Refused calls are not billed; the one that got through is.
    let calls = rows(&s.calls(&good.0));
    assert_eq!(
        calls,
        vec![(S::Counterpart, Some(AUTH), Some(card.auth), card.sign, R::Found)]
    );
    assert!(s.calls(&other.0).is_empty());
}

#[test]
fn serial_linking_follows_renewal_and_reissue_only_with_consent() {
    let s = Sandbox::new();
    let hanako = s.add_resident("山田　花子");
    let first = s.issue(&hanako, "hanako.json", true);
    let bank = s.add_verifier("Example Bank");
    let shop = s.add_verifier("Example Shop");
    let server = serve(&s);
    let (bank_client, shop_client) = (client(&server, &bank), client(&server, &shop));
    let sign1 = first.sign.expect("signing certificate");

    // Without consent: consent-required (a 403 distinct from a disabled verifier's).
    block(async {
        for (h, serial) in [(AUTH, first.auth), (SIGN, sign1)] {
            assert!(matches!(
                bank_client.previous(h, serial).await,
                Err(ClientError::ConsentRequired { .. })
            ));
            assert!(matches!(
                bank_client.next(h, serial).await,
                Err(ClientError::ConsentRequired { .. })
            ));
            assert!(matches!(
                bank_client.counterpart(h, serial).await,
                Err(ClientError::ConsentRequired { .. })
            ));
        }
    });
    let consent = s.consent("add", &hanako, &bank.0);
    assert_eq!(consent["scope"], "linking");
    assert!(consent["withdrawn_at"].is_null());

    block(async {
        // A fresh card: nothing before or after; the counterpart from either side.
        assert_eq!(bank_client.previous(AUTH, first.auth).await.expect("previous"), None);
        assert_eq!(bank_client.next(AUTH, first.auth).await.expect("next"), None);
        let pair = Counterpart {
            sign: Some(sign1),
            auth: first.auth,
        };
        assert_eq!(
            bank_client.counterpart(AUTH, first.auth).await.expect("counterpart"),
            pair
        );
        assert_eq!(bank_client.counterpart(SIGN, sign1).await.expect("counterpart"), pair);
        // The consent is the bank's, not the shop's.
        assert!(matches!(
            shop_client.counterpart(AUTH, first.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        // Unknown serials, and a serial asked under the other hierarchy, are 404.
        for (h, serial) in [(AUTH, 0x0123_4567_89AB_CDEF), (SIGN, first.auth), (AUTH, sign1)] {
            assert!(
                matches!(bank_client.previous(h, serial).await, Err(ClientError::NotFound { .. })),
                "{h:?} {serial:X}"
            );
        }
    });

    // Renewal of both: one step back and forward in each hierarchy.
    let renewed = s.renew("hanako.json", "both", first);
    let sign2 = renewed.sign.expect("sign");
    block(async {
        assert_eq!(
            bank_client.previous(AUTH, renewed.auth).await.expect("p"),
            Some(first.auth)
        );
        assert_eq!(bank_client.next(AUTH, first.auth).await.expect("n"), Some(renewed.auth));
        assert_eq!(bank_client.previous(SIGN, sign2).await.expect("p"), Some(sign1));
        assert_eq!(bank_client.next(SIGN, sign1).await.expect("n"), Some(sign2));
        assert_eq!(bank_client.next(SIGN, sign2).await.expect("n"), None);
        assert_eq!(
            bank_client.counterpart(SIGN, sign2).await.expect("c"),
            Counterpart {
                sign: Some(sign2),
                auth: renewed.auth
            }
        );
    });

    // The auth certificate renewed alone: the signing certificate's counterpart is the card's
    // newest auth certificate; the walk is one step at a time.
    let auth_only = s.renew("hanako.json", "auth", renewed);
    block(async {
        assert_eq!(
            bank_client.counterpart(SIGN, sign2).await.expect("c"),
            Counterpart {
                sign: Some(sign2),
                auth: auth_only.auth
            }
        );
        assert_eq!(
            bank_client.counterpart(AUTH, auth_only.auth).await.expect("c"),
            Counterpart {
                sign: Some(sign2),
                auth: auth_only.auth
            }
        );
        assert_eq!(
            bank_client.previous(AUTH, auth_only.auth).await.expect("p"),
            Some(renewed.auth)
        );
    });

    // Re-issue (a new card): the new card's certificates follow the old card's last ones.
    let reissued = s.issue(&hanako, "hanako2.json", true);
    let sign3 = reissued.sign.expect("sign");
    block(async {
        assert_eq!(
            bank_client.previous(AUTH, reissued.auth).await.expect("p"),
            Some(auth_only.auth)
        );
        assert_eq!(
            bank_client.next(AUTH, auth_only.auth).await.expect("n"),
            Some(reissued.auth)
        );
        assert_eq!(bank_client.previous(SIGN, sign3).await.expect("p"), Some(sign2));
        assert_eq!(bank_client.next(SIGN, sign2).await.expect("n"), Some(sign3));
        assert_eq!(
            bank_client.counterpart(AUTH, reissued.auth).await.expect("c"),
            Counterpart {
                sign: Some(sign3),
                auth: reissued.auth
            }
        );
        // The old card's pair is still answered as it was.
        assert_eq!(
            bank_client.counterpart(AUTH, first.auth).await.expect("c").sign,
            Some(sign1)
        );
    });

    // A card without a signing certificate: its auth certificate's counterpart has no sign.
    let taro = s.add_resident("山田　太郎");
    let no_sign = s.issue(&taro, "taro.json", false);
    s.consent("add", &taro, &bank.0);
    block(async {
        assert_eq!(
            bank_client.counterpart(AUTH, no_sign.auth).await.expect("c"),
            Counterpart {
                sign: None,
                auth: no_sign.auth
            }
        );
    });

    // Withdrawn consent: consent-required again, for that holder only.
    let withdrawn = s.consent("withdraw", &hanako, &bank.0);
    assert!(withdrawn["withdrawn_at"].is_string());
    block(async {
        assert!(matches!(
            bank_client.next(AUTH, first.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        assert!(matches!(
            bank_client.counterpart(SIGN, sign3).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        assert!(
            bank_client.counterpart(AUTH, no_sign.auth).await.is_ok(),
            "taro's consent stands"
        );
    });
    let again = honnin(&[
        "authority",
        "consent",
        "withdraw",
        "--data",
        &s.data(),
        "--resident",
        &hanako,
        "--verifier",
        &bank.0,
    ]);
    assert!(!again.status.success());
    let err = common::stderr(&again);
    assert!(
        err.contains("has no live linking consent") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    let listed = json(&s.authority(&["consent", "list", "--resident", &hanako, "--json"]));
    assert_eq!(
        listed.as_array().expect("list").len(),
        1,
        "one consent, now withdrawn: {listed}"
    );
    assert!(listed[0]["withdrawn_at"].is_string());
    // Consent given again after withdrawal is a new consent.
    s.consent("add", &hanako, &bank.0);
    block(async {
        assert_eq!(bank_client.next(AUTH, first.auth).await.expect("n"), Some(renewed.auth));
    });
    let listed = json(&s.authority(&["consent", "list", "--json"]));
    assert_eq!(listed.as_array().expect("list").len(), 3);

    // What was recorded: every call, refusals included, with what a bill needs.
    let calls = s.calls(&bank.0);
    let r = rows(&calls);
    assert_eq!(r.len(), 6 + 7 + 6 + 3 + 6 + 1 + 3 + 1, "{r:?}");
    assert_eq!(
        r[0],
        (S::Previous, Some(AUTH), Some(first.auth), None, R::ConsentRequired)
    );
    assert_eq!(r[6], (S::Previous, Some(AUTH), Some(first.auth), None, R::None));
    assert_eq!(
        r[8],
        (S::Counterpart, Some(AUTH), Some(first.auth), Some(sign1), R::Found)
    );
    assert_eq!(
        r[9],
        (S::Counterpart, Some(SIGN), Some(sign1), Some(first.auth), R::Found)
    );
    assert_eq!(
        r[10],
        (S::Previous, Some(AUTH), Some(0x0123_4567_89AB_CDEF), None, R::NotFound)
    );
    assert_eq!(
        r[13],
        (S::Previous, Some(AUTH), Some(renewed.auth), Some(first.auth), R::Found)
    );
    assert_eq!(
        r.last(),
        Some(&(S::Next, Some(AUTH), Some(first.auth), Some(renewed.auth), R::Found))
    );
    assert!(calls.windows(2).all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
    assert!(calls.iter().all(|c| c.verifier_id == bank.0));
    // The shop's refused call is the shop's.
    assert_eq!(
        rows(&s.calls(&shop.0)),
        vec![(S::Counterpart, Some(AUTH), Some(first.auth), None, R::ConsentRequired)]
    );
}

#[test]
fn ocsp_and_crls_on_the_verifier_routes_are_the_public_ones_and_recorded() {
    let s = Sandbox::new();
    let resident = s.add_resident("佐藤　花子");
    let card = s.issue(&resident, "card.json", true);
    let verifier = s.add_verifier("Example Platform");
    let (auth_ca, sign_ca) = (s.ca_pem("auth"), s.ca_pem("sign"));
    let (auth_cert, sign_cert) = (s.cert_pem(&resident, "auth"), s.cert_pem(&resident, "sign"));
    let server = serve(&s);
    let c = client(&server, &verifier);

    // One request for the auth certificate, one for both certificates of a second card (one CA
    // per request), and a request that does not parse.
    let other = s.add_resident("佐藤　次郎");
    let other_card = s.issue(&other, "other.json", true);
    let other_auth = s.cert_pem(&other, "auth");
    let request = |name: &str, certs: &[&str]| {
        let out = s.p(name);
        let mut args = vec!["ocsp", "-issuer", auth_ca.as_str(), "-reqout", out.as_str()];
        for cert in certs {
            args.extend(["-cert", cert]);
        }
        openssl(&args);
        std::fs::read(&out).expect("request")
    };
    let one = request("one.req", &[&auth_cert]);
    let two = request("two.req", &[&auth_cert, &other_auth]);
    let check = |name: &str, der: &[u8], cert: &str, ca: &str| {
        let path = s.p(name);
        std::fs::write(&path, der).expect("write");
        openssl(&[
            "ocsp",
            "-respin",
            &path,
            "-issuer",
            ca,
            "-cert",
            cert,
            "-CAfile",
            ca,
            "-no_nonce",
        ])
    };
    block(async {
        let out = check("one.resp", &c.ocsp(&one).await.expect("ocsp"), &auth_cert, &auth_ca);
        assert!(out.contains("Response verify OK") && out.contains(": good"), "{out}");
        let out = check("two.resp", &c.ocsp(&two).await.expect("ocsp"), &other_auth, &auth_ca);
        assert!(out.contains("Response verify OK") && out.contains(": good"), "{out}");
        // Garbage still gets an OCSP answer (malformedRequest), as on /ocsp.
        let der = c.ocsp(b"not a request").await.expect("an OCSP error response");
        let out = check("bad.resp", &der, &auth_cert, &auth_ca);
        assert!(out.contains("malformedrequest") || out.contains("malformed"), "{out}");
    });

    // CRLs: byte for byte the public CRL, with ETag and 304.
    let http = reqwest::blocking::Client::new();
    let public_crl = http
        .get(format!("{}/crl/sign.crl", server.base))
        .send()
        .expect("GET")
        .bytes()
        .expect("body")
        .to_vec();
    let etag = block(async {
        let CrlFetch::Fresh { der, etag } = c.crl(SIGN, None).await.expect("crl") else {
            panic!("a first fetch is fresh")
        };
        assert_eq!(der, public_crl);
        let etag = etag.expect("an ETag");
        assert_eq!(c.crl(SIGN, Some(&etag)).await.expect("crl"), CrlFetch::NotModified);
        etag
    });
    let response = http
        .get(format!("{}/verifier/v1/crl/sign.crl", server.base))
        .basic_auth(&verifier.0, Some(&verifier.1))
        .send()
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("last-modified"));
    assert!(response.headers()["cache-control"]
        .to_str()
        .expect("text")
        .starts_with("private"));

    // After the card is reported lost, OCSP says revoked and the CRL is new.
    honnin_ok(&[
        "authority",
        "event",
        "--data",
        &s.data(),
        "--resident",
        &resident,
        "card-lost",
    ]);
    let sign_req = {
        let out = s.p("sign.req");
        openssl(&[
            "ocsp",
            "-issuer",
            &sign_ca,
            "-cert",
            &sign_cert,
            "-no_nonce",
            "-reqout",
            &out,
        ]);
        std::fs::read(&out).expect("request")
    };
    block(async {
        let out = check(
            "sign.resp",
            &c.ocsp(&sign_req).await.expect("ocsp"),
            &sign_cert,
            &sign_ca,
        );
        assert!(out.contains(": revoked") && out.contains("certificateHold"), "{out}");
        let CrlFetch::Fresh { der, etag: new_etag } = c.crl(SIGN, Some(&etag)).await.expect("crl") else {
            panic!("the CRL changed")
        };
        assert_ne!(new_etag.as_deref(), Some(etag.as_str()));
        std::fs::write(s.path("new.crl"), der).expect("write");
        // The public root, fetched without credentials, is the exported one.
        let root = c.ca_certificate(SIGN).await.expect("root");
        let exported =
            honnin_profile::certificates_from_pem_or_der(&std::fs::read(&sign_ca).expect("pem")).expect("pem");
        assert_eq!(vec![root], exported);
    });
    assert!(
        openssl(&["crl", "-inform", "DER", "-in", &s.p("new.crl"), "-text", "-noout"]).contains("Certificate Hold")
    );

    // Every certificate asked about is one recorded call, with the hierarchy its issuer names.
    let sign1 = card.sign.expect("sign");
    assert_eq!(
        rows(&s.calls(&verifier.0)),
        vec![
            (S::Ocsp, Some(AUTH), Some(card.auth), None, R::Good),
            (S::Ocsp, Some(AUTH), Some(card.auth), None, R::Good),
            (S::Ocsp, Some(AUTH), Some(other_card.auth), None, R::Good),
            (S::Ocsp, None, None, None, R::Malformed),
            (S::Crl, Some(SIGN), None, None, R::Sent),
            (S::Crl, Some(SIGN), None, None, R::NotModified),
            (S::Crl, Some(SIGN), None, None, R::Sent),
            (S::Ocsp, Some(SIGN), Some(sign1), None, R::Revoked),
            (S::Crl, Some(SIGN), None, None, R::Sent),
        ]
    );
    // The public routes record nothing.
    let before = s.calls(&verifier.0).len();
    let out = openssl(&[
        "ocsp",
        "-issuer",
        &auth_ca,
        "-cert",
        &auth_cert,
        "-url",
        &format!("{}/ocsp", server.base),
        "-CAfile",
        &auth_ca,
    ]);
    assert!(out.contains(": revoked"), "{out}");
    assert_eq!(s.calls(&verifier.0).len(), before);
}

#[test]
fn an_authority_that_cannot_be_reached_is_unavailable_not_an_answer() {
    // A port nothing listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let c = AuthorityClient::new(&format!("http://127.0.0.1:{port}"), "id", "secret").expect("client");
    block(async {
        let e = c.ocsp(&[0x30, 0x00]).await.expect_err("nothing listens");
        assert!(
            matches!(e, ClientError::Unreachable { .. }) && e.is_unavailable(),
            "{e:?}"
        );
        let e = c.crl(AUTH, None).await.expect_err("nothing listens");
        assert!(e.is_unavailable(), "{e:?}");
        assert!(!e.to_string().contains("secret"), "{e}");
    });
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn t(rfc3339: &str) -> OffsetDateTime {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).expect("RFC 3339")
}

fn month(s: &str) -> BillingMonth {
    BillingMonth::parse(s).expect("YYYY-MM")
}

/// A certificate's DER as `cert export` writes it.
fn cert_der(s: &Sandbox, resident: &str, which: &str) -> Vec<u8> {
    let out = s.p(&format!("{resident}-{which}.der"));
    s.authority(&[
        "cert",
        "export",
        "--resident",
        resident,
        "--which",
        which,
        "--out",
        &out,
    ]);
    std::fs::read(&out).expect("certificate")
}

#[test]
fn age_check_counts_age_on_the_jst_birthday_and_answers_only_for_valid_certificates() {
    let s = Sandbox::new();
    // Born on a leap day; and on an ordinary day. Cards issued in January 2024.
    let hanako = s.add_resident_born("山田　花子", "2004-02-29");
    let taro = s.add_resident_born("山田　太郎", "2006-05-10");
    let issued = Some("2024-01-10T10:00:00+09:00");
    let h = s.issue_at(issued, &hanako, "hanako.json", true);
    let tr = s.issue_at(issued, &taro, "taro.json", true);
    let (h_sign, h_auth) = (cert_der(&s, &hanako, "sign"), cert_der(&s, &hanako, "auth"));
    let (t_sign, t_auth) = (cert_der(&s, &taro, "sign"), cert_der(&s, &taro, "auth"));
    // Hanako moves in February 2026 (her signing certificate is revoked); Taro's card is lost in
    // March 2026 (both revoked).
    s.event_at(
        "2026-02-01T10:00:00+09:00",
        &hanako,
        &["address-change", "--address", "東京都清瀬市元町一丁目１番地"],
    );
    s.event_at("2026-03-01T10:00:00+09:00", &taro, &["card-lost"]);
    // A certificate from another authority: not this one's, so unknown.
    let other = Sandbox::new();
    let stranger = other.add_resident("佐藤　次郎");
    other.issue(&stranger, "stranger.json", true);
    let foreign = cert_der(&other, &stranger, "auth");
    let verifier = s.add_verifier("Liquor Shop");
    let server = serve_at(&s, Some("2026-06-01T10:00:00+09:00"));
    let c = client(&server, &verifier);

    let check = |cert: &[u8], threshold: u8, at: Option<&str>| {
        let c = c.clone();
        let cert = cert.to_vec();
        let at = at.map(t);
        block(async move { c.age_check(&cert, threshold, at).await.expect("age check") })
    };
    let over = |cert: &[u8], threshold: u8, at: &str| {
        let a = check(cert, threshold, Some(at));
        assert_eq!(a.validity, Validity::Valid, "{at}");
        a.over.expect("a valid certificate has an answer")
    };
    for (which, cert) in [("sign", &h_sign), ("auth", &h_auth)] {
        // 2024 is a leap year: 20 on 29 February, from 00:00 JST.
        assert!(!over(cert, 20, "2024-02-28T23:59:59+09:00"), "{which}");
        assert!(over(cert, 20, "2024-02-29T00:00:00+09:00"), "{which}");
        // 2025 is not: 21 from 1 March (the year is gained at the end of 28 February) …
        assert!(!over(cert, 21, "2025-02-28T23:59:59+09:00"), "{which}");
        assert!(over(cert, 21, "2025-03-01T00:00:00+09:00"), "{which}");
        // … on the JST date, whatever the offset the time is written in.
        assert!(!over(cert, 21, "2025-02-28T14:59:59Z"), "{which}");
        assert!(over(cert, 21, "2025-02-28T15:00:00Z"), "{which}");
        assert!(over(cert, 0, "2024-01-10T10:00:00+09:00"), "{which}");
        assert!(!over(cert, 150, "2025-12-31T00:00:00+09:00"), "{which}");
    }
    for (which, cert) in [("sign", &t_sign), ("auth", &t_auth)] {
        assert!(!over(cert, 18, "2024-05-09T23:59:59+09:00"), "{which}");
        assert!(over(cert, 18, "2024-05-10T00:00:00+09:00"), "{which}");
        assert!(!over(cert, 19, "2025-05-09T12:00:00+09:00"), "{which}");
        assert!(over(cert, 19, "2025-05-10T12:00:00+09:00"), "{which}");
    }
    // Before issuance, after revocation: invalid, and no age answered.
    for (cert, at) in [
        (&h_auth, Some("2024-01-09T12:00:00+09:00")),
        (&h_sign, Some("2026-02-01T10:00:00+09:00")),
        (&h_sign, None),
        (&t_sign, None),
        (&t_auth, None),
        (&t_auth, Some("2026-03-01T10:00:01+09:00")),
    ] {
        let a = check(cert, 18, at);
        assert_eq!((a.validity, a.over), (Validity::Invalid, None), "{at:?}");
    }
    // The auth certificate survives the move; the time judged defaults to the authority's clock.
    let a = check(&h_auth, 22, None);
    assert_eq!((a.validity, a.over), (Validity::Valid, Some(true)));
    assert!(
        (a.at - t("2026-06-01T10:00:00+09:00")).whole_minutes().abs() < 10,
        "{}",
        a.at
    );
    // Revoked after the time asked: valid then.
    assert_eq!(
        check(&t_auth, 18, Some("2026-02-28T10:00:00+09:00")).validity,
        Validity::Valid
    );
    // Not this authority's: unknown, no age.
    let a = check(&foreign, 18, None);
    assert_eq!((a.validity, a.over), (Validity::Unknown, None));

    // Bad requests: 400, not recorded.
    block(async {
        for (cert, threshold, at) in [
            (b"not a certificate".to_vec(), 18, None),
            (h_auth.clone(), 151, None),
            (h_auth.clone(), 18, Some(t("2026-06-02T10:00:00+09:00"))),
        ] {
            assert!(
                matches!(
                    c.age_check(&cert, threshold, at).await,
                    Err(ClientError::BadRequest { .. })
                ),
                "{threshold} {at:?}"
            );
        }
    });
    // Raw bodies: the answer's members and nothing of the birth date.
    let http = reqwest::blocking::Client::new();
    for body in [
        serde_json::json!({ "certificate": b64(&h_sign), "threshold": 20, "at": "2024-02-29T00:00:00+09:00" }),
        serde_json::json!({ "certificate": b64(&t_auth), "threshold": 18 }),
        serde_json::json!({ "certificate": b64(&foreign), "threshold": 18 }),
    ] {
        let response = http
            .post(format!("{}/verifier/v1/age-check", server.base))
            .basic_auth(&verifier.0, Some(&verifier.1))
            .json(&body)
            .send()
            .expect("POST");
        assert_eq!(response.status(), 200);
        let text = response.text().expect("body");
        let mut v = json(&text);
        let object = v.as_object_mut().expect("object");
        let mut keys: Vec<_> = object.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["at", "over", "threshold", "validity"], "{text}");
        // The time judged is the one asked (or the clock); nothing else could carry a date.
        if let Some(at) = body.get("at") {
            assert_eq!(object["at"], *at);
        }
        object.remove("at");
        let rest = serde_json::to_string(&v).expect("json");
        for birth in ["2004", "2006", "02-29", "0229", "05-10", "birth"] {
            assert!(!rest.contains(birth), "{birth} in {text}");
        }
    }
    for bad in [
        serde_json::json!({ "certificate": "%%%", "threshold": 18 }),
        serde_json::json!({ "certificate": b64(&h_sign), "threshold": 300 }),
        serde_json::json!({ "certificate": b64(&h_sign) }),
        serde_json::json!({ "certificate": b64(&h_sign), "threshold": 18, "birth_date": true }),
    ] {
        let response = http
            .post(format!("{}/verifier/v1/age-check", server.base))
            .basic_auth(&verifier.0, Some(&verifier.1))
            .json(&bad)
            .send()
            .expect("POST");
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(
            json(&response.text().expect("body"))["type"],
            "https://honnin.dev/problems/bad-request"
        );
    }

    // Every answered check is one recorded call; the malformed ones are not.
    let calls = s.calls_between(
        &verifier.0,
        t("2026-06-01T00:00:00+09:00"),
        t("2026-06-02T00:00:00+09:00"),
    );
    assert_eq!(calls.len(), 16 + 8 + 6 + 2 + 1 + 3, "{:?}", rows(&calls));
    assert!(calls.iter().all(|c| c.service == S::AgeCheck));
    assert_eq!(
        rows(&calls[..1]),
        vec![(S::AgeCheck, Some(SIGN), h.sign, None, R::Valid)]
    );
    assert_eq!(
        calls.iter().filter(|c| c.result == R::Invalid).count(),
        6 + 1,
        "the raw check of Taro's revoked auth certificate included"
    );
    assert_eq!(
        (calls[16].hierarchy, calls[16].serial),
        (Some(SIGN), tr.sign),
        "Taro's checks follow Hanako's 16"
    );
    let last = calls.last().expect("calls");
    assert_eq!(
        (last.service, last.hierarchy, last.result),
        (S::AgeCheck, Some(AUTH), R::Unknown)
    );
}

#[test]
fn latest_basic4_follows_the_register_only_with_a_basic4_consent() {
    let s = Sandbox::new();
    let hanako = s.add_resident_born("山田　花子", "1990-01-02");
    let first = s.issue(&hanako, "hanako.json", true);
    let bank = s.add_verifier("Example Bank");
    let shop = s.add_verifier("Example Shop");
    let server = serve(&s);
    let (bank_client, shop_client) = (client(&server, &bank), client(&server, &shop));
    let sign1 = first.sign.expect("sign");

    // Without a basic4 consent (a linking consent is not one): 403 consent-required.
    s.consent("add", &hanako, &bank.0);
    block(async {
        for (h, serial) in [(AUTH, first.auth), (SIGN, sign1)] {
            assert!(matches!(
                bank_client.basic4(h, serial).await,
                Err(ClientError::ConsentRequired { detail }) if detail.contains("latest 4 attributes")
            ));
        }
    });
    let consent = s.consent_to("add", &hanako, &bank.0, "basic4");
    assert_eq!(consent["scope"], "basic4");
    block(async {
        let a = bank_client.basic4(AUTH, first.auth).await.expect("basic4");
        assert_eq!(
            (
                a.name.as_str(),
                a.address.as_str(),
                a.birth_date.to_string().as_str(),
                a.sex
            ),
            (
                "山田　花子",
                "東京都清瀬市中里五丁目８４２番地",
                "1990-01-02",
                honnin_profile::Sex::Female
            )
        );
        assert_eq!((a.hierarchy, a.serial, a.sign), (AUTH, first.auth, Some(sign1)));
        assert!((a.as_of - OffsetDateTime::now_utc()).whole_minutes().abs() < 5);
        assert_eq!(bank_client.basic4(SIGN, sign1).await.expect("basic4").sign, Some(sign1));
        // The consent is the bank's only; unknown serials are 404 either way.
        assert!(matches!(
            shop_client.basic4(AUTH, first.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        for (h, serial) in [(AUTH, 0x0123_4567_89AB_CDEF), (SIGN, first.auth)] {
            assert!(matches!(
                bank_client.basic4(h, serial).await,
                Err(ClientError::NotFound { .. })
            ));
        }
    });

    // She moves and marries: the register changes, her signing certificate is revoked; the old
    // certificates still find her, with the new attributes and no current signing certificate.
    let now = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("now");
    s.event_at(
        &now,
        &hanako,
        &["address-change", "--address", "東京都清瀬市元町一丁目１番地"],
    );
    s.event_at(&now, &hanako, &["name-change", "--name", "鈴木　花子"]);
    block(async {
        for (h, serial) in [(AUTH, first.auth), (SIGN, sign1)] {
            let a = bank_client.basic4(h, serial).await.expect("basic4");
            assert_eq!(
                (a.name.as_str(), a.address.as_str(), a.sign),
                ("鈴木　花子", "東京都清瀬市元町一丁目１番地", None)
            );
        }
    });
    // A new card: the old serials now point at the new signing certificate.
    let second = s.issue(&hanako, "hanako2.json", true);
    block(async {
        let a = bank_client.basic4(SIGN, sign1).await.expect("basic4");
        assert_eq!((a.sign, a.name.as_str()), (second.sign, "鈴木　花子"));
    });
    // Raw: the body is the documented object, and the path's serial is case-insensitive.
    let http = reqwest::blocking::Client::new();
    let response = http
        .get(format!(
            "{}/verifier/v1/certificates/auth/{}/basic4",
            server.base,
            format!("{:X}", first.auth).to_lowercase()
        ))
        .basic_auth(&bank.0, Some(&bank.1))
        .send()
        .expect("GET");
    assert_eq!(response.status(), 200);
    let v = json(&response.text().expect("body"));
    let mut keys: Vec<_> = v.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "address",
            "as_of",
            "birth_date",
            "hierarchy",
            "name",
            "serial",
            "sex",
            "sign"
        ]
    );
    assert_eq!(v["sign"], Serial::from_u64(second.sign.expect("sign")).to_hex());

    // Withdrawn: 403 again; the linking consent is untouched.
    s.consent_to("withdraw", &hanako, &bank.0, "basic4");
    block(async {
        assert!(matches!(
            bank_client.basic4(AUTH, second.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        assert!(bank_client.counterpart(AUTH, second.auth).await.is_ok());
    });

    // A holder who died, one who emigrated: 410 with a distinct type, only to a consented verifier.
    let taro = s.add_resident("山田　太郎");
    let jiro = s.add_resident("山田　次郎");
    let taro_card = s.issue(&taro, "taro.json", true);
    let jiro_card = s.issue(&jiro, "jiro.json", false);
    s.consent_to("add", &taro, &bank.0, "basic4");
    s.consent_to("add", &jiro, &bank.0, "basic4");
    s.event_at(&now, &taro, &["death"]);
    s.event_at(&now, &jiro, &["emigration"]);
    block(async {
        assert!(matches!(
            bank_client.basic4(AUTH, taro_card.auth).await,
            Err(ClientError::HolderDeceased { .. })
        ));
        assert!(matches!(
            bank_client.basic4(AUTH, jiro_card.auth).await,
            Err(ClientError::HolderEmigrated { .. })
        ));
        assert!(matches!(
            shop_client.basic4(AUTH, taro_card.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
    });
    let response = http
        .get(format!(
            "{}/verifier/v1/certificates/auth/{:X}/basic4",
            server.base, taro_card.auth
        ))
        .basic_auth(&bank.0, Some(&bank.1))
        .send()
        .expect("GET");
    assert_eq!(response.status(), 410);
    let body = response.text().expect("body");
    assert_eq!(json(&body)["type"], "https://honnin.dev/problems/holder-deceased");
    assert!(!body.contains("山田"), "{body}");

    // Recorded: what was asked and answered, with the signing serial given out.
    let r = rows(&s.calls(&bank.0));
    let basic4: Vec<_> = r.iter().filter(|c| c.0 == S::Basic4).cloned().collect();
    assert_eq!(basic4.len(), 2 + 2 + 2 + 2 + 1 + 1 + 1 + 1 + 1 + 1, "{basic4:?}");
    assert_eq!(
        basic4[0],
        (S::Basic4, Some(AUTH), Some(first.auth), None, R::ConsentRequired)
    );
    assert_eq!(
        basic4[2],
        (S::Basic4, Some(AUTH), Some(first.auth), Some(sign1), R::Found)
    );
    assert_eq!(
        basic4[4],
        (S::Basic4, Some(AUTH), Some(0x0123_4567_89AB_CDEF), None, R::NotFound)
    );
    assert_eq!(basic4[6], (S::Basic4, Some(AUTH), Some(first.auth), None, R::Found));
    assert_eq!(basic4[8], (S::Basic4, Some(SIGN), Some(sign1), second.sign, R::Found));
    assert_eq!(
        &basic4[10..],
        &[
            (S::Basic4, Some(AUTH), Some(second.auth), None, R::ConsentRequired),
            (S::Basic4, Some(AUTH), Some(taro_card.auth), None, R::Deceased),
            (S::Basic4, Some(AUTH), Some(jiro_card.auth), None, R::Emigrated),
            (S::Basic4, Some(AUTH), Some(taro_card.auth), None, R::Deceased),
        ]
    );
}

#[test]
fn a_consent_the_holder_signed_is_verified_kept_and_accepted_once() {
    let s = Sandbox::new();
    let hanako = s.add_resident("山田　花子");
    let card = s.issue(&hanako, "hanako.json", true);
    let bank = s.add_verifier("Example Bank");
    let shop = s.add_verifier("Example Shop");
    let server = serve(&s);
    let (c, shop_client) = (client(&server, &bank), client(&server, &shop));
    let sign = card.sign.expect("sign");
    let now = OffsetDateTime::now_utc();

    // The holder signs a statement with the card (detached CMS, as `honnin card sign --cms` makes).
    let signed_by = |holder: &str, name: &str, statement: &ConsentStatement, key: &str| -> (Vec<u8>, Vec<u8>) {
        let content = statement.to_bytes();
        let (input, out, card_file) = (s.p(&format!("{name}.json")), s.p(&format!("{name}.p7s")), s.p(holder));
        std::fs::write(&input, &content).expect("write");
        let mut args = vec![
            "card",
            "--card",
            card_file.as_str(),
            "--password",
            "ABC123",
            "--pin",
            "1234",
        ];
        args.extend(["sign", "--which", key, "--in", &input, "--out", &out, "--cms"]);
        honnin_ok(&args);
        (std::fs::read(&out).expect("signature"), content)
    };
    let signed = |name: &str, statement: &ConsentStatement, key: &str| signed_by("hanako.json", name, statement, key);
    let refused = |result: Result<_, ClientError>, why: &str| match result {
        Err(ClientError::ConsentStatementRefused { detail }) => assert!(detail.contains(why), "{detail}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    };
    let basic4 = ConsentStatement::new(&bank.0, ConsentScope::Basic4, now);
    let (sig, content) = signed("basic4", &basic4, "sign");
    block(async {
        assert!(matches!(
            c.basic4(AUTH, card.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        let recorded = c.give_consent(&sig, Some(&content)).await.expect("accepted");
        assert_eq!((recorded.scope, recorded.signer), (ConsentScope::Basic4, sign));
        assert_eq!(c.basic4(AUTH, card.auth).await.expect("basic4").name, "山田　花子");
        // The same statement again: refused, though the consent is live.
        refused(c.give_consent(&sig, Some(&content)).await, "already used");
    });
    // Another holder who signs the very same text (same verifier, scope and second) consents too:
    // a statement is accepted once per signer, not once for everyone.
    let taro = s.add_resident("佐藤　太郎");
    let taro_card = s.issue(&taro, "taro.json", true);
    let (taro_sig, taro_content) = signed_by("taro.json", "taro-basic4", &basic4, "sign");
    assert_eq!(taro_content, content);
    block(async {
        let recorded = c.give_consent(&taro_sig, Some(&taro_content)).await.expect("accepted");
        assert_eq!(recorded.signer, taro_card.sign.expect("sign"));
        refused(c.give_consent(&taro_sig, Some(&taro_content)).await, "already used");
    });
    let listed = json(&s.authority(&["consent", "list", "--resident", &hanako, "--json"]));
    assert_eq!(listed.as_array().expect("list").len(), 1);
    assert_eq!(
        (listed[0]["verifier_id"].as_str(), listed[0]["scope"].as_str()),
        (Some(bank.0.as_str()), Some("basic4"))
    );

    // Withdrawn at the authority: the old statement cannot bring the consent back; a new one can.
    s.consent_to("withdraw", &hanako, &bank.0, "basic4");
    let again = ConsentStatement::new(&bank.0, ConsentScope::Basic4, now + time::Duration::seconds(1));
    let (sig2, content2) = signed("again", &again, "sign");
    block(async {
        refused(c.give_consent(&sig, Some(&content)).await, "already used");
        assert!(matches!(
            c.basic4(AUTH, card.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        c.give_consent(&sig2, Some(&content2)).await.expect("a fresh statement");
        assert!(c.basic4(AUTH, card.auth).await.is_ok());
    });

    // What is refused: another verifier's statement, the auth key, no content, other content, an
    // old statement, a future one.
    let for_shop = ConsentStatement::new(&shop.0, ConsentScope::Linking, now);
    let (shop_sig, shop_content) = signed("shop", &for_shop, "sign");
    let (auth_sig, auth_content) = signed(
        "auth",
        &ConsentStatement::new(&bank.0, ConsentScope::Linking, now),
        "auth",
    );
    let (old_sig, old_content) = signed(
        "old",
        &ConsentStatement::new(&bank.0, ConsentScope::Linking, now - time::Duration::hours(2)),
        "sign",
    );
    let (future_sig, future_content) = signed(
        "future",
        &ConsentStatement::new(&bank.0, ConsentScope::Linking, now + time::Duration::hours(1)),
        "sign",
    );
    std::fs::write(s.path("not-a-statement.txt"), "I agree").expect("write");
    let (text_sig, text_content) = {
        let out = s.p("text.p7s");
        honnin_ok(&[
            "card",
            "--card",
            &s.p("hanako.json"),
            "--password",
            "ABC123",
            "sign",
            "--which",
            "sign",
            "--in",
            &s.p("not-a-statement.txt"),
            "--out",
            &out,
            "--cms",
        ]);
        (std::fs::read(&out).expect("sig"), b"I agree".to_vec())
    };
    block(async {
        refused(c.give_consent(&shop_sig, Some(&shop_content)).await, "another verifier");
        refused(
            c.give_consent(&auth_sig, Some(&auth_content)).await,
            "signing certificate",
        );
        refused(c.give_consent(&sig2, None).await, "does not verify");
        refused(c.give_consent(&sig2, Some(&shop_content)).await, "does not verify");
        refused(
            c.give_consent(&old_sig, Some(&old_content)).await,
            "more than 60 minutes",
        );
        refused(
            c.give_consent(&future_sig, Some(&future_content)).await,
            "in the future",
        );
        refused(
            c.give_consent(&text_sig, Some(&text_content)).await,
            "not a consent statement",
        );
        assert!(matches!(
            shop_client.counterpart(AUTH, card.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        // The shop's own statement, sent by the shop.
        let r = shop_client
            .give_consent(&shop_sig, Some(&shop_content))
            .await
            .expect("the shop's");
        assert_eq!(r.scope, ConsentScope::Linking);
        assert!(shop_client.counterpart(AUTH, card.auth).await.is_ok());
    });

    // An attached SignedData made by OpenSSL with the card's signing key.
    let card_file = json(&std::fs::read_to_string(s.path("hanako.json")).expect("card file"));
    let slot = &card_file["jpki"]["sign"];
    std::fs::write(
        s.path("sign.key"),
        base64_decode(slot["private_key"].as_str().expect("key")),
    )
    .expect("key");
    std::fs::write(
        s.path("sign.der"),
        base64_decode(slot["certificate"].as_str().expect("cert")),
    )
    .expect("cert");
    openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        &s.p("sign.der"),
        "-out",
        &s.p("sign.pem"),
    ]);
    let linking = ConsentStatement::new(&bank.0, ConsentScope::Linking, now);
    std::fs::write(s.path("linking.json"), linking.to_bytes()).expect("write");
    let out = openssl(&[
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-md",
        "sha256",
        "-in",
        &s.p("linking.json"),
        "-signer",
        &s.p("sign.pem"),
        "-inkey",
        &s.p("sign.key"),
        "-keyform",
        "DER",
        "-outform",
        "DER",
        "-out",
        &s.p("linking.p7s"),
    ]);
    let attached = std::fs::read(s.path("linking.p7s")).unwrap_or_else(|e| panic!("{e}: {out}"));
    block(async {
        assert!(matches!(
            c.counterpart(AUTH, card.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        let r = c.give_consent(&attached, None).await.expect("attached");
        assert_eq!((r.scope, r.signer), (ConsentScope::Linking, sign));
        assert!(c.counterpart(AUTH, card.auth).await.is_ok());
    });

    // After a move the signing certificate is revoked: what it signs is refused.
    s.event_at(
        &now.format(&time::format_description::well_known::Rfc3339).expect("now"),
        &hanako,
        &["address-change", "--address", "東京都清瀬市元町一丁目１番地"],
    );
    let (moved_sig, moved_content) = signed(
        "moved",
        &ConsentStatement::new(&bank.0, ConsentScope::Basic4, now + time::Duration::seconds(2)),
        "sign",
    );
    block(async {
        refused(c.give_consent(&moved_sig, Some(&moved_content)).await, "revoked");
    });
    // A body that is not the request: 400.
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/verifier/v1/consents", server.base))
        .basic_auth(&bank.0, Some(&bank.1))
        .body("{\"signed_data\": 1}")
        .send()
        .expect("POST");
    assert_eq!(response.status(), 400);

    // Each statement sent is one call, accepted or refused, with the signer when it verified.
    let consents: Vec<_> = rows(&s.calls(&bank.0))
        .into_iter()
        .filter(|r| r.0 == S::Consent)
        .collect();
    let results: Vec<_> = consents.iter().map(|r| r.4).collect();
    assert_eq!(
        results,
        [
            R::Accepted,
            R::Refused,
            R::Accepted, // the other holder, same text
            R::Refused,
            R::Refused,
            R::Accepted,
            R::Refused,
            R::Refused,
            R::Refused,
            R::Refused,
            R::Refused,
            R::Refused,
            R::Refused,
            R::Accepted,
            R::Refused,
        ]
    );
    assert_eq!(consents[0], (S::Consent, Some(SIGN), Some(sign), None, R::Accepted));
    assert_eq!(consents[8].2, None, "an unverified signature names no certificate");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).expect("base64")
}

/// An OCSP request (DER, no nonce) for `certs` (PEM files) of the CA in `ca` (PEM), made by OpenSSL.
fn ocsp_request(s: &Sandbox, name: &str, ca: &str, certs: &[&str]) -> Vec<u8> {
    let out = s.p(name);
    let mut args = vec!["ocsp", "-issuer", ca, "-no_nonce", "-reqout", out.as_str()];
    for cert in certs {
        args.extend(["-cert", cert]);
    }
    let said = openssl(&args);
    std::fs::read(&out).unwrap_or_else(|e| panic!("{e}: {said}"))
}

/// (service, hierarchy, basis, count, unit price, amount) of each statement line.
type Line = (S, Option<Hierarchy>, FeeBasis, u64, u64, u64);

fn lines(statement: &Statement) -> Vec<Line> {
    statement
        .lines
        .iter()
        .map(|l| (l.service, l.hierarchy, l.basis, l.count, l.unit_price_yen, l.amount_yen))
        .collect()
}

impl Sandbox {
    /// `verifier statement --json` for one month, read back as the wire type.
    fn statement(&self, verifier: &str, month: &str) -> Statement {
        let out = self.authority(&["verifier", "statement", "--id", verifier, "--month", month, "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("statement JSON ({e}): {out}"))
    }
}

#[test]
fn a_scripted_month_of_calls_is_billed_exactly_by_the_fee_table() {
    let s = Sandbox::new();
    // Hanako's card renewed once (A0 → A1); Jiro's card.
    let hanako = s.add_resident("山田　花子");
    let jiro = s.add_resident("佐藤　次郎");
    let a0 = s.issue_at(Some("2026-01-10T10:00:00+09:00"), &hanako, "hanako.json", true);
    let a1 = s.renew_at(Some("2026-02-10T10:00:00+09:00"), "hanako.json", "both", a0);
    let b = s.issue_at(Some("2026-01-10T10:00:00+09:00"), &jiro, "jiro.json", true);
    let (a0_sign, a1_sign) = (a0.sign.expect("sign"), a1.sign.expect("sign"));
    let bank = s.add_verifier("Example Bank");
    let shop = s.add_verifier("Example Shop");
    s.consent("add", &hanako, &bank.0);
    s.consent_to("add", &hanako, &bank.0, "basic4");
    let (auth_ca, sign_ca) = (s.ca_pem("auth"), s.ca_pem("sign"));
    let (a1_auth_pem, a1_sign_pem, b_auth_pem) = (
        s.cert_pem(&hanako, "auth"),
        s.cert_pem(&hanako, "sign"),
        s.cert_pem(&jiro, "auth"),
    );
    let (a1_sign_der, a1_auth_der) = (cert_der(&s, &hanako, "sign"), cert_der(&s, &hanako, "auth"));
    let ca_der = honnin_profile::certificates_from_pem_or_der(&std::fs::read(&sign_ca).expect("pem"))
        .expect("pem")
        .remove(0);
    let auths = ocsp_request(&s, "auths.req", &auth_ca, &[&a1_auth_pem, &b_auth_pem]);
    let signs = ocsp_request(&s, "sign.req", &sign_ca, &[&a1_sign_pem]);

    // One business day in May 2026, by the authority's sandbox clock.
    let server = serve_at(&s, Some("2026-05-12T10:00:00+09:00"));
    let c = client(&server, &bank);
    block(async {
        c.ocsp(&auths).await.expect("ocsp: two auth certificates");
        c.ocsp(&signs).await.expect("ocsp: a signing certificate");
        c.ocsp(b"not a request").await.expect("ocsp: malformed");
        assert!(matches!(c.crl(SIGN, None).await, Ok(CrlFetch::Fresh { .. })));
        for (cert, validity) in [
            (&a1_sign_der, Validity::Valid),
            (&a1_auth_der, Validity::Valid),
            (&ca_der, Validity::Unknown),
        ] {
            assert_eq!(c.age_check(cert, 18, None).await.expect("age").validity, validity);
        }
        assert_eq!(c.next(AUTH, a1.auth).await.expect("next"), None);
        assert_eq!(c.previous(SIGN, a1_sign).await.expect("previous"), Some(a0_sign));
        assert_eq!(c.next(AUTH, a0.auth).await.expect("next"), Some(a1.auth));
        c.counterpart(AUTH, a1.auth).await.expect("counterpart");
        assert!(matches!(
            c.counterpart(AUTH, b.auth).await,
            Err(ClientError::ConsentRequired { .. })
        ));
        assert_eq!(c.basic4(SIGN, a1_sign).await.expect("basic4").sign, Some(a1_sign));
        assert_eq!(c.basic4(SIGN, a0_sign).await.expect("basic4").sign, Some(a1_sign));
        let declared = [
            (SIGN, a1_sign),
            (AUTH, a1.auth),
            (AUTH, b.auth),
            (SIGN, a1_sign),
            (AUTH, a1.auth),
            (AUTH, 0x0123_4567_89AB_CDEF),
        ]
        .map(|(hierarchy, serial)| CrlCheck { hierarchy, serial });
        let outcomes = c.crl_checks(&declared).await.expect("crl checks");
        let results: Vec<_> = outcomes.iter().map(|o| o.result).collect();
        use CrlCheckResult::{NotFound, Recorded};
        assert_eq!(results, [Recorded, Recorded, Recorded, Recorded, Recorded, NotFound]);
    });

    // The fee table, line by line: 20 yen a signing check, 2 an auth check, 2 a counterpart;
    // links and basic 4 free when the same certificate was checked that day.
    use FeeBasis::ValidityCheck as Check;
    use FeeBasis::{CountedThisYear, Counterpart as Pair, CoveredByValidityCheck as Covered, Free, NoCheck};
    let expected: Vec<Line> = vec![
        (S::Ocsp, Some(SIGN), Check, 1, 20, 20),
        (S::Ocsp, Some(AUTH), Check, 2, 2, 4),
        (S::Ocsp, None, NoCheck, 1, 0, 0),
        (S::Crl, Some(SIGN), Free, 1, 0, 0),
        (S::CrlCheck, Some(SIGN), Check, 1, 20, 20),
        (S::CrlCheck, Some(SIGN), CountedThisYear, 1, 0, 0),
        (S::CrlCheck, Some(AUTH), Check, 2, 2, 4),
        (S::CrlCheck, Some(AUTH), CountedThisYear, 1, 0, 0),
        (S::CrlCheck, Some(AUTH), NoCheck, 1, 0, 0),
        (S::AgeCheck, Some(SIGN), Check, 1, 20, 20),
        (S::AgeCheck, Some(AUTH), Check, 1, 2, 2),
        (S::AgeCheck, None, NoCheck, 1, 0, 0),
        (S::Previous, Some(SIGN), Covered, 1, 0, 0),
        (S::Next, Some(AUTH), Check, 1, 2, 2),
        (S::Next, Some(AUTH), Covered, 1, 0, 0),
        (S::Counterpart, Some(AUTH), Pair, 1, 2, 2),
        (S::Counterpart, Some(AUTH), NoCheck, 1, 0, 0),
        (S::Basic4, Some(SIGN), Check, 1, 20, 20),
        (S::Basic4, Some(SIGN), Covered, 1, 0, 0),
    ];
    let total = 20 + 4 + 20 + 4 + 20 + 2 + 2 + 2 + 20;
    let may = block(async { c.statement(month("2026-05")).await.expect("statement") });
    assert_eq!(lines(&may), expected);
    assert_eq!(may.total_yen, total);
    assert_eq!(may.total_yen, may.lines.iter().map(|l| l.amount_yen).sum::<u64>());
    assert_eq!(
        (may.from, may.to),
        (t("2026-05-01T00:00:00+09:00"), t("2026-06-01T00:00:00+09:00"))
    );
    // Another month has nothing; another verifier has nothing.
    let april = block(async { c.statement(month("2026-04")).await.expect("statement") });
    assert_eq!((april.lines.len(), april.total_yen), (0, 0));
    assert_eq!(s.statement(&shop.0, "2026-05").total_yen, 0);

    // The command line reads the same, with the two statement calls now recorded (free).
    let mut with_statements = expected.clone();
    with_statements.push((S::Statement, None, Free, 2, 0, 0));
    let cli = s.statement(&bank.0, "2026-05");
    assert_eq!(lines(&cli), with_statements);
    assert_eq!(
        (cli.total_yen, cli.month, cli.verifier.as_str()),
        (total, month("2026-05"), bank.0.as_str())
    );
    let csv = s.authority(&["verifier", "statement", "--id", &bank.0, "--month", "2026-05", "--csv"]);
    let mut want = String::from("verifier,month,service,hierarchy,basis,count,unit_price_yen,amount_yen\r\n");
    for (service, h, basis, count, unit, amount) in &with_statements {
        want.push_str(&format!(
            "{},2026-05,{},{},{},{count},{unit},{amount}\r\n",
            bank.0,
            service.as_str(),
            h.map(Hierarchy::short).unwrap_or(""),
            basis.as_str()
        ));
    }
    want.push_str(&format!("{},2026-05,total,,,,,{total}\r\n", bank.0));
    assert_eq!(csv, want);
    let text = s.authority(&["verifier", "statement", "--id", &bank.0, "--month", "2026-05"]);
    assert!(
        text.lines()
            .last()
            .expect("total line")
            .ends_with(&format!(" {total} yen")),
        "{text}"
    );
    assert!(text.contains("basic4       sign      validity-check"), "{text}");

    // Malformed months and unknown verifiers are refused.
    let response = reqwest::blocking::Client::new()
        .get(format!("{}/verifier/v1/statements/2026-13", server.base))
        .basic_auth(&bank.0, Some(&bank.1))
        .send()
        .expect("GET");
    assert_eq!(response.status(), 400);
    let data = s.data();
    for (args, why) in [
        (vec!["--id", bank.0.as_str(), "--month", "2026-5"], "YYYY-MM"),
        (vec!["--id", "0000000000000000", "--month", "2026-05"], "no verifier"),
    ] {
        let mut all = vec!["authority", "verifier", "statement", "--data", data.as_str()];
        all.extend(args);
        let out = honnin(&all);
        assert!(!out.status.success());
        assert!(common::stderr(&out).contains(why), "{}", common::stderr(&out));
    }
}

#[test]
fn crl_checks_of_one_holder_count_once_a_fiscal_year_per_hierarchy() {
    let s = Sandbox::new();
    let hanako = s.add_resident("山田　花子");
    let jiro = s.add_resident("佐藤　次郎");
    let a0 = s.issue_at(Some("2026-01-10T10:00:00+09:00"), &hanako, "hanako.json", true);
    // Her auth certificate renewed alone: a new serial, the same holder.
    let a1 = s.renew_at(Some("2026-02-10T10:00:00+09:00"), "hanako.json", "auth", a0);
    let b = s.issue_at(Some("2026-01-10T10:00:00+09:00"), &jiro, "jiro.json", false);
    let sign = a0.sign.expect("sign");
    let platform = s.add_verifier("Example Platform");
    let declare = |now: &str, checks: &[(Hierarchy, u64)]| {
        let server = serve_at(&s, Some(now));
        let c = client(&server, &platform);
        let checks: Vec<_> = checks
            .iter()
            .map(|&(hierarchy, serial)| CrlCheck { hierarchy, serial })
            .collect();
        block(async {
            // A platform downloads the CRL (free), checks against its copy, and declares the checks.
            c.crl(AUTH, None).await.expect("crl");
            let outcomes = c.crl_checks(&checks).await.expect("declared");
            assert!(outcomes.iter().all(|o| o.result == CrlCheckResult::Recorded));
        });
    };
    use FeeBasis::{CountedThisYear, Free, ValidityCheck as Check};
    // Fiscal 2026 (April 2026 – March 2027): May, November, March.
    declare("2026-05-10T10:00:00+09:00", &[(AUTH, a0.auth)]);
    declare(
        "2026-11-10T10:00:00+09:00",
        &[(AUTH, a1.auth), (SIGN, sign), (AUTH, b.auth)],
    );
    declare("2027-03-20T10:00:00+09:00", &[(AUTH, a1.auth), (SIGN, sign)]);
    // Fiscal 2027.
    declare("2027-05-10T10:00:00+09:00", &[(AUTH, a1.auth)]);

    let crl = (S::Crl, Some(AUTH), Free, 1, 0, 0);
    let may = s.statement(&platform.0, "2026-05");
    assert_eq!(lines(&may), vec![crl, (S::CrlCheck, Some(AUTH), Check, 1, 2, 2)]);
    assert_eq!(may.total_yen, 2);
    // November: her renewed auth certificate is the same holder, already counted; her signing
    // certificate is a first for the signing hierarchy; Jiro is a first.
    let november = s.statement(&platform.0, "2026-11");
    assert_eq!(
        lines(&november),
        vec![
            crl,
            (S::CrlCheck, Some(SIGN), Check, 1, 20, 20),
            (S::CrlCheck, Some(AUTH), Check, 1, 2, 2),
            (S::CrlCheck, Some(AUTH), CountedThisYear, 1, 0, 0),
        ]
    );
    assert_eq!(november.total_yen, 22);
    let march = s.statement(&platform.0, "2027-03");
    assert_eq!(
        lines(&march),
        vec![
            crl,
            (S::CrlCheck, Some(SIGN), CountedThisYear, 1, 0, 0),
            (S::CrlCheck, Some(AUTH), CountedThisYear, 1, 0, 0),
        ]
    );
    assert_eq!(march.total_yen, 0);
    // A new fiscal year: counted again.
    let next_year = s.statement(&platform.0, "2027-05");
    assert_eq!(lines(&next_year), vec![crl, (S::CrlCheck, Some(AUTH), Check, 1, 2, 2)]);
    assert_eq!(next_year.total_yen, 2);
    let csv = s.authority(&[
        "verifier",
        "statement",
        "--id",
        &platform.0,
        "--month",
        "2026-11",
        "--csv",
    ]);
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "verifier,month,service,hierarchy,basis,count,unit_price_yen,amount_yen".to_owned(),
            format!("{},2026-11,crl,auth,free,1,0,0", platform.0),
            format!("{},2026-11,crl-check,sign,validity-check,1,20,20", platform.0),
            format!("{},2026-11,crl-check,auth,validity-check,1,2,2", platform.0),
            format!("{},2026-11,crl-check,auth,counted-this-year,1,0,0", platform.0),
            format!("{},2026-11,total,,,,,22", platform.0),
        ]
    );
    // The verifier reads the same statement over HTTP.
    let server = serve_at(&s, Some("2027-05-20T10:00:00+09:00"));
    let over_http = block(async {
        client(&server, &platform)
            .statement(month("2026-11"))
            .await
            .expect("statement")
    });
    assert_eq!(over_http, november);

    // A declaration may exceed the 64 KiB other bodies are held to, up to MAX_CRL_CHECKS checks.
    let server = serve_at(&s, Some("2027-06-10T10:00:00+09:00"));
    let c = client(&server, &platform);
    let check = CrlCheck {
        hierarchy: AUTH,
        serial: a1.auth,
    };
    block(async {
        assert_eq!(
            c.crl_checks(&vec![check; 2_000]).await.expect("2,000 checks").len(),
            2_000
        );
        for wrong in [vec![], vec![check; MAX_CRL_CHECKS + 1]] {
            assert!(matches!(
                c.crl_checks(&wrong).await,
                Err(ClientError::BadRequest { .. })
            ));
        }
    });
    assert_eq!(
        lines(&s.statement(&platform.0, "2027-06")),
        vec![(S::CrlCheck, Some(AUTH), CountedThisYear, 2_000, 0, 0)]
    );
}
