//! Printing: human text or JSON, and progress bars on a terminal.

use std::io::{IsTerminal, Write};

use cloudmux_core::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Output settings.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// JSON output.
    pub json: bool,
    /// Progress bars allowed.
    pub progress: bool,
}

impl Out {
    /// Prints a JSON value (pretty) to stdout.
    pub fn json(&self, v: &Value) {
        let mut o = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut o, v);
        let _ = writeln!(o);
    }

    /// Prints a line to stdout.
    pub fn line(&self, s: impl AsRef<str>) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{}", s.as_ref());
    }

    /// Prints a note to stderr (never in JSON mode).
    pub fn note(&self, s: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", s.as_ref());
        }
    }

    /// A progress bar of `len` bytes (hidden unless stderr is a terminal).
    pub fn bar(&self, len: Option<u64>, what: &str) -> ProgressBar {
        if !self.progress || self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = match len {
            Some(l) => ProgressBar::new(l).with_style(
                ProgressStyle::with_template(
                    "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap(),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}").unwrap(),
            ),
        };
        pb.set_message(what.to_string());
        pb
    }
}

/// Files at least this big get a bar of their own in a tree transfer.
const BIG_FILE: u64 = 16 * 1024 * 1024;

/// Progress of a tree transfer on a terminal: one overall bar (bytes, files done of planned, rate, ETA)
/// and a bar per big file in flight. Hidden when progress is off or stderr is not a terminal.
#[derive(Clone)]
pub struct TransferBars {
    multi: MultiProgress,
    total: ProgressBar,
    files: Arc<Mutex<FileBars>>,
}

#[derive(Default)]
struct FileBars {
    planned: usize,
    done: usize,
    failed: usize,
    bars: HashMap<String, ProgressBar>,
}

impl TransferBars {
    /// Bars for a transfer (`what` labels the overall bar).
    pub fn new(out: &Out, what: &str) -> Self {
        let multi = if !out.progress || out.json || !std::io::stderr().is_terminal() {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        let total = multi.add(
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap(),
            ),
        );
        total.set_message(what.to_string());
        TransferBars {
            multi,
            total,
            files: Arc::default(),
        }
    }

    fn label(&self, f: &FileBars) {
        let failed = if f.failed > 0 {
            format!(", {} failed", f.failed)
        } else {
            String::new()
        };
        self.total
            .set_message(format!("{}/{} files{failed}", f.done, f.planned));
    }

    /// Follows one engine event.
    pub fn event(&self, ev: cloudmux_vfs::Event) {
        use cloudmux_vfs::Event;
        let mut f = self.files.lock().unwrap();
        match ev {
            Event::Planned { files, bytes } => {
                f.planned = files;
                self.total.set_length(bytes);
                self.label(&f);
            }
            Event::Started { path, size } => {
                if let Some(old) = f.bars.remove(&path) {
                    // A retry: its bytes count again.
                    self.total.inc_length(old.position());
                    old.finish_and_clear();
                }
                if let Some(n) = size.filter(|n| *n >= BIG_FILE) {
                    let pb = self.multi.add(
                        ProgressBar::new(n).with_style(
                            ProgressStyle::with_template(
                                "  {msg:30!} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
                            )
                            .unwrap(),
                        ),
                    );
                    pb.set_message(path.clone());
                    f.bars.insert(path, pb);
                }
            }
            Event::Bytes { path, n } => {
                self.total.inc(n);
                if let Some(pb) = f.bars.get(&path) {
                    pb.inc(n);
                }
            }
            Event::Copied(path) => {
                if let Some(pb) = f.bars.remove(&path) {
                    pb.finish_and_clear();
                }
                f.done += 1;
                self.label(&f);
            }
            Event::Failed(path, _) => {
                if let Some(pb) = f.bars.remove(&path) {
                    pb.finish_and_clear();
                }
                f.failed += 1;
                self.label(&f);
            }
            Event::Deleted(_) => {}
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        for (_, pb) in self.files.lock().unwrap().bars.drain() {
            pb.finish_and_clear();
        }
        self.total.finish_and_clear();
    }
}

/// Writes a JSON array to stdout one element at a time, so a 50,000-entry listing is never held whole.
pub struct JsonArray {
    out: std::io::BufWriter<std::io::Stdout>,
    first: bool,
}

impl JsonArray {
    /// Starts the array.
    pub fn start() -> std::io::Result<Self> {
        let mut out = std::io::BufWriter::new(std::io::stdout());
        out.write_all(b"[")?;
        Ok(JsonArray { out, first: true })
    }

    /// Writes one element (compact, one per line).
    pub fn push(&mut self, v: &impl serde::Serialize) -> std::io::Result<()> {
        self.out
            .write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, v).map_err(std::io::Error::other)
    }

    /// Closes the array.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.write_all(b"\n]\n")?;
        self.out.flush()
    }
}

/// `ls`-style line of an entry.
pub fn ls_line(e: &Entry) -> String {
    let size = if e.is_dir {
        "-".to_string()
    } else {
        e.size.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
    };
    let when = e
        .modified
        .map(|m| m.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".repeat(19));
    format!(
        "{size:>12}  {when}  {}{}",
        e.name,
        if e.is_dir { "/" } else { "" }
    )
}
