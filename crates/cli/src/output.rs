//! Writing to stdout without panicking on a closed pipe (`elevenfold ... | head` is success).

use std::io::{self, Write};

/// Writes `text` and a newline to stdout; a closed pipe counts as success.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}
