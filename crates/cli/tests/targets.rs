//! Two targets, one function name: the same template deployed to `111111111111/us-east-1` and
//! `222222222222/eu-west-1` of one `slipway server`, with different code in each. Each target's
//! `hello` runs its own code — through the Lambda endpoint (by ARN) and through the gateway —
//! and its own versions and aliases.

mod common;

use std::path::Path;

use common::server::{ServerProc, http, invoke};
use common::{Run, slipway, write};

#[track_caller]
fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /hello
            Method: GET
Outputs:
  ApiId:
    Value: !Ref ServerlessHttpApi
"#;

fn app(who: &str) -> String {
    format!(
        "import os\n\ndef handler(event, context):\n    return {{'statusCode': 200, 'body': '{who} ' + os.environ['AWS_REGION']}}\n"
    )
}

/// `slipway stack outputs app` of one target: the HTTP API's ID.
fn api_id(dir: &Path, ep: &str, account: &str, region: &str) -> String {
    let r = slipway(
        dir,
        &[
            "stack",
            "--endpoint",
            ep,
            "--account",
            account,
            "--region",
            region,
            "outputs",
            "app",
        ],
    );
    ok(&r);
    r.stdout
        .lines()
        .find(|l| l.starts_with("ApiId"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("{}", r.stdout))
        .to_owned()
}

#[test]
fn the_same_function_name_in_two_targets_is_two_functions() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        &[
            ("a/template.yaml", TEMPLATE),
            ("a/src/app.py", &app("alpha")),
            ("b/template.yaml", TEMPLATE),
            ("b/src/app.py", &app("beta")),
        ],
    );
    let data = p.join("server-data");
    let server = ServerProc::start(p, &data, "1");
    let ep = server.endpoint.clone();
    let targets = [
        ("a", "111111111111", "us-east-1", "alpha"),
        ("b", "222222222222", "eu-west-1", "beta"),
    ];
    for (project, account, region, _) in targets {
        let r = slipway(
            &p.join(project),
            &[
                "deploy",
                "--stack-name",
                "app",
                "--endpoint",
                &ep,
                "--account",
                account,
                "--region",
                region,
            ],
        );
        ok(&r);
    }
    for (project, account, region, who) in targets {
        let want = format!("{who} {region}");
        // Lambda Invoke by ARN, unqualified, by alias and by version.
        for qualifier in ["", ":live", ":1"] {
            let arn = format!("arn:aws:lambda:{region}:{account}:function:hello{qualifier}")
                .replace(':', "%3A");
            let (code, body) = invoke(&ep, &arn, "{}", false);
            assert_eq!(code, 200, "{body}");
            assert!(
                body.contains(&want),
                "{account}/{region} hello{qualifier}: {body}"
            );
        }
        // The gateway, host-based: each target's API reaches its own function.
        let api = api_id(&p.join(project), &ep, account, region);
        let gateway = server.gateway.clone();
        let host = format!("{api}.execute-api.localhost");
        let (code, body) = http(&gateway, "GET", "/hello", &[("Host", &host)], "");
        assert_eq!(code, 200, "{api}: {body}");
        assert_eq!(body, want, "{api}");
    }
    // The default target has no `hello`: a name without an ARN does not reach another
    // target's function.
    let (code, body) = invoke(&ep, "hello", "{}", false);
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains("Function not found: arn:aws:lambda:us-east-1:123456789012:function:hello"),
        "{body}"
    );
    server.stop();
}
