//! `honnin card` on an emulated card (in process), checked with `openssl` where a signature is made.

mod common;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use common::{openssl, stderr, Card};

#[test]
fn info_reads_and_signatures_that_openssl_accepts() {
    let c = Card::issue();
    let info: serde_json::Value = serde_json::from_slice(&c.card(&["info", "--json"]).stdout).expect("JSON");
    assert_eq!(info["token"], "JPKIAPICCTOKEN2");
    assert_eq!(info["auth_certificate"], true);
    assert_eq!(info["pins"][0]["pin"], "auth");
    assert_eq!(info["pins"][0]["tries_left"], 3);
    assert_eq!(info["pins"][1]["tries_left"], 5);

    let out = c.card(&["read-cert", "--which", "auth", "--out", &c.p("read.der")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(c.path("read.der")).expect("read"),
        std::fs::read(c.path("auth.der")).expect("exported")
    );
    let out = c.card(&[
        "read-cert",
        "--which",
        "sign",
        "--out",
        &c.p("sign.der"),
        "--password",
        "ABC123",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    std::fs::write(c.path("doc.txt"), "申込書: 口座開設\n").expect("write");
    let out = c.card(&[
        "sign",
        "--which",
        "auth",
        "--in",
        &c.p("doc.txt"),
        "--out",
        &c.p("doc.sig"),
        "--pin",
        "1234",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        &c.p("auth.der"),
        "-pubkey",
        "-noout",
        "-out",
        &c.p("auth.pub"),
    ]);
    let verdict = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        &c.p("auth.pub"),
        "-signature",
        &c.p("doc.sig"),
        &c.p("doc.txt"),
    ]);
    assert!(verdict.contains("Verified OK"), "{verdict}");

    let out = c.card(&[
        "sign",
        "--which",
        "sign",
        "--in",
        &c.p("doc.txt"),
        "--out",
        &c.p("doc.p7s"),
        "--cms",
        "--password",
        "ABC123",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let verdict = openssl(&[
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        &c.p("doc.p7s"),
        "-content",
        &c.p("doc.txt"),
        "-CAfile",
        &c.p("sign-ca.pem"),
        "-out",
        "/dev/null",
    ]);
    assert!(verdict.contains("Verification successful"), "{verdict}");
}

#[test]
fn wrong_pins_are_counted_in_words_and_a_blocked_pin_says_so() {
    let c = Card::issue();
    let sign = |pin: &str| {
        c.card(&[
            "sign",
            "--which",
            "auth",
            "--in",
            &c.p("auth.der"),
            "--out",
            &c.p("x.sig"),
            "--pin",
            pin,
        ])
    };
    for expected in [
        "wrong auth PIN: 2 tries left",
        "wrong auth PIN: 1 try left",
        "wrong auth PIN: 0 tries left",
    ] {
        let out = sign("0000");
        assert!(!out.status.success());
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
    let out = sign("1234");
    assert!(stderr(&out).contains("auth PIN is blocked"), "{}", stderr(&out));
    let info = String::from_utf8(c.card(&["info"]).stdout).expect("utf-8");
    assert!(info.contains("auth PIN:             blocked"), "{info}");
    assert!(info.contains("sign PIN:             5 tries left"), "{info}");
}

#[test]
fn basic4_verifies_and_the_my_number_only_on_request() {
    let c = Card::issue();
    let out = c.card(&["basic4", "--json", "--top-key", &c.p("top.pem"), "--pin", "5678"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["name"], "髙山　花子");
    assert_eq!(v["signature_verified"], true);
    assert!(v.get("my_number").is_none(), "not asked for");
    let v: serde_json::Value = serde_json::from_slice(
        &c.card(&[
            "basic4",
            "--json",
            "--my-number",
            "--top-key",
            &c.p("top.pem"),
            "--pin",
            "5678",
        ])
        .stdout,
    )
    .expect("JSON");
    assert_eq!(v["my_number"].as_str().map(str::len), Some(12));
    // PIN from the environment; no top key: reported as not verified, not as verified.
    let card = c.p("card.json");
    let out = Command::cargo_bin("honnin")
        .expect("binary")
        .args(["card", "--card", &card, "basic4", "--json"])
        .env("HONNIN_PIN", "5678")
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["signature_verified"], serde_json::Value::Null);
    // No PIN and no terminal: a clear error, not a hang.
    let out = c.card(&["basic4"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pass --pin"), "{}", stderr(&out));
}

#[test]
fn face_photo_with_pin_b() {
    let c = Card::issue();
    let card = honnin_cardfile::CardFile::read(&c.path("card.json")).expect("card");
    let pin_b = format!("900102{}{}", &card.surface.card_expiry[..4], card.surface.security_code);
    let out = c.card(&["face", "--out", &c.p("face.jp2"), "--pin-b", &pin_b]);
    assert!(out.status.success(), "{}", stderr(&out));
    let face = std::fs::read(c.path("face.jp2")).expect("face");
    assert_eq!(&face[4..8], b"jP  ", "JPEG 2000");
    let out = c.card(&["face", "--out", &c.p("face.jp2"), "--pin-b", "00000000000000"]);
    assert!(stderr(&out).contains("wrong PIN B: 9 tries left"), "{}", stderr(&out));
}
