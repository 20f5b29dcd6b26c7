//! `honnin verify`: is this signature or certificate valid, whose is it, and is it revoked?

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use honnin_profile::EndEntity;
use honnin_verify::crl::CrlIndex;
use honnin_verify::ocsp::{self, Freshness};
use honnin_verify::{cms, RevocationStatus, TrustProfile, Validated};
use serde_json::json;
use time::OffsetDateTime;

#[derive(Args)]
#[command(group(clap::ArgGroup::new("trust_source").required(true).multiple(true).args(["trust", "trust_anchor"])))]
#[command(group(clap::ArgGroup::new("input").required(true).args(["cms", "cert"])))]
pub struct VerifyArgs {
    /// The built-in production profile (J-LIS's real roots).
    #[arg(long)]
    trust: Option<TrustArg>,
    /// Sandbox roots (PEM or DER) exported with `honnin authority ca export`; with `--trust production`,
    /// more production roots (a generation published after this build).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    trust_anchor: Vec<PathBuf>,
    /// A CRL (DER) of the issuing CA; may be given more than once (one per CA).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// An OCSP responder to ask (HTTP POST, with a nonce).
    #[arg(long, value_name = "URL")]
    ocsp: Option<String>,
    /// A CMS SignedData (DER) to verify.
    #[arg(long, value_name = "FILE")]
    cms: Option<PathBuf>,
    /// The signed content, for a detached CMS signature.
    #[arg(long, value_name = "FILE", requires = "cms")]
    content: Option<PathBuf>,
    /// A certificate (DER or PEM) to validate.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Check as of this time (RFC 3339) instead of now.
    #[arg(long, value_parser = parse_time)]
    at: Option<OffsetDateTime>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TrustArg {
    Production,
}

fn parse_time(s: &str) -> std::result::Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{s:?} is not an RFC 3339 time"))
}

fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Exit statuses: 0 valid and not revoked; 1 invalid; 2 revoked; 3 revocation status unknown.
pub fn run(args: VerifyArgs) -> Result<std::process::ExitCode> {
    let at = args.at.unwrap_or_else(OffsetDateTime::now_utc);
    let anchors: Vec<Vec<u8>> = args.trust_anchor.iter().map(read).collect::<Result<_>>()?;
    let anchors: Vec<&[u8]> = anchors.iter().map(Vec::as_slice).collect();
    let profile = if args.trust.is_some() {
        TrustProfile::production_with(&anchors)?
    } else {
        TrustProfile::sandbox(&anchors)?
    };
    let (outcome, signing_time) = match (&args.cms, &args.cert) {
        (Some(cms_path), _) => {
            let message = read(cms_path)?;
            let content = args.content.as_ref().map(read).transpose()?;
            match cms::verify(&profile, &message, content.as_deref(), at) {
                Ok(sig) => (Ok(sig.signer), sig.signing_time),
                Err(e) => (Err(e), None),
            }
        }
        (None, Some(cert_path)) => {
            let bytes = read(cert_path)?;
            let der = honnin_profile::certificates_from_pem_or_der(&bytes)?
                .into_iter()
                .next()
                .unwrap_or_default();
            (profile.validate(&der, at), None)
        }
        (None, None) => bail!("give --cms FILE or --cert FILE"),
    };
    let validated = match outcome {
        Ok(v) => v,
        Err(e) => {
            if args.json {
                println!("{}", json!({ "verdict": "invalid", "error": e.to_string() }));
            } else {
                println!("verdict:    INVALID ({e})");
            }
            return Ok(std::process::ExitCode::from(1));
        }
    };
    let revocation = revocation_status(&profile, &validated, &args, at);
    let code = match &revocation {
        RevocationStatus::Good { .. } => 0,
        RevocationStatus::Revoked { .. } => 2,
        RevocationStatus::Unknown { .. } => 3,
    };
    let info = validated.certificate.info();
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let verdict = match code {
        0 => "valid",
        2 => "revoked",
        _ => "valid signature, revocation status unknown",
    };
    if args.json {
        let mut v = json!({
            "verdict": verdict,
            "certificate": {
                "kind": match validated.certificate { EndEntity::Signing(_) => "signing", EndEntity::Authentication(_) => "authentication" },
                "serial": info.serial.to_hex(),
                "not_before": rfc3339(info.not_before),
                "not_after": rfc3339(info.not_after),
            },
            "revocation": revocation,
        });
        if let EndEntity::Signing(s) = &validated.certificate {
            v["basic4"] = json!({
                "name": s.basic4.name.text,
                "address": s.basic4.address.text,
                "birth_date": s.basic4.birth_date.to_string(),
                "sex": s.basic4.sex.as_str(),
                "substituted": s.basic4.name.has_substitutes() || s.basic4.address.has_substitutes(),
            });
        }
        if let Some(t) = signing_time {
            v["signing_time"] = rfc3339(t).into();
        }
        println!("{v}");
    } else {
        println!("verdict:    {}", verdict.to_uppercase());
        println!("serial:     {}", info.serial);
        println!("valid:      {} — {}", rfc3339(info.not_before), rfc3339(info.not_after));
        if let EndEntity::Signing(s) = &validated.certificate {
            println!("name:       {}", s.basic4.name.text);
            println!("address:    {}", s.basic4.address.text);
            println!("birth date: {}", s.basic4.birth_date);
            println!("sex:        {}", s.basic4.sex.as_str());
        } else {
            println!("kind:       user authentication (no personal data)");
        }
        if let Some(t) = signing_time {
            println!("signed at:  {} (claimed by the signer)", rfc3339(t));
        }
        match &revocation {
            RevocationStatus::Good { source, checked_at } => {
                println!("revocation: good ({source:?}, as of {})", rfc3339(*checked_at))
            }
            RevocationStatus::Revoked {
                source,
                reason,
                revoked_at,
            } => {
                println!(
                    "revocation: REVOKED, {} at {} ({source:?})",
                    reason.as_str(),
                    rfc3339(*revoked_at)
                )
            }
            RevocationStatus::Unknown { why } => println!("revocation: unknown ({why})"),
        }
    }
    Ok(std::process::ExitCode::from(code))
}

/// Every source asked: a revocation anywhere wins, then a good answer, else unknown (fail closed).
fn revocation_status(profile: &TrustProfile, v: &Validated, args: &VerifyArgs, at: OffsetDateTime) -> RevocationStatus {
    let mut answers = Vec::new();
    for path in &args.crl {
        answers.push(
            match read(path)
                .map_err(|e| e.to_string())
                .and_then(|der| CrlIndex::build(profile, &der, at).map_err(|e| e.to_string()))
            {
                Ok(index) => index.status(v, at),
                Err(e) => RevocationStatus::unknown(format!("{}: {e}", path.display())),
            },
        );
    }
    if let Some(url) = &args.ocsp {
        answers.push(ask_ocsp(v, url, at));
    }
    if let Some(revoked) = answers.iter().find(|a| matches!(a, RevocationStatus::Revoked { .. })) {
        return revoked.clone();
    }
    // A good answer only counts if it is about this certificate's issuer (others are Unknown).
    if let Some(good) = answers.iter().find(|a| a.is_good()) {
        return good.clone();
    }
    answers
        .into_iter()
        .next()
        .unwrap_or_else(|| RevocationStatus::unknown("no revocation source given (--crl or --ocsp)"))
}

fn ask_ocsp(v: &Validated, url: &str, at: OffsetDateTime) -> RevocationStatus {
    let request = match ocsp::request(v, true) {
        Ok(r) => r,
        Err(e) => return RevocationStatus::unknown(e.to_string()),
    };
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return RevocationStatus::unknown(format!("HTTP client: {e}")),
    };
    let response = client
        .post(url)
        .header("Content-Type", "application/ocsp-request")
        .body(request.der.clone())
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.bytes());
    match response {
        Ok(body) => ocsp::status_from_response(v, &request, &body, at, Freshness::default()),
        Err(e) => RevocationStatus::unknown(format!("the OCSP responder could not be reached: {e}")),
    }
}
