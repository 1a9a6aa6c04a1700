//! What kind of device and operating system a request comes from, read from its `User-Agent`
//! for the `device` and `os` conditions of a redirect rule.
//!
//! The parser is `woothee` (a shared, data-driven UA dataset, no runtime files): about 2–3 µs
//! per header in release builds, where `uaparser` (the ua-parser regex list) takes ~100×
//! longer and must load a YAML file at start. Its categories are coarse (`smartphone` covers
//! iPads and Android tablets), so tablets are told apart here by the usual tokens. What
//! [`crate::bot::is_bot`] calls a bot is a bot here too, so a `bot` rule and the click stats
//! agree on who is automated; a request without a user agent is one.

crate::named::named_enum! {
    /// The kind of device a request comes from.
    pub enum DeviceType: "device" {
        Desktop = "desktop",
        Mobile = "mobile",
        Tablet = "tablet",
        /// Game consoles and other appliances with a browser.
        Console = "console",
        /// Crawlers, link-preview fetchers, HTTP libraries, no user agent at all.
        Bot = "bot",
        /// A user agent the parser does not recognise.
        Other = "other",
    }
}

crate::named::named_enum! {
    /// The operating system a request comes from. iPadOS is `ios` (use `device` `tablet` to
    /// tell iPads apart; an iPad in desktop mode sends a Mac user agent and reads as `macos`).
    pub enum Os: "os" {
        Android = "android",
        Ios = "ios",
        Windows = "windows",
        Macos = "macos",
        Linux = "linux",
        Chromeos = "chromeos",
        /// Anything else, or unknown.
        Other = "other",
    }
}

/// What a `User-Agent` says about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub device: DeviceType,
    pub os: Os,
}

/// Bytes of a `User-Agent` that are parsed: real ones are 100–400 bytes and say the platform
/// first, and the parser's cost grows with the length (~70 µs at 8 KiB).
pub const MAX_UA_BYTES: usize = 512;

/// Parses a `User-Agent` header (absent: a bot, like [`crate::bot::is_bot`] says).
pub fn classify(user_agent: Option<&str>) -> Client {
    parse(user_agent).0
}

/// [`classify`], and the browser's name as the parser's dataset spells it (`Chrome`, `Safari`,
/// `Firefox`, `Edge`, `Googlebot`, …; `None` when it does not know): the click breakdowns'
/// browser.
pub fn classify_with_browser(user_agent: Option<&str>) -> (Client, Option<String>) {
    let (client, name) = parse(user_agent);
    (client, name.filter(|n| !n.is_empty() && *n != woothee::woothee::VALUE_UNKNOWN).map(str::to_owned))
}

fn parse(user_agent: Option<&str>) -> (Client, Option<&str>) {
    let ua = match user_agent.map(str::trim) {
        None | Some("") => return (Client { device: DeviceType::Bot, os: Os::Other }, None),
        Some(ua) => truncate(ua, MAX_UA_BYTES),
    };
    let parsed = woothee::parser::Parser::new().parse(ua);
    let os = parsed.as_ref().map_or(Os::Other, |r| os_of(r.os));
    let device = match parsed.as_ref().map(|r| r.category) {
        Some("crawler" | "misc") => DeviceType::Bot,
        _ if crate::bot::is_bot(false, Some(ua)) => DeviceType::Bot,
        Some("pc") => DeviceType::Desktop,
        Some("smartphone") if is_tablet(ua, parsed.as_ref().map_or("", |r| r.os)) => DeviceType::Tablet,
        Some("smartphone" | "mobilephone") => DeviceType::Mobile,
        Some("appliance") => DeviceType::Console,
        _ => DeviceType::Other,
    };
    (Client { device, os }, parsed.map(|r| r.name))
}

/// Builds the parser's regular expressions (~0.5 ms, otherwise paid by the first request
/// that needs a user agent read). Call once at start-up.
pub fn warm_up() {
    classify(Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.0.0 Safari/537.36"));
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// woothee's OS names (its dataset's `os` values).
fn os_of(name: &str) -> Os {
    match name {
        "Android" => Os::Android,
        "iPhone" | "iPad" | "iPod" | "iOS" => Os::Ios,
        "Mac OSX" | "Mac OS Classic" => Os::Macos,
        "Linux" => Os::Linux,
        "ChromeOS" => Os::Chromeos,
        n if n.starts_with("Windows Phone") || n.starts_with("Windows CE") => Os::Other,
        n if n.starts_with("Windows") => Os::Windows,
        _ => Os::Other,
    }
}

/// An iPad, an Android browser without the `Mobile` token (Google's convention for tablets),
/// or a browser that says `Tablet` (Firefox for Android on tablets).
fn is_tablet(ua: &str, os: &str) -> bool {
    os == "iPad" || ua.contains("Tablet") || (os == "Android" && !ua.contains("Mobile"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ua: &str) -> (DeviceType, Os) {
        let c = classify(Some(ua));
        (c.device, c.os)
    }

    #[test]
    fn real_user_agents() {
        use DeviceType::*;
        let table: &[(&str, DeviceType, Os)] = &[
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", Desktop, Os::Windows),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", Desktop, Os::Macos),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", Desktop, Os::Linux),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", Desktop, Os::Chromeos),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", Mobile, Os::Ios),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", Mobile, Os::Android),
            ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", Tablet, Os::Ios),
            ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", Tablet, Os::Android),
            ("Mozilla/5.0 (Android 13; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", Tablet, Os::Android),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Bot, Os::Other),
            ("curl/8.5.0", Bot, Os::Other),
            ("WhatsApp/2.23.20.0 A", Bot, Os::Other),
            ("Mozilla/5.0 (PlayStation 4 11.00) AppleWebKit/605.1.15 (KHTML, like Gecko)", Console, Os::Other),
        ];
        for (ua, device, os) in table {
            assert_eq!(c(ua), (*device, *os), "{ua}");
        }
    }

    #[test]
    fn missing_or_hostile_user_agents() {
        assert_eq!(classify(None).device, DeviceType::Bot);
        assert_eq!(classify(Some("   ")).device, DeviceType::Bot);
        for ua in ["\u{0}\u{1}\u{7f}", "((((;;;;))))", "Mozilla/5.0 (", "ü€𝄞", "Mozilla/5.0 (Windows NT\r\n"]
        {
            let got = classify(Some(ua));
            assert!(matches!(got.device, DeviceType::Other | DeviceType::Desktop), "{ua:?}: {got:?}");
        }
        // Past MAX_UA_BYTES the header is cut (on a char boundary) and still read.
        let long = format!(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36 {}",
            "é".repeat(20_000)
        );
        assert_eq!(c(&long), (DeviceType::Mobile, Os::Android));
    }

    #[test]
    fn names_round_trip() {
        for d in DeviceType::ALL {
            assert_eq!(d.as_str().parse::<DeviceType>(), Ok(*d));
        }
        let err = "phone".parse::<DeviceType>().expect_err("phone is no device");
        assert_eq!(
            err.to_string(),
            "unknown device 'phone' (expected desktop, mobile, tablet, console, bot, other)"
        );
        assert_eq!("macos".parse::<Os>(), Ok(Os::Macos));
    }
}
