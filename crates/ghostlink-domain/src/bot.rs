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

/// Whether a request looks automated.
pub fn is_bot(method_is_head: bool, user_agent: Option<&str>) -> bool {
    if method_is_head {
        return true;
    }
    match user_agent.map(str::trim) {
        None | Some("") => true,
        Some(ua) => {
            let ua = ua.to_ascii_lowercase();
            BOT_FRAGMENTS.iter().any(|f| ua.contains(f))
        }
    }
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
