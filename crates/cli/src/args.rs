//! The command line as clap sees it. Values here are raw: [`crate::settings`] combines them
//! with samconfig.toml, the environment and the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    about = "Run AWS SAM / CloudFormation / CodeBuild / CodePipeline definitions locally, AWS-exact."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse and resolve a template; report every problem at once.
    Validate(ValidateArgs),
    /// Invoke one function of a template once, locally (`sam local invoke`).
    Invoke(InvokeArgs),
    /// Print a sample event of an AWS service as JSON (`sam local generate-event`).
    GenerateEvent(GenerateEventArgs),
    /// Run a buildspec as CodeBuild does, or build the template's functions as `sam build` does.
    Build(BuildArgs),
    /// Serve the template's APIs locally over HTTP, reloading saved changes
    /// (`sam local start-api`).
    Serve(ServeArgs),
    /// Remove artefacts that no build record refers to from the artefact store.
    Gc(GcArgs),
    /// Run the control plane (state, deploy engine, functions, the control API and the
    /// AWS-compatible endpoints) until Ctrl-C or SIGTERM.
    Server(ServerArgs),
    /// Deploy a template as a stack: change set, progress, traffic shifts, outputs
    /// (`sam deploy`).
    Deploy(DeployArgs),
    /// The target's stacks: list, events, outputs, delete.
    Stack(StackArgs),
    /// List traffic-shifting deployments (of one function).
    Deployments(DeploymentsArgs),
    /// Act on a deployment: stop (with rollback), continue, skip the remaining wait.
    Deployment(DeploymentArgs),
    /// Put all of an alias's traffic back on the previous version.
    Rollback(RollbackArgs),
    /// Start the platform for a project and deliver every commit through its pipeline.
    Up(crate::commands::up::UpArgs),
    /// Pipelines: list, show, run, status, history, approve, reject, retry, stop.
    Pipeline(crate::commands::pipeline::PipelineArgs),
    /// Named deploy targets (local or aws): add, list, remove.
    Targets(crate::commands::targets::TargetsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Slipway's data directory (default `.slipway`).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

/// Options every verb that reads samconfig.toml shares (global: `slipway stack list
/// --config-env prod` reaches them too).
#[derive(Debug, Args, Default)]
pub(crate) struct ConfigArgs {
    /// The samconfig.toml to read (default: samconfig.toml in the current directory, if any).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config_file: Option<PathBuf>,
    /// The environment (top-level table) of samconfig.toml to read.
    #[arg(long, global = true, value_name = "ENV")]
    pub(crate) config_env: Option<String>,
}

/// The target a verb works against.
#[derive(Debug, Args, Default)]
pub(crate) struct TargetArgs {
    /// Region (`AWS::Region`); default us-east-1.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Account ID (`AWS::AccountId`); default 123456789012.
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// Stack name (`AWS::StackName`); default `stack`.
    #[arg(long)]
    pub(crate) stack_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Human,
    Json,
}

impl OutputFormat {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "human" => Some(Self::Human),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

#[derive(Debug, Args, Default)]
pub(crate) struct ValidateArgs {
    /// The template (default: template.yaml, else template.yml, else template.json). A name
    /// ending in `.j2` is rendered with Jinja first.
    #[arg(short = 't', long, alias = "template-file", value_name = "PATH")]
    pub(crate) template: Option<PathBuf>,
    /// Parameter values: `Key=Value` pairs (or `ParameterKey=K,ParameterValue=V`).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub(crate) parameter_overrides: Vec<String>,
    /// A JSON file of SSM parameters for `AWS::SSM::Parameter::Value<…>` and
    /// `{{resolve:ssm:…}}`.
    #[arg(long, value_name = "FILE")]
    pub(crate) parameter_store: Option<PathBuf>,
    /// A CodePipeline template configuration file (`{"Parameters": {…}}`).
    #[arg(long, value_name = "FILE")]
    pub(crate) template_configuration: Option<PathBuf>,
    /// Variables (YAML or JSON mapping) for a `.j2` template.
    #[arg(long, value_name = "FILE")]
    pub(crate) template_vars: Option<PathBuf>,
    /// Accept a resource type Slipway cannot run as an inert record (repeatable).
    #[arg(long = "accept-type", value_name = "TYPE")]
    pub(crate) accept_types: Vec<String>,
    /// How to print the result.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) output: Option<OutputFormat>,
    /// Print the resolved template as JSON on stdout.
    #[arg(long)]
    pub(crate) print_resolved: bool,
    /// Print what a diagnostic code means, and exit.
    #[arg(long, value_name = "CODE")]
    pub(crate) explain: Option<String>,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Args, Default)]
pub(crate) struct InvokeArgs {
    /// The function's logical ID; optional when the template has exactly one function.
    #[arg(value_name = "FUNCTION")]
    pub(crate) function: Option<String>,
    /// The template (default: the built template `.slipway/build/template.yaml` when `slipway
    /// build` made one, else template.yaml, template.yml, template.json).
    #[arg(short = 't', long, alias = "template-file", value_name = "PATH")]
    pub(crate) template: Option<PathBuf>,
    /// The event: a JSON file, or `-` to read it from stdin (default: `{}`).
    #[arg(short = 'e', long, value_name = "FILE")]
    pub(crate) event: Option<String>,
    /// Environment variable overrides: `{"Function": {"VAR": "v"}, "Parameters": {"VAR": "v"}}`.
    #[arg(short = 'n', long, value_name = "FILE")]
    pub(crate) env_vars: Option<PathBuf>,
    /// Parameter values: `Key=Value` pairs (or `ParameterKey=K,ParameterValue=V`).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub(crate) parameter_overrides: Vec<String>,
    /// Slipway's data directory, where `slipway build` puts packages (default `.slipway`).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Args, Default)]
pub(crate) struct ServeArgs {
    /// The template (default: template.yaml, else template.yml, else template.json).
    #[arg(short = 't', long, alias = "template-file", value_name = "PATH")]
    pub(crate) template: Option<PathBuf>,
    /// The port to listen on (default 3000; 0 for any free port).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub(crate) port: Option<u16>,
    /// The address to listen on (default 127.0.0.1).
    #[arg(long, value_name = "IP")]
    pub(crate) host: Option<String>,
    /// Listen on a non-loopback `--host` although the gateway authenticates no request.
    #[arg(long)]
    pub(crate) allow_non_loopback: bool,
    /// Environment variable overrides: `{"Function": {"VAR": "v"}, "Parameters": {"VAR": "v"}}`.
    #[arg(short = 'n', long, value_name = "FILE")]
    pub(crate) env_vars: Option<PathBuf>,
    /// Parameter values: `Key=Value` pairs (or `ParameterKey=K,ParameterValue=V`).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub(crate) parameter_overrides: Vec<String>,
    /// Slipway's data directory; execution environments work under `<DIR>/runtime` (default
    /// `.slipway`).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Start N execution environments per function before the first request, as provisioned
    /// concurrency does (default 0: on the first request).
    #[arg(long, value_name = "N")]
    pub(crate) warm: Option<u32>,
    /// Invocations of a function run at once before a short CPU-bound one waits briefly for a
    /// busy environment instead of taking another (default: the number of CPUs; 0: off, one
    /// environment per concurrent request as Lambda).
    #[arg(long, value_name = "N")]
    pub(crate) target_concurrency: Option<u32>,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Args, Default)]
pub(crate) struct BuildArgs {
    /// Build the functions of this template, SAM-style (`sam build`).
    #[arg(short = 't', long, alias = "template-file", value_name = "PATH")]
    pub(crate) template: Option<PathBuf>,
    /// Run this buildspec, relative to the source root (default: `buildspec.yml`, used when it
    /// exists and no template is named).
    #[arg(long, value_name = "PATH")]
    pub(crate) buildspec: Option<PathBuf>,
    /// Environment overrides for the buildspec (repeatable): `NAME=value`.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub(crate) env: Vec<String>,
    /// What to build: a directory, or a commit of the repository in the current directory
    /// (default: the current directory, uncommitted changes included).
    #[arg(long, value_name = "DIR|GIT_REV")]
    pub(crate) source: Option<String>,
    /// The CodeBuild project name (default: the source directory's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) project: Option<String>,
    /// Rebuild every function, ignoring what the last SAM-style build left.
    #[arg(long)]
    pub(crate) force: bool,
    /// Slipway's data directory: builds, caches and artefacts (default `.slipway`).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateEventArgs {
    #[command(subcommand)]
    pub(crate) service: EventService,
}

/// The services whose sample events `generate-event` knows, as SAM CLI names them.
#[derive(Debug, Subcommand)]
pub(crate) enum EventService {
    /// Amazon API Gateway events.
    #[command(subcommand)]
    Apigateway(ApigatewayEvent),
    /// Amazon S3 events.
    #[command(subcommand)]
    S3(S3Event),
    /// Amazon SNS events.
    #[command(subcommand)]
    Sns(SnsEvent),
    /// Amazon SQS events.
    #[command(subcommand)]
    Sqs(SqsEvent),
    /// Amazon EventBridge (CloudWatch Events) events.
    #[command(subcommand, alias = "cloudwatch")]
    Events(EventsEvent),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApigatewayEvent {
    /// A REST API proxy integration event (payload format 1.0).
    AwsProxy(HttpEventArgs),
    /// An HTTP API proxy integration event (payload format 2.0).
    HttpApiProxy(HttpEventArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HttpEventArgs {
    /// The request body (sent base64-encoded, as SAM CLI does).
    #[arg(long, default_value = "{\"test\":\"body\"}")]
    pub(crate) body: String,
    /// The stage (default `prod` for aws-proxy, `$default` for http-api-proxy).
    #[arg(long)]
    pub(crate) stage: Option<String>,
    #[arg(long, default_value = "POST")]
    pub(crate) method: String,
    /// The resource path template (aws-proxy).
    #[arg(long, default_value = "/{proxy+}")]
    pub(crate) resource: String,
    /// The request path, without its leading `/`.
    #[arg(long, default_value = "path/to/resource")]
    pub(crate) path: String,
    #[arg(long, default_value = "123456789012")]
    pub(crate) account_id: String,
    #[arg(long, default_value = "us-east-1.amazonaws.com")]
    pub(crate) dns_suffix: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum S3Event {
    /// An `ObjectCreated:Put` notification.
    Put(S3EventArgs),
    /// An `ObjectRemoved:Delete` notification.
    Delete(S3EventArgs),
}

#[derive(Debug, Args)]
pub(crate) struct S3EventArgs {
    #[arg(long, default_value = "us-east-1")]
    pub(crate) region: String,
    #[arg(long, default_value = "aws")]
    pub(crate) partition: String,
    #[arg(long, default_value = "example-bucket")]
    pub(crate) bucket: String,
    /// The object key (URL-encoded in the event, as S3 sends it).
    #[arg(long, default_value = "test/key")]
    pub(crate) key: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SnsEvent {
    /// A topic notification.
    Notification(SnsEventArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SnsEventArgs {
    #[arg(long, default_value = "123456789012")]
    pub(crate) account_id: String,
    #[arg(long, default_value = "aws")]
    pub(crate) partition: String,
    #[arg(long, default_value = "us-east-1")]
    pub(crate) region: String,
    #[arg(long, default_value = "ExampleTopic")]
    pub(crate) topic: String,
    #[arg(long, default_value = "example subject")]
    pub(crate) subject: String,
    #[arg(long, default_value = "example message")]
    pub(crate) message: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SqsEvent {
    /// A batch of one received message.
    ReceiveMessage(SqsEventArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SqsEventArgs {
    #[arg(long, default_value = "aws")]
    pub(crate) partition: String,
    #[arg(long, default_value = "us-east-1")]
    pub(crate) region: String,
    #[arg(long, default_value = "123456789012")]
    pub(crate) account_id: String,
    #[arg(long, default_value = "MyQueue")]
    pub(crate) queue_name: String,
    /// The message body (its MD5 is `md5OfBody`).
    #[arg(long, default_value = "Hello from SQS!")]
    pub(crate) body: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventsEvent {
    /// A scheduled rule firing (`Scheduled Event`).
    #[command(alias = "scheduled-event")]
    Schedule(ScheduleEventArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleEventArgs {
    #[arg(long, default_value = "123456789012")]
    pub(crate) account_id: String,
    #[arg(long, default_value = "aws")]
    pub(crate) partition: String,
    #[arg(long, default_value = "us-east-1")]
    pub(crate) region: String,
    /// The rule's name.
    #[arg(long, default_value = "ExampleRule")]
    pub(crate) rule: String,
}

/// How a verb reaches a server, and which target it works on.
#[derive(Debug, Args, Default)]
pub(crate) struct ConnectArgs {
    /// A running `slipway server`, `http://HOST:PORT` (default: `SLIPWAY_ENDPOINT`). Without
    /// one, a server runs inside this command over the data directory while it works.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// The server's token (default: `SLIPWAY_TOKEN`).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// Slipway's data directory, for the server this command runs when no endpoint is given
    /// (default `.slipway`).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The target, `ACCOUNT/REGION` (default: `--account`/`--region`, else
    /// 123456789012/us-east-1); for `deploy` and `stack` also `aws:ACCOUNT/REGION` or a
    /// target's name (`slipway targets`).
    #[arg(long, global = true, value_name = "ACCOUNT/REGION")]
    pub(crate) target: Option<String>,
    /// Region of the target (when no `--target`); default us-east-1.
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// Account ID of the target (when no `--target`); default 123456789012.
    #[arg(long, global = true)]
    pub(crate) account: Option<String>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Args, Default)]
pub(crate) struct ServerArgs {
    /// Slipway's data directory: state, artefacts, buckets, runtime files (default `.slipway`).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The control-plane port (default 8040; 0 for any free port).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub(crate) port: Option<u16>,
    /// The gateway's port, where the deployed stacks' APIs answer (default 3000; 0 for any
    /// free port).
    #[arg(long, value_name = "PORT")]
    pub(crate) gateway_port: Option<u16>,
    /// The address to listen on (default 127.0.0.1); any other needs a token.
    #[arg(long, value_name = "IP")]
    pub(crate) bind: Option<String>,
    /// The token every request must carry (default: `SLIPWAY_TOKEN`); required off loopback.
    #[arg(long, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// Run the server's clock N times faster (a real number > 0): rehearse a 30-minute canary
    /// in seconds.
    #[arg(long, value_name = "N")]
    pub(crate) time_scale: Option<f64>,
}

#[derive(Debug, Args, Default)]
pub(crate) struct DeployArgs {
    /// The template (default: template.yaml, else template.yml, else template.json).
    #[arg(short = 't', long, alias = "template-file", value_name = "PATH")]
    pub(crate) template: Option<PathBuf>,
    /// The stack to create or update (or samconfig's `stack_name`, `SLIPWAY_STACK_NAME`).
    #[arg(long, value_name = "NAME")]
    pub(crate) stack_name: Option<String>,
    /// Parameter values: `Key=Value` pairs (or `ParameterKey=K,ParameterValue=V`).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub(crate) parameter_overrides: Vec<String>,
    /// Stack tags: `Key=Value` pairs.
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub(crate) tags: Vec<String>,
    /// Create the change set and stop: review it, deploy nothing.
    #[arg(long)]
    pub(crate) no_execute_changeset: bool,
    /// Show the change set and ask before executing it.
    #[arg(long)]
    pub(crate) confirm_changeset: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Exit 0 when there is nothing to deploy (default: exit 1, as `sam deploy`).
    #[arg(long)]
    pub(crate) no_fail_on_empty_changeset: bool,
    /// Run the embedded server's clock N times faster (a real number > 0); a running server
    /// keeps its own clock.
    #[arg(long, value_name = "N")]
    pub(crate) time_scale: Option<f64>,
    /// Uploads and IAM, for an aws target (`--target aws:ACCOUNT/REGION` or a named one).
    #[command(flatten)]
    pub(crate) aws: crate::commands::targets::AwsDeployArgs,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StackArgs {
    #[command(subcommand)]
    pub(crate) command: StackCommand,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StackCommand {
    /// The target's stacks and their statuses.
    List,
    /// A stack's events, oldest first.
    Events {
        #[arg(value_name = "STACK")]
        name: String,
    },
    /// A stack's outputs.
    Outputs {
        #[arg(value_name = "STACK")]
        name: String,
    },
    /// Delete a stack and everything it created (resources with `DeletionPolicy: Retain`
    /// stay).
    Delete {
        #[arg(value_name = "STACK")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentsArgs {
    /// Only this function's deployments (its name or logical ID).
    #[arg(value_name = "FUNCTION")]
    pub(crate) function: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentArgs {
    #[arg(value_enum, value_name = "ACTION")]
    pub(crate) action: DeploymentActionArg,
    /// The deployment (`d-…`, from `slipway deployments`).
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// The operator actions on a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeploymentActionArg {
    /// Stop it and put traffic back on the old version (CodeDeploy's StopDeployment with
    /// rollback).
    Stop,
    /// Let a deployment waiting before traffic moves go on (CodeDeploy's ContinueDeployment).
    Continue,
    /// Skip the remaining wait of the shift: all traffic on the new version now.
    SkipWait,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The function (its name or logical ID).
    #[arg(value_name = "FUNCTION")]
    pub(crate) function: String,
    /// The alias to roll back.
    #[arg(long, default_value = "live", value_name = "ALIAS")]
    pub(crate) alias: String,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}
