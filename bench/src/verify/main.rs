//! `verify-bench`: the verification core's CRL index and signature verification beside peers doing
//! the same work, in one run (see docs/benchmarks.md).
//!
//! For CRLs of 1,000,000 and 10,000,000 entries (made by `encode_crl`, untimed):
//!
//! - index build rate on one core (`CrlIndex::parse_unverified`) and with the signature checked on
//!   the second core (`CrlIndex::build`), beside `x509-cert` (`CertificateList::from_der` + a
//!   `HashMap`), Python `cryptography` (`load_der_x509_crl` + a dict), `openssl crl` and Go's
//!   `x509.ParseRevocationList` + a map;
//! - memory per entry (`memory_bytes()`, and the RSS the index keeps, measured in a child process)
//!   and peak RSS;
//! - lookups per second on one core, with the allocations they make counted;
//!
//! and full signing-certificate verifications per second on one thread (`cms::verify` + the CRL
//! status), against the bound of two RSA-2048 verifications (`openssl speed rsa2048`, right before
//! and right after each verification run)
//! and against the same job in Go's standard library.
//!
//! Every summary line reads `measure | honnin | peer | ratio | goal | met?`; **a ratio above 1 means
//! honnin is better** (throughput honnin/peer, memory peer/honnin).

mod child;
mod gen;
mod honnin;
mod proc;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use honnin_verify::crl::CrlIndex;
use honnin_verify::TrustProfile;
use time::OffsetDateTime;

use crate::honnin::{median, CrlFigures};
use crate::proc::{mem_available, num, progress, run_measured, run_ok, write, Measured};

/// Counts allocations, so the benchmark can show that lookups make none.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above; `ptr` was allocated by `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (alloc, alloc_zeroed, realloc) so far, all threads.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Benchmarks honnin's CRL index and signature verification beside x509-cert, Python
/// cryptography, openssl and Go.
#[derive(Parser, Debug)]
#[command(name = "verify-bench", version)]
struct Args {
    /// CRL sizes (entries), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    sizes: Vec<usize>,
    /// Rounds of each honnin measure: in process, in fresh processes, and the full verifications
    /// against the bound (and of `openssl crl` up to 2,000,000 entries); the median counts.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Serials in the lookup set (half on the CRL, half not), shared by every side.
    #[arg(long, default_value_t = 2_000_000)]
    lookups: usize,
    /// Passes over the lookup set for honnin, x509-cert and Go (Python makes one).
    #[arg(long, default_value_t = 3)]
    lookup_passes: usize,
    /// Distinct signed messages for the verification runs.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Signers not on the CRL.
    #[arg(long, default_value_t = 8)]
    good_signers: usize,
    /// Signers on the CRL (one message in 50 comes from one of them).
    #[arg(long, default_value_t = 2)]
    revoked_signers: usize,
    /// Seconds of full verifications per CRL, split over the rounds.
    #[arg(long, default_value_t = 5.0)]
    verify_seconds: f64,
    /// `openssl speed -seconds N rsa2048`, run between the rounds of full verifications.
    #[arg(long, default_value_t = 1)]
    speed_seconds: u32,
    /// A peer whose run would take longer (extrapolated from the previous size) is skipped; one
    /// still running after this long is stopped.
    #[arg(long, default_value_t = 300)]
    peer_time_limit: u64,
    /// A peer whose peak memory would exceed this (GiB, extrapolated) is skipped.
    #[arg(long, default_value_t = 16.0)]
    peer_memory_limit_gib: f64,
    /// Python with `cryptography` installed.
    #[arg(long, env = "VERIFY_BENCH_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The Go peer, built from bench/go (bench/verify.sh builds it). Without it Go is skipped.
    #[arg(long, env = "VERIFY_BENCH_GO_PEER", value_name = "PATH")]
    go_peer: Option<PathBuf>,
    /// The `openssl` binary: the bound (`openssl speed`), the CMS messages and the openssl peer.
    #[arg(long, value_name = "PATH", default_value = "openssl")]
    openssl: PathBuf,
    /// Work in this directory and keep it (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Run one loop alone for a profiler, `verify` (cms::verify + status), `lookups`
    /// (`lookup_u64`) or `lookup-many` (`lookup_many`), with the material of an earlier run kept by
    /// `--work-dir DIR`, for `--verify-seconds`.
    #[arg(long, value_name = "KIND", requires = "work_dir")]
    profile: Option<String>,
    /// The CRL for `--profile` (default: DIR/crl-1M.der).
    #[arg(long, value_name = "PATH")]
    profile_crl: Option<PathBuf>,
    /// The peers to run, comma-separated: x509-cert, python, openssl, go; or `none`.
    #[arg(long, value_delimiter = ',', default_value = "x509-cert,python,openssl,go")]
    peers: Vec<String>,
    /// Internal: run one child measure (`honnin` or `x509-cert`).
    #[arg(long, hide = true)]
    child: Option<String>,
    #[arg(long, hide = true)]
    child_crl: Option<PathBuf>,
    #[arg(long, hide = true)]
    child_lookups: Option<PathBuf>,
}

impl Args {
    /// Whether `--peers` asks for this peer.
    fn runs(&self, peer: &str) -> bool {
        let key = match peer {
            X509 => "x509-cert",
            PYTHON => "python",
            OPENSSL => "openssl",
            GO => "go",
            _ => return false,
        };
        self.peers.iter().any(|p| p == key)
    }
}

/// The peers of the CRL measures.
const X509: &str = "x509-cert";
const PYTHON: &str = "python cryptography";
const OPENSSL: &str = "openssl crl";
const GO: &str = "Go crypto/x509";

/// What one peer did with one CRL.
#[derive(Clone, Debug, Default)]
struct PeerCrl {
    /// Seconds to parse and index (one core).
    index: f64,
    /// Seconds to parse, index and check the signature (one core), when measured.
    verified: Option<f64>,
    /// RSS the parsed CRL and index keep, bytes.
    retained: Option<f64>,
    peak_rss: f64,
    lookup_rate: Option<f64>,
    /// Wall time of the child(ren), for extrapolating to the next size.
    wall: f64,
}

type PeerResult = std::result::Result<PeerCrl, String>;

/// `parse_unverified` once in each of `--rounds` fresh processes, one after another. A peer runs
/// once, but its run takes seconds; honnin's takes tens of milliseconds, and on the guests here the
/// host has slow stretches of a few seconds (a plain compute loop runs 1.3–2.5× slower in them), so
/// one sample would say more about the host than about the build (1 M entries: 0.029–0.033 s, or
/// 0.046–0.055 s in such a stretch).
struct HonninChild {
    /// RSS the index keeps once the DER is dropped (median).
    kept: f64,
    /// Peak RSS, DER included (the highest).
    peak: f64,
    /// Seconds for the one `parse_unverified`, in each process.
    secs: Vec<f64>,
}

impl HonninChild {
    fn median_secs(&self) -> f64 {
        median(&self.secs)
    }
}

struct SizeResult {
    n: usize,
    der_bytes: usize,
    encode_secs: f64,
    honnin: std::result::Result<CrlFigures, String>,
    /// honnin's run in a fresh process.
    honnin_rss: std::result::Result<HonninChild, String>,
    peers: Vec<(&'static str, PeerResult)>,
}

fn label(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn per_sec(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k/s", v / 1e3)
    } else {
        format!("{v:.1}/s")
    }
}

/// A reason cut to fit a table cell (the details above the table have it whole).
fn short(why: &str) -> String {
    const MAX: usize = 56;
    if why.chars().count() <= MAX {
        why.to_owned()
    } else {
        format!("{}…", why.chars().take(MAX - 1).collect::<String>())
    }
}

/// honnin's cell when it has no figure: `failed: why`, shortened.
fn failed(why: &str) -> String {
    if why.starts_with("failed") || why.starts_with("timed out") {
        short(why)
    } else {
        short(&format!("failed: {why}"))
    }
}

fn mb(v: f64) -> String {
    format!("{:.0} MB", v / 1e6)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(kind) = &args.child {
        let crl = args.child_crl.as_deref().context("--child-crl")?;
        return match kind.as_str() {
            "honnin" => child::honnin(crl),
            "x509-cert" => child::x509_cert(
                crl,
                args.child_lookups.as_deref().context("--child-lookups")?,
                args.lookup_passes,
            ),
            other => bail!("unknown child {other}"),
        };
    }
    if let (Some(kind), Some(work)) = (&args.profile, &args.work_dir) {
        let crl = args.profile_crl.clone().unwrap_or_else(|| work.join("crl-1M.der"));
        return child::profile(kind, work, &crl, args.verify_seconds);
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) || args.rounds == 0 || args.lookups < 2 {
        bail!("--sizes, --rounds and --lookups must be positive");
    }
    if let Some(p) = args
        .peers
        .iter()
        .find(|p| !["x509-cert", "python", "openssl", "go", "none"].contains(&p.as_str()))
    {
        bail!("unknown peer {p} (x509-cert, python, openssl, go or none)");
    }
    if args.messages == 0 || args.good_signers == 0 || args.lookup_passes == 0 {
        bail!("--messages, --good-signers and --lookup-passes must be positive");
    }
    let started = Instant::now();
    let temp;
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("honnin-verify-bench-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let versions = Versions::find(&args);

    println!("honnin verify benchmark");
    println!("  date:      {now}");
    println!("  cpu:       {} ({} cores)", cpu_model(), cores());
    println!(
        "  memory:    {:.1} GiB available",
        mem_available() as f64 / (1u64 << 30) as f64
    );
    println!("  openssl:   {}", versions.openssl);
    println!("  python:    {}", versions.python);
    println!("  go:        {}", versions.go);
    println!("  x509-cert: {} (RustCrypto, this workspace)", versions.x509_cert);
    println!("  work dir:  {}", work.display());
    println!(
        "  params:    --sizes {} --rounds {} --lookups {} --lookup-passes {} --messages {} --verify-seconds {} --peers {}",
        args.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        args.rounds,
        args.lookups,
        args.lookup_passes,
        args.messages,
        args.verify_seconds,
        args.peers.join(",")
    );
    println!();

    progress("a sandbox signing CA and signers (untimed)");
    let ca = gen::ca(now)?;
    let ca_der = work.join("ca.der");
    write(&ca_der, &ca.cert.der)?;
    write(&work.join("ca.pem"), ca.cert.to_pem())?;
    let profile = TrustProfile::sandbox(&[&ca.cert.der])?;
    let cms_dir = work.join("cms");
    std::fs::create_dir_all(&cms_dir)?;
    let signers = gen::signers(&ca, args.good_signers, args.revoked_signers, now, &cms_dir)?;
    let good: Vec<u64> = signers.iter().filter(|s| !s.revoked).map(|s| s.serial).collect();
    let revoked: Vec<u64> = signers.iter().filter(|s| s.revoked).map(|s| s.serial).collect();
    progress(&format!(
        "{} CMS messages with openssl cms -sign (untimed)",
        args.messages
    ));
    let messages = gen::messages(&args.openssl, &signers, args.good_signers, args.messages, &cms_dir)?;
    let expected_revoked = messages.iter().filter(|m| m.revoked).count();
    // Verification time: a second after now, so that everything made above is valid.
    let at = now + time::Duration::seconds(1);

    let mut results: Vec<SizeResult> = Vec::new();
    let mut indexes: Vec<(usize, CrlIndex)> = Vec::new();
    let mut crl_paths = Vec::new();
    for &n in &args.sizes {
        let l = label(n);
        progress(&format!("CRL {l}: entries and encode_crl (untimed)"));
        let entries = gen::entries(n, now, &revoked, &good)?;
        let (keys, present) = gen::lookups(&entries, args.lookups);
        let start = Instant::now();
        let der = gen::crl(&ca, &entries, now)?;
        let encode_secs = start.elapsed().as_secs_f64();
        drop(entries);
        let crl_path = work.join(format!("crl-{l}.der"));
        let lookups_path = work.join(format!("lookups-{l}.bin"));
        write(&crl_path, &der)?;
        write(
            &lookups_path,
            keys.iter().flat_map(|k| k.to_le_bytes()).collect::<Vec<u8>>(),
        )?;

        progress(&format!("CRL {l}: honnin parse_unverified, build, lookups"));
        let (figures, index) = match honnin::crl(&profile, &der, at, &keys, present, args.rounds, args.lookup_passes) {
            Ok((f, index)) => (Ok(f), Some(index)),
            Err(e) => {
                let why = format!("{e:#}");
                progress(&format!("CRL {l}: honnin FAILED: {why}"));
                (Err(why), None)
            }
        };
        let der_bytes = der.len();
        drop(der);
        drop(keys);

        progress(&format!("CRL {l}: honnin index RSS (child process)"));
        let honnin_rss = child_honnin(&args, &crl_path, n);

        let previous = results.last();
        let mut peers = Vec::new();
        let ctx = PeerCtx {
            args: &args,
            n,
            crl: &crl_path,
            lookups: &lookups_path,
            ca_der: &ca_der,
            ca_pem: &work.join("ca.pem"),
            expected_hits: present,
            previous,
        };
        for peer in [X509, PYTHON, OPENSSL, GO].into_iter().filter(|p| args.runs(p)) {
            progress(&format!("CRL {l}: {peer}"));
            let r = ctx.run(peer);
            if let Err(why) = &r {
                progress(&format!("CRL {l}: {peer}: {why}"));
            }
            peers.push((peer, r));
        }
        results.push(SizeResult {
            n,
            der_bytes,
            encode_secs,
            honnin: figures,
            honnin_rss,
            peers,
        });
        if let Some(index) = index {
            indexes.push((n, index));
        }
        crl_paths.push((n, crl_path));
    }

    // Full verifications, one thread, with each index honnin could build, in rounds between runs
    // of `openssl speed`, so that both sides sample the same stretch of time; the median of each
    // side counts. On a shared host the CPU's pace drifts by 10% and more within minutes, and
    // single seconds run up to 30% slow (openssl speed's verify/s within one such run here:
    // 36,500 to 52,900), so one run each, even seconds apart, can judge honnin against another
    // machine. Rounds are not paired with the runs beside them: a slow second on one side rarely
    // falls on the other's neighbouring second too.
    let mut full = Vec::new();
    let mut bounds = Vec::new();
    for r in &results {
        let rate = match indexes.iter().find(|(n, _)| *n == r.n) {
            Some((n, index)) => {
                let mut bound = Bound {
                    n: *n,
                    speeds: vec![openssl_speed(&args)?],
                    rates: Vec::new(),
                };
                for round in 1..=args.rounds {
                    progress(&format!("full verifications, CRL {}, round {round}", label(*n)));
                    let seconds = args.verify_seconds / args.rounds as f64;
                    let (rate, _) = honnin::full_verify(&profile, index, &messages, at, seconds)?;
                    bound.rates.push(rate);
                    bound.speeds.push(openssl_speed(&args)?);
                }
                let rate = median(&bound.rates);
                bounds.push(bound);
                Ok(rate)
            }
            None => Err("no index (the CRL did not parse)".to_owned()),
        };
        full.push((r.n, rate));
    }
    progress("breakdown of one verification");
    let breakdown = match indexes.first() {
        Some((_, index)) => breakdown(&profile, index, &messages, &ca, at)?,
        None => Vec::new(),
    };
    let (go_n, go_crl) = &crl_paths[0];
    progress(&format!("full verifications, Go, CRL {}", label(*go_n)));
    let go_full = if args.runs(GO) {
        go_verify(&args, go_crl, &ca_der, &cms_dir, expected_revoked)
    } else {
        Err("not run (--peers)".into())
    };
    drop(indexes);

    // Details.
    for r in &results {
        print_size(r);
    }
    println!(
        "full verifications (one thread; {} messages, {} of them from revoked signers; CMS + chain + CRL status):",
        messages.len(),
        expected_revoked
    );
    for (n, rate) in &full {
        match rate {
            Ok(rate) => println!(
                "  honnin  cms::verify + status, CRL {:<4} {:>12}",
                label(*n),
                per_sec(*rate)
            ),
            Err(why) => println!("  honnin  cms::verify + status, CRL {:<4} {why}", label(*n)),
        }
    }
    match &go_full {
        Ok(rate) => println!(
            "  Go      same job, CRL {:<4}              {:>12}",
            label(*go_n),
            per_sec(*rate)
        ),
        Err(why) => println!("  Go      {why}"),
    }
    for b in &bounds {
        println!(
            "  CRL {}, {} rounds: honnin {} /s; openssl speed rsa2048 before, between and after them {} verify/s",
            label(b.n),
            b.rates.len(),
            spaced(&b.rates, 0),
            spaced(&b.speeds, 0),
        );
        println!(
            "    median {:.0} /s ÷ bound {:.0} (half the median verify/s) = {:.2}",
            median(&b.rates),
            b.full_per_sec(),
            b.ratio()
        );
    }
    println!("  one verification, by part (honnin, CRL {}):", label(args.sizes[0]));
    for (what, rate) in &breakdown {
        println!("    {what:<58} {:>12}  ({:.1} us)", per_sec(*rate), 1e6 / rate);
    }
    println!();

    let rows = summary(&results, &full, *go_n, &go_full, &bounds, &versions);
    print_table(&rows);
    println!();
    // One verdict per measure and goal, however many peers it is shown beside.
    let mut verdicts: Vec<(&str, &str, bool)> = Vec::new();
    for r in &rows {
        if let Some(met) = r.met {
            if !verdicts.iter().any(|(m, g, _)| *m == r.measure && *g == r.goal) {
                verdicts.push((&r.measure, &r.goal, met));
            }
        }
    }
    println!(
        "goals met: {} of {}; total run {:.0} s",
        verdicts.iter().filter(|v| v.2).count(),
        verdicts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

struct Versions {
    openssl: String,
    python: String,
    go: String,
    x509_cert: String,
}

impl Versions {
    fn find(args: &Args) -> Self {
        let out = |cmd: &mut Command| {
            cmd.output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let python = out(Command::new(&args.python).args([
            "-c",
            "import sys, cryptography; print('Python', sys.version.split()[0], '+ cryptography', cryptography.__version__)",
        ]))
        .unwrap_or_else(|| format!("{} without cryptography (skipped)", args.python.display()));
        let go = match &args.go_peer {
            Some(_) => out(Command::new("go").arg("version")).unwrap_or_else(|| "go (version unknown)".into()),
            None => "not built (skipped; bench/verify.sh builds bench/go)".into(),
        };
        // The locked version, from the workspace's Cargo.lock as it was when this was built.
        let lock = include_str!("../../../Cargo.lock");
        let x509_cert = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"x509-cert\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| "?".into());
        Versions {
            openssl: out(Command::new(&args.openssl).arg("version")).unwrap_or_else(|| "?".into()),
            python,
            go,
            x509_cert,
        }
    }
}

/// Rounds of full verifications (per second) and the `openssl speed rsa2048` verify/s measured
/// before, between and after them.
struct Bound {
    n: usize,
    speeds: Vec<f64>,
    rates: Vec<f64>,
}

impl Bound {
    /// Two RSA-2048 verifications a full verification: half the median verify rate.
    fn full_per_sec(&self) -> f64 {
        median(&self.speeds) / 2.0
    }

    /// The median round ÷ the bound.
    fn ratio(&self) -> f64 {
        median(&self.rates) / self.full_per_sec()
    }
}

/// `openssl speed -seconds N rsa2048`: verify/s from its `rsa 2048 bits` line.
fn openssl_speed(args: &Args) -> Result<f64> {
    progress(&format!("openssl speed -seconds {} rsa2048", args.speed_seconds));
    let text = run_ok(
        Command::new(&args.openssl).args(["speed", "-seconds", &args.speed_seconds.to_string(), "rsa2048"]),
        "openssl speed",
    )?;
    let line = text
        .lines()
        .find(|l| l.starts_with("rsa") && l.contains("2048 bits"))
        .with_context(|| format!("no `rsa 2048 bits` line in openssl speed's output:\n{text}"))?;
    let f: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    match f.as_slice() {
        [.., _sign, verify] => Ok(*verify),
        _ => bail!("cannot read openssl speed's line: {line}"),
    }
}

/// Runs a child with a time limit; its measures and `key=value` lines, or why it failed.
fn measured(cmd: &mut Command, limit: Duration) -> Result<(Measured, HashMap<String, String>)> {
    let m = run_measured(cmd, limit)?;
    if !m.ok() {
        bail!("{}", m.failure());
    }
    let v = m.values();
    Ok((m, v))
}

fn child_honnin(args: &Args, crl: &Path, n: usize) -> std::result::Result<HonninChild, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (mut kept, mut peak, mut secs) = (Vec::new(), 0f64, Vec::new());
    for _ in 0..args.rounds {
        let (_, v) = measured(
            Command::new(&exe)
                .arg("--child")
                .arg("honnin")
                .arg("--child-crl")
                .arg(crl),
            Duration::from_secs(args.peer_time_limit),
        )
        .map_err(|e| format!("{e:#}"))?;
        let get = |k| num(&v, k).map_err(|e| e.to_string());
        if get("entries")? as usize != n {
            return Err("the child indexed a different number of entries".into());
        }
        kept.push(get("retained_bytes")?);
        peak = peak.max(get("peak_rss")?);
        secs.push(get("index_secs")?);
    }
    Ok(HonninChild {
        kept: median(&kept),
        peak,
        secs,
    })
}

struct PeerCtx<'a> {
    args: &'a Args,
    n: usize,
    crl: &'a Path,
    lookups: &'a Path,
    ca_der: &'a Path,
    ca_pem: &'a Path,
    expected_hits: usize,
    previous: Option<&'a SizeResult>,
}

impl PeerCtx<'_> {
    fn limit(&self) -> Duration {
        Duration::from_secs(self.args.peer_time_limit)
    }

    /// Skips a peer whose previous run, scaled to this size, would pass the time or memory limit.
    fn check_budget(&self, peer: &str) -> std::result::Result<(), String> {
        let Some(prev) = self.previous else {
            return Ok(());
        };
        let Some((_, Ok(p))) = prev.peers.iter().find(|(name, _)| *name == peer) else {
            return Ok(());
        };
        let scale = self.n as f64 / prev.n as f64;
        let (wall, peak) = (p.wall * scale, p.peak_rss * scale);
        let memory_limit = self.args.peer_memory_limit_gib * (1u64 << 30) as f64;
        let available = mem_available() as f64 * 0.8;
        if wall > self.args.peer_time_limit as f64 {
            return Err(format!(
                "skipped: ~{wall:.0} s expected (from {}), over the {} s limit",
                label(prev.n),
                self.args.peer_time_limit
            ));
        }
        if peak > memory_limit || peak > available {
            return Err(format!(
                "skipped: ~{:.1} GB peak RSS expected (from {}), over the limit of {:.1} GB",
                peak / 1e9,
                label(prev.n),
                memory_limit.min(available) / 1e9
            ));
        }
        Ok(())
    }

    fn run(&self, peer: &'static str) -> PeerResult {
        self.check_budget(peer)?;
        let r = match peer {
            X509 => self.x509_cert(),
            PYTHON => self.python(),
            OPENSSL => self.openssl(),
            GO => self.go(),
            _ => unreachable!("unknown peer"),
        };
        r.map_err(|e| format!("{e:#}"))
    }

    fn measured(&self, cmd: &mut Command) -> Result<(Measured, HashMap<String, String>)> {
        measured(cmd, self.limit())
    }

    fn check_counts(&self, v: &HashMap<String, String>) -> Result<()> {
        if num(v, "entries")? as usize != self.n {
            bail!("indexed {} entries, not {}", num(v, "entries")?, self.n);
        }
        if let Ok(hits) = num(v, "hits") {
            if hits as usize != self.expected_hits {
                bail!("found {hits} of the serials looked up, not {}", self.expected_hits);
            }
        }
        if let Ok(ok) = num(v, "signature_ok") {
            if ok != 1.0 {
                bail!("says the CRL's signature is invalid");
            }
        }
        Ok(())
    }

    fn lookup_rate(v: &HashMap<String, String>) -> Result<f64> {
        Ok(num(v, "lookups")? / num(v, "lookup_secs")?)
    }

    fn x509_cert(&self) -> Result<PeerCrl> {
        let exe = std::env::current_exe()?;
        let (m, v) = self.measured(
            Command::new(exe)
                .args(["--child", "x509-cert", "--lookup-passes"])
                .arg(self.args.lookup_passes.to_string())
                .arg("--child-crl")
                .arg(self.crl)
                .arg("--child-lookups")
                .arg(self.lookups),
        )?;
        self.check_counts(&v)?;
        Ok(PeerCrl {
            index: num(&v, "index_secs")?,
            verified: None,
            retained: Some(num(&v, "retained_bytes")?),
            peak_rss: num(&v, "peak_rss")?,
            lookup_rate: Some(Self::lookup_rate(&v)?),
            wall: m.wall.as_secs_f64(),
        })
    }

    fn python(&self) -> Result<PeerCrl> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/cryptography_crl.py");
        let (m, v) = self.measured(
            Command::new(&self.args.python)
                .arg(script)
                .arg(self.crl)
                .arg(self.ca_der)
                .arg(self.lookups),
        )?;
        self.check_counts(&v)?;
        let index = num(&v, "index_secs")?;
        Ok(PeerCrl {
            index,
            verified: Some(index + num(&v, "signature_secs")?),
            retained: Some(num(&v, "retained_bytes")?),
            peak_rss: num(&v, "peak_rss")?,
            lookup_rate: Some(Self::lookup_rate(&v)?),
            wall: m.wall.as_secs_f64(),
        })
    }

    fn openssl(&self) -> Result<PeerCrl> {
        let rounds = if self.n <= 2_000_000 { self.args.rounds } else { 1 };
        let mut parse = Vec::new();
        let mut peak: f64 = 0.0;
        let mut wall = 0.0;
        for _ in 0..rounds {
            let (m, _) = self.measured(
                Command::new(&self.args.openssl)
                    .args(["crl", "-inform", "DER", "-noout", "-in"])
                    .arg(self.crl),
            )?;
            parse.push(m.wall.as_secs_f64());
            peak = peak.max(m.peak_rss as f64);
            wall = m.wall.as_secs_f64();
        }
        let (m, _) = self.measured(
            Command::new(&self.args.openssl)
                .args(["crl", "-inform", "DER", "-noout", "-in"])
                .arg(self.crl)
                .arg("-CAfile")
                .arg(self.ca_pem),
        )?;
        if !m.stderr.contains("verify OK") && !m.stdout.contains("verify OK") {
            bail!("openssl crl -CAfile did not say verify OK: {}", m.stderr.trim());
        }
        Ok(PeerCrl {
            index: median(&parse),
            verified: Some(m.wall.as_secs_f64()),
            retained: None,
            peak_rss: peak.max(m.peak_rss as f64),
            lookup_rate: None,
            wall: wall + m.wall.as_secs_f64(),
        })
    }

    fn go(&self) -> Result<PeerCrl> {
        let Some(go) = &self.args.go_peer else {
            bail!("skipped: the Go peer is not built (bench/verify.sh builds it)");
        };
        let (m, v) = self.measured(
            Command::new(go)
                .env("GOMAXPROCS", "1")
                .arg("crl")
                .arg("-crl")
                .arg(self.crl)
                .arg("-ca")
                .arg(self.ca_der)
                .arg("-lookups")
                .arg(self.lookups)
                .arg("-passes")
                .arg(self.args.lookup_passes.to_string()),
        )?;
        self.check_counts(&v)?;
        let index = num(&v, "index_secs")?;
        Ok(PeerCrl {
            index,
            verified: Some(index + num(&v, "signature_secs")?),
            retained: Some(num(&v, "retained_bytes")?),
            peak_rss: num(&v, "peak_rss")?,
            lookup_rate: Some(Self::lookup_rate(&v)?),
            wall: m.wall.as_secs_f64(),
        })
    }
}

fn go_verify(
    args: &Args,
    crl: &Path,
    ca_der: &Path,
    dir: &Path,
    expected_revoked: usize,
) -> std::result::Result<f64, String> {
    let Some(go) = &args.go_peer else {
        return Err("skipped: the Go peer is not built (bench/verify.sh builds it)".into());
    };
    let (_, v) = measured(
        Command::new(go)
            .env("GOMAXPROCS", "1")
            .arg("verify")
            .arg("-crl")
            .arg(crl)
            .arg("-ca")
            .arg(ca_der)
            .arg("-msgs")
            .arg(dir)
            .arg("-count")
            .arg(args.messages.to_string())
            .arg("-seconds")
            .arg(args.verify_seconds.to_string()),
        Duration::from_secs(args.peer_time_limit),
    )
    .map_err(|e| format!("{e:#}"))?;
    let get = |k| num(&v, k).map_err(|e| e.to_string());
    if get("revoked")? as usize != expected_revoked {
        return Err(format!(
            "Go found {} revoked signers, expected {expected_revoked}",
            get("revoked")?
        ));
    }
    Ok(get("verifications")? / get("verify_secs")?)
}

/// Rates of the parts of one verification, to show where the time goes.
fn breakdown(
    profile: &TrustProfile,
    index: &CrlIndex,
    messages: &[gen::Message],
    ca: &gen::Ca,
    at: OffsetDateTime,
) -> Result<Vec<(String, f64)>> {
    let seconds = 1.0;
    let first = honnin_verify::cms::verify(profile, &messages[0].cms, Some(&messages[0].content), at)?;
    let cert = first.signer.der.clone();
    let (tbs, algorithm, signature) = honnin_profile::signed_parts(&cert)?;
    let mut out = Vec::new();
    let mut part = |what: &str, f: &mut dyn FnMut(usize) -> Result<()>| -> Result<()> {
        out.push((what.to_owned(), honnin::rate(seconds, f)?));
        Ok(())
    };
    part(
        "RSA-2048 verify, key parsed per call (honnin_profile::key)",
        &mut |_| {
            Ok(honnin_profile::key::verify_rsa_pkcs1(
                &algorithm,
                &ca.cert.public_key,
                tbs,
                signature,
            )?)
        },
    )?;
    // The same check with the root's key parsed once, as a verifier could keep it.
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &ca.cert.public_key,
    )
    .map_err(|e| anyhow::anyhow!("parsing the root key: {e}"))?;
    part(
        "RSA-2048 verify, key parsed once (aws-lc-rs ParsedPublicKey)",
        &mut |_| {
            parsed
                .verify_sig(tbs, signature)
                .map_err(|_| anyhow::anyhow!("the certificate's signature does not verify"))
        },
    )?;
    part(
        "x509_cert::Certificate::from_der (the signer's certificate)",
        &mut |_| {
            std::hint::black_box(<x509_cert::Certificate as der::Decode>::from_der(&cert)?);
            Ok(())
        },
    )?;
    part("CMS decode: ContentInfo + SignedData (cms crate)", &mut |i| {
        let m = &messages[i % messages.len()];
        let info = <cms::content_info::ContentInfo as der::Decode>::from_der(&m.cms)?;
        std::hint::black_box(info.content.decode_as::<cms::signed_data::SignedData>()?);
        Ok(())
    })?;
    part("TrustProfile::validate (chain, profile, validity)", &mut |_| {
        profile.validate(&cert, at)?;
        Ok(())
    })?;
    part("cms::verify (CMS + chain)", &mut |i| {
        let m = &messages[i % messages.len()];
        honnin_verify::cms::verify(profile, &m.cms, Some(&m.content), at)?;
        Ok(())
    })?;
    part("CrlIndex::status", &mut |_| {
        std::hint::black_box(index.status(&first.signer, at));
        Ok(())
    })?;
    Ok(out)
}

/// Figures of rounds, for a detail line: `0.031 0.030 …`.
fn spaced(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_size(r: &SizeResult) {
    let l = label(r.n);
    println!(
        "CRL {l}: {} entries, {} bytes DER (encode_crl {:.2} s, untimed)",
        r.n, r.der_bytes, r.encode_secs
    );
    match &r.honnin {
        Ok(f) => {
            println!(
                "  honnin   parse_unverified (1 thread)  {:>12}  median {:.3} s [{}]",
                per_sec(f.parse_rate()),
                median(&f.parse),
                spaced(&f.parse, 3)
            );
            println!(
                "  honnin   build, verified (2 threads)  {:>12}  median {:.3} s [{}]",
                per_sec(f.build_rate()),
                median(&f.build),
                spaced(&f.build, 3)
            );
            println!(
                "  honnin   memory_bytes() {} = {:.2} B/entry",
                f.memory_bytes,
                f.bytes_per_entry()
            );
            let lk = |v: &[f64]| v.iter().map(|s| per_sec(*s)).collect::<Vec<_>>().join(" ");
            println!(
                "  honnin   lookup_u64 {} [{}]; lookup(&[u8]) {} [{}]; lookup_many {} [{}]; {} allocations in {} lookups",
                per_sec(median(&f.lookup_u64)),
                lk(&f.lookup_u64),
                per_sec(median(&f.lookup_bytes)),
                lk(&f.lookup_bytes),
                per_sec(median(&f.lookup_many)),
                lk(&f.lookup_many),
                f.lookup_allocations,
                f.lookups_done
            );
        }
        Err(why) => println!("  honnin   FAILED: {why}"),
    }
    match &r.honnin_rss {
        Ok(c) => println!(
            "  honnin   fresh processes: parse_unverified {}  median {:.3} s [{}], index keeps {} RSS ({:.2} B/entry), peak RSS {} (DER included)",
            per_sec(r.n as f64 / c.median_secs()),
            c.median_secs(),
            spaced(&c.secs, 3),
            mb(c.kept),
            c.kept / r.n as f64,
            mb(c.peak)
        ),
        Err(why) => println!("  honnin   fresh process: {why}"),
    }
    for (name, p) in &r.peers {
        match p {
            Ok(p) => {
                let mut line = format!("  {name:<20} index {:>12}", per_sec(r.n as f64 / p.index));
                if let Some(v) = p.verified {
                    line.push_str(&format!("  +signature {:>12}", per_sec(r.n as f64 / v)));
                }
                if let Some(kept) = p.retained {
                    line.push_str(&format!("  keeps {:.1} B/entry", kept / r.n as f64));
                }
                line.push_str(&format!("  peak RSS {}", mb(p.peak_rss)));
                if let Some(l) = p.lookup_rate {
                    line.push_str(&format!("  lookups {}", per_sec(l)));
                }
                println!("{line}");
            }
            Err(why) => println!("  {name:<20} {why}"),
        }
    }
    println!();
}

struct Row {
    measure: String,
    honnin: String,
    peer: String,
    ratio: Option<f64>,
    goal: String,
    met: Option<bool>,
}

/// honnin's figure for a row: the value, as printed, or why there is none.
type Figure = std::result::Result<(f64, String), String>;

/// Which way a measure is better.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// The rows of one measure: one per peer that has it (or one with no peer). `met` judges honnin's
/// value against the goal; a failed honnin figure never meets it.
#[allow(clippy::too_many_arguments)]
fn measure_rows(
    rows: &mut Vec<Row>,
    measure: String,
    honnin: &Figure,
    goal: &str,
    met: impl Fn(f64) -> bool,
    better: Better,
    peers: &[(&'static str, PeerResult)],
    peer_name: &dyn Fn(&str) -> String,
    value: &dyn Fn(&PeerCrl) -> Option<(String, f64)>,
) {
    let (text, met) = match honnin {
        Ok((v, text)) => (text.clone(), (goal != "—").then(|| met(*v))),
        Err(why) => (failed(why), (goal != "—").then_some(false)),
    };
    let mut any = false;
    for (name, p) in peers {
        let (peer, ratio) = match p {
            Ok(p) => match value(p) {
                Some((s, pv)) => {
                    let ratio = honnin.as_ref().ok().map(|(h, _)| match better {
                        Better::Higher => h / pv,
                        Better::Lower => pv / h,
                    });
                    (format!("{}: {s}", peer_name(name)), ratio)
                }
                None => continue,
            },
            Err(why) => (format!("{}: {}", peer_name(name), short(why)), None),
        };
        any = true;
        rows.push(Row {
            measure: measure.clone(),
            honnin: text.clone(),
            peer,
            ratio,
            goal: goal.to_owned(),
            met,
        });
    }
    if !any {
        rows.push(Row {
            measure,
            honnin: text,
            peer: "—".into(),
            ratio: None,
            goal: goal.to_owned(),
            met,
        });
    }
}

fn summary(
    results: &[SizeResult],
    full: &[(usize, std::result::Result<f64, String>)],
    go_n: usize,
    go_full: &std::result::Result<f64, String>,
    bounds: &[Bound],
    versions: &Versions,
) -> Vec<Row> {
    const GOAL_RATE: f64 = 20e6;
    const GOAL_BYTES: f64 = 16.0;
    let peer_name = |name: &str| match name {
        X509 => format!("x509-cert {}", versions.x509_cert),
        PYTHON => "py cryptography".to_owned(),
        OPENSSL => "openssl crl".to_owned(),
        GO => "Go x509".to_owned(),
        other => other.to_owned(),
    };
    let mut rows = Vec::new();
    for r in results {
        let l = label(r.n);
        let n = r.n as f64;
        let f = r.honnin.as_ref();
        let fig = |v: std::result::Result<f64, &String>, text: &dyn Fn(f64) -> String| -> Figure {
            v.map(|v| (v, text(v))).map_err(|e| e.clone())
        };
        // Each peer runs once in a fresh process; honnin's figure is the median of its fresh
        // processes (see `HonninChild`).
        let cold = match &r.honnin_rss {
            Ok(c) => Ok((n / c.median_secs(), per_sec(n / c.median_secs()))),
            Err(why) => Err(why.clone()),
        };
        measure_rows(
            &mut rows,
            format!("index build {l}, 1 core, fresh process, median (entries/s)"),
            &cold,
            "≥ 20 M/s",
            |v| v >= GOAL_RATE,
            Better::Higher,
            &r.peers,
            &peer_name,
            &|p| Some((per_sec(n / p.index), n / p.index)),
        );
        let parse = fig(f.map(|f| f.parse_rate()), &per_sec);
        measure_rows(
            &mut rows,
            format!("index build {l}, 1 core, in process, median (entries/s)"),
            &parse,
            "≥ 20 M/s",
            |v| v >= GOAL_RATE,
            Better::Higher,
            &[],
            &peer_name,
            &|_| None,
        );
        let build = fig(f.map(|f| f.build_rate()), &|v| format!("{} (2 thr)", per_sec(v)));
        measure_rows(
            &mut rows,
            format!("index build {l} + signature (entries/s)"),
            &build,
            "—",
            |_| true,
            Better::Higher,
            &r.peers,
            &peer_name,
            &|p| p.verified.map(|v| (per_sec(n / v), n / v)),
        );
        let bpe = fig(f.map(|f| f.bytes_per_entry()), &|v| format!("{v:.2} B"));
        measure_rows(
            &mut rows,
            format!("index memory_bytes() {l} (B/entry)"),
            &bpe,
            "≤ 16 B",
            |v| v <= GOAL_BYTES,
            Better::Lower,
            &[],
            &peer_name,
            &|_| None,
        );
        let kept = match &r.honnin_rss {
            Ok(c) => Ok((c.kept / n, format!("{:.2} B", c.kept / n))),
            Err(why) => Err(why.clone()),
        };
        measure_rows(
            &mut rows,
            format!("index RSS kept {l} (B/entry)"),
            &kept,
            "≤ 16 B",
            |v| v <= GOAL_BYTES,
            Better::Lower,
            &r.peers,
            &peer_name,
            &|p| p.retained.map(|k| (format!("{:.1} B", k / n), k / n)),
        );
        let peak = match &r.honnin_rss {
            Ok(c) => Ok((c.peak, mb(c.peak))),
            Err(why) => Err(why.clone()),
        };
        measure_rows(
            &mut rows,
            format!("peak RSS, CRL {l} (DER incl.)"),
            &peak,
            "—",
            |_| true,
            Better::Lower,
            &r.peers,
            &peer_name,
            &|p| Some((mb(p.peak_rss), p.peak_rss)),
        );
        // The three lookup rows share the goal; the peers' one-at-a-time lookups stand beside the
        // u64 and batched rows (the byte form has no peer of its own).
        let allocs = f.map(|f| f.lookup_allocations).unwrap_or(0);
        let lookups = fig(f.map(|f| median(&f.lookup_u64)), &|v| {
            format!("{}, {allocs} allocs", per_sec(v))
        });
        let bytes = fig(f.map(|f| median(&f.lookup_bytes)), &per_sec);
        let many = fig(f.map(|f| median(&f.lookup_many)), &per_sec);
        let batch = format!("lookup_many by {}", honnin::BATCH);
        let no_peers: &[(&'static str, PeerResult)] = &[];
        for (what, figure, peers) in [
            ("lookup_u64", &lookups, r.peers.as_slice()),
            ("lookup(&[u8])", &bytes, no_peers),
            (batch.as_str(), &many, r.peers.as_slice()),
        ] {
            measure_rows(
                &mut rows,
                format!("lookups {l}, 1 core, {what} (/s)"),
                figure,
                "≥ 20 M/s, 0 allocs",
                |v| v >= GOAL_RATE && allocs == 0,
                Better::Higher,
                peers,
                &peer_name,
                &|p| p.lookup_rate.map(|v| (per_sec(v), v)),
            );
        }
    }
    for (n, rate) in full {
        let bound = bounds.iter().find(|b| b.n == *n);
        let (honnin, ratio) = match (rate, bound) {
            (Ok(rate), Some(b)) => (per_sec(*rate), Some(b.ratio())),
            (Ok(rate), None) => (per_sec(*rate), None),
            (Err(why), _) => (failed(why), None),
        };
        rows.push(Row {
            measure: format!("full verifications, 1 thread, CRL {} (/s)", label(*n)),
            honnin,
            peer: match bound {
                Some(b) => format!(
                    "bound: openssl speed rsa2048 ÷ 2 = {}, medians of {} and {} runs",
                    per_sec(b.full_per_sec()),
                    b.rates.len(),
                    b.speeds.len()
                ),
                None => "bound: not measured".into(),
            },
            ratio,
            goal: "≥ 0.75 of bound".into(),
            met: Some(ratio.is_some_and(|r| r >= 0.75)),
        });
    }
    if let Some((_, rate)) = full.iter().find(|(n, _)| *n == go_n) {
        let (peer, ratio) = match (go_full, rate) {
            (Ok(go), Ok(rate)) => (format!("Go std (same job): {}", per_sec(*go)), Some(rate / go)),
            (Ok(go), Err(_)) => (format!("Go std (same job): {}", per_sec(*go)), None),
            (Err(why), _) => (format!("Go std: {}", short(why)), None),
        };
        rows.push(Row {
            measure: format!("full verifications, 1 thread, CRL {} (/s)", label(go_n)),
            honnin: match rate {
                Ok(rate) => per_sec(*rate),
                Err(why) => failed(why),
            },
            peer,
            ratio,
            goal: "≥ 2× Go".into(),
            met: Some(ratio.is_some_and(|r| r >= 2.0)),
        });
    }
    rows
}

fn print_table(rows: &[Row]) {
    println!("summary (ratio > 1: honnin is better; throughput honnin/peer, memory peer/honnin)");
    let width =
        |f: &dyn Fn(&Row) -> usize, title: &str| rows.iter().map(f).max().unwrap_or(0).max(title.chars().count());
    let wm = width(&|r| r.measure.chars().count(), "measure");
    let wh = width(&|r| r.honnin.chars().count(), "honnin");
    let wp = width(&|r| r.peer.chars().count(), "peer");
    let wg = width(&|r| r.goal.chars().count(), "goal");
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    println!(
        "{} | {} | {} | {:>8} | {} | met?",
        pad("measure", wm),
        pad("honnin", wh),
        pad("peer", wp),
        "ratio",
        pad("goal", wg)
    );
    println!("{}", "-".repeat(wm + wh + wp + wg + 26));
    for r in rows {
        let ratio = r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "—".into());
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "{} | {} | {} | {:>8} | {} | {met}",
            pad(&r.measure, wm),
            pad(&r.honnin, wh),
            pad(&r.peer, wp),
            ratio,
            pad(&r.goal, wg)
        );
    }
}
