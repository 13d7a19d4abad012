//! The language of the CLI's human output (`--lang`, else the locale), and the names of the
//! zone's centres that output shows. `--json` output never goes through here.

use super::Conn;
use hfx_certs::CentreEntry;
use hfx_i18n::{Catalogue, CentreName, Lang};
use std::sync::OnceLock;

static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();

/// Choose the language once, at start: `--lang`, else `LC_ALL` > `LC_MESSAGES` > `LANG`.
pub fn init(asked: Option<Lang>) {
    let _ = CATALOGUE.set(Catalogue::new(Lang::choose(asked)));
}

/// The catalogue chosen at start (the environment's, if [`init`] was not called).
pub fn cat() -> &'static Catalogue {
    CATALOGUE.get_or_init(|| Catalogue::new(Lang::from_env()))
}

/// The zone's centres by code, to name them by city and name.
#[derive(Debug, Clone, Default)]
pub struct Centres {
    entries: Vec<CentreEntry>,
}

impl Centres {
    /// The centres of the signed directory in the zone folder of `conn` (`--dir`), its
    /// signature checked against the zone root there. None (codes are shown bare) when the
    /// CLI was pointed at an endpoint instead, or the directory cannot be read: names are a
    /// courtesy, never a reason to fail a command.
    pub fn load(conn: &Conn) -> Self {
        let Some(dir) = &conn.dir else {
            return Centres::default();
        };
        let zd = hfx_certs::ZoneDir::open(dir);
        let read = || -> Option<Vec<CentreEntry>> {
            let pem = std::fs::read_to_string(zd.root_cert_path()).ok()?;
            let key = hfx_certs::pki::root_public_key(&pem).ok()?;
            let text = std::fs::read_to_string(zd.directory_path()).ok()?;
            let signed = hfx_certs::SignedDirectory::from_json(&text).ok()?;
            // The signature is checked, not the expiry: an expired directory still names
            // the centres correctly (the node, not this, refuses to exchange on it).
            let d = signed.verify(&key, i64::MIN).ok()?;
            Some(d.centres)
        };
        match read() {
            Some(entries) => Centres { entries },
            None => {
                tracing::debug!(dir = %dir.display(), "no readable zone directory: centres shown by code");
                Centres::default()
            }
        }
    }

    fn name_of<'a>(&'a self, code: &'a str) -> Option<CentreName<'a>> {
        self.entries
            .iter()
            .find(|e| e.code == code)
            .map(|e| CentreName {
                code: &e.code,
                city: &e.city,
                name: &e.name,
                pinyin: hfx_node::directory::city_pinyin(&e.city),
            })
    }

    /// `连云港 (320700000000000)` / `Lianyungang (320700000000000)`; the bare code (or `--`)
    /// for a centre the directory does not list.
    pub fn short(&self, cat: &Catalogue, code: &str) -> String {
        match self.name_of(code) {
            Some(c) => cat.centre_short(&c),
            None if code.is_empty() => cat.msg("none"),
            None => code.to_string(),
        }
    }

    /// `连云港 连云港市住房公积金管理中心 (320700000000000)`; the bare code when unknown.
    pub fn full(&self, cat: &Catalogue, code: &str) -> String {
        match self.name_of(code) {
            Some(c) => cat.centre_full(&c),
            None if code.is_empty() => cat.msg("none"),
            None => code.to_string(),
        }
    }
}

/// The node's fixed-word texts read back into the person's language (shared with the web
/// console): see [`hfx_i18n::templates`].
pub(crate) use hfx_i18n::templates::from_template;

#[cfg(test)]
pub(crate) fn test_centres() -> Centres {
    let entry = |code: &str, city: &str| CentreEntry {
        code: code.into(),
        name: format!("{city}市住房公积金管理中心"),
        city: city.into(),
        province: String::new(),
        endpoint: String::new(),
        endpoints: Vec::new(),
        tls_fingerprint: String::new(),
        signing_key: String::new(),
        core_system: String::new(),
    };
    Centres {
        entries: vec![
            entry("320300000000000", "徐州"),
            entry("320700000000000", "连云港"),
            entry("411400000000000", "商丘"),
        ],
    }
}
