//! OCSP: `honnin authority serve` and the `openssl ocsp -index` responder, each loaded by `ab`
//! (no keep-alive) with one DER request for one good user-authentication certificate, with and
//! without a nonce. Both responders sign with the same delegated responder key and certificate,
//! so the very same request files go to both and the responses are the same size.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use honnin_authority::{Authority, IssueCard, NewResident};
use honnin_profile::{Hierarchy, Sex};
use time::OffsetDateTime;
use tokio::runtime::Runtime;

use crate::tools::{self, pem, progress, read, write, Server, TextFile, Tools};
use crate::Args;

/// `--ocsp-rounds` `ab` loads of one kind against one responder.
pub struct Load {
    /// Requests per second of each round, in order.
    pub rates: Vec<f64>,
    /// Their median: a 2-core machine running `ab` beside the server is noisy.
    pub rate: f64,
    /// Size of one response (ab's "Document Length").
    pub bytes: usize,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One round's figures from `ab`'s report.
struct Round {
    rate: f64,
    bytes: usize,
}

pub struct OcspBench {
    pub honnin_nonce: Load,
    pub honnin_plain: Load,
    pub openssl_nonce: Load,
    pub openssl_plain: Load,
}

const STARTUP: Duration = Duration::from_secs(30);

/// The value after `label` on the line of `ab`'s report that starts with it.
fn ab_field<'a>(report: &'a str, label: &str) -> Option<&'a str> {
    report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
}

fn ab_number(report: &str, label: &str) -> Result<f64> {
    let value = ab_field(report, label).with_context(|| format!("ab printed no {label:?} line:\n{report}"))?;
    let number = value.split_whitespace().next().unwrap_or_default();
    number
        .parse()
        .with_context(|| format!("ab printed {label:?} {value:?}, not a number"))
}

/// Parses `ab`'s report; transport failures or non-2xx answers make the load invalid.
fn parse_ab(report: &str, expected: usize) -> Result<Round> {
    let complete = ab_number(report, "Complete requests:")? as usize;
    if complete != expected {
        bail!("ab completed {complete} of {expected} requests:\n{report}");
    }
    if let Some(non_2xx) = ab_field(report, "Non-2xx responses:") {
        bail!("{non_2xx} responses were not 2xx:\n{report}");
    }
    let failed = ab_number(report, "Failed requests:")? as usize;
    if failed > 0 {
        // ab counts a response whose length differs from the first one's as failed; that is not
        // a transport failure, so only those are tolerated.
        let detail = report
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Failed requests:"))
            .nth(1)
            .unwrap_or_default();
        let only_length =
            detail.contains("Connect: 0") && detail.contains("Receive: 0") && detail.contains("Exceptions: 0");
        if !only_length {
            bail!("{failed} requests failed:\n{report}");
        }
        eprintln!("note: {failed} responses differed in length from the first ({detail})");
    }
    Ok(Round {
        rate: ab_number(report, "Requests per second:")?,
        bytes: ab_number(report, "Document Length:")? as usize,
    })
}

struct Files<'a> {
    ca: &'a Path,
    ee: &'a Path,
    nonce: &'a Path,
    plain: &'a Path,
}

/// One untimed query through `openssl ocsp` as a client: the response must verify under the CA,
/// say "good", and (when asked for) echo the nonce.
fn check_responder(tools: &Tools, files: &Files<'_>, url: &str, who: &str) -> Result<()> {
    for nonce in [true, false] {
        let mut cmd = tools.openssl();
        cmd.arg("ocsp")
            .arg("-issuer")
            .arg(files.ca)
            .arg("-cert")
            .arg(files.ee)
            .arg("-CAfile")
            .arg(files.ca)
            .args(["-url", url, "-timeout", "10"]);
        if !nonce {
            cmd.arg("-no_nonce");
        }
        let what = format!("openssl ocsp client against {who} (nonce: {nonce})");
        let out = tools::run(&mut cmd, &what)?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !said.contains("Response verify OK") || !said.contains(": good") || said.contains("WARNING") {
            bail!("{what}: unexpected answer:\n{said}");
        }
    }
    Ok(())
}

fn load(tools: &Tools, args: &Args, request: &Path, url: &str, what: &str) -> Result<Load> {
    let mut rates = Vec::with_capacity(args.ocsp_rounds);
    let mut bytes = 0;
    for round in 1..=args.ocsp_rounds {
        progress(&format!(
            "OCSP: {what}, round {round}/{}: ab -n {} -c {}",
            args.ocsp_rounds, args.ocsp_requests, args.ocsp_concurrency
        ));
        let out = tools::run(
            Command::new(&tools.ab)
                .arg("-n")
                .arg(args.ocsp_requests.to_string())
                .arg("-c")
                .arg(args.ocsp_concurrency.to_string())
                .args(["-s", "30", "-T", "application/ocsp-request", "-p"])
                .arg(request)
                .arg(url),
            &format!("ab against {what}"),
        )?;
        let report = String::from_utf8_lossy(&out.stdout);
        let r = parse_ab(&report, args.ocsp_requests).with_context(|| format!("load against {what}, round {round}"))?;
        rates.push(r.rate);
        bytes = r.bytes;
    }
    Ok(Load {
        rate: median(&rates),
        rates,
        bytes,
    })
}

pub fn run(
    tools: &Tools,
    runtime: &Runtime,
    authority: Authority,
    work: &Path,
    args: &Args,
    now: OffsetDateTime,
) -> Result<OcspBench> {
    let dir = work.join("ocsp");
    tools::mkdir(&dir)?;

    progress("OCSP: registering 3 residents and issuing their cards (untimed)");
    let mut auth_serial = None;
    let mut first_resident = None;
    for (i, name) in ["山田　太郎", "佐藤　花子", "鈴木　一郎"].into_iter().enumerate() {
        let resident = runtime
            .block_on(authority.add_resident(
                NewResident {
                    name: name.into(),
                    address: "東京都清瀬市中里五丁目８４２番地".into(),
                    birth_date: time::macros::date!(1980 - 04 - 01),
                    sex: if i == 1 { Sex::Female } else { Sex::Male },
                    prefecture: "Tokyo-to".into(),
                    municipality: "Kiyose-shi".into(),
                    adult_ward: false,
                },
                now,
            ))
            .context("adding a resident")?;
        let card = runtime
            .block_on(authority.issue_card(
                IssueCard {
                    resident_id: resident.id.clone(),
                    auth_pin: "1234".into(),
                    sign_password: Some("ABC123".into()),
                    kenhojo_pin: None,
                    juki_pin: None,
                },
                &dir.join(format!("card-{i}.json")),
                now,
            ))
            .context("issuing a card")?;
        if i == 0 {
            auth_serial = Some(card.auth_serial);
            first_resident = Some(resident.id);
        }
    }
    let (Some(serial), Some(resident)) = (auth_serial, first_resident) else {
        bail!("no card was issued");
    };
    let ee_der = runtime
        .block_on(authority.resident_certificate(&resident, Hierarchy::Authentication))
        .context("loading the auth certificate")?;
    let ca = runtime
        .block_on(authority.ca(Hierarchy::Authentication))
        .context("loading the auth CA")?;
    drop(authority);

    let ca_pem = dir.join("auth-ca.pem");
    let ee_pem = dir.join("ee.pem");
    let responder_pem = dir.join("responder.pem");
    let responder_key = dir.join("responder.key");
    write(&ca_pem, ca.certificate.to_pem())?;
    write(&ee_pem, pem("CERTIFICATE", &ee_der)?)?;
    write(&responder_pem, pem("CERTIFICATE", &ca.responder_certificate)?)?;
    write(&responder_key, ca.responder_key.to_pkcs8_pem()?)?;

    // The two requests (SHA-1 CertID, as openssl and most clients send), made once and reused.
    let nonce_req = dir.join("req-nonce.der");
    let plain_req = dir.join("req-no-nonce.der");
    for (file, extra) in [(&nonce_req, None), (&plain_req, Some("-no_nonce"))] {
        let mut cmd = tools.openssl();
        cmd.arg("ocsp")
            .arg("-issuer")
            .arg(&ca_pem)
            .arg("-cert")
            .arg(&ee_pem)
            .arg("-reqout")
            .arg(file);
        cmd.args(extra);
        tools::run(&mut cmd, "openssl ocsp -reqout")?;
        if read(file)?.is_empty() {
            bail!("openssl ocsp wrote an empty request to {}", file.display());
        }
    }
    let files = Files {
        ca: &ca_pem,
        ee: &ee_pem,
        nonce: &nonce_req,
        plain: &plain_req,
    };

    // honnin.
    progress("OCSP: starting honnin authority serve");
    let (honnin_nonce, honnin_plain) = {
        let mut server = Server::spawn(
            "honnin authority serve",
            Command::new(&tools.honnin)
                .args(["authority", "serve", "--data"])
                .arg(work.join("authority"))
                .args(["--listen", "127.0.0.1:0"]),
            &dir.join("honnin-serve.log"),
            true,
        )?;
        let line = server.first_line(STARTUP)?;
        let addr: SocketAddr = line
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim().parse().ok())
            .with_context(|| format!("honnin authority serve printed {line:?}"))?;
        let url = format!("http://{addr}/ocsp");
        check_responder(tools, &files, &url, "honnin")?;
        let nonce = load(tools, args, files.nonce, &url, "honnin, nonce")?;
        let plain = load(tools, args, files.plain, &url, "honnin, no nonce")?;
        server.check_running()?;
        (nonce, plain)
    };

    // openssl: an index with the same certificate, valid; the same responder certificate and key.
    progress("OCSP: starting openssl ocsp -index");
    let (openssl_nonce, openssl_plain) = {
        let index_file = dir.join("index.txt");
        let mut index = TextFile::create(&index_file)?;
        let expiry = tools::utc_time(now + time::Duration::days(5 * 365))?;
        index.line(format_args!("V\t{expiry}\t\t{serial}\tunknown\t/CN=x"))?;
        index.finish()?;
        let mut cmd = tools.openssl();
        cmd.arg("ocsp")
            .arg("-index")
            .arg(&index_file)
            .args(["-port", "0"])
            .arg("-rsigner")
            .arg(&responder_pem)
            .arg("-rkey")
            .arg(&responder_key)
            .arg("-CA")
            .arg(&ca_pem)
            // Like honnin: nextUpdate 24 h on, responder named by key hash, errors not fatal.
            .args(["-ndays", "1", "-resp_key_id", "-rmd", "sha256", "-ignore_err"]);
        if args.openssl_ocsp_multi > 0 {
            cmd.args(["-multi", &args.openssl_ocsp_multi.to_string()]);
        }
        let mut server = Server::spawn("openssl ocsp", &mut cmd, &dir.join("openssl-ocsp.log"), false)?;
        // "ACCEPT [::]:PORT PID=…" once bound.
        let line = server.wait_log("ACCEPT ", STARTUP)?;
        let port: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .with_context(|| format!("openssl ocsp printed {line:?}"))?;
        let url = format!("http://127.0.0.1:{port}/");
        check_responder(tools, &files, &url, "openssl")?;
        let nonce = load(tools, args, files.nonce, &url, "openssl, nonce")?;
        let plain = load(tools, args, files.plain, &url, "openssl, no nonce")?;
        server.check_running()?;
        (nonce, plain)
    };

    Ok(OcspBench {
        honnin_nonce,
        honnin_plain,
        openssl_nonce,
        openssl_plain,
    })
}
