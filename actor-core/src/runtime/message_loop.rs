//! The message loop: messages in mailbox order, shared handlers overlapping until an exclusive
//! one arrives, control requests seen after every handler.

use std::future::{Future, poll_fn};
use std::pin::pin;

use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use tracing::Instrument;

use super::*;

impl<A: Actor> ActorTask<A> {
    /// Handles messages until the actor stops or fails. Fields are reached through `self`
    /// rather than bound to locals, so the loop's future stores one pointer, not one per field.
    pub(super) async fn message_loop(&mut self) -> StopReason {
        let mut closed = false;
        // Fixed for the incarnation: one test of a local per message when metrics are off.
        #[cfg(feature = "metrics")]
        let metered = self.metrics().is_some();
        loop {
            match self.cell.control.load(Ordering::Acquire) {
                RUNNING => {}
                STOP => {
                    if !closed {
                        self.rx.close();
                        closed = true;
                    }
                }
                RESTART => return StopReason::Normal,
                FAIL => return self.ctx.take_failure().unwrap_or(StopReason::Normal),
                _ => return self.interrupted(),
            }
            let msg = match self.pending.take() {
                Some(msg) => msg,
                None => {
                    let watch = !closed;
                    let (rx, cell, waker) = (&mut self.rx, &*self.cell, &mut self.waker);
                    let msg = match poll_fn(|cx| poll_next(rx, cell, watch, waker, cx)).await {
                        Next::Message(msg) => msg,
                        Next::Closed => return StopReason::Normal,
                        Next::Control => continue,
                    };
                    if self.rx.traced() {
                        self.rx.begin_message(&self.cell.name, || A::message_name(&msg));
                    }
                    #[cfg(feature = "metrics")]
                    if metered && let Some(metrics) = self.metrics() {
                        metrics.taken(self.rx.backlog());
                    }
                    msg
                }
            };
            tracing::trace!("message");
            // Taken apart in one statement, so that nothing derived from the dispatch outlives it
            // except what the shared phase needs.
            let first = {
                let (first, exclusive) = {
                    // A synchronous shared handler runs right here, in the message's span.
                    let _entered = self.rx.enter();
                    match self.actor.handle_shared(msg, &self.ctx) {
                        Dispatch::Exclusive(msg) => (None, Some(msg)),
                        Dispatch::Done => {
                            #[cfg(feature = "metrics")]
                            if metered {
                                self.handled();
                            }
                            continue;
                        }
                        Dispatch::Pending(first) => (Some(first), None),
                    }
                };
                if let Some(msg) = exclusive {
                    // Ends the shared borrow of the actor (`first` is `None` here).
                    drop(first);
                    if let Some(heartbeat) = self.heartbeat() {
                        heartbeat.progress();
                    }
                    {
                        let mut handler = pin!(self.actor.handle(msg, &self.ctx));
                        let rx = &mut self.rx;
                        poll_fn(|cx| {
                            let polled = {
                                let _entered = rx.enter();
                                handler.as_mut().poll(cx)
                            };
                            if polled.is_pending() {
                                // Waiting in a handler: the places of the messages taken go
                                // back to the senders.
                                rx.flush();
                            }
                            polled
                        })
                        .await;
                    }
                    if let Some(heartbeat) = self.heartbeat() {
                        heartbeat.idle();
                    }
                    #[cfg(feature = "metrics")]
                    if metered {
                        self.handled();
                    }
                    continue;
                }
                first
            };
            let Some(first) = first else { continue };

            // Shared phase: keep starting shared handlers until an exclusive message arrives, the
            // limit is reached or the mailbox ends; then let every one of them finish.
            let mut in_flight = FuturesUnordered::new();
            in_flight.push(first.instrument(self.rx.current_span()));
            let mut ended = false;
            if let Some(heartbeat) = self.heartbeat() {
                heartbeat.progress();
            }
            loop {
                let control = self.cell.control.load(Ordering::Acquire);
                if control == STOP && !closed {
                    self.rx.close();
                    closed = true;
                }
                let accepting = self.pending.is_none()
                    && !ended
                    && (control == RUNNING || control == STOP)
                    && in_flight.len() < self.cell.max_shared as usize;
                if in_flight.is_empty() && !accepting {
                    break;
                }
                let watch = !closed;
                let (rx, cell, waker) = (&mut self.rx, &*self.cell, &mut self.waker);
                let event = poll_fn(|cx| {
                    // Finished handlers first: each frees a slot.
                    if let Poll::Ready(Some(())) = in_flight.poll_next_unpin(cx) {
                        return Poll::Ready(None);
                    }
                    if accepting && let Poll::Ready(next) = poll_next(rx, cell, watch, waker, cx) {
                        return Poll::Ready(Some(next));
                    }
                    // Waiting: the places of the messages taken go back to the senders.
                    rx.flush();
                    Poll::Pending
                })
                .await;
                if event.is_none()
                    && let Some(heartbeat) = self.heartbeat()
                {
                    // A shared handler finished: the phase is making progress, or, with none
                    // left in flight, waits for mail and cannot be stuck.
                    if in_flight.is_empty() {
                        heartbeat.idle();
                    } else {
                        heartbeat.progress();
                    }
                }
                match event {
                    None | Some(Next::Control) => {}
                    Some(Next::Closed) => ended = true,
                    Some(Next::Message(msg)) => {
                        tracing::trace!("message");
                        if self.rx.traced() {
                            self.rx.begin_message(&self.cell.name, || A::message_name(&msg));
                        }
                        #[cfg(feature = "metrics")]
                        if metered && let Some(metrics) = self.metrics() {
                            metrics.taken(self.rx.backlog());
                        }
                        // Called on the field (not through a held `&A`), so the task is `Send`
                        // without `A: Sync`.
                        let dispatch = {
                            let _entered = self.rx.enter();
                            self.actor.handle_shared(msg, &self.ctx)
                        };
                        match dispatch {
                            Dispatch::Done => {}
                            Dispatch::Pending(fut) => {
                                if in_flight.is_empty()
                                    && let Some(heartbeat) = self.heartbeat()
                                {
                                    // Busy again after waiting for mail.
                                    heartbeat.progress();
                                }
                                in_flight.push(fut.instrument(self.rx.current_span()));
                            }
                            Dispatch::Exclusive(msg) => self.pending = Some(msg),
                        }
                    }
                }
            }
            if let Some(heartbeat) = self.heartbeat() {
                heartbeat.idle();
            }
            if ended {
                return StopReason::Normal;
            }
        }
    }
}

/// What the actor's task wakes up for.
enum Next<M> {
    Message(M),
    /// The mailbox is closed and empty.
    Closed,
    /// A stop or failure was requested while the mailbox was empty.
    Control,
}

/// Polls the mailbox; with `watch_control`, also wakes up for a stop or failure request.
#[inline]
fn poll_next<M>(
    rx: &mut MailboxReceiver<M>,
    cell: &ActorCell,
    watch_control: bool,
    registered: &mut Option<Waker>,
    cx: &mut std::task::Context<'_>,
) -> Poll<Next<M>> {
    if let Poll::Ready(next) = rx.poll_recv(cx) {
        return Poll::Ready(next.map_or(Next::Closed, Next::Message));
    }
    if watch_control && cell.watch(registered, cx) != RUNNING {
        return Poll::Ready(Next::Control);
    }
    Poll::Pending
}

#[cfg(feature = "metrics")]
impl<A: Actor> ActorTask<A> {
    /// Records the time of the handler of the message taken last (with metrics on).
    #[inline]
    fn handled(&self) {
        if let Some(metrics) = self.metrics() {
            metrics.handled();
        }
    }
}
