//! `slipway gc`: removes artefacts that nothing refers to (build records, the last SAM-style
//! build, the state store — see `slipway_build::gc_artefacts`) from the content-addressed
//! artefact store under the data directory, and says how much it freed.

use std::io::Write;
use std::path::Path;

use crate::args::GcArgs;
use crate::commands::Status;
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings;

pub(crate) fn run(
    args: &GcArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
) -> Result<Status, CliError> {
    let data_dir = settings::gc_data_dir(args.data_dir.as_deref(), env, cwd);
    let stats = slipway_build::gc_artefacts(&data_dir).map_err(CliError::Build)?;
    writeln!(
        out,
        "gc {}: kept {} artefact(s), removed {} ({} bytes freed)",
        data_dir.display(),
        stats.kept,
        stats.removed,
        stats.freed_bytes
    )?;
    Ok(Status::Success)
}
