;; Guest misbehaviour for the runtime's tests: each export fails in its own way.
(module
  (memory 1)
  (func (export "spin") (loop $l (br $l)))
  (func (export "unreachable") unreachable)
  (func (export "div") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func $recurse (export "recurse") (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  ;; Grows memory page by page until growth fails; returns the page count reached.
  (func (export "bomb") (result i32)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (memory.size))
  ;; Burns `n` iterations of a small loop, then returns n.
  (func (export "burn") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $n)))
