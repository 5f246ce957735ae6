//! End-of-day totals in the merchant's time zone: the window (instants, or local dates of the
//! account's zone), the days it is cut into — local midnights found with the zone's rules, so a
//! day across a DST change is 23 or 25 hours — and the groups the database sums
//! (`db::reports`). See docs/decisions.md, "Totals and exports".

use super::Services;
use crate::db;
use crate::db::reports::{Grouping, TotalsRow};
use crate::error::Error;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest window a report covers.
pub const MAX_WINDOW_DAYS: i64 = 366;

/// A valid IANA time zone name (`Europe/Paris`, `America/New_York`, `UTC`), or 400 naming `field`.
pub fn time_zone(field: &str, name: &str) -> Result<Tz, Error> {
    name.parse::<Tz>().map_err(|_| {
        Error::invalid(
            field,
            format!("'{field}' must be an IANA time zone name such as Europe/Paris or UTC"),
        )
    })
}

/// One end of a report's window: an instant, or the start of a date in the merchant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Instant(DateTime<Utc>),
    Date(NaiveDate),
}

impl Bound {
    /// An RFC 3339 time (`2027-03-14T00:00:00-05:00`) or a date (`2027-03-14`), or 400.
    pub fn parse(field: &str, text: &str) -> Result<Bound, Error> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Bound::Instant(t.with_timezone(&Utc)));
        }
        if text.len() == 10 {
            if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                return Ok(Bound::Date(d));
            }
        }
        Err(Error::invalid(
            field,
            format!("'{field}' must be an RFC 3339 time or a date (YYYY-MM-DD)"),
        ))
    }

    fn resolve(self, zone: Tz) -> DateTime<Utc> {
        match self {
            Bound::Instant(t) => t,
            Bound::Date(d) => day_start(zone, d),
        }
    }
}

/// What the groups of a report are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    Location,
    Reader,
    Cashier,
    Currency,
}

impl GroupBy {
    pub const ALL: [(&'static str, GroupBy); 5] = [
        ("day", GroupBy::Day),
        ("location", GroupBy::Location),
        ("reader", GroupBy::Reader),
        ("cashier", GroupBy::Cashier),
        ("currency", GroupBy::Currency),
    ];

    pub fn parse(text: &str) -> Option<GroupBy> {
        GroupBy::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, g)| *g)
    }

    pub fn as_str(self) -> &'static str {
        GroupBy::ALL
            .iter()
            .find(|(_, g)| *g == self)
            .map(|(name, _)| *name)
            .expect("every grouping is named")
    }
}

/// A report: its window as resolved in the account's zone, and its rows (ordered by group, the
/// `null` group last, then currency). A day group's key is its local date (`2027-03-14`).
#[derive(Debug, Clone)]
pub struct Totals {
    pub external_account_id: String,
    pub time_zone: Tz,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub group_by: GroupBy,
    pub rows: Vec<TotalsRow>,
}

/// The account's totals over `[since, until)`, grouped by `group_by` and currency.
pub async fn totals(
    services: &Services,
    external_account_id: String,
    since: Bound,
    until: Bound,
    group_by: GroupBy,
) -> Result<Totals, Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let zone = time_zone("time_zone", &account.time_zone).map_err(|_| {
                Error::internal(format!("account {}: stored time zone", account.id))
            })?;
            let (since, until) = (since.resolve(zone), until.resolve(zone));
            if until <= since {
                return Err(Error::invalid("until", "'until' must be after 'since'"));
            }
            if until - since > Duration::days(MAX_WINDOW_DAYS) {
                return Err(Error::invalid(
                    "until",
                    format!("a report covers at most {MAX_WINDOW_DAYS} days from 'since'"),
                ));
            }
            let first_day = since.with_timezone(&zone).date_naive();
            let starts = day_starts(zone, since, until);
            let grouping = match group_by {
                GroupBy::Day => Grouping::Day(&starts),
                GroupBy::Location => Grouping::Location,
                GroupBy::Reader => Grouping::Reader,
                GroupBy::Cashier => Grouping::Cashier,
                GroupBy::Currency => Grouping::Currency,
            };
            let mut rows = db::reports::totals(
                conn,
                &account.id,
                since.naive_utc(),
                until.naive_utc(),
                grouping,
            )?;
            if group_by == GroupBy::Day {
                for row in &mut rows {
                    let index: u64 = row
                        .group_key
                        .as_deref()
                        .and_then(|k| k.parse().ok())
                        .ok_or_else(|| Error::internal("a day group without its index"))?;
                    row.group_key = first_day
                        .checked_add_days(chrono::Days::new(index))
                        .map(|d| d.to_string());
                }
            }
            // Dates sort as text; the `null` group last.
            rows.sort_by(|a, b| {
                (a.group_key.is_none(), &a.group_key, &a.currency).cmp(&(
                    b.group_key.is_none(),
                    &b.group_key,
                    &b.currency,
                ))
            });
            Ok(Totals {
                external_account_id: account.external_account_id,
                time_zone: zone,
                since,
                until,
                group_by,
                rows,
            })
        })
        .await
}

/// The instant the local `date` begins in `zone`: its midnight, or — where a DST change skips
/// midnight (e.g. America/Santiago) — the first local time that exists that day.
pub fn day_start(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // Gaps are at most a few hours; a quarter-hour step finds the end of any of them.
    for quarter in 0..(24 * 4) {
        let local: NaiveDateTime = midnight + Duration::minutes(15 * quarter);
        if let Some(t) = zone.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No zone skips a whole day's every quarter hour; fall back to the UTC reading.
    Utc.from_utc_datetime(&midnight)
}

/// The instants in `(since, until)` at which a new local day of `zone` begins, ascending.
pub fn day_starts(zone: Tz, since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<NaiveDateTime> {
    let mut starts = Vec::new();
    let mut day = since.with_timezone(&zone).date_naive();
    while let Some(next) = day.succ_opt() {
        let start = day_start(zone, next);
        if start >= until {
            break;
        }
        if start > since {
            starts.push(start.naive_utc());
        }
        day = next;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_across_a_dst_change_are_23_and_25_hours_long() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let starts = day_starts(ny, utc("2027-03-13T05:00:00Z"), utc("2027-03-16T04:00:00Z"));
        let starts: Vec<String> = starts.iter().map(|t| t.to_string()).collect();
        // EST (-5) until 2027-03-14 02:00 local, EDT (-4) after.
        assert_eq!(starts, ["2027-03-14 05:00:00", "2027-03-15 04:00:00"]);
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2027, 10, 31).unwrap();
        assert_eq!(
            day_start(paris, d.succ_opt().unwrap()) - day_start(paris, d),
            Duration::hours(25)
        );
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_its_first_local_time() {
        // Chile moved its clocks from 00:00 to 01:00 on 2026-09-06.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(day_start(santiago, d), utc("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn bounds_are_instants_or_dates() {
        assert_eq!(
            Bound::parse("since", "2027-03-14").unwrap(),
            Bound::Date(NaiveDate::from_ymd_opt(2027, 3, 14).unwrap())
        );
        assert_eq!(
            Bound::parse("since", "2027-03-14T01:00:00+01:00").unwrap(),
            Bound::Instant(utc("2027-03-14T00:00:00Z"))
        );
        for bad in [
            "",
            "2027-3-14",
            "2027-03-14T25:00:00Z",
            "yesterday",
            "2027-02-30",
        ] {
            assert!(Bound::parse("since", bad).is_err(), "{bad}");
        }
        assert!(time_zone("time_zone", "Mars/Olympus").is_err());
        assert_eq!(
            time_zone("time_zone", "Asia/Kathmandu").unwrap().name(),
            "Asia/Kathmandu"
        );
    }
}
