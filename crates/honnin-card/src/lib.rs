//! # honnin-card: the My Number card (マイナンバーカード) from the host's side
//!
//! - [`ap`]: the card's applications and files (AIDs, FIDs, PIN rules), as the reference lists them.
//! - [`layout`]: the data layouts of the 券面事項入力補助AP and the 券面AP, and the card-verifiable
//!   certificate that signs them — built by the authority, parsed and checked by the driver.
//! - [`MynaCard`]: the driver. It speaks APDUs through any [`honnin_apdu::Transport`] (the PC/SC
//!   reader in [`pcsc`], or the emulator), using the fewest round trips the card allows.
//!
//! This crate never stores a PIN, never logs one, and hands out the My Number only when the caller
//! asks for it by name.

pub mod ap;
pub mod cms;
mod driver;
pub mod layout;
#[cfg(feature = "pcsc")]
pub mod pcsc;

pub use driver::{digest_info, CardError, KenhojoBasic4, MynaCard, PinKind, SignKey, Token};
