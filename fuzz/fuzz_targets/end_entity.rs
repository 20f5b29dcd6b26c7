//! Any bytes given as a JPKI end-entity certificate: parse or refuse, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = honnin_profile::parse_end_entity(data);
    let _ = honnin_profile::signed_parts(data);
});
