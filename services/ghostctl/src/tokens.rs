//! `ghostctl token create|list|revoke`.

use clap::Subcommand;
use ghostlink_db::tokens;
use ghostlink_domain::{hash_token, new_token, Role};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, alone, on stdout (it is shown only this once).
    Create {
        /// A unique name for the token (1–64 characters).
        #[arg(long)]
        name: String,
        /// `admin` (sees and changes every link) or `user` (creates links, sees its own).
        #[arg(long)]
        role: Role,
    },
    /// List tokens (name, role, prefix, created, revoked).
    List,
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Creates and stores a token; returns the secret.
pub fn create(url: &str, name: &str, role: Role) -> Result<String, Failure> {
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(Failure::usage("--name must be 1 to 64 printable characters"));
    }
    let secret = new_token(&mut rand::rngs::OsRng);
    let mut conn = connect(url)?;
    match tokens::insert(&mut conn, name, role, &hash_token(&secret), &secret[..10]) {
        Ok(_) => Ok(secret),
        Err(ghostlink_db::DbError::Conflict(_)) => {
            Err(Failure::usage(format!("a token named '{name}' already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Revokes a live token by name; `false` when there was none.
pub fn revoke(url: &str, name: &str) -> Result<bool, Failure> {
    Ok(tokens::revoke(&mut *connect(url)?, name)?)
}

pub(crate) fn connect(url: &str) -> Result<ghostlink_db::Connection, Failure> {
    let db = ghostlink_db::Db::new(&ghostlink_db::DbSettings {
        url: url.to_string(),
        pool_size: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(30),
    });
    db.get().map_err(Failure::from)
}

pub fn run(url: &str, cmd: TokenCommand) -> Result<(), Failure> {
    match cmd {
        TokenCommand::Create { name, role } => {
            let secret = create(url, &name, role)?;
            println!("{secret}");
        }
        TokenCommand::List => {
            let rows = tokens::list(&mut *connect(url)?)?;
            println!("{:<24} {:<6} {:<12} {:<20} REVOKED", "NAME", "ROLE", "PREFIX", "CREATED");
            for r in rows {
                let revoked = r
                    .revoked_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:<6} {:<12} {:<20} {revoked}",
                    r.name,
                    r.role,
                    r.prefix,
                    r.created_at.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !revoke(url, &name)? {
                return Err(Failure::usage(format!("no live token named '{name}'")));
            }
            eprintln!("revoked token '{name}'");
        }
    }
    Ok(())
}
