;; The seed's compute worker: compute(a, b) = a * b, so compute(6, 7) returns 42.
(module
  (func (export "compute") (param $a i32) (param $b i32) (result i32)
    (i32.mul (local.get $a) (local.get $b))))
