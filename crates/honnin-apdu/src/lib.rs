//! # honnin-apdu: the bytes between a host and a smart card
//!
//! ISO 7816-4 command and response APDUs in short and extended form, status words, and BER-TLV with
//! one-, two- and three-byte tags (the My Number card writes non-minimal private tags such as `DF 21`
//! and `FF 20` even for tag numbers below 31), plus the [`Transport`] trait that card drivers speak
//! through.
//!
//! Pure and allocation-light: no I/O, no knowledge of any card application. Every parser takes
//! untrusted bytes and returns an error, never panics.

mod command;
mod status;
pub mod tlv;

pub use command::{Command, Response, MAX_EXTENDED_LE, MAX_SHORT_LE};
pub use status::StatusWord;

/// Why bytes are not a valid APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    #[error("an APDU needs at least {needed} bytes, got {got}")]
    TooShort { needed: usize, got: usize },
    #[error("the APDU's length fields do not match its size ({0})")]
    BadLength(&'static str),
    #[error("a command carries at most 65535 data bytes, got {0}")]
    DataTooLong(usize),
    #[error("Le must be 1–65536, got {0}")]
    BadLe(usize),
}

/// A channel to one card: send a command, get its response.
pub trait Transport {
    /// Sends one command APDU and returns the card's response. Errors are transport failures
    /// (reader gone, card removed), not card status words.
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError>;

    /// Whether the transport (reader and card) accepts extended-length APDUs.
    fn supports_extended_length(&self) -> bool {
        false
    }
}

/// A failure below the card: the reader or the link, not the card's answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("no card in the reader")]
    NoCard,
    #[error("reader {0:?} not found")]
    NoReader(String),
    #[error("the card sent a malformed response: {0}")]
    BadResponse(#[from] ApduError),
    #[error("{0}")]
    Other(String),
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError> {
        (**self).transmit(command)
    }
    fn supports_extended_length(&self) -> bool {
        (**self).supports_extended_length()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError> {
        (**self).transmit(command)
    }
    fn supports_extended_length(&self) -> bool {
        (**self).supports_extended_length()
    }
}
