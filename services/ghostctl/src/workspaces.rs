//! `ghostctl workspace create|list|add-member|key`: a team's workspace, its members and their
//! API keys, from the operator's shell (the API does the same for a workspace's own admins).

use clap::Subcommand;
use ghostlink_db::{tokens, workspaces};
use ghostlink_domain::workspace::{key_scopes, validate_slug, MemberRole, Scope};
use ghostlink_domain::{hash_token, new_token, Role};

use crate::tokens::connect;
use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace with a first owner; prints the owner's key, alone, on stdout (shown
    /// only this once).
    Create {
        /// 2–40 of a-z, 0-9 and '-', starting and ending with a letter or digit.
        #[arg(long)]
        slug: String,
        /// A display name (1–100 characters).
        #[arg(long)]
        name: String,
        /// The first owner's member name.
        #[arg(long)]
        owner: String,
    },
    /// List workspaces (id, slug, name, created).
    List,
    /// Add a member to a workspace and print a new key of theirs, alone, on stdout.
    AddMember {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        name: String,
        /// owner, admin, member or viewer.
        #[arg(long)]
        role: MemberRole,
        /// Scopes of the key (repeat, or comma-separate); default: all the role can use.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<Scope>,
    },
}

fn text(flag: &str, v: &str, max: usize) -> Result<String, Failure> {
    let t = v.trim();
    if t.is_empty() || t.len() > max || t.chars().any(char::is_control) {
        return Err(Failure::usage(format!("{flag} must be 1 to {max} printable characters")));
    }
    Ok(t.to_string())
}

pub fn run(url: &str, cmd: WorkspaceCommand) -> Result<(), Failure> {
    match cmd {
        WorkspaceCommand::Create { slug, name, owner } => {
            validate_slug(&slug).map_err(|e| Failure::usage(format!("--{e}")))?;
            let (name, owner) = (text("--name", &name, 100)?, text("--owner", &owner, 64)?);
            let secret = new_token(&mut rand::rngs::OsRng);
            let mut conn = connect(url)?;
            match workspaces::create_with_owner(
                &mut conn,
                &slug,
                &name,
                &owner,
                &hash_token(&secret),
                &secret[..10],
            ) {
                Ok(_) => println!("{secret}"),
                Err(ghostlink_db::DbError::Conflict(_)) => {
                    return Err(Failure::usage(format!("a workspace '{slug}' already exists")))
                }
                Err(e) => return Err(e.into()),
            }
        }
        WorkspaceCommand::List => {
            println!("{:<6} {:<40} {:<24} CREATED", "ID", "SLUG", "NAME");
            for w in workspaces::list(&mut *connect(url)?)? {
                println!(
                    "{:<6} {:<40} {:<24} {}",
                    w.id,
                    w.slug,
                    w.name,
                    w.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        WorkspaceCommand::AddMember { workspace, name, role, scopes } => {
            let name = text("--name", &name, 64)?;
            let asked = (!scopes.is_empty()).then_some(scopes.as_slice());
            let scopes = key_scopes(role, asked).map_err(|e| Failure::usage(format!("--{e}")))?;
            let mut conn = connect(url)?;
            let ws = workspaces::by_slug(&mut conn, &workspace)?
                .ok_or_else(|| Failure::usage(format!("no workspace '{workspace}'")))?;
            let member = match workspaces::add_member(&mut conn, ws.id, &name, role) {
                Ok(m) => m,
                Err(ghostlink_db::DbError::Conflict(_)) => {
                    return Err(Failure::usage(format!("'{workspace}' has a member named '{name}' already")))
                }
                Err(e) => return Err(e.into()),
            };
            let secret = new_token(&mut rand::rngs::OsRng);
            let key = tokens::NewKey {
                workspace_id: ws.id,
                member_id: member.id,
                name: &name,
                role: Role::User,
                scopes: &scopes,
                expires_at: None,
                sha256: &hash_token(&secret),
                prefix: &secret[..10],
            };
            tokens::insert_key(&mut conn, &key)?;
            println!("{secret}");
        }
    }
    Ok(())
}
