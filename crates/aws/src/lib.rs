//! The AWS target: the same templates `slipway deploy` runs locally, handed to AWS as
//! `sam package` + `sam deploy` would (CloudFormation runs them; the SAM transform and
//! CodeDeploy traffic shifting stay AWS's own).
//!
//! - [`package`] (pure): which properties name local paths, and the template rewritten to
//!   their S3 locations.
//! - [`Aws`] (I/O, the official SDK): credentials and the artefact bucket checked up front,
//!   artefacts zipped deterministically through the artefact store (`slipway_store`) and
//!   uploaded under `sha256` keys unless an object with the key is already there
//!   (`HeadObject`), then a change set of type `CREATE` or `UPDATE` as the stack exists,
//!   waited for, described, executed, and the stack's events read as they appear. Nested
//!   stacks' and SAM applications' local templates are packaged in their turn.
//! - CodePipeline's CloudFormation action modes on top of those: [`Aws::deploy_stack`]
//!   (`CREATE_UPDATE`), [`Aws::replace_on_failure`], [`Aws::delete_and_wait`]
//!   (`DELETE_ONLY`), [`Aws::prepare_change_set`] (`CHANGE_SET_REPLACE`) and
//!   [`Aws::execute_named`] (`CHANGE_SET_EXECUTE`); [`Aws::settle`] waits out an operation
//!   under way first. The read side (`slipway stack …`, the console): [`Aws::list_stacks`],
//!   [`Aws::describe`], [`Aws::events_since`].
//!
//! Configuration comes from the usual chain (environment, `~/.aws/config` profiles,
//! container and instance metadata); `AWS_ENDPOINT_URL` (read by the SDK) or the target's
//! `endpoint_url` points every client at another endpoint (tests use `moto`). SSO profiles
//! are not compiled in (the `sso` feature is off): use `aws sso login` with
//! `credential_process` or exported keys.

pub mod package;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_cloudformation as cfn;
use aws_sdk_s3 as s3;
use cfn::types::{Capability, ChangeSetStatus, ChangeSetType};
use s3::config::ProvideCredentials as _;
use serde_json::Value;
use sha2::Digest as _;

use crate::package::{LocalArtefact, S3Location, Upload};

/// CloudFormation takes a template body of at most this many bytes; a larger one goes up to
/// the artefact bucket and is passed by URL (as `sam deploy` does).
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// How deep nested stacks' local templates may go (a template that names itself stops here).
const MAX_NESTING: usize = 16;

/// What `sam deploy` says when a change set has nothing in it; either makes "no changes".
const NO_CHANGES: &[&str] = &["didn't contain changes", "No updates are to be performed"];

/// An AWS account, region and how to reach them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub account: String,
    pub region: String,
    /// A profile of `~/.aws/config` (default: `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// The artefact bucket (default: none; see [`managed_bucket`]).
    pub s3_bucket: Option<String>,
    /// A key prefix in the bucket.
    pub s3_prefix: Option<String>,
    /// Another endpoint for every service (a test double); `AWS_ENDPOINT_URL` does the same.
    pub endpoint_url: Option<String>,
    /// A role to assume (STS `AssumeRole`, session `slipway`) with the chain's credentials,
    /// as CodePipeline's cross-account actions do with their `RoleArn`.
    pub role_arn: Option<String>,
    /// The service role CloudFormation acts as for the stack's change sets and its deletion
    /// (`sam deploy --role-arn`, a CodePipeline CloudFormation action's configuration
    /// `RoleArn`); CloudFormation uses the caller's credentials when `None`.
    pub cfn_role_arn: Option<String>,
}

/// The bucket `--resolve-s3` creates and uses: one per account and region.
pub fn managed_bucket(account: &str, region: &str) -> String {
    format!("slipway-artifacts-{account}-{region}")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no AWS credentials for {account}/{region}{profile}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the target's profile"
    )]
    NoCredentials {
        account: String,
        region: String,
        profile: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "no artefact bucket for {account}/{region}: name one with --s3-bucket (or the target's s3_bucket), or pass --resolve-s3 to create and use {managed}"
    )]
    NoBucketConfigured {
        account: String,
        region: String,
        managed: String,
    },
    #[error(
        "the artefact bucket {bucket} does not exist (or is not yours) in {region}: create it, name another with --s3-bucket, or pass --resolve-s3"
    )]
    NoSuchBucket { bucket: String, region: String },
    #[error("stack {stack} is in {status} and cannot be updated: {hint}")]
    NotUpdatable {
        stack: String,
        status: String,
        hint: &'static str,
    },
    #[error("change set {name} of stack {stack} failed: {reason}")]
    ChangeSetFailed {
        stack: String,
        name: String,
        reason: String,
    },
    #[error("{operation}: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
    #[error("cannot read {what} {path}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot zip {path}")]
    Zip {
        path: PathBuf,
        #[source]
        source: slipway_store::Error,
    },
    #[error("{path}: {message}")]
    Template { path: PathBuf, message: String },
    #[error("the change set of stack {stack} did not finish creating within {secs} s")]
    Timeout { stack: String, secs: u64 },
    #[error("stack {stack} has no change set named {name}: create it first (CHANGE_SET_REPLACE)")]
    NoSuchChangeSet { stack: String, name: String },
    #[error("stack {stack} could not be deleted: {status}{reason}")]
    DeleteFailed {
        stack: String,
        status: String,
        reason: String,
    },
}

/// An SDK error as one line: the service's code and message, or the dispatch failure with
/// its causes (a refused connection, a timeout, missing credentials).
fn api<E, R>(operation: &'static str) -> impl FnOnce(cfn::error::SdkError<E, R>) -> Error
where
    E: cfn::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let message = match &e {
            cfn::error::SdkError::ServiceError(s) => {
                let err = s.err();
                match (err.code(), err.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_owned(),
                    _ => cfn::error::DisplayErrorContext(&e).to_string(),
                }
            }
            _ => cfn::error::DisplayErrorContext(&e).to_string(),
        };
        Error::Api { operation, message }
    }
}

/// How a stack stands before a deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackState {
    /// No stack (or one only reviewed, `REVIEW_IN_PROGRESS`): a `CREATE` change set.
    Absent,
    /// A stack that takes an `UPDATE` change set.
    Updatable(String),
}

/// Which statuses take which change set, as CloudFormation allows them. Pure.
pub fn classify(stack: &str, status: Option<&str>) -> Result<StackState, Error> {
    let Some(status) = status else {
        return Ok(StackState::Absent);
    };
    let not = |hint| {
        Err(Error::NotUpdatable {
            stack: stack.to_owned(),
            status: status.to_owned(),
            hint,
        })
    };
    match status {
        "REVIEW_IN_PROGRESS" => Ok(StackState::Absent),
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => not(
            "a stack whose creation failed must be deleted first (`aws cloudformation delete-stack --stack-name STACK`), then deployed again",
        ),
        "DELETE_FAILED" => not("its deletion failed: delete it again (retaining what cannot go)"),
        "UPDATE_ROLLBACK_FAILED" => not(
            "continue the rollback first (`aws cloudformation continue-update-rollback --stack-name STACK`)",
        ),
        s if s.ends_with("_IN_PROGRESS") => {
            not("another operation is in progress: wait for it to finish, then deploy again")
        }
        s => Ok(StackState::Updatable(s.to_owned())),
    }
}

/// One turn of a polling loop that follows a stack on AWS: [`Error::Timeout`] once `give_up`
/// has passed since `started`, else a pause of `poll` before the next look.
async fn pause_or_give_up(
    stack: &str,
    started: std::time::Instant,
    poll: Duration,
    give_up: Duration,
) -> Result<(), Error> {
    if started.elapsed() > give_up {
        return Err(Error::Timeout {
            stack: stack.to_owned(),
            secs: give_up.as_secs(),
        });
    }
    tokio::time::sleep(poll).await;
    Ok(())
}

/// Whether a status is an operation under way (`REVIEW_IN_PROGRESS` is not: a stack made by
/// a `CREATE` change set rests there until it is executed).
pub fn is_busy(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

/// The statuses CodePipeline's `REPLACE_ON_FAILURE` deletes a stack in before creating it
/// again (the CloudFormation action reference: "if the stack is in a failed state").
pub const REPLACEABLE: [&str; 5] = [
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
];

/// Whether `REPLACE_ON_FAILURE` deletes a stack of this status first.
pub fn replaceable(status: Option<&str>) -> bool {
    status.is_some_and(|s| REPLACEABLE.contains(&s))
}

/// Whether a stack's last operation left it as asked (`CREATE_COMPLETE`, `UPDATE_COMPLETE`,
/// `IMPORT_COMPLETE`), rather than rolled back, failed or deleted.
pub fn succeeded(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
    )
}

/// One row of a change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, …
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    pub replacement: Option<String>,
}

/// A created change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeSet {
    Ready {
        id: String,
        name: String,
        change_set_type: &'static str,
        changes: Vec<Change>,
    },
    /// Nothing to change ("no changes" is success, as `sam deploy` treats it).
    NoChanges { id: String },
}

/// What [`Aws::deploy_change_set`] needs.
#[derive(Clone, Debug, Default)]
pub struct ChangeSetRequest {
    pub stack: String,
    /// The packaged template.
    pub template: Value,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// `CAPABILITY_IAM`, `CAPABILITY_NAMED_IAM`, `CAPABILITY_AUTO_EXPAND`.
    pub capabilities: Vec<String>,
    /// Where a template over [`MAX_TEMPLATE_BODY`] goes.
    pub bucket: String,
    /// The change set's name (default: `slipway-<epoch ms>`, a new one each time). A change
    /// set of this name on the stack is deleted first, as CodePipeline's
    /// `CHANGE_SET_REPLACE` does.
    pub name: Option<String>,
}

/// One stack event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    /// When it happened (epoch milliseconds; 0 when CloudFormation gave no time).
    pub timestamp_ms: u64,
    pub status: String,
    pub resource_type: String,
    pub logical_id: String,
    pub reason: Option<String>,
}

/// A stack after an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInfo {
    pub status: String,
    pub reason: Option<String>,
    /// Key, value, description.
    pub outputs: Vec<(String, String, Option<String>)>,
}

/// One stack of [`Aws::list_stacks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSummary {
    pub name: String,
    pub status: String,
    /// The last update's time, else the creation's (epoch milliseconds).
    pub updated_ms: u64,
    pub reason: Option<String>,
}

/// What packaging did.
#[derive(Clone, Debug, Default)]
pub struct Packaged {
    pub template: Value,
    /// Keys uploaded now.
    pub uploaded: Vec<String>,
    /// Keys already in the bucket.
    pub skipped: Vec<String>,
}

/// What [`Aws::deploy_stack`] deploys.
#[derive(Clone, Copy)]
pub struct StackDeploy<'a> {
    pub stack: &'a str,
    /// The template as written (its local paths relative to `root`).
    pub template: &'a Value,
    pub root: &'a Path,
    pub store: &'a slipway_store::Store,
    /// Create and use the managed bucket when the target names none.
    pub resolve_s3: bool,
    pub parameters: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    pub capabilities: &'a [String],
    /// How often the change set and the stack are looked at.
    pub poll: Duration,
    /// How long the change set, then the stack operation, may take.
    pub give_up: Duration,
}

/// How [`Aws::deploy_stack`] ended (a stack that rolled back is `Finished` with that status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployed {
    NoChanges,
    Finished(StackInfo),
}

/// The SDK clients of one target.
#[derive(Clone, Debug)]
pub struct Aws {
    target: Target,
    cfn: cfn::Client,
    s3: s3::Client,
}

impl Aws {
    /// Loads the configuration chain and checks that it gives credentials.
    pub async fn connect(target: &Target) -> Result<Aws, Error> {
        Self::load(target, None).await
    }

    /// The same with static keys instead of the chain's credentials (a CI secret, a test).
    pub async fn connect_with_keys(
        target: &Target,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Aws, Error> {
        let keys = s3::config::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "slipway-static",
        );
        Self::load(target, Some(keys)).await
    }

    async fn load(target: &Target, keys: Option<s3::config::Credentials>) -> Result<Aws, Error> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(target.region.clone()));
        if let Some(k) = keys {
            loader = loader.credentials_provider(k);
        }
        if let Some(p) = &target.profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &target.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let mut conf = loader.load().await;
        if let Some(role) = &target.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("slipway")
                .configure(&conf)
                .build()
                .await;
            conf = conf
                .into_builder()
                .credentials_provider(s3::config::SharedCredentialsProvider::new(provider))
                .build();
        }
        let creds = conf
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials {
                account: target.account.clone(),
                region: target.region.clone(),
                profile: profile_note(target),
                source: "no credentials provider in the configuration".into(),
            })?;
        if let Err(source) = creds.provide_credentials().await {
            return Err(Error::NoCredentials {
                account: target.account.clone(),
                region: target.region.clone(),
                profile: profile_note(target),
                source: Box::new(source),
            });
        }
        let s3conf = s3::config::Builder::from(&conf)
            // A test double on an IP address has no virtual-host names.
            .force_path_style(conf.endpoint_url().is_some())
            .build();
        Ok(Aws {
            target: target.clone(),
            cfn: cfn::Client::new(&conf),
            s3: s3::Client::from_conf(s3conf),
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The artefact bucket: the configured one (which must exist), else the managed one,
    /// created when `resolve` (`--resolve-s3`) and missing.
    pub async fn bucket(&self, resolve: bool) -> Result<String, Error> {
        let t = &self.target;
        let (bucket, create) = match (&t.s3_bucket, resolve) {
            (Some(b), _) => (b.clone(), false),
            (None, true) => (managed_bucket(&t.account, &t.region), true),
            (None, false) => {
                return Err(Error::NoBucketConfigured {
                    account: t.account.clone(),
                    region: t.region.clone(),
                    managed: managed_bucket(&t.account, &t.region),
                });
            }
        };
        match self.s3.head_bucket().bucket(&bucket).send().await {
            Ok(_) => Ok(bucket),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) || is_404(&e) => {
                if !create {
                    return Err(Error::NoSuchBucket {
                        bucket,
                        region: t.region.clone(),
                    });
                }
                let mut req = self.s3.create_bucket().bucket(&bucket);
                if t.region != "us-east-1" {
                    req = req.create_bucket_configuration(
                        s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(s3::types::BucketLocationConstraint::from(
                                t.region.as_str(),
                            ))
                            .build(),
                    );
                }
                req.send().await.map_err(api("CreateBucket"))?;
                Ok(bucket)
            }
            Err(e) => Err(api("HeadBucket")(e)),
        }
    }

    /// `sam package`: every local artefact of `template` (relative to `root`) zipped through
    /// `store` (deterministic, so the same code gives the same key), uploaded unless its key
    /// is in the bucket already, and the template rewritten. A nested stack's or a SAM
    /// application's local template is packaged in its turn (relative to its own directory)
    /// and uploaded as JSON; `AWS::Include` files go up as they are.
    pub async fn package(
        &self,
        template: &Value,
        root: &Path,
        store: &slipway_store::Store,
        bucket: &str,
    ) -> Result<Packaged, Error> {
        self.package_at(template, root, store, bucket, 0).await
    }

    fn package_at<'a>(
        &'a self,
        template: &'a Value,
        root: &'a Path,
        store: &'a slipway_store::Store,
        bucket: &'a str,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Packaged, Error>> + 'a>> {
        Box::pin(async move {
            let mut out = Packaged::default();
            let mut placed = Vec::new();
            let put = async |out: &mut Packaged, bytes: Vec<u8>, ext: Option<&str>| {
                let hex = hex::encode(sha2::Sha256::digest(&bytes));
                let key = package::object_key(self.target.s3_prefix.as_deref(), &hex, ext);
                if self.put_if_absent(bucket, &key, bytes).await? {
                    out.uploaded.push(key.clone());
                } else {
                    out.skipped.push(key.clone());
                }
                Ok::<_, Error>(S3Location {
                    bucket: bucket.to_owned(),
                    key,
                })
            };
            for a in package::local_artefacts(template) {
                let (bytes, ext) = if a.upload == Upload::Template {
                    let path = root.join(&a.path);
                    if depth >= MAX_NESTING {
                        return Err(Error::Template {
                            path,
                            message: format!(
                                "nested more than {MAX_NESTING} templates deep (does a template name itself?)"
                            ),
                        });
                    }
                    let child = read_template(&path, a.property)?;
                    let child_root = path.parent().unwrap_or(root);
                    let packaged = self
                        .package_at(&child, child_root, store, bucket, depth + 1)
                        .await?;
                    out.uploaded.extend(packaged.uploaded);
                    out.skipped.extend(packaged.skipped);
                    let body = serde_json::to_vec_pretty(&packaged.template).unwrap_or_default();
                    (body, Some("template".to_owned()))
                } else {
                    artefact_bytes(&a, root, store)?
                };
                let loc = put(&mut out, bytes, ext.as_deref()).await?;
                placed.push((a, loc));
            }
            let mut includes = Vec::new();
            for l in package::include_locations(template) {
                let path = root.join(&l);
                let bytes = std::fs::read(&path).map_err(|source| Error::Read {
                    what: "AWS::Include Location",
                    path: path.clone(),
                    source,
                })?;
                let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
                let loc = put(&mut out, bytes, ext.as_deref()).await?;
                includes.push((l, loc));
            }
            out.template = package::rewrite(template, &placed, &self.target.region);
            package::rewrite_includes(&mut out.template, &includes);
            Ok(out)
        })
    }

    /// Uploads unless an object with the key exists; whether it uploaded.
    async fn put_if_absent(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<bool, Error> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => return Ok(false),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) || is_404(&e) => {}
            Err(e) => return Err(api("HeadObject")(e)),
        }
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .map_err(api("PutObject"))?;
        Ok(true)
    }

    /// The stack's status, `None` when there is no such stack (or only a deleted one, which
    /// a lookup by stack id still finds).
    pub async fn stack_status(&self, stack: &str) -> Result<Option<String>, Error> {
        match self.cfn.describe_stacks().stack_name(stack).send().await {
            Ok(o) => Ok(o
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_owned())
                .filter(|s| s != "DELETE_COMPLETE")),
            Err(e)
                if e.as_service_error()
                    .and_then(|e| cfn::error::ProvideErrorMetadata::message(e))
                    .is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(None)
            }
            Err(e) => Err(api("DescribeStacks")(e)),
        }
    }

    /// Creates a change set (`CREATE` or `UPDATE` as the stack stands), waits until it is
    /// created or failed, and describes it.
    pub async fn create_change_set(
        &self,
        req: &ChangeSetRequest,
        poll: Duration,
        give_up: Duration,
    ) -> Result<ChangeSet, Error> {
        let status = self.stack_status(&req.stack).await?;
        let kind = match classify(&req.stack, status.as_deref())? {
            StackState::Absent => ChangeSetType::Create,
            StackState::Updatable(_) => ChangeSetType::Update,
        };
        let name = match &req.name {
            Some(n) => {
                if status.is_some() && self.find_change_set(&req.stack, n).await?.is_some() {
                    self.cfn
                        .delete_change_set()
                        .stack_name(&req.stack)
                        .change_set_name(n)
                        .send()
                        .await
                        .map_err(api("DeleteChangeSet"))?;
                }
                n.clone()
            }
            None => format!(
                "slipway-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            ),
        };
        let body = serde_json::to_string_pretty(&req.template).unwrap_or_default();
        let mut call = self
            .cfn
            .create_change_set()
            .stack_name(&req.stack)
            .change_set_name(&name)
            .change_set_type(kind.clone())
            .description("Created by slipway deploy")
            .set_role_arn(self.target.cfn_role_arn.clone());
        if body.len() > MAX_TEMPLATE_BODY {
            let hex = hex::encode(sha2::Sha256::digest(body.as_bytes()));
            let key = package::object_key(self.target.s3_prefix.as_deref(), &hex, Some("template"));
            self.put_if_absent(&req.bucket, &key, body.into_bytes())
                .await?;
            call = call.template_url(self.object_url(&req.bucket, &key));
        } else {
            call = call.template_body(body);
        }
        for (k, v) in &req.parameters {
            call = call.parameters(
                cfn::types::Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build(),
            );
        }
        for (k, v) in &req.tags {
            call = call.tags(cfn::types::Tag::builder().key(k).value(v).build());
        }
        for c in &req.capabilities {
            call = call.capabilities(Capability::from(c.as_str()));
        }
        let created = call.send().await.map_err(api("CreateChangeSet"))?;
        let id = created.id().unwrap_or(&name).to_owned();
        let started = std::time::Instant::now();
        loop {
            let d = self
                .cfn
                .describe_change_set()
                .change_set_name(&id)
                .stack_name(&req.stack)
                .send()
                .await
                .map_err(api("DescribeChangeSet"))?;
            match d.status() {
                Some(ChangeSetStatus::CreateComplete) => {
                    let changes = d
                        .changes()
                        .iter()
                        .filter_map(|c| c.resource_change())
                        .map(|r| Change {
                            action: r
                                .action()
                                .map(|a| a.as_str().to_owned())
                                .unwrap_or_default(),
                            logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                            resource_type: r.resource_type().unwrap_or_default().to_owned(),
                            replacement: r.replacement().map(|x| x.as_str().to_owned()),
                        })
                        .collect();
                    return Ok(ChangeSet::Ready {
                        id,
                        name,
                        change_set_type: if kind == ChangeSetType::Create {
                            "CREATE"
                        } else {
                            "UPDATE"
                        },
                        changes,
                    });
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = d.status_reason().unwrap_or("no reason given").to_owned();
                    if NO_CHANGES.iter().any(|m| reason.contains(m)) {
                        return Ok(ChangeSet::NoChanges { id });
                    }
                    return Err(Error::ChangeSetFailed {
                        stack: req.stack.clone(),
                        name,
                        reason,
                    });
                }
                _ => {}
            }
            pause_or_give_up(&req.stack, started, poll, give_up).await?;
        }
    }

    /// A change set of the stack by name: its status and status reason; `None` when the
    /// stack has none of that name (AWS answers `ChangeSetNotFound`, moto a `ValidationError`
    /// saying it does not exist).
    pub async fn find_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> Result<Option<(String, Option<String>)>, Error> {
        match self
            .cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await
        {
            Ok(d) => Ok(Some((
                d.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                d.status_reason().map(str::to_owned),
            ))),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_change_set_not_found_exception()
                        || cfn::error::ProvideErrorMetadata::message(e)
                            .is_some_and(|m| m.contains("does not exist"))
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(api("DescribeChangeSet")(e)),
        }
    }

    /// Waits while an operation is under way on the stack ([`is_busy`]); its status then,
    /// `None` when there is no stack.
    pub async fn settle(
        &self,
        stack: &str,
        poll: Duration,
        give_up: Duration,
    ) -> Result<Option<String>, Error> {
        let started = std::time::Instant::now();
        loop {
            let status = self.stack_status(stack).await?;
            match status.as_deref() {
                Some(s) if is_busy(s) => {}
                _ => return Ok(status),
            }
            pause_or_give_up(stack, started, poll, give_up).await?;
        }
    }

    /// Deletes the stack and follows it until it is gone, each new event handed to
    /// `on_event`; whether there was a stack to delete (a missing stack is no error, as
    /// CodePipeline's `DELETE_ONLY` treats it).
    pub async fn delete_and_wait(
        &self,
        stack: &str,
        poll: Duration,
        give_up: Duration,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<bool, Error> {
        if self.stack_status(stack).await?.is_none() {
            return Ok(false);
        }
        let mut mark = self.newest_event(stack).await?;
        self.delete_stack(stack).await?;
        let started = std::time::Instant::now();
        loop {
            // A deleted stack has no events to read by name any more.
            if let Ok(events) = self.events_since(stack, mark.as_deref()).await {
                for e in &events {
                    on_event(e);
                }
                if let Some(last) = events.last() {
                    mark = Some(last.id.clone());
                }
            }
            let status = self.stack_status(stack).await?;
            match status.as_deref() {
                None | Some("DELETE_COMPLETE") => return Ok(true),
                Some(s) if is_busy(s) => {}
                Some(s) => {
                    let reason = self
                        .describe(stack)
                        .await
                        .ok()
                        .and_then(|i| i.reason)
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    return Err(Error::DeleteFailed {
                        stack: stack.to_owned(),
                        status: s.to_owned(),
                        reason,
                    });
                }
            }
            pause_or_give_up(stack, started, poll, give_up).await?;
        }
    }

    /// Executes a created change set (by id or name) and follows the stack to a status no
    /// longer in progress, each new event handed to `on_event` as it is read.
    pub async fn execute_and_follow(
        &self,
        stack: &str,
        change_set: &str,
        poll: Duration,
        give_up: Duration,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<StackInfo, Error> {
        let mut mark = self.newest_event(stack).await?;
        let mut drain = async |mark: &mut Option<String>| -> Result<(), Error> {
            let events = self.events_since(stack, mark.as_deref()).await?;
            for e in &events {
                on_event(e);
            }
            if let Some(last) = events.last() {
                *mark = Some(last.id.clone());
            }
            Ok(())
        };
        if let Err(e) = self.execute_change_set(stack, change_set).await {
            drain(&mut mark).await?;
            return Err(e);
        }
        let started = std::time::Instant::now();
        loop {
            drain(&mut mark).await?;
            let info = self.describe(stack).await?;
            if !is_busy(&info.status) {
                drain(&mut mark).await?;
                return Ok(info);
            }
            pause_or_give_up(stack, started, poll, give_up).await?;
        }
    }

    /// CodePipeline's `CHANGE_SET_EXECUTE`: the change set named `name` executed and
    /// followed. One that failed because it held no changes is `Deployed::NoChanges`, the
    /// stack left as it is (as `sam deploy` treats "no changes"; what CodePipeline itself does
    /// then is not in its action reference — this follows what the CI tools that wrap
    /// change sets settled on); one that failed otherwise is [`Error::ChangeSetFailed`].
    pub async fn execute_named(
        &self,
        stack: &str,
        name: &str,
        poll: Duration,
        give_up: Duration,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<Deployed, Error> {
        let Some((status, reason)) = self.find_change_set(stack, name).await? else {
            return Err(Error::NoSuchChangeSet {
                stack: stack.to_owned(),
                name: name.to_owned(),
            });
        };
        if status == "FAILED" {
            let reason = reason.unwrap_or_else(|| "no reason given".into());
            if NO_CHANGES.iter().any(|m| reason.contains(m)) {
                return Ok(Deployed::NoChanges);
            }
            return Err(Error::ChangeSetFailed {
                stack: stack.to_owned(),
                name: name.to_owned(),
                reason,
            });
        }
        let info = self
            .execute_and_follow(stack, name, poll, give_up, on_event)
            .await?;
        Ok(Deployed::Finished(info))
    }

    pub async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), Error> {
        self.cfn
            .execute_change_set()
            .change_set_name(id)
            .stack_name(stack)
            .send()
            .await
            .map_err(api("ExecuteChangeSet"))?;
        Ok(())
    }

    /// The id of the stack's newest event (the mark [`Aws::events_since`] reads from).
    pub async fn newest_event(&self, stack: &str) -> Result<Option<String>, Error> {
        match self
            .cfn
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
        {
            Ok(o) => Ok(o
                .stack_events()
                .first()
                .and_then(|e| e.event_id())
                .map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .and_then(|e| cfn::error::ProvideErrorMetadata::message(e))
                    .is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(None)
            }
            Err(e) => Err(api("DescribeStackEvents")(e)),
        }
    }

    /// The events after `mark` (every event when `None`), oldest first.
    pub async fn events_since(&self, stack: &str, mark: Option<&str>) -> Result<Vec<Event>, Error> {
        let mut newer = Vec::new();
        let mut token = None;
        'pages: loop {
            let o = self
                .cfn
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(token)
                .send()
                .await
                .map_err(api("DescribeStackEvents"))?;
            for e in o.stack_events() {
                let id = e.event_id().unwrap_or_default();
                if Some(id) == mark {
                    break 'pages;
                }
                newer.push(Event {
                    id: id.to_owned(),
                    timestamp_ms: e
                        .timestamp()
                        .and_then(|t| u64::try_from(t.to_millis().ok()?).ok())
                        .unwrap_or(0),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    resource_type: e.resource_type().unwrap_or_default().to_owned(),
                    logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                    reason: e.resource_status_reason().map(str::to_owned),
                });
            }
            match o.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        newer.reverse();
        Ok(newer)
    }

    pub async fn describe(&self, stack: &str) -> Result<StackInfo, Error> {
        let o = self
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(api("DescribeStacks"))?;
        let s = o.stacks().first();
        Ok(StackInfo {
            status: s
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: s.and_then(|s| s.stack_status_reason()).map(str::to_owned),
            outputs: s
                .map(|s| {
                    s.outputs()
                        .iter()
                        .map(|o| {
                            (
                                o.output_key().unwrap_or_default().to_owned(),
                                o.output_value().unwrap_or_default().to_owned(),
                                o.description().map(str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The stacks of the account and region, deleted ones left out, in the order
    /// CloudFormation gives them (newest first).
    pub async fn list_stacks(&self) -> Result<Vec<StackSummary>, Error> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let o = self
                .cfn
                .list_stacks()
                .set_next_token(token)
                .send()
                .await
                .map_err(api("ListStacks"))?;
            for s in o.stack_summaries() {
                let status = s
                    .stack_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                if status == "DELETE_COMPLETE" {
                    continue;
                }
                let when = s.last_updated_time().or(s.creation_time());
                out.push(StackSummary {
                    name: s.stack_name().unwrap_or_default().to_owned(),
                    status,
                    updated_ms: when
                        .and_then(|t| u64::try_from(t.to_millis().ok()?).ok())
                        .unwrap_or(0),
                    reason: s.stack_status_reason().map(str::to_owned),
                });
            }
            match o.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    pub async fn delete_stack(&self, stack: &str) -> Result<(), Error> {
        self.cfn
            .delete_stack()
            .stack_name(stack)
            .set_role_arn(self.target.cfn_role_arn.clone())
            .send()
            .await
            .map_err(api("DeleteStack"))?;
        Ok(())
    }

    /// The whole of a deploy without a person in the loop (a pipeline's CloudFormation
    /// action): package, a change set, execute it, wait for a terminal status; each new
    /// stack event handed to `on_event` as it is read.
    pub async fn deploy_stack(
        &self,
        d: &StackDeploy<'_>,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<Deployed, Error> {
        let bucket = self.bucket(d.resolve_s3).await?;
        let packaged = self.package(d.template, d.root, d.store, &bucket).await?;
        let req = ChangeSetRequest {
            stack: d.stack.to_owned(),
            template: packaged.template,
            parameters: d.parameters.to_vec(),
            tags: d.tags.to_vec(),
            capabilities: d.capabilities.to_vec(),
            bucket,
            name: None,
        };
        let id = match self.create_change_set(&req, d.poll, d.give_up).await? {
            ChangeSet::NoChanges { .. } => return Ok(Deployed::NoChanges),
            ChangeSet::Ready { id, .. } => id,
        };
        let info = self
            .execute_and_follow(d.stack, &id, d.poll, d.give_up, on_event)
            .await?;
        Ok(Deployed::Finished(info))
    }

    /// CodePipeline's `REPLACE_ON_FAILURE`: once no operation is under way, a stack in a
    /// [`REPLACEABLE`] status is deleted (its events handed to `on_event` too), then the
    /// stack is deployed as [`Aws::deploy_stack`] does.
    pub async fn replace_on_failure(
        &self,
        d: &StackDeploy<'_>,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<Deployed, Error> {
        let status = self.settle(d.stack, d.poll, d.give_up).await?;
        if replaceable(status.as_deref()) {
            self.delete_and_wait(d.stack, d.poll, d.give_up, on_event)
                .await?;
        }
        self.deploy_stack(d, on_event).await
    }

    /// CodePipeline's `CHANGE_SET_REPLACE`: the stack packaged and a change set named `name`
    /// created (one of that name deleted first), not executed.
    pub async fn prepare_change_set(
        &self,
        d: &StackDeploy<'_>,
        name: &str,
    ) -> Result<ChangeSet, Error> {
        let bucket = self.bucket(d.resolve_s3).await?;
        let packaged = self.package(d.template, d.root, d.store, &bucket).await?;
        let req = ChangeSetRequest {
            stack: d.stack.to_owned(),
            template: packaged.template,
            parameters: d.parameters.to_vec(),
            tags: d.tags.to_vec(),
            capabilities: d.capabilities.to_vec(),
            bucket,
            name: Some(name.to_owned()),
        };
        self.create_change_set(&req, d.poll, d.give_up).await
    }

    /// An object's URL as CloudFormation takes `TemplateURL`: the virtual-hosted S3 URL,
    /// with an endpoint override too (moto reads such a URL from its own S3, and a path-style
    /// URL on its own host it does not).
    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!(
            "https://{bucket}.s3.{}.amazonaws.com/{key}",
            self.target.region
        )
    }
}

fn profile_note(t: &Target) -> String {
    t.profile
        .as_deref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default()
}

/// A HEAD's 404 (a HEAD answer has no body, so no error code to model on every service).
fn is_404<E>(e: &s3::error::SdkError<E, s3::config::http::HttpResponse>) -> bool {
    match e {
        s3::error::SdkError::ServiceError(s) => s.raw().status().as_u16() == 404,
        _ => false,
    }
}

/// A child template (YAML short forms become their `Fn::` maps), named by `property`.
fn read_template(path: &Path, property: &'static str) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        what: property,
        path: path.to_owned(),
        source,
    })?;
    match slipway_model::syntax::parse_document(
        &text,
        slipway_model::syntax::TagMode::CloudFormation,
    )
    .into_result()
    {
        Ok((node, _)) => Ok(node.to_json()),
        Err(diags) => Err(Error::Template {
            path: path.to_owned(),
            message: diags
                .iter()
                .map(|d| match d.line {
                    Some(l) => format!("line {l}: {}", d.message),
                    None => d.message.clone(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

/// The bytes to upload for one artefact and the key's extension.
fn artefact_bytes(
    a: &LocalArtefact,
    root: &Path,
    store: &slipway_store::Store,
) -> Result<(Vec<u8>, Option<String>), Error> {
    let path = root.join(&a.path);
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| Error::Read {
            what: a.property,
            path: p.to_owned(),
            source,
        })
    };
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
    match a.upload {
        // A template is packaged by the caller; as it is, should one get here.
        Upload::File | Upload::Template => Ok((read(&path)?, ext)),
        Upload::ZipDir if !path.is_dir() => Ok((read(&path)?, ext)),
        Upload::Zip | Upload::ZipDir => {
            let meta = std::fs::metadata(&path).map_err(|source| Error::Read {
                what: a.property,
                path: path.clone(),
                source,
            })?;
            if meta.is_file() && matches!(ext.as_deref(), Some("zip" | "jar")) {
                return Ok((read(&path)?, Some("zip".into())));
            }
            let zip = |source| Error::Zip {
                path: path.clone(),
                source,
            };
            let blob = if meta.is_dir() {
                store.put_dir(&path).map_err(zip)?
            } else {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                store
                    .put_zip(&[slipway_store::ZipEntry {
                        name,
                        source: path.clone(),
                    }])
                    .map_err(zip)?
            };
            let bytes = store.get(&blob.digest).map_err(zip)?;
            Ok((bytes, Some("zip".into())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_take_the_change_set_cloudformation_allows() {
        assert_eq!(classify("s", None).unwrap(), StackState::Absent);
        assert_eq!(
            classify("s", Some("REVIEW_IN_PROGRESS")).unwrap(),
            StackState::Absent
        );
        for ok in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
        ] {
            assert_eq!(
                classify("s", Some(ok)).unwrap(),
                StackState::Updatable(ok.into())
            );
        }
        for bad in [
            "ROLLBACK_COMPLETE",
            "CREATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_FAILED",
        ] {
            let e = classify("s", Some(bad)).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        assert!(
            classify("s", Some("ROLLBACK_COMPLETE"))
                .unwrap_err()
                .to_string()
                .contains("deleted first")
        );
    }

    #[test]
    fn replace_on_failure_replaces_failed_stacks_only() {
        for s in REPLACEABLE {
            assert!(replaceable(Some(s)), "{s}");
        }
        for s in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "REVIEW_IN_PROGRESS",
            "CREATE_IN_PROGRESS",
        ] {
            assert!(!replaceable(Some(s)), "{s}");
        }
        assert!(!replaceable(None));
    }

    #[test]
    fn review_in_progress_is_at_rest_and_only_completes_succeed() {
        assert!(is_busy("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(is_busy("DELETE_IN_PROGRESS"));
        assert!(!is_busy("REVIEW_IN_PROGRESS"));
        assert!(!is_busy("ROLLBACK_COMPLETE"));
        for ok in ["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"] {
            assert!(succeeded(ok));
        }
        for bad in [
            "ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
            "DELETE_COMPLETE",
            "CREATE_FAILED",
        ] {
            assert!(!succeeded(bad), "{bad}");
        }
    }

    #[test]
    fn managed_bucket_names_account_and_region() {
        assert_eq!(
            managed_bucket("123456789012", "eu-west-1"),
            "slipway-artifacts-123456789012-eu-west-1"
        );
    }
}
