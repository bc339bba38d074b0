//! Which physical function, version and alias a template's names stand for.
//!
//! Integration URIs name functions the CloudFormation way (`${Fn.Arn}`, `${FnAliaslive}`,
//! `…:function:Fn:${stageVariables.alias}`). A [`Directory`] answers for one deployment what
//! those references are: the physical function name behind a logical ID, the alias behind an
//! alias resource, and how each alias splits traffic between versions. The deploy engine
//! builds one from its store; [`Directory::local`] builds the one `slipway serve` uses, where
//! every function runs `$LATEST` (as `sam local start-api` does) and every alias points to it.

use std::collections::BTreeMap;
use std::path::Path;

use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_model::template::{LOCAL_CODE_BUCKET, Template};

use crate::routes::{Backend, Routing};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Directory {
    pub location: Location,
    /// `AWS::Lambda::Function` logical ID → physical function name.
    pub functions: BTreeMap<String, String>,
    /// `AWS::Lambda::Alias` logical ID → (physical function name, alias name).
    pub aliases: BTreeMap<String, (String, String)>,
    /// `AWS::Lambda::Version` logical ID → (physical function name, version).
    pub versions: BTreeMap<String, (String, Version)>,
    /// (physical function name, alias name) → the alias's versions and weights.
    pub routing: BTreeMap<(String, String), Routing>,
    /// `AWS::ApiGateway::RestApi` / `AWS::ApiGatewayV2::Api` logical ID → the API ID the
    /// deploy engine gave it; an API not listed gets [`crate::api_id`] of the stack and
    /// logical ID (what `slipway serve` uses).
    pub api_ids: BTreeMap<String, String>,
}

impl Directory {
    /// The directory of a template served locally: physical names are `FunctionName` or the
    /// logical ID; versions and aliases all run `$LATEST`.
    pub fn local(template: &Template) -> Directory {
        let mut dir = Directory {
            location: Location {
                partition: template.pseudo.partition.clone(),
                account: template.pseudo.account.clone(),
                region: template.pseudo.region.clone(),
            },
            ..Directory::default()
        };
        for (id, r) in &template.resources {
            if r.type_ == "AWS::Lambda::Function" {
                let props = r.properties.to_json();
                let name = props
                    .get("FunctionName")
                    .and_then(|v| v.as_str())
                    .unwrap_or(id)
                    .to_owned();
                dir.functions.insert(id.clone(), name);
            }
        }
        for (id, r) in &template.resources {
            let props = r.properties.to_json();
            let function = props
                .get("FunctionName")
                .and_then(|f| f.get("Ref"))
                .and_then(|f| f.as_str())
                .and_then(|f| dir.functions.get(f))
                .cloned();
            let Some(function) = function else { continue };
            match r.type_.as_str() {
                "AWS::Lambda::Alias" => {
                    let Some(name) = props.get("Name").and_then(|n| n.as_str()) else {
                        continue;
                    };
                    dir.routing.insert(
                        (function.clone(), name.to_owned()),
                        Routing::Single(Version::Latest),
                    );
                    dir.aliases.insert(id.clone(), (function, name.to_owned()));
                }
                "AWS::Lambda::Version" => {
                    dir.versions.insert(id.clone(), (function, Version::Latest));
                }
                _ => {}
            }
        }
        dir
    }

    pub fn function_arn(&self, name: &str) -> String {
        let Location {
            partition,
            account,
            region,
        } = &self.location;
        format!("arn:{partition}:lambda:{region}:{account}:function:{name}")
    }

    /// What `Ref` of a Lambda resource gives: a function's name, an alias's or a version's ARN.
    pub fn ref_value(&self, logical_id: &str) -> Option<String> {
        if let Some(name) = self.functions.get(logical_id) {
            return Some(name.clone());
        }
        if let Some((f, a)) = self.aliases.get(logical_id) {
            return Some(format!("{}:{a}", self.function_arn(f)));
        }
        if let Some((f, v)) = self.versions.get(logical_id) {
            return Some(format!("{}:{v}", self.function_arn(f)));
        }
        None
    }

    /// What `Fn::GetAtt` of a Lambda resource gives.
    pub fn attribute(&self, logical_id: &str, attribute: &str) -> Option<String> {
        match attribute {
            "Arn" => {
                if let Some(name) = self.functions.get(logical_id) {
                    return Some(self.function_arn(name));
                }
                self.ref_value(logical_id)
                    .filter(|_| !self.functions.contains_key(logical_id))
            }
            "Version" => self.versions.get(logical_id).map(|(_, v)| v.to_string()),
            "FunctionName" => self
                .aliases
                .get(logical_id)
                .map(|(f, _)| f.clone())
                .or_else(|| self.versions.get(logical_id).map(|(f, _)| f.clone())),
            _ => None,
        }
    }

    /// Resolves the function part of an integration URI: a function ARN (optionally qualified)
    /// or a name (`Fn`, `Fn:7`, `Fn:live`).
    pub fn backend(&self, function: &str) -> Result<Backend, String> {
        let (name, qualifier) = if let Some(rest) = function.strip_prefix("arn:") {
            // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() < 6 || parts[1] != "lambda" || parts[4] != "function" {
                return Err(format!("'{function}' is not a Lambda function ARN"));
            }
            (parts[5], parts.get(6).copied())
        } else {
            let mut it = function.splitn(2, ':');
            (it.next().unwrap_or_default(), it.next())
        };
        if name.is_empty() || qualifier.is_some_and(str::is_empty) {
            return Err(format!("'{function}' does not name a function"));
        }
        if !self.functions.values().any(|f| f == name) {
            return Err(format!("Function not found: {}", self.function_arn(name)));
        }
        let routing = match qualifier {
            None => Routing::Single(Version::Latest),
            Some(q) => match Version::parse(q) {
                Some(v) => Routing::Single(v),
                None => self
                    .routing
                    .get(&(name.to_owned(), q.to_owned()))
                    .cloned()
                    .ok_or_else(|| {
                        format!("Function not found: {}:{q}", self.function_arn(name))
                    })?,
            },
        };
        Ok(Backend {
            function: name.to_owned(),
            location: Some(self.location.clone()),
            qualifier: qualifier.map(str::to_owned),
            routing,
        })
    }
}

/// A function of the template that cannot be run locally, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Resources.{logical_id}: {message}")]
pub struct FunctionProblem {
    pub logical_id: String,
    pub message: String,
}

/// The `$LATEST` [`FunctionSpec`] of every `AWS::Lambda::Function` whose code is local
/// (`S3Bucket: slipway-local`, the form the SAM transform gives `CodeUri: dir/`), relative to
/// `project_dir`; `env_overrides` is an `--env-vars` document (`{"Fn": {"VAR": "v"},
/// "Parameters": {…}}`; only declared variables change, as in SAM CLI). This belongs with the build or deploy crates once they exist; the
/// runtime has no template-to-spec mapping yet.
pub fn local_functions(
    template: &Template,
    project_dir: &Path,
    env_overrides: &serde_json::Value,
) -> (Vec<FunctionSpec>, Vec<FunctionProblem>) {
    let dir = Directory::local(template);
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    for (id, r) in &template.resources {
        if r.type_ != "AWS::Lambda::Function" {
            continue;
        }
        let problem = |message: String| FunctionProblem {
            logical_id: id.clone(),
            message,
        };
        let props = r.properties.to_json();
        let code = props.get("Code");
        let bucket = code
            .and_then(|c| c.get("S3Bucket"))
            .and_then(|b| b.as_str());
        let key = code.and_then(|c| c.get("S3Key")).and_then(|k| k.as_str());
        let code_dir = match (bucket, key) {
            (Some(LOCAL_CODE_BUCKET), Some(key)) => project_dir.join(key),
            _ => {
                problems.push(problem(
                    "code is not in a local directory (CodeUri: dir/), so it cannot be served"
                        .into(),
                ));
                continue;
            }
        };
        let text = |k: &str| props.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let number = |k: &str| props.get(k).and_then(serde_json::Value::as_u64);
        let mut environment = BTreeMap::new();
        if let Some(vars) = props
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.as_object())
        {
            for (k, v) in vars {
                match v {
                    serde_json::Value::String(s) => {
                        environment.insert(k.clone(), s.clone());
                    }
                    serde_json::Value::Number(n) => {
                        environment.insert(k.clone(), n.to_string());
                    }
                    serde_json::Value::Bool(b) => {
                        environment.insert(k.clone(), b.to_string());
                    }
                    other => {
                        // A reference to a resource that is not deployed: the name of what it
                        // refers to is the nearest local value.
                        if let Some(target) = other.get("Ref").and_then(|t| t.as_str()) {
                            environment
                                .insert(k.clone(), dir.ref_value(target).unwrap_or_default());
                        }
                    }
                }
            }
        }
        for scope in ["Parameters", id.as_str()] {
            if let Some(vars) = env_overrides.get(scope).and_then(|v| v.as_object()) {
                for (k, v) in vars {
                    let value = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    // As SAM CLI: only variables the template declares are overridden.
                    if environment.contains_key(k) {
                        environment.insert(k.clone(), value);
                    }
                }
            }
        }
        let (Some(runtime), Some(handler)) = (text("Runtime"), text("Handler")) else {
            problems.push(problem("Runtime and Handler are needed to serve it".into()));
            continue;
        };
        let name = dir.functions.get(id).cloned().unwrap_or_else(|| id.clone());
        specs.push(FunctionSpec {
            name,
            version: Version::Latest,
            location: dir.location.clone(),
            runtime,
            handler,
            code_dir,
            layers: Vec::new(),
            memory_mb: number("MemorySize")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(FunctionSpec::DEFAULT_MEMORY_MB),
            timeout_secs: number("Timeout")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(FunctionSpec::DEFAULT_TIMEOUT_SECS),
            environment,
            reserved_concurrency: number("ReservedConcurrentExecutions")
                .and_then(|n| u32::try_from(n).ok()),
            architectures: props
                .get("Architectures")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_else(|| vec!["x86_64".to_owned()]),
            description: text("Description").unwrap_or_default(),
        });
    }
    (specs, problems)
}
