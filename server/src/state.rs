//! The typed state every handler gets: the domain's services (store, settings, metrics,
//! events) and the pages rendered at startup.

use std::sync::Arc;

use bytes::Bytes;

use crate::domain::Services;

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
