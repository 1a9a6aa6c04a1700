//! Workspaces: who may do what to a team's links. A workspace owns links, tags and API keys; a
//! member has one [`MemberRole`] in it; a key acts for a member and carries [`Scope`]s. What a
//! request may do is the meet of the two ([`Grant::allows`]): the key's scopes bound what the
//! member's role allows, so a leaked read-only key cannot write even for an owner.
//!
//! Pure rules, so the auth matrix of every route × role × own/other is a unit test here before
//! it is an HTTP test in the shortener.

crate::named::named_enum! {
    /// A member's role in one workspace.
    pub enum MemberRole: "member role" {
        /// Everything an admin may, and managing owners.
        Owner = "owner",
        /// Any link of the workspace, its members (but owners), its keys and tags.
        Admin = "admin",
        /// Creates links; changes and deletes their own.
        Member = "member",
        /// Reads links and analytics.
        Viewer = "viewer",
    }
}

crate::named::named_enum! {
    /// What an API key may be used for.
    pub enum Scope: "scope" {
        LinksRead = "links:read",
        LinksWrite = "links:write",
        AnalyticsRead = "analytics:read",
        WorkspaceAdmin = "workspace:admin",
    }
}

/// What a request asks to do inside its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List or read links, their revisions, tags and QR codes.
    ReadLinks,
    /// Create a link (owned by the caller).
    CreateLink,
    /// Change or delete a link; `own` when the caller's member created it.
    WriteLink { own: bool },
    /// Rename or delete a tag (every link carrying it changes).
    ManageTags,
    /// Read clicks and breakdowns.
    ReadAnalytics,
    /// List, add, change and remove members and keys; `owner` when the change concerns an owner
    /// (adding one, changing one's role, removing one, or a key for one).
    AdminWorkspace { owner: bool },
    /// List webhook subscriptions and read their delivery logs (secrets are never shown again).
    ReadWebhooks,
    /// Create, change, delete and test webhook subscriptions, rotate their secrets.
    ManageWebhooks,
}

impl MemberRole {
    /// The scopes a key of this member may carry: a key never holds more than its member's role
    /// can use.
    pub fn allows_scope(self, scope: Scope) -> bool {
        match scope {
            Scope::LinksRead | Scope::AnalyticsRead => true,
            Scope::LinksWrite => self != MemberRole::Viewer,
            Scope::WorkspaceAdmin => matches!(self, MemberRole::Owner | MemberRole::Admin),
        }
    }

    /// Every scope this role can use: the default of a key created without a list.
    pub fn full_scopes(self) -> Vec<Scope> {
        Scope::ALL.iter().copied().filter(|&s| self.allows_scope(s)).collect()
    }

    fn permits(self, action: Action) -> bool {
        use MemberRole::*;
        match action {
            Action::ReadLinks | Action::ReadAnalytics => true,
            Action::CreateLink => self != Viewer,
            Action::WriteLink { own } => match self {
                Owner | Admin => true,
                Member => own,
                Viewer => false,
            },
            Action::ManageTags => matches!(self, Owner | Admin),
            Action::AdminWorkspace { owner } => self == Owner || (self == Admin && !owner),
            Action::ReadWebhooks => self != Viewer,
            Action::ManageWebhooks => matches!(self, Owner | Admin),
        }
    }
}

impl Scope {
    /// The scope an action needs.
    pub fn needed_for(action: Action) -> Scope {
        match action {
            Action::ReadLinks | Action::ReadWebhooks => Scope::LinksRead,
            Action::CreateLink | Action::WriteLink { .. } | Action::ManageTags => Scope::LinksWrite,
            Action::ReadAnalytics => Scope::AnalyticsRead,
            Action::AdminWorkspace { .. } | Action::ManageWebhooks => Scope::WorkspaceAdmin,
        }
    }
}

/// What one key, acting for one member, holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: MemberRole,
    pub scopes: Vec<Scope>,
}

/// Why a [`Grant`] refuses an action: the 403's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this key lacks the scope {0}")]
    Scope(Scope),
    #[error("a workspace {0} may not do this")]
    Role(MemberRole),
}

impl Grant {
    /// Whether the key's scopes and the member's role both allow `action`.
    pub fn allows(&self, action: Action) -> Result<(), Refused> {
        let scope = Scope::needed_for(action);
        if !self.scopes.contains(&scope) {
            return Err(Refused::Scope(scope));
        }
        if !self.role.permits(action) {
            return Err(Refused::Role(self.role));
        }
        Ok(())
    }
}

/// Why a scope list cannot be given to a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scopes: at least one scope is needed")]
    Empty,
    #[error("scopes: a {role} cannot use {scope}")]
    BeyondRole { role: MemberRole, scope: Scope },
}

/// The scopes a new key of a `role` member gets: `asked` deduplicated in declaration order, or
/// all the role can use when nothing was asked.
pub fn key_scopes(role: MemberRole, asked: Option<&[Scope]>) -> Result<Vec<Scope>, ScopeError> {
    let Some(asked) = asked else { return Ok(role.full_scopes()) };
    if asked.is_empty() {
        return Err(ScopeError::Empty);
    }
    if let Some(&scope) = asked.iter().find(|&&s| !role.allows_scope(s)) {
        return Err(ScopeError::BeyondRole { role, scope });
    }
    Ok(Scope::ALL.iter().copied().filter(|s| asked.contains(s)).collect())
}

/// Why a workspace slug is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slug: 2–40 of a-z, 0-9 and '-', starting and ending with a letter or digit")]
pub struct SlugError;

/// Checks a workspace slug: what names it in URLs and on the command line.
pub fn validate_slug(slug: &str) -> Result<(), SlugError> {
    let b = slug.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = (2..=40).contains(&b.len())
        && b.iter().all(|c| edge(c) || *c == b'-')
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge);
    if ok {
        Ok(())
    } else {
        Err(SlugError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_action() -> Vec<Action> {
        vec![
            Action::ReadLinks,
            Action::CreateLink,
            Action::WriteLink { own: true },
            Action::WriteLink { own: false },
            Action::ManageTags,
            Action::ReadAnalytics,
            Action::AdminWorkspace { owner: false },
            Action::AdminWorkspace { owner: true },
            Action::ReadWebhooks,
            Action::ManageWebhooks,
        ]
    }

    #[test]
    fn the_role_matrix_with_every_scope() {
        use MemberRole::*;
        // (role, actions allowed with every scope the role can hold), in every_action's order.
        let table = [
            (Owner, [true, true, true, true, true, true, true, true, true, true]),
            (Admin, [true, true, true, true, true, true, true, false, true, true]),
            (Member, [true, true, true, false, false, true, false, false, true, false]),
            (Viewer, [true, false, false, false, false, true, false, false, false, false]),
        ];
        for (role, allowed) in table {
            let grant = Grant { role, scopes: Scope::ALL.to_vec() };
            for (action, want) in every_action().into_iter().zip(allowed) {
                assert_eq!(grant.allows(action).is_ok(), want, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn a_key_without_the_scope_is_refused_whatever_the_role() {
        for &role in MemberRole::ALL {
            for action in every_action() {
                let needed = Scope::needed_for(action);
                let scopes = Scope::ALL.iter().copied().filter(|&s| s != needed).collect();
                let grant = Grant { role, scopes };
                assert_eq!(grant.allows(action), Err(Refused::Scope(needed)), "{role} {action:?}");
            }
        }
    }

    #[test]
    fn key_scopes_never_exceed_the_role() {
        assert_eq!(key_scopes(MemberRole::Viewer, None), Ok(vec![Scope::LinksRead, Scope::AnalyticsRead]));
        assert_eq!(key_scopes(MemberRole::Owner, None), Ok(Scope::ALL.to_vec()));
        assert_eq!(
            key_scopes(MemberRole::Member, Some(&[Scope::WorkspaceAdmin])),
            Err(ScopeError::BeyondRole { role: MemberRole::Member, scope: Scope::WorkspaceAdmin })
        );
        assert_eq!(key_scopes(MemberRole::Admin, Some(&[])), Err(ScopeError::Empty));
        assert_eq!(
            key_scopes(MemberRole::Admin, Some(&[Scope::AnalyticsRead, Scope::LinksRead, Scope::LinksRead])),
            Ok(vec![Scope::LinksRead, Scope::AnalyticsRead])
        );
    }

    #[test]
    fn scopes_and_roles_have_their_names() {
        assert_eq!("links:write".parse::<Scope>(), Ok(Scope::LinksWrite));
        assert!("links:delete".parse::<Scope>().is_err());
        assert_eq!("viewer".parse::<MemberRole>(), Ok(MemberRole::Viewer));
    }

    #[test]
    fn slugs() {
        for ok in ["acme", "a1", "team-42", "x".repeat(40).as_str()] {
            assert_eq!(validate_slug(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a", "-acme", "acme-", "Acme", "ac me", "ac_me", "é1", &"x".repeat(41)] {
            assert_eq!(validate_slug(bad), Err(SlugError), "{bad}");
        }
    }
}
