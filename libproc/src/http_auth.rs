//! Who may call an HTTP route: authentication realms, as libprocess has them.
//!
//! A route belongs to at most one *realm*, a name its process declares when it installs
//! the route ([`Handlers::in_realm`](crate::Handlers::in_realm)); the master's read-only
//! views are in `mesos-master-readonly`, say, and its web UI in none. A component that
//! wants a realm guarded gives the node an [`HttpAuthenticator`] for it
//! ([`Node::set_http_authenticator`](crate::Node::set_http_authenticator)); a realm without
//! one is open. Every request to a guarded route is authenticated in one place, before its
//! handler runs, and the handler sees the principal in
//! [`HttpRequest::principal`](crate::HttpRequest::principal). The node's own endpoints
//! (`/metrics/snapshot`, `/logging/toggle`, …) use the realms named by
//! [`Node::protect_builtins`](crate::Node::protect_builtins).
//!
//! How a request proves who it is (HTTP Basic against a credentials file, for Mesos) is
//! the authenticator's business; libproc only routes to it. After authentication, the
//! node's [`HttpAuthorizer`] (if a component set one) may still refuse the request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::http::{HttpRequest, HttpResponse};

/// Authenticates requests to the routes of one realm.
pub trait HttpAuthenticator: Send + Sync {
    /// The principal `request` proves it is, or the response refusing it (a `401` with a
    /// `WWW-Authenticate` challenge).
    fn authenticate(&self, request: &HttpRequest) -> Result<String, HttpResponse>;
}

/// Decides whether an authenticated (or anonymous, on an open route) request may go on:
/// Mesos's `get_endpoints` ACL, say.
pub trait HttpAuthorizer: Send + Sync {
    /// `Ok` to serve `request` (its [`HttpRequest::principal`] set), or the refusal (a
    /// `403` with the reason).
    fn authorize(&self, request: &HttpRequest) -> Result<(), HttpResponse>;
}

/// The realms the node's own endpoints belong to.
#[derive(Debug, Clone, Default)]
pub(crate) struct BuiltinRealms {
    /// `/metrics/snapshot`, `/metrics`, `/__processes__`.
    pub(crate) readonly: Option<String>,
    /// `/logging/toggle`.
    pub(crate) readwrite: Option<String>,
}

/// A node's authenticators by realm.
#[derive(Default)]
pub(crate) struct Realms {
    authenticators: RwLock<HashMap<String, Arc<dyn HttpAuthenticator>>>,
    builtins: RwLock<BuiltinRealms>,
    authorizer: RwLock<Option<Arc<dyn HttpAuthorizer>>>,
}

impl Realms {
    pub(crate) fn set(&self, realm: &str, authenticator: Option<Arc<dyn HttpAuthenticator>>) {
        let mut map = self
            .authenticators
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match authenticator {
            Some(a) => map.insert(realm.to_string(), a),
            None => map.remove(realm),
        };
    }

    /// Names the realms of the built-in endpoints, unless some component already did (in
    /// `mesos-local` the master, spawned first, keeps them).
    pub(crate) fn protect_builtins(&self, readonly: &str, readwrite: &str) {
        let mut b = self.builtins.write().unwrap_or_else(|p| p.into_inner());
        if b.readonly.is_none() && b.readwrite.is_none() {
            b.readonly = Some(readonly.to_string());
            b.readwrite = Some(readwrite.to_string());
        }
    }

    /// Sets the node's authorizer, unless a component of the node set one already.
    pub(crate) fn set_authorizer(&self, authorizer: Arc<dyn HttpAuthorizer>) {
        let mut a = self.authorizer.write().unwrap_or_else(|p| p.into_inner());
        if a.is_none() {
            *a = Some(authorizer);
        }
    }

    /// Authenticates `request` for `realm` (setting its principal), then asks the
    /// authorizer; the refusal to send back if either says no.
    pub(crate) fn admit(
        &self,
        realm: Option<&str>,
        request: &mut HttpRequest,
    ) -> Result<(), HttpResponse> {
        request.principal = self.check(realm, request)?;
        let authorizer = self
            .authorizer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match authorizer {
            Some(a) => a.authorize(request),
            None => Ok(()),
        }
    }

    pub(crate) fn builtins(&self) -> BuiltinRealms {
        self.builtins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Authenticates `request` for `realm`: `Ok` with the principal (`None` when the realm
    /// is open), or the refusal to send back.
    pub(crate) fn check(
        &self,
        realm: Option<&str>,
        request: &HttpRequest,
    ) -> Result<Option<String>, HttpResponse> {
        let Some(realm) = realm else {
            return Ok(None);
        };
        let authenticator = self
            .authenticators
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(realm)
            .cloned();
        match authenticator {
            None => Ok(None),
            Some(a) => a.authenticate(request).map(Some),
        }
    }
}
