//! Markdown files (a folder's `README.md`, a previewed `.md`) rendered to HTML the page can show safely.
//!
//! The file is someone else's text: raw HTML in it (blocks and inline tags) is written out as text, never
//! as markup; link targets keep only `http`, `https` and `mailto` schemes or relative references (a
//! `javascript:` or `data:` link becomes `#`). An image by a relative reference stays an image (the page
//! resolves it beside the Markdown file and loads it through its own origin, with the reader's rights); an
//! image on the web becomes a link to it, with its alternative text (the page loads nothing from outside
//! its origin); any other image becomes its alternative text. The page then copies the result into its
//! own elements through an allow-list of tags and attributes, and its CSP forbids inline script in any
//! case.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// The most of a file rendered (the rest is cut, and the answer says so).
pub const MAX_BYTES: usize = 1024 * 1024;

/// Whether a link target may stay as it is.
fn safe_link(dest: &str) -> bool {
    let d = dest.trim();
    // A scheme is letters, digits, `+`, `-`, `.` before the first `:` that comes before any `/?#`.
    let scheme_end = d.find(':');
    let path_start = d.find(['/', '?', '#']);
    match (scheme_end, path_start) {
        (Some(c), p) if p.is_none_or(|p| c < p) => {
            let scheme = d[..c].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
        _ => !d.chars().any(|c| c.is_control()),
    }
}

/// What becomes of an image.
#[derive(Clone, Copy)]
enum ImageKind {
    /// A relative reference (a file beside the Markdown): an image.
    Beside,
    /// On the web: a link to it.
    Web,
    /// Anything else (`data:`, other schemes): its alternative text.
    Other,
}

fn image_kind(dest: &str) -> ImageKind {
    let d = dest.trim();
    let lower = d.to_ascii_lowercase();
    if d.is_empty() || !safe_link(d) || lower.starts_with("mailto:") || d.starts_with("//") {
        ImageKind::Other
    } else if lower.starts_with("http:") || lower.starts_with("https:") {
        ImageKind::Web
    } else {
        ImageKind::Beside
    }
}

/// `text` (Markdown) as sanitised HTML.
pub fn render(text: &str) -> String {
    // Images open (an image's alternative text may hold another image).
    let mut images: Vec<ImageKind> = Vec::new();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, opts).filter_map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let kind = image_kind(&dest_url);
            images.push(kind);
            match kind {
                ImageKind::Beside => Some(Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                })),
                ImageKind::Web => Some(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                })),
                // The alternative text between them stays, as text.
                ImageKind::Other => None,
            }
        }
        Event::End(TagEnd::Image) => match images.pop() {
            Some(ImageKind::Beside) => Some(Event::End(TagEnd::Image)),
            Some(ImageKind::Web) => Some(Event::End(TagEnd::Link)),
            _ => None,
        },
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if safe_link(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            };
            Some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    // A table column's alignment as the `align` attribute, not an inline style (which the page's
    // Content-Security-Policy refuses). Only the writer's own tags match: raw HTML in the file became
    // text above, its `<` escaped, so the file's words are never changed.
    for cell in ["th", "td"] {
        for side in ["left", "center", "right"] {
            out = out.replace(
                &format!("<{cell} style=\"text-align: {side}\">"),
                &format!("<{cell} align=\"{side}\">"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_beside_stay_images_and_others_do_not() {
        let out = render(
            "![a cat](pics/cat.jpg \"Tom\") ![up](../b.png) ![x](data:image/png;base64,AA) \
             ![y](javascript:alert(1)) ![z](//cdn.example/z.png) ![w](mailto:a@b.c) ![\"q\" <s>](q.png)",
        );
        assert!(
            out.contains("<img src=\"pics/cat.jpg\" alt=\"a cat\" title=\"Tom\" />"),
            "{out}"
        );
        assert!(out.contains("<img src=\"../b.png\" alt=\"up\" />"), "{out}");
        assert_eq!(out.matches("<img").count(), 3, "{out}");
        // The alternative text cannot leave its attribute.
        assert!(out.contains("alt=\"&quot;q&quot; &lt;s&gt;\""), "{out}");
        assert!(
            !out.contains("data:") && !out.contains("javascript") && !out.contains("cdn."),
            "{out}"
        );
        assert!(out.contains(">x") || out.contains(" x"), "{out}");
    }

    #[test]
    fn raw_html_is_text_and_bad_links_are_dropped() {
        let out = render(
            "# Hi <b>x</b>\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n\
             [a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c]( data:text/html,x) \
             [d](https://example.com/?q=1) [e](notes/todo.md) [f](mailto:a@b.c)\n\n\
             ![alt text](https://tracker.example/pixel.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(!out.contains("<b>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.to_lowercase().contains("javascript:"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert!(out.contains("href=\"https://example.com/?q=1\""), "{out}");
        assert!(out.contains("href=\"notes/todo.md\""), "{out}");
        assert!(out.contains("href=\"mailto:a@b.c\""), "{out}");
        // An image on the web is a link to it, never loaded by the page.
        assert!(
            out.contains("<a href=\"https://tracker.example/pixel.png\">alt text</a>"),
            "{out}"
        );
        assert!(out.contains("<table>") && out.contains("<h1>"), "{out}");
    }

    #[test]
    fn table_alignment_is_an_attribute_and_a_files_own_style_stays_text() {
        let out = render(
            "| l | c | r |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n\n<p style=\"text-align: center\">x</p>\n",
        );
        assert!(
            out.contains("<th align=\"left\">") && out.contains("<td align=\"center\">"),
            "{out}"
        );
        assert!(out.contains("<td align=\"right\">"), "{out}");
        assert!(
            !out.contains("<th style=") && !out.contains("<td style="),
            "{out}"
        );
        assert!(
            out.contains("&lt;p style=\"text-align: center\"&gt;"),
            "the file's own HTML stays text, unchanged: {out}"
        );
    }

    #[test]
    fn schemes() {
        for ok in [
            "https://x",
            "http://x",
            "MAILTO:a@b",
            "a/b.md",
            "#top",
            "?q=a:b",
            "/x:y",
        ] {
            assert!(safe_link(ok), "{ok}");
        }
        for bad in [
            "javascript:x",
            " vbscript:x",
            "data:x",
            "file:///etc/passwd",
            "a\u{1}b",
        ] {
            assert!(!safe_link(bad), "{bad}");
        }
    }
}
