//! `ghostctl export` and `ghostctl import`: a workspace's links out of and into a running
//! shortener, through its API (`GET /api/v1/export`, `POST /api/v1/import`) with an API key,
//! so an import is validated, matched and reported exactly as the API does it.
//!
//! The export is written as it streams (to `--out` or stdout). The import prints the API's
//! report (JSON) on stdout and a summary on stderr. Exit codes: 2 for bad input — a missing
//! token or file, a refused request (4xx), or any refused row; 1 when the shortener cannot be
//! reached or fails (5xx).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use ghostlink_domain::import::Format;

use crate::api::{refused, runtime, unreachable, ApiArgs};
use crate::Failure;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `csv` or `json`.
    #[arg(long, default_value = "json")]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The document to import.
    pub file: PathBuf,
    /// `csv`, `json`, `shlink`, `yourls`, `kutt` or `bitly`.
    #[arg(long)]
    pub format: Format,
    /// Validate and report, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn export(args: ExportArgs) -> Result<(), Failure> {
    if !matches!(args.format, Format::Csv | Format::Json) {
        return Err(Failure::usage(format!("--format {}: an export is csv or json", args.format)));
    }
    let token = args.api.token()?.to_string();
    let url = args.api.url(&format!("/api/v1/export?format={}", args.format))?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    runtime()?.block_on(async {
        let client = reqwest::Client::new();
        let mut resp = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| unreachable(&args.api.api_url, e))?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        let mut bytes = 0usize;
        while let Some(chunk) =
            resp.chunk().await.map_err(|e| Failure::other(format!("the export ended early: {e}")))?
        {
            bytes += chunk.len();
            out.write_all(&chunk).map_err(|e| Failure::other(format!("writing the export: {e}")))?;
        }
        out.flush().map_err(|e| Failure::other(format!("writing the export: {e}")))?;
        eprintln!("exported {bytes} bytes");
        Ok(())
    })
}

pub fn import(args: ImportArgs) -> Result<(), Failure> {
    let token = args.api.token()?.to_string();
    let doc = std::fs::read(&args.file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", args.file.display())))?;
    let url = args.api.url(&format!("/api/v1/import?format={}&dry_run={}", args.format, args.dry_run))?;
    let content_type = if args.format.is_json() { "application/json" } else { "text/csv" };
    let report: serde_json::Value = runtime()?.block_on(async {
        let resp = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(doc)
            .send()
            .await
            .map_err(|e| unreachable(&args.api.api_url, e))?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json().await.map_err(|e| Failure::other(format!("the report is not JSON: {e}")))
    })?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    let n = |k: &str| report[k].as_u64().unwrap_or(0);
    eprintln!(
        "{}{} rows: {} created, {} unchanged, {} refused",
        if args.dry_run { "dry run: " } else { "" },
        n("total"),
        n("created"),
        n("unchanged"),
        n("refused")
    );
    if n("refused") > 0 {
        return Err(Failure::usage(format!("{} rows were refused (see the report)", n("refused"))));
    }
    Ok(())
}
