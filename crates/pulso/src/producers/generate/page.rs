//! Pages of the simulated store and equivalent non-canonical spellings of them.
//!
//! A [`Page`] is a canonical path plus at most one query parameter. The generator writes either
//! the page itself or one of its [`Variant`]s, and records the canonical page the processor
//! must count it under. Each variant is chosen so that its canonical form follows from the
//! normalisation rules directly:
//! - scheme and host are lowercased and the default port is dropped, but an absolute URL keeps
//!   its host, so it is a different page from the bare path;
//! - the fragment is dropped, and the query is dropped except for allowlisted parameters;
//! - an escape of an unreserved character, such as `%65` for `e`, is decoded;
//! - empty and `.` segments and the trailing slash are removed.

use rand::seq::SliceRandom;
use rand::Rng;

/// The store's host as written in absolute URLs, with upper-case letters that normalisation
/// lowercases.
const SPELLED_ORIGIN: &str = "HTTPS://Loja.Exemplo.com.br";
/// The same origin as the processor records it.
const CANONICAL_ORIGIN: &str = "https://loja.exemplo.com.br";
/// Campaign parameters a link from an ad or an e-mail carries.
const UTM_PARAMETERS: [&str; 3] = ["utm_source", "utm_medium", "utm_campaign"];

/// A canonical page: a path such as `/produto/tenis-123` and an optional query parameter,
/// such as `q=tenis` on the search page. Values use only unreserved characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub path: String,
    pub query: Option<(&'static str, String)>,
}

/// A non-canonical but equivalent way to write a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    TrailingSlash,
    AbsoluteUpperCaseHost,
    AbsoluteDefaultPort,
    UtmQuery,
    Fragment,
    EncodedLetter,
    DotSegment,
}

impl Variant {
    pub const ALL: [Variant; 7] = [
        Variant::TrailingSlash,
        Variant::AbsoluteUpperCaseHost,
        Variant::AbsoluteDefaultPort,
        Variant::UtmQuery,
        Variant::Fragment,
        Variant::EncodedLetter,
        Variant::DotSegment,
    ];
}

/// The page text written into an event, and the canonical page the processor records for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelling {
    pub written: String,
    pub canonical: String,
}

impl Page {
    pub fn path(path: String) -> Page {
        Page { path, query: None }
    }

    /// Spells the page without a variant and gives its canonical form under `allowlist`.
    pub fn plain(&self, allowlist: &[String]) -> Spelling {
        Spelling { written: self.with_query(&self.path), canonical: self.canonical(allowlist, "") }
    }

    /// Spells the page as `variant`. Returns `None` when the variant does not apply: a root
    /// path has no letter to encode and no segment to add, and a UTM query would be kept if a
    /// UTM parameter were allowlisted.
    pub fn spell(&self, variant: Variant, allowlist: &[String]) -> Option<Spelling> {
        let root = self.path == "/";
        let written = match variant {
            Variant::TrailingSlash if !root => self.with_query(&format!("{}/", self.path)),
            Variant::AbsoluteUpperCaseHost => format!("{SPELLED_ORIGIN}{}", self.with_query(&self.path)),
            Variant::AbsoluteDefaultPort => format!("{SPELLED_ORIGIN}:443{}", self.with_query(&self.path)),
            Variant::UtmQuery if !allowlist.iter().any(|name| UTM_PARAMETERS.contains(&name.as_str())) => {
                self.with_utm_query()
            }
            Variant::Fragment => format!("{}#avaliacoes", self.with_query(&self.path)),
            Variant::EncodedLetter => self.with_query(&encode_first_letter(&self.path)?),
            Variant::DotSegment if !root => self.with_query(&format!("/.{}", self.path.replacen('/', "//", 1))),
            _ => return None,
        };
        let absolute = matches!(variant, Variant::AbsoluteUpperCaseHost | Variant::AbsoluteDefaultPort);
        let origin = if absolute { CANONICAL_ORIGIN } else { "" };
        Some(Spelling { written, canonical: self.canonical(allowlist, origin) })
    }

    /// Spells the page as a random applicable variant. Every page has at least the fragment
    /// and host variants, so this always ends.
    pub fn spell_randomly<R: Rng>(&self, allowlist: &[String], rng: &mut R) -> Spelling {
        loop {
            let variant = *Variant::ALL.choose(rng).expect("variants are not empty");
            if let Some(spelling) = self.spell(variant, allowlist) {
                return spelling;
            }
        }
    }

    fn with_query(&self, path: &str) -> String {
        match &self.query {
            Some((name, value)) => format!("{path}?{name}={value}"),
            None => path.to_string(),
        }
    }

    fn with_utm_query(&self) -> String {
        let utm = "utm_source=newsletter&utm_medium=email&utm_campaign=black-friday";
        match &self.query {
            Some((name, value)) => format!("{}?{utm}&{name}={value}", self.path),
            None => format!("{}?{utm}", self.path),
        }
    }

    fn canonical(&self, allowlist: &[String], origin: &str) -> String {
        match &self.query {
            Some((name, value)) if allowlist.iter().any(|allowed| allowed == name) => {
                format!("{origin}{}?{name}={value}", self.path)
            }
            _ => format!("{origin}{}", self.path),
        }
    }
}

/// Replaces the first lowercase letter with its percent-escape, in lowercase hex.
fn encode_first_letter(path: &str) -> Option<String> {
    let position = path.bytes().position(|b| b.is_ascii_lowercase())?;
    let letter = path.as_bytes()[position];
    Some(format!("{}%{letter:02x}{}", &path[..position], &path[position + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::page::{normalize, PageOptions};

    fn options(allowlist: &[String]) -> PageOptions {
        PageOptions { query_allowlist: allowlist.to_vec(), ..PageOptions::default() }
    }

    fn sample_pages() -> Vec<Page> {
        vec![
            Page::path("/".into()),
            Page::path("/produto/tenis-corrida-nike-pro-100123".into()),
            Page::path("/categoria/casa-e-decoracao".into()),
            Page::path("/checkout/confirmacao".into()),
            Page { path: "/busca".into(), query: Some(("q", "air-fryer".into())) },
        ]
    }

    #[test]
    fn variants_normalise_to_recorded_page() {
        let allowlists: [Vec<String>; 3] = [vec![], vec!["q".into()], vec!["utm_source".into()]];
        for allowlist in &allowlists {
            for page in sample_pages() {
                for variant in Variant::ALL {
                    let Some(spelling) = page.spell(variant, allowlist) else { continue };
                    let normalized = normalize(&spelling.written, &options(allowlist)).unwrap();
                    assert_eq!(
                        normalized, spelling.canonical,
                        "{variant:?} {:?} allowlist {allowlist:?}",
                        spelling.written
                    );
                }
            }
        }
    }

    #[test]
    fn plain_page_is_canonical() {
        for allowlist in [vec![], vec!["q".to_string()]] {
            for page in sample_pages() {
                let spelling = page.plain(&allowlist);
                assert_eq!(normalize(&spelling.written, &options(&allowlist)).unwrap(), spelling.canonical);
            }
        }
    }

    #[test]
    fn variants_differ_from_canonical() {
        let page = Page::path("/produto/x-1".into());
        for variant in Variant::ALL {
            let spelling = page.spell(variant, &[]).unwrap();
            assert_ne!(spelling.written, spelling.canonical, "{variant:?}");
        }
    }

    #[test]
    fn absolute_variant_keeps_host() {
        let spelling = Page::path("/produto/x-1".into()).spell(Variant::AbsoluteUpperCaseHost, &[]).unwrap();
        assert_eq!(spelling.written, "HTTPS://Loja.Exemplo.com.br/produto/x-1");
        assert_eq!(spelling.canonical, "https://loja.exemplo.com.br/produto/x-1");
    }

    #[test]
    fn utm_variant_skipped_when_allowlisted() {
        let page = Page::path("/produto/x-1".into());
        assert!(page.spell(Variant::UtmQuery, &["utm_campaign".to_string()]).is_none());
    }

    #[test]
    fn encoded_letter_uses_escape() {
        let spelling = Page::path("/produto/x-1".into()).spell(Variant::EncodedLetter, &[]).unwrap();
        assert_eq!(spelling.written, "/%70roduto/x-1");
    }
}
