//! Diesel table definitions, kept by hand in step with `migrations/`.
//! (`ghostlink-db`'s tests run the migrations and exercise every column.)

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        name -> Text,
        role -> Text,
        token_sha256 -> Text,
        prefix -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        workspace_id -> Int8,
        member_id -> Int8,
        scopes -> Jsonb,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    members (id) {
        id -> Int8,
        workspace_id -> Int8,
        name -> Text,
        role -> Text,
        created_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
        email -> Nullable<Text>,
        password_hash -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        member_id -> Int8,
        token_sha256 -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    account_tokens (id) {
        id -> Int8,
        kind -> Text,
        token_sha256 -> Text,
        workspace_id -> Int8,
        member_id -> Nullable<Int8>,
        role -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    link_revisions (id) {
        id -> Int8,
        link_id -> Int8,
        changed_at -> Timestamptz,
        member_id -> Nullable<Int8>,
        actor -> Text,
        old_url -> Text,
        new_url -> Text,
    }
}

diesel::table! {
    tags (id) {
        id -> Int8,
        workspace_id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    link_tags (link_id, tag_id) {
        link_id -> Int8,
        tag_id -> Int8,
    }
}

diesel::table! {
    links (id) {
        id -> Int8,
        code -> Text,
        url -> Text,
        owner_token_id -> Nullable<Int8>,
        status -> Text,
        status_since -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        max_clicks -> Nullable<Int8>,
        click_count -> Int8,
        workspace_id -> Int8,
        owner_member_id -> Nullable<Int8>,
        title -> Nullable<Text>,
        description -> Nullable<Text>,
        rules -> Jsonb,
        forward_query -> Bool,
        utm -> Jsonb,
        password_hash -> Nullable<Text>,
        domain_id -> Nullable<Int8>,
    }
}

diesel::table! {
    domains (id) {
        id -> Int8,
        workspace_id -> Int8,
        host -> Text,
        root_url -> Nullable<Text>,
        not_found_url -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    clicks (event_id, occurred_at) {
        event_id -> Uuid,
        code -> Text,
        occurred_at -> Timestamptz,
        outcome -> Text,
        method -> Text,
        user_agent -> Nullable<Text>,
        referrer -> Nullable<Text>,
        client_hash -> Text,
        bot -> Bool,
        rule -> Nullable<Int2>,
        country -> Nullable<Text>,
        region -> Nullable<Text>,
        browser -> Nullable<Text>,
        os -> Nullable<Text>,
        device -> Nullable<Text>,
        referrer_host -> Nullable<Text>,
        domain -> Nullable<Text>,
        bot_reason -> Nullable<Text>,
    }
}

diesel::joinable!(links -> api_tokens (owner_token_id));
diesel::joinable!(api_tokens -> members (member_id));
diesel::joinable!(members -> workspaces (workspace_id));
diesel::joinable!(sessions -> members (member_id));
diesel::joinable!(link_tags -> tags (tag_id));
diesel::joinable!(link_tags -> links (link_id));
diesel::joinable!(link_revisions -> links (link_id));
diesel::joinable!(links -> domains (domain_id));
diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    workspaces,
    members,
    sessions,
    account_tokens,
    link_revisions,
    tags,
    link_tags,
    links,
    domains,
    clicks,
    outbox,
    risk_assessments,
    link_health,
    link_checks,
    probe_findings
);

diesel::table! {
    outbox (id) {
        id -> Int8,
        event_id -> Uuid,
        routing_key -> Text,
        payload -> Text,
        created_at -> Timestamptz,
        published_at -> Nullable<Timestamptz>,
        traceparent -> Nullable<Text>,
        tracestate -> Nullable<Text>,
    }
}

diesel::table! {
    /// Session-local staging table of `clicks::insert_batch` (`LIKE clicks`).
    clicks_in (event_id, occurred_at) {
        event_id -> Uuid,
        code -> Text,
        occurred_at -> Timestamptz,
        outcome -> Text,
        method -> Text,
        user_agent -> Nullable<Text>,
        referrer -> Nullable<Text>,
        client_hash -> Text,
        bot -> Bool,
        rule -> Nullable<Int2>,
        country -> Nullable<Text>,
        region -> Nullable<Text>,
        browser -> Nullable<Text>,
        os -> Nullable<Text>,
        device -> Nullable<Text>,
        referrer_host -> Nullable<Text>,
        domain -> Nullable<Text>,
        bot_reason -> Nullable<Text>,
    }
}

diesel::table! {
    risk_assessments (code) {
        code -> Text,
        url -> Text,
        score -> Int4,
        level -> Text,
        reasons -> Jsonb,
        assessed_at -> Timestamptz,
    }
}

diesel::table! {
    link_health (code) {
        code -> Text,
        url -> Text,
        state -> Text,
        consecutive_failures -> Int4,
        consecutive_successes -> Int4,
        failing_since -> Nullable<Timestamptz>,
        last_checked_at -> Nullable<Timestamptz>,
        next_check_at -> Timestamptz,
    }
}

diesel::table! {
    link_checks (id) {
        id -> Int8,
        code -> Text,
        checked_at -> Timestamptz,
        outcome -> Text,
        status -> Nullable<Int4>,
        latency_ms -> Int4,
        method -> Text,
        final_url -> Nullable<Text>,
        redirects -> Jsonb,
        error -> Nullable<Text>,
        error_detail -> Nullable<Text>,
    }
}

diesel::table! {
    probe_findings (id) {
        id -> Int8,
        kind -> Text,
        client -> Text,
        code -> Text,
        count -> Int8,
        first_seen -> Timestamptz,
        last_seen -> Timestamptz,
        action -> Text,
        client_key -> Text,
    }
}
