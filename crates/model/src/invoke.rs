//! The contract between whatever calls a function (the gateway, the Lambda `Invoke` endpoint,
//! the deploy engine's hooks, event sources) and the runtime that runs it.
//!
//! Callers resolve aliases themselves (the gateway from its route-table snapshot, the control
//! plane from the store), so an [`InvokeRequest`] always names one concrete version; the alias
//! or version the caller used travels along only to be reported to the function as
//! `Lambda-Runtime-Invoked-Function-Arn` / `context.invoked_function_arn`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::function::{Location, Version};

/// `X-Amz-Invocation-Type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvocationType {
    #[default]
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RequestResponse" => Some(Self::RequestResponse),
            "Event" => Some(Self::Event),
            "DryRun" => Some(Self::DryRun),
            _ => None,
        }
    }

    /// The status Lambda's `Invoke` answers with: 200, 202 or 204.
    pub fn success_status(self) -> u16 {
        match self {
            Self::RequestResponse => 200,
            Self::Event => 202,
            Self::DryRun => 204,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeRequest {
    /// Physical function name.
    pub function: String,
    /// The version that runs.
    pub version: Version,
    /// The account and region the function lives in. `None` names the only function of that
    /// name (a runtime serving one template); a server holding several targets always sets it.
    pub location: Option<Location>,
    /// The qualifier the caller used (`live`, `7`), if any: it shapes the invoked function ARN.
    pub qualifier: Option<String>,
    pub payload: Bytes,
    pub invocation_type: InvocationType,
    /// `X-Amz-Client-Context`: base64 of a JSON document.
    pub client_context: Option<String>,
    /// Cognito identity JSON (`Lambda-Runtime-Cognito-Identity`).
    pub cognito_identity: Option<String>,
    /// X-Ray trace header; generated when absent.
    pub trace_id: Option<String>,
    /// `X-Amz-Log-Type: Tail`: return the last 4 KB of the invocation's log.
    pub log_tail: bool,
}

impl InvokeRequest {
    pub fn new(function: impl Into<String>, version: Version, payload: impl Into<Bytes>) -> Self {
        Self {
            function: function.into(),
            version,
            location: None,
            qualifier: None,
            payload: payload.into(),
            invocation_type: InvocationType::RequestResponse,
            client_context: None,
            cognito_identity: None,
            trace_id: None,
            log_tail: false,
        }
    }
}

/// `X-Amz-Function-Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FunctionError {
    /// The function raised, crashed, timed out or ran out of memory.
    Unhandled,
    /// A custom runtime reported the error itself through `/response` conventions.
    Handled,
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unhandled => "Unhandled",
            Self::Handled => "Handled",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeResponse {
    /// The function's result, or the error JSON when `function_error` is set.
    pub payload: Bytes,
    pub function_error: Option<FunctionError>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Version,
    /// Base64 of the last 4 KB of the log, when asked for (`X-Amz-Log-Result`).
    pub log_result: Option<String>,
    /// AWS request id of this invocation.
    pub request_id: String,
}

/// Failures of the invoke itself, before or around the function: each maps to one of Lambda's
/// API errors. A function that raises is *not* an `InvokeError`: it is a successful invoke with
/// [`InvokeResponse::function_error`] set, as on Lambda.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("Function not found: {function}")]
    NotFound { function: String },
    #[error("Rate Exceeded.")]
    TooManyRequests { reason: String },
    #[error("Request must be smaller than {limit} bytes for the {operation} operation")]
    RequestTooLarge {
        limit: usize,
        operation: &'static str,
    },
    #[error("Could not parse request body into json: {reason}")]
    InvalidRequestContent { reason: String },
    #[error("{message}")]
    InvalidRuntime { message: String },
    #[error("{message}")]
    Service { message: String },
}

impl InvokeError {
    /// The `x-amzn-ErrorType` / `__type` name and HTTP status Lambda uses for this error.
    pub fn aws_error(&self) -> (&'static str, u16) {
        match self {
            Self::NotFound { .. } => ("ResourceNotFoundException", 404),
            Self::TooManyRequests { .. } => ("TooManyRequestsException", 429),
            Self::RequestTooLarge { .. } => ("RequestTooLargeException", 413),
            Self::InvalidRequestContent { .. } => ("InvalidRequestContentException", 400),
            Self::InvalidRuntime { .. } => ("InvalidRuntimeException", 502),
            Self::Service { .. } => ("ServiceException", 500),
        }
    }
}

pub type InvokeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<InvokeResponse, InvokeError>> + Send + 'a>>;

/// Something that runs functions. The runtime implements it; the gateway and the control plane
/// hold it as `Arc<dyn Invoker>`, and unit tests of pure routing logic can use a fake.
pub trait Invoker: Send + Sync {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture<'_>;
}
