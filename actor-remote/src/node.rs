//! [`Node`]: one process's connection to NATS, which serves names and hands out remote
//! handles.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;

use crate::error::RemoteError;
use crate::serve::{self, Serve, Served};
use crate::target::Target;

/// The subject prefix of served names, unless [`Node::with_prefix`] says otherwise.
pub const DEFAULT_PREFIX: &str = "actors";

/// A remote handle: the typed methods of an actor served elsewhere. `#[actor(remote)]`
/// generates one (`CounterRemote` for `Counter`).
pub trait RemoteHandle: Clone + Send + Sync + 'static {
    /// The actor's type tag, as its server checks it.
    const ACTOR: &'static str;
    /// The protocol version this handle speaks.
    const VERSION: u32;

    /// The handle over `target`.
    fn from_target(target: Target) -> Self;

    /// The target it calls.
    fn target(&self) -> &Target;
}

/// One process's connection to a NATS server (or cluster): it serves actors under names and
/// gives out handles to the names others serve. Cheap to clone.
///
/// A name is the subject `actors.<name>`. Every process serving a name joins the same queue
/// group, so a name served by several processes is a pool: each ask goes to one of them.
#[derive(Debug, Clone)]
pub struct Node {
    client: Client,
    prefix: Arc<str>,
}

impl Node {
    /// Connects to the NATS server at `url` (`nats://host:4222`; TLS and credentials as the
    /// server requires them: build the client yourself and use [`Node::from_client`]).
    ///
    /// # Errors
    ///
    /// [`RemoteError::Connection`] if the server cannot be reached.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped connect leaves nothing behind.
    pub async fn connect(url: &str) -> Result<Node, RemoteError> {
        let client =
            async_nats::connect(url).await.map_err(|e| RemoteError::connection("connecting", e))?;
        Ok(Node::from_client(client))
    }

    /// A node over a client configured by the caller (TLS, credentials, reconnection).
    pub fn from_client(client: Client) -> Node {
        Node { client, prefix: Arc::from(DEFAULT_PREFIX) }
    }

    /// This node with names under `prefix` instead of `actors` (to keep environments apart on
    /// one server). A prefix that is not a valid subject makes every call of this node fail
    /// with [`RemoteError::InvalidName`].
    pub fn with_prefix(mut self, prefix: impl Into<Arc<str>>) -> Node {
        self.prefix = prefix.into();
        self
    }

    /// The NATS client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn subject(&self, name: &str) -> Result<async_nats::Subject, RemoteError> {
        let invalid = |name: &str, why| RemoteError::InvalidName { name: name.to_owned(), why };
        if let Some(why) = problem(&self.prefix) {
            return Err(invalid(&self.prefix, why));
        }
        match problem(name) {
            Some(why) => Err(invalid(name, why)),
            None => Ok(async_nats::Subject::from(format!("{}.{name}", self.prefix))),
        }
    }

    /// Serves `handle` under `name` until the returned [`Served`] is dropped or stopped, or
    /// the actor stops. Requests are answered concurrently; each is one message to the actor.
    ///
    /// # Errors
    ///
    /// [`RemoteError::InvalidName`], or [`RemoteError::Connection`] if the subscription fails.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the name may have been subscribed and is unsubscribed with
    /// the dropped subscription.
    pub async fn serve<S: Serve>(&self, name: &str, handle: S) -> Result<Served, RemoteError> {
        let subject = self.subject(name)?;
        let subscriber = self
            .client
            .queue_subscribe(subject, name.to_owned())
            .await
            .map_err(|e| RemoteError::connection("subscribing", e))?;
        // The subscription is known to the server before this returns, so that an ask sent
        // after `serve`, from any connection to this server, finds it.
        round_trip(&self.client).await?;
        Ok(serve::start(self.client.clone(), subscriber, handle, Arc::from(name)))
    }

    /// Serves `factory` as a pool under `name`: each ask becomes one of its jobs, keyed by
    /// `key` (for its routing) and answered by its worker through the job's
    /// [`Call`](crate::Call). Serving stops when the returned [`Served`] is
    /// dropped or stopped, or when the factory starts draining (so that the other processes
    /// serving the name take the asks). Callers use a [`PoolRemote`](crate::PoolRemote).
    ///
    /// A call is queued without waiting for room and lives no longer than its caller waits
    /// (its timeout travels with it): a full or draining factory answers
    /// [`Busy`](RemoteError::Busy) at once, and a call still queued when its caller has given
    /// up is discarded, not run.
    ///
    /// # Errors
    ///
    /// As [`Node::serve`], and [`RemoteError::Stopped`] if the factory is draining already.
    ///
    /// # Cancel safety
    ///
    /// As [`Node::serve`].
    #[cfg(feature = "factory")]
    pub async fn serve_factory<W, K, Q>(
        &self,
        name: &str,
        factory: actor_factory::Factory<W, K, crate::Call<Q>>,
        key: impl Fn(&Q) -> K + Send + Sync + 'static,
    ) -> Result<Served, RemoteError>
    where
        W: actor_core::Actor,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        Q: crate::PoolRequest,
    {
        if futures_util::FutureExt::now_or_never(factory.closed()).is_some() {
            return Err(RemoteError::Stopped);
        }
        let service = crate::pool::FactoryService { factory, key: Arc::new(key) };
        self.serve(name, service).await
    }

    /// A handle to whatever serves `name`, without checking that anything does: calls fail
    /// with [`RemoteError::NotFound`] while nothing serves it.
    ///
    /// # Errors
    ///
    /// [`RemoteError::InvalidName`].
    pub fn remote<H: RemoteHandle>(&self, name: &str) -> Result<H, RemoteError> {
        let subject = self.subject(name)?;
        let target =
            Target::new(self.client.clone(), subject, Arc::from(name), H::ACTOR, H::VERSION);
        Ok(H::from_target(target))
    }

    /// A handle to what serves `name`, once a ping found it and it serves this actor type.
    ///
    /// # Errors
    ///
    /// [`RemoteError::NotFound`], [`RemoteError::Timeout`], [`RemoteError::WrongActor`],
    /// [`RemoteError::InvalidName`] or a connection error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn resolve<H: RemoteHandle>(&self, name: &str) -> Result<H, RemoteError> {
        let handle: H = self.remote(name)?;
        handle.target().ping().await?;
        Ok(handle)
    }
}

/// Why `name` cannot be (part of) a subject, if it cannot.
fn problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.chars().any(|c| c.is_whitespace() || c == '*' || c == '>') {
        Some("NATS subjects cannot hold whitespace, `*` or `>`")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("its dot-separated parts cannot be empty")
    } else {
        None
    }
}

/// Waits until the server has processed everything this client sent before: a request to a
/// subject nobody listens on comes back "no responders" only after the server read all that
/// came before it on the connection. (`Client::flush` only writes the socket.)
async fn round_trip(client: &Client) -> Result<(), RemoteError> {
    let nobody = client.new_inbox();
    let request = async_nats::Request::new()
        .payload(bytes::Bytes::new())
        .timeout(Some(Duration::from_secs(10)));
    match client.send_request(nobody, request).await {
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
        Ok(_) => Ok(()),
        Err(e) => Err(RemoteError::connection("confirming a subscription", e)),
    }
}
