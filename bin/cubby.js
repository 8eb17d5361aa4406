#!/usr/bin/env node
// Node 20 cannot run TypeScript: register tsx's loader, then run the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
await import('./cubby.ts');
