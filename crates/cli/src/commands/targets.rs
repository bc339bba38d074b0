//! `slipway targets add|list|remove`: named deploy targets, and how `--target` is read.
//!
//! A target is `local` (an account and a region of Slipway's own engine, the default) or
//! `aws` (an AWS account and region, reached through the usual credentials chain, with an
//! artefact bucket). `--target` takes `ACCOUNT/REGION` (local), `aws:ACCOUNT/REGION`, or the
//! name of a target kept in the project's `.slipway/targets.toml`:
//!
//! ```toml
//! [targets.prod]
//! kind = "aws"
//! account = "123456789012"
//! region = "eu-west-1"
//! profile = "prod"                      # optional: a profile of ~/.aws/config
//! s3_bucket = "my-artefacts"            # optional: else --s3-bucket or --resolve-s3
//! s3_prefix = "app"                     # optional
//! endpoint_url = "http://127.0.0.1:5000" # optional: a test double
//! role_arn = "arn:aws:iam::123456789012:role/deployer" # optional: assumed for the deploy
//! ```
//!
//! The file sits beside the state (under the project directory, whatever `--data-dir` says)
//! because that is where Slipway keeps what it owns; it holds no secret (credentials stay in
//! the AWS chain), so a team may commit it. Per-environment defaults (stack name, parameters,
//! `s3_bucket`, `capabilities`, …) stay in samconfig.toml's `[ENV.deploy.parameters]`, as SAM
//! CLI reads them; `target = "prod"` there names one of these targets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Deserialize;

use super::Status;
use crate::error::CliError;

/// Where the named targets live, relative to the project directory.
pub(crate) const TARGETS_FILE: &str = ".slipway/targets.toml";

#[derive(Debug, Args)]
pub(crate) struct TargetsArgs {
    #[command(subcommand)]
    pub(crate) command: TargetsCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TargetsCommand {
    /// Add (or replace) a named target.
    Add(AddArgs),
    /// The named targets.
    List,
    /// Remove a named target.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// An AWS account and region (default: a local one).
    #[arg(long)]
    pub(crate) aws: bool,
    #[arg(long, value_name = "ACCOUNT")]
    pub(crate) account: String,
    #[arg(long, value_name = "REGION")]
    pub(crate) region: String,
    /// A profile of ~/.aws/config (aws only).
    #[arg(long, value_name = "PROFILE")]
    pub(crate) profile: Option<String>,
    /// The artefact bucket (aws only).
    #[arg(long, value_name = "BUCKET")]
    pub(crate) s3_bucket: Option<String>,
    /// A key prefix in the artefact bucket (aws only).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) s3_prefix: Option<String>,
    /// Another endpoint for every AWS service, e.g. a test double (aws only).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// A role to assume for deploys to this target (cross-account; aws only).
    #[arg(long, value_name = "ARN")]
    pub(crate) role_arn: Option<String>,
}

/// `slipway deploy`'s options about uploads and IAM (SAM CLI's names); they matter to aws
/// targets only.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct AwsDeployArgs {
    /// The artefact bucket of an aws target (or samconfig's `s3_bucket`, or the target's).
    #[arg(long, value_name = "BUCKET")]
    pub(crate) s3_bucket: Option<String>,
    /// A key prefix in the artefact bucket.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) s3_prefix: Option<String>,
    /// Create (when missing) and use the managed bucket slipway-artifacts-ACCOUNT-REGION.
    #[arg(long)]
    pub(crate) resolve_s3: bool,
    /// CloudFormation capabilities to acknowledge (CAPABILITY_IAM, CAPABILITY_NAMED_IAM,
    /// CAPABILITY_AUTO_EXPAND); none by default, as `sam deploy`. A local deploy given some
    /// checks them as CreateChangeSet does; given none, it checks nothing.
    #[arg(long, num_args = 1.., value_name = "CAPABILITY")]
    pub(crate) capabilities: Vec<String>,
    /// A profile of ~/.aws/config for an aws target.
    #[arg(long, value_name = "PROFILE")]
    pub(crate) profile: Option<String>,
}

/// One named target as the file holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetEntry {
    /// `local` or `aws`.
    pub(crate) kind: String,
    pub(crate) account: String,
    pub(crate) region: String,
    #[serde(default)]
    pub(crate) profile: Option<String>,
    #[serde(default)]
    pub(crate) s3_bucket: Option<String>,
    #[serde(default)]
    pub(crate) s3_prefix: Option<String>,
    #[serde(default)]
    pub(crate) endpoint_url: Option<String>,
    #[serde(default)]
    pub(crate) role_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    targets: BTreeMap<String, TargetEntry>,
}

/// An aws target as a deploy runs with it (no SDK type, so this builds without the feature).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AwsTarget {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) profile: Option<String>,
    pub(crate) s3_bucket: Option<String>,
    pub(crate) s3_prefix: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) role_arn: Option<String>,
}

/// What a `--target` value means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TargetRef {
    /// `ACCOUNT/REGION` of the local engine.
    Local(String),
    Aws(AwsTarget),
}

fn path(cwd: &Path) -> PathBuf {
    cwd.join(TARGETS_FILE)
}

fn load(cwd: &Path) -> Result<TargetsFile, String> {
    let p = path(cwd);
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TargetsFile::default()),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

fn valid_account(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a `--target` value: `ACCOUNT/REGION`, `aws:ACCOUNT/REGION`, or a name.
pub(crate) fn resolve(cwd: &Path, t: &str) -> Result<TargetRef, String> {
    if let Some(rest) = t.strip_prefix("aws:") {
        return match rest.split_once('/') {
            Some((a, r)) if valid_account(a) && !r.is_empty() && !r.contains('/') => {
                Ok(TargetRef::Aws(AwsTarget {
                    account: a.to_owned(),
                    region: r.to_owned(),
                    ..AwsTarget::default()
                }))
            }
            _ => Err(format!(
                "an aws target is aws:ACCOUNT/REGION (aws:123456789012/eu-west-1), not {t:?}"
            )),
        };
    }
    if t.contains('/') {
        return Ok(TargetRef::Local(t.to_owned()));
    }
    let file = load(cwd)?;
    match file.targets.get(t) {
        Some(e) if e.kind == "aws" => Ok(TargetRef::Aws(AwsTarget {
            account: e.account.clone(),
            region: e.region.clone(),
            profile: e.profile.clone(),
            s3_bucket: e.s3_bucket.clone(),
            s3_prefix: e.s3_prefix.clone(),
            endpoint_url: e.endpoint_url.clone(),
            role_arn: e.role_arn.clone(),
        })),
        Some(e) => Ok(TargetRef::Local(format!("{}/{}", e.account, e.region))),
        None => Err(format!(
            "no target {t:?} in {TARGETS_FILE}: add it with `slipway targets add {t} …`, or give ACCOUNT/REGION or aws:ACCOUNT/REGION"
        )),
    }
}

/// The aws targets of `.slipway/targets.toml`, by name, for the console (`slipway server`,
/// `slipway up`); none when the file is missing or unreadable (the verbs that name a target
/// report that).
#[cfg(feature = "aws")]
pub(crate) fn aws_targets(cwd: &Path) -> Vec<(String, AwsTarget)> {
    load(cwd)
        .map(|f| {
            f.targets
                .iter()
                .filter(|(_, e)| e.kind == "aws")
                .map(|(n, e)| {
                    (
                        n.clone(),
                        AwsTarget {
                            account: e.account.clone(),
                            region: e.region.clone(),
                            profile: e.profile.clone(),
                            s3_bucket: e.s3_bucket.clone(),
                            s3_prefix: e.s3_prefix.clone(),
                            endpoint_url: e.endpoint_url.clone(),
                            role_arn: e.role_arn.clone(),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The SDK's form of an aws target.
#[cfg(feature = "aws")]
impl From<&AwsTarget> for slipway_aws::Target {
    fn from(t: &AwsTarget) -> Self {
        slipway_aws::Target {
            account: t.account.clone(),
            region: t.region.clone(),
            profile: t.profile.clone(),
            s3_bucket: t.s3_bucket.clone(),
            s3_prefix: t.s3_prefix.clone(),
            endpoint_url: t.endpoint_url.clone(),
            role_arn: t.role_arn.clone(),
            cfn_role_arn: None,
        }
    }
}

/// Hands the project's aws targets to a server's console (a no-op without the `aws` feature).
pub(crate) fn configure_console(config: &mut slipway_server::Config, cwd: &Path) {
    #[cfg(feature = "aws")]
    {
        config.aws_targets = aws_targets(cwd)
            .iter()
            .map(|(n, t)| (n.clone(), slipway_aws::Target::from(t)))
            .collect();
    }
    #[cfg(not(feature = "aws"))]
    let _ = (config, cwd);
}

pub(crate) fn run(args: &TargetsArgs, cwd: &Path, out: &mut dyn Write) -> Result<Status, CliError> {
    let mut file = match load(cwd) {
        Ok(f) => f,
        Err(e) => {
            writeln!(out, "error: {e}")?;
            return Ok(Status::Usage);
        }
    };
    match &args.command {
        TargetsCommand::List => {
            if file.targets.is_empty() {
                writeln!(out, "No targets in {TARGETS_FILE}.")?;
                return Ok(Status::Success);
            }
            let rows: Vec<Vec<String>> = file
                .targets
                .iter()
                .map(|(name, e)| {
                    vec![
                        name.clone(),
                        e.kind.clone(),
                        format!("{}/{}", e.account, e.region),
                        e.profile.clone().unwrap_or_else(|| "-".into()),
                        e.s3_bucket.clone().unwrap_or_else(|| "-".into()),
                        e.endpoint_url.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            super::deploy::table(
                out,
                &[
                    "Name",
                    "Kind",
                    "Account/Region",
                    "Profile",
                    "Bucket",
                    "Endpoint",
                ],
                &rows,
            )?;
            return Ok(Status::Success);
        }
        TargetsCommand::Add(a) => {
            if !valid_account(&a.account) {
                writeln!(
                    out,
                    "error: the account must be 12 digits, not {:?}",
                    a.account
                )?;
                return Ok(Status::Usage);
            }
            if a.name.is_empty() || a.name.contains(['/', ':']) {
                writeln!(
                    out,
                    "error: a target name has no `/` or `:`, not {:?}",
                    a.name
                )?;
                return Ok(Status::Usage);
            }
            if !a.aws
                && (a.profile.is_some()
                    || a.s3_bucket.is_some()
                    || a.s3_prefix.is_some()
                    || a.endpoint_url.is_some()
                    || a.role_arn.is_some())
            {
                writeln!(
                    out,
                    "error: --profile, --s3-bucket, --s3-prefix, --endpoint-url and --role-arn are for aws targets (add --aws)"
                )?;
                return Ok(Status::Usage);
            }
            file.targets.insert(
                a.name.clone(),
                TargetEntry {
                    kind: if a.aws { "aws" } else { "local" }.into(),
                    account: a.account.clone(),
                    region: a.region.clone(),
                    profile: a.profile.clone(),
                    s3_bucket: a.s3_bucket.clone(),
                    s3_prefix: a.s3_prefix.clone(),
                    endpoint_url: a.endpoint_url.clone(),
                    role_arn: a.role_arn.clone(),
                },
            );
            writeln!(out, "Target {} saved in {TARGETS_FILE}.", a.name)?;
        }
        TargetsCommand::Remove { name } => {
            if file.targets.remove(name).is_none() {
                writeln!(out, "error: no target {name:?} in {TARGETS_FILE}")?;
                return Ok(Status::Invalid);
            }
            writeln!(out, "Target {name} removed.")?;
        }
    }
    let p = path(cwd);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            action: "create",
            path: dir.to_owned(),
            source,
        })?;
    }
    let text = render(&file);
    std::fs::write(&p, text).map_err(|source| CliError::Io {
        action: "write",
        path: p,
        source,
    })?;
    Ok(Status::Success)
}

/// The file as TOML (written here: the workspace's `toml` only parses).
fn render(file: &TargetsFile) -> String {
    let q = |s: &str| {
        let mut o = String::from('"');
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                c if c.is_control() => o.push_str(&format!("\\u{:04X}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    };
    let mut out = String::from("# Named deploy targets (`slipway targets add|list|remove`).\n");
    for (name, e) in &file.targets {
        out.push_str(&format!("\n[targets.{}]\n", q(name)));
        let fields = [
            ("kind", Some(&e.kind)),
            ("account", Some(&e.account)),
            ("region", Some(&e.region)),
            ("profile", e.profile.as_ref()),
            ("s3_bucket", e.s3_bucket.as_ref()),
            ("s3_prefix", e.s3_prefix.as_ref()),
            ("endpoint_url", e.endpoint_url.as_ref()),
            ("role_arn", e.role_arn.as_ref()),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                out.push_str(&format!("{k} = {}\n", q(v)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_by_form_and_name() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve(d.path(), "123456789012/us-east-1").unwrap(),
            TargetRef::Local("123456789012/us-east-1".into())
        );
        let TargetRef::Aws(a) = resolve(d.path(), "aws:210987654321/eu-west-1").unwrap() else {
            panic!("not aws")
        };
        assert_eq!(
            (a.account.as_str(), a.region.as_str()),
            ("210987654321", "eu-west-1")
        );
        assert!(
            resolve(d.path(), "aws:12/x")
                .unwrap_err()
                .contains("aws:ACCOUNT/REGION")
        );
        assert!(
            resolve(d.path(), "prod")
                .unwrap_err()
                .contains("slipway targets add prod")
        );
        std::fs::create_dir_all(d.path().join(".slipway")).unwrap();
        std::fs::write(
            d.path().join(TARGETS_FILE),
            "[targets.prod]\nkind = \"aws\"\naccount = \"210987654321\"\nregion = \"eu-west-1\"\ns3_bucket = \"b\"\n\
             [targets.dev]\nkind = \"local\"\naccount = \"111111111111\"\nregion = \"us-west-2\"\n",
        )
        .unwrap();
        let TargetRef::Aws(a) = resolve(d.path(), "prod").unwrap() else {
            panic!("not aws")
        };
        assert_eq!(a.s3_bucket.as_deref(), Some("b"));
        assert_eq!(
            resolve(d.path(), "dev").unwrap(),
            TargetRef::Local("111111111111/us-west-2".into())
        );
        // What `render` writes reads back the same, odd characters included.
        let mut f = load(d.path()).unwrap();
        f.targets.get_mut("prod").unwrap().s3_prefix = Some("a \"b\" \\ c".into());
        let back: TargetsFile = toml::from_str(&render(&f)).unwrap();
        assert_eq!(back.targets, f.targets);
    }
}
