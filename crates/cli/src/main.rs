//! `slipway`: SAM-style verbs over Slipway's engines.
//!
//! `main` parses the command line, hands the verb its settings ([`settings`]), and turns the
//! outcome into an exit code: 0 success (for `validate`: valid, warnings allowed; for `serve`:
//! stopped with Ctrl-C), 1 the documents have errors, the invoked function returned an error,
//! or the build failed, 2 the command could not run (usage errors, unreadable files, for
//! `serve` an address it cannot listen on). Any error that stops a command is printed with its
//! whole chain of causes.

mod args;
mod client;
mod commands;
mod env_vars;
mod error;
mod samconfig;
mod settings;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::commands::Status;

/// mimalloc rather than glibc's malloc: on the gateway's request path glibc spent about a tenth
/// of the CPU of a request in its own bookkeeping (`malloc_consolidate` on every allocation above
/// 1 KiB, such as each proxy event's text), measured with `perf record` under `wrk`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(&cli) {
        Ok(status) => status.into(),
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            Status::Usage.into()
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<Status> {
    let env = env_vars::Environment::from_process();
    let cwd = std::env::current_dir().map_err(error::CliError::Cwd)?;
    let mut out = std::io::stdout().lock();
    // Not locked: `build`'s progress display and the runtime's log sink write to stderr too.
    let mut err = std::io::stderr();
    let status = match &cli.command {
        Command::Validate(args) => commands::validate::run(args, &env, &cwd, &mut out, &mut err)?,
        Command::Invoke(args) => commands::invoke::run(args, &env, &cwd, &mut out, &mut err)?,
        Command::GenerateEvent(args) => commands::generate_event::run(args, &mut out)?,
        Command::Build(args) => commands::build::run(args, &env, &cwd, &mut out, &mut err)?,
        Command::Gc(args) => commands::gc::run(args, &env, &cwd, &mut out)?,
        Command::Serve(args) => commands::serve::run(args, &env, &cwd, &mut err)?,
        Command::Server(args) => commands::deploy::server(args, &env, &cwd, &mut err)?,
        Command::Deploy(args) => commands::deploy::run(args, &env, &cwd, &mut out, &mut err)?,
        Command::Stack(args) => commands::stack::stack(args, &env, &cwd, &mut out, &mut err)?,
        Command::Deployments(args) => {
            commands::stack::deployments(args, &env, &cwd, &mut out, &mut err)?
        }
        Command::Deployment(args) => {
            commands::stack::deployment(args, &env, &cwd, &mut out, &mut err)?
        }
        Command::Rollback(args) => commands::stack::rollback(args, &env, &cwd, &mut out, &mut err)?,
        Command::Up(args) => commands::up::run(args, &env, &cwd, &mut out, &mut err)?,
        Command::Pipeline(args) => commands::pipeline::run(args, &env, &cwd, &mut out)?,
        Command::Targets(args) => commands::targets::run(args, &cwd, &mut out)?,
    };
    out.flush().map_err(error::CliError::Write)?;
    Ok(status)
}
