//! The build's environment, assembled in one place with CodeBuild's precedence.
//!
//! From lowest to highest (a later layer replaces an earlier one, literally — `$PATH:/x` is not
//! expanded, as in CodeBuild):
//!
//! 1. `PATH` and `HOME` of the machine running Slipway — nothing else of its environment;
//! 2. CodeBuild's built-in variables (`CODEBUILD_*`, `AWS_REGION`, `AWS_DEFAULT_REGION`);
//! 3. the buildspec's `env` (`variables`, then `parameter-store`, then `secrets-manager`);
//! 4. the project's environment variables ([`crate::BuildOptions::project_env`]);
//! 5. the start-build overrides ([`crate::BuildOptions::env_overrides`]) — what CodePipeline passes
//!    as its action's `EnvironmentVariables` JSON.
//!
//! Names starting `CODEBUILD_` are reserved: layers 3–5 cannot set them. Values that come from
//! the parameter store or Secrets Manager are masked in the log.

use std::collections::BTreeMap;

use serde::Deserialize;
use slipway_model::buildspec::{Buildspec, SecretRef};
use slipway_model::template::ParameterStore;

use crate::log::Masker;

/// One environment variable in CodePipeline's `EnvironmentVariables` / CodeBuild's
/// `environmentVariablesOverride` JSON form: `{"name": "STAGE", "value": "prod", "type":
/// "PLAINTEXT"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvOverride {
    pub name: String,
    pub value: String,
    #[serde(rename = "type", default)]
    pub kind: EnvKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum EnvKind {
    #[default]
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "PARAMETER_STORE")]
    ParameterStore,
    #[serde(rename = "SECRETS_MANAGER")]
    SecretsManager,
}

impl EnvOverride {
    pub fn plain(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            kind: EnvKind::Plaintext,
        }
    }

    /// Parses the JSON array CodePipeline holds in a CodeBuild action's `EnvironmentVariables`.
    pub fn parse_json(text: &str) -> Result<Vec<EnvOverride>, String> {
        let list: Vec<EnvOverride> =
            serde_json::from_str(text).map_err(|e| format!("EnvironmentVariables: {e}"))?;
        for o in &list {
            check_name(&o.name)?;
        }
        Ok(list)
    }

    /// `K=V`, as `slipway build --env` takes it.
    pub fn parse_assignment(text: &str) -> Result<EnvOverride, String> {
        let (k, v) = text
            .split_once('=')
            .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
        check_name(k)?;
        Ok(EnvOverride::plain(k, v))
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if !ok {
        return Err(format!("'{name}' is not a valid environment variable name"));
    }
    if name.starts_with("CODEBUILD_") {
        return Err(format!(
            "'{name}' is reserved: names starting with CODEBUILD_ belong to CodeBuild"
        ));
    }
    Ok(())
}

/// Local Secrets Manager: secret id (or name) → secret string.
pub trait SecretStore: Send + Sync {
    fn get(&self, secret_id: &str) -> Option<String>;
}

/// A JSON file of secrets: `{"prod/db": "{\"password\": \"x\"}", "token": "abc"}`. A value may
/// also be a JSON object, which stands for its own serialisation.
#[derive(Clone, Debug, Default)]
pub struct JsonSecretStore {
    secrets: BTreeMap<String, String>,
}

impl JsonSecretStore {
    pub fn parse(text: &str) -> Result<JsonSecretStore, String> {
        let map: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("secrets file: {e}"))?;
        let secrets = map
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect();
        Ok(JsonSecretStore { secrets })
    }

    pub fn insert(&mut self, id: impl Into<String>, value: impl Into<String>) {
        self.secrets.insert(id.into(), value.into());
    }
}

impl SecretStore for JsonSecretStore {
    fn get(&self, secret_id: &str) -> Option<String> {
        if let Some(v) = self.secrets.get(secret_id) {
            return Some(v.clone());
        }
        // arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>
        let name = secret_id.strip_prefix("arn:")?.split(":secret:").nth(1)?;
        let name = match name.rsplit_once('-') {
            Some((n, suffix)) if suffix.len() == 6 => n,
            _ => name,
        };
        self.secrets.get(name).cloned()
    }
}

/// The environment a build runs with, and what must be masked.
#[derive(Clone, Debug, Default)]
pub(crate) struct BuildEnv {
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) masker: Masker,
}

/// Looks a secret reference up: the whole secret string, or one key of its JSON.
pub(crate) fn resolve_secret(store: &dyn SecretStore, r: &SecretRef) -> Result<String, String> {
    if let Some(stage) = &r.version_stage
        && stage != "AWSCURRENT"
    {
        return Err(format!(
            "secret '{}': version stage '{stage}' is not in the local store (only AWSCURRENT is kept)",
            r.secret_id
        ));
    }
    if r.version_id.is_some() {
        return Err(format!(
            "secret '{}': version ids are not kept by the local store",
            r.secret_id
        ));
    }
    let value = store.get(&r.secret_id).ok_or_else(|| {
        format!(
            "secret '{}' is not in the local Secrets Manager store",
            r.secret_id
        )
    })?;
    let Some(key) = &r.json_key else {
        return Ok(value);
    };
    let json: serde_json::Value = serde_json::from_str(&value).map_err(|_| {
        format!(
            "secret '{}' is not JSON, so it has no key '{key}'",
            r.secret_id
        )
    })?;
    match json.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(format!("secret '{}' has no key '{key}'", r.secret_id)),
    }
}

fn ssm(store: &dyn ParameterStore, name: &str) -> Result<String, String> {
    store
        .get(name, None)
        .map(|p| p.value)
        .ok_or_else(|| format!("parameter '{name}' is not in the local parameter store"))
}

/// Layers 3–5 on top of `base` (layers 1–2). Every lookup failure is collected.
pub(crate) fn assemble(
    base: BTreeMap<String, String>,
    spec: &Buildspec,
    project_env: &[EnvOverride],
    overrides: &[EnvOverride],
    params: &dyn ParameterStore,
    secrets: &dyn SecretStore,
) -> Result<BuildEnv, Vec<String>> {
    let mut env = BuildEnv {
        vars: base,
        masker: Masker::default(),
    };
    let mut errors = Vec::new();
    for (k, v) in &spec.env.variables {
        env.vars.insert(k.clone(), v.clone());
    }
    for (k, name) in &spec.env.parameter_store {
        match ssm(params, name) {
            Ok(v) => {
                env.masker.add(&v);
                env.vars.insert(k.clone(), v);
            }
            Err(e) => errors.push(format!("env.parameter-store.{k}: {e}")),
        }
    }
    for (k, r) in &spec.env.secrets_manager {
        match resolve_secret(secrets, r) {
            Ok(v) => {
                env.masker.add(&v);
                env.vars.insert(k.clone(), v);
            }
            Err(e) => errors.push(format!("env.secrets-manager.{k}: {e}")),
        }
    }
    for o in project_env.iter().chain(overrides) {
        if let Err(e) = check_name(&o.name) {
            errors.push(e);
            continue;
        }
        let value = match o.kind {
            EnvKind::Plaintext => Ok(o.value.clone()),
            EnvKind::ParameterStore => ssm(params, &o.value),
            EnvKind::SecretsManager => {
                SecretRef::parse(&o.value).and_then(|r| resolve_secret(secrets, &r))
            }
        };
        match value {
            Ok(v) => {
                if o.kind != EnvKind::Plaintext {
                    env.masker.add(&v);
                }
                env.vars.insert(o.name.clone(), v);
            }
            Err(e) => errors.push(format!("{}: {e}", o.name)),
        }
    }
    if errors.is_empty() {
        Ok(env)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codepipeline_json_form() {
        let list = EnvOverride::parse_json(
            r#"[{"name":"STAGE","value":"prod","type":"PLAINTEXT"},
                {"name":"DB","value":"/db/host","type":"PARAMETER_STORE"},
                {"name":"PW","value":"prod/db:password","type":"SECRETS_MANAGER"},
                {"name":"N","value":"1"}]"#,
        )
        .unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(list[1].kind, EnvKind::ParameterStore);
        assert_eq!(list[3].kind, EnvKind::Plaintext);
        assert!(EnvOverride::parse_json(r#"[{"name":"X","value":"1","type":"OTHER"}]"#).is_err());
        assert!(EnvOverride::parse_json(r#"[{"name":"CODEBUILD_X","value":"1"}]"#).is_err());
        assert!(EnvOverride::parse_json(r#"[{"name":"X","value":"1","extra":1}]"#).is_err());
    }

    #[test]
    fn secrets_by_name_arn_and_json_key() {
        let s = JsonSecretStore::parse(r#"{"prod/db": {"password": "hunter2", "port": 5432}}"#)
            .unwrap();
        let r = SecretRef::parse("prod/db:password").unwrap();
        assert_eq!(resolve_secret(&s, &r).unwrap(), "hunter2");
        let r = SecretRef::parse("prod/db:port").unwrap();
        assert_eq!(resolve_secret(&s, &r).unwrap(), "5432");
        let r =
            SecretRef::parse("arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbCdEf:password")
                .unwrap();
        assert_eq!(resolve_secret(&s, &r).unwrap(), "hunter2");
        let r = SecretRef::parse("prod/db:nope").unwrap();
        assert!(resolve_secret(&s, &r).is_err());
        let r = SecretRef::parse("prod/db::AWSPREVIOUS").unwrap();
        assert!(resolve_secret(&s, &r).is_err());
    }
}
