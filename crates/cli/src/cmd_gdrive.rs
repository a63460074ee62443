//! `gdrive …`: Drive-specific commands (export, share, permissions, comments, trash, shared drives, changes).

use std::path::PathBuf;

use clap::Subcommand;
use cloudmux_core::{Error, RemotePath, Result};
use cloudmux_gdrive::model::Permission;
use cloudmux_gdrive::{DriveClient, ListQuery};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::config::Config;
use crate::open::{drive_client, drive_storage, with_remote};
use crate::out::Out;

/// `gdrive …`.
#[derive(Subcommand, Debug)]
pub enum GdriveCmd {
    /// Export a Google Doc/Sheet/Slides file to a format (see `about --json` for the formats Drive offers).
    Export {
        /// REMOTE:path or REMOTE:id:ID of the Google Docs file.
        src: String,
        /// Target MIME type, e.g. application/pdf, text/plain, text/csv.
        #[arg(long)]
        mime: String,
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Share a file: anyone with the link (default) or a person.
    Share {
        /// REMOTE:path or REMOTE:id:ID.
        src: String,
        /// Share with this e-mail address instead of anyone with the link.
        #[arg(long)]
        email: Option<String>,
        /// reader, commenter or writer.
        #[arg(long, default_value = "reader")]
        role: String,
    },
    /// List a file's permissions.
    Permissions {
        /// REMOTE:path or REMOTE:id:ID.
        src: String,
    },
    /// Remove a permission.
    Unshare {
        /// REMOTE:path or REMOTE:id:ID.
        src: String,
        /// Permission id (from `gdrive permissions`).
        permission_id: String,
    },
    /// Comments on a file.
    #[command(subcommand)]
    Comments(CommentsCmd),
    /// List what is in the trash.
    Trash {
        /// Remote name.
        remote: String,
    },
    /// Restore a trashed file (by id, from `gdrive trash`).
    Untrash {
        /// REMOTE:id:ID.
        src: String,
    },
    /// Empty the trash for good.
    EmptyTrash {
        /// Remote name.
        remote: String,
    },
    /// Shared drives.
    #[command(subcommand)]
    Drives(DrivesCmd),
    /// Changes since a token (without --token: print the current start token).
    Changes {
        /// Remote name.
        remote: String,
        /// Page token from an earlier call.
        #[arg(long)]
        token: Option<String>,
    },
}

/// `gdrive comments …`.
#[derive(Subcommand, Debug)]
pub enum CommentsCmd {
    /// List comments.
    List {
        /// File.
        src: String,
    },
    /// Add a comment.
    Add {
        /// File.
        src: String,
        /// Text.
        text: String,
    },
    /// Show one comment.
    Get {
        /// File.
        src: String,
        /// Comment id.
        id: String,
    },
    /// Change a comment's text.
    Edit {
        /// File.
        src: String,
        /// Comment id.
        id: String,
        /// New text.
        text: String,
    },
    /// Mark a comment resolved.
    Resolve {
        /// File.
        src: String,
        /// Comment id.
        id: String,
    },
    /// Delete a comment.
    Delete {
        /// File.
        src: String,
        /// Comment id.
        id: String,
    },
}

/// `gdrive drives …`.
#[derive(Subcommand, Debug)]
pub enum DrivesCmd {
    /// List shared drives.
    List {
        /// Remote name.
        remote: String,
    },
    /// Create a shared drive.
    Create {
        /// Remote name.
        remote: String,
        /// Name.
        name: String,
    },
    /// Delete an empty shared drive.
    Delete {
        /// Remote name.
        remote: String,
        /// Shared drive id.
        id: String,
    },
}

/// The client and file id an address points to.
async fn file_of(cfg: &Config, addr: &str) -> Result<(DriveClient, String, String)> {
    match RemotePath::parse(addr)? {
        RemotePath::Id { remote, id } => Ok((drive_client(cfg, &remote)?, id, remote)),
        RemotePath::Remote { remote, path } => {
            let d = drive_storage(cfg, &remote).await?;
            let f = d.resolve(&path).await.map_err(|e| e.context(addr))?;
            Ok((d.client().clone(), f.id, remote))
        }
        RemotePath::Local(_) => Err(Error::invalid(
            "give a Drive address: REMOTE:path or REMOTE:id:ID",
        )),
    }
}

/// Runs a `gdrive` command.
pub async fn run(cfg: &Config, out: Out, cmd: GdriveCmd) -> anyhow::Result<()> {
    let r: Result<()> = async {
        match cmd {
            GdriveCmd::Export { src, mime, output } => {
                let (c, id, _) = file_of(cfg, &src).await?;
                let mut s = c.export(&id, &mime).await?;
                match output {
                    Some(p) => {
                        let mut f = tokio::fs::File::create(&p).await?;
                        while let Some(b) = s.next().await {
                            f.write_all(&b?).await?;
                        }
                        f.flush().await?;
                        out.note(format!("exported to {}", p.display()));
                    }
                    None => {
                        let mut o = tokio::io::stdout();
                        while let Some(b) = s.next().await {
                            o.write_all(&b?).await?;
                        }
                        o.flush().await?;
                    }
                }
            }
            GdriveCmd::Share { src, email, role } => {
                let (c, id, _) = file_of(cfg, &src).await?;
                let link = match email {
                    None if role == "reader" => c.share_link(&id).await?,
                    None => {
                        c.permission_create(
                            &id,
                            &Permission {
                                kind: "anyone".into(),
                                role,
                                ..Default::default()
                            },
                        )
                        .await?;
                        c.get(&id).await?.web_view_link.unwrap_or_default()
                    }
                    Some(e) => {
                        c.permission_create(
                            &id,
                            &Permission {
                                kind: "user".into(),
                                role,
                                email_address: Some(e),
                                ..Default::default()
                            },
                        )
                        .await?;
                        c.get(&id).await?.web_view_link.unwrap_or_default()
                    }
                };
                if out.json {
                    out.json(&json!({"link": link}))
                } else {
                    out.line(link)
                }
            }
            GdriveCmd::Permissions { src } => {
                let (c, id, _) = file_of(cfg, &src).await?;
                let ps = c.permission_list(&id).await?;
                if out.json {
                    out.json(&serde_json::to_value(&ps).unwrap_or_default());
                } else {
                    for p in ps {
                        out.line(format!(
                            "{}  {}  {}  {}",
                            p.id,
                            p.kind,
                            p.role,
                            p.email_address.or(p.domain).unwrap_or_default()
                        ));
                    }
                }
            }
            GdriveCmd::Unshare { src, permission_id } => {
                let (c, id, _) = file_of(cfg, &src).await?;
                c.permission_delete(&id, &permission_id).await?;
            }
            GdriveCmd::Comments(cc) => comments(cfg, out, cc).await?,
            GdriveCmd::Trash { remote } => {
                let c = drive_client(cfg, remote.trim_end_matches(':'))?;
                let q = ListQuery {
                    q: Some("trashed = true".into()),
                    ..Default::default()
                };
                let mut token: Option<String> = None;
                let mut all = Vec::new();
                loop {
                    let page = c.list_page(&q, token.as_deref()).await?;
                    all.extend(page.files);
                    match page.next_page_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                if out.json {
                    out.json(&serde_json::to_value(&all).unwrap_or_default());
                } else {
                    for f in all {
                        out.line(format!(
                            "{}  {}{}",
                            f.id,
                            f.name,
                            if f.is_folder() { "/" } else { "" }
                        ));
                    }
                }
            }
            GdriveCmd::Untrash { src } => {
                let (c, id, _) = file_of(cfg, &src).await?;
                let f = c.untrash(&id).await?;
                out.note(format!("restored {}", f.name));
            }
            GdriveCmd::EmptyTrash { remote } => {
                drive_client(cfg, remote.trim_end_matches(':'))?
                    .empty_trash(None)
                    .await?;
                out.note("trash emptied");
            }
            GdriveCmd::Drives(d) => match d {
                DrivesCmd::List { remote } => {
                    let ds = drive_client(cfg, remote.trim_end_matches(':'))?
                        .drives()
                        .await?;
                    if out.json {
                        out.json(&serde_json::to_value(&ds).unwrap_or_default());
                    } else {
                        for d in ds {
                            out.line(format!("{}  {}", d.id, d.name));
                        }
                    }
                }
                DrivesCmd::Create { remote, name } => {
                    let rid = format!(
                        "cloudmux-{:x}",
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_nanos()
                    );
                    let d = drive_client(cfg, remote.trim_end_matches(':'))?
                        .drive_create(&name, &rid)
                        .await?;
                    if out.json {
                        out.json(&serde_json::to_value(&d).unwrap_or_default())
                    } else {
                        out.line(format!("{}  {}", d.id, d.name))
                    }
                }
                DrivesCmd::Delete { remote, id } => {
                    drive_client(cfg, remote.trim_end_matches(':'))?
                        .drive_delete(&id)
                        .await?
                }
            },
            GdriveCmd::Changes { remote, token } => {
                let c = drive_client(cfg, remote.trim_end_matches(':'))?;
                match token {
                    None => {
                        let t = c.changes_start().await?;
                        if out.json {
                            out.json(&json!({"start_page_token": t}))
                        } else {
                            out.line(t)
                        }
                    }
                    Some(t) => {
                        let mut token = t;
                        let mut all = Vec::new();
                        let next = loop {
                            let page = c.changes(&token).await?;
                            all.extend(page.changes);
                            match (page.next_page_token, page.new_start_page_token) {
                                (Some(n), _) => token = n,
                                (None, n) => break n,
                            }
                        };
                        if out.json {
                            out.json(&json!({"changes": all, "new_start_page_token": next}));
                        } else {
                            for ch in all {
                                let name =
                                    ch.file.as_ref().map(|f| f.name.clone()).unwrap_or_default();
                                out.line(format!(
                                    "{} {} {}",
                                    if ch.removed { "removed" } else { "changed" },
                                    ch.file_id.unwrap_or_default(),
                                    name
                                ));
                            }
                            out.note(format!("next token: {}", next.unwrap_or_default()));
                        }
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    r.map_err(|e| anyhow::Error::from(hint_remote(e)))
}

fn hint_remote(e: Error) -> Error {
    with_remote(e, "REMOTE")
}

async fn comments(cfg: &Config, out: Out, cmd: CommentsCmd) -> Result<()> {
    let show = |c: &cloudmux_gdrive::model::Comment| {
        if out.json {
            out.json(&serde_json::to_value(c).unwrap_or_default());
        } else {
            out.line(format!(
                "{}  {}{}  {}",
                c.id,
                c.author.display_name,
                if c.resolved { " (resolved)" } else { "" },
                c.content
            ));
        }
    };
    match cmd {
        CommentsCmd::List { src } => {
            let (c, id, _) = file_of(cfg, &src).await?;
            let cs = c.comments(&id).await?;
            if out.json {
                out.json(&serde_json::to_value(&cs).unwrap_or_default());
            } else {
                cs.iter().for_each(show);
            }
        }
        CommentsCmd::Add { src, text } => {
            let (c, id, _) = file_of(cfg, &src).await?;
            show(&c.comment_create(&id, &text).await?);
        }
        CommentsCmd::Get { src, id: cid } => {
            let (c, id, _) = file_of(cfg, &src).await?;
            show(&c.comment_get(&id, &cid).await?);
        }
        CommentsCmd::Edit { src, id: cid, text } => {
            let (c, id, _) = file_of(cfg, &src).await?;
            show(
                &c.comment_update(&id, &cid, &json!({"content": text}))
                    .await?,
            );
        }
        CommentsCmd::Resolve { src, id: cid } => {
            let (c, id, _) = file_of(cfg, &src).await?;
            show(
                &c.comment_update(&id, &cid, &json!({"resolved": true}))
                    .await?,
            );
        }
        CommentsCmd::Delete { src, id: cid } => {
            let (c, id, _) = file_of(cfg, &src).await?;
            c.comment_delete(&id, &cid).await?;
        }
    }
    Ok(())
}
