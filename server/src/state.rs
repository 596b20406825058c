//! The typed state every handler gets: the domain's services (store, settings, metrics,
//! events) and the pages rendered at startup.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::assets;
use crate::domain::Services;
use crate::routes::{docs, pages};
use crate::{Config, Settings};

/// Pages rendered once at startup.
#[derive(Debug)]
pub struct Pages {
    pub reveal: Bytes,
    /// The create page at `/create` (Hakanai v3's route; invite links are `/create#<token>`).
    pub create: Bytes,
    pub index: Bytes,
    /// `/get`: open a secret from a pasted link, or an id and its key.
    pub get: Bytes,
    /// `/share`: Hakanai v3's clipboard page (iOS Shortcut) and the app's share target.
    pub share: Bytes,
    /// `/one-time-token`: a token holder mints invite links.
    pub one_time_token: Bytes,
    /// `/style.css` with the custom `style.css` appended, when `--custom-assets-dir` has one;
    /// `None` leaves `/style.css` to the page's own file.
    pub style: Option<Bytes>,
    pub docs: Bytes,
    pub openapi: Bytes,
    pub impressum: Option<Bytes>,
    pub privacy: Option<Bytes>,
}

impl Pages {
    /// A missing legal page file is a startup error: silently dropping it could break the law.
    pub fn load(settings: &Settings, config: &Config) -> Result<Pages, String> {
        let legal = |path: &Option<PathBuf>, title: &str| {
            path.as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map(|content| Bytes::from(pages::legal_page(title, &content)))
                        .map_err(|e| format!("cannot read {}: {e}", p.display()))
                })
                .transpose()
        };
        let from_dir = |dir: Option<&std::path::Path>, name: &str| {
            dir.and_then(|d| std::fs::read(d.join(name)).ok())
                .map(Bytes::from)
        };
        // The page's own file: the web root's, else the built-in one.
        let stock = |name: &str| {
            from_dir(settings.web_root.as_deref(), name).or_else(|| {
                assets::find(settings.web_assets, &format!("/{name}"))
                    .map(|a| Bytes::from_static(a.body))
            })
        };
        let page = |name: &str| {
            from_dir(settings.custom_assets_dir.as_deref(), name).or_else(|| stock(name))
        };
        let reveal = page("reveal.html")
            .unwrap_or_else(|| Bytes::from_static(pages::EMBEDDED_REVEAL_PAGE.as_bytes()));
        let no_page = || Bytes::from_static(pages::EMBEDDED_INDEX_PAGE.as_bytes());
        let create = page("index.html").unwrap_or_else(no_page);
        // Hakanai v3's custom style.css is appended to the stock one, never replaces it.
        let style = from_dir(settings.custom_assets_dir.as_deref(), "style.css").map(|custom| {
            let mut css = stock("style.css").map(Vec::from).unwrap_or_default();
            css.extend_from_slice(b"\n/* --custom-assets-dir style.css */\n");
            css.extend_from_slice(&custom);
            Bytes::from(css)
        });
        Ok(Pages {
            reveal,
            create,
            get: page("get.html").unwrap_or_else(no_page),
            share: page("share.html").unwrap_or_else(no_page),
            one_time_token: page("one-time-token.html").unwrap_or_else(no_page),
            style,
            index: no_page(),
            docs: Bytes::from(docs::docs_html()),
            openapi: Bytes::from(docs::openapi_json()),
            impressum: legal(&config.impressum_file, "Impressum")?,
            privacy: legal(&config.privacy_file, "Privacy policy")?,
        })
    }
}

#[derive(Clone)]
pub struct AppState {
    /// What the domain layer works with; `state.store`, `state.settings`, … reach it directly.
    pub services: Services,
    pub pages: Arc<Pages>,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
