/**
 * V8 flags of both sync-bench processes (the bench's and the hub's), set before Automerge's
 * WebAssembly module is compiled — so this module is imported first.
 *
 * `--no-wasm-dynamic-tiering`: compile all of Automerge's wasm with the optimizing tier up
 * front (in the background, at start-up) instead of starting every function in the baseline
 * tier and optimizing it once it has run enough. A hub or cloud that has been syncing for days
 * has every function it uses optimized; the bench's processes have only run the scenario's
 * first sync, so without this some of the functions the resync needs (saveSince, apply, sync
 * messages) would still be baseline code during the timed run — the resync's and the
 * baseline's alike. Measured: ~50 ms less CPU per side of the resync.
 */
import '../../shared/v8-flags.js'; // the flags of every Cubby process
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-wasm-dynamic-tiering');
