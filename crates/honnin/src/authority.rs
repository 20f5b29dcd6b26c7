//! `honnin authority …`

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use honnin_authority::{
    Authority, BillingMonth, Consent, ConsentScope, InitOptions, IssueCard, LifeEvent, NewResident, Statement, Which,
};
use honnin_profile::{Hierarchy, Sex};
use serde::Serialize;
use time::{Date, OffsetDateTime};

#[derive(Args)]
pub struct AuthorityArgs {
    /// Sandbox clock: act as if it were this instant (RFC 3339), e.g. to issue on a past date;
    /// `serve` starts its clock there and lets it run.
    #[arg(long, global = true, value_parser = parse_now)]
    now: Option<OffsetDateTime>,
    #[command(subcommand)]
    command: AuthorityCommand,
}

#[derive(Args)]
struct DataArg {
    /// The authority's data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum AuthorityCommand {
    /// Create a new authority: database, signing and auth roots (O=JPKI-TEST), OCSP responders.
    Init {
        #[command(flatten)]
        data: DataArg,
        /// Seconds between a CRL's thisUpdate and nextUpdate.
        #[arg(long, default_value_t = honnin_authority::DEFAULT_CRL_CADENCE_SECS)]
        crl_cadence: i64,
        #[arg(long)]
        json: bool,
    },
    /// The resident register.
    #[command(subcommand)]
    Resident(ResidentCommand),
    /// Card issuance and renewal.
    #[command(subcommand)]
    Card(CardCommand),
    /// Record a life event; certificates are revoked as J-LIS would.
    Event {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "ID")]
        resident: String,
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        event: EventCommand,
    },
    /// Export certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Export the CA (root) certificates.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Write the current CRL of a CA (DER), publishing a new one if revocations changed.
    Crl {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        which: WhichCa,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Registered verifiers (署名検証者 / プラットフォーム事業者) and their credentials.
    #[command(subcommand)]
    Verifier(VerifierCommand),
    /// Holders' consents to a verifier (serial linking and the latest 4 attributes need one).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Serve CA certificates, CRLs and OCSP over HTTP, and registered verifiers under /verifier/v1/.
    Serve {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, default_value = "127.0.0.1:8460")]
        listen: SocketAddr,
    },
}

#[derive(Subcommand)]
enum ResidentCommand {
    /// Add a resident; prints the new id.
    Add {
        #[command(flatten)]
        data: DataArg,
        /// Full name, surname and given name separated by a full-width space.
        #[arg(long)]
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        birth_date: Date,
        #[arg(long)]
        sex: SexArg,
        /// Prefecture, romanised as in the certificate subject (e.g. Tokyo-to).
        #[arg(long)]
        prefecture: String,
        /// Municipality, romanised (e.g. Kiyose-shi).
        #[arg(long)]
        municipality: String,
        /// The resident is an adult ward (成年被後見人): no signing certificate.
        #[arg(long)]
        adult_ward: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show a resident.
    Show {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "ID")]
        resident: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CardCommand {
    /// Issue a card (or re-issue, superseding the resident's current card) and write its card file.
    Issue {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "ID")]
        resident: String,
        #[arg(long, value_name = "CARD_FILE")]
        out: PathBuf,
        /// User-authentication PIN, 4 digits.
        #[arg(long, env = "HONNIN_AUTH_PIN", hide_env_values = true)]
        auth_pin: String,
        /// Signing password, 6–16 of A–Z and 0–9; omit for a card without a signing certificate.
        #[arg(long, env = "HONNIN_SIGN_PASSWORD", hide_env_values = true)]
        sign_password: Option<String>,
        /// 券面事項入力補助 PIN, 4 digits (default: the auth PIN).
        #[arg(long, env = "HONNIN_KENHOJO_PIN", hide_env_values = true)]
        kenhojo_pin: Option<String>,
        /// 住基 PIN, 4 digits (default: the auth PIN).
        #[arg(long, env = "HONNIN_JUKI_PIN", hide_env_values = true)]
        juki_pin: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Renew certificates on a card: new keys in the same card file, old certificates superseded.
    Renew {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "CARD_FILE")]
        card: PathBuf,
        #[arg(long, default_value = "both")]
        which: WhichRenew,
        /// A new signing password (needed when the card had no signing certificate).
        #[arg(long, env = "HONNIN_SIGN_PASSWORD", hide_env_values = true)]
        sign_password: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EventCommand {
    /// Moved (転居・転出): revokes the signing certificate (affiliationChanged).
    AddressChange {
        #[arg(long)]
        address: String,
        /// New prefecture, when the move crosses municipalities.
        #[arg(long)]
        prefecture: Option<String>,
        #[arg(long)]
        municipality: Option<String>,
    },
    /// Changed name (marriage …): revokes the signing certificate (affiliationChanged).
    NameChange {
        #[arg(long)]
        name: String,
    },
    /// Changed sex: revokes the signing certificate (affiliationChanged).
    SexChange {
        #[arg(long)]
        sex: SexArg,
    },
    /// Corrected birth date: revokes the signing certificate (affiliationChanged).
    BirthDateCorrection {
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        birth_date: Date,
    },
    /// Died: revokes both certificates (affiliationChanged).
    Death,
    /// Moved abroad (国外転出): revokes both certificates (affiliationChanged).
    Emigration,
    /// Card reported lost or stolen (一時停止): both certificates on hold, never released.
    CardLost,
    /// Card abolished, returned, or use stopped: both certificates revoked (cessationOfOperation).
    CardAbolished,
    /// Key compromise declared: both certificates revoked (keyCompromise).
    KeyCompromise,
    /// Card destroyed before delivery: both certificates revoked (unspecified).
    CardDestroyed,
}

#[derive(Subcommand)]
enum VerifierCommand {
    /// Register a verifier; prints its id and secret (the secret is shown only this once).
    Add {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List registered verifiers (never their secrets).
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// Disable a verifier: its credentials get 403 from then on.
    Disable {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "ID")]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// A verifier's fees for one JST month (seed 001): lines by service, hierarchy and basis, and the total.
    Statement {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "VID")]
        id: String,
        #[arg(long, value_name = "YYYY-MM")]
        month: BillingMonth,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Subcommand)]
enum ConsentCommand {
    /// Record a holder's consent to a verifier.
    Add {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        consent: ConsentArgs,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a holder's live consent.
    Withdraw {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        consent: ConsentArgs,
        #[arg(long)]
        json: bool,
    },
    /// List consents, live and withdrawn.
    List {
        #[command(flatten)]
        data: DataArg,
        /// Only this resident's.
        #[arg(long, value_name = "RID")]
        resident: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ConsentArgs {
    /// The holder (resident id).
    #[arg(long, value_name = "RID")]
    resident: String,
    /// The verifier id.
    #[arg(long, value_name = "VID")]
    verifier: String,
    #[arg(long, default_value = "linking")]
    scope: ScopeArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// Serial linking: previous/next certificate and the card's counterpart.
    Linking,
    /// The holder's latest 4 attributes (最新の基本4情報).
    Basic4,
}

impl From<ScopeArg> for ConsentScope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Linking => ConsentScope::Linking,
            ScopeArg::Basic4 => ConsentScope::Basic4,
        }
    }
}

#[derive(Subcommand)]
enum CertCommand {
    /// Write a resident's latest certificate of one kind.
    Export {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_name = "ID")]
        resident: String,
        #[arg(long)]
        which: WhichCa,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// PEM instead of DER.
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Write a root certificate (PEM): the trust anchor of the sandbox profile; or, with
    /// `--which card-data`, the top key (PKCS#1 PEM) that signs the cards' 券面事項入力補助AP data.
    Export {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        which: WhichExport,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SexArg {
    Male,
    Female,
    Unknown,
}

impl From<SexArg> for Sex {
    fn from(s: SexArg) -> Self {
        match s {
            SexArg::Male => Sex::Male,
            SexArg::Female => Sex::Female,
            SexArg::Unknown => Sex::Unknown,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum WhichCa {
    Sign,
    Auth,
}

impl From<WhichCa> for Hierarchy {
    fn from(w: WhichCa) -> Self {
        match w {
            WhichCa::Sign => Hierarchy::Signing,
            WhichCa::Auth => Hierarchy::Authentication,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum WhichExport {
    Sign,
    Auth,
    CardData,
}

#[derive(Clone, Copy, ValueEnum)]
enum WhichRenew {
    Sign,
    Auth,
    Both,
}

fn parse_date(s: &str) -> std::result::Result<Date, String> {
    Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
        .ok()
        .filter(|_| s.len() == 10)
        .ok_or_else(|| format!("{s:?} is not a date in the form YYYY-MM-DD"))
}

fn parse_now(s: &str) -> std::result::Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{s:?} is not an RFC 3339 time such as 2026-11-21T10:00:00+09:00"))
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn print_consent(c: &Consent) {
    match c.withdrawn_at {
        None => println!(
            "{}  {}  {}  given {}  live",
            c.resident_id,
            c.verifier_id,
            c.scope.as_str(),
            rfc3339(c.given_at)
        ),
        Some(w) => println!(
            "{}  {}  {}  given {}  withdrawn {}",
            c.resident_id,
            c.verifier_id,
            c.scope.as_str(),
            rfc3339(c.given_at),
            rfc3339(w)
        ),
    }
}

fn print_statement(s: &Statement) {
    println!(
        "statement of verifier {} for {} ({} – {})",
        s.verifier,
        s.month,
        rfc3339(s.from),
        rfc3339(s.to)
    );
    println!(
        "{:<12} {:<9} {:<26} {:>8} {:>6} {:>10}",
        "service", "hierarchy", "basis", "count", "yen", "amount"
    );
    for l in &s.lines {
        println!(
            "{:<12} {:<9} {:<26} {:>8} {:>6} {:>10}",
            l.service.as_str(),
            l.hierarchy.map(Hierarchy::short).unwrap_or("-"),
            l.basis.as_str(),
            l.count,
            l.unit_price_yen,
            l.amount_yen
        );
    }
    println!("{:<12} {:>63} yen", "total", s.total_yen);
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    // Write beside the target and rename, so a reader never sees half a file.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "honnin".into())
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

pub async fn run(args: AuthorityArgs) -> Result<()> {
    let now = args.now.unwrap_or_else(OffsetDateTime::now_utc);
    match args.command {
        AuthorityCommand::Init {
            data,
            crl_cadence,
            json,
        } => {
            let authority = Authority::init(
                &data.data,
                InitOptions {
                    crl_cadence_secs: crl_cadence,
                },
                now,
            )
            .await?;
            let sign = authority.ca(Hierarchy::Signing).await?.certificate;
            let auth = authority.ca(Hierarchy::Authentication).await?.certificate;
            if json {
                print_json(&serde_json::json!({
                    "data": data.data,
                    "sign_ca_serial": sign.serial.to_hex(),
                    "auth_ca_serial": auth.serial.to_hex(),
                }))?;
            } else {
                println!("initialised sandbox authority in {}", data.data.display());
            }
        }
        AuthorityCommand::Resident(ResidentCommand::Add {
            data,
            name,
            address,
            birth_date,
            sex,
            prefecture,
            municipality,
            adult_ward,
            json,
        }) => {
            let authority = Authority::open(&data.data).await?;
            let resident = authority
                .add_resident(
                    NewResident {
                        name,
                        address,
                        birth_date,
                        sex: sex.into(),
                        prefecture,
                        municipality,
                        adult_ward,
                    },
                    now,
                )
                .await?;
            if json {
                print_json(&resident)?;
            } else {
                println!("{}", resident.id);
            }
        }
        AuthorityCommand::Resident(ResidentCommand::Show { data, resident, json }) => {
            let authority = Authority::open(&data.data).await?;
            let r = authority.resident(&resident).await?;
            if json {
                print_json(&r)?;
            } else {
                println!("id:           {}", r.id);
                println!("name:         {}", r.name);
                println!("address:      {}", r.address);
                println!("birth date:   {}", r.birth_date);
                println!("sex:          {}", r.sex.as_str());
                println!("municipality: {}, {}", r.municipality, r.prefecture);
                println!("status:       {}", r.status.as_str());
            }
        }
        AuthorityCommand::Card(CardCommand::Issue {
            data,
            resident,
            out,
            auth_pin,
            sign_password,
            kenhojo_pin,
            juki_pin,
            json,
        }) => {
            let authority = Authority::open(&data.data).await?;
            let request = IssueCard {
                resident_id: resident,
                auth_pin,
                sign_password,
                kenhojo_pin,
                juki_pin,
            };
            let issued = authority.issue_card(request, &out, now).await?;
            if json {
                print_json(&issued)?;
            } else {
                println!("card {} written to {}", issued.card_id, out.display());
                println!(
                    "auth certificate    {} (until {})",
                    issued.auth_serial, issued.auth_not_after
                );
                match (&issued.sign_serial, &issued.sign_not_after) {
                    (Some(s), Some(until)) => println!("signing certificate {s} (until {until})"),
                    _ => println!("signing certificate none"),
                }
            }
        }
        AuthorityCommand::Card(CardCommand::Renew {
            data,
            card,
            which,
            sign_password,
            json,
        }) => {
            let authority = Authority::open(&data.data).await?;
            let which = match which {
                WhichRenew::Sign => Which::Signing,
                WhichRenew::Auth => Which::Authentication,
                WhichRenew::Both => Which::Both,
            };
            let renewal = authority.renew(&card, which, sign_password, now).await?;
            if json {
                print_json(&renewal)?;
            } else {
                for r in &renewal.renewed {
                    println!(
                        "{} certificate {} → {} (until {})",
                        r.which,
                        r.old_serial.as_deref().unwrap_or("none"),
                        r.new_serial,
                        r.not_after
                    );
                }
            }
        }
        AuthorityCommand::Event {
            data,
            resident,
            json,
            event,
        } => {
            let authority = Authority::open(&data.data).await?;
            let event = match event {
                EventCommand::AddressChange {
                    address,
                    prefecture,
                    municipality,
                } => LifeEvent::AddressChange {
                    address,
                    prefecture,
                    municipality,
                },
                EventCommand::NameChange { name } => LifeEvent::NameChange { name },
                EventCommand::SexChange { sex } => LifeEvent::SexChange { sex: sex.into() },
                EventCommand::BirthDateCorrection { birth_date } => LifeEvent::BirthDateCorrection { birth_date },
                EventCommand::Death => LifeEvent::Death,
                EventCommand::Emigration => LifeEvent::Emigration,
                EventCommand::CardLost => LifeEvent::CardLost,
                EventCommand::CardAbolished => LifeEvent::CardAbolished,
                EventCommand::KeyCompromise => LifeEvent::KeyCompromise,
                EventCommand::CardDestroyed => LifeEvent::CardDestroyedBeforeDelivery,
            };
            let outcome = authority.record_event(&resident, event, now).await?;
            if json {
                print_json(&outcome)?;
            } else if outcome.revoked.is_empty() {
                println!("{} recorded; no live certificate to revoke", outcome.event);
            } else {
                for r in &outcome.revoked {
                    println!(
                        "{} recorded; {} certificate {} revoked ({})",
                        outcome.event, r.which, r.serial, outcome.reason
                    );
                }
            }
        }
        AuthorityCommand::Cert(CertCommand::Export {
            data,
            resident,
            which,
            out,
            pem,
        }) => {
            let authority = Authority::open(&data.data).await?;
            let der = authority.resident_certificate(&resident, which.into()).await?;
            let bytes = if pem {
                honnin_profile::to_pem(&der).into_bytes()
            } else {
                der
            };
            write_file(&out, &bytes)?;
        }
        AuthorityCommand::Ca(CaCommand::Export { data, which, out }) => {
            let authority = Authority::open(&data.data).await?;
            let pem = match which {
                WhichExport::Sign => authority.ca(Hierarchy::Signing).await?.certificate.to_pem(),
                WhichExport::Auth => authority.ca(Hierarchy::Authentication).await?.certificate.to_pem(),
                WhichExport::CardData => {
                    let key = authority.card_data_top_key().await?;
                    pem_rfc7468::encode_string("RSA PUBLIC KEY", pem_rfc7468::LineEnding::LF, &key)
                        .map_err(|e| anyhow!("{e}"))?
                }
            };
            write_file(&out, pem.as_bytes())?;
        }
        AuthorityCommand::Crl { data, which, out } => {
            let authority = Authority::open(&data.data).await?;
            let crl = authority.current_crl(which.into(), now).await?;
            write_file(&out, &crl.der)?;
        }
        AuthorityCommand::Verifier(VerifierCommand::Add { data, name, json }) => {
            let authority = Authority::open(&data.data).await?;
            let (verifier, secret) = authority.add_verifier(&name, now).await?;
            if json {
                print_json(&serde_json::json!({ "id": verifier.id, "secret": secret.expose() }))?;
            } else {
                println!(
                    "verifier {} ({}) added; secret {} (shown only now: store it)",
                    verifier.id,
                    verifier.name,
                    secret.expose()
                );
            }
        }
        AuthorityCommand::Verifier(VerifierCommand::List { data, json }) => {
            let authority = Authority::open(&data.data).await?;
            let verifiers = authority.verifiers().await?;
            if json {
                print_json(&verifiers)?;
            } else if verifiers.is_empty() {
                println!("no verifiers");
            } else {
                for v in &verifiers {
                    println!(
                        "{}  {}  {}  {}",
                        v.id,
                        rfc3339(v.created_at),
                        if v.disabled { "disabled" } else { "enabled " },
                        v.name
                    );
                }
            }
        }
        AuthorityCommand::Verifier(VerifierCommand::Disable { data, id, json }) => {
            let authority = Authority::open(&data.data).await?;
            let verifier = authority.disable_verifier(&id, now).await?;
            if json {
                print_json(&verifier)?;
            } else {
                println!("verifier {} ({}) disabled", verifier.id, verifier.name);
            }
        }
        AuthorityCommand::Verifier(VerifierCommand::Statement {
            data,
            id,
            month,
            json,
            csv,
        }) => {
            let authority = Authority::open(&data.data).await?;
            let statement = authority.statement(&id, month).await?;
            if json {
                print_json(&statement)?;
            } else if csv {
                print!("{}", statement.to_csv());
            } else {
                print_statement(&statement);
            }
        }
        AuthorityCommand::Consent(ConsentCommand::Add { data, consent, json }) => {
            let authority = Authority::open(&data.data).await?;
            let c = authority
                .add_consent(&consent.resident, &consent.verifier, consent.scope.into(), now)
                .await?;
            if json {
                print_json(&c)?;
            } else {
                print_consent(&c);
            }
        }
        AuthorityCommand::Consent(ConsentCommand::Withdraw { data, consent, json }) => {
            let authority = Authority::open(&data.data).await?;
            let c = authority
                .withdraw_consent(&consent.resident, &consent.verifier, consent.scope.into(), now)
                .await?;
            if json {
                print_json(&c)?;
            } else {
                print_consent(&c);
            }
        }
        AuthorityCommand::Consent(ConsentCommand::List { data, resident, json }) => {
            let authority = Authority::open(&data.data).await?;
            let consents = authority.consents(resident.as_deref()).await?;
            if json {
                print_json(&consents)?;
            } else if consents.is_empty() {
                println!("no consents");
            } else {
                consents.iter().for_each(print_consent);
            }
        }
        AuthorityCommand::Serve { data, listen } => {
            let authority = Authority::open(&data.data).await?;
            let clock = match args.now {
                Some(start) => honnin_authority::server::Clock::starting_at(start),
                None => honnin_authority::server::Clock::system(),
            };
            honnin_authority::server::serve(
                authority,
                clock,
                listen,
                |addr| println!("listening on http://{addr}"),
                crate::shutdown_signal(),
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
        }
    }
    Ok(())
}
