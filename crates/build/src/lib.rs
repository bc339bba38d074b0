//! Slipway's build engine.
//!
//! - [`run_build`] runs a CodeBuild buildspec (0.1 or 0.2) in a fresh workspace, exactly as
//!   CodeBuild's phase rules say ([`run`] has the rules; `shell.rs` how commands reach one shell;
//!   [`env`] how the environment is layered), streaming its log ([`log`]) and returning a
//!   [`BuildResult`] with phases, commands, test reports ([`junit`]) and artefacts (stored in
//!   `slipway_store`).
//! - [`build_template`] builds the functions and layers of a SAM template, as `sam build` does
//!   ([`sam`] has the layout, the fingerprints and the dependency cache).
//!
//! Nothing here is async: a build is one shell process per session and one reader thread per
//! shell, driven from the caller's thread; cancellation comes from any thread through a
//! [`CancelToken`].
//!
//! On disk, under the data directory (`.slipway/`):
//!
//! ```text
//! builds/<project>/last-build-number
//! builds/<project>/<uuid>/src/          CODEBUILD_SRC_DIR, a fresh copy of the source
//! builds/<project>/<uuid>/build.log     the log, secrets masked
//! builds/<project>/<uuid>/build.json    the BuildResult
//! builds/<project>/<uuid>/scripts/      the commands as the shell sourced them
//! cache/projects/<project>/             cache.paths kept between builds of the project
//! cache/deps/<sha256>/                  pip installs, by requirements + runtime (SAM builds)
//! build/<LogicalId>/, build/template.yaml  SAM-style packages and the built template
//! artefacts/                            the content-addressed artefact store (gc_artefacts)
//! ```

pub mod clock;
pub mod env;
mod files;
pub mod junit;
pub mod log;
pub mod record;
pub mod run;
pub mod sam;
mod shell;

pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::env::{EnvKind, EnvOverride, JsonSecretStore, SecretStore};
pub use self::log::{LineKind, LogLine, LogSink, MemorySink, NullSink};
pub use self::record::{BuildPhase, BuildResult, Status};
pub use self::run::{
    BuildError, BuildOptions, BuildspecSource, CancelToken, Source, export_commit, gc_artefacts,
    load_buildspec, path_in_repo, run_build,
};
pub use self::sam::{
    NoProgress, SamBuildOptions, SamBuildResult, SamEvent, SamProgress, SamStep, build_template,
};
