// The peer side of the line protocol in tests/peers/mod.rs: one JSON object per line on
// stdout for the test, one JSON answer per line on stdin. Logs go to stderr.
import readline from 'node:readline';

const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Send a request to the test and wait for its answer. */
export async function ask(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
  const { value, done } = await input.next();
  if (done) throw new Error(`the test closed stdin instead of answering ${JSON.stringify(message)}`);
  return JSON.parse(value);
}

/** Report the final result and end. */
export function finish(result) {
  process.stdout.write(JSON.stringify({ result }) + '\n');
  process.exit(0);
}

export function log(...args) {
  console.error(...args);
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}
