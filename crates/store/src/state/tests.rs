//! One suite, two implementations: every test runs on SQLite in a temp dir and in memory.

use serde_json::json;

use super::memory::MemoryStore;
use super::sqlite::{MIGRATIONS, SqliteStore};
use super::*;

fn both(f: impl Fn(&dyn StateStore)) {
    f(&MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("state.db")).unwrap();
    f(&s);
}

fn stack_write(name: &str, expected: Option<u64>, status: &str) -> StackWrite {
    StackWrite {
        target: "111111111111/us-east-1".into(),
        name: name.into(),
        expected,
        record: json!({"name": name, "status": status}),
        resources: vec![
            ("B".into(), json!({"physical_id": "b"})),
            ("A".into(), json!({"physical_id": "a"})),
        ],
        change_sets: vec![],
        reset_events: false,
        append_events: vec![json!({"status": status})],
    }
}

const T: &str = "111111111111/us-east-1";

#[test]
fn stacks_round_trip_with_generations_and_events() {
    both(|s| {
        assert!(s.get_stack(T, "app").unwrap().is_none());
        let g = s
            .commit(Batch::new().stack(stack_write("app", None, "CREATE_IN_PROGRESS")))
            .unwrap();
        assert_eq!(g, vec![1]);
        let g = s
            .commit(Batch::new().stack(stack_write("app", Some(1), "CREATE_COMPLETE")))
            .unwrap();
        assert_eq!(g, vec![2]);
        let doc = s.get_stack(T, "app").unwrap().unwrap();
        assert_eq!(doc.generation, 2);
        assert_eq!(doc.record["status"], "CREATE_COMPLETE");
        // Resources keep deployment order, not key order.
        let ids: Vec<&str> = doc.resources.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(ids, ["B", "A"]);
        assert_eq!(
            doc.events,
            vec![
                json!({"status": "CREATE_IN_PROGRESS"}),
                json!({"status": "CREATE_COMPLETE"})
            ]
        );
        // The route tables' read: record and resources, no history.
        let head = s.get_stack_resources(T, "app").unwrap().unwrap();
        assert_eq!(
            (head.generation, &head.record, &head.resources),
            (doc.generation, &doc.record, &doc.resources)
        );
        assert!(head.events.is_empty() && head.change_sets.is_empty());
        assert!(s.get_stack_resources(T, "nope").unwrap().is_none());
        assert_eq!(s.list_stacks(T).unwrap(), vec!["app".to_owned()]);
        assert!(s.list_stacks("222222222222/eu-west-1").unwrap().is_empty());
        // Reusing a deleted stack's name starts a new event history.
        let mut w = stack_write("app", Some(2), "CREATE_IN_PROGRESS");
        w.reset_events = true;
        s.commit(Batch::new().stack(w)).unwrap();
        assert_eq!(s.get_stack(T, "app").unwrap().unwrap().events.len(), 1);
    });
}

#[test]
fn compare_and_swap_rejects_stale_writers() {
    both(|s| {
        s.commit(Batch::new().stack(stack_write("app", None, "CREATE_IN_PROGRESS")))
            .unwrap();
        // Creating again, or writing with a stale generation, is a conflict.
        let e = s
            .commit(Batch::new().stack(stack_write("app", None, "X")))
            .unwrap_err();
        assert!(
            matches!(
                e,
                StateError::Conflict {
                    expected: None,
                    found: Some(1),
                    ..
                }
            ),
            "{e}"
        );
        let e = s
            .commit(Batch::new().stack(stack_write("app", Some(7), "X")))
            .unwrap_err();
        assert!(matches!(e, StateError::Conflict { .. }), "{e}");
        s.commit(Batch::new().put(Collection::Functions, T, "f", None, json!({"v": 1})))
            .unwrap();
        let e = s
            .commit(Batch::new().put(Collection::Functions, T, "f", None, json!({"v": 2})))
            .unwrap_err();
        assert!(matches!(e, StateError::Conflict { .. }), "{e}");
        let e = s
            .commit(Batch::new().delete(Collection::Functions, T, "f", 9))
            .unwrap_err();
        assert!(matches!(e, StateError::Conflict { .. }), "{e}");
        assert_eq!(
            s.get_doc(Collection::Functions, T, "f")
                .unwrap()
                .unwrap()
                .value,
            json!({"v": 1})
        );
    });
}

#[test]
fn a_batch_is_all_or_nothing() {
    both(|s| {
        s.commit(Batch::new().put(Collection::Journal, T, "op-1", None, json!({"step": 0})))
            .unwrap();
        // The second write conflicts: the first must not land either.
        let e = s
            .commit(
                Batch::new()
                    .stack(stack_write("app", None, "CREATE_IN_PROGRESS"))
                    .put(Collection::Journal, T, "op-1", Some(5), json!({"step": 1})),
            )
            .unwrap_err();
        assert!(matches!(e, StateError::Conflict { .. }), "{e}");
        assert!(s.get_stack(T, "app").unwrap().is_none());
        let j = s.get_doc(Collection::Journal, T, "op-1").unwrap().unwrap();
        assert_eq!((j.generation, j.value), (1, json!({"step": 0})));
        // Both together.
        let g = s
            .commit(
                Batch::new()
                    .stack(stack_write("app", None, "CREATE_IN_PROGRESS"))
                    .put(Collection::Journal, T, "op-1", Some(1), json!({"step": 1})),
            )
            .unwrap();
        assert_eq!(g, vec![1, 2]);
    });
}

#[test]
fn documents_by_collection_and_target() {
    both(|s| {
        let other = "222222222222/eu-west-1";
        s.commit(
            Batch::new()
                .target(TargetRow {
                    name: T.into(),
                    account: "111111111111".into(),
                    region: "us-east-1".into(),
                })
                .put(Collection::Deployments, T, "d-2", None, json!(2))
                .put(Collection::Deployments, T, "d-1", None, json!(1))
                .put(Collection::Deployments, other, "d-3", None, json!(3))
                .put(
                    Collection::Resources,
                    T,
                    "AWS::SNS::Topic|t",
                    None,
                    json!({}),
                ),
        )
        .unwrap();
        let keys: Vec<String> = s
            .list_docs(Collection::Deployments, T)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["d-1", "d-2"]);
        assert_eq!(s.list_all_docs(Collection::Deployments).unwrap().len(), 3);
        assert_eq!(s.targets().unwrap().len(), 1);
        s.commit(Batch::new().delete(Collection::Deployments, T, "d-1", 1))
            .unwrap();
        assert!(
            s.get_doc(Collection::Deployments, T, "d-1")
                .unwrap()
                .is_none()
        );
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
    });
}

#[test]
fn sqlite_is_durable_in_wal_mode_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.journal_mode().unwrap(), "wal");
        s.commit(Batch::new().stack(stack_write("app", None, "CREATE_IN_PROGRESS")))
            .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
    assert_eq!(s.get_stack(T, "app").unwrap().unwrap().generation, 1);
    drop(s);
    // A database from a newer binary is refused, not silently misread.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (99, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStore::open(&path).err().unwrap();
    assert!(matches!(e, StateError::TooNew { found: 99, .. }), "{e}");
}

#[test]
fn corrupt_documents_are_reported_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = SqliteStore::open(&path).unwrap();
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO documents (collection, target, key, generation, doc)
         VALUES ('functions', 't', 'f', 1, '{not json')",
        [],
    )
    .unwrap();
    drop(conn);
    let s = SqliteStore::open(&path).unwrap();
    let e = s.get_doc(Collection::Functions, "t", "f").unwrap_err();
    assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("'f'"), "{e}");
}

#[test]
fn live_documents_are_listed_apart_and_documents_found_by_key() {
    both(|s| {
        let other = "222222222222/eu-west-1";
        s.commit(
            Batch::new()
                .put_live(Collection::Deployments, T, "d-1", None, json!(1), true)
                .put_live(Collection::Deployments, T, "d-2", None, json!(2), false)
                .put_live(Collection::Deployments, other, "d-3", None, json!(3), true)
                .put_live(Collection::Journal, T, "op-1", None, json!(4), true),
        )
        .unwrap();
        let live = |s: &dyn StateStore| -> Vec<(String, String)> {
            s.list_live_docs(Collection::Deployments)
                .unwrap()
                .into_iter()
                .map(|(t, k, _)| (t, k))
                .collect()
        };
        assert_eq!(
            live(s),
            [
                (T.to_owned(), "d-1".to_owned()),
                (other.into(), "d-3".into())
            ]
        );
        // A put says again whether the document is live; a delete drops it.
        s.commit(
            Batch::new()
                .put(Collection::Deployments, T, "d-1", Some(1), json!(10))
                .delete(Collection::Deployments, other, "d-3", 1),
        )
        .unwrap();
        assert!(live(s).is_empty());
        s.commit(Batch::new().put_live(
            Collection::Deployments,
            T,
            "d-2",
            Some(1),
            json!(20),
            true,
        ))
        .unwrap();
        assert_eq!(live(s), [(T.to_owned(), "d-2".to_owned())]);
        assert_eq!(s.list_live_docs(Collection::Journal).unwrap().len(), 1);
        // A failed batch changes no flag either.
        assert!(
            s.commit(
                Batch::new()
                    .put(Collection::Deployments, T, "d-2", Some(2), json!(21))
                    .put(Collection::Deployments, T, "d-9", Some(7), json!(0)),
            )
            .is_err()
        );
        assert_eq!(live(s), [(T.to_owned(), "d-2".to_owned())]);

        let (t, v) = s.find_doc(Collection::Deployments, "d-1").unwrap().unwrap();
        assert_eq!(
            (t.as_str(), v.value.clone(), v.generation),
            (T, json!(10), 2)
        );
        assert!(
            s.find_doc(Collection::Deployments, "d-3")
                .unwrap()
                .is_none()
        );
        assert!(s.find_doc(Collection::Journal, "d-1").unwrap().is_none());
    });
}

#[test]
fn migrating_from_version_1_marks_the_documents_still_in_progress_live() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        // A database as the first schema left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
             applied_ms INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'initial', 0);",
        )
        .unwrap();
        conn.execute_batch(MIGRATIONS[0].2).unwrap();
        let docs = [
            (
                "journal",
                "op-done",
                json!({"phase": "Done", "waiting": null}),
            ),
            ("journal", "op-pending", json!({"phase": "Pending"})),
            (
                "journal",
                "op-main",
                json!({"phase": {"Main": {"next": 2}}, "waiting": "d-2"}),
            ),
            ("deployments", "d-1", json!({"status": "Succeeded"})),
            ("deployments", "d-2", json!({"status": "InProgress"})),
            ("deployments", "d-3", json!({"status": "Stopped"})),
            ("deployments", "d-4", json!({"status": "Created"})),
            ("functions", "f", json!({"status": "InProgress"})),
        ];
        for (c, k, d) in docs {
            conn.execute(
                "INSERT INTO documents (collection, target, key, generation, doc)
                 VALUES (?1, ?2, ?3, 1, ?4)",
                rusqlite::params![c, T, k, d.to_string()],
            )
            .unwrap();
        }
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
    let keys = |c| -> Vec<String> {
        s.list_live_docs(c)
            .unwrap()
            .into_iter()
            .map(|(_, k, _)| k)
            .collect()
    };
    assert_eq!(keys(Collection::Journal), ["op-main", "op-pending"]);
    assert_eq!(keys(Collection::Deployments), ["d-2", "d-4"]);
    assert!(keys(Collection::Functions).is_empty());
}

#[test]
fn document_generations_are_listed_without_the_documents() {
    both(|s| {
        s.commit(
            Batch::new()
                .put(
                    Collection::Pipelines,
                    T,
                    "b",
                    None,
                    json!({"big": [1, 2, 3]}),
                )
                .put(Collection::Pipelines, T, "a", None, json!(1))
                .put(
                    Collection::Pipelines,
                    "222222222222/eu-west-1",
                    "c",
                    None,
                    json!(2),
                )
                .put(Collection::Functions, T, "f", None, json!(3)),
        )
        .unwrap();
        s.commit(Batch::new().put(Collection::Pipelines, T, "b", Some(1), json!(4)))
            .unwrap();
        assert_eq!(
            s.doc_generations(Collection::Pipelines, T).unwrap(),
            [("a".to_owned(), 1), ("b".to_owned(), 2)]
        );
        assert!(
            s.doc_generations(Collection::Journal, T)
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn a_stack_commit_replaces_its_resources_changed_moved_added_and_removed() {
    both(|s| {
        s.commit(Batch::new().stack(stack_write("app", None, "CREATE_IN_PROGRESS")))
            .unwrap();
        // B unchanged but moved, A changed, C added; then A removed and B unchanged in place.
        let mut w = stack_write("app", Some(1), "UPDATE_IN_PROGRESS");
        w.resources = vec![
            ("C".into(), json!({"physical_id": "c"})),
            ("B".into(), json!({"physical_id": "b"})),
            ("A".into(), json!({"physical_id": "a2"})),
        ];
        s.commit(Batch::new().stack(w)).unwrap();
        let got = s.get_stack(T, "app").unwrap().unwrap().resources;
        assert_eq!(
            got,
            vec![
                ("C".to_owned(), json!({"physical_id": "c"})),
                ("B".to_owned(), json!({"physical_id": "b"})),
                ("A".to_owned(), json!({"physical_id": "a2"})),
            ]
        );
        let mut w = stack_write("app", Some(2), "UPDATE_COMPLETE");
        w.resources = vec![
            ("C".into(), json!({"physical_id": "c"})),
            ("B".into(), json!({"physical_id": "b"})),
        ];
        s.commit(Batch::new().stack(w)).unwrap();
        let ids: Vec<String> = s
            .get_stack_resources(T, "app")
            .unwrap()
            .unwrap()
            .resources
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(ids, ["C", "B"]);
    });
}
