//! The state store in SQLite: one file, WAL mode, `synchronous=FULL`, numbered migrations.
//!
//! One connection behind a mutex: the control plane's writes are small and serialised anyway,
//! and a single writer is what SQLite wants. Each [`StateStore::commit`] is one `IMMEDIATE`
//! transaction, so the compare-and-swap checks and the writes see the same snapshot.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;

use super::{
    Batch, Collection, Generations, StackDoc, StateError, StateStore, TargetRow, Versioned, Write,
};

/// `(version, name, SQL)`, applied in order. Never edit an applied migration: add one.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "initial",
        "CREATE TABLE targets (
        name TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL
    );
    CREATE TABLE stacks (
        target TEXT NOT NULL,
        name TEXT NOT NULL,
        generation INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (target, name)
    );
    CREATE TABLE stack_resources (
        target TEXT NOT NULL,
        stack TEXT NOT NULL,
        seq INTEGER NOT NULL,
        logical_id TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (target, stack, logical_id)
    );
    CREATE TABLE change_sets (
        target TEXT NOT NULL,
        stack TEXT NOT NULL,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (target, stack, name)
    );
    CREATE TABLE stack_events (
        target TEXT NOT NULL,
        stack TEXT NOT NULL,
        seq INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (target, stack, seq)
    );
    CREATE TABLE documents (
        collection TEXT NOT NULL,
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        generation INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (collection, target, key)
    );",
    ),
    // What a tick and a restart scan: the documents still in progress, through a partial index,
    // instead of every deployment and journal entry ever written; and a document by key across
    // targets (a deployment by ID). Documents already stored are marked as the engine marks
    // them: a journal entry whose phase is not `Done`, a deployment whose status is not one of
    // the terminal three.
    (
        2,
        "live documents",
        "ALTER TABLE documents ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
        UPDATE documents SET live = 1
         WHERE (collection = 'journal' AND json_extract(doc, '$.phase') IS NOT 'Done')
            OR (collection = 'deployments'
                AND json_extract(doc, '$.status') NOT IN ('Succeeded', 'Failed', 'Stopped'));
        CREATE INDEX documents_live ON documents (collection, target, key) WHERE live = 1;
        CREATE INDEX documents_by_key ON documents (collection, key);",
    ),
];

pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    move |source| StateError::Sqlite { context, source }
}

fn parse(what: &'static str, key: &str, text: &str) -> Result<Value, StateError> {
    serde_json::from_str(text).map_err(|source| StateError::Corrupt {
        what,
        key: key.to_owned(),
        source,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies missing migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StateError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StateError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal mode in effect (`wal`), for tests and diagnostics.
    pub fn journal_mode(&self) -> Result<String, StateError> {
        self.lock()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(sql("reading the journal mode"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A transaction that panicked is rolled back when dropped, so the connection is usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_ms INTEGER NOT NULL
        )",
    )
    .map_err(sql("creating the migrations table"))?;
    let current: u32 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(sql("reading the schema version"))?;
    let supported = MIGRATIONS.len() as u32;
    if current > supported {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found: current,
            supported,
        });
    }
    for (version, name, text) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a migration"))?;
        tx.execute_batch(text)
            .map_err(sql("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?1, ?2, ?3)",
            params![version, name, super::wall_ms() as i64],
        )
        .map_err(sql("recording a migration"))?;
        tx.commit().map_err(sql("committing a migration"))?;
    }
    Ok(())
}

fn conflict(
    what: &'static str,
    key: String,
    expected: Option<u64>,
    found: Option<u64>,
) -> Result<(), StateError> {
    if expected == found {
        Ok(())
    } else {
        Err(StateError::Conflict {
            what,
            key,
            expected,
            found,
        })
    }
}

fn apply(tx: &Transaction<'_>, w: Write) -> Result<u64, StateError> {
    match w {
        Write::Target(t) => {
            tx.execute(
                "INSERT INTO targets (name, account, region) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET account = excluded.account, region = excluded.region",
                params![t.name, t.account, t.region],
            )
            .map_err(sql("writing a target"))?;
            Ok(0)
        }
        Write::Stack(w) => {
            let found: Option<u64> = tx
                .query_row(
                    "SELECT generation FROM stacks WHERE target = ?1 AND name = ?2",
                    params![w.target, w.name],
                    |r| r.get::<_, i64>(0).map(|g| g as u64),
                )
                .optional()
                .map_err(sql("reading a stack's generation"))?;
            conflict(
                "stack",
                format!("{}/{}", w.target, w.name),
                w.expected,
                found,
            )?;
            let generation = found.map_or(1, |g| g + 1);
            tx.execute(
                "INSERT INTO stacks (target, name, generation, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(target, name) DO UPDATE SET generation = excluded.generation,
                 record = excluded.record",
                params![w.target, w.name, generation as i64, w.record.to_string()],
            )
            .map_err(sql("writing a stack"))?;
            // The rows replaced, written only where they differ: a stack's commit carries every
            // resource, and most commits change one or none of them.
            let mut old: std::collections::BTreeMap<String, (i64, String)> = tx
                .prepare(
                    "SELECT logical_id, seq, doc FROM stack_resources WHERE target = ?1 AND stack = ?2",
                )
                .and_then(|mut q| {
                    q.query_map(params![w.target, w.name], |r| {
                        Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?)))
                    })?
                    .collect()
                })
                .map_err(sql("reading a stack's resources"))?;
            let mut upsert = tx
                .prepare(
                    "INSERT INTO stack_resources (target, stack, seq, logical_id, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(target, stack, logical_id) DO UPDATE SET seq = excluded.seq,
                     doc = excluded.doc",
                )
                .map_err(sql("writing a stack resource"))?;
            for (i, (id, doc)) in w.resources.iter().enumerate() {
                let (seq, text) = (i as i64, doc.to_string());
                if old.remove(id).is_some_and(|(s, d)| s == seq && d == text) {
                    continue;
                }
                upsert
                    .execute(params![w.target, w.name, seq, id, text])
                    .map_err(sql("writing a stack resource"))?;
            }
            let mut delete = tx
                .prepare(
                    "DELETE FROM stack_resources WHERE target = ?1 AND stack = ?2 AND logical_id = ?3",
                )
                .map_err(sql("replacing a stack's resources"))?;
            for id in old.keys() {
                delete
                    .execute(params![w.target, w.name, id])
                    .map_err(sql("replacing a stack's resources"))?;
            }
            tx.execute(
                "DELETE FROM change_sets WHERE target = ?1 AND stack = ?2",
                params![w.target, w.name],
            )
            .map_err(sql("replacing a stack's change sets"))?;
            for (i, (name, doc)) in w.change_sets.iter().enumerate() {
                tx.execute(
                    "INSERT INTO change_sets (target, stack, seq, name, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![w.target, w.name, i as i64, name, doc.to_string()],
                )
                .map_err(sql("writing a change set"))?;
            }
            if w.reset_events {
                tx.execute(
                    "DELETE FROM stack_events WHERE target = ?1 AND stack = ?2",
                    params![w.target, w.name],
                )
                .map_err(sql("resetting a stack's events"))?;
            }
            let next: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(seq) + 1, 0) FROM stack_events WHERE target = ?1 AND stack = ?2",
                    params![w.target, w.name],
                    |r| r.get(0),
                )
                .map_err(sql("numbering stack events"))?;
            let mut append = tx
                .prepare(
                    "INSERT INTO stack_events (target, stack, seq, doc) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql("appending a stack event"))?;
            for (i, doc) in w.append_events.iter().enumerate() {
                append
                    .execute(params![w.target, w.name, next + i as i64, doc.to_string()])
                    .map_err(sql("appending a stack event"))?;
            }
            Ok(generation)
        }
        Write::Put {
            collection,
            target,
            key,
            expected,
            doc,
            live,
        } => {
            let found = doc_generation(tx, collection, &target, &key)?;
            conflict(collection.as_str(), key.clone(), expected, found)?;
            let generation = found.map_or(1, |g| g + 1);
            tx.execute(
                "INSERT INTO documents (collection, target, key, generation, doc, live)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(collection, target, key) DO UPDATE SET
                 generation = excluded.generation, doc = excluded.doc, live = excluded.live",
                params![
                    collection.as_str(),
                    target,
                    key,
                    generation as i64,
                    doc.to_string(),
                    i64::from(live)
                ],
            )
            .map_err(sql("writing a document"))?;
            Ok(generation)
        }
        Write::Delete {
            collection,
            target,
            key,
            expected,
        } => {
            let found = doc_generation(tx, collection, &target, &key)?;
            conflict(collection.as_str(), key.clone(), Some(expected), found)?;
            tx.execute(
                "DELETE FROM documents WHERE collection = ?1 AND target = ?2 AND key = ?3",
                params![collection.as_str(), target, key],
            )
            .map_err(sql("deleting a document"))?;
            Ok(0)
        }
    }
}

fn doc_generation(
    tx: &Transaction<'_>,
    collection: Collection,
    target: &str,
    key: &str,
) -> Result<Option<u64>, StateError> {
    tx.query_row(
        "SELECT generation FROM documents WHERE collection = ?1 AND target = ?2 AND key = ?3",
        params![collection.as_str(), target, key],
        |r| r.get::<_, i64>(0).map(|g| g as u64),
    )
    .optional()
    .map_err(sql("reading a document's generation"))
}

impl StateStore for SqliteStore {
    fn schema_version(&self) -> Result<u32, StateError> {
        self.lock()
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(sql("reading the schema version"))
    }

    fn commit(&self, batch: Batch) -> Result<Generations, StateError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a commit"))?;
        let mut out = Vec::with_capacity(batch.writes.len());
        for w in batch.writes {
            // On error the transaction is dropped, which rolls it back.
            out.push(apply(&tx, w)?);
        }
        tx.commit().map_err(sql("committing"))?;
        Ok(out)
    }

    fn targets(&self) -> Result<Vec<TargetRow>, StateError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT name, account, region FROM targets ORDER BY name")
            .map_err(sql("listing targets"))?;
        let rows = st
            .query_map([], |r| {
                Ok(TargetRow {
                    name: r.get(0)?,
                    account: r.get(1)?,
                    region: r.get(2)?,
                })
            })
            .map_err(sql("listing targets"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("listing targets"))
    }

    fn get_stack(&self, target: &str, name: &str) -> Result<Option<StackDoc>, StateError> {
        self.read_stack(target, name, true)
    }

    fn get_stack_resources(
        &self,
        target: &str,
        name: &str,
    ) -> Result<Option<StackDoc>, StateError> {
        self.read_stack(target, name, false)
    }

    fn list_stacks(&self, target: &str) -> Result<Vec<String>, StateError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT name FROM stacks WHERE target = ?1 ORDER BY name")
            .map_err(sql("listing stacks"))?;
        let rows = st
            .query_map(params![target], |r| r.get(0))
            .map_err(sql("listing stacks"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("listing stacks"))
    }

    fn get_doc(
        &self,
        collection: Collection,
        target: &str,
        key: &str,
    ) -> Result<Option<Versioned<Value>>, StateError> {
        let conn = self.lock();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT generation, doc FROM documents
                 WHERE collection = ?1 AND target = ?2 AND key = ?3",
                params![collection.as_str(), target, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("reading a document"))?;
        row.map(|(g, text)| {
            Ok(Versioned {
                generation: g as u64,
                value: parse(collection.as_str(), key, &text)?,
            })
        })
        .transpose()
    }

    fn list_docs(
        &self,
        collection: Collection,
        target: &str,
    ) -> Result<Vec<(String, Versioned<Value>)>, StateError> {
        Ok(self
            .query_docs(
                collection,
                "SELECT target, key, generation, doc FROM documents
                 WHERE collection = ?1 AND target = ?2 ORDER BY key",
                Some(target),
            )?
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect())
    }

    fn doc_generations(
        &self,
        collection: Collection,
        target: &str,
    ) -> Result<Vec<(String, u64)>, StateError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT key, generation FROM documents
                 WHERE collection = ?1 AND target = ?2 ORDER BY key",
            )
            .map_err(sql("listing document generations"))?;
        let rows = st
            .query_map(params![collection.as_str(), target], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(sql("listing document generations"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("listing document generations"))
    }

    fn list_all_docs(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError> {
        self.query_docs(
            collection,
            "SELECT target, key, generation, doc FROM documents WHERE collection = ?1
             ORDER BY target, key",
            None,
        )
    }

    fn list_live_docs(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError> {
        self.query_docs(
            collection,
            "SELECT target, key, generation, doc FROM documents
             WHERE collection = ?1 AND live = 1 ORDER BY target, key",
            None,
        )
    }

    fn find_doc(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<(String, Versioned<Value>)>, StateError> {
        Ok(self
            .query_docs(
                collection,
                "SELECT target, key, generation, doc FROM documents
                 WHERE collection = ?1 AND key = ?2 ORDER BY target LIMIT 1",
                Some(key),
            )?
            .into_iter()
            .next()
            .map(|(t, _, v)| (t, v)))
    }
}

impl SqliteStore {
    /// Runs `query` (selecting `target, key, generation, doc`, with the collection as `?1` and
    /// `arg`, when given, as `?2`) and parses each document.
    fn query_docs(
        &self,
        collection: Collection,
        query: &str,
        arg: Option<&str>,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError> {
        let conn = self.lock();
        let mut st = conn.prepare(query).map_err(sql("listing documents"))?;
        let map = |r: &rusqlite::Row<'_>| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        };
        let rows = match arg {
            Some(a) => st.query_map(params![collection.as_str(), a], map),
            None => st.query_map(params![collection.as_str()], map),
        }
        .map_err(sql("listing documents"))?;
        let mut out = Vec::new();
        for row in rows {
            let (t, k, g, text) = row.map_err(sql("listing documents"))?;
            let value = parse(collection.as_str(), &k, &text)?;
            out.push((
                t,
                k,
                Versioned {
                    generation: g as u64,
                    value,
                },
            ));
        }
        Ok(out)
    }
}

impl SqliteStore {
    /// One stack; without its change sets and events unless `full`.
    fn read_stack(
        &self,
        target: &str,
        name: &str,
        full: bool,
    ) -> Result<Option<StackDoc>, StateError> {
        let conn = self.lock();

        let key = format!("{target}/{name}");
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT generation, record FROM stacks WHERE target = ?1 AND name = ?2",
                params![target, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("reading a stack"))?;
        let Some((generation, record)) = row else {
            return Ok(None);
        };
        let pairs = |q: &str, what: &'static str| -> Result<Vec<(String, Value)>, StateError> {
            let mut st = conn.prepare(q).map_err(sql("reading a stack"))?;
            let rows = st
                .query_map(params![target, name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(sql("reading a stack"))?;
            let mut out = Vec::new();
            for row in rows {
                let (k, text) = row.map_err(sql("reading a stack"))?;
                let v = parse(what, &format!("{key}/{k}"), &text)?;
                out.push((k, v));
            }
            Ok(out)
        };
        let resources = pairs(
            "SELECT logical_id, doc FROM stack_resources WHERE target = ?1 AND stack = ?2 ORDER BY seq",
            "stack resource",
        )?;
        if !full {
            return Ok(Some(StackDoc {
                generation: generation as u64,
                record: parse("stack", &key, &record)?,
                resources,
                change_sets: Vec::new(),
                events: Vec::new(),
            }));
        }
        let change_sets = pairs(
            "SELECT name, doc FROM change_sets WHERE target = ?1 AND stack = ?2 ORDER BY seq",
            "change set",
        )?;
        let mut events = Vec::new();
        {
            let mut st = conn
                .prepare(
                    "SELECT seq, doc FROM stack_events WHERE target = ?1 AND stack = ?2 ORDER BY seq",
                )
                .map_err(sql("reading stack events"))?;
            let rows = st
                .query_map(params![target, name], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(sql("reading stack events"))?;
            for row in rows {
                let (seq, text) = row.map_err(sql("reading stack events"))?;
                events.push(parse("stack event", &format!("{key}#{seq}"), &text)?);
            }
        }
        Ok(Some(StackDoc {
            generation: generation as u64,
            record: parse("stack", &key, &record)?,
            resources,
            change_sets,
            events,
        }))
    }
}
