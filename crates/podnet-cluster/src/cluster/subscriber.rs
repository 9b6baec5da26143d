//! What a node receives: its pub/sub channels, and the task that reads them and delivers
//! to local players, subscribing again when Redis comes back.

use super::*;
use crate::delivery::{ACK_EVERY, Arrival, Incoming};
use crate::envelope::Direct;

/// The pub/sub channels of one node.
pub(super) struct Channels {
    prefix: String,
    direct: String,
    all: String,
}

impl Channels {
    pub(super) fn new(prefix: &str, id: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            direct: Self::direct_of(prefix, id),
            all: Self::all_of(prefix),
        }
    }

    pub(super) fn direct_of(prefix: &str, id: &str) -> String {
        format!("{prefix}:to:{id}")
    }

    pub(super) fn all_of(prefix: &str) -> String {
        format!("{prefix}:all")
    }

    pub(super) fn room_of(prefix: &str, room: &str) -> String {
        format!("{prefix}:room:{room}")
    }

    fn room_name<'c>(&self, channel: &'c str) -> Option<&'c str> {
        channel.strip_prefix(&self.prefix)?.strip_prefix(":room:")
    }
}

/// Opens a pub/sub connection subscribed to the node's channels and `rooms`.
pub(super) async fn subscribe(
    client: &redis::Client,
    channels: &Channels,
    rooms: &[String],
) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&channels.direct).await?;
    pubsub.subscribe(&channels.all).await?;
    for room in rooms {
        pubsub
            .subscribe(Channels::room_of(&channels.prefix, room))
            .await?;
    }
    Ok(pubsub)
}

/// The task that reads the node's subscriptions and delivers to local players; it
/// reconnects (and subscribes again to the rooms with local members) when Redis goes.
pub(super) struct Subscriber {
    pub(super) client: redis::Client,
    pub(super) channels: Channels,
    pub(super) local: Arc<Mutex<Local>>,
    pub(super) players: Arc<dyn LocalPlayers>,
    pub(super) framing: FramingConfig,
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) id: String,
    pub(super) subscribed: watch::Sender<bool>,
    pub(super) inbox: mpsc::Sender<NodeMessage>,
    /// Where acknowledgements go out, and where those of this node's streams go in.
    pub(super) publisher: mpsc::Sender<Op>,
    /// The receiving side of the messages between game loops.
    pub(super) incoming: Incoming,
    /// Messages other nodes gave up sending here.
    pub(super) lost: Arc<AtomicU64>,
}

impl Subscriber {
    pub(super) async fn run(
        mut self,
        pubsub: redis::aio::PubSub,
        mut requests: mpsc::UnboundedReceiver<Subscription>,
    ) {
        let mut pubsub = Some(pubsub);
        let mut pause = Duration::from_millis(50);
        let mut acks = tokio::time::interval(ACK_EVERY);
        acks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            let connection = match pubsub.take() {
                Some(pubsub) => pubsub,
                None => {
                    let rooms: Vec<String> = lock(&self.local).rooms.keys().cloned().collect();
                    match subscribe(&self.client, &self.channels, &rooms).await {
                        Ok(pubsub) => {
                            debug!(node = %self.id, "cluster subscriptions restored");
                            pause = Duration::from_millis(50);
                            pubsub
                        }
                        Err(err) => {
                            debug!(node = %self.id, %err, "cluster subscriptions: Redis unreachable");
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(2));
                            continue;
                        }
                    }
                }
            };
            self.subscribed.send_replace(true);
            if !std::mem::take(&mut first) {
                // What was published meanwhile did not arrive: ask for it.
                self.incoming.resubscribed();
            }
            let (mut sink, mut stream) = connection.split();
            loop {
                tokio::select! {
                    request = requests.recv() => {
                        let result = match request {
                            Some(Subscription::Join(room, done)) => {
                                let result = sink
                                    .subscribe(Channels::room_of(&self.channels.prefix, &room))
                                    .await;
                                let _ = done.send(());
                                result
                            }
                            Some(Subscription::Leave(room)) => {
                                sink.unsubscribe(Channels::room_of(&self.channels.prefix, &room)).await
                            }
                            None => return,
                        };
                        if let Err(err) = result {
                            warn!(node = %self.id, %err, "cluster subscription change failed");
                            self.subscribed.send_replace(false);
                            break;
                        }
                    }
                    _ = acks.tick() => self.acknowledge(),
                    msg = stream.next() => match msg {
                        Some(msg) => self.deliver(msg.get_channel_name(), msg.get_payload_bytes()),
                        None => {
                            warn!(node = %self.id, "cluster subscriptions lost: reconnecting");
                            self.subscribed.send_replace(false);
                            break;
                        }
                    },
                }
            }
        }
    }

    fn dropped(&self, channel: &str, why: &dyn std::fmt::Debug) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        debug!(node = %self.id, channel, ?why, "a cluster message dropped");
    }

    /// Sends the acknowledgements due, through the publisher (one dropped when it is
    /// full goes with the next).
    fn acknowledge(&mut self) {
        for ack in self.incoming.acks(std::time::Instant::now()) {
            let _ = self.publisher.try_send(Op::Publish {
                channel: Channels::direct_of(&self.channels.prefix, &ack.to),
                data: envelope::ack(&self.id, ack.epoch, ack.upto, ack.resend),
                done: None,
            });
        }
        self.lost.store(self.incoming.lost(), Ordering::Relaxed);
    }

    /// Message `seq` of `from`'s stream: handed to the game loop if it is the next one
    /// and there is room (otherwise it is sent again).
    fn node_message(&mut self, channel: &str, to: To, message: RawMessage) {
        let To::Node {
            from,
            epoch,
            base,
            seq,
        } = to
        else {
            return;
        };
        let Ok(room) = self.inbox.try_reserve() else {
            // Not lost: asked for again, and sent again.
            self.incoming.refused(&from);
            debug!(node = %self.id, channel, "the node's inbox is full: a message from {from} waits to be sent again");
            return;
        };
        let now = std::time::Instant::now();
        if self.incoming.arrived(&from, epoch, base, seq, now) == Arrival::Deliver {
            room.send(NodeMessage { from, message });
        }
    }

    /// Hands one message from Redis to the local players it is for.
    fn deliver(&mut self, channel: &str, data: &[u8]) {
        if channel == self.channels.direct {
            let (to, message) = match envelope::read_direct(data, &self.framing) {
                Ok(Direct::Message(to, message)) => (to, message),
                Ok(Direct::Ack {
                    from,
                    epoch,
                    upto,
                    resend,
                }) => {
                    let _ = self.publisher.try_send(Op::Acked {
                        from,
                        epoch,
                        upto,
                        resend,
                    });
                    return;
                }
                Err(bad) => return self.dropped(channel, &bad),
            };
            let id = match to {
                To::Connection(id) => Some(id),
                To::Name(name) => lock(&self.local).names.get(&name).copied(),
                To::Node { .. } => return self.node_message(channel, to, message),
            };
            let Ok(frame) = Frame::from_message(&message) else {
                return self.dropped(channel, &"not encodable");
            };
            if !id.is_some_and(|id| self.players.send_frame(id, &frame)) {
                self.dropped(channel, &"no such local player");
            }
            return;
        }
        let (origin, message) = match envelope::read_from_node(data, &self.framing) {
            Ok(read) => read,
            Err(bad) => return self.dropped(channel, &bad),
        };
        if origin == self.id.as_bytes() {
            // This node delivered to its own players when it sent.
            return;
        }
        let Ok(frame) = Frame::from_message(&message) else {
            return self.dropped(channel, &"not encodable");
        };
        if channel == self.channels.all {
            self.players.send_frame_to_all(&frame);
        } else if let Some(room) = self.channels.room_name(channel) {
            to_room_members(&self.local, &*self.players, room, &frame);
        }
    }
}
