//! Named actors: typed lookup, unique names, entries removed when the actor stops.

use actor_core::{ActorRef, RegistryError, registry};

use crate::support::{Probe, ProbeMsg};

struct Other;

impl actor_core::Actor for Other {
    type Message = ();

    async fn handle(&mut self, (): (), _ctx: &actor_core::Context<Self>) {}
}

#[tokio::test]
async fn lookup_finds_a_registered_actor_by_name_and_type() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    registry::register("registry-test-typed", &probe).unwrap();
    let found = registry::lookup::<ActorRef<Probe>>("registry-test-typed").unwrap();
    assert_eq!(found, probe);
    found.tell(ProbeMsg::Add(3)).await.unwrap();
    assert_eq!(probe.ask(ProbeMsg::Total).await, Ok(3));

    match registry::lookup::<ActorRef<Other>>("registry-test-typed") {
        Err(RegistryError::WrongType { found, .. }) => assert!(found.ends_with("Probe"), "{found}"),
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert!(registry::names().contains(&"registry-test-typed".to_owned()));
}

#[tokio::test]
async fn a_name_belongs_to_one_live_actor_and_is_freed_when_it_stops() {
    let first = actor_core::spawn(Probe::default()).unwrap();
    let second = actor_core::spawn(Probe::default()).unwrap();
    registry::register("registry-test-unique", &first).unwrap();
    assert_eq!(
        registry::register("registry-test-unique", &second),
        Err(RegistryError::NameTaken("registry-test-unique".into()))
    );

    first.stop();
    first.stopped().await;
    assert_eq!(
        registry::lookup::<ActorRef<Probe>>("registry-test-unique").unwrap_err(),
        RegistryError::NotFound("registry-test-unique".into())
    );
    registry::register("registry-test-unique", &second).unwrap();
    assert_eq!(registry::lookup::<ActorRef<Probe>>("registry-test-unique").unwrap(), second);
}

#[tokio::test]
async fn a_killed_actor_is_unregistered_too() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    registry::register("registry-test-killed", &probe).unwrap();
    probe.kill();
    probe.stopped().await;
    assert!(registry::lookup::<ActorRef<Probe>>("registry-test-killed").is_err());
    assert_eq!(registry::register("registry-test-killed", &probe), Err(RegistryError::NotAlive));
}

#[tokio::test]
async fn unregister_removes_the_name_but_not_the_actor() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    registry::register("registry-test-unregister", &probe).unwrap();
    assert!(registry::unregister("registry-test-unregister"));
    assert!(!registry::unregister("registry-test-unregister"));
    assert!(registry::lookup::<ActorRef<Probe>>("registry-test-unregister").is_err());
    assert_eq!(probe.ask(ProbeMsg::Total).await, Ok(0));
}
