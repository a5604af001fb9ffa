//! Reading secrets (passwords, one-time codes) without echoing them.
//!
//! On a terminal the prompt goes to it and nothing typed is shown (`rpassword` reads the tty
//! directly); when stdin is not a terminal (scripts, `--password-stdin`) one line is read from it.

use std::io::{BufRead, IsTerminal};

use crate::context::{CliError, CliResult};

/// One secret: prompted without echo on a terminal, else the next line of stdin.
pub fn read_secret(prompt: &str) -> CliResult<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::failed(format!("cannot read from the terminal: {e}")))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if value.is_empty() {
        return Err(CliError::usage(format!(
            "nothing entered for {}",
            prompt.trim_end_matches([':', ' '])
        )));
    }
    Ok(value)
}

/// A new password, asked twice on a terminal.
pub fn read_new_password(prompt: &str) -> CliResult<String> {
    let first = read_secret(prompt)?;
    if std::io::stdin().is_terminal() {
        let again = read_secret("again: ")?;
        if again != first {
            return Err(CliError::usage("the two entries differ"));
        }
    }
    Ok(first)
}
