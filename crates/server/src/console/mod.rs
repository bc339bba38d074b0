//! The web console: server-rendered HTML on the control-plane port under `/console/`, with a
//! stylesheet and a small script compiled into the binary (`assets/`), nothing fetched from
//! elsewhere.
//!
//! # Pages
//!
//! | path | what |
//! | --- | --- |
//! | `/console/pipelines` | every pipeline with its latest execution |
//! | `/console/pipelines/{name}[?execution=ID]` | stages × actions of one execution (the latest by default), run / stop / retry / approve / reject, history |
//! | `/console/pipelines/{name}/stream[?execution=ID]` | the value stream of one execution (the latest by default): commit → builds and artefacts → stacks → function versions → the traffic each serves now per target (`stream.rs`) |
//! | `/console/deployments` | every target's deployments, newest first |
//! | `/console/deployments/{id}` | traffic over time (SVG), what is still to come, hooks, each alarm's datapoints with its threshold and state changes, outcome; skip-wait, continue, stop, roll back |
//! | `/console/stacks`, `/console/stacks/{account}/{region}/{stack}` | stacks; the execution that last deployed it, resources, outputs, change sets as diffs (`diff.rs`), events |
//! | `/console/aws/{target}/{stack}` | (the `aws` feature) an AWS target's stack: status, outputs, events (`aws.rs`) |
//! | `/console/functions`, `/console/functions/{account}/{region}/{name}` | functions; aliases, versions with the runtime's counters, per-minute charts of the last hour, the live log tail |
//! | `/console/find/{id}` | where an action's external ID (deployment, stack or function ARN) is shown |
//! | `/console/events?topic=T&since=G…` | `text/event-stream`: a `change` event for each topic `T` that moved past its generation `G` |
//! | `/console/logs/{account}/{region}/{name}?after=CURSOR` | JSON: the function's log lines written after the cursor, as HTML, and the next cursor |
//!
//! Any page with `?fragment=1` answers only its live region (`<div id="live">`), which is what
//! the script re-fetches. `/` redirects a browser (a `GET` without credentials asking for
//! HTML) here; everything else at `/` stays the AWS endpoints'.
//!
//! # Actions go through the control API
//!
//! Buttons are `POST` forms (they work without script; with it, `console.js` sends them with
//! `fetch` and the page updates in place). Each is turned into the same call the REST API
//! serves — [`crate::api::call`] for deployments and alias rollbacks,
//! [`crate::api_pipelines::route`] for pipelines — so the console can do nothing the API
//! cannot, and its errors are the API's (status and message). Reads use the API's wire types
//! where it has them (deployments, stacks) and the executor's and runtime's state otherwise.
//!
//! # Authentication
//!
//! Without a server token (loopback) every page is open, as the API is. With one, a request
//! is let in by `Authorization: Bearer TOKEN`, or by the cookie `slipway_console` holding the
//! token. The cookie is set (`HttpOnly; SameSite=Strict; Path=/console`) by the login form
//! (`POST /console/login`), or once by opening any console URL with `?token=TOKEN`, which
//! answers a redirect to the same URL without it (so the token does not stay in the address
//! bar or the history). Anything else gets the login form with 401. `POST`s must be same-origin:
//! one whose `Origin` is another host, or whose `Sec-Fetch-Site` says `cross-site`, is refused
//! (403) — on loopback too, since any web page can post to `127.0.0.1`.
//!
//! # Live updates
//!
//! Each page's live region names a topic (`pipeline/app`, `deployment/ID`, …) and the
//! generation it was rendered at (a hash of the store generations behind it).
//! `/console/events?topic=T&since=G[&topic=…&since=…]` checks its topics' generations every
//! [`POLL`] on a blocking thread (reading the store never blocks the engine's tasks) and
//! answers a `change` event for each topic that moved as soon as one has, or a comment after
//! [`HOLD`]. Each answer is a complete response (the server's bodies are whole) with `retry:`
//! (and `id:` when one topic is watched, for `Last-Event-ID`) — a long-poll in the
//! event-stream format. Streams end at shutdown.
//!
//! Browsers allow about six HTTP/1.1 connections per origin, and a held request occupies one,
//! so the tabs of a browser share a single one (`console.js`): they elect a leader with the
//! Web Locks API, the leader watches every tab's topics in one request and passes the changes
//! on a `BroadcastChannel`; when it closes another tab takes the lock.
//!
//! The function page's log tail (`logs/{account}/{region}/{name}`) sits outside the live
//! region: its generation is a cursor after the newest log record (`MS-N`), and the tab
//! appends `/console/logs/{account}/{region}/{name}?after=CURSOR` (at most [`TAIL_MAX`] lines
//! an answer, the page keeping at most `resources::TAIL_KEEP`).

#[cfg(feature = "aws")]
pub(crate) mod aws;
mod chart;
mod diff;
pub(crate) mod html;
mod pipelines;
mod resources;
mod stream;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request};
use serde_json::{Value, json};
use slipway_engine::providers::{FunctionRecord, load_function};
use slipway_model::function::Version;
use slipway_pipeline::exec::STATE_TARGET;
use slipway_store::state::Collection;

use crate::App;
use crate::api::types::{Deployment, DeploymentList, EventList, Stack, StackList, StackSummary};
use crate::wire::{self, HttpResponse};
use html::{Live, Section, esc, seg};

pub(crate) const PREFIX: &str = "/console/";
/// The cookie that carries the token.
pub(crate) const COOKIE: &str = "slipway_console";
/// How often a held event stream looks at its topic's generation.
pub(crate) const POLL: Duration = Duration::from_millis(250);
/// How long an event stream is held when nothing changes.
pub(crate) const HOLD: Duration = Duration::from_secs(15);
const MAX_FORM: usize = 64 * 1024;
/// Topics one event stream request may watch (a browser's tabs share one: `console.js`).
const MAX_TOPICS: usize = 64;
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");
const HTML: &str = "text/html; charset=utf-8";
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether the console serves this request: `/console…`, or `/` asked for by a browser.
pub(crate) fn wants(req: &Request<Incoming>) -> bool {
    let p = req.uri().path();
    if p == "/console" || p.starts_with(PREFIX) {
        return true;
    }
    p == "/"
        && req.method() == Method::GET
        && req.uri().query().is_none()
        && !req.headers().contains_key(header::AUTHORIZATION)
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

fn with_header(mut r: HttpResponse, name: header::HeaderName, value: &str) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

fn html_response(status: u16, body: String) -> HttpResponse {
    let r = wire::response(status, HTML, body);
    let r = with_header(r, header::CONTENT_SECURITY_POLICY, CSP);
    let r = with_header(r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    with_header(r, header::CACHE_CONTROL, "no-store")
}

fn redirect(to: &str) -> HttpResponse {
    with_header(wire::response(303, HTML, ""), header::LOCATION, to)
}

/// A page for an error: its status, a title and a message (escaped).
fn error_page(status: u16, title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/console/\">Back to the console</a></p>",
        esc(message)
    );
    html_response(
        status,
        html::page(title, Section::None, &[], None, &body, ""),
    )
}

fn login_page(status: u16, next: &str, wrong: bool) -> HttpResponse {
    let body = format!(
        "<form method=\"post\" action=\"/console/login\" class=\"login\">{}\
         <p>This server requires its token (<code>--token</code> or <code>SLIPWAY_TOKEN</code>).</p>\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"token\">Token</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" class=\"primary\">Sign in</button></form>",
        if wrong {
            "<p class=\"error\" role=\"alert\">That token is not this server's.</p>"
        } else {
            ""
        },
        esc(next)
    );
    html_response(
        status,
        html::page("Sign in", Section::None, &[], None, &body, ""),
    )
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| wire::percent_decode(v, false))
}

fn set_cookie(r: HttpResponse, token: &str) -> HttpResponse {
    with_header(
        r,
        header::SET_COOKIE,
        &format!(
            "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict",
            wire::percent_encode(token, false)
        ),
    )
}

/// A path to go back to after a login or an action: only a console path (no open redirect).
fn safe_next(next: &str) -> &str {
    if next.starts_with(PREFIX) && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/console/"
    }
}

/// `POST`s only from the console's own pages.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    match (get("origin"), get("host")) {
        (None, _) => true,
        (Some(o), Some(h)) => o.strip_prefix("http://").or(o.strip_prefix("https://")) == Some(h),
        (Some(_), None) => false,
    }
}

/// Serves one console request (the server's `handle` sends every path [`wants`] here).
pub(crate) async fn handle(app: Arc<App>, req: Request<Incoming>) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let query = wire::parse_pairs(&raw_query);
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match (&parts.method, path.as_str()) {
        (&Method::GET, "/" | "/console" | "/console/") => return redirect("/console/pipelines"),
        (&Method::GET, "/console/assets/console.css") => {
            return with_header(
                wire::response(200, "text/css; charset=utf-8", CSS),
                header::CACHE_CONTROL,
                "no-cache",
            );
        }
        (&Method::GET, "/console/assets/console.js") => {
            return with_header(
                wire::response(200, "text/javascript; charset=utf-8", JS),
                header::CACHE_CONTROL,
                "no-cache",
            );
        }
        _ => {}
    }
    let is_post = parts.method == Method::POST;
    if is_post && !same_origin(&parts.headers) {
        return error_page(
            403,
            "Refused",
            "a console action must come from the console's own pages",
        );
    }
    let form = if is_post {
        match http_body_util::Limited::new(body, MAX_FORM).collect().await {
            Ok(b) => wire::parse_pairs(&String::from_utf8_lossy(&b.to_bytes())),
            Err(e) => {
                return error_page(400, "Bad request", &format!("the form cannot be read: {e}"));
            }
        }
    } else {
        Vec::new()
    };
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());

    // Authentication (see the module's documentation).
    if let Some(token) = app.token.as_deref() {
        if is_post && path == "/console/login" {
            let next = safe_next(field("next").unwrap_or(""));
            return if field("token") == Some(token) {
                set_cookie(redirect(next), token)
            } else {
                login_page(401, next, true)
            };
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = cookie_token(&parts.headers);
        if parts.method == Method::GET && q("token") == Some(token) {
            let rest: Vec<String> = raw_query
                .split('&')
                .filter(|p| !p.starts_with("token=") && !p.is_empty())
                .map(str::to_owned)
                .collect();
            let to = if rest.is_empty() {
                path.clone()
            } else {
                format!("{path}?{}", rest.join("&"))
            };
            return set_cookie(redirect(safe_next(&to)), token);
        }
        if bearer != Some(token) && cookie.as_deref() != Some(token) {
            let next = if raw_query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{raw_query}")
            };
            return login_page(401, safe_next(&next), false);
        }
    } else if is_post && path == "/console/login" {
        return redirect(safe_next(field("next").unwrap_or("")));
    }

    let segs: Vec<String> = path
        .strip_prefix(PREFIX)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| wire::percent_decode(s, false))
        .collect();
    if parts.method == Method::GET && segs.first().map(String::as_str) == Some("events") {
        // `topic=T&since=G` pairs, in order; one topic may take its generation from
        // `Last-Event-ID` (an `EventSource` reconnecting).
        let topics: Vec<String> = query
            .iter()
            .filter(|(k, _)| k == "topic")
            .map(|(_, v)| v.clone())
            .take(MAX_TOPICS)
            .collect();
        let mut since: Vec<String> = query
            .iter()
            .filter(|(k, _)| k == "since")
            .map(|(_, v)| v.clone())
            .collect();
        since.resize(topics.len(), String::new());
        if topics.len() == 1
            && let Some(id) = parts
                .headers
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
        {
            since[0] = id.to_owned();
        }
        return events(app, topics.into_iter().zip(since).collect()).await;
    }
    if parts.method == Method::GET && segs.first().map(String::as_str) == Some("logs") {
        let after = q("after").unwrap_or("0-0").to_owned();
        let a = app.clone();
        return tokio::task::spawn_blocking(move || {
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            log_tail_answer(&a, &s, &after)
        })
        .await
        .unwrap_or_else(|e| {
            wire::json(500, "application/json", &json!({"message": e.to_string()}))
        });
    }
    if is_post {
        let fetch = parts.headers.get("x-slipway-console").is_some();
        let back = parts
            .headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.find(PREFIX).map(|i| r[i..].to_owned()));
        let a = app.clone();
        let form2 = form.clone();
        let segs2 = segs.clone();
        let out = tokio::task::spawn_blocking(move || action(&a, &segs2, &form2))
            .await
            .unwrap_or_else(|e| Err((500, format!("the action failed: {e}"))));
        return match (out, fetch) {
            (Ok(message), true) => {
                wire::json(200, "application/json", &json!({"message": message}))
            }
            (Err((status, message)), true) => {
                wire::json(status, "application/json", &json!({"message": message}))
            }
            (Ok(_), false) => redirect(safe_next(back.as_deref().unwrap_or(""))),
            (Err((status, message)), false) => error_page(status, "The action failed", &message),
        };
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return with_header(
            error_page(405, "Method not allowed", "the console serves GET and POST"),
            header::ALLOW,
            "GET, POST",
        );
    }
    let fragment = q("fragment") == Some("1");
    let execution = q("execution").map(str::to_owned);
    let a = app.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let r = render(&a, &segs, execution.as_deref());
        (r, started.elapsed())
    })
    .await;
    let (r, took) = match rendered {
        Ok(r) => r,
        Err(e) => return error_page(500, "Internal error", &e.to_string()),
    };
    let timing = format!("render;dur={:.3}", took.as_secs_f64() * 1000.0);
    let resp = match r {
        Ok(View::Page(p)) if fragment => html_response(200, p.body),
        Ok(View::Page(p)) => {
            let crumbs: Vec<(&str, String)> = p
                .crumbs
                .iter()
                .map(|(n, h)| (n.as_str(), h.clone()))
                .collect();
            html_response(
                200,
                html::page(
                    &p.title,
                    p.section,
                    &crumbs,
                    p.live.as_ref(),
                    &p.body,
                    &p.after,
                ),
            )
        }
        Ok(View::Redirect(to)) => redirect(&to),
        Err((status, message)) => error_page(
            status,
            if status == 404 { "Not found" } else { "Error" },
            &message,
        ),
    };
    with_header(
        resp,
        header::HeaderName::from_static("server-timing"),
        &timing,
    )
}

/// What a `GET` renders.
enum View {
    Page(PageOut),
    Redirect(String),
}

struct PageOut {
    title: String,
    section: Section,
    crumbs: Vec<(String, String)>,
    live: Option<Live>,
    body: String,
    /// After the live region (a fragment leaves it out): the function page's log tail.
    after: String,
}

type Failure = (u16, String);

fn live(app: &App, topic: String, src: String) -> Option<Live> {
    let generation = generation(app, &topic);
    Some(Live {
        topic,
        generation,
        src,
    })
}

/// An error body of either API (`{"error": {"message"}}` or `{"message"}`).
fn api_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["error"]["message"]
        .as_str()
        .or(v["message"].as_str())
        .unwrap_or("the request failed")
        .to_owned()
}

/// The body of a whole response (the server's bodies are one `Full` chunk, ready at once).
fn body_of(resp: HttpResponse) -> (u16, Bytes) {
    use hyper::body::Body as _;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let bytes = match std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
        std::task::Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    };
    (status, bytes)
}

/// A control API call, as the console makes it: the wire type on success.
fn api_get<T: serde::de::DeserializeOwned>(
    app: &App,
    path: &str,
    query: &str,
) -> Result<T, Failure> {
    let (status, body) = body_of(crate::api::call(
        app,
        &Method::GET,
        path,
        query,
        Bytes::new(),
    ));
    if status != 200 {
        return Err((status, api_message(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| (500, format!("unexpected API answer: {e}")))
}

fn api_post(app: &App, path: &str, body: &Value) -> Result<Bytes, Failure> {
    let (status, out) = body_of(crate::api::call(
        app,
        &Method::POST,
        path,
        "",
        Bytes::from(body.to_string()),
    ));
    if status >= 300 {
        return Err((status, api_message(&out)));
    }
    Ok(out)
}

fn pipelines_call(
    app: &App,
    method: &Method,
    segs: &[&str],
    body: &Value,
) -> Result<Value, Failure> {
    let segs: Vec<String> = segs.iter().map(|s| (*s).to_owned()).collect();
    let (status, out) = body_of(crate::api_pipelines::route(
        app,
        method,
        &segs,
        body.to_string().as_bytes(),
        None,
        None,
    ));
    if status >= 300 {
        return Err((status, api_message(&out)));
    }
    Ok(serde_json::from_slice(&out).unwrap_or(Value::Null))
}

/// `(account, region)` of every target that holds something: the targets table, and the
/// targets of stack operations (the journal), functions and deployments.
fn targets(app: &App) -> Vec<(String, String)> {
    let mut all = std::collections::BTreeSet::new();
    for t in app.store.targets().unwrap_or_default() {
        all.insert(format!("{}/{}", t.account, t.region));
    }
    for c in [
        Collection::Journal,
        Collection::Functions,
        Collection::Deployments,
    ] {
        for (t, _, _) in app.store.list_all_docs(c).unwrap_or_default() {
            all.insert(t);
        }
    }
    all.into_iter()
        .filter_map(|t| {
            let (a, r) = t.split_once('/')?;
            (!a.is_empty() && !r.is_empty() && !r.contains('/'))
                .then(|| (a.to_owned(), r.to_owned()))
        })
        .collect()
}

/// The `aws:ACCOUNT/REGION` targets the stored pipelines' deploy actions name (without the
/// prefix), each once.
#[cfg(feature = "aws")]
fn pipeline_aws_targets(app: &App) -> Vec<String> {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(t) = m
                    .get("target")
                    .and_then(Value::as_str)
                    .and_then(|t| t.strip_prefix("aws:"))
                {
                    out.insert(t.to_owned());
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for (_, d) in app
        .store
        .list_docs(Collection::Pipelines, STATE_TARGET)
        .unwrap_or_default()
    {
        walk(&d.value["state"]["pipeline"], &mut out);
    }
    out.into_iter().collect()
}

/// The stacks page's part for AWS targets (`aws.rs`); nothing without the `aws` feature.
#[cfg(feature = "aws")]
fn aws_stacks_section(app: &App) -> String {
    aws::stack_section(&app.aws_stacks, &pipeline_aws_targets(app))
}

#[cfg(not(feature = "aws"))]
fn aws_stacks_section(_: &App) -> String {
    String::new()
}

#[cfg(feature = "aws")]
fn aws_stack_page(app: &App, target: &str, stack: &str) -> Result<String, Failure> {
    aws::stack_page(&app.aws_stacks, &pipeline_aws_targets(app), target, stack)
}

#[cfg(not(feature = "aws"))]
fn aws_stack_page(_: &App, _: &str, _: &str) -> Result<String, Failure> {
    Err((
        404,
        "this slipway was built without the AWS target (cargo build --features slipway-cli/aws)"
            .into(),
    ))
}

fn target_path(account: &str, region: &str) -> String {
    format!(
        "/api/v1/targets/{}/{}",
        wire::percent_encode(account, false),
        wire::percent_encode(region, false)
    )
}

/// Every pipeline's name, latest execution and count, from one read of the store (the list
/// page needs only these: the rest of each history is not deserialised), and the generation
/// of the `pipelines` topic from the same read.
fn pipeline_summaries(app: &App) -> Result<(Vec<pipelines::Summary>, String), Failure> {
    let docs = app
        .store
        .list_docs(Collection::Pipelines, STATE_TARGET)
        .map_err(|e| (500, e.to_string()))?;
    let generation = hash_of(
        docs.iter()
            .map(|(k, d)| (STATE_TARGET, k.as_str(), d.generation))
            .collect::<Vec<_>>(),
    );
    let rows = docs
        .iter()
        .map(|(k, d)| {
            let executions = d.value["state"]["executions"].as_array();
            pipelines::Summary {
                name: d.value["state"]["pipeline"]["name"]
                    .as_str()
                    .unwrap_or(k)
                    .to_owned(),
                count: executions.map_or(0, Vec::len),
                latest: executions
                    .and_then(|x| x.last())
                    .and_then(|x| serde_json::from_value(x.clone()).ok()),
            }
        })
        .collect();
    Ok((rows, generation))
}

fn all_deployments(app: &App) -> Result<Vec<Deployment>, Failure> {
    let mut all = Vec::new();
    for (a, r) in targets(app) {
        let l: DeploymentList = api_get(app, &format!("{}/deployments", target_path(&a, &r)), "")?;
        all.extend(l.deployments);
    }
    all.sort_by(|x, y| y.created_ms.cmp(&x.created_ms).then(y.id.cmp(&x.id)));
    Ok(all)
}

fn render(app: &App, segs: &[String], execution: Option<&str>) -> Result<View, Failure> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let now = app.clock.now_ms();
    let page = |title: String, section, crumbs, live, body| {
        Ok(View::Page(PageOut {
            title,
            section,
            crumbs,
            live,
            body,
            after: String::new(),
        }))
    };
    match s.as_slice() {
        ["pipelines"] => {
            let (rows, generation) = pipeline_summaries(app)?;
            page(
                "Pipelines".into(),
                Section::Pipelines,
                vec![],
                Some(Live {
                    topic: "pipelines".into(),
                    generation,
                    src: "/console/pipelines?fragment=1".into(),
                }),
                pipelines::list(&rows, now),
            )
        }
        ["pipelines", name] => {
            // One read: the state and the generation the page is drawn at.
            let (doc, g) = slipway_pipeline::exec::load(app.store.as_ref(), name)
                .map_err(|e| (500, e.to_string()))?
                .ok_or_else(|| (404, format!("no pipeline named {name}")))?;
            let st = doc.state;
            if let Some(id) = execution
                && st.execution(id).is_none()
            {
                return Err((404, format!("pipeline {name} has no execution {id}")));
            }
            let src = match execution {
                Some(id) => format!(
                    "/console/pipelines/{}?execution={}&fragment=1",
                    seg(name),
                    seg(id)
                ),
                None => format!("/console/pipelines/{}?fragment=1", seg(name)),
            };
            page(
                format!("Pipeline {name}"),
                Section::Pipelines,
                vec![("Pipelines".into(), "/console/pipelines".into())],
                Some(Live {
                    topic: format!("pipeline/{name}"),
                    generation: hash_of(Some(g)),
                    src,
                }),
                pipelines::page(&st, execution, now),
            )
        }
        ["pipelines", name, "stream"] => {
            let (view, g) = value_stream(app, name, execution)?;
            page(
                format!("Value stream of {name}"),
                Section::Pipelines,
                vec![
                    ("Pipelines".into(), "/console/pipelines".into()),
                    (
                        name.to_string(),
                        format!("/console/pipelines/{}", seg(name)),
                    ),
                ],
                Some(Live {
                    topic: format!("pipeline/{name}"),
                    generation: hash_of(Some(g)),
                    src: format!(
                        "/console/pipelines/{}/stream?execution={}&fragment=1",
                        seg(name),
                        seg(&view.execution)
                    ),
                }),
                stream::page(&view),
            )
        }
        ["deployments"] => {
            let deps = all_deployments(app)?;
            page(
                "Deployments".into(),
                Section::Deployments,
                vec![],
                live(
                    app,
                    "deployments".into(),
                    "/console/deployments?fragment=1".into(),
                ),
                resources::deployment_list(&deps),
            )
        }
        ["deployments", id] => {
            let d: Deployment = api_get(
                app,
                &format!("/api/v1/deployments/{}", wire::percent_encode(id, false)),
                "",
            )?;
            page(
                format!("Deployment {id}"),
                Section::Deployments,
                vec![("Deployments".into(), "/console/deployments".into())],
                live(
                    app,
                    format!("deployment/{id}"),
                    format!("/console/deployments/{}?fragment=1", seg(id)),
                ),
                resources::deployment_page(&d, &alarm_views(app, &d)),
            )
        }
        ["stacks"] => {
            let mut all: Vec<(String, Vec<StackSummary>)> = Vec::new();
            for (a, r) in targets(app) {
                let l: StackList = api_get(app, &format!("{}/stacks", target_path(&a, &r)), "")?;
                all.push((format!("{a}/{r}"), l.stacks));
            }
            page(
                "Stacks".into(),
                Section::Stacks,
                vec![],
                live(app, "stacks".into(), "/console/stacks?fragment=1".into()),
                resources::stack_list(&all) + &aws_stacks_section(app),
            )
        }
        ["aws", target, stack] => {
            let body = aws_stack_page(app, target, stack)?;
            page(
                format!("AWS stack {stack}"),
                Section::Stacks,
                vec![("Stacks".into(), "/console/stacks".into())],
                None,
                body,
            )
        }
        ["stacks", account, region, stack] => {
            let base = format!(
                "{}/stacks/{}",
                target_path(account, region),
                wire::percent_encode(stack, false)
            );
            let st: Stack = api_get(app, &base, "")?;
            let ev: EventList = api_get(app, &format!("{base}/events"), "")?;
            page(
                format!("Stack {stack}"),
                Section::Stacks,
                vec![("Stacks".into(), "/console/stacks".into())],
                live(
                    app,
                    format!("stack/{account}/{region}/{stack}"),
                    format!(
                        "/console/stacks/{}/{}/{}?fragment=1",
                        seg(account),
                        seg(region),
                        seg(stack)
                    ),
                ),
                deployed_by_html(app, &format!("{account}/{region}"), stack)
                    + &resources::stack_page(
                        &st,
                        &ev,
                        &change_set_views(app, &format!("{account}/{region}"), stack),
                    ),
            )
        }
        ["functions"] => {
            let mut rows = Vec::new();
            for (a, r) in targets(app) {
                let t = format!("{a}/{r}");
                for (_, d) in app
                    .store
                    .list_docs(Collection::Functions, &t)
                    .map_err(|e| (500, e.to_string()))?
                {
                    let Ok(f) = serde_json::from_value::<FunctionRecord>(d.value) else {
                        continue;
                    };
                    rows.push(resources::FunctionRow {
                        target: t.clone(),
                        name: f.name,
                        stack: f.stack,
                        versions: f.versions.versions.len(),
                        aliases: f.versions.aliases.keys().cloned().collect(),
                    });
                }
            }
            page(
                "Functions".into(),
                Section::Functions,
                vec![],
                live(
                    app,
                    "functions".into(),
                    "/console/functions?fragment=1".into(),
                ),
                resources::function_list(&rows),
            )
        }
        ["functions", account, region, name] => {
            let t = format!("{account}/{region}");
            let (f, _) = load_function(app.store.as_ref(), &t, name)
                .map_err(|e| (500, e.to_string()))?
                .ok_or_else(|| (404, format!("Function not found: {name} in {t}")))?;
            page(
                format!("Function {name}"),
                Section::Functions,
                vec![("Functions".into(), "/console/functions".into())],
                live(
                    app,
                    format!("function/{account}/{region}/{name}"),
                    format!(
                        "/console/functions/{}/{}/{}?fragment=1",
                        seg(account),
                        seg(region),
                        seg(name)
                    ),
                ),
                deployed_by_html(app, &t, &f.stack) + &function_body(app, &t, &f),
            )
            .map(|v| match v {
                View::Page(mut p) => {
                    let logs = function_logs(app, &f);
                    let skip = logs.len().saturating_sub(resources::LOG_LINES);
                    p.after = resources::log_tail(
                        &format!("logs/{account}/{region}/{name}"),
                        &format!(
                            "/console/logs/{}/{}/{}",
                            seg(account),
                            seg(region),
                            seg(name)
                        ),
                        &cursor_of(&logs),
                        &logs[skip..],
                    );
                    View::Page(p)
                }
                other => other,
            })
        }
        ["find", id] => find(app, id),
        _ => Err((404, format!("no console page at /console/{}", s.join("/")))),
    }
}

/// The runtime location of a function of `target` (`account/region`), from what the server
/// registered (its partition too); `None` lets the runtime take the one of that name.
fn location_of(app: &App, target: &str, name: &str) -> Option<slipway_model::function::Location> {
    app.hooks
        .registered_versions()
        .into_iter()
        .find(|(l, f, _)| f == name && format!("{}/{}", l.account, l.region) == target)
        .map(|(l, _, _)| l)
}

fn function_body(app: &App, target: &str, f: &FunctionRecord) -> String {
    let location = location_of(app, target, &f.name);
    let row = |version: Version| resources::VersionRow {
        version: version.to_string(),
        metrics: app.runtime.metrics_at(location.as_ref(), &f.name, &version),
        minutes: app
            .runtime
            .minutes_at(location.as_ref(), &f.name, &version)
            .unwrap_or_default(),
    };
    let mut versions = vec![row(Version::Latest)];
    for (i, n) in f.versions.versions.keys().rev().enumerate() {
        let mut r = row(Version::Published(*n));
        if i >= resources::VERSIONS {
            r.minutes.clear();
        }
        versions.push(r);
    }
    let aliases: Vec<resources::AliasRow> = f
        .versions
        .aliases
        .values()
        .map(|a| resources::AliasRow {
            name: a.name.clone(),
            version: a.function_version.to_string(),
            additional: a.additional,
        })
        .collect();
    resources::function_page(&versions, &aliases, wall_ms())
}

/// How many lines one answer of the log tail carries at most (the newest, when more came).
const TAIL_MAX: usize = 200;

/// Every kept log record of a function (all its versions), oldest first.
fn function_logs(app: &App, f: &FunctionRecord) -> Vec<slipway_runtime::LogRecord> {
    let mut logs = app.runtime.logs(&f.name, &Version::Latest);
    for n in f.versions.versions.keys().rev().take(resources::VERSIONS) {
        logs.extend(app.runtime.logs(&f.name, &Version::Published(*n)));
    }
    logs.sort_by_key(|l| l.timestamp_ms);
    logs
}

/// The tail's cursor after the last of `logs`: `MS-N`, the newest record's timestamp and how
/// many records carry it (records have no sequence number; within one millisecond the order
/// is the order kept). Empty logs: `0-0`.
fn cursor_of(logs: &[slipway_runtime::LogRecord]) -> String {
    match logs.last() {
        None => "0-0".into(),
        Some(l) => {
            let same = logs
                .iter()
                .rev()
                .take_while(|x| x.timestamp_ms == l.timestamp_ms)
                .count();
            format!("{}-{same}", l.timestamp_ms)
        }
    }
}

/// The records after `cursor` (see [`cursor_of`]).
fn after_cursor<'a>(
    logs: &'a [slipway_runtime::LogRecord],
    cursor: &str,
) -> &'a [slipway_runtime::LogRecord] {
    let (ms, n) = cursor
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?)))
        .unwrap_or((0, 0));
    let first_at = logs.partition_point(|l| l.timestamp_ms < ms);
    let start = if logs.get(first_at).is_some_and(|l| l.timestamp_ms == ms) {
        first_at + n
    } else {
        first_at
    };
    &logs[start.min(logs.len())..]
}

/// `/console/logs/{account}/{region}/{name}?after=CURSOR`: the lines written since, as HTML,
/// and the new cursor (JSON). At most [`TAIL_MAX`] lines, the newest, with `skipped` saying
/// how many older ones were left out — the page and this answer stay bounded however much a
/// function prints.
fn log_tail_answer(app: &App, segs: &[&str], after: &str) -> HttpResponse {
    let (account, region, name) = match segs {
        [_, a, r, n] => (*a, *r, *n),
        _ => return wire::json(404, "application/json", &json!({"message": "no such log"})),
    };
    let t = format!("{account}/{region}");
    let Ok(Some((f, _))) = load_function(app.store.as_ref(), &t, name) else {
        return wire::json(
            404,
            "application/json",
            &json!({"message": format!("Function not found: {name} in {t}")}),
        );
    };
    let logs = function_logs(app, &f);
    let new = after_cursor(&logs, after);
    let skipped = new.len().saturating_sub(TAIL_MAX);
    let mut html = String::new();
    resources::log_lines(&mut html, &new[skipped..]);
    wire::json(
        200,
        "application/json",
        &json!({"cursor": cursor_of(&logs), "html": html, "skipped": skipped}),
    )
}

fn state_name(s: slipway_deploy::alarm::AlarmState) -> &'static str {
    use slipway_deploy::alarm::AlarmState;
    match s {
        AlarmState::Ok => "OK",
        AlarmState::Alarm => "ALARM",
        AlarmState::InsufficientData => "INSUFFICIENT_DATA",
    }
}

/// Periods an alarm chart shows at most (the newest).
const ALARM_PERIODS: u64 = 240;

/// Each alarm of a deployment with its metric series over the deployment: one datapoint per
/// period (the alarm's statistic of the samples the server recorded for its metric,
/// `metrics.rs`), the threshold, and the state changes. The changes are found by evaluating
/// the alarm ([`slipway_deploy::alarm::evaluate`], what the engine runs each tick) at every
/// period boundary from the deployment's start: a datapoint only changes when its period
/// completes, so that is where the engine's own evaluation changes state too.
fn alarm_views(app: &App, d: &Deployment) -> Vec<resources::AlarmView> {
    use slipway_deploy::alarm::{self, AlarmSpec, AlarmState};
    use slipway_engine::Metrics as _;
    let mut out = Vec::new();
    for (name, state) in &d.alarms {
        let spec = app
            .store
            .get_doc(
                Collection::Resources,
                &d.target,
                &format!("AWS::CloudWatch::Alarm|{name}"),
            )
            .ok()
            .flatten()
            .and_then(|doc| doc.value.get("Properties").cloned())
            .map(|p| AlarmSpec::from_properties(name, &p));
        let spec = match spec {
            Some(Ok(s)) => s,
            other => {
                out.push(resources::AlarmView {
                    name: name.clone(),
                    state: state.clone(),
                    describe: match other {
                        Some(Err(e)) => e.to_string(),
                        _ => "its definition is not in this target's resources".into(),
                    },
                    threshold: None,
                    points: Vec::new(),
                    changes: Vec::new(),
                    start_ms: d.created_ms,
                    end_ms: d.now_ms,
                });
                continue;
            }
        };
        let period = (spec.period_s * 1000).max(1);
        let end = d.completed_ms.unwrap_or(d.now_ms).max(d.created_ms);
        let first =
            (d.created_ms / period).max((end / period).saturating_sub(ALARM_PERIODS)) * period;
        let lookback = period * u64::from(spec.evaluation_periods + alarm::EXTRA_PERIODS);
        let samples = app.metrics.samples(
            &d.target,
            &spec.namespace,
            &spec.metric_name,
            &spec.dimensions,
            first.saturating_sub(lookback),
            end + 1,
        );
        let mut points = Vec::new();
        let mut lo = first;
        while lo <= end {
            let values: Vec<f64> = samples
                .iter()
                .filter(|s| s.at_ms >= lo && s.at_ms < lo + period)
                .map(|s| s.value)
                .collect();
            if let Some(v) = spec.statistic.of(&values) {
                points.push((lo, v));
            }
            lo += period;
        }
        let mut changes = Vec::new();
        let mut previous = AlarmState::InsufficientData;
        let mut at = first + period;
        while at <= end + period {
            let upto: Vec<_> = samples.iter().filter(|s| s.at_ms < at).cloned().collect();
            let e = alarm::evaluate(&spec, &upto, at, previous);
            if e.state != previous {
                changes.push((at.min(end), state_name(e.state).to_owned()));
                previous = e.state;
            }
            at += period;
        }
        let m = spec.datapoints_to_alarm;
        out.push(resources::AlarmView {
            name: name.clone(),
            state: state.clone(),
            describe: format!(
                "{} {} {:?} over {} s, {:?} {} for {m} of {} period(s)",
                spec.namespace,
                spec.metric_name,
                spec.statistic,
                spec.period_s,
                spec.comparison,
                spec.threshold,
                spec.evaluation_periods
            ),
            threshold: Some(spec.threshold),
            points,
            changes,
            start_ms: first,
            end_ms: end,
        });
    }
    out
}

/// What [`stream::page`] draws for one execution (see `stream.rs` for how the steps are
/// linked), and the pipeline document's generation.
fn value_stream(
    app: &App,
    name: &str,
    execution: Option<&str>,
) -> Result<(stream::StreamView, u64), Failure> {
    use slipway_model::pipeline::Provider;
    let (doc, g) = slipway_pipeline::exec::load(app.store.as_ref(), name)
        .map_err(|e| (500, e.to_string()))?
        .ok_or_else(|| (404, format!("no pipeline named {name}")))?;
    let st = doc.state;
    let x = match execution {
        Some(id) => st
            .execution(id)
            .ok_or_else(|| (404, format!("pipeline {name} has no execution {id}")))?,
        None => st
            .executions
            .last()
            .ok_or_else(|| (404, format!("pipeline {name} has not run yet")))?,
    };
    let now = app.clock.now_ms();
    let provider = |stage: &str, action: &str| {
        st.pipeline
            .stages
            .iter()
            .find(|s| s.name == stage)
            .and_then(|s| s.actions.iter().find(|a| a.name == action))
            .map(|a| a.action_type_id.provider)
    };
    let mut view = stream::StreamView {
        pipeline: name.to_owned(),
        execution: x.id.clone(),
        status: pipelines::exec_status(x.status).to_owned(),
        started_ms: x.started_at.0,
        commits: x
            .source_revisions
            .iter()
            .map(|r| {
                (
                    r.action_name.clone(),
                    r.revision_id.clone(),
                    r.summary.clone(),
                )
            })
            .collect(),
        builds: Vec::new(),
        deploys: Vec::new(),
    };
    for stage in &x.stages {
        for a in &stage.actions {
            let label = format!("{}/{}", stage.name, a.name);
            let status = pipelines::action_status(a.status).to_owned();
            let p = provider(&stage.name, &a.name);
            let result = a.result.as_ref();
            if p == Some(Provider::CodeBuild) {
                let outs = result
                    .map(|r| {
                        r.outputs
                            .iter()
                            .map(|o| (o.name.clone(), o.location.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                view.builds.push((label.clone(), status.clone(), outs));
            }
            let Some((account, region, stack_name)) = result
                .and_then(|r| r.external_execution_id.as_deref())
                .and_then(stream::stack_of_arn)
            else {
                continue;
            };
            let from = a.started_at.map_or(x.started_at.0, |t| t.0);
            let to = a.ended_at.map_or(now, |t| t.0);
            let target = format!("{account}/{region}");
            let mut versions = Vec::new();
            let events: Result<EventList, Failure> = api_get(
                app,
                &format!(
                    "{}/stacks/{}/events",
                    target_path(&account, &region),
                    wire::percent_encode(&stack_name, false)
                ),
                "",
            );
            for e in events.map(|l| l.events).unwrap_or_default() {
                if e.resource_type != "AWS::Lambda::Version"
                    || e.timestamp_ms < from
                    || e.timestamp_ms > to
                    || e.status != "CREATE_COMPLETE"
                {
                    continue;
                }
                let Some((function, n)) = e.physical_id.as_deref().and_then(stream::version_of_arn)
                else {
                    continue;
                };
                if versions
                    .iter()
                    .any(|v: &stream::VersionStep| v.function == function && v.version == n)
                {
                    continue;
                }
                let serving = load_function(app.store.as_ref(), &target, &function)
                    .ok()
                    .flatten()
                    .map(|(f, _)| serving(&f, n))
                    .unwrap_or_default();
                versions.push(stream::VersionStep {
                    function,
                    version: n,
                    serving,
                });
            }
            view.deploys.push(stream::DeployStep {
                action: label,
                status,
                account,
                region,
                stack: stack_name,
                versions,
            });
        }
    }
    Ok((view, g))
}

/// How many change sets a stack page shows as diffs (the newest).
const CHANGE_SETS: usize = 5;

/// The newest change sets of a stack as diffs (`diff.rs` says what "before" is).
fn change_set_views(app: &App, target: &str, stack: &str) -> Vec<resources::ChangeSetView> {
    use slipway_deploy::stack::ExecutionStatus;
    let Ok(Some(rec)) = app.engine.stack(target, stack) else {
        return Vec::new();
    };
    let mut secrets: Vec<String> = rec
        .parameters
        .values()
        .chain(rec.change_sets.iter().flat_map(|c| c.parameters.values()))
        .filter(|p| p.no_echo)
        .map(|p| p.value.clone())
        .collect();
    secrets.sort();
    secrets.dedup();
    let mut out = Vec::new();
    let mut executed_before: Option<&Value> = None;
    let mut befores = Vec::new();
    for c in &rec.change_sets {
        let executed = matches!(
            c.execution_status,
            ExecutionStatus::ExecuteComplete
                | ExecutionStatus::ExecuteInProgress
                | ExecutionStatus::ExecuteFailed
        );
        befores.push(if executed {
            executed_before.unwrap_or(&Value::Null)
        } else {
            &rec.template
        });
        if executed {
            executed_before = Some(&c.template);
        }
    }
    for (c, before) in rec.change_sets.iter().zip(befores).rev().take(CHANGE_SETS) {
        let json_word = |v: Value| v.as_str().unwrap_or("").to_owned();
        let resources = c
            .plan
            .changes
            .iter()
            .map(|r| resources::ResourceDiff {
                action: json_word(serde_json::to_value(r.action).unwrap_or(Value::Null)),
                logical_id: r.logical_id.clone(),
                resource_type: r.resource_type.clone(),
                replacement: r.replacement.map(|x| x.as_str().to_owned()),
                causes: r
                    .details
                    .iter()
                    .map(|d| {
                        format!(
                            "{}{} ({}, recreation {})",
                            json_word(
                                serde_json::to_value(d.target.attribute).unwrap_or(Value::Null)
                            ),
                            d.target
                                .name
                                .as_deref()
                                .map(|n| format!(".{n}"))
                                .unwrap_or_default(),
                            match &d.causing_entity {
                                Some(e) => format!(
                                    "{} {e}",
                                    json_word(
                                        serde_json::to_value(d.change_source)
                                            .unwrap_or(Value::Null)
                                    )
                                ),
                                None => json_word(
                                    serde_json::to_value(d.change_source).unwrap_or(Value::Null)
                                ),
                            },
                            json_word(
                                serde_json::to_value(d.target.requires_recreation)
                                    .unwrap_or(Value::Null)
                            )
                        )
                    })
                    .collect(),
                properties: diff::property_changes(before, &c.template, &r.logical_id, &secrets),
            })
            .collect();
        out.push(resources::ChangeSetView {
            name: c.name.clone(),
            kind: json_word(serde_json::to_value(c.change_set_type).unwrap_or(Value::Null)),
            status: json_word(serde_json::to_value(c.execution_status).unwrap_or(Value::Null)),
            created_ms: c.created_ms,
            resources,
        });
    }
    out
}

/// Stack `(account, region, name)` → `(started, pipeline, execution, revision)` of the newest
/// execution that deployed it.
type DeployedMap = BTreeMap<(String, String, String), (u64, String, String, String)>;

/// [`deployed_by`]'s answers for every stack at once, kept until a pipeline document changes
/// (checked by generation, without reading the documents): the stack and function pages would
/// otherwise read every pipeline's whole history on each render.
#[derive(Default)]
pub(crate) struct DeployedBy(Mutex<Option<Generations>>);

/// The pipeline documents' generations a [`DeployedMap`] was built from, and the map.
type Generations = (Vec<(String, u64)>, Arc<DeployedMap>);

/// The newest pipeline execution that deployed stack `name` of `target` (`account/region`):
/// `(pipeline, execution, revision)`, for "which commit is this" links from stack and function
/// pages.
fn deployed_by(app: &App, target: &str, name: &str) -> Option<(String, String, String)> {
    let (account, region) = target.split_once('/')?;
    let generations = app
        .store
        .doc_generations(Collection::Pipelines, STATE_TARGET)
        .ok()?;
    let map = {
        let mut cached = app.deployed_by.0.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some((g, map)) if *g == generations => map.clone(),
            _ => {
                let map = Arc::new(deployed_map(app)?);
                *cached = Some((generations, map.clone()));
                map
            }
        }
    };
    map.get(&(account.to_owned(), region.to_owned(), name.to_owned()))
        .map(|(_, p, x, r)| (p.clone(), x.clone(), r.clone()))
}

/// One read of the pipelines: every stack a deploy action produced, with the newest execution
/// that did (executions are looked at as JSON).
fn deployed_map(app: &App) -> Option<DeployedMap> {
    let docs = app
        .store
        .list_docs(Collection::Pipelines, STATE_TARGET)
        .ok()?;
    let mut map = DeployedMap::new();
    for (key, d) in &docs {
        let state = &d.value["state"];
        let pipeline = state["pipeline"]["name"].as_str().unwrap_or(key);
        for x in state["executions"].as_array().into_iter().flatten() {
            let started = x["startedAt"].as_u64().unwrap_or(0);
            let stacks = x["stages"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["actions"].as_array().into_iter().flatten())
                .filter_map(|a| {
                    a["result"]["externalExecutionId"]
                        .as_str()
                        .and_then(stream::stack_of_arn)
                });
            for (a, r, n) in stacks {
                let k = (a, r, n);
                if map.get(&k).is_some_and(|b| b.0 >= started) {
                    continue;
                }
                let rev = x["sourceRevisions"][0]["revisionId"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(8)
                    .collect();
                let id = x["id"].as_str().unwrap_or("").to_owned();
                map.insert(k, (started, pipeline.to_owned(), id, rev));
            }
        }
    }
    Some(map)
}

/// A paragraph linking to the value stream of the execution that last deployed a stack.
fn deployed_by_html(app: &App, target: &str, stack: &str) -> String {
    match deployed_by(app, target, stack) {
        Some((p, x, rev)) => format!(
            "<p class=\"meta\">Last deployed by pipeline <a href=\"/console/pipelines/{}/stream?execution={}\">{} (commit <code>{}</code>): its value stream</a></p>",
            seg(&p),
            seg(&x),
            esc(&p),
            esc(&rev)
        ),
        None => String::new(),
    }
}

/// Each alias of `f` and the percent of its traffic on version `n`, with its routing in words.
fn serving(f: &FunctionRecord, n: u32) -> Vec<(String, f64, String)> {
    f.versions
        .aliases
        .values()
        .map(|a| {
            let primary = a.function_version.to_string();
            let (pct, words) = match a.additional {
                Some((v, w)) => (
                    if v == n {
                        w * 100.0
                    } else if primary == n.to_string() {
                        (1.0 - w) * 100.0
                    } else {
                        0.0
                    },
                    format!(
                        "version {primary} {:.0}%, version {v} {:.0}%",
                        (1.0 - w) * 100.0,
                        w * 100.0
                    ),
                ),
                None => (
                    if primary == n.to_string() { 100.0 } else { 0.0 },
                    format!("all on version {primary}"),
                ),
            };
            (a.name.clone(), pct, words)
        })
        .collect()
}

/// Where an action's external ID is shown: a deployment, a stack ARN, a function ARN.
fn find(app: &App, id: &str) -> Result<View, Failure> {
    let is_deployment = app
        .store
        .list_all_docs(Collection::Deployments)
        .map_err(|e| (500, e.to_string()))?
        .iter()
        .any(|(_, k, _)| k == id);
    if is_deployment {
        return Ok(View::Redirect(format!("/console/deployments/{}", seg(id))));
    }
    // arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID, arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]
    let p: Vec<&str> = id.split(':').collect();
    match p.as_slice() {
        ["arn", _, "cloudformation", region, account, rest] if rest.starts_with("stack/") => {
            let name = rest.split('/').nth(1).unwrap_or("");
            Ok(View::Redirect(format!(
                "/console/stacks/{}/{}/{}",
                seg(account),
                seg(region),
                seg(name)
            )))
        }
        ["arn", _, "lambda", region, account, "function", name, ..] => Ok(View::Redirect(format!(
            "/console/functions/{}/{}/{}",
            seg(account),
            seg(region),
            seg(name)
        ))),
        _ => Err((404, format!("nothing known as {id}"))),
    }
}

/// A `POST`: the API call it stands for; a message for the page, or the API's error.
fn action(app: &App, segs: &[String], form: &[(String, String)]) -> Result<String, Failure> {
    let f = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let need = |k: &str| f(k).ok_or_else(|| (400, format!("the form has no `{k}`")));
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["pipelines", name, "run"] => {
            let out = pipelines_call(app, &Method::POST, &[name, "executions"], &json!({}))?;
            Ok(format!(
                "Started execution {}",
                out["executionId"].as_str().unwrap_or("")
            ))
        }
        ["pipelines", name, "approvals"] => {
            let decision = need("decision")?;
            let comment = f("comment").map(str::trim).filter(|c| !c.is_empty());
            pipelines_call(
                app,
                &Method::POST,
                &[name, "approvals"],
                &json!({
                    "stage": need("stage")?,
                    "action": need("action")?,
                    "status": decision,
                    "summary": comment,
                    "by": "console",
                }),
            )?;
            Ok(format!("{decision}."))
        }
        ["pipelines", name, "executions", id, "stop"] => {
            pipelines_call(
                app,
                &Method::POST,
                &[name, "executions", id, "stop"],
                &json!({"mode": need("mode")?, "reason": "stopped from the console"}),
            )?;
            Ok("Stopping.".into())
        }
        ["pipelines", name, "executions", id, "retry"] => {
            pipelines_call(
                app,
                &Method::POST,
                &[name, "executions", id, "retry"],
                &json!({"stage": need("stage")?, "mode": need("mode")?}),
            )?;
            Ok("Retrying.".into())
        }
        ["deployments", id, "actions"] => {
            let a = need("action")?;
            api_post(
                app,
                &format!(
                    "/api/v1/deployments/{}/actions",
                    wire::percent_encode(id, false)
                ),
                &json!({ "action": a }),
            )?;
            Ok(format!("Done: {a}."))
        }
        [
            "functions",
            account,
            region,
            function,
            "aliases",
            alias,
            "rollback",
        ] => {
            let out = api_post(
                app,
                &format!(
                    "{}/functions/{}/aliases/{}/rollback",
                    target_path(account, region),
                    wire::percent_encode(function, false),
                    wire::percent_encode(alias, false)
                ),
                &json!({}),
            )?;
            let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
            Ok(format!(
                "Rolled back to version {}.",
                v["toVersion"].as_u64().unwrap_or(0)
            ))
        }
        _ => Err((
            404,
            format!("no console action at /console/{}", s.join("/")),
        )),
    }
}

/// Wall-clock milliseconds: the runtime's per-minute series are in wall-clock minutes, as
/// log timestamps are (`slipway_runtime::metrics`).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn hash_of(h: impl Hash) -> String {
    let mut s = DefaultHasher::new();
    h.hash(&mut s);
    format!("{:016x}", s.finish())
}

/// The generation of a topic: a hash of the store generations (and runtime counters) the
/// page behind it is drawn from. Blocking: reads the store.
pub(crate) fn generation(app: &App, topic: &str) -> String {
    let parts: Vec<&str> = topic.splitn(4, '/').collect();
    let docs = |c: Collection| -> Vec<(String, String, u64)> {
        app.store
            .list_all_docs(c)
            .unwrap_or_default()
            .into_iter()
            .map(|(t, k, d)| (t, k, d.generation))
            .collect()
    };
    match parts.as_slice() {
        ["pipelines"] => pipeline_summaries(app).map(|(_, g)| g).unwrap_or_default(),
        ["pipeline", name] => hash_of(
            app.store
                .get_doc(Collection::Pipelines, STATE_TARGET, name)
                .ok()
                .flatten()
                .map(|d| d.generation),
        ),
        ["deployments"] => hash_of(docs(Collection::Deployments)),
        ["deployment", id] => hash_of(
            docs(Collection::Deployments)
                .into_iter()
                .find(|(_, k, _)| k == id),
        ),
        ["stacks"] => {
            let mut all = Vec::new();
            for (a, r) in targets(app) {
                let t = format!("{a}/{r}");
                for n in app.store.list_stacks(&t).unwrap_or_default() {
                    let g = app.store.get_stack(&t, &n).ok().flatten();
                    all.push((t.clone(), n, g.map(|s| (s.generation, s.events.len()))));
                }
            }
            hash_of(all)
        }
        ["stack", a, r, n] => hash_of(
            app.store
                .get_stack(&format!("{a}/{r}"), n)
                .ok()
                .flatten()
                .map(|s| (s.generation, s.events.len())),
        ),
        ["functions"] => hash_of(docs(Collection::Functions)),
        ["logs", a, r, n] => load_function(app.store.as_ref(), &format!("{a}/{r}"), n)
            .ok()
            .flatten()
            .map(|(f, _)| cursor_of(&function_logs(app, &f)))
            .unwrap_or_default(),
        ["function", a, r, n] => {
            let t = format!("{a}/{r}");
            let doc = app
                .store
                .get_doc(Collection::Functions, &t, n)
                .ok()
                .flatten();
            let generation = doc.as_ref().map(|d| d.generation);
            // Invocations move the page too (log lines move the `logs/…` topic instead).
            let mut activity = Vec::new();
            if let Some(f) =
                doc.and_then(|d| serde_json::from_value::<FunctionRecord>(d.value).ok())
            {
                let mut vs = vec![Version::Latest];
                vs.extend(f.versions.versions.keys().map(|n| Version::Published(*n)));
                for v in vs {
                    let m = app.runtime.metrics(&f.name, &v);
                    activity.push(m.map(|m| (m.invocations, m.errors, m.environments)));
                }
            }
            hash_of((generation, activity))
        }
        _ => String::new(),
    }
}

fn sse(text: String) -> HttpResponse {
    let r = wire::response(200, "text/event-stream", text);
    with_header(r, header::CACHE_CONTROL, "no-store")
}

/// `/console/events`: a `change` event for each watched topic that moved past its
/// generation (see the module's documentation), as soon as one has, or a keep-alive comment
/// after [`HOLD`]. With one topic the event carries `id:` (the new generation) for
/// `Last-Event-ID`.
async fn events(app: Arc<App>, watch: Vec<(String, String)>) -> HttpResponse {
    let deadline = tokio::time::Instant::now() + HOLD;
    let mut stopped = app.stopped.clone();
    loop {
        let (a, w) = (app.clone(), watch.clone());
        let moved: Vec<(String, String)> = tokio::task::spawn_blocking(move || {
            w.into_iter()
                .filter_map(|(t, since)| {
                    let g = generation(&a, &t);
                    (g != since).then_some((t, g))
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        if !moved.is_empty() {
            let mut text = String::from("retry: 300\n");
            for (topic, g) in &moved {
                let data = json!({"topic": topic, "generation": g});
                if watch.len() == 1 {
                    text.push_str(&format!("id: {g}\n"));
                }
                text.push_str(&format!("event: change\ndata: {data}\n\n"));
            }
            return sse(text);
        }
        if tokio::time::Instant::now() >= deadline || *stopped.borrow() {
            let id = match watch.as_slice() {
                [(_, since)] => format!("id: {since}\n"),
                _ => String::new(),
            };
            return sse(format!("retry: 300\n{id}: no change\n\n"));
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = stopped.changed() => {}
        }
    }
}
