//! A test kit for the platform: a real authority (`honnin authority serve`) and a real platform
//! (`honnin platform serve`) as child processes on loopback, over SQLite or a fresh PostgreSQL
//! database, with residents, emulated cards and a service provider's API key.
//!
//! PostgreSQL: `HONNIN_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`) is an
//! admin URL; each test creates and drops its own database. If PostgreSQL is unreachable the
//! PostgreSQL tests fail (they do not skip), unless `HONNIN_SKIP_POSTGRES=1`.

#![allow(dead_code)]

use std::collections::BTreeMap;
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

/// The current month in JST (`YYYY-MM`), the authority's and the platform's billing month.
pub fn this_month() -> String {
    let now = time::OffsetDateTime::now_utc() + time::Duration::hours(9);
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
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

    /// `GET path` as the service provider, the body as the exact text sent (to assert on raw JSON).
    pub fn get_raw(&self, path: &str) -> String {
        let resp = self
            .http
            .get(format!("{}{path}", self.platform.base))
            .bearer_auth(&self.api_key)
            .send()
            .expect("request");
        assert_eq!(resp.status().as_u16(), 200, "GET {path}");
        resp.text().expect("body")
    }

    // --- life at the authority, and what the platform made of it ------------------------------

    /// A customer: a holder (consenting to serial linking) who opened an account, and logged in
    /// once if `login` (so the platform knows the auth certificate); returns the holder and user id.
    pub fn customer(&self, name: &str, login: bool) -> (Holder, String) {
        let h = self.holder(name, true);
        let (id, url) = self.open_account("open");
        assert_eq!(self.complete(&url, &h.card, &[]).status.code(), Some(0));
        let user = self.get(&format!("/v1/account-openings/{id}"))["user_id"]
            .as_str()
            .expect("user_id")
            .to_owned();
        if login {
            let (id, url) = self.login("https://bank.example");
            assert_eq!(self.complete(&url, &h.card, &[]).status.code(), Some(0));
            assert_eq!(self.get(&format!("/v1/logins/{id}"))["user_id"], user.as_str());
        }
        (h, user)
    }

    /// `honnin authority event … --resident R ARGS` (a move, a death …).
    pub fn life_event(&self, resident: &str, args: &[&str]) {
        let a = self.authority_dir();
        let mut all = vec!["authority", "event", "--data", a.as_str(), "--resident", resident];
        all.extend_from_slice(args);
        honnin_ok(&all);
    }

    /// A move (転居): the signing certificate is revoked, and a new one issued on the same card.
    pub fn move_house(&self, holder: &Holder, address: &str) {
        self.life_event(&holder.resident, &["address-change", "--address", address]);
        honnin_ok(&[
            "authority",
            "card",
            "renew",
            "--data",
            &self.authority_dir(),
            "--card",
            &holder.card,
            "--which",
            "sign",
            "--sign-password",
            PASSWORD,
        ]);
    }

    /// Every event of the tenant's feed, oldest first.
    pub fn all_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.get(&format!("/v1/events?after={after}&limit=50"));
            let events = page["events"].as_array().expect("events").clone();
            if events.is_empty() {
                return out;
            }
            after = page["next"].as_str().expect("next").to_owned();
            out.extend(events);
        }
    }

    /// Asks the holder for a consent of `scope` and has the card sign it; returns the consent id and
    /// the client's exit code.
    pub fn give_consent(&self, user: &str, card: &str, scope: &str) -> (String, Option<i32>) {
        let c = self.post(
            &format!("/v1/users/{user}/consents"),
            serde_json::json!({ "scope": scope }),
        );
        assert_eq!(c["state"], "pending", "{c}");
        let url = c["client_url"].as_str().expect("client_url");
        let out = self.complete(url, card, &[]);
        (c["id"].as_str().expect("id").to_owned(), out.status.code())
    }

    /// `honnin platform bill --month M --reconcile`: asserts the platform's metered calls, priced,
    /// equal the authority's statement for the platform (exit 0), and returns the report.
    pub fn reconcile(&self, month: &str) -> Value {
        let p = self.platform_dir();
        let out = honnin(&["platform", "bill", "--data", &p, "--month", month, "--reconcile"]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("reconciliation json");
        assert_eq!(out.status.code(), Some(0), "not reconciled: {v:#}");
        v
    }

    /// How many calls of `service` (e.g. `basic4`, `age-check`) the platform made at the authority
    /// this month, from the authority's statement (every recorded call is on one of its lines).
    pub fn authority_calls(&self, service: &str) -> u64 {
        let month = this_month();
        let out = honnin_ok(&[
            "authority",
            "verifier",
            "statement",
            "--data",
            &self.authority_dir(),
            "--id",
            &self.verifier_id,
            "--month",
            &month,
            "--json",
        ]);
        let v: Value = serde_json::from_str(&out).expect("statement json");
        v["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter(|l| l["service"] == service)
            .map(|l| l["count"].as_u64().expect("count"))
            .sum()
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

/// A webhook receiver on loopback: answers 500 to the first `failures` requests, then 200, and
/// keeps every request's headers (lower-cased) and body.
pub struct Receiver {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

/// A request's headers and body.
pub type Received = (BTreeMap<String, String>, Vec<u8>);

impl Receiver {
    pub fn start(failures: usize) -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = requests.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                kept.lock().unwrap().push((headers, body));
                let status = if n < failures {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, requests }
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
