//! The options a link's QR code may be drawn with (`GET /api/v1/links/{code}/qr`): image
//! format, error correction level and colours, with the rules they must meet. Pure values and
//! checks, so the shortener only renders and every rule is unit tested here.

use std::fmt;
use std::str::FromStr;

use crate::named::named_enum;

named_enum! {
    /// The image a QR code is answered as.
    pub enum QrFormat: "QR image format" {
        Svg = "svg",
        Png = "png",
    }
}

impl QrFormat {
    /// The media type of the image.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
        }
    }
}

named_enum! {
    /// How much of a QR code may be lost and still read: about 7 %, 15 %, 25 % or 30 % of it.
    /// A higher level makes a denser code for the same text.
    pub enum EcLevel: "error correction level" {
        L = "L",
        M = "M",
        Q = "Q",
        H = "H",
    }
}

/// The least WCAG 2 contrast ratio between a code's colours: 3:1, what WCAG asks of graphics
/// that must be recognised. Below it scanners misread or miss the code.
pub const MIN_CONTRAST: f64 = 3.0;

/// An sRGB colour, written as six hex digits (`1a2b3c`, no `#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    pub const BLACK: Rgb = Rgb([0, 0, 0]);
    pub const WHITE: Rgb = Rgb([0xff, 0xff, 0xff]);

    /// Relative luminance (WCAG 2): 0 for black to 1 for white.
    pub fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// The WCAG 2 contrast ratio of two colours, 1 (equal) to 21 (black and white), either order.
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }
}

/// Six lower-case hex digits.
impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "{r:02x}{g:02x}{b:02x}")
    }
}

/// A colour that is not six hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a colour: give six hex digits, e.g. 000000")]
pub struct BadColour(pub String);

impl FromStr for Rgb {
    type Err = BadColour;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadColour(s.to_string());
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| bad());
        Ok(Rgb([byte(0)?, byte(2)?, byte(4)?]))
    }
}

/// Two colours a code cannot be read in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "fg {fg} and bg {bg} have a contrast ratio of {ratio:.2}:1; at least {MIN_CONTRAST}:1 is needed to scan"
)]
pub struct LowContrast {
    pub fg: Rgb,
    pub bg: Rgb,
    pub ratio: f64,
}

/// Checks that a code drawn in `fg` on `bg` can be scanned (contrast at least [`MIN_CONTRAST`]).
pub fn check_contrast(fg: Rgb, bg: Rgb) -> Result<(), LowContrast> {
    let ratio = fg.contrast(bg);
    if ratio < MIN_CONTRAST {
        return Err(LowContrast { fg, bg, ratio });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_six_hex_digits_either_case() {
        assert_eq!("000000".parse(), Ok(Rgb::BLACK));
        assert_eq!("FFffFF".parse(), Ok(Rgb::WHITE));
        assert_eq!("1a2B3c".parse::<Rgb>().map(|c| c.to_string()), Ok("1a2b3c".to_string()));
        for bad in ["", "fff", "#000000", "0000000", "00000g", "+12345", "ééé", "00 000"] {
            assert!(bad.parse::<Rgb>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn contrast_is_wcag_and_refuses_what_cannot_be_scanned() {
        assert!((Rgb::BLACK.contrast(Rgb::WHITE) - 21.0).abs() < 1e-9);
        assert!((Rgb::WHITE.contrast(Rgb::BLACK) - 21.0).abs() < 1e-9);
        assert!((Rgb([0x12, 0x34, 0x56]).contrast(Rgb([0x12, 0x34, 0x56])) - 1.0).abs() < 1e-9);
        assert!(check_contrast(Rgb::BLACK, Rgb::WHITE).is_ok());
        // Light on dark (an inverted code) is allowed: the ratio is the same either way.
        assert!(check_contrast(Rgb::WHITE, Rgb([0x00, 0x33, 0x66])).is_ok());
        assert!(check_contrast(Rgb::WHITE, Rgb::WHITE).is_err());
        // #777777 on white is 4.48:1, #aaaaaa on white 2.32:1.
        assert!(check_contrast(Rgb([0x77; 3]), Rgb::WHITE).is_ok());
        let e = check_contrast(Rgb([0xaa; 3]), Rgb::WHITE).expect_err("too pale");
        assert!(e.to_string().contains("2.32:1"), "{e}");
    }

    #[test]
    fn names_parse_and_print() {
        assert_eq!("png".parse(), Ok(QrFormat::Png));
        assert_eq!(QrFormat::Svg.content_type(), "image/svg+xml");
        assert_eq!("Q".parse(), Ok(EcLevel::Q));
        assert!("q".parse::<EcLevel>().is_err(), "names are exact; callers fold case");
    }
}
