//! Life events (異動) and what they do to the certificates, exactly as J-LIS revokes:
//!
//! | event | signing certificate | auth certificate |
//! |---|---|---|
//! | change of the 4 attributes | affiliationChanged | unchanged |
//! | death, emigration | affiliationChanged | affiliationChanged |
//! | card reported lost (一時停止) | certificateHold (never released) | certificateHold |
//! | card abolished / returned / use stopped | cessationOfOperation | cessationOfOperation |
//! | key compromise | keyCompromise | keyCompromise |
//! | destroyed before delivery | unspecified | unspecified |
//!
//! (Renewal and re-issue supersede; see the issue module.)

use honnin_profile::{Basic4, Hierarchy, RevocationReason, Serial, Sex};
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::issue::{card_certificates, record_event, revoke};
use crate::register::{check_place, iso_date, load_resident, ResidentStatus};
use crate::{Authority, AuthorityError};

/// Something that happened to a resident or their card.
#[derive(Clone, Debug)]
pub enum LifeEvent {
    /// 転居・転出: a new address, possibly in another municipality.
    AddressChange {
        address: String,
        prefecture: Option<String>,
        municipality: Option<String>,
    },
    /// 氏名の変更 (marriage, adoption …).
    NameChange { name: String },
    /// 性別の変更.
    SexChange { sex: Sex },
    /// 生年月日の訂正.
    BirthDateCorrection { birth_date: Date },
    /// 死亡.
    Death,
    /// 国外転出.
    Emigration,
    /// カードの紛失・盗難 (一時停止).
    CardLost,
    /// カードの廃止・返納・利用停止.
    CardAbolished,
    /// 鍵の危殆化.
    KeyCompromise,
    /// 交付前の廃棄.
    CardDestroyedBeforeDelivery,
}

impl LifeEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            LifeEvent::AddressChange { .. } => "address-change",
            LifeEvent::NameChange { .. } => "name-change",
            LifeEvent::SexChange { .. } => "sex-change",
            LifeEvent::BirthDateCorrection { .. } => "birth-date-correction",
            LifeEvent::Death => "death",
            LifeEvent::Emigration => "emigration",
            LifeEvent::CardLost => "card-lost",
            LifeEvent::CardAbolished => "card-abolished",
            LifeEvent::KeyCompromise => "key-compromise",
            LifeEvent::CardDestroyedBeforeDelivery => "card-destroyed",
        }
    }

    /// (reason, which hierarchies) this event revokes.
    fn revokes(&self) -> (RevocationReason, &'static [Hierarchy]) {
        const SIGN: &[Hierarchy] = &[Hierarchy::Signing];
        const BOTH: &[Hierarchy] = &Hierarchy::ALL;
        match self {
            LifeEvent::AddressChange { .. }
            | LifeEvent::NameChange { .. }
            | LifeEvent::SexChange { .. }
            | LifeEvent::BirthDateCorrection { .. } => (RevocationReason::AffiliationChanged, SIGN),
            LifeEvent::Death | LifeEvent::Emigration => (RevocationReason::AffiliationChanged, BOTH),
            LifeEvent::CardLost => (RevocationReason::CertificateHold, BOTH),
            LifeEvent::CardAbolished => (RevocationReason::CessationOfOperation, BOTH),
            LifeEvent::KeyCompromise => (RevocationReason::KeyCompromise, BOTH),
            LifeEvent::CardDestroyedBeforeDelivery => (RevocationReason::Unspecified, BOTH),
        }
    }

    /// The card's new state, when the event ends the card's use.
    fn card_state(&self) -> Option<&'static str> {
        match self {
            LifeEvent::Death | LifeEvent::Emigration => Some("void"),
            LifeEvent::CardLost => Some("lost"),
            LifeEvent::CardAbolished => Some("abolished"),
            LifeEvent::CardDestroyedBeforeDelivery => Some("destroyed"),
            _ => None,
        }
    }
}

/// What an event did.
#[derive(Clone, Debug, Serialize)]
pub struct EventOutcome {
    pub resident_id: String,
    pub event: &'static str,
    pub reason: &'static str,
    pub revoked: Vec<RevokedCertificate>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RevokedCertificate {
    pub which: &'static str,
    pub serial: String,
}

impl Authority {
    /// Records a life event and revokes certificates as J-LIS would.
    pub async fn record_event(
        &self,
        resident_id: &str,
        event: LifeEvent,
        now: OffsetDateTime,
    ) -> Result<EventOutcome, AuthorityError> {
        let resident = load_resident(self.pool(), resident_id).await?;
        if resident.status != ResidentStatus::Living {
            return Err(AuthorityError::NotLiving {
                id: resident.id.clone(),
                status: resident.status.as_str(),
            });
        }
        // Validate new attributes the way the next certificate will carry them.
        let mut updated = resident.clone();
        match &event {
            LifeEvent::AddressChange {
                address,
                prefecture,
                municipality,
            } => {
                updated.address = address.clone();
                if let Some(p) = prefecture {
                    check_place("prefecture", p)?;
                    updated.prefecture = p.clone();
                }
                if let Some(m) = municipality {
                    check_place("municipality", m)?;
                    updated.municipality = m.clone();
                }
            }
            LifeEvent::NameChange { name } => updated.name = name.clone(),
            LifeEvent::SexChange { sex } => updated.sex = *sex,
            LifeEvent::BirthDateCorrection { birth_date } => updated.birth_date = *birth_date,
            _ => {}
        }
        Basic4::from_register(&updated.name, &updated.address, updated.birth_date, updated.sex)?;
        let status = match event {
            LifeEvent::Death => ResidentStatus::Deceased,
            LifeEvent::Emigration => ResidentStatus::Emigrated,
            _ => ResidentStatus::Living,
        };

        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "UPDATE residents SET name = ?, address = ?, birth_date = ?, sex = ?, prefecture = ?, municipality = ?,
                                  status = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&updated.name)
        .bind(&updated.address)
        .bind(iso_date(updated.birth_date))
        .bind(updated.sex.as_str())
        .bind(&updated.prefecture)
        .bind(&updated.municipality)
        .bind(status.as_str())
        .bind(now.unix_timestamp())
        .bind(&resident.id)
        .execute(&mut *tx)
        .await?;

        let (reason, hierarchies) = event.revokes();
        // Resident-wide events reach every card; card events reach the active card.
        let cards: Vec<String> =
            sqlx::query_scalar("SELECT id FROM cards WHERE resident_id = ? AND state = 'active' ORDER BY issued_at")
                .bind(&resident.id)
                .fetch_all(&mut *tx)
                .await?;
        let mut targets = Vec::new();
        for card in &cards {
            for (serial, h, live) in card_certificates(&mut tx, card).await? {
                if live && hierarchies.contains(&h) {
                    targets.push((serial, h));
                }
            }
            if let Some(state) = event.card_state() {
                sqlx::query("UPDATE cards SET state = ? WHERE id = ?")
                    .bind(state)
                    .bind(card)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let revoked = revoke(&mut tx, &targets, reason, now).await?;
        let revoked: Vec<RevokedCertificate> = revoked
            .into_iter()
            .map(|(serial, h)| RevokedCertificate {
                which: h.short(),
                serial: Serial::from_u64(serial).to_hex(),
            })
            .collect();
        record_event(
            &mut tx,
            &resident.id,
            event.kind(),
            serde_json::json!({ "reason": reason.as_str(), "revoked": revoked.len() }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(EventOutcome {
            resident_id: resident.id,
            event: event.kind(),
            reason: reason.as_str(),
            revoked,
        })
    }
}
