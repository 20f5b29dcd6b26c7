//! Issuance: N signing certificates with `build_signing`, then the same N from CSRs with one
//! `openssl ca -infiles` run (same CA key, holder keys, subjects, validity and extensions).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use der::asn1::BitString;
use der::{Decode, Encode};
use honnin_authority::CaMaterial;
use honnin_profile::build::{build_signing, EndEntitySpec, Issuer, SigningSpec};
use honnin_profile::key::sha256_with_rsa;
use honnin_profile::{names, oid, Basic4, RsaKey, Serial, Sex};
use time::OffsetDateTime;
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::Certificate;

use crate::openssl_ca::OpensslCa;
use crate::tools::{self, mkdir, pem, pem_blocks, progress, read, timed, write, Tools};
use crate::Args;

/// The first serial on both sides; like the authority's, 8 bytes with the top byte 0x01.
const FIRST_SERIAL: u64 = 0x0100_0000_0000_0001;
/// CSRs per `openssl ca` run, to stay far below the kernel's argument-length limit.
const CSRS_PER_RUN: usize = 10_000;
const PREFECTURE: &str = "Tokyo-to";
const MUNICIPALITY: &str = "Kiyose-shi";

pub struct Issuance {
    pub count: usize,
    pub honnin: Duration,
    pub openssl: Duration,
    /// Mean DER size of one certificate.
    pub honnin_bytes: usize,
    pub openssl_bytes: usize,
}

impl Issuance {
    pub fn honnin_rate(&self) -> f64 {
        self.count as f64 / self.honnin.as_secs_f64()
    }

    pub fn openssl_rate(&self) -> f64 {
        self.count as f64 / self.openssl.as_secs_f64()
    }
}

fn csr(key: &RsaKey, subject: x509_cert::name::Name) -> Result<Vec<u8>> {
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key: key.subject_public_key_info()?,
        attributes: Default::default(),
    };
    let signature = key.sign_sha256(&info.to_der()?)?;
    Ok(CertReq {
        info,
        algorithm: sha256_with_rsa(),
        signature: BitString::from_bytes(&signature)?,
    }
    .to_der()?)
}

/// `openssl.cnf` lines that reproduce a honnin certificate's extensions byte for byte (arbitrary
/// `DER:` form), except the authority key identifier, which openssl computes from the CA.
fn extensions_config(cert_der: &[u8]) -> Result<String> {
    let cert = Certificate::from_der(cert_der).context("parsing a honnin certificate")?;
    let mut out = String::new();
    for ext in cert.tbs_certificate.extensions.as_deref().unwrap_or(&[]) {
        if ext.extn_id == oid::EXT_AUTHORITY_KEY_ID {
            continue;
        }
        let critical = if ext.critical { "critical," } else { "" };
        writeln!(
            out,
            "{} = {critical}DER:{}",
            ext.extn_id,
            hex::encode_upper(ext.extn_value.as_bytes())
        )?;
    }
    // OpenSSL 3 adds a subjectKeyIdentifier unless told not to; JPKI end entities have none.
    out.push_str("subjectKeyIdentifier = none\nauthorityKeyIdentifier = keyid:always\n");
    Ok(out)
}

pub fn run(tools: &Tools, ca: &CaMaterial, work: &Path, args: &Args, now: OffsetDateTime) -> Result<Issuance> {
    let n = args.certs;
    let key_count = args.holder_keys.clamp(1, n);
    progress(&format!(
        "issuance: generating {key_count} holder keys (RSA-2048, untimed)"
    ));
    let keys = (0..key_count)
        .map(|_| RsaKey::generate())
        .collect::<Result<Vec<_>, _>>()?;
    let basic4 = Basic4::from_register(
        "山田　花子",
        "東京都清瀬市中里五丁目８４２番地",
        time::macros::date!(1985 - 04 - 01),
        Sex::Female,
    )?;
    let not_before = now.replace_nanosecond(0)?;
    let not_after = (not_before + time::Duration::days(5 * 365)).min(ca.certificate.not_after);
    let specs: Vec<SigningSpec> = (0..n)
        .map(|i| SigningSpec {
            common: EndEntitySpec {
                serial: Serial::from_u64(FIRST_SERIAL + i as u64),
                not_before,
                not_after,
                public_key_pkcs1: keys[i % key_count].public_key_pkcs1().to_vec(),
                prefecture: PREFECTURE.into(),
                municipality: MUNICIPALITY.into(),
            },
            issuance_id: names::signing_issuance_id(now, (i + 1) as u64, "KIYOSE001"),
            basic4: basic4.clone(),
        })
        .collect();
    let issuer = Issuer {
        certificate: &ca.certificate,
        key: &ca.key,
    };

    progress(&format!("issuance: honnin build_signing × {n}"));
    let mut certs = Vec::with_capacity(n);
    let start = Instant::now();
    for spec in &specs {
        certs.push(build_signing(&issuer, spec)?);
    }
    let honnin = start.elapsed();
    let honnin_bytes = certs.iter().map(Vec::len).sum::<usize>() / n;

    // openssl: the same CA, extensions copied from honnin's first certificate, CSRs made beforehand.
    let dir = work.join("openssl-issue");
    let ossl = OpensslCa::create(&dir, ca, FIRST_SERIAL, &extensions_config(&certs[0])?)?;
    progress(&format!("issuance: writing {n} CSRs (untimed)"));
    let csr_dir = dir.join("csr");
    mkdir(&csr_dir)?;
    let mut csr_files = Vec::with_capacity(n);
    for (i, spec) in specs.iter().enumerate() {
        let subject = names::signing_subject(PREFECTURE, MUNICIPALITY, &spec.issuance_id)?;
        let name = format!("csr/{i:07}.pem");
        write(
            &dir.join(&name),
            pem("CERTIFICATE REQUEST", &csr(&keys[i % key_count], subject)?)?,
        )?;
        csr_files.push(name);
    }
    let start_date = tools::utc_time(not_before)?;
    let end_date = tools::utc_time(not_after)?;
    progress(&format!("issuance: openssl ca -infiles × {n}"));
    let mut openssl = Duration::ZERO;
    for (batch, files) in csr_files.chunks(CSRS_PER_RUN).enumerate() {
        let out = format!("certs-{batch}.pem");
        let (elapsed, _) = timed(
            tools
                .openssl()
                .current_dir(&dir)
                .args(["ca", "-batch", "-notext", "-config"])
                .arg(&ossl.config)
                .args(["-startdate", &start_date, "-enddate", &end_date])
                .args(["-out", &out, "-infiles"])
                .args(files),
            "openssl ca -infiles",
        )?;
        openssl += elapsed;
    }

    // Sanity (untimed): openssl issued N certificates and both sides' first one verifies. `openssl
    // ca -out` keeps only the last certificate of a multi-CSR run (OpenSSL 3.0), so read each one
    // from new_certs_dir, where openssl ca files them as <SERIAL>.pem.
    let mut openssl_total = 0;
    let mut openssl_first = Vec::new();
    for i in 0..n {
        let file = dir.join(format!("newcerts/{:016X}.pem", FIRST_SERIAL + i as u64));
        let text = String::from_utf8(read(&file)?).with_context(|| format!("{} is not PEM text", file.display()))?;
        let mut blocks = pem_blocks(&text, "CERTIFICATE")?;
        let (Some(der), true) = (blocks.pop(), blocks.is_empty()) else {
            bail!("{} does not hold exactly one certificate", file.display());
        };
        openssl_total += der.len();
        if i == 0 {
            openssl_first = der;
        }
    }
    let openssl_bytes = openssl_total / n;
    for (who, der) in [("honnin", &certs[0]), ("openssl", &openssl_first)] {
        let file = dir.join(format!("first-{who}.pem"));
        write(&file, pem("CERTIFICATE", der)?)?;
        tools::run(
            tools
                .openssl()
                .arg("verify")
                .arg("-CAfile")
                .arg(&ossl.ca_pem)
                .arg(&file),
            &format!("openssl verify ({who}'s first certificate)"),
        )?;
    }
    Ok(Issuance {
        count: n,
        honnin,
        openssl,
        honnin_bytes,
        openssl_bytes,
    })
}
