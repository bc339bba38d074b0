//! `slipway validate`: read a template (rendering it first when it is a `.j2`), resolve it,
//! and report every problem at once.
//!
//! Human output goes to stderr — the diagnostics with source snippets, then one summary line
//! — so that `--print-resolved > resolved.json` leaves stdout holding only the resolved
//! template. `--output json` prints one document on stdout:
//! `{"valid": bool, "diagnostics": [...], "template": <resolved or null>}`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use serde_json::json;
use slipway_model::diag::{Code, Diagnostic, Sources, render_human};
use slipway_model::template::{
    JsonParameterStore, NoParameters, Options, ParameterStore, Template, TemplateConfiguration,
    jinja, resolve,
};

use super::{DirFiles, Status};
use crate::args::{OutputFormat, ValidateArgs};
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings::{self, ValidateSettings};

pub(crate) fn run(
    args: &ValidateArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    if let Some(code) = &args.explain {
        return explain(code, out, err);
    }
    let resolved = settings::validate(args, env, cwd);
    let Some(settings) = resolved.settings else {
        err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
        return Ok(Status::Usage);
    };
    let mut sources = resolved.sources;
    let mut diagnostics = resolved.diagnostics;
    let template = check(&settings, cwd, &mut sources, &mut diagnostics)?;
    let valid = template.is_some() && !diagnostics.iter().any(Diagnostic::is_error);
    let name = settings.template.display().to_string();
    match settings.output {
        OutputFormat::Json => {
            let doc = json!({
                "valid": valid,
                "diagnostics": diagnostics,
                "template": template.as_ref().map(Template::to_json),
            });
            let text = serde_json::to_string_pretty(&doc).map_err(CliError::Json)?;
            writeln!(out, "{text}")?;
        }
        OutputFormat::Human => {
            err.write_all(render_human(&diagnostics, &sources).as_bytes())?;
            writeln!(err, "{}", summary(&name, template.as_ref(), &diagnostics))?;
            if settings.print_resolved
                && let Some(t) = &template
            {
                let text = serde_json::to_string_pretty(&t.to_json()).map_err(CliError::Json)?;
                writeln!(out, "{text}")?;
            }
        }
    }
    Ok(if valid {
        Status::Success
    } else {
        Status::Invalid
    })
}

fn explain(code: &str, out: &mut dyn Write, err: &mut dyn Write) -> Result<Status, CliError> {
    match Code::parse(&code.to_ascii_uppercase()) {
        Some(c) => {
            writeln!(out, "{c}: {}", c.summary())?;
            Ok(Status::Success)
        }
        None => {
            writeln!(
                err,
                "error: unknown diagnostic code '{code}' (codes look like S001, T004, P001)"
            )?;
            Ok(Status::Usage)
        }
    }
}

/// Reads everything the settings name, renders and resolves the template. Problems in the
/// files are pushed as diagnostics; only unreadable files are errors.
fn check(
    s: &ValidateSettings,
    cwd: &Path,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
) -> Result<Option<Template>, CliError> {
    let name = s.template.display().to_string();
    let path = cwd.join(&s.template);
    let text = read(&path, "template")?;
    sources.add(name.clone(), text.clone());

    let store = match &s.parameter_store {
        Some(p) => {
            let file = p.display().to_string();
            match JsonParameterStore::parse(&read(&cwd.join(p), "parameter store")?) {
                Ok(store) => Some(store),
                Err(e) => {
                    diags.push(Diagnostic::error(Code::ConfigInvalid, e).file(file));
                    None
                }
            }
        }
        None => None,
    };
    let template_configuration = match &s.template_configuration {
        Some(p) => {
            let file = p.display().to_string();
            match TemplateConfiguration::parse(&read(&cwd.join(p), "template configuration")?) {
                Ok(tc) => Some(tc),
                Err(e) => {
                    diags.push(Diagnostic::error(Code::ConfigInvalid, e).file(file));
                    None
                }
            }
        }
        None => None,
    };

    // A `.j2` template is rendered first; what resolution reports is then remapped.
    let mut rendered = None;
    if name.ends_with(".j2") {
        let vars = match &s.template_vars {
            Some(p) => {
                let file = p.display().to_string();
                let vars_text = read(&cwd.join(p), "template variables")?;
                sources.add(file.clone(), vars_text.clone());
                match jinja::load_vars(&vars_text, &file) {
                    Ok(v) => v,
                    Err(ds) => {
                        diags.extend(ds);
                        return Ok(None);
                    }
                }
            }
            None => serde_json::Value::Object(serde_json::Map::new()),
        };
        match jinja::render(&text, &name, &vars) {
            Ok(r) => rendered = Some(r),
            Err(d) => {
                diags.push(d);
                return Ok(None);
            }
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Ok(None);
    }

    let rendered_name = format!("{name} (rendered)");
    let files = DirFiles(path.parent().map_or_else(|| cwd.to_owned(), Path::to_owned));
    let store_ref: &dyn ParameterStore = match &store {
        Some(st) => st,
        None => &NoParameters,
    };
    let opts = Options {
        file: if rendered.is_some() {
            rendered_name.clone()
        } else {
            name.clone()
        },
        account: s.target.account.clone(),
        region: s.target.region.clone(),
        stack_name: s.target.stack_name.clone(),
        overrides: s.parameter_overrides.clone(),
        template_configuration,
        parameter_store: store_ref,
        files: &files,
        inert_types: s.accept_types.iter().cloned().collect::<BTreeSet<_>>(),
        ..Options::default()
    };
    let outcome = match &rendered {
        Some(r) => resolve(&r.text, &opts),
        None => resolve(&text, &opts),
    };
    let mut found = outcome.diagnostics;
    if let Some(r) = &rendered {
        sources.add(rendered_name.clone(), r.text.clone());
        for d in &mut found {
            if d.file.as_deref() == Some(rendered_name.as_str()) {
                r.remap(d, &name, &rendered_name);
            }
        }
    }
    diags.extend(found);
    Ok(outcome.template)
}

fn read(path: &Path, what: &'static str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// `template.yaml: valid — 7 resources, 2 outputs` or `template.yaml: 3 errors, 1 warning`.
fn summary(name: &str, template: Option<&Template>, diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    match template {
        Some(t) if errors == 0 => {
            let mut s = format!(
                "{name}: valid — {}, {}",
                plural(t.resources.len(), "resource"),
                plural(t.outputs.len(), "output")
            );
            if warnings > 0 {
                s.push_str(&format!(", {}", plural(warnings, "warning")));
            }
            s
        }
        Some(_) | None => format!(
            "{name}: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
    }
}
