//! Two clocks for the benchmarks. This machine is shared: wall time counts the time other
//! processes hold the core, while the thread's CPU time counts only this thread's work.

use std::time::{Duration, Instant};

/// Which clock times a benchmark.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// Elapsed time.
    Wall,
    /// CPU time of the calling thread (Linux `/proc/thread-self/schedstat`, nanoseconds;
    /// the kernel updates it at least every scheduler tick).
    ThreadCpu,
}

impl Clock {
    pub const BOTH: [Clock; 2] = [Clock::Wall, Clock::ThreadCpu];

    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::ThreadCpu => "cpu",
        }
    }

    /// How long `work` takes on this clock.
    pub fn time<T>(self, work: impl FnOnce() -> T) -> (Duration, T) {
        match self {
            Clock::Wall => {
                let start = Instant::now();
                let output = work();
                (start.elapsed(), output)
            }
            Clock::ThreadCpu => {
                let start = thread_cpu_time();
                let output = work();
                (thread_cpu_time().saturating_sub(start), output)
            }
        }
    }
}

fn thread_cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("the CPU-time clock needs Linux /proc/thread-self/schedstat");
    let nanos = text.split_whitespace().next().and_then(|field| field.parse().ok());
    Duration::from_nanos(nanos.expect("schedstat starts with the run time in nanoseconds"))
}
