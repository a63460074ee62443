//! Two-way sync's decisions: what changed on each side since the last listing both agreed on, and what
//! to do about it, as a plan the caller applies with the engine.
//!
//! The rules, in plain words:
//! - A side's change is found against its own record in the [`State`]: a path it did not have is new, one
//!   it no longer has is deleted, one whose hash (or, without a shared hash, size and time) moved is changed.
//! - A change on one side only is copied to the other. A deletion on one side only deletes on the other
//!   (the caller sends it to the trash, or to a backup folder where there is none).
//! - **An edit beats a deletion**: a file changed on one side and deleted on the other is copied back.
//! - **Both changed** (or both made the same path) with different contents is a conflict: the winner
//!   ([`Winner`]: newer, larger, path1 or path2; ties go to path1) takes the name on both sides, and the
//!   loser's version is kept beside it on both sides as `STEM.conflict-pathN-TIME.EXT`. Nothing is
//!   overwritten silently.
//! - A rename on one side (the same id, or the same hash and size, at a new path) is repeated on the other
//!   as a move when the other side still holds the old path unchanged and nothing at the new one;
//!   otherwise it is a deletion and a creation, and the rules above keep every content.
//! - A folder deleted on one side goes on the other only when everything in it goes too; a folder and a
//!   file meeting at one path keep both (the file moves aside as a conflict copy).
//!
//! [`bisync()`] runs one pass; [`watch()`] keeps running passes as the sides change.

mod run;
pub mod watch;

pub use run::{BACKUP_DIR, CHECK_FILE, Report, Root, RunOptions, StateAt, backup_dir, bisync};
pub use watch::{WatchOptions, watch};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cloudmux_core::Entry;
use serde::{Deserialize, Serialize};

/// What one side held at a path when both sides last agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rec {
    /// A folder.
    pub is_dir: bool,
    /// Size in bytes (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    /// MD5, where the side reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-256, where the side reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The side's id for it, where it has ids (renames keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Rec {
    /// The record of `e`.
    pub fn of(e: &Entry) -> Rec {
        Rec {
            is_dir: e.is_dir,
            size: if e.is_dir { None } else { e.size },
            modified: e.modified,
            md5: e.hashes.md5.clone(),
            sha256: e.hashes.sha256.clone(),
            id: e.id.clone(),
        }
    }
}

/// The last listing both sides agreed on: for each path (relative to each side's root), what side 1
/// and side 2 held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Path → (side 1, side 2).
    pub paths: BTreeMap<String, (Rec, Rec)>,
}

impl State {
    /// The state of two sides that hold the same paths now (after a run, or `--resync`): paths only one
    /// side holds are left out.
    pub fn agreed(one: &Tree, two: &Tree) -> State {
        let paths = one
            .iter()
            .filter_map(|(p, a)| two.get(p).map(|b| (p.clone(), (Rec::of(a), Rec::of(b)))))
            .collect();
        State { paths }
    }
}

/// A side's tree now: relative path → entry.
pub type Tree = BTreeMap<String, Entry>;

/// One of the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// PATH1.
    One,
    /// PATH2.
    Two,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::One => Side::Two,
            Side::Two => Side::One,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::One => "path1",
            Side::Two => "path2",
        }
    }
}

/// Which version of a conflict keeps the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// The one modified last.
    Newer,
    /// The bigger one.
    Larger,
    /// Side 1's.
    Path1,
    /// Side 2's.
    Path2,
}

/// One step of a plan, in the order the plan lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Moves the loser of a conflict aside on its own side (before the winner is copied over it).
    KeepAside {
        /// The side holding the loser.
        on: Side,
        /// Its path.
        path: String,
        /// The conflict name it takes.
        to: String,
    },
    /// Makes a folder.
    Mkdir {
        /// Where.
        on: Side,
        /// The folder.
        path: String,
    },
    /// Repeats a rename the other side made.
    Move {
        /// The side the move is made on.
        on: Side,
        /// The old path.
        from: String,
        /// The new path.
        to: String,
    },
    /// Copies the file at `path` from side `from` to the other side (over what is there).
    Copy {
        /// The side holding the version wanted.
        from: Side,
        /// The file.
        path: String,
    },
    /// Deletes a file (to the trash, or a backup folder).
    Delete {
        /// Where.
        on: Side,
        /// The file.
        path: String,
    },
    /// Removes a folder whose contents all went.
    Rmdir {
        /// Where.
        on: Side,
        /// The folder.
        path: String,
    },
}

/// What a run does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The steps, in order: moves aside, folders (parents first), moves, copies, deletions (children
    /// first), folder removals (children first).
    pub actions: Vec<Action>,
    /// The paths in conflict.
    pub conflicts: Vec<String>,
}

impl Plan {
    /// Files the plan deletes on `side` (the folders emptied by that go with them uncounted: a share of
    /// the side's files is what `--max-delete` weighs).
    pub fn deletes_on(&self, side: Side) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, Action::Delete { on, .. } if *on == side))
            .count()
    }
}

/// How a side's path changed since the last agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    New,
    Changed,
    Deleted,
}

/// Whether two records hold the same content (by a hash both have; else size and time within a second).
fn same_content(a: &Rec, b: &Rec) -> bool {
    if a.is_dir || b.is_dir {
        return a.is_dir == b.is_dir;
    }
    if let (Some(x), Some(y)) = (a.size, b.size)
        && x != y
    {
        return false;
    }
    for (x, y) in [(&a.md5, &b.md5), (&a.sha256, &b.sha256)] {
        if let (Some(x), Some(y)) = (x, y) {
            return x.eq_ignore_ascii_case(y);
        }
    }
    match (a.modified, b.modified) {
        (Some(x), Some(y)) => (x - y).num_milliseconds().abs() <= 1000,
        _ => a.size.is_some() && a.size == b.size,
    }
}

/// Whether a side still holds what its own record says: the same hash where both have one, otherwise the
/// same size and the very same time (one side's clock read twice; the second's tolerance of
/// [`same_content`] is for comparing two services' clocks, and would hide an edit of equal size made within
/// a second of the last).
fn unchanged(prev: &Rec, now: &Rec) -> bool {
    if prev.is_dir || now.is_dir {
        return prev.is_dir == now.is_dir;
    }
    if prev.size != now.size {
        return false;
    }
    for (x, y) in [(&prev.md5, &now.md5), (&prev.sha256, &now.sha256)] {
        if let (Some(x), Some(y)) = (x, y) {
            return x.eq_ignore_ascii_case(y);
        }
    }
    prev.modified == now.modified
}

fn change(prev: Option<&Rec>, now: Option<&Entry>) -> Change {
    match (prev, now) {
        (None, None) => Change::None,
        (None, Some(_)) => Change::New,
        (Some(_), None) => Change::Deleted,
        (Some(p), Some(n)) => {
            let n = Rec::of(n);
            if unchanged(p, &n) {
                Change::None
            } else {
                Change::Changed
            }
        }
    }
}

/// `STEM.conflict-pathN-TIME.EXT` for the loser at `path` (the extension kept so it still opens).
pub fn conflict_name(path: &str, loser: Side, now: DateTime<Utc>) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    let tag = format!("conflict-{}-{}", loser.name(), now.format("%Y%m%dT%H%M%SZ"));
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{dir}{}.{tag}{}", &name[..i], &name[i..]),
        None => format!("{dir}{name}.{tag}"),
    }
}

/// [`conflict_name`], made free: a name neither side holds nor this plan already gave (`given`, which
/// records it) — two conflicts of one file within the same second, one run after another, would
/// otherwise meet: `-2`, `-3`, … after the time.
fn free_conflict_name(
    path: &str,
    loser: Side,
    now: DateTime<Utc>,
    (one, two): (&Tree, &Tree),
    given: &mut BTreeSet<String>,
) -> String {
    let taken = |c: &str| one.contains_key(c) || two.contains_key(c) || given.contains(c);
    let first = conflict_name(path, loser, now);
    let name = if taken(&first) {
        let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
        (2u32..)
            .map(|n| first.replacen(&stamp, &format!("{stamp}-{n}"), 1))
            .find(|c| !taken(c))
            .expect("a free name among four billion")
    } else {
        first
    };
    given.insert(name.clone());
    name
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Renames on one side: (old path, new path) pairs of files that went from one path and came at another
/// with the same id, or (without ids) the same hash and size and no other candidate.
fn renames(prev: &BTreeMap<String, &Rec>, now: &Tree) -> Vec<(String, String)> {
    let gone: Vec<(&String, &&Rec)> = prev
        .iter()
        .filter(|(p, r)| !r.is_dir && !now.contains_key(*p))
        .collect();
    let came: Vec<(&String, &Entry)> = now
        .iter()
        .filter(|(p, e)| !e.is_dir && !prev.contains_key(*p))
        .collect();
    let mut out = Vec::new();
    let mut taken = BTreeSet::new();
    for (old, r) in gone {
        let by_id = r.id.as_ref().and_then(|id| {
            came.iter()
                .find(|(_, e)| e.id.as_ref() == Some(id))
                .map(|(p, _)| (*p).clone())
        });
        let found = by_id.or_else(|| {
            r.md5.as_ref().or(r.sha256.as_ref())?;
            let same: Vec<&String> = came
                .iter()
                .filter(|(_, e)| unchanged(r, &Rec::of(e)))
                .map(|(p, _)| *p)
                .collect();
            (same.len() == 1).then(|| same[0].clone())
        });
        if let Some(new) = found
            && taken.insert(new.clone())
        {
            out.push((old.clone(), new));
        }
    }
    out
}

/// Decides what to do so that both sides hold the same again, keeping every content either side holds.
pub fn plan(state: &State, one: &Tree, two: &Tree, winner: Winner, now: DateTime<Utc>) -> Plan {
    let prev1: BTreeMap<String, &Rec> = state
        .paths
        .iter()
        .map(|(p, (a, _))| (p.clone(), a))
        .collect();
    let prev2: BTreeMap<String, &Rec> = state
        .paths
        .iter()
        .map(|(p, (_, b))| (p.clone(), b))
        .collect();
    let tree = |s: Side| if s == Side::One { one } else { two };
    let prev = |s: Side| if s == Side::One { &prev1 } else { &prev2 };
    let ch = |s: Side, p: &str| change(prev(s).get(p).copied(), tree(s).get(p));

    let mut plan = Plan::default();
    let mut aside = Vec::new();
    let mut mkdirs = BTreeSet::new();
    let mut moves = Vec::new();
    let mut copies = Vec::new();
    let mut deletes = Vec::new();
    let mut rmdirs: Vec<(Side, String)> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    // Conflict names this plan gave.
    let mut named: BTreeSet<String> = BTreeSet::new();

    // Renames one side made that the other can repeat as they are.
    for side in [Side::One, Side::Two] {
        let other = side.other();
        for (old, new) in renames(prev(side), tree(side)) {
            if done.contains(&old) || done.contains(&new) {
                continue;
            }
            let other_old_unchanged =
                ch(other, &old) == Change::None && tree(other).contains_key(&old);
            let other_new_free = !tree(other).contains_key(&new) && !prev(other).contains_key(&new);
            if other_old_unchanged && other_new_free {
                let up = parent(&new);
                if !up.is_empty() && !tree(other).contains_key(up) {
                    mkdirs.insert((other, up.to_string()));
                }
                moves.push(Action::Move {
                    on: other,
                    from: old.clone(),
                    to: new.clone(),
                });
                // The moved file may still differ in content from the renamed one.
                let moved = Rec::of(&tree(side)[&new]);
                if !same_content(prev(other)[&old], &moved) {
                    copies.push(Action::Copy {
                        from: side,
                        path: new.clone(),
                    });
                }
                done.insert(old);
                done.insert(new);
            }
        }
    }

    let all: BTreeSet<&String> = one
        .keys()
        .chain(two.keys())
        .chain(state.paths.keys())
        .collect();
    // Folders one side deleted: removed on the other only if nothing in them stays there.
    let mut dir_deletes: Vec<(Side, String)> = Vec::new();
    for path in all {
        if done.contains(path) {
            continue;
        }
        let (c1, c2) = (ch(Side::One, path), ch(Side::Two, path));
        let (e1, e2) = (one.get(path), two.get(path));
        let is_dir = |e: Option<&Entry>| e.is_some_and(|e| e.is_dir);
        match (c1, c2) {
            (Change::None, Change::None) => {}
            (Change::Deleted, Change::Deleted) => {}
            // One side changed or made it; the other did nothing (or never had it).
            (Change::New | Change::Changed, Change::None)
                if e2.is_none() || !is_dir(e1) && !is_dir(e2) =>
            {
                put(&mut mkdirs, &mut copies, Side::One, path, e1);
            }
            (Change::None, Change::New | Change::Changed)
                if e1.is_none() || !is_dir(e1) && !is_dir(e2) =>
            {
                put(&mut mkdirs, &mut copies, Side::Two, path, e2);
            }
            // Deleted on one side, untouched on the other.
            (Change::Deleted, Change::None) => match e2 {
                Some(e) if e.is_dir => dir_deletes.push((Side::Two, path.clone())),
                Some(_) => deletes.push(Action::Delete {
                    on: Side::Two,
                    path: path.clone(),
                }),
                None => {}
            },
            (Change::None, Change::Deleted) => match e1 {
                Some(e) if e.is_dir => dir_deletes.push((Side::One, path.clone())),
                Some(_) => deletes.push(Action::Delete {
                    on: Side::One,
                    path: path.clone(),
                }),
                None => {}
            },
            // An edit beats a deletion: copied back.
            (Change::New | Change::Changed, Change::Deleted) => {
                put(&mut mkdirs, &mut copies, Side::One, path, e1)
            }
            (Change::Deleted, Change::New | Change::Changed) => {
                put(&mut mkdirs, &mut copies, Side::Two, path, e2)
            }
            // Both sides hold something new at the path.
            _ => {
                let (Some(a), Some(b)) = (e1, e2) else {
                    continue;
                };
                if same_content(&Rec::of(a), &Rec::of(b)) {
                    continue;
                }
                plan.conflicts.push(path.clone());
                if a.is_dir || b.is_dir {
                    // A folder and a file: the file moves aside, the folder is made on its side.
                    let file_side = if a.is_dir { Side::Two } else { Side::One };
                    let to = free_conflict_name(path, file_side, now, (one, two), &mut named);
                    aside.push(Action::KeepAside {
                        on: file_side,
                        path: path.clone(),
                        to: to.clone(),
                    });
                    mkdirs.insert((file_side, path.clone()));
                    copies.push(Action::Copy {
                        from: file_side,
                        path: to,
                    });
                    continue;
                }
                let win = match winner {
                    Winner::Path1 => Side::One,
                    Winner::Path2 => Side::Two,
                    Winner::Newer => {
                        if b.modified > a.modified {
                            Side::Two
                        } else {
                            Side::One
                        }
                    }
                    Winner::Larger => {
                        if b.size > a.size {
                            Side::Two
                        } else {
                            Side::One
                        }
                    }
                };
                let lose = win.other();
                let to = free_conflict_name(path, lose, now, (one, two), &mut named);
                aside.push(Action::KeepAside {
                    on: lose,
                    path: path.clone(),
                    to: to.clone(),
                });
                copies.push(Action::Copy {
                    from: win,
                    path: path.clone(),
                });
                copies.push(Action::Copy {
                    from: lose,
                    path: to,
                });
            }
        }
    }
    // A folder goes from a side only if every file and folder under it there goes too; otherwise it is
    // made again on the side that deleted it (its kept contents are copied there above).
    let deleted: BTreeSet<(Side, String)> = deletes
        .iter()
        .filter_map(|a| match a {
            Action::Delete { on, path } => Some((*on, path.clone())),
            _ => None,
        })
        .chain(dir_deletes.iter().cloned())
        .collect();
    for (side, dir) in dir_deletes {
        let below = format!("{dir}/");
        let stays = tree(side)
            .keys()
            .filter(|p| p.starts_with(&below))
            .any(|p| !deleted.contains(&(side, p.clone())));
        if stays {
            mkdirs.insert((side.other(), dir));
        } else {
            rmdirs.push((side, dir));
        }
    }
    plan.actions.extend(aside);
    // Parents first: a folder's path sorts before its contents'.
    let mut mk: Vec<(Side, String)> = mkdirs.into_iter().collect();
    mk.sort_by(|a, b| a.1.cmp(&b.1));
    plan.actions
        .extend(mk.into_iter().map(|(on, path)| Action::Mkdir { on, path }));
    plan.actions.extend(moves);
    plan.actions.extend(copies);
    deletes.sort_by(|a, b| path_of(b).cmp(path_of(a)));
    plan.actions.extend(deletes);
    rmdirs.sort_by(|a, b| b.1.cmp(&a.1));
    plan.actions.extend(
        rmdirs
            .into_iter()
            .map(|(on, path)| Action::Rmdir { on, path }),
    );
    plan
}

fn path_of(a: &Action) -> &str {
    match a {
        Action::KeepAside { path, .. }
        | Action::Mkdir { path, .. }
        | Action::Copy { path, .. }
        | Action::Delete { path, .. }
        | Action::Rmdir { path, .. } => path,
        Action::Move { to, .. } => to,
    }
}

/// What makes `e` (on `from`) exist on the other side: a folder, or a copy (and its missing parent).
fn put(
    mkdirs: &mut BTreeSet<(Side, String)>,
    copies: &mut Vec<Action>,
    from: Side,
    path: &str,
    e: Option<&Entry>,
) {
    match e {
        Some(e) if e.is_dir => {
            mkdirs.insert((from.other(), path.to_string()));
        }
        Some(_) => copies.push(Action::Copy {
            from,
            path: path.to_string(),
        }),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Applies `plan` to two in-memory trees of contents (path → content; folders are the paths' parents):
    /// what the plan means. Deleted and replaced contents go to `trash`.
    fn apply_model(
        plan: &Plan,
        one: &mut BTreeMap<String, String>,
        two: &mut BTreeMap<String, String>,
        trash: &mut Vec<String>,
    ) {
        let mut sides: HashMap<Side, &mut BTreeMap<String, String>> = HashMap::new();
        sides.insert(Side::One, one);
        sides.insert(Side::Two, two);
        for a in &plan.actions {
            match a {
                Action::KeepAside { on, path: from, to } | Action::Move { on, from, to } => {
                    let t = sides.get_mut(on).unwrap();
                    if let Some(c) = t.remove(from) {
                        t.insert(to.clone(), c);
                    }
                }
                Action::Copy { from, path } => {
                    let c = sides[from].get(path).cloned();
                    if let Some(c) = c {
                        let t = sides.get_mut(&from.other()).unwrap();
                        if let Some(old) = t.insert(path.clone(), c.clone())
                            && old != c
                        {
                            trash.push(old);
                        }
                    }
                }
                Action::Delete { on, path } => {
                    if let Some(c) = sides.get_mut(on).unwrap().remove(path) {
                        trash.push(c);
                    }
                }
                Action::Mkdir { .. } | Action::Rmdir { .. } => {}
            }
        }
    }

    fn file(path: &str, content: &str, id: Option<String>) -> Entry {
        let mut e = Entry::dir(path.to_string());
        e.is_dir = false;
        e.size = Some(content.len() as u64);
        e.hashes.md5 = Some(format!("{:x}", md5_of(content)));
        e.id = id;
        e
    }

    fn md5_of(s: &str) -> u128 {
        use md5::{Digest, Md5};
        u128::from_be_bytes(Md5::digest(s.as_bytes()).into())
    }

    /// A side's tree from its contents (folders are the files' parents), with ids where given.
    fn tree_of(files: &BTreeMap<String, String>, ids: &BTreeMap<String, String>) -> Tree {
        let mut t = Tree::new();
        for (p, c) in files {
            let mut at = p.as_str();
            while let Some(i) = at.rfind('/') {
                at = &at[..i];
                t.insert(at.to_string(), Entry::dir(at.to_string()));
            }
            t.insert(p.clone(), file(p, c, ids.get(p).cloned()));
        }
        t
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000, 0).unwrap()
    }

    #[test]
    fn one_sided_changes_cross_and_an_edit_beats_a_deletion() {
        let base: BTreeMap<String, String> = [("a.txt", "A"), ("d/b.txt", "B"), ("c.txt", "C")]
            .into_iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        let none = BTreeMap::new();
        let state = State::agreed(&tree_of(&base, &none), &tree_of(&base, &none));
        let mut one = base.clone();
        let mut two = base.clone();
        one.insert("new.txt".into(), "N".into()); // new on 1
        one.insert("a.txt".into(), "A2".into()); // edited on 1
        two.remove("a.txt"); // …and deleted on 2: the edit wins
        two.remove("c.txt"); // deleted on 2 only
        let p = plan(
            &state,
            &tree_of(&one, &none),
            &tree_of(&two, &none),
            Winner::Newer,
            now(),
        );
        assert!(p.conflicts.is_empty());
        assert!(p.actions.contains(&Action::Copy {
            from: Side::One,
            path: "new.txt".into()
        }));
        assert!(p.actions.contains(&Action::Copy {
            from: Side::One,
            path: "a.txt".into()
        }));
        assert!(p.actions.contains(&Action::Delete {
            on: Side::One,
            path: "c.txt".into()
        }));
        assert_eq!(p.deletes_on(Side::One), 1);
        let mut trash = Vec::new();
        apply_model(&p, &mut one, &mut two, &mut trash);
        assert_eq!(one, two);
        assert_eq!(one["a.txt"], "A2");
        assert_eq!(trash, ["C"]);
    }

    #[test]
    fn both_changed_keeps_both_and_names_the_loser() {
        let base: BTreeMap<String, String> = [("r.pdf".to_string(), "0".to_string())].into();
        let none = BTreeMap::new();
        let state = State::agreed(&tree_of(&base, &none), &tree_of(&base, &none));
        let one: BTreeMap<String, String> = [("r.pdf".to_string(), "one".to_string())].into();
        let two: BTreeMap<String, String> = [("r.pdf".to_string(), "two!".to_string())].into();
        let p = plan(
            &state,
            &tree_of(&one, &none),
            &tree_of(&two, &none),
            Winner::Larger,
            now(),
        );
        assert_eq!(p.conflicts, ["r.pdf"]);
        let aside = conflict_name("r.pdf", Side::One, now());
        assert_eq!(aside, "r.conflict-path1-20261130T005320Z.pdf");
        let (mut a, mut b, mut trash) = (one, two, Vec::new());
        apply_model(&p, &mut a, &mut b, &mut trash);
        assert_eq!(a, b);
        assert_eq!(a["r.pdf"], "two!", "the larger wins");
        assert_eq!(a[&aside], "one", "the loser is kept beside it");
        assert!(trash.is_empty());
        assert_eq!(
            conflict_name("d/Makefile", Side::Two, now()),
            "d/Makefile.conflict-path2-20261130T005320Z"
        );
    }

    #[test]
    fn a_second_conflict_in_the_same_second_gets_a_name_of_its_own() {
        // The first conflict's copy is on both sides already (a run a moment ago); the same file
        // conflicts again within the same second.
        let aside = conflict_name("r.pdf", Side::One, now());
        let base: BTreeMap<String, String> = [
            ("r.pdf".to_string(), "0".to_string()),
            (aside.clone(), "first".to_string()),
        ]
        .into();
        let none = BTreeMap::new();
        let state = State::agreed(&tree_of(&base, &none), &tree_of(&base, &none));
        let mut one = base.clone();
        one.insert("r.pdf".into(), "one".into());
        let mut two = base.clone();
        two.insert("r.pdf".into(), "two!".into());
        let p = plan(
            &state,
            &tree_of(&one, &none),
            &tree_of(&two, &none),
            Winner::Larger,
            now(),
        );
        let second = "r.conflict-path1-20261130T005320Z-2.pdf";
        assert!(
            p.actions
                .iter()
                .any(|a| matches!(a, Action::KeepAside { to, .. } if to == second)),
            "{:?}",
            p.actions
        );
        let (mut a, mut b, mut trash) = (one, two, Vec::new());
        apply_model(&p, &mut a, &mut b, &mut trash);
        assert_eq!(a, b);
        assert_eq!((a[&aside].as_str(), a[second].as_str()), ("first", "one"));
    }

    #[test]
    fn a_rename_is_repeated_as_a_move_and_a_folder_with_new_contents_stays() {
        let base: BTreeMap<String, String> = [("d/x.txt", "X"), ("d/y.txt", "Y")]
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        let ids1: BTreeMap<String, String> = [("d/x.txt", "i1"), ("d/y.txt", "i2")]
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        let none = BTreeMap::new();
        let state = State::agreed(&tree_of(&base, &ids1), &tree_of(&base, &none));
        // Side 1 renames x (same id), side 2 deletes the folder's y and adds z to it.
        let one: BTreeMap<String, String> = [("e/x2.txt", "X"), ("d/y.txt", "Y")]
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        let ids1b: BTreeMap<String, String> = [("e/x2.txt", "i1"), ("d/y.txt", "i2")]
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        let two: BTreeMap<String, String> = [("d/x.txt", "X"), ("d/z.txt", "Z")]
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        let p = plan(
            &state,
            &tree_of(&one, &ids1b),
            &tree_of(&two, &none),
            Winner::Newer,
            now(),
        );
        assert!(p.actions.contains(&Action::Move {
            on: Side::Two,
            from: "d/x.txt".into(),
            to: "e/x2.txt".into()
        }));
        assert!(p.actions.contains(&Action::Mkdir {
            on: Side::Two,
            path: "e".into()
        }));
        assert!(!p.actions.iter().any(|a| matches!(a, Action::Rmdir { .. })));
        let (mut a, mut b, mut trash) = (one, two, Vec::new());
        apply_model(&p, &mut a, &mut b, &mut trash);
        assert_eq!(a, b);
        assert_eq!(trash, ["Y"]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Create(u8, u8),
        Edit(u8, u8),
        Delete(u8),
        Rename(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..12u8, 0..200u8).prop_map(|(p, c)| Op::Create(p, c)),
            (0..12u8, 0..200u8).prop_map(|(p, c)| Op::Edit(p, c)),
            (0..12u8).prop_map(Op::Delete),
            (0..12u8, 0..12u8).prop_map(|(a, b)| Op::Rename(a, b)),
        ]
    }

    fn path(n: u8) -> String {
        // A few folders, so renames cross them and folders empty out.
        format!("{}/f{n}.txt", ["a", "b", "a/c"][n as usize % 3])
    }

    /// Applies `ops` to one side's contents and ids (a rename keeps the id; a new file gets a new one).
    fn mutate(
        files: &mut BTreeMap<String, String>,
        ids: &mut BTreeMap<String, String>,
        ops: &[Op],
        side: &str,
        next: &mut u32,
    ) {
        for o in ops {
            match *o {
                Op::Create(p, c) if !files.contains_key(&path(p)) => {
                    files.insert(path(p), format!("{side}-new-{c}"));
                    *next += 1;
                    ids.insert(path(p), format!("{side}{next}"));
                }
                Op::Edit(p, c) if files.contains_key(&path(p)) => {
                    files.insert(path(p), format!("{side}-edit-{c}"));
                }
                Op::Delete(p) => {
                    files.remove(&path(p));
                    ids.remove(&path(p));
                }
                Op::Rename(a, b)
                    if files.contains_key(&path(a)) && !files.contains_key(&path(b)) =>
                {
                    let c = files.remove(&path(a)).unwrap();
                    files.insert(path(b), c);
                    if let Some(id) = ids.remove(&path(a)) {
                        ids.insert(path(b), id);
                    }
                }
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Random creates, edits, deletes and renames on both sides between runs: after each run both
        /// sides are equal, every content either side held at the run is on them or in the trash, and
        /// a second run has nothing to do.
        #[test]
        fn runs_leave_both_sides_equal_and_lose_nothing(
            rounds in proptest::collection::vec(
                (proptest::collection::vec(op(), 0..6), proptest::collection::vec(op(), 0..6), 0..4u8),
                1..5,
            ),
        ) {
            let (mut one, mut two) = (BTreeMap::new(), BTreeMap::new());
            let (mut ids1, mut ids2) = (BTreeMap::new(), BTreeMap::new());
            let mut state = State::default();
            let mut last: Vec<String> = Vec::new();
            let mut next = 0;
            for (r, (ops1, ops2, w)) in rounds.iter().enumerate() {
                mutate(&mut one, &mut ids1, ops1, &format!("1.{r}"), &mut next);
                mutate(&mut two, &mut ids2, ops2, &format!("2.{r}"), &mut next);
                let winner = [Winner::Newer, Winner::Larger, Winner::Path1, Winner::Path2][*w as usize];
                let held: Vec<String> = one.values().chain(two.values()).cloned().collect();
                // Contents made since the last run (creates and edits) stay on the sides, never only in
                // the trash: only what both had agreed on is deleted or replaced.
                let agreed: BTreeSet<&String> = last.iter().collect();
                let made: Vec<String> = held.iter().filter(|c| !agreed.contains(c)).cloned().collect();
                let p = plan(&state, &tree_of(&one, &ids1), &tree_of(&two, &ids2), winner, now());
                let mut trash = Vec::new();
                apply_model(&p, &mut one, &mut two, &mut trash);
                prop_assert_eq!(&one, &two, "plan {:?}", p);
                for c in &held {
                    prop_assert!(
                        one.values().any(|v| v == c) || trash.contains(c),
                        "{} lost by {:?}", c, p
                    );
                }
                for c in &made {
                    prop_assert!(one.values().any(|v| v == c), "new {} only in the trash: {:?}", c, p);
                }
                last = one.values().cloned().collect();
                // Ids follow what each side now holds (moves keep them, copies make new ones).
                ids1.retain(|p, _| one.contains_key(p));
                ids2.retain(|p, _| two.contains_key(p));
                for p in one.keys() {
                    for ids in [&mut ids1, &mut ids2] {
                        if !ids.contains_key(p) {
                            next += 1;
                            ids.insert(p.clone(), format!("c{next}"));
                        }
                    }
                }
                let (t1, t2) = (tree_of(&one, &ids1), tree_of(&two, &ids2));
                state = State::agreed(&t1, &t2);
                let again = plan(&state, &t1, &t2, winner, now());
                prop_assert!(again.actions.is_empty(), "second run: {:?}", again);
            }
        }
    }
}
