//! The CRL index's streaming parser on arbitrary bytes: index or refuse, never panic; every lookup
//! of an indexed CRL is answerable.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(index) = honnin_verify::crl::CrlIndex::parse_unverified(data) {
        let _ = index.lookup(&data[..data.len().min(9)]);
        let _ = index.lookup_u64(u64::from_le_bytes(std::array::from_fn(|i| data.get(i).copied().unwrap_or(0))));
    }
});
