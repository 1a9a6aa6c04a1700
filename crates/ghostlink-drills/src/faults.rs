//! How a fault is made and undone.
//!
//! A [`Fault`] is a pair: inject and restore. Faults on infrastructure GhostLink does not own
//! (stopping Postgres, Redis, the broker; killing a process) are shell commands, given by the
//! caller or a scenario's default for this kind of machine. The database faults GhostLink can
//! make by itself are SQL: refusing connections to its own database (and ending its sessions),
//! and holding an `ACCESS EXCLUSIVE` lock on `links` for as long as the fault lasts.

use crate::DrillError;

/// A fault and its undoing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `stop` injects it, `start` restores.
    Shell { stop: String, start: String },
    /// `ALTER DATABASE … ALLOW_CONNECTIONS false` and end its sessions; restored with `true`.
    RefuseConnections,
    /// Hold a lock on `links` until restored.
    LockLinks,
}

/// What an injected fault holds until it is restored: the lock's connection, on its thread.
#[must_use = "a held fault is released by Fault::restore"]
pub struct Held(Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>);

impl Fault {
    /// A shell fault.
    pub fn shell(stop: impl Into<String>, start: impl Into<String>) -> Fault {
        Fault::Shell { stop: stop.into(), start: start.into() }
    }

    /// What injecting it does, for the log.
    pub fn describe_inject(&self) -> String {
        match self {
            Fault::Shell { stop, .. } => format!("`{stop}`"),
            Fault::RefuseConnections => {
                "ALTER DATABASE ... ALLOW_CONNECTIONS false; pg_terminate_backend(its sessions)".into()
            }
            Fault::LockLinks => "BEGIN; LOCK TABLE links IN ACCESS EXCLUSIVE MODE (held)".into(),
        }
    }

    /// What restoring it does, for the log.
    pub fn describe_restore(&self) -> String {
        match self {
            Fault::Shell { start, .. } => format!("`{start}`"),
            Fault::RefuseConnections => "ALTER DATABASE ... ALLOW_CONNECTIONS true".into(),
            Fault::LockLinks => "ROLLBACK (lock released)".into(),
        }
    }

    /// Injects the fault on the system whose database is `database_url`.
    pub async fn inject(&self, database_url: &str) -> Result<Held, DrillError> {
        match self {
            Fault::Shell { stop, .. } => shell(stop).await.map(|_| Held(None)),
            Fault::RefuseConnections => {
                let db = db_name(database_url)?;
                let sql = format!(
                    "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
                );
                admin_sql(database_url, sql).await.map(|_| Held(None))
            }
            Fault::LockLinks => lock_links(database_url.to_string()).await,
        }
    }

    /// Undoes the fault (releasing what `held` holds first).
    pub async fn restore(&self, database_url: &str, held: Held) -> Result<(), DrillError> {
        if let Some((release, thread)) = held.0 {
            // The thread may be gone already (its connection broke); the join below tells.
            let _ = release.send(());
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(DrillError::failed)?
                .map_err(|_| DrillError::Failed("the lock's thread panicked".into()))?;
        }
        match self {
            Fault::Shell { start, .. } => shell(start).await,
            Fault::RefuseConnections => {
                let db = db_name(database_url)?;
                admin_sql(database_url, format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).await
            }
            Fault::LockLinks => Ok(()),
        }
    }
}

/// Takes the lock on its own thread and connection, and keeps it until told to let go.
async fn lock_links(url: String) -> Result<Held, DrillError> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let thread = std::thread::spawn(move || {
        use ghostlink_db::admin::{lock_links_until, LockOutcome};
        // A failure to lock is reported through `ready`; one to roll back ends the connection,
        // and so the transaction, with the thread.
        let _ = lock_links_until(&url, move |outcome| {
            let taken = match outcome {
                LockOutcome::Held => Ok(()),
                LockOutcome::Failed(e) => Err(e),
            };
            let held = taken.is_ok();
            // The drill may have given up waiting; nothing then waits for the answer.
            let _ = ready_tx.send(taken);
            if held {
                // Until released, or until the drill is gone (an error): either way, let go.
                let _ = released.recv();
            }
        });
    });
    match ready.await {
        Ok(Ok(())) => Ok(Held(Some((release, thread)))),
        Ok(Err(e)) => Err(DrillError::Failed(format!("cannot take the lock: {e}"))),
        Err(_) => Err(DrillError::Failed("the lock's thread ended".into())),
    }
}

/// Runs `cmd` with `sh -c`; a non-zero exit is a failure with its stderr.
pub async fn shell(cmd: &str) -> Result<(), DrillError> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .await
        .map_err(|e| DrillError::Failed(format!("`{cmd}`: {e}")))?;
    if !out.status.success() {
        return Err(DrillError::Failed(format!(
            "`{cmd}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The database a URL names, when it is a plain name (it is spliced into SQL).
pub fn db_name(url: &str) -> Result<String, DrillError> {
    let u = url::Url::parse(url).map_err(|_| DrillError::Usage("DATABASE_URL is not a URL".into()))?;
    let name = u.path().trim_start_matches('/').to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(DrillError::Usage("DATABASE_URL must name a database (letters, digits, _ and -)".into()));
    }
    Ok(name)
}

/// The same server's `postgres` database: where SQL about GhostLink's database runs (not on
/// the database being cut off).
pub fn admin_url(url: &str) -> Result<String, DrillError> {
    let mut u = url::Url::parse(url).map_err(|_| DrillError::Usage("DATABASE_URL is not a URL".into()))?;
    u.set_path("/postgres");
    Ok(u.to_string())
}

async fn admin_sql(url: &str, sql: String) -> Result<(), DrillError> {
    let admin = admin_url(url)?;
    tokio::task::spawn_blocking(move || ghostlink_db::admin::batch_execute(&admin, &sql))
        .await
        .map_err(DrillError::failed)?
        .map_err(|e| DrillError::Failed(format!("SQL failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_database_name_is_spliced_into_sql() {
        assert_eq!(
            db_name("postgres://postgres@127.0.0.1:5432/ghostlink_e2e-1").ok().as_deref(),
            Some("ghostlink_e2e-1")
        );
        for bad in ["postgres://h/", "postgres://h/a\"b", "postgres://h/x;DROP", "postgres://h/a%20b", "nope"]
        {
            assert!(matches!(db_name(bad), Err(DrillError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn admin_sql_runs_on_the_servers_postgres_database() {
        assert_eq!(
            admin_url("postgres://u:p@db:5433/ghostlink?sslmode=disable").ok().as_deref(),
            Some("postgres://u:p@db:5433/postgres?sslmode=disable")
        );
    }

    #[test]
    fn each_fault_says_how_it_is_made_and_undone() {
        let f = Fault::shell("redis-cli shutdown nosave", "redis-server --daemonize yes");
        assert_eq!(f.describe_inject(), "`redis-cli shutdown nosave`");
        assert_eq!(f.describe_restore(), "`redis-server --daemonize yes`");
        assert!(Fault::RefuseConnections.describe_restore().contains("ALLOW_CONNECTIONS true"));
        assert!(Fault::LockLinks.describe_inject().contains("ACCESS EXCLUSIVE"));
    }

    #[tokio::test]
    async fn a_failing_shell_command_is_a_failure_with_its_stderr() {
        assert!(shell("true").await.is_ok());
        match shell("echo broken >&2; exit 3").await {
            Err(DrillError::Failed(m)) => {
                assert!(m.contains("broken") && m.contains("exit status: 3"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
