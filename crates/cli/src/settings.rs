//! Settings: every value a command runs with, resolved in one place.
//!
//! # Precedence (lowest first)
//!
//! 1. **Defaults** — region `us-east-1`, account `123456789012`, stack name `stack`, human
//!    output, the template found in the current directory (`template.yaml`, else
//!    `template.yml`, else `template.json`, as SAM CLI looks).
//! 2. **samconfig.toml** — `[<env>.global.parameters]`, then `[<env>.<command>.parameters]`
//!    (see [`crate::samconfig`]). The file is `--config-file` (default `samconfig.toml` in the
//!    current directory, skipped if absent); the environment is `--config-env` (default
//!    `default`). Relative paths in it are relative to the current directory, as in SAM CLI.
//! 3. **Environment variables** — declared in [`crate::env_vars`]: `SLIPWAY_REGION` >
//!    `AWS_REGION` > `AWS_DEFAULT_REGION`, `SLIPWAY_ACCOUNT`, `SLIPWAY_STACK_NAME`,
//!    `SLIPWAY_DATA_DIR`, `SLIPWAY_PYTHON`.
//! 4. **Flags** on the command line.
//!
//! Per verb:
//!
//! | verb | samconfig tables | keys |
//! | --- | --- | --- |
//! | `validate` | `validate` | [`VALIDATE_KEYS`] |
//! | `invoke` | `local_invoke` (SAM CLI's), then `invoke` (wins) | [`INVOKE_KEYS`] |
//! | `build` | `build` | [`BUILD_KEYS`] |
//! | `serve` | `local_start_api` (SAM CLI's), then `serve` (wins) | [`SERVE_KEYS`] |
//! | `deploy` | `deploy` | `deploy::DEPLOY_KEYS` (see [`deploy`](mod@deploy)) |
//! | `stack`, `deployments`, `deployment`, `rollback` | `deploy`, then the verb's | `deploy::DEPLOY_KEYS` |
//! | `server` | none | — |
//! | `generate-event` | none: flags and SAM CLI's defaults only, as in SAM CLI | — |
//!
//! `invoke` without a template anywhere in the layers uses the built template
//! (`<data dir>/build/template.yaml`) when `slipway build` left one, as `sam local invoke`
//! prefers `.aws-sam/build/template.yaml`; else the default template search.
//! `serve` listens on `127.0.0.1:3000` unless told otherwise (`host`, `port`); a non-loopback
//! host needs `--allow-non-loopback` (or `allow_non_loopback = true`). It serves the source
//! template (the default template search), never the built one: saved changes to the code
//! directories are served without a rebuild.
//! `build` runs a buildspec when `--buildspec` is given, or when no template is given and
//! `buildspec.yml` exists in the source; otherwise it builds the template SAM-style.
//!
//! A higher layer replaces a lower layer's value key by key. List values
//! (`parameter_overrides`, `accept_type`) are replaced whole, never merged — SAM CLI's rule:
//! `--parameter-overrides A=1` drops samconfig's `B=2` (B falls back to its default).
//!
//! Each verb has one typed settings struct ([`ValidateSettings`]) built from one
//! `…Options` value per layer (every field optional) by [`Combine`]; the shared parts
//! ([`Target`]) are reused by later verbs. Problems in any layer come back as diagnostics
//! naming the file and line.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use slipway_model::diag::{Code, Diagnostic, Sources, did_you_mean};
use slipway_model::template::parse_overrides;

mod deploy;

pub(crate) use deploy::{AwsDeploy, DeploySettings, connect, deploy, server};

use crate::args::{
    BuildArgs, ConfigArgs, InvokeArgs, OutputFormat, ServeArgs, TargetArgs, ValidateArgs,
};
use crate::env_vars::{self, Environment};
use crate::samconfig::{self, Entry, Layer, Value};

pub(crate) const DEFAULT_REGION: &str = "us-east-1";
pub(crate) const DEFAULT_ACCOUNT: &str = "123456789012";
pub(crate) const DEFAULT_STACK_NAME: &str = "stack";
pub(crate) const DEFAULT_CONFIG_FILE: &str = "samconfig.toml";
pub(crate) const DEFAULT_CONFIG_ENV: &str = "default";
/// The templates looked for when none is named, in order.
pub(crate) const DEFAULT_TEMPLATES: &[&str] = &["template.yaml", "template.yml", "template.json"];

/// One layer's contribution wins over a lower one's.
pub(crate) trait Combine {
    fn combine(self, lower: Self) -> Self;
}

impl<T> Combine for Option<T> {
    fn combine(self, lower: Self) -> Self {
        self.or(lower)
    }
}

/// The target every verb works against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) region: String,
    pub(crate) account: String,
    pub(crate) stack_name: String,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TargetOptions {
    pub(crate) region: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) stack_name: Option<String>,
}

impl Combine for TargetOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            region: self.region.combine(lower.region),
            account: self.account.combine(lower.account),
            stack_name: self.stack_name.combine(lower.stack_name),
        }
    }
}

impl TargetOptions {
    fn from_env(env: &Environment) -> Self {
        Self {
            region: env
                .first(&[
                    env_vars::SLIPWAY_REGION,
                    env_vars::AWS_REGION,
                    env_vars::AWS_DEFAULT_REGION,
                ])
                .map(|(_, v)| v.to_owned()),
            account: env.get(env_vars::SLIPWAY_ACCOUNT).map(str::to_owned),
            stack_name: env.get(env_vars::SLIPWAY_STACK_NAME).map(str::to_owned),
        }
    }

    fn from_args(args: &TargetArgs) -> Self {
        Self {
            region: args.region.clone(),
            account: args.account.clone(),
            stack_name: args.stack_name.clone(),
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        Self {
            region: r.string("region"),
            account: r.string("account"),
            stack_name: r.string("stack_name"),
        }
    }

    fn finish(self) -> Target {
        Target {
            region: self.region.unwrap_or_else(|| DEFAULT_REGION.into()),
            account: self.account.unwrap_or_else(|| DEFAULT_ACCOUNT.into()),
            stack_name: self.stack_name.unwrap_or_else(|| DEFAULT_STACK_NAME.into()),
        }
    }
}

/// Everything `slipway validate` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidateSettings {
    pub(crate) target: Target,
    pub(crate) template: PathBuf,
    pub(crate) parameter_overrides: Vec<(String, String)>,
    pub(crate) parameter_store: Option<PathBuf>,
    pub(crate) template_configuration: Option<PathBuf>,
    pub(crate) template_vars: Option<PathBuf>,
    pub(crate) accept_types: Vec<String>,
    pub(crate) output: OutputFormat,
    pub(crate) print_resolved: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ValidateOptions {
    pub(crate) target: TargetOptions,
    pub(crate) template: Option<PathBuf>,
    pub(crate) parameter_overrides: Option<Vec<(String, String)>>,
    pub(crate) parameter_store: Option<PathBuf>,
    pub(crate) template_configuration: Option<PathBuf>,
    pub(crate) template_vars: Option<PathBuf>,
    pub(crate) accept_types: Option<Vec<String>>,
    pub(crate) output: Option<OutputFormat>,
    pub(crate) print_resolved: Option<bool>,
}

impl Combine for ValidateOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            target: self.target.combine(lower.target),
            template: self.template.combine(lower.template),
            parameter_overrides: self.parameter_overrides.combine(lower.parameter_overrides),
            parameter_store: self.parameter_store.combine(lower.parameter_store),
            template_configuration: self
                .template_configuration
                .combine(lower.template_configuration),
            template_vars: self.template_vars.combine(lower.template_vars),
            accept_types: self.accept_types.combine(lower.accept_types),
            output: self.output.combine(lower.output),
            print_resolved: self.print_resolved.combine(lower.print_resolved),
        }
    }
}

/// The keys `[<env>.validate.parameters]` may hold.
pub(crate) const VALIDATE_KEYS: &[&str] = &[
    "template",
    "template_file",
    "parameter_overrides",
    "parameter_store",
    "template_configuration",
    "template_vars",
    "accept_type",
    "output",
    "print_resolved",
    "region",
    "account",
    "stack_name",
];

/// `--parameter-overrides` tokens as pairs (`None` when there are none).
fn overrides_from_args(
    tokens: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, String)>> {
    if tokens.is_empty() {
        return None;
    }
    let mut all = Vec::new();
    for token in tokens {
        match override_token(token) {
            Ok(pairs) => all.extend(pairs),
            Err(e) => {
                diags.push(Diagnostic::error(Code::ConfigInvalid, e).path("--parameter-overrides"));
            }
        }
    }
    Some(all)
}

/// samconfig's `parameter_overrides` as pairs.
fn overrides_from_config(r: &mut ConfigReader<'_>) -> Option<Vec<(String, String)>> {
    r.list("parameter_overrides", true).and_then(|tokens| {
        let mut all = Vec::new();
        for t in &tokens {
            match override_token(t) {
                Ok(pairs) => all.extend(pairs),
                Err(e) => {
                    r.error("parameter_overrides", e);
                    return None;
                }
            }
        }
        Some(all)
    })
}

impl ValidateOptions {
    fn from_args(args: &ValidateArgs, diags: &mut Vec<Diagnostic>) -> Self {
        let parameter_overrides = overrides_from_args(&args.parameter_overrides, diags);
        Self {
            target: TargetOptions::from_args(&args.target),
            template: args.template.clone(),
            parameter_overrides,
            parameter_store: args.parameter_store.clone(),
            template_configuration: args.template_configuration.clone(),
            template_vars: args.template_vars.clone(),
            accept_types: (!args.accept_types.is_empty()).then(|| args.accept_types.clone()),
            output: args.output,
            print_resolved: args.print_resolved.then_some(true),
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        let overrides = overrides_from_config(r);
        let output = r
            .string("output")
            .and_then(|s| match OutputFormat::parse(&s) {
                Some(o) => Some(o),
                None => {
                    r.error(
                        "output",
                        format!("`output` must be \"human\" or \"json\", not {s:?}"),
                    );
                    None
                }
            });
        Self {
            target: TargetOptions::from_config(r),
            template: r
                .string("template")
                .or_else(|| r.string("template_file"))
                .map(PathBuf::from),
            parameter_overrides: overrides,
            parameter_store: r.string("parameter_store").map(PathBuf::from),
            template_configuration: r.string("template_configuration").map(PathBuf::from),
            template_vars: r.string("template_vars").map(PathBuf::from),
            accept_types: r.list("accept_type", false),
            output,
            print_resolved: r.bool("print_resolved"),
        }
    }

    fn finish(self, cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<ValidateSettings> {
        let template = match self.template {
            Some(t) => t,
            None => default_template(cwd, diags)?,
        };
        Some(ValidateSettings {
            target: self.target.finish(),
            template,
            parameter_overrides: self.parameter_overrides.unwrap_or_default(),
            parameter_store: self.parameter_store,
            template_configuration: self.template_configuration,
            template_vars: self.template_vars,
            accept_types: self.accept_types.unwrap_or_default(),
            output: self.output.unwrap_or(OutputFormat::Human),
            print_resolved: self.print_resolved.unwrap_or(false),
        })
    }
}

/// The template SAM CLI would find in `cwd`, or a diagnostic saying where it looked.
fn default_template(cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<PathBuf> {
    match DEFAULT_TEMPLATES.iter().find(|t| cwd.join(t).is_file()) {
        Some(t) => Some(PathBuf::from(t)),
        None => {
            diags.push(
                Diagnostic::error(
                    Code::ConfigInvalid,
                    "no template given and none found: looked for template.yaml, \
                     template.yml and template.json in the current directory",
                )
                .help("name one with -t/--template"),
            );
            None
        }
    }
}

/// One `--parameter-overrides` token: `K=V`, several `K=V K2=V2` in one string (as SAM and
/// samconfig write them), or `K=a value with spaces` that the shell kept together.
pub(crate) fn override_token(token: &str) -> Result<Vec<(String, String)>, String> {
    match parse_overrides(token) {
        Ok(pairs) => Ok(pairs),
        Err(e) => match token.split_once('=') {
            Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
                Ok(vec![(k.to_owned(), v.to_owned())])
            }
            _ => Err(e),
        },
    }
}

/// What resolving settings produced: the settings (unless an error stopped them), every
/// diagnostic (samconfig warnings included) and the text of the files they point into.
#[derive(Debug)]
pub(crate) struct Resolved<T> {
    pub(crate) settings: Option<T>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) sources: Sources,
}

/// Where samconfig.toml is read from, and which of its environments.
struct ConfigChoice {
    file: PathBuf,
    explicit_file: bool,
    env: String,
    explicit_env: bool,
}

impl ConfigChoice {
    fn new(args: &ConfigArgs) -> Self {
        Self {
            file: args
                .config_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
            explicit_file: args.config_file.is_some(),
            env: args
                .config_env
                .clone()
                .unwrap_or_else(|| DEFAULT_CONFIG_ENV.into()),
            explicit_env: args.config_env.is_some(),
        }
    }

    /// Reads the file's layer for `command`; an absent default file is an empty layer.
    fn load(
        &self,
        cwd: &Path,
        command: &str,
        sources: &mut Sources,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Layer, String)> {
        let name = self.file.display().to_string();
        let path = cwd.join(&self.file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.explicit_file => {
                return None;
            }
            Err(e) => {
                diags.push(
                    Diagnostic::error(Code::ConfigInvalid, format!("cannot read {name}: {e}"))
                        .file(&name),
                );
                return None;
            }
        };
        let (layer, found) = samconfig::load(&text, &name, &self.env, command);
        diags.extend(found);
        if self.explicit_env && layer.global.is_empty() && layer.command.is_empty() {
            diags.push(
                Diagnostic::warning(
                    Code::ConfigInvalid,
                    format!(
                        "{name} has no [{env}.{command}.parameters] or [{env}.global.parameters]",
                        env = self.env
                    ),
                )
                .file(&name),
            );
        }
        sources.add(name.clone(), text);
        Some((layer, name))
    }
}

/// Reads typed values out of a samconfig layer, reporting wrong types at their line.
struct ConfigReader<'a> {
    layer: &'a Layer,
    file: &'a str,
    diags: &'a mut Vec<Diagnostic>,
}

impl ConfigReader<'_> {
    fn error(&mut self, key: &str, message: impl Into<String>) {
        let mut d = Diagnostic::error(Code::ConfigInvalid, message).file(self.file);
        if let Some(e) = self.layer.get(key) {
            d = d.at(e.pos).path(format!("{}.{key}", e.table));
        }
        self.diags.push(d);
    }

    fn wrong(&mut self, key: &str, want: &str, e: &Entry) {
        let found = match &e.value {
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::List(_) => "array",
            Value::Other(t) => t,
        };
        self.error(key, format!("`{key}` must be {want}, found a {found}"));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        let e = self.layer.get(key)?;
        match &e.value {
            Value::String(s) | Value::Number(s) => Some(s.clone()),
            Value::Bool(_) | Value::List(_) | Value::Other(_) => {
                self.wrong(key, "a string", e);
                None
            }
        }
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        let e = self.layer.get(key)?;
        match &e.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            Value::String(_) | Value::Number(_) | Value::List(_) | Value::Other(_) => {
                self.wrong(key, "true or false", e);
                None
            }
        }
    }

    /// A list: a TOML array, or one string split on whitespace (kept whole when `raw`, for
    /// values that do their own splitting and quoting).
    fn list(&mut self, key: &str, raw: bool) -> Option<Vec<String>> {
        let e = self.layer.get(key)?;
        match &e.value {
            Value::List(items) => Some(items.clone()),
            Value::String(s) if raw => Some(vec![s.clone()]),
            Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
            Value::Number(_) | Value::Bool(_) | Value::Other(_) => {
                self.wrong(key, "a string or an array of strings", e);
                None
            }
        }
    }

    /// Warns about keys of the command's own table that this command does not read (the
    /// global table is shared by every command, so its other keys are expected).
    fn unknown_keys(&mut self, known: &[&str], command: &str) {
        for (key, e) in &self.layer.command {
            if known.contains(&key.as_str()) {
                continue;
            }
            let mut d = Diagnostic::warning(
                Code::ConfigInvalid,
                format!("`slipway {command}` has no option `{key}`; it is ignored"),
            )
            .file(self.file)
            .at(e.pos)
            .path(format!("{}.{key}", e.table));
            if let Some(s) = did_you_mean(key, known.iter().copied()) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
        }
    }
}

/// Reads the samconfig layer of `commands` (later ones win key by key) and hands it to
/// `read`, after warning about keys outside `known`. An unusable file gives `T::default()`.
fn from_config_file<T: Default>(
    config: &ConfigArgs,
    cwd: &Path,
    commands: &[&str],
    known: &[&str],
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    read: impl FnOnce(&mut ConfigReader<'_>) -> T,
) -> T {
    let choice = ConfigChoice::new(config);
    let mut merged: Option<(Layer, String)> = None;
    for command in commands {
        let Some((layer, file)) = choice.load(cwd, command, sources, diags) else {
            continue;
        };
        merged = Some(match merged {
            None => (layer, file),
            Some((mut acc, file)) => {
                acc.command.extend(layer.command);
                (acc, file)
            }
        });
    }
    match merged {
        Some((layer, file)) if !diags.iter().any(Diagnostic::is_error) => {
            let mut r = ConfigReader {
                layer: &layer,
                file: &file,
                diags,
            };
            r.unknown_keys(known, commands.last().copied().unwrap_or_default());
            read(&mut r)
        }
        Some(_) | None => T::default(),
    }
}

/// The data directory: `--data-dir` > `SLIPWAY_DATA_DIR` > samconfig `data_dir` > `.slipway`.
pub(crate) const DEFAULT_DATA_DIR: &str = ".slipway";

/// `slipway gc`'s one setting, the data directory: `--data-dir` > `SLIPWAY_DATA_DIR` >
/// `.slipway` in the current directory (gc reads no samconfig table: SAM has no such verb).
pub(crate) fn gc_data_dir(flag: Option<&Path>, env: &Environment, cwd: &Path) -> PathBuf {
    let dir = flag
        .map(Path::to_path_buf)
        .or_else(|| env.get(env_vars::SLIPWAY_DATA_DIR).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    cwd.join(dir)
}

/// Where an invoke's event comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EventSource {
    /// No `--event`: `{}`, as SAM CLI sends.
    Empty,
    /// `--event -`.
    Stdin,
    File(PathBuf),
}

/// Everything `slipway invoke` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InvokeSettings {
    pub(crate) target: Target,
    pub(crate) template: PathBuf,
    /// The template is the one `slipway build` wrote (chosen because none was named).
    pub(crate) built_template: bool,
    pub(crate) function: Option<String>,
    pub(crate) event: EventSource,
    pub(crate) env_vars: Option<PathBuf>,
    pub(crate) parameter_overrides: Vec<(String, String)>,
    pub(crate) data_dir: PathBuf,
    /// The interpreter for `pythonX.Y` runtimes with no `pythonX.Y` on `PATH`.
    pub(crate) python: Option<PathBuf>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct InvokeOptions {
    pub(crate) target: TargetOptions,
    pub(crate) template: Option<PathBuf>,
    pub(crate) function: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) env_vars: Option<PathBuf>,
    pub(crate) parameter_overrides: Option<Vec<(String, String)>>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) python: Option<PathBuf>,
}

impl Combine for InvokeOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            target: self.target.combine(lower.target),
            template: self.template.combine(lower.template),
            function: self.function.combine(lower.function),
            event: self.event.combine(lower.event),
            env_vars: self.env_vars.combine(lower.env_vars),
            parameter_overrides: self.parameter_overrides.combine(lower.parameter_overrides),
            data_dir: self.data_dir.combine(lower.data_dir),
            python: self.python.combine(lower.python),
        }
    }
}

/// The keys `[<env>.invoke.parameters]` (and SAM CLI's `[<env>.local_invoke.parameters]`) may
/// hold.
pub(crate) const INVOKE_KEYS: &[&str] = &[
    "template",
    "template_file",
    "event",
    "env_vars",
    "parameter_overrides",
    "data_dir",
    "region",
    "account",
    "stack_name",
];

impl InvokeOptions {
    fn from_args(args: &InvokeArgs, diags: &mut Vec<Diagnostic>) -> Self {
        Self {
            target: TargetOptions::from_args(&args.target),
            template: args.template.clone(),
            function: args.function.clone(),
            event: args.event.clone(),
            env_vars: args.env_vars.clone(),
            parameter_overrides: overrides_from_args(&args.parameter_overrides, diags),
            data_dir: args.data_dir.clone(),
            python: None,
        }
    }

    fn from_env(env: &Environment) -> Self {
        Self {
            target: TargetOptions::from_env(env),
            data_dir: env.get(env_vars::SLIPWAY_DATA_DIR).map(PathBuf::from),
            python: env.get(env_vars::SLIPWAY_PYTHON).map(PathBuf::from),
            ..Self::default()
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        Self {
            target: TargetOptions::from_config(r),
            template: r
                .string("template")
                .or_else(|| r.string("template_file"))
                .map(PathBuf::from),
            function: None,
            event: r.string("event"),
            env_vars: r.string("env_vars").map(PathBuf::from),
            parameter_overrides: overrides_from_config(r),
            data_dir: r.string("data_dir").map(PathBuf::from),
            python: None,
        }
    }

    fn finish(self, cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<InvokeSettings> {
        let data_dir = self
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let built = data_dir.join("build").join("template.yaml");
        let (template, built_template) = match self.template {
            Some(t) => (t, false),
            None if cwd.join(&built).is_file() => (built, true),
            None => (default_template(cwd, diags)?, false),
        };
        let event = match self.event.as_deref() {
            None => EventSource::Empty,
            Some("-") => EventSource::Stdin,
            Some(p) => EventSource::File(PathBuf::from(p)),
        };
        Some(InvokeSettings {
            target: self.target.finish(),
            template,
            built_template,
            function: self.function,
            event,
            env_vars: self.env_vars,
            parameter_overrides: self.parameter_overrides.unwrap_or_default(),
            data_dir,
            python: self.python,
        })
    }
}

/// Resolves `slipway invoke`'s settings from its flags, the environment and samconfig.toml.
pub(crate) fn invoke(args: &InvokeArgs, env: &Environment, cwd: &Path) -> Resolved<InvokeSettings> {
    let mut diags = Vec::new();
    let mut sources = Sources::new();
    let from_file = from_config_file(
        &args.config,
        cwd,
        &["local_invoke", "invoke"],
        INVOKE_KEYS,
        &mut sources,
        &mut diags,
        InvokeOptions::from_config,
    );
    let from_flags = InvokeOptions::from_args(args, &mut diags);
    let combined = from_flags.combine(InvokeOptions::from_env(env).combine(from_file));
    let settings = combined.finish(cwd, &mut diags);
    finish(settings, diags, sources)
}

/// What `slipway build` builds from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BuildSource {
    Dir(PathBuf),
    /// A revision of the git repository in the current directory.
    Git(String),
}

/// Which kind of build `slipway build` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BuildMode {
    /// A buildspec, relative to the source root.
    Buildspec(PathBuf),
    /// SAM-style, from this template.
    Sam(PathBuf),
}

/// Everything `slipway build` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BuildSettings {
    pub(crate) target: Target,
    pub(crate) mode: BuildMode,
    pub(crate) source: BuildSource,
    /// `NAME=value` overrides, in order.
    pub(crate) env: Vec<String>,
    pub(crate) project: String,
    pub(crate) force: bool,
    pub(crate) data_dir: PathBuf,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct BuildOptions {
    pub(crate) target: TargetOptions,
    pub(crate) template: Option<PathBuf>,
    pub(crate) buildspec: Option<PathBuf>,
    pub(crate) env: Option<Vec<String>>,
    pub(crate) source: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) force: Option<bool>,
    pub(crate) data_dir: Option<PathBuf>,
}

impl Combine for BuildOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            target: self.target.combine(lower.target),
            template: self.template.combine(lower.template),
            buildspec: self.buildspec.combine(lower.buildspec),
            env: self.env.combine(lower.env),
            source: self.source.combine(lower.source),
            project: self.project.combine(lower.project),
            force: self.force.combine(lower.force),
            data_dir: self.data_dir.combine(lower.data_dir),
        }
    }
}

/// The keys `[<env>.build.parameters]` may hold.
pub(crate) const BUILD_KEYS: &[&str] = &[
    "template",
    "template_file",
    "buildspec",
    "env",
    "source",
    "project",
    "force",
    "data_dir",
    "region",
    "account",
    "stack_name",
];

impl BuildOptions {
    fn from_args(args: &BuildArgs) -> Self {
        Self {
            target: TargetOptions::from_args(&args.target),
            template: args.template.clone(),
            buildspec: args.buildspec.clone(),
            env: (!args.env.is_empty()).then(|| args.env.clone()),
            source: args.source.clone(),
            project: args.project.clone(),
            force: args.force.then_some(true),
            data_dir: args.data_dir.clone(),
        }
    }

    fn from_env(env: &Environment) -> Self {
        Self {
            target: TargetOptions::from_env(env),
            data_dir: env.get(env_vars::SLIPWAY_DATA_DIR).map(PathBuf::from),
            ..Self::default()
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        Self {
            target: TargetOptions::from_config(r),
            template: r
                .string("template")
                .or_else(|| r.string("template_file"))
                .map(PathBuf::from),
            buildspec: r.string("buildspec").map(PathBuf::from),
            env: r.list("env", false),
            source: r.string("source"),
            project: r.string("project"),
            force: r.bool("force"),
            data_dir: r.string("data_dir").map(PathBuf::from),
        }
    }

    fn finish(self, cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<BuildSettings> {
        let source = match self.source {
            None => BuildSource::Dir(PathBuf::from(".")),
            Some(s) if cwd.join(&s).is_dir() => BuildSource::Dir(PathBuf::from(s)),
            Some(s) => BuildSource::Git(s),
        };
        let source_root = match &source {
            BuildSource::Dir(d) => cwd.join(d),
            BuildSource::Git(_) => cwd.to_owned(),
        };
        let mode = match (self.buildspec, self.template) {
            (Some(b), _) => BuildMode::Buildspec(b),
            (None, Some(t)) => BuildMode::Sam(t),
            (None, None) if source_root.join("buildspec.yml").is_file() => {
                BuildMode::Buildspec(PathBuf::from("buildspec.yml"))
            }
            (None, None) => BuildMode::Sam(default_template(cwd, diags)?),
        };
        for e in self.env.iter().flatten() {
            if !e.contains('=') {
                diags.push(
                    Diagnostic::error(
                        Code::ConfigInvalid,
                        format!("`--env {e}` is not NAME=value"),
                    )
                    .path("--env"),
                );
            }
        }
        let project = self.project.unwrap_or_else(|| {
            let name = source_root
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            project_name(&name)
        });
        Some(BuildSettings {
            target: self.target.finish(),
            mode,
            source,
            env: self.env.unwrap_or_default(),
            project,
            force: self.force.unwrap_or(false),
            data_dir: self
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        })
    }
}

/// A directory name made into a valid CodeBuild project name (`local` when nothing is left).
fn project_name(dir: &str) -> String {
    let mut name: String = dir
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_start_matches(['-', '_']).to_owned();
    name.truncate(255);
    if name.len() < 2 { "local".into() } else { name }
}

/// Resolves `slipway build`'s settings from its flags, the environment and samconfig.toml.
pub(crate) fn build(args: &BuildArgs, env: &Environment, cwd: &Path) -> Resolved<BuildSettings> {
    let mut diags = Vec::new();
    let mut sources = Sources::new();
    let from_file = from_config_file(
        &args.config,
        cwd,
        &["build"],
        BUILD_KEYS,
        &mut sources,
        &mut diags,
        BuildOptions::from_config,
    );
    let combined =
        BuildOptions::from_args(args).combine(BuildOptions::from_env(env).combine(from_file));
    let settings = combined.finish(cwd, &mut diags);
    finish(settings, diags, sources)
}

/// Everything `slipway serve` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServeSettings {
    pub(crate) target: Target,
    pub(crate) template: PathBuf,
    pub(crate) host: IpAddr,
    pub(crate) port: u16,
    pub(crate) allow_non_loopback: bool,
    pub(crate) env_vars: Option<PathBuf>,
    pub(crate) parameter_overrides: Vec<(String, String)>,
    pub(crate) data_dir: PathBuf,
    /// The interpreter for `pythonX.Y` runtimes with no `pythonX.Y` on `PATH`.
    pub(crate) python: Option<PathBuf>,
    /// Execution environments started per function before the first request (0: on demand).
    pub(crate) warm: u32,
    /// The runtime's target concurrency (`Runtime::set_target_concurrency`); 0 is off.
    pub(crate) target_concurrency: u32,
}

/// `--host` when none is given, as `sam local start-api`.
pub(crate) const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// `-p` when none is given, as `sam local start-api`.
pub(crate) const DEFAULT_PORT: u16 = 3000;

#[derive(Clone, Debug, Default)]
pub(crate) struct ServeOptions {
    pub(crate) target: TargetOptions,
    pub(crate) template: Option<PathBuf>,
    pub(crate) host: Option<IpAddr>,
    pub(crate) port: Option<u16>,
    pub(crate) allow_non_loopback: Option<bool>,
    pub(crate) env_vars: Option<PathBuf>,
    pub(crate) parameter_overrides: Option<Vec<(String, String)>>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) python: Option<PathBuf>,
    pub(crate) warm: Option<u32>,
    pub(crate) target_concurrency: Option<u32>,
}

impl Combine for ServeOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            target: self.target.combine(lower.target),
            template: self.template.combine(lower.template),
            host: self.host.combine(lower.host),
            port: self.port.combine(lower.port),
            allow_non_loopback: self.allow_non_loopback.combine(lower.allow_non_loopback),
            env_vars: self.env_vars.combine(lower.env_vars),
            parameter_overrides: self.parameter_overrides.combine(lower.parameter_overrides),
            data_dir: self.data_dir.combine(lower.data_dir),
            python: self.python.combine(lower.python),
            warm: self.warm.combine(lower.warm),
            target_concurrency: self.target_concurrency.combine(lower.target_concurrency),
        }
    }
}

/// The keys `[<env>.serve.parameters]` (and SAM CLI's `[<env>.local_start_api.parameters]`)
/// may hold.
pub(crate) const SERVE_KEYS: &[&str] = &[
    "template",
    "template_file",
    "host",
    "port",
    "allow_non_loopback",
    "env_vars",
    "parameter_overrides",
    "data_dir",
    "region",
    "account",
    "stack_name",
    "warm",
    "warm_containers",
    "target_concurrency",
];

/// An IP address, or `localhost` (127.0.0.1).
fn parse_host(s: &str) -> Result<IpAddr, String> {
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(DEFAULT_HOST);
    }
    s.parse::<IpAddr>()
        .map_err(|_| format!("the host must be an IP address (or `localhost`), not {s:?}"))
}

impl ServeOptions {
    fn from_args(args: &ServeArgs, diags: &mut Vec<Diagnostic>) -> Self {
        let host = args.host.as_deref().and_then(|h| match parse_host(h) {
            Ok(ip) => Some(ip),
            Err(e) => {
                diags.push(Diagnostic::error(Code::ConfigInvalid, e).path("--host"));
                None
            }
        });
        Self {
            target: TargetOptions::from_args(&args.target),
            template: args.template.clone(),
            host,
            port: args.port,
            allow_non_loopback: args.allow_non_loopback.then_some(true),
            env_vars: args.env_vars.clone(),
            parameter_overrides: overrides_from_args(&args.parameter_overrides, diags),
            data_dir: args.data_dir.clone(),
            python: None,
            warm: args.warm,
            target_concurrency: args.target_concurrency,
        }
    }

    fn from_env(env: &Environment) -> Self {
        Self {
            target: TargetOptions::from_env(env),
            data_dir: env.get(env_vars::SLIPWAY_DATA_DIR).map(PathBuf::from),
            python: env.get(env_vars::SLIPWAY_PYTHON).map(PathBuf::from),
            ..Self::default()
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        // `warm = N`, or SAM CLI's `warm_containers = "EAGER"` (one per function) / "LAZY".
        let warm = match r.string("warm") {
            Some(n) => match n.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    r.error(
                        "warm",
                        format!("`warm` must be a number of environments, not {n:?}"),
                    );
                    None
                }
            },
            None => match r.string("warm_containers").as_deref() {
                None => None,
                Some(m) if m.eq_ignore_ascii_case("EAGER") => Some(1),
                Some(m) if m.eq_ignore_ascii_case("LAZY") => Some(0),
                Some(m) => {
                    r.error(
                        "warm_containers",
                        format!("`warm_containers` is EAGER or LAZY, not {m:?}"),
                    );
                    None
                }
            },
        };
        let target_concurrency =
            r.string("target_concurrency")
                .and_then(|n| match n.parse::<u32>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        r.error(
                            "target_concurrency",
                            format!("`target_concurrency` must be a number of invocations (0: off), not {n:?}"),
                        );
                        None
                    }
                });
        let host = r.string("host").and_then(|h| match parse_host(&h) {
            Ok(ip) => Some(ip),
            Err(e) => {
                r.error("host", e);
                None
            }
        });
        let port = r.string("port").and_then(|p| match p.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => {
                r.error(
                    "port",
                    format!("`port` must be a port number (0 to 65535), not {p:?}"),
                );
                None
            }
        });
        Self {
            target: TargetOptions::from_config(r),
            template: r
                .string("template")
                .or_else(|| r.string("template_file"))
                .map(PathBuf::from),
            host,
            port,
            allow_non_loopback: r.bool("allow_non_loopback"),
            env_vars: r.string("env_vars").map(PathBuf::from),
            parameter_overrides: overrides_from_config(r),
            data_dir: r.string("data_dir").map(PathBuf::from),
            python: None,
            warm,
            target_concurrency,
        }
    }

    fn finish(self, cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<ServeSettings> {
        let template = match self.template {
            Some(t) => t,
            None => default_template(cwd, diags)?,
        };
        Some(ServeSettings {
            target: self.target.finish(),
            template,
            host: self.host.unwrap_or(DEFAULT_HOST),
            port: self.port.unwrap_or(DEFAULT_PORT),
            allow_non_loopback: self.allow_non_loopback.unwrap_or(false),
            env_vars: self.env_vars,
            parameter_overrides: self.parameter_overrides.unwrap_or_default(),
            data_dir: self
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            python: self.python,
            warm: self.warm.unwrap_or(0),
            target_concurrency: self.target_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
            }),
        })
    }
}

/// Resolves `slipway serve`'s settings from its flags, the environment and samconfig.toml.
pub(crate) fn serve(args: &ServeArgs, env: &Environment, cwd: &Path) -> Resolved<ServeSettings> {
    let mut diags = Vec::new();
    let mut sources = Sources::new();
    let from_file = from_config_file(
        &args.config,
        cwd,
        &["local_start_api", "serve"],
        SERVE_KEYS,
        &mut sources,
        &mut diags,
        ServeOptions::from_config,
    );
    let from_flags = ServeOptions::from_args(args, &mut diags);
    let combined = from_flags.combine(ServeOptions::from_env(env).combine(from_file));
    let settings = combined.finish(cwd, &mut diags);
    finish(settings, diags, sources)
}

fn finish<T>(settings: Option<T>, diags: Vec<Diagnostic>, sources: Sources) -> Resolved<T> {
    let failed = diags.iter().any(Diagnostic::is_error);
    Resolved {
        settings: if failed { None } else { settings },
        diagnostics: diags,
        sources,
    }
}

/// Resolves `slipway validate`'s settings from its flags, the environment and samconfig.toml.
pub(crate) fn validate(
    args: &ValidateArgs,
    env: &Environment,
    cwd: &Path,
) -> Resolved<ValidateSettings> {
    let mut diags = Vec::new();
    let mut sources = Sources::new();
    let from_file = from_config_file(
        &args.config,
        cwd,
        &["validate"],
        VALIDATE_KEYS,
        &mut sources,
        &mut diags,
        ValidateOptions::from_config,
    );
    let from_env = ValidateOptions {
        target: TargetOptions::from_env(env),
        ..ValidateOptions::default()
    };
    let from_flags = ValidateOptions::from_args(args, &mut diags);
    let combined = from_flags.combine(from_env.combine(from_file));
    let settings = combined.finish(cwd, &mut diags);
    finish(settings, diags, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn resolve(args: &ValidateArgs, env: &Environment, dir: &Path) -> ValidateSettings {
        let r = validate(args, env, dir);
        assert!(
            !r.diagnostics.iter().any(Diagnostic::is_error),
            "{:?}",
            r.diagnostics
        );
        r.settings.unwrap()
    }

    #[test]
    fn defaults_find_the_template_as_sam_does() {
        let dir = dir_with(&[("template.yml", ""), ("template.json", "")]);
        let s = resolve(
            &ValidateArgs::default(),
            &Environment::default(),
            dir.path(),
        );
        assert_eq!(s.template, PathBuf::from("template.yml"));
        assert_eq!(s.target.region, DEFAULT_REGION);
        assert_eq!(s.target.account, DEFAULT_ACCOUNT);
        assert_eq!(s.output, OutputFormat::Human);
        let empty = dir_with(&[]);
        let r = validate(
            &ValidateArgs::default(),
            &Environment::default(),
            empty.path(),
        );
        assert!(r.settings.is_none());
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "samconfig.toml",
                "version = 0.1\n[default.global.parameters]\nregion = \"eu-west-1\"\nstack_name = \"app\"\naccount = 111111111111\n[default.validate.parameters]\nparameter_overrides = \"A=1 B='two words'\"\noutput = \"json\"\n",
            ),
        ]);
        let mut env = Environment::default();
        let s = resolve(&ValidateArgs::default(), &env, dir.path());
        assert_eq!(s.target.region, "eu-west-1");
        assert_eq!(s.target.account, "111111111111");
        assert_eq!(s.target.stack_name, "app");
        assert_eq!(s.output, OutputFormat::Json);
        assert_eq!(
            s.parameter_overrides,
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );

        env.set(env_vars::AWS_DEFAULT_REGION, "ap-south-1");
        let s = resolve(&ValidateArgs::default(), &env, dir.path());
        assert_eq!(s.target.region, "ap-south-1", "environment beats the file");
        env.set(env_vars::AWS_REGION, "ap-east-1");
        env.set(env_vars::SLIPWAY_REGION, "sa-east-1");
        let s = resolve(&ValidateArgs::default(), &env, dir.path());
        assert_eq!(s.target.region, "sa-east-1");

        let args = ValidateArgs {
            parameter_overrides: vec!["A=3".into()],
            target: TargetArgs {
                region: Some("us-west-2".into()),
                ..TargetArgs::default()
            },
            output: Some(OutputFormat::Human),
            ..ValidateArgs::default()
        };
        let s = resolve(&args, &env, dir.path());
        assert_eq!(s.target.region, "us-west-2", "flags beat everything");
        assert_eq!(s.output, OutputFormat::Human);
        assert_eq!(
            s.parameter_overrides,
            vec![("A".into(), "3".into())],
            "lists are replaced whole, as SAM does"
        );
    }

    #[test]
    fn config_env_picks_the_table() {
        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "sc.toml",
                "version = 0.1\n[prod.validate.parameters]\ntemplate_file = \"prod.yaml\"\naccept_type = \"AWS::A::B AWS::C::D\"\n",
            ),
        ]);
        let args = ValidateArgs {
            config: ConfigArgs {
                config_file: Some("sc.toml".into()),
                config_env: Some("prod".into()),
            },
            ..ValidateArgs::default()
        };
        let s = resolve(&args, &Environment::default(), dir.path());
        assert_eq!(s.template, PathBuf::from("prod.yaml"));
        assert_eq!(s.accept_types, vec!["AWS::A::B", "AWS::C::D"]);
    }

    #[test]
    fn config_problems_are_diagnostics_at_their_line() {
        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "samconfig.toml",
                "version = 0.1\n[default.validate.parameters]\nprint_resolved = \"maybe\"\nregoin = \"x\"\n",
            ),
        ]);
        let r = validate(
            &ValidateArgs::default(),
            &Environment::default(),
            dir.path(),
        );
        assert!(r.settings.is_none());
        let d: Vec<_> = r
            .diagnostics
            .iter()
            .map(|d| (d.severity, d.line, d.help.clone()))
            .collect();
        assert!(d.contains(&(slipway_model::diag::Severity::Error, Some(3), None)));
        assert!(d.contains(&(
            slipway_model::diag::Severity::Warning,
            Some(4),
            Some("did you mean `region`?".into())
        )));
        assert!(r.sources.get("samconfig.toml").is_some());
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let dir = dir_with(&[("template.yaml", "")]);
        let args = ValidateArgs {
            config: ConfigArgs {
                config_file: Some("missing.toml".into()),
                config_env: None,
            },
            ..ValidateArgs::default()
        };
        let r = validate(&args, &Environment::default(), dir.path());
        assert!(r.settings.is_none());
    }

    #[test]
    fn serve_layers_apply_in_order() {
        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "samconfig.toml",
                "version = 0.1\n[default.local_start_api.parameters]\nport = 4000\nhost = \"0.0.0.0\"\nenv_vars = \"env.json\"\n[default.serve.parameters]\nport = \"5000\"\nparameter_overrides = \"A=1 B=2\"\n",
            ),
        ]);
        let r = serve(&ServeArgs::default(), &Environment::default(), dir.path());
        let s = r.settings.unwrap();
        assert_eq!(s.template, PathBuf::from("template.yaml"));
        assert_eq!(s.port, 5000, "serve beats local_start_api");
        assert_eq!(s.host, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert!(!s.allow_non_loopback);
        assert_eq!(s.env_vars, Some(PathBuf::from("env.json")));
        assert_eq!(s.parameter_overrides.len(), 2);
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));

        let mut env = Environment::default();
        env.set(env_vars::SLIPWAY_DATA_DIR, "d");
        let args = ServeArgs {
            port: Some(0),
            host: Some("localhost".into()),
            allow_non_loopback: true,
            parameter_overrides: vec!["C=3".into()],
            ..ServeArgs::default()
        };
        let s = serve(&args, &env, dir.path()).settings.unwrap();
        assert_eq!((s.host, s.port), (DEFAULT_HOST, 0));
        assert!(s.allow_non_loopback);
        assert_eq!(s.parameter_overrides, vec![("C".into(), "3".into())]);
        assert_eq!(s.data_dir, PathBuf::from("d"));
    }

    #[test]
    fn serve_defaults_and_bad_values() {
        let dir = dir_with(&[("template.yaml", "")]);
        let s = serve(&ServeArgs::default(), &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!((s.host, s.port), (DEFAULT_HOST, DEFAULT_PORT));
        assert_eq!(s.warm, 0);
        for (config, warm) in [
            ("warm_containers = \"EAGER\"", 1),
            ("warm_containers = \"LAZY\"", 0),
            ("warm = 3\nwarm_containers = \"EAGER\"", 3),
        ] {
            let dir = dir_with(&[
                ("template.yaml", ""),
                (
                    "samconfig.toml",
                    &format!("version = 0.1\n[default.serve.parameters]\n{config}\n"),
                ),
            ]);
            let s = serve(&ServeArgs::default(), &Environment::default(), dir.path())
                .settings
                .unwrap();
            assert_eq!(s.warm, warm, "{config}");
        }

        // The target concurrency: one per CPU unless set (0: off); the flag beats the file.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let s = serve(&ServeArgs::default(), &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.target_concurrency, cpus);
        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "samconfig.toml",
                "version = 0.1\n[default.serve.parameters]\ntarget_concurrency = 5\n",
            ),
        ]);
        let s = serve(&ServeArgs::default(), &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.target_concurrency, 5);
        let args = ServeArgs {
            target_concurrency: Some(0),
            ..ServeArgs::default()
        };
        let s = serve(&args, &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.target_concurrency, 0);

        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "samconfig.toml",
                "version = 0.1\n[default.serve.parameters]\nport = \"http\"\nwarmth = 2\ntarget_concurrency = \"many\"\n",
            ),
        ]);
        let r = serve(&ServeArgs::default(), &Environment::default(), dir.path());
        assert!(r.settings.is_none());
        let messages: Vec<&str> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`port` must be a port number")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("has no option `warmth`")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`target_concurrency` must be a number")),
            "{messages:?}"
        );
        let args = ServeArgs {
            host: Some("example.com".into()),
            ..ServeArgs::default()
        };
        let dir = dir_with(&[("template.yaml", "")]);
        assert!(
            serve(&args, &Environment::default(), dir.path())
                .settings
                .is_none()
        );
    }

    #[test]
    fn invoke_prefers_the_built_template_and_layers_apply_in_order() {
        let dir = dir_with(&[
            ("template.yaml", ""),
            (
                "samconfig.toml",
                "version = 0.1\n[default.local_invoke.parameters]\nevent = \"a.json\"\nenv_vars = \"env.json\"\n[default.invoke.parameters]\nevent = \"b.json\"\n",
            ),
        ]);
        let r = invoke(&InvokeArgs::default(), &Environment::default(), dir.path());
        let s = r.settings.unwrap();
        assert_eq!(s.template, PathBuf::from("template.yaml"));
        assert!(!s.built_template);
        assert_eq!(
            s.event,
            EventSource::File("b.json".into()),
            "invoke beats local_invoke"
        );
        assert_eq!(s.env_vars, Some(PathBuf::from("env.json")));
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));

        std::fs::create_dir_all(dir.path().join("d/build")).unwrap();
        std::fs::write(dir.path().join("d/build/template.yaml"), "").unwrap();
        let mut env = Environment::default();
        env.set(env_vars::SLIPWAY_DATA_DIR, "d");
        let args = InvokeArgs {
            event: Some("-".into()),
            ..InvokeArgs::default()
        };
        let s = invoke(&args, &env, dir.path()).settings.unwrap();
        assert_eq!(s.template, PathBuf::from("d/build/template.yaml"));
        assert!(s.built_template);
        assert_eq!(s.event, EventSource::Stdin);
        let args = InvokeArgs {
            template: Some("template.yaml".into()),
            ..InvokeArgs::default()
        };
        let s = invoke(&args, &env, dir.path()).settings.unwrap();
        assert!(!s.built_template, "a named template wins");
    }

    #[test]
    fn build_picks_buildspec_or_sam() {
        let dir = dir_with(&[("template.yaml", "")]);
        let s = build(&BuildArgs::default(), &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.mode, BuildMode::Sam("template.yaml".into()));
        assert_eq!(s.source, BuildSource::Dir(".".into()));
        std::fs::write(dir.path().join("buildspec.yml"), "").unwrap();
        let s = build(&BuildArgs::default(), &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.mode, BuildMode::Buildspec("buildspec.yml".into()));
        let args = BuildArgs {
            template: Some("template.yaml".into()),
            source: Some("main~1".into()),
            env: vec!["A=1".into()],
            ..BuildArgs::default()
        };
        let s = build(&args, &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.mode, BuildMode::Sam("template.yaml".into()));
        assert_eq!(s.source, BuildSource::Git("main~1".into()));
        assert_eq!(s.env, vec!["A=1"]);
        let args = BuildArgs {
            env: vec!["novalue".into()],
            ..BuildArgs::default()
        };
        assert!(
            build(&args, &Environment::default(), dir.path())
                .settings
                .is_none()
        );
        assert_eq!(project_name("my app"), "my-app");
        assert_eq!(project_name("_"), "local");
    }

    #[test]
    fn override_tokens() {
        assert_eq!(
            override_token("K=a value").unwrap(),
            vec![("K".into(), "a value".into())]
        );
        assert_eq!(override_token("A=1 B=2").unwrap().len(), 2);
        assert!(override_token("novalue").is_err());
    }
}
