//! File names safe on the platform the CLI runs on. crypto-core's `sanitize_file_name` already
//! reduces a sender's name to one path component without control characters or leading dots
//! (enough on Unix, where only `/` and NUL are special); Windows refuses or reinterprets much
//! more: `C:evil.exe` names an alternate drive-relative path, `a:b` an NTFS stream, `CON` or
//! `nul.txt` a device, and a trailing dot or space is silently dropped.

/// The rules of one platform's file system API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux, macOS, the BSDs: `/` and NUL are the only special bytes.
    Unix,
    /// Win32: forbidden characters, device names, trailing dots and spaces.
    Windows,
}

impl Platform {
    /// The platform this binary was built for.
    pub const CURRENT: Platform = if cfg!(windows) {
        Platform::Windows
    } else {
        Platform::Unix
    };
}

/// What a name becomes when nothing of it is usable.
const FALLBACK: &str = "secret.bin";

/// Characters Win32 refuses in a file name (besides controls, already gone).
const WINDOWS_FORBIDDEN: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*'];

/// Device names Win32 opens instead of a file, whatever the extension (`nul.txt` is NUL).
const WINDOWS_DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$", "COM0", "COM1", "COM2", "COM3",
    "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// `name` (already one component from `sanitize_file_name`) made safe to create on `platform`:
/// forbidden characters become `_`, a device name gets a `_` in front, trailing dots and
/// spaces go. Never empty, never `.` or `..`.
pub fn platform_safe_name(name: &str, platform: Platform) -> String {
    let mut safe: String = match platform {
        Platform::Unix => name
            .chars()
            .map(|c| if c == '/' || c == '\0' { '_' } else { c })
            .collect(),
        Platform::Windows => windows_name(name),
    };
    if safe.is_empty() || safe == "." || safe == ".." {
        safe = FALLBACK.to_string();
    }
    safe
}

fn windows_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| {
            if c.is_control() || WINDOWS_FORBIDDEN.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    // Win32 drops them when creating the file, so the name saved would differ from the one
    // checked (and `evil.exe.` would become `evil.exe`).
    let trimmed = replaced.trim_end_matches(['.', ' ']);
    // `nul.txt`, `Com1 .tar.gz`: the part before the first dot, without trailing spaces.
    let stem = trimmed.split('.').next().unwrap_or_default().trim_end();
    // ASCII case folding only: Win32 matches `com¹` but not other scripts' look-alikes.
    let device = WINDOWS_DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem));
    if device {
        format!("_{trimmed}")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(platform: Platform, cases: &[(&str, &str)]) {
        for (input, expect) in cases {
            assert_eq!(
                platform_safe_name(input, platform),
                *expect,
                "{input:?} on {platform:?}"
            );
        }
    }

    #[test]
    fn windows_names() {
        check(
            Platform::Windows,
            &[
                ("report.pdf", "report.pdf"),
                ("grüße.txt", "grüße.txt"),
                // A drive-relative path, and an NTFS alternate data stream.
                ("C:evil.exe", "C_evil.exe"),
                ("notes.txt:hidden", "notes.txt_hidden"),
                ("a<b>c\"d|e?f*g", "a_b_c_d_e_f_g"),
                ("back\\slash", "back_slash"),
                // Devices, whatever the case or extension.
                ("CON", "_CON"),
                ("nul.txt", "_nul.txt"),
                ("Com1.tar.gz", "_Com1.tar.gz"),
                ("lpt9", "_lpt9"),
                ("COM¹.txt", "_COM¹.txt"),
                ("conin$", "_conin$"),
                ("aux .txt", "_aux .txt"),
                ("CONSOLE.txt", "CONSOLE.txt"),
                ("COM10", "COM10"),
                // Trailing dots and spaces.
                ("evil.exe.", "evil.exe"),
                ("name . . ", "name"),
                ("...", FALLBACK),
                ("", FALLBACK),
            ],
        );
    }

    #[test]
    fn unix_names() {
        check(
            Platform::Unix,
            &[
                ("report.pdf", "report.pdf"),
                ("C:evil.exe", "C:evil.exe"),
                ("CON", "CON"),
                ("evil.exe.", "evil.exe."),
                ("a/b", "a_b"),
                ("nul\0byte", "nul_byte"),
                ("..", FALLBACK),
                ("", FALLBACK),
            ],
        );
    }

    #[test]
    fn current_platform() {
        assert_eq!(
            Platform::CURRENT == Platform::Windows,
            cfg!(windows),
            "the build target decides"
        );
    }
}
