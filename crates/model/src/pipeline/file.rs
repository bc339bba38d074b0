//! `slipway.yaml`: Slipway's own short pipeline file (schema in the module essay of
//! [`super`]), read into the same [`Pipeline`] model as an import and validated by the same
//! rules. Diagnostics point at the file's own keys (`stages.2.deploy.stack`).

use serde_json::Value;
use std::collections::BTreeMap;

use super::import::buildspec_source;
use super::{
    Action, ActionTypeId, BuildProject, BuildspecSource, Category, DefinitionFormat, ExecutionMode,
    Loc, Origin, Outcome, Pipeline, PipelineType, Provider, Stage, Variable, validate,
};
use crate::diag::{Code, Diagnostics, did_you_mean};
use crate::syntax::{Map, Node, TagMode, parse_yaml};

/// The local connection every git source of `slipway.yaml` uses.
pub const LOCAL_CONNECTION_ARN: &str =
    "arn:aws:codestar-connections:local:000000000000:connection/slipway";
pub const REVIEW_CHANGE_SET: &str = "slipway-review";
const TOP_KEYS: &[&str] = &["name", "mode", "variables", "source", "stages"];
const KINDS: &[&str] = &["build", "test", "deploy", "approval", "invoke"];

/// Reads `slipway.yaml`. `default_name` names the pipeline when the file does not.
pub fn parse_file(text: &str, file: &str, default_name: &str) -> Outcome {
    let mut diags = Diagnostics::for_file(file);
    let parsed = parse_yaml(text, TagMode::Plain);
    diags.extend(parsed.diagnostics);
    let mut out = Vec::new();
    if let Some(root) = parsed.root
        && !diags.has_errors()
    {
        let mut r = Reader { diags: &mut diags };
        if let Some(p) = r.pipeline(&root, default_name) {
            validate(&p, &mut diags);
            out.push(p);
        }
    }
    Outcome::from(out, diags)
}

struct Reader<'d> {
    diags: &'d mut Diagnostics,
}

/// What the action key of a stage says, before it becomes one or more actions.
struct Ctx {
    pipeline: String,
    /// The latest build output of an earlier stage (else `SourceOutput`).
    last_build: String,
    /// Default action names (`Build`, `Deploy`, …) earlier stages took.
    defaults: std::collections::BTreeSet<String>,
}

impl Reader<'_> {
    fn err(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(loc.error(Code::PipelineInvalid, msg));
    }

    fn map<'n>(&mut self, node: &'n Node, loc: &Loc) -> Option<&'n Map> {
        if let Some(m) = node.as_map() {
            return Some(m);
        }
        self.err(
            loc,
            format!("expected a mapping, found {}", node.type_name()),
        );
        None
    }

    fn keys(&mut self, m: &Map, loc: &Loc, known: &[&str]) {
        for (k, e) in m.iter_entries() {
            if !known.contains(&k) {
                let mut d = loc
                    .child(k, e.key_pos)
                    .error(Code::PipelineInvalid, format!("unknown key '{k}'"));
                if let Some(s) = did_you_mean(k, known.iter().copied()) {
                    d = d.help(format!("did you mean '{s}'?"));
                }
                self.diags.push(d);
            }
        }
    }

    fn text(&mut self, node: &Node, loc: &Loc) -> Option<String> {
        let t = node.scalar_text();
        if t.is_none() {
            self.err(
                loc,
                format!("expected a string, found {}", node.type_name()),
            );
        }
        t
    }

    fn get(&mut self, m: &Map, key: &str, loc: &Loc) -> Option<(String, Loc)> {
        let e = m.entry(key)?;
        let l = loc.child(key, e.key_pos);
        Some((self.text(&e.value, &l)?, l))
    }

    fn bool(&mut self, m: &Map, key: &str, loc: &Loc) -> Option<bool> {
        let e = m.entry(key)?;
        let l = loc.child(key, e.key_pos);
        let b = e.value.as_bool();
        if b.is_none() {
            self.err(&l, format!("'{key}' must be true or false"));
        }
        b
    }

    fn int(&mut self, m: &Map, key: &str, loc: &Loc, min: u32, max: u32) -> Option<(u32, Loc)> {
        let (t, l) = self.get(m, key, loc)?;
        match t.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Some((n, l)),
            _ => {
                self.err(
                    &l,
                    format!("'{key}' must be an integer {min}-{max}, not '{t}'"),
                );
                None
            }
        }
    }

    /// A string or a list of strings.
    fn strings(&mut self, m: &Map, key: &str, loc: &Loc) -> Option<(Vec<String>, Loc)> {
        let e = m.entry(key)?;
        let l = loc.child(key, e.key_pos);
        match e.value.as_seq() {
            Some(items) => {
                let v = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| self.text(n, &l.child(i, n.pos)))
                    .collect();
                Some((v, l))
            }
            None => Some((vec![self.text(&e.value, &l)?], l)),
        }
    }

    fn pipeline(&mut self, root: &Node, default_name: &str) -> Option<Pipeline> {
        let loc = Loc::new("", root.pos);
        let m = self.map(root, &loc)?;
        self.keys(m, &loc, TOP_KEYS);
        let mut origin = Origin::new(loc.clone());
        let name = match self.get(m, "name", &loc) {
            Some((n, l)) => {
                origin.set("Name", l);
                n
            }
            None => default_name.to_owned(),
        };
        let execution_mode = match self.get(m, "mode", &loc) {
            None => ExecutionMode::Superseded,
            Some((t, l)) => match t.as_str() {
                "superseded" => ExecutionMode::Superseded,
                "queued" => ExecutionMode::Queued,
                "parallel" => ExecutionMode::Parallel,
                _ => {
                    self.err(
                        &l,
                        format!("mode '{t}' is not superseded, queued or parallel"),
                    );
                    ExecutionMode::Superseded
                }
            },
        };
        let mut variables = Vec::new();
        if let Some(e) = m.entry("variables") {
            let vl = loc.child("variables", e.key_pos);
            if let Some(vm) = self.map(&e.value, &vl) {
                for (k, ve) in vm.iter_entries() {
                    let l = vl.child(k, ve.key_pos);
                    let mut o = Origin::new(l.clone());
                    o.set("Name", l.clone());
                    let (default_value, description) = match ve.value.as_map() {
                        Some(dm) => {
                            self.keys(dm, &l, &["default", "description"]);
                            (
                                self.get(dm, "default", &l).map(|t| t.0),
                                self.get(dm, "description", &l).map(|t| t.0),
                            )
                        }
                        None => (self.text(&ve.value, &l), None),
                    };
                    variables.push(Variable {
                        name: k.to_owned(),
                        default_value,
                        description,
                        origin: o,
                    });
                }
            }
        }
        let mut stages = Vec::new();
        match m.entry("source") {
            None => self.err(
                &loc,
                "'source' is required: `source: {git: {branch: main}}`",
            ),
            Some(e) => {
                let sl = loc.child("source", e.key_pos);
                if let Some(s) = self.source(&e.value, sl) {
                    stages.push(s);
                }
            }
        }
        match m.entry("stages") {
            None => self.err(&loc, "'stages' is required"),
            Some(e) => {
                let sl = loc.child("stages", e.key_pos);
                origin.set("Stages", sl.clone());
                match e.value.as_seq() {
                    None => self.err(&sl, "'stages' must be a list"),
                    Some(items) => {
                        let mut ctx = Ctx {
                            pipeline: name.clone(),
                            last_build: "SourceOutput".into(),
                            defaults: std::collections::BTreeSet::new(),
                        };
                        for (i, n) in items.iter().enumerate() {
                            if let Some(s) = self.stage(n, &sl.child(i, n.pos), &mut ctx) {
                                stages.push(s);
                            }
                        }
                    }
                }
            }
        }
        Some(Pipeline {
            name,
            format: DefinitionFormat::SlipwayFile,
            pipeline_type: PipelineType::V2,
            execution_mode,
            version: 1,
            role_arn: None,
            artifact_store: None,
            variables,
            triggers: Vec::new(),
            disabled_transitions: Vec::new(),
            stages,
            origin,
        })
    }

    fn source(&mut self, node: &Node, loc: Loc) -> Option<Stage> {
        let m = self.map(node, &loc)?;
        self.keys(m, &loc, &["git", "s3"]);
        let mut config = BTreeMap::new();
        let mut origin = Origin::new(loc.clone());
        let provider = match (m.entry("git"), m.entry("s3")) {
            (Some(e), None) => {
                let gl = loc.child("git", e.key_pos);
                let (branch, repository) = match e.value.as_map() {
                    Some(gm) => {
                        self.keys(gm, &gl, &["branch", "repository"]);
                        (
                            self.get(gm, "branch", &gl).map_or("main".into(), |t| t.0),
                            self.get(gm, "repository", &gl).map_or(".".into(), |t| t.0),
                        )
                    }
                    None => (self.text(&e.value, &gl)?, ".".into()),
                };
                config.insert("ConnectionArn".into(), LOCAL_CONNECTION_ARN.into());
                config.insert("FullRepositoryId".into(), repository);
                config.insert("BranchName".into(), branch);
                config.insert("OutputArtifactFormat".into(), "CODE_ZIP".into());
                for k in ["ConnectionArn", "FullRepositoryId", "BranchName"] {
                    origin.set(format!("Configuration.{k}"), gl.clone());
                }
                Provider::CodeStarSourceConnection
            }
            (None, Some(e)) => {
                let sl = loc.child("s3", e.key_pos);
                let sm = self.map(&e.value, &sl)?;
                self.keys(sm, &sl, &["bucket", "key"]);
                for (k, cfg) in [("bucket", "S3Bucket"), ("key", "S3ObjectKey")] {
                    match self.get(sm, k, &sl) {
                        Some((v, l)) => {
                            config.insert(cfg.into(), v);
                            origin.set(format!("Configuration.{cfg}"), l);
                        }
                        None => self.err(&sl, format!("an s3 source needs '{k}'")),
                    }
                }
                config.insert("PollForSourceChanges".into(), "false".into());
                Provider::S3
            }
            _ => {
                self.err(&loc, "'source' needs exactly one of 'git' or 's3'");
                return None;
            }
        };
        let action = Action {
            name: "Source".into(),
            action_type_id: ActionTypeId::new(Category::Source, provider),
            run_order: 1,
            configuration: config,
            input_artifacts: Vec::new(),
            output_artifacts: vec!["SourceOutput".into()],
            region: None,
            role_arn: None,
            namespace: Some("SourceVariables".into()),
            timeout_in_minutes: None,
            target: None,
            project: None,
            origin,
        };
        Some(Stage {
            name: "Source".into(),
            actions: vec![action],
            origin: Origin::new(loc),
        })
    }

    fn stage(&mut self, node: &Node, loc: &Loc, ctx: &mut Ctx) -> Option<Stage> {
        let m = self.map(node, loc)?;
        let mut known = vec!["name", "actions"];
        known.extend(KINDS);
        self.keys(m, loc, &known);
        let mut origin = Origin::new(loc.clone());
        let name = match self.get(m, "name", loc) {
            Some((n, l)) => {
                origin.set("Name", l);
                n
            }
            None => {
                self.err(loc, "a stage needs a 'name'");
                return None;
            }
        };
        let mut actions = Vec::new();
        let kinds: Vec<&str> = KINDS
            .iter()
            .copied()
            .filter(|k| m.contains_key(k))
            .collect();
        match (m.entry("actions"), kinds.as_slice()) {
            (None, [kind]) => {
                // Namespaces and artefact names are unique in a pipeline: a second `deploy:`
                // stage names its action after the stage (`Prod`, `ProdVariables`).
                // A matrix's actions are already told apart by their targets.
                let matrix = m
                    .entry(kind)
                    .and_then(|e| e.value.as_map())
                    .is_some_and(|d| d.contains_key("targets"));
                let default = capitalise(kind);
                let named = (!matrix && ctx.defaults.contains(&default))
                    .then(|| (name.clone(), loc.clone()));
                if !matrix {
                    ctx.defaults.insert(default);
                }
                actions.extend(self.action(m, loc, kind, named, 1, ctx));
            }
            (Some(e), []) => {
                let al = loc.child("actions", e.key_pos);
                origin.set("Actions", al.clone());
                match e.value.as_seq() {
                    None => self.err(&al, "'actions' must be a list"),
                    Some(items) => {
                        for (i, n) in items.iter().enumerate() {
                            let il = al.child(i, n.pos);
                            let Some(am) = self.map(n, &il) else { continue };
                            let mut known = vec!["name", "run-order"];
                            known.extend(KINDS);
                            self.keys(am, &il, &known);
                            let ks: Vec<&str> = KINDS
                                .iter()
                                .copied()
                                .filter(|k| am.contains_key(k))
                                .collect();
                            let [kind] = ks.as_slice() else {
                                self.err(
                                    &il,
                                    "an action needs exactly one of build, test, deploy, approval, invoke",
                                );
                                continue;
                            };
                            let name = self.get(am, "name", &il);
                            let ro = self.int(am, "run-order", &il, 1, 999);
                            let base = ro.as_ref().map_or(1, |r| r.0);
                            let mut made = self.action(am, &il, kind, name, base, ctx);
                            if let Some((_, rl)) = ro {
                                for a in &mut made {
                                    a.origin.set("RunOrder", rl.clone());
                                }
                            }
                            actions.extend(made);
                        }
                    }
                }
            }
            _ => {
                self.err(
                    loc,
                    format!(
                        "stage '{name}' needs exactly one of build, test, deploy, approval, invoke, or an 'actions' list"
                    ),
                );
                return None;
            }
        }
        // Later stages build on the latest build output.
        if let Some(b) = actions
            .iter()
            .rev()
            .find(|a| a.action_type_id.category == Category::Build)
            .and_then(|a| a.output_artifacts.first())
        {
            ctx.last_build = b.clone();
        }
        Some(Stage {
            name,
            actions,
            origin,
        })
    }

    /// The action(s) one action key makes (a deploy matrix makes several).
    fn action(
        &mut self,
        m: &Map,
        loc: &Loc,
        kind: &str,
        name: Option<(String, Loc)>,
        run_order: u32,
        ctx: &Ctx,
    ) -> Vec<Action> {
        let Some(e) = m.entry(kind) else {
            return Vec::new();
        };
        let kl = loc.child(kind, e.key_pos);
        let (name, name_loc) = match name {
            Some(n) => n,
            None => (capitalise(kind), kl.clone()),
        };
        let mut origin = Origin::new(loc.clone());
        origin.set("Name", name_loc);
        origin.set("ActionTypeId", kl.clone());
        origin.set("Configuration", kl.clone());
        origin.set("InputArtifacts", kl.clone());
        origin.set("OutputArtifacts", kl.clone());
        let base = Action {
            name,
            action_type_id: ActionTypeId::new(Category::Build, Provider::CodeBuild),
            run_order,
            configuration: BTreeMap::new(),
            input_artifacts: Vec::new(),
            output_artifacts: Vec::new(),
            region: None,
            role_arn: None,
            namespace: None,
            timeout_in_minutes: None,
            target: None,
            project: None,
            origin,
        };
        match kind {
            "build" | "test" => self
                .build(&e.value, &kl, kind == "test", base, ctx)
                .into_iter()
                .collect(),
            "deploy" => self.deploy(&e.value, &kl, base, ctx),
            "approval" => self.approval(&e.value, &kl, base).into_iter().collect(),
            "invoke" => self.invoke(&e.value, &kl, base).into_iter().collect(),
            other => {
                self.err(&kl, format!("unknown action kind '{other}'"));
                Vec::new()
            }
        }
    }

    fn inputs(&mut self, m: Option<&Map>, loc: &Loc, default: &str, a: &mut Action) {
        match m.and_then(|m| self.strings(m, "input", loc)) {
            Some((v, l)) => {
                for i in 0..v.len() {
                    a.origin.set(format!("InputArtifacts.{i}"), l.clone());
                }
                a.input_artifacts = v;
            }
            None => a.input_artifacts = vec![default.to_owned()],
        }
    }

    fn build(
        &mut self,
        node: &Node,
        loc: &Loc,
        test: bool,
        mut a: Action,
        ctx: &Ctx,
    ) -> Option<Action> {
        let category = if test {
            Category::Test
        } else {
            Category::Build
        };
        a.action_type_id = ActionTypeId::new(category, Provider::CodeBuild);
        let mut project = BuildProject {
            name: format!("{}-{}", ctx.pipeline, a.name),
            buildspec: BuildspecSource::Default,
            environment_variables: Vec::new(),
            timeout_in_minutes: 60,
        };
        let default_input = if test {
            ctx.last_build.as_str()
        } else {
            "SourceOutput"
        };
        let mut output = !test;
        match node.as_map() {
            None => {
                let t = self.text(node, loc)?;
                project.buildspec = if t == "sam" {
                    BuildspecSource::SamBuild
                } else {
                    buildspec_source(&t)
                };
                self.inputs(None, loc, default_input, &mut a);
            }
            Some(m) => {
                self.keys(
                    m,
                    loc,
                    &["buildspec", "sam", "env", "timeout", "input", "output"],
                );
                if let Some((b, _)) = self.get(m, "buildspec", loc) {
                    project.buildspec = buildspec_source(&b);
                }
                if self.bool(m, "sam", loc) == Some(true) {
                    if m.contains_key("buildspec") {
                        self.err(loc, "'sam: true' and 'buildspec' exclude each other");
                    }
                    project.buildspec = BuildspecSource::SamBuild;
                }
                if let Some((t, _)) = self.int(m, "timeout", loc, 5, 2160) {
                    project.timeout_in_minutes = t;
                }
                if let Some(o) = self.bool(m, "output", loc) {
                    output = o;
                }
                if let Some(ee) = m.entry("env") {
                    let el = loc.child("env", ee.key_pos);
                    a.origin
                        .set("Configuration.EnvironmentVariables", el.clone());
                    if let Some(em) = self.map(&ee.value, &el) {
                        let mut vars = Vec::new();
                        for (k, v) in em.iter() {
                            if let Some(t) = self.text(v, &el.child(k, v.pos)) {
                                vars.push(
                                    serde_json::json!({"name": k, "value": t, "type": "PLAINTEXT"}),
                                );
                            }
                        }
                        a.configuration.insert(
                            "EnvironmentVariables".into(),
                            Value::Array(vars).to_string(),
                        );
                    }
                }
                self.inputs(Some(m), loc, default_input, &mut a);
            }
        }
        a.configuration
            .insert("ProjectName".into(), project.name.clone());
        if a.input_artifacts.len() > 1 {
            let first = a.input_artifacts[0].clone();
            a.configuration.insert("PrimarySource".into(), first);
        }
        if output {
            a.output_artifacts = vec![format!("{}Output", a.name)];
        }
        a.namespace = Some(format!("{}Variables", a.name));
        a.project = Some(project);
        Some(a)
    }

    fn deploy(&mut self, node: &Node, loc: &Loc, mut a: Action, ctx: &Ctx) -> Vec<Action> {
        let Some(m) = self.map(node, loc) else {
            return Vec::new();
        };
        self.keys(
            m,
            loc,
            &[
                "stack",
                "template",
                "target",
                "targets",
                "parameters",
                "capabilities",
                "config",
                "outputs",
                "mode",
                "review",
                "input",
            ],
        );
        a.action_type_id = ActionTypeId::new(Category::Deploy, Provider::CloudFormation);
        self.inputs(Some(m), loc, &ctx.last_build, &mut a);
        let artefact = a.input_artifacts.first().cloned().unwrap_or_default();
        let set = |a: &mut Action, key: &str, value: String, l: &Loc| {
            a.configuration.insert(key.to_owned(), value);
            a.origin.set(format!("Configuration.{key}"), l.clone());
        };
        let mode = match self.get(m, "mode", loc) {
            None => "CREATE_UPDATE",
            Some((t, l)) => match t.as_str() {
                "create-update" => "CREATE_UPDATE",
                "replace-on-failure" => "REPLACE_ON_FAILURE",
                "delete-only" => "DELETE_ONLY",
                _ => {
                    self.err(
                        &l,
                        format!(
                            "mode '{t}' is not create-update, replace-on-failure or delete-only"
                        ),
                    );
                    "CREATE_UPDATE"
                }
            },
        };
        set(&mut a, "ActionMode", mode.into(), loc);
        match self.get(m, "stack", loc) {
            Some((s, l)) => set(&mut a, "StackName", s, &l),
            None => self.err(loc, "a deploy needs 'stack'"),
        }
        if mode != "DELETE_ONLY" {
            let (t, l) = self
                .get(m, "template", loc)
                .unwrap_or_else(|| ("template.yaml".into(), loc.clone()));
            let path = if t.contains("::") {
                t
            } else {
                format!("{artefact}::{t}")
            };
            set(&mut a, "TemplatePath", path, &l);
        }
        if let Some((t, l)) = self.get(m, "config", loc) {
            let path = if t.contains("::") {
                t
            } else {
                format!("{artefact}::{t}")
            };
            set(&mut a, "TemplateConfiguration", path, &l);
        }
        let caps = match self.strings(m, "capabilities", loc) {
            Some((v, l)) => Some((v.join(","), l)),
            None => (mode != "DELETE_ONLY").then(|| {
                (
                    "CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND".to_owned(),
                    loc.clone(),
                )
            }),
        };
        if let Some((c, l)) = caps {
            set(&mut a, "Capabilities", c, &l);
        }
        if let Some(pe) = m.entry("parameters") {
            let pl = loc.child("parameters", pe.key_pos);
            if let Some(pm) = self.map(&pe.value, &pl) {
                let obj: serde_json::Map<String, Value> = pm
                    .iter()
                    .map(|(k, v)| {
                        let j = match v.scalar_text() {
                            Some(t) => Value::String(t),
                            None => v.to_json(),
                        };
                        (k.to_owned(), j)
                    })
                    .collect();
                set(
                    &mut a,
                    "ParameterOverrides",
                    Value::Object(obj).to_string(),
                    &pl,
                );
            }
        }
        let outputs = self.get(m, "outputs", loc);
        let review = self.bool(m, "review", loc) == Some(true);
        if review && mode == "DELETE_ONLY" {
            self.err(
                loc,
                "'review' needs a template; a delete-only deploy has none",
            );
        }
        // The matrix.
        let (targets, matrix) = match (self.strings(m, "targets", loc), self.get(m, "target", loc))
        {
            (Some(_), Some((_, l))) => {
                self.err(&l, "'target' and 'targets' exclude each other");
                (Vec::new(), false)
            }
            (Some((v, l)), None) => {
                if v.is_empty() {
                    self.err(&l, "'targets' needs at least one target");
                }
                (v.into_iter().map(|t| (t, l.clone())).collect(), true)
            }
            (None, Some((t, l))) => (vec![(t, l)], false),
            (None, None) => (vec![("dev".to_owned(), loc.clone())], false),
        };
        let mut seen = std::collections::BTreeSet::new();
        for (t, l) in &targets {
            if !valid_target(t) {
                self.err(
                    l,
                    format!("target '{t}' is neither ACCOUNT/REGION (111111111111/us-east-1), aws:ACCOUNT/REGION nor a short name"),
                );
            }
            if !seen.insert(t) {
                self.err(l, format!("target '{t}' is listed twice"));
            }
        }
        let name = a.name.clone();
        let mut out = Vec::new();
        let mut executes = Vec::new();
        for (t, tl) in &targets {
            let sfx = if matrix {
                format!("-{}", t.replace('/', "-"))
            } else {
                String::new()
            };
            let mut d = a.clone();
            d.target = Some(t.clone());
            d.region = t.split_once('/').map(|(_, r)| r.to_owned());
            if d.region.is_some() {
                d.origin.set("Region", tl.clone());
            }
            d.namespace = Some(format!("{name}Variables{sfx}"));
            if let Some((f, fl)) = &outputs {
                d.output_artifacts = vec![format!("{name}Output{sfx}")];
                set(&mut d, "OutputFileName", f.clone(), fl);
            }
            if review {
                let mut cs = d.clone();
                cs.name = format!("{name}-ChangeSet{sfx}");
                cs.namespace = None;
                cs.output_artifacts.clear();
                cs.configuration.remove("OutputFileName");
                cs.configuration
                    .insert("ActionMode".into(), "CHANGE_SET_REPLACE".into());
                cs.configuration
                    .insert("ChangeSetName".into(), REVIEW_CHANGE_SET.into());
                out.push(cs);
                let mut ex = d;
                ex.name = format!("{name}-Execute{sfx}");
                ex.run_order = a.run_order + 2;
                let keep = ["StackName", "OutputFileName"];
                ex.configuration.retain(|k, _| keep.contains(&k.as_str()));
                ex.configuration
                    .insert("ActionMode".into(), "CHANGE_SET_EXECUTE".into());
                ex.configuration
                    .insert("ChangeSetName".into(), REVIEW_CHANGE_SET.into());
                ex.input_artifacts.clear();
                executes.push(ex);
            } else {
                d.name = format!("{name}{sfx}");
                out.push(d);
            }
        }
        if review {
            let stack = a.config("StackName").unwrap_or_default().to_owned();
            let mut r = a.clone();
            r.name = format!("{name}-Review");
            r.action_type_id = ActionTypeId::new(Category::Approval, Provider::Manual);
            r.run_order = a.run_order + 1;
            r.input_artifacts.clear();
            r.configuration = BTreeMap::new();
            r.configuration.insert(
                "CustomData".into(),
                format!(
                    "Review change set {REVIEW_CHANGE_SET} of stack {stack} in {}",
                    targets
                        .iter()
                        .map(|t| t.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            out.push(r);
            out.extend(executes);
        }
        out
    }

    fn approval(&mut self, node: &Node, loc: &Loc, mut a: Action) -> Option<Action> {
        a.action_type_id = ActionTypeId::new(Category::Approval, Provider::Manual);
        match node.as_map() {
            None => {
                let t = self.text(node, loc)?;
                a.configuration.insert("CustomData".into(), t);
                a.origin.set("Configuration.CustomData", loc.clone());
            }
            Some(m) => {
                self.keys(m, loc, &["message", "link", "notify", "timeout"]);
                for (k, cfg) in [
                    ("message", "CustomData"),
                    ("link", "ExternalEntityLink"),
                    ("notify", "NotificationArn"),
                ] {
                    if let Some((v, l)) = self.get(m, k, loc) {
                        a.configuration.insert(cfg.into(), v);
                        a.origin.set(format!("Configuration.{cfg}"), l);
                    }
                }
                if let Some((t, l)) = self.int(m, "timeout", loc, 1, 7 * 24 * 60) {
                    a.timeout_in_minutes = Some(t);
                    a.origin.set("TimeoutInMinutes", l);
                }
            }
        }
        Some(a)
    }

    fn invoke(&mut self, node: &Node, loc: &Loc, mut a: Action) -> Option<Action> {
        a.action_type_id = ActionTypeId::new(Category::Invoke, Provider::Lambda);
        a.namespace = Some(format!("{}Variables", a.name));
        match node.as_map() {
            None => {
                let t = self.text(node, loc)?;
                a.configuration.insert("FunctionName".into(), t);
            }
            Some(m) => {
                self.keys(m, loc, &["function", "parameters", "input", "output"]);
                match self.get(m, "function", loc) {
                    Some((f, l)) => {
                        a.configuration.insert("FunctionName".into(), f);
                        a.origin.set("Configuration.FunctionName", l);
                    }
                    None => self.err(loc, "an invoke needs 'function'"),
                }
                if let Some(pe) = m.entry("parameters") {
                    let pl = loc.child("parameters", pe.key_pos);
                    let v = match pe.value.scalar_text() {
                        Some(t) => t,
                        None => pe.value.to_json().to_string(),
                    };
                    a.configuration.insert("UserParameters".into(), v);
                    a.origin.set("Configuration.UserParameters", pl);
                }
                if let Some((v, l)) = self.strings(m, "input", loc) {
                    for i in 0..v.len() {
                        a.origin.set(format!("InputArtifacts.{i}"), l.clone());
                    }
                    a.input_artifacts = v;
                }
                if self.bool(m, "output", loc) == Some(true) {
                    a.output_artifacts = vec![format!("{}Output", a.name)];
                }
            }
        }
        Some(a)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// `ACCOUNT/REGION` (12 digits, a region name), `aws:ACCOUNT/REGION` (that account on AWS,
/// through the AWS target) or a short target name.
pub fn valid_target(t: &str) -> bool {
    if let Some(aws) = t.strip_prefix("aws:") {
        return aws.contains('/') && valid_target(aws);
    }
    match t.split_once('/') {
        Some((acct, region)) => {
            acct.len() == 12
                && acct.chars().all(|c| c.is_ascii_digit())
                && !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
        None => {
            !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
    }
}
