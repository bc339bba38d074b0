//! Any bytes, as a template: reading and resolving must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_model::syntax::{TagMode, parse_document};
use slipway_model::template::{Options, resolve};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_document(text, TagMode::CloudFormation);
        let _ = resolve(text, &Options::default());
    }
});
