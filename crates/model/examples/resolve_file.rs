//! Resolves a template file and prints diagnostics or the resolved JSON (a debugging aid;
//! users run `slipway validate`). `cargo run -p slipway-model --example resolve_file -- t.yaml`
#![allow(clippy::print_stdout)]

use slipway_model::diag::{Sources, render_human};
use slipway_model::template::{Options, resolve};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        println!("usage: resolve_file TEMPLATE");
        return;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            println!("{path}: {e}");
            return;
        }
    };
    let opts = Options {
        file: path.clone(),
        ..Options::default()
    };
    let out = resolve(&text, &opts);
    let mut sources = Sources::new();
    sources.add(path, text);
    print!("{}", render_human(&out.diagnostics, &sources));
    if let Some(t) = out.template {
        println!(
            "{}",
            serde_json::to_string_pretty(&t.to_json()).unwrap_or_default()
        );
    }
}
