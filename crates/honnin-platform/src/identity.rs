//! Which user a certificate belongs to: the platform's own records first, then the authority's
//! serial links (新旧シリアル番号紐付け and 対応証明書の発行の番号), so a renewed or re-issued card
//! keeps the holder's `user_id`. Links are only available where the holder consented; without
//! consent the search simply stops there.

use honnin_authority_client::ClientError;
use honnin_profile::Hierarchy;
use honnin_proto::Service;

use crate::{Platform, PlatformError};

/// How far back a chain of renewals is followed (a card lives 10 years, certificates 5).
const MAX_CHAIN: usize = 8;

pub(crate) fn hierarchy_name(h: Hierarchy) -> &'static str {
    match h {
        Hierarchy::Signing => "sign",
        Hierarchy::Authentication => "auth",
    }
}

pub(crate) fn serial_text(serial: u64) -> String {
    format!("{serial:X}")
}

/// The outcome of a search.
pub(crate) enum Found {
    /// A known user, and the certificates met on the way (to remember for next time).
    User(String, Vec<(Hierarchy, u64)>),
    /// Nobody this tenant knows.
    Nobody,
}

/// The authority could not answer (unreachable, or an unexpected error): the search cannot say
/// "nobody", so the caller fails closed.
#[derive(Debug)]
pub(crate) struct LinkUnavailable(pub String);

impl From<PlatformError> for LinkUnavailable {
    fn from(e: PlatformError) -> Self {
        LinkUnavailable(e.to_string())
    }
}

/// Errors that mean "no link to follow" rather than "cannot tell".
fn no_link(e: &ClientError) -> bool {
    matches!(e, ClientError::ConsentRequired { .. } | ClientError::NotFound { .. })
}

impl Platform {
    async fn known(&self, tenant: &str, h: Hierarchy, serial: u64) -> Result<Option<String>, PlatformError> {
        self.inner
            .store
            .user_of_certificate(tenant, hierarchy_name(h), &serial_text(serial))
            .await
    }

    /// Follows renewals backwards from `serial` until a known certificate.
    async fn search_chain(
        &self,
        tenant: &str,
        h: Hierarchy,
        serial: u64,
        seen: &mut Vec<(Hierarchy, u64)>,
    ) -> Result<Option<String>, LinkUnavailable> {
        let mut current = serial;
        for _ in 0..MAX_CHAIN {
            let answer = self.inner.authority.previous(h, current).await;
            self.meter_link(tenant, Service::Previous, h, current, &answer, Option::is_some)
                .await?;
            let previous = match answer {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(e) if no_link(&e) => return Ok(None),
                Err(e) => return Err(LinkUnavailable(e.to_string())),
            };
            if let Some(user) = self.known(tenant, h, previous).await? {
                return Ok(Some(user));
            }
            seen.push((h, previous));
            current = previous;
        }
        Ok(None)
    }

    /// The user of a certificate, through the platform's records and the authority's links.
    /// `counterpart` also tries the other certificate of the same card (for logins: the signing
    /// certificate the account was opened with).
    pub(crate) async fn find_user(
        &self,
        tenant: &str,
        h: Hierarchy,
        serial: u64,
        counterpart: bool,
    ) -> Result<Found, LinkUnavailable> {
        if let Some(user) = self.known(tenant, h, serial).await? {
            return Ok(Found::User(user, Vec::new()));
        }
        let mut seen = vec![(h, serial)];
        if let Some(user) = self.search_chain(tenant, h, serial, &mut seen).await? {
            return Ok(Found::User(user, seen));
        }
        if !counterpart {
            return Ok(Found::Nobody);
        }
        let answer = self.inner.authority.counterpart(h, serial).await;
        self.meter_link(tenant, Service::Counterpart, h, serial, &answer, |_| true)
            .await?;
        let other = match answer {
            Ok(c) => match h {
                Hierarchy::Authentication => c.sign.map(|s| (Hierarchy::Signing, s)),
                Hierarchy::Signing => Some((Hierarchy::Authentication, c.auth)),
            },
            Err(e) if no_link(&e) => None,
            Err(e) => return Err(LinkUnavailable(e.to_string())),
        };
        let Some((oh, os)) = other else {
            return Ok(Found::Nobody);
        };
        if let Some(user) = self.known(tenant, oh, os).await? {
            return Ok(Found::User(user, seen));
        }
        if let Some(user) = self.search_chain(tenant, oh, os, &mut seen).await? {
            return Ok(Found::User(user, seen));
        }
        Ok(Found::Nobody)
    }

    /// Remembers certificates met while resolving `user`.
    pub(crate) async fn remember(
        &self,
        tenant: &str,
        user: &str,
        certs: &[(Hierarchy, u64)],
        how: &str,
        now: i64,
    ) -> Result<(), PlatformError> {
        for (h, serial) in certs {
            self.inner
                .store
                .link_certificate(tenant, hierarchy_name(*h), &serial_text(*serial), user, None, how, now)
                .await?;
        }
        Ok(())
    }
}
