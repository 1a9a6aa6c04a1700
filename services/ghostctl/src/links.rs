//! `ghostctl link create|get|update|revisions|qr`: one link of a workspace, through the
//! shortener's API with a key of the workspace — every field of the link model, so what the
//! console or a script does, an operator can do from a shell. A password is read from stdin
//! (`--password-stdin`), never from the command line, where `ps` and shell history would keep it.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::api::{domain_query, print, url_escape, ApiArgs};
use crate::Failure;

/// Which link: its code and, on a custom domain, the domain.
#[derive(Debug, Args)]
pub struct Which {
    pub code: String,
    /// The link's custom domain (default: the instance's domain).
    #[arg(long)]
    pub domain: Option<String>,
}

impl Which {
    fn path(&self, suffix: &str) -> String {
        format!("/api/v1/links/{}{suffix}{}", url_escape(&self.code), domain_query(self.domain.as_deref()))
    }
}

/// The fields a create or an update may set.
#[derive(Debug, Args)]
pub struct Fields {
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// A tag (repeat for several); `--tag ''` on an update clears them.
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// A JSON file holding the redirect rules (an array, first match wins).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Append the short URL's query string to the destination.
    #[arg(long)]
    pub forward_query: Option<bool>,
    /// When the link stops redirecting (RFC 3339).
    #[arg(long)]
    pub expires_at: Option<String>,
    #[arg(long)]
    pub max_clicks: Option<i64>,
    /// Read a password visitors must give from stdin (one line).
    #[arg(long)]
    pub password_stdin: bool,
}

impl Fields {
    fn into_body(self, body: &mut Map<String, Value>) -> Result<(), Failure> {
        let mut put = |k: &str, v: Value| {
            body.insert(k.into(), v);
        };
        if let Some(t) = self.title {
            put("title", json!(t));
        }
        if let Some(d) = self.description {
            put("description", json!(d));
        }
        if !self.tags.is_empty() {
            let tags: Vec<&String> = self.tags.iter().filter(|t| !t.is_empty()).collect();
            put("tags", json!(tags));
        }
        if let Some(path) = self.rules {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
            let rules: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", path.display())))?;
            put("rules", rules);
        }
        if let Some(f) = self.forward_query {
            put("forward_query", json!(f));
        }
        if let Some(e) = self.expires_at {
            put("expires_at", json!(e));
        }
        if let Some(m) = self.max_clicks {
            put("max_clicks", json!(m));
        }
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_to_string(&mut line)
                .map_err(|e| Failure::usage(format!("reading the password from stdin: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Failure::usage("--password-stdin: stdin held no password"));
            }
            put("password", json!(password));
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Create a link; prints it (with its short URL) as JSON.
    Create {
        /// The destination.
        #[arg(long)]
        url: String,
        /// A code of your choosing (default: a generated one).
        #[arg(long)]
        alias: Option<String>,
        /// One of the workspace's custom domains.
        #[arg(long)]
        domain: Option<String>,
        #[command(flatten)]
        fields: Fields,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show a link.
    Get {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Change a link's destination or other fields.
    Update {
        #[command(flatten)]
        which: Which,
        /// A new destination (kept as a revision).
        #[arg(long)]
        url: Option<String>,
        /// `active` or `disabled`.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        fields: Fields,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// The history of a link's destination.
    Revisions {
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Write a link's QR code (SVG or PNG) to a file.
    Qr {
        #[command(flatten)]
        which: Which,
        /// `svg` or `png`.
        #[arg(long, default_value = "svg")]
        format: String,
        /// Width and height in pixels (64–2048).
        #[arg(long, default_value_t = 256)]
        size: u32,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub fn run(cmd: LinkCommand) -> Result<(), Failure> {
    match cmd {
        LinkCommand::Create { url, alias, domain, fields, api } => {
            let mut body = Map::new();
            body.insert("url".into(), json!(url));
            if let Some(a) = alias {
                body.insert("alias".into(), json!(a));
            }
            if let Some(d) = domain {
                body.insert("domain".into(), json!(d));
            }
            fields.into_body(&mut body)?;
            print(&api.call(Method::POST, "/api/v1/links", Some(Value::Object(body)))?);
        }
        LinkCommand::Get { which, api } => print(&api.call(Method::GET, &which.path(""), None)?),
        LinkCommand::Update { which, url, status, fields, api } => {
            let mut body = Map::new();
            if let Some(u) = url {
                body.insert("url".into(), json!(u));
            }
            if let Some(s) = status {
                body.insert("status".into(), json!(s));
            }
            fields.into_body(&mut body)?;
            print(&api.call(Method::PATCH, &which.path(""), Some(Value::Object(body)))?);
        }
        LinkCommand::Revisions { which, api } => {
            print(&api.call(Method::GET, &which.path("/revisions"), None)?);
        }
        LinkCommand::Qr { which, format, size, out, api } => {
            let sep = if which.domain.is_some() { '&' } else { '?' };
            let path = format!("{}{sep}format={}&size={size}", which.path("/qr"), url_escape(&format));
            let image = api.bytes(&path)?;
            std::fs::write(&out, &image)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", out.display())))?;
            eprintln!("wrote {} bytes to {}", image.len(), out.display());
        }
    }
    Ok(())
}
