use honnin_profile::ProfileError;

/// Why an authority operation failed. Each message is one sentence a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    #[error("{0} is not an authority data directory (run `honnin authority init --data {0}` first)")]
    NotInitialised(String),
    #[error("{0} already holds an authority; refusing to overwrite it")]
    AlreadyInitialised(String),
    #[error("the authority data in {dir} is damaged: {why}")]
    Corrupt { dir: String, why: String },
    #[error("no resident with id {0}")]
    UnknownResident(String),
    #[error("no card with id {0} in this authority")]
    UnknownCard(String),
    #[error("resident {id} has no {hierarchy} certificate")]
    NoCertificate { id: String, hierarchy: &'static str },
    #[error("{0}")]
    BadInput(String),
    #[error("resident {id} is {age}; a signing certificate is issued only from age 15")]
    TooYoungForSigning { id: String, age: i32 },
    #[error("resident {0} is an adult ward (成年被後見人); no signing certificate is issued")]
    AdultWard(String),
    #[error("resident {id} is {status}; no card or certificate can be issued")]
    NotLiving { id: String, status: &'static str },
    #[error("card {id} is {state}; it cannot be renewed (issue a new card instead)")]
    CardNotActive { id: String, state: String },
    #[error("card {id} expired on {expiry}; issue a new card instead")]
    CardExpired { id: String, expiry: String },
    #[error("resident {0} has no active card")]
    NoActiveCard(String),
    #[error("a signing certificate needs a signing password: pass --sign-password (6–16 of A–Z, 0–9)")]
    SignPasswordRequired,
    #[error("no verifier with id {0}")]
    UnknownVerifier(String),
    #[error("verifier {0} is disabled")]
    VerifierDisabled(String),
    #[error("resident {resident} has no live {scope} consent for verifier {verifier}")]
    NoConsent {
        resident: String,
        verifier: String,
        scope: &'static str,
    },
    #[error("the system's random number generator failed")]
    Random,
    #[error("certificate error: {0}")]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    CardFile(#[from] honnin_cardfile::CardFileError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl From<der::Error> for AuthorityError {
    fn from(e: der::Error) -> Self {
        AuthorityError::Profile(ProfileError::Der(e))
    }
}
