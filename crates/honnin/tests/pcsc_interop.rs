//! The emulated card through real PC/SC: `honnin card vpcd` plugs it into pcscd's "Virtual PCD 00 00"
//! reader, and tools nobody here wrote — OpenSC (`pkcs15-tool`, `pkcs11-tool`) and `jpki-cli` — use it
//! as a card. honnin's own driver over `--reader` must give what it gives over `--card`.
//!
//! Needs pcscd with vsmartcard-vpcd running, OpenSC and jpki-cli installed: `scripts/setup` does it.
//! The tests share the one virtual reader, so they take turns.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use common::{openssl, stderr, Card};

const READER: &str = "Virtual PCD 00 00";
const PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// One virtual reader: one test at a time.
static READER_LOCK: Mutex<()> = Mutex::new(());

/// A card plugged into vpcd by `honnin card vpcd`; unplugged on drop.
struct Plugged<'a> {
    card: &'a Card,
    child: Child,
}

impl<'a> Plugged<'a> {
    fn new(card: &'a Card) -> Self {
        let child = Command::cargo_bin("honnin")
            .expect("binary")
            .args(["card", "--card", &card.p("card.json"), "vpcd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn honnin card vpcd");
        let plugged = Plugged { card, child };
        plugged.wait_until(true);
        plugged
    }

    /// Waits until pcscd says the reader has (or no longer has) a card, and, when it has one, until
    /// honnin can talk to it.
    fn wait_until(&self, present: bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let listing = tool("opensc-tool", &["--list-readers"]);
            assert!(
                listing.contains(READER),
                "pcscd is not running with vsmartcard-vpcd: run scripts/setup\n{listing}"
            );
            let has_card = listing
                .lines()
                .any(|l| l.contains(READER) && l.split_whitespace().nth(1) == Some("Yes"));
            if has_card == present
                && (!present || self.card.run(&["card", "--reader", READER, "info"]).status.success())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the virtual reader's card did not become {present}:\n{listing}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn reader(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["card", "--reader", READER];
        all.extend_from_slice(args);
        self.card.run(&all)
    }
}

impl Drop for Plugged<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // pcscd queues a next card's connection until it has seen this one leave.
        self.wait_until(false);
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    READER_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (scripts/setup installs it): {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn opensc_lists_both_certificates_and_reads_them_byte_for_byte() {
    let _turn = lock();
    let c = Card::issue();
    let _plugged = Plugged::new(&c);
    let listing = tool("pkcs15-tool", &["--list-certificates"]);
    for name in [
        "User Authentication Certificate",
        "Digital Signature Certificate",
        "User Authentication Certificate CA",
        "Digital Signature Certificate CA",
    ] {
        assert!(listing.contains(&format!("[{name}]")), "{name} missing:\n{listing}");
    }
    tool(
        "pkcs15-tool",
        &["--read-certificate", "01", "-o", &c.p("opensc-auth.pem")],
    );
    openssl(&[
        "x509",
        "-in",
        &c.p("opensc-auth.pem"),
        "-outform",
        "DER",
        "-out",
        &c.p("opensc-auth.der"),
    ]);
    assert_eq!(
        c.read("opensc-auth.der"),
        c.read("auth.der"),
        "the auth certificate, byte for byte"
    );
    // The signing certificate is private: OpenSC reads it after the signing password.
    tool(
        "pkcs15-tool",
        &[
            "--read-certificate",
            "02",
            "--verify-pin",
            "--auth-id",
            "02",
            "--pin",
            "ABC123",
            "-o",
            &c.p("opensc-sign.pem"),
        ],
    );
    openssl(&[
        "x509",
        "-in",
        &c.p("opensc-sign.pem"),
        "-outform",
        "DER",
        "-out",
        &c.p("opensc-sign.der"),
    ]);
    assert_eq!(
        c.read("opensc-sign.der"),
        c.read("sign.der"),
        "the signing certificate, byte for byte"
    );
}

#[test]
fn opensc_pkcs11_signs_with_the_auth_key() {
    let _turn = lock();
    let c = Card::issue();
    let _plugged = Plugged::new(&c);
    std::fs::write(c.path("data.txt"), "ログイン challenge").expect("write");
    let out = tool(
        "pkcs11-tool",
        &[
            "--module",
            PKCS11,
            "--slot",
            "0",
            "--login",
            "--pin",
            "1234",
            "--sign",
            "--mechanism",
            "SHA256-RSA-PKCS",
            "--id",
            "01",
            "-i",
            &c.p("data.txt"),
            "-o",
            &c.p("p11.sig"),
        ],
    );
    assert!(c.path("p11.sig").exists(), "{out}");
    let verdict = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        &c.auth_public_key(),
        "-signature",
        &c.p("p11.sig"),
        &c.p("data.txt"),
    ]);
    assert!(verdict.contains("Verified OK"), "{verdict}");
}

#[test]
fn jpki_cli_reads_the_auth_certificate_and_signs() {
    let _turn = lock();
    let c = Card::issue();
    let _plugged = Plugged::new(&c);
    // jpki-cli uses the first reader, prints DER on stdout, and exits 0 even on errors: check output.
    let out = Command::new("timeout")
        .args(["20", "jpki-cli", "crypto", "-a", "read-certificate"])
        .output()
        .expect("jpki-cli (scripts/setup installs it)");
    assert_eq!(
        out.stdout,
        c.read("auth.der"),
        "jpki-cli read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It reads the PIN only from a terminal: give it one with script(1).
    std::fs::write(c.path("msg.txt"), "hello JPKI").expect("write");
    let sign = format!("jpki-cli crypto -a sign {} < {}", c.p("jpki.sig"), c.p("msg.txt"));
    let shell = format!("(sleep 1; printf '1234\\r') | timeout 20 script -qec \"{sign}\" /dev/null > /dev/null 2>&1");
    Command::new("bash").args(["-c", &shell]).status().expect("bash");
    assert_eq!(c.read("jpki.sig").len(), 256, "jpki-cli wrote a signature");
    // jpki-cli signs a SHA-1 DigestInfo; the card pads whatever DigestInfo it is given.
    let verdict = openssl(&[
        "dgst",
        "-sha1",
        "-verify",
        &c.auth_public_key(),
        "-signature",
        &c.p("jpki.sig"),
        &c.p("msg.txt"),
    ]);
    assert!(verdict.contains("Verified OK"), "{verdict}");
}

#[test]
fn honnins_driver_gives_the_same_over_pcsc_as_in_process() {
    let _turn = lock();
    let c = Card::issue();
    std::fs::write(c.path("doc.txt"), "申込書").expect("write");
    // In process first (the emulator is not plugged in meanwhile).
    let info_direct = c.card(&["info", "--json"]).stdout;
    c.ok(&[
        "card",
        "--card",
        &c.p("card.json"),
        "read-cert",
        "--which",
        "sign",
        "--password",
        "ABC123",
        "--out",
        &c.p("direct-sign.der"),
    ]);
    c.ok(&[
        "card",
        "--card",
        &c.p("card.json"),
        "sign",
        "--which",
        "auth",
        "--in",
        &c.p("doc.txt"),
        "--out",
        &c.p("direct.sig"),
        "--pin",
        "1234",
    ]);
    let basic4_direct = c
        .card(&["basic4", "--json", "--top-key", &c.p("top.pem"), "--pin", "5678"])
        .stdout;

    let plugged = Plugged::new(&c);
    assert_eq!(plugged.reader(&["info", "--json"]).stdout, info_direct);
    let out = plugged.reader(&[
        "read-cert",
        "--which",
        "sign",
        "--password",
        "ABC123",
        "--out",
        &c.p("pcsc-sign.der"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.read("pcsc-sign.der"), c.read("direct-sign.der"));
    let out = plugged.reader(&[
        "sign",
        "--which",
        "auth",
        "--in",
        &c.p("doc.txt"),
        "--out",
        &c.p("pcsc.sig"),
        "--pin",
        "1234",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        c.read("pcsc.sig"),
        c.read("direct.sig"),
        "PKCS#1 v1.5 is deterministic: same bytes"
    );
    assert_eq!(
        plugged
            .reader(&["basic4", "--json", "--top-key", &c.p("top.pem"), "--pin", "5678"])
            .stdout,
        basic4_direct
    );
}

#[test]
fn wrong_pins_over_pcsc_block_and_the_state_survives_a_restart() {
    let _turn = lock();
    let c = Card::issue();
    let plugged = Plugged::new(&c);
    let sign = |p: &Plugged, pin: &str| {
        p.reader(&[
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
    for expected in ["2 tries left", "1 try left", "0 tries left"] {
        let out = sign(&plugged, "0000");
        assert!(
            stderr(&out).contains(&format!("wrong auth PIN: {expected}")),
            "{}",
            stderr(&out)
        );
    }
    let out = sign(&plugged, "1234");
    assert!(stderr(&out).contains("auth PIN is blocked"), "{}", stderr(&out));
    // Unplug and plug the card back in: the emulator restarts from the card file.
    drop(plugged);
    let plugged = Plugged::new(&c);
    let info: serde_json::Value = serde_json::from_slice(&plugged.reader(&["info", "--json"]).stdout).expect("JSON");
    assert_eq!(info["pins"][0]["blocked"], true);
    assert_eq!(info["pins"][1]["tries_left"], 5, "the signing password is untouched");
}
