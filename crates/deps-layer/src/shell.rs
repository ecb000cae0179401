//! Commands shown to the user to copy, and written into generated files' headers.

/// A word as a POSIX shell reads it back.
pub fn word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Why a path cannot be named in a generated file's one-line header, if it cannot: a control
/// character (a newline) would end the comment and let the rest be read as TOML.
pub fn unprintable(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_with_spaces_or_quotes_are_quoted() {
        assert_eq!(word("nix/deps"), "nix/deps");
        assert_eq!(word("my deps"), "'my deps'");
        assert_eq!(word("it's"), "'it'\\''s'");
        assert_eq!(word(""), "''");
    }

    #[test]
    fn control_characters_are_found() {
        assert_eq!(unprintable("nix/deps"), None);
        assert_eq!(unprintable("x\n[patch]"), Some('\n'));
    }
}
