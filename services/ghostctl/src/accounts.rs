//! `ghostctl account create-owner|reset`: the operator's way in where no mail is configured.
//! Both print a one-time token, alone, on stdout; the person sets a password with it
//! (`POST /api/v1/auth/reset-password`, or the console's reset page), which ends every session
//! of the account.

use clap::Subcommand;
use ghostlink_db::{accounts, workspaces};
use ghostlink_domain::workspace::MemberRole;
use ghostlink_domain::{hash_token, new_secret, ONE_TIME_PREFIX};

use crate::tokens::connect;
use crate::Failure;

/// How long a printed reset token may be used.
const RESET_TTL_HOURS: i64 = 24;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Add an owner with an email to a workspace and print a token that sets their password.
    CreateOwner {
        /// The workspace's slug.
        #[arg(long, default_value = workspaces::DEFAULT_SLUG)]
        workspace: String,
        /// The member's name (1–64 characters).
        #[arg(long)]
        name: String,
        /// The email they sign in with.
        #[arg(long)]
        email: String,
    },
    /// Print a one-time token that sets a new password for the account with this email.
    Reset {
        #[arg(long)]
        email: String,
    },
}

fn issue_reset(
    conn: &mut ghostlink_db::Connection,
    workspace_id: i64,
    member_id: i64,
) -> Result<String, Failure> {
    let token = new_secret(&mut rand::rngs::OsRng, ONE_TIME_PREFIX);
    let expires = chrono::Utc::now() + chrono::Duration::hours(RESET_TTL_HOURS);
    let what = accounts::OneTime::Reset { workspace_id, member_id };
    accounts::issue(conn, &what, &hash_token(&token), expires)?;
    Ok(token)
}

pub fn run(url: &str, cmd: AccountCommand) -> Result<(), Failure> {
    let mut conn = connect(url)?;
    let token = match cmd {
        AccountCommand::CreateOwner { workspace, name, email } => {
            if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(Failure::usage("--name must be 1 to 64 printable characters"));
            }
            if !email.contains('@')
                || email.len() > 254
                || email.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(Failure::usage("--email must be an address such as name@example.org"));
            }
            let ws = workspaces::by_slug(&mut conn, &workspace)?
                .ok_or_else(|| Failure::usage(format!("no workspace '{workspace}'")))?;
            let member = match accounts::add_account(&mut conn, ws.id, name.trim(), MemberRole::Owner, &email)
            {
                Ok(m) => m,
                Err(ghostlink_db::DbError::Conflict(_)) => {
                    return Err(Failure::usage("a member has this name in the workspace, or this email"))
                }
                Err(e) => return Err(e.into()),
            };
            issue_reset(&mut conn, ws.id, member.id)?
        }
        AccountCommand::Reset { email } => {
            let account = accounts::by_email(&mut conn, &email)?
                .ok_or_else(|| Failure::usage(format!("no account with the email '{email}'")))?;
            issue_reset(&mut conn, account.member.workspace_id, account.member.id)?
        }
    };
    println!("{token}");
    Ok(())
}
