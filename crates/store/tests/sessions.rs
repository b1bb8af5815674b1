//! Sessions: a deleted or expired session is refused, also after the
//! database is reopened.

#[macro_use]
mod support;
use support::Fixture;


both!(a_deleted_session_stays_refused_after_reopening_the_database);
async fn a_deleted_session_stays_refused_after_reopening_the_database(fx: Fixture) {
    let store = fx.open().await;
    store.create_session("kept", "k1", 100, 1000).await.unwrap();
    store.create_session("ended", "k1", 100, 1000).await.unwrap();
    store.delete_session("ended").await.unwrap();
    store.delete_session("never-existed").await.unwrap();
    store.close().await;

    let store = fx.open().await;
    assert!(store.session_valid("kept", "k1", 200).await.unwrap());
    assert!(!store.session_valid("ended", "k1", 200).await.unwrap(), "logged out");
    assert!(!store.session_valid("kept", "k2", 200).await.unwrap(), "granted under other tokens");
    assert!(!store.session_valid("kept", "k1", 1000).await.unwrap(), "expired");
    store.close().await;
}

both!(creating_a_session_forgets_the_expired_ones);
async fn creating_a_session_forgets_the_expired_ones(fx: Fixture) {
    let store = fx.open().await;
    store.create_session("old", "k", 0, 50).await.unwrap();
    store.create_session("new", "k", 60, 500).await.unwrap();
    // Even if a clock went back, the expired row is gone.
    assert!(!store.session_valid("old", "k", 10).await.unwrap());
    assert!(store.session_valid("new", "k", 70).await.unwrap());
}
