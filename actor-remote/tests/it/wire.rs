//! The wire: a message of a newer version is refused with a version error, and bytes that are
//! not a request give decode errors, never a panic, while the actor keeps serving.

use actor_remote::wire::{self, Kind, Status};
use actor_remote::{RemoteError, RemoteHandle, Serve};
use actor_test_support::Rng;

use crate::support::{Item, Kitchen, KitchenHandle, KitchenRemote, node, unique_name};

#[tokio::test]
async fn a_message_from_a_newer_version_is_refused_with_a_version_error() {
    let Some(node) = node().await else { return };
    let name = unique_name("versions");
    let _served = node.serve(&name, Kitchen::default().spawn().unwrap()).await.unwrap();
    let remote: KitchenRemote = node.remote(&name).unwrap();
    let ours = KitchenHandle::VERSION;
    let newer = wire::request(Kind::Ask, "Kitchen", "told", ours + 1, None, b"{}");
    let reply = remote.target().request_raw(newer).await.unwrap();
    let (status, body) = wire::read_reply(&reply).unwrap();
    assert_eq!((status, body), (Status::Version, &ours.to_le_bytes()[..]));
    // An older or equal version is served.
    let same = wire::request(Kind::Ask, "Kitchen", "told", ours, None, b"{}");
    let reply = remote.target().request_raw(same).await.unwrap();
    assert_eq!(wire::read_reply(&reply).unwrap(), (Status::Ok, &b"0"[..]));
    // Through a handle of another type served under the name: a typed error.
    let wrong = wire::request(Kind::Ask, "Other", "told", 1, None, b"{}");
    let reply = remote.target().request_raw(wrong).await.unwrap();
    assert_eq!(wire::read_reply(&reply).unwrap(), (Status::WrongActor, &b"Kitchen"[..]));
    // A message no handler has, and arguments of the wrong shape.
    let unknown = wire::request(Kind::Ask, "Kitchen", "fly", ours, None, b"{}");
    let reply = remote.target().request_raw(unknown).await.unwrap();
    assert_eq!(wire::read_reply(&reply).unwrap().0, Status::UnknownMessage);
    let bad_args = wire::request(Kind::Ask, "Kitchen", "add", ours, None, br#"{"item": 5}"#);
    let reply = remote.target().request_raw(bad_args).await.unwrap();
    assert_eq!(wire::read_reply(&reply).unwrap().0, Status::Decode);
    // The handle maps the refusals to typed errors.
    assert!(remote.told().await.is_ok());
    let version = remote.target().ping().await.unwrap();
    assert_eq!(version, ours);
    let _: Result<(), RemoteError> = Ok(());
}

#[tokio::test]
async fn random_bytes_give_decode_errors_and_the_actor_keeps_serving() {
    let Some(node) = node().await else { return };
    let name = unique_name("fuzz");
    let local = Kitchen::default().spawn().unwrap();
    let _served = node.serve(&name, local.clone()).await.unwrap();
    let remote: KitchenRemote = node.remote(&name).unwrap();
    let mut rng = Rng::new(0x5eed);
    let valid = wire::request(Kind::Ask, "Kitchen", "told", 1, None, b"{}");
    let mut decode_errors = 0;
    let mut answered = 0;
    const STRINGS: usize = 10_000;
    // In flights of 100 at a time, so the run stays short.
    for _ in 0..STRINGS / 100 {
        let mut flight = Vec::new();
        for _ in 0..100 {
            let frame = random_frame(&mut rng, &valid);
            let target = remote.target().clone();
            flight.push(tokio::spawn(async move { target.request_raw(frame).await }));
        }
        for sent in flight {
            let reply = sent.await.unwrap().expect("every request is answered");
            let (status, _) = wire::read_reply(&reply).expect("every reply is a frame");
            answered += 1;
            if matches!(
                status,
                Status::Decode | Status::UnknownMessage | Status::WrongActor | Status::Version
            ) {
                decode_errors += 1;
            }
        }
    }
    assert_eq!(answered, STRINGS);
    assert!(decode_errors >= STRINGS * 9 / 10, "{decode_errors} of {STRINGS} refused");
    assert!(local.is_alive(), "the actor survived");
    assert_eq!(remote.add(Item { name: "after".to_owned(), qty: 1 }).await.unwrap(), 1);
}

/// Random bytes of random length, or a valid frame with random bytes flipped or cut.
fn random_frame(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    match rng.below(3) {
        0 => (0..rng.below(64)).map(|_| rng.below(256) as u8).collect(),
        1 => {
            let mut frame = valid.to_vec();
            let at = rng.below(frame.len() as u64) as usize;
            frame[at] ^= 1 + rng.below(255) as u8;
            frame
        }
        _ => {
            let mut frame = valid[..rng.below(valid.len() as u64) as usize].to_vec();
            frame.extend((0..rng.below(16)).map(|_| rng.below(256) as u8));
            frame
        }
    }
}

/// Two actor types of one name, told apart on the wire by the tag one of them was given.
mod billing {
    #[derive(Default)]
    pub(crate) struct Kitchen;

    #[actor_core::actor(remote, tag = "billing.Kitchen", version = 3)]
    impl Kitchen {
        pub(crate) fn invoice(&mut self, n: u32) -> u32 {
            n + 1
        }
    }
}

#[tokio::test]
async fn a_tag_tells_two_actor_types_of_one_name_apart() {
    use billing::{KitchenHandle as BillingHandle, KitchenRemote as BillingRemote};
    assert_eq!((BillingRemote::ACTOR, BillingRemote::VERSION), ("billing.Kitchen", 3));
    assert_eq!((BillingHandle::ACTOR, BillingHandle::VERSION), ("billing.Kitchen", 3));
    let Some(node) = node().await else { return };
    let name = unique_name("tagged");
    let _served = node.serve(&name, billing::Kitchen.spawn().unwrap()).await.unwrap();
    let billing: BillingRemote = node.resolve(&name).await.unwrap();
    assert_eq!(billing.invoice(41).await.unwrap(), 42);
    // The other `Kitchen`'s handle is refused, naming the tag found.
    match node.resolve::<KitchenRemote>(&name).await {
        Err(RemoteError::WrongActor { expected: "Kitchen", found, .. }) => {
            assert_eq!(found, "billing.Kitchen");
        }
        other => panic!("expected WrongActor, got {other:?}"),
    }
}
