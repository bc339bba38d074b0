//! The state store in memory, for tests: the same semantics as SQLite (generations,
//! all-or-nothing batches), nothing on disk.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use super::{
    Batch, Collection, Generations, StackDoc, StateError, StateStore, TargetRow, Versioned, Write,
};

#[derive(Clone, Default)]
struct State {
    targets: BTreeMap<String, TargetRow>,
    stacks: BTreeMap<(String, String), StackDoc>,
    docs: BTreeMap<(Collection, String, String), Versioned<Value>>,
    /// The keys of `docs` put live.
    live: std::collections::BTreeSet<(Collection, String, String)>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied batch (batches are applied
        // to a copy), so a poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn check(
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

impl StateStore for MemoryStore {
    fn schema_version(&self) -> Result<u32, StateError> {
        Ok(super::sqlite::MIGRATIONS.len() as u32)
    }

    fn commit(&self, batch: Batch) -> Result<Generations, StateError> {
        let mut guard = self.lock();
        let mut s = guard.clone();
        let mut out = Vec::with_capacity(batch.writes.len());
        for w in batch.writes {
            match w {
                Write::Target(t) => {
                    s.targets.insert(t.name.clone(), t);
                    out.push(0);
                }
                Write::Stack(w) => {
                    let k = (w.target.clone(), w.name.clone());
                    let old = s.stacks.get(&k);
                    check(
                        "stack",
                        format!("{}/{}", w.target, w.name),
                        w.expected,
                        old.map(|d| d.generation),
                    )?;
                    let generation = old.map_or(1, |d| d.generation + 1);
                    let mut events = match old {
                        Some(d) if !w.reset_events => d.events.clone(),
                        Some(_) | None => Vec::new(),
                    };
                    events.extend(w.append_events);
                    s.stacks.insert(
                        k,
                        StackDoc {
                            generation,
                            record: w.record,
                            resources: w.resources,
                            change_sets: w.change_sets,
                            events,
                        },
                    );
                    out.push(generation);
                }
                Write::Put {
                    collection,
                    target,
                    key,
                    expected,
                    doc,
                    live,
                } => {
                    let k = (collection, target, key);
                    let found = s.docs.get(&k).map(|d| d.generation);
                    check(collection.as_str(), k.2.clone(), expected, found)?;
                    let generation = found.map_or(1, |g| g + 1);
                    if live {
                        s.live.insert(k.clone());
                    } else {
                        s.live.remove(&k);
                    }
                    s.docs.insert(
                        k,
                        Versioned {
                            generation,
                            value: doc,
                        },
                    );
                    out.push(generation);
                }
                Write::Delete {
                    collection,
                    target,
                    key,
                    expected,
                } => {
                    let k = (collection, target, key);
                    let found = s.docs.get(&k).map(|d| d.generation);
                    check(collection.as_str(), k.2.clone(), Some(expected), found)?;
                    s.docs.remove(&k);
                    s.live.remove(&k);
                    out.push(0);
                }
            }
        }
        *guard = s;
        Ok(out)
    }

    fn targets(&self) -> Result<Vec<TargetRow>, StateError> {
        Ok(self.lock().targets.values().cloned().collect())
    }

    fn get_stack(&self, target: &str, name: &str) -> Result<Option<StackDoc>, StateError> {
        Ok(self
            .lock()
            .stacks
            .get(&(target.to_owned(), name.to_owned()))
            .cloned())
    }

    fn list_stacks(&self, target: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .lock()
            .stacks
            .keys()
            .filter(|(t, _)| t == target)
            .map(|(_, n)| n.clone())
            .collect())
    }

    fn get_doc(
        &self,
        collection: Collection,
        target: &str,
        key: &str,
    ) -> Result<Option<Versioned<Value>>, StateError> {
        Ok(self
            .lock()
            .docs
            .get(&(collection, target.to_owned(), key.to_owned()))
            .cloned())
    }

    fn list_docs(
        &self,
        collection: Collection,
        target: &str,
    ) -> Result<Vec<(String, Versioned<Value>)>, StateError> {
        Ok(self
            .lock()
            .docs
            .iter()
            .filter(|((c, t, _), _)| *c == collection && t == target)
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn doc_generations(
        &self,
        collection: Collection,
        target: &str,
    ) -> Result<Vec<(String, u64)>, StateError> {
        Ok(self
            .lock()
            .docs
            .iter()
            .filter(|((c, t, _), _)| *c == collection && t == target)
            .map(|((_, _, k), v)| (k.clone(), v.generation))
            .collect())
    }

    fn list_all_docs(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError> {
        Ok(self
            .lock()
            .docs
            .iter()
            .filter(|((c, _, _), _)| *c == collection)
            .map(|((_, t, k), v)| (t.clone(), k.clone(), v.clone()))
            .collect())
    }

    fn list_live_docs(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError> {
        let s = self.lock();
        Ok(s.live
            .iter()
            .filter(|(c, _, _)| *c == collection)
            .filter_map(|k| s.docs.get(k).map(|v| (k.1.clone(), k.2.clone(), v.clone())))
            .collect())
    }

    fn find_doc(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<(String, Versioned<Value>)>, StateError> {
        Ok(self
            .lock()
            .docs
            .iter()
            .find(|((c, _, k), _)| *c == collection && k == key)
            .map(|((_, t, _), v)| (t.clone(), v.clone())))
    }
}
