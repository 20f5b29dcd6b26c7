use std::path::PathBuf;

/// Why a platform operation failed (not why a signature was rejected: that is a flow outcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} does not hold a platform (run `honnin platform init` first)")]
    NotInitialised(PathBuf),
    #[error("{0} already holds a platform")]
    AlreadyInitialised(PathBuf),
    #[error("the configuration {path} is invalid: {why}")]
    Config { path: PathBuf, why: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("trust profile: {0}")]
    Trust(#[from] honnin_verify::VerifyError),
    #[error("the authority: {0}")]
    Authority(#[from] honnin_authority_client::ClientError),
    #[error("no such {what}: {id}")]
    NotFound { what: &'static str, id: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("gone: {0}")]
    Gone(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("the stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("no randomness available")]
    Random,
}
