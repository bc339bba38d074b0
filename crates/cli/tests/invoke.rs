//! End-to-end `slipway invoke`: real Python handlers, run by the real binary in a temp dir.

mod common;

use common::{Run, slipway, slipway_with_stdin, write};
use serde_json::{Value, json};

const APP: &str = r#"import json, os

def handler(event, context):
    print("handling", json.dumps(event, sort_keys=True))
    return {
        "greeting": os.environ.get("GREETING"),
        "stage": os.environ.get("STAGE"),
        "undeclared": os.environ.get("UNDECLARED"),
        "event": event,
        "function": context.function_name,
        "memory": context.memory_limit_in_mb,
    }

def fail(event, context):
    raise ValueError("no such widget: " + event.get("id", "?"))
"#;

const ONE: &str = r#"Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: Hello
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.11
      Handler: app.handler
      Environment:
        Variables:
          GREETING: !Ref Greeting
          STAGE: dev
"#;

const SEVERAL: &str = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src/
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      MemorySize: 256
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.fail
"#;

fn project(template: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("template.yaml", template), ("src/app.py", APP)],
    );
    dir
}

fn result(r: &Run) -> Value {
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    })
}

#[test]
fn invokes_the_only_function_with_an_event_file() {
    let dir = project(ONE);
    write(dir.path(), &[("event.json", r#"{"id": "w-1"}"#)]);
    let r = slipway(dir.path(), &["invoke", "-e", "event.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = result(&r);
    assert_eq!(v["greeting"], "Hello");
    assert_eq!(v["event"], json!({"id": "w-1"}));
    assert_eq!(v["function"], "Hello", "the logical ID names the function");
    assert_eq!(v["memory"], "128", "Lambda's default MemorySize");
    // Logs on stderr, not stdout.
    assert!(
        r.stderr.contains("handling {\"id\": \"w-1\"}"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("REPORT RequestId: "), "{}", r.stderr);
    assert!(!r.stdout.contains("REPORT"));
}

#[test]
fn reads_the_event_from_stdin_and_takes_parameter_overrides() {
    let dir = project(ONE);
    let r = slipway_with_stdin(
        dir.path(),
        &[
            "invoke",
            "Hello",
            "-e",
            "-",
            "--parameter-overrides",
            "Greeting=Bonjour",
        ],
        br#"{"from": "stdin"}"#,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = result(&r);
    assert_eq!(v["event"], json!({"from": "stdin"}));
    assert_eq!(v["greeting"], "Bonjour");
}

#[test]
fn env_vars_file_overrides_declared_variables() {
    let dir = project(ONE);
    write(
        dir.path(),
        &[(
            "env.json",
            r#"{"Parameters": {"GREETING": "Hi", "STAGE": "test"},
                "Hello": {"STAGE": "local", "UNDECLARED": "x"},
                "Other": {"GREETING": "not mine"}}"#,
        )],
    );
    let r = slipway(dir.path(), &["invoke", "-n", "env.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = result(&r);
    assert_eq!(v["greeting"], "Hi", "Parameters apply to every function");
    assert_eq!(v["stage"], "local", "the function's own section wins");
    assert_eq!(
        v["undeclared"],
        Value::Null,
        "as SAM CLI: only declared variables"
    );
    assert!(
        r.stderr
            .contains("warning: env.json: UNDECLARED is not in Hello's Environment.Variables"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_function_error_is_json_on_stdout_and_exit_1() {
    let dir = project(SEVERAL);
    let r = slipway_with_stdin(
        dir.path(),
        &["invoke", "Broken", "-e", "-"],
        br#"{"id": "w-9"}"#,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = result(&r);
    assert_eq!(v["errorType"], "ValueError");
    assert_eq!(v["errorMessage"], "no such widget: w-9");
    assert!(v["stackTrace"].is_array());
    assert!(
        r.stderr.contains("[ERROR] ValueError: no such widget: w-9"),
        "{}",
        r.stderr
    );
}

#[test]
fn chooses_among_several_functions() {
    let dir = project(SEVERAL);
    let r = slipway(dir.path(), &["invoke"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: template.yaml has 2 functions; name the one to invoke: Hello, Broken\n"
    );
    let r = slipway(dir.path(), &["invoke", "Helo"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: template.yaml has no function 'Helo'; its functions are: Hello, Broken\n"
    );
    let r = slipway(dir.path(), &["invoke", "Hello"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = result(&r);
    assert_eq!(v["memory"], "256");
    assert_eq!(v["event"], json!({}), "no event: {{}}, as SAM CLI sends");
}

#[test]
fn inline_zipfile_code_runs_as_index() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "template.yaml",
            r#"Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
  Inline:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Timeout: 5
      Code:
        ZipFile: |
          def handler(event, context):
              return {"left_ms_below_5s": context.get_remaining_time_in_millis() <= 5000}
"#,
        )],
    );
    let r = slipway(dir.path(), &["invoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(result(&r), json!({"left_ms_below_5s": true}));
}

#[test]
fn samconfig_invoke_parameters_are_read() {
    let dir = project(ONE);
    write(
        dir.path(),
        &[
            ("ev.json", r#"{"k": 1}"#),
            (
                "samconfig.toml",
                "version = 0.1\n[default.local_invoke.parameters]\nevent = \"ev.json\"\n[default.invoke.parameters]\nparameter_overrides = \"Greeting=Salut\"\n",
            ),
        ],
    );
    let r = slipway(dir.path(), &["invoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = result(&r);
    assert_eq!(v["event"], json!({"k": 1}));
    assert_eq!(v["greeting"], "Salut");
}

#[test]
fn local_layers_are_importable() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "template.yaml",
                r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Libs:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.11]
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.11
      Handler: app.handler
      Layers: [!Ref Libs]
"#,
            ),
            (
                "layer/python/greet.py",
                "def hi():\n    return 'from the layer'\n",
            ),
            (
                "src/app.py",
                "import greet\ndef handler(event, context):\n    return greet.hi()\n",
            ),
        ],
    );
    let r = slipway(dir.path(), &["invoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(result(&r), json!("from the layer"));
}
