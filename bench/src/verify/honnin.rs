//! honnin, in this process: CRL index build (unverified on one thread; verified, two threads),
//! memory, lookups, and full signature verifications.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use honnin_verify::crl::CrlIndex;
use honnin_verify::{cms, RevocationStatus, TrustProfile};
use time::OffsetDateTime;

use crate::allocations;
use crate::gen::Message;

pub fn median(v: &[f64]) -> f64 {
    let mut t = v.to_vec();
    t.sort_by(f64::total_cmp);
    match t.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => t[n / 2],
        n => (t[n / 2 - 1] + t[n / 2]) / 2.0,
    }
}

pub struct CrlFigures {
    pub entries: usize,
    /// Seconds per round.
    pub parse: Vec<f64>,
    pub build: Vec<f64>,
    pub memory_bytes: usize,
    /// Lookups per second per round, `lookup_u64` and `lookup(&[u8])`.
    pub lookup_u64: Vec<f64>,
    pub lookup_bytes: Vec<f64>,
    /// Lookups per second per round, `lookup_many` over batches of [`BATCH`] serials.
    pub lookup_many: Vec<f64>,
    /// Allocations counted during all the timed lookups.
    pub lookup_allocations: u64,
    pub lookups_done: u64,
}

impl CrlFigures {
    pub fn parse_rate(&self) -> f64 {
        self.entries as f64 / median(&self.parse)
    }
    pub fn build_rate(&self) -> f64 {
        self.entries as f64 / median(&self.build)
    }
    pub fn bytes_per_entry(&self) -> f64 {
        self.memory_bytes as f64 / self.entries as f64
    }
}

/// Times `passes` calls of `pass`, each one pass of `per_pass` lookups returning its hits. Returns
/// (lookups/s, hits per pass, allocations made meanwhile).
fn timed_passes(passes: usize, per_pass: usize, mut pass: impl FnMut() -> usize) -> (f64, usize, u64) {
    let allocated = allocations();
    let start = Instant::now();
    let mut hits = 0usize;
    for _ in 0..passes {
        hits += pass();
    }
    let secs = start.elapsed().as_secs_f64();
    let allocated = allocations() - allocated;
    ((passes * per_pass) as f64 / secs, hits / passes.max(1), allocated)
}

/// Timed lookups one at a time: `passes` passes over `keys` keys, counting hits.
fn time_lookups(passes: usize, keys: usize, mut one: impl FnMut(usize) -> bool) -> (f64, usize, u64) {
    timed_passes(passes, keys, || {
        let mut hits = 0usize;
        for i in 0..keys {
            hits += one(black_box(i)) as usize;
        }
        hits
    })
}

/// Serials per `lookup_many` call in the benchmark: what a status-check job might take at once.
pub const BATCH: usize = 1024;

/// Timed `lookup_many`: `passes` passes over `keys` in batches of [`BATCH`], counting hits.
fn time_lookup_many(passes: usize, index: &CrlIndex, keys: &[u64]) -> (f64, usize, u64) {
    let mut out = vec![None; BATCH];
    timed_passes(passes, keys.len(), || {
        let mut hits = 0usize;
        for batch in keys.chunks(BATCH) {
            index.lookup_many(black_box(batch), &mut out);
            hits += out[..batch.len()].iter().filter(|o| o.is_some()).count();
        }
        hits
    })
}

/// Measures the index of one CRL, and returns the verified index for the verification runs.
pub fn crl(
    profile: &TrustProfile,
    der: &[u8],
    at: OffsetDateTime,
    keys: &[u64],
    expected_hits: usize,
    rounds: usize,
    passes: usize,
) -> Result<(CrlFigures, CrlIndex)> {
    let mut parse = Vec::new();
    let mut entries = 0;
    let mut memory_bytes = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let index = CrlIndex::parse_unverified(der)?;
        parse.push(start.elapsed().as_secs_f64());
        entries = index.len();
        memory_bytes = index.memory_bytes();
        drop(black_box(index));
    }
    let mut build = Vec::new();
    let mut verified = None;
    for _ in 0..rounds {
        drop(verified.take());
        let start = Instant::now();
        let index = CrlIndex::build(profile, der, at)?;
        build.push(start.elapsed().as_secs_f64());
        verified = Some(index);
    }
    let index = verified.expect("at least one round");
    if index.len() != entries || index.memory_bytes() != memory_bytes {
        bail!("the verified and unverified indexes differ");
    }

    let be: Vec<[u8; 8]> = keys.iter().map(|k| k.to_be_bytes()).collect();
    let mut lookup_u64 = Vec::new();
    let mut lookup_bytes = Vec::new();
    let mut lookup_many = Vec::new();
    let mut lookup_allocations = 0;
    for _ in 0..rounds {
        // The answer goes through `black_box`: with `.is_some()` alone the compiler may skip
        // reading a hit's time, which no caller can do without.
        let (rate, hits, allocated) =
            time_lookups(passes, keys.len(), |i| black_box(index.lookup_u64(keys[i])).is_some());
        if hits != expected_hits {
            bail!("lookup_u64 found {hits} serials, expected {expected_hits}");
        }
        lookup_u64.push(rate);
        lookup_allocations += allocated;
        let (rate, hits, allocated) = time_lookups(passes, keys.len(), |i| black_box(index.lookup(&be[i])).is_some());
        if hits != expected_hits {
            bail!("lookup found {hits} serials, expected {expected_hits}");
        }
        lookup_bytes.push(rate);
        lookup_allocations += allocated;
        let (rate, hits, allocated) = time_lookup_many(passes, &index, keys);
        if hits != expected_hits {
            bail!("lookup_many found {hits} serials, expected {expected_hits}");
        }
        lookup_many.push(rate);
        lookup_allocations += allocated;
    }
    Ok((
        CrlFigures {
            entries,
            parse,
            build,
            memory_bytes,
            lookup_u64,
            lookup_bytes,
            lookup_many,
            lookup_allocations,
            lookups_done: (3 * rounds * passes * keys.len()) as u64,
        },
        index,
    ))
}

/// Full verifications per second on one thread: `cms::verify` (CMS SignedData: content digest,
/// signature over the signed attributes, the signer's chain to the root, profile and validity) and
/// then the signer's status from the CRL index. Every answer is checked against the expected one.
pub fn full_verify(
    profile: &TrustProfile,
    index: &CrlIndex,
    messages: &[Message],
    at: OffsetDateTime,
    seconds: f64,
) -> Result<(f64, usize)> {
    let one = |m: &Message| -> Result<()> {
        let signature = cms::verify(profile, &m.cms, Some(&m.content), at)?;
        let status = index.status(&signature.signer, at);
        match (&status, m.revoked) {
            (RevocationStatus::Good { .. }, false) | (RevocationStatus::Revoked { .. }, true) => Ok(()),
            _ => bail!("a signer's status is {status:?}, expected revoked = {}", m.revoked),
        }
    };
    // One untimed pass checks every message.
    for m in messages {
        one(m)?;
    }
    let limit = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < limit {
        for _ in 0..100 {
            one(&messages[done % messages.len()])?;
            done += 1;
        }
    }
    Ok((done as f64 / start.elapsed().as_secs_f64(), done))
}

/// Rate of `f` over about `seconds`.
pub fn rate(seconds: f64, f: &mut dyn FnMut(usize) -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..50 {
            f(done)?;
            done += 1;
        }
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}
