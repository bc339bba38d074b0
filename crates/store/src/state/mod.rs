//! The state store: every durable fact of the control plane, and every state machine's current
//! step.
//!
//! # Model
//!
//! The store keeps JSON documents; the typed records (`StackRecord`, `FunctionVersions`,
//! `Deployment`, journal entries) live in the crates that own their rules, which serialise them
//! here. Every document carries a **generation**: a write names the generation it read
//! (`expected`, `None` for "must not exist yet") and fails with [`StateError::Conflict`] when
//! another writer got there first — compare-and-swap, so two control-plane tasks can never
//! silently overwrite each other.
//!
//! Writes go in a [`Batch`], applied all-or-nothing ([`StateStore::commit`]): the executor
//! records "step k is about to run" in its journal and the stack's new state in one commit, so
//! a crash sees either both or neither.
//!
//! # Tables (SQLite, [`sqlite`])
//!
//! ```text
//! schema_migrations(version, name, applied_ms)       one row per applied migration
//! targets(name, account, region)                      account/region namespaces
//! stacks(target, name, generation, record)            the stack record without the three lists below
//! stack_resources(target, stack, logical_id, doc)     resources, in deployment order (seq)
//! change_sets(target, stack, name, doc)
//! stack_events(target, stack, seq, doc)               append-only, oldest first
//! documents(collection, target, key, generation, doc, live)
//!                                                     functions (versions and aliases),
//!                                                     deployments, the executor's journal,
//!                                                     provider-managed resources; `live`
//!                                                     (partial index) marks what is in progress
//! ```
//!
//! The database runs in WAL mode with `synchronous=FULL`: a commit that returned is on disk.
//! Migrations are numbered; opening a database applies the missing ones in order, each in its
//! own transaction, and refuses a database written by a newer binary.
//!
//! [`memory::MemoryStore`] implements the same trait in memory for tests; one test suite runs
//! against both.

pub mod memory;
pub mod sqlite;

use std::path::PathBuf;

use serde_json::Value;

/// A stored document and the generation it was read at.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    pub generation: u64,
    pub value: T,
}

/// The kinds of plain documents the store keeps (`documents.collection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// One Lambda function's `$LATEST`, versions and aliases, by physical name.
    Functions,
    /// CodeDeploy deployments (`traffic::Deployment`), by deployment ID.
    Deployments,
    /// The executor's journal: one entry per stack operation, by operation ID.
    Journal,
    /// What local resource providers keep about the physical resources they made, by
    /// `Type|PhysicalId`.
    Resources,
    /// Event delivery's own state, by `kind|name`: an SQS queue's messages (`sqs|QUEUE`), a
    /// schedule's next firing (`schedule|RULE`), subscriptions made through the SNS API
    /// (`sns-subscription|ARN`).
    Events,
    /// One pipeline's execution state (`slipway_pipeline::PipelineState` and its trigger
    /// bookmarks), by pipeline name.
    Pipelines,
}

impl Collection {
    pub const ALL: [Collection; 6] = [
        Collection::Functions,
        Collection::Deployments,
        Collection::Journal,
        Collection::Resources,
        Collection::Events,
        Collection::Pipelines,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Functions => "functions",
            Collection::Deployments => "deployments",
            Collection::Journal => "journal",
            Collection::Resources => "resources",
            Collection::Events => "events",
            Collection::Pipelines => "pipelines",
        }
    }

    pub fn parse(s: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A target (`account/region`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRow {
    pub name: String,
    pub account: String,
    pub region: String,
}

/// One stack as stored: the record (without its resources, change sets and events, which have
/// tables of their own) and those three lists.
#[derive(Clone, Debug, PartialEq)]
pub struct StackDoc {
    pub generation: u64,
    pub record: Value,
    /// `(logical_id, resource)` in deployment order.
    pub resources: Vec<(String, Value)>,
    /// `(name, change set)` in creation order.
    pub change_sets: Vec<(String, Value)>,
    /// Oldest first.
    pub events: Vec<Value>,
}

/// A write of one stack.
#[derive(Clone, Debug, PartialEq)]
pub struct StackWrite {
    pub target: String,
    pub name: String,
    /// The generation read; `None`: the stack must not be stored yet.
    pub expected: Option<u64>,
    pub record: Value,
    /// Replaces the stack's resources.
    pub resources: Vec<(String, Value)>,
    /// Replaces the stack's change sets.
    pub change_sets: Vec<(String, Value)>,
    /// Drop the stored events first (a new stack reusing a deleted stack's name).
    pub reset_events: bool,
    /// Appended to the stack's events.
    pub append_events: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Target(TargetRow),
    Stack(StackWrite),
    Put {
        collection: Collection,
        target: String,
        key: String,
        expected: Option<u64>,
        doc: Value,
        /// The document is live: still in progress, one of the few a tick or a restart must
        /// look at ([`StateStore::list_live_docs`]). The writer decides (the store does not
        /// read documents); a put replaces the flag with what it says.
        live: bool,
    },
    Delete {
        collection: Collection,
        target: String,
        key: String,
        expected: u64,
    },
}

/// Writes applied together or not at all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub writes: Vec<Write>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn stack(mut self, w: StackWrite) -> Batch {
        self.writes.push(Write::Stack(w));
        self
    }

    /// Puts a document that is not live (see [`Batch::put_live`]).
    pub fn put(
        self,
        collection: Collection,
        target: &str,
        key: &str,
        expected: Option<u64>,
        doc: Value,
    ) -> Batch {
        self.put_live(collection, target, key, expected, doc, false)
    }

    /// Puts a document, live or not (`Write::Put::live`).
    pub fn put_live(
        mut self,
        collection: Collection,
        target: &str,
        key: &str,
        expected: Option<u64>,
        doc: Value,
        live: bool,
    ) -> Batch {
        self.writes.push(Write::Put {
            collection,
            target: target.to_owned(),
            key: key.to_owned(),
            expected,
            doc,
            live,
        });
        self
    }

    pub fn delete(
        mut self,
        collection: Collection,
        target: &str,
        key: &str,
        expected: u64,
    ) -> Batch {
        self.writes.push(Write::Delete {
            collection,
            target: target.to_owned(),
            key: key.to_owned(),
            expected,
        });
        self
    }

    pub fn target(mut self, t: TargetRow) -> Batch {
        self.writes.push(Write::Target(t));
        self
    }
}

/// What a commit did: the new generation of each write, in order (0 for deletes and targets).
pub type Generations = Vec<u64>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "{what} '{key}' changed concurrently: expected generation {expected:?}, found {found:?}"
    )]
    Conflict {
        what: &'static str,
        key: String,
        expected: Option<u64>,
        found: Option<u64>,
    },
    #[error("cannot open the state store {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state store: {context}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state store: the stored {what} '{key}' is not valid JSON")]
    Corrupt {
        what: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the state store {} has schema version {found}, newer than this binary's {supported}",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
}

/// The state store. Implementations are cheap to share (`Arc<dyn StateStore>`); every method is
/// one consistent read or one atomic write.
pub trait StateStore: Send + Sync {
    /// The schema version in effect (the last migration applied).
    fn schema_version(&self) -> Result<u32, StateError>;

    /// Applies every write of `batch`, or none: the first compare-and-swap that fails aborts
    /// the whole batch with [`StateError::Conflict`].
    fn commit(&self, batch: Batch) -> Result<Generations, StateError>;

    fn targets(&self) -> Result<Vec<TargetRow>, StateError>;

    fn get_stack(&self, target: &str, name: &str) -> Result<Option<StackDoc>, StateError>;

    /// A stack's record and resources only (`change_sets` and `events` left empty): what the
    /// gateway's route tables are built from, read after every alias step, where a stack's
    /// whole event history would be read for nothing.
    fn get_stack_resources(
        &self,
        target: &str,
        name: &str,
    ) -> Result<Option<StackDoc>, StateError> {
        Ok(self.get_stack(target, name)?.map(|mut d| {
            d.change_sets.clear();
            d.events.clear();
            d
        }))
    }

    /// Names of the stacks stored in `target`, sorted.
    fn list_stacks(&self, target: &str) -> Result<Vec<String>, StateError>;

    fn get_doc(
        &self,
        collection: Collection,
        target: &str,
        key: &str,
    ) -> Result<Option<Versioned<Value>>, StateError>;

    /// `(key, document)` of one target's documents, sorted by key.
    fn list_docs(
        &self,
        collection: Collection,
        target: &str,
    ) -> Result<Vec<(String, Versioned<Value>)>, StateError>;

    /// `(key, generation)` of one target's documents, sorted by key, without reading the
    /// documents themselves: a cheap test of whether anything in the collection changed, for
    /// readers that keep something derived from it.
    fn doc_generations(
        &self,
        collection: Collection,
        target: &str,
    ) -> Result<Vec<(String, u64)>, StateError>;

    /// `(target, key, document)` across every target, sorted.
    fn list_all_docs(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError>;

    /// `(target, key, document)` of the live documents only (`Write::Put::live`), across every
    /// target, sorted: what the engine's tick and a restart scan. Indexed, so its cost follows
    /// the number of live documents, not the collection's history.
    fn list_live_docs(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, String, Versioned<Value>)>, StateError>;

    /// A document by key in whichever target holds it (the first target in order when several
    /// do): deployment IDs are unique across targets. Indexed by key.
    fn find_doc(
        &self,
        collection: Collection,
        key: &str,
    ) -> Result<Option<(String, Versioned<Value>)>, StateError>;
}

/// The current time in milliseconds since the epoch, for `applied_ms` columns only.
pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
