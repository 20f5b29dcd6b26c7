//! The emulator's command handler on arbitrary APDU sequences: every input gets a status word.
#![no_main]
use std::sync::OnceLock;

use honnin_cardfile::{Bytes, CardFile, JpkiAp, KeySlot, Pin, Surface};
use honnin_emulator::Emulator;

fn card() -> &'static CardFile {
    static CARD: OnceLock<CardFile> = OnceLock::new();
    CARD.get_or_init(|| {
        let key = honnin_profile::RsaKey::generate().expect("key").to_pkcs8().expect("pkcs8");
        let slot = KeySlot { certificate: Bytes(vec![0x30, 0x03, 0x02, 0x01, 0x01]), private_key: Bytes(key), ca_certificate: Bytes(vec![0x30, 0x00]) };
        CardFile {
            format: honnin_cardfile::FORMAT.into(),
            card_id: "FUZZ".into(),
            environment: "sandbox".into(),
            jpki: JpkiAp {
                token: "JPKIAPICCTOKEN2".into(),
                auth: slot.clone(),
                auth_pin: Pin::new("1234", 3),
                sign: Some(slot),
                sign_password: Some(Pin::new("ABC123", 5)),
            },
            surface: Surface {
                my_number: "123456789018".into(),
                name: "A".into(),
                address: "B".into(),
                birth_date: "19900102".into(),
                sex: "1".into(),
                card_expiry: "20361121".into(),
                security_code: "1234".into(),
                municipality: "M".into(),
            },
            kenhojo_pin: Pin::new("1234", 3),
            juki_pin: Pin::new("1234", 3),
            pin_a: Pin::new("123456789018", 10),
            pin_b: Pin::new("90010220361234", 10),
            kenhojo_files: [(2u16, Bytes(vec![0xFF, 0x20, 0x03, 0xDF, 0x22, 0x00]))].into_iter().collect(),
            kenkaku_files: Default::default(),
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut e = Emulator::in_memory(card().clone()).expect("emulator");
    // Each APDU is a length byte and that many bytes.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        let answer = e.handle(&tail[..n]);
        assert!(answer.len() >= 2);
        rest = &tail[n..];
    }
});
