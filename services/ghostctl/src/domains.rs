//! `ghostctl domain add|list|set|remove`: a workspace's custom domains, through the shortener's
//! API with a key of the workspace (`workspace:admin` to change them).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::api::{print, url_escape, ApiArgs};
use crate::Failure;

/// A domain's two redirects, as `add` and `set` take them.
#[derive(Debug, Args)]
pub struct Redirects {
    /// Where `GET /` on the domain redirects (empty on `set`: clear it).
    #[arg(long)]
    root_url: Option<String>,
    /// Where a code the domain does not know redirects (empty on `set`: clear it).
    #[arg(long)]
    not_found_url: Option<String>,
}

impl Redirects {
    /// The given redirects as body fields: absent unless given, `null` when given empty.
    fn into_body(self, body: &mut Map<String, Value>) {
        for (name, v) in [("root_url", self.root_url), ("not_found_url", self.not_found_url)] {
            if let Some(v) = v {
                body.insert(name.into(), if v.is_empty() { Value::Null } else { Value::String(v) });
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a custom domain (point its DNS at the redirect, behind the TLS proxy).
    Add {
        host: String,
        #[command(flatten)]
        redirects: Redirects,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the workspace's domains.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Set or clear (an empty value) a domain's redirects.
    Set {
        host: String,
        #[command(flatten)]
        redirects: Redirects,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a domain no link was ever made on.
    Remove {
        host: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub fn run(cmd: DomainCommand) -> Result<(), Failure> {
    match cmd {
        DomainCommand::Add { host, redirects, api } => {
            let mut body = Map::new();
            body.insert("host".into(), json!(host));
            redirects.into_body(&mut body);
            print(&api.call(Method::POST, "/api/v1/domains", Some(Value::Object(body)))?);
        }
        DomainCommand::List { api } => {
            let list = api.call(Method::GET, "/api/v1/domains", None)?;
            println!("{:<40} {:<40} NOT FOUND", "HOST", "ROOT");
            for d in list.as_array().into_iter().flatten() {
                let s = |k: &str| d[k].as_str().unwrap_or("-").to_string();
                println!("{:<40} {:<40} {}", s("host"), s("root_url"), s("not_found_url"));
            }
        }
        DomainCommand::Set { host, redirects, api } => {
            if redirects.root_url.is_none() && redirects.not_found_url.is_none() {
                return Err(Failure::usage("give --root-url or --not-found-url (empty clears it)"));
            }
            let mut body = Map::new();
            redirects.into_body(&mut body);
            let path = format!("/api/v1/domains/{}", url_escape(&host));
            print(&api.call(Method::PATCH, &path, Some(Value::Object(body)))?);
        }
        DomainCommand::Remove { host, api } => {
            api.call(Method::DELETE, &format!("/api/v1/domains/{}", url_escape(&host)), None)?;
            eprintln!("removed {host}");
        }
    }
    Ok(())
}
