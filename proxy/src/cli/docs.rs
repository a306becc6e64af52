//! `attestgate completions SHELL` and `attestgate man`: generated from the
//! same clap tree that parses the command line, so they cannot drift from it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::Cli;

/// The shells a completion script is written for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    /// bash (source it, or put it in bash-completion's completions folder).
    Bash,
    /// zsh (put it on $fpath as `_attestgate`).
    Zsh,
    /// fish (put it in ~/.config/fish/completions/attestgate.fish).
    Fish,
}

/// Prints the completion script for `shell`.
pub(super) fn completions(shell: Shell) -> ExitCode {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "attestgate", &mut script);
    emit("completions", &script)
}

/// Prints the man page, or writes every verb's page into `out`.
pub(super) fn man(out: Option<&Path>) -> ExitCode {
    match out {
        Some(dir) => match clap_mangen::generate_to(Cli::command(), dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("attestgate man: cannot write into {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
        None => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => emit("man", &page),
                Err(e) => {
                    eprintln!("attestgate man: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Writes `bytes` to stdout; a closed pipe is an error, not a panic.
fn emit(verb: &str, bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attestgate {verb}: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
