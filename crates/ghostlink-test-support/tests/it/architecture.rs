//! The architecture's dependency rules (docs/architecture.md, "Invariants"), read from `cargo
//! metadata`: every declared dependency of every workspace member counts, normal, dev and build
//! alike, so a service's tests may not reach for diesel either. Services and crates are found by
//! listing `services/` and `crates/`, so a new one is checked by existing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::{package_folders, workspace_root};

/// A workspace member and the dependencies its manifest declares.
struct Member {
    /// `crates/<folder>` or `services/<folder>`.
    folder: String,
    /// (package name, kind: `normal`, `dev` or `build`).
    deps: Vec<(String, String)>,
}

struct Workspace {
    /// By package name.
    members: BTreeMap<String, Member>,
    /// Package id → name, for every package of the resolved graph.
    names: BTreeMap<String, String>,
    /// Package id → the ids of its normal (non-dev, non-build) dependencies, as resolved.
    normal: BTreeMap<String, Vec<String>>,
}

impl Workspace {
    fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1"])
            .current_dir(workspace_root())
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
        let root = workspace_root();
        let ids: BTreeSet<&str> =
            meta["workspace_members"].as_array().expect("members").iter().filter_map(Value::as_str).collect();
        let mut names = BTreeMap::new();
        let mut members = BTreeMap::new();
        for package in meta["packages"].as_array().expect("packages") {
            let id = package["id"].as_str().expect("package id");
            let name = package["name"].as_str().expect("package name").to_string();
            names.insert(id.to_string(), name.clone());
            if !ids.contains(id) {
                continue;
            }
            let manifest = std::path::Path::new(package["manifest_path"].as_str().expect("manifest path"));
            let folder = manifest.parent().expect("package folder");
            let folder = folder.strip_prefix(&root).unwrap_or(folder).to_string_lossy().into_owned();
            let deps = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| {
                    let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                    (d["name"].as_str().expect("dependency name").to_string(), kind)
                })
                .collect();
            members.insert(name, Member { folder, deps });
        }
        let normal = meta["resolve"]["nodes"]
            .as_array()
            .expect("resolve nodes")
            .iter()
            .map(|node| {
                let deps = node["deps"]
                    .as_array()
                    .expect("node deps")
                    .iter()
                    .filter(|d| {
                        d["dep_kinds"].as_array().is_some_and(|k| k.iter().any(|k| k["kind"].is_null()))
                    })
                    .map(|d| d["pkg"].as_str().expect("dep id").to_string())
                    .collect();
                (node["id"].as_str().expect("node id").to_string(), deps)
            })
            .collect();
        Self { members, names, normal }
    }

    /// The member in `parent/<folder>`, by package name.
    fn in_folder(&self, parent: &str, folder: &str) -> Option<&str> {
        let path = format!("{parent}/{folder}");
        self.members.iter().find(|(_, m)| m.folder == path).map(|(name, _)| name.as_str())
    }

    /// The package names of the members under `parent/` (every folder listed must be a member).
    fn under(&self, parent: &str) -> Vec<&str> {
        package_folders(parent)
            .iter()
            .map(|folder| {
                self.in_folder(parent, folder)
                    .unwrap_or_else(|| panic!("{parent}/{folder} is not a workspace member"))
            })
            .collect()
    }

    /// Every package reached from `name` through normal dependencies, with the path to it.
    fn normal_closure(&self, name: &str) -> BTreeMap<String, Vec<String>> {
        let start = self.names.iter().find(|(_, n)| *n == name).map(|(id, _)| id.clone()).expect("in graph");
        let mut paths = BTreeMap::from([(start.clone(), vec![name.to_string()])]);
        let mut queue = VecDeque::from([start]);
        while let Some(id) = queue.pop_front() {
            for dep in self.normal.get(&id).into_iter().flatten() {
                if !paths.contains_key(dep) {
                    let mut path = paths[&id].clone();
                    path.push(self.names[dep].clone());
                    paths.insert(dep.clone(), path);
                    queue.push_back(dep.clone());
                }
            }
        }
        paths.into_iter().map(|(id, path)| (self.names[&id].clone(), path)).collect()
    }
}

fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(Workspace::load)
}

/// Each member's declared dependencies that `forbidden` matches, unless the member is `owner`.
fn direct_uses(ws: &Workspace, owner: &str, forbidden: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (name, member) in &ws.members {
        for (dep, kind) in &member.deps {
            if name != owner && forbidden(dep) {
                found.push(format!("{name} ({}) has {dep} as a {kind} dependency", member.folder));
            }
        }
    }
    found
}

#[test]
fn the_domain_crate_does_no_io_at_any_depth() {
    let io = |name: &str| {
        ["tokio", "mio", "diesel", "redis", "lapin", "reqwest", "hyper"].contains(&name)
            || name.starts_with("actix-")
            || name.starts_with("deadpool-")
    };
    let found: Vec<String> = workspace()
        .normal_closure("ghostlink-domain")
        .into_iter()
        .filter(|(name, _)| io(name))
        .map(|(_, path)| path.join(" → "))
        .collect();
    assert!(found.is_empty(), "the domain crate reaches I/O:\n{}", found.join("\n"));
}

#[test]
fn only_the_db_crate_knows_diesel() {
    let found = direct_uses(workspace(), "ghostlink-db", |dep| dep.starts_with("diesel"));
    assert!(found.is_empty(), "only ghostlink-db may depend on diesel:\n{}", found.join("\n"));
}

/// The `pub` items of a crate's sources whose line names one of `words`: a declaration that
/// hands the crate's private dependency to its callers.
fn public_items_naming(krate: &str, words: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![workspace_root().join("crates").join(krate).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the crate's sources").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                let item = line.trim_start();
                // A tuple struct's private field is not part of its API.
                let public = match (item.starts_with("pub struct "), item.split_once('(')) {
                    (true, Some((head, fields))) if !fields.contains("pub ") => head,
                    _ => item,
                };
                if item.starts_with("pub ") && words.iter().any(|w| public.contains(w)) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, item));
                }
            }
        }
    }
    found
}

#[test]
fn the_db_crate_hands_out_no_diesel_type() {
    let found = public_items_naming("ghostlink-db", &["diesel", "PgConnection", "PooledConnection", "r2d2"]);
    assert!(found.is_empty(), "ghostlink-db's public API names a diesel type:\n{}", found.join("\n"));
}

#[test]
fn the_bus_crate_hands_out_no_lapin_type() {
    let found = public_items_naming("ghostlink-bus", &["lapin", "amq_protocol"]);
    assert!(found.is_empty(), "ghostlink-bus's public API names a lapin type:\n{}", found.join("\n"));
}

#[test]
fn only_the_bus_crate_knows_lapin() {
    let found =
        direct_uses(workspace(), "ghostlink-bus", |dep| dep == "lapin" || dep.starts_with("amq-protocol"));
    assert!(found.is_empty(), "only ghostlink-bus may depend on lapin:\n{}", found.join("\n"));
}

#[test]
fn test_support_is_only_ever_a_dev_dependency() {
    let ws = workspace();
    let found: Vec<String> = ws
        .members
        .iter()
        .flat_map(|(name, member)| {
            member
                .deps
                .iter()
                .filter(|(dep, kind)| dep == "ghostlink-test-support" && kind != "dev")
                .map(move |(_, kind)| format!("{name} has ghostlink-test-support as a {kind} dependency"))
        })
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn nothing_depends_on_a_service() {
    let ws = workspace();
    let services: BTreeSet<&str> = ws.under("services").into_iter().collect();
    assert!(services.contains("ghostlink-redirect"), "services found: {services:?}");
    let found: Vec<String> = ws
        .members
        .iter()
        .flat_map(|(name, member)| {
            let services = &services;
            member.deps.iter().filter(move |(dep, _)| dep != name && services.contains(dep.as_str())).map(
                move |(dep, kind)| {
                    format!("{name} ({}) has the service {dep} as a {kind} dependency", member.folder)
                },
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "services never depend on each other, and crates on none:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_package_folder_is_a_workspace_member() {
    let ws = workspace();
    let listed = ws.under("crates").len() + ws.under("services").len();
    assert_eq!(listed, ws.members.len(), "members outside crates/ and services/");
}
