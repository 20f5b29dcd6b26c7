//! `authority-bench`: the authority's throughput beside `openssl` doing the same work, in one run.
//!
//! Three measures, each printed as honnin, openssl and a ratio where **above 1 means honnin is
//! better** (throughput: honnin/openssl; time and bytes: openssl/honnin):
//!
//! 1. issuance: signing certificates per second (`build_signing` vs one `openssl ca -infiles` run);
//! 2. CRL: time and DER bytes for a CRL of 1,000,000 revoked entries (`encode_crl` vs
//!    `openssl ca -gencrl`);
//! 3. OCSP: responses per second with and without a nonce (`honnin authority serve` vs the
//!    `openssl ocsp -index` responder), both loaded by `ab` without keep-alive.
//!
//! Both sides use the same CA certificate and key (the authority's own), the same holder keys and
//! the same revoked entries, so both produce the same structures: the certificates, CRLs and OCSP
//! responses differ only in signatures and times, and are the same size.

mod crl;
mod issuance;
mod ocsp;
mod openssl_ca;
mod tools;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use honnin_authority::{Authority, InitOptions};
use honnin_profile::Hierarchy;
use time::OffsetDateTime;

use crate::tools::Tools;

/// Benchmarks the honnin authority beside openssl: issuance, a large CRL, OCSP.
#[derive(Parser, Debug)]
#[command(name = "authority-bench", version)]
pub struct Args {
    /// Signing certificates to issue on each side.
    #[arg(long, default_value_t = 2000)]
    certs: usize,
    /// Distinct holder keys to generate (untimed) and cycle through; RSA-2048 key generation is
    /// slow and the key does not change the issuing work.
    #[arg(long, default_value_t = 16)]
    holder_keys: usize,
    /// Revoked entries on the CRL.
    #[arg(long, default_value_t = 1_000_000)]
    crl_entries: usize,
    /// Times each side builds the CRL; the median counts.
    #[arg(long, default_value_t = 3)]
    crl_rounds: usize,
    /// OCSP requests per `ab` load (per round: two responders, with and without nonce).
    #[arg(long, default_value_t = 2000)]
    ocsp_requests: usize,
    /// `ab` loads of each kind against each responder; the median counts.
    #[arg(long, default_value_t = 3)]
    ocsp_rounds: usize,
    /// Concurrent `ab` clients.
    #[arg(long, default_value_t = 2)]
    ocsp_concurrency: usize,
    /// Run `openssl ocsp` with `-multi N` (N responder processes); 0 runs it as one process, its
    /// default.
    #[arg(long, default_value_t = 0)]
    openssl_ocsp_multi: usize,
    /// The `honnin` binary (default: beside this one, i.e. target/release/honnin).
    #[arg(long, value_name = "PATH")]
    honnin: Option<PathBuf>,
    /// The `openssl` binary.
    #[arg(long, value_name = "PATH", default_value = "openssl")]
    openssl: PathBuf,
    /// The `ab` binary (Debian package apache2-utils).
    #[arg(long, value_name = "PATH", default_value = "ab")]
    ab: PathBuf,
    /// Work in this directory and keep it (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

/// One line of the summary.
struct Row {
    measure: String,
    honnin: String,
    openssl: String,
    /// Above 1: honnin is better.
    ratio: f64,
    better: &'static str,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.certs == 0
        || args.crl_entries == 0
        || args.ocsp_requests == 0
        || args.ocsp_rounds == 0
        || args.crl_rounds == 0
    {
        bail!("--certs, --crl-entries, --crl-rounds, --ocsp-requests and --ocsp-rounds must be at least 1");
    }
    if args.ocsp_concurrency == 0 || args.ocsp_concurrency > args.ocsp_requests {
        bail!("--ocsp-concurrency must be between 1 and --ocsp-requests");
    }
    let honnin = match &args.honnin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("cannot locate this executable")?
            .with_file_name("honnin"),
    };
    let tools = Tools::new(honnin, args.openssl.clone(), args.ab.clone())?;

    let temp;
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("honnin-bench-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };

    let started = OffsetDateTime::now_utc();
    println!("honnin authority benchmark");
    println!("  date:     {started}");
    println!("  cores:    {}", tools::cores());
    println!("  openssl:  {}", tools.openssl_version()?);
    println!("  honnin:   {}", tools.honnin.display());
    println!("  work dir: {}", work.display());
    println!(
        "  params:   --certs {} --crl-entries {} --crl-rounds {} --ocsp-requests {} --ocsp-rounds {} --ocsp-concurrency {} \
         --openssl-ocsp-multi {}",
        args.certs,
        args.crl_entries,
        args.crl_rounds,
        args.ocsp_requests,
        args.ocsp_rounds,
        args.ocsp_concurrency,
        args.openssl_ocsp_multi
    );
    println!();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let data = work.join("authority");
    tools::progress("creating the honnin authority (two roots, two responders)");
    let authority = runtime
        .block_on(Authority::init(&data, InitOptions::default(), started))
        .context("honnin authority init")?;
    let signing_ca = runtime
        .block_on(authority.ca(Hierarchy::Signing))
        .context("loading the signing CA")?;

    let mut rows = Vec::new();

    let issued = issuance::run(&tools, &signing_ca, &work, &args, started)?;
    println!("issuance ({} signing certificates, one thread):", issued.count);
    println!(
        "  honnin  build_signing     {:>10.1} certs/s  ({:.3} s, {} B/cert)",
        issued.honnin_rate(),
        secs(issued.honnin),
        issued.honnin_bytes
    );
    println!(
        "  openssl ca -infiles       {:>10.1} certs/s  ({:.3} s, {} B/cert)",
        issued.openssl_rate(),
        secs(issued.openssl),
        issued.openssl_bytes
    );
    println!();
    rows.push(Row {
        measure: format!("issuance, {} certs (certs/s)", issued.count),
        honnin: format!("{:.1}", issued.honnin_rate()),
        openssl: format!("{:.1}", issued.openssl_rate()),
        ratio: issued.honnin_rate() / issued.openssl_rate(),
        better: "higher",
    });

    let crl = crl::run(&tools, &signing_ca, &work, &args, started)?;
    let times = |t: &[Duration]| {
        t.iter()
            .map(|d| format!("{:.3}", secs(*d)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "CRL ({} revoked entries, signed; median of {} rounds [each round]):",
        crl.entries, args.crl_rounds
    );
    println!(
        "  honnin  encode_crl        {:>10.3} s  {:>12} bytes DER  [{}]",
        secs(crl.honnin_median()),
        crl.honnin_bytes,
        times(&crl.honnin)
    );
    println!(
        "  openssl ca -gencrl        {:>10.3} s  {:>12} bytes DER  [{}]",
        secs(crl.openssl_median()),
        crl.openssl_bytes,
        times(&crl.openssl)
    );
    println!();
    rows.push(Row {
        measure: format!("CRL, {} entries (s)", crl.entries),
        honnin: format!("{:.3}", secs(crl.honnin_median())),
        openssl: format!("{:.3}", secs(crl.openssl_median())),
        ratio: secs(crl.openssl_median()) / secs(crl.honnin_median()),
        better: "lower",
    });
    rows.push(Row {
        measure: format!("CRL, {} entries (bytes)", crl.entries),
        honnin: crl.honnin_bytes.to_string(),
        openssl: crl.openssl_bytes.to_string(),
        ratio: crl.openssl_bytes as f64 / crl.honnin_bytes as f64,
        better: "lower",
    });

    let ocsp = ocsp::run(&tools, &runtime, authority, &work, &args, started)?;
    println!(
        "OCSP (ab -n {} -c {}, no keep-alive, one good certificate; median of {} rounds [each round]):",
        args.ocsp_requests, args.ocsp_concurrency, args.ocsp_rounds
    );
    let rounds = |l: &ocsp::Load| l.rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(" ");
    for (label, h, o) in [
        ("with nonce", &ocsp.honnin_nonce, &ocsp.openssl_nonce),
        ("without nonce", &ocsp.honnin_plain, &ocsp.openssl_plain),
    ] {
        println!(
            "  {label:<14} honnin {:>9.1} req/s [{}]   openssl {:>9.1} req/s [{}]",
            h.rate,
            rounds(h),
            o.rate,
            rounds(o)
        );
        rows.push(Row {
            measure: format!("OCSP {label} (req/s)"),
            honnin: format!("{:.1}", h.rate),
            openssl: format!("{:.1}", o.rate),
            ratio: h.rate / o.rate,
            better: "higher",
        });
    }
    println!(
        "  response bytes: honnin {} (nonce) / {} (no nonce), openssl {} / {}",
        ocsp.honnin_nonce.bytes, ocsp.honnin_plain.bytes, ocsp.openssl_nonce.bytes, ocsp.openssl_plain.bytes
    );
    println!();

    print_summary(&rows);
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn print_summary(rows: &[Row]) {
    println!("summary (ratio > 1: honnin is better; throughput honnin/openssl, time and bytes openssl/honnin)");
    let w = rows.iter().map(|r| r.measure.len()).max().unwrap_or(0);
    println!(
        "{:<w$} | {:>12} | {:>12} | {:>7} | better",
        "measure", "honnin", "openssl", "ratio"
    );
    println!("{}", "-".repeat(w + 55));
    for r in rows {
        println!(
            "{:<w$} | {:>12} | {:>12} | {:>6.2}x | {}",
            r.measure, r.honnin, r.openssl, r.ratio, r.better
        );
    }
}
