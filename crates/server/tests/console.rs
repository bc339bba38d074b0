//! The web console (`/console/`) against an in-process server over real HTTP: pages, escaping,
//! the token (login form, `?token=` once, cookie), same-origin actions through the control
//! API, the event stream; and the end-to-end test in headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by Playwright from `tests/browser/`): approve a pipeline in the
//! page and see it go on, skip a canary's wait in the page and see seven other tabs reach 100 %
//! over one shared event stream, a log line arrive in the tail; and an alarm roll a canary back
//! while the deployment page watches.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use slipway_pipeline::exec::settled;
use slipway_pipeline::{ExecutionStatus, Position};
use slipway_server::PipelineConfig;

/// One HTTP/1.1 request: status, headers (lower-case names), body.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn request(endpoint: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: rest.to_owned(),
    }
}

fn get(r: &Rig, path: &str) -> Resp {
    request(&r.endpoint(), "GET", path, &[], "")
}

fn post_form(r: &Rig, path: &str, form: &str, extra: &[(&str, &str)]) -> Resp {
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(extra);
    request(&r.endpoint(), "POST", path, &h, form)
}

const HELLO: &str = "import json\n\ndef handler(event, context):\n    print('hello from <v>', json.dumps(event))\n    return 'ok'\n";

fn app_template(extra: &str) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: hello/
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
      Environment:
        Variables:
          EXTRA: "{extra}"
Outputs:
  Sneaky:
    Value: "<script>alert('x')</script>"
"#
    )
}

/// v1, then v2 as a canary: the deployment's ID once it holds 10 % on the new version.
fn canary(r: &Rig) -> String {
    r.write(&[("hello/app.py", HELLO)]);
    r.deploy("app", &app_template("1"));
    let rep = r.deploy("app", &app_template("2"));
    let id = rep.waiting_on.expect("the update waits on a deployment");
    r.wait_for("10 % on the new version", || {
        get(r, &format!("/api/v1/deployments/{id}"))
            .body
            .contains("\"weightPercent\":10.0")
    });
    id
}

const PIPELINE: &str = r#"
name: app
source:
  git: {branch: main, repository: .}
stages:
  - name: Approve
    approval: {message: Ship it?}
  - name: Prod
    deploy:
      stack: topic-prod
      template: topic.yaml
      targets: [111111111111/us-east-1, 111111111111/eu-west-1]
"#;

const TOPIC: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: hello/
      AutoPublishAlias: live
Outputs:
  TopicArn:
    Value: !Ref Topic
"#;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A rig with pipelines over a git repository in the project directory.
fn pipeline_rig(adjust: impl FnOnce(&mut slipway_server::Config)) -> Rig {
    let r = Rig::start_with(|c| {
        c.pipelines = PipelineConfig {
            project_dir: Some(c.data_dir.parent().unwrap().join("project")),
            poll_interval: None,
            webhook_secret: None,
        };
        adjust(c);
    });
    std::fs::create_dir_all(r.project()).unwrap();
    git(&r.project(), &["init", "-q", "-b", "main"]);
    r.write(&[
        ("slipway.yaml", PIPELINE),
        ("topic.yaml", TOPIC),
        ("hello/app.py", HELLO),
    ]);
    git(&r.project(), &["add", "-A"]);
    git(&r.project(), &["commit", "-q", "-m", "topic <v1>"]);
    let outcome = slipway_model::pipeline::parse_file(PIPELINE, "slipway.yaml", "app");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    r.server
        .as_ref()
        .unwrap()
        .pipelines()
        .executor
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
    r
}

/// Starts the pipeline (as the page's Run button does) and waits for its approval.
fn run_to_approval(r: &Rig) -> String {
    let x = r.server.as_ref().unwrap().pipelines().executor.clone();
    let resp = post_form(
        r,
        "/console/pipelines/app/run",
        "",
        &[("X-Slipway-Console", "fetch")],
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let (ok, st) = x
        .wait_until("app", Duration::from_secs(60), |s| {
            s.executions
                .last()
                .is_some_and(|e| e.position == Position::Running { stage: 1 } && settled(s, &e.id))
        })
        .unwrap();
    assert!(ok, "no approval reached: {st:#?}");
    st.executions.last().unwrap().id.clone()
}

#[test]
fn pages_render_escape_and_act_through_the_api() {
    let r = Rig::start();
    // A browser at / lands on the console; an AWS client at / is still S3's ListBuckets.
    let home = request(&r.endpoint(), "GET", "/", &[("Accept", "text/html")], "");
    assert_eq!(
        (home.status, home.header("location")),
        (303, Some("/console/pipelines"))
    );
    let s3 = request(&r.endpoint(), "GET", "/", &[], "");
    assert!(s3.body.contains("ListAllMyBucketsResult"), "{}", s3.body);

    for p in [
        "/console/pipelines",
        "/console/deployments",
        "/console/stacks",
        "/console/functions",
    ] {
        let resp = get(&r, p);
        assert_eq!(resp.status, 200, "{p}: {}", resp.body);
        assert!(resp.body.starts_with("<!doctype html>"), "{p}");
        assert!(
            resp.header("content-security-policy")
                .unwrap()
                .contains("script-src 'self'")
        );
        assert!(
            resp.header("server-timing")
                .unwrap()
                .starts_with("render;dur=")
        );
        assert!(resp.body.contains("class=\"empty\""), "{p}: {}", resp.body);
    }
    let css = get(&r, "/console/assets/console.css");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let js = get(&r, "/console/assets/console.js");
    assert!(js.body.contains("BroadcastChannel"));

    // User data is escaped everywhere, error messages too.
    let missing = get(&r, "/console/deployments/%3Cscript%3Ex");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("&lt;script&gt;x") && !missing.body.contains("<script>x"));
    let id = canary(&r);
    let stack = get(&r, "/console/stacks/123456789012/us-east-1/app");
    assert_eq!(stack.status, 200, "{}", stack.body);
    assert!(
        stack
            .body
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{}",
        stack.body
    );
    assert!(!stack.body.contains("<script>alert"));
    assert!(
        stack
            .body
            .contains("href=\"/console/functions/123456789012/us-east-1/hello\"")
    );

    // Change sets as diffs, made through the API as `slipway deploy` makes them: one executed
    // (the topic added; CloudFormation keeps no executed change set), one waiting for review
    // (its DisplayName changed, no replacement) against the stack's template.
    let topic = |name: &str| {
        format!(
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: \"{name}\"\n"
        )
    };
    for (template, hold) in [(topic("first"), false), (topic("<second>"), true)] {
        let body =
            serde_json::json!({"template": template, "options": {"noExecuteChangeset": hold}});
        let out = request(
            &r.endpoint(),
            "POST",
            "/api/v1/targets/123456789012/us-east-1/stacks/cs/deploy",
            &[("Content-Type", "application/json")],
            &body.to_string(),
        );
        assert!(out.status < 300, "{}", out.body);
    }
    let cs = get(&r, "/console/stacks/123456789012/us-east-1/cs");
    assert!(
        cs.body.contains("<h2 id=\"cs-h\">Change sets</h2>"),
        "{}",
        cs.body
    );
    assert!(
        cs.body.contains(
            "<tr><th scope=\"row\"><code>DisplayName</code></th><td><del>first</del></td><td><ins>&lt;second&gt;</ins></td></tr>"
        ),
        "{}",
        cs.body
    );
    assert!(
        cs.body
            .contains("<span class=\"badge\">Modify</span> Topic "),
        "{}",
        cs.body
    );
    assert!(cs.body.contains("replacement: False"), "{}", cs.body);

    // The deployment: chart, schedule to come, buttons; a fragment is only the live region.
    let page = get(&r, &format!("/console/deployments/{id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg viewBox"), "{}", page.body);
    assert!(page.body.contains("<dd class=\"weight\">10%</dd>"));
    assert!(page.body.contains("Still to come"));
    assert!(
        page.body
            .contains("aria-label=\"Skip the wait: shift all traffic now\"")
    );
    assert!(
        page.body
            .contains(&format!("data-topic=\"deployment/{id}\""))
    );
    let frag = get(&r, &format!("/console/deployments/{id}?fragment=1"));
    assert!(!frag.body.contains("<html") && frag.body.contains("<svg"));
    let list = get(&r, "/console/deployments");
    assert!(
        list.body
            .contains(&format!("href=\"/console/deployments/{id}\""))
    );
    let f = get(&r, "/console/functions/123456789012/us-east-1/hello");
    assert_eq!(f.status, 200, "{}", f.body);
    assert!(
        f.body
            .contains("<code>live</code> → version 1 (90%), version 2 (10%)"),
        "{}",
        f.body
    );
    assert!(f.body.contains("No invocations in the last hour."));
    // Three invocations of version 1: its per-minute charts appear, drawn by the server.
    for _ in 0..3 {
        let out = request(
            &r.endpoint(),
            "POST",
            "/2015-03-31/functions/hello/invocations?Qualifier=1",
            &[],
            "{}",
        );
        assert_eq!(out.status, 200, "{}", out.body);
    }
    let f = get(&r, "/console/functions/123456789012/us-east-1/hello");
    for title in [
        "Version 1: invocations and errors per minute",
        "Version 1: duration p50 and p99 per minute",
        "Version 1: cold starts per minute",
    ] {
        assert!(
            f.body.contains(&format!(">{title}</title>")),
            "{title}: {}",
            f.body
        );
    }
    assert!(
        f.body.contains("Invocations: 3</span>") || f.body.contains("Invocations: 2</span>"),
        "{}",
        f.body
    );

    // The event stream: a stale generation gets a change at once, with its id.
    let ev = get(
        &r,
        &format!("/console/events?topic=deployment/{id}&since=stale"),
    );
    assert_eq!(ev.header("content-type"), Some("text/event-stream"));
    let generation = ev
        .body
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .to_owned();
    assert!(ev.body.contains("event: change"), "{}", ev.body);
    // Held at the current generation, it answers when the deployment moves (skip-wait from
    // another connection, as a form without script posts it).
    let endpoint = r.endpoint();
    let held = std::thread::spawn({
        let path = format!("/console/events?topic=deployment/{id}");
        let generation = generation.clone();
        move || {
            request(
                &endpoint,
                "GET",
                &path,
                &[("Last-Event-ID", &generation)],
                "",
            )
        }
    });
    // A cross-site form post is refused; the console's own is carried out and redirects back.
    let refused = post_form(
        &r,
        &format!("/console/deployments/{id}/actions"),
        "action=skip-wait",
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(refused.status, 403);
    let bad = post_form(
        &r,
        &format!("/console/deployments/{id}/actions"),
        "action=explode",
        &[("X-Slipway-Console", "fetch")],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("skip-wait"),
        "the API's message: {}",
        bad.body
    );
    let done = post_form(
        &r,
        &format!("/console/deployments/{id}/actions"),
        "action=skip-wait",
        &[(
            "Referer",
            &format!("{}/console/deployments/{id}", r.endpoint()),
        )],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.header("location"),
        Some(format!("/console/deployments/{id}").as_str())
    );
    let held = held.join().unwrap();
    assert!(held.body.contains("event: change"), "{}", held.body);
    assert!(!held.body.contains(&format!("id: {generation}\n")));
    let page = get(&r, &format!("/console/deployments/{id}"));
    assert!(
        page.body.contains("<dd class=\"weight\">100%</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Roll back alias"));
    // Rolling the alias back through the page: the API's `MovedAlias`.
    let rb = post_form(
        &r,
        "/console/functions/123456789012/us-east-1/hello/aliases/live/rollback",
        "",
        &[("X-Slipway-Console", "fetch")],
    );
    assert_eq!(rb.status, 200, "{}", rb.body);
    assert!(rb.body.contains("Rolled back to version 1"), "{}", rb.body);
}

#[test]
fn a_token_is_asked_for_once_then_kept_in_a_cookie() {
    let r = Rig::start_with(|c| c.token = Some("s3cret t".into()));
    let denied = get(&r, "/console/deployments?x=1");
    assert_eq!(denied.status, 401);
    assert!(
        denied
            .body
            .contains("<form method=\"post\" action=\"/console/login\"")
    );
    assert!(denied.body.contains("value=\"/console/deployments?x=1\""));
    // The API stays closed to a cookie: only the console reads it.
    let once = get(&r, "/console/deployments?token=s3cret%20t&x=1");
    assert_eq!(once.status, 303);
    assert_eq!(once.header("location"), Some("/console/deployments?x=1"));
    let cookie = once.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let ok = request(
        &r.endpoint(),
        "GET",
        "/console/deployments",
        &[("Cookie", &pair)],
        "",
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let api = request(
        &r.endpoint(),
        "GET",
        "/api/v1/targets/123456789012/us-east-1/stacks",
        &[("Cookie", &pair)],
        "",
    );
    assert_eq!(
        api.status, 401,
        "the API does not take the console's cookie"
    );
    let bearer = request(
        &r.endpoint(),
        "GET",
        "/console/stacks",
        &[("Authorization", "Bearer s3cret t")],
        "",
    );
    assert_eq!(bearer.status, 200);
    let wrong = post_form(
        &r,
        "/console/login",
        "token=nope&next=%2Fconsole%2Fstacks",
        &[],
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not this server"));
    let login = post_form(
        &r,
        "/console/login",
        "token=s3cret+t&next=https%3A%2F%2Fevil.example",
        &[],
    );
    assert_eq!(login.status, 303);
    assert_eq!(
        login.header("location"),
        Some("/console/"),
        "no open redirect"
    );
    assert!(login.header("set-cookie").is_some());
    // Actions and the event stream need it too.
    let act = post_form(&r, "/console/pipelines/app/run", "", &[]);
    assert_eq!(act.status, 401);
    assert_eq!(get(&r, "/console/events?topic=pipelines").status, 401);
    // The assets carry no data and are open.
    assert_eq!(get(&r, "/console/assets/console.js").status, 200);
}

#[test]
fn a_pipeline_page_shows_the_grid_and_its_approval_acts() {
    let r = pipeline_rig(|_| {});
    let empty = get(&r, "/console/pipelines/app");
    assert!(empty.body.contains("has not run yet"), "{}", empty.body);
    let id = run_to_approval(&r);
    let list = get(&r, "/console/pipelines");
    assert!(
        list.body.contains("href=\"/console/pipelines/app\""),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("topic &lt;v1&gt;"),
        "escaped commit message: {}",
        list.body
    );
    let page = get(&r, "/console/pipelines/app");
    assert_eq!(page.status, 200);
    for s in [
        "<h3>Source</h3>",
        "<h3>Approve</h3>",
        "<h3>Prod</h3>",
        "aria-label=\"Approve Approve / ",
    ] {
        assert!(page.body.contains(s), "{s}: {}", page.body);
    }
    let action = {
        let st = r
            .server
            .as_ref()
            .unwrap()
            .pipelines()
            .executor
            .state("app")
            .unwrap();
        st.execution(&id).unwrap().stages[1].actions[0].name.clone()
    };
    let resp = post_form(
        &r,
        "/console/pipelines/app/approvals",
        &format!("stage=Approve&action={action}&decision=Approved&comment=%3Cb%3Eok%3C%2Fb%3E"),
        &[("X-Slipway-Console", "fetch")],
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let x = r.server.as_ref().unwrap().pipelines().executor.clone();
    let (ok, st) = x
        .wait_until("app", Duration::from_secs(60), |s| settled(s, &id))
        .unwrap();
    assert!(ok);
    assert_eq!(
        st.execution(&id).unwrap().status,
        ExecutionStatus::Succeeded
    );
    let page = get(&r, &format!("/console/pipelines/app?execution={id}"));
    assert!(
        page.body
            .contains("Approved by console: “&lt;b&gt;ok&lt;/b&gt;”"),
        "{}",
        page.body
    );
    // The value stream: the commit, then the stack and version 1 it published in each
    // target, serving all of alias live's traffic there now.
    assert!(page.body.contains(&format!(
        "href=\"/console/pipelines/app/stream?execution={id}\""
    )));
    let vs = get(&r, &format!("/console/pipelines/app/stream?execution={id}"));
    assert_eq!(vs.status, 200, "{}", vs.body);
    assert!(vs.body.contains("topic &lt;v1&gt;"), "{}", vs.body);
    for region in ["us-east-1", "eu-west-1"] {
        assert!(
            vs.body.contains(&format!(
                "href=\"/console/functions/111111111111/{region}/hello\">hello</a> version 1"
            )),
            "{region}: {}",
            vs.body
        );
    }
    assert_eq!(
        vs.body
            .matches("<code>live</code> <strong>100%</strong>")
            .count(),
        2,
        "{}",
        vs.body
    );
    // The stack and function pages link back to the execution that last deployed them.
    for page in [
        "/console/stacks/111111111111/eu-west-1/topic-prod",
        "/console/functions/111111111111/eu-west-1/hello",
    ] {
        let p = get(&r, page);
        assert!(
            p.body.contains(&format!(
                "Last deployed by pipeline <a href=\"/console/pipelines/app/stream?execution={id}\">"
            )),
            "{page}: {}",
            p.body
        );
    }
    // Approving again: the executor's 409, as the API answers it.
    let again = post_form(
        &r,
        "/console/pipelines/app/approvals",
        &format!("stage=Approve&action={action}&decision=Approved"),
        &[],
    );
    assert_eq!(again.status, 409, "{}", again.body);
}

// ---------------------------------------------------------------------------------------------
// In the browser.

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Where screenshots go: `target/screenshots/` (next to the build's `tmp`).
fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn in_chromium_approve_a_pipeline_and_skip_a_canarys_wait() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser test needs Debian's chromium (run scripts/setup as root, or apt-get install chromium)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules/playwright-core is missing: run scripts/setup (npm ci in tests/browser)"
    );
    let r = pipeline_rig(|_| {});
    let dep = canary(&r);
    // Something to show on the function page: one invocation through the Lambda endpoint.
    r.python(
        "import boto3\nboto3.client('lambda', region_name='us-east-1').invoke(FunctionName='hello', Payload=b'{\"k\": \"<tag>\"}')\n",
    );
    let exec = run_to_approval(&r);
    let shots = screenshots();
    let mut child = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .arg(r.endpoint())
        .arg(&dep)
        .arg(&shots)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut log = Vec::new();
    for line in out.lines() {
        let line = line.unwrap();
        // The browser's steps show in the test's output as they happen.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("browser: {line}");
        }
        log.push(line);
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{}",
        log.join("\n")
    );
    // What the page did happened: the approval went through and prod was deployed.
    let st = r
        .server
        .as_ref()
        .unwrap()
        .pipelines()
        .executor
        .state("app")
        .unwrap();
    let x = st.execution(&exec).unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    let rec = x.stages[1].actions[0].approval.as_ref().unwrap();
    assert_eq!(rec.comment.as_deref(), Some("ship it from the browser"));
    for f in [
        "pipelines",
        "pipeline",
        "pipeline-phone",
        "deployment",
        "stack",
        "function",
    ] {
        assert!(shots.join(format!("{f}.png")).exists(), "{f}.png");
    }
}

const ALARMED: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: {code}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Alarms:
          - !Ref Errors
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: hello-errors
      Namespace: AWS/Lambda
      MetricName: Errors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: notBreaching
      Dimensions:
        - Name: FunctionName
          Value: hello
"#;

#[test]
fn in_chromium_an_alarm_rolls_a_canary_back_while_the_page_watches() {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing");
    let r = Rig::start_with(|c| c.tick_interval = Duration::from_secs(3600));
    r.write(&[
        ("v1/app.py", HELLO),
        (
            "v2/app.py",
            "def handler(event, context):\n    raise RuntimeError('v2 is broken')\n",
        ),
    ]);
    r.deploy("app", &ALARMED.replace("{code}", "v1/"));
    let dep = r
        .deploy("app", &ALARMED.replace("{code}", "v2/"))
        .waiting_on
        .expect("the update waits on a deployment");
    let tick = || {
        let _guard = r.rt.enter();
        r.server.as_ref().unwrap().tick().unwrap();
    };
    r.wait_for("10 % on the new version", || {
        tick();
        get(&r, &format!("/api/v1/deployments/{dep}"))
            .body
            .contains("\"weightPercent\":10.0")
    });
    let shots = screenshots();
    let mut child = Command::new("node")
        .arg(browser_dir().join("canary.mjs"))
        .arg(r.endpoint())
        .arg(&dep)
        .arg(&shots)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut log = Vec::new();
    for line in out.lines() {
        let line = line.unwrap();
        #[allow(clippy::print_stderr)]
        {
            eprintln!("browser: {line}");
        }
        if line == "ready" {
            // The new version fails three times; the server samples the errors at a tick, and
            // a minute later (the injected clock) the period is complete and the alarm fires.
            for _ in 0..3 {
                let out = request(
                    &r.endpoint(),
                    "POST",
                    "/2015-03-31/functions/hello/invocations?Qualifier=2",
                    &[],
                    "{}",
                );
                assert_eq!(out.header("x-amz-function-error"), Some("Unhandled"));
            }
            tick();
            r.clock.advance_ms(60_000);
            tick();
        }
        log.push(line);
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{}",
        log.join("\n")
    );
    let d = get(&r, &format!("/api/v1/deployments/{dep}"));
    assert!(d.body.contains("\"status\":\"Stopped\""), "{}", d.body);
    for f in ["canary-10", "canary-rolled-back"] {
        assert!(shots.join(format!("{f}.png")).exists(), "{f}.png");
    }
}
