//! SAM-style builds of a two-function app with a layer. pip is replaced by a script that
//! records each run, so the tests see exactly when dependencies are installed, without a network.

use std::fs;
use std::path::{Path, PathBuf};

use slipway_build::sam::{BuildState, Deps, SamBuildOptions, build_template};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 3
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Layers: [!Ref SharedLayer]
  ByeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: bye/
      Handler: app.handler
  MadeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: made/
      Handler: main
      Runtime: provided.al2023
    Metadata:
      BuildMethod: makefile
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
      CompatibleRuntimes: [python3.12]
    Metadata:
      BuildMethod: python3.12
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
  Table:
    Type: AWS::DynamoDB::Table
"#;

struct App {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    pip_log: PathBuf,
    opts: SamBuildOptions,
}

fn app() -> App {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("app");
    let w = |rel: &str, body: &str| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    };
    w("template.yaml", TEMPLATE);
    w("hello/app.py", "def handler(e, c):\n    return 'hello'\n");
    w("hello/requirements.txt", "requests==2.32.3\n");
    w("hello/__pycache__/app.cpython-312.pyc", "junk");
    w("bye/app.py", "def handler(e, c):\n    return 'bye'\n");
    w("bye/requirements.txt", "requests==2.32.3\n");
    w(
        "made/Makefile",
        "build-MadeFunction:\n\techo built > $(ARTIFACTS_DIR)/bootstrap\n",
    );
    w("shared/util.py", "X = 1\n");
    w("shared/requirements.txt", "six\n");
    let pip_log = tmp.path().join("pip.log");
    let fake = tmp.path().join("fake-pip");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\n# install ... -r REQ -t DIR\nfor a in \"$@\"; do prev=\"$last\"; last=\"$a\"; done\necho \"$@\" >> {}\nmkdir -p \"$last\" && echo fake > \"$last/dep_installed.py\"\n",
            pip_log.display()
        ),
    )
    .unwrap();
    let mut opts = SamBuildOptions::new(root.join("template.yaml"), &root.join(".slipway"));
    // Run through sh: executing a file just written races with other tests' forks (ETXTBSY).
    opts.pip = Some(vec!["sh".into(), fake.display().to_string()]);
    App {
        _tmp: tmp,
        root,
        pip_log,
        opts,
    }
}

fn pip_runs(a: &App) -> usize {
    fs::read_to_string(&a.pip_log).map_or(0, |s| s.lines().count())
}

fn exists(p: &Path) -> bool {
    p.exists()
}

#[test]
fn builds_functions_and_layers_like_sam() {
    let a = app();
    let r = build_template(&a.opts).unwrap();
    let build = a.root.join(".slipway/build");
    // Both python functions: code copied, dependencies installed, pycache left out.
    for f in ["HelloFunction", "ByeFunction"] {
        assert_eq!(r.get(f).unwrap().state, BuildState::Built);
        assert!(exists(&build.join(f).join("app.py")));
        assert!(exists(&build.join(f).join("dep_installed.py")));
        assert!(!exists(&build.join(f).join("__pycache__")));
    }
    // Same requirements and runtime: pip ran once for the two functions, once for the layer.
    assert_eq!(r.get("HelloFunction").unwrap().deps, Deps::Installed);
    assert_eq!(r.get("ByeFunction").unwrap().deps, Deps::Cached);
    assert_eq!(pip_runs(&a), 2);
    // The layer goes into python/.
    assert!(exists(&build.join("SharedLayer/python/util.py")));
    assert!(exists(&build.join("SharedLayer/python/dep_installed.py")));
    // The makefile method ran make build-<LogicalId> with ARTIFACTS_DIR.
    assert_eq!(
        fs::read_to_string(build.join("MadeFunction/bootstrap")).unwrap(),
        "built\n"
    );
    // Inline code and other resources are not built.
    assert!(matches!(
        r.get("Inline").unwrap().state,
        BuildState::Skipped(_)
    ));
    assert!(r.get("Table").is_none());
    // The built template points at the packages.
    let t: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&r.template).unwrap()).unwrap();
    assert_eq!(
        t["Resources"]["HelloFunction"]["Properties"]["CodeUri"],
        "HelloFunction"
    );
    assert_eq!(
        t["Resources"]["SharedLayer"]["Properties"]["ContentUri"],
        "SharedLayer"
    );
    assert_eq!(
        t["Resources"]["HelloFunction"]["Properties"]["Layers"][0],
        serde_json::json!({"Ref": "SharedLayer"})
    );
}

#[test]
fn an_unchanged_app_is_not_rebuilt_and_an_edit_rebuilds_one_function_without_pip() {
    let a = app();
    let first = build_template(&a.opts).unwrap();
    let runs = pip_runs(&a);
    let r = build_template(&a.opts).unwrap();
    for f in [
        "HelloFunction",
        "ByeFunction",
        "MadeFunction",
        "SharedLayer",
    ] {
        assert_eq!(r.get(f).unwrap().state, BuildState::Unchanged, "{f}");
        // An unchanged package keeps its archive.
        assert_eq!(r.get(f).unwrap().sha256, first.get(f).unwrap().sha256);
        assert!(r.get(f).unwrap().sha256.is_some());
    }
    assert_eq!(pip_runs(&a), runs);

    // Edit one handler (a new size, so the fingerprint differs whatever the clock's resolution).
    fs::write(
        a.root.join("hello/app.py"),
        "def handler(e, c):\n    return 'hello, again'\n",
    )
    .unwrap();
    let r = build_template(&a.opts).unwrap();
    assert_eq!(r.get("HelloFunction").unwrap().state, BuildState::Built);
    assert_eq!(r.get("HelloFunction").unwrap().deps, Deps::Cached);
    assert_eq!(r.get("ByeFunction").unwrap().state, BuildState::Unchanged);
    assert_eq!(pip_runs(&a), runs, "editing a handler must not run pip");
    // The edited function has a new archive in the store; the others keep theirs.
    let hello = r.get("HelloFunction").unwrap().sha256.clone().unwrap();
    assert_ne!(
        Some(&hello),
        first.get("HelloFunction").unwrap().sha256.as_ref()
    );
    assert_eq!(
        r.get("ByeFunction").unwrap().sha256,
        first.get("ByeFunction").unwrap().sha256
    );
    let store = slipway_store::Store::open(a.root.join(".slipway/artefacts")).unwrap();
    assert!(store.contains(&hello.parse().unwrap()));
    assert!(
        fs::read_to_string(a.root.join(".slipway/build/HelloFunction/app.py"))
            .unwrap()
            .contains("again")
    );

    // Changing requirements installs again, for that function only.
    fs::write(a.root.join("bye/requirements.txt"), "requests==2.32.4\n").unwrap();
    let r = build_template(&a.opts).unwrap();
    assert_eq!(r.get("ByeFunction").unwrap().deps, Deps::Installed);
    assert_eq!(pip_runs(&a), runs + 1);
}

#[test]
fn a_missing_code_directory_is_an_error() {
    let a = app();
    fs::remove_dir_all(a.root.join("bye")).unwrap();
    let e = build_template(&a.opts).unwrap_err().to_string();
    assert!(
        e.contains("ByeFunction") && e.contains("not a directory"),
        "{e}"
    );
}

#[test]
fn a_failing_pip_reports_its_output() {
    let a = app();
    let mut opts = SamBuildOptions::new(a.root.join("template.yaml"), &a.root.join(".slipway"));
    opts.pip = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo no such package >&2; exit 1".into(),
    ]);
    let e = build_template(&opts).unwrap_err().to_string();
    assert!(
        e.contains("pip install failed") && e.contains("no such package"),
        "{e}"
    );
}
