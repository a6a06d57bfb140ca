import { ConfigError } from './env.js';
import { PolicyError } from '../domain/policy.js';

/**
 * Entry-point wrapper: configuration and policy problems print as a clear
 * message and exit 2, other failures exit 1 with their stack.
 */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof ConfigError || err instanceof PolicyError) {
        console.error(err.message);
        process.exit(2);
      }
      console.error(err);
      process.exit(1);
    },
  );
}
