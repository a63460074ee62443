//! OpenList's batch routes: `batch_rename`, `regex_rename`, `recursive_move` and
//! `remove_empty_directory`, under the same house rules as the one-at-a-time routes (the caller's write
//! right and base folder on every path, one-segment names) and bounded: a batch names at most
//! [`MAX_BATCH`] entries, a walk visits at most [`MAX_FOLDERS`] folders, and a pattern is compiled by
//! the `regex` crate within [`REGEX_SIZE`] bytes — its matching takes time linear in the name whatever
//! the pattern, so no pattern can be catastrophic. Every name and target is checked before the first
//! change is made.

use std::collections::{HashSet, VecDeque};

use axum::extract::State;
use cloudmux_core::DeleteMode;

use super::fs::{join, one_name};
use super::*;
use crate::doors::common::files::{self, Moved};

/// Entries one batch may rename or move.
pub const MAX_BATCH: usize = 10_000;
/// Folders one walk may visit.
pub const MAX_FOLDERS: usize = 10_000;
/// The most a compiled pattern may take.
pub const REGEX_SIZE: usize = 1 << 20;

#[derive(Deserialize)]
pub(super) struct BatchRenameReq {
    #[serde(default)]
    src_dir: String,
    /// (`rename_object` with `src`/`dst` is how the `alist3` package sends them.)
    #[serde(default, alias = "rename_object")]
    rename_objects: Vec<RenameObject>,
}

#[derive(Deserialize)]
pub(super) struct RenameObject {
    #[serde(default, alias = "src")]
    src_name: String,
    #[serde(default, alias = "dst")]
    new_name: String,
}

/// Renames the entries of one folder, each to its new name (pairs with an empty name are passed over,
/// as OpenList does).
pub(super) async fn batch_rename(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<BatchRenameReq>,
) -> Answer {
    if q.rename_objects.len() > MAX_BATCH {
        return Err(fail(400, &format!("at most {MAX_BATCH} renames at once")));
    }
    let dir = at(a.write_path(&q.src_dir))?;
    let mut plan = Vec::new();
    for o in &q.rename_objects {
        if o.src_name.is_empty() || o.new_name.is_empty() {
            continue;
        }
        let from = join(&dir, one_name(&o.src_name)?);
        let to = join(&dir, one_name(&o.new_name)?);
        at(a.write_path(&a.shown(&from)))?;
        plan.push((from, to));
    }
    no_two_alike(plan.iter().map(|(_, to)| to.as_str()))?;
    for (from, to) in plan {
        if from != to {
            or_fail(st.tree.rename(&from, &to).await)?;
        }
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
pub(super) struct RegexRenameReq {
    #[serde(default)]
    src_dir: String,
    #[serde(default)]
    src_name_regex: String,
    /// (`dst_name_regex` is how the `alist3` package sends it.)
    #[serde(default, alias = "dst_name_regex")]
    new_name_regex: String,
}

/// A pattern compiled within bounds, or AList's answer saying what is wrong with it.
pub(crate) fn pattern(p: &str) -> std::result::Result<regex::Regex, Fail> {
    if p.is_empty() {
        return Err(fail(400, "an empty pattern matches every name: give one"));
    }
    regex::RegexBuilder::new(p)
        .size_limit(REGEX_SIZE)
        .dfa_size_limit(REGEX_SIZE)
        .nest_limit(64)
        .build()
        .map_err(|e| fail(400, &format!("the pattern {p:?}: {e}")))
}

/// Renames every entry of a folder whose name the pattern matches: the matches replaced by the new
/// name, where `$1` or `${name}` stand for the pattern's groups (as Go's and OpenList's).
pub(super) async fn regex_rename(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<RegexRenameReq>,
) -> Answer {
    let re = pattern(&q.src_name_regex)?;
    let dir = at(a.write_path(&q.src_dir))?;
    let entries = or_fail(st.tree.list(&dir).await)?;
    let mut plan = Vec::new();
    for e in entries.iter().filter(|e| re.is_match(&e.name)) {
        let new = re
            .replace_all(&e.name, q.new_name_regex.as_str())
            .into_owned();
        if new == e.name {
            continue;
        }
        if plan.len() == MAX_BATCH {
            return Err(fail(
                400,
                &format!("the pattern matches more than {MAX_BATCH} names: narrow it"),
            ));
        }
        let to = join(&dir, one_name(&new)?);
        plan.push((join(&dir, &e.name), to));
    }
    // Two names becoming one, or a new name already taken by an entry left as it is, stops it all.
    let staying: HashSet<&str> = entries
        .iter()
        .filter(|e| !re.is_match(&e.name))
        .map(|e| e.name.as_str())
        .collect();
    no_two_alike(plan.iter().map(|(_, to)| to.as_str()))?;
    if let Some((_, to)) = plan
        .iter()
        .find(|(_, to)| staying.contains(to.rsplit('/').next().unwrap_or_default()))
    {
        return Err(fail(403, &format!("file [{}] exists", a.shown(to))));
    }
    for (from, to) in &plan {
        or_fail(st.tree.rename(from, to).await)?;
    }
    Ok(ok(json!(format!("Renamed {}", plan.len()))))
}

/// Refuses a batch in which two entries would get the same path.
fn no_two_alike<'a>(targets: impl Iterator<Item = &'a str>) -> std::result::Result<(), Fail> {
    let mut seen = HashSet::new();
    for t in targets {
        if !seen.insert(t) {
            return Err(fail(
                400,
                &format!("two entries would be named {:?}", t.rsplit('/').next()),
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct RecursiveMoveReq {
    #[serde(default)]
    src_dir: String,
    #[serde(default)]
    dst_dir: String,
    /// `cancel` (the default: stop before moving anything if a name is taken), `skip` or `overwrite`.
    #[serde(default)]
    conflict_policy: String,
}

/// The folders under `top` (breadth first, `top` first) and the files in them, within
/// [`MAX_FOLDERS`].
async fn walk_under(
    st: &AppState,
    top: &str,
) -> std::result::Result<(Vec<String>, Vec<Entry>), Fail> {
    let mut folders = Vec::new();
    let mut files = Vec::new();
    let mut queue = VecDeque::from([top.to_string()]);
    while let Some(dir) = queue.pop_front() {
        if folders.len() == MAX_FOLDERS {
            return Err(fail(
                400,
                &format!("more than {MAX_FOLDERS} folders under it: work on a part of it"),
            ));
        }
        let entries = or_fail(st.tree.list(&dir).await)?;
        for e in entries.iter() {
            if e.is_dir {
                queue.push_back(e.path.clone());
            } else {
                files.push(e.clone());
            }
        }
        folders.push(dir);
    }
    Ok((folders, files))
}

/// Moves every file under a folder, from every level, into one folder (the same folder flattens it);
/// folders are left, empty (`remove_empty_directory` clears them).
pub(super) async fn recursive_move(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<RecursiveMoveReq>,
) -> Answer {
    let policy = match q.conflict_policy.as_str() {
        "" | "cancel" => "cancel",
        "skip" => "skip",
        "overwrite" => "overwrite",
        other => {
            return Err(fail(
                400,
                &format!("conflict_policy {other:?}: give cancel, skip or overwrite"),
            ));
        }
    };
    let src = at(a.write_path(&q.src_dir))?;
    let dst = at(a.path(&q.dst_dir))?;
    if dst != src && crate::house::tickets::within(&dst, &src) {
        return Err(fail(
            403,
            "the folder to move into is inside the folder moved from: choose one outside it, or the same",
        ));
    }
    let target = or_fail(st.tree.stat(&dst).await)?;
    if !target.is_dir {
        return Err(fail(400, &format!("{} is not a folder", a.shown(&dst))));
    }
    let (_, found) = walk_under(&st, &src).await?;
    let mut taken: HashSet<String> = or_fail(st.tree.list(&dst).await)?
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let mut plan = Vec::new();
    for f in found {
        let parent = crate::house::tree::parent_of(&f.path);
        if parent == dst {
            continue;
        }
        let to = join(&dst, one_name(&f.name)?);
        at(a.write_path(&a.shown(&to)))?;
        let clash = !taken.insert(f.name.clone());
        match (clash, policy) {
            (true, "cancel") => {
                return Err(fail(403, &format!("file [{}] exists", f.name)));
            }
            (true, "skip") => continue,
            _ => {}
        }
        if plan.len() == MAX_BATCH {
            return Err(fail(
                400,
                &format!("more than {MAX_BATCH} files under it: move them in parts"),
            ));
        }
        plan.push((f, to, clash));
    }
    let mut moved = 0;
    let mut tasks = 0;
    for (f, to, clash) in plan {
        if clash {
            // Overwrite: what is there goes to the trash first (it can be brought back).
            if st.tree.stat(&to).await.is_ok() {
                or_fail(st.tree.delete(&to, DeleteMode::Trash).await)?;
            }
        }
        let path = f.path.clone();
        match or_fail(files::move_to(&st, &a, path, Some(f), to).await)? {
            Moved::Started(_) => tasks += 1,
            _ => moved += 1,
        }
    }
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    Ok(ok(json!(if tasks > 0 {
        format!(
            "Successfully moved {moved} {}; {tasks} more moving in the background",
            files(moved)
        )
    } else {
        format!("Successfully moved {moved} {}", files(moved))
    })))
}

#[derive(Deserialize)]
pub(super) struct RemoveEmptyReq {
    #[serde(default)]
    src_dir: String,
}

/// Removes the empty folders under a folder (not the folder itself), deepest first, so a folder
/// holding only empty folders goes too. They go to the trash where the remote has one.
pub(super) async fn remove_empty_directory(
    State(st): State<Arc<AppState>>,
    Caller(a): Caller,
    AJson(q): AJson<RemoveEmptyReq>,
) -> Answer {
    let src = at(a.write_path(&q.src_dir))?;
    let (folders, files) = walk_under(&st, &src).await?;
    // A folder stays when a file lies anywhere under it.
    let mut full: HashSet<&str> = HashSet::new();
    for f in &files {
        let mut p = crate::house::tree::parent_of(&f.path);
        while p.len() > src.len() && full.insert(p) {
            p = crate::house::tree::parent_of(p);
        }
    }
    // Deepest first: a folder's children are gone before it (the trash takes them with it anyway).
    let mut empty: Vec<&String> = folders
        .iter()
        .filter(|d| d.as_str() != src && !full.contains(d.as_str()))
        .collect();
    empty.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    let mut removed = 0;
    for d in empty {
        // A folder whose parent was removed already went with it.
        if st.tree.stat(d).await.is_err() {
            continue;
        }
        at(a.write_path(&a.shown(d)))?;
        or_fail(st.tree.delete(d, DeleteMode::Trash).await)?;
        removed += 1;
    }
    Ok(ok(json!(format!("Removed {removed} empty folders"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_bounded_and_said_wrong_when_they_are() {
        assert!(pattern("^(\\d+)-(.*)$").is_ok());
        assert!(pattern("").is_err());
        let e = pattern("(unclosed").unwrap_err();
        assert_eq!(e.0, 400);
        assert!(e.1.contains("unclosed"), "{}", e.1);
        // A pattern whose compiled form is huge is refused, not built.
        let huge = pattern("\\w{1000}\\w{1000}\\w{1000}").unwrap_err();
        assert!(
            huge.1.contains("size limit") || huge.1.contains("exceeds"),
            "{}",
            huge.1
        );
        // Nested groups past the limit too.
        assert!(pattern(&format!("{}a{}", "(".repeat(100), ")".repeat(100))).is_err());
        // The classic catastrophic pattern is just a pattern here (the regex crate does not backtrack).
        let re = pattern("^(a+)+$").unwrap();
        assert!(!re.is_match(&format!("{}!", "a".repeat(100_000))));
        assert_eq!(
            pattern("^(\\d+)-(.*)$")
                .unwrap()
                .replace_all("01-intro.mp3", "$2 ($1)"),
            "intro.mp3 (01)"
        );
    }
}
