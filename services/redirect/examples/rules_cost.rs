//! The in-memory part of one redirect, repeated, for instruction counts under callgrind: the
//! cached snapshot's decision, then the destination (`destination::choose`: rules, query
//! forwarding/UTM) and the `Location` check, for a request of a desktop browser that matches
//! none of the rules. No HTTP, no lookup, no click event. `ops/bench/rules.sh` runs it for each
//! kind with ITERATIONS and with 0 and divides the difference of the totals by ITERATIONS, so
//! the set-up (parsing the snapshot, building the request, the parser's warm-up) cancels out.
//!
//!     valgrind --tool=callgrind target/release/examples/rules_cost rules 100000
//!
//! Kinds: `plain` (no rules, no query options), `rules` (device=mobile, language=de, query
//! ref=x: all three evaluated, the User-Agent parsed), `utm` (forward_query and three UTM values).

use actix_web::http::header;
use actix_web::test::TestRequest;
use anyhow::{bail, Context};
use ghostlink_domain::{Decision, LinkSnapshot};
use ghostlink_redirect::destination::{self, Request};

const RULES: &str = r#"[{"conditions":[{"type":"device","is":["mobile"]}],"url":"https://example.com/m"},
    {"conditions":[{"type":"language","is":["de"]}],"url":"https://example.com/de"},
    {"conditions":[{"type":"query","name":"ref","value":"x"}],"url":"https://example.com/ref"}]"#;
const UTM: &str = r#"{"forward_query":true,"utm":{"source":"bench","medium":"email","campaign":"launch"}}"#;
const DESKTOP: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn snapshot(kind: &str) -> anyhow::Result<LinkSnapshot> {
    let (rules, query) = match kind {
        "plain" => ("[]", "{}"),
        "rules" => (RULES, "{}"),
        "utm" => ("[]", UTM),
        other => bail!("unknown kind {other:?} (plain, rules, utm)"),
    };
    let json = format!(
        r#"{{"code":"x1","url":"https://example.com/page/1","status":"active","expires_at":null,
            "max_clicks":null,"rules":{rules},"query":{query}}}"#
    );
    serde_json::from_str(&json).context("snapshot json")
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "plain".to_owned());
    let iterations: u64 = args.next().as_deref().unwrap_or("100000").parse().context("ITERATIONS")?;
    let link = snapshot(&kind)?;
    ghostlink_domain::rules::warm_up();
    let req = TestRequest::get()
        .uri("/x1?src=wrk")
        .insert_header((header::USER_AGENT, DESKTOP))
        .insert_header((header::ACCEPT_LANGUAGE, "en-US,en;q=0.9"))
        .to_http_request();
    let fallbacks = metrics::Counter::noop();
    // One cache for the run, as the service has: the user agent is parsed on the first request.
    let clients = destination::ClientCache::new();
    let now = chrono::Utc::now();
    let mut bytes = 0usize;
    for _ in 0..iterations {
        let link = std::hint::black_box(&link);
        if !matches!(link.decide(now), Decision::Redirect { .. }) {
            bail!("the snapshot does not redirect");
        }
        let request = Request { req: &req, user_agent: Some(DESKTOP), client: [127, 0, 0, 1].into(), now };
        let chosen = destination::choose(link, &request, None, &clients, &fallbacks);
        let location = ghostlink_domain::safe_location(&chosen.url).context("not a Location")?;
        bytes += std::hint::black_box(location).len();
    }
    println!("{kind}: {iterations} iterations, {bytes} Location bytes");
    Ok(())
}
