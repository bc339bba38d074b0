//! CodeDeploy (JSON 1.1, `X-Amz-Target: CodeDeploy_20141006.<Operation>`):
//! `PutLifecycleEventHookExecutionStatus` (how a hook function decides its lifecycle event) and
//! `GetDeployment`.

use slipway_deploy::traffic::{
    Deployment, DeploymentConfig, DeploymentError, DeploymentStatus, FailureReason, HookStatus,
};
use slipway_engine::EngineError;

use crate::wire::{
    self, AwsError, DeploymentInfo, ErrorInformation, GetDeploymentInput, GetDeploymentOutput,
    HttpResponse, JSON_1_1, PutLifecycleEventHookExecutionStatusInput,
    PutLifecycleEventHookExecutionStatusOutput,
};
use crate::{App, Req};

pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let op = req
        .header(wire::X_AMZ_TARGET)
        .and_then(|t| t.strip_prefix(wire::CODEDEPLOY_TARGET))
        .unwrap_or("");
    match op {
        "PutLifecycleEventHookExecutionStatus" => put_hook_status(app, req),
        "GetDeployment" => get_deployment(app, req),
        other => Err(AwsError::codedeploy(
            "UnknownOperationException",
            format!("Unknown operation {other:?}"),
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, AwsError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| AwsError::codedeploy("SerializationException", e.to_string()))
}

fn engine_error(e: &EngineError) -> AwsError {
    match e {
        EngineError::DeploymentNotFound { id } => AwsError::codedeploy(
            "DeploymentDoesNotExistException",
            format!("Deployment {id} does not exist"),
        ),
        EngineError::Deployment(DeploymentError::LifecycleEventAlreadyCompleted { .. })
        | EngineError::Deployment(DeploymentError::NotAllowed { .. }) => {
            AwsError::codedeploy("LifecycleEventAlreadyCompletedException", e.to_string())
        }
        EngineError::Deployment(DeploymentError::InvalidHookExecutionId { .. }) => {
            AwsError::codedeploy(
                "InvalidLifecycleEventHookExecutionIdException",
                e.to_string(),
            )
        }
        other => AwsError::internal(wire::Service::CodeDeploy, other),
    }
}

fn put_hook_status(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let input: PutLifecycleEventHookExecutionStatusInput = parse(req)?;
    let deployment_id = input.deployment_id.ok_or_else(|| {
        AwsError::codedeploy(
            "DeploymentIdRequiredException",
            "A deployment ID must be specified.",
        )
    })?;
    let execution_id = input.lifecycle_event_hook_execution_id.ok_or_else(|| {
        AwsError::codedeploy(
            "InvalidLifecycleEventHookExecutionIdException",
            "A lifecycle event hook execution ID must be specified.",
        )
    })?;
    let status = match input.status.as_deref() {
        Some("Succeeded") => HookStatus::Succeeded,
        Some("Failed") => HookStatus::Failed,
        other => {
            return Err(AwsError::codedeploy(
                "InvalidLifecycleEventHookExecutionStatusException",
                format!(
                    "The result status {} is not valid: only Succeeded or Failed",
                    other.unwrap_or("(none)")
                ),
            ));
        }
    };
    app.drive(|e| {
        e.put_lifecycle_event_hook_execution_status(&deployment_id, &execution_id, status)
    })
    .map_err(|e| engine_error(&e))?;
    Ok(wire::json(
        200,
        JSON_1_1,
        &PutLifecycleEventHookExecutionStatusOutput {
            lifecycle_event_hook_execution_id: execution_id,
        },
    ))
}

fn get_deployment(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let input: GetDeploymentInput = parse(req)?;
    let id = input.deployment_id.ok_or_else(|| {
        AwsError::codedeploy(
            "DeploymentIdRequiredException",
            "A deployment ID must be specified.",
        )
    })?;
    let d = app
        .engine
        .deployment(&id)
        .map_err(|e| engine_error(&e))?
        .ok_or_else(|| {
            AwsError::codedeploy(
                "DeploymentDoesNotExistException",
                format!("Deployment {id} does not exist"),
            )
        })?;
    Ok(wire::json(
        200,
        JSON_1_1,
        &GetDeploymentOutput {
            deployment_info: info(&d),
        },
    ))
}

/// The predefined configuration's name (custom ones are reported by their schedule too).
pub(crate) fn config_name(c: DeploymentConfig) -> String {
    match c {
        DeploymentConfig::AllAtOnce => "CodeDeployDefault.LambdaAllAtOnce".to_owned(),
        DeploymentConfig::TimeBasedCanary {
            canary_percentage: p,
            canary_interval_minutes: m,
        } => format!("CodeDeployDefault.LambdaCanary{p}Percent{m}Minutes"),
        DeploymentConfig::TimeBasedLinear {
            linear_percentage: p,
            linear_interval_minutes: m,
        } => format!(
            "CodeDeployDefault.LambdaLinear{p}PercentEvery{m}Minute{}",
            if m == 1 { "" } else { "s" }
        ),
    }
}

fn info(d: &Deployment) -> DeploymentInfo {
    let status = match d.status {
        DeploymentStatus::Created => "Created",
        DeploymentStatus::Queued => "Queued",
        DeploymentStatus::InProgress => "InProgress",
        DeploymentStatus::Baking => "Baking",
        DeploymentStatus::Succeeded => "Succeeded",
        DeploymentStatus::Failed => "Failed",
        DeploymentStatus::Stopped => "Stopped",
        DeploymentStatus::Ready => "Ready",
    };
    let error_information = d.failure.as_ref().map(|f| match f {
        FailureReason::HookFailed { event } => ErrorInformation {
            code: "HOOK_EXECUTION_FAILURE".to_owned(),
            message: format!("The {event} hook failed"),
        },
        FailureReason::HookTimedOut { event } => ErrorInformation {
            code: "TIMEOUT".to_owned(),
            message: format!("The {event} hook did not report a status in time"),
        },
        FailureReason::AlarmActive { alarm } => ErrorInformation {
            code: "ALARM_ACTIVE".to_owned(),
            message: format!("One or more alarms have been activated: {alarm}"),
        },
        FailureReason::StoppedByOperator | FailureReason::RolledBackByOperator => {
            ErrorInformation {
                code: "MANUAL_STOP".to_owned(),
                message: f.to_string(),
            }
        }
    });
    DeploymentInfo {
        deployment_id: d.id.clone(),
        application_name: d.function.clone(),
        deployment_group_name: format!("{}-{}", d.function, d.alias),
        deployment_config_name: config_name(d.config),
        status: status.to_owned(),
        create_time: d.created_ms as f64 / 1000.0,
        complete_time: d.completed_ms.map(|ms| ms as f64 / 1000.0),
        error_information,
        compute_platform: "Lambda",
        creator: "user",
    }
}
