//! A sandbox root, one auth certificate it issued and a CMS message signed with it, made once per
//! fuzzing process.
use std::sync::OnceLock;

use honnin_profile::build::{build_auth, build_root, EndEntitySpec, Issuer, RootSpec};
use honnin_profile::{CaCertificate, Environment, Hierarchy, RsaKey, Serial};
use honnin_verify::{TrustProfile, Validated};
use time::macros::datetime;

pub struct Fixture {
    pub profile: TrustProfile,
    pub validated: Validated,
    /// A detached CMS SignedData over [`CONTENT`] by the certificate's key, with signed attributes:
    /// a valid message for targets to damage.
    pub cms: Vec<u8>,
}

/// The content `Fixture::cms` signs.
pub const CONTENT: &[u8] = b"content";

/// One DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// The TLVs one after another in `value` (trusted input: the fixture's own certificate).
fn children(value: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (len, header) = match rest[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (rest[2] as usize, 3),
            _ => (((rest[2] as usize) << 8) | rest[3] as usize, 4),
        };
        out.push(&rest[..header + len]);
        rest = &rest[header + len..];
    }
    out
}

/// A TLV's value (its header skipped).
fn value(t: &[u8]) -> &[u8] {
    let header = match t[1] {
        n if n < 0x80 => 2,
        0x81 => 3,
        _ => 4,
    };
    &t[header..]
}

/// `ContentInfo { SignedData }` as `openssl cms -sign -md sha256` makes it: detached content, the
/// signer's certificate, contentType + signingTime + messageDigest signed.
fn signed_message(certificate: &[u8], key: &RsaKey, content: &[u8]) -> Vec<u8> {
    let oid = |der: &[u8]| tlv(0x06, der);
    let id_data = oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01]);
    let sha256 = tlv(0x30, &oid(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]));
    let attribute = |id: u8, v: Vec<u8>| {
        let mut a = oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, id]);
        a.extend(tlv(0x31, &v));
        tlv(0x30, &a)
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content);
    let mut attrs = [
        attribute(3, id_data.clone()),
        attribute(5, tlv(0x17, b"270101000000Z")),
        attribute(4, tlv(0x04, digest.as_ref())),
    ];
    attrs.sort();
    let attrs = attrs.concat();
    let signature = key.sign_sha256(&tlv(0x31, &attrs)).expect("sign");
    let tbs = children(value(certificate))[0];
    let fields = children(value(tbs));
    let (serial, issuer) = (fields[1], fields[3]);
    let mut rsa = oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]);
    rsa.extend([0x05, 0x00]);
    let signer_info = tlv(
        0x30,
        &[
            tlv(0x02, &[1]),
            tlv(0x30, &[issuer, serial].concat()),
            sha256.clone(),
            tlv(0xA0, &attrs),
            tlv(0x30, &rsa),
            tlv(0x04, &signature),
        ]
        .concat(),
    );
    let signed_data = tlv(
        0x30,
        &[
            tlv(0x02, &[1]),
            tlv(0x31, &sha256),
            tlv(0x30, &id_data),
            tlv(0xA0, certificate),
            tlv(0x31, &signer_info),
        ]
        .concat(),
    );
    let mut info = oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]);
    info.extend(tlv(0xA0, &signed_data));
    tlv(0x30, &info)
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
        let der = build_auth(
            &Issuer {
                certificate: &root,
                key: &key,
            },
            &ee,
            "ID",
        )
        .expect("ee");
        let profile = TrustProfile::sandbox(&[&root.der]).expect("profile");
        let at = datetime!(2027-01-01 00:00 UTC);
        let validated = profile.validate(&der, at).expect("valid");
        let cms = signed_message(&der, &holder, CONTENT);
        honnin_verify::cms::verify(&profile, &cms, Some(CONTENT), at).expect("the fixture's CMS message verifies");
        Fixture {
            profile,
            validated,
            cms,
        }
    })
}
