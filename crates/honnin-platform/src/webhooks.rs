//! Signed webhooks: every event is POSTed to the tenant's endpoint with
//! `Honnin-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, "UNIX.BODY"))` (the timestamp inside the MAC
//! lets receivers refuse replays), `Idempotency-Key: <event id>` (retries carry the same key, so a
//! receiver processes an event once) and `Honnin-Event: <type>`. Failures are retried with
//! exponential backoff; after the last attempt the delivery becomes a dead letter the service
//! provider can list and send again. Delivery rows are written with their events, in one
//! transaction, so no event is ever left without its delivery.

use std::time::Duration;

use aws_lc_rs::hmac;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::Actor;
use crate::store::DeliveryRow;
use crate::wire::{DeadLetter, DeadLetters, Event, Webhook};
use crate::{ids, Platform, PlatformError};

/// How often the queue is looked at.
const POLL: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// A receiver must answer within this.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Honnin-Signature` header value for a body at time `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={t},v1={}", hex::encode(ctx.sign()))
}

fn now_ms() -> i64 {
    (crate::clock::now().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Platform {
    /// `PUT /v1/webhook`: sets the endpoint and makes a new secret.
    pub async fn set_webhook(&self, tenant: &str, url: &str) -> Result<Webhook, PlatformError> {
        let ok = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.username().is_empty());
        if !ok {
            return Err(PlatformError::Invalid(
                "url must be an http(s) URL without credentials".into(),
            ));
        }
        let secret = format!("whsec_{}", ids::new_secret()?);
        self.inner.store.set_webhook(tenant, Some(url), Some(&secret)).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "webhook.set",
            Some(tenant),
            None,
            "ok",
            json!({ "url": url }),
        )
        .await?;
        Ok(Webhook {
            url: url.to_owned(),
            secret,
        })
    }

    /// `DELETE /v1/webhook`
    pub async fn delete_webhook(&self, tenant: &str) -> Result<(), PlatformError> {
        self.inner.store.set_webhook(tenant, None, None).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "webhook.delete",
            Some(tenant),
            None,
            "ok",
            json!({}),
        )
        .await
    }

    /// `GET /v1/webhook/dead-letters`
    pub async fn dead_letters(&self, tenant: &str) -> Result<DeadLetters, PlatformError> {
        let rows = self.inner.store.dead_letters(tenant).await?;
        self.audit(
            Actor::Tenant(tenant.into()),
            "webhook.dead_letters",
            Some(tenant),
            None,
            "ok",
            json!({}),
        )
        .await?;
        Ok(DeadLetters {
            dead_letters: rows
                .into_iter()
                .map(|d| DeadLetter {
                    event_id: d.event_id,
                    kind: d.kind,
                    attempts: d.attempts,
                    last_error: d.last_error,
                })
                .collect(),
        })
    }

    /// `POST /v1/webhook/dead-letters/{event}/retry`
    pub async fn retry_dead_letter(&self, tenant: &str, event: &str) -> Result<(), PlatformError> {
        if !self.inner.store.retry_dead_letter(tenant, event, now_ms()).await? {
            return Err(PlatformError::NotFound {
                what: "dead letter",
                id: event.into(),
            });
        }
        self.audit(
            Actor::Tenant(tenant.into()),
            "webhook.retry",
            Some(tenant),
            Some(event),
            "ok",
            json!({}),
        )
        .await
    }

    /// Delivers due events until the process ends.
    pub fn spawn_webhook_deliverer(&self) -> tokio::task::JoinHandle<()> {
        let platform = self.clone();
        tokio::spawn(async move {
            let http = match reqwest::Client::builder()
                .timeout(DELIVERY_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "no HTTP client for webhooks");
                    return;
                }
            };
            loop {
                match platform.inner.store.due_deliveries(now_ms(), 64).await {
                    Ok(due) => {
                        for d in due {
                            if let Err(e) = platform.deliver(&http, &d).await {
                                tracing::warn!(error = %e, "webhook bookkeeping failed");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the webhook queue"),
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }

    async fn deliver(&self, http: &reqwest::Client, d: &DeliveryRow) -> Result<(), PlatformError> {
        let data: serde_json::Value = serde_json::from_str(&d.event.data).unwrap_or_default();
        let event = Event {
            id: d.event.id.clone(),
            kind: d.event.kind.clone(),
            user_id: d.event.user_id.clone(),
            at: crate::flows::rfc3339(d.event.at),
            finding: data["finding"].as_str().unwrap_or_default().to_owned(),
            action: data["action"].as_str().unwrap_or_default().to_owned(),
            basic4: serde_json::from_value(data["basic4"].clone()).ok(),
        };
        let body = serde_json::to_vec(&event).map_err(|e| PlatformError::Corrupt(e.to_string()))?;
        let t = OffsetDateTime::now_utc().unix_timestamp();
        let result = http
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Honnin-Signature", signature(&d.secret, t, &body))
            .header("Idempotency-Key", &event.id)
            .header("Honnin-Event", &event.kind)
            .body(body)
            .send()
            .await;
        let error = match result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the receiver answered {}", r.status())),
            Err(e) => Some(format!("the receiver could not be reached: {e}")),
        };
        let now = crate::clock::now().unix_timestamp();
        match error {
            None => {
                self.inner
                    .store
                    .delivery_attempt(d.event.seq, "delivered", 0, None, now)
                    .await
            }
            Some(e) => {
                let attempts = d.attempts + 1;
                let config = &self.inner.config;
                if attempts >= i64::from(config.webhook_max_attempts.max(1)) {
                    tracing::warn!(event = %event.id, error = %e, "webhook delivery is dead");
                    self.inner
                        .store
                        .delivery_attempt(d.event.seq, "dead", 0, Some(&e), now)
                        .await
                } else {
                    let backoff =
                        (i64::from(config.webhook_retry_base_ms.max(1)) << attempts.min(30)).min(MAX_BACKOFF_MS);
                    self.inner
                        .store
                        .delivery_attempt(d.event.seq, "pending", now_ms() + backoff, Some(&e), now)
                        .await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_time_and_body() {
        let a = signature("whsec_x", 1700000000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="), "{a}");
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature("whsec_x", 1700000001, b"{}"));
        assert_ne!(a, signature("whsec_x", 1700000000, b"{ }"));
        assert_ne!(a, signature("whsec_y", 1700000000, b"{}"));
    }
}
