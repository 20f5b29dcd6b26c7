//! The load: C client threads, each looping over whole flows against a platform. A flow is what a
//! service provider and a holder's client do together: create it (SP API, bearer key), GET the
//! client URL, sign with an in-process emulated card, POST the signature, GET the result (SP API).
//! Every result must be `verified`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use honnin_card::{MynaCard, SignKey};
use honnin_emulator::Emulator;
use honnin_platform::wire::{SignedApplication, WebEidToken};

use crate::http::{split_url, Conn};
use crate::setup::{PASSWORD, PIN};

pub const ORIGIN: &str = "https://bank.example";
pub const APPLICATION: &str = "普通預金口座の開設を申し込みます。\n口座の種類: 普通預金\n利用目的: 生計費決済\n\
                               申込者は規約に同意します。";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Opening,
    Login,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Opening => "account opening",
            Kind::Login => "login",
        }
    }

    fn create_path(self) -> &'static str {
        match self {
            Kind::Opening => "/v1/account-openings",
            Kind::Login => "/v1/logins",
        }
    }
}

/// An emulated card in memory, with its certificates read once.
pub struct Card {
    myna: MynaCard<Emulator>,
    sign_certificate: Vec<u8>,
    auth_certificate: Vec<u8>,
}

impl Card {
    pub fn open(path: &Path) -> Result<Card> {
        let file = honnin_cardfile::CardFile::read(path).with_context(|| format!("card {}", path.display()))?;
        let mut myna = MynaCard::new(Emulator::in_memory(file)?);
        let sign_certificate = myna.sign_certificate(PASSWORD)?;
        let auth_certificate = myna.auth_certificate()?;
        Ok(Card {
            myna,
            sign_certificate,
            auth_certificate,
        })
    }

    pub fn auth_certificate(&self) -> &[u8] {
        &self.auth_certificate
    }

    /// Detached CMS over `document` with the signing key.
    pub fn sign_document(&mut self, document: &[u8]) -> Result<Vec<u8>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(honnin_card::cms::sign_detached(
            &mut self.myna,
            SignKey::Sign,
            PASSWORD,
            &self.sign_certificate,
            document,
            now,
        )?)
    }

    /// The Web eID proof: RS256 over hash(origin) ‖ hash(nonce) with the auth key.
    pub fn sign_login(&mut self, origin: &str, nonce: &[u8]) -> Result<Vec<u8>> {
        let message = honnin_verify::signature::login_proof_message(origin, nonce);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message);
        Ok(self.myna.sign_digest(SignKey::Auth, PIN, digest.as_ref())?)
    }
}

/// Latencies of one flow, in microseconds.
#[derive(Clone, Copy)]
pub struct Sample {
    pub flow_us: u32,
    pub post_us: u32,
}

fn str_field<'a>(v: &'a serde_json::Value, key: &str) -> Result<&'a str> {
    v[key].as_str().with_context(|| format!("no {key:?} in {v}"))
}

/// One whole flow; returns the POST's duration.
pub fn flow(conn: &mut Conn, api_key: &str, kind: Kind, card: &mut Card) -> Result<Duration> {
    let create = match kind {
        Kind::Opening => serde_json::json!({ "application": APPLICATION }),
        Kind::Login => serde_json::json!({ "origin": ORIGIN }),
    };
    let created = conn
        .request(
            "POST",
            kind.create_path(),
            Some(api_key),
            Some(create.to_string().as_bytes()),
        )?
        .expect(201, "create the flow")?
        .json()?;
    let id = str_field(&created, "id")?.to_owned();
    let (_, client_path) = split_url(str_field(&created, "client_url")?)?;
    let task = conn
        .request("GET", &client_path, None, None)?
        .expect(200, "GET the client URL")?
        .json()?;
    let body = match kind {
        Kind::Opening => {
            let document = B64.decode(str_field(&task, "document")?).context("document")?;
            let cms = card.sign_document(&document)?;
            serde_json::to_vec(&SignedApplication { cms: B64.encode(cms) })?
        }
        Kind::Login => {
            let nonce = B64.decode(str_field(&task, "nonce")?).context("nonce")?;
            let origin = str_field(&task, "origin")?.to_owned();
            let signature = card.sign_login(&origin, &nonce)?;
            serde_json::to_vec(&WebEidToken {
                unverified_certificate: B64.encode(card.auth_certificate()),
                algorithm: "RS256".into(),
                signature: B64.encode(signature),
                format: "web-eid:1.0".into(),
                app_version: Some("platform-bench".into()),
            })?
        }
    };
    let posted = Instant::now();
    let outcome = conn
        .request("POST", &client_path, None, Some(&body))?
        .expect(200, "POST the signature")?
        .json()?;
    let post = posted.elapsed();
    if outcome["status"] != "verified" {
        bail!("the client was told {outcome}");
    }
    let result = conn
        .request("GET", &format!("{}/{id}", kind.create_path()), Some(api_key), None)?
        .expect(200, "GET the result")?
        .json()?;
    if result["status"] != "verified" || result["user_id"].as_str().is_none() {
        bail!("the service provider was told {result}");
    }
    Ok(post)
}

/// What the timed window gave.
pub struct Outcome {
    pub samples: Vec<Sample>,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub window: Duration,
}

const WARMUP: u8 = 0;
const TIMED: u8 = 1;
const STOP: u8 = 2;

#[allow(clippy::too_many_arguments)]
/// Runs `clients` threads for `warmup` then `seconds`; `around` is called with `true` at the start
/// of the timed window and `false` at its end (to read CPU counters).
pub fn run(
    addr: SocketAddr,
    api_key: &str,
    kind: Kind,
    cards: &[PathBuf],
    clients: usize,
    warmup: Duration,
    seconds: Duration,
    mut around: impl FnMut(bool) -> Result<()>,
) -> Result<Outcome> {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let ready = Arc::new(Barrier::new(clients + 1));
    let mut workers = Vec::new();
    for w in 0..clients {
        let mine: Vec<PathBuf> = (0..cards.len().div_ceil(clients).max(1))
            .map(|j| cards[(w + j * clients) % cards.len()].clone())
            .collect();
        let phase = phase.clone();
        let ready = ready.clone();
        let api_key = api_key.to_owned();
        workers.push(std::thread::spawn(
            move || -> Result<(Vec<Sample>, u64, Option<String>)> {
                let opened: Result<Vec<Card>> = mine.iter().map(|p| Card::open(p)).collect();
                ready.wait();
                let mut mine = opened?;
                let mut conn = Conn::new(addr);
                let mut samples = Vec::new();
                let (mut failures, mut first) = (0u64, None);
                let mut i = 0;
                while phase.load(Ordering::Relaxed) != STOP {
                    let n = mine.len();
                    let card = &mut mine[i % n];
                    i += 1;
                    let started = Instant::now();
                    let r = flow(&mut conn, &api_key, kind, card);
                    let took = started.elapsed();
                    if phase.load(Ordering::Relaxed) != TIMED {
                        if let Err(e) = r {
                            failures += 1;
                            first.get_or_insert(format!("{e:#}"));
                        }
                        continue;
                    }
                    match r {
                        Ok(post) => samples.push(Sample {
                            flow_us: u32::try_from(took.as_micros()).unwrap_or(u32::MAX),
                            post_us: u32::try_from(post.as_micros()).unwrap_or(u32::MAX),
                        }),
                        Err(e) => {
                            failures += 1;
                            first.get_or_insert(format!("{e:#}"));
                        }
                    }
                }
                Ok((samples, failures, first))
            },
        ));
    }
    ready.wait();
    std::thread::sleep(warmup);
    around(true)?;
    let t0 = Instant::now();
    phase.store(TIMED, Ordering::SeqCst);
    std::thread::sleep(seconds);
    phase.store(STOP, Ordering::SeqCst);
    let window = t0.elapsed();
    around(false)?;
    let mut out = Outcome {
        samples: Vec::new(),
        failures: 0,
        first_failure: None,
        window,
    };
    for w in workers {
        let (s, f, first) = w.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        out.samples.extend(s);
        out.failures += f;
        if out.first_failure.is_none() {
            out.first_failure = first;
        }
    }
    Ok(out)
}

/// The q-quantile (0..=1) of sorted values.
pub fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}

/// Requests per second and the server's CPU per request for a bare GET of `path` by `clients`
/// keep-alive clients for `seconds`: the floor under every API call (no flow, no signature).
pub fn floor(addr: SocketAddr, path: &str, clients: usize, seconds: Duration, pid: u32) -> Result<(f64, f64)> {
    let stop = Arc::new(AtomicU8::new(WARMUP));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let stop = stop.clone();
        let path = path.to_owned();
        workers.push(std::thread::spawn(move || -> Result<u64> {
            let mut conn = Conn::new(addr);
            let mut n = 0u64;
            while stop.load(Ordering::Relaxed) != STOP {
                let r = conn.request("GET", &path, None, None)?;
                if r.status >= 500 {
                    bail!("GET {path}: HTTP {}", r.status);
                }
                if stop.load(Ordering::Relaxed) == TIMED {
                    n += 1;
                }
            }
            Ok(n)
        }));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = crate::cpu::ticks(pid)?;
    let t0 = Instant::now();
    stop.store(TIMED, Ordering::SeqCst);
    std::thread::sleep(seconds);
    stop.store(STOP, Ordering::SeqCst);
    let window = t0.elapsed().as_secs_f64();
    let spent = crate::cpu::ticks(pid)? - before;
    let mut n = 0;
    for w in workers {
        n += w.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
    }
    let cpu = spent as f64 / crate::cpu::ticks_per_second();
    Ok((n as f64 / window, cpu / n.max(1) as f64 * 1e6))
}
