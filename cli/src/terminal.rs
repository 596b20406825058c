//! Text from others (a secret, a server's error message) shown on a terminal: control
//! characters are escaped, so a secret cannot move the cursor, rewrite what is on screen, set
//! the window title or fill the clipboard (OSC 52). Only for terminals: a pipe or a file gets
//! the exact bytes.

use std::io::{IsTerminal, Write};

/// Escapes control characters in a byte stream fed in pieces of any size: C0 (but `\n`, `\t`
/// and `\r` directly before `\n`), DEL and C1 as `\xNN` / `\u{NN}`, and bytes that are not
/// UTF-8 as `\xNN` (a terminal may read a lone 0x9B as CSI).
#[derive(Default)]
pub struct Escaper {
    /// The end of the previous piece: an incomplete UTF-8 sequence, or a `\r` whose successor
    /// decides whether it stays.
    pending: Vec<u8>,
    /// How many characters or bytes were escaped so far.
    escaped: u64,
}

impl Escaper {
    /// Escapes `data` into `out`, holding back what the next piece may complete.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut input = std::mem::take(&mut self.pending);
        input.extend_from_slice(data);
        let mut rest = &input[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    let keep = usize::from(text.ends_with('\r'));
                    self.escape_str(&text[..text.len() - keep], out);
                    self.pending = text.as_bytes()[text.len() - keep..].to_vec();
                    return;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // Safe: `from_utf8` vouched for this prefix.
                    self.escape_str(std::str::from_utf8(valid).unwrap_or_default(), out);
                    match e.error_len() {
                        Some(n) => {
                            for byte in &after[..n] {
                                self.escape_byte(*byte, out);
                            }
                            rest = &after[n..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Escapes what is still held back (the input ended).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        for byte in std::mem::take(&mut self.pending) {
            self.escape_byte(byte, out);
        }
    }

    /// How many characters or bytes were shown escaped.
    pub fn escaped(&self) -> u64 {
        self.escaped
    }

    fn escape_str(&mut self, text: &str, out: &mut Vec<u8>) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let line_end = c == '\r' && chars.peek() == Some(&'\n');
            if c == '\n' || c == '\t' || line_end || !c.is_control() {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            } else if (c as u32) < 0x80 {
                self.escape_byte(c as u8, out);
            } else {
                // C1 (U+0080–U+009F), the only controls beyond ASCII.
                self.escaped += 1;
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }

    fn escape_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        self.escaped += 1;
        let _ = write!(out, "\\x{byte:02x}");
    }
}

/// `text` with its control characters escaped (for one-shot messages).
pub fn escape(text: &str) -> String {
    let mut escaper = Escaper::default();
    let mut out = Vec::with_capacity(text.len());
    escaper.push(text.as_bytes(), &mut out);
    escaper.finish(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A line for stderr: escaped when stderr is a terminal, as is otherwise.
pub fn for_stderr(text: &str) -> String {
    if std::io::stderr().is_terminal() {
        escape(text)
    } else {
        text.to_string()
    }
}

/// Text for stdout: escaped when stdout is a terminal, as is otherwise.
pub fn for_stdout(text: &str) -> String {
    if std::io::stdout().is_terminal() {
        escape(text)
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expect: &str) {
        // Every split point gives the same result: pieces may end anywhere.
        for split in 0..=input.len() {
            let mut escaper = Escaper::default();
            let mut out = Vec::new();
            escaper.push(&input[..split], &mut out);
            escaper.push(&input[split..], &mut out);
            escaper.finish(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expect,
                "split at {split} of {input:?}"
            );
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        check(b"plain text\n\tindented\n", "plain text\n\tindented\n");
        check("grüße 🙂".as_bytes(), "grüße 🙂");
        // OSC 52 (set the clipboard), a CSI sequence, a bell.
        check(b"\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07");
        check(b"\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H");
        // CR only as part of CRLF; a lone CR could overwrite the line.
        check(b"a\r\nb\rc\r", "a\r\nb\\x0dc\\x0d");
        check(b"nul\0del\x7f", "nul\\x00del\\x7f");
        // C1 as characters (CSI U+009B) and as raw bytes that are not UTF-8.
        check("x\u{9b}31m".as_bytes(), "x\\u{9b}31m");
        check(b"\x9b31m\xff", "\\x9b31m\\xff");
        // An incomplete sequence at the very end.
        check(b"ok\xe2\x82", "ok\\xe2\\x82");
    }

    #[test]
    fn escapes_are_counted() {
        let mut escaper = Escaper::default();
        let mut out = Vec::new();
        escaper.push(b"\x1b[1m\x9b", &mut out);
        escaper.finish(&mut out);
        assert_eq!(escaper.escaped(), 2);
        assert_eq!(escape("fine\n"), "fine\n");
    }
}
