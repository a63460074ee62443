//! Building `q` strings safely: every value goes through [`quote`].

/// Quotes a string literal for `q`: single quotes, with `\` and `'` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `'PARENT' in parents and trashed = false`.
pub fn children_of(parent: &str) -> String {
    format!("{} in parents and trashed = false", quote(parent))
}

/// Children of `parent` named exactly `name`.
pub fn child_named(parent: &str, name: &str) -> String {
    format!("{} and name = {}", children_of(parent), quote(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_backslashes() {
        assert_eq!(quote("a'b"), r"'a\'b'");
        assert_eq!(quote(r"back\slash"), r"'back\\slash'");
        assert_eq!(
            child_named("root", "it's"),
            r"'root' in parents and trashed = false and name = 'it\'s'"
        );
    }
}
