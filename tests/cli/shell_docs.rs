//! `attestgate completions bash|zsh|fish` and `attestgate man`, read by
//! their real consumers: bash's `complete`, `zsh -n`, fish (`-n` and its
//! own completer), and man/groff with warnings on. A missing shell or
//! groff is a failure (scripts/ensure-tools installs them).

use std::path::Path;
use std::process::{Command, Output};

use attestgate_proxy::cli::Cli;
use attestgate_testkit::TempDir;
use clap::CommandFactory;

fn ag(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `program` (which must be installed) and returns its output.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/ensure-tools): {e}"))
}

/// Every top-level verb, from the same clap tree the binary parses with.
fn verbs() -> Vec<String> {
    let verbs: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    assert!(verbs.len() >= 8, "{verbs:?}");
    verbs
}

fn script(dir: &TempDir, shell: &str) -> String {
    let path = dir.join(format!("attestgate.{shell}"));
    std::fs::write(&path, ag(&["completions", shell]).stdout).unwrap();
    path.display().to_string()
}

#[test]
fn bash_sources_the_completion_and_completes_every_verb() {
    let dir = TempDir::new("cli-complete-bash");
    let file = script(&dir, "bash");
    let registered = run(
        "bash",
        &[
            "--norc",
            "--noprofile",
            "-c",
            &format!("source '{file}' && complete -p attestgate"),
        ],
    );
    let spec = text(&registered.stdout);
    assert!(registered.status.success(), "{}", text(&registered.stderr));
    assert!(spec.trim_end().ends_with(" attestgate"), "{spec}");
    // Ask the registered function what follows `attestgate ` and `attestgate check-config --`.
    let function = spec
        .split_whitespace()
        .skip_while(|w| *w != "-F")
        .nth(1)
        .unwrap_or_else(|| panic!("no -F function in {spec}"))
        .to_owned();
    let complete = |line: &str| {
        let out = run(
            "bash",
            &[
                "--norc",
                "--noprofile",
                "-c",
                &format!(
                    "source '{file}'; COMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                     COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
                     {function} attestgate \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
                     printf '%s\\n' \"${{COMPREPLY[@]}}\""
                ),
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let all = complete("attestgate ''");
    for verb in verbs() {
        assert!(all.lines().any(|l| l == verb), "{verb} not offered:\n{all}");
    }
    let flags = complete("attestgate check-config --");
    assert!(flags.lines().any(|l| l == "--offline"), "{flags}");
}

#[test]
fn zsh_and_fish_parse_their_scripts_and_fish_completes_every_verb() {
    let dir = TempDir::new("cli-complete-zsh-fish");
    let zsh = script(&dir, "zsh");
    let out = run("zsh", &["-n", &zsh]);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        text(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&zsh)
            .unwrap()
            .starts_with("#compdef attestgate")
    );

    let fish = script(&dir, "fish");
    let out = run("fish", &["-n", &fish]);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!(
                "source '{fish}'; complete -C 'attestgate '; complete -C 'attestgate check-config --'"
            ),
        ],
    );
    let offered = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for verb in verbs() {
        assert!(
            offered
                .lines()
                .any(|l| l.split('\t').next() == Some(verb.as_str())),
            "{verb} not offered:\n{offered}"
        );
    }
    assert!(
        offered.lines().any(|l| l.starts_with("--offline")),
        "{offered}"
    );
}

/// Text as a terminal shows it: grotty's overstrikes (`N\bN` bold, `_\bx`
/// underline) folded to the letter.
fn plain(shown: &str) -> String {
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

/// groff renders `page` with every warning on: no warning, and the text.
fn render(page: &Path) -> String {
    let out = run(
        "groff",
        &["-man", "-Tutf8", "-ww", &page.display().to_string()],
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}: {}",
        page.display(),
        text(&out.stderr)
    );
    plain(&text(&out.stdout))
}

#[test]
fn the_man_page_renders_without_warnings_and_names_every_verb() {
    let dir = TempDir::new("cli-man");
    let page = dir.join("attestgate.1");
    std::fs::write(&page, ag(&["man"]).stdout).unwrap();
    let groffed = render(&page);
    // man itself, as a user runs it, with groff's warnings passed on.
    let out = run(
        "man",
        &["--warnings", "-P", "cat", "-l", &page.display().to_string()],
    );
    let shown = plain(&text(&out.stdout));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        text(&out.stderr)
    );
    // groff may hyphenate or break a long verb; look at the words joined.
    let words = |s: &str| {
        s.replace(['\u{2010}', '\u{2212}'], "-")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    for rendered in [&groffed, &shown] {
        let joined = words(rendered);
        assert!(joined.contains("NAME attestgate"), "{joined}");
        for verb in verbs() {
            assert!(
                joined.contains(&format!("attestgate-{verb}(1)")),
                "{verb} missing in:\n{joined}"
            );
        }
    }
}

#[test]
fn man_out_writes_a_page_per_verb_each_rendering_cleanly() {
    let dir = TempDir::new("cli-man-out");
    let out = dir.join("man1");
    std::fs::create_dir(&out).unwrap();
    ag(&["man", "--out", &out.display().to_string()]);
    render(&out.join("attestgate.1"));
    for verb in verbs() {
        let page = out.join(format!("attestgate-{verb}.1"));
        assert!(page.exists(), "{} missing", page.display());
        let shown = render(&page);
        assert!(shown.contains(&format!("attestgate-{verb}")), "{shown}");
    }
    let check = render(&out.join("attestgate-check-config.1"));
    assert!(check.contains("--offline"), "{check}");
}
