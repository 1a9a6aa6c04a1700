//! Telling automated requests from people: crawlers, link-preview fetchers, HEAD requests and
//! clients that send no user agent. Used on every click (stored with it, so stats show humans
//! and bots apart) and to keep bots from using up a `max_clicks` link.

/// User-agent fragments of crawlers, link-preview fetchers and HTTP libraries (lower case).
const BOT_FRAGMENTS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "preview",
    "facebookexternalhit",
    "embedly",
    "whatsapp",
    "telegram",
    "discord",
    "skypeuripreview",
    "linkedinbot",
    "pinterest",
    "vkshare",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "headless",
    "httpclient",
    "axios/",
    "node-fetch",
    "scrapy",
    "monitor",
    "uptime",
    "check_http",
];

crate::named::named_enum! {
    /// Why a request was taken for automated: the reason stored with a bot's click.
    pub enum BotReason: "bot reason" {
        /// A `HEAD` request (link checkers, preview fetchers).
        Head = "head",
        /// No `User-Agent` at all.
        NoUserAgent = "no_user_agent",
        /// A user agent naming a crawler, a link-preview fetcher or an HTTP library.
        KnownAgent = "known_agent",
        /// The redirect said so for a reason the user agent does not show (events of a newer
        /// redirect).
        Other = "other",
    }
}

/// Why a request looks automated, or `None` when it looks like a person.
pub fn verdict(method_is_head: bool, user_agent: Option<&str>) -> Option<BotReason> {
    if method_is_head {
        return Some(BotReason::Head);
    }
    match user_agent.map(str::trim) {
        None | Some("") => Some(BotReason::NoUserAgent),
        Some(ua) => {
            let ua = ua.to_ascii_lowercase();
            BOT_FRAGMENTS.iter().any(|f| ua.contains(f)).then_some(BotReason::KnownAgent)
        }
    }
}

/// Whether a request looks automated.
pub fn is_bot(method_is_head: bool, user_agent: Option<&str>) -> bool {
    verdict(method_is_head, user_agent).is_some()
}

#[cfg(test)]
mod tests {
    use super::is_bot;

    #[test]
    fn bots_and_people() {
        for ua in [
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1",
            "WhatsApp/2.23",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Discordbot/2.0)",
            "curl/8.4.0",
            "python-requests/2.31",
            "Go-http-client/1.1",
            "Mozilla/5.0 HeadlessChrome/120",
        ] {
            assert!(is_bot(false, Some(ua)), "{ua}");
        }
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1",
        ] {
            assert!(!is_bot(false, Some(ua)), "{ua}");
            assert!(is_bot(true, Some(ua)), "HEAD is never a person clicking");
        }
        assert!(is_bot(false, None));
        assert!(is_bot(false, Some("  ")));
    }
}
