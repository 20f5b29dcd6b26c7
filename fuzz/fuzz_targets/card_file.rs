//! Any bytes given as a card file: parse or refuse, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = honnin_cardfile::CardFile::parse(data);
});
