//! Reading Prometheus text, what every GhostLink ops listener serves at `/metrics`: the one
//! reader in the workspace (the drills read the services' counters with it, and so does
//! `ghostlink_test_support::metric_value`).
//!
//! The grammar is `prom_text_format_parser`'s, which reads a label value as the quoted string
//! it is: our request metrics carry route patterns such as `route="/{code}"`, which parsers that
//! split on `{`, `}`, `,` or `=` drop or cut apart. A series is found by its exposition name
//! (`x_sum`, `x_count`, `x_bucket` for the parts of a summary or histogram) and by label
//! values compared whole, after the text format's escapes are undone.

use prom_text_format_parser::{Type, ValueType};

/// Text that is not the Prometheus text format.
#[derive(Debug, thiserror::Error)]
#[error("not Prometheus text: {0}")]
pub struct NotPrometheusText(String);

/// One sample: its exposition name, its labels (unescaped) and its value.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of one or more scrapes (several replicas' scrapes add up).
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    series: Vec<Series>,
}

impl Scrape {
    /// Reads one listener's `/metrics` text; an empty text is an empty scrape.
    pub fn parse(text: &str) -> Result<Scrape, NotPrometheusText> {
        if text.trim().is_empty() {
            return Ok(Scrape::default());
        }
        let (metrics, error) = prom_text_format_parser::parse_scrape(text);
        if let Some(e) = error {
            return Err(NotPrometheusText(format!("{e:?}")));
        }
        let mut series = Vec::new();
        for m in metrics {
            for s in m.samples {
                let suffix = match (s.value.value_type, m.kind) {
                    (ValueType::Sum, _) => "_sum",
                    (ValueType::Count, _) => "_count",
                    (ValueType::Sample, Type::Histogram) => "_bucket",
                    (ValueType::Sample, _) => "",
                };
                series.push(Series {
                    name: format!("{}{suffix}", m.name),
                    labels: s.labels.iter().map(|l| (l.key.clone(), unescape(&l.value))).collect(),
                    value: s.value.value.as_f64(),
                });
            }
        }
        Ok(Scrape { series })
    }

    /// Adds another scrape's samples (another replica's): sums then cover both.
    pub fn extend(&mut self, other: Scrape) {
        self.series.extend(other.series);
    }

    /// The sum over every series named `name` that has each of `labels` (other labels may be
    /// anything); 0 when there is none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v)))
            .map(|s| s.value)
            .sum()
    }
}

/// Undoes the text format's escapes in a label value (`\\`, `\"`, `\n`).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What metrics-exporter-prometheus serves, cut down: a counter with a route pattern in a
    /// label, a gauge without labels, a summary and a histogram.
    const TEXT: &str = r#"# HELP http_requests_total Requests answered.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/{code}",status="302"} 5
http_requests_total{method="HEAD",route="/{code}",status="302"} 2
http_requests_total{method="POST",route="/api/v1/links",status="201"} 3

# TYPE spool_bytes gauge
spool_bytes 0

# TYPE redis_fallback_active gauge
redis_fallback_active 1

# TYPE lookup_seconds summary
lookup_seconds{layer="redis",quantile="0.5"} 0.001
lookup_seconds{layer="redis",quantile="0.99"} 0.004
lookup_seconds_sum{layer="redis"} 0.25
lookup_seconds_count{layer="redis"} 120

# TYPE body_bytes histogram
body_bytes_bucket{le="100"} 4
body_bytes_bucket{le="+Inf"} 6
body_bytes_sum 900
body_bytes_count 6
"#;

    fn scrape(text: &str) -> Scrape {
        match Scrape::parse(text) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_route_pattern_in_a_label_is_read_whole() {
        let s = scrape(TEXT);
        assert_eq!(s.sum("http_requests_total", &[("route", "/{code}")]), 7.0);
        assert_eq!(s.sum("http_requests_total", &[("route", "/{code}"), ("method", "HEAD")]), 2.0);
        assert_eq!(s.sum("http_requests_total", &[]), 10.0);
        assert_eq!(s.sum("http_requests_total", &[("route", "/{code")]), 0.0, "values compare whole");
    }

    #[test]
    fn label_names_compare_whole() {
        // A text search for `class="bot"` finds it inside `subclass="bot"`.
        let s = scrape("clicks_total{subclass=\"bot\"} 4\nclicks_total{class=\"human\"} 1\n");
        assert_eq!(s.sum("clicks_total", &[("class", "bot")]), 0.0);
        assert_eq!(s.sum("clicks_total", &[("class", "human")]), 1.0);
    }

    #[test]
    fn names_are_exposition_names() {
        let s = scrape(TEXT);
        assert_eq!(s.sum("redis_fallback_active", &[]), 1.0);
        assert_eq!(s.sum("lookup_seconds_count", &[("layer", "redis")]), 120.0);
        assert_eq!(s.sum("lookup_seconds_sum", &[]), 0.25);
        assert_eq!(s.sum("body_bytes_bucket", &[("le", "+Inf")]), 6.0);
        assert_eq!(s.sum("body_bytes_count", &[]), 6.0);
        // A name is never a prefix match.
        assert_eq!(s.sum("http_requests", &[]), 0.0);
        assert_eq!(s.sum("body_bytes", &[]), 0.0);
    }

    #[test]
    fn label_values_with_separators_and_escapes() {
        let s = scrape("x{a=\"1,b=2\",ua=\"say \\\"hi\\\"\\\\\"} 3\nx{a=\"line\\nbreak\"} 4\n");
        assert_eq!(s.sum("x", &[("a", "1,b=2")]), 3.0);
        assert_eq!(s.sum("x", &[("b", "2")]), 0.0);
        assert_eq!(s.sum("x", &[("ua", "say \"hi\"\\")]), 3.0);
        assert_eq!(s.sum("x", &[("a", "line\nbreak")]), 4.0);
    }

    #[test]
    fn replicas_add_up_and_absent_reads_zero() {
        let mut all = scrape("# TYPE clicks_spooled_total counter\nclicks_spooled_total 4\n");
        all.extend(scrape("# TYPE clicks_spooled_total counter\nclicks_spooled_total 6\n"));
        all.extend(scrape(""));
        assert_eq!(all.sum("clicks_spooled_total", &[]), 10.0);
        assert_eq!(all.sum("never_registered_total", &[]), 0.0);
        assert_eq!(Scrape::default().sum("clicks_spooled_total", &[]), 0.0);
    }

    #[test]
    fn text_that_is_not_prometheus_is_refused() {
        assert!(Scrape::parse("<html>502 Bad Gateway</html>\n").is_err());
        assert!(Scrape::parse("x 1\nnot a sample\n").is_err());
    }

    #[test]
    fn unescape_undoes_the_three_escapes() {
        assert_eq!(unescape(r#"a\"b\\c\nd"#), "a\"b\\c\nd");
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }
}
