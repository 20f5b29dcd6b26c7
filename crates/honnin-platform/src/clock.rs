//! The platform's clock: the system clock, or a sandbox clock (`honnin platform --now T serve`)
//! that starts at a chosen instant and runs at the system clock's pace, like the authority's
//! `--now`. It exists so that a month or a fiscal year (年度) can be played through end to end
//! with a sandbox authority on the same clock; production never sets it.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// Nanoseconds added to the system clock. Process-wide: one platform runs per process, and every
/// part of it (flows, status checks, metering) must read the same time.
static OFFSET_NANOS: AtomicI64 = AtomicI64::new(0);

/// Makes `now()` read `start` at this moment and run on from there.
pub fn start_at(start: OffsetDateTime) {
    let offset = (start - OffsetDateTime::now_utc()).whole_nanoseconds();
    OFFSET_NANOS.store(
        i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX }),
        Ordering::Relaxed,
    );
}

/// The platform's current time.
pub fn now() -> OffsetDateTime {
    let offset = Duration::nanoseconds(OFFSET_NANOS.load(Ordering::Relaxed));
    OffsetDateTime::now_utc()
        .checked_add(offset)
        .unwrap_or_else(OffsetDateTime::now_utc)
}
