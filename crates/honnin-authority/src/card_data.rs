//! What the authority writes into the 券面事項入力補助AP and 券面AP of a card, signed with its
//! card-data keys: a top key and an intermediate key certified by a card-verifiable certificate.

use honnin_card::layout::{self, Basic4Text, Cvc};
use honnin_cardfile::{ApFiles, Bytes, CardFile, Pin};
use honnin_profile::RsaKey;
use sqlx::{Row, SqlitePool};

use crate::{Authority, AuthorityError};

/// PIN A and PIN B tries. No source gives the real count; 10 is the sandbox's assumption.
pub(crate) const PIN_AB_TRIES: u8 = 10;

/// The face photo written onto sandbox cards: a placeholder silhouette (JPEG 2000).
const FACE_PLACEHOLDER: &[u8] = include_bytes!("../assets/face-placeholder.jp2");

/// The card-data signing keys.
pub(crate) struct CardDataKeys {
    pub top: RsaKey,
    pub intermediate: RsaKey,
    pub cvc: Vec<u8>,
}

impl CardDataKeys {
    /// The 16-byte key identifier written in the CVC and EF 0005: the first half of SHA-256 of the key.
    fn key_id(key: &RsaKey) -> [u8; 16] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key_pkcs1());
        let mut id = [0u8; 16];
        id.copy_from_slice(&d.as_ref()[..16]);
        id
    }
}

fn layout_err(e: layout::LayoutError) -> AuthorityError {
    AuthorityError::BadInput(format!("cannot build card data: {e}"))
}

/// Loads the card-data keys, creating them on first use.
pub(crate) async fn keys(pool: &SqlitePool) -> Result<CardDataKeys, AuthorityError> {
    let rows = sqlx::query("SELECT name, private_key, cvc FROM card_data_keys")
        .fetch_all(pool)
        .await?;
    let mut top = None;
    let mut intermediate = None;
    for r in rows {
        let name: String = r.try_get(0)?;
        let key = RsaKey::from_pkcs8(&r.try_get::<Vec<u8>, _>(1)?)?;
        match name.as_str() {
            "top" => top = Some(key),
            _ => intermediate = Some((key, r.try_get::<Option<Vec<u8>>, _>(2)?.unwrap_or_default())),
        }
    }
    if let (Some(top), Some((intermediate, cvc))) = (top, intermediate) {
        return Ok(CardDataKeys { top, intermediate, cvc });
    }
    let top = RsaKey::generate()?;
    let intermediate = RsaKey::generate()?;
    let cvc = Cvc::build(
        CardDataKeys::key_id(&top),
        CardDataKeys::key_id(&intermediate),
        intermediate.public_key_pkcs1(),
        &top,
    )
    .map_err(layout_err)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // Another process may have created them meanwhile: the first one wins.
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM card_data_keys")
        .fetch_one(&mut *tx)
        .await?;
    if existing == 0 {
        sqlx::query(
            "INSERT INTO card_data_keys (name, private_key, cvc) VALUES ('top', ?, NULL), ('intermediate', ?, ?)",
        )
        .bind(top.to_pkcs8()?)
        .bind(intermediate.to_pkcs8()?)
        .bind(&cvc)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(CardDataKeys { top, intermediate, cvc });
    }
    drop(tx);
    Box::pin(keys(pool)).await
}

/// A small PNG standing in for a printed text (the name, the address, the security code): a blank
/// image sized to the text, carrying the text in a `tEXt` chunk. honnin does not render glyphs.
fn text_image(text: &str) -> Result<Vec<u8>, AuthorityError> {
    let width = (text.chars().count() as u32 * 16).clamp(16, 2048);
    let height = 24;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let err = |e: png::EncodingError| AuthorityError::BadInput(format!("cannot draw a card image: {e}"));
        encoder.add_itxt_chunk("Description".into(), text.into()).map_err(err)?;
        let mut writer = encoder.write_header().map_err(err)?;
        writer
            .write_image_data(&vec![0xFF; (width * height) as usize])
            .map_err(err)?;
    }
    Ok(out)
}

/// Writes the kenhojo and kenkaku files and PINs A/B into `card` from its surface data.
pub(crate) fn write_card_data(card: &mut CardFile, keys: &CardDataKeys) -> Result<(), AuthorityError> {
    let s = &card.surface;
    let my_number = layout::my_number_file(&s.my_number);
    let basic4 = layout::basic4_file(&Basic4Text {
        name: s.name.clone(),
        address: s.address.clone(),
        birth_date: s.birth_date.clone(),
        sex: s.sex.clone(),
    });
    let signature = layout::kenhojo_signature_file(&my_number, &basic4, &keys.intermediate).map_err(layout_err)?;
    let key_id = CardDataKeys::key_id(&keys.intermediate);
    let mut kenhojo = ApFiles::new();
    kenhojo.insert(0x0001, Bytes(my_number));
    kenhojo.insert(0x0002, Bytes(basic4));
    kenhojo.insert(0x0003, Bytes(signature));
    kenhojo.insert(0x0004, Bytes(keys.cvc.clone()));
    kenhojo.insert(0x0005, Bytes(layout::basic_info_file(key_id)));

    let surface = layout::Surface {
        birth_date: s.birth_date.clone(),
        sex: s.sex.clone(),
        name_image: text_image(&s.name)?,
        address_image: text_image(&s.address)?,
        face: FACE_PLACEHOLDER.to_vec(),
        card_expiry: s.card_expiry.clone(),
        security_code_image: text_image(&s.security_code)?,
    };
    let mut kenkaku = ApFiles::new();
    kenkaku.insert(
        0x0002,
        Bytes(layout::kenkaku_entries_file(&surface, &keys.intermediate).map_err(layout_err)?),
    );
    kenkaku.insert(0x0003, Bytes(layout::kenkaku_basic_info_file(&s.municipality)));
    kenkaku.insert(0x0004, Bytes(keys.cvc.clone()));
    kenkaku.insert(
        0x0005,
        Bytes(layout::kenkaku_my_number_file(&text_image(&s.my_number)?, &keys.intermediate).map_err(layout_err)?),
    );
    // PIN B: birth date YYMMDD, the card's expiry year, the security code.
    let pin_b = format!("{}{}{}", &s.birth_date[2..8], &s.card_expiry[..4], s.security_code);
    // A rewrite (renewal) keeps the retry counters of PINs whose value did not change.
    if !card.pin_a.matches(&s.my_number) {
        card.pin_a = Pin::new(&s.my_number, PIN_AB_TRIES);
    }
    if !card.pin_b.matches(&pin_b) {
        card.pin_b = Pin::new(&pin_b, PIN_AB_TRIES);
    }
    card.kenhojo_files = kenhojo;
    card.kenkaku_files = kenkaku;
    Ok(())
}

impl Authority {
    /// The public half of the top card-data key (PKCS#1): what a verifier configures to check
    /// kenhojo data (the real one is given to registered parties only).
    pub async fn card_data_top_key(&self) -> Result<Vec<u8>, AuthorityError> {
        Ok(keys(self.pool()).await?.top.public_key_pkcs1().to_vec())
    }
}
