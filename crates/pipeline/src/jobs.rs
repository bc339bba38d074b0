//! CodePipeline jobs: how an Invoke `Lambda` action waits for its function.
//!
//! CodePipeline runs a Lambda invoke action as a *job*: it invokes the function with the job
//! (`{"CodePipeline.job": {"id", "accountId", "data": …}}`), and the action stays in progress
//! until the function reports with `PutJobSuccessResult` or `PutJobFailureResult`. A success
//! with a `continuationToken` means "still working": CodePipeline then makes a new job with
//! that token in its data and invokes the function again. A job the function does not answer
//! within 20 minutes times out; the whole action gives up after 24 hours (the action timeout,
//! enforced by the state machine). Both from CodePipeline's quotas page ("AWS Lambda invoke
//! action: 24 hours … If the Lambda function has sent no reply after 20 minutes, the action
//! times out").
//!
//! # Records
//!
//! Every job is one document of the state store (`Collection::Pipelines`, target
//! [`JOBS_TARGET`], key = the job ID) written **before** the function is invoked, so a
//! `PutJob*Result` always finds it and a `kill -9` loses nothing:
//!
//! - a result that arrived is in the record, even if the action's outcome was not yet applied
//!   — the resumed action reads it and carries on;
//! - a job whose invocation had returned keeps waiting for its reply, its 20-minute timer
//!   still counting from when it was made;
//! - a job whose invocation was still running when the process died is invoked again with the
//!   same ID (the function's process died with the server) — as Lambda retries an asynchronous
//!   invocation that failed.
//!
//! A job takes one result: a second `PutJob*Result`, or one after the timeout, is refused
//! with `InvalidJobStateException`; an unknown ID is `JobNotFoundException` (the endpoint maps
//! [`JobError`] to those codes).

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_store::state::{Batch, Collection, StateError, StateStore};

use crate::Timestamp;
use crate::exec::{Cancel, NowFn};

/// The store target job records live under (next to the pipelines' own documents).
pub const JOBS_TARGET: &str = "jobs";

/// How long a job waits for its function's reply.
pub const REPLY_TIMEOUT_MINUTES: u32 = 20;

/// CodePipeline's job statuses, those a local job goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Recorded; the function is being invoked.
    Created,
    /// The invocation returned; waiting for the function's report.
    Dispatched,
    Succeeded,
    Failed,
    TimedOut,
}

impl JobStatus {
    pub fn is_final(self) -> bool {
        match self {
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut => true,
            JobStatus::Created | JobStatus::Dispatched => false,
        }
    }
}

/// `FailureDetails.type` of `PutJobFailureResult`.
pub const FAILURE_TYPES: [&str; 6] = [
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
];

/// A job's outcome, as its worker reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum JobResult {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        /// "Not done yet": a new job continues with this token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        continuation_token: Option<String>,
        #[serde(default)]
        output_variables: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_execution_id: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        failure_type: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_execution_id: Option<String>,
    },
    TimedOut,
}

/// One job, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub account_id: String,
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    /// The action attempt this job belongs to.
    pub attempt: u32,
    /// 1 for the first job of an attempt, +1 for each continuation.
    pub seq: u32,
    /// The token this job continues from (`data.continuationToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// The job's `data`, exactly as the function receives it.
    pub data: serde_json::Value,
    pub status: JobStatus,
    pub created_at: Timestamp,
    /// When the job times out without a reply.
    pub reply_deadline: Timestamp,
    /// The invocation's error, when the function raised instead of returning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
}

impl JobRecord {
    /// `{"CodePipeline.job": {"id", "accountId", "data"}}`: the function's event.
    pub fn event(&self) -> serde_json::Value {
        serde_json::json!({
            "CodePipeline.job": {
                "id": self.id,
                "accountId": self.account_id,
                "data": self.data,
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("job {0} not found")]
    NotFound(String),
    #[error("job {id} is {status:?}; it takes no further result")]
    InvalidState { id: String, status: JobStatus },
    #[error("{0}")]
    Validation(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the stored job '{id}' cannot be read")]
    Corrupt {
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The jobs of this server: records in the state store, and a signal for waiters.
pub struct JobBoard {
    store: Arc<dyn StateStore>,
    now: NowFn,
    /// Serialises read-modify-write of records.
    write: Mutex<()>,
    changes: (Mutex<u64>, Condvar),
}

impl JobBoard {
    pub fn new(store: Arc<dyn StateStore>, now: NowFn) -> Arc<JobBoard> {
        Arc::new(JobBoard {
            store,
            now,
            write: Mutex::new(()),
            changes: (Mutex::new(0), Condvar::new()),
        })
    }

    pub fn now(&self) -> Timestamp {
        Timestamp((self.now)())
    }

    fn load(&self, id: &str) -> Result<Option<(JobRecord, u64)>, JobError> {
        let Some(v) = self.store.get_doc(Collection::Pipelines, JOBS_TARGET, id)? else {
            return Ok(None);
        };
        let rec = serde_json::from_value(v.value).map_err(|source| JobError::Corrupt {
            id: id.to_owned(),
            source,
        })?;
        Ok(Some((rec, v.generation)))
    }

    pub fn get(&self, id: &str) -> Result<Option<JobRecord>, JobError> {
        Ok(self.load(id)?.map(|(r, _)| r))
    }

    fn put(&self, rec: &JobRecord, expected: Option<u64>) -> Result<(), JobError> {
        let value = serde_json::to_value(rec).map_err(|source| JobError::Corrupt {
            id: rec.id.clone(),
            source,
        })?;
        self.store.commit(Batch::new().put(
            Collection::Pipelines,
            JOBS_TARGET,
            &rec.id,
            expected,
            value,
        ))?;
        self.notify();
        Ok(())
    }

    /// Wakes every waiter (a result came, an action was cancelled).
    pub fn notify(&self) {
        let (m, cv) = &self.changes;
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_all();
    }

    /// Records a new job.
    pub fn create(&self, rec: &JobRecord) -> Result<(), JobError> {
        let _g = self.write.lock().unwrap_or_else(|e| e.into_inner());
        self.put(rec, None)
    }

    /// Every job of one action attempt, oldest first.
    pub fn of_attempt(
        &self,
        execution_id: &str,
        stage: &str,
        action: &str,
        attempt: u32,
    ) -> Result<Vec<JobRecord>, JobError> {
        let mut out = Vec::new();
        for (id, v) in self.store.list_docs(Collection::Pipelines, JOBS_TARGET)? {
            let rec: JobRecord = serde_json::from_value(v.value)
                .map_err(|source| JobError::Corrupt { id, source })?;
            if rec.execution_id == execution_id
                && rec.stage == stage
                && rec.action == action
                && rec.attempt == attempt
            {
                out.push(rec);
            }
        }
        out.sort_by_key(|r| r.seq);
        Ok(out)
    }

    /// Changes a job that is not final yet (`Created` → `Dispatched`, the function's error).
    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobRecord)) -> Result<JobRecord, JobError> {
        let _g = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let (mut rec, g) = self
            .load(id)?
            .ok_or_else(|| JobError::NotFound(id.to_owned()))?;
        if rec.status.is_final() {
            return Ok(rec);
        }
        f(&mut rec);
        self.put(&rec, Some(g))?;
        Ok(rec)
    }

    /// `PutJobSuccessResult` / `PutJobFailureResult`: the job's one result.
    pub fn report(&self, id: &str, result: JobResult) -> Result<JobRecord, JobError> {
        if let JobResult::Succeeded {
            continuation_token: Some(_),
            output_variables,
            ..
        } = &result
            && !output_variables.is_empty()
        {
            return Err(JobError::Validation(
                "outputVariables can be included only when there is no continuation token on the request"
                    .into(),
            ));
        }
        if let JobResult::Failed { failure_type, .. } = &result
            && !FAILURE_TYPES.contains(&failure_type.as_str())
        {
            return Err(JobError::Validation(format!(
                "1 validation error detected: Value '{failure_type}' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                FAILURE_TYPES.join(", ")
            )));
        }
        let _g = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let (mut rec, g) = self
            .load(id)?
            .ok_or_else(|| JobError::NotFound(id.to_owned()))?;
        if rec.status.is_final() {
            return Err(JobError::InvalidState {
                id: id.to_owned(),
                status: rec.status,
            });
        }
        rec.status = match &result {
            JobResult::Succeeded { .. } => JobStatus::Succeeded,
            JobResult::Failed { .. } => JobStatus::Failed,
            JobResult::TimedOut => JobStatus::TimedOut,
        };
        rec.result = Some(result);
        self.put(&rec, Some(g))?;
        Ok(rec)
    }

    /// Blocks until the job has a result (its reply timer is checked against the injected
    /// clock as it goes), or the action is cancelled (`None`).
    pub fn wait(&self, id: &str, cancel: &Cancel) -> Result<Option<JobRecord>, JobError> {
        let (m, cv) = &self.changes;
        loop {
            let seen = *m.lock().unwrap_or_else(|e| e.into_inner());
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let rec = self
                .get(id)?
                .ok_or_else(|| JobError::NotFound(id.to_owned()))?;
            if rec.status.is_final() {
                return Ok(Some(rec));
            }
            if self.now() >= rec.reply_deadline {
                match self.report(id, JobResult::TimedOut) {
                    Ok(rec) => return Ok(Some(rec)),
                    // A result came just now.
                    Err(JobError::InvalidState { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            // The timer runs on the injected clock, which a wait cannot sleep on: look again
            // at least every 200 ms (a result or a cancel wakes it at once).
            let g = m.lock().unwrap_or_else(|e| e.into_inner());
            let _ = cv
                .wait_timeout_while(g, Duration::from_millis(200), |v| *v == seen)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_store::state::memory::MemoryStore;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn record(id: &str, now: u64) -> JobRecord {
        JobRecord {
            id: id.into(),
            account_id: "123456789012".into(),
            pipeline: "p".into(),
            execution_id: "x".into(),
            stage: "S".into(),
            action: "A".into(),
            attempt: 1,
            seq: 1,
            continuation_token: None,
            data: serde_json::json!({}),
            status: JobStatus::Created,
            created_at: Timestamp(now),
            reply_deadline: Timestamp(now).plus_minutes(REPLY_TIMEOUT_MINUTES),
            function_error: None,
            result: None,
        }
    }

    fn board() -> (Arc<JobBoard>, Arc<AtomicU64>) {
        let t = Arc::new(AtomicU64::new(1_000));
        let c = t.clone();
        let b = JobBoard::new(
            Arc::new(MemoryStore::new()),
            Arc::new(move || c.load(Ordering::SeqCst)),
        );
        (b, t)
    }

    #[test]
    fn a_job_takes_one_result() {
        let (b, _) = board();
        b.create(&record("j1", 1_000)).unwrap();
        assert!(matches!(
            b.report("nope", JobResult::TimedOut),
            Err(JobError::NotFound(_))
        ));
        let ok = JobResult::Succeeded {
            continuation_token: None,
            output_variables: BTreeMap::from([("k".into(), "v".into())]),
            summary: None,
            external_execution_id: None,
        };
        assert_eq!(
            b.report("j1", ok.clone()).unwrap().status,
            JobStatus::Succeeded
        );
        assert!(matches!(
            b.report("j1", ok),
            Err(JobError::InvalidState {
                status: JobStatus::Succeeded,
                ..
            })
        ));
    }

    #[test]
    fn output_variables_and_a_continuation_do_not_go_together() {
        let (b, _) = board();
        b.create(&record("j1", 1_000)).unwrap();
        let both = JobResult::Succeeded {
            continuation_token: Some("t".into()),
            output_variables: BTreeMap::from([("k".into(), "v".into())]),
            summary: None,
            external_execution_id: None,
        };
        assert!(matches!(b.report("j1", both), Err(JobError::Validation(_))));
        let bad = JobResult::Failed {
            failure_type: "Oops".into(),
            message: "m".into(),
            external_execution_id: None,
        };
        assert!(matches!(b.report("j1", bad), Err(JobError::Validation(_))));
        assert_eq!(b.get("j1").unwrap().unwrap().status, JobStatus::Created);
    }

    #[test]
    fn an_unanswered_job_times_out_on_the_injected_clock() {
        let (b, t) = board();
        b.create(&record("j1", 1_000)).unwrap();
        t.store(1_000 + 20 * 60_000, Ordering::SeqCst);
        let rec = b.wait("j1", &Cancel::default()).unwrap().unwrap();
        assert_eq!(rec.status, JobStatus::TimedOut);
        assert!(matches!(
            b.report("j1", JobResult::TimedOut),
            Err(JobError::InvalidState { .. })
        ));
    }

    #[test]
    fn a_cancelled_wait_returns_nothing() {
        let (b, _) = board();
        b.create(&record("j1", 1_000)).unwrap();
        let c = Cancel::default();
        c.cancel();
        assert!(b.wait("j1", &c).unwrap().is_none());
    }
}
