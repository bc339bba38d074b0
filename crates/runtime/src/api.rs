//! The Lambda Runtime API, one server per execution environment.
//!
//! Each environment gets its own listener on `127.0.0.1:<ephemeral>`, handed to the process as
//! `AWS_LAMBDA_RUNTIME_API`. The protocol (LDG `runtimes-api`, and AWS's runtime interface
//! emulator where the guide is silent):
//!
//! | request | answer |
//! | --- | --- |
//! | `GET  /2018-06-01/runtime/invocation/next` | long poll; 200 with the event as body and the `Lambda-Runtime-*` headers, always `Content-Type: application/json` |
//! | `POST /2018-06-01/runtime/invocation/{id}/response` | 202 `{"status":"OK"}`; 400 `InvalidRequestID` for an id that is not the invocation in flight; 403 `InvalidStateTransition` when nothing may be answered (during init, or the id was already answered); 413 `RequestEntityTooLarge` over 6 MB |
//! | `POST /2018-06-01/runtime/invocation/{id}/error` | as `/response`; `Lambda-Runtime-Function-Error-Type` names the error |
//! | `POST /2018-06-01/runtime/init/error` | 202 during init; 403 `InvalidStateTransition` after |
//! | anything else | 404 (unknown path) or 405 (known path, wrong method) |
//!
//! Error bodies are `{"errorMessage": "...", "errorType": "..."}`. The server never blocks the
//! invoker: it turns each runtime request into an [`ApiEvent`] on a channel that the
//! environment's current invocation reads.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::{JoinHandle, JoinSet};

pub const PATH_PREFIX: &str = "/2018-06-01/runtime/";
pub const HEADER_REQUEST_ID: &str = "Lambda-Runtime-Aws-Request-Id";
pub const HEADER_DEADLINE_MS: &str = "Lambda-Runtime-Deadline-Ms";
pub const HEADER_FUNCTION_ARN: &str = "Lambda-Runtime-Invoked-Function-Arn";
pub const HEADER_TRACE_ID: &str = "Lambda-Runtime-Trace-Id";
pub const HEADER_CLIENT_CONTEXT: &str = "Lambda-Runtime-Client-Context";
pub const HEADER_COGNITO_IDENTITY: &str = "Lambda-Runtime-Cognito-Identity";
pub const HEADER_ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type";

/// Largest response or error body a runtime may post (6 MB, as for synchronous invokes).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// One event, as `/next` hands it to the runtime.
#[derive(Clone, Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: u64,
    pub(crate) invoked_function_arn: String,
    pub(crate) trace_id: String,
    /// JSON text (already decoded from the caller's base64).
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<String>,
    pub(crate) payload: Bytes,
}

/// What the runtime told the platform.
#[derive(Debug)]
pub(crate) enum ApiEvent {
    /// The first `/next`: initialisation is over.
    Ready,
    InitError {
        error_type: Option<String>,
        body: Bytes,
    },
    Response {
        request_id: String,
        body: Bytes,
    },
    Error {
        request_id: String,
        error_type: Option<String>,
        body: Bytes,
    },
    /// The runtime posted a response larger than [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge {
        request_id: String,
    },
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// The process has not called `/next` yet.
    Init,
    /// No invocation is in flight.
    Ready,
    /// This invocation was handed out and not answered yet.
    Invoking(String),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    pending: Option<Invocation>,
    /// The last invocation answered, to tell "answered twice" (403) from "unknown" (400).
    last_answered: Option<String>,
}

/// The state one environment's server shares with the invoker.
pub(crate) struct ApiShared {
    state: Mutex<State>,
    wake: Notify,
    events: mpsc::UnboundedSender<ApiEvent>,
}

impl ApiShared {
    pub(crate) fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<ApiEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Self {
            state: Mutex::new(State {
                phase: Phase::Init,
                pending: None,
                last_answered: None,
            }),
            wake: Notify::new(),
            events,
        });
        (shared, rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue the invocation that the parked (or next) `/next` will hand out.
    pub(crate) fn deliver(&self, invocation: Invocation) {
        self.lock().pending = Some(invocation);
        self.wake.notify_one();
    }

    fn emit(&self, event: ApiEvent) {
        // The receiver is gone only when the environment is being torn down.
        let _ = self.events.send(event);
    }

    async fn next(&self) -> Response<Full<Bytes>> {
        loop {
            let notified = self.wake.notified();
            {
                let mut state = self.lock();
                if state.phase == Phase::Init {
                    state.phase = Phase::Ready;
                    self.emit(ApiEvent::Ready);
                }
                if let Some(invocation) = state.pending.take() {
                    state.phase = Phase::Invoking(invocation.request_id.clone());
                    return next_response(invocation);
                }
            }
            notified.await;
        }
    }

    /// Checks that `id` may be answered now and, if so, ends the invocation.
    fn answer(&self, id: &str) -> Result<(), Response<Full<Bytes>>> {
        let mut state = self.lock();
        match &state.phase {
            Phase::Invoking(current) if current == id => {
                state.phase = Phase::Ready;
                state.last_answered = Some(id.to_owned());
                Ok(())
            }
            Phase::Init => Err(invalid_state("Init", "Invoke response")),
            Phase::Ready | Phase::Invoking(_) if state.last_answered.as_deref() == Some(id) => {
                Err(invalid_state("InvocationResponse", "InvocationResponse"))
            }
            Phase::Ready | Phase::Invoking(_) => Err(error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "Invalid request ID",
            )),
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let Some(rest) = path.strip_prefix(PATH_PREFIX) else {
            return not_found();
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match (segments.as_slice(), request.method()) {
            (["invocation", "next"], &Method::GET) => self.next().await,
            (["invocation", id, kind @ ("response" | "error")], &Method::POST) => {
                let id = (*id).to_owned();
                let is_error = *kind == "error";
                let error_type = header(&request, HEADER_ERROR_TYPE);
                let body = match read_body(request).await {
                    Ok(body) => body,
                    Err(BodyError::TooLarge) => {
                        if self.answer(&id).is_ok() {
                            self.emit(ApiEvent::ResponseTooLarge { request_id: id });
                        }
                        return error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "RequestEntityTooLarge",
                            &format!(
                                "Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                            ),
                        );
                    }
                    Err(BodyError::Read) => {
                        return error_response(
                            StatusCode::BAD_REQUEST,
                            "InvalidRequestBody",
                            "Could not read the request body",
                        );
                    }
                };
                if let Err(refusal) = self.answer(&id) {
                    return refusal;
                }
                self.emit(if is_error {
                    ApiEvent::Error {
                        request_id: id,
                        error_type,
                        body,
                    }
                } else {
                    ApiEvent::Response {
                        request_id: id,
                        body,
                    }
                });
                accepted()
            }
            (["init", "error"], &Method::POST) => {
                let error_type = header(&request, HEADER_ERROR_TYPE);
                let body = read_body(request).await.unwrap_or_default();
                let mut state = self.lock();
                if state.phase != Phase::Init {
                    return invalid_state("Ready", "InitError");
                }
                // Nothing more may be answered: the environment is going away.
                state.phase = Phase::Ready;
                self.emit(ApiEvent::InitError { error_type, body });
                accepted()
            }
            (["invocation", "next"], _)
            | (["invocation", _, "response" | "error"], _)
            | (["init", "error"], _) => error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "Method not allowed",
            ),
            _ => not_found(),
        }
    }
}

enum BodyError {
    TooLarge,
    Read,
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, BodyError> {
    let limited = Limited::new(request.into_body(), MAX_RESPONSE_BYTES);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Read),
    }
}

fn header(request: &Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn accepted() -> Response<Full<Bytes>> {
    json_response(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    json_response(status, Bytes::from(body.to_string()))
}

fn invalid_state(from: &str, to: &str) -> Response<Full<Bytes>> {
    error_response(
        StatusCode::FORBIDDEN,
        "InvalidStateTransition",
        &format!("State transition from {from} to {to} failed for runtime."),
    )
}

fn not_found() -> Response<Full<Bytes>> {
    error_response(StatusCode::NOT_FOUND, "NotFound", "Not found")
}

fn next_response(invocation: Invocation) -> Response<Full<Bytes>> {
    let mut response = json_response(StatusCode::OK, invocation.payload);
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        // Values come from the platform or were validated by the invoker; a value that is not
        // a valid header is dropped rather than sent malformed.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put(HEADER_REQUEST_ID, &invocation.request_id);
    put(HEADER_DEADLINE_MS, &invocation.deadline_ms.to_string());
    put(HEADER_FUNCTION_ARN, &invocation.invoked_function_arn);
    put(HEADER_TRACE_ID, &invocation.trace_id);
    if let Some(context) = &invocation.client_context {
        put(HEADER_CLIENT_CONTEXT, context);
    }
    if let Some(identity) = &invocation.cognito_identity {
        put(HEADER_COGNITO_IDENTITY, identity);
    }
    response
}

/// A running Runtime API listener; dropping it closes the listener and every connection.
pub(crate) struct ApiServer {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn serve(shared: Arc<ApiShared>) -> std::io::Result<ApiServer> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Owned by this task, so aborting it aborts every connection too.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            tracing::warn!(%addr, %error, "runtime API listener failed");
                            break;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(shared.handle(request).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok(ApiServer { addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One HTTP/1.1 request on a fresh connection; returns (status, head, body).
    async fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let text = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(text.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    fn invocation(id: &str) -> Invocation {
        Invocation {
            request_id: id.to_owned(),
            deadline_ms: 1_542_409_706_888,
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".to_owned(),
            trace_id: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                .to_owned(),
            client_context: Some(r#"{"custom":{"a":"b"}}"#.to_owned()),
            cognito_identity: None,
            payload: Bytes::from_static(br#"{"k":1}"#),
        }
    }

    #[tokio::test]
    async fn speaks_the_runtime_api() {
        let (shared, mut events) = ApiShared::new();
        let server = serve(shared.clone()).await.unwrap();
        let addr = server.addr;
        let base = "/2018-06-01/runtime";

        // During init nothing may be answered.
        let (status, _, body) =
            request(addr, "POST", &format!("{base}/invocation/x/response"), "{}").await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body.contains(r#""errorType":"InvalidStateTransition""#),
            "{body}"
        );

        // /next long-polls until an invocation is delivered.
        let next = tokio::spawn(request(
            addr,
            "GET",
            "/2018-06-01/runtime/invocation/next",
            "",
        ));
        assert!(matches!(events.recv().await, Some(ApiEvent::Ready)));
        shared.deliver(invocation("id-1"));
        let (status, head, body) = next.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"k":1}"#);
        let head = head.to_ascii_lowercase();
        for expected in [
            "content-type: application/json",
            "lambda-runtime-aws-request-id: id-1",
            "lambda-runtime-deadline-ms: 1542409706888",
            "lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:f",
            "lambda-runtime-trace-id: root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;parent=9a9197af755a6419;sampled=1",
            r#"lambda-runtime-client-context: {"custom":{"a":"b"}}"#,
        ] {
            assert!(head.contains(expected), "missing {expected:?} in {head}");
        }
        assert!(!head.contains("lambda-runtime-cognito-identity"));

        // init/error is refused after init.
        let (status, _, _) = request(addr, "POST", &format!("{base}/init/error"), "{}").await;
        assert_eq!(status, 403);

        // Unknown id: 400; the right one: 202; the same again: 403.
        let (status, _, body) = request(
            addr,
            "POST",
            &format!("{base}/invocation/other/response"),
            "{}",
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#
        );
        let (status, _, body) = request(
            addr,
            "POST",
            &format!("{base}/invocation/id-1/response"),
            "42",
        )
        .await;
        assert_eq!((status, body.as_str()), (202, r#"{"status":"OK"}"#));
        match events.recv().await {
            Some(ApiEvent::Response { request_id, body }) => {
                assert_eq!((request_id.as_str(), &body[..]), ("id-1", &b"42"[..]));
            }
            other => panic!("unexpected {other:?}"),
        }
        let (status, _, _) =
            request(addr, "POST", &format!("{base}/invocation/id-1/error"), "{}").await;
        assert_eq!(status, 403);

        // Wrong method, unknown path.
        let (status, _, _) = request(addr, "POST", &format!("{base}/invocation/next"), "").await;
        assert_eq!(status, 405);
        let (status, _, _) = request(addr, "GET", "/2018-06-01/nothing", "").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn init_error_is_accepted_during_init() {
        let (shared, mut events) = ApiShared::new();
        let server = serve(shared).await.unwrap();
        let (status, _, _) = request(
            server.addr,
            "POST",
            "/2018-06-01/runtime/init/error",
            r#"{"errorMessage":"m","errorType":"Runtime.ImportModuleError"}"#,
        )
        .await;
        assert_eq!(status, 202);
        assert!(matches!(
            events.recv().await,
            Some(ApiEvent::InitError { .. })
        ));
    }
}
