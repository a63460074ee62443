//! The import picture of a crate, read from its source files: its modules, which modules each names
//! through `crate::` and `super::` paths, and the circles among them. Shared by the crates' layout tests
//! (the emulator's includes this file).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of the crate under `src` (but the root): its path (`doors::api::fs`) and its code without comments
/// and tests.
pub fn modules(src: &Path) -> BTreeMap<String, String> {
    let src = src.to_path_buf();
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p: PathBuf = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        if parts == ["lib"] {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Test modules (`#[cfg(test)]` then `mod …` up to the `}` closing it at the left margin) and
        // comments are left out.
        let mut code = String::new();
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            if l == "#[cfg(test)]" && lines.peek().is_some_and(|n| n.starts_with("mod ")) {
                for inner in lines.by_ref() {
                    if inner == "}" {
                        break;
                    }
                }
                continue;
            }
            if !l.trim_start().starts_with("//") {
                code.push_str(l);
                code.push('\n');
            }
        }
        out.insert(parts.join("::"), code);
    }
    out
}

/// The paths a module's code names after `prefix` (`crate::` or `super::`), as segments.
fn named(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        out.push(
            rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        );
    }
    out
}

/// The modules each module reaches through `crate::` and `super::` paths.
pub fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let resolve = |parts: &[String]| {
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| mods.contains_key(m))
    };
    let mut out = BTreeMap::new();
    for (m, code) in mods {
        let mut to = BTreeSet::new();
        for p in named(code, "crate::") {
            to.extend(resolve(&p));
        }
        let parent: Vec<String> = m.split("::").map(str::to_string).collect();
        let parent = &parent[..parent.len() - 1];
        for p in named(code, "super::") {
            let full: Vec<String> = parent.iter().cloned().chain(p).collect();
            to.extend(resolve(&full));
        }
        to.remove(m);
        out.insert(m.clone(), to);
    }
    out
}

/// The circles of `g`: groups of two modules or more each reaching every other.
pub fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components: any with two modules or more is a circle.
    struct S<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut S<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in &s.g[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut c = Vec::new();
            while let Some(w) = s.stack.pop() {
                c.push(w);
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                s.circles.push(c);
            }
        }
    }
    let mut s = S {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        circles: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.circles
        .into_iter()
        .map(|c| c.into_iter().map(str::to_string).collect())
        .collect()
}
