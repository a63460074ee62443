//! The emulator's modules import one another without a circle: the services import the plumbing they
//! share (`service.rs`, `google/api.rs`, `common.rs`), never OAuth's module or the list of themselves.

#[path = "../../server/tests/common/graph.rs"]
mod graph;

#[test]
fn no_two_modules_import_each_other() {
    let g = graph::edges(&graph::modules(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    ));
    assert!(g.len() > 20, "{} modules read", g.len());
    let c = graph::circles(&g);
    assert!(c.is_empty(), "import circles: {c:?}");
}
