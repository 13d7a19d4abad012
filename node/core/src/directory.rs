//! The signed zone directory in force: which centres exist, where they are, which TLS
//! certificate and checkpoint key each has, and the witness quorum. The directory is signed
//! by the zone root; a new one replaces the one in force only if it is a valid successor, and
//! the last good one is kept on disk so a node restarts on it when the file offered is older,
//! tampered with or expired. Lookups that peers, authentication and witnessing make go
//! through here, so "not in the directory" reads the same everywhere.

use crate::error::{HfxError, HfxResult};
use crate::log::note::NoteVerifier;
use base64::Engine;
use hfx_certs::{CentreEntry, Directory, SignedDirectory};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The directory in force and the files it comes from.
pub struct DirectoryInForce {
    path: PathBuf,
    last_good_path: PathBuf,
    current: RwLock<Arc<Directory>>,
}

/// Read and verify a signed directory file against the zone root's key.
fn load_file(path: &Path, root_key: &[u8]) -> Result<(Directory, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let signed = SignedDirectory::from_json(&text).map_err(|e| e.to_string())?;
    let dir = signed
        .verify(root_key, hfx_certs::zonedir::now_unix())
        .map_err(|e| e.to_string())?;
    Ok((dir, text))
}

impl DirectoryInForce {
    /// The directory at `path`, or the last good one (kept at `last_good_path`) when the
    /// file is refused or is not a successor of it. `Err` names why neither can be used.
    pub fn load(path: PathBuf, last_good_path: PathBuf, root_key: &[u8]) -> Result<Self, String> {
        let last_good = load_file(&last_good_path, root_key).ok().map(|(d, _)| d);
        let directory = match (load_file(&path, root_key), last_good) {
            (Ok((d, _)), Some(good)) if good.check_successor(&d).is_err() && good != d => {
                tracing::warn!(path = %path.display(), offered = d.version, version = good.version, "directory file is not newer than the last good one; serving on the last good one");
                good
            }
            (Ok((d, text)), _) => {
                let _ = hfx_certs::zonedir::write_atomic(&last_good_path, text.as_bytes());
                d
            }
            (Err(e), Some(good)) => {
                tracing::warn!(path = %path.display(), error = %e, version = good.version, "directory refused; serving on the last good one");
                good
            }
            (Err(e), None) => return Err(e),
        };
        Ok(Self {
            path,
            last_good_path,
            current: RwLock::new(Arc::new(directory)),
        })
    }

    /// Where the directory file is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory in force.
    pub fn current(&self) -> Arc<Directory> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-read the file; a valid successor replaces the directory in force (and becomes the
    /// last good one). Returns the version in force, or why the file was refused.
    pub fn reload(&self, root_key: &[u8]) -> Result<u64, String> {
        let (next, text) = load_file(&self.path, root_key)?;
        let current = self.current();
        if next == *current {
            return Ok(current.version);
        }
        current.check_successor(&next).map_err(|e| e.to_string())?;
        let v = next.version;
        let _ = hfx_certs::zonedir::write_atomic(&self.last_good_path, text.as_bytes());
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(next);
        }
        Ok(v)
    }
}

/// The entry of `centre`, which must be in `dir`.
pub fn lookup<'d>(dir: &'d Directory, centre: &str) -> HfxResult<&'d CentreEntry> {
    dir.centre(centre).ok_or_else(|| {
        HfxError::NotFound(format!(
            "centre {centre} is not in directory version {}",
            dir.version
        ))
    })
}

/// The checkpoint-signing key `dir` lists for `centre`.
pub fn checkpoint_verifier(dir: &Directory, centre: &str) -> HfxResult<NoteVerifier> {
    let entry = lookup(dir, centre)?;
    let pk = base64::engine::general_purpose::STANDARD
        .decode(&entry.signing_key)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| HfxError::internal(format!("directory: bad signing key for {centre}")))?;
    NoteVerifier::new(&crate::log::origin(&dir.zone, centre), pk)
        .map_err(|e| HfxError::internal_from(format!("directory: signing key for {centre}"), e))
}

/// The pinyin of the zone's cities, as a clerk types them (`--centre lianyungang`). A city
/// not here is still found by its code, its city or its name.
pub const CITY_PINYIN: &[(&str, &str)] = &[
    ("徐州", "xuzhou"),
    ("连云港", "lianyungang"),
    ("宿迁", "suqian"),
    ("淮北", "huaibei"),
    ("宿州", "suzhou"),
    ("商丘", "shangqiu"),
    ("枣庄", "zaozhuang"),
    ("济宁", "jining"),
    ("临沂", "linyi"),
    ("菏泽", "heze"),
];

/// The pinyin of `city`, if the zone's table has it.
pub fn city_pinyin(city: &str) -> Option<&'static str> {
    let city = city.trim_end_matches('市');
    CITY_PINYIN
        .iter()
        .find(|(c, _)| *c == city)
        .map(|(_, p)| *p)
}

/// "连云港 (320700000000000)": how a centre is named to a person.
pub fn centre_label(entry: &CentreEntry) -> String {
    format!("{} ({})", entry.city, entry.code)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The centre a person means by `input` (a request's `field`): its 15-digit code, its city
/// (连云港, with or without 市), its full name, or the city's pinyin (lianyungang, any case).
/// Anything else is INVALID_FIELD naming `field`, with the nearest centres of the directory
/// (or all of them) so the person can pick.
pub fn resolve_centre(dir: &Directory, field: &str, input: &str) -> HfxResult<String> {
    let t = input.trim();
    if t.is_empty() {
        return Err(HfxError::invalid(
            field,
            "is empty: give a centre's code, city or pinyin",
        ));
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        let code = hfx_adapters::ids::validate_centre_code(field, t)?;
        return match dir.centre(&code) {
            Some(e) => Ok(e.code.clone()),
            None => Err(HfxError::invalid(
                field,
                format!("{code} is not in directory version {}", dir.version),
            )),
        };
    }
    let lower = t.to_lowercase();
    let city = t.trim_end_matches('市');
    if let Some(e) = dir.centres.iter().find(|e| {
        e.city.trim_end_matches('市') == city
            || e.name == t
            || city_pinyin(&e.city).is_some_and(|p| p == lower)
    }) {
        return Ok(e.code.clone());
    }
    let mut near: Vec<(usize, &CentreEntry)> = dir
        .centres
        .iter()
        .filter_map(|e| {
            let pinyin = city_pinyin(&e.city).unwrap_or_default();
            // A typo: two letters of the pinyin, or one character of the city.
            let d = edit_distance(&lower, pinyin)
                .min(edit_distance(city, e.city.trim_end_matches('市')) * 2);
            let prefix =
                pinyin.starts_with(&lower) || e.city.starts_with(city) || e.code.starts_with(t);
            (prefix || d <= 2).then_some((if prefix { 0 } else { d }, e))
        })
        .collect();
    near.sort_by_key(|(d, e)| (*d, e.code.clone()));
    let shown: Vec<String> = if near.is_empty() {
        dir.centres.iter().map(centre_label).collect()
    } else {
        near.iter().map(|(_, e)| centre_label(e)).collect()
    };
    let lead = if near.is_empty() {
        "the zone's centres are"
    } else {
        "did you mean"
    };
    let shown_input: String = t.chars().take(40).collect();
    Err(HfxError::invalid(
        field,
        format!(
            "{shown_input:?} is no centre of the zone; {lead}: {}",
            shown.join(", ")
        ),
    ))
}

/// [`resolve_centre`], refusing this node's own centre: a clerk asks their own core system
/// directly, not through the exchange.
pub fn resolve_other_centre(
    dir: &Directory,
    own: &str,
    field: &str,
    input: &str,
) -> HfxResult<String> {
    let code = resolve_centre(dir, field, input)?;
    if code == own {
        let label = dir
            .centre(own)
            .map_or_else(|| own.to_string(), centre_label);
        return Err(HfxError::invalid(
            field,
            format!(
                "{label} is this node's own centre: look the member up in your own core system"
            ),
        ));
    }
    Ok(code)
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    fn dir() -> Directory {
        let entry = |code: &str, city: &str, name: &str| CentreEntry {
            code: code.into(),
            name: name.into(),
            city: city.into(),
            province: "江苏".into(),
            endpoint: "127.0.0.1:1".into(),
            endpoints: Vec::new(),
            tls_fingerprint: String::new(),
            signing_key: String::new(),
            core_system: "sqlite".into(),
        };
        let mut d = Directory {
            zone: "test".into(),
            version: 1,
            issued_at_unix: 0,
            expires_at_unix: 0,
            witness_quorum: 1,
            centres: Vec::new(),
        };
        d.centres = vec![
            entry("320300000000000", "徐州", "徐州市住房公积金管理中心"),
            entry("320700000000000", "连云港", "连云港市住房公积金管理中心"),
            entry("341300000000000", "宿州", "宿州市住房公积金管理中心"),
            entry("321300000000000", "宿迁", "宿迁市住房公积金管理中心"),
        ];
        d
    }

    #[test]
    fn code_city_name_and_pinyin_name_one_centre() {
        let d = dir();
        for input in [
            "320700000000000",
            "连云港",
            "连云港市",
            "连云港市住房公积金管理中心",
            "lianyungang",
            "LianYunGang",
            " lianyungang ",
        ] {
            assert_eq!(
                resolve_centre(&d, "centre", input).expect(input),
                "320700000000000",
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_centre_lists_the_nearest() {
        let d = dir();
        let e = resolve_centre(&d, "centre", "lianyungan")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("centre")
                && e.contains("did you mean")
                && e.contains("连云港 (320700000000000)"),
            "{e}"
        );
        assert!(!e.contains("徐州"), "{e}");
        let e = resolve_centre(&d, "centre", "su").unwrap_err().to_string();
        assert!(e.contains("宿州") && e.contains("宿迁"), "{e}");
        let e = resolve_centre(&d, "centre", "北京")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the zone's centres are") && e.contains("徐州 (320300000000000)"),
            "{e}"
        );
        let e = resolve_centre(&d, "centre", "1234")
            .unwrap_err()
            .to_string();
        assert!(e.contains("15 digits"), "{e}");
        let e = resolve_centre(&d, "centre", "110000000000000")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in directory"), "{e}");
    }

    #[test]
    fn own_centre_is_named_as_such() {
        let d = dir();
        let e = resolve_other_centre(&d, "320300000000000", "centre", "xuzhou")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("own centre") && e.contains("徐州 (320300000000000)"),
            "{e}"
        );
        assert_eq!(
            resolve_other_centre(&d, "320300000000000", "centre", "宿迁").unwrap(),
            "321300000000000"
        );
    }
}
