//! Coalesced look-ups of people by the blind index of their e-mail address.
//!
//! Every sign-up asks whether its e-mail address belongs to someone already known. Under load,
//! hundreds of such questions arrive at once, and answering each with its own read costs a pool
//! hand-off and a statement per sign-up. One task per node takes every question waiting (up to
//! [`MAX_LOOKUPS`]) and answers them all with one read ([`Backend::subjects_by_email_indexes`]),
//! the way the writer group-commits changes. A question that arrives alone is read at once, so
//! nothing waits for company. [`Store`](crate::Store) runs this task only for a backend that asks
//! for it ([`Backend::COALESCE_EMAIL_LOOKUPS`]).

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::{Backend, StoreError, SubjectId};

/// The most questions one read answers.
pub const MAX_LOOKUPS: usize = 512;
const QUEUE: usize = 8192;

struct Question {
    email_index: Vec<u8>,
    answer: oneshot::Sender<Result<Option<SubjectId>, StoreError>>,
}

/// The sending side of the look-up task. Cheap to clone; all clones share the task.
#[derive(Clone)]
pub(crate) struct EmailLookups {
    questions: mpsc::Sender<Question>,
}

impl EmailLookups {
    /// Starts the task that answers look-ups on `backend`.
    pub(crate) fn start<B: Backend>(backend: B) -> EmailLookups {
        let (questions, queue) = mpsc::channel(QUEUE);
        tokio::spawn(answer_questions(backend, queue));
        EmailLookups { questions }
    }

    /// The subject whose e-mail address has the blind index `email_index`, if any.
    pub(crate) async fn subject(&self, email_index: &[u8]) -> Result<Option<SubjectId>, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.questions
            .send(Question { email_index: email_index.to_vec(), answer })
            .await
            .map_err(|_| StoreError::Unavailable("the e-mail look-up task has stopped".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Unavailable("the e-mail look-up task stopped before answering".into()))?
    }
}

async fn answer_questions<B: Backend>(backend: B, mut queue: mpsc::Receiver<Question>) {
    let mut waiting = Vec::with_capacity(MAX_LOOKUPS);
    while queue.recv_many(&mut waiting, MAX_LOOKUPS).await > 0 {
        let mut indexes: Vec<Vec<u8>> = waiting.iter().map(|q| q.email_index.clone()).collect();
        indexes.sort_unstable();
        indexes.dedup();
        match backend.subjects_by_email_indexes(&indexes).await {
            Ok(found) => {
                let found: HashMap<Vec<u8>, SubjectId> = found.into_iter().collect();
                for question in waiting.drain(..) {
                    // A caller that gave up waiting no longer needs its answer.
                    let _ = question.answer.send(Ok(found.get(&question.email_index).copied()));
                }
            }
            Err(e) => {
                for question in waiting.drain(..) {
                    let _ = question.answer.send(Err(e.clone()));
                }
            }
        }
    }
}
