//! The interactive calls that read a whole wave (results and the disclosure decision they
//! need) run on a few long-lived threads of their own, one per core, in turn.
//!
//! Why not the async runtime's blocking pool, where short queries run: a burst of answers
//! grows that pool to dozens of threads, and a results call then lands on whichever idle
//! thread wakes. The allocator keeps the pages a call freed in the heap of the thread that
//! used them, so each of those threads came to hold a national results call's worth: 100,000
//! answers, 77 threads, 20 commune-level calls took the server from 312 to 691 MiB (342 MiB on
//! a server with 14 threads) and were 7% slower for faulting fresh pages. On a fixed few
//! threads the pages are reused, and at most one such call per core holds memory at a time,
//! however many officials ask at once. Exports that take tens of seconds at national scale
//! (workbooks, the recount, crosstabs) stay on the blocking pool, so that no results call
//! queues behind one.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

fn queue() -> &'static Arc<Queue> {
    static QUEUE: OnceLock<Arc<Queue>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let queue = Arc::new(Queue { jobs: Mutex::new(VecDeque::new()), ready: Condvar::new() });
        for n in 0..crate::cores() {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("phieu-heavy-{n}"))
                .spawn(move || serve(&queue))
                .expect("starting a thread for whole-wave work");
        }
        queue
    })
}

fn serve(queue: &Queue) {
    loop {
        let job = {
            let mut jobs = queue.jobs.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match jobs.pop_front() {
                    Some(job) => break job,
                    None => jobs = queue.ready.wait(jobs).unwrap_or_else(|e| e.into_inner()),
                }
            }
        };
        // A job that panics drops its reply, which its caller sees; the thread serves on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Runs `work` on the whole-wave threads once one is free; `None` if it panicked.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let queue = queue();
    let job: Job = Box::new(move || {
        let _ = reply.send(work());
    });
    queue.jobs.lock().unwrap_or_else(|e| e.into_inner()).push_back(job);
    queue.ready.notify_one();
    answer.await.ok()
}

#[cfg(test)]
mod tests {
    use super::run;

    #[tokio::test]
    async fn whole_wave_work_returns_its_value_and_survives_a_panicking_job() {
        assert_eq!(run(|| 6 * 7).await, Some(42));
        assert_eq!(run(|| -> u8 { panic!("a failing job") }).await, None);
        let many: Vec<_> = (0..4 * crate::cores()).map(|n| run(move || n * 2)).collect();
        let doubled: Vec<usize> = futures_util::future::join_all(many).await.into_iter().flatten().collect();
        assert_eq!(doubled, (0..4 * crate::cores()).map(|n| n * 2).collect::<Vec<_>>());
    }
}
