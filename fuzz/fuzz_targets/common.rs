//! A sandbox root and one auth certificate it issued, made once per fuzzing process.
use std::sync::OnceLock;

use honnin_profile::build::{build_auth, build_root, EndEntitySpec, Issuer, RootSpec};
use honnin_profile::{CaCertificate, Environment, Hierarchy, RsaKey, Serial};
use honnin_verify::{TrustProfile, Validated};
use time::macros::datetime;

pub struct Fixture {
    pub profile: TrustProfile,
    pub validated: Validated,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = RsaKey::generate().expect("key");
        let spec = RootSpec {
            environment: Environment::Sandbox,
            hierarchy: Hierarchy::Authentication,
            serial: Serial::from_u64(1),
            not_before: datetime!(2020-01-01 00:00 UTC),
            not_after: datetime!(2035-01-01 00:00 UTC),
        };
        let root = CaCertificate::from_der(&build_root(&spec, &key).expect("root")).expect("root");
        let holder = RsaKey::generate().expect("key");
        let ee = EndEntitySpec {
            serial: Serial::from_u64(0x0100_0000_0000_0001),
            not_before: datetime!(2026-01-01 00:00 UTC),
            not_after: datetime!(2030-01-01 00:00 UTC),
            public_key_pkcs1: holder.public_key_pkcs1().to_vec(),
            prefecture: "P".into(),
            municipality: "M".into(),
        };
        let der = build_auth(&Issuer { certificate: &root, key: &key }, &ee, "ID").expect("ee");
        let profile = TrustProfile::sandbox(&[&root.der]).expect("profile");
        let validated = profile.validate(&der, datetime!(2027-01-01 00:00 UTC)).expect("valid");
        Fixture { profile, validated }
    })
}
