//! The small bodies the redirect answers with: HTML for browsers, the JSON error shape for API
//! clients (`Accept: application/json`).
//!
//! A redirect carries no `Referrer-Policy` unless `REFERRER_POLICY` says so: the page that linked
//! decides how much of its URL the destination sees. (An override of `unsafe-url` on every
//! redirect made browsers send the full referring URL, query string included, even from HTTPS
//! to HTTP.)

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use ghostlink_web::ApiError;

/// A `Referrer-Policy` token (the W3C Referrer Policy list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerPolicy {
    NoReferrer,
    NoReferrerWhenDowngrade,
    Origin,
    OriginWhenCrossOrigin,
    SameOrigin,
    StrictOrigin,
    StrictOriginWhenCrossOrigin,
    UnsafeUrl,
}

impl ReferrerPolicy {
    pub const ALL: [ReferrerPolicy; 8] = [
        ReferrerPolicy::NoReferrer,
        ReferrerPolicy::NoReferrerWhenDowngrade,
        ReferrerPolicy::Origin,
        ReferrerPolicy::OriginWhenCrossOrigin,
        ReferrerPolicy::SameOrigin,
        ReferrerPolicy::StrictOrigin,
        ReferrerPolicy::StrictOriginWhenCrossOrigin,
        ReferrerPolicy::UnsafeUrl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReferrerPolicy::NoReferrer => "no-referrer",
            ReferrerPolicy::NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
            ReferrerPolicy::Origin => "origin",
            ReferrerPolicy::OriginWhenCrossOrigin => "origin-when-cross-origin",
            ReferrerPolicy::SameOrigin => "same-origin",
            ReferrerPolicy::StrictOrigin => "strict-origin",
            ReferrerPolicy::StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
            ReferrerPolicy::UnsafeUrl => "unsafe-url",
        }
    }
}

/// Not a `Referrer-Policy` token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a referrer policy")]
pub struct UnknownPolicy(pub String);

impl std::str::FromStr for ReferrerPolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

/// Escapes text for HTML element and attribute content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the client asked for JSON and not HTML. Read as bytes: a non-ASCII byte elsewhere in
/// `Accept` must not hide what was asked for.
fn wants_json(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).is_some_and(|v| {
        let a = String::from_utf8_lossy(v.as_bytes());
        a.contains("application/json") && !a.contains("text/html")
    })
}

fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title></head><body><h1>{title}</h1>{body_html}</body></html>"
    )
}

/// An error page (404, 410, 503) in the shape the client asked for.
pub fn error(req: &HttpRequest, err: ApiError, html_text: &str) -> HttpResponse {
    if wants_json(req) {
        return actix_web::ResponseError::error_response(&err);
    }
    let mut b = HttpResponse::build(err.status);
    b.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(s) = err.retry_after {
        b.insert_header((header::RETRY_AFTER, s.to_string()));
    }
    let title = err.status.canonical_reason().unwrap_or("Error");
    b.content_type("text/html; charset=utf-8").body(page(title, &format!("<p>{}</p>", escape(html_text))))
}

/// The redirect itself; `policy`, when configured, becomes its `Referrer-Policy`.
pub fn redirect(status: StatusCode, location: &str, policy: Option<ReferrerPolicy>) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "private, max-age=0"));
    if let Some(p) = policy {
        b.insert_header((header::REFERRER_POLICY, p.as_str()));
    }
    b.content_type("text/html; charset=utf-8")
        .body(format!("<a href=\"{}\">Redirecting</a>", escape(location)))
}

/// The page shown instead of redirecting to a destination that keeps failing.
pub fn quarantined(since: Option<chrono::DateTime<chrono::Utc>>, url: &str) -> HttpResponse {
    let since =
        since.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_else(|| "recently".into());
    let body = format!(
        "<p>This destination has been failing since {}. It may be down or gone.</p>\
         <p>Destination: <code>{}</code></p><p><a href=\"{}\" rel=\"noopener noreferrer nofollow\">Continue anyway</a></p>",
        escape(&since),
        escape(url),
        escape(url)
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(page("This link's destination is failing", &body))
}

/// The warning shown instead of redirecting to a high-risk destination: names the host and the
/// reasons, and offers a continue link.
pub fn interstitial(url: &str, reasons: &[String]) -> HttpResponse {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let items: String = reasons.iter().map(|r| format!("<li>{}</li>", escape(r))).collect();
    let body = format!(
        "<p>This link leads to <strong>{}</strong>, which looks risky:</p><ul>{items}</ul>\
         <p>Destination: <code>{}</code></p>\
         <p><a href=\"{}\" rel=\"noopener noreferrer nofollow\">Continue to {} anyway</a></p>",
        escape(&host),
        escape(url),
        escape(url),
        escape(&host)
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(page("Warning: this link may be unsafe", &body))
}

/// What an automated client gets for a link with a click limit: a page that names no
/// destination, so previews and crawlers neither use up the link nor learn where it goes.
pub fn bot_preview() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-robots-tag", "noindex"))
        .content_type("text/html; charset=utf-8")
        .body(page("Shared link", "<p>Open this link in a browser to continue.</p>"))
}

/// Why the password form is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPrompt {
    /// First asked (200).
    Ask,
    /// The password sent was wrong (401).
    Wrong,
}

/// The form of a password-protected link: it names no destination, and posts to the page's own
/// URL (no `action`), so the short URL's query comes along. API clients get the JSON error
/// (401 `password_required` / `wrong_password`).
pub fn password_form(req: &HttpRequest, prompt: PasswordPrompt) -> HttpResponse {
    let (status, code, notice) = match prompt {
        PasswordPrompt::Ask => (StatusCode::OK, "password_required", ""),
        PasswordPrompt::Wrong => {
            (StatusCode::UNAUTHORIZED, "wrong_password", "<p role=\"alert\">That password is not right.</p>")
        }
    };
    if wants_json(req) {
        let err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            code,
            "this link is protected by a password; open it in a browser to enter it",
        );
        return actix_web::ResponseError::error_response(&err);
    }
    let body = format!(
        "<p>This link is protected by a password.</p>{notice}\
         <form method=\"post\"><label>Password <input type=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required autofocus></label> <button type=\"submit\">Open</button></form>"
    );
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-robots-tag", "noindex"))
        .content_type("text/html; charset=utf-8")
        .body(page(&escape("Password required"), &body))
}

#[cfg(test)]
mod tests {
    use super::ReferrerPolicy;

    #[test]
    fn every_referrer_policy_token_round_trips_and_nothing_else_parses() {
        for p in ReferrerPolicy::ALL {
            assert_eq!(p.as_str().parse::<ReferrerPolicy>(), Ok(p));
            assert_eq!(p.as_str().to_ascii_uppercase().parse::<ReferrerPolicy>(), Ok(p));
        }
        for bad in ["", "unsafe", "no-referrer,origin", "strict-origin "] {
            assert!(bad.parse::<ReferrerPolicy>().is_err(), "{bad}");
        }
    }
}
