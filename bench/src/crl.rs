//! CRL: one signed CRL with N revoked entries, from `encode_crl` and from `openssl ca -gencrl` over
//! an index holding the same serials, revocation times and reasons.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use honnin_authority::crl::{encode_crl, CrlEntry, CrlHeader};
use honnin_authority::CaMaterial;
use honnin_profile::build::Issuer;
use honnin_profile::RevocationReason;
use time::OffsetDateTime;

use crate::openssl_ca::OpensslCa;
use crate::tools::{self, progress, read, timed, write, TextFile, Tools};
use crate::Args;

pub struct CrlBench {
    pub entries: usize,
    /// The time of each round, in order.
    pub honnin: Vec<Duration>,
    pub openssl: Vec<Duration>,
    pub honnin_bytes: usize,
    pub openssl_bytes: usize,
}

impl CrlBench {
    pub fn honnin_median(&self) -> Duration {
        median(&self.honnin)
    }

    pub fn openssl_median(&self) -> Duration {
        median(&self.openssl)
    }
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    match t.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => t[n / 2],
        n => (t[n / 2 - 1] + t[n / 2]) / 2,
    }
}

/// A small deterministic generator (SplitMix64), so every run revokes the same kind of entries.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A plausible national mix, per mille: moves and name changes dominate, then renewals. No
/// certificateHold: `openssl ca` insists on a holdInstructionCode entry extension for it, which
/// honnin does not write, so the two CRLs would no longer hold the same entries.
fn reason(r: u64) -> RevocationReason {
    match r % 1000 {
        0..550 => RevocationReason::AffiliationChanged,
        550..800 => RevocationReason::Superseded,
        800..950 => RevocationReason::CessationOfOperation,
        950..970 => RevocationReason::KeyCompromise,
        _ => RevocationReason::Unspecified,
    }
}

/// The reason as `openssl ca` writes it in its index; `None` for unspecified, which both sides
/// leave out of the CRL entry (RFC 5280 §5.3.1).
fn openssl_reason(r: RevocationReason) -> Option<&'static str> {
    Some(match r {
        RevocationReason::Unspecified => return None,
        RevocationReason::KeyCompromise => "keyCompromise",
        RevocationReason::CaCompromise => "CACompromise",
        RevocationReason::AffiliationChanged => "affiliationChanged",
        RevocationReason::Superseded => "superseded",
        RevocationReason::CessationOfOperation => "cessationOfOperation",
        RevocationReason::CertificateHold => "certificateHold",
    })
}

/// `n` entries with distinct serials shaped like the authority's (8 bytes, top byte 0x01…0x7F),
/// revoked during the last three years, sorted by serial as `encode_crl` expects.
fn entries(n: usize, now: OffsetDateTime) -> Vec<CrlEntry> {
    let mut rng = SplitMix(0x686F_6E6E_696E);
    let span = 3 * 365 * 86_400;
    let now = now.unix_timestamp();
    let mut out: Vec<CrlEntry> = Vec::with_capacity(n);
    while out.len() < n {
        while out.len() < n {
            let serial = (rng.next() & 0x7FFF_FFFF_FFFF_FFFF) | 0x0100_0000_0000_0000;
            let revoked_at = now - (rng.next() % span) as i64;
            out.push(CrlEntry {
                serial,
                revoked_at,
                reason: reason(rng.next()),
            });
        }
        out.sort_unstable_by_key(|e| e.serial);
        out.dedup_by_key(|e| e.serial);
    }
    out
}

fn verify(tools: &Tools, ca_pem: &Path, crl: &Path, inform: &str, who: &str) -> Result<()> {
    let out = tools::run(
        tools
            .openssl()
            .args(["crl", "-noout", "-inform", inform, "-in"])
            .arg(crl)
            .arg("-CAfile")
            .arg(ca_pem),
        &format!("openssl crl ({who}'s CRL)"),
    )?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !said.contains("verify OK") {
        bail!("openssl crl does not verify {who}'s CRL: {said}");
    }
    Ok(())
}

pub fn run(tools: &Tools, ca: &CaMaterial, work: &Path, args: &Args, now: OffsetDateTime) -> Result<CrlBench> {
    let (n, rounds) = (args.crl_entries, args.crl_rounds);
    progress(&format!("CRL: generating {n} revoked entries (untimed)"));
    let entries = entries(n, now);
    let this_update = now.replace_nanosecond(0)?;
    let header = CrlHeader {
        number: 1,
        this_update,
        next_update: this_update + time::Duration::hours(24),
    };

    let mut honnin = Vec::with_capacity(rounds);
    let mut der = Vec::new();
    for round in 1..=rounds {
        progress(&format!("CRL: honnin encode_crl, {n} entries, round {round}/{rounds}"));
        let start = Instant::now();
        der = encode_crl(
            &Issuer {
                certificate: &ca.certificate,
                key: &ca.key,
            },
            &header,
            &entries,
        )?;
        honnin.push(start.elapsed());
    }

    let dir = work.join("openssl-crl");
    let ossl = OpensslCa::create(&dir, ca, 1, "")?;
    progress(&format!("CRL: writing the openssl index, {n} revoked lines (untimed)"));
    let mut index = TextFile::create(&dir.join("index.txt"))?;
    for e in &entries {
        let revoked = OffsetDateTime::from_unix_timestamp(e.revoked_at)?;
        let expiry = tools::utc_time(revoked + time::Duration::days(5 * 365))?;
        let revoked = tools::utc_time(revoked)?;
        match openssl_reason(e.reason) {
            Some(r) => index.line(format_args!(
                "R\t{expiry}\t{revoked},{r}\t{:016X}\tunknown\t/CN=x",
                e.serial
            ))?,
            None => index.line(format_args!(
                "R\t{expiry}\t{revoked}\t{:016X}\tunknown\t/CN=x",
                e.serial
            ))?,
        }
    }
    index.finish()?;
    drop(entries);

    let mut openssl = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        progress(&format!("CRL: openssl ca -gencrl, {n} entries, round {round}/{rounds}"));
        let (elapsed, _) = timed(
            tools
                .openssl()
                .current_dir(&dir)
                .args(["ca", "-gencrl", "-config"])
                .arg(&ossl.config)
                .args(["-out", "crl.pem"]),
            "openssl ca -gencrl",
        )?;
        openssl.push(elapsed);
    }

    // Sanity (untimed): both CRLs parse and verify under the CA; compare DER sizes.
    let honnin_file = dir.join("honnin-crl.der");
    write(&honnin_file, &der)?;
    verify(tools, &ossl.ca_pem, &honnin_file, "DER", "honnin")?;
    let openssl_der = dir.join("crl.der");
    tools::run(
        tools
            .openssl()
            .current_dir(&dir)
            .args(["crl", "-in", "crl.pem", "-outform", "DER", "-out"])
            .arg(&openssl_der),
        "openssl crl (PEM to DER)",
    )?;
    verify(tools, &ossl.ca_pem, &openssl_der, "DER", "openssl")?;
    Ok(CrlBench {
        entries: n,
        honnin,
        openssl,
        honnin_bytes: der.len(),
        openssl_bytes: read(&openssl_der)?.len(),
    })
}
