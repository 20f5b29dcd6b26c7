//! Child-process measures (`verify-bench --child KIND`), run apart so that their memory is their
//! own and a failure (out of memory, time limit) cannot take the run down. Each prints `key=value`
//! lines: times in seconds, memory in bytes.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use der::Decode;
use honnin_verify::crl::CrlIndex;
use x509_cert::crl::CertificateList;

use crate::proc::{hwm, rss};

/// The lookup file: u64 little-endian serials.
pub fn read_keys(path: &Path) -> Result<Vec<u64>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// honnin's index alone: peak RSS while building it from the DER, and the RSS it keeps once the
/// DER is dropped.
pub fn honnin(crl: &Path) -> Result<()> {
    let before = rss();
    let der = read(crl)?;
    let start = Instant::now();
    let index = CrlIndex::parse_unverified(&der)?;
    let secs = start.elapsed().as_secs_f64();
    drop(der);
    let kept = rss().saturating_sub(before);
    println!("entries={}", index.len());
    println!("index_secs={secs}");
    println!("retained_bytes={kept}");
    println!("memory_bytes={}", index.memory_bytes());
    println!("peak_rss={}", hwm());
    Ok(())
}

/// DER INTEGER content of a positive serial (minimal, with a 0x00 when the top bit is set), as
/// `SerialNumber::as_bytes` gives it.
fn der_integer(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap_or(7);
    let mut out = Vec::with_capacity(9);
    if b[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&b[skip..]);
    out
}

/// RustCrypto `x509-cert`: `CertificateList::from_der`, then a `HashMap` from serial bytes to the
/// entry, then lookups in it.
pub fn x509_cert(crl: &Path, lookups: &Path, passes: usize) -> Result<()> {
    let keys: Vec<Vec<u8>> = read_keys(lookups)?.into_iter().map(der_integer).collect();
    let before = rss();
    let der = read(crl)?;
    let start = Instant::now();
    let list = CertificateList::from_der(&der).map_err(|e| anyhow::anyhow!("CertificateList::from_der: {e}"))?;
    let parse = start.elapsed().as_secs_f64();
    let revoked = list.tbs_cert_list.revoked_certificates.as_deref().unwrap_or(&[]);
    let mut map: HashMap<&[u8], u32> = HashMap::with_capacity(revoked.len());
    for (i, r) in revoked.iter().enumerate() {
        map.insert(r.serial_number.as_bytes(), i as u32);
    }
    let index = start.elapsed().as_secs_f64();
    drop(der);
    let kept = rss().saturating_sub(before);
    let peak = hwm();
    let start = Instant::now();
    let mut hits = 0usize;
    for _ in 0..passes {
        for k in &keys {
            hits += black_box(map.get(k.as_slice())).is_some() as usize;
        }
    }
    let lookup = start.elapsed().as_secs_f64();
    if passes == 0 {
        bail!("no lookup passes");
    }
    println!("entries={}", revoked.len());
    println!("parse_secs={parse}");
    println!("index_secs={index}");
    println!("retained_bytes={kept}");
    println!("peak_rss={peak}");
    println!("lookups={}", passes * keys.len());
    println!("lookup_secs={lookup}");
    println!("hits={}", hits / passes);
    Ok(())
}

/// A loop to profile (`verify-bench --profile verify|lookups|lookup-many --work-dir DIR`, where DIR
/// was kept by an earlier `--work-dir DIR` run): full verifications, `lookup_u64` or `lookup_many`,
/// on one thread for `seconds`, with nothing else in the process. For `perf record`.
pub fn profile(kind: &str, work: &Path, crl: &Path, seconds: f64) -> Result<()> {
    use honnin_verify::{cms, TrustProfile};
    let at = time::OffsetDateTime::now_utc();
    let profile = TrustProfile::sandbox(&[&read(&work.join("ca.der"))?])?;
    let index = CrlIndex::build(&profile, &read(crl)?, at)?;
    // The lookup set kept beside the CRL: crl-10M.der → lookups-10M.bin.
    let lookup_keys = || {
        let name = crl.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        read_keys(&work.join(name.replace("crl-", "lookups-").replace(".der", ".bin")))
    };
    let start = Instant::now();
    let mut done = 0u64;
    match kind {
        "verify" => {
            let mut messages = Vec::new();
            for j in 0.. {
                let p7s = work.join("cms").join(format!("msg-{j:05}.p7s"));
                if !p7s.exists() {
                    break;
                }
                messages.push((read(&p7s)?, read(&work.join("cms").join(format!("msg-{j:05}.bin")))?));
            }
            if messages.is_empty() {
                bail!("no messages in {}", work.join("cms").display());
            }
            while start.elapsed().as_secs_f64() < seconds {
                let (cms_der, content) = &messages[done as usize % messages.len()];
                let signature = cms::verify(&profile, cms_der, Some(content), at)?;
                black_box(index.status(&signature.signer, at));
                done += 1;
            }
        }
        "lookups" => {
            let keys = lookup_keys()?;
            while start.elapsed().as_secs_f64() < seconds {
                for &k in &keys {
                    black_box(index.lookup_u64(black_box(k)));
                }
                done += keys.len() as u64;
            }
        }
        "lookup-many" => {
            let keys = lookup_keys()?;
            let mut out = vec![None; crate::honnin::BATCH];
            while start.elapsed().as_secs_f64() < seconds {
                for batch in keys.chunks(crate::honnin::BATCH) {
                    index.lookup_many(black_box(batch), &mut out);
                    black_box(&out);
                }
                done += keys.len() as u64;
            }
        }
        other => bail!("unknown profile {other} (verify, lookups or lookup-many)"),
    }
    println!("{kind}: {:.0}/s", done as f64 / start.elapsed().as_secs_f64());
    Ok(())
}
