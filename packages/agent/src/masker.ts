// Output masking for brokered exec (docs/SECURITY.md, "Brokered exec"): every injected value,
// and its common encodings, is replaced with <masked:KEY> in the child's stdout and stderr.
// Streaming: a value split across reads is still masked, and only a tail that could still
// become a match is held back (a prompt without a newline appears at once unless it ends in
// the beginning of an encoded value). Accident-proofing, not a boundary: a program that
// transforms a value (reverses, encrypts, splits it) defeats it.

/**
 * Values shorter than this are not masked: masking `test` or `1234` everywhere shreds ordinary
 * output (GitHub Actions' lesson), and a short value is guessable anyway. Eight bytes is the
 * usual floor for a password or key; the agent warns by name when a shorter one is injected.
 */
export const MIN_MASK_BYTES = 8;

/** The base64 characters that depend only on `v`, when v starts `k` bytes into a larger blob. */
function base64Core(v: Buffer, k: number): string {
  const enc = Buffer.concat([Buffer.alloc(k), v]).toString('base64');
  const first = Math.ceil((8 * k) / 6);
  const last = Math.floor((8 * (k + v.length)) / 6); // exclusive: the first char that mixes in later bytes
  return enc.slice(first, last);
}

const toUrl = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_');

/** Every form of one value the masker looks for (deduplicated, each at least MIN_MASK_BYTES long). */
export function encodingsOf(value: Buffer): string[] {
  const forms = new Set<string>();
  const add = (s: string) => {
    if (Buffer.byteLength(s, 'latin1') >= MIN_MASK_BYTES) forms.add(s);
  };
  const addValue = (v: Buffer) => {
    const text = v.toString('utf8');
    add(v.toString('latin1'));
    add(v.toString('hex'));
    add(v.toString('hex').toUpperCase());
    const b64 = v.toString('base64');
    for (const s of [b64, b64.replace(/=+$/, '')]) {
      add(s);
      add(toUrl(s));
    }
    for (let k = 0; k < 3; k++) {
      const core = base64Core(v, k);
      add(core);
      add(toUrl(core));
    }
    const uri = encodeURIComponent(text);
    add(uri);
    add(uri.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
    add(uri.replace(/%20/g, '+'));
    add(Buffer.from(JSON.stringify(text).slice(1, -1), 'utf8').toString('latin1'));
  };
  addValue(value);
  // A multiline value is masked as a whole and line by line.
  const text = value.toString('utf8');
  if (/[\r\n]/.test(text)) for (const line of text.split(/\r?\n/)) addValue(Buffer.from(line, 'utf8'));
  return [...forms];
}

interface Pattern {
  bytes: Buffer;
  key: string;
}

/** One output stream's masker: push chunks in, get masked chunks out, end() flushes the rest. */
export class Masker {
  private readonly patterns: Pattern[];
  /** Every proper prefix of every pattern (latin1), to decide what tail to hold back. */
  private readonly prefixes = new Set<string>();
  private readonly maxLen: number;
  private held = Buffer.alloc(0);

  constructor(secrets: ReadonlyArray<{ name: string; value: Buffer }>) {
    const byForm = new Map<string, string>();
    for (const s of secrets) for (const f of encodingsOf(s.value)) if (!byForm.has(f)) byForm.set(f, s.name);
    this.patterns = [...byForm].map(([f, key]) => ({ bytes: Buffer.from(f, 'latin1'), key }));
    this.maxLen = Math.max(0, ...this.patterns.map((p) => p.bytes.length));
    for (const p of this.patterns) for (let n = 1; n < p.bytes.length; n++) this.prefixes.add(p.bytes.toString('latin1', 0, n));
  }

  /** The names of the values that are too short to be masked. */
  static unmasked(secrets: ReadonlyArray<{ name: string; value: Buffer }>): string[] {
    return secrets.filter((s) => s.value.length > 0 && s.value.length < MIN_MASK_BYTES).map((s) => s.name);
  }

  push(chunk: Buffer): Buffer {
    return this.run(Buffer.concat([this.held, chunk]), false);
  }

  end(): Buffer {
    return this.run(this.held, true);
  }

  private run(buf: Buffer, final: boolean): Buffer {
    if (!this.patterns.length) {
      this.held = Buffer.alloc(0);
      return buf;
    }
    const matches = this.matches(buf);
    let hold = final ? buf.length : buf.length - this.tailToHold(buf);
    // A complete match that reaches into the held tail might still grow into a longer one.
    for (let changed = true; changed;) {
      changed = false;
      for (const m of matches) {
        if (m.start < hold && m.end > hold) {
          hold = m.start;
          changed = true;
        }
      }
    }
    const out: Buffer[] = [];
    let at = 0;
    for (const m of matches) {
      if (m.end > hold) break;
      out.push(buf.subarray(at, m.start), Buffer.from(`<masked:${m.key}>`));
      at = m.end;
    }
    out.push(buf.subarray(at, hold));
    this.held = Buffer.from(buf.subarray(hold));
    return Buffer.concat(out);
  }

  /** Leftmost-longest, non-overlapping occurrences of the patterns. */
  private matches(buf: Buffer): Array<{ start: number; end: number; key: string }> {
    const all: Array<{ start: number; end: number; key: string }> = [];
    for (const p of this.patterns) {
      for (let i = buf.indexOf(p.bytes); i >= 0; i = buf.indexOf(p.bytes, i + 1)) all.push({ start: i, end: i + p.bytes.length, key: p.key });
    }
    all.sort((a, b) => a.start - b.start || b.end - a.end);
    const picked: typeof all = [];
    let end = 0;
    for (const m of all) {
      if (m.start >= end) {
        picked.push(m);
        end = m.end;
      }
    }
    return picked;
  }

  /** The length of the longest tail of buf that is the beginning of some pattern. */
  private tailToHold(buf: Buffer): number {
    for (let n = Math.min(this.maxLen - 1, buf.length); n > 0; n--) if (this.prefixes.has(buf.toString('latin1', buf.length - n))) return n;
    return 0;
  }
}
