//! `GET /api/v1/links/{code}/qr`: a link's short URL (the `short_url` its `LinkView` shows) as
//! a QR code, SVG or PNG, drawn at a size, margin, error correction level and colours the
//! query chooses. The `qrcode` crate makes the module matrix; drawing it is done here, so the
//! margin can be any width and the PNG is a two-colour palette image of exactly `size` pixels.
//!
//! The same lookup as `GET /api/v1/links/{code}` decides who sees the code (users: their own
//! links; admins: any), so another user's link is a 404 here too. Options are checked before
//! the link is looked up, and a bad one is 422 in the JSON error shape.
//!
//! Caching: the image depends on the short URL and the options alone, and a code is never
//! reissued, so an answer keeps for a day (`max-age=86400`) and carries a strong `ETag` that
//! `If-None-Match` is answered 304 against. It is `private`: the route takes a token, and a
//! shared cache would hand the image to anyone asking for the same URL, telling them that a
//! code exists where `GET /api/v1/links/{code}` answers 404. `Vary: Accept, Authorization`,
//! since the format may come from `Accept` and a browser may hold two users' tokens.

use std::ops::RangeInclusive;

use actix_web::http::header::{self, Accept, EntityTag, IfNoneMatch};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder};
use ghostlink_domain::qr::{check_contrast, BadColour, EcLevel, LowContrast, QrFormat, Rgb};
use ghostlink_domain::UnknownName;
use ghostlink_web::ApiError;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use crate::api::{load_visible, DomainParam, LinkRef};
use crate::auth::Caller;
use crate::Shared;

/// Width and height of the image, in pixels.
pub const SIZES: RangeInclusive<u32> = 64..=2048;
/// The quiet zone around the code, in modules (the QR standard asks for 4).
pub const MARGINS: RangeInclusive<u32> = 0..=16;
/// How long a client may keep an image without asking again.
pub const CACHE_CONTROL: &str = "private, max-age=86400";
/// Part of every ETag: changing how codes are drawn changes it, so cached images are refetched.
const DRAWING: &str = "ghostlink-qr-1";
/// The query parameters there are.
const PARAMS: [&str; 6] = ["format", "size", "margin", "ec", "fg", "bg"];

/// Query of `GET /api/v1/links/{code}/qr` (documentation: the handler reads the query itself,
/// so that every refusal is a 422 naming the parameter).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct QrQuery {
    /// `svg` (the default) or `png`. Without it, an `Accept` that ranks `image/png` above
    /// `image/svg+xml` chooses PNG.
    #[param(pattern = "^(svg|png)$")]
    format: Option<String>,
    /// Width and height in pixels, 64–2048 (default 256); at least one pixel a module, margins
    /// included. A PNG's code is drawn at a whole number of pixels a module, centred, the
    /// pixels left over in the background colour.
    #[param(minimum = 64, maximum = 2048)]
    size: Option<u32>,
    /// Quiet zone around the code, in modules, 0–16 (default 4).
    #[param(minimum = 0, maximum = 16)]
    margin: Option<u32>,
    /// Error correction level: `L`, `M` (the default), `Q` or `H`.
    #[param(pattern = "^[LMQH]$")]
    ec: Option<String>,
    /// Colour of the dark modules, six hex digits (default `000000`).
    #[param(pattern = "^[0-9A-Fa-f]{6}$")]
    fg: Option<String>,
    /// Background colour, six hex digits (default `ffffff`); its contrast ratio with `fg` must
    /// be at least 3:1 (WCAG 2).
    #[param(pattern = "^[0-9A-Fa-f]{6}$")]
    bg: Option<String>,
}

/// How a code is drawn: the query's options, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QrOptions {
    pub format: QrFormat,
    pub size: u32,
    pub margin: u32,
    pub ec: EcLevel,
    pub fg: Rgb,
    pub bg: Rgb,
}

impl Default for QrOptions {
    fn default() -> Self {
        Self { format: QrFormat::Svg, size: 256, margin: 4, ec: EcLevel::M, fg: Rgb::BLACK, bg: Rgb::WHITE }
    }
}

/// Why a code cannot be drawn as asked.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("unknown query parameter '{0}'; expected one of: format, size, margin, ec, fg, bg")]
    UnknownParameter(String),
    #[error("{0}: given more than once")]
    Duplicate(&'static str),
    #[error("format: {0}")]
    Format(UnknownName),
    #[error("size: must be a whole number of pixels from 64 to 2048")]
    Size,
    #[error("margin: must be a whole number of modules from 0 to 16")]
    Margin,
    #[error("ec: {0}")]
    Ec(UnknownName),
    #[error("{0}: {1}")]
    Colour(&'static str, BadColour),
    #[error(transparent)]
    LowContrast(LowContrast),
    #[error(
        "size: this link's code is {modules} modules wide with margin {margin}; it needs a size \
         of at least {modules} pixels (a smaller margin or error correction level needs fewer)"
    )]
    TooSmall { modules: u32, margin: u32 },
    #[error("the short URL is too long for a QR code")]
    TooLong,
    #[error("encoding the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

impl QrError {
    /// The stable code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownParameter(_) => "unknown_parameter",
            Self::Duplicate(_) => "duplicate_parameter",
            Self::Format(_) => "invalid_format",
            Self::Size => "invalid_size",
            Self::Margin => "invalid_margin",
            Self::Ec(_) => "invalid_ec",
            Self::Colour(..) => "invalid_colour",
            Self::LowContrast(_) => "low_contrast",
            Self::TooSmall { .. } => "size_too_small",
            Self::TooLong => "url_too_long",
            Self::Png(_) => "internal",
        }
    }
}

impl From<QrError> for ApiError {
    fn from(e: QrError) -> Self {
        match e {
            QrError::Png(_) => ApiError::internal(),
            e => ApiError::unprocessable(e.code(), e.to_string()),
        }
    }
}

impl QrOptions {
    /// Reads a raw query string; `accept` chooses the format when the query does not. Unknown,
    /// repeated, empty or out-of-range parameters are refused.
    pub fn parse(query: &str, accept: Option<&Accept>) -> Result<Self, QrError> {
        let mut o = Self::default();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut format = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if key == "domain" {
                continue; // which link, not how it is drawn (`crate::api::LinkRef`)
            }
            let Some(name) = PARAMS.into_iter().find(|p| *p == key) else {
                return Err(QrError::UnknownParameter(key.chars().take(64).collect()));
            };
            if seen.contains(&name) {
                return Err(QrError::Duplicate(name));
            }
            seen.push(name);
            let colour = |v: &str| v.parse::<Rgb>().map_err(|e| QrError::Colour(name, e));
            match name {
                "format" => format = Some(value.parse().map_err(QrError::Format)?),
                "size" => o.size = number(&value).filter(|n| SIZES.contains(n)).ok_or(QrError::Size)?,
                "margin" => {
                    o.margin = number(&value).filter(|n| MARGINS.contains(n)).ok_or(QrError::Margin)?
                }
                "ec" => o.ec = value.parse().map_err(QrError::Ec)?,
                "fg" => o.fg = colour(&value)?,
                _ => o.bg = colour(&value)?,
            }
        }
        o.format = format.unwrap_or_else(|| accept.map_or(QrFormat::Svg, negotiate));
        check_contrast(o.fg, o.bg).map_err(QrError::LowContrast)?;
        Ok(o)
    }

    /// A strong validator of the image drawn from `text` with these options.
    pub fn etag(&self, text: &str) -> EntityTag {
        let mut h = Sha256::new();
        let (size, margin, fg, bg) =
            (self.size.to_string(), self.margin.to_string(), self.fg.to_string(), self.bg.to_string());
        for part in [DRAWING, text, self.format.as_str(), &size, &margin, self.ec.as_str(), &fg, &bg] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        EntityTag::new_strong(hex::encode(&h.finalize()[..16]))
    }
}

/// Digits only (no sign), so that `+5` and ` 5` are refused like any other non-number.
fn number(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// PNG when `Accept` ranks `image/png` above `image/svg+xml` (absent counts as below); SVG
/// otherwise, wildcards and other types included.
fn negotiate(accept: &Accept) -> QrFormat {
    let quality =
        |mime: &str| accept.iter().filter(|q| q.item.essence_str() == mime).map(|q| q.quality).max();
    match (quality("image/png"), quality("image/svg+xml")) {
        (Some(png), svg) if png > header::Quality::ZERO && svg.is_none_or(|svg| png > svg) => QrFormat::Png,
        _ => QrFormat::Svg,
    }
}

/// A QR code's modules, row by row, without its quiet zone.
pub struct Matrix {
    width: u32,
    dark: Vec<bool>,
}

impl Matrix {
    /// Encodes `text` at `ec`.
    pub fn encode(text: &str, ec: EcLevel) -> Result<Self, QrError> {
        let level = match ec {
            EcLevel::L => qrcode::EcLevel::L,
            EcLevel::M => qrcode::EcLevel::M,
            EcLevel::Q => qrcode::EcLevel::Q,
            EcLevel::H => qrcode::EcLevel::H,
        };
        let code = qrcode::QrCode::with_error_correction_level(text, level).map_err(|_| QrError::TooLong)?;
        let width = u32::try_from(code.width()).map_err(|_| QrError::TooLong)?;
        Ok(Self { width, dark: code.into_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect() })
    }

    /// Whether a module is dark, in coordinates that include a margin of `margin` modules.
    fn dark(&self, x: u32, y: u32, margin: u32) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(margin), y.checked_sub(margin)) else { return false };
        x < self.width && y < self.width && self.dark[(y * self.width + x) as usize]
    }

    /// Modules across, margins included; refused when `size` pixels cannot give each one pixel.
    fn span(&self, o: &QrOptions) -> Result<u32, QrError> {
        let modules = self.width + 2 * o.margin;
        if modules > o.size {
            return Err(QrError::TooSmall { modules, margin: o.margin });
        }
        Ok(modules)
    }
}

/// The code as an SVG document `size` pixels square: one background rectangle and one path of
/// the dark modules, in a view box one unit a module.
pub fn render_svg(m: &Matrix, o: &QrOptions) -> Result<String, QrError> {
    use std::fmt::Write;
    let n = m.span(o)?;
    let mut d = String::new();
    for y in 0..n {
        let mut x = 0;
        while x < n {
            if !m.dark(x, y, o.margin) {
                x += 1;
                continue;
            }
            let run = (x..n).take_while(|&x| m.dark(x, y, o.margin)).count();
            let _ = write!(d, "M{x} {y}h{run}v1h-{run}z");
            x += run as u32;
        }
    }
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{size}\" height=\"{size}\" \
         viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{n}\" height=\"{n}\" fill=\"#{bg}\"/><path fill=\"#{fg}\" d=\"{d}\"/></svg>\n",
        size = o.size,
        bg = o.bg,
        fg = o.fg,
    ))
}

/// The code as a PNG `size` pixels square: a two-colour palette (background, foreground) at one
/// bit a pixel, the modules a whole number of pixels each, centred.
pub fn render_png(m: &Matrix, o: &QrOptions) -> Result<Vec<u8>, QrError> {
    let n = m.span(o)?;
    let (size, scale) = (o.size, o.size / n);
    let offset = (size - scale * n) / 2;
    let stride = size.div_ceil(8) as usize;
    let background = vec![0u8; stride];
    let mut data = Vec::with_capacity(stride * size as usize);
    for my in 0..n {
        let mut row = background.clone();
        for x in offset..offset + scale * n {
            if m.dark((x - offset) / scale, my, o.margin) {
                row[(x / 8) as usize] |= 0x80 >> (x % 8);
            }
        }
        for _ in 0..scale {
            data.extend_from_slice(&row);
        }
    }
    // The rows left over, half above and half below.
    let above = offset as usize * stride;
    data.splice(0..0, std::iter::repeat_n(0u8, above));
    data.resize(stride * size as usize, 0);

    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, size, size);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::One);
    enc.set_palette([o.bg.0, o.fg.0].concat());
    let mut w = enc.write_header()?;
    w.write_image_data(&data)?;
    w.finish()?;
    Ok(out)
}

/// A link's short URL as a QR code (users: their own links; admins: any).
#[utoipa::path(
    get, path = "/api/v1/links/{code}/qr", tag = "links",
    params(
        ("code" = String, Path, description = "The short code"),
        DomainParam,
        QrQuery,
        ("Accept" = Option<String>, Header, description = "Without `format`: `image/png` ranked above `image/svg+xml` chooses PNG"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer: 304 when it still matches"),
    ),
    responses(
        (status = 200, description = "The code, encoding exactly the link's `short_url`",
            content(("image/svg+xml"), ("image/png")),
            headers(
                ("ETag" = String, description = "Strong; a hash of the short URL and the options"),
                ("Cache-Control" = String, description = "`private, max-age=86400`: the route takes a token, so no shared cache may keep it"),
                ("Vary" = String, description = "`Accept, Authorization`"),
            )),
        (status = 304, description = "Not modified: `If-None-Match` matched the ETag",
            headers(("ETag" = String), ("Cache-Control" = String), ("Vary" = String))),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 404, description = "No such link", body = crate::api::ErrorBody),
        (status = 422, description = "A bad option: unknown or repeated parameter, out of range, low contrast, or a size too small for the code", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn qr(
    caller: Caller,
    req: HttpRequest,
    link: LinkRef,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let options = QrOptions::parse(req.query_string(), req.get_header::<Accept>().as_ref())?;
    let link = load_visible(&shared, &caller, &link).await?;
    let short_url = crate::api::short_url(&shared.base_url, &link.code);
    let matrix = Matrix::encode(&short_url, options.ec)?;
    matrix.span(&options)?;
    let etag = options.etag(&short_url);
    let cached = |mut resp: HttpResponseBuilder| {
        resp.insert_header(header::ETag(etag.clone()))
            .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
            .insert_header((header::VARY, "Accept, Authorization"));
        resp
    };
    let fresh = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&etag)),
        None => false,
    };
    if fresh {
        return Ok(cached(HttpResponse::NotModified()).finish());
    }
    let body = match options.format {
        QrFormat::Svg => render_svg(&matrix, &options)?.into_bytes(),
        QrFormat::Png => {
            web::block(move || render_png(&matrix, &options)).await.map_err(|_| ApiError::internal())??
        }
    };
    Ok(cached(HttpResponse::Ok()).content_type(options.format.content_type()).body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_refuse_what_they_must() {
        assert_eq!(QrOptions::parse("", None).ok(), Some(QrOptions::default()));
        let o = QrOptions::parse("format=png&size=512&margin=0&ec=H&fg=1A237E&bg=fffde7", None).ok();
        assert_eq!(
            o,
            Some(QrOptions {
                format: QrFormat::Png,
                size: 512,
                margin: 0,
                ec: EcLevel::H,
                fg: Rgb([0x1a, 0x23, 0x7e]),
                bg: Rgb([0xff, 0xfd, 0xe7]),
            })
        );
        for (query, code) in [
            ("size=63", "invalid_size"),
            ("size=2049", "invalid_size"),
            ("size=+256", "invalid_size"),
            ("size=", "invalid_size"),
            ("size=99999999999", "invalid_size"),
            ("margin=17", "invalid_margin"),
            ("margin=-1", "invalid_margin"),
            ("ec=h", "invalid_ec"),
            ("format=gif", "invalid_format"),
            ("fg=%23000000", "invalid_colour"),
            ("bg=fff", "invalid_colour"),
            ("fg=ffffff", "low_contrast"),
            ("fg=aaaaaa", "low_contrast"),
            ("size=100&size=200", "duplicate_parameter"),
            ("colour=red", "unknown_parameter"),
        ] {
            let e = QrOptions::parse(query, None).expect_err(query);
            assert_eq!(e.code(), code, "{query}: {e}");
        }
    }

    #[test]
    fn accept_chooses_the_format_only_without_format() {
        let accept = |s: &str| {
            s.parse::<header::HeaderValue>().ok().and_then(|v| {
                let req = actix_web::test::TestRequest::default()
                    .insert_header((header::ACCEPT, v))
                    .to_http_request();
                req.get_header::<Accept>()
            })
        };
        let format = |q: &str, a: &str| QrOptions::parse(q, accept(a).as_ref()).map(|o| o.format).ok();
        assert_eq!(format("", "image/png"), Some(QrFormat::Png));
        assert_eq!(format("", "image/svg+xml, image/png"), Some(QrFormat::Svg));
        assert_eq!(format("", "image/svg+xml;q=0.5, image/png"), Some(QrFormat::Png));
        assert_eq!(format("", "image/png;q=0"), Some(QrFormat::Svg));
        assert_eq!(format("", "*/*"), Some(QrFormat::Svg));
        assert_eq!(format("format=svg", "image/png"), Some(QrFormat::Svg));
    }

    #[test]
    fn etags_follow_the_normalised_options_and_the_text() {
        let o = |q: &str| QrOptions::parse(q, None).expect(q);
        let tag = |q: &str, text: &str| o(q).etag(text).to_string();
        let base = tag("", "http://sho.rt/abc");
        assert_eq!(tag("format=svg&size=256&margin=4&ec=M&fg=000000&bg=FFFFFF", "http://sho.rt/abc"), base);
        assert_ne!(tag("", "http://sho.rt/abd"), base);
        for q in ["format=png", "size=257", "margin=3", "ec=L", "fg=000001", "bg=fffffe"] {
            assert_ne!(tag(q, "http://sho.rt/abc"), base, "{q}");
        }
        assert!(!o("").etag("x").weak, "strong");
    }

    #[test]
    fn png_is_size_square_and_too_small_a_size_is_refused() {
        let m = Matrix::encode("http://sho.rt/abcdefg", EcLevel::M).expect("encode");
        let o = QrOptions { format: QrFormat::Png, size: 100, ..QrOptions::default() };
        let png = render_png(&m, &o).expect("png");
        let info = png::Decoder::new(std::io::Cursor::new(png)).read_info().expect("decode");
        assert_eq!((info.info().width, info.info().height), (100, 100));
        let long = Matrix::encode(&format!("http://sho.rt/{}", "x".repeat(64)), EcLevel::H).expect("encode");
        let tight = QrOptions { size: 64, margin: 16, ..o };
        assert!(render_png(&m, &tight).is_ok(), "a short code fits");
        assert_eq!(render_png(&long, &tight).map_err(|e| e.code()).err(), Some("size_too_small"));
        assert_eq!(render_svg(&long, &tight).map_err(|e| e.code()).err(), Some("size_too_small"));
    }
}
