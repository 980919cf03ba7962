use super::*;
use futures_lite::future::yield_now;

#[test]
fn yielding_tasks_interleave_round_robin() {
    let ex = Executor::new(ClockKind::Virtual).unwrap();
    ex.record_trace(Default::default());
    let tasks: Vec<_> = (1..=3)
        .map(|label| {
            ex.spawn(label, async {
                for _ in 0..3 {
                    yield_now().await;
                }
            })
        })
        .collect();
    ex.block_on(async {
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(ex.trace(), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
}

#[test]
fn ten_sleepers_finish_together_in_virtual_time() {
    let ex = Executor::new(ClockKind::Virtual).unwrap();
    let start = ex.now();
    let tasks: Vec<_> = (0..10)
        .map(|i| ex.spawn(i, async { sleep(Duration::from_millis(100)).await }))
        .collect();
    ex.block_on(async {
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(ex.now() - start, Duration::from_millis(100));
}

#[test]
fn a_panicking_task_fails_alone() {
    let ex = Executor::new(ClockKind::Virtual).unwrap();
    let bad = ex.spawn(1, async { panic!("host call failed") });
    let good = ex.spawn(2, async {
        sleep(Duration::from_millis(5)).await;
        7
    });
    let (bad, good) = ex.block_on(async {
        let bad = std::panic::AssertUnwindSafe(bad);
        let bad = futures_lite::FutureExt::catch_unwind(bad).await;
        (bad, good.await)
    });
    assert!(bad.is_err());
    assert_eq!(good, 7);
}

#[test]
fn a_wake_from_another_thread_unparks_the_loop() {
    let ex = Executor::new(ClockKind::Real).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let flag = Rc::new(Cell::new(false));
    let seen = flag.clone();
    let task = ex.spawn(
        1,
        std::future::poll_fn(move |cx| {
            if seen.get() {
                return std::task::Poll::Ready(());
            }
            seen.set(true);
            tx.send(cx.waker().clone()).unwrap();
            std::task::Poll::Pending
        }),
    );
    let waker_thread = std::thread::spawn(move || rx.recv().unwrap().wake());
    ex.block_on(task);
    waker_thread.join().unwrap();
    assert!(flag.get());
}

#[test]
fn stepped_time_charges_each_run_so_a_sleeper_is_late_by_at_most_a_spinners_step() {
    let step = Duration::from_millis(1);
    let ex = Executor::new(ClockKind::Stepped(step)).unwrap();
    let stop = Rc::new(Cell::new(false));
    // Two spinners: without the round being cut short when the timer comes due, the
    // second spinner's Step would run before the sleeper.
    let spinners: Vec<_> = (0..2)
        .map(|i| {
            let spin_stop = stop.clone();
            ex.spawn(10 + i, async move {
                while !spin_stop.get() {
                    futures_lite::future::yield_now().await;
                }
            })
        })
        .collect();
    let sleeper = ex.spawn(2, async move {
        let start = super::now();
        sleep(Duration::from_millis(10)).await;
        stop.set(true);
        super::now() - start
    });
    let slept = ex.block_on(async {
        let slept = sleeper.await;
        for s in spinners {
            s.await;
        }
        slept
    });
    // Due during a spinner run; the sleeper jumps the queue, so only its own run is
    // charged after that.
    let late = slept - Duration::from_millis(10);
    assert!(late <= step, "{late:?}");
}

#[test]
fn a_hundred_thousand_cancelled_one_hour_sleeps_leave_no_timer_behind() {
    let ex = Executor::new(ClockKind::Virtual).unwrap();
    let task = ex.spawn(1, async {
        for _ in 0..100_000 {
            // Polled once (registers its timer), then dropped: a timed receive that got
            // its message, a process that ended before its deadline.
            let mut nap = std::pin::pin!(sleep(Duration::from_secs(3600)));
            let polled = futures_lite::future::poll_once(nap.as_mut()).await;
            assert!(polled.is_none());
        }
    });
    ex.block_on(task);
    assert_eq!(ex.pending_timers(), 0);
}

#[test]
fn durations_too_long_for_the_clock_saturate_instead_of_panicking() {
    let ex = Executor::new(ClockKind::Virtual).unwrap();
    let task = ex.spawn(1, async {
        let nap = sleep(Duration::MAX);
        assert!(nap.deadline() > now());
        futures_lite::future::poll_once(nap).await
    });
    assert_eq!(ex.block_on(task), None);
}

#[test]
fn a_sleep_polled_off_any_executor_uses_the_real_clock() {
    let start = Instant::now();
    futures_lite::future::block_on(sleep(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn sleeps_polled_off_any_executor_share_one_timer_thread_and_leave_when_dropped() {
    // Only this test sleeps for decades off an executor.
    let decades = Instant::now() + Duration::from_secs(50 * 365 * 24 * 3600);
    for _ in 0..1_000 {
        // Polled once (registered), then dropped: a timed receive on an embedder's runtime
        // that got its message first.
        let mut nap = std::pin::pin!(sleep(Duration::MAX));
        assert!(
            futures_lite::future::block_on(futures_lite::future::poll_once(nap.as_mut())).is_none()
        );
    }
    assert_eq!(super::remote_timer::pending_after(decades), 0);
    // And a short one still wakes on time.
    let start = Instant::now();
    futures_lite::future::block_on(sleep(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}
