//! Subtitles for the browser's player: SubRip (`.srt`, what sits beside most videos) turned into WebVTT,
//! the only format `<track>` loads; WebVTT passed through. Bounded: a subtitle file larger than
//! [`MAX_BYTES`] is refused, not read.

/// The largest subtitle file converted (a feature film's is ~100 KB).
pub const MAX_BYTES: u64 = 4 << 20;

/// Whether `name` is a subtitle file this converts.
pub fn is_subtitles(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".srt") || lower.ends_with(".vtt")
}

/// `text` (SubRip or WebVTT) as WebVTT: a `WEBVTT` header, and SubRip's `00:00:01,500` times written
/// `00:00:01.500` on the timing lines (cue text is left as it is; a byte-order mark is dropped).
pub fn to_vtt(text: &str) -> String {
    let text = text.trim_start_matches('\u{feff}');
    if text.starts_with("WEBVTT") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str("WEBVTT\n\n");
    for line in text.lines() {
        if line.contains("-->") {
            out.push_str(&line.replace(',', "."));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subrip_becomes_webvtt_and_webvtt_stays() {
        let srt = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\nHello, world\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n<i>Bye</i>\r\n";
        let vtt = to_vtt(srt);
        assert!(
            vtt.starts_with("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\n"),
            "{vtt}"
        );
        assert!(
            vtt.contains("Hello, world"),
            "cue text keeps its commas: {vtt}"
        );
        assert!(
            vtt.contains("00:00:03.000 --> 00:00:04.000\n<i>Bye</i>"),
            "{vtt}"
        );
        let own = "WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n";
        assert_eq!(to_vtt(own), own);
        assert!(is_subtitles("Film.EN.SRT") && is_subtitles("a.vtt") && !is_subtitles("a.txt"));
    }
}
