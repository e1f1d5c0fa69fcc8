//! A hostile relay in process: it speaks just enough NIP-01 for the node's relay pool and
//! serves whatever event texts an attack hands it — forged, oversized, malformed, or only
//! old ones (withholding the new) — verbatim, to every subscription, without checking
//! anything. `REQ` gets every served event then `EOSE`, and later ones live; `NEG-OPEN`
//! gets `NEG-ERR` (the pool falls back to `since` cursors); `EVENT` gets `OK true` and is
//! kept nowhere.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A running hostile relay on 127.0.0.1 (an OS-chosen port). Stops when dropped.
pub struct HostileRelay {
    url: String,
    events: Arc<Mutex<Vec<String>>>,
    live: broadcast::Sender<String>,
    task: JoinHandle<()>,
}

impl HostileRelay {
    /// Listen on 127.0.0.1:0.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("ws://{}", listener.local_addr()?);
        let events: Arc<Mutex<Vec<String>>> = Arc::default();
        let (live, _) = broadcast::channel(256);
        let task = tokio::spawn(accept(listener, events.clone(), live.clone()));
        Ok(Self {
            url,
            events,
            live,
            task,
        })
    }

    /// Its `ws://` URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serve `event` (the JSON text of a Nostr event, not checked) to every subscription:
    /// the open ones now, later ones in their catch-up.
    pub fn serve(&self, event: String) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
        let _ = self.live.send(event);
    }

    /// Serve nothing from now on (open subscriptions keep what they got).
    pub fn clear(&self) {
        if let Ok(mut events) = self.events.lock() {
            events.clear();
        }
    }
}

impl Drop for HostileRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    events: Arc<Mutex<Vec<String>>>,
    live: broadcast::Sender<String>,
) {
    let mut sessions = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        sessions.spawn(session(tcp, events.clone(), live.subscribe()));
    }
}

/// One connection, until the node closes it (or the relay stops).
async fn session(
    tcp: TcpStream,
    events: Arc<Mutex<Vec<String>>>,
    mut live: broadcast::Receiver<String>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let mut subs: Vec<String> = Vec::new();
    loop {
        let frames = tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => answer(text.as_str(), &mut subs, &events),
                Some(Ok(Message::Ping(p))) => vec![Message::Pong(p)],
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => Vec::new(),
            },
            ev = live.recv() => match ev {
                Ok(ev) => subs.iter().map(|s| event_frame(s, &ev)).collect(),
                Err(broadcast::error::RecvError::Lagged(_)) => Vec::new(),
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        for frame in frames {
            if ws.send(frame).await.is_err() {
                return;
            }
        }
    }
}

/// The relay's answer to one client message.
fn answer(text: &str, subs: &mut Vec<String>, events: &Mutex<Vec<String>>) -> Vec<Message> {
    let Ok(serde_json::Value::Array(msg)) = serde_json::from_str::<serde_json::Value>(text) else {
        return vec![Message::text(r#"["NOTICE","not a NIP-01 message"]"#)];
    };
    let verb = msg.first().and_then(|v| v.as_str()).unwrap_or("");
    let sub = msg.get(1).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    match verb {
        "REQ" => {
            let stored = events.lock().map(|e| e.clone()).unwrap_or_default();
            let mut out: Vec<Message> = stored.iter().map(|e| event_frame(&sub, e)).collect();
            out.push(Message::text(
                serde_json::json!(["EOSE", sub.clone()]).to_string(),
            ));
            if !subs.contains(&sub) {
                subs.push(sub);
            }
            out
        }
        "CLOSE" => {
            subs.retain(|s| *s != sub);
            vec![Message::text(
                serde_json::json!(["CLOSED", sub, ""]).to_string(),
            )]
        }
        "NEG-OPEN" => vec![Message::text(
            serde_json::json!(["NEG-ERR", sub, "blocked: no negentropy here"]).to_string(),
        )],
        "EVENT" => {
            let id = msg
                .get(1)
                .and_then(|e| e.get("id"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            vec![Message::text(
                serde_json::json!(["OK", id, true, ""]).to_string(),
            )]
        }
        _ => Vec::new(),
    }
}

/// `["EVENT", <sub>, <event>]` with the event text verbatim (it may be anything).
fn event_frame(sub: &str, event: &str) -> Message {
    Message::text(format!(
        "[\"EVENT\",{},{event}]",
        serde_json::Value::String(sub.to_owned())
    ))
}
