//! Operator actions on the database itself, for `ghostctl simulate`: running SQL on another
//! database of the server, and holding a table lock for as long as a fault lasts.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::DbError;

/// Runs `sql` (one or more statements) on its own connection to `url`.
pub fn batch_execute(url: &str, sql: &str) -> Result<(), DbError> {
    let mut conn = PgConnection::establish(url).map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.batch_execute(sql)?;
    Ok(())
}

/// Whether the lock was taken.
pub enum LockOutcome {
    Held,
    Failed(String),
}

/// Takes `ACCESS EXCLUSIVE` on `links` in a transaction, calls `hold` (which returns when the
/// fault should end), then rolls back. Every query on `links` waits meanwhile.
pub fn lock_links_until(url: &str, hold: impl FnOnce(LockOutcome)) -> Result<(), DbError> {
    let mut conn = match PgConnection::establish(url) {
        Ok(c) => c,
        Err(e) => {
            hold(LockOutcome::Failed(e.to_string()));
            return Err(DbError::Unavailable(e.to_string()));
        }
    };
    if let Err(e) = conn.batch_execute("BEGIN; LOCK TABLE links IN ACCESS EXCLUSIVE MODE") {
        hold(LockOutcome::Failed(e.to_string()));
        return Err(e.into());
    }
    hold(LockOutcome::Held);
    conn.batch_execute("ROLLBACK")?;
    Ok(())
}
