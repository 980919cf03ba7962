;; A hostile preview-1 guest: each export attacks a host function with bad pointers,
;; huge counts or lengths, overlapping buffers, or exhausts a resource. The tests run each
;; beside a well-behaved neighbour on a one-worker host: every attack must end (or be
;; refused) inside its own process, with an errno or a clear error, never take the host.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (data (i32.const 60000) "f")

  ;; A relative clock subscription at `at`, due after `ns` nanoseconds.
  (func $clock_sub (param $at i32) (param $ns i64)
    (i64.store (local.get $at) (i64.const 7))                         ;; userdata
    (i32.store8 (i32.add (local.get $at) (i32.const 8)) (i32.const 0)) ;; eventtype clock
    (i32.store (i32.add (local.get $at) (i32.const 16)) (i32.const 1)) ;; monotonic
    (i64.store (i32.add (local.get $at) (i32.const 24)) (local.get $ns))
    (i64.store (i32.add (local.get $at) (i32.const 32)) (i64.const 0))
    (i32.store16 (i32.add (local.get $at) (i32.const 40)) (i32.const 0)))

  ;; poll_oneoff(0, 0, 0x7fffffff, 0): 0x7fffffff subscriptions of 48 bytes each.
  (func (export "poll_bomb") (result i32)
    (call $poll (i32.const 0) (i32.const 0) (i32.const 0x7fffffff) (i32.const 0)))
  ;; Subscriptions that run past the end of memory.
  (func (export "poll_subs_oob") (result i32)
    (call $poll (i32.const 65530) (i32.const 0) (i32.const 1) (i32.const 0)))
  ;; A start address whose end wraps around 32 bits.
  (func (export "poll_wrap") (result i32)
    (call $poll (i32.const 0xffffff00) (i32.const 0) (i32.const 0x10000) (i32.const 0)))
  ;; A valid subscription, events written past the end of memory.
  (func (export "poll_out_oob") (result i32)
    (call $clock_sub (i32.const 0) (i64.const 0))
    (call $poll (i32.const 0) (i32.const 65520) (i32.const 1) (i32.const 100)))
  ;; A valid subscription, the event count written past the end of memory.
  (func (export "poll_nevents_oob") (result i32)
    (call $clock_sub (i32.const 0) (i64.const 0))
    (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 65534)))
  ;; Subscriptions and events in the same bytes: legal, the host must read before it
  ;; writes. Returns the number of events (1) or -errno.
  (func (export "poll_overlap") (result i32) (local $e i32)
    (call $clock_sub (i32.const 0) (i64.const 0))
    (local.set $e (call $poll (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 200)))
    (if (result i32) (local.get $e)
      (then (i32.sub (i32.const 0) (local.get $e)))
      (else (i32.load (i32.const 200)))))
  ;; fd_write with 0x7fffffff iovecs.
  (func (export "write_bomb") (result i32)
    (call $write (i32.const 1) (i32.const 0) (i32.const 0x7fffffff) (i32.const 0)))
  ;; One iovec of 4 GiB - 1 bytes.
  (func (export "write_huge_iov") (result i32)
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0xffffffff))
    (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 0)))
  ;; 4 GiB - 1 random bytes into a 64 KiB memory.
  (func (export "random_bomb") (result i32)
    (call $random (i32.const 0) (i32.const 0xffffffff)))
  ;; The time written past the end of memory.
  (func (export "clock_oob") (result i32)
    (call $clock (i32.const 1) (i64.const 0) (i32.const 0xfffffffc)))
  ;; A path of 2 GiB.
  (func (export "path_bomb") (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0x7fffffff)
      (i32.const 0) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 100)))
  ;; Asks for 64 MiB more memory and treats a refusal as fatal, as many guests do.
  (func (export "grow_or_die") (result i32)
    (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))
    (memory.size))
  ;; Grows the table until growth fails; returns the size reached.
  (func (export "table_bomb") (result i32)
    (loop $l (br_if $l (i32.ne (table.grow $t (ref.null func) (i32.const 10000)) (i32.const -1))))
    (table.size $t))
  ;; Writes 32 KiB to stdout forever.
  (func (export "flood")
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 32768))
    (loop $l
      (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 0)))
      (br $l)))
  ;; Opens the file "f" of the first preopen (fd 3) `n` times and keeps every handle,
  ;; then parks for an hour. Returns the errno of the first refused open, if any.
  (func (export "open_many") (param $n i32) (result i32) (local $i i32) (local $e i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 60000) (i32.const 1)
          (i32.const 0) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 100)))
        (if (local.get $e) (then (return (local.get $e))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (call $clock_sub (i32.const 0) (i64.const 3600000000000))
    (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))
    (i32.const 0))
  ;; Opens "f" once: a neighbour that needs a descriptor. Returns 0 or the errno.
  (func (export "open_one") (result i32)
    (call $open (i32.const 3) (i32.const 0) (i32.const 60000) (i32.const 1)
      (i32.const 0) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 100)))
)
