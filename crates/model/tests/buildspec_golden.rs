//! The buildspec golden corpus: every `*.yml` under `tests/buildspec_cases/` is a buildspec;
//! beside it lives what parsing it must give — `<name>.json` (the typed buildspec), with
//! `<name>.warn` when a valid buildspec has warnings, or `<name>.err` (the diagnostics rendered
//! as users see them). Adding a case needs no code: drop in the input, run with `BLESS=1`, read
//! what was written, commit.

#[path = "support/golden.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use slipway_model::buildspec::parse;
use slipway_model::diag::{Sources, render_human};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/buildspec_cases")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    out.sort();
    out
}

fn run_case(input: &Path) -> BTreeMap<&'static str, String> {
    let text = std::fs::read_to_string(input).unwrap();
    let name = input.file_name().unwrap().to_string_lossy().into_owned();
    let outcome = parse(&text, &name);
    let mut sources = Sources::new();
    sources.add(name, text);
    let mut out = BTreeMap::new();
    match &outcome.buildspec {
        Some(b) => {
            let mut json = serde_json::to_string_pretty(b).unwrap();
            json.push('\n');
            out.insert("json", json);
            if !outcome.diagnostics.is_empty() {
                out.insert("warn", render_human(&outcome.diagnostics, &sources));
            }
        }
        None => {
            let mut err = render_human(&outcome.diagnostics, &sources);
            let n = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
            let _ = writeln!(err, "{n} error(s)");
            out.insert("err", err);
        }
    }
    out
}

#[test]
fn buildspec_golden_corpus() {
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
        for ext in ["json", "err", "warn"] {
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
    support::finish("buildspec", cases.len(), &failures);
}
