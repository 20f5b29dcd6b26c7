//! The `honnin` command: a thin layer that parses arguments and calls the library crates.

mod authority;
mod card;
mod client;
mod platform;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "honnin",
    version,
    about = "Japan's public personal authentication (JPKI), end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The sandbox of J-LIS (機構): residents, cards, life events, CRLs and OCSP.
    Authority(authority::AuthorityArgs),
    /// The holder's client for a My Number card: --card FILE (emulated) or --reader NAME (PC/SC).
    Card(card::CardArgs),
    /// Verify a CMS signature or a certificate under a trust profile, with CRLs and/or OCSP.
    /// Exit status: 0 valid and not revoked, 1 invalid, 2 revoked, 3 revocation status unknown.
    Verify(verify::VerifyArgs),
    /// The verifier platform (プラットフォーム事業者): tenants, the API server, audit log, evidence.
    Platform(platform::PlatformArgs),
    /// The holder's client for platform flows: complete an account opening or a login.
    Client(client::ClientArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HONNIN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("honnin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Authority(args) => authority::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Card(args) => tokio::task::block_in_place(|| card::run(args)).map(|()| ExitCode::SUCCESS),
            Command::Verify(args) => tokio::task::block_in_place(|| verify::run(args)),
            Command::Platform(args) => platform::run(args).await,
            Command::Client(args) => tokio::task::block_in_place(|| client::run(args)),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("honnin: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM: when a server should stop accepting and drain.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
