//! The certificate's attribute strings (birth date, substitute positions): parse or refuse, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = honnin_profile::BirthDate::parse(s);
        // First half of the characters as the text, the rest as its position string.
        let middle = s.char_indices().nth(s.chars().count() / 2).map_or(s.len(), |(i, _)| i);
        let (text, positions) = s.split_at(middle);
        let _ = honnin_profile::SubstitutedText::from_certificate("name", text, positions);
        let _ = honnin_profile::SubstitutedText::from_register(s);
    }
});
