-- Bot classification made by the redirect at request time (crawlers, link-preview fetchers,
-- HEAD requests, no user agent), stored with the click so stats separate humans and bots.
ALTER TABLE clicks ADD COLUMN bot BOOLEAN NOT NULL DEFAULT false;
