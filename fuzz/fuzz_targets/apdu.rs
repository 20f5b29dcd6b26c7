//! APDU, TLV and card-layout parsers on arbitrary bytes: parse or refuse, never panic; what parses
//! re-encodes to something that parses to the same command.
#![no_main]
use honnin_apdu::{tlv, Command, Response};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = Command::parse(data) {
        if let Ok(bytes) = cmd.to_bytes() {
            assert_eq!(Command::parse(&bytes).ok(), Some(cmd));
        }
    }
    let _ = Response::parse(data);
    let _ = tlv::encoded_len(data);
    if let Ok(all) = tlv::parse_all(data) {
        for t in all {
            let _ = t.children();
        }
    }
    let _ = honnin_card::layout::parse_basic4(data);
    let _ = honnin_card::layout::parse_my_number(data);
    let _ = honnin_card::layout::parse_kenkaku_entries(data);
    let _ = honnin_card::layout::Cvc::parse(data);
});
