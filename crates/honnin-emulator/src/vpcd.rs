//! Plugging the emulator into `pcscd` through vsmartcard's vpcd virtual reader.
//!
//! The card is the TCP *client*: it connects to vpcd (by default 127.0.0.1:35963, the reader
//! "Virtual PCD 00 00"). Every message both ways is a 2-byte big-endian length and a payload. A
//! 1-byte payload from vpcd is a control code (00 power off, 01 power on, 02 reset, 04 "send your
//! ATR"); anything longer is a command APDU, answered with the response APDU.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use honnin_card::ap::ATR;

use crate::Emulator;

/// Default vpcd address for the first virtual reader.
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";

/// vpcd writes a message's 2-byte length and its payload in two `send`s. With Nagle on vpcd's side
/// and delayed ACKs on ours, the payload would wait ~40 ms for our ACK of the length: every APDU
/// would cost that. Linux clears TCP_QUICKACK after use, so it is set again before every read.
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

fn read_message(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    quick_ack(stream);
    stream.read_exact(&mut len)?;
    quick_ack(stream);
    let mut payload = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

fn write_message(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| io::Error::other("message too long for vpcd"))?;
    let mut msg = Vec::with_capacity(payload.len() + 2);
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(payload);
    stream.write_all(&msg)
}

/// How long a fresh connection may wait for vpcd's first message. pcscd accepts a card only once it
/// has let the previous one go; a connection made while it still held the old one can sit unserved
/// in the listen queue, so the card hangs up and dials again.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves one connection to vpcd until it closes.
pub fn serve_connection(emulator: &mut Emulator, stream: &mut TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut greeted = false;
    loop {
        let payload = match read_message(stream) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if !greeted {
            // pcscd talks to us: from now on it polls regularly, and APDUs may be far apart.
            stream.set_read_timeout(None)?;
            greeted = true;
        }
        tracing::debug!(
            len = payload.len(),
            first = payload.first().copied().unwrap_or(0),
            "from vpcd"
        );
        match payload.as_slice() {
            [0x00] | [0x01] | [0x02] => emulator.reset(),
            [0x04] => write_message(stream, &ATR)?,
            [_] => {}
            apdu => {
                let response = emulator.handle(apdu);
                write_message(stream, &response)?;
            }
        }
    }
}

/// Connects to vpcd at `addr` and serves the card; reconnects (as a card re-inserted) whenever
/// pcscd drops the connection, until `keep_going` returns false.
pub fn run(
    emulator: &mut Emulator,
    addr: &str,
    mut on_connect: impl FnMut(),
    keep_going: impl Fn() -> bool,
) -> io::Result<()> {
    let mut warned = false;
    while keep_going() {
        match TcpStream::connect(addr) {
            Ok(mut stream) => {
                warned = false;
                emulator.reset();
                on_connect();
                if let Err(e) = serve_connection(emulator, &mut stream) {
                    tracing::warn!(error = %e, "vpcd connection lost");
                }
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, addr, "cannot reach vpcd (is pcscd running with vsmartcard-vpcd?); retrying");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    Ok(())
}
