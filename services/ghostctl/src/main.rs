//! `ghostctl`: GhostLink's operator CLI — migrations, API tokens, workspaces, links and
//! domains (through the shortener's API, [`api`]), event replay, dead letters,
//! live event tailing, `up`, which starts the whole local system, and `simulate`, which breaks
//! it on purpose. Each subcommand lives in its own module; this file only parses and
//! dispatches, and maps failures to exit codes (2 for bad input, 1 for everything else).

mod accounts;
mod api;
mod domains;
mod events;
mod links;
mod simulate;
mod tokens;
mod transfer;
mod up;
mod workspaces;

use clap::{Parser, Subcommand};
use ghostlink_config::{AmqpArgs, DatabaseArgs, Validate};

/// GhostLink's operator CLI.
#[derive(Debug, Parser)]
#[command(name = "ghostctl", version, about)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    amqp: AmqpArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if it is missing and apply pending migrations.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Accounts (members who sign in): the first owner, password resets.
    #[command(subcommand)]
    Account(accounts::AccountCommand),
    /// Workspaces, their members and the members' keys.
    #[command(subcommand)]
    Workspace(workspaces::WorkspaceCommand),
    /// One link of a workspace, through the shortener's API: create, show, change, its
    /// revisions, its QR code.
    #[command(subcommand)]
    Link(links::LinkCommand),
    /// A workspace's custom domains, through the shortener's API.
    #[command(subcommand)]
    Domain(domains::DomainCommand),
    /// Export the workspace's links through the shortener's API (CSV or JSON).
    Export(transfer::ExportArgs),
    /// Import links (GhostLink CSV/JSON, Shlink, YOURLS, Kutt, Bitly) through the shortener's
    /// API: validated like creates, reported row by row.
    Import(transfer::ImportArgs),
    /// Re-apply events from the stream (the replay log).
    #[command(subcommand)]
    Replay(events::ReplayCommand),
    /// Risk scoring.
    #[command(subcommand)]
    Risk(events::RiskCommand),
    /// Inspect and replay dead letters.
    #[command(subcommand)]
    Dlq(events::DlqCommand),
    /// Watch events as they flow.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Migrate, then start every GhostLink service built beside this binary, print where they
    /// listen, forward their logs, and stop them all on Ctrl-C / SIGTERM.
    Up(up::UpArgs),
    /// Break the running system for real (a database, Redis or broker outage, a failing
    /// destination, a scanner, ...), restore it, and print what should happen and what did.
    Simulate(ghostlink_drills::DrillArgs),
}

/// A failure with its exit code.
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// Bad input: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }
    /// Anything else: exit 1.
    pub fn other(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into() }
    }
}

impl From<ghostlink_db::DbError> for Failure {
    fn from(e: ghostlink_db::DbError) -> Self {
        Failure::other(e.to_string())
    }
}

/// Creates the database when missing and migrates it; prints what it applied to stderr.
pub fn migrate(url: &str) -> Result<(), Failure> {
    if ghostlink_db::create_database_if_missing(url)? {
        eprintln!("created database");
    }
    let applied = ghostlink_db::run_migrations(url)?;
    if applied.is_empty() {
        eprintln!("migrations: up to date");
    } else {
        eprintln!("migrations applied: {}", applied.join(", "));
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = cli.database.validate().and_then(|_| cli.amqp.validate()) {
        ghostlink_config::exit_on_invalid(&e);
    }
    let result = match cli.command {
        Command::Migrate => migrate(&cli.database.database_url),
        Command::Token(cmd) => tokens::run(&cli.database.database_url, cmd),
        Command::Account(cmd) => accounts::run(&cli.database.database_url, cmd),
        Command::Workspace(cmd) => workspaces::run(&cli.database.database_url, cmd),
        Command::Link(cmd) => links::run(cmd),
        Command::Domain(cmd) => domains::run(cmd),
        Command::Export(args) => transfer::export(args),
        Command::Import(args) => transfer::import(args),
        Command::Replay(cmd) => events::replay(&cli.database, &cli.amqp, cmd),
        Command::Dlq(cmd) => events::dlq(&cli.amqp, cmd),
        Command::Risk(cmd) => events::risk(&cli.database, &cli.amqp, cmd),
        Command::Events(cmd) => events::tail(&cli.amqp, cmd),
        Command::Up(args) => up::run(&cli.database, args),
        Command::Simulate(args) => simulate::run(&cli.database.database_url, args),
    };
    if let Err(f) = result {
        eprintln!("error: {}", f.message);
        std::process::exit(f.code);
    }
}
