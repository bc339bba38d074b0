//! Invoke actions, provider `Lambda`: the function runs as a CodePipeline job
//! ([`slipway_pipeline::jobs`]) and reports through this server's CodePipeline endpoint
//! (`codepipeline.rs`).
//!
//! For each job the runner records the job, then invokes the function (the one named by
//! `FunctionName` — a name, `name:qualifier` or an ARN — in the action's target, as deploy
//! actions resolve it) with CodePipeline's event:
//!
//! ```json
//! {"CodePipeline.job": {"id": "…", "accountId": "111111111111", "data": {
//!   "actionConfiguration": {"configuration": {"FunctionName": "…", "UserParameters": "…"}},
//!   "inputArtifacts": [{"name": "BuildOutput", "revision": null,
//!     "location": {"type": "S3", "s3Location": {"bucketName": "…", "objectKey": "…"}}}],
//!   "outputArtifacts": […same shape…],
//!   "artifactCredentials": {"accessKeyId": "…", "secretAccessKey": "…", "sessionToken": "…"},
//!   "continuationToken": "…"}}}
//! ```
//!
//! (the shape of the "Example JSON event" in CodePipeline's user guide, "Invoke an AWS Lambda
//! function in a pipeline"). It then waits for the job's result: a success with a
//! `continuationToken` makes the next job, a final success ends the action with the
//! `outputVariables` as its variables (under the action's namespace) and the output artefacts
//! the function uploaded; a failure fails the action with its `failureDetails.message`.
//!
//! Artefacts: each input artefact is placed, as the zip the artefact store holds, in the
//! pipeline's artefact bucket at its key — the scheme `Fn::GetArtifactAtt` uses
//! ([`crate::pipelines::artifact_bucket`], [`crate::pipelines::artifact_key`]:
//! `ArtifactStore.Location` else `codepipeline-REGION-ACCOUNT`,
//! `PIPELINE20/ARTIFACT10/HEX16.zip`) — so the function reads it with boto3's `s3.get_object`
//! through `AWS_ENDPOINT_URL`. Each output artefact gets a key of the same form whose last
//! part is fixed per action attempt; the function must `put_object` a zip there before it
//! reports success (as on AWS: "If you specify output artifacts for the action, they must be
//! uploaded to the S3 bucket as part of the function implementation").
//!
//! Known differences: the function is invoked synchronously on the action's thread (to know
//! whether its invocation finished, which decides what a restart does — see the jobs module);
//! `artifactCredentials` are the server's token (or placeholders), not STS credentials; no
//! KMS `encryptionKey`.

use std::sync::{Arc, Weak};

use serde_json::{Value, json};
use sha2::Digest as _;
use slipway_engine::providers::bucket_dir;
use slipway_model::invoke::{InvocationType, Invoker as _};
use slipway_pipeline::exec::{ActionOutcome, ActionRunner, Job, new_execution_id};
use slipway_pipeline::jobs::{JobBoard, JobRecord, JobResult, JobStatus, REPLY_TIMEOUT_MINUTES};
use slipway_pipeline::{ActionResult, Artifact};
use slipway_store::{Digest, Store};

use crate::App;
use crate::pipelines::{artifact_bucket, artifact_key, place_artifact};

pub(crate) struct InvokeRunner {
    pub(crate) app: Weak<App>,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) artefacts: Arc<Store>,
    pub(crate) jobs: Arc<JobBoard>,
}

impl ActionRunner for InvokeRunner {
    fn run(&self, job: &Job) -> ActionOutcome {
        let Some(app) = self.app.upgrade() else {
            return ActionOutcome::Failed("the server is shutting down".into());
        };
        let jobs = self.jobs.clone();
        job.cancel.on_cancel(move || jobs.notify());
        match self.run_jobs(&app, job) {
            Ok(r) => ActionOutcome::Succeeded(r),
            Err(e) => ActionOutcome::Failed(e),
        }
    }
}

/// The hex sha256 of `s`.
fn hash_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

impl InvokeRunner {
    fn run_jobs(&self, app: &App, job: &Job) -> Result<ActionResult, String> {
        let a = &job.action;
        let function = a
            .configuration
            .get("FunctionName")
            .ok_or("the Lambda invoke action needs FunctionName")?
            .clone();
        let target = app.target_of(a.target.as_deref(), a.region.as_deref());
        let account = target.split_once('/').map_or(target.as_str(), |(a, _)| a);
        let bucket = artifact_bucket(app, &job.pipeline, a.region.as_deref());
        let bucket_path = bucket_dir(&app.data_dir, &bucket);
        std::fs::create_dir_all(&bucket_path)
            .map_err(|e| format!("cannot create {}: {e}", bucket_path.display()))?;
        let inputs = a
            .inputs
            .iter()
            .map(|i| self.place_input(app, &bucket, &job.pipeline, i))
            .collect::<Result<Vec<_>, _>>()?;
        let attempt_key = format!("{}|{}|{}|{}", a.execution_id, a.stage, a.action, a.attempt);
        let outputs: Vec<(String, String)> = a
            .outputs
            .iter()
            .map(|name| {
                let hex = hash_hex(&format!("{attempt_key}|{name}"));
                (name.clone(), artifact_key(&job.pipeline, name, &hex))
            })
            .collect();
        let location = |name: &str, key: &str| {
            json!({
                "name": name,
                "revision": null,
                "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
            })
        };
        let key_id = app
            .token
            .clone()
            .unwrap_or_else(|| "ASIASLIPWAYLOCAL".into());
        let base = json!({
            "actionConfiguration": {"configuration": a.configuration},
            "inputArtifacts": inputs.iter().map(|(n, k)| location(n, k)).collect::<Vec<_>>(),
            "outputArtifacts": outputs.iter().map(|(n, k)| location(n, k)).collect::<Vec<_>>(),
            "artifactCredentials": {
                "accessKeyId": key_id,
                "secretAccessKey": "slipway-local",
                "sessionToken": "slipway-local",
            },
        });
        let board = &self.jobs;
        let existing = board
            .of_attempt(&a.execution_id, &a.stage, &a.action, a.attempt)
            .map_err(|e| e.to_string())?;
        let mut rec = match existing.into_iter().last() {
            Some(r) => r,
            None => self.new_job(job, account, &base, 1, None)?,
        };
        loop {
            if job.cancel.is_cancelled() {
                return Err("the action was cancelled".into());
            }
            match rec.status {
                // Created: new, or its invocation was cut short by a crash — invoke (again).
                JobStatus::Created => {
                    let err = self.invoke(app, &target, &function, &rec.event())?;
                    if let Some(e) = &err {
                        tracing::warn!(job = %rec.id, function = %function, error = %e, "the job's function failed");
                    }
                    rec = board
                        .update(&rec.id, |r| {
                            r.status = JobStatus::Dispatched;
                            r.function_error = err;
                        })
                        .map_err(|e| e.to_string())?;
                    continue;
                }
                JobStatus::Dispatched => {
                    match board
                        .wait(&rec.id, &job.cancel)
                        .map_err(|e| e.to_string())?
                    {
                        Some(r) => rec = r,
                        None => return Err("the action was cancelled".into()),
                    }
                    continue;
                }
                JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut => {}
            }
            match rec.result.clone() {
                Some(JobResult::Succeeded {
                    continuation_token: Some(token),
                    ..
                }) => {
                    rec = self.new_job(job, account, &base, rec.seq + 1, Some(token))?;
                }
                Some(JobResult::Succeeded {
                    output_variables,
                    summary,
                    external_execution_id,
                    ..
                }) => {
                    let mut produced = Vec::new();
                    for (name, key) in &outputs {
                        produced.push(self.take_output(app, &bucket, name, key)?);
                    }
                    return Ok(ActionResult {
                        outputs: produced,
                        variables: output_variables,
                        summary,
                        external_execution_id: external_execution_id.or(Some(rec.id)),
                    });
                }
                Some(JobResult::Failed { message, .. }) => return Err(message),
                Some(JobResult::TimedOut) | None => {
                    let mut m = format!(
                        "The Lambda function {function} did not report a result for job {} within {REPLY_TIMEOUT_MINUTES} minutes (PutJobSuccessResult or PutJobFailureResult)",
                        rec.id
                    );
                    if let Some(e) = &rec.function_error {
                        m.push_str(&format!("; its invocation failed: {e}"));
                    }
                    return Err(m);
                }
            }
        }
    }

    fn new_job(
        &self,
        job: &Job,
        account: &str,
        base: &Value,
        seq: u32,
        continuation_token: Option<String>,
    ) -> Result<JobRecord, String> {
        let a = &job.action;
        let now = self.jobs.now();
        let mut data = base.clone();
        if let (Some(t), Some(m)) = (&continuation_token, data.as_object_mut()) {
            m.insert("continuationToken".into(), Value::String(t.clone()));
        }
        let rec = JobRecord {
            id: new_execution_id(),
            account_id: account.to_owned(),
            pipeline: job.pipeline.clone(),
            execution_id: a.execution_id.clone(),
            stage: a.stage.clone(),
            action: a.action.clone(),
            attempt: a.attempt,
            seq,
            continuation_token,
            data,
            status: JobStatus::Created,
            created_at: now,
            reply_deadline: now.plus_minutes(REPLY_TIMEOUT_MINUTES),
            function_error: None,
            result: None,
        };
        self.jobs.create(&rec).map_err(|e| e.to_string())?;
        Ok(rec)
    }

    /// Invokes the function with the job; `Some(error)` when the function raised.
    fn invoke(
        &self,
        app: &App,
        target: &str,
        function: &str,
        event: &Value,
    ) -> Result<Option<String>, String> {
        let req = crate::events::invoke_request(
            app,
            target,
            function,
            event.to_string().into_bytes(),
            InvocationType::RequestResponse,
        )
        .ok_or_else(|| format!("The Lambda function {function} does not exist in {target}"))?;
        match self.rt.block_on(app.runtime.invoke(req)) {
            Ok(r) => Ok(r
                .function_error
                .map(|_| String::from_utf8_lossy(&r.payload).into_owned())),
            Err(e) => Ok(Some(e.to_string())),
        }
    }

    /// Puts an input artefact's zip where the function can read it; `(name, key)`.
    fn place_input(
        &self,
        app: &App,
        bucket: &str,
        pipeline: &str,
        a: &Artifact,
    ) -> Result<(String, String), String> {
        let d: Digest = a
            .location
            .parse()
            .map_err(|_| format!("artefact '{}' has no store location", a.name))?;
        let key = artifact_key(pipeline, &a.name, &d.hex());
        place_artifact(app, &self.artefacts, bucket, &key, &d)
            .map_err(|e| format!("input artefact '{}': {e}", a.name))?;
        Ok((a.name.clone(), key))
    }

    /// The object the function uploaded for an output artefact, into the artefact store.
    fn take_output(
        &self,
        app: &App,
        bucket: &str,
        name: &str,
        key: &str,
    ) -> Result<Artifact, String> {
        let file = bucket_dir(&app.data_dir, bucket).join(key);
        if !file.is_file() {
            return Err(format!(
                "the function did not upload output artefact '{name}' to s3://{bucket}/{key}"
            ));
        }
        let blob = self
            .artefacts
            .put_file(&file)
            .map_err(|e| format!("cannot store output artefact '{name}': {e}"))?;
        Ok(Artifact {
            name: name.to_owned(),
            location: format!("sha256:{}", blob.digest.hex()),
        })
    }
}
