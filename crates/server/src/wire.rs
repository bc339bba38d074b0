//! The wire: every path, header, target prefix, JSON body shape and XML document of the
//! AWS-compatible endpoints, in one place, as botocore's service models spell them
//! (`botocore/data/{lambda/2015-03-31,codedeploy/2014-10-06,cloudformation/2010-05-15,
//! s3/2006-03-01}/service-2.json`).
//!
//! Five protocols share one port, as they would share one endpoint URL
//! (`AWS_ENDPOINT_URL`):
//!
//! - Lambda is REST-JSON: the operation is the method and path under `/2015-03-31/functions`;
//!   errors carry `x-amzn-ErrorType` and a `{"Type":"User","message":…}` body.
//! - CodeDeploy is JSON 1.1: `POST /` with `X-Amz-Target: CodeDeploy_20141006.<Operation>`;
//!   errors are `{"__type":…,"message":…}` with status 400. CodePipeline
//!   (`CodePipeline_20150709.<Operation>`) is the same protocol.
//! - CloudFormation is the query protocol: a form body `Action=…&Version=2010-05-15&…`, XML
//!   answers, errors as `<ErrorResponse><Error><Type>Sender</Type><Code>…`.
//! - S3 is REST-XML, path-style (`/bucket/key`: botocore addresses an IP endpoint that way),
//!   errors as `<Error><Code>NoSuchKey</Code>…`, and none for `HEAD`.
//! - SNS (`sns/2010-03-31`) is the query protocol too, its errors in SNS's namespace; an
//!   unsigned SNS request would read as CloudFormation, so SNS needs the signature's scope.
//! - SQS (`sqs/2012-11-05`) is JSON 1.0: `X-Amz-Target: AmazonSQS.<Operation>`, errors
//!   `{"__type":"com.amazonaws.sqs#…"}` plus the query code in `x-amzn-query-error`.
//!
//! A request is routed by the service in its SigV4 credential scope
//! (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`), which every botocore client sends; an
//! unsigned request falls back to its shape (target header, form action, Lambda path). The
//! signature itself is verified before any service sees the request (`sigv4.rs`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use slipway_model::civil::civil_from_days;
use std::collections::BTreeMap;

pub(crate) type HttpResponse = Response<Full<Bytes>>;

pub(crate) const X_AMZ_TARGET: &str = "x-amz-target";
pub(crate) const X_AMZ_INVOCATION_TYPE: &str = "x-amz-invocation-type";
pub(crate) const X_AMZ_LOG_TYPE: &str = "x-amz-log-type";
pub(crate) const X_AMZ_CLIENT_CONTEXT: &str = "x-amz-client-context";
pub(crate) const X_AMZ_FUNCTION_ERROR: &str = "x-amz-function-error";
pub(crate) const X_AMZ_EXECUTED_VERSION: &str = "x-amz-executed-version";
pub(crate) const X_AMZ_LOG_RESULT: &str = "x-amz-log-result";
pub(crate) const X_AMZN_ERROR_TYPE: &str = "x-amzn-errortype";
pub(crate) const X_AMZN_REQUEST_ID: &str = "x-amzn-requestid";
pub(crate) const X_AMZ_REQUEST_ID: &str = "x-amz-request-id";

/// Every Lambda operation we serve lives under this path.
pub(crate) const LAMBDA_FUNCTIONS: &str = "/2015-03-31/functions";
/// `X-Amz-Target` prefix of CodeDeploy (JSON 1.1).
pub(crate) const CODEDEPLOY_TARGET: &str = "CodeDeploy_20141006.";
/// `X-Amz-Target` prefix of CodePipeline (JSON 1.1).
pub(crate) const CODEPIPELINE_TARGET: &str = "CodePipeline_20150709.";
pub(crate) const CFN_XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
pub(crate) const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
pub(crate) const JSON_1_1: &str = "application/x-amz-json-1.1";
pub(crate) const JSON_1_0: &str = "application/x-amz-json-1.0";
pub(crate) const SNS_XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// `X-Amz-Target` prefix of SQS (JSON 1.0, `AmazonSQS.SendMessage`).
pub(crate) const SQS_TARGET: &str = "AmazonSQS.";
/// SQS answers errors of its JSON protocol with the query protocol's code too
/// (`awsQueryCompatible`): `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender`.
pub(crate) const X_AMZN_QUERY_ERROR: &str = "x-amzn-query-error";

/// Which protocol answers a request (and shapes its errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Lambda,
    CodeDeploy,
    /// JSON 1.1 (`codepipeline.rs`): the job worker's operations.
    CodePipeline,
    CloudFormation,
    S3,
    /// Query protocol, XML answers (`sns.rs`).
    Sns,
    /// JSON 1.0 (`sqs.rs`).
    Sqs,
}

/// An error in the shape of the service that raised it: a stable code for clients, a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AwsError {
    pub(crate) service: Service,
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    /// S3 adds the bucket or key the error is about.
    pub(crate) resource: Option<(&'static str, String)>,
}

impl AwsError {
    pub(crate) fn new(
        service: Service,
        status: u16,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            service,
            status,
            code: code.to_owned(),
            message: message.into(),
            resource: None,
        }
    }

    pub(crate) fn lambda(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::new(Service::Lambda, status, code, message)
    }

    pub(crate) fn codedeploy(code: &str, message: impl Into<String>) -> Self {
        Self::new(Service::CodeDeploy, 400, code, message)
    }

    pub(crate) fn codepipeline(code: &str, message: impl Into<String>) -> Self {
        Self::new(Service::CodePipeline, 400, code, message)
    }

    pub(crate) fn cfn_validation(message: impl Into<String>) -> Self {
        Self::new(Service::CloudFormation, 400, "ValidationError", message)
    }

    /// Something went wrong on our side: the client learns only that; the log has the detail.
    pub(crate) fn internal(service: Service, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        let code = match service {
            Service::Lambda => "ServiceException",
            Service::CodeDeploy
            | Service::CodePipeline
            | Service::CloudFormation
            | Service::Sns
            | Service::Sqs => "InternalFailure",
            Service::S3 => "InternalError",
        };
        Self::new(service, 500, code, "An internal error occurred.")
    }

    pub(crate) fn into_response(self, head: bool, request_id: &str) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (content_type, body) = match self.service {
            Service::Lambda => (
                "application/json",
                serde_json::json!({"Type": "User", "message": self.message}).to_string(),
            ),
            Service::CodeDeploy | Service::CodePipeline => (
                JSON_1_1,
                serde_json::json!({"__type": self.code, "message": self.message}).to_string(),
            ),
            Service::Sqs => (
                JSON_1_0,
                serde_json::json!({"__type": format!("com.amazonaws.sqs#{}", self.code), "message": self.message}).to_string(),
            ),
            Service::CloudFormation | Service::Sns => {
                let mut x = Xml::new();
                x.open_ns(
                    "ErrorResponse",
                    if self.service == Service::Sns {
                        SNS_XMLNS
                    } else {
                        CFN_XMLNS
                    },
                );
                x.open("Error");
                x.leaf(
                    "Type",
                    if self.status < 500 {
                        "Sender"
                    } else {
                        "Receiver"
                    },
                );
                x.leaf("Code", &self.code);
                x.leaf("Message", &self.message);
                x.close("Error");
                x.leaf("RequestId", request_id);
                x.close("ErrorResponse");
                ("text/xml", x.finish())
            }
            Service::S3 => {
                let mut x = Xml::new();
                x.open("Error");
                x.leaf("Code", &self.code);
                x.leaf("Message", &self.message);
                if let Some((tag, value)) = &self.resource {
                    x.leaf(tag, value);
                }
                x.leaf("RequestId", request_id);
                x.close("Error");
                ("application/xml", x.finish())
            }
        };
        let mut r = if head {
            Response::new(Full::new(Bytes::new()))
        } else {
            Response::new(Full::new(Bytes::from(body)))
        };
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.service == Service::Lambda
            && let Ok(v) = HeaderValue::from_str(&self.code)
        {
            h.insert(X_AMZN_ERROR_TYPE, v);
        }
        if self.service == Service::Sqs
            && let Ok(v) = HeaderValue::from_str(&format!(
                "{};{}",
                crate::sqs::query_code(&self.code),
                if self.status < 500 {
                    "Sender"
                } else {
                    "Receiver"
                }
            ))
        {
            h.insert(X_AMZN_QUERY_ERROR, v);
        }
        r
    }
}

pub(crate) fn response(
    status: u16,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn json<T: Serialize>(
    status: u16,
    content_type: &'static str,
    value: &T,
) -> HttpResponse {
    let body = serde_json::to_vec(value).unwrap_or_default();
    response(status, content_type, body)
}

// ---------------------------------------------------------------------------------------------
// Lambda (REST-JSON).

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionConfiguration {
    pub(crate) function_name: String,
    pub(crate) function_arn: String,
    pub(crate) runtime: String,
    pub(crate) role: String,
    pub(crate) handler: String,
    pub(crate) code_size: u64,
    pub(crate) description: String,
    pub(crate) timeout: u32,
    pub(crate) memory_size: u32,
    pub(crate) last_modified: String,
    pub(crate) code_sha256: String,
    pub(crate) version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) environment: Option<EnvironmentResponse>,
    pub(crate) revision_id: String,
    pub(crate) state: &'static str,
    pub(crate) last_update_status: &'static str,
    pub(crate) package_type: &'static str,
    pub(crate) architectures: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EnvironmentResponse {
    pub(crate) variables: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionCodeLocation {
    pub(crate) repository_type: &'static str,
    pub(crate) location: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetFunctionResponse {
    pub(crate) configuration: FunctionConfiguration,
    pub(crate) code: FunctionCodeLocation,
    pub(crate) tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListVersionsByFunctionResponse {
    pub(crate) versions: Vec<FunctionConfiguration>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AliasRoutingConfiguration {
    #[serde(default)]
    pub(crate) additional_version_weights: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AliasConfiguration {
    pub(crate) alias_arn: String,
    pub(crate) name: String,
    pub(crate) function_version: String,
    pub(crate) description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) routing_config: Option<AliasRoutingConfiguration>,
    pub(crate) revision_id: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateAliasRequest {
    pub(crate) name: String,
    pub(crate) function_version: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) routing_config: Option<AliasRoutingConfiguration>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateAliasRequest {
    #[serde(default)]
    pub(crate) function_version: Option<String>,
    #[serde(default)]
    pub(crate) routing_config: Option<AliasRoutingConfiguration>,
    #[serde(default)]
    pub(crate) revision_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PublishVersionRequest {
    #[serde(default)]
    pub(crate) code_sha256: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) revision_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateFunctionCodeRequest {
    /// Base64 of the zip archive (a `blob` in the JSON protocol).
    #[serde(default)]
    pub(crate) zip_file: Option<String>,
    #[serde(default)]
    pub(crate) s3_bucket: Option<String>,
    #[serde(default)]
    pub(crate) s3_key: Option<String>,
    #[serde(default)]
    pub(crate) publish: bool,
    #[serde(default)]
    pub(crate) dry_run: bool,
}

// ---------------------------------------------------------------------------------------------
// CodeDeploy (JSON 1.1).

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutLifecycleEventHookExecutionStatusInput {
    #[serde(default)]
    pub(crate) deployment_id: Option<String>,
    #[serde(default)]
    pub(crate) lifecycle_event_hook_execution_id: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutLifecycleEventHookExecutionStatusOutput {
    pub(crate) lifecycle_event_hook_execution_id: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetDeploymentInput {
    #[serde(default)]
    pub(crate) deployment_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetDeploymentOutput {
    pub(crate) deployment_info: DeploymentInfo,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentInfo {
    pub(crate) deployment_id: String,
    pub(crate) application_name: String,
    pub(crate) deployment_group_name: String,
    pub(crate) deployment_config_name: String,
    pub(crate) status: String,
    /// Epoch seconds (JSON protocols send timestamps as numbers).
    pub(crate) create_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) complete_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_information: Option<ErrorInformation>,
    pub(crate) compute_platform: &'static str,
    pub(crate) creator: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ErrorInformation {
    pub(crate) code: String,
    pub(crate) message: String,
}

// ---------------------------------------------------------------------------------------------
// CodePipeline (JSON 1.1, `CodePipeline_20150709.<Operation>`), as
// `codepipeline/2015-07-09/service-2.json` names the members: what a job worker (a Lambda
// invoke action's function) calls.

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutJobSuccessResultInput {
    #[serde(default)]
    pub(crate) job_id: Option<String>,
    #[serde(default)]
    pub(crate) continuation_token: Option<String>,
    #[serde(default)]
    pub(crate) execution_details: Option<ExecutionDetails>,
    /// (`currentRevision`, which matters to custom source actions only, is accepted and not
    /// read.)
    #[serde(default)]
    pub(crate) output_variables: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecutionDetails {
    #[serde(default)]
    pub(crate) summary: Option<String>,
    /// (`percentComplete` is accepted and not read.)
    #[serde(default)]
    pub(crate) external_execution_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutJobFailureResultInput {
    #[serde(default)]
    pub(crate) job_id: Option<String>,
    #[serde(default)]
    pub(crate) failure_details: Option<FailureDetails>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FailureDetails {
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) external_execution_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetJobDetailsInput {
    #[serde(default)]
    pub(crate) job_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetJobDetailsOutput {
    pub(crate) job_details: JobDetails,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobDetails {
    pub(crate) id: String,
    pub(crate) data: serde_json::Value,
    pub(crate) account_id: String,
}

// ---------------------------------------------------------------------------------------------
// SQS (JSON 1.0, `AmazonSQS.<Operation>`), as `sqs/2012-11-05/service-2.json` names the members.

/// A message attribute as sent and received (`BinaryValue` is base64 in JSON).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MessageAttributeValue {
    #[serde(default)]
    pub(crate) data_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) binary_value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct GetQueueUrlRequest {
    #[serde(default, rename = "QueueName")]
    pub(crate) queue_name: Option<String>,
    #[serde(default, rename = "QueueOwnerAWSAccountId")]
    pub(crate) queue_owner_aws_account_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetQueueUrlResult {
    pub(crate) queue_url: String,
}

/// `SendMessage`, and one entry of `SendMessageBatch` (which adds `Id`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendMessageRequest {
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) message_body: Option<String>,
    #[serde(default)]
    pub(crate) delay_seconds: Option<u64>,
    #[serde(default)]
    pub(crate) message_attributes: BTreeMap<String, MessageAttributeValue>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendMessageResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub(crate) md5_of_message_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) md5_of_message_attributes: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendMessageBatchRequest {
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) entries: Vec<SendMessageRequest>,
}

/// `Successful`/`Failed` of the batch operations.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BatchResult<T> {
    pub(crate) successful: Vec<T>,
    pub(crate) failed: Vec<BatchResultErrorEntry>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BatchResultErrorEntry {
    pub(crate) id: String,
    pub(crate) sender_fault: bool,
    pub(crate) code: String,
    pub(crate) message: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BatchResultEntry {
    pub(crate) id: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReceiveMessageRequest {
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) max_number_of_messages: Option<u64>,
    #[serde(default)]
    pub(crate) visibility_timeout: Option<u64>,
    #[serde(default)]
    pub(crate) wait_time_seconds: Option<u64>,
    #[serde(default)]
    pub(crate) attribute_names: Vec<String>,
    #[serde(default)]
    pub(crate) message_system_attribute_names: Vec<String>,
    #[serde(default)]
    pub(crate) message_attribute_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReceiveMessageResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) messages: Vec<ReceivedMessage>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReceivedMessage {
    pub(crate) message_id: String,
    pub(crate) receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub(crate) md5_of_body: String,
    pub(crate) body: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) attributes: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) message_attributes: BTreeMap<String, MessageAttributeValue>,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) md5_of_message_attributes: Option<String>,
}

/// `DeleteMessage`, and one entry of `DeleteMessageBatch` (which adds `Id`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteMessageRequest {
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) receipt_handle: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteMessageBatchRequest {
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) entries: Vec<DeleteMessageRequest>,
}

/// `GetQueueAttributes` and `PurgeQueue` (which has only the URL).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueueAttributesRequest {
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) attribute_names: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetQueueAttributesResult {
    pub(crate) attributes: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// XML (CloudFormation query answers, S3).

/// A small XML writer: elements in order, text escaped.
pub(crate) struct Xml {
    out: String,
}

impl Xml {
    pub(crate) fn new() -> Xml {
        Xml {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    pub(crate) fn open_ns(&mut self, tag: &str, ns: &str) {
        self.out.push_str(&format!("<{tag} xmlns=\"{ns}\">"));
    }

    pub(crate) fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub(crate) fn leaf(&mut self, tag: &str, text: &str) {
        self.open(tag);
        escape_into(&mut self.out, text);
        self.close(tag);
    }

    pub(crate) fn leaf_opt(&mut self, tag: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encodings shared by the protocols.

/// Percent-decodes a path segment or query component (`+` is a space only in forms).
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and `/` when kept).
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `a=1&b=2` (a query string or a form body) into decoded pairs, in order.
pub(crate) fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, …` →
/// `(access key id, region, service)`.
pub(crate) fn credential_scope(authorization: &str) -> Option<(String, String, String)> {
    let rest = authorization.split_once("Credential=")?.1;
    let cred = rest.split([',', ' ']).next()?;
    let mut parts = cred.split('/');
    let akid = parts.next()?.to_owned();
    let _date = parts.next()?;
    let region = parts.next()?.to_owned();
    let service = parts.next()?.to_owned();
    Some((akid, region, service))
}

fn split_time(epoch_ms: u64) -> ((i64, u32, u32), i64, i64, i64, u64, i64) {
    let secs = (epoch_ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    (
        civil_from_days(days),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        epoch_ms % 1000,
        (days + 4).rem_euclid(7),
    )
}

/// `2026-12-01T20:14:42.123Z` (CloudFormation and S3 XML timestamps).
pub(crate) fn iso8601(epoch_ms: u64) -> String {
    let ((y, mo, d), h, mi, s, ms, _) = split_time(epoch_ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// `2026-12-01T20:14:42.123+0000` (Lambda's `LastModified`).
pub(crate) fn lambda_time(epoch_ms: u64) -> String {
    let ((y, mo, d), h, mi, s, ms, _) = split_time(epoch_ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}+0000")
}

/// `Tue, 01 Dec 2026 20:14:42 GMT` (HTTP dates: S3's `Last-Modified`).
pub(crate) fn http_date(epoch_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((y, mo, d), h, mi, s, _, wd) = split_time(epoch_ms);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[wd as usize],
        MONTHS[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            http_date(1_700_000_000_123),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(lambda_time(0), "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn encodings() {
        assert_eq!(percent_decode("a%2Fb+c", true), "a/b c");
        assert_eq!(percent_decode("a%2", false), "a%2");
        assert_eq!(percent_encode("a b/ü", true), "a%20b/%C3%BC");
        assert_eq!(
            parse_pairs("Action=DescribeStacks&StackName=my%20stack"),
            vec![
                ("Action".to_owned(), "DescribeStacks".to_owned()),
                ("StackName".to_owned(), "my stack".to_owned())
            ]
        );
        assert_eq!(
            credential_scope(
                "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=x"
            ),
            Some(("test".into(), "us-east-1".into(), "lambda".into()))
        );
    }
}
