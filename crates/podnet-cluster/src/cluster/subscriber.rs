//! What a node receives: its pub/sub channels, and the task that reads them and delivers
//! to local players, subscribing again when Redis comes back.

use super::*;

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
}

impl Subscriber {
    pub(super) async fn run(
        self,
        pubsub: redis::aio::PubSub,
        mut requests: mpsc::UnboundedReceiver<Subscription>,
    ) {
        let mut pubsub = Some(pubsub);
        let mut pause = Duration::from_millis(50);
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

    /// Hands one message from Redis to the local players it is for.
    fn deliver(&self, channel: &str, data: &[u8]) {
        if channel == self.channels.direct {
            let (to, message) = match envelope::read_direct(data, &self.framing) {
                Ok(read) => read,
                Err(bad) => return self.dropped(channel, &bad),
            };
            let id = match to {
                To::Connection(id) => Some(id),
                To::Name(name) => lock(&self.local).names.get(&name).copied(),
                To::Node { from } => {
                    if self.inbox.try_send(NodeMessage { from, message }).is_err() {
                        self.dropped(channel, &"the node's inbox is full");
                    }
                    return;
                }
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
