//! Any bytes given as a root certificate or PEM bundle: parse or refuse, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = honnin_profile::CaCertificate::from_der(data);
    let _ = honnin_profile::certificates_from_pem_or_der(data);
});
