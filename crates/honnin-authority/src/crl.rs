//! RFC 5280 v2 CRLs: one full CRL per CA, published when the revocation data changes or is due.
//!
//! The encoder is written by hand rather than through `x509-cert`'s `CertificateList`: a national
//! CRL has millions of entries, and building one typed struct per entry costs several times the
//! memory and time of writing the DER straight into one exactly-sized buffer (see `bench/`).

use der::Encode;
use honnin_profile::build::Issuer;
use honnin_profile::key::sha256_with_rsa;
use honnin_profile::{to_x509_time, Hierarchy, RevocationReason};
use sqlx::Row;
use time::OffsetDateTime;

use crate::store::{meta_i64, revision};
use crate::{Authority, AuthorityError};

/// One revoked certificate on a CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlEntry {
    pub serial: u64,
    /// Revocation time, Unix seconds.
    pub revoked_at: i64,
    pub reason: RevocationReason,
}

/// What a CRL says besides its entries.
#[derive(Clone, Copy, Debug)]
pub struct CrlHeader {
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(7);
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn len_of_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (8 - (len as u64).leading_zeros() as usize / 8)
    }
}

fn tlv_len(content: usize) -> usize {
    1 + len_of_len(content) + content
}

/// Minimal DER INTEGER content for an unsigned value.
fn uint_content(v: u64, buf: &mut [u8; 9]) -> &[u8] {
    buf[1..].copy_from_slice(&v.to_be_bytes());
    buf[0] = 0;
    let mut start = 1;
    while start < 8 && buf[start] == 0 {
        start += 1;
    }
    if buf[start] & 0x80 != 0 {
        start -= 1;
    }
    &buf[start..]
}

/// UTCTime (before 2050) or GeneralizedTime, "YYMMDDHHMMSSZ" / "YYYYMMDDHHMMSSZ", as RFC 5280 requires.
fn push_time(out: &mut Vec<u8>, unix: i64) {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let year = t.year();
    let two = |out: &mut Vec<u8>, v: u8| {
        out.push(b'0' + v / 10);
        out.push(b'0' + v % 10);
    };
    if year < 2050 {
        out.extend_from_slice(&[0x17, 13]);
        two(out, (year % 100) as u8);
    } else {
        out.extend_from_slice(&[0x18, 15]);
        two(out, (year / 100) as u8);
        two(out, (year % 100) as u8);
    }
    two(out, t.month() as u8);
    two(out, t.day());
    two(out, t.hour());
    two(out, t.minute());
    two(out, t.second());
    out.push(b'Z');
}

fn time_len(unix: i64) -> usize {
    let year = OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.year())
        .unwrap_or(1970);
    if year < 2050 {
        15
    } else {
        17
    }
}

/// reasonCode entry extension: SEQUENCE { SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED r } } }.
const REASON_EXT_PREFIX: [u8; 13] = [
    0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01,
];

fn entry_content_len(e: &CrlEntry) -> usize {
    let mut buf = [0u8; 9];
    let serial = uint_content(e.serial, &mut buf).len();
    // RFC 5280 §5.3.1: the reasonCode is absent rather than `unspecified`.
    let ext = if e.reason == RevocationReason::Unspecified {
        0
    } else {
        REASON_EXT_PREFIX.len() + 1
    };
    tlv_len(serial) + time_len(e.revoked_at) + ext
}

/// Builds and signs a CRL. `entries` should be sorted by serial (lookups and diffs rely on it).
pub fn encode_crl(ca: &Issuer<'_>, header: &CrlHeader, entries: &[CrlEntry]) -> Result<Vec<u8>, AuthorityError> {
    let issuer = ca.certificate.subject.to_der()?;
    let algorithm = sha256_with_rsa().to_der()?;
    let this_update = to_x509_time(header.this_update)?.to_der()?;
    let next_update = to_x509_time(header.next_update)?.to_der()?;
    // crlExtensions: authorityKeyIdentifier, cRLNumber.
    let mut exts = Vec::new();
    {
        let kid = &ca.certificate.key_identifier;
        let aki_value_len = tlv_len(kid.len()); // SEQUENCE { [0] keyIdentifier }
        let mut aki = vec![0x30];
        push_len(&mut aki, aki_value_len);
        aki.push(0x80);
        push_len(&mut aki, kid.len());
        aki.extend_from_slice(kid);
        let mut buf = [0u8; 9];
        let number = uint_content(header.number, &mut buf).to_vec();
        let mut num = vec![0x02];
        push_len(&mut num, number.len());
        num.extend_from_slice(&number);
        let mut list = Vec::new();
        for (oid, value) in [(&[0x55u8, 0x1D, 0x23][..], aki), (&[0x55u8, 0x1D, 0x14][..], num)] {
            let inner = tlv_len(oid.len()) + tlv_len(value.len());
            list.push(0x30);
            push_len(&mut list, inner);
            list.push(0x06);
            push_len(&mut list, oid.len());
            list.extend_from_slice(oid);
            list.push(0x04);
            push_len(&mut list, value.len());
            list.extend_from_slice(&value);
        }
        exts.push(0xA0);
        push_len(&mut exts, tlv_len(list.len()));
        exts.push(0x30);
        push_len(&mut exts, list.len());
        exts.extend_from_slice(&list);
    }
    let revoked_content: usize = entries.iter().map(|e| tlv_len(entry_content_len(e))).sum();
    let version = [0x02, 0x01, 0x01];
    let tbs_content = version.len()
        + algorithm.len()
        + issuer.len()
        + this_update.len()
        + next_update.len()
        + if entries.is_empty() {
            0
        } else {
            tlv_len(revoked_content)
        }
        + exts.len();
    let mut tbs = Vec::with_capacity(tlv_len(tbs_content));
    tbs.push(0x30);
    push_len(&mut tbs, tbs_content);
    tbs.extend_from_slice(&version);
    tbs.extend_from_slice(&algorithm);
    tbs.extend_from_slice(&issuer);
    tbs.extend_from_slice(&this_update);
    tbs.extend_from_slice(&next_update);
    if !entries.is_empty() {
        tbs.push(0x30);
        push_len(&mut tbs, revoked_content);
        let mut buf = [0u8; 9];
        for e in entries {
            tbs.push(0x30);
            push_len(&mut tbs, entry_content_len(e));
            let serial = uint_content(e.serial, &mut buf);
            tbs.push(0x02);
            push_len(&mut tbs, serial.len());
            tbs.extend_from_slice(serial);
            push_time(&mut tbs, e.revoked_at);
            if e.reason != RevocationReason::Unspecified {
                tbs.extend_from_slice(&REASON_EXT_PREFIX);
                tbs.push(e.reason.code());
            }
        }
    }
    tbs.extend_from_slice(&exts);
    debug_assert_eq!(tbs.len(), tlv_len(tbs_content));

    let signature = ca.key.sign_sha256(&tbs)?;
    let sig_len = signature.len() + 1;
    let outer = tbs.len() + algorithm.len() + tlv_len(sig_len);
    let mut crl = Vec::with_capacity(tlv_len(outer));
    crl.push(0x30);
    push_len(&mut crl, outer);
    crl.extend_from_slice(&tbs);
    crl.extend_from_slice(&algorithm);
    crl.push(0x03);
    push_len(&mut crl, sig_len);
    crl.push(0x00);
    crl.extend_from_slice(&signature);
    Ok(crl)
}

/// A CRL the authority has published.
#[derive(Clone, Debug)]
pub struct PublishedCrl {
    pub hierarchy: Hierarchy,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub der: std::sync::Arc<Vec<u8>>,
}

impl PublishedCrl {
    /// A strong validator for HTTP: one CRL number is one content.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.hierarchy.short(), self.number)
    }
}

/// A stored CRL is current while no revocation changed since it and it is not yet due: a new one is
/// issued once three quarters of its interval have passed, well before its nextUpdate.
fn is_fresh(this_update: i64, next_update: i64, crl_revision: i64, revision: i64, now: OffsetDateTime) -> bool {
    let due = this_update + (next_update - this_update) * 3 / 4;
    let now = now.unix_timestamp();
    crl_revision == revision && now < due && now >= this_update
}

/// How many old CRLs to keep per hierarchy besides the current one.
const KEEP_OLD_CRLS: i64 = 1;

impl Authority {
    /// The current CRL of a hierarchy, issuing a new one first if revocations changed since the
    /// last one or it is due (past three quarters of its interval).
    pub async fn current_crl(&self, hierarchy: Hierarchy, now: OffsetDateTime) -> Result<PublishedCrl, AuthorityError> {
        if let Some(crl) = self.fresh_crl(hierarchy, now, None).await? {
            return Ok(crl);
        }
        self.publish_crl(hierarchy, now).await
    }

    /// The latest stored CRL if it is still current. `cached` lets a caller skip loading DER it
    /// already holds (number, der).
    pub async fn fresh_crl(
        &self,
        hierarchy: Hierarchy,
        now: OffsetDateTime,
        cached: Option<&PublishedCrl>,
    ) -> Result<Option<PublishedCrl>, AuthorityError> {
        let rev = revision(self.pool(), hierarchy).await?;
        let row = sqlx::query(
            "SELECT number, this_update, next_update, revision FROM crls WHERE hierarchy = ? ORDER BY number DESC LIMIT 1",
        )
        .bind(hierarchy.short())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (number, this_update, next_update, crl_rev): (i64, i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        if !is_fresh(this_update, next_update, crl_rev, rev, now) {
            return Ok(None);
        }
        let der = match cached {
            Some(c) if c.number == number as u64 => c.der.clone(),
            _ => {
                let der: Vec<u8> = sqlx::query_scalar("SELECT der FROM crls WHERE hierarchy = ? AND number = ?")
                    .bind(hierarchy.short())
                    .bind(number)
                    .fetch_one(self.pool())
                    .await?;
                std::sync::Arc::new(der)
            }
        };
        Ok(Some(PublishedCrl {
            hierarchy,
            number: number as u64,
            this_update: OffsetDateTime::from_unix_timestamp(this_update).unwrap_or(now),
            next_update: OffsetDateTime::from_unix_timestamp(next_update).unwrap_or(now),
            der,
        }))
    }

    async fn publish_crl(&self, hierarchy: Hierarchy, now: OffsetDateTime) -> Result<PublishedCrl, AuthorityError> {
        let ca = self.ca(hierarchy).await?;
        let cadence = meta_i64(self.pool(), "crl_cadence_secs").await?;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let rev: i64 = sqlx::query_scalar("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?")
            .bind(format!("revision.{}", hierarchy.short()))
            .fetch_one(&mut *tx)
            .await?;
        let last = sqlx::query("SELECT number, this_update, next_update, revision FROM crls WHERE hierarchy = ? ORDER BY number DESC LIMIT 1")
            .bind(hierarchy.short())
            .fetch_optional(&mut *tx)
            .await?;
        let mut number = 1;
        if let Some(row) = last {
            let (n, this, next, crl_rev): (i64, i64, i64, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            // Another process published while we waited for the write lock.
            if is_fresh(this, next, crl_rev, rev, now) {
                drop(tx);
                return self
                    .fresh_crl(hierarchy, now, None)
                    .await?
                    .ok_or_else(|| AuthorityError::Corrupt {
                        dir: String::new(),
                        why: "a CRL vanished while it was read".into(),
                    });
            }
            number = n + 1;
        }
        let this = now.unix_timestamp();
        // Entries: every revoked certificate still within its validity, and holds for ever.
        let rows = sqlx::query(
            "SELECT serial, revoked_at, reason FROM certificates
             WHERE hierarchy = ? AND revoked_at IS NOT NULL AND (not_after >= ? OR reason = 6)
             ORDER BY serial",
        )
        .bind(hierarchy.short())
        .bind(this)
        .fetch_all(&mut *tx)
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            let reason: i64 = r.try_get(2)?;
            entries.push(CrlEntry {
                serial: r.try_get::<i64, _>(0)? as u64,
                revoked_at: r.try_get(1)?,
                reason: u8::try_from(reason)
                    .ok()
                    .and_then(RevocationReason::from_code)
                    .ok_or_else(|| AuthorityError::Corrupt {
                        dir: String::new(),
                        why: "revocation reason".into(),
                    })?,
            });
        }
        let header = CrlHeader {
            number: number as u64,
            this_update: OffsetDateTime::from_unix_timestamp(this).unwrap_or(now),
            next_update: OffsetDateTime::from_unix_timestamp(this + cadence).unwrap_or(now),
        };
        let der = encode_crl(
            &Issuer {
                certificate: &ca.certificate,
                key: &ca.key,
            },
            &header,
            &entries,
        )?;
        sqlx::query(
            "INSERT INTO crls (hierarchy, number, this_update, next_update, revision, der) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(hierarchy.short())
        .bind(number)
        .bind(this)
        .bind(this + cadence)
        .bind(rev)
        .bind(&der)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM crls WHERE hierarchy = ? AND number < ?")
            .bind(hierarchy.short())
            .bind(number - KEEP_OLD_CRLS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(PublishedCrl {
            hierarchy,
            number: number as u64,
            this_update: header.this_update,
            next_update: header.next_update,
            der: std::sync::Arc::new(der),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_content_is_minimal_and_positive() {
        let mut b = [0u8; 9];
        assert_eq!(uint_content(0, &mut b), &[0]);
        assert_eq!(uint_content(0x7F, &mut b), &[0x7F]);
        assert_eq!(uint_content(0x80, &mut b), &[0x00, 0x80]);
        assert_eq!(uint_content(0x0100, &mut b), &[0x01, 0x00]);
        assert_eq!(
            uint_content(u64::MAX, &mut b),
            &[0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 41_000_000] {
            let mut v = Vec::new();
            push_len(&mut v, len);
            assert_eq!(v.len(), len_of_len(len), "len {len}");
        }
    }

    #[test]
    fn times_are_utc_or_generalized() {
        let mut v = Vec::new();
        push_time(&mut v, 1_795_000_000); // 2026
        assert_eq!(&v[..2], &[0x17, 13]);
        assert_eq!(v.len(), time_len(1_795_000_000));
        let mut v = Vec::new();
        push_time(&mut v, 2_600_000_000); // 2052
        assert_eq!(&v[..2], &[0x18, 15]);
        assert_eq!(v.len(), time_len(2_600_000_000));
    }
}
