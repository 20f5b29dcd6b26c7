//! `honnin client complete CLIENT_URL`: the holder's side of a platform flow. Reads what to sign
//! from the client URL, signs it with the card (signing certificate for an account opening or a
//! consent, auth key for a login or an age check with PIN; an age check without PIN only reads the
//! auth certificate) and submits it. Exit status: 0 verified/done, 1 rejected or refused, 3 unknown.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::{Args, Subcommand};
use honnin_apdu::Transport;
use honnin_card::{MynaCard, SignKey};
use honnin_platform::wire::{
    CardCertificate, ClientOutcome, ClientTask, ConsentScope, ConsentStatement, FlowStatus, SignedApplication,
    SignedConsent, WebEidToken,
};

use crate::card::{open_card, secret};

#[derive(Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Complete the account opening, login, consent or age check a client URL belongs to.
    Complete {
        /// The client URL the service provider handed over.
        url: String,
        /// An emulated card (card file).
        #[arg(long, value_name = "FILE", conflicts_with = "reader")]
        card: Option<PathBuf>,
        /// A PC/SC reader with a real card.
        #[arg(long, value_name = "NAME")]
        reader: Option<String>,
        /// Auth PIN (4 digits) for a login or an age check with PIN.
        #[arg(long, env = "HONNIN_PIN", hide_env_values = true)]
        pin: Option<String>,
        /// Signing password for an account opening or a consent.
        #[arg(long, env = "HONNIN_SIGN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The origin the browser is on, for a login (default: the one the service asked for).
        /// A phishing page's origin would differ, and its proof would be refused.
        #[arg(long)]
        origin: Option<String>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A Web eID token: hash(origin) ‖ hash(nonce) signed with the auth key after the PIN.
fn auth_proof(
    myna: &mut MynaCard<Box<dyn Transport>>,
    pin: &Option<String>,
    origin: &str,
    nonce: &str,
) -> Result<Vec<u8>> {
    let nonce = B64.decode(nonce).context("the challenge is not base64")?;
    let pin = secret(pin, "auth PIN", "--pin")?;
    let message = honnin_verify::signature::login_proof_message(origin, &nonce);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message);
    let signature = myna.sign_digest(SignKey::Auth, &pin, digest.as_ref())?;
    let certificate = myna.auth_certificate()?;
    Ok(serde_json::to_vec(&WebEidToken {
        unverified_certificate: B64.encode(certificate),
        algorithm: "RS256".into(),
        signature: B64.encode(signature),
        format: "web-eid:1.0".into(),
        app_version: Some(format!("honnin/{}", env!("CARGO_PKG_VERSION"))),
    })?)
}

fn http() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("cannot build an HTTP client")
}

/// The body of a response, or the problem document's detail as an error.
fn body(response: reqwest::blocking::Response) -> Result<Vec<u8>> {
    let status = response.status();
    let bytes = response.bytes().context("cannot read the platform's answer")?.to_vec();
    if status.is_success() {
        return Ok(bytes);
    }
    let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    bail!("the platform answered {status}: {detail}")
}

pub fn run(args: ClientArgs) -> Result<ExitCode> {
    let ClientCommand::Complete {
        url,
        card,
        reader,
        pin,
        password,
        origin,
        json,
    } = args.command;
    let client = http()?;
    let task: ClientTask = serde_json::from_slice(&body(
        client.get(&url).send().with_context(|| format!("cannot reach {url}"))?,
    )?)
    .context("the client URL did not describe a flow")?;
    let mut myna = open_card(&card, &reader)?;
    let submission = match task {
        ClientTask::AccountOpening {
            application, document, ..
        } => {
            let document = B64.decode(document).context("the document to sign is not base64")?;
            eprintln!("Signing this application with your signing certificate (署名用電子証明書):\n{application}\n");
            let password = secret(&password, "signing password", "--password")?;
            let certificate = myna.sign_certificate(&password)?;
            let cms = honnin_card::cms::sign_detached(
                &mut myna,
                SignKey::Sign,
                &password,
                &certificate,
                &document,
                unix_now(),
            )?;
            serde_json::to_vec(&SignedApplication { cms: B64.encode(cms) })?
        }
        ClientTask::Login {
            origin: asked, nonce, ..
        } => {
            let origin = origin.unwrap_or(asked);
            eprintln!("Logging in to {origin} with your user-authentication certificate (利用者証明用電子証明書)");
            auth_proof(&mut myna, &pin, &origin, &nonce)?
        }
        ClientTask::Consent {
            scope, verifier, text, ..
        } => {
            let scope = ConsentScope::from_name(&scope).with_context(|| format!("unknown consent scope {scope:?}"))?;
            eprintln!(
                "Consenting ({}) with your signing certificate (署名用電子証明書), to verifier {verifier}:\n{text}\n",
                scope.as_str()
            );
            let password = secret(&password, "signing password", "--password")?;
            let certificate = myna.sign_certificate(&password)?;
            // Made here, at signing time: the authority accepts a statement only shortly after. To
            // the nanosecond: the authority refuses a statement text it accepted before, even from
            // another holder, so two holders consenting in the same second must not sign the same text.
            let given_at = time::OffsetDateTime::now_utc();
            let statement = ConsentStatement::new(&verifier, scope, given_at).to_bytes();
            let cms = honnin_card::cms::sign_detached(
                &mut myna,
                SignKey::Sign,
                &password,
                &certificate,
                &statement,
                unix_now(),
            )?;
            serde_json::to_vec(&SignedConsent {
                statement: B64.encode(&statement),
                cms: B64.encode(cms),
            })?
        }
        ClientTask::AgeCheck {
            threshold,
            pin: with_pin,
            origin: asked,
            nonce,
            ..
        } => {
            if with_pin {
                eprintln!("Age check ({threshold} or older?) with your PIN: the service learns only yes or no");
                auth_proof(&mut myna, &pin, &asked, &nonce)?
            } else {
                eprintln!("Age check ({threshold} or older?) by reading your card: the service learns only yes or no");
                // The auth certificate is readable without a PIN.
                let certificate = myna.auth_certificate()?;
                serde_json::to_vec(&CardCertificate {
                    certificate: B64.encode(certificate),
                })?
            }
        }
    };
    let response = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(submission)
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let outcome: ClientOutcome = serde_json::from_slice(&body(response)?).context("unexpected answer")?;
    if json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        match (&outcome.reason, &outcome.detail) {
            (Some(r), Some(d)) => println!("{}: {r} ({d})", outcome.status.as_str()),
            (Some(r), None) => println!("{}: {r}", outcome.status.as_str()),
            _ => println!("{}", outcome.status.as_str()),
        }
    }
    Ok(ExitCode::from(match outcome.status {
        FlowStatus::Verified => 0,
        FlowStatus::Unknown => 3,
        FlowStatus::Pending | FlowStatus::Rejected => 1,
    }))
}
