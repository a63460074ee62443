//! The crate's picture is its architecture, and stays so: the house (`src/house/`) knows nothing of
//! the doors or of HTTP; each door (`src/doors/<door>/`) reaches the house and what the doors share
//! (`src/doors/common/`), never another door; and no two modules import each other, directly or round
//! a circle. Read from the source files (comments left out), so a change that breaks the picture fails
//! here.

#[path = "common/graph.rs"]
mod graph;

use graph::{circles, edges};

fn modules() -> std::collections::BTreeMap<String, String> {
    graph::modules(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn the_house_knows_no_door_and_no_http() {
    for (m, code) in modules() {
        if !m.starts_with("house") {
            continue;
        }
        for banned in ["crate::doors", "crate::AppState", "axum"] {
            assert!(!code.contains(banned), "{m} names {banned}");
        }
    }
}

#[test]
fn no_door_reaches_another() {
    let doors = ["alist", "api", "dav", "share", "web"];
    let mods = modules();
    for (m, to) in edges(&mods) {
        let Some(own) = m.strip_prefix("doors::") else {
            continue;
        };
        let own = own.split("::").next().unwrap();
        for t in to {
            if let Some(other) = t.strip_prefix("doors::") {
                let other = other.split("::").next().unwrap();
                assert!(
                    other == own || (other == "common" && own != "common"),
                    "{m} reaches {t}: a door calls the house and doors::common only"
                );
            }
        }
    }
    assert!(
        mods.contains_key("doors::common::authed"),
        "modules are read"
    );
    for d in doors {
        assert!(mods.contains_key(&format!("doors::{d}")), "{d} is a door");
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let g = edges(&modules());
    assert!(g.len() > 30, "{} modules read", g.len());
    let c = circles(&g);
    assert!(c.is_empty(), "import circles: {c:?}");
}
