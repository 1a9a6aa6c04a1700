//! The docs keep up with the code: docs/architecture.md's code map names every crate and service
//! folder (and no folder that is gone) and its diagram every service and queue, and
//! docs/metrics.md names every metric the sources register by a literal name.

use std::collections::BTreeSet;
use std::path::Path;

use crate::{package_folders, workspace_root};

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every `code span` of `text`.
fn code_spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The folders the "Code map" section's headings name (### `crates/x`, `services/y`).
fn code_map(architecture: &str) -> BTreeSet<String> {
    let section = architecture.split("\n## Code map").nth(1).expect("docs/architecture.md has a Code map");
    let section = section.split("\n## ").next().unwrap_or(section);
    section.lines().filter(|line| line.starts_with("### ")).flat_map(code_spans).map(str::to_string).collect()
}

#[test]
fn the_code_map_names_every_crate_and_service() {
    let named = code_map(&read("docs/architecture.md"));
    let folders: BTreeSet<String> = ["crates", "services"]
        .iter()
        .flat_map(|parent| package_folders(parent).into_iter().map(move |f| format!("{parent}/{f}")))
        .collect();
    let missing: Vec<_> = folders.difference(&named).collect();
    let gone: Vec<_> = named.iter().filter(|n| n.contains('/')).filter(|n| !folders.contains(*n)).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "docs/architecture.md's code map (### `crates/x` headings) does not name {missing:?}; \
         it names folders that do not exist: {gone:?}"
    );
}

/// The package name a folder's Cargo.toml gives.
fn package_name(folder: &str) -> String {
    let manifest = read(&format!("{folder}/Cargo.toml"));
    let line = manifest.lines().find(|l| l.starts_with("name = ")).expect("a package name");
    line.trim_start_matches("name = ").trim_matches('"').to_string()
}

#[test]
fn the_diagram_shows_every_service_and_queue() {
    let architecture = read("docs/architecture.md");
    let view = architecture.split("## Bird's-eye view").nth(1).expect("a bird's-eye view");
    let diagram = view.split("```").nth(1).expect("a diagram");
    let services = package_folders("services").into_iter().map(|f| package_name(&format!("services/{f}")));
    let queues =
        ghostlink_bus::CONSUMERS.iter().map(|c| ghostlink_bus::Topology::new("ghostlink").queue(c.name));
    let missing: Vec<String> =
        services.chain(queues).filter(|name| !diagram.contains(name.as_str())).collect();
    assert!(missing.is_empty(), "docs/architecture.md's diagram does not show {missing:?}");
}

/// The literal names in `counter!("…"`, `gauge!("…"`, `histogram!("…"` (and their `describe_`
/// forms, which contain them) of a Rust source.
fn metric_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for mac in ["counter!(", "gauge!(", "histogram!("] {
        for (at, _) in source.match_indices(mac) {
            let rest = source[at + mac.len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                if let Some(end) = literal.find('"') {
                    names.push(literal[..end].to_string());
                }
            }
        }
    }
    names
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn metric_names_are_found_in_any_spelling_of_the_macros() {
    let source = r#"
        metrics::counter!("a_total", "k" => v).increment(1);
        gauge!(
            "b_now"
        ).set(1.0);
        metrics::describe_histogram!("c_seconds", "help");
        metrics::counter!(name).increment(0);
    "#;
    assert_eq!(metric_names(source), ["a_total", "b_now", "c_seconds"]);
}

#[test]
fn docs_metrics_names_every_registered_metric() {
    let root = workspace_root();
    let mut files = Vec::new();
    for parent in ["crates", "services"] {
        for folder in package_folders(parent) {
            let src = root.join(parent).join(folder).join("src");
            if src.is_dir() {
                rust_files(&src, &mut files);
            }
        }
    }
    let mut registered: BTreeSet<(String, String)> = BTreeSet::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("read source");
        let relative = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        registered.extend(metric_names(&source).into_iter().map(|name| (name, relative.clone())));
    }
    assert!(registered.len() > 20, "found only {} metrics: is the scan broken?", registered.len());
    let metrics = read("docs/metrics.md");
    let documented: BTreeSet<&str> = code_spans(&metrics).collect();
    let missing: Vec<String> = registered
        .iter()
        .filter(|(name, _)| !documented.contains(name.as_str()))
        .map(|(name, file)| format!("{name} (registered in {file})"))
        .collect();
    assert!(missing.is_empty(), "docs/metrics.md does not name:\n{}", missing.join("\n"));
}
