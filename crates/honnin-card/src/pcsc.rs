//! The PC/SC transport (`pcsc` crate, libpcsclite): a real reader, or vpcd's virtual one.

use honnin_apdu::{ApduError, Command, Response, Transport, TransportError};

/// A card in a PC/SC reader, connected in shared mode.
pub struct PcscTransport {
    card: pcsc::Card,
    reader: String,
}

fn err(e: pcsc::Error) -> TransportError {
    match e {
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => TransportError::NoCard,
        other => TransportError::Other(format!("PC/SC: {other}")),
    }
}

/// The readers PC/SC knows, by name.
pub fn readers() -> Result<Vec<String>, TransportError> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(err)?;
    let names = ctx.list_readers_owned().map_err(err)?;
    Ok(names.into_iter().map(|n| n.to_string_lossy().into_owned()).collect())
}

impl PcscTransport {
    /// Connects to the card in the reader called `reader` (an exact name, or a prefix of one).
    pub fn connect(reader: &str) -> Result<Self, TransportError> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(err)?;
        let names = ctx.list_readers_owned().map_err(err)?;
        let name = names
            .iter()
            .find(|n| n.to_string_lossy() == reader)
            .or_else(|| names.iter().find(|n| n.to_string_lossy().starts_with(reader)))
            .ok_or_else(|| TransportError::NoReader(reader.to_owned()))?;
        let card = ctx
            .connect(name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(err)?;
        Ok(PcscTransport {
            card,
            reader: name.to_string_lossy().into_owned(),
        })
    }

    pub fn reader(&self) -> &str {
        &self.reader
    }
}

impl Transport for PcscTransport {
    fn transmit(&mut self, command: &Command) -> Result<Response, TransportError> {
        let bytes = command.to_bytes().map_err(TransportError::BadResponse)?;
        let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let answer = self.card.transmit(&bytes, &mut buf).map_err(err)?;
        Response::parse(answer).map_err(|e: ApduError| TransportError::BadResponse(e))
    }

    fn supports_extended_length(&self) -> bool {
        // Most CCID readers and vpcd carry extended APDUs; the driver falls back if one does not.
        true
    }
}
