//! CSRF protection by double submit: a random token in an `HttpOnly`, `SameSite=Lax` cookie,
//! repeated in a hidden field of every form; a POST whose field differs from its cookie is
//! refused with 403 before anything else happens.

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponse};
use rand::Rng;

pub const CSRF_COOKIE: &str = "gl_csrf";

/// The request's CSRF token, and the cookie to set when it had none.
pub fn token_for(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(c) = req.cookie(CSRF_COOKIE).filter(|c| c.value().len() == 43) {
        return (c.value().to_string(), None);
    }
    let token: String =
        rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(43).map(char::from).collect();
    let cookie = crate::cookie(CSRF_COOKIE, &token, secure);
    (token, Some(cookie))
}

/// Whether `field` matches the request's CSRF cookie (compared in constant time).
pub fn valid(req: &HttpRequest, field: &str) -> bool {
    let Some(cookie) = req.cookie(CSRF_COOKIE) else { return false };
    let (a, b) = (cookie.value().as_bytes(), field.as_bytes());
    a.len() == 43 && a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn refused() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body("This form has expired or did not come from this site. Go back, reload the page and try again.")
}
