//! The wire facts against files a real Ignition 8.3 gateway wrote (`../shared/fixtures/`): the
//! tag and UDT layout reads them whole, and what lode writes reads back the same.

use std::path::{Path, PathBuf};

use lode_wire::ignition::data_dir::{read_json, to_json_bytes};
use lode_wire::ignition::tag_files::TagFolder;

fn gateway_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ignition-83-gateway")
}

#[test]
fn the_real_gateways_tags_and_types_are_read_in_both_forms() {
    let data_dir = gateway_fixture();
    let tags = TagFolder::tag_definitions(&data_dir, "core", "example-tags")
        .read_all()
        .expect("the fixture's tags read");
    // Folders are directories with unary-resource.json; their tags come from tags.json and
    // their UDT instances from udts.json.
    assert_eq!(tags["Overview"]["tagType"], "Folder");
    assert_eq!(tags["Refrigeration"]["tagType"], "Folder");
    assert!(
        tags.keys().any(|path| path.starts_with("Overview/")),
        "tags inside Overview/: {:?}",
        tags.keys().collect::<Vec<_>>()
    );
    assert!(tags.values().all(|config| config.get("name").is_none()));
    let types = TagFolder::type_definitions(&data_dir, "core", "example-tags")
        .read_all()
        .expect("the fixture's UDT definitions read");
    assert!(!types.is_empty());
    assert!(types.values().any(|t| t["tagType"] == "UdtType"));
}

#[test]
fn what_lode_writes_reads_back_as_it_was_written() {
    let source = TagFolder::tag_definitions(&gateway_fixture(), "core", "example-tags")
        .read_all()
        .unwrap();
    let copy = tempfile::tempdir().unwrap();
    let written = TagFolder::tag_definitions(copy.path(), "core", "example-tags");
    let entries: Vec<(String, serde_json::Value)> =
        source.iter().map(|(p, c)| (p.clone(), c.clone())).collect();
    written.write_entries(&entries).unwrap();
    assert_eq!(written.read_all().unwrap(), source);
    // Every folder level got its unary-resource.json, listing the files present.
    let unary = read_json(&written.base.join("Overview/unary-resource.json"))
        .unwrap()
        .expect("unary-resource.json");
    assert_eq!(unary["scope"], "G");
    assert!(
        unary["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "tags.json")
    );
}

#[test]
fn json_is_written_with_two_space_indentation_and_a_final_newline() {
    let bytes = to_json_bytes(&serde_json::json!({"a": [1]}));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "{\n  \"a\": [\n    1\n  ]\n}\n"
    );
}
