//! Everything the tool writes on its standard output and error: the one
//! place that writes there (a tidy test checks), so that every line starts
//! clean after a child's unfinished one, no value's control character
//! reaches the terminal raw, and a write that fails is remembered instead
//! of panicking: the command goes on (a push half done is worse than a
//! lost line) and ends with exit 1, saying so where it still can.
//!
//! Whatever the caller chose as a destination works: a terminal, a pipe, a
//! file, `/dev/null` opened write-only or read-write. (A descriptor the
//! caller closed is `/dev/null` to us: Rust's runtime opens it there before
//! `main`, and nothing can tell the two apart afterwards.)

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Whether the last text passed on from a child left stderr in the middle
/// of a line.
static MID_LINE: AtomicBool = AtomicBool::new(false);

/// The first write that failed: which stream, and why.
static FAILED: Mutex<Option<(Stream, String)>> = Mutex::new(None);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

fn write(stream: Stream, text: &str) {
    write_bytes(stream, text.as_bytes());
}

fn write_bytes(stream: Stream, bytes: &[u8]) {
    let result = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(bytes),
    };
    if let Err(e) = result {
        let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
        if failed.is_none() {
            *failed = Some((stream, e.to_string()));
        }
    }
}

/// The first write that failed, if any.
pub fn failed() -> Option<(Stream, String)> {
    FAILED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A line of the command's result on stdout (a table row, a listing, a
/// JSON document), as is.
pub fn stdout_line(line: &str) {
    write(Stream::Stdout, &format!("{line}\n"));
}

/// Text on stdout, as is (a diff, whose lines end it).
pub fn stdout_text(text: &str) {
    write(Stream::Stdout, text);
}

/// A line on stderr, as is, starting clean.
pub fn stderr_line(line: &str) {
    end_child_line();
    write(Stream::Stderr, &format!("{line}\n"));
}

/// `note: …`: something the user may want to know; nothing is wrong.
pub fn note(msg: &str) {
    stderr_line(&format!("note: {}", printable(msg)));
}

/// `warning: …`: the command goes on, but something needs attention.
pub fn warn(msg: &str) {
    stderr_line(&format!("warning: {}", printable(msg)));
}

/// `error: …`: the one line a failed command ends with.
pub fn error(msg: &str) {
    stderr_line(&format!("error: {}", printable(msg)));
}

/// What a child prints, passed on to stderr as it comes, byte for byte
/// (its progress output may end without a newline).
pub fn child_bytes(bytes: &[u8]) {
    write_bytes(Stream::Stderr, bytes);
    MID_LINE.store(!bytes.ends_with(b"\n"), Ordering::SeqCst);
}

/// Make the next line of our own start clean: a child may have ended
/// without a newline (docker's progress output ends in `ESC[0m`); a colour
/// it left on is reset before the line ends.
pub fn end_child_line() {
    if MID_LINE.swap(false, Ordering::SeqCst) {
        write(Stream::Stderr, "\x1b[0m\n");
    }
}

/// `msg` with every control character escaped (`\u{1b}`), so that a value
/// or a child's message cannot move the cursor, colour or split the line.
pub fn printable(msg: &str) -> String {
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_print_no_control_character() {
        assert_eq!(
            printable("tag 'a\u{1b}[31mb'\r\x07"),
            "tag 'a\\u{1b}[31mb'\\r\\u{7}"
        );
        assert_eq!(printable("plain: é"), "plain: é");
    }
}
