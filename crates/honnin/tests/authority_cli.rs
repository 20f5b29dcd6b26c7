//! End to end through the `honnin authority` command line, checked with the `openssl` CLI:
//! certificates verify against the sandbox roots, CRLs revoke them after life events, the OCSP
//! responder answers good then revoked, and bad input fails with one clear sentence.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{openssl, Server};

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let s = Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        s.ok(&["authority", "init", "--data", &s.data()]);
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn data(&self) -> String {
        self.p("data")
    }

    fn honnin(&self, args: &[&str]) -> Output {
        common::honnin(args)
    }

    fn ok(&self, args: &[&str]) -> String {
        common::honnin_ok(args)
    }

    /// Runs honnin expecting failure; returns its stderr, which must be one line.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.honnin(args);
        assert!(!out.status.success(), "honnin {args:?} should have failed");
        let err = String::from_utf8(out.stderr).expect("utf-8");
        assert_eq!(err.trim_end().lines().count(), 1, "one sentence, got: {err}");
        err
    }

    fn add_resident(&self, name: &str, birth: &str) -> String {
        let json = self.ok(&[
            "authority",
            "resident",
            "add",
            "--data",
            &self.data(),
            "--name",
            name,
            "--address",
            "東京都清瀬市中里五丁目８４２番地",
            "--birth-date",
            birth,
            "--sex",
            "female",
            "--prefecture",
            "Tokyo-to",
            "--municipality",
            "Kiyose-shi",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
        v["id"].as_str().expect("id").to_owned()
    }

    fn issue(&self, resident: &str, card: &str) -> serde_json::Value {
        let json = self.ok(&[
            "authority",
            "card",
            "issue",
            "--data",
            &self.data(),
            "--resident",
            resident,
            "--out",
            &self.p(card),
            "--auth-pin",
            "1234",
            "--sign-password",
            "ABC123",
            "--json",
        ]);
        serde_json::from_str(&json).expect("JSON")
    }

    fn export(&self, resident: &str, which: &str) -> String {
        let out = self.p(&format!("{resident}-{which}.pem"));
        self.ok(&[
            "authority",
            "cert",
            "export",
            "--data",
            &self.data(),
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

    fn ca(&self, which: &str) -> String {
        let out = self.p(&format!("{which}-ca.pem"));
        self.ok(&[
            "authority",
            "ca",
            "export",
            "--data",
            &self.data(),
            "--which",
            which,
            "--out",
            &out,
        ]);
        out
    }

    /// The current CRL, as PEM for `openssl verify`.
    fn crl(&self, which: &str) -> String {
        let der = self.p(&format!("{which}.crl"));
        self.ok(&[
            "authority",
            "crl",
            "--data",
            &self.data(),
            "--which",
            which,
            "--out",
            &der,
        ]);
        let pem = format!("{der}.pem");
        openssl(&["crl", "-inform", "DER", "-in", &der, "-out", &pem]);
        pem
    }

    fn event(&self, resident: &str, event: &[&str]) {
        let data = self.data();
        let mut args = vec!["authority", "event", "--data", &data, "--resident", resident];
        args.extend(event);
        self.ok(&args);
    }
}

fn verify(ca: &str, crl: &str, cert: &str) -> String {
    openssl(&["verify", "-CAfile", ca, "-crl_check", "-CRLfile", crl, cert])
}

#[test]
fn crls_revoke_after_life_events_as_openssl_sees_them() {
    let s = Sandbox::new();
    let id = s.add_resident("山田　花子", "1990-01-02");
    s.issue(&id, "card.json");
    let (sign, auth) = (s.export(&id, "sign"), s.export(&id, "auth"));
    let (sign_ca, auth_ca) = (s.ca("sign"), s.ca("auth"));
    assert!(
        verify(&sign_ca, &s.crl("sign"), &sign).contains(": OK"),
        "fresh signing certificate verifies"
    );
    assert!(verify(&auth_ca, &s.crl("auth"), &auth).contains(": OK"));

    s.event(&id, &["address-change", "--address", "東京都清瀬市上清戸一丁目１番地"]);
    let crl = s.crl("sign");
    let result = verify(&sign_ca, &crl, &sign);
    assert!(result.contains("certificate revoked"), "{result}");
    assert!(openssl(&["crl", "-in", &crl, "-text", "-noout"]).contains("Affiliation Changed"));
    // The move leaves the auth certificate good.
    assert!(
        verify(&auth_ca, &s.crl("auth"), &auth).contains(": OK"),
        "address change leaves auth good"
    );

    s.event(&id, &["death"]);
    let crl = s.crl("auth");
    let result = verify(&auth_ca, &crl, &auth);
    assert!(result.contains("certificate revoked"), "{result}");
    assert!(openssl(&["crl", "-in", &crl, "-text", "-noout"]).contains("Affiliation Changed"));
}

#[test]
fn certificates_show_the_jpki_profile_in_openssl() {
    let s = Sandbox::new();
    let id = s.add_resident("髙山　花子", "1990-01-02");
    s.issue(&id, "card.json");
    let sign = openssl(&["x509", "-in", &s.export(&id, "sign"), "-text", "-noout"]);
    for expected in [
        "Subject: C = JP, L = Tokyo-to, L = Kiyose-shi, CN = ",
        "Issuer: C = JP, O = JPKI-TEST, OU = JPKI for digital signature, OU = Japan Agency for Local Authority Information Systems",
        "X509v3 Key Usage: critical",
        "Digital Signature, Non Repudiation",
        "Policy: 1.2.392.200149.8.5.1.0.20",
        "othername: 1.2.392.200149.8.5.5.1::〓山　花子",
        "othername: 1.2.392.200149.8.5.5.4::419900102",
        "othername: 1.2.392.200149.8.5.5.3::2",
        "othername: 1.2.392.200149.8.5.5.5::東京都清瀬市中里五丁目８４２番地",
        "othername: 1.2.392.200149.8.5.5.2::10000",
        "othername: 1.2.392.200149.8.5.5.6::0000000000000000",
        "X509v3 Issuer Alternative Name",
        "DirName:C = JP, O = JPKI-TEST, OU = JPKI for digital signature, OU = CRL Distribution Points, OU = Tokyo-to, CN = Kiyose-shi",
        "X509v3 Authority Key Identifier",
        "Public-Key: (2048 bit)",
        "Not After : ",
    ] {
        assert!(sign.contains(expected), "signing certificate lacks {expected:?}:\n{sign}");
    }
    assert!(sign.contains("14:59:59 20"), "ends at 23:59:59 JST");
    let auth = openssl(&["x509", "-in", &s.export(&id, "auth"), "-text", "-noout"]);
    assert!(auth.contains("Policy: 1.2.392.200149.8.5.1.0.30"));
    assert!(auth.contains("Digital Signature") && !auth.contains("Non Repudiation"));
    assert!(!auth.contains("othername"), "no personal data in the auth certificate");
    assert!(auth.contains("OU = JPKI for user authentication, OU = CRL Distribution Points"));

    // The roots: extensions and DN as J-LIS's real ones, but for O=JPKI-TEST and the key identifier.
    let real_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../honnin-profile/trust/production");
    for (which, real) in [("sign", "jpki_sign_ca_2023.pem"), ("auth", "jpki_auth_ca_2023.pem")] {
        let ours = openssl(&[
            "x509",
            "-in",
            &s.ca(which),
            "-text",
            "-noout",
            "-certopt",
            "no_pubkey,no_sigdump,no_serial,no_validity",
        ]);
        let theirs = openssl(&[
            "x509",
            "-in",
            real_dir.join(real).to_str().expect("path"),
            "-text",
            "-noout",
            "-certopt",
            "no_pubkey,no_sigdump,no_serial,no_validity",
        ]);
        let normalise = |t: &str| {
            t.lines()
                // Key identifiers (colon-separated hex) differ by construction.
                .filter(|l| !(l.trim().len() > 20 && l.trim().chars().all(|c| c.is_ascii_hexdigit() || c == ':')))
                .map(|l| l.replace("O = JPKI-TEST", "O = JPKI"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            normalise(&ours),
            normalise(&theirs),
            "{which} root differs from J-LIS's"
        );
    }
}

fn serve(s: &Sandbox) -> Server {
    Server::start(&["authority", "serve", "--data", &s.data(), "--listen", "127.0.0.1:0"])
}

fn ocsp(issuer: &str, cert: &str, url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "ocsp",
        "-issuer",
        issuer,
        "-cert",
        cert,
        "-url",
        url,
        "-CAfile",
        issuer,
        "-resp_text",
    ];
    args.extend(extra);
    openssl(&args)
}

#[test]
fn ocsp_answers_good_then_revoked_and_serve_sees_other_processes_at_once() {
    let s = Sandbox::new();
    let id = s.add_resident("佐藤　花子", "1985-06-15");
    s.issue(&id, "card.json");
    let (auth, sign) = (s.export(&id, "auth"), s.export(&id, "sign"));
    let (auth_ca, sign_ca) = (s.ca("auth"), s.ca("sign"));
    let server = serve(&s);
    let url = format!("{}/ocsp", server.base);

    for (issuer, cert) in [(&auth_ca, &auth), (&sign_ca, &sign)] {
        let out = ocsp(issuer, cert, &url, &[]);
        assert!(out.contains("Response verify OK"), "{out}");
        assert!(out.contains(": good"), "{out}");
        assert!(out.contains("OCSP Nonce"), "nonce echoed: {out}");
        let out = ocsp(issuer, cert, &url, &["-no_nonce"]);
        assert!(
            out.contains("Response verify OK") && out.contains(": good"),
            "pre-signed path: {out}"
        );
    }

    // CRL over HTTP with conditional GET.
    let http = reqwest::blocking::Client::new();
    let crl_url = format!("{}/crl/auth.crl", server.base);
    let first = http.get(&crl_url).send().expect("GET crl");
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "application/pkix-crl");
    let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(first.headers().contains_key("last-modified"));
    let again = http
        .get(&crl_url)
        .header("If-None-Match", &etag)
        .send()
        .expect("conditional GET");
    assert_eq!(again.status(), 304);

    // Another process records the loss; the running server reflects it on the next request.
    s.event(&id, &["card-lost"]);
    for (issuer, cert) in [(&auth_ca, &auth), (&sign_ca, &sign)] {
        for extra in [&[][..], &["-no_nonce"][..]] {
            let out = ocsp(issuer, cert, &url, extra);
            assert!(out.contains("Response verify OK"), "{out}");
            assert!(
                out.contains(": revoked") && out.contains("certificateHold"),
                "{extra:?}: {out}"
            );
        }
    }
    let changed = http
        .get(&crl_url)
        .header("If-None-Match", &etag)
        .send()
        .expect("conditional GET");
    assert_eq!(changed.status(), 200, "a new CRL after the event");
    assert_ne!(changed.headers()["etag"].to_str().expect("etag"), etag);
    let der = changed.bytes().expect("body");
    std::fs::write(s.path("served.crl"), &der).expect("write");
    assert!(
        openssl(&["crl", "-inform", "DER", "-in", &s.p("served.crl"), "-text", "-noout"]).contains("Certificate Hold")
    );

    // RFC 6960 GET form: base64 of the DER request in the path.
    let req = s.p("req.der");
    openssl(&[
        "ocsp",
        "-issuer",
        &auth_ca,
        "-cert",
        &auth,
        "-no_nonce",
        "-reqout",
        &req,
    ]);
    let b64 = base64_encode(&std::fs::read(&req).expect("request"));
    let resp = http
        .get(format!(
            "{url}/{}",
            b64.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D")
        ))
        .send()
        .expect("GET ocsp");
    assert_eq!(resp.headers()["content-type"], "application/ocsp-response");
    std::fs::write(s.path("resp.der"), resp.bytes().expect("body")).expect("write");
    let out = openssl(&[
        "ocsp",
        "-respin",
        &s.p("resp.der"),
        "-issuer",
        &auth_ca,
        "-cert",
        &auth,
        "-CAfile",
        &auth_ca,
    ]);
    assert!(out.contains("Response verify OK") && out.contains(": revoked"), "{out}");

    // A certificate the authority never issued: unknown. A CA it does not run: unauthorized.
    let out = openssl(&[
        "ocsp",
        "-issuer",
        &auth_ca,
        "-serial",
        "0x0123456789",
        "-url",
        &url,
        "-CAfile",
        &auth_ca,
    ]);
    assert!(out.contains(": unknown"), "{out}");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../honnin-profile/trust/production/jpki_auth_ca_2023.pem");
    let out = openssl(&[
        "ocsp",
        "-issuer",
        real.to_str().expect("path"),
        "-serial",
        "0x01",
        "-url",
        &url,
    ]);
    assert!(out.contains("unauthorized"), "{out}");
}

fn base64_encode(bytes: &[u8]) -> String {
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

#[test]
fn bad_input_fails_with_one_sentence_and_writes_nothing() {
    let s = Sandbox::new();
    let data = s.data();
    // `card issue` that must fail: (resident, card file, auth PIN, signing password) → stderr.
    let refuse_issue = |resident: &str, card: &str, pin: &str, password: Option<&str>| {
        let out = s.p(card);
        let mut args = vec![
            "authority",
            "card",
            "issue",
            "--data",
            &data,
            "--resident",
            resident,
            "--out",
            &out,
        ];
        args.extend(["--auth-pin", pin]);
        if let Some(p) = password {
            args.extend(["--sign-password", p]);
        }
        s.fails(&args)
    };
    let err = refuse_issue("99999999999", "x.card", "1234", None);
    assert!(err.contains("no resident with id 99999999999"), "{err}");
    let child = s.add_resident("子供　一郎", "2016-04-01");
    let err = refuse_issue(&child, "child.card", "1234", Some("ABC123"));
    assert!(
        err.contains("a signing certificate is issued only from age 15"),
        "{err}"
    );
    let err = refuse_issue(&child, "child.card", "12345", None);
    assert!(err.contains("exactly 4 digits"), "{err}");
    let adult = s.add_resident("大人　花子", "1980-01-01");
    let err = refuse_issue(&adult, "a.card", "1234", Some("short"));
    assert!(err.contains("6–16 characters"), "{err}");
    for card in ["child.card", "a.card", "x.card"] {
        assert!(!s.path(card).exists(), "no card file written for a refused issue");
    }
    // Nothing was half-recorded: the refused issues left no certificate behind.
    let err = s.fails(&[
        "authority",
        "cert",
        "export",
        "--data",
        &data,
        "--resident",
        &adult,
        "--which",
        "auth",
        "--out",
        &s.p("a.pem"),
    ]);
    assert!(err.contains("has no authentication certificate"), "{err}");

    let bad_date = s.honnin(&[
        "authority",
        "resident",
        "add",
        "--data",
        &data,
        "--name",
        "A",
        "--address",
        "B",
        "--birth-date",
        "1990-13-01",
        "--sex",
        "male",
        "--prefecture",
        "P",
        "--municipality",
        "M",
    ]);
    assert!(!bad_date.status.success());
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("is not a date in the form YYYY-MM-DD"));

    // Corrupt, missing and already-initialised data directories.
    std::fs::create_dir_all(s.path("junk")).expect("mkdir");
    std::fs::write(s.path("junk/authority.sqlite"), "garbage").expect("write");
    let crl_from = |dir: &str| {
        s.fails(&[
            "authority",
            "crl",
            "--data",
            dir,
            "--which",
            "sign",
            "--out",
            &s.p("c.crl"),
        ])
    };
    let err = crl_from(&s.p("junk"));
    assert!(err.contains("is damaged"), "{err}");
    let err = crl_from(&s.p("missing"));
    assert!(err.contains("is not an authority data directory"), "{err}");
    let err = s.fails(&["authority", "init", "--data", &data]);
    assert!(err.contains("already holds an authority"), "{err}");
}
