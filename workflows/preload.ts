/**
 * Evaluated once in the worker's V8 context and shared by every run it holds (worker/bundle.ts preloads it),
 * where the bundle's other modules are evaluated again for each run. Ed25519's verification multiplies the base
 * point by a table of its multiples, built on first use: about 40 ms of the single workflow thread. Built per
 * run, every run paid it on its first decision, and ten decisions at once queued behind 0.4 s of table building.
 * Built here, once, before any run exists. The curve's modules hold nothing but that cache of a pure function,
 * so sharing them leaks no run's state into another's; zod cannot be shared this way (the SDK freezes shared
 * modules, and zod writes to its regexes).
 */
import { ed25519 } from '@noble/curves/ed25519.js';

ed25519.Point.BASE.multiplyUnsafe(BigInt(2));
