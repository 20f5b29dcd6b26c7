//! A test kit for the platform: a real authority (`honnin authority serve`) and a real platform
//! (`honnin platform serve`) as child processes on loopback, over SQLite or a fresh PostgreSQL
//! database, with residents, emulated cards and a service provider's API key.
//!
//! PostgreSQL: `HONNIN_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`) is an
//! admin URL; each test creates and drops its own database. If PostgreSQL is unreachable the
//! PostgreSQL tests fail (they do not skip), unless `HONNIN_SKIP_POSTGRES=1`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub use crate::common::{honnin, honnin_ok, Server};

pub const PIN: &str = "1234";
pub const PASSWORD: &str = "ABC123";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A PostgreSQL database made for one test, dropped at the end.
pub struct PgDatabase {
    admin: String,
    pub name: String,
    pub url: String,
}

fn psql(admin: &str, sql: &str) -> Output {
    Command::new("psql")
        .args([admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("run psql (install postgresql-client)")
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let admin = std::env::var("HONNIN_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut rand = [0u8; 6];
        aws_lc_rs::rand::fill(&mut rand).expect("random");
        let name = format!("honnin_test_{}", hex(&rand));
        let out = psql(&admin, &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "cannot create a PostgreSQL database at {admin} (is PostgreSQL running? set HONNIN_TEST_POSTGRES, \
             or HONNIN_SKIP_POSTGRES=1 to skip): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        PgDatabase { admin, name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn skip_postgres() -> bool {
    std::env::var("HONNIN_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// Authority + platform + one service provider.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub authority: Server,
    pub platform: Server,
    pub verifier_id: String,
    pub verifier_secret: String,
    pub tenant: String,
    pub api_key: String,
    pub db: Db,
    pub pg: Option<PgDatabase>,
    http: reqwest::blocking::Client,
}

/// A resident with a card.
pub struct Holder {
    pub resident: String,
    pub card: String,
}

impl Sandbox {
    pub fn new(db: Db) -> Sandbox {
        Self::with(db, "ocsp", &[])
    }

    /// `revocation`: `ocsp` or `crl`; `init_extra`: more `platform init` flags.
    pub fn with(db: Db, revocation: &str, init_extra: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("authority").display().to_string();
        honnin_ok(&["authority", "init", "--data", &a]);
        let v: Value = serde_json::from_str(&honnin_ok(&[
            "authority",
            "verifier",
            "add",
            "--data",
            &a,
            "--name",
            "platform",
            "--json",
        ]))
        .expect("verifier json");
        let verifier_id = v["id"].as_str().expect("id").to_owned();
        let verifier_secret = v["secret"].as_str().expect("secret").to_owned();
        let authority = Server::start(&["authority", "serve", "--data", &a, "--listen", "127.0.0.1:0"]);
        let pg = (db == Db::Postgres).then(PgDatabase::create);
        let p = dir.path().join("platform").display().to_string();
        // `=`: a base64url secret may begin with '-'.
        let secret_arg = format!("--verifier-secret={verifier_secret}");
        let mut init = vec![
            "platform",
            "init",
            "--data",
            &p,
            "--authority",
            &authority.base,
            "--verifier-id",
            &verifier_id,
            &secret_arg,
            "--revocation",
            revocation,
        ];
        if let Some(pg) = &pg {
            init.extend(["--database", &pg.url]);
        }
        init.extend_from_slice(init_extra);
        honnin_ok(&init);
        let t: Value = serde_json::from_str(&honnin_ok(&[
            "platform", "tenant", "add", "--data", &p, "--name", "Bank A", "--json",
        ]))
        .expect("tenant json");
        let platform = Server::start(&["platform", "serve", "--data", &p, "--listen", "127.0.0.1:0"]);
        Sandbox {
            authority,
            platform,
            verifier_id,
            verifier_secret,
            tenant: t["id"].as_str().expect("id").to_owned(),
            api_key: t["api_key"].as_str().expect("api_key").to_owned(),
            db,
            pg,
            dir,
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn authority_dir(&self) -> String {
        self.dir.path().join("authority").display().to_string()
    }

    pub fn platform_dir(&self) -> String {
        self.dir.path().join("platform").display().to_string()
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A resident with a card (`NAME.json`), consenting to serial linking by the platform.
    pub fn holder(&self, name: &str, consent: bool) -> Holder {
        self.holder_at(name, consent, None)
    }

    /// The same, the card issued at `now` (RFC 3339) on the authority's sandbox clock.
    pub fn holder_at(&self, name: &str, consent: bool, now: Option<&str>) -> Holder {
        let a = self.authority_dir();
        let resident = honnin_ok(&[
            "authority",
            "resident",
            "add",
            "--data",
            &a,
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
        ])
        .trim()
        .to_owned();
        let card = self.path(&format!("{name}.json"));
        let mut args = vec![
            "authority",
            "card",
            "issue",
            "--data",
            &a,
            "--resident",
            &resident,
            "--out",
            &card,
            "--auth-pin",
            PIN,
            "--sign-password",
            PASSWORD,
        ];
        if let Some(n) = now {
            args.extend(["--now", n]);
        }
        honnin_ok(&args);
        if consent {
            self.consent(&resident);
        }
        Holder { resident, card }
    }

    pub fn consent(&self, resident: &str) {
        honnin_ok(&[
            "authority",
            "consent",
            "add",
            "--data",
            &self.authority_dir(),
            "--resident",
            resident,
            "--verifier",
            &self.verifier_id,
        ]);
    }

    // --- the service provider's side ---------------------------------------------------------

    pub fn sp(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.platform.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.sp(reqwest::Method::POST, path, Some(&self.api_key), Some(body));
        assert_eq!(status, 201, "POST {path}: {v}");
        v
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, v) = self.sp(reqwest::Method::GET, path, Some(&self.api_key), None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Creates an account opening; returns (id, client_url).
    pub fn open_account(&self, application: &str) -> (String, String) {
        let v = self.post(
            "/v1/account-openings",
            serde_json::json!({ "application": application }),
        );
        assert_eq!(v["status"], "pending");
        (
            v["id"].as_str().expect("id").into(),
            v["client_url"].as_str().expect("client_url").into(),
        )
    }

    pub fn login(&self, origin: &str) -> (String, String) {
        let v = self.post("/v1/logins", serde_json::json!({ "origin": origin }));
        assert_eq!(v["status"], "pending");
        (
            v["id"].as_str().expect("id").into(),
            v["client_url"].as_str().expect("client_url").into(),
        )
    }

    // --- the holder's side -------------------------------------------------------------------

    /// `honnin client complete URL --card CARD …`
    pub fn complete(&self, url: &str, card: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "client",
            "complete",
            url,
            "--card",
            card,
            "--pin",
            PIN,
            "--password",
            PASSWORD,
            "--json",
        ];
        args.extend_from_slice(extra);
        honnin(&args)
    }

    pub fn client_get(&self, url: &str) -> (u16, Value) {
        let resp = self.http.get(url).send().expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn client_post(&self, url: &str, body: &[u8]) -> (u16, Value) {
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// Raw SQL on the platform's database (to play an attacker who can write it).
    pub fn tamper(&self, sql: &str) {
        let url = match &self.pg {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite://{}/platform.db", self.platform_dir()),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let store = honnin_platform::store::Store::open(&url).await.expect("open the store");
            store.execute_raw(sql).await.expect("tamper");
            store.close().await;
        });
    }
}

/// Runs a scenario against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name($crate::platform_kit::Db::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if $crate::platform_kit::skip_postgres() { eprintln!("HONNIN_SKIP_POSTGRES=1: skipped"); return; }
                super::$name($crate::platform_kit::Db::Postgres)
            })*
        }
    };
}
