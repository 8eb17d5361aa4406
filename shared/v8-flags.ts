/**
 * V8 flags every Cubby process sets before anything else: import this module first (before
 * Automerge, whose WebAssembly is compiled when it is imported), as `cloud/main.ts`,
 * `edge/main.ts`, `bin/start.ts`, the benches and the test workers do.
 *
 * `--no-turbo-inline-js-wasm-calls`: Node 20's V8 (11.3) inlines calls from optimized
 * JavaScript into WebAssembly, and can then crash the whole process ("Fatal error ...
 * unreachable code" in `Deoptimizer::DoComputeBuiltinContinuation`) when such code is
 * deoptimized while it is on the stack. Seen here in about one run in ten of the sync benchmark,
 * always in a loop calling Automerge (`A.save`, `A.getHeads`) when an unrelated change of an
 * object's shape invalidated the optimized code; with inlining off, none in 40 runs. The calls
 * stay optimized, only the JS-to-Wasm wrapper is not inlined: the resync benchmark shows no
 * difference beyond its noise.
 *
 * V8 documents changing flags after start-up as unsupported in general; this one only decides
 * how functions optimized from now on are compiled, and nothing is optimized this early.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-turbo-inline-js-wasm-calls');
