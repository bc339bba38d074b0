//! The pipeline golden corpus: every `*.yaml` under `tests/pipeline_cases/` is a pipeline
//! definition; beside it lives what reading it must give — `<name>.json` (the pipelines, as
//! the engine receives them) or `<name>.err` (the diagnostics rendered as users see them).
//!
//! A case whose first line is `#! import` is a CloudFormation template whose
//! `AWS::CodePipeline::Pipeline` resources are imported (further `#! overrides: K=V …` and
//! `#! export: Name=Value` lines feed template resolution); any other case is a
//! `slipway.yaml`. Adding a case needs no code: drop in the input, run with `BLESS=1`, read
//! what was written, commit.

#[path = "support/golden.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use slipway_model::diag::{Sources, render_human};
use slipway_model::pipeline::{ImportOptions, Outcome, import, parse_file};
use slipway_model::template::{Options, parse_overrides, resolve};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pipeline_cases")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

fn read(text: &str, name: &str) -> Outcome {
    if !text.starts_with("#! import") {
        return parse_file(text, name, "golden");
    }
    let mut overrides = Vec::new();
    let mut exports = BTreeMap::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#! overrides:") {
            overrides = parse_overrides(v.trim()).unwrap_or_default();
        } else if let Some((a, b)) = line
            .strip_prefix("#! export:")
            .and_then(|v| v.trim().split_once('='))
        {
            exports.insert(a.to_owned(), b.to_owned());
        }
    }
    let opts = Options {
        file: name.to_owned(),
        stack_name: "golden".into(),
        overrides,
        exports: &exports,
        ..Options::default()
    };
    let resolved = resolve(text, &opts);
    match resolved.template {
        Some(t) => {
            let mut o = import(
                &t,
                &ImportOptions {
                    file: name.to_owned(),
                    logical_id: None,
                },
            );
            let mut all = resolved.diagnostics;
            all.append(&mut o.diagnostics);
            o.diagnostics = all;
            o
        }
        None => Outcome {
            pipelines: Vec::new(),
            diagnostics: resolved.diagnostics,
        },
    }
}

fn run_case(input: &Path) -> BTreeMap<&'static str, String> {
    let text = std::fs::read_to_string(input).unwrap();
    let name = input.file_name().unwrap().to_string_lossy().into_owned();
    let outcome = read(&text, &name);
    let mut sources = Sources::new();
    sources.add(name, text);
    let mut out = BTreeMap::new();
    if outcome.has_errors() {
        let mut err = render_human(&outcome.diagnostics, &sources);
        let n = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
        let _ = writeln!(err, "{n} error(s)");
        out.insert("err", err);
    } else {
        let mut json = serde_json::to_string_pretty(&outcome.pipelines).unwrap();
        json.push('\n');
        out.insert("json", json);
    }
    out
}

#[test]
fn pipeline_golden_corpus() {
    let bless = support::blessing();
    let cases = inputs(&cases_dir());
    assert!(
        cases.len() >= 25,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for input in &cases {
        let actual = run_case(input);
        for ext in ["json", "err"] {
            let expected_path = input.with_extension(ext);
            support::check(
                input,
                ext,
                &expected_path,
                actual.get(ext),
                bless,
                &mut failures,
            );
        }
    }
    support::finish("pipeline", cases.len(), &failures);
}

/// Reading a pipeline never panics, whatever the bytes.
#[test]
fn pipeline_readers_never_panic_on_truncated_cases() {
    for input in inputs(&cases_dir()) {
        let text = std::fs::read_to_string(&input).unwrap();
        let mut cut = 0;
        while cut < text.len() {
            if text.is_char_boundary(cut) {
                let _ = read(&text[..cut], "cut.yaml");
            }
            cut += 37;
        }
    }
}
