//! `platform-bench`: verified account openings and logins per second through the verifier platform
//! (`honnin platform serve`) over SQLite and PostgreSQL, with p50/p99 latency, beside the
//! verification core's own rate for the same work in the same run, and what the platform adds to
//! the core's cost per verified flow (server CPU time per flow ÷ core time per verification − 1).
//!
//! Set-up (untimed) goes through the `honnin` release binary; the load is C client threads, each
//! with a keep-alive connection and in-process emulated cards, doing whole flows. CPU is read from
//! `/proc/PID/stat` of the platform server (and of its PostgreSQL backends, shown apart), so the
//! load generator's own work — mostly RSA signing on the emulated cards — is not counted.

mod core_rate;
mod cpu;
mod http;
mod load;
mod setup;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::http::Conn;
use crate::load::{Card, Kind};
use crate::setup::{progress, Honnin};

/// Load benchmark of the verifier platform beside the verification core.
#[derive(Parser, Debug)]
#[command(name = "platform-bench", version)]
struct Args {
    /// Seconds of timed load per database and flow kind.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of untimed load before each timed window.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// Databases, comma-separated: sqlite, postgres.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    databases: Vec<String>,
    /// Revocation methods the platforms use, comma-separated: crl, ocsp.
    #[arg(long, default_value = "crl,ocsp", value_delimiter = ',')]
    revocation: Vec<String>,
    /// Concurrent clients (threads, one keep-alive connection each).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Holders (residents with a card and a linking consent) the clients cycle through.
    #[arg(long, default_value_t = 16)]
    holders: usize,
    /// Seconds the core is measured for, per flow kind and revocation method.
    #[arg(long, default_value_t = 3)]
    core_seconds: u64,
    /// Seconds of each floor measurement (bare GETs: an unknown route, /healthz).
    #[arg(long, default_value_t = 2)]
    floor_seconds: u64,
    /// Admin URL of PostgreSQL; a database is created for each platform and dropped after.
    #[arg(
        long,
        env = "HONNIN_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
    /// The `honnin` binary (default: beside this one, i.e. target/release/honnin).
    #[arg(long, value_name = "PATH")]
    honnin: Option<PathBuf>,
    /// Work in this directory and keep it (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

/// One timed window.
struct Row {
    revocation: String,
    database: String,
    kind: Kind,
    flows: usize,
    failures: u64,
    window: f64,
    p50: f64,
    p99: f64,
    post_p50: f64,
    post_p99: f64,
    /// CPU seconds in the window.
    platform_cpu: f64,
    backends_cpu: Option<f64>,
    authority_cpu: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.flows as f64 / self.window
    }

    fn per_flow_us(&self, cpu: f64) -> f64 {
        cpu / self.flows.max(1) as f64 * 1e6
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.seconds == 0
        || args.concurrency == 0
        || args.holders == 0
        || args.core_seconds == 0
        || args.floor_seconds == 0
    {
        bail!("--seconds, --floor-seconds, --concurrency, --holders and --core-seconds must be at least 1");
    }
    for d in &args.databases {
        if d != "sqlite" && d != "postgres" {
            bail!("--databases: {d:?} is neither sqlite nor postgres");
        }
    }
    for r in &args.revocation {
        if r != "crl" && r != "ocsp" {
            bail!("--revocation: {r:?} is neither crl nor ocsp");
        }
    }
    let honnin = Honnin {
        bin: match &args.honnin {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .context("cannot locate this executable")?
                .with_file_name("honnin"),
        },
    };
    if !honnin.bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p honnin` or pass --honnin",
            honnin.bin.display()
        );
    }
    let temp;
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("honnin-platform-bench-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let started = std::time::Instant::now();
    let tick = cpu::ticks_per_second();

    println!("honnin platform benchmark");
    println!("  date:     {}", time::OffsetDateTime::now_utc());
    println!(
        "  cores:    {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("  honnin:   {}", honnin.bin.display());
    println!("  work dir: {}", work.display());
    println!(
        "  params:   --seconds {} --warmup-seconds {} --floor-seconds {} --databases {} --revocation {} --concurrency {} --holders {} --core-seconds {}",
        args.seconds,
        args.warmup_seconds,
        args.floor_seconds,
        args.databases.join(","),
        args.revocation.join(","),
        args.concurrency,
        args.holders,
        args.core_seconds
    );

    let world = setup::world(&honnin, &work, args.holders)?;
    let mut rows: Vec<Row> = Vec::new();
    // (revocation, kind, ops/s of wall time, CPU µs per op, ops)
    let mut cores: Vec<(String, Kind, f64, f64, u64)> = Vec::new();
    let mut failed = Vec::new();
    let mut floors: Vec<(String, String, &str, f64, f64)> = Vec::new();
    let mut pg_version = None;
    for revocation in &args.revocation {
        let mut trust_dir = None;
        for database in &args.databases {
            let p = setup::platform(&honnin, &world, &work, database, revocation, &args.postgres)?;
            if let Some(pg) = &p.pg {
                pg_version.get_or_insert_with(|| pg.version());
            }
            trust_dir = Some(p.dir.clone());
            progress(&format!(
                "{database}/{revocation}: one opening and one login per holder first (users resolved, untimed)"
            ));
            let mut conn = Conn::new(p.server.addr);
            for card in &world.cards {
                let mut c = Card::open(card)?;
                for kind in [Kind::Opening, Kind::Login] {
                    load::flow(&mut conn, &p.api_key, kind, &mut c)
                        .with_context(|| format!("{database}/{revocation}: a first {} failed", kind.label()))?;
                }
            }
            drop(conn);
            for (what, path) in [
                ("HTTP only (unknown route, 404)", "/bench/none"),
                ("HTTP + 1 SQL read (/healthz)", "/healthz"),
            ] {
                let (rate, us) = load::floor(
                    p.server.addr,
                    path,
                    args.concurrency,
                    Duration::from_secs(args.floor_seconds),
                    p.server.pid(),
                )?;
                floors.push((revocation.clone(), database.clone(), what, rate, us));
            }
            for kind in [Kind::Opening, Kind::Login] {
                progress(&format!(
                    "{database}/{revocation}: {} × {} clients, {} s warm-up + {} s timed",
                    kind.label(),
                    args.concurrency,
                    args.warmup_seconds,
                    args.seconds
                ));
                let pids = |with_pg: bool| -> Result<Vec<u32>> {
                    Ok(match (&p.pg, with_pg) {
                        (Some(pg), true) => pg.backends()?,
                        _ => Vec::new(),
                    })
                };
                let mut before = None;
                let mut spent = (0u64, None, 0u64);
                let out = load::run(
                    p.server.addr,
                    &p.api_key,
                    kind,
                    &world.cards,
                    args.concurrency,
                    Duration::from_secs(args.warmup_seconds),
                    Duration::from_secs(args.seconds),
                    |start| {
                        let backends = pids(true)?;
                        let now = (
                            cpu::ticks(p.server.pid())?,
                            cpu::ticks_of(&backends),
                            cpu::ticks(world.authority.pid())?,
                        );
                        if start {
                            before = Some(now);
                        } else if let Some(b) = &before {
                            spent = (
                                now.0 - b.0,
                                p.pg.as_ref().map(|_| cpu::spent(&b.1, &now.1)),
                                now.2 - b.2,
                            );
                        }
                        Ok(())
                    },
                )?;
                if out.failures > 0 {
                    failed.push(format!(
                        "{database}/{revocation} {}: {} failed flows, first: {}",
                        kind.label(),
                        out.failures,
                        out.first_failure.clone().unwrap_or_default()
                    ));
                }
                let mut flow: Vec<u32> = out.samples.iter().map(|s| s.flow_us).collect();
                let mut post: Vec<u32> = out.samples.iter().map(|s| s.post_us).collect();
                flow.sort_unstable();
                post.sort_unstable();
                rows.push(Row {
                    revocation: revocation.clone(),
                    database: database.clone(),
                    kind,
                    flows: out.samples.len(),
                    failures: out.failures,
                    window: out.window.as_secs_f64(),
                    p50: load::quantile(&flow, 0.5) / 1000.0,
                    p99: load::quantile(&flow, 0.99) / 1000.0,
                    post_p50: load::quantile(&post, 0.5) / 1000.0,
                    post_p99: load::quantile(&post, 0.99) / 1000.0,
                    platform_cpu: spent.0 as f64 / tick,
                    backends_cpu: spent.1.map(|t| t as f64 / tick),
                    authority_cpu: spent.2 as f64 / tick,
                });
            }
        }
        // The core, on this thread, with the servers idle.
        let Some(trust_dir) = trust_dir else { continue };
        progress(&format!(
            "core ({revocation}): material, then {} s per flow kind",
            args.core_seconds
        ));
        let mut cards: Vec<Card> = world.cards.iter().map(|p| Card::open(p)).collect::<Result<_>>()?;
        let mut authority = Conn::new(world.authority.addr);
        let material = core_rate::material(&trust_dir, &mut authority, &mut cards, revocation == "ocsp")?;
        for kind in [Kind::Opening, Kind::Login] {
            let (rate, us, n) = material.rate(kind, Duration::from_secs(args.core_seconds), revocation == "ocsp")?;
            cores.push((revocation.clone(), kind, rate, us, n));
        }
    }

    if let Some(v) = pg_version {
        println!("  postgres: {v}");
    }
    println!();
    println!(
        "load ({} clients, one keep-alive HTTP/1.1 connection each, loopback; every flow = create, GET client URL, sign on an emulated card, POST, GET result; all must be verified)",
        args.concurrency
    );
    println!(
        "{:<5} {:<9} {:<16} | {:>9} | {:>8} {:>8} | {:>9} {:>9} | {:>8} | {:>7} | {:>8}",
        "rev",
        "database",
        "flow",
        "flows/s",
        "p50 ms",
        "p99 ms",
        "POST p50",
        "POST p99",
        "failures",
        "flows",
        "srv cores"
    );
    println!("{}", "-".repeat(118));
    for r in &rows {
        println!(
            "{:<5} {:<9} {:<16} | {:>9.1} | {:>8.2} {:>8.2} | {:>9.2} {:>9.2} | {:>8} | {:>7} | {:>8.2}",
            r.revocation,
            r.database,
            r.kind.label(),
            r.rate(),
            r.p50,
            r.p99,
            r.post_p50,
            r.post_p99,
            r.failures,
            r.flows,
            (r.platform_cpu + r.backends_cpu.unwrap_or(0.0)) / r.window
        );
    }
    println!();
    println!("floors: the same clients doing bare GETs; the platform server's CPU per request");
    for (rev, db, what, rate, us) in &floors {
        println!("  {rev:<5} {db:<9} {what:<32} {rate:>9.1} req/s  {us:>7.1} µs/request");
    }
    println!();
    println!("verification core, in process, one thread, same kind of messages (servers idle):");
    for (rev, kind, rate, us, n) in &cores {
        println!(
            "  {rev:<5} {:<16} {:>9.1} /s of wall time  {:>7.1} µs of CPU per op  ({n} ops)",
            kind.label(),
            rate,
            us
        );
    }
    println!();
    println!("cost per verified flow: CPU time of the platform server process only (utime+stime from /proc; the load");
    println!(
        "generator's signing and HTTP are not counted); PostgreSQL's backends for the platform's database, and the"
    );
    println!(
        "authority, shown apart. core µs = the core's CPU time per op; adds = platform µs per flow ÷ core µs − 1;"
    );
    println!("goal < 25%");
    println!(
        "{:<5} {:<9} {:<16} | {:>8} | {:>11} | {:>9} | {:>7} | {:>11} | {:>11} | {:>8} | {:>4}",
        "rev",
        "database",
        "flow",
        "core µs",
        "platform µs",
        "adds",
        "met?",
        "+pg bknd µs",
        "adds incl.",
        "auth. µs",
        ""
    );
    println!("{}", "-".repeat(124));
    let mut met = 0;
    for r in &rows {
        let Some(&(_, _, _, core_us, _)) = cores.iter().find(|(rev, k, ..)| *rev == r.revocation && *k == r.kind)
        else {
            continue;
        };
        let platform_us = r.per_flow_us(r.platform_cpu);
        let adds = platform_us / core_us - 1.0;
        let ok = adds < 0.25;
        met += usize::from(ok);
        let (pg_us, adds_incl) = match r.backends_cpu {
            Some(b) => {
                let b_us = r.per_flow_us(b);
                (
                    format!("{b_us:.1}"),
                    format!("{:+.0}%", ((platform_us + b_us) / core_us - 1.0) * 100.0),
                )
            }
            None => ("—".into(), "—".into()),
        };
        println!(
            "{:<5} {:<9} {:<16} | {:>8.1} | {:>11.1} | {:>+8.0}% | {:>7} | {:>11} | {:>11} | {:>8.1} |",
            r.revocation,
            r.database,
            r.kind.label(),
            core_us,
            platform_us,
            adds * 100.0,
            if ok { "yes" } else { "NO" },
            pg_us,
            adds_incl,
            r.per_flow_us(r.authority_cpu),
        );
    }
    println!();
    println!(
        "goal (platform adds < 25%) met in {met} of {} rows; total run {:.0} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("FAILED: {f}");
        }
        bail!(
            "{} timed windows had failed flows: this run is not a result",
            failed.len()
        );
    }
    Ok(())
}
