//! Shared fixtures for the CLI tests: a sandbox authority with one adult resident and their card.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;

/// A temporary directory with an authority (`data/`), one resident's card (`card.json`, auth PIN
/// 1234, signing password ABC123, kenhojo PIN 5678), and exports: `auth.der`, `sign.der`,
/// `sign-ca.pem`, `auth-ca.pem`, `top.pem`.
pub struct Card {
    pub dir: tempfile::TempDir,
    /// The resident the card was issued to.
    pub resident: String,
}

impl Card {
    pub fn issue() -> Self {
        let mut c = Card {
            dir: tempfile::tempdir().expect("tempdir"),
            resident: String::new(),
        };
        let data = c.p("data");
        c.ok(&["authority", "init", "--data", &data]);
        let id = c.ok(&[
            "authority",
            "resident",
            "add",
            "--data",
            &data,
            "--name",
            "髙山　花子",
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
        c.resident = id.trim().to_owned();
        let id = c.resident.clone();
        let id = id.as_str();
        c.ok(&[
            "authority",
            "card",
            "issue",
            "--data",
            &data,
            "--resident",
            id,
            "--out",
            &c.p("card.json"),
            "--auth-pin",
            "1234",
            "--sign-password",
            "ABC123",
            "--kenhojo-pin",
            "5678",
        ]);
        for which in ["auth", "sign"] {
            c.ok(&[
                "authority",
                "cert",
                "export",
                "--data",
                &data,
                "--resident",
                id,
                "--which",
                which,
                "--out",
                &c.p(&format!("{which}.der")),
            ]);
            c.ok(&[
                "authority",
                "ca",
                "export",
                "--data",
                &data,
                "--which",
                which,
                "--out",
                &c.p(&format!("{which}-ca.pem")),
            ]);
        }
        c.ok(&[
            "authority",
            "ca",
            "export",
            "--data",
            &data,
            "--which",
            "card-data",
            "--out",
            &c.p("top.pem"),
        ]);
        c
    }

    pub fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        honnin(args)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        honnin_ok(args)
    }

    /// `honnin card --card card.json ARGS…`
    pub fn card(&self, args: &[&str]) -> Output {
        let card = self.p("card.json");
        let mut all = vec!["card", "--card", card.as_str()];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Writes the auth certificate's public key as PEM and returns its path.
    pub fn auth_public_key(&self) -> String {
        let out = self.p("auth.pub");
        openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            &self.p("auth.der"),
            "-pubkey",
            "-noout",
            "-out",
            &out,
        ]);
        out
    }
}

/// Runs `honnin` with no PIN variables inherited from the environment.
pub fn honnin(args: &[&str]) -> Output {
    Command::cargo_bin("honnin")
        .expect("binary")
        .args(args)
        .env_remove("HONNIN_PIN")
        .env_remove("HONNIN_SIGN_PASSWORD")
        .output()
        .expect("run honnin")
}

/// Runs `honnin`, which must succeed; returns its stdout.
pub fn honnin_ok(args: &[&str]) -> String {
    let out = honnin(args);
    assert!(
        out.status.success(),
        "honnin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `openssl`, returning stdout and stderr together.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (scripts/setup)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A `honnin … serve` child process on an ephemeral port, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, from the server's `listening on …` line.
    pub base: String,
}

impl Server {
    /// Starts `honnin ARGS` and waits for its `listening on URL` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::cargo_bin("honnin")
            .expect("binary")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{args:?}: no listening line: {line:?}"))
            .to_owned();
        Server { child, base }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
