//! docs/PINNING.md's worked example, run as written: every `$ ` line of
//! every `console` block of the section, in order, in one bash from an
//! empty directory, with the `attestgate` under test first on the PATH.
//! Each command's output (stdout and stderr, as a terminal shows them)
//! must be what the doc shows, once keys, dates and timings — different
//! on every run — are masked (the same key must be the same key in both).
//!
//! The doc's ports 8443 and 8444 are replaced by two free ports for the
//! run and put back in the output. `UPDATE_PINNING_EXAMPLE=1` writes the
//! outputs of this run into the doc (review the diff).

use std::path::{Path, PathBuf};
use std::process::Command;

const SECTION: &str = "## A worked example";
const PORTS: [&str; 2] = ["8443", "8444"];

struct Step {
    command: String,
    output: Vec<String>,
    /// Line range of the output in the doc (to rewrite it).
    lines: (usize, usize),
}

fn doc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PINNING.md")
}

/// The steps of the section's console blocks.
fn steps(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with(SECTION)).unwrap();
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |e| start + 1 + e);
    let mut out: Vec<Step> = Vec::new();
    let mut i = start;
    let mut in_block = false;
    while i < end {
        let line = lines[i];
        if line == "```console" {
            in_block = true;
        } else if in_block && line == "```" {
            in_block = false;
        } else if in_block {
            if let Some(cmd) = line.strip_prefix("$ ") {
                let mut command = cmd.to_owned();
                if let Some(tag) = cmd.split("<<'").nth(1).map(|t| t.trim_end_matches('\'')) {
                    // a here-document: its lines belong to the command
                    loop {
                        i += 1;
                        command.push('\n');
                        command.push_str(lines[i]);
                        if lines[i] == tag {
                            break;
                        }
                    }
                }
                out.push(Step {
                    command,
                    output: Vec::new(),
                    lines: (i + 1, i + 1),
                });
            } else if let Some(step) = out.last_mut() {
                step.output.push(line.to_owned());
                step.lines.1 = i + 1;
            }
        }
        i += 1;
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Masks what differs between runs: pins (numbered by first appearance,
/// so the same key stays the same key), timestamps, dates, timings and
/// day counts.
fn mask(lines: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    lines
        .iter()
        .map(|line| {
            let mut out = String::new();
            let words = split_keep(line);
            for (i, word) in words.iter().enumerate() {
                let bare = word.trim_matches(|c: char| "\"(),;:".contains(c));
                let next = words[i + 1..]
                    .iter()
                    .find(|w| *w != " ")
                    .map(String::as_str);
                if bare.len() == 44
                    && bare.ends_with('=')
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
                {
                    let n = seen.iter().position(|s| s == bare).unwrap_or_else(|| {
                        seen.push(bare.to_owned());
                        seen.len() - 1
                    });
                    out.push_str(&word.replace(bare, &format!("<pin {n}>")));
                } else if is_number(word)
                    && (word.contains('.') || next.is_some_and(|n| n.starts_with("day")))
                {
                    // a timing (0.3 s) or a count of days left
                    out.push_str("<n>");
                } else {
                    out.push_str(&mask_dates(word));
                }
            }
            out
        })
        .collect()
}

fn is_number(word: &str) -> bool {
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_digit() || c == '.')
        && word.matches('.').count() <= 1
}

fn split_keep(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in line.chars() {
        if c == ' ' || c == '>' || c == '<' {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn mask_dates(word: &str) -> String {
    let b = word.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let digits = |from: usize, n: usize| {
        b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    while i < b.len() {
        // YYYY-MM-DD, and THH:MM:SSZ after it
        if digits(i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8, 2)
        {
            out.push_str("<date>");
            i += 10;
            if b.get(i) == Some(&b'T') {
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b':' || b[i] == b'Z') {
                    i += 1;
                }
            }
        } else {
            let c = word[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn the_worked_example_runs_as_written() {
    let text = std::fs::read_to_string(doc()).unwrap();
    let steps = steps(&text);
    assert!(steps.len() >= 15, "{} steps", steps.len());
    let dir = std::env::temp_dir().join(format!("attestgate-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_attestgate"))
        .parent()
        .unwrap();
    let ports = [free_port(), free_port()];
    let to_run = |s: &str| {
        let mut s = s.to_owned();
        for (doc_port, port) in PORTS.iter().zip(ports) {
            s = s.replace(doc_port, &port.to_string());
        }
        s
    };
    let mut script = String::from(
        "set -u\ntrap 'for f in $(find \"$EXAMPLE_DIR\" -name \"server-*.pid\"); do kill $(cat \"$f\") 2>/dev/null; done' EXIT\n",
    );
    for (i, step) in steps.iter().enumerate() {
        script.push_str(&format!(
            "echo '@@step {i}'\n{{ {}\n}} 2>&1\n",
            to_run(&step.command)
        ));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("EXAMPLE_DIR", &dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("bash");
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut got: Vec<Vec<String>> = vec![Vec::new(); steps.len()];
    let mut at = None;
    for line in all.lines() {
        if let Some(n) = line.strip_prefix("@@step ") {
            at = n.parse::<usize>().ok();
            continue;
        }
        let mut line = line.to_owned();
        for (doc_port, port) in PORTS.iter().zip(ports) {
            line = line.replace(&port.to_string(), doc_port);
        }
        got[at.expect("output before the first step")].push(line);
    }
    if std::env::var_os("UPDATE_PINNING_EXAMPLE").is_some() {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for (step, new) in steps.iter().zip(&got).rev() {
            lines.splice(step.lines.0..step.lines.1, new.iter().cloned());
        }
        std::fs::write(doc(), lines.join("\n") + "\n").unwrap();
        eprintln!("docs/PINNING.md: the worked example's outputs rewritten from this run");
        return;
    }
    let want: Vec<String> = steps.iter().flat_map(|s| s.output.clone()).collect();
    let have: Vec<String> = got.iter().flatten().cloned().collect();
    let (want_masked, have_masked) = (mask(&want), mask(&have));
    for (i, step) in steps.iter().enumerate() {
        let from: usize = steps[..i].iter().map(|s| s.output.len()).sum();
        let from_got: usize = got[..i].iter().map(Vec::len).sum();
        assert_eq!(
            &have_masked[from_got..from_got + got[i].len()],
            &want_masked[from..from + step.output.len()],
            "step {i}: $ {}\n--- the doc shows:\n{}\n--- the run printed:\n{}",
            step.command,
            step.output.join("\n"),
            got[i].join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("worked example: {} commands run as written", steps.len());
}
