//! The README's code is what the test suite builds, as shown:
//!
//! - every Rust block is a whole program, with no rustdoc-hidden `# `
//!   lines (nothing hides them outside docs.rs); the crate docs are the
//!   README, so rustdoc compiles each one (and runs those not `no_run`);
//! - the two serving examples are `examples/readme_*.rs` byte for byte
//!   (and `cargo test` builds the examples);
//! - each `[dependencies]` block, in a new crate beside a checkout, builds
//!   its example (`cargo check`, offline, with the workspace's lock file),
//!   and the git lines are the same lines with another source.

use std::path::{Path, PathBuf};
use std::process::Command;

use attestgate_testkit::TempDir;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(crate_dir().join("README.md")).unwrap()
}

/// The README's fenced blocks: (info string, text).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        let fence = line.trim_end().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => open = Some((info.to_owned(), String::new())),
            (Some(_), Some("")) => out.push(open.take().unwrap()),
            (Some((_, body)), _) => body.push_str(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed block");
    out
}

/// The examples the README shows.
fn readme_examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(crate_dir().join("examples")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("readme_") && name.ends_with(".rs") {
            let text = std::fs::read_to_string(crate_dir().join("examples").join(&name)).unwrap();
            out.push((name, text));
        }
    }
    out.sort();
    out
}

#[test]
fn every_rust_block_is_a_whole_program_with_nothing_hidden() {
    let rust: Vec<_> = blocks(&readme())
        .into_iter()
        .filter(|(info, _)| info.split(',').next() == Some("rust"))
        .collect();
    assert!(rust.len() >= 6, "{} Rust blocks", rust.len());
    for (info, body) in &rust {
        for line in body.lines() {
            let l = line.trim_start();
            assert!(
                l != "#" && !l.starts_with("# "),
                "a rustdoc-hidden line, which a reader copies without: {line:?}\n{body}"
            );
        }
        assert!(body.contains("fn main()"), "not a whole program:\n{body}");
        assert!(
            info == "rust" || info == "rust,no_run",
            "{info}: every block compiles"
        );
    }
}

#[test]
fn the_readme_shows_the_examples_byte_for_byte() {
    let readme = readme();
    let examples = readme_examples();
    let names: Vec<_> = examples.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["readme_axum.rs", "readme_tonic.rs"]);
    let shown: Vec<_> = blocks(&readme).into_iter().map(|(_, b)| b).collect();
    for (name, text) in &examples {
        assert!(
            shown.iter().any(|b| b == text),
            "README.md does not show examples/{name} as it is"
        );
        assert!(
            readme.contains(&format!("(examples/{name})")),
            "README.md does not link examples/{name}"
        );
    }
}

/// The `[dependencies]` blocks, each with the example it serves.
fn dependency_blocks() -> Vec<(String, &'static str)> {
    let out: Vec<_> = blocks(&readme())
        .into_iter()
        .filter(|(info, body)| info == "toml" && body.starts_with("[dependencies]\n"))
        .map(|(_, body)| {
            let example = if body.contains(r#"features = ["axum"]"#) {
                "readme_axum.rs"
            } else if body.contains(r#"features = ["tonic"]"#) {
                "readme_tonic.rs"
            } else {
                panic!("which example does this serve?\n{body}")
            };
            (body, example)
        })
        .collect();
    assert_eq!(out.len(), 2, "one block for axum, one for tonic");
    out
}

#[test]
fn the_git_lines_are_the_checkout_lines_from_another_source() {
    let git: Vec<_> = blocks(&readme())
        .into_iter()
        .filter(|(info, body)| info == "toml" && body.contains("git = "))
        .map(|(_, body)| body)
        .collect();
    assert_eq!(git.len(), 1, "{git:?}");
    let source = r#"git = "https://github.com/attestgate/attestgate", rev = "<commit>""#;
    let as_paths: Vec<String> = git[0]
        .lines()
        .map(|l| {
            let path = if l.starts_with("attestgate-tower ") {
                r#"path = "../attestgate/tower-layer""#
            } else {
                r#"path = "../attestgate""#
            };
            assert!(l.contains(source), "{l}");
            l.replace(source, path)
        })
        .collect();
    let (axum, _) = dependency_blocks()
        .into_iter()
        .find(|(_, e)| *e == "readme_axum.rs")
        .unwrap();
    let first_two: Vec<&str> = axum.lines().skip(1).take(2).collect();
    assert_eq!(as_paths, first_two);
}

/// A new crate in `dir/app` with `dependencies` and `main`, next to a
/// checkout in `dir/attestgate` (a link to this repository), as the README
/// says: `cargo check` must pass.
fn check_new_crate(dir: &Path, dependencies: &str, main: &str) {
    let repo = crate_dir().parent().unwrap().canonicalize().unwrap();
    let checkout = dir.join("attestgate");
    if !checkout.exists() {
        std::os::unix::fs::symlink(&repo, &checkout).unwrap();
    }
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n{dependencies}\n# not a member of any workspace above\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(app.join("src/main.rs"), main).unwrap();
    // The versions the workspace is tested with, and only crates already
    // fetched: no network.
    std::fs::copy(repo.join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    let target: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-crates");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--offline", "--quiet"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a crate with the README's lines does not build:\n{dependencies}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_dependency_block_builds_its_example_in_a_new_crate() {
    for (dependencies, example) in dependency_blocks() {
        let dir = TempDir::new("readme-crate");
        let main = std::fs::read_to_string(crate_dir().join("examples").join(example)).unwrap();
        check_new_crate(dir.path(), &dependencies, &main);
    }
}
