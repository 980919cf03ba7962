;; A module the default pool cannot hold but `wasmtime run` runs: two memories, and a
;; table of 47,157 elements (a CPython build has one that size; the pool's slots take
;; 20,000). Each export proves the part it names is really there.
(module
  (memory $a 1)
  (memory $b 1)
  (table $big 47157 funcref)
  (func $seven (result i32) (i32.const 7))
  (elem (table $big) (i32.const 47156) func $seven)

  ;; Writes through the second memory and reads it back: 7.
  (func (export "two_memories") (result i32)
    (i32.store $b (i32.const 0) (i32.const 7))
    (i32.add (i32.load $b (i32.const 0)) (i32.load $a (i32.const 0))))

  ;; Calls through the table's last element: 7, and the table's size.
  (func (export "big_table") (result i32 i32)
    (call_indirect $big (result i32) (i32.const 47156))
    (table.size $big))

  (func (export "_start")))
