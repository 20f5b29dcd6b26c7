//! `honnin card …`: the holder's client for a My Number card, real (PC/SC) or emulated.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use honnin_apdu::Transport;
use honnin_card::{CardError, MynaCard, PinKind, SignKey};
use honnin_emulator::Emulator;
use serde::Serialize;

#[derive(Args)]
pub struct CardArgs {
    /// Use the emulated card in this card file (in process).
    #[arg(long, value_name = "FILE", conflicts_with = "reader", global = true)]
    card: Option<PathBuf>,
    /// Use the card in this PC/SC reader (a name or its prefix, e.g. "Virtual PCD 00 00").
    #[arg(long, value_name = "NAME", global = true)]
    reader: Option<String>,
    /// The 4-digit PIN (auth or 券面事項入力補助). Also HONNIN_PIN; otherwise asked without echo.
    #[arg(long, env = "HONNIN_PIN", hide_env_values = true, global = true)]
    pin: Option<String>,
    /// The signing password. Also HONNIN_SIGN_PASSWORD; otherwise asked without echo.
    #[arg(long, env = "HONNIN_SIGN_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    #[command(subcommand)]
    command: CardCommand,
}

#[derive(Subcommand)]
enum CardCommand {
    /// Token, certificates present, and tries left per PIN (spends none).
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Write a certificate (DER). The signing certificate needs the signing password.
    ReadCert {
        #[arg(long)]
        which: CertWhich,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// PKCS#1 v1.5 signature over SHA-256(FILE) with the auth or signing key.
    Sign {
        #[arg(long)]
        which: KeyWhich,
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        #[arg(long, value_name = "SIG")]
        out: PathBuf,
        /// Write a detached CMS SignedData (DER) with the certificate instead of a raw signature.
        #[arg(long)]
        cms: bool,
    },
    /// The 4 attributes from the 券面事項入力補助AP, and whether their signature verified.
    Basic4 {
        /// Also read the My Number (個人番号). Only when you need it.
        #[arg(long)]
        my_number: bool,
        /// The top card-data key (PEM or DER, PKCS#1) to check the signature against; the sandbox's
        /// comes from `honnin authority ca export --which card-data`.
        #[arg(long, value_name = "FILE")]
        top_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The face photo (JPEG 2000) from the 券面AP, with PIN A or PIN B.
    Face {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// PIN A: the 12-digit My Number.
        #[arg(long, env = "HONNIN_PIN_A", hide_env_values = true, conflicts_with = "pin_b")]
        pin_a: Option<String>,
        /// PIN B: birth date YYMMDD, card expiry year YYYY, 4-digit security code.
        #[arg(long, env = "HONNIN_PIN_B", hide_env_values = true)]
        pin_b: Option<String>,
    },
    /// Change a PIN (asks for the current one through --pin/--password or a prompt).
    ChangePin {
        #[arg(long)]
        which: PinWhich,
        /// The new PIN or password; asked without echo when absent.
        #[arg(long, env = "HONNIN_NEW_PIN", hide_env_values = true)]
        new: Option<String>,
    },
    /// Plug the emulated card into pcscd through vpcd, until interrupted.
    Vpcd {
        /// vpcd's address (the first virtual reader listens on 35963, the second on 35964).
        #[arg(long, default_value = honnin_emulator::vpcd::DEFAULT_ADDR)]
        addr: String,
        /// Append every APDU exchange to this file (PINs withheld), e.g. to count round trips.
        #[arg(long, value_name = "FILE")]
        apdu_log: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CertWhich {
    Auth,
    Sign,
    AuthCa,
    SignCa,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyWhich {
    Auth,
    Sign,
}

impl From<KeyWhich> for SignKey {
    fn from(k: KeyWhich) -> Self {
        match k {
            KeyWhich::Auth => SignKey::Auth,
            KeyWhich::Sign => SignKey::Sign,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PinWhich {
    Auth,
    Sign,
    Kenhojo,
}

pub(crate) fn open_card(card: &Option<PathBuf>, reader: &Option<String>) -> Result<MynaCard<Box<dyn Transport>>> {
    let transport: Box<dyn Transport> = match (card, reader) {
        (Some(file), _) => Box::new(Emulator::open(file)?),
        (None, Some(reader)) => Box::new(honnin_card::pcsc::PcscTransport::connect(reader)?),
        (None, None) => {
            let readers = honnin_card::pcsc::readers().unwrap_or_default();
            bail!(
                "choose a card: --card FILE for an emulated card, or --reader NAME (readers: {})",
                if readers.is_empty() {
                    "none found".to_owned()
                } else {
                    readers.join(", ")
                }
            )
        }
    };
    Ok(MynaCard::new(transport))
}

/// A secret from its flag or environment variable, else a no-echo prompt on the terminal.
pub(crate) fn secret(given: &Option<String>, what: &str, flag: &str) -> Result<String> {
    if let Some(v) = given {
        return Ok(v.clone());
    }
    if !std::io::stdin().is_terminal() {
        bail!("the {what} is needed: pass {flag} or set its environment variable (no terminal to ask on)");
    }
    rpassword::prompt_password(format!("{what}: ")).with_context(|| format!("cannot read the {what}"))
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[derive(Serialize)]
struct PinInfo {
    pin: &'static str,
    tries_left: Option<u8>,
    blocked: bool,
}

#[derive(Serialize)]
struct Info {
    token: String,
    auth_certificate: bool,
    auth_ca_certificate: bool,
    sign_ca_certificate: bool,
    signing_certificate: bool,
    pins: Vec<PinInfo>,
}

fn tries_in_words(p: &PinInfo) -> String {
    match p.tries_left {
        None => "not on this card".into(),
        Some(0) => "blocked".into(),
        Some(1) => "1 try left".into(),
        Some(n) => format!("{n} tries left"),
    }
}

fn present<T>(r: Result<T, CardError>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(CardError::NotPresent(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn run(args: CardArgs) -> Result<()> {
    if let CardCommand::Vpcd { addr, apdu_log } = &args.command {
        let file = args.card.as_ref().ok_or_else(|| anyhow!("vpcd needs --card FILE"))?;
        let mut emulator = Emulator::open(file)?;
        if let Some(log) = apdu_log {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("cannot open {}", log.display()))?;
            emulator.log_to(Box::new(out));
        }
        eprintln!("serving {} to vpcd at {addr}; Ctrl-C to stop", file.display());
        honnin_emulator::vpcd::run(&mut emulator, addr, || eprintln!("connected to vpcd"), || true)?;
        return Ok(());
    }
    let mut card = open_card(&args.card, &args.reader)?;
    match &args.command {
        CardCommand::Info { json } => {
            let token = card.token()?;
            let mut pins = Vec::new();
            for kind in [PinKind::Auth, PinKind::Sign, PinKind::Kenhojo, PinKind::Juki] {
                let tries = match card.tries_left(kind) {
                    Ok(n) => Some(n),
                    Err(CardError::NotPresent(_)) => None,
                    Err(e) => return Err(e.into()),
                };
                pins.push(PinInfo {
                    pin: kind.id(),
                    tries_left: tries,
                    blocked: tries == Some(0),
                });
            }
            let info = Info {
                token: token.as_str().to_owned(),
                auth_certificate: present(card.auth_certificate())?,
                auth_ca_certificate: present(card.auth_ca_certificate())?,
                sign_ca_certificate: present(card.sign_ca_certificate())?,
                signing_certificate: pins.iter().any(|p| p.pin == "sign" && p.tries_left.is_some()),
                pins,
            };
            if *json {
                println!("{}", serde_json::to_string(&info)?);
            } else {
                println!("token:                {}", info.token);
                println!(
                    "auth certificate:     {}",
                    if info.auth_certificate { "present" } else { "absent" }
                );
                println!(
                    "signing certificate:  {}",
                    if info.signing_certificate {
                        "present (readable with the signing password)"
                    } else {
                        "absent"
                    }
                );
                for p in &info.pins {
                    println!("{:<21} {}", format!("{} PIN:", p.pin), tries_in_words(p));
                }
            }
        }
        CardCommand::ReadCert { which, out } => {
            let der = match which {
                CertWhich::Auth => card.auth_certificate()?,
                CertWhich::AuthCa => card.auth_ca_certificate()?,
                CertWhich::SignCa => card.sign_ca_certificate()?,
                CertWhich::Sign => card.sign_certificate(&secret(&args.password, "signing password", "--password")?)?,
            };
            write(out, &der)?;
        }
        CardCommand::Sign { which, input, out, cms } => {
            let key = SignKey::from(*which);
            let content = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
            let pin = match key {
                SignKey::Auth => secret(&args.pin, "auth PIN", "--pin")?,
                SignKey::Sign => secret(&args.password, "signing password", "--password")?,
            };
            let bytes = if *cms {
                let certificate = match key {
                    SignKey::Auth => card.auth_certificate()?,
                    SignKey::Sign => card.sign_certificate(&pin)?,
                };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                honnin_card::cms::sign_detached(&mut card, key, &pin, &certificate, &content, now)?
            } else {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &content);
                card.sign_digest(key, &pin, digest.as_ref())?
            };
            write(out, &bytes)?;
        }
        CardCommand::Basic4 {
            my_number,
            top_key,
            json,
        } => {
            let top = match top_key {
                Some(path) => Some(read_public_key(path)?),
                None => None,
            };
            let pin = secret(&args.pin, "券面事項入力補助 PIN", "--pin")?;
            let read = card.kenhojo_basic4(&pin, *my_number, top.as_deref())?;
            let (verified, why) = match &read.verified {
                None => (None, Some("no --top-key given".to_owned())),
                Some(Ok(_)) => (Some(true), None),
                Some(Err(e)) => (Some(false), Some(e.clone())),
            };
            if *json {
                let mut v = serde_json::json!({
                    "name": read.basic4.name,
                    "address": read.basic4.address,
                    "birth_date": read.basic4.birth_date,
                    "sex": read.basic4.sex,
                    "signature_verified": verified,
                });
                if let Some(why) = &why {
                    v["signature_detail"] = why.clone().into();
                }
                if let Some(n) = &read.my_number {
                    v["my_number"] = n.clone().into();
                }
                println!("{v}");
            } else {
                println!("name:       {}", read.basic4.name);
                println!("address:    {}", read.basic4.address);
                println!("birth date: {}", read.basic4.birth_date);
                println!("sex:        {}", read.basic4.sex);
                if let Some(n) = &read.my_number {
                    println!("My Number:  {n}");
                }
                match (verified, why) {
                    (Some(true), _) => println!("signature:  verified"),
                    (_, Some(why)) => println!("signature:  NOT verified ({why})"),
                    _ => {}
                }
            }
            if verified == Some(false) {
                bail!("the 4 attributes' signature does not verify");
            }
        }
        CardCommand::Face { out, pin_a, pin_b } => {
            let (kind, value) = match (pin_a, pin_b) {
                (Some(a), _) => (PinKind::KenkakuPinA, a.clone()),
                (None, Some(b)) => (PinKind::KenkakuPinB, b.clone()),
                (None, None) => (
                    PinKind::KenkakuPinB,
                    secret(&None, "PIN B (YYMMDD + expiry year + security code)", "--pin-b")?,
                ),
            };
            let entries = card.kenkaku_entries(kind, &value)?;
            write(out, &entries.face)?;
        }
        CardCommand::ChangePin { which, new } => {
            let (kind, current) = match which {
                PinWhich::Auth => (PinKind::Auth, secret(&args.pin, "current auth PIN", "--pin")?),
                PinWhich::Kenhojo => (
                    PinKind::Kenhojo,
                    secret(&args.pin, "current 券面事項入力補助 PIN", "--pin")?,
                ),
                PinWhich::Sign => (
                    PinKind::Sign,
                    secret(&args.password, "current signing password", "--password")?,
                ),
            };
            let new = secret(new, "new PIN", "--new")?;
            card.change_pin(kind, &current, &new)?;
            println!("{kind} changed");
        }
        CardCommand::Vpcd { .. } => {}
    }
    Ok(())
}

/// A PKCS#1 RSA public key from PEM (`RSA PUBLIC KEY`) or DER.
fn read_public_key(path: &PathBuf) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.first() == Some(&0x30) {
        return Ok(bytes);
    }
    let (label, der) = pem_rfc7468::decode_vec(&bytes).map_err(|e| anyhow!("{} is not PEM: {e}", path.display()))?;
    if label != "RSA PUBLIC KEY" {
        bail!("{} holds a {label}, not an RSA PUBLIC KEY", path.display());
    }
    Ok(der)
}
