//! An `openssl ca` directory around the honnin authority's own CA certificate and key, so both
//! sides sign with the same key under the same issuer name.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use honnin_authority::CaMaterial;

use crate::tools::{mkdir, write};

pub struct OpensslCa {
    pub config: PathBuf,
    pub ca_pem: PathBuf,
}

impl OpensslCa {
    /// Creates `dir` with the CA certificate and key, an empty index, `serial` and `crlnumber`
    /// files, and an `openssl.cnf` whose end-entity extensions are `ee_extensions` (config lines)
    /// and whose CRL extension is the authority key identifier, as honnin's CRLs carry.
    pub fn create(dir: &Path, ca: &CaMaterial, first_serial: u64, ee_extensions: &str) -> Result<Self> {
        let text = dir.to_string_lossy();
        if text.contains(['$', '"', '\\', '\n', '#']) {
            bail!("{text}: the openssl work directory must not contain $ \" \\ # or newlines");
        }
        mkdir(&dir.join("newcerts"))?;
        let ca_pem = dir.join("ca.pem");
        write(&ca_pem, ca.certificate.to_pem())?;
        write(&dir.join("ca.key"), ca.key.to_pkcs8_pem()?)?;
        write(&dir.join("index.txt"), "")?;
        write(&dir.join("index.txt.attr"), "unique_subject = no\n")?;
        write(&dir.join("serial"), format!("{first_serial:016X}\n"))?;
        write(&dir.join("crlnumber"), "01\n")?;
        let config = dir.join("openssl.cnf");
        write(
            &config,
            format!(
                "# Written by authority-bench.
dir = {text}

[ ca ]
default_ca = bench

[ bench ]
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_hours = 24
policy = policy_any
unique_subject = no
email_in_dn = no
preserve = yes
copy_extensions = none
x509_extensions = ee_ext
crl_extensions = crl_ext

[ policy_any ]
countryName = optional
localityName = optional
commonName = supplied

[ ee_ext ]
{ee_extensions}
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"
            ),
        )?;
        Ok(OpensslCa { config, ca_pem })
    }
}
