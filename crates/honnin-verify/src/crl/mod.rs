//! `CrlIndex`: revocation data of a whole CA in a compact, read-only index.
//!
//! Hand-written rather than built on a generic CRL type: a national CRL has tens of millions of
//! entries, and materialising one struct per entry (with its owned serial, time and extensions) costs
//! gigabytes and seconds. Here one streaming pass over the DER fills flat arrays (serial, revocation
//! time as u32 seconds, reason), from which a serial table is laid out (`table.rs`): a lookup reads
//! one cache line found by a multiplication, and a hit's time beside it. About 15 bytes per entry, no
//! allocation per lookup; many lookups at once (`lookup_many`) overlap their memory reads. Large
//! arrays ask for 2 MiB pages. The signature is checked on the second core while the first parses.

mod table;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use honnin_profile::dates::days_from_civil;
use honnin_profile::{signed_parts, CaCertificate, Hierarchy, RevocationReason};
use time::OffsetDateTime;

use crate::{RevocationStatus, StatusSource, TrustProfile, Validated, VerifyError};
use table::SerialTable;

/// A verified CRL, indexed.
#[derive(Debug)]
pub struct CrlIndex {
    issuer_key_id: Vec<u8>,
    hierarchy: Hierarchy,
    number: Option<u64>,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    /// Each serial of up to 8 bytes with its reason and revocation time.
    table: SerialTable,
    /// Entries with serials of up to 8 bytes (duplicates included).
    short: usize,
    /// Serials longer than 8 bytes (none in JPKI; kept for correctness), sorted.
    long: Vec<(Vec<u8>, u32, u8)>,
}

/// One CRL entry as the index holds it: reason code and revocation time in Unix seconds. Converting
/// to `OffsetDateTime` is left to the caller that needs it, off the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    reason: u8,
    revoked_at: u32,
}

impl Revocation {
    pub fn reason(self) -> RevocationReason {
        RevocationReason::from_code(self.reason).unwrap_or(RevocationReason::Unspecified)
    }

    pub fn revoked_at_unix(self) -> u32 {
        self.revoked_at
    }

    pub fn revoked_at(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.revoked_at as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// No reasonCode extension on the entry.
const NO_REASON: u8 = 0xFF;

fn bad(what: &str) -> VerifyError {
    VerifyError::Malformed(format!("CRL: {what}"))
}

/// One TLV header at `pos`: (tag, content start, content end).
#[inline(always)]
fn tlv(buf: &[u8], pos: usize) -> Result<(u8, usize, usize), VerifyError> {
    let tag = *buf.get(pos).ok_or_else(|| bad("truncated"))?;
    let first = *buf.get(pos + 1).ok_or_else(|| bad("truncated"))?;
    let (len, start) = if first < 0x80 {
        (first as usize, pos + 2)
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 {
            return Err(bad("unsupported length"));
        }
        let bytes = buf.get(pos + 2..pos + 2 + n).ok_or_else(|| bad("truncated"))?;
        (bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize), pos + 2 + n)
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| bad("a length runs past the end"))?;
    Ok((tag, start, end))
}

/// Eight ASCII digits (little-endian bytes of `x`) as four two-digit numbers, or `None` if any byte
/// is not a digit. Done on the whole word at once: a CRL of ten million entries has as many times
/// (callgrind, a fresh process indexing 1 M entries: 440 M instructions against 463 M digit by
/// digit).
#[inline(always)]
fn digit_pairs(x: u64) -> Option<[i64; 4]> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // Every byte 0x30–0x3F, and still so with 6 added (no byte can carry into the next): 0–9.
    if x & HIGH != ZEROS || (x + 0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    let d = x & 0x0F0F_0F0F_0F0F_0F0F;
    // Byte 2k becomes 10 × digit 2k + digit 2k+1; no byte exceeds 99, so none carries.
    let t = d * 10 + (d >> 8);
    Some([0, 16, 32, 48].map(|k| ((t >> k) & 0xFF) as i64))
}

/// UTCTime or GeneralizedTime (the `Z` forms RFC 5280 allows) to Unix seconds.
#[inline(always)]
fn parse_time(tag: u8, v: &[u8]) -> Result<i64, VerifyError> {
    let not_digits = || bad("a time is not digits");
    let word = |at: usize| -> Result<[i64; 4], VerifyError> {
        let bytes = v
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .ok_or_else(not_digits)?;
        digit_pairs(u64::from_le_bytes(bytes)).ok_or_else(not_digits)
    };
    // The first eight digits, then the last eight (overlapping, for the 12 or 14 there are).
    let (year, mo, da, h, mi, s) = match (tag, v.len()) {
        (0x17, 13) => {
            let ([yy, mo, da, h], [_, _, mi, s]) = (word(0)?, word(4)?);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, mo, da, h, mi, s)
        }
        (0x18, 15) => {
            let ([cc, yy, mo, da], [_, h, mi, s]) = (word(0)?, word(6)?);
            (cc * 100 + yy, mo, da, h, mi, s)
        }
        _ => return Err(bad("a time is not UTCTime or GeneralizedTime in Z form")),
    };
    if v.last() != Some(&b'Z') {
        return Err(bad("a time is not in UTC"));
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 60 {
        return Err(bad("a time is out of range"));
    }
    Ok(days_from_civil(year, mo, da) * 86400 + h * 3600 + mi * 60 + s)
}

fn to_time(secs: i64) -> Result<OffsetDateTime, VerifyError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad("a time is out of range"))
}

/// What the TBSCertList says besides its entries.
struct Header<'a> {
    issuer: &'a [u8],
    this_update: i64,
    next_update: Option<i64>,
    entries: Option<(usize, usize)>,
    key_id: Option<&'a [u8]>,
    number: Option<u64>,
}

fn parse_header(tbs: &[u8]) -> Result<Header<'_>, VerifyError> {
    let (tag, mut pos, end) = tlv(tbs, 0)?;
    if tag != 0x30 {
        return Err(bad("TBSCertList is not a SEQUENCE"));
    }
    let (mut tag, s, mut e) = tlv(tbs, pos)?;
    if tag == 0x02 {
        if tbs[s..e] != [1] {
            return Err(bad("only v2 CRLs are supported"));
        }
        pos = e;
        (tag, _, e) = tlv(tbs, pos)?;
    }
    if tag != 0x30 {
        return Err(bad("no signature algorithm"));
    }
    pos = e;
    let (tag, _, e) = tlv(tbs, pos)?;
    if tag != 0x30 {
        return Err(bad("no issuer"));
    }
    let issuer = &tbs[pos..e];
    pos = e;
    let (tag, s, e) = tlv(tbs, pos)?;
    let this_update = parse_time(tag, &tbs[s..e])?;
    pos = e;
    let mut header = Header {
        issuer,
        this_update,
        next_update: None,
        entries: None,
        key_id: None,
        number: None,
    };
    while pos < end {
        let (tag, s, e) = tlv(tbs, pos)?;
        match tag {
            0x17 | 0x18 => header.next_update = Some(parse_time(tag, &tbs[s..e])?),
            0x30 => header.entries = Some((s, e)),
            0xA0 => parse_extensions(&tbs[s..e], &mut header)?,
            _ => return Err(bad("unexpected field in TBSCertList")),
        }
        pos = e;
    }
    Ok(header)
}

/// One `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`,
/// of the CRL or of an entry.
struct Extension<'a> {
    oid: &'a [u8],
    critical: bool,
    value: &'a [u8],
}

/// The extensions of the `SEQUENCE OF Extension` at `pos`, each read within its own bounds (a
/// length inside one cannot reach into the next), with `each`.
fn for_each_extension<'a>(
    buf: &'a [u8],
    pos: usize,
    mut each: impl FnMut(Extension<'a>) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let (tag, mut at, end) = tlv(buf, pos)?;
    if tag != 0x30 {
        return Err(bad("extensions are not a SEQUENCE"));
    }
    while at < end {
        let (tag, s, e) = tlv(&buf[..end], at)?;
        if tag != 0x30 {
            return Err(bad("an extension is not a SEQUENCE"));
        }
        let ext = &buf[..e];
        let (otag, os, oe) = tlv(ext, s)?;
        if otag != 0x06 {
            return Err(bad("an extension without an OID"));
        }
        let (mut vtag, mut vs, mut ve) = tlv(ext, oe)?;
        let mut critical = false;
        if vtag == 0x01 {
            critical = ext.get(vs) == Some(&0xFF);
            (vtag, vs, ve) = tlv(ext, ve)?;
        }
        if vtag != 0x04 || ve != e {
            return Err(bad("an extension value is not one OCTET STRING"));
        }
        each(Extension {
            oid: &buf[os..oe],
            critical,
            value: &buf[vs..ve],
        })?;
        at = e;
    }
    Ok(())
}

fn parse_extensions<'a>(field: &'a [u8], header: &mut Header<'a>) -> Result<(), VerifyError> {
    for_each_extension(field, 0, |Extension { oid, critical, value }| {
        match oid {
            [0x55, 0x1D, 0x23] => {
                // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier … }
                let (_, s, e) = tlv(value, 0)?;
                if s < e {
                    let (t, ks, ke) = tlv(value, s)?;
                    if t == 0x80 {
                        header.key_id = Some(&value[ks..ke]);
                    }
                }
            }
            [0x55, 0x1D, 0x14] => {
                let (_, s, e) = tlv(value, 0)?;
                header.number = value[s..e]
                    .iter()
                    .try_fold(0u64, |a, &b| a.checked_mul(256).map(|a| a + b as u64));
            }
            [0x55, 0x1D, 0x1B] => return Err(bad("delta CRLs are not supported")),
            _ if critical => return Err(bad("unknown critical CRL extension")),
            _ => {}
        }
        Ok(())
    })
}

/// A reasonCode value RFC 5280 defines (0–10; 7 is unused).
fn reason_code(r: u8) -> Option<u8> {
    (r <= 10 && r != 7).then_some(r)
}

/// An entry's extensions when they are only a reasonCode, as a CA writes them, all but the code:
/// `SEQUENCE { SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED r } } }`. Matched whole, this
/// spares the general walk five TLV headers an entry.
const REASON_ONLY: [u8; 13] = [
    0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01,
];

/// The entries, parsed in one pass: (serials, times, reasons, long serials, sorted?).
type Entries = (Vec<u64>, Vec<u32>, Vec<u8>, Vec<(Vec<u8>, u32, u8)>, bool);

fn parse_entries(buf: &[u8], start: usize, end: usize) -> Result<Entries, VerifyError> {
    // No entry is shorter than 20 bytes (SEQUENCE, a one-byte INTEGER, a UTCTime), so this capacity
    // is never outgrown: a regrowth would copy the arrays. What is not filled is address space only
    // (untouched pages are never backed). They only feed the serial table and are dropped: no 2 MiB
    // pages for them. With them, a fresh process's build at ten million entries took 0.55–0.85 s
    // in half the tries (the first touch of 2 MiB pages the guest has not used yet), against
    // 0.37–0.48 s without, on an Intel guest.
    let most = (end - start) / MIN_ENTRY_BYTES + 1;
    let mut serials = Vec::with_capacity(most);
    let mut times = Vec::with_capacity(most);
    let mut reasons = Vec::with_capacity(most);
    let mut long = Vec::new();
    let mut sorted = true;
    let mut prev = 0u64;
    let mut pos = start;
    while pos < end {
        let (tag, es, ee) = tlv(buf, pos)?;
        if tag != 0x30 {
            return Err(bad("an entry is not a SEQUENCE"));
        }
        let (tag, ss, se) = tlv(buf, es)?;
        if tag != 0x02 || ss == se {
            return Err(bad("an entry has no serial number"));
        }
        let mut serial = &buf[ss..se];
        if serial.len() > 1 && serial[0] == 0 {
            serial = &serial[1..];
        }
        let (ttag, ts, te) = tlv(buf, se)?;
        let secs = parse_time(ttag, &buf[ts..te])?;
        let secs = u32::try_from(secs).map_err(|_| bad("a revocation time is outside 1970–2106"))?;
        let mut reason = NO_REASON;
        let only_reason = match buf.get(te..ee) {
            Some([shape @ .., r]) if shape == REASON_ONLY => reason_code(*r),
            _ => None,
        };
        if let Some(r) = only_reason {
            reason = r;
        } else if te < ee {
            for_each_extension(&buf[..ee], te, |ext| {
                if ext.oid == [0x55, 0x1D, 0x15] {
                    // reasonCode: OCTET STRING { ENUMERATED r }
                    match ext.value {
                        [0x0A, 0x01, r] if reason_code(*r).is_some() => reason = *r,
                        _ => return Err(bad("a reasonCode is malformed")),
                    }
                } else if ext.critical && ext.oid != [0x55, 0x1D, 0x18] {
                    // invalidityDate is harmless; certificateIssuer (indirect CRL) and others are not.
                    return Err(bad("unknown critical entry extension"));
                }
                Ok(())
            })?;
        }
        if serial.len() <= 8 {
            let v = serial.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
            if v <= prev && !serials.is_empty() {
                sorted = false;
            }
            prev = v;
            serials.push(v);
            times.push(secs);
            reasons.push(reason);
        } else {
            long.push((serial.to_vec(), secs, reason));
        }
        pos = ee;
    }
    Ok((serials, times, reasons, long, sorted))
}

impl CrlIndex {
    /// Verifies a DER CRL against the profile's roots (issuer by key identifier and signature) and
    /// builds the index. A CRL whose thisUpdate is after `at` is refused; staleness (past nextUpdate)
    /// is judged at each lookup, so an index can be kept until its successor arrives.
    pub fn build(profile: &TrustProfile, der: &[u8], at: OffsetDateTime) -> Result<Self, VerifyError> {
        let (tbs, algorithm, signature) = signed_parts(der).map_err(|e| bad(&e.to_string()))?;
        let header = parse_header(tbs)?;
        let candidates: Vec<&CaCertificate> = profile
            .roots()
            .iter()
            .filter(|r| header.key_id.is_none_or(|k| k == r.key_identifier.as_slice()))
            .filter(|r| {
                der::Encode::to_der(&r.subject)
                    .map(|s| s == header.issuer)
                    .unwrap_or(false)
            })
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::CrlUnknownIssuer);
        }
        // Hash and verify on one core while the other parses.
        let (issuer, index) = std::thread::scope(|scope| {
            let verifier = scope.spawn(|| {
                candidates
                    .iter()
                    .find(|r| r.verify_signature(&algorithm, tbs, signature).is_ok())
                    .copied()
            });
            let index = Self::parse_unverified(der);
            (verifier.join().ok().flatten(), index)
        });
        let issuer = issuer.ok_or(VerifyError::BadSignature)?;
        let mut index = index?;
        if index.this_update > at {
            return Err(VerifyError::CrlNotYetValid(index.this_update));
        }
        index.issuer_key_id = issuer.key_identifier.clone();
        index.hierarchy = issuer.hierarchy;
        Ok(index)
    }

    /// Parses and indexes a CRL **without checking its signature or issuer**: for benchmarks and for
    /// callers that verified it otherwise. Never use its answers as revocation status unverified.
    pub fn parse_unverified(der: &[u8]) -> Result<Self, VerifyError> {
        let (tbs, _, _) = signed_parts(der).map_err(|e| bad(&e.to_string()))?;
        let header = parse_header(tbs)?;
        let (mut serials, mut times, mut reasons, mut long, sorted) = match header.entries {
            Some((s, e)) => parse_entries(tbs, s, e)?,
            None => (Vec::new(), Vec::new(), Vec::new(), Vec::new(), true),
        };
        if !sorted {
            let mut order: Vec<u32> = (0..serials.len() as u32).collect();
            order.sort_unstable_by_key(|&i| serials[i as usize]);
            serials = permuted(&serials, &order);
            times = permuted(&times, &order);
            reasons = permuted(&reasons, &order);
        }
        long.sort();
        if serials.len() > u32::MAX as usize {
            return Err(bad("more entries than the index can hold"));
        }
        let table = SerialTable::build(&serials, &reasons, &times);
        let short = serials.len();
        drop((serials, reasons, times));
        Ok(CrlIndex {
            issuer_key_id: header.key_id.map(<[u8]>::to_vec).unwrap_or_default(),
            hierarchy: Hierarchy::Signing,
            number: header.number,
            this_update: to_time(header.this_update)?,
            next_update: header.next_update.map(to_time).transpose()?,
            table,
            short,
            long,
        })
    }

    /// The revocation of a serial (magnitude bytes, big-endian), if the CRL lists it.
    #[inline]
    pub fn lookup(&self, serial: &[u8]) -> Option<Revocation> {
        // Up to 8 bytes (every JPKI serial): one load, whatever leading zeros it has.
        if serial.len() <= 8 {
            let mut bytes = [0u8; 8];
            bytes[8 - serial.len()..].copy_from_slice(serial);
            return self.lookup_u64(u64::from_be_bytes(bytes));
        }
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        let serial = &serial[start..];
        if serial.len() <= 8 {
            self.lookup_u64(serial.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
        } else {
            let i = self.long.binary_search_by(|(s, _, _)| s.as_slice().cmp(serial)).ok()?;
            let (_, t, r) = &self.long[i];
            Some(Revocation {
                reason: *r,
                revoked_at: *t,
            })
        }
    }

    /// The revocation of a serial that fits 64 bits: a multiplication, one cache line (rarely the
    /// next too), and for a listed serial its time. No allocation. For many serials at once,
    /// [`CrlIndex::lookup_many`] is faster on a large index.
    #[inline]
    pub fn lookup_u64(&self, serial: u64) -> Option<Revocation> {
        let home = self.table.home(serial)?;
        // Fetching the home line's times now overlaps their miss with the line's, instead of
        // waiting for the line to say which slot (at 10 M both are misses).
        self.table.prefetch_times(home);
        self.table.revocation(self.table.find_from(home)?)
    }

    /// The revocations of many serials at once: `out[i]` for `serials[i]`, as far as both slices
    /// reach. The same answers as `lookup_u64` one after another, and faster on an index larger than
    /// the caches: the lookups go through a pipeline whose stages prefetch what the next stage reads
    /// (the serial's line, then a listed serial's time), so the misses of dozens of lookups overlap.
    /// For bulk work such as checking every user of a tenant against a new CRL. No allocation.
    pub fn lookup_many(&self, serials: &[u64], out: &mut [Option<Revocation>]) {
        // While lookup i is answered, i+D compares its line and has its time fetched, and i+2D has
        // its line fetched. Unlike `lookup_u64`, only a listed serial's time is fetched: with
        // dozens of lookups in flight, the memory system, not waiting, is the limit (at 10 M on an
        // Intel guest, 38–40 M lookups/s against 31–34 fetching every home line's times).
        const D: usize = 16;
        const RING: usize = 3 * D;
        let n = serials.len().min(out.len());
        let mut home = [None; RING];
        let mut found = [None; RING];
        for step in 0..n + 2 * D {
            // 1. The line of lookup `step`.
            if let Some(&key) = serials[..n].get(step) {
                let h = self.table.home(key);
                if let Some(h) = h {
                    self.table.prefetch_line(h);
                }
                home[step % RING] = h;
            }
            // 2. The comparison of lookup `step - D`; a hit's time is fetched.
            if let Some(j) = step.checked_sub(D).filter(|&j| j < n) {
                let f = home[j % RING].and_then(|h| self.table.find_from(h));
                if let Some(f) = f {
                    self.table.prefetch_time(f);
                }
                found[j % RING] = f;
            }
            // 3. The answer of lookup `step - 2D`.
            if let Some(j) = step.checked_sub(2 * D).filter(|&j| j < n) {
                out[j] = found[j % RING].and_then(|f| self.table.revocation(f));
            }
        }
    }

    /// The status of a validated certificate at `at`. Unknown when the CRL is from another CA
    /// generation or hierarchy, or past its nextUpdate (fail closed).
    pub fn status(&self, certificate: &Validated, at: OffsetDateTime) -> RevocationStatus {
        if certificate.issuer.key_identifier != self.issuer_key_id || certificate.hierarchy() != self.hierarchy {
            return RevocationStatus::unknown("the CRL is not from the certificate's issuer");
        }
        if at < self.this_update {
            return RevocationStatus::unknown("the CRL is newer than the time checked");
        }
        match self.next_update {
            Some(next) if at > next => {
                return RevocationStatus::unknown(format!("the CRL is stale (nextUpdate {next} has passed)"));
            }
            None => return RevocationStatus::unknown("the CRL has no nextUpdate, so its freshness is unknown"),
            _ => {}
        }
        match self.lookup(certificate.certificate.info().serial.as_bytes()) {
            Some(r) => RevocationStatus::Revoked {
                source: StatusSource::Crl,
                reason: r.reason(),
                revoked_at: r.revoked_at(),
            },
            None => RevocationStatus::Good {
                source: StatusSource::Crl,
                checked_at: self.this_update,
            },
        }
    }

    /// The hierarchy of the root that issued the CRL (signing for an unverified index).
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    pub fn len(&self) -> usize {
        self.short + self.long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn number(&self) -> Option<u64> {
        self.number
    }

    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }

    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
    }

    /// Bytes the index holds (the serial table with its times), for capacity planning. Counts what
    /// is filled: the large arrays keep an unfilled reserve that is address space, never touched.
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes() + self.long.iter().map(|(s, _, _)| s.len() + 32).sum::<usize>()
    }
}

/// The shortest CRL entry: SEQUENCE header (2), a one-byte INTEGER (3), a UTCTime (15).
const MIN_ENTRY_BYTES: usize = 20;

/// A transparent huge page.
const HUGE_PAGE: usize = 2 << 20;

/// The least an array must write before it is given 2 MiB pages: one (only whole pages among what
/// it will surely write are advised). At a million entries the lines' times (about 4 MB surely
/// written) in 4 KiB pages, faulted in one by one, took a fresh process's build 40–49 ms, against
/// 37–40 ms with 2 MiB pages where whole ones fit (an Intel guest, alternating).
const HUGE_FROM_BYTES: usize = HUGE_PAGE;

/// `src` in the order `order` gives.
fn permuted<T: Copy>(src: &[T], order: &[u32]) -> Vec<T> {
    order.iter().map(|&i| src[i as usize]).collect()
}

/// Whether an array that writes `written` elements is given 2 MiB pages ([`HugeFill`]).
fn is_huge<T>(written: usize) -> bool {
    written * size_of::<T>() >= HUGE_FROM_BYTES
}

/// Asks the kernel to back the whole 2 MiB pages among elements `from..to` of a vector's buffer
/// (within its capacity) with huge pages, before they are first written. A lookup touches one or
/// two random places in the index (its line, and a listed serial's time), ~15 MB at a million
/// entries and ~150 MB at ten million; with 4 KiB pages each is also a TLB miss and a page walk
/// (lookups at 10 M on an Intel guest, with the earlier sorted arrays: 2–6 M/s in 4 KiB pages,
/// 15–16 M/s in 2 MiB pages; `lookup_u64` at 1 M on an AMD guest, run alternately, the lines in
/// 2 MiB pages: 15–19 M/s against 11–15). A process's first build faults its huge pages in from
/// memory it has not touched yet, which costs more per MB than 4 KiB pages on some hosts; on the
/// AMD guest the fresh build at 1 M did not slow (docs/benchmarks.md). Linux gives such pages to
/// anonymous memory only on request (`transparent_hugepage` is `madvise` on Debian).
#[cfg(target_os = "linux")]
fn advise_huge<T>(v: &Vec<T>, from: usize, to: usize) {
    let start = v.as_ptr() as usize;
    let size = size_of::<T>();
    let to = to.min(v.capacity());
    let (first, end) = (
        (start + from * size).next_multiple_of(HUGE_PAGE),
        (start + to * size) / HUGE_PAGE * HUGE_PAGE,
    );
    if end > first {
        // SAFETY: the range is whole 2 MiB pages inside the vector's own allocation; MADV_HUGEPAGE
        // changes neither contents nor mappings, only how later page faults are served. Failing
        // (no THP in this kernel) leaves 4 KiB pages, which are correct, only slower.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge<T>(_: &Vec<T>, _: usize, _: usize) {}

/// A vector filled once, in order, whose elements that will surely be written get 2 MiB pages
/// ahead of being written (the whole pages among them, when they are [`HUGE_FROM_BYTES`] or more;
/// see [`advise_huge`]), more of them as what is sure grows. Nothing is advised that will not be
/// written, so no huge page is backed in part and the memory kept is what is filled.
struct HugeFill<T> {
    v: Vec<T>,
    /// The elements advised so far (from the start); only what was sure at first unless that was
    /// enough for 2 MiB pages ([`is_huge`]), so it also tells whether the vector has them.
    advised: usize,
}

impl<T> HugeFill<T> {
    /// Room for `capacity`, of which `sure` will surely be written.
    fn new(capacity: usize, sure: usize) -> Self {
        let v = Vec::with_capacity(capacity);
        if is_huge::<T>(sure) {
            advise_huge(&v, 0, sure);
        }
        HugeFill { v, advised: sure }
    }

    /// Whether the vector has 2 MiB pages.
    fn huge(&self) -> bool {
        is_huge::<T>(self.advised)
    }

    /// Now `sure` elements will surely be written: once that reaches a 2 MiB page beyond those
    /// advised, advises the unwritten whole pages up to it. Between two such pages it does nothing,
    /// so calling it after every step costs no system call.
    fn advise_up_to(&mut self, sure: usize) {
        let page = |n: usize| (self.v.as_ptr() as usize + n * size_of::<T>()) / HUGE_PAGE;
        if self.huge() && page(sure) > page(self.advised) {
            advise_huge(&self.v, self.v.len(), sure);
            self.advised = sure;
        }
    }

    /// The filled vector. Without 2 MiB pages its unfilled reserve is given back; with them it is
    /// kept: shrinking reallocates (the allocator cannot resize a mapping that the advice has
    /// split), copying the array into 4 KiB pages, and the reserve is never touched, so it costs no
    /// memory.
    fn finish(mut self) -> Vec<T> {
        debug_assert!(
            !self.huge() || self.v.len() >= self.advised,
            "2 MiB pages were advised past the elements written"
        );
        if !self.huge() {
            self.v.shrink_to_fit();
        }
        self.v
    }
}

/// Starts fetching the cache line of `r` without waiting for it.
#[inline(always)]
fn prefetch<T: ?Sized>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of x86-64, and a prefetch reads nothing (the address is a live
        // reference anyway), so it cannot fault or change memory.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// The current CRL index of one CA, replaced atomically when a new CRL arrives. Readers never block
/// and keep the index they loaded until they drop it.
#[derive(Default)]
pub struct CrlStore {
    current: ArcSwapOption<CrlIndex>,
}

impl CrlStore {
    pub fn new() -> Self {
        CrlStore {
            current: ArcSwapOption::empty(),
        }
    }

    /// Installs a new index if it is newer (by cRLNumber, else thisUpdate) than the current one.
    /// Returns whether it was installed.
    pub fn replace(&self, index: CrlIndex) -> bool {
        let (number, this_update) = (index.number, index.this_update);
        let newer = |old: &CrlIndex| match (number, old.number) {
            (Some(n), Some(o)) => n > o,
            _ => this_update > old.this_update,
        };
        let mut installed = false;
        let new = Arc::new(index);
        self.current.rcu(|old| match old {
            Some(o) if !newer(o) => {
                installed = false;
                Some(Arc::clone(o))
            }
            _ => {
                installed = true;
                Some(Arc::clone(&new))
            }
        });
        installed
    }

    pub fn load(&self) -> Option<Arc<CrlIndex>> {
        self.current.load_full()
    }

    /// The status from the current index; unknown when there is none.
    pub fn status(&self, certificate: &Validated, at: OffsetDateTime) -> RevocationStatus {
        match &*self.current.load() {
            Some(index) => index.status(certificate, at),
            None => RevocationStatus::unknown("no CRL has been loaded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time(0x17, b"700101000000Z").expect("epoch"), 0);
        assert_eq!(parse_time(0x17, b"261121014500Z").expect("t"), 1_795_225_500);
        assert_eq!(parse_time(0x18, b"20261121014500Z").expect("t"), 1_795_225_500);
        assert_eq!(parse_time(0x17, b"491231235959Z").expect("2049"), 2_524_607_999);
        assert_eq!(parse_time(0x17, b"500101000000Z").expect("1950"), -631_152_000);
        assert!(parse_time(0x17, b"261321014500Z").is_err());
        assert!(parse_time(0x17, b"2611210145Z").is_err());
        assert!(parse_time(0x17, b"261121014500+").is_err());
        assert!(parse_time(0x18, b"20261121014500+").is_err());
        assert!(parse_time(0x18, b"2026112101450Z").is_err());
        // A byte just outside the digits, in every place of either form, is refused.
        for (tag, good) in [(0x17u8, &b"261121014500Z"[..]), (0x18, &b"20261121014500Z"[..])] {
            for i in 0..good.len() - 1 {
                for c in [b'/', b':', b' ', 0xB0, b'0' + 0x80] {
                    let mut bad = good.to_vec();
                    bad[i] = c;
                    assert!(parse_time(tag, &bad).is_err(), "{:?}", String::from_utf8_lossy(&bad));
                }
            }
        }
        assert_eq!(parse_time(0x18, b"99991231235959Z").expect("9999"), 253_402_300_799);
    }

    /// An unsigned CRL (the index does not look at the signature) with these entries, in this
    /// order: (serial magnitude bytes, revocation time, reason code or None).
    fn crl(entries: &[(Vec<u8>, u32, Option<u8>)]) -> Vec<u8> {
        let entries: Vec<_> = entries
            .iter()
            .map(|(s, t, r)| (s.clone(), *t, r.map(|r| vec![reason_code_extension(r)])))
            .collect();
        crl_with(&entries)
    }

    /// An entry extension `(OID, critical, value)`.
    type Extension = (Vec<u8>, bool, Vec<u8>);

    /// A reasonCode extension, as a CA writes it.
    fn reason_code_extension(r: u8) -> Extension {
        (vec![0x55, 0x1D, 0x15], false, vec![0x0A, 0x01, r])
    }

    /// An entry: serial magnitude bytes, revocation time, extensions (`None`: no extensions field).
    type Entry = (Vec<u8>, u32, Option<Vec<Extension>>);

    /// [`crl`] with any entry extensions.
    fn crl_with(entries: &[Entry]) -> Vec<u8> {
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            let n = content.len();
            if n < 0x80 {
                out.push(n as u8);
            } else {
                let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
                out.push(0x80 | bytes.len() as u8);
                out.extend(bytes);
            }
            out.extend_from_slice(content);
            out
        }
        fn time(secs: u32) -> Vec<u8> {
            let t = OffsetDateTime::from_unix_timestamp(secs as i64).expect("time");
            let s = format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}Z",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            tlv(0x18, s.as_bytes())
        }
        let sha256_rsa = tlv(
            0x30,
            &[
                0x06, 9, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00,
            ],
        );
        let mut list = Vec::new();
        for (serial, at, extensions) in entries {
            let mut int = serial.clone();
            if int.is_empty() || int[0] & 0x80 != 0 {
                int.insert(0, 0);
            }
            let mut entry = tlv(0x02, &int);
            entry.extend(time(*at));
            if let Some(exts) = extensions {
                let mut all = Vec::new();
                for (oid, critical, value) in exts {
                    let mut ext = tlv(0x06, oid);
                    if *critical {
                        ext.extend(tlv(0x01, &[0xFF]));
                    }
                    ext.extend(tlv(0x04, value));
                    all.extend(tlv(0x30, &ext));
                }
                entry.extend(tlv(0x30, &all));
            }
            list.extend(tlv(0x30, &entry));
        }
        let mut tbs = tlv(0x02, &[1]);
        tbs.extend(&sha256_rsa);
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(time(1_700_000_000));
        tbs.extend(time(1_800_000_000));
        if !entries.is_empty() {
            tbs.extend(tlv(0x30, &list));
        }
        let body = [tlv(0x30, &tbs), sha256_rsa, tlv(0x03, &[0, 1, 2, 3])].concat();
        tlv(0x30, &body)
    }

    fn u64_entries(serials: &[u64]) -> Vec<(Vec<u8>, u32, Option<u8>)> {
        serials
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let bytes: Vec<u8> = s.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
                let reason = [None, Some(1), Some(3), Some(5), Some(10), Some(0)][i % 6];
                (bytes, 1_600_000_000 + i as u32, reason)
            })
            .collect()
    }

    /// Every listed serial is found with its own time and reason, both ways; `absent` are not found;
    fn check(index: &CrlIndex, serials: &[u64], absent: &[u64]) {
        let entries = u64_entries(serials);
        for (i, &s) in serials.iter().enumerate() {
            let found = index.lookup_u64(s).unwrap_or_else(|| panic!("serial {s:#x} not found"));
            assert_eq!(found.revoked_at_unix(), entries[i].1, "time of {s:#x}");
            assert_eq!(found.reason, entries[i].2.unwrap_or(NO_REASON), "reason of {s:#x}");
            assert_eq!(index.lookup(&s.to_be_bytes()), Some(found));
            // Minimal and 9-byte forms (DER puts a 0x00 before a set top bit) name the same serial.
            let minimal: Vec<u8> = s.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
            assert_eq!(index.lookup(&minimal), Some(found));
            assert_eq!(index.lookup(&[&[0][..], &s.to_be_bytes()].concat()), Some(found));
        }
        for &s in absent {
            assert_eq!(index.lookup_u64(s), None, "absent serial {s:#x} found");
            assert_eq!(index.lookup(&s.to_be_bytes()), None);
            assert_eq!(index.lookup(&[&[0][..], &s.to_be_bytes()].concat()), None);
        }
        check_many(index, &[serials, absent].concat());
    }

    /// `lookup_many` answers as `lookup_u64` does, for any batch length (groups and a remainder).
    fn check_many(index: &CrlIndex, keys: &[u64]) {
        let mut out = vec![None; keys.len()];
        index.lookup_many(keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(*o, index.lookup_u64(*k), "lookup_many of {k:#x}");
        }
        // A shorter output is filled as far as it reaches, and nothing beyond.
        let mut short = vec![None; keys.len() / 2];
        index.lookup_many(keys, &mut short);
        assert_eq!(short, out[..keys.len() / 2]);
    }

    fn index_of(serials: &[u64]) -> CrlIndex {
        let index = CrlIndex::parse_unverified(&crl(&u64_entries(serials))).expect("index");
        assert_eq!(index.len(), serials.len());
        index
    }

    #[test]
    fn empty_crl() {
        let index = index_of(&[]);
        assert!(index.is_empty());
        check(&index, &[], &[0, 1, 12345, u64::MAX]);
        assert!(index.memory_bytes() < 64);
    }

    #[test]
    fn one_entry() {
        for s in [0u64, 1, 0x0123_4567_89AB_CDEF, u64::MAX] {
            let index = index_of(&[s]);
            let absent: Vec<u64> = [s.wrapping_sub(1), s.wrapping_add(1), s ^ (1 << 48), s ^ (1 << 63)].into();
            check(&index, &[s], &absent);
        }
    }

    #[test]
    fn min_and_max_serials_and_neighbours() {
        let serials = [0u64, 1, 2, u64::MAX - 2, u64::MAX];
        let index = index_of(&serials);
        check(
            &index,
            &serials,
            &[3, 1 << 48, (1 << 48) + 1, u64::MAX - 3, u64::MAX - (1 << 48)],
        );
    }

    /// Few serials spread over the whole 64-bit range: the segments still span them.
    #[test]
    fn sparse_wide_serials() {
        let serials: Vec<u64> = (0..1_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        let mut sorted = serials.clone();
        sorted.sort_unstable();
        let index = index_of(&sorted);
        check(&index, &sorted, &[sorted[0] + 1, sorted[500] - 1]);
    }

    /// An index large enough for 2 MiB pages (its serial table's sure lines, and their times, past
    /// `HUGE_FROM_BYTES`; the build's debug assertions check that nothing advised goes unwritten),
    /// from a CRL whose entries are out of order: the entries are permuted into serial order, the
    /// table keeps its unfilled reserve, and answers as a small index does.
    #[test]
    fn large_unsorted_index() {
        // At least 8 entries a line; a line's times take 32 bytes.
        let n = HUGE_FROM_BYTES / 32 * 8 + 100_000;
        // Distinct serials in a scrambled order, the shape the authority issues (bit 56 set).
        let serials: Vec<u64> = (1..=n as u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8) | 1 << 56)
            .collect();
        let index = index_of(&serials);
        assert!(
            index.table.line_capacity_bytes() >= HUGE_FROM_BYTES,
            "the large array keeps its reserve"
        );
        assert!(!index.table.searched(), "evenly spread serials need no search");
        let per_entry = index.memory_bytes() as f64 / n as f64;
        assert!((13.0..16.0).contains(&per_entry), "{per_entry} bytes per entry");
        let entries = u64_entries(&serials);
        for i in (0..n).step_by(997) {
            let found = index.lookup_u64(serials[i]).expect("listed");
            assert_eq!(found.revoked_at_unix(), entries[i].1);
            assert_eq!(found.reason, entries[i].2.unwrap_or(NO_REASON));
        }
        let mut keys: Vec<u64> = serials.iter().step_by(13).copied().collect();
        keys.extend(keys.clone().iter().map(|k| k ^ 1 << 57));
        check_many(&index, &keys);
    }

    /// [`check`] of every serial in `serials` and of its neighbours that are not listed (±1, and
    /// one segment width away, where an offset in the next segment equals this one's).
    fn check_against_set(index: &CrlIndex, serials: &[u64]) {
        let listed: std::collections::BTreeSet<u64> = serials.iter().copied().collect();
        let width = index.table.segment_width();
        let absent: Vec<u64> = serials
            .iter()
            .flat_map(|&s| {
                [
                    s.wrapping_sub(1),
                    s.wrapping_add(1),
                    s.wrapping_add(width),
                    s.wrapping_sub(width),
                ]
            })
            .filter(|k| !listed.contains(k))
            .collect();
        check(index, serials, &absent);
    }

    /// Serials packed far more densely than their segment (a run of small serials beside one large
    /// one): their home lines overflow into long runs, and the table finds lines by search instead,
    /// also in a segment of more than 2^16 entries.
    #[test]
    fn clustered_serials_are_searched() {
        for (cluster, outliers) in [(17u64, 1u64), (5_000, 3), (70_000, 700)] {
            let mut serials: Vec<u64> = (1..=cluster).collect();
            serials.extend((0..outliers).map(|i| (1 << 62) + i * 0x1_0000_0001));
            let index = index_of(&serials);
            if cluster >= 5_000 {
                assert!(index.table.searched(), "a cluster of {cluster} is searched");
            }
            check_against_set(&index, &serials);
        }
    }

    /// A cluster searched by line, ending at the largest serial on a full line (5,000 entries, 8 a
    /// line): the empty line after it must not take the lookup of `u64::MAX` away from the line
    /// that holds it.
    #[test]
    fn a_searched_cluster_ending_at_the_largest_serial() {
        let mut serials = vec![1u64];
        serials.extend((0..5_000u64).rev().map(|i| u64::MAX - i));
        let index = index_of(&serials);
        assert!(index.table.searched());
        assert!(index.lookup_u64(u64::MAX).is_some(), "u64::MAX is listed");
        check_against_set(&index, &serials);
    }

    /// A segment whose last line is full, and a serial just above that line's entries: the lookup
    /// must stop at the segment's end, not compare its offset with the next segment's entries (here
    /// one with that very offset). Serials over all 64 bits make segments as wide as offsets reach.
    #[test]
    fn runs_stop_at_segment_ends() {
        let width = 1u64 << table::OFFSET_BITS;
        let mut serials = vec![0];
        serials.extend((9..=16).map(|i| width - i));
        serials.extend([2 * width - 1, u64::MAX]);
        let index = index_of(&serials);
        assert_eq!(index.table.segment_width(), width);
        assert_eq!(
            index.lookup_u64(width - 1),
            None,
            "the next segment's offset is not this serial"
        );
        check_against_set(&index, &serials);
    }

    /// A serial listed twice, and a 9-byte serial before short ones: out of order, sorted first;
    /// every one is still found.
    #[test]
    fn duplicate_and_long_serials() {
        let t = 1_600_000_000;
        let entries = vec![
            (vec![5], t, Some(1)),
            (vec![0x41; 9], t + 1, None),
            (vec![3], t + 2, Some(4)),
            (vec![5], t + 3, Some(1)),
            (vec![0x7F, 1, 2, 3, 4, 5, 6, 7], t + 4, Some(9)),
        ];
        let index = CrlIndex::parse_unverified(&crl(&entries)).expect("index");
        assert_eq!(index.len(), 5);
        assert_eq!(index.lookup_u64(5).map(|r| r.reason), Some(1));
        assert_eq!(index.lookup_u64(3).map(|r| r.revoked_at_unix()), Some(t + 2));
        assert_eq!(index.lookup(&[0x41; 9]).map(|r| r.revoked_at_unix()), Some(t + 1));
        assert_eq!(index.lookup_u64(0x7F01_0203_0405_0607).map(|r| r.reason), Some(9));
        for absent in [0, 4, 6, u64::MAX] {
            assert_eq!(index.lookup_u64(absent), None);
        }
    }

    /// Entry extensions other than a lone reasonCode take the general walk: a reasonCode beside an
    /// invalidityDate (critical or not) is read, a malformed reasonCode or an unknown critical
    /// extension refuses the CRL, an unknown non-critical one is skipped.
    #[test]
    fn entry_extensions_beyond_a_lone_reason_code() {
        let reason = reason_code_extension;
        let invalidity = |critical| (vec![0x55, 0x1D, 0x18], critical, b"\x18\x0f20240101000000Z".to_vec());
        let entry = |serial: u8, exts| (vec![serial], 1_600_000_000, Some(exts));
        let index = CrlIndex::parse_unverified(&crl_with(&[
            entry(1, vec![invalidity(false), reason(5)]),
            entry(2, vec![reason(1), invalidity(true)]),
            entry(3, vec![(vec![0x2A, 0x03], false, vec![0x05, 0x00])]),
            entry(4, vec![]),
        ]))
        .expect("index");
        assert_eq!(index.lookup_u64(1).map(|r| r.reason), Some(5));
        assert_eq!(index.lookup_u64(2).map(|r| r.reason), Some(1));
        assert_eq!(index.lookup_u64(3).map(|r| r.reason), Some(NO_REASON));
        assert_eq!(index.lookup_u64(4).map(|r| r.reason), Some(NO_REASON));
        for bad in [
            vec![reason(7)],
            vec![reason(11)],
            vec![(vec![0x55, 0x1D, 0x15], false, vec![0x0A, 0x02, 0, 1])],
            vec![(vec![0x55, 0x1D, 0x1D], true, vec![0x30, 0x00])],
        ] {
            assert!(CrlIndex::parse_unverified(&crl_with(&[entry(1, bad)])).is_err());
        }
    }

    /// Extensions (of the CRL and of its entries, read alike) are each read within their own
    /// bounds: a length that runs past its extension into the next is refused, and so are a value
    /// that is not an OCTET STRING and a field after the value.
    #[test]
    fn each_extension_is_read_within_its_bounds() {
        let oids = |buf: &[u8]| {
            let mut seen = Vec::new();
            for_each_extension(buf, 0, |e| {
                seen.push((e.oid.to_vec(), e.critical, e.value.to_vec()));
                Ok(())
            })
            .map(|()| seen)
        };
        // A reasonCode, then an extension with no value.
        let no_value = [
            0x30, 0x16, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01, 0x01, 0x30, 0x08, 0x06, 0x03,
            0x55, 0x1D, 0x18, 0x01, 0x01, 0xFF,
        ];
        let one = [
            0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01, 0x01,
        ];
        assert_eq!(
            oids(&one).expect("one extension"),
            vec![(vec![0x55, 0x1D, 0x15], false, vec![0x0A, 0x01, 0x01])]
        );
        assert!(oids(&no_value).is_err());
        // The first value's length (5) runs past its extension into the next one.
        let overrun = [
            0x30, 0x18, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x05, 0x0A, 0x01, 0x01, 0x30, 0x0A, 0x06, 0x03,
            0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01, 0x01,
        ];
        assert!(oids(&overrun).is_err());
        // A value that is not an OCTET STRING, and a field after the value.
        let not_octets = [
            0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x0A, 0x03, 0x0A, 0x01, 0x01,
        ];
        assert!(oids(&not_octets).is_err());
        let trailing = [
            0x30, 0x0E, 0x30, 0x0C, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01, 0x01, 0x05, 0x00,
        ];
        assert!(oids(&trailing).is_err());
    }

    /// Consecutive serials, as a CA with a counter issues them, and the same with gaps.
    #[test]
    fn dense_serials() {
        let serials: Vec<u64> = (1..=50_000).collect();
        let index = index_of(&serials);
        assert!(!index.table.searched());
        check_against_set(&index, &serials);
        let gapped: Vec<u64> = (1..=30_000u64).filter(|i| i % 7 != 3 && i % 1000 > 50).collect();
        check_against_set(&index_of(&gapped), &gapped);
    }

    /// Every size from 1 to 700 (one segment, then two) with serials random, in clumps and spread
    /// over all 64 bits: full lines at segment ends, runs, empty home lines.
    #[test]
    fn many_shapes() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in 1..=700usize {
            let mut serials: Vec<u64> = match n % 3 {
                0 => (0..n).map(|_| next() >> (n % 50)).collect(),
                1 => (0..n).map(|i| ((i as u64 / 9) << 40) + next() % 1_000).collect(),
                _ => (0..n).map(|_| next()).collect(),
            };
            serials.sort_unstable();
            serials.dedup();
            let index = index_of(&serials);
            check_against_set(&index, &serials);
        }
    }
}
