//! `slipway invoke [FUNCTION]`: `sam local invoke`, on Slipway's runtime.
//!
//! 1. Resolve the template (parameters, conditions, intrinsics, the SAM transform) and list its
//!    functions: every `AWS::Lambda::Function` after the transform, by logical ID (a SAM
//!    function keeps its logical ID). `FUNCTION` may be left out when there is exactly one.
//! 2. Build the [`FunctionSpec`] from its properties: code from `Code` — a local `CodeUri`
//!    became `{S3Bucket: slipway-local, S3Key: <path>}` and is taken relative to the template's
//!    directory (for the built template, to the package `slipway build` made); inline
//!    `Code.ZipFile` is written to `index.py` in a temporary directory, as Lambda names it;
//!    `Timeout` 3 and `MemorySize` 128 when absent, as on Lambda; `Layers` that are layers of
//!    the template with local content (`ContentUri`), in order.
//! 3. Apply `--env-vars` as SAM CLI does: the file's `Parameters` section to every function,
//!    then the section named by the function's logical ID (or its `FunctionName`), and only
//!    to variables the template declares in `Environment.Variables` — the others are ignored,
//!    with a warning (SAM CLI ignores them silently).
//! 4. Invoke once with [`slipway_runtime::invoke_once`] on a current-thread tokio runtime.
//!    The function's logs stream to stderr as they are written; the result (or Lambda's error
//!    JSON) goes to stdout. A function error exits 1.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use slipway_model::diag::{Code, Diagnostic, Sources, render_human};
use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_model::syntax::{Node, TagMode, parse_document};
use slipway_model::template::{LOCAL_CODE_BUCKET, NoParameters, Options, Template, resolve};
use slipway_runtime::{PythonConfig, RuntimeConfig, StderrLogSink, invoke_once};

use super::{DirFiles, Status};
use crate::args::InvokeArgs;
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings::{self, EventSource, InvokeSettings};

/// The resource type every function is after the SAM transform.
const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";

pub(crate) fn run(
    args: &InvokeArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let resolved = settings::invoke(args, env, cwd);
    err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
    let Some(s) = resolved.settings else {
        return Ok(Status::Usage);
    };
    if s.built_template {
        writeln!(
            err,
            "Using the built template {} (from `slipway build`)",
            s.template.display()
        )?;
        if let Some(source) = newer_source_template(cwd, &s.template) {
            writeln!(
                err,
                "warning: {source} changed after the last `slipway build`; run it again, \
                 or name the template with -t"
            )?;
        }
    }
    let Some(template) = resolve_template(&s, cwd, err)? else {
        return Ok(Status::Invalid);
    };
    let functions: Vec<&str> = template
        .resources
        .values()
        .filter(|r| r.type_ == LAMBDA_FUNCTION && !r.inert)
        .map(|r| r.logical_id.as_str())
        .collect();
    let logical_id = match (&s.function, functions.as_slice()) {
        (Some(f), _) if functions.contains(&f.as_str()) => f.clone(),
        (None, [only]) => (*only).to_owned(),
        (Some(f), _) => {
            writeln!(
                err,
                "error: {} has no function '{f}'; its functions are: {}",
                s.template.display(),
                list(&functions)
            )?;
            return Ok(Status::Usage);
        }
        (None, []) => {
            writeln!(err, "error: {} has no functions", s.template.display())?;
            return Ok(Status::Usage);
        }
        (None, _) => {
            writeln!(
                err,
                "error: {} has {} functions; name the one to invoke: {}",
                s.template.display(),
                functions.len(),
                list(&functions)
            )?;
            return Ok(Status::Usage);
        }
    };
    let template_dir = cwd
        .join(&s.template)
        .parent()
        .map_or_else(|| cwd.to_owned(), Path::to_owned);
    let scratch = tempfile::Builder::new()
        .prefix("slipway-invoke-")
        .tempdir()
        .map_err(|source| CliError::Io {
            action: "create a temporary directory in",
            path: std::env::temp_dir(),
            source,
        })?;
    let props = template.resources[&logical_id].properties.to_json();
    let mut spec = match function_spec(
        &logical_id,
        &template,
        &props,
        &template_dir,
        scratch.path(),
        &s,
    ) {
        Ok(spec) => spec,
        Err(message) => {
            writeln!(err, "error: {logical_id}: {message}")?;
            return Ok(Status::Usage);
        }
    };
    if let Some(path) = &s.env_vars {
        let text = read(&cwd.join(path), "env vars file")?;
        match apply_env_vars(&text, &logical_id, &mut spec) {
            Ok(ignored) => {
                for name in ignored {
                    writeln!(
                        err,
                        "warning: {}: {name} is not in {logical_id}'s Environment.Variables \
                         in the template; ignored, as SAM CLI does",
                        path.display()
                    )?;
                }
            }
            Err(e) => {
                writeln!(err, "error: {}: {e}", path.display())?;
                return Ok(Status::Usage);
            }
        }
    }
    let event = match &s.event {
        EventSource::Empty => b"{}".to_vec(),
        EventSource::Stdin => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|source| CliError::Read {
                    what: "the event from",
                    path: PathBuf::from("stdin"),
                    source,
                })?;
            buf
        }
        EventSource::File(p) => read(&cwd.join(p), "event file")?.into_bytes(),
    };
    if serde_json::from_slice::<Value>(&event).is_err() {
        writeln!(err, "error: the event is not valid JSON")?;
        return Ok(Status::Usage);
    }

    let mut config = RuntimeConfig::new(scratch.path().join("runtime"));
    config.log_sink = Some(Arc::new(StderrLogSink::default()));
    if let Some(python) = &s.python {
        config.python = PythonConfig {
            fallback: python.clone(),
            ..PythonConfig::default()
        };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Tokio)?;
    err.flush()?;
    let response = runtime
        .block_on(invoke_once(config, spec, event.into()))
        .map_err(CliError::Invoke)?;
    out.write_all(&response.payload)?;
    writeln!(out)?;
    Ok(if response.function_error.is_some() {
        Status::Invalid
    } else {
        Status::Success
    })
}

/// A template in `cwd` modified after the built template was written, if any.
fn newer_source_template(cwd: &Path, built: &Path) -> Option<&'static str> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let built_at = modified(&cwd.join(built))?;
    settings::DEFAULT_TEMPLATES
        .iter()
        .copied()
        .find(|t| modified(&cwd.join(t)).is_some_and(|at| at > built_at))
}

fn list(ids: &[&str]) -> String {
    ids.join(", ")
}

fn read(path: &Path, what: &'static str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Resolves the template, printing its diagnostics; `None` when it has errors.
fn resolve_template(
    s: &InvokeSettings,
    cwd: &Path,
    err: &mut dyn Write,
) -> Result<Option<Template>, CliError> {
    let name = s.template.display().to_string();
    let path = cwd.join(&s.template);
    let text = read(&path, "template")?;
    let files = DirFiles(path.parent().map_or_else(|| cwd.to_owned(), Path::to_owned));
    let opts = Options {
        file: name.clone(),
        account: s.target.account.clone(),
        region: s.target.region.clone(),
        stack_name: s.target.stack_name.clone(),
        overrides: s.parameter_overrides.clone(),
        parameter_store: &NoParameters,
        files: &files,
        ..Options::default()
    };
    let mut outcome = resolve(&text, &opts);
    // Types Slipway cannot deploy yet do not matter to an invoke: keep them as inert records.
    let only_unsupported = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .all(|d| d.code == Code::UnsupportedResourceType);
    if outcome.template.is_none() && only_unsupported {
        let opts = Options {
            inert_types: resource_types(&text),
            ..opts
        };
        outcome = resolve(&text, &opts);
    }
    let mut sources = Sources::new();
    sources.add(name, text);
    // Only errors stop an invoke.
    let errors: Vec<Diagnostic> = outcome
        .diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    if !errors.is_empty() || outcome.template.is_none() {
        err.write_all(render_human(&errors, &sources).as_bytes())?;
        return Ok(None);
    }
    Ok(outcome.template)
}

/// The `Type` of every resource as written.
pub(crate) fn resource_types(text: &str) -> BTreeSet<String> {
    let parsed = parse_document(text, TagMode::CloudFormation);
    parsed
        .root
        .as_ref()
        .and_then(Node::as_map)
        .and_then(|m| m.get("Resources"))
        .and_then(Node::as_map)
        .map(|resources| {
            resources
                .iter()
                .filter_map(|(_, r)| r.as_map()?.get("Type")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn str_prop<'v>(props: &'v Value, key: &str) -> Option<&'v str> {
    props.get(key).and_then(Value::as_str)
}

/// A number property, written as a number or a numeric string.
fn u32_prop(props: &Value, key: &str) -> Result<Option<u32>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{key} must be a positive integer, not {n}")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} must be a positive integer, not {s:?}")),
        Some(other) => Err(format!("{key} must be a number, not {other}")),
    }
}

/// The spec of function `logical_id` from its resolved `AWS::Lambda::Function` properties.
fn function_spec(
    logical_id: &str,
    template: &Template,
    props: &Value,
    template_dir: &Path,
    scratch: &Path,
    s: &InvokeSettings,
) -> Result<FunctionSpec, String> {
    if str_prop(props, "PackageType") == Some("Image") {
        return Err("PackageType Image functions cannot be invoked locally yet".into());
    }
    let runtime = str_prop(props, "Runtime")
        .ok_or("has no Runtime")?
        .to_owned();
    let handler = str_prop(props, "Handler").unwrap_or_default().to_owned();
    let code = props.get("Code").ok_or("has no Code (or CodeUri)")?;
    let code_dir = if let Some(inline) = code.get("ZipFile").and_then(Value::as_str) {
        if !runtime.starts_with("python") {
            return Err(format!(
                "inline Code.ZipFile is supported for python runtimes, not {runtime}"
            ));
        }
        let dir = scratch.join("code");
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("index.py"), inline))
            .map_err(|e| format!("cannot write the inline code to {}: {e}", dir.display()))?;
        dir
    } else {
        match (str_prop(code, "S3Bucket"), str_prop(code, "S3Key")) {
            (Some(LOCAL_CODE_BUCKET), Some(key)) => {
                let dir = template_dir.join(key);
                if !dir.is_dir() {
                    return Err(format!(
                        "its code '{key}' is not a directory ({})",
                        dir.display()
                    ));
                }
                dir
            }
            (Some(bucket), Some(key)) => {
                return Err(format!(
                    "its code is in S3 (s3://{bucket}/{key}); slipway invoke runs local code only"
                ));
            }
            _ => return Err("Code has neither ZipFile nor a local CodeUri".into()),
        }
    };
    let mut layers = Vec::new();
    for layer in props
        .get("Layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        layers.push(layer_dir(layer, template, template_dir)?);
    }
    let environment = props
        .pointer("/Environment/Variables")
        .and_then(Value::as_object)
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| (k.clone(), scalar_string(v)))
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default();
    Ok(FunctionSpec {
        name: str_prop(props, "FunctionName")
            .unwrap_or(logical_id)
            .to_owned(),
        version: Version::Latest,
        location: Location {
            partition: "aws".into(),
            account: s.target.account.clone(),
            region: s.target.region.clone(),
        },
        runtime,
        handler,
        code_dir,
        layers,
        memory_mb: u32_prop(props, "MemorySize")?.unwrap_or(FunctionSpec::DEFAULT_MEMORY_MB),
        timeout_secs: u32_prop(props, "Timeout")?.unwrap_or(FunctionSpec::DEFAULT_TIMEOUT_SECS),
        environment,
        reserved_concurrency: u32_prop(props, "ReservedConcurrentExecutions")?,
        architectures: props
            .get("Architectures")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| vec!["x86_64".into()]),
        description: str_prop(props, "Description")
            .unwrap_or_default()
            .to_owned(),
    })
}

/// The directory of one entry of a function's `Layers`: a `Ref` to a layer of the template
/// whose content is local (`ContentUri`, or `Content` after the SAM transform).
fn layer_dir(layer: &Value, template: &Template, template_dir: &Path) -> Result<PathBuf, String> {
    let Some(id) = layer.get("Ref").and_then(Value::as_str) else {
        return Err(format!(
            "layer {layer} is not a layer of this template; slipway invoke runs local layers only"
        ));
    };
    let resource = template
        .resources
        .get(id)
        .filter(|r| r.type_ == "AWS::Lambda::LayerVersion")
        .ok_or_else(|| format!("layer {id} is not an AWS::Lambda::LayerVersion"))?;
    let content = resource.properties.to_json();
    let content = &content["Content"];
    match (str_prop(content, "S3Bucket"), str_prop(content, "S3Key")) {
        (Some(LOCAL_CODE_BUCKET), Some(key)) => {
            let dir = template_dir.join(key);
            if dir.is_dir() {
                Ok(dir)
            } else {
                Err(format!(
                    "layer {id}: its content '{key}' is not a directory ({})",
                    dir.display()
                ))
            }
        }
        _ => Err(format!(
            "layer {id}: its content is not local; slipway invoke runs local layers only"
        )),
    }
}

/// A JSON scalar as an environment variable value (`true`, `3`, text as is).
fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Applies an env-vars file (SAM CLI's format) to `spec`; returns the names it ignored because
/// the template does not declare them.
fn apply_env_vars(
    text: &str,
    logical_id: &str,
    spec: &mut FunctionSpec,
) -> Result<Vec<String>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(sections) = doc.as_object() else {
        return Err("must be a JSON object of sections (`Parameters`, function IDs)".into());
    };
    let mut ignored = BTreeSet::new();
    let ours = [
        Some("Parameters"),
        Some(logical_id),
        Some(spec.name.as_str()),
    ];
    // `Parameters` first, then the function's own section (by logical ID, then by name).
    let mut order: Vec<&str> = Vec::new();
    for want in ours.iter().flatten() {
        if sections.contains_key(*want) && !order.contains(want) {
            order.push(want);
        }
    }
    for section in order {
        let Some(vars) = sections[section].as_object() else {
            return Err(format!(
                "section {section:?} must be an object of VAR: value"
            ));
        };
        for (name, value) in vars {
            if value.is_object() || value.is_array() {
                return Err(format!(
                    "{section}.{name} must be a string, number or boolean"
                ));
            }
            match spec.environment.get_mut(name) {
                Some(slot) => *slot = scalar_string(value),
                None => {
                    // Parameters apply to every function: not declaring one is normal.
                    if section != "Parameters" {
                        ignored.insert(name.clone());
                    }
                }
            }
        }
    }
    Ok(ignored.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: &[(&str, &str)]) -> FunctionSpec {
        FunctionSpec {
            name: "hello-dev".into(),
            version: Version::Latest,
            location: Location::default(),
            runtime: "python3.11".into(),
            handler: "app.handler".into(),
            code_dir: PathBuf::from("."),
            layers: Vec::new(),
            memory_mb: 128,
            timeout_secs: 3,
            environment: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            reserved_concurrency: None,
            architectures: Vec::new(),
            description: String::new(),
        }
    }

    #[test]
    fn env_vars_apply_parameters_then_the_function() {
        let mut s = spec(&[("A", "a"), ("B", "b"), ("C", "c")]);
        let ignored = apply_env_vars(
            r#"{"Parameters": {"A": "pa", "B": "pb", "Z": 1},
                "Hello": {"B": "fb", "D": true},
                "Other": {"C": "no"}}"#,
            "Hello",
            &mut s,
        )
        .unwrap();
        assert_eq!(s.environment["A"], "pa");
        assert_eq!(s.environment["B"], "fb");
        assert_eq!(s.environment["C"], "c");
        assert!(!s.environment.contains_key("Z"));
        assert_eq!(ignored, vec!["D".to_owned()]);
        let mut s = spec(&[("A", "a")]);
        apply_env_vars(r#"{"hello-dev": {"A": 3}}"#, "Hello", &mut s).unwrap();
        assert_eq!(
            s.environment["A"], "3",
            "a section may name the FunctionName"
        );
        assert!(apply_env_vars("[]", "Hello", &mut s).is_err());
        assert!(apply_env_vars(r#"{"Hello": {"A": {}}}"#, "Hello", &mut s).is_err());
    }
}
