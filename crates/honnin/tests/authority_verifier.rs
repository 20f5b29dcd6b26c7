//! Registered verifiers end to end: verifiers and consents made with the `honnin authority` command
//! line, then `honnin authority serve` called through `honnin-authority-client` (and raw HTTP where
//! the client would not send what is tested). Credentials are checked before anything is answered,
//! serial linking follows renewal and re-issue only with the holder's consent, OCSP and CRLs work on
//! the verifier routes, and every call is recorded for billing.

mod common;

use std::future::Future;
use std::path::PathBuf;

use common::{honnin, honnin_ok, openssl, Server};
use honnin_authority::{Authority, CallResult as R, VerifierCall, VerifierService as S};
use honnin_authority_client::{AuthorityClient, ClientError, Counterpart, CrlFetch};
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
        let data = self.data();
        let mut all = vec!["authority"];
        all.extend_from_slice(args);
        all.extend(["--data", &data]);
        honnin_ok(&all)
    }

    fn add_resident(&self, name: &str) -> String {
        let out = self.authority(&[
            "resident",
            "add",
            "--name",
            name,
            "--address",
            "東京都清瀬市中里五丁目８４２番地",
            "--birth-date",
            "1990-01-02",
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
        let v = json(&self.authority(&args));
        Card {
            sign: (!v["sign_serial"].is_null()).then(|| serial(&v["sign_serial"])),
            auth: serial(&v["auth_serial"]),
        }
    }

    /// Renews `which` (sign, auth, both) on a card; returns the new serials (unchanged ones from `before`).
    fn renew(&self, card: &str, which: &str, before: Card) -> Card {
        let v = json(&self.authority(&["card", "renew", "--card", &self.p(card), "--which", which, "--json"]));
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
        json(&self.authority(&[
            "consent",
            action,
            "--resident",
            resident,
            "--verifier",
            verifier,
            "--scope",
            "linking",
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

    /// The calls `verifier` made, from the data directory (as a later bill would read them).
    fn calls(&self, verifier: &str) -> Vec<VerifierCall> {
        let data = self.path("data");
        let verifier = verifier.to_owned();
        block(async move {
            let authority = Authority::open(&data).await.expect("open");
            let now = OffsetDateTime::now_utc();
            authority
                .verifier_calls(
                    &verifier,
                    now - time::Duration::hours(1),
                    now + time::Duration::hours(1),
                )
                .await
                .expect("calls")
        })
    }
}

fn serve(s: &Sandbox) -> Server {
    Server::start(&["authority", "serve", "--data", &s.data(), "--listen", "127.0.0.1:0"])
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
