//! Registered verifiers through the library API: credentials stored only as salted hashes,
//! authentication outcomes, consents as history, and the billing record's time window.

use honnin_authority::{
    Authority, AuthorityError, CallResult, ConsentScope, InitOptions, Link, LinkOutcome, NewResident, VerifierAuth,
    VerifierService,
};
use honnin_profile::{Hierarchy, Sex};
use time::macros::{date, datetime};
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-21 01:00 UTC);

async fn authority(dir: &tempfile::TempDir) -> Authority {
    Authority::init(&dir.path().join("a"), InitOptions::default(), NOW)
        .await
        .expect("init")
}

async fn resident(a: &Authority) -> String {
    a.add_resident(
        NewResident {
            name: "山田　花子".into(),
            address: "東京都清瀬市中里五丁目８４２番地".into(),
            birth_date: date!(1990 - 01 - 02),
            sex: Sex::Female,
            prefecture: "Tokyo-to".into(),
            municipality: "Kiyose-shi".into(),
            adult_ward: false,
        },
        NOW,
    )
    .await
    .expect("resident")
    .id
}

#[tokio::test]
async fn secrets_are_never_stored_and_only_the_exact_one_authenticates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = authority(&dir).await;
    let (bank, secret) = a.add_verifier("Example Bank", NOW).await.expect("add");
    let (shop, shop_secret) = a.add_verifier("Example Shop", NOW).await.expect("add");
    assert_ne!(bank.id, shop.id);
    assert_ne!(secret.expose(), shop_secret.expose());
    assert!(secret.expose().len() >= 43, "256 bits, base64url");

    // Nothing in the database files holds the secret.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("a")).expect("dir") {
        stored.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
    }
    assert!(!stored
        .windows(secret.expose().len())
        .any(|w| w == secret.expose().as_bytes()));

    assert_eq!(
        a.authenticate_verifier(&bank.id, secret.expose()).await.expect("auth"),
        VerifierAuth::Accepted(bank.id.clone())
    );
    for (id, s) in [
        (bank.id.as_str(), shop_secret.expose()),
        (bank.id.as_str(), ""),
        ("no-such-verifier", secret.expose()),
    ] {
        assert_eq!(
            a.authenticate_verifier(id, s).await.expect("auth"),
            VerifierAuth::Rejected
        );
    }
    let disabled = a.disable_verifier(&bank.id, NOW).await.expect("disable");
    assert!(disabled.disabled);
    assert_eq!(
        a.authenticate_verifier(&bank.id, secret.expose()).await.expect("auth"),
        VerifierAuth::Disabled(bank.id.clone())
    );
    assert_eq!(
        a.authenticate_verifier(&bank.id, shop_secret.expose())
            .await
            .expect("auth"),
        VerifierAuth::Rejected,
        "a wrong secret does not learn that the verifier is disabled"
    );
    let listed = a.verifiers().await.expect("list");
    assert_eq!(listed.iter().map(|v| v.disabled).collect::<Vec<_>>(), [true, false]);
    assert!(matches!(
        a.disable_verifier("nope", NOW).await,
        Err(AuthorityError::UnknownVerifier(_))
    ));
}

#[tokio::test]
async fn consents_are_kept_as_history_and_calls_are_billed_in_their_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = authority(&dir).await;
    let holder = resident(&a).await;
    let (v, _) = a.add_verifier("Example Bank", NOW).await.expect("add");

    let first = a
        .add_consent(&holder, &v.id, ConsentScope::Linking, NOW)
        .await
        .expect("consent");
    let again = a
        .add_consent(&holder, &v.id, ConsentScope::Linking, NOW + time::Duration::hours(1))
        .await
        .expect("consent");
    assert_eq!(first, again, "a live consent is not given twice");
    let withdrawn = a
        .withdraw_consent(&holder, &v.id, ConsentScope::Linking, NOW + time::Duration::hours(2))
        .await
        .expect("withdraw");
    assert_eq!(withdrawn.withdrawn_at, Some(NOW + time::Duration::hours(2)));
    assert!(matches!(
        a.withdraw_consent(&holder, &v.id, ConsentScope::Linking, NOW).await,
        Err(AuthorityError::NoConsent { .. })
    ));
    a.add_consent(&holder, &v.id, ConsentScope::Linking, NOW + time::Duration::hours(3))
        .await
        .expect("consent");
    let history = a.consents(Some(&holder)).await.expect("list");
    assert_eq!(history.len(), 2);
    assert!(history[0].withdrawn_at.is_some() && history[1].withdrawn_at.is_none());
    assert!(matches!(
        a.add_consent("00000000000", &v.id, ConsentScope::Linking, NOW).await,
        Err(AuthorityError::UnknownResident(_))
    ));

    // Calls at NOW and NOW + 1 h: a window is [from, to).
    let unknown = 0x0123_4567_89AB_CDEF;
    for at in [NOW, NOW + time::Duration::hours(1)] {
        assert_eq!(
            a.verifier_link(&v.id, Hierarchy::Authentication, unknown, Link::Next, at)
                .await
                .expect("link"),
            LinkOutcome::UnknownCertificate
        );
    }
    let hour = |h: i64| NOW + time::Duration::hours(h);
    assert_eq!(a.verifier_calls(&v.id, hour(0), hour(1)).await.expect("calls").len(), 1);
    assert_eq!(a.verifier_calls(&v.id, hour(0), hour(2)).await.expect("calls").len(), 2);
    assert_eq!(a.verifier_calls(&v.id, hour(1), hour(2)).await.expect("calls").len(), 1);
    let call = &a.verifier_calls(&v.id, hour(0), hour(1)).await.expect("calls")[0];
    assert_eq!(
        (
            call.service,
            call.hierarchy,
            call.serial,
            call.linked_serial,
            call.result,
            call.at
        ),
        (
            VerifierService::Next,
            Some(Hierarchy::Authentication),
            Some(unknown),
            None,
            CallResult::NotFound,
            NOW
        )
    );
}
