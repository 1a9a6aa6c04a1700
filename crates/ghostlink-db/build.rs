//! Rebuilds the crate when a migration is added, removed or changed (`embed_migrations!` tracks
//! only the files it found, so a new migration directory went unnoticed until some source
//! changed), and hands it a digest of the files in `migrations/`, `GHOSTLINK_MIGRATIONS_DIGEST`
//! (part of `migrations_digest()`, which names the tests' template database).

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list migrations") {
        let path = entry.expect("migration entry").path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let mut all = Vec::new();
    files(Path::new("migrations"), &mut all);
    all.sort();
    // FNV-1a, 64 bits, over each file's path, length and content: it names a template, it
    // guards nothing.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for path in all {
        let content = std::fs::read(&path).expect("read migration");
        eat(path.to_string_lossy().as_bytes());
        eat(&(content.len() as u64).to_le_bytes());
        eat(&content);
    }
    println!("cargo:rustc-env=GHOSTLINK_MIGRATIONS_DIGEST={hash:016x}");
}
