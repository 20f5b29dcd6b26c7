//! # honnin-emulator: a My Number card in software
//!
//! [`Emulator`] is the chip: a file system (the JPKI-AP, 券面事項入力補助AP, 券面AP and 住基AP with
//! their exact AIDs and FIDs) and a security state machine over a card file the authority issued.
//! It answers raw APDUs ([`Emulator::handle`]), serves as an in-process [`honnin_apdu::Transport`],
//! and plugs into `pcscd` through vpcd ([`vpcd`]) so that any PC/SC program sees a card.
//!
//! Private keys never leave it: no command reads a key file. PIN counters and changed PINs are
//! written back to the card file atomically before the answer goes out. Malformed APDUs get an ISO
//! status word, never a panic.

mod emulator;
pub mod vpcd;

pub use emulator::{Emulator, EmulatorError, Exchange};
