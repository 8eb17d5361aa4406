/**
 * The technician tool's terminal: results on stdout, prompts and progress on stderr,
 * answers from stdin. On a terminal the secret is typed without echo; from a pipe
 * (`printf '%s\n' "$SECRET" | cubby tech login …`) answers are read one line each.
 */
import { createInterface, type Interface } from 'node:readline';

/** What the commands need from the terminal; tests of the commands pass their own. */
export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** Ask a question (prompt on stderr); resolves with the answer line. */
  ask(question: string): Promise<string>;
  /** Ask for a secret: no echo on a terminal. */
  askSecret(question: string): Promise<string>;
  /** True when a person can answer (stdin is a terminal). */
  readonly interactive: boolean;
  /** Progress lines may be redrawn in place (stderr is a terminal). */
  readonly liveProgress: boolean;
  /** Release stdin (the process may exit). */
  close(): void;
}

/** The answer could not be read: stdin ended, or the person pressed Ctrl-C. */
export class NoAnswer extends Error {}

/** The process's own terminal. */
export function processIo(stdin: NodeJS.ReadStream = process.stdin, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Io {
  let lines: AsyncIterator<string> | undefined;
  let rl: Interface | undefined;
  const nextLine = async (question: string): Promise<string> => {
    // From a pipe nobody waits at the prompt: end it, so the log stays one line per message.
    stderr.write(stdin.isTTY ? question : `${question.trimEnd()}\n`);
    if (stdin.isTTY) {
      // A person types as asked: one short-lived reader per question, so none is left
      // listening (and buffering) while a secret is typed in raw mode.
      const once = createInterface({ input: stdin, terminal: false });
      try {
        const r = await once[Symbol.asyncIterator]().next();
        if (r.done) throw new NoAnswer(`No answer to "${question.trim()}".`);
        return r.value;
      } finally {
        once.close();
        stdin.pause();
      }
    }
    // From a pipe: one reader for the whole run; a second one would miss the lines the first buffered.
    if (!rl) {
      rl = createInterface({ input: stdin, terminal: false, crlfDelay: Infinity });
      lines = rl[Symbol.asyncIterator]();
    }
    const r = await lines!.next();
    if (r.done) throw new NoAnswer(`No answer to "${question.trim()}": stdin ended.`);
    return r.value;
  };
  return {
    out: (s) => void stdout.write(s + '\n'),
    err: (s) => void stderr.write(s),
    ask: nextLine,
    askSecret: (question) => (stdin.isTTY ? readHidden(question, stdin, stderr) : nextLine(question)),
    interactive: Boolean(stdin.isTTY),
    liveProgress: Boolean(stderr.isTTY),
    close() {
      rl?.close();
      if (stdin.isTTY) stdin.pause();
    },
  };
}

/**
 * Read one line from a terminal in raw mode, echoing nothing (not even asterisks: the
 * length of a secret is a secret too). Backspace edits, Enter ends, Ctrl-C or Ctrl-D on an
 * empty line gives up.
 */
export function readHidden(question: string, input: NodeJS.ReadStream, output: NodeJS.WritableStream): Promise<string> {
  // Echo off BEFORE the question appears: a fast typist (or a test answering the prompt)
  // would otherwise have the first characters echoed by the terminal.
  input.setRawMode(true);
  output.write(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (fn: () => void): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      fn();
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(() => resolve(typed));
        if (ch === '\u0003' || (ch === '\u0004' && typed === '')) return finish(() => reject(new NoAnswer('Cancelled.')));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
