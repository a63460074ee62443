//! Google Docs on a mount: files the service keeps no bytes of, shown as their export in the first of
//! the mount's `--export-formats` their kind has (`Report` → `Report.docx`), read-only. Their size is
//! unknown until one is opened (the open exports it whole; Drive caps an export at 10 MB), so they are
//! read with direct I/O, to their end whatever size was shown. A kind none of the formats fits is left
//! out, as are the kinds with nothing to export (forms, sites, shortcuts).

use cloudmux_core::Entry;

/// The MIME type prefix of the files Drive keeps no bytes of.
const GOOGLE_APPS: &str = "application/vnd.google-apps.";
const DOCUMENT: &str = "application/vnd.google-apps.document";
const SPREADSHEET: &str = "application/vnd.google-apps.spreadsheet";
const PRESENTATION: &str = "application/vnd.google-apps.presentation";
const DRAWING: &str = "application/vnd.google-apps.drawing";
const SCRIPT: &str = "application/vnd.google-apps.script";

/// Every export Drive documents: the kind, the extension a user names it by, the MIME type asked for.
const EXPORTS: &[(&str, &str, &str)] = &[
    (
        DOCUMENT,
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (DOCUMENT, "odt", "application/vnd.oasis.opendocument.text"),
    (DOCUMENT, "rtf", "application/rtf"),
    (DOCUMENT, "pdf", "application/pdf"),
    (DOCUMENT, "txt", "text/plain"),
    (DOCUMENT, "md", "text/markdown"),
    (DOCUMENT, "html", "text/html"),
    (DOCUMENT, "epub", "application/epub+zip"),
    (DOCUMENT, "zip", "application/zip"),
    (
        SPREADSHEET,
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        SPREADSHEET,
        "ods",
        "application/vnd.oasis.opendocument.spreadsheet",
    ),
    (SPREADSHEET, "csv", "text/csv"),
    (SPREADSHEET, "tsv", "text/tab-separated-values"),
    (SPREADSHEET, "pdf", "application/pdf"),
    (SPREADSHEET, "zip", "application/zip"),
    (
        PRESENTATION,
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    (
        PRESENTATION,
        "odp",
        "application/vnd.oasis.opendocument.presentation",
    ),
    (PRESENTATION, "pdf", "application/pdf"),
    (PRESENTATION, "txt", "text/plain"),
    (DRAWING, "svg", "image/svg+xml"),
    (DRAWING, "png", "image/png"),
    (DRAWING, "jpg", "image/jpeg"),
    (DRAWING, "pdf", "application/pdf"),
    (SCRIPT, "json", "application/vnd.google-apps.script+json"),
];

/// The formats used when none are given: what an office suite opens (rclone's choice too).
pub const DEFAULT_FORMATS: &str = "docx,xlsx,pptx,svg";

/// The extensions of `list` (comma-separated, a leading dot allowed), each one Drive exports to; an
/// unknown one is an error naming those it could be.
pub fn parse_formats(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let f = f.trim_start_matches('.').to_ascii_lowercase();
        if !EXPORTS.iter().any(|(_, ext, _)| *ext == f) {
            let mut known: Vec<&str> = EXPORTS.iter().map(|(_, ext, _)| *ext).collect();
            known.sort_unstable();
            known.dedup();
            return Err(format!(
                "--export-formats: {f} is not a format Drive exports to; these are: {}",
                known.join(",")
            ));
        }
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Whether `e` (as the service listed it) is a file the service keeps no bytes of.
fn is_doc(e: &Entry) -> bool {
    !e.is_dir
        && e.mime
            .as_deref()
            .is_some_and(|m| m.starts_with(GOOGLE_APPS))
}

/// The extension and MIME type a file of kind `mime` is exported as: the first of `formats` it has.
fn export_as(formats: &[String], mime: &str) -> Option<(&'static str, &'static str)> {
    formats.iter().find_map(|f| {
        EXPORTS
            .iter()
            .find(|(kind, ext, _)| *kind == mime && ext == f)
            .map(|(_, ext, m)| (*ext, *m))
    })
}

/// How `e` is shown on the mount: as it is, renamed to its export (`None`: left out).
pub fn present(e: Entry, formats: &[String]) -> Option<Entry> {
    if !is_doc(&e) {
        return Some(e);
    }
    let (ext, _) = export_as(formats, e.mime.as_deref()?)?;
    let mut e = e;
    e.name = format!("{}.{ext}", e.name);
    e.path = format!("{}.{ext}", e.path);
    e.size = None;
    Some(e)
}

/// For an entry [`present`] renamed: the name the service gives it and the MIME type to export it as.
pub fn source(e: &Entry, formats: &[String]) -> Option<(String, &'static str)> {
    if !is_doc(e) {
        return None;
    }
    let (ext, mime) = export_as(formats, e.mime.as_deref()?)?;
    let name = e.name.strip_suffix(&format!(".{ext}"))?;
    Some((name.to_string(), mime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, mime: &str) -> Entry {
        let mut e = Entry::dir(format!("f/{name}"));
        e.is_dir = false;
        e.mime = Some(mime.into());
        e
    }

    #[test]
    fn docs_take_the_first_format_their_kind_has() {
        let formats = parse_formats("docx, .CSV,txt").unwrap();
        assert_eq!(formats, ["docx", "csv", "txt"]);
        let e = present(doc("Report", DOCUMENT), &formats).unwrap();
        assert_eq!(
            (e.name.as_str(), e.path.as_str()),
            ("Report.docx", "f/Report.docx")
        );
        assert_eq!(
            source(&e, &formats),
            Some((
                "Report".to_string(),
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            ))
        );
        let sheet = present(doc("Sums", SPREADSHEET), &formats).unwrap();
        assert_eq!(sheet.name, "Sums.csv");
        assert_eq!(
            present(doc("Deck", PRESENTATION), &formats).unwrap().name,
            "Deck.txt"
        );
        // No format for drawings, nothing to export from a form: both left out.
        assert!(present(doc("Sketch", DRAWING), &formats).is_none());
        assert!(present(doc("Poll", "application/vnd.google-apps.form"), &formats).is_none());
        // Files with bytes are as they are, even when their name looks like an export.
        let mut plain = doc("Report.docx", "application/octet-stream");
        plain.size = Some(3);
        assert_eq!(
            present(plain.clone(), &formats).unwrap().name,
            "Report.docx"
        );
        assert_eq!(source(&plain, &formats), None);
        let err = parse_formats("docx,exe").unwrap_err();
        assert!(err.contains("exe") && err.contains("xlsx"), "{err}");
    }
}
