//! Conversions between `time` instants and X.509 `Time`.

use std::time::Duration;

use der::asn1::{GeneralizedTime, UtcTime};
use der::DateTime;
use time::OffsetDateTime;
use x509_cert::time::Time;

use crate::ProfileError;

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
pub fn to_x509_time(t: OffsetDateTime) -> Result<Time, ProfileError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| ProfileError::Malformed("a time before 1970 cannot be encoded".into()))?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs))?;
    Ok(if dt.year() < 2050 {
        Time::UtcTime(UtcTime::from_date_time(dt)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    })
}

/// An X.509 `Time` as an instant.
pub fn from_x509_time(t: &Time) -> Result<OffsetDateTime, ProfileError> {
    let secs = t.to_unix_duration().as_secs();
    OffsetDateTime::from_unix_timestamp(secs as i64).map_err(|_| ProfileError::Malformed("time out of range".into()))
}
