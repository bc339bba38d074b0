//! End-to-end: the real `slipway` binary in a temp directory, output compared as users see it
//! (temp paths filtered). Templates use a made-up resource type accepted with `--accept-type`
//! so that these tests are about the CLI, not about which AWS types the schemas know.

use std::path::Path;
use std::process::Command;

const ACCEPT: &[&str] = &["--accept-type", "Acme::Widget::Gadget"];

const VALID: &str = r#"Parameters:
  Env:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Size:
    Type: Number
    Default: 1
  Password:
    Type: String
    NoEcho: true
    Default: hunter2
Resources:
  Gadget:
    Type: Acme::Widget::Gadget
    Properties:
      Name: !Sub gadget-${Env}-${Size}
      Secret: !Ref Password
Outputs:
  GadgetName:
    Value: !Ref Gadget
"#;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn slipway(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.current_dir(dir).args(args);
    for var in [
        "SLIPWAY_REGION",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "SLIPWAY_ACCOUNT",
        "SLIPWAY_STACK_NAME",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    let filter =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.display().to_string(), "[TEMP]");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: filter(&out.stdout),
        stderr: filter(&out.stderr),
    }
}

fn with_accept<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = vec!["validate"];
    v.extend_from_slice(args);
    v.extend_from_slice(ACCEPT);
    v
}

#[test]
fn valid_template_exits_0_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("template.yaml", VALID)]);
    let r = slipway(dir.path(), &with_accept(&[]));
    assert_eq!(r.stderr, "template.yaml: valid — 1 resource, 1 output\n");
    assert_eq!(r.stdout, "");
    assert_eq!(r.code, 0);
}

#[test]
fn invalid_template_lists_every_error_with_a_snippet() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Parameters:\n  Env:\n    Type: String\n    AllowedValues: [dev, prod]\n    Default: test\nResources:\n  Gadget:\n    Type: Acme::Widget::Gadget\n    Properties:\n      Name: !Ref Missing\n";
    write(dir.path(), &[("bad.yaml", text)]);
    let r = slipway(dir.path(), &with_accept(&["-t", "bad.yaml"]));
    assert_eq!(
        r.stderr,
        "\
error[P001]: Parameter 'Env' must be one of AllowedValues: dev, prod
  --> bad.yaml:5:14
   |
 5 |     Default: test
   |              ^
   = at Parameters.Env
   = help: the value 'test' comes from its Default

error[I002]: Ref target 'Missing' is not a parameter, pseudo parameter or resource of this template
  --> bad.yaml:10:13
    |
 10 |       Name: !Ref Missing
    |             ^
   = at Resources.Gadget.Properties.Name.Ref

bad.yaml: 2 errors, 0 warnings
"
    );
    assert_eq!(r.code, 1);
}

#[test]
fn json_output_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "template.yaml",
            "Resources:\n  A:\n    Type: Acme::Widget::Gadget\n  A:\n    Type: Acme::Widget::Gadget\n",
        )],
    );
    let r = slipway(dir.path(), &with_accept(&["--output", "json"]));
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["template"], serde_json::Value::Null);
    assert_eq!(doc["diagnostics"][0]["code"], "S002");
    assert_eq!(doc["diagnostics"][0]["file"], "template.yaml");
    assert_eq!(doc["diagnostics"][0]["line"], 4);
    assert_eq!(doc["diagnostics"][0]["severity"], "error");

    write(dir.path(), &[("template.yaml", VALID)]);
    let r = slipway(dir.path(), &with_accept(&["--output", "json"]));
    assert_eq!(r.code, 0);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
    assert_eq!(
        doc["template"]["Resources"]["Gadget"]["Properties"]["Name"],
        "gadget-dev-1"
    );
}

#[test]
fn print_resolved_masks_no_echo_values() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("template.yaml", VALID)]);
    let r = slipway(dir.path(), &with_accept(&["--print-resolved"]));
    assert_eq!(r.code, 0);
    assert!(!r.stdout.contains("hunter2"), "{}", r.stdout);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["Parameters"]["Password"]["Value"], "*****");
    assert_eq!(doc["Resources"]["Gadget"]["Properties"]["Secret"], "*****");
    assert_eq!(r.stderr, "template.yaml: valid — 1 resource, 1 output\n");
}

#[test]
fn samconfig_overrides_apply_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("template.yaml", VALID),
            (
                "samconfig.toml",
                "version = 0.1\n[default.global.parameters]\nstack_name = \"from-config\"\n[default.validate.parameters]\nparameter_overrides = \"Env=prod Size=3\"\naccept_type = [\"Acme::Widget::Gadget\"]\n",
            ),
        ],
    );
    let name = |r: &Run| {
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        doc["Resources"]["Gadget"]["Properties"]["Name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = slipway(dir.path(), &["validate", "--print-resolved"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(name(&r), "gadget-prod-3");
    // The flag replaces samconfig's list whole, as SAM CLI does: Size falls back to its default.
    let r = slipway(
        dir.path(),
        &[
            "validate",
            "--print-resolved",
            "--parameter-overrides",
            "Env=dev",
        ],
    );
    assert_eq!(name(&r), "gadget-dev-1");

    // A mistake in samconfig.toml points at its line; the command does not run.
    write(
        dir.path(),
        &[(
            "samconfig.toml",
            "version = 0.1\n[default.validate.parameters]\nprint_resolved = \"maybe\"\n",
        )],
    );
    let r = slipway(dir.path(), &["validate"]);
    assert_eq!(
        r.stderr,
        "\
error[C001]: `print_resolved` must be true or false, found a string
  --> samconfig.toml:3:18
   |
 3 | print_resolved = \"maybe\"
   |                  ^
   = at default.validate.parameters.print_resolved

"
    );
    assert_eq!(r.code, 2);
}

#[test]
fn jinja_template_renders_with_vars_and_errors_point_at_the_j2_line() {
    let dir = tempfile::tempdir().unwrap();
    let j2 = "Resources:\n{% for name in gadgets %}\n  {{ name }}Gadget:\n    Type: Acme::Widget::Gadget\n    Properties:\n      Size: {{ size }}\n{% endfor %}\n";
    write(
        dir.path(),
        &[
            ("template.yaml.j2", j2),
            ("vars.yaml", "gadgets: [Red, Blue]\nsize: 2\n"),
            ("partial.yaml", "gadgets: [Red]\n"),
        ],
    );
    let r = slipway(
        dir.path(),
        &with_accept(&["-t", "template.yaml.j2", "--template-vars", "vars.yaml"]),
    );
    assert_eq!(
        r.stderr,
        "template.yaml.j2: valid — 2 resources, 0 outputs\n"
    );
    assert_eq!(r.code, 0);

    let r = slipway(
        dir.path(),
        &with_accept(&["-t", "template.yaml.j2", "--template-vars", "partial.yaml"]),
    );
    assert_eq!(
        r.stderr,
        "\
error[S010]: undefined value: `size` is undefined (in `size`)
  --> template.yaml.j2:6:16
   |
 6 |       Size: {{ size }}
   |                ^
   = help: every variable must be defined in --template-vars (undefined is an error)

template.yaml.j2: 1 error, 0 warnings
"
    );
    assert_eq!(r.code, 1);
}

#[test]
fn rendered_template_errors_point_back_at_the_j2_source() {
    let dir = tempfile::tempdir().unwrap();
    let j2 = "Resources:\n  Gadget:\n    Type: Acme::Widget::Gadget\n    Properties:\n      Name: {{ name }}\n      Other: !Ref Nowhere\n";
    write(
        dir.path(),
        &[("t.yaml.j2", j2), ("v.json", "{\"name\": \"x\"}")],
    );
    let r = slipway(
        dir.path(),
        &with_accept(&["-t", "t.yaml.j2", "--template-vars", "v.json"]),
    );
    assert!(r.stderr.contains("  --> t.yaml.j2:6:14\n"), "{}", r.stderr);
    assert_eq!(r.code, 1);
}

#[test]
fn explain_prints_the_code_summary() {
    let dir = tempfile::tempdir().unwrap();
    let r = slipway(dir.path(), &["validate", "--explain", "S002"]);
    assert_eq!(r.stdout, "S002: a mapping has the same key twice\n");
    assert_eq!(r.code, 0);
    let r = slipway(dir.path(), &["validate", "--explain", "Z999"]);
    assert_eq!(r.code, 2);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let r = slipway(dir.path(), &["validate", "--no-such-flag"]);
    assert_eq!(r.code, 2);
    let r = slipway(dir.path(), &["validate"]);
    assert_eq!(
        r.stderr,
        "error[C001]: no template given and none found: looked for template.yaml, template.yml and template.json in the current directory\n   = help: name one with -t/--template\n\n"
    );
    assert_eq!(r.code, 2);
    let r = slipway(dir.path(), &["validate", "-t", "nope.yaml"]);
    assert_eq!(
        r.stderr,
        "error: cannot read template [TEMP]/nope.yaml\n  caused by: No such file or directory (os error 2)\n"
    );
    assert_eq!(r.code, 2);
}

#[test]
fn the_hello_example_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // A SAM function with `AutoPublishAlias`: the function, its role, a version and an alias.
    let r = slipway(&root, &["validate", "-t", "examples/hello/template.yaml"]);
    assert_eq!(
        r.stderr,
        "examples/hello/template.yaml: valid — 4 resources, 2 outputs\n"
    );
    assert_eq!(r.code, 0);
}
