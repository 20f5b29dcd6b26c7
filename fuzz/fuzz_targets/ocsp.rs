//! OCSP response verification on arbitrary bytes: an error or a status, never a panic, and never
//! `Good` for bytes nobody signed.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let at = time::macros::datetime!(2027-01-01 00:00 UTC);
    for nonce in [false, true] {
        let request = honnin_verify::ocsp::request(&f.validated, nonce).expect("request");
        let status = honnin_verify::ocsp::verify_response(&f.validated, &request, data, at, Default::default());
        assert!(!matches!(status, Ok(honnin_verify::RevocationStatus::Good { .. })), "forged good");
    }
});
