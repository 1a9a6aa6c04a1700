//! The risk blocklist file, re-read when it changes on disk (no restart needed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ghostlink_domain::risk::Blocklist;

/// A blocklist file: [`BlocklistFile::current`] costs one `stat`, and a read only when the
/// modification time changed. A file that cannot be read keeps the last good list.
pub struct BlocklistFile {
    path: PathBuf,
    state: Mutex<(Option<SystemTime>, Arc<Blocklist>)>,
}

impl BlocklistFile {
    /// Loads the file now.
    pub fn new(path: &Path) -> Self {
        let me = Self { path: path.to_path_buf(), state: Mutex::new((None, Arc::new(Blocklist::default()))) };
        me.current();
        me
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The list as of now, and whether it was (re)loaded by this call.
    pub fn current(&self) -> (Arc<Blocklist>, bool) {
        let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let Ok(mut state) = self.state.lock() else { return (Arc::new(Blocklist::default()), false) };
        if mtime.is_some() && mtime != state.0 {
            if let Ok(text) = std::fs::read_to_string(&self.path) {
                *state = (mtime, Arc::new(Blocklist::parse(&text)));
                return (state.1.clone(), true);
            }
        }
        (state.1.clone(), false)
    }
}

/// The `RISK_BLOCKLIST` setting must name a file (checked before any port is bound).
pub fn validate_path(path: &Path) -> Result<(), crate::ConfigError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(crate::ConfigError::new(
            "RISK_BLOCKLIST (--blocklist)",
            format!("{} is not a readable file", path.display()),
        ))
    }
}
