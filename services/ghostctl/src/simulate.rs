//! `ghostctl simulate <scenario>`: one of GhostLink's fault drills (`ghostlink_drills`) against
//! the running system, with an admin token minted for the run and revoked after it. Exit 0
//! when every check passed, 1 otherwise, 2 for bad arguments.

use ghostlink_domain::Role;
use ghostlink_drills::{DrillArgs, DrillError};

use crate::Failure;

impl From<DrillError> for Failure {
    fn from(e: DrillError) -> Self {
        match e {
            DrillError::Usage(m) => Failure::usage(m),
            DrillError::Failed(m) => Failure::other(m),
        }
    }
}

pub fn run(database_url: &str, args: DrillArgs) -> Result<(), Failure> {
    args.validate()?;
    let name = format!("simulate-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%f"));
    let token = crate::tokens::create(database_url, &name, Role::Admin)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| Failure::other(format!("runtime: {e}")));
    let result = rt.and_then(|rt| Ok(rt.block_on(ghostlink_drills::run(&args, database_url, &token))?));
    if let Err(f) = crate::tokens::revoke(database_url, &name) {
        eprintln!(
            "warning: the drill's admin token '{name}' is still live ({}): ghostctl token revoke {name}",
            f.message
        );
    }
    match result? {
        true => Ok(()),
        false => Err(Failure::other("some checks failed")),
    }
}
