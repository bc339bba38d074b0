//! Local resource providers: what "create / update / delete this resource" means on one machine.
//!
//! A closed set ([`provider`]): one provider per supported type, data only for now (no
//! processes). Each returns the physical ID (what `Ref` yields, as CloudFormation documents it
//! under "Return values") and the attributes `Fn::GetAtt` reads, with ARNs in the target's
//! partition, account and region. Providers keep what they made in the state store
//! (`Collection::Resources`, key `Type|PhysicalId`; Lambda functions in `Collection::Functions`)
//! and are idempotent: running a create again after a crash gives the same resource.
//!
//! What the runtime and the gateway must learn is collected as [`Notice`]s, which the executor
//! hands to [`crate::Hooks`] only after the step's result is committed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use slipway_deploy::lambda::{FunctionVersions, LambdaError, RoutingConfig, Snapshot};
use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_model::template::LOCAL_CODE_BUCKET;
use slipway_model::template::hash::sha256_hex;
use slipway_store::state::{Batch, Collection, StateError, StateStore};

/// Where stacks live: `account/region`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub account: String,
    pub region: String,
}

impl Target {
    /// `111111111111/us-east-1`.
    pub fn parse(s: &str) -> Option<Target> {
        let (account, region) = s.split_once('/')?;
        let ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        (ok && region_ok).then(|| Target {
            account: account.to_owned(),
            region: region.to_owned(),
        })
    }

    pub fn name(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }

    pub fn partition(&self) -> &'static str {
        slipway_model::template::eval::partition_of(&self.region)
    }

    pub fn location(&self) -> Location {
        Location {
            partition: self.partition().to_owned(),
            account: self.account.clone(),
            region: self.region.clone(),
        }
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition(),
            self.region,
            self.account
        )
    }

    /// ARNs of global services (IAM, S3) have no region.
    pub fn global_arn(&self, service: &str, account: bool, resource: &str) -> String {
        let acct = if account { self.account.as_str() } else { "" };
        format!("arn:{}:{service}::{acct}:{resource}", self.partition())
    }
}

/// What the runtime or the gateway must be told once a step is committed.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Function(Box<FunctionSpec>),
    FunctionDeleted { function: String },
    Alias { function: String, alias: String },
    Routes { api: String },
}

pub struct ProviderCx<'a> {
    pub store: &'a dyn StateStore,
    pub target: &'a Target,
    pub stack: &'a str,
    pub logical_id: &'a str,
    /// The operation's ID: generated identifiers derive from it, so a re-run after a crash
    /// gives the same one and a replacement a new one.
    pub op_id: &'a str,
    pub data_dir: &'a Path,
    /// The project directory that `slipway-local` code keys are relative to.
    pub code_root: Option<&'a Path>,
    pub notices: &'a RefCell<Vec<Notice>>,
}

impl ProviderCx<'_> {
    fn tname(&self) -> String {
        self.target.name()
    }

    /// A service-generated identifier (`len` lowercase letters and digits).
    fn generated_id(&self, len: usize) -> String {
        let h = sha256_hex(format!("{}|{}|{}", self.stack, self.logical_id, self.op_id).as_bytes());
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
        h.as_bytes()
            .chunks(2)
            .take(len)
            .map(|c| {
                let v = u8::from_str_radix(std::str::from_utf8(c).unwrap_or("00"), 16).unwrap_or(0);
                alphabet[usize::from(v) % alphabet.len()] as char
            })
            .collect()
    }

    fn uuid(&self) -> String {
        let h = sha256_hex(
            format!("uuid|{}|{}|{}", self.stack, self.logical_id, self.op_id).as_bytes(),
        );
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// A physical resource as a provider made it.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub physical_id: String,
    pub attributes: BTreeMap<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    #[error("{message}")]
    Invalid { message: String },
    #[error("{resource} already exists")]
    AlreadyExists { resource: String },
    #[error("{resource} does not exist")]
    NotFound { resource: String },
    #[error(transparent)]
    Store(#[from] StateError),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::Invalid {
        message: message.into(),
    }
}

pub trait ResourceProvider: Send + Sync {
    /// Creates the resource; `name` is the generated physical name for types named after one
    /// (when the template gives no name of its own).
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        name: Option<&str>,
        props: &Value,
    ) -> Result<Applied, ProviderError>;

    /// Updates it in place; `old` is what was applied before.
    fn update(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        old: &Value,
        new: &Value,
    ) -> Result<Applied, ProviderError>;

    /// Deletes it. Deleting what is already gone succeeds (a rollback after a crash may ask).
    fn delete(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        props: &Value,
    ) -> Result<(), ProviderError>;
}

/// The provider of a type, or `None`: not something Slipway can deploy.
pub fn provider(type_: &str) -> Option<&'static dyn ResourceProvider> {
    match type_ {
        "AWS::Lambda::Function" => Some(&FunctionProvider),
        "AWS::Lambda::Version" => Some(&VersionProvider),
        "AWS::Lambda::Alias" => Some(&AliasProvider),
        "AWS::S3::Bucket" => Some(&BucketProvider),
        _ => RECORDED
            .iter()
            .find(|r| r.type_ == type_)
            .map(|r| r as &dyn ResourceProvider),
    }
}

// ---------------------------------------------------------------------------------------------
// Provider records.

fn record_key(type_: &str, physical_id: &str) -> String {
    format!("{type_}|{physical_id}")
}

/// Writes (or overwrites) the record of a physical resource.
fn put_record(
    cx: &ProviderCx<'_>,
    type_: &str,
    physical_id: &str,
    props: &Value,
    attributes: &BTreeMap<String, Value>,
) -> Result<(), ProviderError> {
    let key = record_key(type_, physical_id);
    let current = cx.store.get_doc(Collection::Resources, &cx.tname(), &key)?;
    let doc = json!({
        "Type": type_,
        "PhysicalId": physical_id,
        "Stack": cx.stack,
        "LogicalId": cx.logical_id,
        "Properties": props,
        "Attributes": attributes,
    });
    cx.store.commit(Batch::new().put(
        Collection::Resources,
        &cx.tname(),
        &key,
        current.map(|c| c.generation),
        doc,
    ))?;
    Ok(())
}

fn delete_record(cx: &ProviderCx<'_>, type_: &str, physical_id: &str) -> Result<(), ProviderError> {
    let key = record_key(type_, physical_id);
    if let Some(c) = cx.store.get_doc(Collection::Resources, &cx.tname(), &key)? {
        cx.store.commit(Batch::new().delete(
            Collection::Resources,
            &cx.tname(),
            &key,
            c.generation,
        ))?;
    }
    Ok(())
}

fn s<'v>(props: &'v Value, key: &str) -> Option<&'v str> {
    props.get(key).and_then(Value::as_str)
}

fn attrs(pairs: &[(&str, String)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Recorded types: the record is the resource.

type Ident = fn(&ProviderCx<'_>, &str, &Value) -> Applied;

/// A type whose resource is its record. `name_prop` is the property naming it (`None`:
/// service-generated IDs); `ident` computes `Ref` and the attributes from the physical name.
pub struct Recorded {
    pub type_: &'static str,
    name_prop: Option<&'static str>,
    ident: Ident,
    routes: bool,
}

fn simple(_: &ProviderCx<'_>, id: &str, _: &Value) -> Applied {
    Applied {
        physical_id: id.to_owned(),
        attributes: BTreeMap::new(),
    }
}

static RECORDED: &[Recorded] = &[
    Recorded {
        type_: "AWS::Lambda::Permission",
        name_prop: None,
        ident: simple,
        routes: false,
    },
    Recorded {
        type_: "AWS::Lambda::EventSourceMapping",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[("Id", id.to_owned())]),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::Lambda::LayerVersion",
        name_prop: Some("LayerName"),
        ident: |cx, name, _| {
            // One version per create: the operation's ID makes a re-run idempotent.
            let n = u32::from_str_radix(&sha256_hex(cx.op_id.as_bytes())[..4], 16).unwrap_or(1)
                % 9000
                + 1;
            let arn = cx.target.arn("lambda", &format!("layer:{name}:{n}"));
            Applied {
                physical_id: arn.clone(),
                attributes: attrs(&[("LayerVersionArn", arn)]),
            }
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::SNS::Topic",
        name_prop: Some("TopicName"),
        ident: |cx, name, _| {
            let arn = cx.target.arn("sns", name);
            Applied {
                physical_id: arn.clone(),
                attributes: attrs(&[("TopicArn", arn), ("TopicName", name.to_owned())]),
            }
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::SNS::Subscription",
        name_prop: None,
        ident: |cx, id, p| {
            let topic = s(p, "TopicArn").unwrap_or_default();
            let arn = format!("{topic}:{}", cx.uuid());
            let _ = id;
            Applied {
                physical_id: arn.clone(),
                attributes: attrs(&[("Arn", arn)]),
            }
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::SQS::Queue",
        name_prop: Some("QueueName"),
        ident: |cx, name, _| {
            let url = format!(
                "https://sqs.{}.amazonaws.com/{}/{name}",
                cx.target.region, cx.target.account
            );
            Applied {
                physical_id: url.clone(),
                attributes: attrs(&[
                    ("Arn", cx.target.arn("sqs", name)),
                    ("QueueName", name.to_owned()),
                    ("QueueUrl", url),
                ]),
            }
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::SSM::Parameter",
        name_prop: Some("Name"),
        ident: |_, name, p| Applied {
            physical_id: name.to_owned(),
            attributes: attrs(&[
                ("Type", s(p, "Type").unwrap_or("String").to_owned()),
                ("Value", s(p, "Value").unwrap_or_default().to_owned()),
            ]),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::CloudWatch::Alarm",
        name_prop: Some("AlarmName"),
        ident: |cx, name, _| Applied {
            physical_id: name.to_owned(),
            attributes: attrs(&[("Arn", cx.target.arn("cloudwatch", &format!("alarm:{name}")))]),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::IAM::Role",
        name_prop: Some("RoleName"),
        ident: |cx, name, p| {
            let path = s(p, "Path").unwrap_or("/");
            Applied {
                physical_id: name.to_owned(),
                attributes: attrs(&[
                    (
                        "Arn",
                        cx.target
                            .global_arn("iam", true, &format!("role{path}{name}")),
                    ),
                    (
                        "RoleId",
                        format!("AROA{}", cx.generated_id(17).to_ascii_uppercase()),
                    ),
                ]),
            }
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::IAM::Policy",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: BTreeMap::new(),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::IAM::ManagedPolicy",
        name_prop: Some("ManagedPolicyName"),
        ident: |cx, name, _| {
            let arn = cx.target.global_arn("iam", true, &format!("policy/{name}"));
            Applied {
                physical_id: arn.clone(),
                attributes: attrs(&[("PolicyArn", arn)]),
            }
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::Logs::LogGroup",
        name_prop: Some("LogGroupName"),
        ident: |cx, name, _| Applied {
            physical_id: name.to_owned(),
            attributes: attrs(&[("Arn", cx.target.arn("logs", &format!("log-group:{name}:*")))]),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::Events::Rule",
        name_prop: Some("Name"),
        ident: |cx, name, _| Applied {
            physical_id: name.to_owned(),
            attributes: attrs(&[("Arn", cx.target.arn("events", &format!("rule/{name}")))]),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::Scheduler::Schedule",
        name_prop: Some("Name"),
        ident: |cx, name, _| Applied {
            physical_id: name.to_owned(),
            attributes: attrs(&[(
                "Arn",
                cx.target
                    .arn("scheduler", &format!("schedule/default/{name}")),
            )]),
        },
        routes: false,
    },
    Recorded {
        type_: "AWS::ApiGateway::RestApi",
        name_prop: None,
        ident: |cx, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[
                ("RestApiId", id.to_owned()),
                ("RootResourceId", cx.generated_id(10)),
            ]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGateway::Deployment",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[("DeploymentId", id.to_owned())]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGateway::Stage",
        name_prop: Some("StageName"),
        ident: simple,
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGateway::Resource",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[("ResourceId", id.to_owned())]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGateway::Method",
        name_prop: None,
        ident: simple,
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGatewayV2::Api",
        name_prop: None,
        ident: |cx, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[
                ("ApiId", id.to_owned()),
                (
                    "ApiEndpoint",
                    format!(
                        "https://{id}.execute-api.{}.amazonaws.com",
                        cx.target.region
                    ),
                ),
            ]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGatewayV2::Stage",
        name_prop: Some("StageName"),
        ident: simple,
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGatewayV2::Route",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[("RouteId", id.to_owned())]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGatewayV2::Integration",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[("IntegrationId", id.to_owned())]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::ApiGatewayV2::Deployment",
        name_prop: None,
        ident: |_, id, _| Applied {
            physical_id: id.to_owned(),
            attributes: attrs(&[("DeploymentId", id.to_owned())]),
        },
        routes: true,
    },
    Recorded {
        type_: "AWS::CodeDeploy::Application",
        name_prop: Some("ApplicationName"),
        ident: simple,
        routes: false,
    },
    Recorded {
        type_: "AWS::CodeDeploy::DeploymentGroup",
        name_prop: Some("DeploymentGroupName"),
        ident: simple,
        routes: false,
    },
    Recorded {
        type_: "AWS::CodeDeploy::DeploymentConfig",
        name_prop: Some("DeploymentConfigName"),
        ident: simple,
        routes: false,
    },
];

impl Recorded {
    /// What the server's event delivery will act on must be something it can act on:
    /// an EventBridge rule's schedule and targets.
    fn validate(&self, props: &Value) -> Result<(), ProviderError> {
        if self.type_ != "AWS::Events::Rule" {
            return Ok(());
        }
        if let Some(expr) = s(props, "ScheduleExpression") {
            slipway_deploy::schedule::Schedule::parse(expr)
                .map_err(|e| invalid(format!("Parameter ScheduleExpression is not valid: {e}")))?;
        }
        for t in props
            .get("Targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = s(t, "Id").unwrap_or("?");
            let arn = s(t, "Arn").unwrap_or_default();
            if ![":lambda:", ":sqs:", ":sns:"]
                .iter()
                .any(|k| arn.contains(k))
            {
                return Err(invalid(format!(
                    "target {id}: Slipway delivers rule targets to Lambda functions, SQS queues and SNS topics, not '{arn}'"
                )));
            }
            for unsupported in ["InputPath", "InputTransformer"] {
                if t.get(unsupported).is_some() {
                    return Err(invalid(format!(
                        "target {id}: {unsupported} is not supported by Slipway (use Input, or no input for the event itself)"
                    )));
                }
            }
            if let Some(input) = s(t, "Input")
                && serde_json::from_str::<Value>(input).is_err()
            {
                return Err(invalid(format!(
                    "target {id}: Input must be valid JSON text"
                )));
            }
        }
        Ok(())
    }

    fn api_of(&self, physical_id: &str, props: &Value) -> Option<String> {
        if !self.routes {
            return None;
        }
        match self.type_ {
            "AWS::ApiGateway::RestApi" | "AWS::ApiGatewayV2::Api" => Some(physical_id.to_owned()),
            _ => s(props, "RestApiId")
                .or_else(|| s(props, "ApiId"))
                .map(str::to_owned),
        }
    }
}

impl ResourceProvider for Recorded {
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        name: Option<&str>,
        props: &Value,
    ) -> Result<Applied, ProviderError> {
        let name = match self.name_prop {
            Some(p) => s(props, p)
                .map(str::to_owned)
                .or_else(|| name.map(str::to_owned))
                .unwrap_or_else(|| {
                    format!("{}-{}-{}", cx.stack, cx.logical_id, cx.generated_id(12))
                }),
            None => cx.generated_id(10),
        };
        self.validate(props)?;
        let applied = (self.ident)(cx, &name, props);
        put_record(
            cx,
            self.type_,
            &applied.physical_id,
            props,
            &applied.attributes,
        )?;
        if let Some(api) = self.api_of(&applied.physical_id, props) {
            cx.notices.borrow_mut().push(Notice::Routes { api });
        }
        Ok(applied)
    }

    fn update(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _old: &Value,
        new: &Value,
    ) -> Result<Applied, ProviderError> {
        self.validate(new)?;
        let key = record_key(self.type_, physical_id);
        let current = cx.store.get_doc(Collection::Resources, &cx.tname(), &key)?;
        let mut attributes = current
            .as_ref()
            .and_then(|c| c.value.get("Attributes"))
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default();
        if self.type_ == "AWS::SSM::Parameter" {
            attributes = (self.ident)(cx, physical_id, new).attributes;
        }
        put_record(cx, self.type_, physical_id, new, &attributes)?;
        if let Some(api) = self.api_of(physical_id, new) {
            cx.notices.borrow_mut().push(Notice::Routes { api });
        }
        Ok(Applied {
            physical_id: physical_id.to_owned(),
            attributes,
        })
    }

    fn delete(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        props: &Value,
    ) -> Result<(), ProviderError> {
        delete_record(cx, self.type_, physical_id)?;
        if let Some(api) = self.api_of(physical_id, props) {
            cx.notices.borrow_mut().push(Notice::Routes { api });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// S3 buckets: a directory under the data directory.

pub struct BucketProvider;

/// Where a bucket's objects live.
pub fn bucket_dir(data_dir: &Path, bucket: &str) -> PathBuf {
    data_dir.join("s3").join(bucket)
}

impl ResourceProvider for BucketProvider {
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        name: Option<&str>,
        props: &Value,
    ) -> Result<Applied, ProviderError> {
        validate_bucket(props)?;
        let bucket = s(props, "BucketName")
            .or(name)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!("{}-{}", cx.stack, cx.generated_id(12)).to_ascii_lowercase()
            });
        let dir = bucket_dir(cx.data_dir, &bucket);
        std::fs::create_dir_all(&dir).map_err(|source| ProviderError::Io {
            path: dir.clone(),
            source,
        })?;
        let applied = bucket_attrs(cx.target, &bucket);
        put_record(cx, "AWS::S3::Bucket", &bucket, props, &applied.attributes)?;
        Ok(applied)
    }

    fn update(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _old: &Value,
        new: &Value,
    ) -> Result<Applied, ProviderError> {
        validate_bucket(new)?;
        let applied = bucket_attrs(cx.target, physical_id);
        put_record(cx, "AWS::S3::Bucket", physical_id, new, &applied.attributes)?;
        Ok(applied)
    }

    fn delete(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
    ) -> Result<(), ProviderError> {
        let dir = bucket_dir(cx.data_dir, physical_id);
        match std::fs::read_dir(&dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(invalid(format!(
                        "The bucket you tried to delete is not empty (Bucket: {physical_id})"
                    )));
                }
                std::fs::remove_dir(&dir).map_err(|source| ProviderError::Io {
                    path: dir.clone(),
                    source,
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ProviderError::Io { path: dir, source }),
        }
        delete_record(cx, "AWS::S3::Bucket", physical_id)
    }
}

/// A notification configuration S3 would refuse fails the resource (the server's S3
/// endpoint acts on the rest).
fn validate_bucket(props: &Value) -> Result<(), ProviderError> {
    match props.get("NotificationConfiguration") {
        Some(nc) => slipway_deploy::events::validate_s3_notifications(nc).map_err(invalid),
        None => Ok(()),
    }
}

fn bucket_attrs(t: &Target, bucket: &str) -> Applied {
    Applied {
        physical_id: bucket.to_owned(),
        attributes: attrs(&[
            ("Arn", t.global_arn("s3", false, bucket)),
            ("DomainName", format!("{bucket}.s3.amazonaws.com")),
            (
                "RegionalDomainName",
                format!("{bucket}.s3.{}.amazonaws.com", t.region),
            ),
            (
                "WebsiteURL",
                format!("http://{bucket}.s3-website-{}.amazonaws.com", t.region),
            ),
        ]),
    }
}

// ---------------------------------------------------------------------------------------------
// Lambda: functions, versions, aliases.

/// What the store keeps for one function (`Collection::Functions`, by name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    pub stack: String,
    pub logical_id: String,
    /// The applied (resolved) properties of `$LATEST`.
    pub properties: Value,
    pub code_dir: PathBuf,
    pub versions: FunctionVersions,
    /// The properties each published version was made from.
    pub version_properties: BTreeMap<u32, Value>,
    /// The code directory each published version was made from (`code_dir` moves on with
    /// `$LATEST`; a record written before this field existed falls back to `code_dir`).
    #[serde(default)]
    pub version_code_dirs: BTreeMap<u32, PathBuf>,
}

impl FunctionRecord {
    /// The runnable configuration of `version`.
    pub fn spec(
        &self,
        target: &Target,
        data_dir: &Path,
        version: &Version,
    ) -> Option<FunctionSpec> {
        let (props, code_dir) = match version {
            Version::Latest => (&self.properties, &self.code_dir),
            Version::Published(n) => (
                self.version_properties.get(n)?,
                self.version_code_dirs.get(n).unwrap_or(&self.code_dir),
            ),
        };
        Some(function_spec(
            &self.name,
            version.clone(),
            target,
            data_dir,
            code_dir,
            props,
        ))
    }
}

pub fn load_function(
    store: &dyn StateStore,
    target: &str,
    name: &str,
) -> Result<Option<(FunctionRecord, u64)>, ProviderError> {
    let Some(doc) = store.get_doc(Collection::Functions, target, name)? else {
        return Ok(None);
    };
    let rec: FunctionRecord = serde_json::from_value(doc.value)
        .map_err(|e| invalid(format!("stored function {name} is unreadable: {e}")))?;
    Ok(Some((rec, doc.generation)))
}

pub fn save_function(
    store: &dyn StateStore,
    target: &str,
    rec: &FunctionRecord,
    expected: Option<u64>,
) -> Result<(), ProviderError> {
    let doc = serde_json::to_value(rec).map_err(|e| invalid(e.to_string()))?;
    store.commit(Batch::new().put(Collection::Functions, target, &rec.name, expected, doc))?;
    Ok(())
}

/// Where a function's code is. `Code: {S3Bucket, S3Key}` names an object of the local S3: a
/// directory there is the code as it stands; a file is a deployment package (a zip, as Lambda
/// takes from S3), unpacked once per content into `<data>/code/<sha256>/` with the artefact
/// store's safe extraction (no `..` or absolute paths, no symlinks), so a new package is new
/// code and a package that is not a zip fails the resource, naming the object.
fn code_dir(cx: &ProviderCx<'_>, name: &str, props: &Value) -> Result<PathBuf, ProviderError> {
    let code = props.get("Code");
    Ok(
        match (
            code.and_then(|c| s(c, "S3Bucket")),
            code.and_then(|c| s(c, "S3Key")),
        ) {
            (Some(LOCAL_CODE_BUCKET), Some(key)) => cx.code_root.unwrap_or(cx.data_dir).join(key),
            (Some(bucket), Some(key)) => {
                let p = bucket_dir(cx.data_dir, bucket).join(key);
                if p.is_file() {
                    unpack_package(cx.data_dir, &p).map_err(|e| {
                        invalid(format!(
                            "Code s3://{bucket}/{key} is not a deployment package Slipway can unpack: {e}"
                        ))
                    })?
                } else {
                    p
                }
            }
            _ => cx.data_dir.join("functions").join(name).join("inline"),
        },
    )
}

/// Unpacks a zip deployment package (once per content) and returns its directory.
fn unpack_package(data_dir: &Path, zip: &Path) -> Result<PathBuf, slipway_store::Error> {
    let store = slipway_store::Store::open(data_dir.join("artefacts"))?;
    let blob = store.put_file(zip)?;
    let dir = data_dir.join("code").join(blob.digest.hex());
    if !dir.is_dir() {
        let tmp = data_dir.join("code").join(format!(
            "{}.{}.partial",
            blob.digest.hex(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        store.extract_zip(&blob.digest, &tmp)?;
        if let Err(e) = std::fs::rename(&tmp, &dir) {
            let _ = std::fs::remove_dir_all(&tmp);
            if !dir.is_dir() {
                return Err(slipway_store::Error::Io {
                    action: "move into place",
                    path: dir,
                    source: e,
                });
            }
        }
    }
    Ok(dir)
}

fn snapshot(props: &Value) -> Snapshot {
    let mut configuration = props.clone();
    if let Some(m) = configuration.as_object_mut() {
        m.remove("Code");
        m.remove("Description");
    }
    Snapshot {
        code_sha256: sha256_hex(
            props
                .get("Code")
                .unwrap_or(&Value::Null)
                .to_string()
                .as_bytes(),
        ),
        configuration,
        description: s(props, "Description").unwrap_or_default().to_owned(),
    }
}

fn function_spec(
    name: &str,
    version: Version,
    target: &Target,
    data_dir: &Path,
    code_dir: &Path,
    p: &Value,
) -> FunctionSpec {
    let num = |k: &str, d: u32| {
        p.get(k)
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|x| x.parse().ok()))
            })
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(d)
    };
    let environment = p
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let layers = p
        .get("Layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|arn| {
            let parts: Vec<&str> = arn.split(':').collect();
            let (layer, n) = match parts.as_slice() {
                [.., "layer", l, n] => (*l, *n),
                _ => (arn, "0"),
            };
            data_dir.join("layers").join(layer).join(n)
        })
        .collect();
    FunctionSpec {
        name: name.to_owned(),
        version,
        location: target.location(),
        runtime: s(p, "Runtime").unwrap_or_default().to_owned(),
        handler: s(p, "Handler").unwrap_or_default().to_owned(),
        code_dir: code_dir.to_path_buf(),
        layers,
        memory_mb: num("MemorySize", FunctionSpec::DEFAULT_MEMORY_MB),
        timeout_secs: num("Timeout", FunctionSpec::DEFAULT_TIMEOUT_SECS),
        environment,
        reserved_concurrency: p
            .get("ReservedConcurrentExecutions")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        architectures: p
            .get("Architectures")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| vec!["x86_64".to_owned()]),
        description: s(p, "Description").unwrap_or_default().to_owned(),
    }
}

/// `FunctionName` as a name, a partial ARN or a full ARN.
pub fn function_name(v: &str) -> &str {
    match v.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => v,
    }
}

pub struct FunctionProvider;

fn function_applied(t: &Target, name: &str) -> Applied {
    Applied {
        physical_id: name.to_owned(),
        attributes: attrs(&[("Arn", t.arn("lambda", &format!("function:{name}")))]),
    }
}

impl ResourceProvider for FunctionProvider {
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        name: Option<&str>,
        props: &Value,
    ) -> Result<Applied, ProviderError> {
        let name = s(props, "FunctionName")
            .or(name)
            .ok_or_else(|| invalid("a function needs a name"))?
            .to_owned();
        let t = cx.tname();
        let existing = load_function(cx.store, &t, &name)?;
        if let Some((rec, _)) = &existing
            && (rec.stack != cx.stack || rec.logical_id != cx.logical_id)
        {
            return Err(ProviderError::Lambda(LambdaError::ResourceConflict(
                format!("Function already exist: {name}"),
            )));
        }
        let arn = cx.target.arn("lambda", &format!("function:{name}"));
        let rec = FunctionRecord {
            name: name.clone(),
            stack: cx.stack.to_owned(),
            logical_id: cx.logical_id.to_owned(),
            properties: props.clone(),
            code_dir: code_dir(cx, &name, props)?,
            versions: FunctionVersions::new(&arn, snapshot(props)),
            version_properties: BTreeMap::new(),
            version_code_dirs: BTreeMap::new(),
        };
        save_function(cx.store, &t, &rec, existing.map(|e| e.1))?;
        if let Some(spec) = rec.spec(cx.target, cx.data_dir, &Version::Latest) {
            cx.notices
                .borrow_mut()
                .push(Notice::Function(Box::new(spec)));
        }
        Ok(function_applied(cx.target, &name))
    }

    fn update(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _old: &Value,
        new: &Value,
    ) -> Result<Applied, ProviderError> {
        let t = cx.tname();
        let Some((mut rec, g)) = load_function(cx.store, &t, physical_id)? else {
            return Err(ProviderError::NotFound {
                resource: format!("function {physical_id}"),
            });
        };
        rec.versions.update_latest(snapshot(new));
        rec.properties = new.clone();
        rec.code_dir = code_dir(cx, physical_id, new)?;
        save_function(cx.store, &t, &rec, Some(g))?;
        if let Some(spec) = rec.spec(cx.target, cx.data_dir, &Version::Latest) {
            cx.notices
                .borrow_mut()
                .push(Notice::Function(Box::new(spec)));
        }
        Ok(function_applied(cx.target, physical_id))
    }

    fn delete(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
    ) -> Result<(), ProviderError> {
        let t = cx.tname();
        if let Some((_, g)) = load_function(cx.store, &t, physical_id)? {
            cx.store
                .commit(Batch::new().delete(Collection::Functions, &t, physical_id, g))?;
            cx.notices.borrow_mut().push(Notice::FunctionDeleted {
                function: physical_id.to_owned(),
            });
        }
        Ok(())
    }
}

pub struct VersionProvider;

fn version_applied(t: &Target, function: &str, n: u32) -> Applied {
    let arn = t.arn("lambda", &format!("function:{function}:{n}"));
    Applied {
        physical_id: arn,
        attributes: attrs(&[
            ("Version", n.to_string()),
            (
                "FunctionArn",
                t.arn("lambda", &format!("function:{function}")),
            ),
        ]),
    }
}

fn split_qualified(arn: &str) -> Option<(&str, &str)> {
    let (_, rest) = arn.split_once(":function:")?;
    rest.split_once(':')
}

impl ResourceProvider for VersionProvider {
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        _: Option<&str>,
        props: &Value,
    ) -> Result<Applied, ProviderError> {
        let f = function_name(
            s(props, "FunctionName").ok_or_else(|| invalid("FunctionName is required"))?,
        );
        let t = cx.tname();
        let Some((mut rec, g)) = load_function(cx.store, &t, f)? else {
            return Err(ProviderError::Lambda(LambdaError::ResourceNotFound(
                format!(
                    "Function not found: {}",
                    cx.target.arn("lambda", &format!("function:{f}"))
                ),
            )));
        };
        let published =
            rec.versions
                .publish(s(props, "CodeSha256"), None, s(props, "Description"))?;
        if published.created {
            rec.version_properties
                .insert(published.number, rec.properties.clone());
            rec.version_code_dirs
                .insert(published.number, rec.code_dir.clone());
            save_function(cx.store, &t, &rec, Some(g))?;
            if let Some(spec) = rec.spec(
                cx.target,
                cx.data_dir,
                &Version::Published(published.number),
            ) {
                cx.notices
                    .borrow_mut()
                    .push(Notice::Function(Box::new(spec)));
            }
        }
        Ok(version_applied(cx.target, f, published.number))
    }

    fn update(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
        _: &Value,
    ) -> Result<Applied, ProviderError> {
        // Every property of a version requires replacement: an in-place update changes nothing.
        let (f, n) = split_qualified(physical_id)
            .ok_or_else(|| invalid(format!("not a version ARN: {physical_id}")))?;
        Ok(version_applied(cx.target, f, n.parse().unwrap_or(0)))
    }

    fn delete(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
    ) -> Result<(), ProviderError> {
        let Some((f, n)) = split_qualified(physical_id) else {
            return Ok(());
        };
        let t = cx.tname();
        let Some((mut rec, g)) = load_function(cx.store, &t, f)? else {
            return Ok(());
        };
        let Ok(n) = n.parse::<u32>() else {
            return Ok(());
        };
        match rec.versions.delete_version(n) {
            Ok(()) | Err(LambdaError::ResourceNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        rec.version_properties.remove(&n);
        rec.version_code_dirs.remove(&n);
        save_function(cx.store, &t, &rec, Some(g))
    }
}

pub struct AliasProvider;

/// `RoutingConfig.AdditionalVersionWeights` (a list of `{FunctionVersion, FunctionWeight}`).
pub fn routing_of(props: &Value) -> RoutingConfig {
    let mut out = RoutingConfig::new();
    for w in props
        .get("RoutingConfig")
        .and_then(|r| r.get("AdditionalVersionWeights"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let v = w
            .get("FunctionVersion")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        let weight = w.get("FunctionWeight").and_then(|x| {
            x.as_f64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        });
        if let (Some(v), Some(weight)) = (v, weight) {
            out.insert(v, weight);
        }
    }
    out
}

/// `FunctionVersion` as a string (a number in JSON is accepted too).
pub fn version_of(props: &Value) -> Option<String> {
    props
        .get("FunctionVersion")
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

fn alias_applied(t: &Target, function: &str, alias: &str) -> Applied {
    let arn = t.arn("lambda", &format!("function:{function}:{alias}"));
    Applied {
        physical_id: arn.clone(),
        attributes: attrs(&[("AliasArn", arn)]),
    }
}

impl ResourceProvider for AliasProvider {
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        _: Option<&str>,
        props: &Value,
    ) -> Result<Applied, ProviderError> {
        let f = function_name(
            s(props, "FunctionName").ok_or_else(|| invalid("FunctionName is required"))?,
        );
        let name = s(props, "Name").ok_or_else(|| invalid("Name is required"))?;
        let version = version_of(props).ok_or_else(|| invalid("FunctionVersion is required"))?;
        let t = cx.tname();
        let Some((mut rec, g)) = load_function(cx.store, &t, f)? else {
            return Err(ProviderError::Lambda(LambdaError::ResourceNotFound(
                format!("Function not found: {f}"),
            )));
        };
        if rec.versions.aliases.contains_key(name) {
            // A re-run after a crash: bring it to the requested state.
            rec.versions
                .update_alias(name, Some(&version), Some(&routing_of(props)), None)?;
        } else {
            rec.versions.create_alias(
                name,
                &version,
                &routing_of(props),
                s(props, "Description").unwrap_or_default(),
            )?;
        }
        save_function(cx.store, &t, &rec, Some(g))?;
        cx.notices.borrow_mut().push(Notice::Alias {
            function: f.to_owned(),
            alias: name.to_owned(),
        });
        Ok(alias_applied(cx.target, f, name))
    }

    fn update(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
        new: &Value,
    ) -> Result<Applied, ProviderError> {
        let (f, name) = split_qualified(physical_id)
            .ok_or_else(|| invalid(format!("not an alias ARN: {physical_id}")))?;
        let version = version_of(new).ok_or_else(|| invalid("FunctionVersion is required"))?;
        set_alias(cx.store, &cx.tname(), f, name, &version, &routing_of(new))?;
        cx.notices.borrow_mut().push(Notice::Alias {
            function: f.to_owned(),
            alias: name.to_owned(),
        });
        Ok(alias_applied(cx.target, f, name))
    }

    fn delete(
        &self,
        cx: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
    ) -> Result<(), ProviderError> {
        let Some((f, name)) = split_qualified(physical_id) else {
            return Ok(());
        };
        let t = cx.tname();
        if let Some((mut rec, g)) = load_function(cx.store, &t, f)?
            && rec.versions.aliases.remove(name).is_some()
        {
            save_function(cx.store, &t, &rec, Some(g))?;
            cx.notices.borrow_mut().push(Notice::Alias {
                function: f.to_owned(),
                alias: name.to_owned(),
            });
        }
        Ok(())
    }
}

/// Points an alias (Lambda's `UpdateAlias`), compare-and-swap on the function's record.
pub fn set_alias(
    store: &dyn StateStore,
    target: &str,
    function: &str,
    alias: &str,
    version: &str,
    routing: &RoutingConfig,
) -> Result<(), ProviderError> {
    let Some((mut rec, g)) = load_function(store, target, function)? else {
        return Err(ProviderError::Lambda(LambdaError::ResourceNotFound(
            format!("Function not found: {function}"),
        )));
    };
    rec.versions
        .update_alias(alias, Some(version), Some(routing), None)?;
    save_function(store, target, &rec, Some(g))
}
