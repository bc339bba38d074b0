//! CodeBuild buildspec documents (versions 0.1 and 0.2), parsed with positions.
//!
//! [`parse`] reads a `buildspec.yml` (or an inline buildspec string, as a CodeBuild project may
//! hold) into a typed [`Buildspec`]. Every field of the grammar is either honoured — it has a
//! place in the typed value that the runner acts on — or rejected with a diagnostic
//! ([`Code::BuildspecInvalid`] for what CodeBuild itself would refuse, or
//! [`Code::BuildspecUnsupported`] for what CodeBuild accepts but Slipway cannot do locally,
//! such as `run-as`, `batch` or non-JUnit reports). Nothing is dropped silently, and every
//! problem of a document is reported in one pass, each with `file:line:col` and a property
//! path (`phases.build.commands.2`, indices 0-based).
//!
//! Scalars: CodeBuild reads buildspecs with a YAML 1.1 reader and, for fields that are
//! strings, keeps the scalar *as written* — `VERSION: 1.10` is `"1.10"`, `FLAG: yes` is
//! `"yes"`. The positioned tree types scalars (so `1.10` became the number 1.1), so for every
//! non-string scalar in a string position the text is recovered from the source at the node's
//! position ([`raw_scalar`]).
//!
//! Grammar facts come from `shared/reference/aws-semantics.md` §7.1.

use indexmap::IndexMap;
use serde::Serialize;

use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Kind, Map, Node, TagMode, parse_yaml};

/// The buildspec file CodeBuild looks for at the source root when none is named.
pub const DEFAULT_FILE: &str = "buildspec.yml";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Version {
    /// Each command runs in its own shell instance.
    #[serde(rename = "0.1")]
    V0_1,
    /// All commands of a build run in one shell instance.
    #[serde(rename = "0.2")]
    V0_2,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Buildspec {
    pub version: Version,
    pub env: Env,
    pub phases: Phases,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "ordered")]
    pub reports: IndexMap<String, Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Artifacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
}

/// The shell that runs the commands (`env.shell`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Shell {
    #[default]
    #[serde(rename = "bash")]
    Bash,
    #[serde(rename = "/bin/sh")]
    Sh,
}

impl Shell {
    pub fn program(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Sh => "/bin/sh",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Env {
    pub shell: Shell,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "ordered")]
    pub variables: IndexMap<String, String>,
    /// Variable name → SSM parameter name.
    #[serde(
        rename = "parameter-store",
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "ordered"
    )]
    pub parameter_store: IndexMap<String, String>,
    #[serde(
        rename = "secrets-manager",
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "ordered"
    )]
    pub secrets_manager: IndexMap<String, SecretRef>,
    #[serde(rename = "exported-variables", skip_serializing_if = "Vec::is_empty")]
    pub exported_variables: Vec<String>,
}

/// `secret-id:json-key:version-stage:version-id`; the secret id may be a full ARN (which has
/// colons of its own). Empty parts mean "not given".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    #[serde(rename = "secret-id")]
    pub secret_id: String,
    #[serde(rename = "json-key", skip_serializing_if = "Option::is_none")]
    pub json_key: Option<String>,
    #[serde(rename = "version-stage", skip_serializing_if = "Option::is_none")]
    pub version_stage: Option<String>,
    #[serde(rename = "version-id", skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

impl SecretRef {
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        let parts: Vec<&str> = text.split(':').collect();
        // arn:aws:secretsmanager:region:account:secret:name
        let (id, rest) = if text.starts_with("arn:") {
            if parts.len() < 7 {
                return Err(format!("'{text}' is not a complete Secrets Manager ARN"));
            }
            (parts[..7].join(":"), &parts[7..])
        } else {
            (parts[0].to_owned(), &parts[1..])
        };
        if id.is_empty() {
            return Err("the secret id is empty".into());
        }
        if rest.len() > 3 {
            return Err(format!(
                "'{text}' has too many parts; expected secret-id:json-key:version-stage:version-id"
            ));
        }
        let part = |i: usize| {
            rest.get(i)
                .filter(|s| !s.is_empty())
                .map(|s| (*s).to_owned())
        };
        Ok(SecretRef {
            secret_id: id,
            json_key: part(0),
            version_stage: part(1),
            version_id: part(2),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [PhaseName; 4] = [
        PhaseName::Install,
        PhaseName::PreBuild,
        PhaseName::Build,
        PhaseName::PostBuild,
    ];

    /// The key in the document: `pre_build`.
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    /// The name CodeBuild's API and logs use: `PRE_BUILD`.
    pub fn api_name(self) -> &'static str {
        match self {
            PhaseName::Install => "INSTALL",
            PhaseName::PreBuild => "PRE_BUILD",
            PhaseName::Build => "BUILD",
            PhaseName::PostBuild => "POST_BUILD",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Phases {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_build: Option<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_build: Option<Phase>,
}

impl Phases {
    pub fn get(&self, name: PhaseName) -> Option<&Phase> {
        match name {
            PhaseName::Install => self.install.as_ref(),
            PhaseName::PreBuild => self.pre_build.as_ref(),
            PhaseName::Build => self.build.as_ref(),
            PhaseName::PostBuild => self.post_build.as_ref(),
        }
    }

    fn slot(&mut self, name: PhaseName) -> &mut Option<Phase> {
        match name {
            PhaseName::Install => &mut self.install,
            PhaseName::PreBuild => &mut self.pre_build,
            PhaseName::Build => &mut self.build,
            PhaseName::PostBuild => &mut self.post_build,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OnFailure {
    Abort,
    Continue,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Phase {
    #[serde(rename = "on-failure", skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// `install` only: runtime → version as written (`3.12`, `3.x`, `latest`).
    #[serde(
        rename = "runtime-versions",
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "ordered"
    )]
    pub runtime_versions: IndexMap<String, String>,
    pub commands: Vec<Command>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<Command>,
}

/// One command line (or block) as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Command {
    pub text: String,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReportFormat {
    JunitXml,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub files: Vec<String>,
    #[serde(rename = "base-directory", skip_serializing_if = "Option::is_none")]
    pub base_directory: Option<String>,
    #[serde(rename = "discard-paths")]
    pub discard_paths: bool,
    #[serde(rename = "file-format")]
    pub file_format: ReportFormat,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArtifactSet {
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "base-directory", skip_serializing_if = "Option::is_none")]
    pub base_directory: Option<String>,
    #[serde(rename = "discard-paths")]
    pub discard_paths: bool,
    #[serde(rename = "exclude-paths", skip_serializing_if = "Vec::is_empty")]
    pub exclude_paths: Vec<String>,
    #[serde(rename = "s3-prefix", skip_serializing_if = "Option::is_none")]
    pub s3_prefix: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Artifacts {
    #[serde(flatten)]
    pub primary: ArtifactSet,
    #[serde(
        rename = "secondary-artifacts",
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "ordered"
    )]
    pub secondary: IndexMap<String, ArtifactSet>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cache {
    /// Paths relative to the source directory (globs allowed).
    pub paths: Vec<String>,
}

/// The result of reading a buildspec: the typed document when there was no error, and every
/// diagnostic (warnings come with a document too).
#[derive(Debug)]
pub struct Outcome {
    pub buildspec: Option<Buildspec>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses `text`; `file` names it in diagnostics (`buildspec.yml`, or `<inline buildspec>`).
pub fn parse(text: &str, file: &str) -> Outcome {
    let parsed = parse_yaml(text, TagMode::Plain);
    let mut p = Parser {
        src: text,
        diags: Diagnostics::for_file(file),
    };
    p.diags.extend(parsed.diagnostics);
    let buildspec = match parsed.root {
        Some(root) if !p.diags.has_errors() => p.document(&root),
        _ => None,
    };
    let buildspec = if p.diags.has_errors() {
        None
    } else {
        buildspec
    };
    Outcome {
        buildspec,
        diagnostics: p.diags.into_sorted(),
    }
}

/// The text of a plain scalar as written at `pos` in `src`, up to a comment or line end (and,
/// inside a flow collection, up to `,`, `]` or `}`).
pub fn raw_scalar(src: &str, pos: Pos) -> Option<String> {
    let line = src.lines().nth((pos.line as usize).checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth((pos.col as usize).checked_sub(1)?)
        .map(|(i, _)| i)?;
    let rest = &line[start..];
    let in_flow = line[..start].contains(['[', '{']);
    let mut end = rest.len();
    if let Some(i) = rest.find(" #") {
        end = end.min(i);
    }
    if in_flow && let Some(i) = rest.find([',', ']', '}']) {
        end = end.min(i);
    }
    let text = rest[..end].trim_end();
    (!text.is_empty()).then(|| text.to_owned())
}

struct Parser<'a> {
    src: &'a str,
    diags: Diagnostics,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Parser<'_> {
    fn invalid(&mut self, pos: Pos, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(Code::BuildspecInvalid, message)
            .at(pos)
            .path(path)
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let d = self.invalid(pos, path, message);
        self.push(d);
    }

    fn unsupported(&mut self, pos: Pos, path: &str, message: impl Into<String>, help: &str) {
        let mut d = Diagnostic::error(Code::BuildspecUnsupported, message)
            .at(pos)
            .path(path);
        if !help.is_empty() {
            d = d.help(help);
        }
        self.push(d);
    }

    /// A mapping, or an error naming what was expected.
    fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n Map> {
        match node.as_map() {
            Some(m) => Some(m),
            None => {
                self.error(
                    node.pos,
                    path,
                    format!("'{path}' must be a mapping, not a {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Reports every key not in `known` (with a suggestion), and every key in `unsupported`.
    fn check_keys(&mut self, map: &Map, path: &str, known: &[&str], unsupported: &[(&str, &str)]) {
        for (key, entry) in map.iter_entries() {
            let p = join(path, key);
            if let Some((_, help)) = unsupported.iter().find(|(k, _)| *k == key) {
                self.unsupported(
                    entry.key_pos,
                    &p,
                    format!("'{p}' is not supported by Slipway"),
                    help,
                );
            } else if !known.contains(&key) {
                let candidates = known
                    .iter()
                    .copied()
                    .chain(unsupported.iter().map(|(k, _)| *k));
                let mut d = self.invalid(entry.key_pos, &p, format!("unknown property '{p}'"));
                if let Some(s) = did_you_mean(key, candidates) {
                    d = d.help(format!("did you mean '{s}'?"));
                }
                self.push(d);
            }
        }
    }

    /// A scalar read as CodeBuild reads a string field: the text as written.
    fn text(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            Kind::String(s) => Some(s.clone()),
            Kind::Number(_) | Kind::Bool(_) => {
                raw_scalar(self.src, node.pos).or_else(|| node.scalar_text())
            }
            Kind::Null => {
                self.error(node.pos, path, format!("'{path}' must not be empty"));
                None
            }
            Kind::Seq(_) | Kind::Map(_) => {
                self.error(
                    node.pos,
                    path,
                    format!("'{path}' must be a string, not a {}", node.type_name()),
                );
                None
            }
        }
    }

    /// `yes`/`no`/`true`/`false` (YAML 1.1 booleans).
    fn flag(&mut self, node: &Node, path: &str) -> Option<bool> {
        if let Some(b) = node.as_bool() {
            return Some(b);
        }
        self.error(
            node.pos,
            path,
            format!("'{path}' must be yes or no, not {}", describe(node)),
        );
        None
    }

    /// A list of strings. A single scalar is refused: CodeBuild's grammar asks for a list.
    fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let Some(items) = node.as_seq() else {
            let mut d = self.invalid(
                node.pos,
                path,
                format!("'{path}' must be a list, not a {}", node.type_name()),
            );
            if node.scalar_text().is_some() {
                d = d.help("write it as a list: one '- item' per line");
            }
            self.push(d);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.text(item, &join(path, &i.to_string())) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn commands(&mut self, node: &Node, path: &str) -> Vec<Command> {
        let Some(items) = node.as_seq() else {
            self.error(
                node.pos,
                path,
                format!(
                    "'{path}' must be a list of commands, not a {}",
                    node.type_name()
                ),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let p = join(path, &i.to_string());
                if let Some(m) = item.as_map()
                    && m.len() == 1
                {
                    // `- echo "a: b"` is a one-key mapping in YAML: the classic buildspec slip.
                    let d = self
                        .invalid(
                            item.pos,
                            &p,
                            format!("'{p}' must be a string, not a mapping"),
                        )
                        .help("a command containing ': ' must be quoted as a whole: - 'echo \"a: b\"'");
                    self.push(d);
                    return None;
                }
                self.text(item, &p).map(|text| Command {
                    text,
                    pos: item.pos,
                })
            })
            .collect()
    }

    fn document(&mut self, root: &Node) -> Option<Buildspec> {
        let Some(map) = root.as_map() else {
            self.error(
                root.pos,
                "",
                format!("a buildspec must be a mapping, not a {}", root.type_name()),
            );
            return None;
        };
        self.check_keys(
            map,
            "",
            &[
                "version",
                "env",
                "phases",
                "reports",
                "artifacts",
                "cache",
                "proxy",
            ],
            &[
                (
                    "run-as",
                    "builds run as the user running Slipway; remove 'run-as'",
                ),
                (
                    "batch",
                    "batch builds are not supported; run each build separately",
                ),
                (
                    "environment_variables",
                    "this is the pre-0.2 spelling; write 'env' with 'variables'",
                ),
            ],
        );
        let version = match map.get("version") {
            None => {
                self.error(root.pos, "version", "the buildspec has no 'version'");
                None
            }
            Some(v) => match self.text(v, "version").as_deref() {
                Some("0.2") => Some(Version::V0_2),
                Some("0.1") => Some(Version::V0_1),
                Some(other) => {
                    let d = self
                        .invalid(
                            v.pos,
                            "version",
                            format!("unknown buildspec version '{other}'"),
                        )
                        .help("use version: 0.2");
                    self.push(d);
                    None
                }
                None => None,
            },
        };
        if let Some(proxy) = map.get("proxy") {
            self.proxy(proxy);
        }
        let env = match map.get("env") {
            Some(n) => self.env(n, version),
            None => Env::default(),
        };
        let phases = match map.get("phases") {
            Some(n) => self.phases(n),
            None => Phases::default(),
        };
        let reports = match map.get("reports") {
            Some(n) => self.reports(n),
            None => IndexMap::new(),
        };
        let artifacts = map.get("artifacts").and_then(|n| self.artifacts(n));
        let cache = map.get("cache").and_then(|n| self.cache(n));
        Some(Buildspec {
            version: version?,
            env,
            phases,
            reports,
            artifacts,
            cache,
        })
    }

    fn proxy(&mut self, node: &Node) {
        let Some(map) = self.map(node, "proxy") else {
            return;
        };
        self.check_keys(map, "proxy", &["upload-artifacts", "logs"], &[]);
        for (key, value) in map.iter() {
            let p = join("proxy", key);
            if self.flag(value, &p) == Some(true) {
                self.unsupported(
                    value.pos,
                    &p,
                    format!(
                        "'{p}: yes' needs an explicit proxy server, which Slipway does not run"
                    ),
                    "remove it, or set it to no",
                );
            }
        }
    }

    fn env(&mut self, node: &Node, version: Option<Version>) -> Env {
        let mut env = Env::default();
        let Some(map) = self.map(node, "env") else {
            return env;
        };
        self.check_keys(
            map,
            "env",
            &[
                "shell",
                "variables",
                "parameter-store",
                "secrets-manager",
                "exported-variables",
                "git-credential-helper",
            ],
            &[],
        );
        if let Some(n) = map.get("shell") {
            match self.text(n, "env.shell").as_deref() {
                Some("bash") => env.shell = Shell::Bash,
                Some("/bin/sh") => env.shell = Shell::Sh,
                Some(s @ ("powershell.exe" | "cmd.exe")) => self.unsupported(
                    n.pos,
                    "env.shell",
                    format!("shell '{s}' needs a Windows build image"),
                    "use bash or /bin/sh",
                ),
                Some(other) => {
                    let d = self
                        .invalid(n.pos, "env.shell", format!("unknown shell '{other}'"))
                        .help("CodeBuild on Linux accepts bash or /bin/sh");
                    self.push(d);
                }
                None => {}
            }
        }
        if let Some(n) = map.get("git-credential-helper")
            && self.flag(n, "env.git-credential-helper") == Some(true)
        {
            self.unsupported(
                n.pos,
                "env.git-credential-helper",
                "'env.git-credential-helper: yes' is not supported: builds use the git credentials of the machine",
                "remove it, or set it to no",
            );
        }
        let mut names: IndexMap<String, String> = IndexMap::new();
        env.variables = self.name_map(map, "variables", &mut names, |p, n, path| p.text(n, path));
        env.parameter_store = self.name_map(map, "parameter-store", &mut names, |p, n, path| {
            let s = p.text(n, path)?;
            if s.is_empty() {
                p.error(n.pos, path, "the parameter name is empty");
                return None;
            }
            Some(s)
        });
        env.secrets_manager = self.name_map(map, "secrets-manager", &mut names, |p, n, path| {
            let s = p.text(n, path)?;
            match SecretRef::parse(&s) {
                Ok(r) => Some(r),
                Err(e) => {
                    p.error(n.pos, path, e);
                    None
                }
            }
        });
        if let Some(n) = map.get("exported-variables") {
            let path = "env.exported-variables";
            if version == Some(Version::V0_1) {
                self.error(
                    n.pos,
                    path,
                    "'env.exported-variables' needs buildspec version 0.2",
                );
            }
            if let Some(items) = n.as_seq() {
                for (i, item) in items.iter().enumerate() {
                    let p = join(path, &i.to_string());
                    let Some(name) = self.text(item, &p) else {
                        continue;
                    };
                    if !is_env_name(&name) {
                        self.error(
                            item.pos,
                            &p,
                            format!("'{name}' is not a valid variable name"),
                        );
                    } else if name.starts_with("AWS_") {
                        self.error(
                            item.pos,
                            &p,
                            format!(
                                "'{name}' cannot be exported: names starting with AWS_ are reserved"
                            ),
                        );
                    } else {
                        env.exported_variables.push(name);
                    }
                }
            } else {
                self.strings(n, path);
            }
        }
        env
    }

    /// One of the `env` maps from variable names to values; a name may appear in only one of
    /// them (`seen` remembers which).
    fn name_map<T>(
        &mut self,
        env: &Map,
        key: &str,
        seen: &mut IndexMap<String, String>,
        mut value: impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> IndexMap<String, T> {
        let mut out = IndexMap::new();
        let Some(node) = env.get(key) else {
            return out;
        };
        let base = join("env", key);
        let Some(map) = self.map(node, &base) else {
            return out;
        };
        for (name, entry) in map.iter_entries() {
            let path = join(&base, name);
            if !is_env_name(name) {
                self.error(
                    entry.key_pos,
                    &path,
                    format!("'{name}' is not a valid environment variable name"),
                );
                continue;
            }
            if name.starts_with("CODEBUILD_") {
                self.error(
                    entry.key_pos,
                    &path,
                    format!(
                        "'{name}' is reserved: names starting with CODEBUILD_ belong to CodeBuild"
                    ),
                );
                continue;
            }
            if let Some(other) = seen.get(name) {
                let msg = format!("'{name}' is already defined in 'env.{other}'");
                self.error(entry.key_pos, &path, msg);
                continue;
            }
            seen.insert(name.to_owned(), key.to_owned());
            if let Some(v) = value(self, &entry.value, &path) {
                out.insert(name.to_owned(), v);
            }
        }
        out
    }

    fn phases(&mut self, node: &Node) -> Phases {
        let mut phases = Phases::default();
        let Some(map) = self.map(node, "phases") else {
            return phases;
        };
        let known: Vec<&str> = PhaseName::ALL.iter().map(|p| p.key()).collect();
        self.check_keys(map, "phases", &known, &[]);
        for name in PhaseName::ALL {
            if let Some(n) = map.get(name.key()) {
                *phases.slot(name) = self.phase(n, name);
            }
        }
        phases
    }

    fn phase(&mut self, node: &Node, name: PhaseName) -> Option<Phase> {
        let path = join("phases", name.key());
        let map = self.map(node, &path)?;
        let mut known = vec!["on-failure", "commands", "finally"];
        if name == PhaseName::Install {
            known.push("runtime-versions");
        }
        self.check_keys(
            map,
            &path,
            &known,
            &[(
                "run-as",
                "builds run as the user running Slipway; remove 'run-as'",
            )],
        );
        let mut phase = Phase::default();
        if let Some(n) = map.get("on-failure") {
            let p = join(&path, "on-failure");
            match self.text(n, &p).as_deref() {
                Some("ABORT") => phase.on_failure = Some(OnFailure::Abort),
                Some("CONTINUE") => phase.on_failure = Some(OnFailure::Continue),
                Some(other) => {
                    let d = self
                        .invalid(n.pos, &p, format!("unknown on-failure value '{other}'"))
                        .help("use ABORT or CONTINUE");
                    self.push(d);
                }
                None => {}
            }
        }
        if let Some(n) = map.get("runtime-versions")
            && name == PhaseName::Install
        {
            let p = join(&path, "runtime-versions");
            if let Some(rv) = self.map(n, &p) {
                for (runtime, v) in rv.iter() {
                    if let Some(text) = self.text(v, &join(&p, runtime)) {
                        phase.runtime_versions.insert(runtime.to_owned(), text);
                    }
                }
            }
        }
        match map.get("commands") {
            Some(n) => phase.commands = self.commands(n, &join(&path, "commands")),
            None if name == PhaseName::Install && !phase.runtime_versions.is_empty() => {}
            None => {
                self.error(
                    node.pos,
                    &join(&path, "commands"),
                    format!("phase '{}' has no 'commands'", name.key()),
                );
            }
        }
        if let Some(n) = map.get("finally") {
            phase.finally = self.commands(n, &join(&path, "finally"));
        }
        Some(phase)
    }

    fn reports(&mut self, node: &Node) -> IndexMap<String, Report> {
        let mut out = IndexMap::new();
        let Some(map) = self.map(node, "reports") else {
            return out;
        };
        if map.len() > 5 {
            self.error(
                node.pos,
                "reports",
                format!(
                    "a project has at most 5 report groups; this buildspec names {}",
                    map.len()
                ),
            );
        }
        for (group, entry) in map.iter_entries() {
            let path = join("reports", group);
            let Some(m) = self.map(&entry.value, &path) else {
                continue;
            };
            self.check_keys(
                m,
                &path,
                &["files", "base-directory", "discard-paths", "file-format"],
                &[],
            );
            let files = self.files(m, &path, entry.key_pos);
            let base_directory = m
                .get("base-directory")
                .and_then(|n| self.text(n, &join(&path, "base-directory")));
            let discard_paths = m
                .get("discard-paths")
                .and_then(|n| self.flag(n, &join(&path, "discard-paths")))
                .unwrap_or(false);
            let file_format = match m.get("file-format") {
                None => Some(ReportFormat::JunitXml),
                Some(n) => {
                    let p = join(&path, "file-format");
                    let text = self.text(n, &p);
                    match text.as_deref().map(str::to_ascii_uppercase).as_deref() {
                        Some("JUNITXML") => Some(ReportFormat::JunitXml),
                        Some(
                            f @ ("CUCUMBERJSON" | "NUNITXML" | "NUNIT3XML" | "TESTNGXML"
                            | "VISUALSTUDIOTRX" | "CLOVERXML" | "COBERTURAXML" | "JACOCOXML"
                            | "SIMPLECOV"),
                        ) => {
                            self.unsupported(
                                n.pos,
                                &p,
                                format!("report format {f} is not supported by Slipway yet"),
                                "Slipway reads JUNITXML test reports",
                            );
                            None
                        }
                        Some(other) => {
                            self.error(n.pos, &p, format!("unknown report file-format '{other}'"));
                            None
                        }
                        None => None,
                    }
                }
            };
            if let (Some(files), Some(file_format)) = (files, file_format) {
                out.insert(
                    group.to_owned(),
                    Report {
                        files,
                        base_directory,
                        discard_paths,
                        file_format,
                    },
                );
            }
        }
        out
    }

    /// The required `files` list of a report or artifact set.
    fn files(&mut self, m: &Map, path: &str, at: Pos) -> Option<Vec<String>> {
        let p = join(path, "files");
        match m.get("files") {
            Some(n) => self.strings(n, &p),
            None => {
                self.error(at, &p, format!("'{path}' has no 'files'"));
                None
            }
        }
    }

    fn artifact_set(&mut self, map: &Map, path: &str, at: Pos) -> Option<ArtifactSet> {
        let files = self.files(map, path, at);
        let s = |p: &mut Self, key: &str| map.get(key).and_then(|n| p.text(n, &join(path, key)));
        let name = s(self, "name");
        let base_directory = s(self, "base-directory");
        let s3_prefix = s(self, "s3-prefix");
        let discard_paths = map
            .get("discard-paths")
            .and_then(|n| self.flag(n, &join(path, "discard-paths")))
            .unwrap_or(false);
        let exclude_paths = match map.get("exclude-paths") {
            Some(n) => self.strings(n, &join(path, "exclude-paths"))?,
            None => Vec::new(),
        };
        if let Some(n) = map.get("enable-symlinks") {
            let p = join(path, "enable-symlinks");
            if self.flag(n, &p) == Some(true) {
                self.unsupported(
                    n.pos,
                    &p,
                    format!("'{p}: yes' is not supported: artifacts never hold symlinks"),
                    "remove it, or set it to no",
                );
            }
        }
        Some(ArtifactSet {
            files: files?,
            name,
            base_directory,
            discard_paths,
            exclude_paths,
            s3_prefix,
        })
    }

    fn artifacts(&mut self, node: &Node) -> Option<Artifacts> {
        let map = self.map(node, "artifacts")?;
        const SET_KEYS: [&str; 7] = [
            "files",
            "name",
            "base-directory",
            "discard-paths",
            "exclude-paths",
            "enable-symlinks",
            "s3-prefix",
        ];
        let mut known = SET_KEYS.to_vec();
        known.push("secondary-artifacts");
        self.check_keys(map, "artifacts", &known, &[]);
        let primary = self.artifact_set(map, "artifacts", node.pos);
        let mut secondary = IndexMap::new();
        if let Some(n) = map.get("secondary-artifacts")
            && let Some(sm) = self.map(n, "artifacts.secondary-artifacts")
        {
            for (id, entry) in sm.iter_entries() {
                let path = join("artifacts.secondary-artifacts", id);
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || id.is_empty() {
                    self.error(
                        entry.key_pos,
                        &path,
                        format!(
                            "'{id}' is not a valid artifact identifier (letters, digits and _)"
                        ),
                    );
                }
                let Some(m) = self.map(&entry.value, &path) else {
                    continue;
                };
                self.check_keys(m, &path, &SET_KEYS, &[]);
                if let Some(set) = self.artifact_set(m, &path, entry.key_pos) {
                    secondary.insert(id.to_owned(), set);
                }
            }
        }
        Some(Artifacts {
            primary: primary?,
            secondary,
        })
    }

    fn cache(&mut self, node: &Node) -> Option<Cache> {
        let map = self.map(node, "cache")?;
        let later = "cache keys are a CodeBuild feature newer than Slipway's grammar; 'paths' is kept per project";
        self.check_keys(
            map,
            "cache",
            &["paths"],
            &[("key", later), ("fallback-keys", later), ("action", later)],
        );
        let n = map.get("paths")?;
        let paths = self.strings(n, "cache.paths")?;
        if let Some(items) = n.as_seq() {
            for (i, (item, p)) in items.iter().zip(&paths).enumerate() {
                if p.starts_with('/') || p.starts_with('~') || p.starts_with('$') {
                    self.unsupported(
                        item.pos,
                        &format!("cache.paths.{i}"),
                        format!("cache path '{p}' is outside the source directory"),
                        "Slipway keeps cache paths relative to CODEBUILD_SRC_DIR; tools' own caches (pip, npm) already persist on this machine",
                    );
                }
            }
        }
        Some(Cache { paths })
    }
}

/// Serialises an ordered map in its order (the model's `indexmap` has no serde feature).
fn ordered<T: Serialize, S: serde::Serializer>(
    map: &IndexMap<String, T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(map.iter())
}

fn describe(node: &Node) -> String {
    match node.scalar_text() {
        Some(t) => format!("'{t}'"),
        None => format!("a {}", node.type_name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_refs_split_arns() {
        let r = SecretRef::parse("arn:aws:secretsmanager:us-east-1:123:secret:db-AbC:password::v1")
            .unwrap();
        assert_eq!(
            r.secret_id,
            "arn:aws:secretsmanager:us-east-1:123:secret:db-AbC"
        );
        assert_eq!(r.json_key.as_deref(), Some("password"));
        assert_eq!(r.version_stage, None);
        assert_eq!(r.version_id.as_deref(), Some("v1"));
        assert_eq!(SecretRef::parse("db").unwrap().secret_id, "db");
        assert!(SecretRef::parse(":x").is_err());
        assert!(SecretRef::parse("a:b:c:d:e").is_err());
    }

    #[test]
    fn raw_scalars_keep_their_text() {
        let src = "a: 1.10 # c\nb: [yes, 0.20]\n";
        assert_eq!(raw_scalar(src, Pos::new(1, 4)).as_deref(), Some("1.10"));
        assert_eq!(raw_scalar(src, Pos::new(2, 5)).as_deref(), Some("yes"));
        assert_eq!(raw_scalar(src, Pos::new(2, 10)).as_deref(), Some("0.20"));
    }
}
