//! FHIR R4 search, the parts every service's searches share: the query parameters (repeated keys
//! kept, unknown ones refused), `date` parameters with their comparison prefixes, and the
//! `searchset` Bundle.
//!
//! Refusing unknown parameters (400) rather than ignoring them, as FHIR also allows: a client
//! whose filter was silently dropped would take everything it got for a match.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ApiError;

/// The instants a FHIR `date` search parameter admits: `from <= t < to` (`None`: unbounded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl DateRange {
    /// The instants in both: FHIR ANDs repeated parameters (`date=ge…&date=lt…`).
    pub fn and(self, other: DateRange) -> DateRange {
        DateRange {
            from: self.from.max(other.from),
            to: match (self.to, other.to) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| t >= from) && self.to.is_none_or(|to| t < to)
    }
}

/// Parses one value of a FHIR `date` search parameter, `[prefix]value`: prefix `eq` (the
/// default), `ge`, `gt`, `le` or `lt` (`ne`, `sa`, `eb` and `ap` are refused); value `YYYY`,
/// `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`.
///
/// As FHIR's search rules say, a value stands for the whole period of its precision
/// (`2026-12-02` is that whole day): `eq` admits the period, `ge` and `lt` compare with its
/// start, `gt` and `le` with its end, so `gt2026-12-02` starts on 3 December and `le2026-12-05`
/// includes all of 5 December. Dates, and times without a zone, are UTC (this server's zone). A
/// `+` that arrived as a space (unencoded in the query string) is read as `+`.
pub fn parse_date_param(raw: &str) -> Result<DateRange, String> {
    let value = raw.trim().replace(' ', "+");
    if !value.is_ascii() {
        return Err(format!("{raw:?} is not a FHIR date or dateTime"));
    }
    let starts_with_letters = value
        .get(..2)
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_alphabetic()));
    let (prefix, period) = if starts_with_letters {
        value.split_at(2)
    } else {
        ("eq", value.as_str())
    };
    if !["eq", "ge", "gt", "le", "lt"].contains(&prefix) {
        return Err(format!(
            "{raw:?}: the prefix {prefix:?} is not supported (eq, ge, gt, le, lt are)"
        ));
    }
    let (start, end) = date_period(period).ok_or_else(|| {
        format!(
            "{raw:?} is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD, \
             YYYY-MM-DDThh:mm[:ss][Z|±hh:mm], after an optional eq, ge, gt, le or lt)"
        )
    })?;
    Ok(match prefix {
        "ge" => DateRange {
            from: Some(start),
            to: None,
        },
        "gt" => DateRange {
            from: Some(end),
            to: None,
        },
        "le" => DateRange {
            from: None,
            to: Some(end),
        },
        "lt" => DateRange {
            from: None,
            to: Some(start),
        },
        _ => DateRange {
            from: Some(start),
            to: Some(end),
        },
    })
}

/// `s` as a number if it is exactly `width` ASCII digits.
fn digits(s: &str, width: usize) -> Option<u32> {
    (s.len() == width && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The period `[start, end)` a date or dateTime value stands for.
fn date_period(value: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (date, time) = match value.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (value, None),
    };
    let fields: Vec<&str> = date.split('-').collect();
    let year = digits(fields[0], 4)? as i32;
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
    match (fields.len(), time) {
        (1, None) => Some((
            midnight(NaiveDate::from_ymd_opt(year, 1, 1)?),
            midnight(NaiveDate::from_ymd_opt(year + 1, 1, 1)?),
        )),
        (2, None) => {
            let month = digits(fields[1], 2)?;
            let start = NaiveDate::from_ymd_opt(year, month, 1)?;
            let end = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)?
            };
            Some((midnight(start), midnight(end)))
        }
        (3, time) => {
            let day = NaiveDate::from_ymd_opt(year, digits(fields[1], 2)?, digits(fields[2], 2)?)?;
            match time {
                None => Some((midnight(day), midnight(day.succ_opt()?))),
                Some(time) => time_period(day, time),
            }
        }
        _ => None,
    }
}

/// The period of `hh:mm[:ss[.fff]][Z|±hh:mm]` (ASCII) on `day`: a minute, a second, or the
/// fraction's last digit.
fn time_period(day: NaiveDate, time: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (clock, offset_secs) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if time.len() > 6 && matches!(time.as_bytes()[time.len() - 6], b'+' | b'-') {
        let (clock, zone) = time.split_at(time.len() - 6);
        let hours = digits(&zone[1..3], 2)?;
        let minutes = digits(&zone[4..], 2)?;
        if &zone[3..4] != ":" || hours > 14 || minutes > 59 {
            return None;
        }
        let secs = (hours * 3600 + minutes * 60) as i64;
        (clock, if zone.starts_with('-') { -secs } else { secs })
    } else {
        (time, 0)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let (hour, minute) = (digits(parts[0], 2)?, digits(parts.get(1)?, 2)?);
    let (second, step) = match (parts.len(), fraction) {
        (2, None) => (0, Duration::minutes(1)),
        (3, None) => (digits(parts[2], 2)?, Duration::seconds(1)),
        (3, Some(f)) if (1..=9).contains(&f.len()) => {
            digits(f, f.len())?;
            (
                digits(parts[2], 2)?,
                Duration::nanoseconds(10i64.pow(9 - f.len() as u32)),
            )
        }
        _ => return None,
    };
    let nanos = match fraction {
        Some(f) => format!("{f:0<9}").parse().ok()?,
        None => 0,
    };
    let local = day.and_hms_nano_opt(hour, minute, second, nanos)?;
    let start = Utc.from_utc_datetime(&(local - Duration::seconds(offset_secs)));
    Some((start, start + step))
}

/// A name-based UUID: RFC 9562 version 8 from the first 16 bytes of the name's SHA-256 (what
/// version 5 does with SHA-1). The same name gives the same UUID in every service and search:
/// for `urn:uuid:` full URLs, and for ids that must be short and stable (a `Slot`'s).
pub fn name_uuid(name: &str) -> Uuid {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A `searchset` Bundle of `resources` (each with its `resourceType` and `id`) as `match`
/// entries; `total` is the number of matches across all pages. An entry's `fullUrl` is
/// `urn:uuid:` and the [`name_uuid`] of `{type}/{id}`, the same in every search.
pub fn searchset(resources: Vec<Value>, total: usize) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|resource| {
            let name = format!(
                "{}/{}",
                resource["resourceType"].as_str().unwrap_or_default(),
                resource["id"].as_str().unwrap_or_default()
            );
            json!({
                "fullUrl": format!("urn:uuid:{}", name_uuid(&name)),
                "resource": resource,
                "search": { "mode": "match" },
            })
        })
        .collect();
    let mut bundle = json!({ "resourceType": "Bundle", "type": "searchset", "total": total });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

/// A FHIR search's query parameters, repeated keys kept (extract them with axum's
/// `Query<Vec<(String, String)>>`). The handler takes those it supports; [`SearchParams::finish`]
/// refuses whatever is left. Empty values are dropped, as FHIR says to ignore them.
#[derive(Debug, Default)]
pub struct SearchParams(Vec<(String, String)>);

impl SearchParams {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        SearchParams(pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }

    /// Every value of the repeatable parameter `name`.
    pub fn take_all(&mut self, name: &str) -> Vec<String> {
        let (taken, rest) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(key, _)| key == name);
        self.0 = rest;
        taken.into_iter().map(|(_, value)| value).collect()
    }

    /// The value of `name`, if given; 400 if given more than once.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut values = self.take_all(name);
        if values.len() > 1 {
            return Err(ApiError::BadRequest(format!(
                "give the search parameter {name} at most once"
            )));
        }
        Ok(values.pop())
    }

    /// The value of `name` parsed by `parse`; 400 naming the parameter and `expected` when it
    /// does not parse.
    pub fn take_parsed<T>(
        &mut self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.take(name)? {
            None => Ok(None),
            Some(value) => parse(&value).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!("search parameter {name}: expected {expected}"))
            }),
        }
    }

    /// The id a reference parameter names, given as `{kind}/{id}` or `{id}`, parsed by `parse`.
    pub fn take_reference<T>(
        &mut self,
        name: &str,
        kind: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        let prefix = format!("{kind}/");
        self.take_parsed(name, &format!("{kind}/{{id}} or {{id}}"), |v| {
            parse(v.strip_prefix(&prefix).unwrap_or(v))
        })
    }

    /// The `date` parameter `name` (given any number of times, ANDed; see
    /// [`parse_date_param`]).
    pub fn take_dates(&mut self, name: &str) -> Result<DateRange, ApiError> {
        self.take_all(name)
            .iter()
            .try_fold(DateRange::default(), |range, value| {
                parse_date_param(value).map(|r| range.and(r))
            })
            .map_err(|e| ApiError::BadRequest(format!("search parameter {name}: {e}")))
    }

    /// `_count` and `_offset` (the service checks their bounds as it does `limit` and
    /// `offset`).
    pub fn take_page(&mut self) -> Result<(Option<i64>, Option<i64>), ApiError> {
        let count = self.take_parsed("_count", "an integer", |v| v.parse().ok())?;
        let offset = self.take_parsed("_offset", "an integer", |v| v.parse().ok())?;
        Ok((count, offset))
    }

    /// 400 naming the parameters nobody took (`_format` asking for JSON is fine: it is all this
    /// server speaks).
    pub fn finish(self) -> Result<(), ApiError> {
        let json = ["json", "application/json", "application/fhir+json"];
        let unknown: Vec<&str> = self
            .0
            .iter()
            .filter(|(key, value)| !(key == "_format" && json.contains(&value.as_str())))
            .map(|(key, _)| key.as_str())
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(format!(
                "this search does not support the parameter(s) {}",
                unknown.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn range(from: Option<&str>, to: Option<&str>) -> DateRange {
        DateRange {
            from: from.map(at),
            to: to.map(at),
        }
    }

    #[test]
    fn a_date_stands_for_its_whole_day_and_prefixes_compare_with_its_ends() {
        let cases = [
            (
                "2026-12-02",
                range(Some("2026-12-02T00:00:00Z"), Some("2026-12-03T00:00:00Z")),
            ),
            (
                "eq2026-12-02",
                range(Some("2026-12-02T00:00:00Z"), Some("2026-12-03T00:00:00Z")),
            ),
            ("ge2026-12-02", range(Some("2026-12-02T00:00:00Z"), None)),
            ("gt2026-12-02", range(Some("2026-12-03T00:00:00Z"), None)),
            ("le2026-12-05", range(None, Some("2026-12-06T00:00:00Z"))),
            ("lt2026-12-05", range(None, Some("2026-12-05T00:00:00Z"))),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_date_param(value), Ok(expected), "{value}");
        }
    }

    #[test]
    fn years_months_and_times_have_their_own_precision() {
        let cases = [
            (
                "2026",
                range(Some("2026-01-01T00:00:00Z"), Some("2027-01-01T00:00:00Z")),
            ),
            (
                "2026-12",
                range(Some("2026-12-01T00:00:00Z"), Some("2027-01-01T00:00:00Z")),
            ),
            (
                "2026-02",
                range(Some("2026-02-01T00:00:00Z"), Some("2026-03-01T00:00:00Z")),
            ),
            (
                "2026-12-02T09:30Z",
                range(Some("2026-12-02T09:30:00Z"), Some("2026-12-02T09:31:00Z")),
            ),
            (
                "ge2026-12-02T09:30:15Z",
                range(Some("2026-12-02T09:30:15Z"), None),
            ),
            (
                "le2026-12-02T09:30:15Z",
                range(None, Some("2026-12-02T09:30:16Z")),
            ),
            (
                "2026-12-02T09:30:15.5Z",
                range(
                    Some("2026-12-02T09:30:15.5Z"),
                    Some("2026-12-02T09:30:15.6Z"),
                ),
            ),
            // A zone moves the instant; none means UTC; a `+` decoded as a space still counts.
            (
                "lt2026-12-02T10:00:00+01:00",
                range(None, Some("2026-12-02T09:00:00Z")),
            ),
            (
                "lt2026-12-02T10:00:00 01:00",
                range(None, Some("2026-12-02T09:00:00Z")),
            ),
            (
                "gt2026-12-02T10:00:00-05:30",
                range(Some("2026-12-02T15:30:01Z"), None),
            ),
            (
                "ge2026-12-02T10:00:00",
                range(Some("2026-12-02T10:00:00Z"), None),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_date_param(value), Ok(expected), "{value}");
        }
    }

    #[test]
    fn malformed_dates_and_unsupported_prefixes_are_refused() {
        for value in [
            "",
            "ge",
            "x2026-12-02",
            "ne2026-12-02",
            "ap2026-12-02",
            "2026-13-01",
            "2026-02-30",
            "2026-1-02",
            "26-12-02",
            "2026-12-02T",
            "2026-12-02T25:00Z",
            "2026-12-02T10Z",
            "2026-12-02T10:00:61Z",
            "2026-12-02T10:00:00+15:00",
            "2026-12-02T10:00:00+0100",
            "2026-12-02T10:00:00.Z",
            "2026-12T10:00Z",
            "tomorrow",
            "ge2026-12-02T10:00:00Zgarbage",
        ] {
            assert!(parse_date_param(value).is_err(), "{value:?} accepted");
        }
    }

    #[test]
    fn repeated_date_parameters_are_anded() {
        let both = parse_date_param("ge2026-12-02")
            .unwrap()
            .and(parse_date_param("lt2026-12-05").unwrap());
        assert_eq!(
            both,
            range(Some("2026-12-02T00:00:00Z"), Some("2026-12-05T00:00:00Z"))
        );
        assert!(both.contains(at("2026-12-02T00:00:00Z")));
        assert!(both.contains(at("2026-12-04T23:59:59Z")));
        assert!(!both.contains(at("2026-12-05T00:00:00Z")));
        assert!(!both.contains(at("2026-12-01T23:59:59Z")));
        let narrower = both.and(parse_date_param("gt2026-12-03").unwrap());
        assert_eq!(narrower.from, Some(at("2026-12-04T00:00:00Z")));
        assert!(DateRange::default().contains(at("1970-01-01T00:00:00Z")));
    }

    #[test]
    fn search_parameters_are_taken_once_and_leftovers_refused() {
        let pairs = |q: &[(&str, &str)]| {
            SearchParams::new(
                q.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let mut p = pairs(&[
            ("date", "ge2026-12-02"),
            ("patient", "Patient/42"),
            ("date", "lt2026-12-05"),
            ("_count", "10"),
            ("status", ""),
            ("_format", "json"),
        ]);
        assert_eq!(
            p.take_dates("date").unwrap(),
            range(Some("2026-12-02T00:00:00Z"), Some("2026-12-05T00:00:00Z"))
        );
        assert_eq!(
            p.take_reference("patient", "Patient", |v| v.parse::<u32>().ok())
                .unwrap(),
            Some(42)
        );
        assert_eq!(p.take("status").unwrap(), None, "empty values are ignored");
        assert_eq!(p.take_page().unwrap(), (Some(10), None));
        p.finish().unwrap();

        let mut p = pairs(&[("patient", "1"), ("patient", "2"), ("_sort", "date")]);
        assert!(p.take("patient").is_err());
        let refused = p.finish().unwrap_err().to_string();
        assert!(refused.contains("_sort"), "{refused}");
        let mut p = pairs(&[("_count", "ten"), ("date", "someday")]);
        assert!(p.take_page().is_err());
        assert!(p.take_dates("date").is_err());
        assert!(pairs(&[("_format", "xml")]).finish().is_err());
    }

    #[test]
    fn bundles_count_matches_and_name_entries_stably() {
        let bundle = searchset(vec![json!({ "resourceType": "Slot", "id": "a" })], 7);
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 7);
        let url = bundle["entry"][0]["fullUrl"].as_str().unwrap();
        assert_eq!(url, format!("urn:uuid:{}", name_uuid("Slot/a")));
        assert_eq!(name_uuid("Slot/a"), name_uuid("Slot/a"));
        assert_ne!(name_uuid("Slot/a"), name_uuid("Slot/b"));
        assert_eq!(name_uuid("x").get_version_num(), 8);
        assert!(searchset(vec![], 0).get("entry").is_none());
    }
}
