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
}

/// Options every verb that reads samconfig.toml shares.
#[derive(Debug, Args, Default)]
pub(crate) struct ConfigArgs {
    /// The samconfig.toml to read (default: samconfig.toml in the current directory, if any).
    #[arg(long, value_name = "PATH")]
    pub(crate) config_file: Option<PathBuf>,
    /// The environment (top-level table) of samconfig.toml to read.
    #[arg(long, value_name = "ENV")]
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
