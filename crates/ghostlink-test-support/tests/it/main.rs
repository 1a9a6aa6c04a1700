//! The workspace's own checks: the architecture's dependency rules over `cargo metadata`, the
//! docs naming every crate, service and metric, and the template the test databases come from.

mod architecture;
mod docs;
mod template;

use std::path::PathBuf;

/// The workspace's root directory.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The folders under `crates/` or `services/` that hold a package, by folder name, sorted.
fn package_folders(parent: &str) -> Vec<String> {
    let dir = workspace_root().join(parent);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.expect("folder entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| path.file_name().expect("a name").to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no package under {parent}/");
    names
}
