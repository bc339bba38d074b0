//! What every golden corpus shares: compare one expected file with what a case produced,
//! re-bless it under `BLESS=1`, and fail with every difference at once.

use std::path::Path;

/// Whether this run re-blesses the expected files (`BLESS=1`).
pub(crate) fn blessing() -> bool {
    std::env::var_os("BLESS").is_some()
}

/// Compares `expected_path` (absent = nothing expected) with `got`; when blessing, writes or
/// removes the file instead, otherwise records a difference in `failures`.
pub(crate) fn check(
    input: &Path,
    kind: &str,
    expected_path: &Path,
    got: Option<&String>,
    bless: bool,
    failures: &mut Vec<String>,
) {
    let expected = std::fs::read_to_string(expected_path).ok();
    if expected.as_ref() == got {
        return;
    }
    if bless {
        match got {
            Some(g) => std::fs::write(expected_path, g).unwrap(),
            None => {
                let _ = std::fs::remove_file(expected_path);
            }
        }
        return;
    }
    failures.push(format!(
        "{} ({kind}):\n--- expected\n{}\n--- got\n{}",
        input.display(),
        expected.as_deref().unwrap_or("<no file>"),
        got.map_or("<nothing>", String::as_str)
    ));
}

/// Fails with every recorded difference.
pub(crate) fn finish(corpus: &str, cases: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {cases} {corpus} cases differ (run with BLESS=1 to accept):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
