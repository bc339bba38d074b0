//! Resource type schemas: the properties each supported CloudFormation type takes, which are
//! required, what shape each value has, what `Fn::GetAtt` may ask of it, and what its `Ref`
//! returns.
//!
//! The tables follow the CloudFormation resource provider schemas (the registry documents that
//! `cfn-lint` ships as `data/schemas/providers/*/aws-*.json`): property names, `required`
//! lists and `readOnlyProperties` (the `Fn::GetAtt` attributes). Nested objects are modelled
//! where users commonly write them by hand (Lambda `Code`, API Gateway `Integration`,
//! CodePipeline `Stages`, …); deeper or rarely written structures are [`Shape::Json`], which
//! accepts any value, so that a valid template is never rejected for want of a table entry.
//!
//! Values are checked after intrinsic functions were evaluated. A value that is still a call
//! (`Ref` to a resource, `Fn::GetAtt`, `Fn::Sub` with a resource attribute, …) is unknown until
//! deployment and is accepted wherever a scalar or a list may stand. Scalars are lenient the
//! way CloudFormation is: a string property takes numbers and booleans, an integer property
//! takes `"30"`, a boolean property takes `"true"`/`"false"`.

use super::eval::AttributeCheck;
use super::path::Path;
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Kind, Map, Node};

/// What one supported resource type accepts.
#[derive(Debug)]
pub struct TypeSchema {
    pub name: &'static str,
    pub properties: &'static [Prop],
    /// The `Fn::GetAtt` attributes.
    pub attributes: &'static [&'static str],
    /// What `Ref` returns: see [`ref_kind`].
    pub ref_returns: &'static str,
}

#[derive(Debug)]
pub struct Prop {
    pub name: &'static str,
    pub required: bool,
    pub shape: Shape,
    pub rule: Rule,
}

/// The shape of a property value.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Any scalar (CloudFormation turns numbers and booleans into strings).
    String,
    /// An integer, or a string holding one.
    Integer,
    /// A number, or a string holding one.
    Number,
    /// A boolean, or the string `"true"` / `"false"`.
    Boolean,
    /// Free-form JSON: policy documents, API definitions, rarely written structures.
    Json,
    List(&'static Shape),
    /// A mapping with free keys whose values all have one shape.
    Map(&'static Shape),
    /// A mapping with the keys of a nested property schema.
    Object(&'static [Prop]),
    /// A list of `{Key, Value}` tags.
    Tags,
}

/// A rule about a value beyond its shape; a violation is `InvalidValue`.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    None,
    /// An inclusive numeric range.
    Range(f64, f64),
    /// A list of at most this many items.
    MaxItems(usize),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// One of these integers.
    OneOfInt(&'static [i64]),
}

impl Prop {
    const fn rule(self, rule: Rule) -> Prop {
        Prop { rule, ..self }
    }
}

/// An optional property.
const fn o(name: &'static str, shape: Shape) -> Prop {
    Prop {
        name,
        required: false,
        shape,
        rule: Rule::None,
    }
}

/// A required property.
const fn r(name: &'static str, shape: Shape) -> Prop {
    Prop {
        name,
        required: true,
        shape,
        rule: Rule::None,
    }
}

const S: Shape = Shape::String;
const I: Shape = Shape::Integer;
const N: Shape = Shape::Number;
const B: Shape = Shape::Boolean;
const J: Shape = Shape::Json;
const TAGS: Shape = Shape::Tags;
const LS: Shape = Shape::List(&Shape::String);
const LJ: Shape = Shape::List(&Shape::Json);
/// String-to-string maps, and the map form of `Tags` some types take.
const MS: Shape = Shape::Map(&Shape::String);

const fn obj(props: &'static [Prop]) -> Shape {
    Shape::Object(props)
}

/// A list of objects.
macro_rules! lobj {
    ($p:expr) => {
        Shape::List(&Shape::Object($p))
    };
}

macro_rules! types {
    ($( $name:literal => $ref_:literal, [$($attr:literal),* $(,)?], $props:expr; )*) => {
        static TYPES: &[TypeSchema] = &[ $( TypeSchema {
            name: $name,
            properties: $props,
            attributes: &[$($attr),*],
            ref_returns: $ref_,
        }, )* ];
    };
}

// ---------------------------------------------------------------------------------------------
// Value lists.

/// Lambda runtime identifiers, current and deprecated (a deprecated runtime is still a known
/// name; whether AWS still lets it be created is not a template error).
pub const LAMBDA_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "java8",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet7",
    "dotnet8",
    "dotnet10",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "provided",
    "provided.al2",
    "provided.al2023",
];

const LOG_RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

// ---------------------------------------------------------------------------------------------
// Shared nested schemas.

const TAG: &[Prop] = &[r("Key", S), r("Value", S)];
const S3_LOCATION: &[Prop] = &[o("Bucket", S), o("ETag", S), o("Key", S), o("Version", S)];
const DESTINATION: &[Prop] = &[r("Destination", S)];
const CORS: &[Prop] = &[
    o("AllowCredentials", B),
    o("AllowHeaders", LS),
    o("AllowMethods", LS),
    o("AllowOrigins", LS),
    o("ExposeHeaders", LS),
    o("MaxAge", I),
];
const INLINE_POLICY: &[Prop] = &[r("PolicyDocument", J), r("PolicyName", S)];
const PROVISIONED_CONCURRENCY: &[Prop] = &[r("ProvisionedConcurrentExecutions", I)];
const RUNTIME_POLICY: &[Prop] = &[
    o("RuntimeVersionArn", S),
    r("UpdateRuntimeOn", S).rule(Rule::OneOf(&["Auto", "FunctionUpdate", "Manual"])),
];

// ---------------------------------------------------------------------------------------------
// Lambda.

const LAMBDA_CODE: &[Prop] = &[
    o("ImageUri", S),
    o("S3Bucket", S),
    o("S3Key", S),
    o("S3ObjectVersion", S),
    o("SourceKMSKeyArn", S),
    o("ZipFile", S),
];
const LAMBDA_FUNCTION: &[Prop] = &[
    o("Architectures", LS).rule(Rule::MaxItems(1)),
    r("Code", obj(LAMBDA_CODE)),
    o("CodeSigningConfigArn", S),
    o("DeadLetterConfig", obj(&[o("TargetArn", S)])),
    o("Description", S),
    o("Environment", obj(&[o("Variables", MS)])),
    o(
        "EphemeralStorage",
        obj(&[r("Size", I).rule(Rule::Range(512.0, 10240.0))]),
    ),
    o(
        "FileSystemConfigs",
        lobj!(&[r("Arn", S), r("LocalMountPath", S)]),
    ),
    o("FunctionName", S),
    o("Handler", S),
    o(
        "ImageConfig",
        obj(&[
            o("Command", LS),
            o("EntryPoint", LS),
            o("WorkingDirectory", S),
        ]),
    ),
    o("KmsKeyArn", S),
    o("Layers", LS),
    o(
        "LoggingConfig",
        obj(&[
            o("ApplicationLogLevel", S),
            o("LogFormat", S).rule(Rule::OneOf(&["Text", "JSON"])),
            o("LogGroup", S),
            o("SystemLogLevel", S),
        ]),
    ),
    o("MemorySize", I).rule(Rule::Range(128.0, 10240.0)),
    o("PackageType", S).rule(Rule::OneOf(&["Zip", "Image"])),
    o("Policy", J),
    o("RecursiveLoop", S).rule(Rule::OneOf(&["Allow", "Terminate"])),
    o("ReservedConcurrentExecutions", I).rule(Rule::Range(0.0, f64::MAX)),
    r("Role", S),
    o("Runtime", S).rule(Rule::OneOf(LAMBDA_RUNTIMES)),
    o("RuntimeManagementConfig", obj(RUNTIME_POLICY)),
    o(
        "SnapStart",
        obj(&[r("ApplyOn", S).rule(Rule::OneOf(&["PublishedVersions", "None"]))]),
    ),
    // Lambda's tags, unlike most, may leave out the value.
    o("Tags", lobj!(&[r("Key", S), o("Value", S)])),
    o("Timeout", I).rule(Rule::Range(1.0, 900.0)),
    o(
        "TracingConfig",
        obj(&[o("Mode", S).rule(Rule::OneOf(&["Active", "PassThrough"]))]),
    ),
    o(
        "VpcConfig",
        obj(&[
            o("Ipv6AllowedForDualStack", B),
            o("SecurityGroupIds", LS),
            o("SubnetIds", LS),
        ]),
    ),
];
const LAMBDA_VERSION: &[Prop] = &[
    o("CodeSha256", S),
    o("Description", S),
    r("FunctionName", S),
    o("ProvisionedConcurrencyConfig", obj(PROVISIONED_CONCURRENCY)),
    o("RuntimePolicy", obj(RUNTIME_POLICY)),
];
const VERSION_WEIGHT: &[Prop] = &[
    r("FunctionVersion", S),
    r("FunctionWeight", N).rule(Rule::Range(0.0, 1.0)),
];
const LAMBDA_ALIAS: &[Prop] = &[
    o("Description", S),
    r("FunctionName", S),
    r("FunctionVersion", S),
    r("Name", S),
    o("ProvisionedConcurrencyConfig", obj(PROVISIONED_CONCURRENCY)),
    o(
        "RoutingConfig",
        obj(&[o("AdditionalVersionWeights", lobj!(VERSION_WEIGHT)).rule(Rule::MaxItems(1))]),
    ),
];
const LAMBDA_PERMISSION: &[Prop] = &[
    r("Action", S),
    o("EventSourceToken", S),
    r("FunctionName", S),
    o("FunctionUrlAuthType", S).rule(Rule::OneOf(&["AWS_IAM", "NONE"])),
    o("InvokedViaFunctionUrl", B),
    r("Principal", S),
    o("PrincipalOrgID", S),
    o("SourceAccount", S),
    o("SourceArn", S),
];
const LAMBDA_LAYER_VERSION: &[Prop] = &[
    o("CompatibleArchitectures", LS),
    o("CompatibleRuntimes", LS),
    r(
        "Content",
        obj(&[r("S3Bucket", S), r("S3Key", S), o("S3ObjectVersion", S)]),
    ),
    o("Description", S),
    o("LayerName", S),
    o("LicenseInfo", S),
];
const LAMBDA_LAYER_VERSION_PERMISSION: &[Prop] = &[
    r("Action", S),
    r("LayerVersionArn", S),
    o("OrganizationId", S),
    r("Principal", S),
];
const LAMBDA_EVENT_SOURCE_MAPPING: &[Prop] = &[
    o("AmazonManagedKafkaEventSourceConfig", J),
    o("BatchSize", I).rule(Rule::Range(1.0, 10000.0)),
    o("BisectBatchOnFunctionError", B),
    o(
        "DestinationConfig",
        obj(&[o("OnFailure", obj(&[o("Destination", S)]))]),
    ),
    o("DocumentDBEventSourceConfig", J),
    o("Enabled", B),
    o("EventSourceArn", S),
    o(
        "FilterCriteria",
        obj(&[o("Filters", lobj!(&[o("Pattern", S)]))]),
    ),
    r("FunctionName", S),
    o("FunctionResponseTypes", LS),
    o("KmsKeyArn", S),
    o("LoggingConfig", J),
    o("MaximumBatchingWindowInSeconds", I).rule(Rule::Range(0.0, 300.0)),
    o("MaximumRecordAgeInSeconds", I).rule(Rule::Range(-1.0, 604_800.0)),
    o("MaximumRetryAttempts", I).rule(Rule::Range(-1.0, 10000.0)),
    o("MetricsConfig", J),
    o("ParallelizationFactor", I).rule(Rule::Range(1.0, 10.0)),
    o("ProvisionedPollerConfig", J),
    o("Queues", LS),
    o(
        "ScalingConfig",
        obj(&[o("MaximumConcurrency", I).rule(Rule::Range(2.0, 1000.0))]),
    ),
    o("SelfManagedEventSource", J),
    o("SelfManagedKafkaEventSourceConfig", J),
    o(
        "SourceAccessConfigurations",
        lobj!(&[o("Type", S), o("URI", S)]),
    ),
    o("StartingPosition", S).rule(Rule::OneOf(&["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"])),
    o("StartingPositionTimestamp", N),
    o("Tags", TAGS),
    o("Topics", LS),
    o("TumblingWindowInSeconds", I).rule(Rule::Range(0.0, 900.0)),
];
const LAMBDA_URL: &[Prop] = &[
    r("AuthType", S).rule(Rule::OneOf(&["AWS_IAM", "NONE"])),
    o("Cors", obj(CORS)),
    o("InvokeMode", S).rule(Rule::OneOf(&["BUFFERED", "RESPONSE_STREAM"])),
    o("Qualifier", S),
    r("TargetFunctionArn", S),
];
const LAMBDA_EVENT_INVOKE_CONFIG: &[Prop] = &[
    o(
        "DestinationConfig",
        obj(&[
            o("OnFailure", obj(DESTINATION)),
            o("OnSuccess", obj(DESTINATION)),
        ]),
    ),
    r("FunctionName", S),
    o("MaximumEventAgeInSeconds", I).rule(Rule::Range(60.0, 21600.0)),
    o("MaximumRetryAttempts", I).rule(Rule::Range(0.0, 2.0)),
    r("Qualifier", S),
];

// ---------------------------------------------------------------------------------------------
// API Gateway (REST).

const ENDPOINT_CONFIGURATION: &[Prop] = &[
    o("IpAddressType", S),
    o("Types", LS),
    o("VpcEndpointIds", LS),
];
const APIGW_REST_API: &[Prop] = &[
    o("ApiKeySourceType", S).rule(Rule::OneOf(&["HEADER", "AUTHORIZER"])),
    o("BinaryMediaTypes", LS),
    o("Body", J),
    o("BodyS3Location", obj(S3_LOCATION)),
    o("CloneFrom", S),
    o("Description", S),
    o("DisableExecuteApiEndpoint", B),
    o("EndpointConfiguration", obj(ENDPOINT_CONFIGURATION)),
    o("FailOnWarnings", B),
    o("MinimumCompressionSize", I),
    o("Mode", S),
    o("Name", S),
    o("Parameters", J),
    o("Policy", J),
    o("Tags", TAGS),
];
const APIGW_RESOURCE: &[Prop] = &[r("ParentId", S), r("PathPart", S), r("RestApiId", S)];
const INTEGRATION_RESPONSE: &[Prop] = &[
    o("ContentHandling", S),
    o("ResponseParameters", MS),
    o("ResponseTemplates", MS),
    o("SelectionPattern", S),
    r("StatusCode", S),
];
const APIGW_INTEGRATION: &[Prop] = &[
    o("CacheKeyParameters", LS),
    o("CacheNamespace", S),
    o("ConnectionId", S),
    o("ConnectionType", S).rule(Rule::OneOf(&["INTERNET", "VPC_LINK"])),
    o("ContentHandling", S).rule(Rule::OneOf(&["CONVERT_TO_BINARY", "CONVERT_TO_TEXT"])),
    o("Credentials", S),
    o("IntegrationHttpMethod", S),
    o("IntegrationResponses", lobj!(INTEGRATION_RESPONSE)),
    o("IntegrationTarget", S),
    o("PassthroughBehavior", S).rule(Rule::OneOf(&[
        "WHEN_NO_MATCH",
        "WHEN_NO_TEMPLATES",
        "NEVER",
    ])),
    o("RequestParameters", MS),
    o("RequestTemplates", MS),
    o("ResponseTransferMode", S),
    o("TimeoutInMillis", I).rule(Rule::Range(50.0, 29000.0)),
    r("Type", S).rule(Rule::OneOf(&[
        "AWS",
        "AWS_PROXY",
        "HTTP",
        "HTTP_PROXY",
        "MOCK",
    ])),
    o("Uri", S),
];
const METHOD_RESPONSE: &[Prop] = &[
    o("ResponseModels", MS),
    o("ResponseParameters", MS),
    r("StatusCode", S),
];
const APIGW_METHOD: &[Prop] = &[
    o("ApiKeyRequired", B),
    o("AuthorizationScopes", LS),
    o("AuthorizationType", S).rule(Rule::OneOf(&[
        "NONE",
        "AWS_IAM",
        "CUSTOM",
        "COGNITO_USER_POOLS",
    ])),
    o("AuthorizerId", S),
    r("HttpMethod", S),
    o("Integration", obj(APIGW_INTEGRATION)),
    o("MethodResponses", lobj!(METHOD_RESPONSE)),
    o("OperationName", S),
    o("RequestModels", MS),
    o("RequestParameters", MS),
    o("RequestValidatorId", S),
    r("ResourceId", S),
    r("RestApiId", S),
];
const CANARY_SETTING: &[Prop] = &[
    o("DeploymentId", S),
    o("PercentTraffic", N).rule(Rule::Range(0.0, 100.0)),
    o("StageVariableOverrides", MS),
    o("UseStageCache", B),
];
const METHOD_SETTING: &[Prop] = &[
    o("CacheDataEncrypted", B),
    o("CacheTtlInSeconds", I),
    o("CachingEnabled", B),
    o("DataTraceEnabled", B),
    o("HttpMethod", S),
    o("LoggingLevel", S).rule(Rule::OneOf(&["OFF", "ERROR", "INFO"])),
    o("MetricsEnabled", B),
    o("ResourcePath", S),
    o("ThrottlingBurstLimit", I),
    o("ThrottlingRateLimit", N),
];
const ACCESS_LOG_SETTING: &[Prop] = &[o("DestinationArn", S), o("Format", S)];
const APIGW_DEPLOYMENT: &[Prop] = &[
    o(
        "DeploymentCanarySettings",
        obj(&[
            o("PercentTraffic", N).rule(Rule::Range(0.0, 100.0)),
            o("StageVariableOverrides", MS),
            o("UseStageCache", B),
        ]),
    ),
    o("Description", S),
    r("RestApiId", S),
    o("StageDescription", J),
    o("StageName", S),
];
const APIGW_STAGE: &[Prop] = &[
    o("AccessLogSetting", obj(ACCESS_LOG_SETTING)),
    o("CacheClusterEnabled", B),
    o("CacheClusterSize", S),
    o("CanarySetting", obj(CANARY_SETTING)),
    o("ClientCertificateId", S),
    o("DeploymentId", S),
    o("Description", S),
    o("DocumentationVersion", S),
    o("MethodSettings", lobj!(METHOD_SETTING)),
    r("RestApiId", S),
    o("StageName", S),
    o("Tags", TAGS),
    o("TracingEnabled", B),
    o("Variables", MS),
];
const APIGW_ACCOUNT: &[Prop] = &[o("CloudWatchRoleArn", S)];
const APIGW_API_KEY: &[Prop] = &[
    o("CustomerId", S),
    o("Description", S),
    o("Enabled", B),
    o("GenerateDistinctId", B),
    o("Name", S),
    o("StageKeys", lobj!(&[o("RestApiId", S), o("StageName", S)])),
    o("Tags", TAGS),
    o("Value", S),
];
const THROTTLE: &[Prop] = &[o("BurstLimit", I), o("RateLimit", N)];
const APIGW_USAGE_PLAN: &[Prop] = &[
    o(
        "ApiStages",
        lobj!(&[
            o("ApiId", S),
            o("Stage", S),
            o("Throttle", Shape::Map(&Shape::Object(THROTTLE))),
        ]),
    ),
    o("Description", S),
    o(
        "Quota",
        obj(&[
            o("Limit", I),
            o("Offset", I),
            o("Period", S).rule(Rule::OneOf(&["DAY", "WEEK", "MONTH"])),
        ]),
    ),
    o("Tags", TAGS),
    o("Throttle", obj(THROTTLE)),
    o("UsagePlanName", S),
];
const APIGW_AUTHORIZER: &[Prop] = &[
    o("AuthType", S),
    o("AuthorizerCredentials", S),
    o("AuthorizerResultTtlInSeconds", I).rule(Rule::Range(0.0, 3600.0)),
    o("AuthorizerUri", S),
    o("IdentitySource", S),
    o("IdentityValidationExpression", S),
    r("Name", S),
    o("ProviderARNs", LS),
    r("RestApiId", S),
    r("Type", S).rule(Rule::OneOf(&["TOKEN", "REQUEST", "COGNITO_USER_POOLS"])),
];
const APIGW_GATEWAY_RESPONSE: &[Prop] = &[
    o("ResponseParameters", MS),
    o("ResponseTemplates", MS),
    r("ResponseType", S),
    r("RestApiId", S),
    o("StatusCode", S),
];
const APIGW_MODEL: &[Prop] = &[
    o("ContentType", S),
    o("Description", S),
    o("Name", S),
    r("RestApiId", S),
    o("Schema", J),
];
const APIGW_REQUEST_VALIDATOR: &[Prop] = &[
    o("Name", S),
    r("RestApiId", S),
    o("ValidateRequestBody", B),
    o("ValidateRequestParameters", B),
];
const APIGW_BASE_PATH_MAPPING: &[Prop] = &[
    o("BasePath", S),
    r("DomainName", S),
    o("Id", S),
    o("RestApiId", S),
    o("Stage", S),
];
const APIGW_DOMAIN_NAME: &[Prop] = &[
    o("CertificateArn", S),
    o("DomainName", S),
    o(
        "EndpointConfiguration",
        obj(&[o("IpAddressType", S), o("Types", LS)]),
    ),
    o(
        "MutualTlsAuthentication",
        obj(&[o("TruststoreUri", S), o("TruststoreVersion", S)]),
    ),
    o("OwnershipVerificationCertificateArn", S),
    o("RegionalCertificateArn", S),
    o("RoutingMode", S),
    o("SecurityPolicy", S),
    o("Tags", TAGS),
];

// ---------------------------------------------------------------------------------------------
// API Gateway V2 (HTTP and WebSocket APIs).

const APIGWV2_API: &[Prop] = &[
    o("ApiKeySelectionExpression", S),
    o("BasePath", S),
    o("Body", J),
    o(
        "BodyS3Location",
        obj(&[o("Bucket", S), o("Etag", S), o("Key", S), o("Version", S)]),
    ),
    o("CorsConfiguration", obj(CORS)),
    o("CredentialsArn", S),
    o("Description", S),
    o("DisableExecuteApiEndpoint", B),
    o("DisableSchemaValidation", B),
    o("FailOnWarnings", B),
    o("IpAddressType", S),
    o("Name", S),
    o("ProtocolType", S).rule(Rule::OneOf(&["HTTP", "WEBSOCKET"])),
    o("RouteKey", S),
    o("RouteSelectionExpression", S),
    o("Tags", MS),
    o("Target", S),
    o("Version", S),
];
const APIGWV2_ROUTE: &[Prop] = &[
    r("ApiId", S),
    o("ApiKeyRequired", B),
    o("AuthorizationScopes", LS),
    o("AuthorizationType", S).rule(Rule::OneOf(&["NONE", "AWS_IAM", "CUSTOM", "JWT"])),
    o("AuthorizerId", S),
    o("ModelSelectionExpression", S),
    o("OperationName", S),
    o("RequestModels", J),
    o("RequestParameters", J),
    r("RouteKey", S),
    o("RouteResponseSelectionExpression", S),
    o("Target", S),
];
const APIGWV2_INTEGRATION: &[Prop] = &[
    r("ApiId", S),
    o("ConnectionId", S),
    o("ConnectionType", S),
    o("ContentHandlingStrategy", S),
    o("CredentialsArn", S),
    o("Description", S),
    o("IntegrationMethod", S),
    o("IntegrationSubtype", S),
    r("IntegrationType", S).rule(Rule::OneOf(&[
        "AWS",
        "AWS_PROXY",
        "HTTP",
        "HTTP_PROXY",
        "MOCK",
    ])),
    o("IntegrationUri", S),
    o("PassthroughBehavior", S),
    o("PayloadFormatVersion", S).rule(Rule::OneOf(&["1.0", "2.0"])),
    o("RequestParameters", MS),
    o("RequestTemplates", MS),
    o("ResponseParameters", J),
    o("TemplateSelectionExpression", S),
    o("TimeoutInMillis", I).rule(Rule::Range(50.0, 30000.0)),
    o("TlsConfig", obj(&[o("ServerNameToVerify", S)])),
];
const APIGWV2_STAGE: &[Prop] = &[
    o("AccessLogSettings", obj(ACCESS_LOG_SETTING)),
    o("AccessPolicyId", S),
    r("ApiId", S),
    o("AutoDeploy", B),
    o("ClientCertificateId", S),
    o(
        "DefaultRouteSettings",
        obj(&[
            o("DataTraceEnabled", B),
            o("DetailedMetricsEnabled", B),
            o("LoggingLevel", S),
            o("ThrottlingBurstLimit", I),
            o("ThrottlingRateLimit", N),
        ]),
    ),
    o("DeploymentId", S),
    o("Description", S),
    o("RouteSettings", J),
    r("StageName", S),
    o("StageVariables", J),
    o("Tags", J),
];
const APIGWV2_DEPLOYMENT: &[Prop] = &[r("ApiId", S), o("Description", S), o("StageName", S)];
const APIGWV2_AUTHORIZER: &[Prop] = &[
    r("ApiId", S),
    o("AuthorizerCredentialsArn", S),
    o("AuthorizerPayloadFormatVersion", S),
    o("AuthorizerResultTtlInSeconds", I).rule(Rule::Range(0.0, 3600.0)),
    r("AuthorizerType", S).rule(Rule::OneOf(&["REQUEST", "JWT"])),
    o("AuthorizerUri", S),
    o("EnableSimpleResponses", B),
    o("IdentitySource", LS),
    o("IdentityValidationExpression", S),
    o(
        "JwtConfiguration",
        obj(&[o("Audience", LS), o("Issuer", S)]),
    ),
    r("Name", S),
];

// ---------------------------------------------------------------------------------------------
// S3, SNS, SQS.

const S3_NOTIFICATION_FILTER: &[Prop] = &[o(
    "S3Key",
    obj(&[r("Rules", lobj!(&[r("Name", S), r("Value", S)]))]),
)];
const S3_BUCKET: &[Prop] = &[
    o("AbacStatus", S),
    o("AccelerateConfiguration", J),
    o("AccessControl", S),
    o("AnalyticsConfigurations", LJ),
    o("BucketEncryption", J),
    o("BucketName", S),
    o("CorsConfiguration", J),
    o("IntelligentTieringConfigurations", LJ),
    o("InventoryConfigurations", LJ),
    o("LifecycleConfiguration", J),
    o("LoggingConfiguration", J),
    o("MetadataConfiguration", J),
    o("MetadataTableConfiguration", J),
    o("MetricsConfigurations", LJ),
    o(
        "NotificationConfiguration",
        obj(&[
            o(
                "EventBridgeConfiguration",
                obj(&[o("EventBridgeEnabled", B)]),
            ),
            o(
                "LambdaConfigurations",
                lobj!(&[
                    r("Event", S),
                    o("Filter", obj(S3_NOTIFICATION_FILTER)),
                    r("Function", S),
                ]),
            ),
            o(
                "QueueConfigurations",
                lobj!(&[
                    r("Event", S),
                    o("Filter", obj(S3_NOTIFICATION_FILTER)),
                    r("Queue", S),
                ]),
            ),
            o(
                "TopicConfigurations",
                lobj!(&[
                    r("Event", S),
                    o("Filter", obj(S3_NOTIFICATION_FILTER)),
                    r("Topic", S),
                ]),
            ),
        ]),
    ),
    o("ObjectLockConfiguration", J),
    o("ObjectLockEnabled", B),
    o("OwnershipControls", J),
    o(
        "PublicAccessBlockConfiguration",
        obj(&[
            o("BlockPublicAcls", B),
            o("BlockPublicPolicy", B),
            o("IgnorePublicAcls", B),
            o("RestrictPublicBuckets", B),
        ]),
    ),
    o("ReplicationConfiguration", J),
    o("Tags", TAGS),
    o(
        "VersioningConfiguration",
        obj(&[r("Status", S).rule(Rule::OneOf(&["Enabled", "Suspended"]))]),
    ),
    o("WebsiteConfiguration", J),
];
const S3_BUCKET_POLICY: &[Prop] = &[r("Bucket", S), r("PolicyDocument", J)];
const SNS_TOPIC: &[Prop] = &[
    o("ArchivePolicy", J),
    o("ContentBasedDeduplication", B),
    o("DataProtectionPolicy", J),
    o("DeliveryStatusLogging", LJ),
    o("DisplayName", S),
    o("FifoThroughputScope", S),
    o("FifoTopic", B),
    o("KmsMasterKeyId", S),
    o("SignatureVersion", S),
    o("Subscription", lobj!(&[r("Endpoint", S), r("Protocol", S)])),
    o("Tags", TAGS),
    o("TopicName", S),
    o("TracingConfig", S),
];
const SNS_SUBSCRIPTION: &[Prop] = &[
    o("DeliveryPolicy", J),
    o("Endpoint", S),
    o("FilterPolicy", J),
    o("FilterPolicyScope", S).rule(Rule::OneOf(&["MessageAttributes", "MessageBody"])),
    r("Protocol", S),
    o("RawMessageDelivery", B),
    o("RedrivePolicy", J),
    o("Region", S),
    o("ReplayPolicy", J),
    o("SubscriptionRoleArn", S),
    r("TopicArn", S),
];
const SNS_TOPIC_POLICY: &[Prop] = &[r("PolicyDocument", J), r("Topics", LS)];
const SQS_QUEUE: &[Prop] = &[
    o("ContentBasedDeduplication", B),
    o("DeduplicationScope", S),
    o("DelaySeconds", I).rule(Rule::Range(0.0, 900.0)),
    o("FifoQueue", B),
    o("FifoThroughputLimit", S),
    o("KmsDataKeyReusePeriodSeconds", I),
    o("KmsMasterKeyId", S),
    o("MaximumMessageSize", I),
    o("MessageRetentionPeriod", I).rule(Rule::Range(60.0, 1_209_600.0)),
    o("QueueName", S),
    o("ReceiveMessageWaitTimeSeconds", I).rule(Rule::Range(0.0, 20.0)),
    o("RedriveAllowPolicy", J),
    o("RedrivePolicy", J),
    o("SqsManagedSseEnabled", B),
    o("Tags", TAGS),
    o("VisibilityTimeout", I).rule(Rule::Range(0.0, 43200.0)),
];
const SQS_QUEUE_POLICY: &[Prop] = &[r("PolicyDocument", J), r("Queues", LS)];

// ---------------------------------------------------------------------------------------------
// EventBridge, Scheduler, CloudWatch, Logs, SSM.

const RETRY_POLICY: &[Prop] = &[
    o("MaximumEventAgeInSeconds", I),
    o("MaximumRetryAttempts", I),
];
const EVENTS_TARGET: &[Prop] = &[
    o("AppSyncParameters", J),
    r("Arn", S),
    o("BatchParameters", J),
    o("DeadLetterConfig", obj(&[o("Arn", S)])),
    o("EcsParameters", J),
    o("HttpParameters", J),
    r("Id", S),
    o("Input", S),
    o("InputPath", S),
    o(
        "InputTransformer",
        obj(&[o("InputPathsMap", MS), r("InputTemplate", S)]),
    ),
    o("KinesisParameters", J),
    o("RedshiftDataParameters", J),
    o("RetryPolicy", obj(RETRY_POLICY)),
    o("RoleArn", S),
    o("RunCommandParameters", J),
    o("SageMakerPipelineParameters", J),
    o("SqsParameters", obj(&[r("MessageGroupId", S)])),
];
const EVENTS_RULE: &[Prop] = &[
    o("Description", S),
    o("EventBusName", S),
    o("EventPattern", J),
    o("Name", S),
    o("RoleArn", S),
    o("ScheduleExpression", S),
    o("State", S).rule(Rule::OneOf(&[
        "DISABLED",
        "ENABLED",
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    ])),
    o("Tags", TAGS),
    o("Targets", lobj!(EVENTS_TARGET)).rule(Rule::MaxItems(5)),
];
const SCHEDULER_SCHEDULE: &[Prop] = &[
    o("ActionAfterCompletion", S).rule(Rule::OneOf(&["NONE", "DELETE"])),
    o("Description", S),
    o("EndDate", S),
    r(
        "FlexibleTimeWindow",
        obj(&[
            o("MaximumWindowInMinutes", N).rule(Rule::Range(1.0, 1440.0)),
            r("Mode", S).rule(Rule::OneOf(&["OFF", "FLEXIBLE"])),
        ]),
    ),
    o("GroupName", S),
    o("KmsKeyArn", S),
    o("Name", S),
    r("ScheduleExpression", S),
    o("ScheduleExpressionTimezone", S),
    o("StartDate", S),
    o("State", S).rule(Rule::OneOf(&["ENABLED", "DISABLED"])),
    r(
        "Target",
        obj(&[
            r("Arn", S),
            o("DeadLetterConfig", obj(&[o("Arn", S)])),
            o("EcsParameters", J),
            o("EventBridgeParameters", J),
            o("Input", S),
            o("KinesisParameters", J),
            o(
                "RetryPolicy",
                obj(&[
                    o("MaximumEventAgeInSeconds", N).rule(Rule::Range(60.0, 86400.0)),
                    o("MaximumRetryAttempts", N).rule(Rule::Range(0.0, 185.0)),
                ]),
            ),
            r("RoleArn", S),
            o("SageMakerPipelineParameters", J),
            o("SqsParameters", obj(&[o("MessageGroupId", S)])),
        ]),
    ),
];
const CLOUDWATCH_ALARM: &[Prop] = &[
    o("ActionsEnabled", B),
    o("AlarmActions", LS),
    o("AlarmDescription", S),
    o("AlarmName", S),
    r("ComparisonOperator", S).rule(Rule::OneOf(&[
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    ])),
    o("DatapointsToAlarm", I),
    o("Dimensions", lobj!(&[r("Name", S), r("Value", S)])),
    o("EvaluateLowSampleCountPercentile", S),
    r("EvaluationPeriods", I),
    o("ExtendedStatistic", S),
    o("InsufficientDataActions", LS),
    o("MetricName", S),
    o("Metrics", LJ),
    o("Namespace", S),
    o("OKActions", LS),
    o("Period", I),
    o("Statistic", S).rule(Rule::OneOf(&[
        "SampleCount",
        "Average",
        "Sum",
        "Minimum",
        "Maximum",
    ])),
    o("Tags", TAGS),
    o("Threshold", N),
    o("ThresholdMetricId", S),
    o("TreatMissingData", S).rule(Rule::OneOf(&[
        "breaching",
        "notBreaching",
        "ignore",
        "missing",
    ])),
    o("Unit", S),
];
const LOGS_LOG_GROUP: &[Prop] = &[
    o("DataProtectionPolicy", J),
    o("DeletionProtectionEnabled", B),
    o("FieldIndexPolicies", LJ),
    o("KmsKeyId", S),
    o("LogGroupClass", S).rule(Rule::OneOf(&["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"])),
    o("LogGroupName", S),
    o("ResourcePolicyDocument", J),
    o("RetentionInDays", I).rule(Rule::OneOfInt(LOG_RETENTION_DAYS)),
    o("Tags", TAGS),
];
const SSM_PARAMETER: &[Prop] = &[
    o("AllowedPattern", S),
    o("DataType", S).rule(Rule::OneOf(&["text", "aws:ec2:image"])),
    o("Description", S),
    o("Name", S),
    o("Policies", S),
    o("Tags", MS),
    o("Tier", S).rule(Rule::OneOf(&[
        "Standard",
        "Advanced",
        "Intelligent-Tiering",
    ])),
    r("Type", S).rule(Rule::OneOf(&["String", "StringList"])),
    r("Value", S),
];

// ---------------------------------------------------------------------------------------------
// CodeDeploy, CodeBuild, CodePipeline.

const CODEDEPLOY_APPLICATION: &[Prop] = &[
    o("ApplicationName", S),
    o("ComputePlatform", S).rule(Rule::OneOf(&["Lambda", "Server", "ECS"])),
    o("Tags", TAGS),
];
const CODEDEPLOY_DEPLOYMENT_GROUP: &[Prop] = &[
    o(
        "AlarmConfiguration",
        obj(&[
            o("Alarms", lobj!(&[o("Name", S)])),
            o("Enabled", B),
            o("IgnorePollAlarmFailure", B),
        ]),
    ),
    r("ApplicationName", S),
    o(
        "AutoRollbackConfiguration",
        obj(&[o("Enabled", B), o("Events", LS)]),
    ),
    o("AutoScalingGroups", LS),
    o("BlueGreenDeploymentConfiguration", J),
    o("Deployment", J),
    o("DeploymentConfigName", S),
    o("DeploymentGroupName", S),
    o(
        "DeploymentStyle",
        obj(&[
            o("DeploymentOption", S).rule(Rule::OneOf(&[
                "WITH_TRAFFIC_CONTROL",
                "WITHOUT_TRAFFIC_CONTROL",
            ])),
            o("DeploymentType", S).rule(Rule::OneOf(&["IN_PLACE", "BLUE_GREEN"])),
        ]),
    ),
    o("ECSServices", LJ),
    o("Ec2TagFilters", LJ),
    o("Ec2TagSet", J),
    o("LoadBalancerInfo", J),
    o("OnPremisesInstanceTagFilters", LJ),
    o("OnPremisesTagSet", J),
    o("OutdatedInstancesStrategy", S),
    r("ServiceRoleArn", S),
    o("Tags", TAGS),
    o("TerminationHookEnabled", B),
    o(
        "TriggerConfigurations",
        lobj!(&[
            o("TriggerEvents", LS),
            o("TriggerName", S),
            o("TriggerTargetArn", S),
        ]),
    ),
];
const CODEDEPLOY_DEPLOYMENT_CONFIG: &[Prop] = &[
    o("ComputePlatform", S).rule(Rule::OneOf(&["Lambda", "Server", "ECS"])),
    o("DeploymentConfigName", S),
    o(
        "MinimumHealthyHosts",
        obj(&[
            r("Type", S).rule(Rule::OneOf(&["HOST_COUNT", "FLEET_PERCENT"])),
            r("Value", I),
        ]),
    ),
    o(
        "TrafficRoutingConfig",
        obj(&[
            o(
                "TimeBasedCanary",
                obj(&[r("CanaryInterval", I), r("CanaryPercentage", I)]),
            ),
            o(
                "TimeBasedLinear",
                obj(&[r("LinearInterval", I), r("LinearPercentage", I)]),
            ),
            r("Type", S).rule(Rule::OneOf(&[
                "AllAtOnce",
                "TimeBasedCanary",
                "TimeBasedLinear",
            ])),
        ]),
    ),
    o("ZonalConfig", J),
];
const CODEBUILD_ARTIFACTS: &[Prop] = &[
    o("ArtifactIdentifier", S),
    o("BucketOwnerAccess", S),
    o("EncryptionDisabled", B),
    o("Location", S),
    o("Name", S),
    o("NamespaceType", S),
    o("OverrideArtifactName", B),
    o("Packaging", S).rule(Rule::OneOf(&["NONE", "ZIP"])),
    o("Path", S),
    r("Type", S).rule(Rule::OneOf(&["CODEPIPELINE", "NO_ARTIFACTS", "S3"])),
];
const CODEBUILD_SOURCE: &[Prop] = &[
    o("Auth", J),
    o("BuildSpec", S),
    o("BuildStatusConfig", J),
    o("GitCloneDepth", I),
    o("GitSubmodulesConfig", J),
    o("InsecureSsl", B),
    o("Location", S),
    o("ReportBuildStatus", B),
    o("SourceIdentifier", S),
    r("Type", S).rule(Rule::OneOf(&[
        "BITBUCKET",
        "CODECOMMIT",
        "CODEPIPELINE",
        "GITHUB",
        "GITHUB_ENTERPRISE",
        "GITLAB",
        "GITLAB_SELF_MANAGED",
        "NO_SOURCE",
        "S3",
    ])),
];
const CODEBUILD_PROJECT: &[Prop] = &[
    r("Artifacts", obj(CODEBUILD_ARTIFACTS)),
    o("AutoRetryLimit", I),
    o("BadgeEnabled", B),
    o("BuildBatchConfig", J),
    o(
        "Cache",
        obj(&[
            o("CacheNamespace", S),
            o("Location", S),
            o("Modes", LS),
            r("Type", S).rule(Rule::OneOf(&["NO_CACHE", "LOCAL", "S3"])),
        ]),
    ),
    o("ConcurrentBuildLimit", I),
    o("Description", S),
    o("EncryptionKey", S),
    r(
        "Environment",
        obj(&[
            o("Certificate", S),
            r("ComputeType", S),
            o("DockerServer", J),
            o(
                "EnvironmentVariables",
                lobj!(&[
                    r("Name", S),
                    o("Type", S).rule(Rule::OneOf(&[
                        "PLAINTEXT",
                        "PARAMETER_STORE",
                        "SECRETS_MANAGER",
                    ])),
                    r("Value", S),
                ]),
            ),
            o("Fleet", J),
            r("Image", S),
            o("ImagePullCredentialsType", S).rule(Rule::OneOf(&["CODEBUILD", "SERVICE_ROLE"])),
            o("PrivilegedMode", B),
            o("RegistryCredential", J),
            r("Type", S),
        ]),
    ),
    o("FileSystemLocations", LJ),
    o("LogsConfig", J),
    o("Name", S),
    o("QueuedTimeoutInMinutes", I).rule(Rule::Range(5.0, 480.0)),
    o("ResourceAccessRole", S),
    o("SecondaryArtifacts", lobj!(CODEBUILD_ARTIFACTS)),
    o("SecondarySourceVersions", LJ),
    o("SecondarySources", lobj!(CODEBUILD_SOURCE)),
    r("ServiceRole", S),
    r("Source", obj(CODEBUILD_SOURCE)),
    o("SourceVersion", S),
    o("Tags", TAGS),
    o("TimeoutInMinutes", I).rule(Rule::Range(5.0, 2160.0)),
    o("Triggers", J),
    o("Visibility", S),
    o("VpcConfig", J),
];
const PIPELINE_ARTIFACT_STORE: &[Prop] = &[
    o("EncryptionKey", obj(&[r("Id", S), r("Type", S)])),
    r("Location", S),
    r("Type", S).rule(Rule::OneOf(&["S3"])),
];
const PIPELINE_ACTION: &[Prop] = &[
    r(
        "ActionTypeId",
        obj(&[
            r("Category", S).rule(Rule::OneOf(&[
                "Source", "Build", "Test", "Deploy", "Invoke", "Approval", "Compute",
            ])),
            r("Owner", S).rule(Rule::OneOf(&["AWS", "ThirdParty", "Custom"])),
            r("Provider", S),
            r("Version", S),
        ]),
    ),
    o("Commands", LS),
    o("Configuration", J),
    o("EnvironmentVariables", LJ),
    o("InputArtifacts", lobj!(&[r("Name", S)])),
    r("Name", S),
    o("Namespace", S),
    o("OutputArtifacts", lobj!(&[o("Files", LS), r("Name", S)])),
    o("OutputVariables", LS),
    o("Region", S),
    o("RoleArn", S),
    o("RunOrder", I).rule(Rule::Range(1.0, 999.0)),
    o("TimeoutInMinutes", I),
];
const CODEPIPELINE_PIPELINE: &[Prop] = &[
    o("ArtifactStore", obj(PIPELINE_ARTIFACT_STORE)),
    o(
        "ArtifactStores",
        lobj!(&[
            r("ArtifactStore", obj(PIPELINE_ARTIFACT_STORE)),
            r("Region", S)
        ]),
    ),
    o(
        "DisableInboundStageTransitions",
        lobj!(&[r("Reason", S), r("StageName", S)]),
    ),
    o("ExecutionMode", S).rule(Rule::OneOf(&["QUEUED", "SUPERSEDED", "PARALLEL"])),
    o("Name", S),
    o("PipelineType", S).rule(Rule::OneOf(&["V1", "V2"])),
    o("RestartExecutionOnUpdate", B),
    r("RoleArn", S),
    r(
        "Stages",
        lobj!(&[
            r("Actions", lobj!(PIPELINE_ACTION)),
            o("BeforeEntry", J),
            o("Blockers", LJ),
            r("Name", S),
            o("OnFailure", J),
            o("OnSuccess", J),
        ]),
    ),
    o("Tags", TAGS),
    o("Triggers", LJ),
    o(
        "Variables",
        lobj!(&[o("DefaultValue", S), o("Description", S), r("Name", S)]),
    ),
];

// ---------------------------------------------------------------------------------------------
// DynamoDB.

const KEY_SCHEMA: Shape = lobj!(&[
    r("AttributeName", S),
    r("KeyType", S).rule(Rule::OneOf(&["HASH", "RANGE"])),
]);
const PROVISIONED_THROUGHPUT: &[Prop] = &[r("ReadCapacityUnits", I), r("WriteCapacityUnits", I)];
const DYNAMODB_TABLE: &[Prop] = &[
    o(
        "AttributeDefinitions",
        lobj!(&[
            r("AttributeName", S),
            r("AttributeType", S).rule(Rule::OneOf(&["S", "N", "B"])),
        ]),
    ),
    o("BillingMode", S).rule(Rule::OneOf(&["PROVISIONED", "PAY_PER_REQUEST"])),
    o("ContributorInsightsSpecification", J),
    o("DeletionProtectionEnabled", B),
    o(
        "GlobalSecondaryIndexes",
        lobj!(&[
            o("ContributorInsightsSpecification", J),
            r("IndexName", S),
            r("KeySchema", KEY_SCHEMA),
            o("OnDemandThroughput", J),
            r("Projection", J),
            o("ProvisionedThroughput", obj(PROVISIONED_THROUGHPUT)),
            o("WarmThroughput", J),
        ]),
    ),
    o("ImportSourceSpecification", J),
    r("KeySchema", KEY_SCHEMA),
    o("KinesisStreamSpecification", J),
    o(
        "LocalSecondaryIndexes",
        lobj!(&[
            r("IndexName", S),
            r("KeySchema", KEY_SCHEMA),
            r("Projection", J)
        ]),
    ),
    o("OnDemandThroughput", J),
    o("PointInTimeRecoverySpecification", J),
    o("ProvisionedThroughput", obj(PROVISIONED_THROUGHPUT)),
    o("ResourcePolicy", J),
    o("SSESpecification", J),
    o(
        "StreamSpecification",
        obj(&[
            o("ResourcePolicy", J),
            r("StreamViewType", S).rule(Rule::OneOf(&[
                "KEYS_ONLY",
                "NEW_IMAGE",
                "OLD_IMAGE",
                "NEW_AND_OLD_IMAGES",
            ])),
        ]),
    ),
    o("TableClass", S),
    o("TableName", S),
    o("Tags", TAGS),
    o(
        "TimeToLiveSpecification",
        obj(&[o("AttributeName", S), r("Enabled", B)]),
    ),
    o("WarmThroughput", J),
];

// ---------------------------------------------------------------------------------------------
// IAM (recorded, not enforced).

const IAM_ROLE: &[Prop] = &[
    r("AssumeRolePolicyDocument", J),
    o("Description", S),
    o("ManagedPolicyArns", LS),
    o("MaxSessionDuration", I).rule(Rule::Range(3600.0, 43200.0)),
    o("Path", S),
    o("PermissionsBoundary", S),
    o("Policies", lobj!(INLINE_POLICY)),
    o("RoleName", S),
    o("Tags", TAGS),
];
const IAM_POLICY: &[Prop] = &[
    o("Groups", LS),
    r("PolicyDocument", J),
    r("PolicyName", S),
    o("Roles", LS),
    o("Users", LS),
];
const IAM_MANAGED_POLICY: &[Prop] = &[
    o("Description", S),
    o("Groups", LS),
    o("ManagedPolicyName", S),
    o("Path", S),
    r("PolicyDocument", J),
    o("Roles", LS),
    o("Users", LS),
];
const IAM_INSTANCE_PROFILE: &[Prop] = &[o("InstanceProfileName", S), o("Path", S), r("Roles", LS)];
const IAM_USER: &[Prop] = &[
    o("Groups", LS),
    o(
        "LoginProfile",
        obj(&[r("Password", S), o("PasswordResetRequired", B)]),
    ),
    o("ManagedPolicyArns", LS),
    o("Path", S),
    o("PermissionsBoundary", S),
    o("Policies", lobj!(INLINE_POLICY)),
    o("Tags", TAGS),
    o("UserName", S),
];
const IAM_GROUP: &[Prop] = &[
    o("GroupName", S),
    o("ManagedPolicyArns", LS),
    o("Path", S),
    o("Policies", lobj!(INLINE_POLICY)),
];
const IAM_ACCESS_KEY: &[Prop] = &[
    o("Serial", I),
    o("Status", S).rule(Rule::OneOf(&["Active", "Inactive"])),
    r("UserName", S),
];

// ---------------------------------------------------------------------------------------------
// CloudFormation.

const CFN_STACK: &[Prop] = &[
    o("NotificationARNs", LS),
    o("Parameters", MS),
    o("Tags", TAGS),
    r("TemplateURL", S),
    o("TimeoutInMinutes", I),
];

types! {
    "AWS::Lambda::Function" => "name",
        ["Arn", "SnapStartResponse", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus"],
        LAMBDA_FUNCTION;
    "AWS::Lambda::Version" => "arn", ["FunctionArn", "Id", "Version"], LAMBDA_VERSION;
    "AWS::Lambda::Alias" => "arn", ["AliasArn"], LAMBDA_ALIAS;
    "AWS::Lambda::Permission" => "id", ["Id"], LAMBDA_PERMISSION;
    "AWS::Lambda::LayerVersion" => "arn", ["LayerVersionArn"], LAMBDA_LAYER_VERSION;
    "AWS::Lambda::LayerVersionPermission" => "id", ["Id"], LAMBDA_LAYER_VERSION_PERMISSION;
    "AWS::Lambda::EventSourceMapping" => "id", ["EventSourceMappingArn", "Id"], LAMBDA_EVENT_SOURCE_MAPPING;
    "AWS::Lambda::Url" => "arn", ["FunctionArn", "FunctionUrl"], LAMBDA_URL;
    "AWS::Lambda::EventInvokeConfig" => "id", [], LAMBDA_EVENT_INVOKE_CONFIG;
    "AWS::ApiGateway::RestApi" => "id", ["RestApiId", "RootResourceId"], APIGW_REST_API;
    "AWS::ApiGateway::Resource" => "id", ["ResourceId"], APIGW_RESOURCE;
    "AWS::ApiGateway::Method" => "id", [], APIGW_METHOD;
    "AWS::ApiGateway::Deployment" => "id", ["DeploymentId"], APIGW_DEPLOYMENT;
    "AWS::ApiGateway::Stage" => "name", [], APIGW_STAGE;
    "AWS::ApiGateway::Account" => "id", ["Id"], APIGW_ACCOUNT;
    "AWS::ApiGateway::ApiKey" => "id", ["APIKeyId"], APIGW_API_KEY;
    "AWS::ApiGateway::UsagePlan" => "id", ["Id"], APIGW_USAGE_PLAN;
    "AWS::ApiGateway::Authorizer" => "id", ["AuthorizerId"], APIGW_AUTHORIZER;
    "AWS::ApiGateway::GatewayResponse" => "id", ["Id"], APIGW_GATEWAY_RESPONSE;
    "AWS::ApiGateway::Model" => "name", [], APIGW_MODEL;
    "AWS::ApiGateway::RequestValidator" => "id", ["RequestValidatorId"], APIGW_REQUEST_VALIDATOR;
    "AWS::ApiGateway::BasePathMapping" => "id", [], APIGW_BASE_PATH_MAPPING;
    "AWS::ApiGateway::DomainName" => "name",
        ["DistributionDomainName", "DistributionHostedZoneId", "DomainNameArn", "RegionalDomainName", "RegionalHostedZoneId"],
        APIGW_DOMAIN_NAME;
    "AWS::ApiGatewayV2::Api" => "id", ["ApiEndpoint", "ApiId"], APIGWV2_API;
    "AWS::ApiGatewayV2::Route" => "id", ["RouteId"], APIGWV2_ROUTE;
    "AWS::ApiGatewayV2::Integration" => "id", ["IntegrationId"], APIGWV2_INTEGRATION;
    "AWS::ApiGatewayV2::Stage" => "name", [], APIGWV2_STAGE;
    "AWS::ApiGatewayV2::Deployment" => "id", ["DeploymentId"], APIGWV2_DEPLOYMENT;
    "AWS::ApiGatewayV2::Authorizer" => "id", ["AuthorizerId"], APIGWV2_AUTHORIZER;
    "AWS::S3::Bucket" => "name",
        ["Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL",
         "MetadataTableConfiguration.S3TablesDestination.TableArn",
         "MetadataTableConfiguration.S3TablesDestination.TableNamespace"],
        S3_BUCKET;
    "AWS::S3::BucketPolicy" => "id", [], S3_BUCKET_POLICY;
    "AWS::SNS::Topic" => "arn", ["TopicArn", "TopicName"], SNS_TOPIC;
    "AWS::SNS::Subscription" => "arn", ["Arn"], SNS_SUBSCRIPTION;
    "AWS::SNS::TopicPolicy" => "id", ["Id"], SNS_TOPIC_POLICY;
    "AWS::SQS::Queue" => "url", ["Arn", "QueueName", "QueueUrl"], SQS_QUEUE;
    "AWS::SQS::QueuePolicy" => "id", ["Id"], SQS_QUEUE_POLICY;
    "AWS::Events::Rule" => "name", ["Arn"], EVENTS_RULE;
    "AWS::Scheduler::Schedule" => "name", ["Arn"], SCHEDULER_SCHEDULE;
    "AWS::CloudWatch::Alarm" => "name", ["Arn"], CLOUDWATCH_ALARM;
    "AWS::Logs::LogGroup" => "name", ["Arn"], LOGS_LOG_GROUP;
    "AWS::SSM::Parameter" => "name", ["Type", "Value"], SSM_PARAMETER;
    "AWS::CodeDeploy::Application" => "name", [], CODEDEPLOY_APPLICATION;
    "AWS::CodeDeploy::DeploymentGroup" => "name", ["Id"], CODEDEPLOY_DEPLOYMENT_GROUP;
    "AWS::CodeDeploy::DeploymentConfig" => "name", [], CODEDEPLOY_DEPLOYMENT_CONFIG;
    "AWS::CodeBuild::Project" => "name", ["Arn", "Id"], CODEBUILD_PROJECT;
    "AWS::CodePipeline::Pipeline" => "name", ["Version"], CODEPIPELINE_PIPELINE;
    "AWS::DynamoDB::Table" => "name", ["Arn", "StreamArn"], DYNAMODB_TABLE;
    "AWS::IAM::Role" => "name", ["Arn", "RoleId"], IAM_ROLE;
    "AWS::IAM::Policy" => "id", ["Id"], IAM_POLICY;
    "AWS::IAM::ManagedPolicy" => "arn",
        ["AttachmentCount", "CreateDate", "DefaultVersionId", "IsAttachable",
         "PermissionsBoundaryUsageCount", "PolicyArn", "PolicyId", "UpdateDate"],
        IAM_MANAGED_POLICY;
    "AWS::IAM::InstanceProfile" => "name", ["Arn"], IAM_INSTANCE_PROFILE;
    "AWS::IAM::User" => "name", ["Arn"], IAM_USER;
    "AWS::IAM::Group" => "name", ["Arn"], IAM_GROUP;
    "AWS::IAM::AccessKey" => "id", ["SecretAccessKey"], IAM_ACCESS_KEY;
    "AWS::CloudFormation::WaitConditionHandle" => "url", [], &[];
    "AWS::CloudFormation::Stack" => "arn", [], CFN_STACK;
}

// ---------------------------------------------------------------------------------------------
// Look-ups.

/// The schema of a supported (non-SAM) resource type.
pub fn lookup(type_: &str) -> Option<&'static TypeSchema> {
    TYPES.iter().find(|t| t.name == type_)
}

/// Every supported type name, for "did you mean" on an unsupported type.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// What `Ref` on a resource of `type_` returns, as CloudFormation documents it under "Return
/// values": `"name"` (the physical name), `"arn"`, `"id"` (a service-generated identifier) or
/// `"url"` (an SQS queue URL, a wait-condition presigned URL).
pub fn ref_kind(type_: &str) -> Option<&'static str> {
    lookup(type_).map(|t| t.ref_returns)
}

/// For `Fn::GetAtt`: whether `type_` has `attr`.
pub fn attribute_check(type_: &str, attr: &str) -> AttributeCheck {
    match lookup(type_) {
        // A nested stack's outputs are only known from its template.
        Some(s) if s.name == "AWS::CloudFormation::Stack" && attr.starts_with("Outputs.") => {
            AttributeCheck::Yes
        }
        Some(s) if s.attributes.contains(&attr) => AttributeCheck::Yes,
        Some(s) => AttributeCheck::No(s.attributes.iter().map(|a| (*a).to_owned()).collect()),
        None => AttributeCheck::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// Checking.

/// Checks a resource's (evaluated) properties against its type's schema: unknown properties
/// (with a "did you mean"), missing required ones, and values of the wrong shape or outside
/// what the property accepts. Every problem is reported.
///
/// A missing required property has no node of its own to point at; when the caller has the
/// `Properties` node, [`check_properties_node`] points at it.
pub fn check_properties(
    schema: &TypeSchema,
    props: &Map,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) {
    check_object(schema.name, schema.properties, props, None, path, diags);
    check_type_rules(schema, props, None, path, diags);
}

/// [`check_properties`] for a `Properties` node: a missing required property is reported at
/// the node's position, and a `Properties` that is not a mapping is a `WrongType`.
pub fn check_properties_node(
    schema: &TypeSchema,
    props: &Node,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) {
    match props.as_map() {
        Some(m) if props.intrinsic().is_none() => {
            check_object(
                schema.name,
                schema.properties,
                m,
                Some(props.pos),
                path,
                diags,
            );
            check_type_rules(schema, m, Some(props.pos), path, diags);
        }
        _ => diags.push(wrong_type(props, path, "a mapping of properties")),
    }
}

fn check_object(
    owner: &str,
    props: &'static [Prop],
    map: &Map,
    pos: Option<Pos>,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) {
    for (key, entry) in map.iter_entries() {
        let kpath = path.key(key);
        match props.iter().find(|p| p.name == key) {
            Some(p) => check_value(p, &entry.value, &kpath, diags),
            None => {
                let mut d = Diagnostic::error(
                    Code::UnknownProperty,
                    format!("{owner} has no property '{key}'"),
                )
                .at(entry.key_pos)
                .path(kpath.to_string());
                d = match did_you_mean(key, props.iter().map(|p| p.name)) {
                    Some(s) => d.help(format!("did you mean '{s}'?")),
                    None => d.help(format!(
                        "the properties of {owner} are: {}",
                        props.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                    )),
                };
                diags.push(d);
            }
        }
    }
    for p in props
        .iter()
        .filter(|p| p.required && !map.contains_key(p.name))
    {
        let mut d = Diagnostic::error(
            Code::MissingRequired,
            format!("{owner} requires property '{}'", p.name),
        )
        .path(path.to_string());
        if let Some(pos) = pos {
            d = d.at(pos);
        }
        diags.push(d);
    }
}

/// Rules that tie several properties of one type together.
fn check_type_rules(
    schema: &TypeSchema,
    props: &Map,
    pos: Option<Pos>,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) {
    let missing = |message: String, pos: Option<Pos>, path: &Path<'_>| {
        let d = Diagnostic::error(Code::MissingRequired, message).path(path.to_string());
        match pos {
            Some(p) => d.at(p),
            None => d,
        }
    };
    match schema.name {
        "AWS::Events::Rule"
            if !props.contains_key("EventPattern") && !props.contains_key("ScheduleExpression") =>
        {
            diags.push(missing(
                "AWS::Events::Rule requires 'EventPattern' or 'ScheduleExpression'".into(),
                pos,
                path,
            ));
        }
        "AWS::CodePipeline::Pipeline" => {
            match (props.entry("ArtifactStore"), props.entry("ArtifactStores")) {
                (None, None) => diags.push(missing(
                    "AWS::CodePipeline::Pipeline requires 'ArtifactStore' or 'ArtifactStores'"
                        .into(),
                    pos,
                    path,
                )),
                (Some(_), Some(e)) => diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        "'ArtifactStore' and 'ArtifactStores' cannot both be given",
                    )
                    .at(e.key_pos)
                    .path(path.key("ArtifactStores").to_string())
                    .help("use ArtifactStores (one per region) for a cross-region pipeline, ArtifactStore otherwise"),
                ),
                _ => {}
            }
        }
        "AWS::Lambda::Function" => {
            let image = props
                .get("PackageType")
                .and_then(Node::as_str)
                .is_some_and(|t| t == "Image");
            if !image {
                // Lambda: "Runtime and Handler are mandatory parameters for functions created
                // with deployment packages."
                for key in ["Handler", "Runtime"] {
                    if !props.contains_key(key) {
                        diags.push(
                            missing(
                                format!(
                                    "a Zip-packaged AWS::Lambda::Function requires property '{key}'"
                                ),
                                pos,
                                path,
                            )
                            .help("set PackageType: Image for a container image function"),
                        );
                    }
                }
            }
            let Some(code_node) = props.get("Code").filter(|n| n.intrinsic().is_none()) else {
                return;
            };
            let Some(code) = code_node.as_map() else {
                return;
            };
            let cpath = path.key("Code");
            let has = |k: &str| code.contains_key(k);
            if image && !has("ImageUri") {
                diags.push(missing(
                    "'Code' of an Image-packaged function requires property 'ImageUri'".into(),
                    Some(code_node.pos),
                    &cpath,
                ));
            } else if !image {
                match (has("S3Bucket"), has("S3Key")) {
                    (true, false) | (false, true) => {
                        let need = if has("S3Bucket") { "S3Key" } else { "S3Bucket" };
                        diags.push(missing(
                            format!("'Code' with an S3 location requires property '{need}'"),
                            Some(code_node.pos),
                            &cpath,
                        ));
                    }
                    (false, false) if !has("ZipFile") => diags.push(missing(
                        "'Code' requires 'ZipFile', or 'S3Bucket' and 'S3Key'".into(),
                        Some(code_node.pos),
                        &cpath,
                    )),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn check_value(prop: &Prop, node: &Node, path: &Path<'_>, diags: &mut Diagnostics) {
    if check_shape(prop.name, &prop.shape, node, path, diags) {
        check_rule(prop.rule, node, path, diags);
    }
}

/// Intrinsic functions that can only produce a string (or a list of strings), never a
/// mapping: left in a value after evaluation, they cannot stand where an object is expected.
const SCALAR_FUNCTIONS: &[&str] = &[
    "Ref",
    "Fn::Sub",
    "Fn::Join",
    "Fn::Base64",
    "Fn::ImportValue",
    "Fn::GetAZs",
    "Fn::Split",
    "Fn::Cidr",
    "Fn::Length",
    "Fn::ToJsonString",
];

/// Checks `node` against `shape`; true when the node has the shape (and so its value rule
/// may be checked).
fn check_shape(
    name: &str,
    shape: &Shape,
    node: &Node,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) -> bool {
    if let Some((f, _)) = node.intrinsic() {
        // Unknown until deployment.
        let may_be_mapping = !SCALAR_FUNCTIONS.contains(&f);
        if matches!(shape, Shape::Object(_) | Shape::Map(_)) && !may_be_mapping {
            diags.push(wrong_type(node, path, expected(shape)));
        }
        return false;
    }
    if node.is_null() && !matches!(shape, Shape::Json) {
        diags.push(wrong_type(node, path, expected(shape)).help(
            "CloudFormation does not allow null values; remove the property or use AWS::NoValue",
        ));
        return false;
    }
    let ok = match (shape, &node.kind) {
        (Shape::Json, _) => true,
        (Shape::String, k) => matches!(k, Kind::String(_) | Kind::Number(_) | Kind::Bool(_)),
        (Shape::Integer, Kind::Number(n)) => n.is_integer(),
        (Shape::Integer, Kind::String(s)) => s.trim().parse::<i64>().is_ok(),
        (Shape::Number, Kind::Number(_)) => true,
        (Shape::Number, Kind::String(s)) => crate::syntax::Number::parse(s).is_some(),
        (Shape::Boolean, Kind::Bool(_)) => true,
        (Shape::Boolean, Kind::String(s)) => {
            s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
        }
        (Shape::List(item), Kind::Seq(items)) => {
            for (i, it) in items.iter().enumerate() {
                check_shape(name, item, it, &path.index(i), diags);
            }
            true
        }
        (Shape::Tags, Kind::Seq(items)) => {
            for (i, it) in items.iter().enumerate() {
                let ipath = path.index(i);
                check_item_object("a tag", TAG, it, &ipath, diags);
            }
            true
        }
        (Shape::Map(value), Kind::Map(m)) => {
            for (k, v) in m.iter() {
                check_shape(k, value, v, &path.key(k), diags);
            }
            true
        }
        (Shape::Object(props), Kind::Map(m)) => {
            check_object(&format!("'{name}'"), props, m, Some(node.pos), path, diags);
            true
        }
        _ => false,
    };
    if !ok {
        diags.push(wrong_type(node, path, expected(shape)));
    }
    ok
}

/// An object inside a list: its rules are checked too.
fn check_item_object(
    owner: &str,
    props: &'static [Prop],
    node: &Node,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) {
    if node.intrinsic().is_some() {
        return;
    }
    match node.as_map() {
        Some(m) => check_object(owner, props, m, Some(node.pos), path, diags),
        None => diags.push(wrong_type(node, path, "a mapping")),
    }
}

fn check_rule(rule: Rule, node: &Node, path: &Path<'_>, diags: &mut Diagnostics) {
    match rule {
        Rule::None => {}
        Rule::Range(lo, hi) => {
            if let Some(v) = number_value(node).filter(|v| *v < lo || *v > hi) {
                let text = node.scalar_text().unwrap_or_else(|| v.to_string());
                diags.push(invalid(
                    node,
                    path,
                    format!(
                        "{text} is outside the allowed range {} to {}",
                        fmt_num(lo),
                        fmt_num(hi)
                    ),
                ));
            }
        }
        Rule::MaxItems(max) => {
            if let Some(items) = node.as_seq().filter(|s| s.len() > max) {
                diags.push(invalid(
                    node,
                    path,
                    format!("{} items given, at most {max} allowed", items.len()),
                ));
            }
        }
        Rule::OneOf(allowed) => {
            if let Some(text) = node
                .scalar_text()
                .filter(|t| !allowed.contains(&t.as_str()))
            {
                let mut d = invalid(node, path, format!("'{text}' is not an accepted value"));
                d = match did_you_mean(&text, allowed.iter().copied()) {
                    Some(s) => d.help(format!("did you mean '{s}'?")),
                    None if allowed.len() <= 12 => {
                        d.help(format!("accepted values: {}", allowed.join(", ")))
                    }
                    None => d,
                };
                diags.push(d);
            }
        }
        Rule::OneOfInt(allowed) => {
            let v = number_value(node);
            if v.is_some_and(|v| !allowed.iter().any(|a| *a as f64 == v)) {
                let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
                diags.push(
                    invalid(
                        node,
                        path,
                        format!(
                            "{} is not an accepted value",
                            node.scalar_text().unwrap_or_default()
                        ),
                    )
                    .help(format!("accepted values: {}", list.join(", "))),
                );
            }
        }
    }
}

fn number_value(node: &Node) -> Option<f64> {
    match &node.kind {
        Kind::Number(n) => n.as_f64(),
        Kind::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

fn expected(shape: &Shape) -> &'static str {
    match shape {
        Shape::String => "a string",
        Shape::Integer => "an integer",
        Shape::Number => "a number",
        Shape::Boolean => "a boolean",
        Shape::Json => "a JSON value",
        Shape::List(_) => "a list",
        Shape::Tags => "a list of Key/Value tags",
        Shape::Map(_) | Shape::Object(_) => "a mapping",
    }
}

fn wrong_type(node: &Node, path: &Path<'_>, expected: &str) -> Diagnostic {
    let found = match node.intrinsic() {
        Some((f, _)) => format!("the result of {f}"),
        None => node.type_name().to_owned(),
    };
    Diagnostic::error(
        Code::WrongType,
        format!("expected {expected}, found {found}"),
    )
    .at(node.pos)
    .path(path.to_string())
}

fn invalid(node: &Node, path: &Path<'_>, message: String) -> Diagnostic {
    Diagnostic::error(Code::InvalidValue, message)
        .at(node.pos)
        .path(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{TagMode, parse_yaml};

    /// Checks the properties written in `yaml` against `type_`.
    fn check(type_: &str, yaml: &str) -> Vec<Diagnostic> {
        let node = parse_yaml(yaml, TagMode::CloudFormation)
            .root
            .expect("parses");
        let schema = lookup(type_).expect("type is supported");
        let root = Path::root("Resources");
        let r = root.key("Fn");
        let path = r.key("Properties");
        let mut diags = Diagnostics::new();
        check_properties_node(schema, &node, &path, &mut diags);
        diags.iter().cloned().collect()
    }

    const FUNCTION: &str = "\
Code:
  S3Bucket: b
  S3Key: k.zip
Role: arn:aws:iam::111111111111:role/r
Handler: app.handler
Runtime: python3.12
";

    #[test]
    fn valid_function_passes() {
        assert_eq!(check("AWS::Lambda::Function", FUNCTION), vec![]);
    }

    #[test]
    fn unknown_property_has_suggestion_and_position() {
        let d = check("AWS::Lambda::Function", &format!("{FUNCTION}Timout: 30\n"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::UnknownProperty);
        assert_eq!(d[0].pos(), Some(Pos::new(7, 1)));
        assert_eq!(d[0].path, "Resources.Fn.Properties.Timout");
        assert_eq!(d[0].help.as_deref(), Some("did you mean 'Timeout'?"));
    }

    #[test]
    fn missing_required_reported_together() {
        let d = check(
            "AWS::Lambda::Function",
            "Handler: app.handler\nRuntime: python3.12\n",
        );
        let missing: Vec<_> = d
            .iter()
            .filter(|d| d.code == Code::MissingRequired)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            missing,
            [
                "AWS::Lambda::Function requires property 'Code'",
                "AWS::Lambda::Function requires property 'Role'",
            ]
        );
        assert!(d.iter().all(|d| d.path == "Resources.Fn.Properties"));
        assert!(d.iter().all(|d| d.pos() == Some(Pos::new(1, 1))));
    }

    #[test]
    fn wrong_types() {
        let d = check(
            "AWS::Lambda::Function",
            &format!("{FUNCTION}Timeout: [1]\nLayers: arn:layer\nEnvironment: text\n"),
        );
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.code, d.path.as_str(), d.pos()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Code::WrongType,
                    "Resources.Fn.Properties.Timeout",
                    Some(Pos::new(7, 10))
                ),
                (
                    Code::WrongType,
                    "Resources.Fn.Properties.Layers",
                    Some(Pos::new(8, 9))
                ),
                (
                    Code::WrongType,
                    "Resources.Fn.Properties.Environment",
                    Some(Pos::new(9, 14))
                ),
            ]
        );
        assert_eq!(d[0].message, "expected an integer, found list");
    }

    #[test]
    fn strings_for_numbers_and_booleans_accepted() {
        let d = check(
            "AWS::Lambda::Function",
            &format!("{FUNCTION}Timeout: \"30\"\nMemorySize: 512\nDescription: 12\n"),
        );
        assert_eq!(d, vec![]);
        let d = check(
            "AWS::ApiGateway::Method",
            "HttpMethod: GET\nResourceId: r\nRestApiId: a\nApiKeyRequired: \"true\"\n",
        );
        assert_eq!(d, vec![]);
        let d = check(
            "AWS::ApiGateway::Method",
            "HttpMethod: GET\nResourceId: r\nRestApiId: a\nApiKeyRequired: maybe\n",
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::WrongType);
    }

    #[test]
    fn intrinsics_accepted() {
        let d = check(
            "AWS::Lambda::Function",
            "\
Code:
  S3Bucket: !Ref Bucket
  S3Key: !Sub '${AWS::StackName}/k.zip'
Role: !GetAtt Role.Arn
Handler: !Ref Handler
Runtime: !Ref Runtime
Timeout: !Ref Param
Layers: !Split [',', !ImportValue layers]
VpcConfig:
  SubnetIds: !GetAtt Vpc.Subnets
Environment:
  Variables:
    TABLE: !Ref Table
Tags: !If [C, [], []]
",
        );
        assert_eq!(d, vec![]);
        // A string-valued call cannot stand for an object.
        let d = check(
            "AWS::Lambda::Function",
            "Code: !Ref X\nRole: r\nHandler: h\nRuntime: python3.13\n",
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::WrongType);
        assert_eq!(d[0].message, "expected a mapping, found the result of Ref");
    }

    #[test]
    fn nested_schema_errors_carry_the_path() {
        let d = check(
            "AWS::Lambda::Function",
            "Code:\n  S3Buckt: b\n  S3Key: k\nRole: r\nEnvironment:\n  Variables:\n    A: [x]\nHandler: h\nRuntime: java21\n",
        );
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.code, d.path.as_str(), d.pos()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Code::UnknownProperty,
                    "Resources.Fn.Properties.Code.S3Buckt",
                    Some(Pos::new(2, 3))
                ),
                (
                    Code::WrongType,
                    "Resources.Fn.Properties.Environment.Variables.A",
                    Some(Pos::new(7, 8))
                ),
                (
                    Code::MissingRequired,
                    "Resources.Fn.Properties.Code",
                    Some(Pos::new(2, 3))
                ),
            ]
        );
        assert_eq!(d[0].message, "'Code' has no property 'S3Buckt'");
        assert_eq!(d[0].help.as_deref(), Some("did you mean 'S3Bucket'?"));

        let d = check(
            "AWS::CodePipeline::Pipeline",
            "\
RoleArn: r
Stages:
  - Name: Source
    Actions:
      - Name: S
        ActionTypeId: {Category: Source, Owner: AWS, Provider: S3}
        RunOrder: one
",
        );
        let got: Vec<_> = d.iter().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    Code::MissingRequired,
                    "Resources.Fn.Properties.Stages.0.Actions.0.ActionTypeId"
                ),
                (
                    Code::WrongType,
                    "Resources.Fn.Properties.Stages.0.Actions.0.RunOrder"
                ),
                (Code::MissingRequired, "Resources.Fn.Properties"),
            ]
        );
        assert_eq!(d[0].message, "'ActionTypeId' requires property 'Version'");
        assert_eq!(d[0].pos(), Some(Pos::new(6, 23)));
    }

    #[test]
    fn tags_shapes() {
        let d = check(
            "AWS::SQS::Queue",
            "Tags:\n  - Key: a\n    Value: b\n  - Key: c\n    Valu: d\n",
        );
        let got: Vec<_> = d.iter().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Code::UnknownProperty, "Resources.Fn.Properties.Tags.1.Valu"),
                (Code::MissingRequired, "Resources.Fn.Properties.Tags.1"),
            ]
        );
        // Map-form tags where the type takes a map, and the other way round.
        assert_eq!(
            check(
                "AWS::SSM::Parameter",
                "Type: String\nValue: v\nTags: {a: b}\n"
            ),
            vec![]
        );
        let d = check("AWS::SQS::Queue", "Tags: {a: b}\n");
        assert_eq!(
            d[0].message,
            "expected a list of Key/Value tags, found mapping"
        );
    }

    #[test]
    fn value_rules() {
        let d = check(
            "AWS::Lambda::Function",
            "Code: {ZipFile: x}\nRole: r\nHandler: h\nRuntime: python3.21\nTimeout: 901\nMemorySize: \"64\"\n",
        );
        let got: Vec<_> = d.iter().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (Code::InvalidValue, "Resources.Fn.Properties.Runtime"),
                (Code::InvalidValue, "Resources.Fn.Properties.Timeout"),
                (Code::InvalidValue, "Resources.Fn.Properties.MemorySize"),
            ]
        );
        assert_eq!(d[0].message, "'python3.21' is not an accepted value");
        assert!(
            d[0].help
                .as_deref()
                .unwrap()
                .starts_with("did you mean 'python3.")
        );
        assert_eq!(d[1].message, "901 is outside the allowed range 1 to 900");
        assert_eq!(d[2].message, "64 is outside the allowed range 128 to 10240");
        for rt in [
            "python3.8",
            "python3.14",
            "nodejs22.x",
            "java21",
            "provided.al2023",
            "dotnet8",
            "ruby3.3",
        ] {
            let d = check(
                "AWS::Lambda::Function",
                &format!("Code: {{ZipFile: x}}\nRole: r\nHandler: h\nRuntime: {rt}\n"),
            );
            assert_eq!(d, vec![], "{rt}");
        }
    }

    #[test]
    fn alias_routing_rules() {
        let base = "FunctionName: f\nFunctionVersion: '1'\nName: live\nRoutingConfig:\n  AdditionalVersionWeights:\n";
        let ok = format!("{base}    - FunctionVersion: '2'\n      FunctionWeight: 0.1\n");
        assert_eq!(check("AWS::Lambda::Alias", &ok), vec![]);
        let bad = format!(
            "{base}    - FunctionVersion: '2'\n      FunctionWeight: 1.5\n    - FunctionVersion: '3'\n      FunctionWeight: 0.1\n"
        );
        let d = check("AWS::Lambda::Alias", &bad);
        let got: Vec<_> = d.iter().map(|d| (d.code, d.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    Code::InvalidValue,
                    "Resources.Fn.Properties.RoutingConfig.AdditionalVersionWeights.0.FunctionWeight"
                ),
                (
                    Code::InvalidValue,
                    "Resources.Fn.Properties.RoutingConfig.AdditionalVersionWeights"
                ),
            ]
        );
        assert_eq!(d[1].message, "2 items given, at most 1 allowed");
    }

    #[test]
    fn type_rules() {
        let d = check("AWS::Lambda::Function", "Code: {S3Bucket: b}\nRole: r\n");
        let got: Vec<_> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            got,
            [
                "a Zip-packaged AWS::Lambda::Function requires property 'Handler'",
                "a Zip-packaged AWS::Lambda::Function requires property 'Runtime'",
                "'Code' with an S3 location requires property 'S3Key'",
            ]
        );
        let image = "PackageType: Image\nCode: {ImageUri: repo:tag}\nRole: r\n";
        assert_eq!(check("AWS::Lambda::Function", image), vec![]);
        let d = check("AWS::Events::Rule", "Targets: [{Arn: a, Id: t}]\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::MissingRequired);
        assert_eq!(
            check("AWS::Events::Rule", "ScheduleExpression: rate(1 minute)\n"),
            vec![]
        );
    }

    #[test]
    fn null_is_rejected() {
        let d = check(
            "AWS::Lambda::Function",
            &format!("{FUNCTION}Description: null\n"),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::WrongType);
    }

    #[test]
    fn every_listed_type_is_present() {
        let listed = [
            "AWS::Lambda::Function",
            "AWS::Lambda::Version",
            "AWS::Lambda::Alias",
            "AWS::Lambda::Permission",
            "AWS::Lambda::LayerVersion",
            "AWS::Lambda::LayerVersionPermission",
            "AWS::Lambda::EventSourceMapping",
            "AWS::Lambda::Url",
            "AWS::Lambda::EventInvokeConfig",
            "AWS::ApiGateway::RestApi",
            "AWS::ApiGateway::Resource",
            "AWS::ApiGateway::Method",
            "AWS::ApiGateway::Deployment",
            "AWS::ApiGateway::Stage",
            "AWS::ApiGateway::Account",
            "AWS::ApiGateway::ApiKey",
            "AWS::ApiGateway::UsagePlan",
            "AWS::ApiGateway::Authorizer",
            "AWS::ApiGateway::GatewayResponse",
            "AWS::ApiGateway::Model",
            "AWS::ApiGateway::RequestValidator",
            "AWS::ApiGateway::BasePathMapping",
            "AWS::ApiGateway::DomainName",
            "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Route",
            "AWS::ApiGatewayV2::Integration",
            "AWS::ApiGatewayV2::Stage",
            "AWS::ApiGatewayV2::Deployment",
            "AWS::ApiGatewayV2::Authorizer",
            "AWS::S3::Bucket",
            "AWS::S3::BucketPolicy",
            "AWS::SNS::Topic",
            "AWS::SNS::Subscription",
            "AWS::SNS::TopicPolicy",
            "AWS::SQS::Queue",
            "AWS::SQS::QueuePolicy",
            "AWS::Events::Rule",
            "AWS::Scheduler::Schedule",
            "AWS::CloudWatch::Alarm",
            "AWS::Logs::LogGroup",
            "AWS::SSM::Parameter",
            "AWS::CodeDeploy::Application",
            "AWS::CodeDeploy::DeploymentGroup",
            "AWS::CodeDeploy::DeploymentConfig",
            "AWS::CodeBuild::Project",
            "AWS::CodePipeline::Pipeline",
            "AWS::DynamoDB::Table",
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::InstanceProfile",
            "AWS::IAM::User",
            "AWS::IAM::Group",
            "AWS::IAM::AccessKey",
            "AWS::CloudFormation::WaitConditionHandle",
            "AWS::CloudFormation::Stack",
        ];
        for t in listed {
            let s = lookup(t).unwrap_or_else(|| panic!("{t} missing"));
            assert!(ref_kind(t).is_some(), "{t}");
            assert!(["name", "arn", "id", "url"].contains(&s.ref_returns), "{t}");
        }
        assert_eq!(type_names().count(), listed.len());
        assert!(lookup("AWS::Lambda::Functions").is_none());
        assert_eq!(
            did_you_mean("AWS::Lambda::Functon", type_names()),
            Some("AWS::Lambda::Function")
        );
    }

    /// The tables themselves: names sorted and unique at every level, and every nested list of
    /// objects reachable, so a typo in the data shows up here.
    #[test]
    fn tables_are_well_formed() {
        fn walk(owner: &str, props: &[Prop]) {
            for w in props.windows(2) {
                assert!(
                    w[0].name < w[1].name,
                    "{owner}: {} !< {}",
                    w[0].name,
                    w[1].name
                );
            }
            for p in props {
                shape(&format!("{owner}.{}", p.name), &p.shape);
            }
        }
        fn shape(at: &str, s: &Shape) {
            match s {
                Shape::Object(props) => walk(at, props),
                Shape::List(i) | Shape::Map(i) => shape(at, i),
                _ => {}
            }
        }
        let mut names: Vec<_> = type_names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TYPES.len());
        for t in TYPES {
            walk(t.name, t.properties);
        }
    }

    #[test]
    fn attributes() {
        assert_eq!(
            attribute_check("AWS::Lambda::Function", "Arn"),
            AttributeCheck::Yes
        );
        assert_eq!(
            attribute_check("AWS::SQS::Queue", "QueueUrl"),
            AttributeCheck::Yes
        );
        assert_eq!(
            attribute_check("AWS::ApiGateway::RestApi", "RootResourceId"),
            AttributeCheck::Yes
        );
        assert_eq!(
            attribute_check("AWS::Lambda::Function", "Name"),
            AttributeCheck::No(vec![
                "Arn".into(),
                "SnapStartResponse".into(),
                "SnapStartResponse.ApplyOn".into(),
                "SnapStartResponse.OptimizationStatus".into(),
            ])
        );
        assert_eq!(
            attribute_check("AWS::ApiGateway::Stage", "Arn"),
            AttributeCheck::No(vec![])
        );
        assert_eq!(
            attribute_check("AWS::CloudFormation::Stack", "Outputs.Url"),
            AttributeCheck::Yes
        );
        assert_eq!(
            attribute_check("Custom::Thing", "X"),
            AttributeCheck::Unknown
        );
        assert_eq!(ref_kind("AWS::SQS::Queue"), Some("url"));
        assert_eq!(ref_kind("AWS::Lambda::Function"), Some("name"));
        assert_eq!(ref_kind("AWS::SNS::Topic"), Some("arn"));
        assert_eq!(ref_kind("Custom::Thing"), None);
    }

    /// Through the whole resolver: positions, paths and evaluated values as the engine makes
    /// them.
    #[test]
    fn through_resolve() {
        let text = "\
Parameters:
  Mem:
    Type: Number
    Default: 256
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Code:
        ZipFile: |
          def handler(e, c): return e
      Role: !GetAtt Role.Arn
      Handler: index.handler
      Runtime: python3.12
      MemorySize: !Ref Mem
      Timout: 30
  Q:
    Type: AWS::SQS::Queue
  Alias:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: !GetAtt Fn.Version
";
        let out = crate::template::resolve(text, &crate::template::Options::default());
        let got: Vec<_> = out
            .diagnostics
            .iter()
            .map(|d| (d.code, d.path.as_str(), d.pos()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    Code::UnknownProperty,
                    "Resources.Fn.Properties.Timout",
                    Some(Pos::new(20, 7))
                ),
                (
                    Code::MissingRequired,
                    "Resources.Alias.Properties",
                    Some(Pos::new(26, 7))
                ),
                (
                    Code::UnknownAttribute,
                    "Resources.Alias.Properties.FunctionVersion.Fn::GetAtt",
                    Some(Pos::new(27, 24))
                ),
            ],
            "{:#?}",
            out.diagnostics
        );
        assert_eq!(
            out.diagnostics[0].help.as_deref(),
            Some("did you mean 'Timeout'?")
        );
    }
}
