//! One handle type wherever a reference is handed out, typed errors for a wrong name or type,
//! errors that work with `?`, and calls from synchronous code.

use actor_core::supervision::{ChildSpec, SupervisorSpec};
use actor_core::{ActorRef, BlockingError, CallError, Context, RegistryError, actor, registry};

struct Greeter {
    greeted: u32,
}

#[actor]
impl Greeter {
    fn greet(&mut self, name: String) -> String {
        self.greeted += 1;
        format!("hello {name} ({})", self.greeted)
    }

    /// Its own handle, as a handler hands it out.
    fn me(&self, ctx: &Context<Self>) -> GreeterHandle {
        ctx.handle()
    }

    /// A child of the same type, as `spawn_child` hands it out.
    fn child(&self, ctx: &Context<Self>) -> Result<GreeterHandle, actor_core::SpawnError> {
        ctx.spawn_child(Greeter { greeted: 100 })
    }

    fn refuse(&self, name: String) -> Result<String, String> {
        Err(format!("{name} is not welcome"))
    }
}

struct Other;

#[actor]
impl Other {
    fn nothing(&self) {}
}

#[tokio::test]
async fn a_handle_from_every_source_reaches_the_same_actor() {
    let spec =
        SupervisorSpec::new().child(ChildSpec::new("greeter", || Ok(Greeter { greeted: 0 })));
    let supervisor = spec.spawn().await.unwrap();
    let from_supervisor = supervisor.child::<GreeterHandle>("greeter").unwrap();
    let from_ctx = from_supervisor.me().await.unwrap();
    registry::register("handles-greeter", from_supervisor.actor_ref()).unwrap();
    let from_registry = GreeterHandle::lookup("handles-greeter").unwrap();
    let generic = registry::lookup::<GreeterHandle>("handles-greeter").unwrap();
    let from_weak = from_ctx.downgrade().upgrade().unwrap();
    let as_ref = supervisor.child::<ActorRef<Greeter>>("greeter").unwrap();
    let from_ref = GreeterHandle::from_ref(as_ref);
    let handles = [from_supervisor, from_ctx, from_registry, generic, from_weak, from_ref];
    let ids: Vec<_> = handles.iter().map(|h| h.actor_ref().id()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    for (n, handle) in handles.iter().enumerate() {
        assert_eq!(handle.greet("Ada".into()).await.unwrap(), format!("hello Ada ({})", n + 1));
    }
    let child = handles[0].child().await.unwrap();
    assert_ne!(child.actor_ref().id(), ids[0]);
    assert_eq!(child.greet("Ada".into()).await.unwrap(), "hello Ada (101)");
    supervisor.stop();
    supervisor.stopped().await;
    assert!(handles[0].downgrade().upgrade().is_none(), "a stopped actor does not upgrade");
    assert!(matches!(child.stopped().await, actor_core::StopReason::Normal), "the parent owns it");
}

#[tokio::test]
async fn a_wrong_name_or_type_is_a_typed_error_everywhere() {
    let spec =
        SupervisorSpec::new().child(ChildSpec::new("greeter", || Ok(Greeter { greeted: 0 })));
    let supervisor = spec.spawn().await.unwrap();
    assert!(matches!(
        supervisor.child::<GreeterHandle>("nobody"),
        Err(RegistryError::NotFound(name)) if name == "nobody"
    ));
    match supervisor.child::<OtherHandle>("greeter") {
        Err(RegistryError::WrongType { expected, found, .. }) => {
            assert!(
                expected.ends_with("Other") && found.ends_with("Greeter"),
                "{expected} {found}"
            );
        }
        other => panic!("expected a wrong type, got {:?}", other.map(|_| ())),
    }
    let greeter = supervisor.child::<GreeterHandle>("greeter").unwrap();
    registry::register("handles-typed", greeter.actor_ref()).unwrap();
    assert!(matches!(OtherHandle::lookup("handles-typed"), Err(RegistryError::WrongType { .. })));
    assert!(matches!(GreeterHandle::lookup("handles-missing"), Err(RegistryError::NotFound(_))));
    assert!(matches!(supervisor.nested("nobody").await, Err(RegistryError::NotFound(_))));
    assert!(matches!(
        supervisor.nested("greeter").await,
        Err(RegistryError::WrongType { expected: "a nested supervisor", .. })
    ));
    supervisor.shutdown().await;
}

/// `?` on a handler's `Result<T, String>` in a function returning `Box<dyn Error>`.
async fn greet_or_fail(greeter: &GreeterHandle) -> Result<String, Box<dyn std::error::Error>> {
    let greeted = greeter.greet("Bob".into()).await?;
    let refused = greeter.refuse("Eve".into()).await?;
    Ok(format!("{greeted} {refused}"))
}

#[tokio::test]
async fn a_handler_error_works_with_the_question_mark() {
    let greeter = Greeter { greeted: 0 }.spawn().unwrap();
    let error = greet_or_fail(&greeter).await.unwrap_err();
    assert_eq!(error.to_string(), "Eve is not welcome");
    let call = greeter.refuse("Eve".into()).await.unwrap_err();
    assert_eq!(call, CallError::Handler("Eve is not welcome".to_owned()));
    assert!(std::error::Error::source(&call).is_none());
    greeter.shutdown().await;
}

#[test]
fn a_synchronous_thread_calls_an_actor_and_a_runtime_thread_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let greeter = runtime.block_on(async { Greeter { greeted: 0 }.spawn().unwrap() });
    // A plain thread: the call blocks until the answer.
    let thread_greeter = greeter.clone();
    let answer = std::thread::spawn(move || {
        let slow = thread_greeter.with_timeout(std::time::Duration::from_secs(30));
        actor_core::blocking(slow.greet("Cy".into()))
    })
    .join()
    .unwrap();
    assert_eq!(answer.unwrap().unwrap(), "hello Cy (1)");
    // On a runtime thread: a clear error, not a deadlock.
    let refused = runtime.block_on(async { actor_core::blocking(greeter.greet("Di".into())) });
    assert!(matches!(refused, Err(BlockingError::InsideRuntime)));
    runtime.block_on(greeter.shutdown());
}

struct Patient;

#[actor(timeout = "50ms")]
impl Patient {
    async fn wait(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_timeout_option_is_the_handles_default() {
    let patient = Patient.spawn().unwrap();
    assert_eq!(patient.wait(10).await, Ok(()));
    assert_eq!(patient.wait(1_000).await, Err(actor_core::AskError::Timeout));
    let longer = patient.with_timeout(std::time::Duration::from_secs(5));
    assert_eq!(longer.wait(1_000).await, Ok(()));
}
