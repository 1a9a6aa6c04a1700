//! What a click says beyond what the redirect sent, and how clicks are counted for reports.
//!
//! The click recorder enriches every click with [`enrich`] (browser, OS and device from the
//! `User-Agent`, the referrer's host, the link's domain, why a bot is a bot) and counts it in
//! rollups by [`Dimension`]: the stats API reads those rollups, never raw clicks. The client's
//! address is never an input: the redirect sends only its salted hash (and the country and
//! region its GeoIP database gave, when it has one).
//!
//! [`bucket`] turns hourly counts into a series of hours, days, weeks or months in a time zone:
//! the rollups are by UTC hour, so any zone whose offset is a whole number of hours is exact;
//! a zone with a half-hour offset (India, parts of Australia) has each UTC hour counted in the
//! local bucket it starts in.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::bot::BotReason;
use crate::domains::split_key;
use crate::rules::{classify_with_browser, Client, DeviceType, Os};

crate::named::named_enum! {
    /// What clicks can be broken down by. Each is a rollup dimension: a click counts once in
    /// each, under its value (`unknown` when it has none).
    pub enum Dimension: "breakdown" {
        /// ISO 3166-1 alpha-2, from the redirect's GeoIP database (`GEOIP_DB`).
        Country = "country",
        /// ISO 3166-2 subdivision code (`FR-IDF`), from a City database.
        Region = "region",
        Browser = "browser",
        Os = "os",
        Device = "device",
        /// The referrer's host (`news.ycombinator.com`); `direct` without a referrer.
        Referrer = "referrer",
        /// The link's domain (`default` for the default domain).
        Domain = "domain",
        /// The index of the redirect rule that chose the destination; `none` when none did.
        Rule = "rule",
        /// `human` or `bot`.
        Traffic = "traffic",
        /// What the redirect answered (`redirect`, `gone`, …).
        Outcome = "outcome",
        /// The link (its key): a workspace's top links.
        Link = "link",
    }
}

/// The value of a dimension a click has none of.
pub const UNKNOWN: &str = "unknown";
/// The `referrer` of a click without one.
pub const DIRECT: &str = "direct";
/// The `domain` of a link on the default domain.
pub const DEFAULT_DOMAIN: &str = "default";

/// What the recorder adds to a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enriched {
    pub browser: Option<String>,
    pub os: Os,
    pub device: DeviceType,
    pub referrer_host: Option<String>,
    /// The custom domain of the link's key; `None` for the default domain.
    pub domain: Option<String>,
    /// Why a bot is one; `None` for a person.
    pub bot_reason: Option<BotReason>,
}

/// Enriches one click. `bot` is the redirect's verdict, which stands; the reason is read again
/// from the same request facts.
pub fn enrich(
    code: &str,
    method: &str,
    user_agent: Option<&str>,
    referrer: Option<&str>,
    bot: bool,
) -> Enriched {
    let (client, browser) = classify_with_browser(user_agent);
    enrich_parsed(client, browser, code, method, user_agent, referrer, bot)
}

/// [`enrich`] with the user agent already parsed ([`classify_with_browser`]): a caller that
/// sees the same agent many times parses it once.
pub fn enrich_parsed(
    client: Client,
    browser: Option<String>,
    code: &str,
    method: &str,
    user_agent: Option<&str>,
    referrer: Option<&str>,
    bot: bool,
) -> Enriched {
    let bot_reason =
        bot.then(|| crate::bot::verdict(method == "HEAD", user_agent).unwrap_or(BotReason::Other));
    Enriched {
        browser,
        os: client.os,
        device: client.device,
        referrer_host: referrer.and_then(referrer_host),
        domain: split_key(code).0.map(str::to_owned),
        bot_reason,
    }
}

/// The host of a referrer URL, lower case (`android-app://com.google.android.gm/` gives the
/// app's package); `None` when the referrer is not a URL with a host.
pub fn referrer_host(referrer: &str) -> Option<String> {
    let url = url::Url::parse(referrer.trim()).ok()?;
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

crate::named::named_enum! {
    /// The width of one point of a clicks-over-time series.
    pub enum Granularity: "granularity" {
        Hour = "hour",
        Day = "day",
        /// Weeks start on Monday (ISO 8601).
        Week = "week",
        Month = "month",
    }
}

/// One point of a series: the bucket's start in the requested zone, and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub start: DateTime<Tz>,
    pub clicks: i64,
    pub bots: i64,
}

/// Most points a series may have (a year by hour is 8,784).
pub const MAX_POINTS: usize = 10_000;

/// The start, in `tz`, of the bucket holding `t`.
pub fn bucket_start(t: DateTime<Utc>, g: Granularity, tz: Tz) -> DateTime<Tz> {
    let local = t.with_timezone(&tz).naive_local();
    let date = local.date();
    let start: NaiveDateTime = match g {
        Granularity::Hour => {
            let u = t.naive_utc();
            return tz.from_utc_datetime(&u.date().and_hms_opt(u.hour(), 0, 0).unwrap_or(u));
        }
        Granularity::Day => date.and_time(chrono::NaiveTime::MIN),
        Granularity::Week => (date - Duration::days(i64::from(date.weekday().num_days_from_monday())))
            .and_time(chrono::NaiveTime::MIN),
        Granularity::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
            .unwrap_or(date)
            .and_time(chrono::NaiveTime::MIN),
    };
    local_midnight(start, tz)
}

/// `start` (a local midnight) as an instant; a midnight that a DST change skips is the first
/// instant after it.
fn local_midnight(start: NaiveDateTime, tz: Tz) -> DateTime<Tz> {
    let mut t = start;
    for _ in 0..4 {
        if let Some(d) = tz.from_local_datetime(&t).earliest() {
            return d;
        }
        t += Duration::minutes(30);
    }
    tz.from_utc_datetime(&start)
}

/// The bucket after the one starting at `start`.
fn next_start(start: DateTime<Tz>, g: Granularity, tz: Tz) -> DateTime<Tz> {
    match g {
        Granularity::Hour => start + Duration::hours(1),
        Granularity::Day | Granularity::Week | Granularity::Month => {
            let d = start.naive_local().date();
            let next = match g {
                Granularity::Day => d + Duration::days(1),
                Granularity::Week => d + Duration::days(7),
                _ => {
                    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
                    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d + Duration::days(31))
                }
            };
            local_midnight(next.and_time(chrono::NaiveTime::MIN), tz)
        }
    }
}

/// Too many points for one series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{points} points from {granularity} granularity over this range; at most {max}: pick a coarser granularity or a shorter range", max = MAX_POINTS)]
pub struct TooManyPoints {
    pub points: usize,
    pub granularity: Granularity,
}

/// How many points [`bucket`] makes for `[from, to)`.
pub fn point_count(from: DateTime<Utc>, to: DateTime<Utc>, g: Granularity, tz: Tz) -> usize {
    let hours = (to - from).num_hours().max(0) as usize + 1;
    match g {
        Granularity::Hour => hours,
        Granularity::Day => hours / 24 + 2,
        Granularity::Week => hours / (24 * 7) + 2,
        Granularity::Month => {
            let (a, b) = (from.with_timezone(&tz), to.with_timezone(&tz));
            ((b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32).max(0) as usize + 1
        }
    }
}

/// Sums hourly `(UTC hour, clicks, bots)` counts into the buckets of `g` in `tz` covering
/// `[from, to)`, every bucket present (zero when nothing happened), oldest first.
pub fn bucket(
    hourly: &[(DateTime<Utc>, i64, i64)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    g: Granularity,
    tz: Tz,
) -> Result<Vec<Point>, TooManyPoints> {
    let estimate = point_count(from, to, g, tz);
    if estimate > MAX_POINTS {
        return Err(TooManyPoints { points: estimate, granularity: g });
    }
    let mut points = Vec::with_capacity(estimate);
    if from >= to {
        return Ok(points);
    }
    let mut start = bucket_start(from, g, tz);
    while start.with_timezone(&Utc) < to {
        points.push(Point { start, clicks: 0, bots: 0 });
        start = next_start(start, g, tz);
    }
    let mut i = 0;
    let mut sorted: Vec<&(DateTime<Utc>, i64, i64)> =
        hourly.iter().filter(|h| h.0 >= from && h.0 < to).collect();
    sorted.sort_by_key(|h| h.0);
    for (hour, clicks, bots) in sorted {
        while i + 1 < points.len() && points[i + 1].start.with_timezone(&Utc) <= *hour {
            i += 1;
        }
        if let Some(p) = points.get_mut(i) {
            p.clicks += clicks;
            p.bots += bots;
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("an RFC 3339 instant")
    }

    #[test]
    fn enrichment_reads_the_request_facts() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        let e = enrich(
            "go.example.com/abc",
            "GET",
            Some(chrome),
            Some("https://News.YCombinator.com/item?id=1"),
            false,
        );
        assert_eq!(e.browser.as_deref(), Some("Chrome"));
        assert_eq!((e.os, e.device), (Os::Windows, DeviceType::Desktop));
        assert_eq!(e.referrer_host.as_deref(), Some("news.ycombinator.com"));
        assert_eq!(e.domain.as_deref(), Some("go.example.com"));
        assert_eq!(e.bot_reason, None);
        let bot = enrich("abc", "HEAD", Some(chrome), Some("not a url"), true);
        assert_eq!((bot.domain, bot.referrer_host, bot.bot_reason), (None, None, Some(BotReason::Head)));
        assert_eq!(enrich("abc", "GET", None, None, true).bot_reason, Some(BotReason::NoUserAgent));
        assert_eq!(
            enrich("abc", "GET", Some("curl/8.0"), None, true).bot_reason,
            Some(BotReason::KnownAgent)
        );
        assert_eq!(enrich("abc", "GET", Some(chrome), None, true).bot_reason, Some(BotReason::Other));
        assert_eq!(enrich("abc", "GET", Some("<script>"), None, false).browser, None);
    }

    #[test]
    fn days_follow_the_zone_and_its_daylight_saving() {
        let tz: Tz = "Europe/Paris".parse().expect("a zone");
        // 2026-03-29: Paris moves from +01:00 to +02:00.
        let hourly = vec![
            (utc("2026-03-28T22:00:00Z"), 1, 0), // 23:00 on the 28th in Paris
            (utc("2026-03-28T23:00:00Z"), 2, 1), // 00:00 on the 29th
            (utc("2026-03-29T21:00:00Z"), 4, 0), // 23:00 on the 29th (+02:00)
            (utc("2026-03-29T22:00:00Z"), 8, 0), // 00:00 on the 30th
        ];
        let pts =
            bucket(&hourly, utc("2026-03-28T00:00:00Z"), utc("2026-03-31T00:00:00Z"), Granularity::Day, tz)
                .expect("few points");
        let got: Vec<(String, i64, i64)> =
            pts.iter().map(|p| (p.start.to_rfc3339(), p.clicks, p.bots)).collect();
        assert_eq!(
            got,
            vec![
                ("2026-03-28T00:00:00+01:00".to_string(), 1, 0),
                ("2026-03-29T00:00:00+01:00".to_string(), 6, 1),
                ("2026-03-30T00:00:00+02:00".to_string(), 8, 0),
                ("2026-03-31T00:00:00+02:00".to_string(), 0, 0),
            ]
        );
    }

    #[test]
    fn weeks_months_and_hours() {
        let tz: Tz = "UTC".parse().expect("a zone");
        let hourly = vec![(utc("2026-01-31T10:00:00Z"), 3, 0), (utc("2026-02-02T10:00:00Z"), 5, 2)];
        let (from, to) = (utc("2026-01-26T00:00:00Z"), utc("2026-02-09T00:00:00Z"));
        let weeks = bucket(&hourly, from, to, Granularity::Week, tz).expect("few");
        assert_eq!(weeks.iter().map(|p| p.clicks).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(weeks[1].start.to_rfc3339(), "2026-02-02T00:00:00+00:00", "weeks start on Monday");
        let months = bucket(&hourly, from, to, Granularity::Month, tz).expect("few");
        assert_eq!(months.iter().map(|p| (p.clicks, p.bots)).collect::<Vec<_>>(), vec![(3, 0), (5, 2)]);
        let hours =
            bucket(&hourly, utc("2026-01-31T09:30:00Z"), utc("2026-01-31T12:00:00Z"), Granularity::Hour, tz)
                .expect("few");
        assert_eq!(hours.iter().map(|p| p.clicks).collect::<Vec<_>>(), vec![0, 3, 0]);
        let too_many =
            bucket(&hourly, utc("2020-01-01T00:00:00Z"), utc("2026-01-01T00:00:00Z"), Granularity::Hour, tz);
        assert!(matches!(too_many, Err(TooManyPoints { granularity: Granularity::Hour, .. })));
        assert!(bucket(&hourly, to, from, Granularity::Day, tz).expect("empty").is_empty());
    }
}
