//! Which property changes replace a resource, per type.
//!
//! Every entry is the CloudFormation Template Reference's "Update requires:" line for that
//! property (`https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-<type>.html`):
//! `Replacement` → [`RequiresRecreation::Always`], `Some interruptions` / `No interruption` →
//! [`RequiresRecreation::Never`] (the resource is updated in place), and the properties whose
//! docs say "Conditional" or "Replacement if …" → [`RequiresRecreation::Conditionally`].
//! Properties a type does not list here update in place. A type missing from the table is not
//! supported by the planner and fails at plan time (unless it is an inert `--accept-type`
//! record, which is only ever recorded).
//!
//! Checked property by property against those pages (December 2026) for every type the
//! engine has a provider for; each entry names its page as `aws-resource-<service>-<type>`
//! (the full address is the pattern above). Two entries were wrong and are fixed:
//! `AWS::Events::Rule.EventBusName` is "Some interruptions" (the rule moves to the other bus
//! in place), not Replacement; `AWS::S3::Bucket.ObjectLockEnabled` is "No interruption" (S3
//! now enables Object Lock on an existing bucket), not Replacement. `AWS::DynamoDB::Table`
//! has a template schema but no provider, so it stays out of the table (a plan refuses it).
//!
//! [`name_property`] names the property that gives a resource a custom physical name: such a
//! resource cannot be replaced while its name stays the same ("CloudFormation cannot update a
//! stack when a custom-named resource requires replacing").

use serde::{Deserialize, Serialize};

/// `RequiresRecreation` of a change-set detail's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RequiresRecreation {
    Never,
    Conditionally,
    Always,
}

impl RequiresRecreation {
    pub fn as_str(self) -> &'static str {
        match self {
            RequiresRecreation::Never => "Never",
            RequiresRecreation::Conditionally => "Conditionally",
            RequiresRecreation::Always => "Always",
        }
    }
}

/// How a type's properties behave on update.
#[derive(Clone, Copy, Debug)]
pub struct TypeRules {
    pub type_: &'static str,
    /// Properties whose change requires replacement.
    pub always: &'static [&'static str],
    /// Properties whose change may require replacement.
    pub conditionally: &'static [&'static str],
    /// Every property change replaces the resource (the type has no update handler, or every
    /// property is documented `Update requires: Replacement`).
    pub all_replace: bool,
    /// The property giving the resource a custom physical name, if any.
    pub name: Option<&'static str>,
    /// Maximum length of a generated physical name; `lowercase` for S3 bucket rules.
    pub name_max: usize,
    pub lowercase: bool,
}

const fn t(type_: &'static str, always: &'static [&'static str]) -> TypeRules {
    TypeRules {
        type_,
        always,
        conditionally: &[],
        all_replace: false,
        name: None,
        name_max: 255,
        lowercase: false,
    }
}

const fn named(mut r: TypeRules, name: &'static str, max: usize) -> TypeRules {
    r.name = Some(name);
    r.name_max = max;
    r
}

const fn all(mut r: TypeRules) -> TypeRules {
    r.all_replace = true;
    r
}

const fn lower(mut r: TypeRules) -> TypeRules {
    r.lowercase = true;
    r
}

/// The table. Sources: the "Update requires:" line of each property in the CloudFormation
/// Template Reference pages `aws-resource-<service>-<type>`.
pub static TABLE: &[TypeRules] = &[
    // aws-resource-lambda-function: FunctionName, PackageType → Replacement; everything else
    // (Code, Handler, Runtime, Environment, MemorySize, Timeout, Role, Layers, …) No interruption.
    named(
        t("AWS::Lambda::Function", &["FunctionName", "PackageType"]),
        "FunctionName",
        64,
    ),
    // aws-resource-lambda-version: CodeSha256, Description, FunctionName, RuntimePolicy →
    // Replacement; ProvisionedConcurrencyConfig → No interruption. A version is immutable:
    // any other change is a new version too.
    t(
        "AWS::Lambda::Version",
        &["CodeSha256", "Description", "FunctionName", "RuntimePolicy"],
    ),
    // aws-resource-lambda-alias: FunctionName, Name → Replacement; FunctionVersion,
    // RoutingConfig, Description, ProvisionedConcurrencyConfig → No interruption.
    t("AWS::Lambda::Alias", &["FunctionName", "Name"]),
    // aws-resource-lambda-permission: every property → Replacement.
    all(t("AWS::Lambda::Permission", &[])),
    // aws-resource-lambda-layerversion: every property → Replacement (a new layer version).
    all(t("AWS::Lambda::LayerVersion", &[])),
    // aws-resource-lambda-layerversionpermission: every property → Replacement.
    all(t("AWS::Lambda::LayerVersionPermission", &[])),
    // aws-resource-lambda-eventsourcemapping: EventSourceArn, StartingPosition,
    // StartingPositionTimestamp, SelfManagedEventSource, AmazonManagedKafkaEventSourceConfig,
    // SelfManagedKafkaEventSourceConfig → Replacement; FunctionName, BatchSize, Enabled, … No
    // interruption.
    t(
        "AWS::Lambda::EventSourceMapping",
        &[
            "EventSourceArn",
            "StartingPosition",
            "StartingPositionTimestamp",
            "SelfManagedEventSource",
            "AmazonManagedKafkaEventSourceConfig",
            "SelfManagedKafkaEventSourceConfig",
        ],
    ),
    // aws-resource-lambda-url: TargetFunctionArn, Qualifier → Replacement.
    t("AWS::Lambda::Url", &["TargetFunctionArn", "Qualifier"]),
    // aws-resource-lambda-eventinvokeconfig: FunctionName, Qualifier → Replacement.
    t(
        "AWS::Lambda::EventInvokeConfig",
        &["FunctionName", "Qualifier"],
    ),
    // aws-resource-s3-bucket: BucketName → Replacement; VersioningConfiguration → Some
    // interruptions; everything else (ObjectLockEnabled included) → No interruption.
    lower(named(
        t("AWS::S3::Bucket", &["BucketName"]),
        "BucketName",
        63,
    )),
    // aws-resource-s3-bucketpolicy: Bucket → Replacement.
    t("AWS::S3::BucketPolicy", &["Bucket"]),
    // aws-resource-sqs-queue: QueueName, FifoQueue → Replacement.
    named(
        t("AWS::SQS::Queue", &["QueueName", "FifoQueue"]),
        "QueueName",
        80,
    ),
    // aws-resource-sqs-queuepolicy: PolicyDocument, Queues → No interruption.
    t("AWS::SQS::QueuePolicy", &[]),
    // aws-resource-sns-topic: TopicName, FifoTopic → Replacement.
    named(
        t("AWS::SNS::Topic", &["TopicName", "FifoTopic"]),
        "TopicName",
        256,
    ),
    // aws-resource-sns-subscription: Endpoint, Protocol, TopicArn → Replacement; Region → Some
    // interruptions; FilterPolicy, RawMessageDelivery, RedrivePolicy, … → No interruption.
    t(
        "AWS::SNS::Subscription",
        &["Endpoint", "Protocol", "TopicArn"],
    ),
    // aws-resource-sns-topicpolicy: PolicyDocument, Topics → No interruption.
    t("AWS::SNS::TopicPolicy", &[]),
    // aws-resource-apigateway-restapi: no property requires replacement.
    t("AWS::ApiGateway::RestApi", &[]),
    // aws-resource-apigateway-deployment: RestApiId, DeploymentCanarySettings → Replacement;
    // StageName, StageDescription, Description → No interruption.
    // SAM gives each new deployment a new logical ID (hash of the definition), so a changed API
    // is an Add + Remove, never an in-place update.
    t(
        "AWS::ApiGateway::Deployment",
        &["RestApiId", "DeploymentCanarySettings"],
    ),
    // aws-resource-apigateway-stage: RestApiId, StageName → Replacement.
    t("AWS::ApiGateway::Stage", &["RestApiId", "StageName"]),
    // aws-resource-apigateway-resource: ParentId, PathPart, RestApiId → Replacement.
    t(
        "AWS::ApiGateway::Resource",
        &["ParentId", "PathPart", "RestApiId"],
    ),
    // aws-resource-apigateway-method: HttpMethod, ResourceId, RestApiId → Replacement.
    t(
        "AWS::ApiGateway::Method",
        &["HttpMethod", "ResourceId", "RestApiId"],
    ),
    // aws-resource-apigatewayv2-api: ProtocolType → Replacement (Name, Body, BodyS3Location,
    // CorsConfiguration, … No interruption).
    t("AWS::ApiGatewayV2::Api", &["ProtocolType"]),
    // aws-resource-apigatewayv2-stage: ApiId, StageName → Replacement.
    t("AWS::ApiGatewayV2::Stage", &["ApiId", "StageName"]),
    // aws-resource-apigatewayv2-deployment: ApiId → Replacement.
    t("AWS::ApiGatewayV2::Deployment", &["ApiId"]),
    // aws-resource-apigatewayv2-integration: ApiId → Replacement (IntegrationType,
    // IntegrationUri, PayloadFormatVersion, … No interruption).
    t("AWS::ApiGatewayV2::Integration", &["ApiId"]),
    // aws-resource-apigatewayv2-route: ApiId → Replacement (RouteKey, Target, … No
    // interruption).
    t("AWS::ApiGatewayV2::Route", &["ApiId"]),
    // aws-resource-events-rule: Name → Replacement; EventBusName → Some interruptions;
    // EventPattern, ScheduleExpression, State, Targets, … → No interruption.
    named(t("AWS::Events::Rule", &["Name"]), "Name", 64),
    // aws-resource-scheduler-schedule: Name, GroupName → Replacement.
    named(
        t("AWS::Scheduler::Schedule", &["Name", "GroupName"]),
        "Name",
        64,
    ),
    // aws-resource-cloudwatch-alarm: AlarmName → Replacement.
    named(
        t("AWS::CloudWatch::Alarm", &["AlarmName"]),
        "AlarmName",
        255,
    ),
    // aws-resource-ssm-parameter: Name → Replacement.
    named(t("AWS::SSM::Parameter", &["Name"]), "Name", 2048),
    // aws-resource-iam-role: RoleName, Path → Replacement.
    named(t("AWS::IAM::Role", &["RoleName", "Path"]), "RoleName", 64),
    // aws-resource-iam-policy: no property requires replacement.
    t("AWS::IAM::Policy", &[]),
    // aws-resource-iam-managedpolicy: ManagedPolicyName, Path → Replacement.
    named(
        t("AWS::IAM::ManagedPolicy", &["ManagedPolicyName", "Path"]),
        "ManagedPolicyName",
        128,
    ),
    // aws-resource-codedeploy-application: ApplicationName, ComputePlatform → Replacement.
    named(
        t(
            "AWS::CodeDeploy::Application",
            &["ApplicationName", "ComputePlatform"],
        ),
        "ApplicationName",
        100,
    ),
    // aws-resource-codedeploy-deploymentgroup: ApplicationName, DeploymentGroupName →
    // Replacement.
    named(
        t(
            "AWS::CodeDeploy::DeploymentGroup",
            &["ApplicationName", "DeploymentGroupName"],
        ),
        "DeploymentGroupName",
        100,
    ),
    // aws-resource-codedeploy-deploymentconfig: every property → Replacement.
    named(
        all(t("AWS::CodeDeploy::DeploymentConfig", &[])),
        "DeploymentConfigName",
        100,
    ),
    // aws-resource-logs-loggroup: LogGroupName → Replacement.
    named(
        t("AWS::Logs::LogGroup", &["LogGroupName"]),
        "LogGroupName",
        512,
    ),
];

pub fn rules(type_: &str) -> Option<&'static TypeRules> {
    TABLE.iter().find(|r| r.type_ == type_)
}

impl TypeRules {
    /// What changing `property` requires.
    pub fn requires(&self, property: &str) -> RequiresRecreation {
        if self.all_replace || self.always.contains(&property) {
            RequiresRecreation::Always
        } else if self.conditionally.contains(&property) {
            RequiresRecreation::Conditionally
        } else if self.type_ == "AWS::Lambda::Version" && property != "ProvisionedConcurrencyConfig"
        {
            // A published version never changes: anything else is a new version.
            RequiresRecreation::Always
        } else {
            RequiresRecreation::Never
        }
    }
}

/// The custom-name property of a type, if it has one.
pub fn name_property(type_: &str) -> Option<&'static str> {
    rules(type_).and_then(|r| r.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_replacements() {
        let cases = [
            (
                "AWS::Lambda::Function",
                "FunctionName",
                RequiresRecreation::Always,
            ),
            ("AWS::Lambda::Function", "Code", RequiresRecreation::Never),
            (
                "AWS::Lambda::Function",
                "MemorySize",
                RequiresRecreation::Never,
            ),
            ("AWS::Lambda::Alias", "Name", RequiresRecreation::Always),
            (
                "AWS::Lambda::Alias",
                "FunctionVersion",
                RequiresRecreation::Never,
            ),
            (
                "AWS::Lambda::Alias",
                "RoutingConfig",
                RequiresRecreation::Never,
            ),
            (
                "AWS::Lambda::Version",
                "CodeSha256",
                RequiresRecreation::Always,
            ),
            (
                "AWS::Lambda::Version",
                "Anything",
                RequiresRecreation::Always,
            ),
            (
                "AWS::Lambda::Version",
                "ProvisionedConcurrencyConfig",
                RequiresRecreation::Never,
            ),
            (
                "AWS::Lambda::Permission",
                "Principal",
                RequiresRecreation::Always,
            ),
            ("AWS::S3::Bucket", "BucketName", RequiresRecreation::Always),
            ("AWS::S3::Bucket", "Tags", RequiresRecreation::Never),
            (
                "AWS::S3::Bucket",
                "ObjectLockEnabled",
                RequiresRecreation::Never,
            ),
            ("AWS::Events::Rule", "Name", RequiresRecreation::Always),
            (
                "AWS::Events::Rule",
                "EventBusName",
                RequiresRecreation::Never,
            ),
            (
                "AWS::ApiGatewayV2::Api",
                "ProtocolType",
                RequiresRecreation::Always,
            ),
            ("AWS::ApiGatewayV2::Api", "Body", RequiresRecreation::Never),
            (
                "AWS::SNS::Subscription",
                "Region",
                RequiresRecreation::Never,
            ),
            ("AWS::SQS::Queue", "QueueName", RequiresRecreation::Always),
            ("AWS::SQS::Queue", "FifoQueue", RequiresRecreation::Always),
            (
                "AWS::SQS::Queue",
                "VisibilityTimeout",
                RequiresRecreation::Never,
            ),
            (
                "AWS::ApiGateway::Deployment",
                "RestApiId",
                RequiresRecreation::Always,
            ),
            (
                "AWS::ApiGateway::Stage",
                "StageName",
                RequiresRecreation::Always,
            ),
            (
                "AWS::CloudWatch::Alarm",
                "AlarmName",
                RequiresRecreation::Always,
            ),
            (
                "AWS::CloudWatch::Alarm",
                "Threshold",
                RequiresRecreation::Never,
            ),
        ];
        for (ty, prop, want) in cases {
            let r = rules(ty).unwrap_or_else(|| panic!("{ty} missing"));
            assert_eq!(r.requires(prop), want, "{ty}.{prop}");
        }
        assert_eq!(name_property("AWS::S3::Bucket"), Some("BucketName"));
        assert_eq!(name_property("AWS::Lambda::Alias"), None);
        assert!(rules("AWS::EC2::Instance").is_none());
    }

    #[test]
    fn table_has_no_duplicates() {
        let mut names: Vec<&str> = TABLE.iter().map(|r| r.type_).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
