//! The newcomer's path holds: the README's install command installs the
//! binary the docs call (cargo says so), and the links of the README, the
//! tower layer's README and docs/DEPLOY.md lead somewhere (files, and
//! headings as GitHub names their anchors).

use std::path::Path;
use std::process::Command;

use attestgate_testkit::repo_root;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn cargo_install_path_proxy_installs_the_attestgate_binary() {
    let readme = read("README.md");
    let install = "cargo install --path proxy --locked";
    assert!(readme.contains(install), "README.md lost `{install}`");
    assert!(readme.contains("~/.cargo/bin/attestgate"));
    assert!(readme.contains("target/release/attestgate"));

    // What cargo would install from proxy/: its binaries.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let proxy_manifest = repo_root().join("proxy/Cargo.toml");
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| Path::new(p["manifest_path"].as_str().unwrap()) == proxy_manifest)
        .expect("a package in proxy/");
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        bins,
        ["attestgate"],
        "what `{install}` puts in ~/.cargo/bin"
    );
    // `cargo uninstall` takes the package's name.
    let name = package["name"].as_str().unwrap();
    assert!(
        readme.contains(&format!("cargo uninstall {name}")),
        "README.md: cargo uninstall {name}"
    );
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped
/// (but `-` and `_`), spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of `[text](target)` links outside code blocks.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn the_newcomer_docs_link_to_files_and_headings_that_exist() {
    let mut checked = 0;
    for doc in ["README.md", "tower-layer/README.md", "docs/DEPLOY.md"] {
        let dir = repo_root().join(doc).parent().unwrap().to_path_buf();
        for link in links(&read(doc)) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                repo_root().join(doc)
            } else {
                dir.join(file)
            };
            assert!(target.exists(), "{doc}: {link} leads nowhere");
            if !fragment.is_empty() {
                let text = std::fs::read_to_string(&target).unwrap();
                assert!(
                    anchors(&text).iter().any(|a| a == fragment),
                    "{doc}: {link}: no such heading"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} links");
}
