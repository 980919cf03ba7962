;; A module built for another host: it imports a function no wippy host provides.
;; With `allow_unknown_imports: true` it loads; calling the import traps.
(module
  (import "env" "host_only" (func $host_only (result i32)))
  (func (export "fine") (result i32) (i32.const 7))
  (func (export "uses_host") (result i32) (call $host_only)))
