//! CMS SignedData verification on arbitrary bytes, attached and detached: an answer, never a panic.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let at = time::macros::datetime!(2027-01-01 00:00 UTC);
    let _ = honnin_verify::cms::verify(&f.profile, data, None, at);
    let _ = honnin_verify::cms::verify(&f.profile, data, Some(b"content"), at);
});
