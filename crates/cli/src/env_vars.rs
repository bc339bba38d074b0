//! Every environment variable Slipway reads, declared once. Nothing else in the project calls
//! `std::env::var`: settings read them through [`Environment`], which tests build by hand.

use std::collections::BTreeMap;

/// The region of the target; wins over the AWS variables.
pub(crate) const SLIPWAY_REGION: &str = "SLIPWAY_REGION";
/// The region, as the AWS CLI and SDKs read it (wins over `AWS_DEFAULT_REGION`).
pub(crate) const AWS_REGION: &str = "AWS_REGION";
/// The region, older AWS CLI spelling.
pub(crate) const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// The profile of `~/.aws/config` an aws target's deploy uses (the target's `profile` or
/// `--profile` win). The SDK reads its own variables besides (`AWS_ACCESS_KEY_ID`,
/// `AWS_ENDPOINT_URL`, …); Slipway does not.
pub(crate) const AWS_PROFILE: &str = "AWS_PROFILE";
/// The account ID of the target (default `123456789012`).
pub(crate) const SLIPWAY_ACCOUNT: &str = "SLIPWAY_ACCOUNT";
/// The stack name (`AWS::StackName`).
pub(crate) const SLIPWAY_STACK_NAME: &str = "SLIPWAY_STACK_NAME";

/// Slipway's data directory (default `.slipway` in the current directory): builds, caches,
/// artefacts.
pub(crate) const SLIPWAY_DATA_DIR: &str = "SLIPWAY_DATA_DIR";
/// The Python interpreter `slipway invoke` runs a `pythonX.Y` function on when no `pythonX.Y`
/// command is on `PATH` (default `python3`).
pub(crate) const SLIPWAY_PYTHON: &str = "SLIPWAY_PYTHON";

/// A running `slipway server` the server-backed verbs talk to (`http://HOST:PORT`); unset:
/// they run one embedded.
pub(crate) const SLIPWAY_ENDPOINT: &str = "SLIPWAY_ENDPOINT";
/// The token of that server (`slipway server` requires its clients to send it).
pub(crate) const SLIPWAY_TOKEN: &str = "SLIPWAY_TOKEN";
/// The secret `slipway up` verifies GitHub-format webhooks with.
pub(crate) const SLIPWAY_WEBHOOK_SECRET: &str = "SLIPWAY_WEBHOOK_SECRET";

/// Every variable above: the only ones [`Environment::from_process`] captures.
pub(crate) const ALL: &[&str] = &[
    SLIPWAY_REGION,
    AWS_REGION,
    AWS_DEFAULT_REGION,
    AWS_PROFILE,
    SLIPWAY_ACCOUNT,
    SLIPWAY_STACK_NAME,
    SLIPWAY_DATA_DIR,
    SLIPWAY_PYTHON,
    SLIPWAY_ENDPOINT,
    SLIPWAY_TOKEN,
    SLIPWAY_WEBHOOK_SECRET,
];

/// A snapshot of the declared variables (empty values count as unset).
#[derive(Clone, Debug, Default)]
pub(crate) struct Environment {
    vars: BTreeMap<&'static str, String>,
}

impl Environment {
    pub(crate) fn from_process() -> Self {
        let mut env = Self::default();
        for name in ALL {
            if let Ok(v) = std::env::var(name) {
                env.set(name, v);
            }
        }
        env
    }

    pub(crate) fn set(&mut self, name: &'static str, value: impl Into<String>) {
        let value = value.into();
        if value.is_empty() {
            self.vars.remove(name);
        } else {
            self.vars.insert(name, value);
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The first of `names` that is set.
    pub(crate) fn first(&self, names: &[&'static str]) -> Option<(&'static str, &str)> {
        names.iter().find_map(|n| self.get(n).map(|v| (*n, v)))
    }
}
