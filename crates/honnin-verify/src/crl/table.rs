//! The serial table of a [`CrlIndex`](super::CrlIndex): where a serial's entry is, found by reading
//! one cache line.
//!
//! Why not a sorted array with a bucket table (what the index had before): at ten million entries
//! every read is a cache miss, and that design reads two places one after the other (the bucket,
//! then the serials it points to). On the 2-vCPU guests here one dependent miss per lookup runs
//! several times faster than two, and the fewer instructions a lookup takes, the more lookups the
//! CPU keeps in flight (docs/benchmarks.md §7). So the address of the one line to read is computed
//! from the serial with a table that stays in L1, and the line is compared in a few SIMD steps.
//!
//! Layout: the serial range `[min, max]` is cut into segments of `2^k` serials (at most 2,048
//! segments: 32 KiB), the last one shorter. A segment with `c` entries gets `⌈5c / 32⌉` *home*
//! lines of 64 bytes (6.4 entries a line on average), and a serial's home line is its offset in the
//! segment scaled to them (one multiplication; the last segment scaled to its own length). A line
//! has 8 slots, each `offset << 4 | reason` or [`EMPTY`]. Entries are placed in serial order, each in
//! its home line or, when that is full, the next one: a listed serial is in its home line or in the
//! run of full lines after it, and a segment's last line is never full, so no run reaches into the
//! next segment.
//!
//! Each line has its slots' revocation times beside it, in a parallel array (32 bytes a line), so
//! a lookup knows where a hit's time is from the line's number alone and fetches it while the line
//! is on its way: two reads at once, neither waiting for the other. Keeping the times in serial
//! order instead (4 bytes an entry) needs each line's rank to find them, a third read the time's
//! waits for (docs/benchmarks.md §8). The empty slots' times take about a byte an entry, paid for by
//! lines 6.4 entries full instead of 6: (64 + 32) / 6.4 = 15 bytes an entry, as with the ranks, plus
//! the rare line a run adds.
//!
//! Serials that crowd into a few home lines (a cluster far narrower than its segment) would make
//! long runs. In a segment where an entry ends up more than [`MAX_RUN`] lines past its home, the
//! table also keeps the serial of each line's first entry and finds a serial's line by binary
//! search instead: still correct and `O(log n)`, only slower, and only there.

/// Slots in a line: 8 × 8 bytes, one cache line.
const SLOTS: usize = 8;
/// Home lines per 32 entries: 5, so 6.4 entries a home line on average, of 8 slots. Fuller lines
/// overflow more often (a lookup then reads the next line too, which sits beside it); emptier ones
/// cost more than the 16 bytes an entry the index may take with its times.
const HOME_LINES_PER_32: usize = 5;
/// An unused slot. Never equal to a used one: offsets are below 2^59, so a used slot is below 2^63.
const EMPTY: u64 = u64::MAX;
/// The most lines an entry may sit past its home before the table switches to searching.
const MAX_RUN: usize = 4;
/// Offsets in a segment are kept below 2^59 so that `offset << 4 | reason` fits a slot.
pub(super) const OFFSET_BITS: u32 = 59;
/// At most 2^11 segments: the segment table stays within 32 KiB.
const MAX_SEGMENT_BITS: u32 = 11;
/// The reason code for "no reasonCode" in a slot's 4 bits.
const NO_REASON_CODE: u64 = 15;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u64; SLOTS]);

const EMPTY_LINE: Line = Line([EMPTY; SLOTS]);

/// The revocation times (Unix seconds) of a line's slots, slot by slot; 0 for an empty slot. Half
/// a cache line, aligned so that it never straddles two.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct LineTimes([u32; SLOTS]);

const NO_TIMES: LineTimes = LineTimes([0; SLOTS]);

impl Line {
    /// A bit per slot that holds `key` (an offset shifted left by 4, its reason bits clear): bit
    /// `2k` for slot `k`.
    #[inline(always)]
    fn matches(&self, key: u64) -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::*;
            // SSE2 is part of x86-64, but has no 64-bit compare: the slots, reason bits masked off,
            // are compared as 32-bit halves, packed down to a byte per half, and a slot matches
            // when both of its halves do. Few instructions, so the CPU can keep more lookups in
            // flight.
            // SAFETY: `self` is a live, 64-byte-aligned line, read as four aligned 16-byte vectors
            // inside it.
            unsafe {
                let p = self.0.as_ptr().cast::<__m128i>();
                let key = _mm_set1_epi64x(key as i64);
                let mask = _mm_set1_epi64x(!0xF);
                let eq = |j: usize| _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(p.add(j)), mask), key);
                let low = _mm_packs_epi32(eq(0), eq(1));
                let high = _mm_packs_epi32(eq(2), eq(3));
                let halves = _mm_movemask_epi8(_mm_packs_epi16(low, high)) as u32;
                halves & (halves >> 1) & 0x5555
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut bits = 0u32;
            for (k, &slot) in self.0.iter().enumerate() {
                bits |= (((slot ^ key) < 16) as u32) << (2 * k);
            }
            bits
        }
    }

    /// Whether a lookup of `key` must go on to the next line: this one is full and everything in
    /// it is below `key` (an empty last slot, `EMPTY`, is never below).
    #[inline(always)]
    fn continues_past(&self, key: u64) -> bool {
        self.0[SLOTS - 1] < key
    }
}

/// Where a segment's lines start, and its home lines per serial as a 0.64 fixed-point fraction
/// (home lines ÷ serials the segment spans, below 1): an offset's home line is the high half of
/// `offset × scale`.
#[derive(Clone, Copy, Debug)]
struct Segment {
    first: u32,
    /// 0 for a segment whose lines are found by search (a real scale is at least 2^5: a home
    /// line or more for at most 2^59 serials).
    scale: u64,
}

/// Where a listed serial is: its line and slot, with its reason code (0xFF for none).
#[derive(Clone, Copy, Debug)]
pub(super) struct Found {
    line: usize,
    slot: usize,
    reason: u8,
}

/// Where a lookup starts: the line, and the key to compare there.
#[derive(Clone, Copy, Debug)]
pub(super) struct Home {
    line: usize,
    key: u64,
}

pub(super) struct SerialTable {
    min: u64,
    /// A serial's segment is `(serial - min) >> shift`; its offset the bits below.
    shift: u32,
    /// One per segment, then one whose `first` is the end of the lines.
    segments: Vec<Segment>,
    lines: Vec<Line>,
    /// One per line.
    times: Vec<LineTimes>,
    /// The segments where some entry sits more than [`MAX_RUN`] lines past its home, by index,
    /// each with the serial of each of its lines' first entry (`u64::MAX` for an empty line): to
    /// find a serial's line by binary search.
    searched: Vec<(usize, Vec<u64>)>,
}

impl std::fmt::Debug for SerialTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialTable")
            .field("segments", &self.segments.len().saturating_sub(1))
            .field("lines", &self.lines.len())
            .field("searched segments", &self.searched.len())
            .finish()
    }
}

/// A reason code (0–10, or `NO_REASON` 0xFF) in 4 bits.
#[inline(always)]
fn code(reason: u8) -> u64 {
    if reason <= 10 {
        reason as u64
    } else {
        NO_REASON_CODE
    }
}

impl SerialTable {
    /// The table of `serials` (sorted ascending), with the reason code of each (0–10, or 0xFF for
    /// none) and its revocation time. At most `u32::MAX` entries.
    pub(super) fn build(serials: &[u64], reasons: &[u8], times: &[u32]) -> SerialTable {
        let n = serials.len();
        let (Some(&min), Some(&max)) = (serials.first(), serials.last()) else {
            return SerialTable {
                min: 0,
                shift: 0,
                segments: Vec::new(),
                lines: Vec::new(),
                times: Vec::new(),
                searched: Vec::new(),
            };
        };
        let range_bits = 64 - (max - min).leading_zeros();
        // About 256 entries a segment at least (fewer segments for a small CRL), at most 2^11
        // segments, and as many as it takes to keep offsets below 2^59.
        let wanted = (n / 256).max(1).ilog2().min(MAX_SEGMENT_BITS);
        let segment_bits = wanted.max(range_bits.saturating_sub(OFFSET_BITS)).min(range_bits);
        let shift = range_bits - segment_bits;
        let mask = (1u64 << shift) - 1;
        let count = ((max - min) >> shift) as usize + 1;
        let bounds: Vec<usize> = (0..count)
            .map(|g| serials.partition_point(|&s| (s - min) >> shift < g as u64))
            .chain([n])
            .collect();
        let homes = |c: usize| (c * HOME_LINES_PER_32).div_ceil(32).max(1);
        // Home lines, plus the most a segment can overflow by: never outgrown (a regrowth would
        // copy the lines out of their 2 MiB pages).
        let capacity: usize = bounds
            .windows(2)
            .map(|w| homes(w[1] - w[0]) + (w[1] - w[0]) / SLOTS + 2)
            .sum();
        // A segment writes at least a line, and at least one for every 8 of its entries. The lines
        // surely written get 2 MiB pages (when they are many), ahead of being written: at first
        // those least counts, then, as each segment is placed, the lines so far and the least
        // counts of the segments to come. Nothing is advised that will not be written, so no huge
        // page is backed in part. The same for the lines' times.
        let least = |c: usize| c.div_ceil(SLOTS).max(1);
        let mut later: usize = bounds.windows(2).map(|w| least(w[1] - w[0])).sum();
        let least_total = later;
        let mut lines = super::HugeFill::new(capacity, least_total);
        let mut line_times = super::HugeFill::new(capacity, least_total);
        let mut segments = Vec::with_capacity(count + 1);
        for (g, w) in bounds.windows(2).enumerate() {
            let (lo, hi) = (w[0], w[1]);
            later -= least(hi - lo);
            let first = lines.v.len();
            // Serials the segment spans: 2^shift, or up to `max` for the last one.
            let span = ((max - min) - ((g as u64) << shift)).min(mask) as u128 + 1;
            // No more home lines than serials it spans (only duplicate serials could ask for more),
            // so the scale stays below 1.
            let home_lines = homes(hi - lo).min(span as usize);
            let mut scale = (((home_lines as u128) << 64) / span).min(u64::MAX as u128) as u64;
            let entries = SegmentEntries {
                serials: &serials[lo..hi],
                reasons: reasons.get(lo..hi).unwrap_or_default(),
                times: times.get(lo..hi).unwrap_or_default(),
                min,
                mask,
            };
            if place(&mut lines.v, &mut line_times.v, &entries, scale, home_lines) > MAX_RUN {
                // Too crowded for home lines: packed 8 a line instead, and found by search.
                lines.v.truncate(first);
                line_times.v.truncate(first);
                place(&mut lines.v, &mut line_times.v, &entries, 0, 1);
                scale = 0;
            }
            segments.push(Segment {
                first: first as u32,
                scale,
            });
            // Placing only adds to what is sure: a segment writes its least count or more.
            let sure = lines.v.len() + later;
            lines.advise_up_to(sure);
            line_times.advise_up_to(sure);
        }
        debug_assert!(lines.v.len() <= capacity, "the lines outgrew their reserve");
        segments.push(Segment {
            first: lines.v.len() as u32,
            scale: 0,
        });
        let (lines, line_times) = (lines.finish(), line_times.finish());
        let mut searched = Vec::new();
        for (g, s) in segments.windows(2).enumerate().filter(|(_, s)| s[0].scale == 0) {
            let start = min + ((g as u64) << shift);
            let firsts = lines[s[0].first as usize..s[1].first as usize]
                .iter()
                .map(|line| match line.0[0] {
                    EMPTY => u64::MAX,
                    slot => start + (slot >> 4),
                })
                .collect();
            searched.push((g, firsts));
        }
        SerialTable {
            min,
            shift,
            segments,
            lines,
            times: line_times,
            searched,
        }
    }

    /// The line a lookup of `serial` starts at, or `None` when the serial is outside the range.
    #[inline(always)]
    pub(super) fn home(&self, serial: u64) -> Option<Home> {
        let off = serial.checked_sub(self.min)?;
        let g = usize::try_from(off >> self.shift).ok()?;
        let segment = self.segments.get(g)?;
        let offset = off & ((1u64 << self.shift) - 1);
        let line = if segment.scale != 0 {
            segment.first as usize + home_of(offset, segment.scale)
        } else {
            self.searched_line(g, serial)?
        };
        Some(Home { line, key: offset << 4 })
    }

    /// For a segment found by search: the line to start at.
    #[cold]
    fn searched_line(&self, g: usize, serial: u64) -> Option<usize> {
        let (lo, hi) = (
            self.segments.get(g)?.first as usize,
            self.segments.get(g + 1)?.first as usize,
        );
        let i = self.searched.binary_search_by_key(&g, |(s, _)| *s).ok()?;
        let firsts = &self.searched[i].1;
        debug_assert_eq!(firsts.len(), hi - lo);
        // The last line whose first entry is below the serial (or the first line): the serial is
        // there or, that line being full, at the start of the next. Not "not above": an empty last
        // line's u64::MAX would then take the serial u64::MAX.
        Some(lo + firsts.partition_point(|&f| f < serial).saturating_sub(1))
    }

    /// Starts reading the home line without waiting for it.
    #[inline(always)]
    pub(super) fn prefetch_line(&self, home: Home) {
        if let Some(line) = self.lines.get(home.line) {
            super::prefetch(line);
        }
    }

    /// Starts reading the home line's times without waiting for them: a listed serial found there
    /// has its time among them. Known without the line itself, so both reads are on their way at
    /// once.
    #[inline(always)]
    pub(super) fn prefetch_times(&self, home: Home) {
        self.prefetch_times_of(home.line);
    }

    /// Starts reading a found serial's time without waiting for it.
    #[inline(always)]
    pub(super) fn prefetch_time(&self, found: Found) {
        self.prefetch_times_of(found.line);
    }

    #[inline(always)]
    fn prefetch_times_of(&self, line: usize) {
        if let Some(times) = self.times.get(line) {
            super::prefetch(times);
        }
    }

    /// The revocation of a found serial: its reason, and its time from beside its line.
    #[inline(always)]
    pub(super) fn revocation(&self, found: Found) -> Option<super::Revocation> {
        Some(super::Revocation {
            reason: found.reason,
            revoked_at: *self.times.get(found.line)?.0.get(found.slot)?,
        })
    }

    /// Where the serial a lookup started at `home` is for, if the table lists it.
    #[inline(always)]
    pub(super) fn find_from(&self, home: Home) -> Option<Found> {
        let mut at = home.line;
        loop {
            let line = self.lines.get(at)?;
            let bits = line.matches(home.key);
            if bits != 0 {
                let slot = bits.trailing_zeros() as usize / 2;
                let reason = match line.0[slot] & 0xF {
                    NO_REASON_CODE => super::NO_REASON,
                    r => r as u8,
                };
                return Some(Found { line: at, slot, reason });
            }
            if !line.continues_past(home.key) {
                return None;
            }
            at += 1;
        }
    }

    /// Bytes the table holds.
    pub(super) fn memory_bytes(&self) -> usize {
        self.lines.len() * size_of::<Line>()
            + self.times.len() * size_of::<LineTimes>()
            + self.segments.len() * size_of::<Segment>()
            + self
                .searched
                .iter()
                .map(|(_, f)| size_of::<(usize, Vec<u64>)>() + f.len() * 8)
                .sum::<usize>()
    }

    /// Whether some segment is found by search (for tests).
    #[cfg(test)]
    pub(super) fn searched(&self) -> bool {
        !self.searched.is_empty()
    }

    /// The width of a segment in serials (for tests: an offset one segment away is another serial).
    #[cfg(test)]
    pub(super) fn segment_width(&self) -> u64 {
        1u64 << self.shift
    }

    /// Reserved lines (for tests: the large-array path keeps its reserve).
    #[cfg(test)]
    pub(super) fn line_capacity_bytes(&self) -> usize {
        self.lines.capacity() * size_of::<Line>()
    }
}

/// One segment's entries, for [`place`].
struct SegmentEntries<'a> {
    serials: &'a [u64],
    reasons: &'a [u8],
    times: &'a [u32],
    min: u64,
    mask: u64,
}

/// Lays out one segment's entries after `lines` in serial order, each in its home line (by
/// `scale`; 0 packs them 8 a line) or, when that is full, the next, then empty lines up to
/// `home_lines`; the segment never ends on a full line. Pushes each line's times beside it. Returns
/// the most lines an entry sits past its home.
fn place(
    lines: &mut Vec<Line>,
    times: &mut Vec<LineTimes>,
    entries: &SegmentEntries<'_>,
    scale: u64,
    home_lines: usize,
) -> usize {
    // A line and its times go in together, so the two arrays stay one per line; the line being
    // filled is always number `lines.len()`.
    let mut push = |lines: &mut Vec<Line>, line: Line, line_times: LineTimes| {
        lines.push(line);
        times.push(line_times);
    };
    let first = lines.len();
    let (mut line, mut line_times) = (EMPTY_LINE, NO_TIMES);
    let (mut fill, mut run) = (0, 0);
    for (k, &serial) in entries.serials.iter().enumerate() {
        let offset = (serial - entries.min) & entries.mask;
        let home = first + home_of(offset, scale);
        if home > lines.len() || fill == SLOTS {
            push(lines, line, line_times);
            while lines.len() < home {
                push(lines, EMPTY_LINE, NO_TIMES);
            }
            (line, line_times, fill) = (EMPTY_LINE, NO_TIMES, 0);
        }
        run = run.max(lines.len() - home);
        line.0[fill] = offset << 4 | code(entries.reasons.get(k).copied().unwrap_or(u8::MAX));
        line_times.0[fill] = entries.times.get(k).copied().unwrap_or(0);
        fill += 1;
    }
    push(lines, line, line_times);
    // Never end a segment on a full line: a lookup walks on only past full lines.
    if fill == SLOTS {
        push(lines, EMPTY_LINE, NO_TIMES);
    }
    while lines.len() < first + home_lines {
        push(lines, EMPTY_LINE, NO_TIMES);
    }
    run
}

/// A home line within a segment: `offset` times the segment's scale. Monotone in the offset, which
/// placement in serial order relies on, and below the segment's home lines for any offset inside it.
#[inline(always)]
fn home_of(offset: u64, scale: u64) -> usize {
    ((offset as u128 * scale as u128) >> 64) as usize
}
