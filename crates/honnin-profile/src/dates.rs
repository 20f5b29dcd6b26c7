//! Birthday arithmetic and the validity rules of the card and its certificates.
//!
//! Everything here works on calendar dates in Japan Standard Time (JST, UTC+9): the card and the
//! certificates expire "at the end of the holder's Nth birthday after issuance", and J-LIS writes that
//! as `23:59:59 JST`, which is `14:59:59Z` in the certificate.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Japan Standard Time.
pub const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("constant offset"),
};

/// The calendar date in Japan at `instant`.
pub fn jst_date(instant: OffsetDateTime) -> Date {
    instant.to_offset(JST).date()
}

/// `date` at 23:59:59 JST, the instant a card or certificate ending on `date` expires.
pub fn end_of_day_jst(date: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(date, Time::from_hms(23, 59, 59).unwrap_or(Time::MIDNIGHT)).assume_offset(JST)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm): for the
/// hand-written DER time readers, which turn a time into seconds without building a `Date`.
#[inline]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn is_leap(year: i32) -> bool {
    time::util::is_leap_year(year)
}

/// The day on which a card or certificate "ending on the birthday" ends in `year`.
///
/// A 29 February birthday falls on 28 February in common years: where the anniversary does not
/// exist, a period measured in years ends on the last day of that month (民法 143条2項), the reading
/// the card's printed expiry dates follow.
pub fn birthday_in(birth: Date, year: i32) -> Date {
    let (month, day) = (birth.month(), birth.day());
    let day = if month == Month::February && day == 29 && !is_leap(year) {
        28
    } else {
        day
    };
    // Every (month, day) pair taken from a valid date is valid in any year once 29 Feb is moved.
    Date::from_calendar_date(year, month, day).unwrap_or(birth)
}

/// The holder's `n`th birthday strictly after `issued` (n ≥ 1).
///
/// A card issued on the holder's birthday does not count that day: the first birthday "after
/// issuance" is a year later, so the full term is served.
pub fn nth_birthday_after(birth: Date, issued: Date, n: u32) -> Date {
    let this_year = birthday_in(birth, issued.year());
    let first_year = if this_year > issued {
        issued.year()
    } else {
        issued.year() + 1
    };
    birthday_in(birth, first_year + n.saturating_sub(1) as i32)
}

/// Age in whole years on `on`, as Japanese law counts it (年齢計算ニ関スル法律).
///
/// A person gains a year at the end of the day before the birthday; for a 29 February birthday in a
/// common year that is the end of 28 February, so the new age holds from 1 March.
pub fn age_on(birth: Date, on: Date) -> i32 {
    let mut age = on.year() - birth.year();
    let anniversary = if birth.month() == Month::February && birth.day() == 29 && !is_leap(on.year()) {
        Date::from_calendar_date(on.year(), Month::March, 1).unwrap_or(birth)
    } else {
        birthday_in(birth, on.year())
    };
    if on < anniversary {
        age -= 1;
    }
    age
}

/// The rule for the card's own term (マイナンバーカードの有効期限).
///
/// Adults get 10 birthdays, minors 5. Who counts as a minor changed with the age of majority: 20 for
/// applications received before 2022-04-01, 18 since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardTermRule {
    /// Holders younger than this at issuance get the short term.
    pub adult_age: i32,
}

impl CardTermRule {
    /// The day the age of majority became 18 (民法 改正, 令和4年4月1日).
    pub const MAJORITY_18_FROM: Date = match Date::from_calendar_date(2022, Month::April, 1) {
        Ok(date) => date,
        Err(_) => panic!("constant date"),
    };

    /// The rule in force for an application received on `applied`.
    pub fn for_application_date(applied: Date) -> Self {
        let adult_age = if applied < Self::MAJORITY_18_FROM { 20 } else { 18 };
        CardTermRule { adult_age }
    }

    /// The last day of a card issued on `issued` to a holder born on `birth`.
    pub fn card_expiry(&self, birth: Date, issued: Date) -> Date {
        let birthdays = if age_on(birth, issued) >= self.adult_age { 10 } else { 5 };
        nth_birthday_after(birth, issued, birthdays)
    }
}

/// The last day of a JPKI certificate issued on `issued`: the 5th birthday after issuance, never
/// after the card's own last day.
pub fn certificate_expiry(birth: Date, issued: Date, card_expiry: Date) -> Date {
    nth_birthday_after(birth, issued, 5).min(card_expiry)
}

/// Whether a holder may receive a signing certificate (署名用電子証明書) on `on`: 15 or older.
pub const SIGNING_CERTIFICATE_MIN_AGE: i32 = 15;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn end_of_day_is_1459_utc() {
        let t = end_of_day_jst(date!(2030 - 02 - 17));
        assert_eq!(t.to_offset(UtcOffset::UTC), datetime!(2030-02-17 14:59:59 UTC));
    }

    #[test]
    fn jst_date_crosses_midnight() {
        assert_eq!(jst_date(datetime!(2026-11-20 15:00 UTC)), date!(2026 - 11 - 21));
        assert_eq!(jst_date(datetime!(2026-11-20 14:59:59 UTC)), date!(2026 - 11 - 20));
    }

    #[test]
    fn first_birthday_is_strictly_after_issuance() {
        let birth = date!(1990 - 10 - 10);
        // Issued before the birthday in the same year: that birthday is the first.
        assert_eq!(
            nth_birthday_after(birth, date!(2020 - 05 - 15), 1),
            date!(2020 - 10 - 10)
        );
        assert_eq!(
            nth_birthday_after(birth, date!(2020 - 05 - 15), 10),
            date!(2029 - 10 - 10)
        );
        // Issued on the birthday: the day itself does not count.
        assert_eq!(
            nth_birthday_after(birth, date!(2020 - 10 - 10), 5),
            date!(2025 - 10 - 10)
        );
        // Issued the day after.
        assert_eq!(
            nth_birthday_after(birth, date!(2020 - 10 - 11), 5),
            date!(2025 - 10 - 10)
        );
    }

    #[test]
    fn test_card_leaf_validity_fits_the_rule() {
        // The JPKI test card leaf seen in the reference: 2025-10-27 → 2030-02-17.
        let birth = date!(1985 - 02 - 17);
        let card = CardTermRule::for_application_date(date!(2025 - 10 - 27)).card_expiry(birth, date!(2025 - 10 - 27));
        assert_eq!(
            certificate_expiry(birth, date!(2025 - 10 - 27), card),
            date!(2030 - 02 - 17)
        );
    }

    #[test]
    fn leap_day_birthdays() {
        let birth = date!(2000 - 02 - 29);
        assert_eq!(birthday_in(birth, 2027), date!(2027 - 02 - 28));
        assert_eq!(birthday_in(birth, 2028), date!(2028 - 02 - 29));
        // Issued 2026-03-01: birthdays 2027, 2028, 2029, 2030, 2031 → the 5th is 2031-02-28.
        assert_eq!(
            nth_birthday_after(birth, date!(2026 - 03 - 01), 5),
            date!(2031 - 02 - 28)
        );
        // Issued on 28 Feb of a common year, which is that year's birthday: it does not count.
        assert_eq!(
            nth_birthday_after(birth, date!(2027 - 02 - 28), 1),
            date!(2028 - 02 - 29)
        );
        // Issued 2027-02-27: the birthday next day counts; the 2nd is the leap day 2028.
        assert_eq!(
            nth_birthday_after(birth, date!(2027 - 02 - 27), 2),
            date!(2028 - 02 - 29)
        );
        // Age: a year is gained at the end of 28 Feb in common years.
        assert_eq!(age_on(birth, date!(2015 - 02 - 28)), 14);
        assert_eq!(age_on(birth, date!(2015 - 03 - 01)), 15);
        assert_eq!(age_on(birth, date!(2016 - 02 - 28)), 15);
        assert_eq!(age_on(birth, date!(2016 - 02 - 29)), 16);
    }

    #[test]
    fn age_on_birthday_and_day_before() {
        let birth = date!(2011 - 11 - 21);
        assert_eq!(age_on(birth, date!(2026 - 11 - 20)), 14);
        assert_eq!(age_on(birth, date!(2026 - 11 - 21)), 15);
    }

    #[test]
    fn adults_get_ten_birthdays_minors_five() {
        let rule = CardTermRule::for_application_date(date!(2026 - 01 - 10));
        assert_eq!(rule.adult_age, 18);
        // 18 at issuance: adult term.
        assert_eq!(
            rule.card_expiry(date!(2008 - 01 - 01), date!(2026 - 01 - 10)),
            date!(2036 - 01 - 01)
        );
        // 17 at issuance: 5 birthdays.
        assert_eq!(
            rule.card_expiry(date!(2008 - 06 - 01), date!(2026 - 01 - 10)),
            date!(2030 - 06 - 01)
        );
        // Before 2022-04-01 an 18- or 19-year-old got the short term.
        let old = CardTermRule::for_application_date(date!(2022 - 03 - 31));
        assert_eq!(old.adult_age, 20);
        assert_eq!(
            old.card_expiry(date!(2003 - 01 - 01), date!(2022 - 03 - 31)),
            date!(2027 - 01 - 01)
        );
        let new = CardTermRule::for_application_date(date!(2022 - 04 - 01));
        assert_eq!(
            new.card_expiry(date!(2003 - 01 - 01), date!(2022 - 04 - 01)),
            date!(2032 - 01 - 01)
        );
    }

    #[test]
    fn certificate_never_outlives_the_card() {
        let birth = date!(1970 - 07 - 01);
        let card_issued = date!(2020 - 08 - 01);
        let card = CardTermRule::for_application_date(card_issued).card_expiry(birth, card_issued);
        assert_eq!(card, date!(2030 - 07 - 01));
        // First certificate: 5th birthday.
        assert_eq!(certificate_expiry(birth, card_issued, card), date!(2025 - 07 - 01));
        // Renewed a month early, on 2025-06-01: the next birthday counts as the first.
        assert_eq!(
            certificate_expiry(birth, date!(2025 - 06 - 01), card),
            date!(2029 - 07 - 01)
        );
        // Renewed late, on 2027-09-01: the 5th birthday would be 2032-07-01; capped by the card.
        assert_eq!(
            certificate_expiry(birth, date!(2027 - 09 - 01), card),
            date!(2030 - 07 - 01)
        );
        // A minor's card ends on the 5th birthday, and so does the certificate.
        let child = date!(2015 - 03 - 03);
        let card = CardTermRule::for_application_date(card_issued).card_expiry(child, card_issued);
        assert_eq!(card, date!(2025 - 03 - 03));
        assert_eq!(certificate_expiry(child, card_issued, card), card);
    }
}
