//! The verification core's own cost for the work one flow asks of it, measured in process on one
//! thread over the same kind of messages the platform receives:
//!
//! - account opening: `honnin_verify::cms::verify` of a detached CMS over an opening document,
//!   then the revocation status — `CrlIndex::status` (CRL mode), or building the OCSP request and
//!   `ocsp::status_from_response` over a response the authority gave for it (OCSP mode; the
//!   authority's signing is outside both sides);
//! - login: `TrustProfile::validate_kind` + `signature::verify_login_proof`, then the same status.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use honnin_profile::{oid, Hierarchy};
use honnin_verify::crl::CrlIndex;
use honnin_verify::ocsp::{self, Freshness, PreparedRequest};
use honnin_verify::{RevocationStatus, TrustProfile, Validated};
use time::OffsetDateTime;

use crate::http::Conn;
use crate::load::{Card, Kind, APPLICATION, ORIGIN};

/// Messages to cycle through (the holders' cards sign them, untimed).
const MESSAGES: usize = 64;

pub struct Material {
    profile: TrustProfile,
    crl_sign: CrlIndex,
    crl_auth: CrlIndex,
    /// (CMS, document)
    openings: Vec<(Vec<u8>, Vec<u8>)>,
    /// (certificate, nonce, signature)
    logins: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    /// One OCSP exchange per distinct signer, keyed by its certificate DER.
    ocsp: Vec<(Vec<u8>, PreparedRequest, Vec<u8>)>,
}

fn random(n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| anyhow::anyhow!("no random bytes"))?;
    Ok(b)
}

/// Builds the material: the platform's own trust anchors, the authority's current CRLs, signed
/// messages, and (for OCSP) one kept exchange per certificate.
pub fn material(platform_dir: &Path, authority: &mut Conn, cards: &mut [Card], with_ocsp: bool) -> Result<Material> {
    let read = |name: &str| {
        let p = platform_dir.join("trust").join(name);
        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let (sign_root, auth_root) = (read("sign.der")?, read("auth.der")?);
    let profile = TrustProfile::sandbox(&[&sign_root, &auth_root])?;
    let now = OffsetDateTime::now_utc();
    let mut crl = |file: &str| -> Result<CrlIndex> {
        let der = authority
            .request("GET", &format!("/crl/{file}"), None, None)?
            .expect(200, file)?
            .body;
        Ok(CrlIndex::build(&profile, &der, now)?)
    };
    let (crl_sign, crl_auth) = (crl("sign.crl")?, crl("auth.crl")?);
    let mut openings = Vec::new();
    let mut logins = Vec::new();
    for i in 0..MESSAGES {
        let card = &mut cards[i % cards.len()];
        let flow_id = format!("aop_{}", hex::encode(random(16)?));
        let nonce = base64_encode(&random(16)?);
        let document = honnin_platform::opening_document(&flow_id, APPLICATION, &nonce);
        openings.push((card.sign_document(&document)?, document));
        let nonce = random(32)?;
        let signature = card.sign_login(ORIGIN, &nonce)?;
        logins.push((card.auth_certificate().to_vec(), nonce, signature));
    }
    let mut ocsp = Vec::new();
    if with_ocsp {
        let signers: Vec<Validated> = openings
            .iter()
            .take(cards.len())
            .map(|(cms, doc)| Ok(honnin_verify::cms::verify(&profile, cms, Some(doc), now)?.signer))
            .chain(
                logins
                    .iter()
                    .take(cards.len())
                    .map(|(c, _, _)| Ok(profile.validate_kind(c, Hierarchy::Authentication, now)?)),
            )
            .collect::<Result<_>>()?;
        for v in signers {
            let request = ocsp::request(&v, true)?;
            let response = authority
                .request_typed("POST", "/ocsp", None, Some(&request.der), "application/ocsp-request")?
                .expect(200, "OCSP")?
                .body;
            ocsp.push((v.der.clone(), request, response));
        }
    }
    Ok(Material {
        profile,
        crl_sign,
        crl_auth,
        openings,
        logins,
        ocsp,
    })
}

/// This thread's time on a CPU so far, in nanoseconds.
fn thread_cpu_ns() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").context("/proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .context("malformed schedstat")
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn good(s: &RevocationStatus) -> Result<()> {
    match s {
        RevocationStatus::Good { .. } => Ok(()),
        other => bail!("the core found {other:?}"),
    }
}

impl Material {
    fn status(&self, v: &Validated, at: OffsetDateTime, with_ocsp: bool) -> Result<()> {
        if with_ocsp {
            let (_, kept, response) = self
                .ocsp
                .iter()
                .find(|(der, _, _)| *der == v.der)
                .context("no OCSP exchange kept for this certificate")?;
            // The platform builds a fresh request per verification, then checks the answer.
            let fresh = ocsp::request(v, true)?;
            std::hint::black_box(&fresh.der);
            good(&ocsp::status_from_response(v, kept, response, at, Freshness::default()))
        } else {
            let index = match v.hierarchy() {
                Hierarchy::Signing => &self.crl_sign,
                Hierarchy::Authentication => &self.crl_auth,
            };
            good(&index.status(v, at))
        }
    }

    fn one(&self, kind: Kind, i: usize, at: OffsetDateTime, with_ocsp: bool) -> Result<()> {
        match kind {
            Kind::Opening => {
                let (cms, document) = &self.openings[i % self.openings.len()];
                let s = honnin_verify::cms::verify(&self.profile, cms, Some(document), at)?;
                self.status(&s.signer, at, with_ocsp)
            }
            Kind::Login => {
                let (cert, nonce, signature) = &self.logins[i % self.logins.len()];
                let v = self.profile.validate_kind(cert, Hierarchy::Authentication, at)?;
                honnin_verify::signature::verify_login_proof(&v, ORIGIN, nonce, &oid::SHA256_WITH_RSA, signature)?;
                self.status(&v, at, with_ocsp)
            }
        }
    }

    /// Operations per second of wall time on this thread for `seconds` (after a short warm-up),
    /// and this thread's CPU time per operation in µs (from `/proc/thread-self/schedstat`, so time
    /// the thread spent preempted by other work on a shared machine is not counted — the same
    /// kind of figure as the server's CPU time it is set beside).
    pub fn rate(&self, kind: Kind, seconds: Duration, with_ocsp: bool) -> Result<(f64, f64, u64)> {
        let at = OffsetDateTime::now_utc();
        for i in 0..MESSAGES {
            self.one(kind, i, at, with_ocsp)?;
        }
        let started = Instant::now();
        let cpu0 = thread_cpu_ns()?;
        let mut n = 0u64;
        while started.elapsed() < seconds {
            for _ in 0..16 {
                self.one(kind, n as usize, at, with_ocsp)?;
                n += 1;
            }
        }
        let cpu = thread_cpu_ns()? - cpu0;
        Ok((
            n as f64 / started.elapsed().as_secs_f64(),
            cpu as f64 / 1000.0 / n as f64,
            n,
        ))
    }
}
