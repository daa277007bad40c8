//! The import rules of the README's "Architecture" section, checked on the sources:
//!
//! - the product (`src/proxy`, `src/validate`, `src/oauth`, `src/client`) never imports the
//!   mock IdP: only the scenario runner, which drives both, and the CLI, which can start
//!   either, know both;
//! - the modules of `authproof` (the proxy, validate, the scenario runner…) and of the mock
//!   IdP import each other without cycles, file by file. A child using its parent (`use super::…`) is the usual Rust layout and does not
//!   count; a parent re-exporting a child (`pub use child::…`) does.
//!
//! The check reads `use` paths and inline `crate::…` paths with a small scanner (comments and
//! `#[cfg(test)] mod tests` blocks are left out), which is enough for this code base's style.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `root` (`proxy/store/mod.rs` → `proxy::store`).
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(root)
        .expect("under root")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The source without comment lines and without the unit-test module at its end.
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("read");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `prefix` (`crate::`, `super::`), with one level of `{a, b}` groups
/// expanded: `crate::x::{y, z::w}` → `x::y`, `x::z::w`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let base = rest[..end].trim_end_matches(':').to_string();
        if rest[end..].starts_with('{') && rest[..end].ends_with("::") {
            let close = rest[end..].find('}').map_or(rest.len(), |j| end + j);
            for item in rest[end + 1..close].split(',') {
                let item = item.split(" as ").next().unwrap_or("").trim();
                let item = item.split("::{").next().unwrap_or("").trim();
                if item.is_empty() || item == "self" {
                    out.push(base.clone());
                } else {
                    out.push(format!("{base}::{item}"));
                }
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// The deepest known module a path names (`proxy::store::Grant` → `proxy::store`).
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        let m = parts.join("::");
        if modules.contains(&m) {
            return Some(m);
        }
        parts.pop();
    }
    None
}

/// The import graph of the crate at `root`, restricted to modules under `within` ("" = all).
fn graph(root: &Path, within: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(root, f)).collect();
    let inside =
        |m: &str| within.is_empty() || m == within || m.starts_with(&format!("{within}::"));
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let m = module_of(root, file);
        if !inside(&m) {
            continue;
        }
        let code = code_of(file);
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p).to_string();
        let mut targets: Vec<String> = paths_after(&code, "crate::");
        for p in paths_after(&code, "super::") {
            targets.push(if parent.is_empty() {
                p
            } else {
                format!("{parent}::{p}")
            });
        }
        for line in code.lines() {
            let line = line.trim_start();
            let Some(rest) = line
                .strip_prefix("pub use ")
                .or_else(|| line.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            if let Some((child, _)) = rest.split_once("::") {
                let child = if m.is_empty() {
                    child.to_string()
                } else {
                    format!("{m}::{child}")
                };
                if modules.contains(&child) {
                    targets.push(child);
                }
            }
        }
        for t in targets {
            let Some(t) = resolve(&t, &modules) else {
                continue;
            };
            // A child using an ancestor is the usual layout, not a cycle.
            let is_ancestor = t.is_empty() || m.starts_with(&format!("{t}::"));
            if t != m && !is_ancestor && inside(&t) {
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("low");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("low");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.as_str()).chain(v.iter().map(String::as_str)))
        .collect();
    for n in nodes {
        if !t.index.contains_key(n) {
            t.visit(n);
        }
    }
    t.out
}

fn describe(edges: &BTreeMap<String, BTreeSet<String>>, comps: &[Vec<String>]) -> String {
    let mut s = String::new();
    for comp in comps {
        s.push_str(&format!("cycle among {}:\n", comp.join(", ")));
        for a in comp {
            let to: Vec<&str> = edges
                .get(a)
                .into_iter()
                .flatten()
                .filter(|t| comp.contains(t))
                .map(String::as_str)
                .collect();
            s.push_str(&format!("  {a} -> {}\n", to.join(", ")));
        }
    }
    s
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_product_never_imports_the_mock_idp() {
    let src = manifest_dir().join("src");
    let mut offenders = Vec::new();
    for dir in ["proxy", "validate", "oauth", "client"] {
        let mut files = Vec::new();
        rust_files(&src.join(dir), &mut files);
        assert!(!files.is_empty(), "no sources under src/{dir}");
        for f in files {
            let code = code_of(&f);
            if code.contains("mock_idp::") || code.contains("use mock_idp") {
                offenders.push(f.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these product files import the mock IdP: {offenders:#?}"
    );
}

#[test]
fn the_authproof_modules_have_no_import_cycles() {
    let edges = graph(&manifest_dir().join("src"), "");
    assert!(
        edges.keys().filter(|m| m.starts_with("proxy::")).count() > 20,
        "the scanner found the proxy's imports"
    );
    let comps = cycles(&edges);
    assert!(comps.is_empty(), "{}", describe(&edges, &comps));
}

#[test]
fn the_mock_idp_modules_have_no_import_cycles() {
    let edges = graph(&manifest_dir().join("mock-idp/src"), "");
    assert!(edges.len() > 10, "the scanner found the mock IdP's imports");
    let comps = cycles(&edges);
    assert!(comps.is_empty(), "{}", describe(&edges, &comps));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    edges.entry("c".into()).or_default().insert("d".into());
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        paths_after("use crate::x::{y, z::w as v, self};", "crate::"),
        vec!["x::y", "x::z::w", "x"]
    );
    assert!(paths_after("use mycrate::x;", "crate::").is_empty());
}
