// Every test worker runs with the V8 flags of every Cubby process (shared/v8-flags.ts).
import '../../shared/v8-flags.js';
