//! Escaping of every runbook-, operator- or service-provided string before it reaches a report.
//!
//! A runbook author, an approver's comment or an SDRS error message can contain markup; reports
//! are opened in browsers and pasted into pull requests, so nothing provided from outside is ever
//! written raw.

use std::fmt;

/// Displays a string with the five HTML-significant characters escaped (text and attribute
/// values alike, since `"` and `'` are escaped too).
pub(crate) struct Html<'a>(pub &'a str);

impl fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(index) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..index])?;
            f.write_str(match rest.as_bytes()[index] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[index + 1..];
        }
        f.write_str(rest)
    }
}

/// Displays a string as inline Markdown text that renders as exactly these characters: HTML is
/// escaped (Markdown passes inline HTML through), the punctuation that acts inline is
/// backslash-escaped (no link, image, code span or emphasis can be injected), and line breaks
/// become spaces so that a value cannot end a table row or start a block.
pub(crate) struct Markdown<'a>(pub &'a str);

impl fmt::Display for Markdown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '\n' | '\r' => f.write_str(" ")?,
                // Values are always inline (never at the start of a line), so only what acts
                // inline is escaped: links and images need `[`, code spans a backtick, tables a
                // pipe, emphasis `*` or `~`. Underscores inside words (step ids) stay readable.
                '\\' | '`' | '*' | '[' | ']' | '|' | '~' => {
                    f.write_str("\\")?;
                    fmt::Write::write_char(f, c)?;
                }
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// A label inside a Mermaid node (`id["label"]`): Mermaid reads `#name;` entities there, so
/// quotes and markup characters are written as entities and line breaks as spaces.
pub(crate) struct MermaidLabel<'a>(pub &'a str);

impl fmt::Display for MermaidLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("#quot;")?,
                '<' => f.write_str("#lt;")?,
                '>' => f.write_str("#gt;")?,
                '&' => f.write_str("#amp;")?,
                '#' => f.write_str("#35;")?,
                '`' => f.write_str("#96;")?,
                '\n' | '\r' => f.write_str(" ")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            Html(r#"<script>alert("x&y")</script> it's"#).to_string(),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; it&#39;s"
        );
        assert_eq!(Html("plain-text_1").to_string(), "plain-text_1");
        assert_eq!(Html("ünïcödé ✓").to_string(), "ünïcödé ✓");
    }

    #[test]
    fn markdown_neutralises_links_code_html_and_rows() {
        let text = Markdown("[click](http://evil) `code` <b>x</b> a|b\nnext").to_string();
        assert_eq!(
            text,
            r"\[click\](http://evil) \`code\` &lt;b&gt;x&lt;/b&gt; a\|b next"
        );
    }

    #[test]
    fn mermaid_labels_cannot_close_their_quotes() {
        assert_eq!(
            MermaidLabel(r#"a"] --> x["b <i>"#).to_string(),
            "a#quot;] --#gt; x[#quot;b #lt;i#gt;"
        );
    }
}
