//! `fields` partial responses: `files(id,name,parents),nextPageToken`, `capabilities/canDownload`, `*`.

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed field mask: each selected key, with a sub-mask or `None` for "everything below".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mask(pub BTreeMap<String, Option<Mask>>);

impl Mask {
    /// Parses a mask; `Err(token)` names the offending part.
    pub fn parse(s: &str) -> Result<Mask, String> {
        let chars: Vec<char> = s.chars().collect();
        let mut pos = 0;
        let m = parse_list(&chars, &mut pos)?;
        if pos != chars.len() {
            return Err(chars[pos..].iter().collect());
        }
        Ok(m)
    }

    /// Applies the mask to a value (arrays: to each element).
    pub fn apply(&self, v: &Value) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| self.apply(x)).collect()),
            Value::Object(o) => {
                if self.0.contains_key("*") {
                    return v.clone();
                }
                let mut out = serde_json::Map::new();
                for (k, sub) in &self.0 {
                    if let Some(x) = o.get(k) {
                        out.insert(
                            k.clone(),
                            match sub {
                                Some(m) => m.apply(x),
                                None => x.clone(),
                            },
                        );
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// The top-level keys and the sub-mask of each.
    pub fn keys(&self) -> impl Iterator<Item = (&String, &Option<Mask>)> {
        self.0.iter()
    }

    fn insert_path(&mut self, path: &[String], sub: Option<Mask>) {
        let (first, rest) = path.split_first().expect("non-empty path");
        if rest.is_empty() {
            match (self.0.get_mut(first), sub) {
                (Some(Some(existing)), Some(new)) => {
                    for (k, v) in new.0 {
                        existing.0.insert(k, v);
                    }
                }
                (Some(slot), None) => *slot = None,
                (Some(None), Some(_)) => {}
                (None, sub) => {
                    self.0.insert(first.clone(), sub);
                }
            }
        } else {
            let slot = self
                .0
                .entry(first.clone())
                .or_insert_with(|| Some(Mask::default()));
            if let Some(m) = slot {
                m.insert_path(rest, sub);
            }
        }
    }
}

fn parse_list(c: &[char], pos: &mut usize) -> Result<Mask, String> {
    let mut m = Mask::default();
    loop {
        while *pos < c.len() && c[*pos] == ' ' {
            *pos += 1;
        }
        let mut path = Vec::new();
        loop {
            let start = *pos;
            while *pos < c.len()
                && (c[*pos].is_alphanumeric() || matches!(c[*pos], '_' | '*' | '.' | '@' | '$'))
            {
                *pos += 1;
            }
            if start == *pos {
                return Err(c[start.min(c.len())..].iter().collect());
            }
            path.push(c[start..*pos].iter().collect::<String>());
            if *pos < c.len() && c[*pos] == '/' {
                *pos += 1;
            } else {
                break;
            }
        }
        let sub = if *pos < c.len() && c[*pos] == '(' {
            *pos += 1;
            let s = parse_list(c, pos)?;
            if *pos >= c.len() || c[*pos] != ')' {
                return Err("(".into());
            }
            *pos += 1;
            Some(s)
        } else {
            None
        };
        m.insert_path(&path, sub);
        while *pos < c.len() && c[*pos] == ' ' {
            *pos += 1;
        }
        if *pos < c.len() && c[*pos] == ',' {
            *pos += 1;
            continue;
        }
        return Ok(m);
    }
}

/// Field names a File resource has (for validating selections).
pub const FILE_FIELDS: &[&str] = &[
    "kind",
    "id",
    "name",
    "mimeType",
    "parents",
    "size",
    "md5Checksum",
    "sha1Checksum",
    "sha256Checksum",
    "createdTime",
    "modifiedTime",
    "modifiedByMeTime",
    "viewedByMeTime",
    "trashed",
    "explicitlyTrashed",
    "starred",
    "version",
    "spaces",
    "ownedByMe",
    "owners",
    "lastModifyingUser",
    "shared",
    "viewersCanCopyContent",
    "copyRequiresWriterPermission",
    "writersCanShare",
    "hasThumbnail",
    "isAppAuthorized",
    "permissionIds",
    "permissions",
    "properties",
    "appProperties",
    "quotaBytesUsed",
    "headRevisionId",
    "iconLink",
    "capabilities",
    "webViewLink",
    "webContentLink",
    "fileExtension",
    "fullFileExtension",
    "originalFilename",
    "description",
    "driveId",
    "teamDriveId",
    "exportLinks",
    "resourceKey",
    "shortcutDetails",
    "thumbnailLink",
    "imageMediaMetadata",
    "videoMediaMetadata",
    "contentHints",
    "folderColorRgb",
    "trashedTime",
    "trashingUser",
    "sharingUser",
    "sharedWithMeTime",
    "linkShareMetadata",
    "labelInfo",
    "contentRestrictions",
    "hasAugmentedPermissions",
    "thumbnailVersion",
    "modifiedByMe",
    "inheritedPermissionsDisabled",
    "downloadRestrictions",
    "*",
];

/// Checks that `mask` selects only File fields (`prefix` is where the files sit: `""` or `files`).
pub fn validate_file_mask(mask: &Mask, prefix: &str) -> Result<(), String> {
    for (k, sub) in mask.keys() {
        if k == prefix && !prefix.is_empty() {
            if let Some(sub) = sub {
                validate_file_mask(sub, "")?;
            }
            continue;
        }
        if prefix.is_empty() && !FILE_FIELDS.contains(&k.as_str()) {
            return Err(k.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_applies() {
        let m = Mask::parse("files(id,name),nextPageToken").unwrap();
        let v = json!({"kind": "x", "nextPageToken": "t", "files": [{"id": "1", "name": "a", "size": "3"}]});
        assert_eq!(
            m.apply(&v),
            json!({"nextPageToken": "t", "files": [{"id": "1", "name": "a"}]})
        );
        let m = Mask::parse("capabilities/canDownload,id").unwrap();
        let v = json!({"id": "1", "capabilities": {"canDownload": true, "canEdit": false}});
        assert_eq!(
            m.apply(&v),
            json!({"id": "1", "capabilities": {"canDownload": true}})
        );
        assert_eq!(Mask::parse("*").unwrap().apply(&v), v);
        assert_eq!(
            Mask::parse("files/*")
                .unwrap()
                .apply(&json!({"files": [{"a": 1}], "k": 2})),
            json!({"files": [{"a": 1}]})
        );
        assert!(Mask::parse("files(id").is_err());
        assert!(Mask::parse("a,,b").is_err());
    }

    #[test]
    fn validates_file_fields() {
        assert!(
            validate_file_mask(
                &Mask::parse("files(id,name),nextPageToken").unwrap(),
                "files"
            )
            .is_ok()
        );
        assert_eq!(
            validate_file_mask(&Mask::parse("id,canAddChildren").unwrap(), ""),
            Err("canAddChildren".into())
        );
    }
}
