//! `gphotos …`: Google Photos commands (albums, album-create, album-rename, upload into the library or an
//! album with each item's result reported).

use std::path::PathBuf;

use clap::Subcommand;
use cloudmux_core::{Error, ErrorKind, Result};
use futures_util::StreamExt;
use serde_json::json;

use crate::config::Config;
use crate::open::{photos_client, with_remote};
use crate::out::Out;

/// `gphotos …`.
#[derive(Subcommand, Debug)]
pub enum GphotosCmd {
    /// List the albums this app created (the API shows no others since 2025-03-31).
    Albums {
        /// Remote name.
        remote: String,
    },
    /// Create an album.
    AlbumCreate {
        /// Remote name.
        remote: String,
        /// Title.
        title: String,
    },
    /// Rename an album (by id, from `gphotos albums`).
    AlbumRename {
        /// Remote name.
        remote: String,
        /// Album id.
        id: String,
        /// New title.
        title: String,
    },
    /// Pick photos from your whole Google Photos library (the Picker API): prints a link to open, waits while
    /// you pick, then copies the originals to DEST (a local folder, default the current one, or REMOTE:path)
    /// and closes the session.
    Pick {
        /// Remote name.
        remote: String,
        /// Where to put the picked files.
        #[arg(default_value = ".")]
        dest: String,
        /// At most this many items.
        #[arg(long)]
        max: Option<u64>,
    },
    /// Upload photos and videos, optionally into an album (created when missing); items are created 50 at a
    /// time and a failed item is reported without losing the others.
    Upload {
        /// Remote name.
        remote: String,
        /// Files to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Album title to add them to.
        #[arg(long)]
        album: Option<String>,
    },
}

/// Runs a `gphotos` command.
pub async fn run(cfg: &Config, out: Out, cmd: GphotosCmd) -> anyhow::Result<()> {
    let r: Result<()> = async {
        match cmd {
            GphotosCmd::Albums { remote } => {
                let albums = photos_client(cfg, remote.trim_end_matches(':'))?
                    .all_albums()
                    .await?;
                if out.json {
                    out.json(&serde_json::to_value(&albums).unwrap_or_default());
                } else {
                    for a in albums {
                        out.line(format!(
                            "{}  {}  ({} items)",
                            a.id,
                            a.title,
                            a.media_items_count.unwrap_or_default()
                        ));
                    }
                }
            }
            GphotosCmd::AlbumCreate { remote, title } => {
                let a = photos_client(cfg, remote.trim_end_matches(':'))?
                    .create_album(&title)
                    .await?;
                if out.json {
                    out.json(&serde_json::to_value(&a).unwrap_or_default())
                } else {
                    out.line(format!("{}  {}", a.id, a.title))
                }
            }
            GphotosCmd::AlbumRename { remote, id, title } => {
                let a = photos_client(cfg, remote.trim_end_matches(':'))?
                    .rename_album(&id, &title)
                    .await?;
                if out.json {
                    out.json(&serde_json::to_value(&a).unwrap_or_default())
                } else {
                    out.line(format!("{}  {}", a.id, a.title))
                }
            }
            GphotosCmd::Pick { remote, dest, max } => {
                pick(cfg, out, remote.trim_end_matches(':'), &dest, max).await?
            }
            GphotosCmd::Upload {
                remote,
                files,
                album,
            } => {
                let c = photos_client(cfg, remote.trim_end_matches(':'))?;
                let album_id = match &album {
                    Some(t) => Some(
                        match c.all_albums().await?.into_iter().find(|a| &a.title == t) {
                            Some(a) => a.id,
                            None => c.create_album(t).await?.id,
                        },
                    ),
                    None => None,
                };
                let mut tokens = Vec::new();
                for f in &files {
                    let name = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let file = tokio::fs::File::open(f)
                        .await
                        .map_err(|e| Error::from(e).context(f.display()))?;
                    let size = file.metadata().await?.len();
                    let data = Box::pin(tokio_util_stream(file));
                    let mime = cloudmux_core::mime::guess(&name);
                    tokens.push((
                        c.upload(data, Some(size), &name, mime)
                            .await
                            .map_err(|e| e.context(f.display()))?,
                        name,
                    ));
                }
                let results = c.batch_create(&tokens, album_id.as_deref()).await?;
                let mut failed = 0;
                let mut report = Vec::new();
                for ((_, name), r) in tokens.iter().zip(results) {
                    match r {
                        Ok(item) => report.push(json!({"file": name, "id": item.id, "ok": true})),
                        Err(e) => {
                            failed += 1;
                            report.push(json!({"file": name, "ok": false, "error": e.to_string()}));
                        }
                    }
                }
                if out.json {
                    out.json(&json!(report));
                } else {
                    for r in &report {
                        out.line(format!(
                            "{} {}",
                            if r["ok"] == true {
                                "uploaded"
                            } else {
                                "FAILED"
                            },
                            r["file"].as_str().unwrap_or("")
                        ));
                    }
                }
                if failed > 0 {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!("{failed} of {} items were not created", tokens.len()),
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    r.map_err(|e| anyhow::Error::from(with_remote(e, "REMOTE")))
}

async fn pick(cfg: &Config, out: Out, remote: &str, dest: &str, max: Option<u64>) -> Result<()> {
    let picker = crate::open::picker_client(cfg, remote)?;
    let target = crate::open::locate(cfg, dest).await?;
    let storage = target.storage.clone();
    let dir = if target.remote.is_none() && !target.path.is_empty() {
        return Err(Error::invalid(format!("{dest} is not a folder"))
            .with_hint("give an existing folder or REMOTE:path"));
    } else {
        target.path.clone()
    };
    let session = picker.create(max).await?;
    let result = async {
        if out.json {
            out.json(&json!({"picker_uri": session.picker_uri, "session": session.id}));
        } else {
            eprintln!("Open this link, pick the photos and videos, then press Done:");
        }
        if !out.json {
            println!("{}", session.picker_uri);
            show_qr(&session.picker_uri);
        }
        let done = picker.wait(&session, || {}).await?;
        let items = picker.items(&done.id).await?;
        let mut copied = Vec::new();
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for it in &items {
            let n = seen.entry(it.media_file.filename.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 {
                it.media_file.filename.clone()
            } else {
                format!("{} ({n})", it.media_file.filename)
            };
            let path = cloudmux_core::path::join(&dir, &name);
            let data = picker.download(it, cloudmux_core::ByteRange::all()).await?;
            let e = storage
                .write(
                    &path,
                    data,
                    cloudmux_core::WriteOptions {
                        mime: Some(it.media_file.mime_type.clone()),
                        ..Default::default()
                    },
                )
                .await?;
            if !out.json {
                out.line(format!("picked {} -> {}", it.media_file.filename, e.path));
            }
            copied.push(
                json!({"id": it.id, "file": it.media_file.filename, "to": e.path, "size": e.size}),
            );
        }
        if out.json {
            out.json(&json!({"picked": copied}));
        }
        Ok::<_, Error>(())
    }
    .await;
    // The session is closed whatever happened.
    if let Err(e) = picker.delete(&session.id).await {
        tracing::warn!("could not delete picking session {}: {e}", session.id);
    }
    result
}

/// The picker link as a QR code on a terminal, so a phone can open it.
fn show_qr(url: &str) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return;
    }
    if let Ok(code) = qrcode::QrCode::new(url.as_bytes()) {
        let art = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        eprintln!("{art}");
    }
}

fn tokio_util_stream(
    f: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes>> + Send + 'static {
    tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024).map(|r| r.map_err(Error::from))
}
