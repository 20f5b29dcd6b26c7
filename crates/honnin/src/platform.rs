//! `honnin platform …`: the verifier platform's operator commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use honnin_platform::billing::BillingMonth;
use honnin_platform::{InitOptions, Platform, RevocationMethod, TrustConfig};
use time::OffsetDateTime;

#[derive(Args)]
pub struct PlatformArgs {
    /// Sandbox clock: act as if it were this instant (RFC 3339) and run on from there, e.g. to play
    /// a fiscal year through with `honnin authority --now` (never in production).
    #[arg(long, global = true, value_parser = parse_now)]
    now: Option<OffsetDateTime>,
    #[command(subcommand)]
    command: PlatformCommand,
}

fn parse_now(s: &str) -> std::result::Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Ocsp,
    Crl,
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// Create a platform: configuration, audit key, database. Without --trust-anchor or --trust
    /// production, the sandbox roots are fetched from the authority now and pinned.
    Init {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The authority's base URL (its verifier service).
        #[arg(long, value_name = "URL")]
        authority: String,
        #[arg(long, value_name = "ID")]
        verifier_id: String,
        #[arg(long, value_name = "S", env = "HONNIN_VERIFIER_SECRET", hide_env_values = true)]
        verifier_secret: String,
        /// `postgres://…` for PostgreSQL; default: SQLite in the data directory.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Trust J-LIS's production roots instead of a sandbox's.
        #[arg(long, value_name = "PROFILE", value_parser = ["production"], conflicts_with = "trust_anchor")]
        trust: Option<String>,
        /// Sandbox roots (`honnin authority ca export`), copied into the data directory.
        #[arg(long, value_name = "FILE")]
        trust_anchor: Vec<PathBuf>,
        /// How revocation is checked: OCSP per verification, or CRLs kept fresh.
        #[arg(long, value_enum, default_value = "ocsp")]
        revocation: MethodArg,
        /// The base URL holders' clients reach the platform at (default: the listening address).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// In CRL mode, how often to ask the authority for a new CRL (conditional GET).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        crl_refresh_seconds: Option<u32>,
        /// Users per second a status-check job checks (default: unlimited).
        #[arg(long, value_name = "N")]
        status_check_rate: Option<u32>,
        /// First webhook retry delay in milliseconds (doubled at every failed attempt).
        #[arg(long, value_name = "MS")]
        webhook_retry_base_ms: Option<u32>,
        /// What tenants pay on top of the authority's fees, in percent of each statement line
        /// (rounded down per line; default 0).
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(0..=1000))]
        billing_margin_percent: Option<u32>,
    },
    /// A tenant's monthly statement (JST month): its calls to the authority priced by the
    /// authority's fees (seed 001) plus the platform's margin. Prints JSON by default, CSV with
    /// --csv. With --reconcile (no --tenant), compares the month with the authority's statement for
    /// the platform, fetched from it; exits 1 if they differ.
    Bill {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(
            long,
            value_name = "ID",
            required_unless_present = "reconcile",
            conflicts_with = "reconcile"
        )]
        tenant: Option<String>,
        /// YYYY-MM
        #[arg(long, value_name = "YYYY-MM")]
        month: BillingMonth,
        /// CSV (RFC 4180) instead of JSON.
        #[arg(long, conflicts_with = "reconcile")]
        csv: bool,
        /// Reconcile every tenant's calls with the authority's statement (JSON).
        #[arg(long)]
        reconcile: bool,
    },
    /// Service providers (tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Serve the platform API.
    Serve {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8780")]
        listen: SocketAddr,
    },
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Evidence (確認記録) kept for verifications.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a service provider; prints its id and API key (shown once).
    Add {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List service providers.
    List {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the log's entries, oldest first (one JSON object per line with --json).
    Show {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long)]
        json: bool,
    },
    /// Check the whole chain; exit 1 if any entry was altered, removed or inserted.
    Verify {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// List evidence ids, oldest first.
    List {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Re-verify kept evidence: the signature at its time and the kept revocation proof.
    /// Exit 1 if it no longer supports the recorded outcome.
    Verify {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: PlatformArgs) -> Result<ExitCode> {
    if let Some(now) = args.now {
        honnin_platform::clock::start_at(now);
    }
    match args.command {
        PlatformCommand::Bill {
            data,
            tenant,
            month,
            csv,
            reconcile,
        } => {
            let platform = Platform::open(&data).await?;
            if reconcile {
                let r = platform.reconcile(month).await?;
                println!("{}", serde_json::to_string_pretty(&r)?);
                if !r.reconciled {
                    eprintln!(
                        "the platform's meters and the authority's statement differ by {} yen",
                        r.difference_yen
                    );
                    return Ok(ExitCode::from(1));
                }
            } else {
                let tenant = tenant.context("--tenant is required")?;
                let s = platform.tenant_statement(&tenant, month).await?;
                if csv {
                    print!("{}", s.to_csv());
                } else {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                }
            }
        }
        PlatformCommand::Init {
            data,
            authority,
            verifier_id,
            verifier_secret,
            database,
            trust,
            trust_anchor,
            revocation,
            public_url,
            crl_refresh_seconds,
            status_check_rate,
            webhook_retry_base_ms,
            billing_margin_percent,
        } => {
            std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
            let trust = if trust.is_some() {
                Some(TrustConfig::Production { extra: Vec::new() })
            } else if !trust_anchor.is_empty() {
                std::fs::create_dir_all(data.join("trust"))?;
                let mut anchors = Vec::new();
                for (i, f) in trust_anchor.iter().enumerate() {
                    let name = format!("trust/anchor-{i}.pem");
                    std::fs::copy(f, data.join(&name)).with_context(|| format!("cannot copy {}", f.display()))?;
                    anchors.push(name);
                }
                Some(TrustConfig::Sandbox { anchors })
            } else {
                None
            };
            Platform::init(
                &data,
                InitOptions {
                    authority,
                    verifier_id,
                    verifier_secret,
                    database,
                    trust,
                    revocation: match revocation {
                        MethodArg::Ocsp => RevocationMethod::Ocsp,
                        MethodArg::Crl => RevocationMethod::Crl,
                    },
                    public_url,
                    crl_refresh_seconds,
                    status_check_rate,
                    webhook_retry_base_ms,
                    billing_margin_percent,
                },
            )
            .await?;
            eprintln!("platform created in {}", data.display());
        }
        PlatformCommand::Tenant(TenantCommand::Add { data, name, json }) => {
            let platform = Platform::open(&data).await?;
            let t = platform.add_tenant(&name).await?;
            if json {
                println!("{}", serde_json::to_string(&t)?);
            } else {
                println!(
                    "tenant:  {}\napi key: {}  (shown once; store it safely)",
                    t.id, t.api_key
                );
            }
        }
        PlatformCommand::Tenant(TenantCommand::List { data }) => {
            let platform = Platform::open(&data).await?;
            for (id, name, _) in platform.store().tenants().await? {
                println!("{id}\t{name}");
            }
        }
        PlatformCommand::Serve { data, listen } => {
            let platform = Platform::open(&data).await?;
            honnin_platform::api::serve(
                platform,
                listen,
                |addr| println!("listening on http://{addr}"),
                crate::shutdown_signal(),
            )
            .await?;
        }
        PlatformCommand::Audit(AuditCommand::Show { data, after, json }) => {
            let platform = Platform::open(&data).await?;
            let mut after = after;
            loop {
                let page = platform.store().audit_page(after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for e in &page {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                                "tenant_id": e.tenant_id, "subject": e.subject, "outcome": e.outcome,
                                "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
                                "mac": e.mac,
                            })
                        );
                    } else {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            e.seq,
                            e.at,
                            e.actor,
                            e.action,
                            e.subject.as_deref().unwrap_or("-"),
                            e.outcome,
                            e.detail
                        );
                    }
                }
            }
        }
        PlatformCommand::Audit(AuditCommand::Verify { data, json }) => {
            let platform = Platform::open(&data).await?;
            let report = platform.verify_audit().await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for p in &report.problems {
                    println!("entry {}: {}", p.seq, p.what);
                }
                println!(
                    "{} entries; head {} {}; {}",
                    report.entries,
                    report.head_seq,
                    report.head_mac,
                    if report.problems.is_empty() {
                        "chain intact"
                    } else {
                        "CHAIN BROKEN"
                    }
                );
            }
            if !report.problems.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        PlatformCommand::Evidence(EvidenceCommand::List { data, tenant }) => {
            let platform = Platform::open(&data).await?;
            for id in platform.store().evidence_ids(tenant.as_deref()).await? {
                println!("{id}");
            }
        }
        PlatformCommand::Evidence(EvidenceCommand::Verify { data, id, json }) => {
            let platform = Platform::open(&data).await?;
            let check = platform.reverify_evidence(&id).await?;
            if json {
                println!("{}", serde_json::to_string(&check)?);
            } else {
                println!(
                    "evidence:   {} ({} of flow {}, tenant {})",
                    check.id, check.kind, check.flow_id, check.tenant_id
                );
                println!("verified:   {} (kept until {})", check.verified_at, check.retain_until);
                println!("recorded:   {}", check.recorded_outcome);
                println!("signature:  {}", check.signature);
                println!("revocation: {}", serde_json::to_string(&check.revocation)?);
                println!("consistent: {}", check.consistent);
            }
            if !check.consistent {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
