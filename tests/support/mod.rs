//! Shared by the integration tests: `lab`, the engine in virtual time for scenario tests;
//! `netns`, network namespaces for tests on this host's kernel; and here, for the
//! golden-file tests: runs every input of a directory through a renderer and
//! compares with `NAME.expected`. `UPDATE_GOLDEN=1` rewrites the expected files instead
//! (then review the diff).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fs;
use std::path::Path;

/// Renders every `*.EXTENSION` file under `dir` with `render(name, input)` and checks the
/// result against `NAME.expected`. Fails if fewer than `at_least` inputs are found, so
/// inputs cannot go missing unnoticed, and lists every mismatch at once.
pub fn check_golden(dir: &Path, extension: &str, at_least: usize, mut render: impl FnMut(&str, &str) -> String) {
    let mut inputs: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= at_least, "golden inputs went missing: {}", inputs.len());

    let cases = inputs.iter().map(|input_path| {
        let name = input_path.file_stem().unwrap().to_str().unwrap().to_string();
        let input = fs::read_to_string(input_path).unwrap();
        let actual = render(&name, &input);
        (name, actual)
    });
    compare_golden(dir, cases);
}

/// Checks each `(name, actual)` against `dir/NAME.expected` (or rewrites it with
/// `UPDATE_GOLDEN=1`), listing every mismatch at once.
pub fn compare_golden(dir: &Path, cases: impl IntoIterator<Item = (String, String)>) {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for (name, actual) in cases {
        let expected_path = dir.join(format!("{name}.expected"));
        if update {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!("== {name}\n-- expected\n{expected}-- actual\n{actual}"));
        }
    }
    assert!(failures.is_empty(), "{} golden mismatches:\n{}", failures.len(), failures.join("\n"));
}
pub mod burst;
pub mod lab;
pub mod netns;
