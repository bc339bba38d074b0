//! The golden corpus: every file under `tests/cases/` is a template; next to it lives what
//! resolving it must give — `<name>.json` (the resolved template) or `<name>.err` (the
//! diagnostics, rendered as users see them) — and `<name>.warn` when a valid template has
//! warnings. Adding a case needs no code: drop in the input and run with `BLESS=1` to write the
//! expected files, then read them before committing.
//!
//! Options come from `#! key: value` lines at the top of a YAML case (or a `<name>.opts` file
//! beside a JSON case):
//! `#! overrides: K=V K2=V2`, `#! config: {"Parameters": {...}}` (a template configuration),
//! `#! ssm: /name=value`, `#! ssm-secure: /name=value`, `#! export: Name=Value`,
//! `#! region: eu-west-1`, `#! account: 111111111111`, `#! stack: name`,
//! `#! accept-type: AWS::EC2::VPC`, `#! file: path=contents-on-one-line`, `#! no-exports`.

#[path = "support/golden.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use slipway_model::diag::{Sources, render_human};
use slipway_model::template::{
    ExportLookup, JsonParameterStore, NoExports, Options, SsmKind, TemplateConfiguration, resolve,
};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn inputs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            inputs(&p, out);
        } else if stem(&p).is_some() {
            out.push(p);
        }
    }
}

/// A case's name without its input extension: `x.yaml`, `x.yml` and `x.input.json` are inputs;
/// their expected outputs are `x.json`, `x.err`, `x.warn`.
fn stem(p: &Path) -> Option<PathBuf> {
    let name = p.file_name()?.to_str()?;
    let base = name
        .strip_suffix(".input.json")
        .or_else(|| name.strip_suffix(".yaml"))
        .or_else(|| name.strip_suffix(".yml"))?;
    Some(p.with_file_name(base))
}

struct CaseOptions {
    overrides: Vec<(String, String)>,
    config: Option<TemplateConfiguration>,
    store: JsonParameterStore,
    exports: Option<BTreeMap<String, String>>,
    region: String,
    account: String,
    stack: String,
    accept: Vec<String>,
    files: BTreeMap<String, String>,
}

fn case_options(text: &str) -> CaseOptions {
    let mut o = CaseOptions {
        overrides: Vec::new(),
        config: None,
        store: JsonParameterStore::default(),
        exports: Some(BTreeMap::new()),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        stack: "golden".into(),
        accept: Vec::new(),
        files: BTreeMap::new(),
    };
    for line in text.lines() {
        let Some(d) = line.strip_prefix("#! ") else {
            continue;
        };
        let (k, v) = d
            .split_once(':')
            .map_or((d, ""), |(k, v)| (k.trim(), v.trim()));
        let kv = || {
            v.split_once('=')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .expect(k)
        };
        match k {
            "overrides" => o.overrides = slipway_model::template::parse_overrides(v).unwrap(),
            "config" => o.config = Some(TemplateConfiguration::parse(v).unwrap()),
            "ssm" => {
                let (a, b) = kv();
                o.store.insert(a, b, SsmKind::String);
            }
            "ssm-secure" => {
                let (a, b) = kv();
                o.store.insert(a, b, SsmKind::SecureString);
            }
            "ssm-list" => {
                let (a, b) = kv();
                o.store.insert(a, b, SsmKind::StringList);
            }
            "export" => {
                let (a, b) = kv();
                o.exports.get_or_insert_with(BTreeMap::new).insert(a, b);
            }
            "no-exports" => o.exports = None,
            "region" => o.region = v.into(),
            "account" => o.account = v.into(),
            "stack" => o.stack = v.into(),
            "accept-type" => o.accept.push(v.into()),
            "file" => {
                let (a, b) = kv();
                o.files.insert(a, b.replace("\\n", "\n"));
            }
            other => panic!("unknown case directive '{other}'"),
        }
    }
    o
}

fn run_case(input: &Path) -> BTreeMap<&'static str, String> {
    let text = std::fs::read_to_string(input).unwrap();
    let base = stem(input).unwrap();
    let opts_path = PathBuf::from(format!("{}.opts", base.display()));
    let directives = if opts_path.exists() {
        std::fs::read_to_string(&opts_path).unwrap()
    } else {
        text.clone()
    };
    let co = case_options(&directives);
    let name = input
        .strip_prefix(cases_dir())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    let exports: &dyn ExportLookup = match &co.exports {
        Some(m) => m,
        None => &NoExports,
    };
    let opts = Options {
        file: name.clone(),
        account: co.account.clone(),
        region: co.region.clone(),
        stack_name: co.stack.clone(),
        overrides: co.overrides.clone(),
        template_configuration: co.config.clone(),
        previous: BTreeMap::new(),
        parameter_store: &co.store,
        exports,
        files: &co.files,
        inert_types: co.accept.iter().cloned().collect(),
    };
    let outcome = resolve(&text, &opts);
    let mut sources = Sources::new();
    sources.add(name, text);
    let mut out = BTreeMap::new();
    match &outcome.template {
        Some(t) => {
            let mut json = serde_json::to_string_pretty(&t.to_json()).unwrap();
            json.push('\n');
            out.insert("json", json);
            if !outcome.diagnostics.is_empty() {
                out.insert("warn", render_human(&outcome.diagnostics, &sources));
            }
        }
        None => {
            let mut err = render_human(&outcome.diagnostics, &sources);
            let _ = writeln!(
                err,
                "{} error(s)",
                outcome.diagnostics.iter().filter(|d| d.is_error()).count()
            );
            out.insert("err", err);
        }
    }
    out
}

#[test]
fn golden_corpus() {
    let bless = support::blessing();
    let mut cases = Vec::new();
    inputs(&cases_dir(), &mut cases);
    assert!(
        !cases.is_empty(),
        "no cases under {}",
        cases_dir().display()
    );
    let mut failures = Vec::new();
    for input in &cases {
        let actual = run_case(input);
        for ext in ["json", "err", "warn"] {
            let expected_path = PathBuf::from(format!("{}.{ext}", stem(input).unwrap().display()));
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
    support::finish("golden", cases.len(), &failures);
    #[allow(clippy::print_stderr)]
    {
        eprintln!("golden corpus: {} cases", cases.len());
    }
}
