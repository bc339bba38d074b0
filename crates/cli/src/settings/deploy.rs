//! Settings of the server-backed verbs: `server`, `deploy`, `stack …`, `deployments`,
//! `deployment …`, `rollback`. Same precedence as every verb (defaults < samconfig.toml <
//! environment < flags).
//!
//! | setting | flag | environment | samconfig (`deploy` table, then the verb's) | default |
//! | --- | --- | --- | --- | --- |
//! | endpoint | `--endpoint` | `SLIPWAY_ENDPOINT` | `endpoint` | none: embedded |
//! | token | `--token` | `SLIPWAY_TOKEN` | — (a secret stays out of files) | none |
//! | data dir | `--data-dir` | `SLIPWAY_DATA_DIR` | `data_dir` | `.slipway` |
//! | target | `--target`, else `--account`/`--region` | `SLIPWAY_ACCOUNT`, `SLIPWAY_REGION` … | `target`, else `account`/`region` | `123456789012/us-east-1` |
//! | time scale | `--time-scale` | — | `time_scale` | none (real time) |
//!
//! `deploy` also reads SAM CLI's `[<env>.deploy.parameters]` keys: `stack_name` (required in
//! some layer, as in `sam deploy`), `template_file`/`template`, `parameter_overrides`, `tags`,
//! `confirm_changeset`, `no_execute_changeset`, `fail_on_empty_changeset`; SAM's keys about
//! uploads and IAM (`s3_bucket`, `s3_prefix`, `resolve_s3`, `capabilities`,
//! `image_repositories`, `profile`, `disable_rollback`) are accepted and have nothing to do
//! here for a local target; for an aws target (`--target aws:ACCOUNT/REGION` or a named one,
//! [`crate::commands::targets`]) `s3_bucket`, `s3_prefix`, `resolve_s3`, `capabilities` and
//! `profile` are read as SAM CLI reads them (flags > environment > samconfig > the named
//! target's own). `stack`, `deployments`, `deployment` and `rollback` read the `deploy` table too (so
//! they find the stacks `deploy` made) and then their own (`stack`, …).
//! `slipway server` reads no samconfig (SAM has no such verb).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use slipway_model::diag::{Code, Diagnostic, Sources};

use super::{
    ConfigReader, DEFAULT_ACCOUNT, DEFAULT_DATA_DIR, DEFAULT_REGION, Resolved, default_template,
    finish, from_config_file, override_token, overrides_from_args, overrides_from_config,
};
use crate::args::{ConnectArgs, DeployArgs, ServerArgs};
use crate::client::{ConnectSettings, TargetName};
use crate::commands::targets::{self, AwsTarget, TargetRef};
use crate::env_vars::{self, Environment};

/// The keys the `deploy` table (and the other server-backed verbs' tables) may hold.
pub(crate) const DEPLOY_KEYS: &[&str] = &[
    "stack_name",
    "template",
    "template_file",
    "parameter_overrides",
    "tags",
    "confirm_changeset",
    "no_execute_changeset",
    "fail_on_empty_changeset",
    "region",
    "account",
    "target",
    "endpoint",
    "data_dir",
    "time_scale",
    // SAM CLI's, about S3 uploads, IAM and profiles: nothing to do locally.
    "s3_bucket",
    "s3_prefix",
    "resolve_s3",
    "capabilities",
    "image_repositories",
    "profile",
    "disable_rollback",
];

/// What every server-backed verb runs with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConnectResolved {
    pub(crate) connect: ConnectSettings,
    pub(crate) target: TargetName,
    /// `stack …` with an aws target (`aws:ACCOUNT/REGION` or a named one): the verb goes to
    /// CloudFormation, not to the local engine. (`deploy` keeps its own in
    /// [`DeploySettings::aws`].)
    pub(crate) aws: Option<AwsTarget>,
}

#[derive(Clone, Debug, Default)]
struct ConnectOptions {
    endpoint: Option<String>,
    token: Option<String>,
    data_dir: Option<PathBuf>,
    target: Option<String>,
    account: Option<String>,
    region: Option<String>,
    time_scale: Option<f64>,
    python: Option<PathBuf>,
}

impl ConnectOptions {
    fn combine(self, lower: Self) -> Self {
        // `--target` (or `target`) of a layer wins over that layer's account/region and over
        // everything below; account/region of a higher layer win over a lower `target`.
        let (target, account, region) = if self.target.is_some() {
            (self.target, None, None)
        } else if self.account.is_some() || self.region.is_some() {
            let (la, lr) = match &lower.target {
                Some(t) => split_target(t),
                None => (lower.account, lower.region),
            };
            (None, self.account.or(la), self.region.or(lr))
        } else {
            (lower.target, lower.account, lower.region)
        };
        Self {
            endpoint: self.endpoint.or(lower.endpoint),
            token: self.token.or(lower.token),
            data_dir: self.data_dir.or(lower.data_dir),
            target,
            account,
            region,
            time_scale: self.time_scale.or(lower.time_scale),
            python: self.python.or(lower.python),
        }
    }

    fn from_args(a: &ConnectArgs) -> Self {
        Self {
            endpoint: a.endpoint.clone(),
            token: a.token.clone(),
            data_dir: a.data_dir.clone(),
            target: a.target.clone(),
            account: a.account.clone(),
            region: a.region.clone(),
            time_scale: None,
            python: None,
        }
    }

    fn from_env(env: &Environment) -> Self {
        Self {
            endpoint: env.get(env_vars::SLIPWAY_ENDPOINT).map(str::to_owned),
            token: env.get(env_vars::SLIPWAY_TOKEN).map(str::to_owned),
            data_dir: env.get(env_vars::SLIPWAY_DATA_DIR).map(PathBuf::from),
            target: None,
            account: env.get(env_vars::SLIPWAY_ACCOUNT).map(str::to_owned),
            region: env
                .first(&[
                    env_vars::SLIPWAY_REGION,
                    env_vars::AWS_REGION,
                    env_vars::AWS_DEFAULT_REGION,
                ])
                .map(|(_, v)| v.to_owned()),
            time_scale: None,
            python: env.get(env_vars::SLIPWAY_PYTHON).map(PathBuf::from),
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        let time_scale = r.string("time_scale").and_then(|s| match parse_scale(&s) {
            Ok(n) => Some(n),
            Err(e) => {
                r.error("time_scale", e);
                None
            }
        });
        Self {
            endpoint: r.string("endpoint"),
            token: None,
            data_dir: r.string("data_dir").map(PathBuf::from),
            target: r.string("target"),
            account: r.string("account"),
            region: r.string("region"),
            time_scale,
            python: None,
        }
    }

    fn finish(self, cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<ConnectResolved> {
        let (account, region) = match &self.target {
            Some(t) => {
                let (a, r) = split_target(t);
                if a.is_none() || r.is_none() {
                    diags.push(
                        Diagnostic::error(
                            Code::ConfigInvalid,
                            format!("the target must be ACCOUNT/REGION (123456789012/us-east-1), not {t:?}"),
                        )
                        .path("--target"),
                    );
                    return None;
                }
                (a, r)
            }
            None => (self.account, self.region),
        };
        let account = account.unwrap_or_else(|| DEFAULT_ACCOUNT.into());
        let region = region.unwrap_or_else(|| DEFAULT_REGION.into());
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            diags.push(
                Diagnostic::error(
                    Code::ConfigInvalid,
                    format!("the account must be 12 digits, not {account:?}"),
                )
                .path("--account"),
            );
            return None;
        }
        if let Some(e) = &self.endpoint
            && !e.starts_with("http://")
        {
            diags.push(
                Diagnostic::error(
                    Code::ConfigInvalid,
                    format!("the endpoint must be an http://HOST:PORT URL, not {e:?}"),
                )
                .path("--endpoint"),
            );
            return None;
        }
        let data_dir = cwd.join(
            self.data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        );
        Some(ConnectResolved {
            connect: ConnectSettings {
                endpoint: self.endpoint,
                token: self.token,
                data_dir,
                time_scale: self.time_scale,
                python: self.python,
            },
            target: TargetName { account, region },
            aws: None,
        })
    }
}

fn split_target(t: &str) -> (Option<String>, Option<String>) {
    match t.split_once('/') {
        Some((a, r)) if !a.is_empty() && !r.is_empty() && !r.contains('/') => {
            (Some(a.to_owned()), Some(r.to_owned()))
        }
        _ => (None, None),
    }
}

/// `--time-scale N`: a finite real number above 0.
pub(crate) fn parse_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!(
            "the time scale must be a number greater than 0 (e.g. 60), not {s:?}"
        )),
    }
}

fn scale_flag(v: Option<f64>, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    let n = v?;
    if n.is_finite() && n > 0.0 {
        Some(n)
    } else {
        diags.push(
            Diagnostic::error(
                Code::ConfigInvalid,
                format!("the time scale must be a number greater than 0 (e.g. 60), not {n}"),
            )
            .path("--time-scale"),
        );
        None
    }
}

/// `stack`, `deployments`, `deployment`, `rollback`: how to reach the server, which target.
pub(crate) fn connect(
    args: &ConnectArgs,
    verb: &str,
    env: &Environment,
    cwd: &Path,
) -> Resolved<ConnectResolved> {
    let mut diags = Vec::new();
    let mut sources = Sources::new();
    let from_file = from_config_file(
        &args.config,
        cwd,
        &["deploy", verb],
        DEPLOY_KEYS,
        &mut sources,
        &mut diags,
        ConnectOptions::from_config,
    );
    let mut combined =
        ConnectOptions::from_args(args).combine(ConnectOptions::from_env(env).combine(from_file));
    let aws = match combined.target.as_deref().map(|t| targets::resolve(cwd, t)) {
        None => None,
        Some(Err(e)) => {
            diags.push(Diagnostic::error(Code::ConfigInvalid, e).path("--target"));
            return finish(None, diags, sources);
        }
        Some(Ok(TargetRef::Local(t))) => {
            combined.target = Some(t);
            None
        }
        Some(Ok(TargetRef::Aws(t))) => {
            if verb != "stack" {
                diags.push(
                    Diagnostic::error(
                        Code::ConfigInvalid,
                        format!(
                            "`slipway {verb}` works on the local engine's deployments; on AWS, CodeDeploy runs them (see `aws deploy list-deployments`)"
                        ),
                    )
                    .path("--target"),
                );
                return finish(None, diags, sources);
            }
            combined.target = Some(format!("{}/{}", t.account, t.region));
            Some(t)
        }
    };
    let settings = combined.finish(cwd, &mut diags).map(|mut s| {
        s.aws = aws;
        s
    });
    finish(settings, diags, sources)
}

/// Everything `slipway deploy` runs with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DeploySettings {
    pub(crate) remote: ConnectResolved,
    pub(crate) stack_name: String,
    pub(crate) template: PathBuf,
    pub(crate) parameter_overrides: Vec<(String, String)>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) no_execute_changeset: bool,
    pub(crate) confirm_changeset: bool,
    pub(crate) dry_run: bool,
    pub(crate) fail_on_empty_changeset: bool,
    /// Set when the target is an aws one: the deploy goes to AWS, not to the local engine.
    pub(crate) aws: Option<AwsDeploy>,
    /// `--capabilities` / samconfig's `capabilities`, when given: a local deploy checks them
    /// as CloudFormation's CreateChangeSet does.
    pub(crate) capabilities: Option<Vec<String>>,
}

/// An aws target and the upload/IAM options of a deploy to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AwsDeploy {
    pub(crate) target: AwsTarget,
    pub(crate) resolve_s3: bool,
    pub(crate) capabilities: Vec<String>,
}

/// SAM CLI's keys about uploads and IAM, all optional in each layer.
#[derive(Clone, Debug, Default)]
struct AwsOptions {
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    resolve_s3: Option<bool>,
    capabilities: Option<Vec<String>>,
    profile: Option<String>,
}

impl AwsOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            s3_bucket: self.s3_bucket.or(lower.s3_bucket),
            s3_prefix: self.s3_prefix.or(lower.s3_prefix),
            resolve_s3: self.resolve_s3.or(lower.resolve_s3),
            capabilities: self.capabilities.or(lower.capabilities),
            profile: self.profile.or(lower.profile),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct DeployOptions {
    connect: ConnectOptions,
    stack_name: Option<String>,
    template: Option<PathBuf>,
    parameter_overrides: Option<Vec<(String, String)>>,
    tags: Option<Vec<(String, String)>>,
    no_execute_changeset: Option<bool>,
    confirm_changeset: Option<bool>,
    dry_run: Option<bool>,
    fail_on_empty_changeset: Option<bool>,
    aws: AwsOptions,
}

impl DeployOptions {
    fn combine(self, lower: Self) -> Self {
        Self {
            connect: self.connect.combine(lower.connect),
            stack_name: self.stack_name.or(lower.stack_name),
            template: self.template.or(lower.template),
            parameter_overrides: self.parameter_overrides.or(lower.parameter_overrides),
            tags: self.tags.or(lower.tags),
            no_execute_changeset: self.no_execute_changeset.or(lower.no_execute_changeset),
            confirm_changeset: self.confirm_changeset.or(lower.confirm_changeset),
            dry_run: self.dry_run.or(lower.dry_run),
            fail_on_empty_changeset: self
                .fail_on_empty_changeset
                .or(lower.fail_on_empty_changeset),
            aws: self.aws.combine(lower.aws),
        }
    }

    fn from_args(a: &DeployArgs, diags: &mut Vec<Diagnostic>) -> Self {
        let mut connect = ConnectOptions::from_args(&a.connect);
        connect.time_scale = scale_flag(a.time_scale, diags);
        Self {
            connect,
            stack_name: a.stack_name.clone(),
            template: a.template.clone(),
            parameter_overrides: overrides_from_args(&a.parameter_overrides, diags),
            tags: tags(&a.tags, "--tags", diags),
            no_execute_changeset: a.no_execute_changeset.then_some(true),
            confirm_changeset: a.confirm_changeset.then_some(true),
            dry_run: a.dry_run.then_some(true),
            fail_on_empty_changeset: a.no_fail_on_empty_changeset.then_some(false),
            aws: AwsOptions {
                s3_bucket: a.aws.s3_bucket.clone(),
                s3_prefix: a.aws.s3_prefix.clone(),
                resolve_s3: a.aws.resolve_s3.then_some(true),
                capabilities: (!a.aws.capabilities.is_empty()).then(|| {
                    a.aws
                        .capabilities
                        .iter()
                        .flat_map(|c| c.split([' ', ',']))
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                profile: a.aws.profile.clone(),
            },
        }
    }

    fn from_env(env: &Environment) -> Self {
        Self {
            connect: ConnectOptions::from_env(env),
            stack_name: env.get(env_vars::SLIPWAY_STACK_NAME).map(str::to_owned),
            aws: AwsOptions {
                profile: env.get(env_vars::AWS_PROFILE).map(str::to_owned),
                ..AwsOptions::default()
            },
            ..Self::default()
        }
    }

    fn from_config(r: &mut ConfigReader<'_>) -> Self {
        let tag_tokens = r.list("tags", true);
        let tags = tag_tokens.and_then(|t| {
            let mut d = Vec::new();
            let out = tags(&t, "tags", &mut d);
            for e in d {
                r.error("tags", e.message);
            }
            out
        });
        Self {
            connect: ConnectOptions::from_config(r),
            stack_name: r.string("stack_name"),
            template: r
                .string("template")
                .or_else(|| r.string("template_file"))
                .map(PathBuf::from),
            parameter_overrides: overrides_from_config(r),
            tags,
            no_execute_changeset: r.bool("no_execute_changeset"),
            confirm_changeset: r.bool("confirm_changeset"),
            dry_run: None,
            fail_on_empty_changeset: r.bool("fail_on_empty_changeset"),
            aws: AwsOptions {
                s3_bucket: r.string("s3_bucket"),
                s3_prefix: r.string("s3_prefix"),
                resolve_s3: r.bool("resolve_s3"),
                capabilities: r.list("capabilities", false),
                profile: r.string("profile"),
            },
        }
    }

    fn finish(mut self, cwd: &Path, diags: &mut Vec<Diagnostic>) -> Option<DeploySettings> {
        let capabilities = self.aws.capabilities.clone();
        let aws = match self
            .connect
            .target
            .as_deref()
            .map(|t| targets::resolve(cwd, t))
        {
            None => None,
            Some(Err(e)) => {
                diags.push(Diagnostic::error(Code::ConfigInvalid, e).path("--target"));
                return None;
            }
            Some(Ok(TargetRef::Local(t))) => {
                self.connect.target = Some(t);
                None
            }
            Some(Ok(TargetRef::Aws(mut t))) => {
                self.connect.target = Some(format!("{}/{}", t.account, t.region));
                let o = self.aws;
                t.s3_bucket = o.s3_bucket.or(t.s3_bucket);
                t.s3_prefix = o.s3_prefix.or(t.s3_prefix);
                t.profile = o.profile.or(t.profile);
                Some(AwsDeploy {
                    target: t,
                    resolve_s3: o.resolve_s3.unwrap_or(false),
                    capabilities: o.capabilities.unwrap_or_default(),
                })
            }
        };
        let Some(stack_name) = self.stack_name else {
            diags.push(
                Diagnostic::error(Code::ConfigInvalid, "no stack name: deploy needs one")
                    .help("name it with --stack-name, or stack_name in samconfig.toml's [default.deploy.parameters]"),
            );
            return None;
        };
        // To AWS, a template named nowhere is the built one when `slipway build` left one, as
        // `sam deploy` prefers `.aws-sam/build/template.yaml`: its code paths are the built
        // packages. (A local deploy builds on its own and takes the source template.)
        let built = cwd
            .join(
                self.connect
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            )
            .join("build")
            .join("template.yaml");
        let template = match self.template {
            Some(t) => t,
            None if aws.is_some() && built.is_file() => built,
            None => default_template(cwd, diags)?,
        };
        Some(DeploySettings {
            remote: self.connect.finish(cwd, diags)?,
            stack_name,
            template,
            parameter_overrides: self.parameter_overrides.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            no_execute_changeset: self.no_execute_changeset.unwrap_or(false),
            confirm_changeset: self.confirm_changeset.unwrap_or(false),
            dry_run: self.dry_run.unwrap_or(false),
            fail_on_empty_changeset: self.fail_on_empty_changeset.unwrap_or(true),
            aws,
            capabilities,
        })
    }
}

/// `K=V` tokens (several in one token, as samconfig writes them).
fn tags(
    tokens: &[String],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, String)>> {
    if tokens.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for t in tokens {
        match override_token(t) {
            Ok(pairs) => out.extend(pairs),
            Err(e) => diags.push(Diagnostic::error(Code::ConfigInvalid, e).path(what)),
        }
    }
    Some(out)
}

/// Resolves `slipway deploy`'s settings from its flags, the environment and samconfig.toml.
pub(crate) fn deploy(args: &DeployArgs, env: &Environment, cwd: &Path) -> Resolved<DeploySettings> {
    let mut diags = Vec::new();
    let mut sources = Sources::new();
    let from_file = from_config_file(
        &args.connect.config,
        cwd,
        &["deploy"],
        DEPLOY_KEYS,
        &mut sources,
        &mut diags,
        DeployOptions::from_config,
    );
    let from_flags = DeployOptions::from_args(args, &mut diags);
    let combined = from_flags.combine(DeployOptions::from_env(env).combine(from_file));
    let settings = combined.finish(cwd, &mut diags);
    finish(settings, diags, sources)
}

/// Everything `slipway server` runs with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ServerSettings {
    pub(crate) connect: ConnectSettings,
    pub(crate) bind: SocketAddr,
    /// Where the gateway serves the deployed stacks' APIs: the bind address with
    /// `--gateway-port` (default 3000).
    pub(crate) gateway: SocketAddr,
}

/// `slipway server`: flags > environment > defaults (127.0.0.1:8040, `.slipway`).
pub(crate) fn server(args: &ServerArgs, env: &Environment, cwd: &Path) -> Resolved<ServerSettings> {
    let mut diags = Vec::new();
    let ip = match args.bind.as_deref() {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                diags.push(
                    Diagnostic::error(
                        Code::ConfigInvalid,
                        format!("--bind must be an IP address (or `localhost`), not {s:?}"),
                    )
                    .path("--bind"),
                );
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        },
    };
    let time_scale = scale_flag(args.time_scale, &mut diags);
    let data_dir = cwd.join(
        args.data_dir
            .clone()
            .or_else(|| env.get(env_vars::SLIPWAY_DATA_DIR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
    );
    let settings = ServerSettings {
        connect: ConnectSettings {
            endpoint: None,
            token: args
                .token
                .clone()
                .or_else(|| env.get(env_vars::SLIPWAY_TOKEN).map(str::to_owned)),
            data_dir,
            time_scale,
            python: env.get(env_vars::SLIPWAY_PYTHON).map(PathBuf::from),
        },
        bind: SocketAddr::new(ip, args.port.unwrap_or(slipway_server::DEFAULT_PORT)),
        gateway: SocketAddr::new(
            ip,
            args.gateway_port
                .unwrap_or(slipway_server::DEFAULT_GATEWAY_PORT),
        ),
    };
    finish(Some(settings), diags, Sources::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn aws_targets_take_sam_clis_upload_keys_over_the_targets_own() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "template.yaml", "Resources: {}\n");
        std::fs::create_dir_all(dir.path().join(".slipway/build")).unwrap();
        write(
            dir.path(),
            ".slipway/targets.toml",
            "[targets.prod]\nkind = \"aws\"\naccount = \"210987654321\"\nregion = \"eu-west-1\"\n\
             s3_bucket = \"from-target\"\nprofile = \"p\"\n",
        );
        write(
            dir.path(),
            "samconfig.toml",
            "version = 0.1\n[default.deploy.parameters]\nstack_name = \"app\"\ntarget = \"prod\"\n\
             s3_prefix = \"app\"\ncapabilities = \"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND\"\n",
        );
        let r = deploy(&DeployArgs::default(), &Environment::default(), dir.path());
        let s = r.settings.unwrap_or_else(|| panic!("{:?}", r.diagnostics));
        let a = s.aws.clone().unwrap();
        assert_eq!(
            (a.target.account.as_str(), a.target.region.as_str()),
            ("210987654321", "eu-west-1")
        );
        assert_eq!(a.target.s3_bucket.as_deref(), Some("from-target"));
        assert_eq!(a.target.s3_prefix.as_deref(), Some("app"));
        assert_eq!(a.target.profile.as_deref(), Some("p"));
        assert_eq!(a.capabilities, ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]);
        assert_eq!(s.template, PathBuf::from("template.yaml"));

        // Flags win; a built template is what goes to AWS when none is named.
        write(
            dir.path(),
            ".slipway/build/template.yaml",
            "Resources: {}\n",
        );
        let mut args = DeployArgs::default();
        args.aws.s3_bucket = Some("flag".into());
        args.aws.resolve_s3 = true;
        let s = deploy(&args, &Environment::default(), dir.path())
            .settings
            .unwrap();
        let a = s.aws.unwrap();
        assert_eq!(a.target.s3_bucket.as_deref(), Some("flag"));
        assert!(a.resolve_s3);
        assert_eq!(s.template, dir.path().join(".slipway/build/template.yaml"));

        // An unknown name is a precise error; ACCOUNT/REGION stays local.
        args.connect.target = Some("nope".into());
        let r = deploy(&args, &Environment::default(), dir.path());
        assert!(r.settings.is_none());
        assert!(format!("{:?}", r.diagnostics).contains("slipway targets add nope"));
        args.connect.target = Some("111111111111/us-west-2".into());
        let s = deploy(&args, &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert!(s.aws.is_none());
        assert_eq!(s.remote.target.to_string(), "111111111111/us-west-2");
    }

    #[test]
    fn deploy_settings_layer_samconfig_environment_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "template.yaml", "Resources: {}\n");
        write(
            dir.path(),
            "samconfig.toml",
            "version = 0.1\n[default.deploy.parameters]\nstack_name = \"from-file\"\n\
             parameter_overrides = \"A=1 B=2\"\nregion = \"eu-west-1\"\nconfirm_changeset = true\n\
             s3_bucket = \"ignored\"\ntime_scale = \"60\"\n",
        );
        let args = DeployArgs::default();
        let r = deploy(&args, &Environment::default(), dir.path());
        let s = r.settings.unwrap_or_else(|| panic!("{:?}", r.diagnostics));
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert_eq!(s.stack_name, "from-file");
        assert_eq!(
            s.parameter_overrides,
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(s.remote.target.to_string(), "123456789012/eu-west-1");
        assert!(s.confirm_changeset && s.fail_on_empty_changeset);
        assert_eq!(s.remote.connect.time_scale, Some(60.0));
        assert_eq!(s.remote.connect.data_dir, dir.path().join(".slipway"));

        let mut env = Environment::default();
        env.set(env_vars::SLIPWAY_REGION, "us-west-2");
        env.set(env_vars::SLIPWAY_ENDPOINT, "http://127.0.0.1:9");
        let args = DeployArgs {
            stack_name: Some("flag".into()),
            parameter_overrides: vec!["C=3".into()],
            no_fail_on_empty_changeset: true,
            ..DeployArgs::default()
        };
        let s = deploy(&args, &env, dir.path()).settings.unwrap();
        assert_eq!(s.stack_name, "flag");
        assert_eq!(s.parameter_overrides, vec![("C".into(), "3".into())]);
        assert_eq!(s.remote.target.region, "us-west-2");
        assert_eq!(
            s.remote.connect.endpoint.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert!(!s.fail_on_empty_changeset);

        // --target wins over everything's account and region.
        let mut args = DeployArgs {
            stack_name: Some("x".into()),
            ..DeployArgs::default()
        };
        args.connect.target = Some("111111111111/ap-south-1".into());
        let s = deploy(&args, &env, dir.path()).settings.unwrap();
        assert_eq!(s.remote.target.to_string(), "111111111111/ap-south-1");
    }

    #[test]
    fn deploy_needs_a_stack_name_and_a_positive_time_scale() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "template.yaml", "Resources: {}\n");
        let r = deploy(&DeployArgs::default(), &Environment::default(), dir.path());
        assert!(r.settings.is_none());
        assert!(
            r.diagnostics[0].message.contains("stack name"),
            "{:?}",
            r.diagnostics
        );
        let args = DeployArgs {
            stack_name: Some("x".into()),
            time_scale: Some(0.0),
            ..DeployArgs::default()
        };
        let r = deploy(&args, &Environment::default(), dir.path());
        assert!(r.settings.is_none());
        assert!(
            r.diagnostics[0].message.contains("time scale"),
            "{:?}",
            r.diagnostics
        );
        let mut args = DeployArgs {
            stack_name: Some("x".into()),
            ..DeployArgs::default()
        };
        args.connect.target = Some("dev".into());
        assert!(
            deploy(&args, &Environment::default(), dir.path())
                .settings
                .is_none()
        );
    }

    #[test]
    fn server_settings_default_to_loopback_8040() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(&ServerArgs::default(), &Environment::default(), dir.path())
            .settings
            .unwrap();
        assert_eq!(s.bind, "127.0.0.1:8040".parse().unwrap());
        assert_eq!(s.connect.token, None);
        let mut env = Environment::default();
        env.set(env_vars::SLIPWAY_TOKEN, "t");
        let args = ServerArgs {
            bind: Some("0.0.0.0".into()),
            port: Some(0),
            ..ServerArgs::default()
        };
        let s = server(&args, &env, dir.path()).settings.unwrap();
        assert_eq!(s.bind, "0.0.0.0:0".parse().unwrap());
        assert_eq!(s.connect.token.as_deref(), Some("t"));
    }
}
