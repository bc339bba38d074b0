//! CodePipeline (JSON 1.1, `X-Amz-Target: CodePipeline_20150709.<Operation>`): the job
//! worker's side, what a Lambda invoke action's function calls — `PutJobSuccessResult`,
//! `PutJobFailureResult` and `GetJobDetails` — on the jobs of `invoke_action.rs`
//! ([`slipway_pipeline::jobs`]).
//!
//! Errors as CodePipeline's API reference lists them: an unknown job ID is
//! `JobNotFoundException`, a job that already has a result (or timed out) is
//! `InvalidJobStateException`, a missing member or `outputVariables` together with a
//! `continuationToken` is `ValidationException`.

use slipway_pipeline::jobs::{JobError, JobResult};

use crate::wire::{
    self, AwsError, GetJobDetailsInput, GetJobDetailsOutput, HttpResponse, JSON_1_1, JobDetails,
    PutJobFailureResultInput, PutJobSuccessResultInput, Service,
};
use crate::{App, Req};

pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let op = req
        .header(wire::X_AMZ_TARGET)
        .and_then(|t| t.strip_prefix(wire::CODEPIPELINE_TARGET))
        .unwrap_or("");
    match op {
        "PutJobSuccessResult" => put_success(app, req),
        "PutJobFailureResult" => put_failure(app, req),
        "GetJobDetails" => get_job_details(app, req),
        other => Err(AwsError::codepipeline(
            "UnknownOperationException",
            format!("Slipway's CodePipeline endpoint does not serve {other:?}"),
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, AwsError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| AwsError::codepipeline("SerializationException", e.to_string()))
}

fn job_id(id: Option<String>) -> Result<String, AwsError> {
    id.filter(|s| !s.is_empty()).ok_or_else(|| {
        AwsError::codepipeline(
            "ValidationException",
            "1 validation error detected: Value null at 'jobId' failed to satisfy constraint: Member must not be null",
        )
    })
}

fn job_error(e: &JobError) -> AwsError {
    match e {
        JobError::NotFound(id) => {
            AwsError::codepipeline("JobNotFoundException", format!("Job {id} not found"))
        }
        JobError::InvalidState { .. } => {
            AwsError::codepipeline("InvalidJobStateException", e.to_string())
        }
        JobError::Validation(m) => AwsError::codepipeline("ValidationException", m.clone()),
        JobError::State(_) | JobError::Corrupt { .. } => {
            AwsError::internal(Service::CodePipeline, e)
        }
    }
}

fn board(app: &App) -> Result<&slipway_pipeline::jobs::JobBoard, AwsError> {
    app.pipelines
        .get()
        .map(|p| p.jobs.as_ref())
        .ok_or_else(|| AwsError::internal(Service::CodePipeline, &"the pipelines are not started"))
}

fn empty() -> HttpResponse {
    wire::response(200, JSON_1_1, "{}")
}

fn put_success(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let input: PutJobSuccessResultInput = parse(req)?;
    let id = job_id(input.job_id)?;
    let details = input.execution_details;
    let result = JobResult::Succeeded {
        continuation_token: input.continuation_token,
        output_variables: input.output_variables.unwrap_or_default(),
        summary: details.as_ref().and_then(|d| d.summary.clone()),
        external_execution_id: details.and_then(|d| d.external_execution_id),
    };
    board(app)?.report(&id, result).map_err(|e| job_error(&e))?;
    Ok(empty())
}

fn put_failure(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let input: PutJobFailureResultInput = parse(req)?;
    let id = job_id(input.job_id)?;
    let fd = input.failure_details.ok_or_else(|| {
        AwsError::codepipeline(
            "ValidationException",
            "1 validation error detected: Value null at 'failureDetails' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let (Some(failure_type), Some(message)) = (fd.type_, fd.message) else {
        return Err(AwsError::codepipeline(
            "ValidationException",
            "failureDetails needs type and message",
        ));
    };
    let result = JobResult::Failed {
        failure_type,
        message,
        external_execution_id: fd.external_execution_id,
    };
    board(app)?.report(&id, result).map_err(|e| job_error(&e))?;
    Ok(empty())
}

fn get_job_details(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let input: GetJobDetailsInput = parse(req)?;
    let id = job_id(input.job_id)?;
    let rec = board(app)?
        .get(&id)
        .map_err(|e| job_error(&e))?
        .ok_or_else(|| job_error(&JobError::NotFound(id.clone())))?;
    Ok(wire::json(
        200,
        JSON_1_1,
        &GetJobDetailsOutput {
            job_details: JobDetails {
                id: rec.id,
                data: rec.data,
                account_id: rec.account_id,
            },
        },
    ))
}
