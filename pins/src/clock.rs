//! Time as the pins kit reads it: Unix seconds, passed in (never read
//! deep inside a rule), so lint and check can be run as of any day.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, Unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds as RFC 3339 UTC (`2027-06-30T00:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), &format).ok()
}

/// `YYYY-MM-DD`.
pub fn date_text(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The first second of `date` (UTC), Unix seconds.
pub fn date_start(date: time::Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp()
}

/// An instant given on the command line: `YYYY-MM-DD` (noon UTC of that
/// day, so a time zone cannot move it to another day) or `+DURATION` from
/// `now` (`+30d`, `+2w`; humantime's units).
pub fn parse_instant(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    match text.strip_prefix('+') {
        Some(d) => humantime::parse_duration(d.trim())
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .and_then(|s| now.checked_add(s)),
        None => parse_date(text).map(|d| date_start(d) + 12 * 3600),
    }
}
