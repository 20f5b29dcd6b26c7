//! CMS SignedData verification on arbitrary bytes, attached and detached: an answer, never a panic.
//! The input is also spliced into a valid signed message (overwriting or inserting at a position it
//! chooses), so that the hand-written framing deep inside a real message is exercised; whatever
//! still verifies must carry the content that was signed.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let at = time::macros::datetime!(2027-01-01 00:00 UTC);
    let _ = honnin_verify::cms::verify(&f.profile, data, None, at);
    let _ = honnin_verify::cms::verify(&f.profile, data, Some(b"content"), at);
    if let [a, b, rest @ ..] = data {
        let mut message = f.cms.clone();
        let pos = (usize::from(*a & 0x7F) << 8 | usize::from(*b)) % message.len();
        if *a & 0x80 == 0 {
            let end = (pos + rest.len()).min(message.len());
            message[pos..end].copy_from_slice(&rest[..end - pos]);
        } else {
            message.splice(pos..pos, rest.iter().copied());
        }
        for detached in [common::CONTENT, b"other"] {
            if let Ok(s) = honnin_verify::cms::verify(&f.profile, &message, Some(detached), at) {
                assert_eq!(s.content, common::CONTENT, "a damaged message verified other content");
            }
        }
    }
});
