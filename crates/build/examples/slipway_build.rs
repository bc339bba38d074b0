//! What `slipway build` does, without the CLI: runs the buildspec of a directory (or, with
//! `--sam`, builds the functions of its `template.yaml`), streaming the log and printing the
//! closing summary.
//!
//! ```sh
//! cargo run -p slipway-build --example slipway_build -- path/to/project [--sam] [K=V ...]
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use slipway_build::{
    BuildError, BuildOptions, EnvOverride, LogLine, LogSink, SamBuildOptions, Source,
    build_template, run_build,
};
use slipway_model::diag::{Sources, render_human};

struct Print;

impl LogSink for Print {
    fn line(&self, line: &LogLine) {
        println!("{}", line.render());
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map_or(".", String::as_str));
    let data = dir.join(".slipway");
    if args.iter().any(|a| a == "--sam") {
        return match build_template(&SamBuildOptions::new(dir.join("template.yaml"), &data)) {
            Ok(r) => {
                print!("{}", r.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut opts = BuildOptions::new("local", Source::Dir(dir), &data);
    opts.sink = &Print;
    for a in args.iter().skip(1).filter(|a| a.contains('=')) {
        match EnvOverride::parse_assignment(a) {
            Ok(o) => opts.env_overrides.push(o),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match run_build(&opts) {
        Ok(r) => {
            print!("\n{}", r.summary());
            if r.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(BuildError::Buildspec {
            file,
            text,
            diagnostics,
        }) => {
            let mut s = Sources::new();
            s.add(file, text);
            eprint!("{}", render_human(&diagnostics, &s));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
