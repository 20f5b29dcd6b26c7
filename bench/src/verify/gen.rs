//! Test material, untimed: a sandbox signing CA, CRLs of N entries, signers, CMS messages made by
//! `openssl cms -sign`, and the serials to look up.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};
use honnin_authority::crl::{encode_crl, CrlEntry, CrlHeader};
use honnin_profile::build::{build_root, build_signing, EndEntitySpec, Issuer, RootSpec, SigningSpec};
use honnin_profile::{names, Basic4, CaCertificate, Environment, Hierarchy, RevocationReason, RsaKey, Serial, Sex};
use time::{Duration, OffsetDateTime};

use crate::proc::{run_ok, write};

/// A small deterministic generator (SplitMix64): every run revokes and looks up the same kind of
/// serials.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A serial shaped like the authority's: 8 bytes, in [2^56, 2^63).
    pub fn serial(&mut self) -> u64 {
        (self.next() & 0x7FFF_FFFF_FFFF_FFFF) | 0x0100_0000_0000_0000
    }
}

pub struct Ca {
    pub key: RsaKey,
    pub cert: CaCertificate,
}

impl Ca {
    pub fn issuer(&self) -> Issuer<'_> {
        Issuer {
            certificate: &self.cert,
            key: &self.key,
        }
    }
}

/// A sandbox signing root, valid from yesterday for ten years.
pub fn ca(now: OffsetDateTime) -> Result<Ca> {
    let key = RsaKey::generate()?;
    let der = build_root(
        &RootSpec {
            environment: Environment::Sandbox,
            hierarchy: Hierarchy::Signing,
            serial: Serial::from_u64(1),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(3650),
        },
        &key,
    )?;
    Ok(Ca {
        cert: CaCertificate::from_der(&der)?,
        key,
    })
}

/// A national-looking reason mix, per mille (as `authority-bench` uses).
fn reason(r: u64) -> RevocationReason {
    match r % 1000 {
        0..550 => RevocationReason::AffiliationChanged,
        550..800 => RevocationReason::Superseded,
        800..950 => RevocationReason::CessationOfOperation,
        950..970 => RevocationReason::KeyCompromise,
        _ => RevocationReason::Unspecified,
    }
}

/// `n` revoked entries sorted by serial: random serials revoked during the last three years, plus
/// every serial of `revoked` (keyCompromise), and none of `good`.
pub fn entries(n: usize, now: OffsetDateTime, revoked: &[u64], good: &[u64]) -> Result<Vec<CrlEntry>> {
    let mut rng = SplitMix(0x686F_6E6E_696E ^ n as u64);
    let span = 3 * 365 * 86_400;
    let now = now.unix_timestamp();
    let random = n.saturating_sub(revoked.len());
    let mut out: Vec<CrlEntry> = Vec::with_capacity(n);
    while out.len() < random {
        while out.len() < random {
            let serial = rng.serial();
            if revoked.contains(&serial) || good.contains(&serial) {
                continue;
            }
            out.push(CrlEntry {
                serial,
                revoked_at: now - 60 - (rng.next() % span) as i64,
                reason: reason(rng.next()),
            });
        }
        out.sort_unstable_by_key(|e| e.serial);
        out.dedup_by_key(|e| e.serial);
    }
    for &serial in revoked {
        out.push(CrlEntry {
            serial,
            revoked_at: now - 3600,
            reason: RevocationReason::KeyCompromise,
        });
    }
    out.sort_unstable_by_key(|e| e.serial);
    if out.windows(2).any(|w| w[0].serial == w[1].serial) {
        bail!("duplicate serials on the CRL");
    }
    Ok(out)
}

/// The signed CRL: thisUpdate a minute ago, nextUpdate in a day.
pub fn crl(ca: &Ca, entries: &[CrlEntry], now: OffsetDateTime) -> Result<Vec<u8>> {
    let this_update = now - Duration::minutes(1);
    Ok(encode_crl(
        &ca.issuer(),
        &CrlHeader {
            number: 1,
            this_update,
            next_update: this_update + Duration::days(1),
        },
        entries,
    )?)
}

/// `count` serials to look up: alternately one on the CRL (a random entry) and one not on it (a
/// random serial of the same shape), in a random order of entries.
pub fn lookups(entries: &[CrlEntry], count: usize) -> (Vec<u64>, usize) {
    let mut rng = SplitMix(0x6C6F_6F6B ^ entries.len() as u64);
    let mut out = Vec::with_capacity(count);
    let mut present = 0;
    while out.len() < count {
        if out.len() % 2 == 0 && !entries.is_empty() {
            out.push(entries[(rng.next() % entries.len() as u64) as usize].serial);
            present += 1;
        } else {
            let s = rng.serial();
            if entries.binary_search_by_key(&s, |e| e.serial).is_ok() {
                continue;
            }
            out.push(s);
        }
    }
    (out, present)
}

/// A signing certificate holder.
pub struct Signer {
    pub serial: u64,
    pub revoked: bool,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

/// `good` signers whose serials are not on the CRL and `revoked` ones whose serials are.
pub fn signers(ca: &Ca, good: usize, revoked: usize, now: OffsetDateTime, dir: &Path) -> Result<Vec<Signer>> {
    let mut rng = SplitMix(0x7369_676E);
    let basic4 = Basic4::from_register(
        "山田　花子",
        "東京都清瀬市中里五丁目８４２番地",
        time::macros::date!(1985 - 04 - 01),
        Sex::Female,
    )?;
    let not_after = (now + Duration::days(4 * 365)).min(ca.cert.not_after);
    let mut out = Vec::new();
    for i in 0..good + revoked {
        let key = RsaKey::generate()?;
        let serial = rng.serial();
        let spec = SigningSpec {
            common: EndEntitySpec {
                serial: Serial::from_u64(serial),
                not_before: now - Duration::hours(1),
                not_after,
                public_key_pkcs1: key.public_key_pkcs1().to_vec(),
                prefecture: "Tokyo-to".into(),
                municipality: "Kiyose-shi".into(),
            },
            issuance_id: names::signing_issuance_id(now, (i + 1) as u64, "KIYOSE001"),
            basic4: basic4.clone(),
        };
        let cert_der = build_signing(&ca.issuer(), &spec)?;
        let cert_pem = dir.join(format!("signer-{i}.pem"));
        let key_pem = dir.join(format!("signer-{i}.key"));
        write(&cert_pem, honnin_profile::to_pem(&cert_der))?;
        write(&key_pem, key.to_pkcs8_pem()?)?;
        out.push(Signer {
            serial,
            revoked: i >= good,
            cert_pem,
            key_pem,
        });
    }
    Ok(out)
}

/// One signed document: detached CMS SignedData with signed attributes, from `openssl cms`.
pub struct Message {
    pub content: Vec<u8>,
    pub cms: Vec<u8>,
    pub revoked: bool,
}

/// Which signer signs message `j`: one in 50 messages comes from a revoked signer.
fn signer_of(j: usize, good: usize, revoked: usize) -> usize {
    if revoked > 0 && j % 50 == 49 {
        good + (j / 50) % revoked
    } else {
        j % good
    }
}

/// `count` distinct 1 KiB documents, each signed by `openssl cms -sign -binary -md sha256` (two at a
/// time). Files `msg-NNNNN.bin` (content) and `msg-NNNNN.p7s` (DER) stay in `dir` for the Go peer.
pub fn messages(openssl: &Path, signers: &[Signer], good: usize, count: usize, dir: &Path) -> Result<Vec<Message>> {
    let revoked = signers.len() - good;
    let mut rng = SplitMix(0x646F_6373);
    let mut contents = Vec::with_capacity(count);
    for j in 0..count {
        let mut text = format!("honnin verify-bench document {j:05}\n").into_bytes();
        while text.len() < 1024 {
            text.push(b' ' + (rng.next() % 94) as u8);
        }
        write(&dir.join(format!("msg-{j:05}.bin")), &text)?;
        contents.push(text);
    }
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                scope.spawn(move || -> Result<()> {
                    for j in (w..count).step_by(2) {
                        let s = &signers[signer_of(j, good, revoked)];
                        run_ok(
                            Command::new(openssl)
                                .args(["cms", "-sign", "-binary", "-md", "sha256", "-outform", "DER", "-in"])
                                .arg(dir.join(format!("msg-{j:05}.bin")))
                                .arg("-signer")
                                .arg(&s.cert_pem)
                                .arg("-inkey")
                                .arg(&s.key_pem)
                                .arg("-out")
                                .arg(dir.join(format!("msg-{j:05}.p7s"))),
                            "openssl cms -sign",
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
        }
        Ok(())
    })?;
    contents
        .into_iter()
        .enumerate()
        .map(|(j, content)| {
            Ok(Message {
                content,
                cms: std::fs::read(dir.join(format!("msg-{j:05}.p7s")))?,
                revoked: signers[signer_of(j, good, revoked)].revoked,
            })
        })
        .collect()
}
