//! One writer for the webhooks' runs: concurrent webhook handlers hand their run to it, and
//! it saves whatever has gathered in one transaction ([`Store::enqueue_all`]), so that a
//! burst of deliveries costs one commit rather than one each, and SQLite writers do not
//! queue on its lock.

use runnel_engine::store::{Enqueue, Enqueued, Store};
use tokio::sync::{mpsc, oneshot};

/// The most runs saved in one transaction.
const BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Enqueued, String>>;

/// Hands runs to the writer. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<(Enqueue, Reply)>,
}

impl Ingest {
    /// Starts the writer; it ends when every `Ingest` is dropped.
    pub fn start(store: Store) -> Ingest {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(write(store, rx));
        Ingest { tx }
    }

    /// Queues the run (see [`Store::enqueue`]); the error is the store's, as text.
    pub async fn enqueue(&self, item: Enqueue) -> Result<Enqueued, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| "the server is stopping".to_owned())?;
        answer
            .await
            .map_err(|_| "the server is stopping".to_owned())?
    }
}

async fn write(store: Store, mut rx: mpsc::Receiver<(Enqueue, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<Enqueue>, Vec<Reply>) = batch.into_iter().unzip();
        match store.enqueue_all(&items).await {
            Ok(done) => {
                for (reply, d) in replies.into_iter().zip(done) {
                    let _ = reply.send(Ok(d));
                }
            }
            // One bad item must not fail the others: each on its own.
            Err(_) if items.len() > 1 => {
                for (item, reply) in items.iter().zip(replies) {
                    let one = store
                        .enqueue_all(std::slice::from_ref(item))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|mut d| d.pop().ok_or_else(|| "nothing saved".to_owned()));
                    let _ = reply.send(one);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
