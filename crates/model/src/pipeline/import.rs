//! Import of `AWS::CodePipeline::Pipeline` resources from a resolved template.
//!
//! By the time a template reaches here, [`crate::template::resolve`] has evaluated parameters,
//! conditions (`Fn::If` around whole stages and actions is gone), `Fn::ImportValue`,
//! `Fn::FindInMap` and `Fn::Sub`; what is left is read into the [`Pipeline`] model. A
//! CodeBuild `ProjectName` that is a `Ref` to an `AWS::CodeBuild::Project` of the same template
//! is resolved into its buildspec, environment variables and timeout; any other value that
//! is still an intrinsic (a reference to a resource whose name only exists once deployed) is
//! an error, because CodePipeline configuration values are strings.

use std::collections::BTreeMap;

use super::{
    ActionTypeId, ArtifactStore, BuildProject, BuildspecSource, DefinitionFormat,
    DisabledTransition, EnvVarType, EnvironmentVariable, ExecutionMode, GlobFilter, Loc, Origin,
    Outcome, Pipeline, PipelineType, Provider, PullRequestFilter, PushFilter, Stage, Trigger,
    Variable, arn_account, validate,
};
use crate::diag::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::{Map, Node};
use crate::template::Template;

pub const PIPELINE_TYPE: &str = "AWS::CodePipeline::Pipeline";
pub const PROJECT_TYPE: &str = "AWS::CodeBuild::Project";

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The template's file name, for diagnostics.
    pub file: String,
    /// Import only this logical ID (else every pipeline of the template, in template order).
    pub logical_id: Option<String>,
}

/// Reads every `AWS::CodePipeline::Pipeline` of a resolved template.
pub fn import(template: &Template, opts: &ImportOptions) -> Outcome {
    let mut diags = Diagnostics::for_file(opts.file.clone());
    let mut out = Vec::new();
    let mut found = false;
    for (id, r) in &template.resources {
        if r.type_ != PIPELINE_TYPE {
            continue;
        }
        if opts.logical_id.as_ref().is_some_and(|l| l != id) {
            continue;
        }
        found = true;
        let loc = Loc::new(format!("Resources.{id}.Properties"), r.pos);
        let mut im = Importer {
            template,
            diags: &mut diags,
        };
        if let Some(p) = im.pipeline(id, &r.properties, &loc) {
            validate(&p, &mut diags);
            out.push(p);
        }
    }
    if !found {
        let msg = match &opts.logical_id {
            Some(l) => format!("the template has no {PIPELINE_TYPE} named '{l}'"),
            None => format!("the template declares no {PIPELINE_TYPE} resource"),
        };
        diags.push(Diagnostic::error(Code::PipelineInvalid, msg));
    }
    Outcome::from(out, diags)
}

struct Importer<'a, 'd> {
    template: &'a Template,
    diags: &'d mut Diagnostics,
}

const PIPELINE_KEYS: &[&str] = &[
    "Name",
    "RoleArn",
    "ArtifactStore",
    "ArtifactStores",
    "Stages",
    "PipelineType",
    "ExecutionMode",
    "Variables",
    "Triggers",
    "DisableInboundStageTransitions",
    "RestartExecutionOnUpdate",
    "Tags",
];
const STAGE_KEYS: &[&str] = &["Name", "Actions"];
const STAGE_UNSUPPORTED: &[&str] = &["Blockers", "OnFailure", "OnSuccess", "BeforeEntry"];
const ACTION_KEYS: &[&str] = &[
    "Name",
    "ActionTypeId",
    "Configuration",
    "InputArtifacts",
    "OutputArtifacts",
    "Namespace",
    "Region",
    "RoleArn",
    "RunOrder",
    "TimeoutInMinutes",
];
const ACTION_UNSUPPORTED: &[&str] = &["Commands", "OutputVariables"];

impl Importer<'_, '_> {
    fn err(&mut self, code: Code, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(loc.error(code, msg));
    }

    fn map<'n>(&mut self, node: &'n Node, loc: &Loc) -> Option<&'n Map> {
        match node.as_map() {
            Some(m) => Some(m),
            None => {
                self.err(
                    Code::PipelineInvalid,
                    loc,
                    format!("expected a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn keys(&mut self, m: &Map, loc: &Loc, known: &[&str], unsupported: &[&str]) {
        for (k, e) in m.iter_entries() {
            let kl = loc.child(k, e.key_pos);
            if unsupported.contains(&k) {
                self.err(
                    Code::PipelineUnsupported,
                    &kl,
                    format!("'{k}' is not supported by Slipway's pipelines (yet)"),
                );
            } else if !known.contains(&k) {
                let mut d = kl.error(Code::PipelineInvalid, format!("unknown property '{k}'"));
                if let Some(s) = did_you_mean(k, known.iter().copied()) {
                    d = d.help(format!("did you mean '{s}'?"));
                }
                self.diags.push(d);
            }
        }
    }

    /// A scalar as a string. A `Ref` to a resource of the template whose `Ref` is a name the
    /// template gives it (`FunctionName`, `BucketName`, `Name`) is that name; any other
    /// intrinsic left after resolution only has a value once deployed, which an import cannot
    /// wait for.
    fn text(&mut self, node: &Node, loc: &Loc) -> Option<String> {
        if let Some(s) = node.scalar_text() {
            return Some(s);
        }
        let key = loc.path.rsplit('.').next().unwrap_or_default().to_owned();
        match node.intrinsic() {
            Some(("Ref", arg)) => {
                let id = arg.as_str().unwrap_or("?");
                if let Some(name) = self.named_resource(id) {
                    return Some(name);
                }
                let d = loc
                    .error(
                        Code::PipelineUnsupported,
                        format!(
                            "'{key}' is a Ref to resource '{id}', whose physical name is only known once it is deployed"
                        ),
                    )
                    .help(format!(
                        "give '{id}' an explicit name in the template, or write the name here"
                    ));
                self.diags.push(d);
            }
            Some((f, _)) => self.err(
                Code::PipelineUnsupported,
                loc,
                format!(
                    "'{key}' uses {f}, which only has a value once the stack is deployed; a string is needed"
                ),
            ),
            None => self.err(
                Code::PipelineInvalid,
                loc,
                format!("expected a string, found {}", node.type_name()),
            ),
        }
        None
    }

    /// The name a resource's `Ref` returns when the template sets it.
    fn named_resource(&self, id: &str) -> Option<String> {
        let r = self.template.resources.get(id)?;
        let prop = match r.type_.as_str() {
            "AWS::Lambda::Function" => "FunctionName",
            "AWS::S3::Bucket" => "BucketName",
            PROJECT_TYPE => "Name",
            _ => return None,
        };
        r.properties
            .as_map()?
            .get(prop)?
            .as_str()
            .map(str::to_owned)
    }

    fn field_text(&mut self, m: &Map, key: &str, loc: &Loc) -> Option<(String, Loc)> {
        let e = m.entry(key)?;
        let l = loc.child(key, e.key_pos);
        let t = self.text(&e.value, &l)?;
        Some((t, l))
    }

    fn required_text(&mut self, m: &Map, key: &str, loc: &Loc) -> Option<(String, Loc)> {
        if !m.contains_key(key) {
            self.err(Code::PipelineInvalid, loc, format!("'{key}' is required"));
            return None;
        }
        self.field_text(m, key, loc)
    }

    fn seq<'n>(&mut self, m: &'n Map, key: &str, loc: &Loc) -> Vec<(&'n Node, Loc)> {
        let Some(e) = m.entry(key) else {
            return Vec::new();
        };
        let l = loc.child(key, e.key_pos);
        match e.value.as_seq() {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, l.child(i, n.pos)))
                .collect(),
            None => {
                self.err(
                    Code::PipelineInvalid,
                    &l,
                    format!("expected a list, found {}", e.value.type_name()),
                );
                Vec::new()
            }
        }
    }

    fn pipeline(&mut self, id: &str, props: &Node, loc: &Loc) -> Option<Pipeline> {
        let m = self.map(props, loc)?;
        self.keys(m, loc, PIPELINE_KEYS, &[]);
        let mut origin = Origin::new(loc.clone());
        for k in m.keys() {
            if let Some(kp) = m.key_pos(k) {
                origin.set(k, loc.child(k, kp));
            }
        }
        let name = match self.field_text(m, "Name", loc) {
            Some((n, _)) => n,
            None => format!("{}-{id}", self.template.pseudo.stack_name),
        };
        let role_arn = self.field_text(m, "RoleArn", loc).map(|t| t.0);
        let artifact_store = m.entry("ArtifactStore").and_then(|e| {
            let l = loc.child("ArtifactStore", e.key_pos);
            let sm = self.map(&e.value, &l)?;
            let type_ = self
                .field_text(sm, "Type", &l)
                .map(|t| t.0)
                .unwrap_or_default();
            let location = self
                .field_text(sm, "Location", &l)
                .map(|t| t.0)
                .unwrap_or_default();
            Some(ArtifactStore { type_, location })
        });
        let pipeline_type = match self.field_text(m, "PipelineType", loc) {
            None => PipelineType::V1,
            Some((t, _)) if t == "V1" => PipelineType::V1,
            Some((t, _)) if t == "V2" => PipelineType::V2,
            Some((t, l)) => {
                self.err(
                    Code::PipelineInvalid,
                    &l,
                    format!("PipelineType '{t}' is not V1 or V2"),
                );
                PipelineType::V1
            }
        };
        let execution_mode = match self.field_text(m, "ExecutionMode", loc) {
            None => ExecutionMode::Superseded,
            Some((t, l)) => ExecutionMode::parse(&t).unwrap_or_else(|| {
                self.err(
                    Code::PipelineInvalid,
                    &l,
                    format!("ExecutionMode '{t}' is not SUPERSEDED, QUEUED or PARALLEL"),
                );
                ExecutionMode::Superseded
            }),
        };
        let mut variables = Vec::new();
        for (n, l) in self.seq(m, "Variables", loc) {
            let Some(vm) = self.map(n, &l) else { continue };
            self.keys(vm, &l, &["Name", "DefaultValue", "Description"], &[]);
            let mut o = Origin::new(l.clone());
            let name = self.required_text(vm, "Name", &l);
            if let Some((_, nl)) = &name {
                o.set("Name", nl.clone());
            }
            let default_value = self.field_text(vm, "DefaultValue", &l).map(|(t, dl)| {
                o.set("DefaultValue", dl);
                t
            });
            let description = self.field_text(vm, "Description", &l).map(|(t, dl)| {
                o.set("Description", dl);
                t
            });
            if let Some((name, _)) = name {
                variables.push(Variable {
                    name,
                    default_value,
                    description,
                    origin: o,
                });
            }
        }
        let mut triggers = Vec::new();
        for (n, l) in self.seq(m, "Triggers", loc) {
            if let Some(t) = self.trigger(n, &l) {
                triggers.push(t);
            }
        }
        let mut disabled_transitions = Vec::new();
        for (n, l) in self.seq(m, "DisableInboundStageTransitions", loc) {
            let Some(dm) = self.map(n, &l) else { continue };
            self.keys(dm, &l, &["StageName", "Reason"], &[]);
            let mut o = Origin::new(l.clone());
            let stage = self.required_text(dm, "StageName", &l);
            let reason = self.required_text(dm, "Reason", &l);
            if let (Some((s, sl)), Some((r, _))) = (stage, reason) {
                o.set("StageName", sl);
                disabled_transitions.push(DisabledTransition {
                    stage_name: s,
                    reason: r,
                    origin: o,
                });
            }
        }
        let mut stages = Vec::new();
        if !m.contains_key("Stages") {
            self.err(Code::PipelineInvalid, loc, "'Stages' is required");
        }
        for (n, l) in self.seq(m, "Stages", loc) {
            match self.stage(n, &l) {
                Some(s) => stages.push(s),
                None => origin.mark_unreadable("Stages"),
            }
        }
        Some(Pipeline {
            name,
            format: DefinitionFormat::CloudFormation,
            pipeline_type,
            execution_mode,
            version: 1,
            role_arn,
            artifact_store,
            variables,
            triggers,
            disabled_transitions,
            stages,
            origin,
        })
    }

    fn globs(&mut self, m: &Map, key: &str, loc: &Loc) -> Option<GlobFilter> {
        let e = m.entry(key)?;
        let l = loc.child(key, e.key_pos);
        let gm = self.map(&e.value, &l)?;
        self.keys(gm, &l, &["Includes", "Excludes"], &[]);
        let mut list = |k: &str| {
            self.seq(gm, k, &l)
                .into_iter()
                .filter_map(|(n, il)| self.text(n, &il))
                .collect::<Vec<_>>()
        };
        let includes = list("Includes");
        let excludes = list("Excludes");
        Some(GlobFilter { includes, excludes })
    }

    fn trigger(&mut self, n: &Node, l: &Loc) -> Option<Trigger> {
        let tm = self.map(n, l)?;
        self.keys(tm, l, &["ProviderType", "GitConfiguration"], &[]);
        let mut o = Origin::new(l.clone());
        if let Some((p, pl)) = self.required_text(tm, "ProviderType", l)
            && p != "CodeStarSourceConnection"
        {
            self.err(
                Code::PipelineInvalid,
                &pl,
                format!("trigger ProviderType '{p}' is not CodeStarSourceConnection"),
            );
        }
        let Some(ge) = tm.entry("GitConfiguration") else {
            self.err(Code::PipelineInvalid, l, "'GitConfiguration' is required");
            return None;
        };
        let gl = l.child("GitConfiguration", ge.key_pos);
        let gm = self.map(&ge.value, &gl)?;
        self.keys(gm, &gl, &["SourceActionName", "Push", "PullRequest"], &[]);
        let (source_action_name, sl) = self.required_text(gm, "SourceActionName", &gl)?;
        o.set("SourceActionName", sl);
        for k in ["Push", "PullRequest"] {
            if let Some(kp) = gm.key_pos(k) {
                o.set(k, gl.child(k, kp));
            }
        }
        let mut push = Vec::new();
        for (pn, pl) in self.seq(gm, "Push", &gl) {
            let Some(pm) = self.map(pn, &pl) else {
                continue;
            };
            self.keys(pm, &pl, &["Branches", "FilePaths", "Tags"], &[]);
            push.push(PushFilter {
                branches: self.globs(pm, "Branches", &pl),
                file_paths: self.globs(pm, "FilePaths", &pl),
                tags: self.globs(pm, "Tags", &pl),
            });
        }
        let mut pull_request = Vec::new();
        for (pn, pl) in self.seq(gm, "PullRequest", &gl) {
            let Some(pm) = self.map(pn, &pl) else {
                continue;
            };
            self.keys(pm, &pl, &["Events", "Branches", "FilePaths"], &[]);
            let events = self
                .seq(pm, "Events", &pl)
                .into_iter()
                .filter_map(|(n, el)| self.text(n, &el))
                .collect();
            pull_request.push(PullRequestFilter {
                events,
                branches: self.globs(pm, "Branches", &pl),
                file_paths: self.globs(pm, "FilePaths", &pl),
            });
        }
        Some(Trigger {
            source_action_name,
            push,
            pull_request,
            origin: o,
        })
    }

    fn stage(&mut self, n: &Node, loc: &Loc) -> Option<Stage> {
        let m = self.map(n, loc)?;
        self.keys(m, loc, STAGE_KEYS, STAGE_UNSUPPORTED);
        let mut origin = Origin::new(loc.clone());
        let name = self.required_text(m, "Name", loc);
        if let Some((_, nl)) = &name {
            origin.set("Name", nl.clone());
        }
        if let Some(kp) = m.key_pos("Actions") {
            origin.set("Actions", loc.child("Actions", kp));
        }
        let mut actions = Vec::new();
        for (an, al) in self.seq(m, "Actions", loc) {
            match self.action(an, &al) {
                Some(a) => actions.push(a),
                None => origin.mark_unreadable("Actions"),
            }
        }
        Some(Stage {
            name: name?.0,
            actions,
            origin,
        })
    }

    fn action(&mut self, n: &Node, loc: &Loc) -> Option<super::Action> {
        let m = self.map(n, loc)?;
        self.keys(m, loc, ACTION_KEYS, ACTION_UNSUPPORTED);
        let mut origin = Origin::new(loc.clone());
        for k in m.keys() {
            if let Some(kp) = m.key_pos(k) {
                origin.set(k, loc.child(k, kp));
            }
        }
        let name = self.required_text(m, "Name", loc);
        let type_id = self.action_type(m, loc);
        let run_order = match self.field_text(m, "RunOrder", loc) {
            None => 1,
            Some((t, l)) => match t.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    self.err(
                        Code::PipelineInvalid,
                        &l,
                        format!("RunOrder must be a positive integer, not '{t}'"),
                    );
                    1
                }
            },
        };
        let timeout_in_minutes = self
            .field_text(m, "TimeoutInMinutes", loc)
            .and_then(|(t, l)| {
                let n = t.parse::<u32>().ok();
                if n.is_none() {
                    self.err(
                        Code::PipelineInvalid,
                        &l,
                        format!("TimeoutInMinutes must be a positive integer, not '{t}'"),
                    );
                }
                n
            });
        let mut artifacts = |key: &str, origin: &mut Origin| {
            let mut out = Vec::new();
            for (an, al) in self.seq(m, key, loc) {
                let Some(am) = self.map(an, &al) else {
                    continue;
                };
                self.keys(am, &al, &["Name"], &[]);
                if let Some((name, _)) = self.required_text(am, "Name", &al) {
                    origin.set(format!("{key}.{}", out.len()), al.clone());
                    out.push(name);
                }
            }
            out
        };
        let input_artifacts = artifacts("InputArtifacts", &mut origin);
        let output_artifacts = artifacts("OutputArtifacts", &mut origin);
        let region = self.field_text(m, "Region", loc).map(|t| t.0);
        let role_arn = self.field_text(m, "RoleArn", loc).map(|t| t.0);
        let namespace = self.field_text(m, "Namespace", loc).map(|t| t.0);
        let mut configuration = BTreeMap::new();
        let mut project = None;
        if let Some(ce) = m.entry("Configuration") {
            let cl = loc.child("Configuration", ce.key_pos);
            if let Some(cm) = self.map(&ce.value, &cl) {
                for (k, e) in cm.iter_entries() {
                    let kl = cl.child(k, e.key_pos);
                    origin.set(format!("Configuration.{k}"), kl.clone());
                    let is_codebuild = type_id.is_some_and(|t| t.provider == Provider::CodeBuild);
                    if k == "ProjectName"
                        && is_codebuild
                        && let Some(("Ref", target)) = e.value.intrinsic()
                        && let Some(target) = target.as_str()
                    {
                        match self.project(target, &kl) {
                            Some(p) => {
                                configuration.insert(k.to_owned(), p.name.clone());
                                project = Some(p);
                            }
                            None => origin.mark_unreadable(format!("Configuration.{k}")),
                        }
                        continue;
                    }
                    match self.text(&e.value, &kl) {
                        Some(v) => {
                            configuration.insert(k.to_owned(), v);
                        }
                        None => origin.mark_unreadable(format!("Configuration.{k}")),
                    }
                }
            }
        }
        let type_id = type_id?;
        let target = (type_id.provider == Provider::CloudFormation).then(|| {
            let pseudo = &self.template.pseudo;
            let role = configuration
                .get("RoleArn")
                .or(role_arn.as_ref())
                .and_then(|r| arn_account(r))
                .unwrap_or(&pseudo.account);
            format!("{role}/{}", region.as_deref().unwrap_or(&pseudo.region))
        });
        Some(super::Action {
            name: name?.0,
            action_type_id: type_id,
            run_order,
            configuration,
            input_artifacts,
            output_artifacts,
            region,
            role_arn,
            namespace,
            timeout_in_minutes,
            target,
            project,
            origin,
        })
    }

    fn action_type(&mut self, m: &Map, loc: &Loc) -> Option<ActionTypeId> {
        let Some(e) = m.entry("ActionTypeId") else {
            self.err(Code::PipelineInvalid, loc, "'ActionTypeId' is required");
            return None;
        };
        let l = loc.child("ActionTypeId", e.key_pos);
        let tm = self.map(&e.value, &l)?;
        self.keys(tm, &l, &["Category", "Owner", "Provider", "Version"], &[]);
        let c = self.required_text(tm, "Category", &l)?.0;
        let o = self.required_text(tm, "Owner", &l)?.0;
        let p = self.required_text(tm, "Provider", &l)?.0;
        let v = self.required_text(tm, "Version", &l)?.0;
        match ActionTypeId::parse(&c, &o, &p, &v) {
            Some(t) => Some(t),
            None => {
                let known = matches!(
                    c.as_str(),
                    "Source" | "Build" | "Test" | "Deploy" | "Approval" | "Invoke" | "Compute"
                );
                let msg = if known {
                    format!(
                        "action type {c}/{o}/{p}/{v} is not supported; Slipway runs Source S3, CodeCommit, GitHub (ThirdParty, 1) and CodeStarSourceConnection; Build/Test CodeBuild; Deploy CloudFormation; Approval Manual; Invoke Lambda"
                    )
                } else {
                    format!("'{c}' is not an action category")
                };
                let code = if known {
                    Code::PipelineUnsupported
                } else {
                    Code::PipelineInvalid
                };
                self.err(code, &l, msg);
                None
            }
        }
    }

    /// The `AWS::CodeBuild::Project` a `ProjectName: !Ref X` names.
    fn project(&mut self, id: &str, loc: &Loc) -> Option<BuildProject> {
        let template = self.template;
        let Some(r) = template.resources.get(id) else {
            self.err(
                Code::PipelineInvalid,
                loc,
                format!("ProjectName refers to '{id}', which is not a resource of this template"),
            );
            return None;
        };
        if r.type_ != PROJECT_TYPE {
            self.err(
                Code::PipelineInvalid,
                loc,
                format!(
                    "ProjectName refers to '{id}', a {}, not an {PROJECT_TYPE}",
                    r.type_
                ),
            );
            return None;
        }
        let rl = Loc::new(format!("Resources.{id}.Properties"), r.pos);
        let pm = r.properties.as_map()?;
        let name = self
            .field_text(pm, "Name", &rl)
            .map_or_else(|| id.to_owned(), |t| t.0);
        let mut buildspec = BuildspecSource::Default;
        if let Some(se) = pm.entry("Source") {
            let sl = rl.child("Source", se.key_pos);
            if let Some(sm) = se.value.as_map() {
                if let Some((t, tl)) = self.field_text(sm, "Type", &sl)
                    && t != "CODEPIPELINE"
                {
                    self.err(
                        Code::PipelineUnsupported,
                        &tl,
                        format!(
                            "a project run by a pipeline needs Source Type CODEPIPELINE, not '{t}'"
                        ),
                    );
                }
                if let Some((b, _)) = self.field_text(sm, "BuildSpec", &sl) {
                    buildspec = buildspec_source(&b);
                }
            }
        }
        let mut environment_variables = Vec::new();
        if let Some(ee) = pm.entry("Environment") {
            let el = rl.child("Environment", ee.key_pos);
            if let Some(em) = ee.value.as_map() {
                for (vn, vl) in self.seq(em, "EnvironmentVariables", &el) {
                    let Some(vm) = vn.as_map() else { continue };
                    let name = self.required_text(vm, "Name", &vl);
                    let value = self.required_text(vm, "Value", &vl);
                    let type_ = match self.field_text(vm, "Type", &vl) {
                        None => Some(EnvVarType::Plaintext),
                        Some((t, tl)) => {
                            let p = EnvVarType::parse(&t);
                            if p.is_none() {
                                self.err(
                                    Code::PipelineInvalid,
                                    &tl,
                                    format!("environment variable type '{t}' is not PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER"),
                                );
                            }
                            p
                        }
                    };
                    if let (Some((name, _)), Some((value, _)), Some(type_)) = (name, value, type_) {
                        environment_variables.push(EnvironmentVariable { name, value, type_ });
                    }
                }
            }
        }
        let timeout_in_minutes = match self.field_text(pm, "TimeoutInMinutes", &rl) {
            None => 60,
            Some((t, tl)) => match t.parse::<u32>() {
                Ok(n) if (5..=2160).contains(&n) => n,
                _ => {
                    self.err(
                        Code::PipelineInvalid,
                        &tl,
                        format!("TimeoutInMinutes must be 5-2160, not '{t}'"),
                    );
                    60
                }
            },
        };
        Some(BuildProject {
            name,
            buildspec,
            environment_variables,
            timeout_in_minutes,
        })
    }
}

/// CodeBuild's rule: a `BuildSpec` that is YAML text (several lines, or a `version:` key) is
/// inline; anything else is a path in the primary source.
pub(super) fn buildspec_source(b: &str) -> BuildspecSource {
    let t = b.trim();
    if t.is_empty() {
        BuildspecSource::Default
    } else if t.contains('\n') || t.starts_with("version:") || t.starts_with('{') {
        BuildspecSource::Inline(b.to_owned())
    } else {
        BuildspecSource::Path(t.to_owned())
    }
}

/// The importer's own diagnostics for a template that did *not* resolve cleanly, so that
/// `slipway pipeline import` reports every problem at once: `template` is what
/// [`crate::template::resolve_despite_errors`] made of `text`, `resolve_diagnostics` what it
/// reported.
///
/// Such a template carries stand-ins (an empty string for a parameter without a value, no
/// value where an intrinsic failed), and the importer would complain about them too: a
/// diagnostic that is only a consequence of a resolution error is left out. "A consequence"
/// is decided on the written template: a node is *tainted* when a resolution error is
/// positioned on it, or when it is an intrinsic that mentions a parameter without a valid
/// value (`Ref`, `${…}` in `Fn::Sub`) or a condition that depends on one (`Fn::If`,
/// `Condition`, and a resource's `Condition`); an importer diagnostic positioned on the lines
/// a tainted node spans (its key included), or on the mapping holding it (where "missing
/// property" diagnostics point), is dropped. The rest — an unsupported provider or property,
/// a wrong artefact name — stand on their own and are returned. A clean template needs none
/// of this: [`import`] it.
pub fn import_unresolved(
    text: &str,
    template: &Template,
    resolve_diagnostics: &[Diagnostic],
    opts: &ImportOptions,
) -> Vec<Diagnostic> {
    let outcome = import(template, opts);
    let parsed = crate::syntax::parse_document(text, crate::syntax::TagMode::CloudFormation);
    let Some(doc) = parsed.root.as_ref().and_then(Node::as_map).cloned() else {
        return Vec::new();
    };
    let failed: std::collections::BTreeSet<String> = doc
        .get("Parameters")
        .and_then(Node::as_map)
        .map(|m| {
            m.keys()
                .filter(|k| !template.parameters.contains_key(*k))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut t = Taint {
        failed,
        conditions: std::collections::BTreeSet::new(),
        errors: resolve_diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| Some((d.line?, d.col?)))
            .collect(),
        lines: Vec::new(),
        holders: std::collections::BTreeSet::new(),
    };
    if let Some(conds) = doc.get("Conditions").and_then(Node::as_map) {
        loop {
            let before = t.conditions.len();
            for (name, def) in conds.iter() {
                if !t.conditions.contains(name) && t.mentions(def) {
                    t.conditions.insert(name.to_owned());
                }
            }
            if t.conditions.len() == before {
                break;
            }
        }
    }
    if let Some(resources) = doc.get("Resources").and_then(Node::as_map) {
        let holder = doc
            .entry("Resources")
            .map(|e| (e.value.pos.line, e.value.pos.col));
        for (_, e) in resources.iter_entries() {
            let r = &e.value;
            let bad_condition = r
                .as_map()
                .and_then(|m| m.get("Condition"))
                .and_then(Node::as_str)
                .is_some_and(|c| t.conditions.contains(c));
            if bad_condition {
                t.taint(r, e.key_pos.line, holder);
            } else {
                t.walk(r, e.key_pos.line, holder);
            }
        }
    }
    outcome
        .diagnostics
        .into_iter()
        .filter(|d| !t.covers(d))
        .collect()
}

/// What [`import_unresolved`] treats as a consequence of a resolution error.
struct Taint {
    /// Parameters without a valid value.
    failed: std::collections::BTreeSet<String>,
    /// Conditions that depend on one.
    conditions: std::collections::BTreeSet<String>,
    /// Where resolution errors are, (line, col).
    errors: std::collections::BTreeSet<(u32, u32)>,
    /// Line ranges of tainted nodes.
    lines: Vec<(u32, u32)>,
    /// Positions of the mappings and sequences holding a tainted node.
    holders: std::collections::BTreeSet<(u32, u32)>,
}

impl Taint {
    /// Whether `n` (or anything in it) refers to something that did not resolve.
    fn mentions(&self, n: &Node) -> bool {
        if self.errors.contains(&(n.pos.line, n.pos.col)) {
            return true;
        }
        if let Some((k, v)) = n.intrinsic() {
            let named = |v: &Node, set: &std::collections::BTreeSet<String>| {
                v.as_str().is_some_and(|s| set.contains(s))
            };
            let hit = match k {
                "Ref" => named(v, &self.failed),
                "Condition" => named(v, &self.conditions),
                "Fn::If" => v
                    .as_seq()
                    .and_then(|s| s.first())
                    .is_some_and(|c| named(c, &self.conditions)),
                "Fn::Sub" => {
                    let s = v
                        .as_str()
                        .or_else(|| v.as_seq().and_then(|s| s.first()).and_then(Node::as_str));
                    s.is_some_and(|s| self.failed.iter().any(|p| s.contains(&format!("${{{p}}}"))))
                }
                _ => false,
            };
            if hit {
                return true;
            }
        }
        match &n.kind {
            crate::syntax::Kind::Map(m) => m.iter().any(|(_, v)| self.mentions(v)),
            crate::syntax::Kind::Seq(s) => s.iter().any(|v| self.mentions(v)),
            _ => false,
        }
    }

    fn walk(&mut self, n: &Node, key_line: u32, holder: Option<(u32, u32)>) {
        let tainted = self.errors.contains(&(n.pos.line, n.pos.col))
            || (n.intrinsic().is_some() && self.mentions(n));
        if tainted {
            self.taint(n, key_line, holder);
            return;
        }
        let here = Some((n.pos.line, n.pos.col));
        match &n.kind {
            crate::syntax::Kind::Map(m) => {
                for (_, e) in m.iter_entries() {
                    self.walk(&e.value, e.key_pos.line, here);
                }
            }
            crate::syntax::Kind::Seq(s) => {
                for v in s {
                    self.walk(v, v.pos.line, here);
                }
            }
            _ => {}
        }
    }

    fn taint(&mut self, n: &Node, key_line: u32, holder: Option<(u32, u32)>) {
        self.lines
            .push((key_line.min(n.pos.line), last_line(n).max(key_line)));
        if let Some(h) = holder {
            self.holders.insert(h);
        }
    }

    fn covers(&self, d: &Diagnostic) -> bool {
        let Some(line) = d.line else { return false };
        if let Some(col) = d.col
            && self.holders.contains(&(line, col))
        {
            return true;
        }
        self.lines.iter().any(|(a, b)| (*a..=*b).contains(&line))
    }
}

/// The last line anything in `n` starts on.
fn last_line(n: &Node) -> u32 {
    match &n.kind {
        crate::syntax::Kind::Map(m) => m
            .iter_entries()
            .map(|(_, e)| last_line(&e.value).max(e.key_pos.line))
            .fold(n.pos.line, u32::max),
        crate::syntax::Kind::Seq(s) => s.iter().map(last_line).fold(n.pos.line, u32::max),
        _ => n.pos.line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Options, resolve_despite_errors};

    /// Every error (resolver's and importer's) of `text` resolved with `overrides`:
    /// `(line, message)`.
    fn errors(text: &str, overrides: &[(&str, &str)]) -> Vec<(u32, String)> {
        let exports = BTreeMap::new();
        let opts = Options {
            file: "t.yaml".into(),
            overrides: overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            exports: &exports,
            ..Options::default()
        };
        let (t, mut diags) = resolve_despite_errors(text, &opts);
        let t = t.unwrap();
        let own = import_unresolved(
            text,
            &t,
            &diags,
            &ImportOptions {
                file: "t.yaml".into(),
                logical_id: None,
            },
        );
        diags.extend(own);
        diags
            .into_iter()
            .filter(Diagnostic::is_error)
            .map(|d| (d.line.unwrap_or(0), d.message))
            .collect()
    }

    const T: &str = r#"Parameters:
  Env: {Type: String}
  Fine: {Type: String, Default: ok}
Conditions:
  Prod: !Equals [!Ref Env, prod]
  Both: !And [!Condition Prod, !Equals [!Ref Fine, ok]]
Resources:
  Pipe:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: !Ref Env
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore:
        Type: S3
        Location: !ImportValue no-such-export
      Stages:
        - Name: Source
          Actions:
            - Name: Src
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {S3Bucket: !Sub "src-${Env}", S3ObjectKey: k.zip}
              OutputArtifacts: [{Name: Src}]
        - !If
          - Both
          - Name: Gate
            Actions:
              - Name: Approve
                ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
          - Name: Gate
            Actions:
              - Name: Approve
                ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "9"}
        - Name: Build
          Actions:
            - Name: Jenkins
              ActionTypeId: {Category: Build, Owner: AWS, Provider: Jenkins, Version: "1"}
              InputArtifacts: [{Name: Src}]
"#;

    #[test]
    fn a_template_that_does_not_resolve_still_gets_the_importers_own_diagnostics() {
        let errs = errors(T, &[]);
        let lines: Vec<u32> = errs.iter().map(|(l, _)| *l).collect();
        // The parameter, the export, and the unsupported provider — not the empty name, the
        // missing location, the bucket built from Env, nor anything of the stage whose
        // condition depends on Env (its false branch has a version the importer refuses).
        assert_eq!(lines, [2, 15, 36], "{errs:#?}");
        assert!(errs[2].1.contains("Build/AWS/Jenkins/1"), "{errs:#?}");

        // What the importer alone says of the stand-ins, which the filter left out.
        let exports = BTreeMap::new();
        let opts = Options {
            file: "t.yaml".into(),
            exports: &exports,
            ..Options::default()
        };
        let (t, _) = resolve_despite_errors(T, &opts);
        let raw = import(&t.unwrap(), &ImportOptions::default());
        let raw_lines: Vec<u32> = raw
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| d.line)
            .collect();
        assert!(raw_lines.contains(&11), "{raw_lines:?}");
        assert!(
            raw_lines.iter().any(|l| (23..=32).contains(l)),
            "{raw_lines:?}"
        );
    }
}
