//! `honnin verify` end to end: a CMS made by `honnin card sign --cms`, checked under the sandbox
//! profile with the authority's CRL and OCSP; exit statuses mean valid / invalid / revoked / unknown.

mod common;

use common::{stderr, Card};

fn verify(c: &Card, extra: &[&str]) -> (i32, serde_json::Value) {
    let (sign_ca, auth_ca, sig, doc) = (c.p("sign-ca.pem"), c.p("auth-ca.pem"), c.p("doc.p7s"), c.p("doc.txt"));
    let mut args = vec![
        "verify",
        "--trust-anchor",
        &sign_ca,
        &auth_ca,
        "--cms",
        &sig,
        "--content",
        &doc,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = c.run(&args);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("JSON: {}", stderr(&out)));
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn verify_signature_crl_and_exit_statuses() {
    let c = Card::issue();
    std::fs::write(c.path("doc.txt"), "口座開設申込書").expect("write");
    c.ok(&[
        "card",
        "--card",
        &c.p("card.json"),
        "sign",
        "--which",
        "sign",
        "--cms",
        "--in",
        &c.p("doc.txt"),
        "--out",
        &c.p("doc.p7s"),
        "--password",
        "ABC123",
    ]);
    let data = c.p("data");
    c.ok(&[
        "authority",
        "crl",
        "--data",
        &data,
        "--which",
        "sign",
        "--out",
        &c.p("sign.crl"),
    ]);

    let (code, v) = verify(&c, &["--crl", &c.p("sign.crl")]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "valid");
    assert_eq!(
        v["basic4"]["name"],
        "髙山　花子".replace('髙', "〓"),
        "the certificate's substituted name"
    );
    assert_eq!(v["revocation"]["status"], "good");
    assert!(v["signing_time"].is_string());

    // No revocation source: the signature is valid but the answer is not "good".
    let (code, v) = verify(&c, &[]);
    assert_eq!((code, v["revocation"]["status"].as_str()), (3, Some("unknown")));
    // A CRL past its nextUpdate: unknown, never good.
    let (code, v) = verify(&c, &["--crl", &c.p("sign.crl"), "--at", &later(2)]);
    assert_eq!(code, 3, "{v}");
    // Tampered content: invalid.
    std::fs::write(c.path("other.txt"), "別の申込書").expect("write");
    let out = c.run(&[
        "verify",
        "--trust-anchor",
        &c.p("sign-ca.pem"),
        "--cms",
        &c.p("doc.p7s"),
        "--content",
        &c.p("other.txt"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    // The production profile never accepts the sandbox's certificates.
    let out = c.run(&[
        "verify",
        "--trust",
        "production",
        "--cms",
        &c.p("doc.p7s"),
        "--content",
        &c.p("doc.txt"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Production trust profile"));

    // The holder moves: the new CRL revokes the signing certificate.
    c.ok(&[
        "authority",
        "event",
        "--data",
        &data,
        "--resident",
        &c.resident,
        "address-change",
        "--address",
        "東京都港区芝公園",
    ]);
    c.ok(&[
        "authority",
        "crl",
        "--data",
        &data,
        "--which",
        "sign",
        "--out",
        &c.p("sign2.crl"),
    ]);
    let (code, v) = verify(&c, &["--crl", &c.p("sign2.crl")]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["revocation"]["reason"], "affiliationChanged");
}

fn later(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}
