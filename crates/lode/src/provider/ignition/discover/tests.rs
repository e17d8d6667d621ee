//! Discovery against the real Ignition 8.3 gateway files (`../shared/fixtures/`, copied to a
//! temporary folder) and the manifests that describe them exactly
//! (`tests/fixtures/ignition-83-manifests`): what discovery finds is what those manifests
//! declare, spec for spec, and what `refresh` reads back with the discovered specs as the
//! wanted side. The `api` transport runs against the gateway emulator serving such a copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::super::api::IgnitionApi;
use super::super::client::GatewayClient;
use super::super::files::IgnitionFiles;
use crate::engine::canonical::canonical_spec;
use crate::manifest::{Address, Kind, ManifestFiles, load_desired};
use crate::provider::{Discovered, DiscoveryScope, Provider, RefreshRequest, Selector};
use lode_wire::ignition::tag_files::TagFolder;

const PROJECT: &str = "example-project";
const PROVIDER: &str = "example-tags";
const TOKEN: &str = "lode:discovery-test";

fn fixture_gateway() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ignition-83-gateway");
    assert!(
        dir.join("projects/example-project/project.json").is_file(),
        "the Ignition 8.3 gateway fixture is missing at {}",
        dir.display()
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary copy of the fixture gateway's data directory.
fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_gateway(), dir.path());
    dir
}

/// The canonical specs the fixture manifests declare, by address.
fn fixture_desired() -> BTreeMap<Address, Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ignition-83-manifests");
    let files = ManifestFiles::from_work_tree(&root).unwrap();
    let loaded = load_desired(&files, "local", &|_| None).unwrap();
    loaded
        .desired
        .resources
        .into_iter()
        .map(|(address, resource)| {
            let spec = canonical_spec(address.kind, &resource.spec);
            (address, spec)
        })
        .collect()
}

fn address(found: &Discovered) -> Address {
    Address::new(found.kind, found.name_hint.clone())
}

/// The importable objects, by the address their name hint gives, with canonical specs.
fn importable(found: &[Discovered]) -> BTreeMap<Address, Value> {
    found
        .iter()
        .filter(|d| d.unsupported.is_none())
        .map(|d| (address(d), canonical_spec(d.kind, &d.live.spec)))
        .collect()
}

fn unsupported(found: &[Discovered]) -> BTreeMap<Address, String> {
    found
        .iter()
        .filter_map(|d| Some((address(d), d.unsupported.clone()?)))
        .collect()
}

/// `refresh`, asked about every importable object with its discovered spec as the wanted side,
/// reads each back exactly as discovered: a manifest written from it plans as a no-op.
fn assert_refresh_reads_what_was_discovered(provider: &dyn Provider, found: &[Discovered]) {
    let requests: Vec<RefreshRequest> = found
        .iter()
        .filter(|d| d.unsupported.is_none())
        .map(|d| RefreshRequest {
            address: address(d),
            spec: d.live.spec.clone(),
            id: d.live.id.clone(),
            last_read: None,
        })
        .collect();
    let live = provider.refresh(&requests).unwrap();
    assert_eq!(live.len(), requests.len());
    for request in &requests {
        assert_eq!(
            canonical_spec(request.address.kind, &live[&request.address].spec),
            canonical_spec(request.address.kind, &request.spec),
            "{}",
            request.address
        );
    }
}

fn count(found: &BTreeMap<Address, Value>, kind: Kind) -> usize {
    found.keys().filter(|a| a.kind == kind).count()
}

#[test]
fn issue_17_files_discovery_of_the_real_8_3_gateway_is_what_its_manifests_declare() {
    let gateway = fixture_copy();
    let files = IgnitionFiles::new(gateway.path().to_path_buf(), "core".into(), None);
    let found = files.discover(&DiscoveryScope::default()).unwrap();
    assert_eq!(unsupported(&found), BTreeMap::new());
    assert!(found.iter().all(|d| d.lossy.is_empty()), "{found:#?}");
    let discovered = importable(&found);
    let desired = fixture_desired();
    assert_eq!(
        discovered.keys().collect::<Vec<_>>(),
        desired.keys().collect::<Vec<_>>()
    );
    for (address, spec) in &desired {
        assert_eq!(&discovered[address], spec, "{address}");
    }
    // One project with ten views, its page config and session props; seven UDTs; two folders
    // holding twelve atomic tags and twenty-one UDT instances.
    assert_eq!(count(&discovered, Kind::Project), 1);
    assert_eq!(count(&discovered, Kind::PerspectiveView), 10);
    assert_eq!(count(&discovered, Kind::PageConfig), 1);
    assert_eq!(count(&discovered, Kind::SessionProps), 1);
    assert_eq!(count(&discovered, Kind::Udt), 7);
    assert_eq!(count(&discovered, Kind::Tag), 2 + 12 + 21);
    assert_eq!(
        discovered[&Address::new(Kind::Tag, "Overview")],
        json!({"provider": PROVIDER, "tagType": "Folder"})
    );
    assert_refresh_reads_what_was_discovered(&files, &found);
}

/// Resources the fixture lacks, written by the provider's own code (as an apply would) or by
/// hand where lode cannot write them.
fn add_scripts_and_oddities(files: &IgnitionFiles, data_dir: &Path) -> Vec<(Address, Value)> {
    let written = vec![
        (
            Address::new(Kind::GatewayScript, "physics_simulation"),
            json!({
                "project": PROJECT, "type": "timer", "resource_name": "Physics Simulation",
                "enabled": true, "delay_ms": 250, "delay_type": "fixed_rate",
                "threading": "dedicated",
                "script": "import math\nif math.pi > 3:\n\tprint 'tick'\n",
            }),
        ),
        (
            Address::new(Kind::GatewayScript, "case_count_echo"),
            json!({
                "project": PROJECT, "type": "tag_change", "resource_name": "case_count_echo",
                "enabled": false, "tag_paths": ["[example-tags]Overview/CaseCount"],
                "change_types": ["ValueChange", "QualityChange"],
                "script": "print newValue.value\n",
            }),
        ),
        (
            Address::new(Kind::GatewayScript, "startup"),
            json!({"project": PROJECT, "type": "startup", "enabled": true, "script": "\n"}),
        ),
        (
            Address::new(Kind::SessionEvent, "page_startup"),
            json!({"project": PROJECT, "event": "page_startup", "script": "page.props.title = 'x'\n"}),
        ),
        (
            Address::new(Kind::SessionEvent, "shutdown"),
            json!({"project": PROJECT, "event": "shutdown", "enabled": false, "script": "print session.id\n"}),
        ),
    ];
    for (address, spec) in &written {
        files.write(address, spec).unwrap();
    }
    let project = data_dir.join("projects").join(PROJECT);
    // A project library script: a resource type lode has no kind for.
    let library = project.join("ignition/script-python/shared/util");
    std::fs::create_dir_all(&library).unwrap();
    std::fs::write(library.join("code.py"), "def f():\n\treturn 1\n").unwrap();
    std::fs::write(
        library.join("resource.json"),
        r#"{"scope": "A", "version": 1, "files": ["code.py"], "attributes": {}}"#,
    )
    .unwrap();
    // A view folder whose payload is missing.
    let broken = project.join("com.inductiveautomation.perspective/views/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("resource.json"),
        r#"{"scope": "G", "version": 1, "files": ["view.json"], "attributes": {}}"#,
    )
    .unwrap();
    // A tag setting `TagConfig` does not model, and a UDT inside a UDT folder.
    TagFolder::tag_definitions(data_dir, "core", PROVIDER)
        .write_entry(
            "Overview/Retained",
            &json!({"tagType": "AtomicTag", "valueSource": "memory", "dataType": "Int4",
                    "historyMaxAge": {"value": 1, "unit": "DAY"}}),
        )
        .unwrap();
    let types = TagFolder::type_definitions(data_dir, "core", PROVIDER);
    types
        .write_entry("Lines", &json!({"tagType": "Folder"}))
        .unwrap();
    types
        .write_entry(
            "Lines/Conveyor",
            &json!({"tagType": "UdtType", "typeId": "", "tags": [
                {"name": "Speed", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8"}
            ]}),
        )
        .unwrap();
    written
}

#[test]
fn issue_17_files_discovery_reads_scripts_and_events_and_reports_what_it_cannot_import() {
    let gateway = fixture_copy();
    let files = IgnitionFiles::new(gateway.path().to_path_buf(), "core".into(), None);
    let written = add_scripts_and_oddities(&files, gateway.path());
    let found = files.discover(&DiscoveryScope::default()).unwrap();
    let discovered = importable(&found);
    // Scripts and events come back as written (the manifests' defaults filled in, `enabled`
    // of an enabled event dropped), under the names their folders give.
    let by_hint: BTreeMap<(Kind, &str), &Discovered> = found
        .iter()
        .map(|d| ((d.kind, d.name_hint.as_str()), d))
        .collect();
    for ((address, spec), hint) in written.iter().zip([
        "Physics Simulation",
        "case_count_echo",
        "startup",
        "page_startup",
        "shutdown",
    ]) {
        let found = by_hint[&(address.kind, hint)];
        assert_eq!(found.unsupported, None, "{address}");
        assert_eq!(
            canonical_spec(address.kind, &found.live.spec),
            canonical_spec(address.kind, spec),
            "{address}"
        );
    }
    assert_eq!(
        by_hint[&(Kind::SessionEvent, "page_startup")].live.spec,
        json!({"project": PROJECT, "script": "page.props.title = 'x'\n", "event": "page_startup"})
    );
    assert_eq!(
        discovered[&Address::new(Kind::Udt, "Lines/Conveyor")],
        json!({"provider": PROVIDER, "tags": [
            {"name": "Speed", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8"}
        ]})
    );
    assert!(!discovered.contains_key(&Address::new(Kind::Udt, "Lines")));
    let refused = unsupported(&found);
    assert_eq!(
        refused.keys().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "project/example-project/ignition/script-python/shared/util",
            "tag/Overview/Retained",
            "perspective_view/broken",
        ]
    );
    assert!(
        refused[&Address::new(
            Kind::Project,
            "example-project/ignition/script-python/shared/util"
        )]
            .contains("lode does not manage `ignition/script-python` resources"),
        "{refused:#?}"
    );
    assert!(refused[&Address::new(Kind::Tag, "Overview/Retained")].contains("`historyMaxAge`"));
    assert_eq!(
        refused[&Address::new(Kind::PerspectiveView, "broken")],
        "its folder has no view.json"
    );
    assert_refresh_reads_what_was_discovered(&files, &found);
}

#[test]
fn issue_17_discovery_reads_only_what_the_selectors_can_pick() {
    let gateway = fixture_copy();
    let files = IgnitionFiles::new(gateway.path().to_path_buf(), "core".into(), None);
    let scope = |selectors: &[&str]| DiscoveryScope {
        selectors: selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect(),
        ..DiscoveryScope::default()
    };
    let kinds = |found: &[Discovered]| {
        let mut kinds: Vec<Kind> = found.iter().map(|d| d.kind).collect();
        kinds.dedup();
        kinds
    };

    // A project: the project and its resources, no tag files read.
    let project = scope(&["project:example-project"]);
    let found = files.discover(&project).unwrap();
    let mut seen = kinds(&found);
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            Kind::Project,
            Kind::PerspectiveView,
            Kind::PageConfig,
            Kind::SessionProps
        ]
    );
    assert!(project.picks(&found).into_iter().all(|picked| picked));
    assert!(
        files
            .discover(&scope(&["project:other"]))
            .unwrap()
            .is_empty()
    );

    // A tag folder: the provider's tags and types are read, the folder's tags are picked.
    let folder = scope(&["[example-tags]Refrigeration"]);
    let found = files.discover(&folder).unwrap();
    assert!(
        found
            .iter()
            .all(|d| matches!(d.kind, Kind::Tag | Kind::Udt))
    );
    let picked: Vec<&str> = found
        .iter()
        .zip(folder.picks(&found))
        .filter(|(_, picked)| *picked)
        .map(|(d, _)| d.name_hint.as_str())
        .collect();
    assert_eq!(picked.len(), 13);
    assert!(
        picked.iter().all(|name| name.starts_with("Refrigeration")),
        "{picked:?}"
    );
    // Another provider's folder reads nothing.
    assert!(files.discover(&scope(&["[default]"])).unwrap().is_empty());

    // UDTs alone: no tags, no project.
    let found = files.discover(&scope(&["udt"])).unwrap();
    assert_eq!(kinds(&found), [Kind::Udt]);
    assert_eq!(found.len(), 7);
    // Databricks selectors read nothing of the gateway.
    assert!(
        files
            .discover(&scope(&["schema:main.mining_demo"]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn issue_17_api_discovery_finds_what_files_discovery_finds_and_the_zerobus_connector() {
    let gateway_dir = fixture_copy();
    let running = lode_emulators::ignition::start(lode_emulators::ignition::GatewayConfig {
        data_dir: gateway_dir.path().to_path_buf(),
        token: TOKEN.into(),
        read_only_token: None,
        port: 0,
        ..Default::default()
    })
    .unwrap();
    let client = Arc::new(GatewayClient::new(&running.url, TOKEN).unwrap());
    let config = json!({
        "enabled": false,
        "workspaceUrl": "https://example.cloud.databricks.com",
        "zerobusEndpoint": "1000.zerobus.us-west-2.cloud.databricks.com",
        "oauthClientId": "plant-sp",
        "oauthClientSecret": "s3cret",
        "targetTable": "main.plant.bronze",
        "tagSelectionMode": "folder",
        "tagFolderPath": "[example-tags]Overview",
        "batchSize": 500,
        "batchFlushIntervalMs": 1000,
        "maxQueueSize": 20000,
    });
    client
        .post_json("/system/zerobus/config", &config, true)
        .unwrap();
    let api = IgnitionApi::new(client.clone());
    let found = api.discover(&DiscoveryScope::default()).unwrap();
    let files = IgnitionFiles::new(
        gateway_dir.path().to_path_buf(),
        "core".into(),
        Some(client),
    );
    let on_disk = files.discover(&DiscoveryScope::default()).unwrap();
    assert_eq!(unsupported(&found), BTreeMap::new());
    assert_eq!(importable(&found), importable(&on_disk));
    let zerobus = found
        .iter()
        .find(|d| d.kind == Kind::ZerobusConnection)
        .expect("the connector is discovered");
    assert_eq!(zerobus.name_hint, "telemetry");
    assert_eq!(
        zerobus.live.spec,
        json!({
            "enabled": false,
            "workspaceUrl": "https://example.cloud.databricks.com",
            "zerobusEndpoint": "1000.zerobus.us-west-2.cloud.databricks.com",
            "oauthClientId": "plant-sp",
            "oauthClientSecret": "****",
            "targetTable": "main.plant.bronze",
            "tagSelectionMode": "folder",
            "tagFolderPath": "[example-tags]Overview",
            "batchFlushIntervalMs": 1000,
        })
    );
    assert_eq!(zerobus.lossy, ["`maxQueueSize`: 20000"]);
    // Everything but the connector is what the fixture's manifests declare.
    let mut without_connector = importable(&found);
    without_connector.retain(|address, _| address.kind != Kind::ZerobusConnection);
    assert_eq!(without_connector, fixture_desired());
    assert_refresh_reads_what_was_discovered(&api, &found);
}

#[test]
fn issue_17_a_gateway_without_a_connector_target_has_no_connector_to_import() {
    let gateway_dir = tempfile::tempdir().unwrap();
    let running = lode_emulators::ignition::start(lode_emulators::ignition::GatewayConfig {
        data_dir: gateway_dir.path().join("ignition"),
        token: TOKEN.into(),
        read_only_token: None,
        port: 0,
        ..Default::default()
    })
    .unwrap();
    let api = IgnitionApi::new(Arc::new(GatewayClient::new(&running.url, TOKEN).unwrap()));
    let scope = DiscoveryScope {
        selectors: vec![Selector::Kind(Kind::ZerobusConnection)],
        ..DiscoveryScope::default()
    };
    assert!(api.discover(&scope).unwrap().is_empty());
}
