//! `yadisk …`: Yandex Disk commands (info, publish, unpublish, published, public resources, upload by URL,
//! trash, operations).

use std::path::PathBuf;

use clap::Subcommand;
use cloudmux_core::{ByteRange, Error, RemotePath, Result};
use cloudmux_yadisk::YadiskClient;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::config::Config;
use crate::open::{with_remote, yadisk_client, yadisk_storage};
use crate::out::Out;

/// `yadisk …`.
#[derive(Subcommand, Debug)]
pub enum YadiskCmd {
    /// Disk info: user, quota, trash size, system folders.
    Info {
        /// Remote name.
        remote: String,
    },
    /// Publish a file or folder; prints its public URL and key.
    Publish {
        /// REMOTE:path.
        path: String,
    },
    /// Unpublish.
    Unpublish {
        /// REMOTE:path.
        path: String,
    },
    /// List published resources.
    Published {
        /// Remote name.
        remote: String,
    },
    /// Public resources (by key or public URL).
    #[command(subcommand)]
    Public(PublicCmd),
    /// Let Yandex fetch a URL into the disk (waits for the operation).
    UploadUrl {
        /// URL to fetch.
        url: String,
        /// REMOTE:path of the new file.
        dest: String,
    },
    /// The trash.
    #[command(subcommand)]
    Trash(TrashCmd),
    /// The status of an asynchronous operation.
    Ops {
        /// Remote name.
        remote: String,
        /// Operation id (or its link).
        id: String,
        /// Wait until it ends.
        #[arg(long)]
        wait: bool,
    },
}

/// `yadisk public …`.
#[derive(Subcommand, Debug)]
pub enum PublicCmd {
    /// Metadata (and a page of children) of a public resource.
    Get {
        /// Remote whose credentials to use.
        remote: String,
        /// Public key or public URL.
        key: String,
        /// Path inside a public folder.
        #[arg(long)]
        path: Option<String>,
    },
    /// Download a public file.
    Download {
        /// Remote whose credentials to use.
        remote: String,
        /// Public key or public URL.
        key: String,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// Path inside a public folder.
        #[arg(long)]
        path: Option<String>,
    },
    /// Save a public resource into your disk (default folder Downloads).
    Save {
        /// Remote name.
        remote: String,
        /// Public key or public URL.
        key: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Folder to save into (disk:/…).
        #[arg(long)]
        save_path: Option<String>,
    },
}

/// `yadisk trash …`.
#[derive(Subcommand, Debug)]
pub enum TrashCmd {
    /// List the trash.
    Ls {
        /// Remote name.
        remote: String,
    },
    /// Restore an item (its trash:/ path from `trash ls`).
    Restore {
        /// Remote name.
        remote: String,
        /// trash:/… path.
        path: String,
        /// Restore under another name.
        #[arg(long)]
        name: Option<String>,
        /// Replace what is at the original place.
        #[arg(long)]
        overwrite: bool,
    },
    /// Empty the trash (or delete one item from it for good).
    Empty {
        /// Remote name.
        remote: String,
        /// One trash:/… path.
        path: Option<String>,
    },
}

fn client(cfg: &Config, remote: &str) -> Result<YadiskClient> {
    yadisk_client(cfg, remote.trim_end_matches(':'))
}

/// A remote address as (client, full Yandex path).
async fn full_path(cfg: &Config, addr: &str) -> Result<(YadiskClient, String)> {
    match RemotePath::parse(addr)? {
        RemotePath::Remote { remote, path } => {
            let y = yadisk_storage(cfg, &remote)?;
            Ok((y.client().clone(), y.full(&path)?))
        }
        _ => Err(Error::invalid("give a Yandex Disk address: REMOTE:path")),
    }
}

fn show(out: Out, v: &impl serde::Serialize) {
    out.json(&serde_json::to_value(v).unwrap_or_default());
}

/// Runs a `yadisk` command.
pub async fn run(cfg: &Config, out: Out, cmd: YadiskCmd) -> anyhow::Result<()> {
    let r: Result<()> = async {
        match cmd {
            YadiskCmd::Info { remote } => show(out, &client(cfg, &remote)?.disk_info().await?),
            YadiskCmd::Publish { path } => {
                let (c, full) = full_path(cfg, &path).await?;
                let r = c.publish(&full).await?;
                if out.json {
                    out.json(&json!({"public_url": r.public_url, "public_key": r.public_key}));
                } else {
                    out.line(r.public_url.unwrap_or_default());
                    out.note(format!("public key: {}", r.public_key.unwrap_or_default()));
                }
            }
            YadiskCmd::Unpublish { path } => {
                let (c, full) = full_path(cfg, &path).await?;
                c.unpublish(&full).await?;
            }
            YadiskCmd::Published { remote } => {
                let c = client(cfg, &remote)?;
                let mut all = Vec::new();
                let mut offset = 0;
                loop {
                    let page = c.published(100, offset).await?;
                    let n = page.items.len() as u64;
                    all.extend(page.items);
                    if n < 100 {
                        break;
                    }
                    offset += n;
                }
                if out.json {
                    show(out, &all);
                } else {
                    for r in all {
                        out.line(format!("{}  {}", r.public_url.unwrap_or_default(), r.path));
                    }
                }
            }
            YadiskCmd::Public(p) => match p {
                PublicCmd::Get { remote, key, path } => show(
                    out,
                    &client(cfg, &remote)?
                        .public_meta(&key, path.as_deref(), 100, 0)
                        .await?,
                ),
                PublicCmd::Download {
                    remote,
                    key,
                    output,
                    path,
                } => {
                    let c = client(cfg, &remote)?;
                    let href = c.public_download_link(&key, path.as_deref()).await?;
                    let mut s = c.fetch_link(&href, ByteRange::all()).await?;
                    let mut f = tokio::fs::File::create(&output).await?;
                    while let Some(b) = s.next().await {
                        f.write_all(&b?).await?;
                    }
                    f.flush().await?;
                    out.note(format!("downloaded to {}", output.display()));
                }
                PublicCmd::Save {
                    remote,
                    key,
                    name,
                    save_path,
                } => {
                    client(cfg, &remote)?
                        .save_public(&key, name.as_deref(), save_path.as_deref())
                        .await?;
                    out.note("saved");
                }
            },
            YadiskCmd::UploadUrl { url, dest } => {
                let (c, full) = full_path(cfg, &dest).await?;
                c.upload_url(&url, &full).await?;
                out.note(format!("fetched into {full}"));
            }
            YadiskCmd::Trash(t) => match t {
                TrashCmd::Ls { remote } => {
                    let c = client(cfg, &remote)?;
                    let mut all = Vec::new();
                    let mut offset = 0;
                    loop {
                        let page = c
                            .trash(None, 100, offset)
                            .await?
                            .embedded
                            .unwrap_or_default();
                        let n = page.items.len() as u64;
                        all.extend(page.items);
                        if n < 100 {
                            break;
                        }
                        offset += n;
                    }
                    if out.json {
                        show(out, &all);
                    } else {
                        for r in all {
                            out.line(format!(
                                "{}  (from {})",
                                r.path,
                                r.origin_path.unwrap_or_default()
                            ));
                        }
                    }
                }
                TrashCmd::Restore {
                    remote,
                    path,
                    name,
                    overwrite,
                } => {
                    client(cfg, &remote)?
                        .restore(&path, name.as_deref(), overwrite)
                        .await?;
                    out.note(format!("restored {path}"));
                }
                TrashCmd::Empty { remote, path } => {
                    client(cfg, &remote)?.empty_trash(path.as_deref()).await?;
                    out.note("trash emptied");
                }
            },
            YadiskCmd::Ops { remote, id, wait } => {
                let c = client(cfg, &remote)?;
                if wait {
                    c.wait_operation(&id).await?;
                }
                let id = id.rsplit('/').next().unwrap_or(&id).to_string();
                let status = c.operation_status(&id).await?;
                if out.json {
                    out.json(&json!({"id": id, "status": status}))
                } else {
                    out.line(status)
                }
            }
        }
        Ok(())
    }
    .await;
    r.map_err(|e| anyhow::Error::from(with_remote(e, "REMOTE")))
}
